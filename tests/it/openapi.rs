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
