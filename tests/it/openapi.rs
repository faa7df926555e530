//! The served OpenAPI document and the checked-in `openapi.json` agree.

use std::path::Path;

use oauthd::config::RegistrationPolicy;
use serde_json::Value;

use crate::both_backends;
use crate::support::{Backend, TestApp};

both_backends!(
    served_openapi_document_matches_the_checked_in_file,
    registration_refusals_under_other_policies_are_documented,
    oversized_headers_are_documented_on_every_kind_of_operation,
);

const REGENERATE: &str = "UPDATE_OPENAPI=1 cargo test --test it openapi";

async fn served_openapi_document_matches_the_checked_in_file(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let response = app.http.get(app.url("/openapi.json")).send().await.unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(
        response.headers()["content-type"].to_str().unwrap(),
        "application/json"
    );
    let served = response.text().await.unwrap();
    let parsed: Value = serde_json::from_str(&served).unwrap();
    assert_eq!(parsed["openapi"], "3.1.0");
    assert_eq!(
        served,
        oauthd::http::openapi::pretty(),
        "the served document is the library's, pretty-printed"
    );

    let file = Path::new(env!("CARGO_MANIFEST_DIR")).join("openapi.json");
    if std::env::var_os("UPDATE_OPENAPI").is_some() {
        std::fs::write(&file, &served).unwrap();
        return;
    }
    let checked_in = std::fs::read_to_string(&file).unwrap_or_default();
    assert!(
        checked_in == served,
        "openapi.json differs from the document the server serves at /openapi.json.\n\
         Regenerate it with `{REGENERATE}` and commit the result."
    );
}

/// Checks one real answer against the document: its status is listed for the
/// operation, its content type is one listed for that status, and every
/// header the document marks required is present.
async fn assert_documented(path: &str, method: &str, response: reqwest::Response) {
    let doc: Value = serde_json::from_str(&oauthd::http::openapi::pretty()).unwrap();
    let status = response.status().as_u16().to_string();
    let op = &doc["paths"][path][method];
    let mut documented = op["responses"][status.as_str()].clone();
    if let Some(reference) = documented["$ref"].as_str() {
        let name = reference.rsplit('/').next().unwrap();
        documented = doc["components"]["responses"][name].clone();
    }
    assert!(
        documented.is_object(),
        "{method} {path} answered {status}, which the document does not list"
    );
    let content_type = response
        .headers()
        .get("content-type")
        .map(|v| v.to_str().unwrap().to_owned());
    if let Some(content_type) = content_type {
        assert!(
            documented["content"].get(&content_type).is_some(),
            "{method} {path} {status}: content type {content_type} is not documented"
        );
    }
    for (name, header) in documented["headers"].as_object().into_iter().flatten() {
        if header["required"] == true {
            assert!(
                response.headers().contains_key(name.as_str()),
                "{method} {path} {status}: required header {name} is missing"
            );
        }
    }
}

/// schemathesis runs the server under the `token` and `open` policies; this
/// covers the refusals it cannot reach: a missing and a wrong initial access
/// token, and a closed registration.
async fn registration_refusals_under_other_policies_are_documented(backend: Backend) {
    let app = TestApp::spawn_with(backend, |c| {
        c.registration.policy = RegistrationPolicy::Token;
        c.registration.initial_access_token = Some("an-initial-access-token".into());
    })
    .await;
    for auth in [None, Some("Bearer wrong-token-value")] {
        let mut request = app
            .http
            .post(app.url("/api/client"))
            .form(&[("client_name", "Demo")]);
        if let Some(auth) = auth {
            request = request.header("authorization", auth);
        }
        let response = request.send().await.unwrap();
        assert_eq!(response.status(), 401, "{auth:?}");
        assert_documented("/api/client", "post", response).await;
    }

    let closed = TestApp::spawn_with(backend, |c| {
        c.registration.policy = RegistrationPolicy::Closed;
    })
    .await;
    let response = closed
        .http
        .post(closed.url("/api/client"))
        .form(&[("client_name", "Demo")])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 403);
    assert_documented("/api/client", "post", response).await;
    assert_eq!(app.count("clients").await, 0);
    assert_eq!(closed.count("clients").await, 0);
}

/// The 431 of `http.max_header_bytes` comes from a layer in front of every
/// route, so every operation lists it (schemathesis never sends 17 KiB of
/// headers).
async fn oversized_headers_are_documented_on_every_kind_of_operation(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let filler = "f".repeat(17 * 1024);
    for (path, method) in [
        ("/healthz", "get"),
        ("/.well-known/oauth-authorization-server", "get"),
        ("/oauth/token", "post"),
        ("/oauth/token", "options"),
        ("/api/client", "post"),
        ("/account", "get"),
    ] {
        let response = app
            .http
            .request(method.to_uppercase().parse().unwrap(), app.url(path))
            .header("x-filler", &filler)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 431, "{method} {path}");
        assert_documented(path, method, response).await;
    }
}

/// The router and the document describe the same API: every route in
/// `src/http/mod.rs` that is not a browser page is documented with each of
/// its methods, and every documented operation is routed. Read from the
/// router's source (as `tests/layers.rs` reads imports), so a new endpoint
/// without its operation, or an operation left behind by a removed route,
/// fails here rather than drifting.
#[test]
fn every_api_route_is_documented_and_every_operation_is_routed() {
    let source =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("src/http/mod.rs"))
            .unwrap();
    let doc: Value = serde_json::from_str(&oauthd::http::openapi::pretty()).unwrap();
    let documented: std::collections::BTreeSet<(String, String)> = doc["paths"]
        .as_object()
        .unwrap()
        .iter()
        .flat_map(|(path, item)| {
            item.as_object()
                .unwrap()
                .keys()
                .map(move |method| (path.clone(), method.clone()))
        })
        .collect();

    let mut routed = std::collections::BTreeSet::new();
    let mut pages = 0;
    for (path, handlers) in routes(&source) {
        // Browser pages (HTML forms, the authorization page) are not API.
        if handlers.contains("web::") || handlers.contains("authorize::") {
            pages += 1;
            continue;
        }
        for (call, method) in [("get(", "get"), ("post(", "post"), (".options(", "options")] {
            if handlers.contains(call) {
                routed.insert((path.clone(), method.to_owned()));
            }
        }
    }
    assert!(
        pages > 10 && routed.len() > 10,
        "the route parser found too little"
    );
    let undocumented: Vec<_> = routed.difference(&documented).collect();
    let unrouted: Vec<_> = documented.difference(&routed).collect();
    assert!(
        undocumented.is_empty(),
        "routes without an operation in src/http/openapi.rs: {undocumented:?}"
    );
    assert!(
        unrouted.is_empty(),
        "operations without a route in src/http/mod.rs: {unrouted:?}"
    );
}

/// Each `.route("PATH", HANDLERS)` of a router's source: the path and the
/// text of its method router.
fn routes(source: &str) -> Vec<(String, String)> {
    let mut found = Vec::new();
    let mut rest = source;
    while let Some(at) = rest.find(".route(") {
        rest = &rest[at + ".route(".len()..];
        let mut depth = 1;
        let end = rest
            .char_indices()
            .find(|&(_, c)| {
                match c {
                    '(' => depth += 1,
                    ')' => depth -= 1,
                    _ => {}
                }
                depth == 0
            })
            .map(|(i, _)| i)
            .unwrap();
        let call = &rest[..end];
        let comma = call.find(',').unwrap();
        let first = call[..comma].trim();
        let path = match first.strip_prefix('"') {
            Some(literal) => literal.trim_end_matches('"').to_owned(),
            None => path_constant(first).to_owned(),
        };
        let handlers = call[comma + 1..].to_owned();
        found.push((path, handlers));
        rest = &rest[end..];
    }
    found
}

/// The value of a path constant the router names instead of a literal.
fn path_constant(name: &str) -> &'static str {
    use oauthd::http::oauth::{metadata, userinfo};
    match name {
        "oauth::userinfo::USERINFO_PATH" => userinfo::USERINFO_PATH,
        "oauth::metadata::OPENID_CONFIGURATION_PATH" => metadata::OPENID_CONFIGURATION_PATH,
        other => panic!("the router names the path {other}: add it to path_constant"),
    }
}
