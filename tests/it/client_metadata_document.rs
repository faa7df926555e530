//! Client ID Metadata Documents (draft-ietf-oauth-client-id-metadata-document):
//! a URL `client_id` whose JSON document is the registration. A small document
//! server on 127.0.0.1 serves the documents, so these tests turn
//! `client_metadata.allow_http_loopback` on, except where the guard itself is
//! under test.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderValue, StatusCode as AxumStatus, Uri};
use axum::response::{IntoResponse, Response};
use oauth2::basic::BasicClient;
use oauth2::{
    AuthUrl, AuthorizationCode, ClientId, CsrfToken, PkceCodeChallenge, RedirectUrl, RefreshToken,
    Scope, TokenResponse, TokenUrl,
};
use reqwest::StatusCode;
use serde_json::{Value, json};
use tokio::net::TcpListener;
use tokio::sync::Barrier;

use crate::both_backends;
use crate::support::flow::{
    Browser, CB, CHALLENGE, Params, STATE, account, param, read_consent, signed_in, unescape,
};
use crate::support::tls::{TestPki, TlsListener};
use crate::support::{Backend, TestApp};

both_backends!(
    a_document_client_runs_the_code_flow_with_the_oauth2_crate,
    the_consent_page_marks_a_document_client_unverified,
    every_refused_document_gets_a_clear_error_and_stores_nothing,
    the_guard_refuses_loopback_and_http_while_the_switch_is_off,
    the_token_endpoint_refuses_what_the_document_refuses,
    documents_are_cached_for_their_max_age_within_the_bounds,
    the_document_cache_holds_at_most_its_configured_entries,
    a_changed_document_reaches_the_stored_row_and_a_removed_one_ends_refresh,
    url_client_ids_are_unknown_while_documents_are_disabled,
    concurrent_first_uses_of_one_document_store_one_client_row,
    failed_fetches_are_remembered_briefly_and_count_toward_the_client_throttle,
    extra_root_certificates_let_documents_come_from_a_private_ca,
    each_address_may_start_only_so_many_document_fetches,
);

// ---------------------------------------------------------------------------
// The document server

/// What one path answers.
#[derive(Clone)]
struct Served {
    status: u16,
    content_type: &'static str,
    body: Vec<u8>,
    cache_control: Option<&'static str>,
    location: Option<&'static str>,
    delay: Duration,
    /// Send the body in small chunks without a Content-Length.
    chunked: bool,
}

impl Served {
    fn json(body: &Value) -> Self {
        Self {
            status: 200,
            content_type: "application/json",
            body: serde_json::to_vec(body).unwrap(),
            cache_control: None,
            location: None,
            delay: Duration::ZERO,
            chunked: false,
        }
    }
}

#[derive(Clone, Default)]
struct Routes {
    served: Arc<Mutex<HashMap<String, Served>>>,
    hits: Arc<Mutex<HashMap<String, usize>>>,
}

/// A plain HTTP server on 127.0.0.1 that answers each path as told.
struct DocServer {
    /// `http://127.0.0.1:<port>`.
    base: String,
    routes: Routes,
}

impl DocServer {
    async fn start() -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let routes = Routes::default();
        let app = axum::Router::new()
            .fallback(answer)
            .with_state(routes.clone());
        tokio::spawn(async move {
            axum::serve(listener, app).await.ok();
        });
        Self {
            base: format!("http://{addr}"),
            routes,
        }
    }

    /// The URL of `path` (which starts with `/`).
    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    fn serve(&self, path: &str, served: Served) {
        self.routes
            .served
            .lock()
            .unwrap()
            .insert(path.to_owned(), served);
    }

    /// Serves a valid public-client document at `path`, naming its own URL.
    fn document(&self, path: &str, extra: &Value) -> String {
        let id = self.url(path);
        self.serve(path, Served::json(&document(&id, extra)));
        id
    }

    fn hits(&self, path: &str) -> usize {
        self.routes
            .hits
            .lock()
            .unwrap()
            .get(path)
            .copied()
            .unwrap_or(0)
    }
}

/// A document for `client_id`; `extra` members replace (null removes) the
/// defaults.
fn document(client_id: &str, extra: &Value) -> Value {
    let mut doc = json!({
        "client_id": client_id,
        "client_name": "Agent Smith",
        "client_uri": "https://agent.example/",
        "logo_uri": "https://agent.example/logo.png",
        "redirect_uris": [CB],
        "grant_types": ["authorization_code", "refresh_token"],
        "response_types": ["code"],
        "token_endpoint_auth_method": "none",
    });
    for (k, v) in extra.as_object().unwrap() {
        if v.is_null() {
            doc.as_object_mut().unwrap().remove(k);
        } else {
            doc[k] = v.clone();
        }
    }
    doc
}

async fn answer(State(routes): State<Routes>, uri: Uri) -> Response {
    let path = uri.path().to_owned();
    *routes.hits.lock().unwrap().entry(path.clone()).or_default() += 1;
    let Some(served) = routes.served.lock().unwrap().get(&path).cloned() else {
        return AxumStatus::NOT_FOUND.into_response();
    };
    if !served.delay.is_zero() {
        tokio::time::sleep(served.delay).await;
    }
    let body = if served.chunked {
        let chunks: Vec<Result<Vec<u8>, std::io::Error>> =
            served.body.chunks(512).map(|c| Ok(c.to_vec())).collect();
        Body::from_stream(futures::stream::iter(chunks))
    } else {
        Body::from(served.body.clone())
    };
    let mut response = Response::new(body);
    *response.status_mut() = AxumStatus::from_u16(served.status).unwrap();
    let headers = response.headers_mut();
    headers.insert(
        "content-type",
        HeaderValue::from_static(served.content_type),
    );
    if let Some(cc) = served.cache_control {
        headers.insert("cache-control", HeaderValue::from_static(cc));
    }
    if let Some(location) = served.location {
        headers.insert("location", HeaderValue::from_static(location));
    }
    response
}

// ---------------------------------------------------------------------------
// Helpers

async fn spawn_loopback(backend: Backend) -> TestApp {
    TestApp::spawn_with(backend, |c| c.client_metadata.allow_http_loopback = true).await
}

/// A code request with PKCE for a document client.
fn request(client_id: &str) -> Params {
    Params::new()
        .add("response_type", "code")
        .add("client_id", client_id)
        .add("redirect_uri", CB)
        .add("state", STATE)
        .add("code_challenge", CHALLENGE)
        .add("code_challenge_method", "S256")
}

/// A refused authorization request: a 400 page (never a redirect) whose
/// text holds `expected`.
async fn refused_page(browser: &Browser, params: &Params, expected: &str, why: &str) {
    let response = browser.authorize(params).await;
    let status = response.status();
    let location = response.headers().get("location").cloned();
    let html = unescape(&response.text().await.unwrap());
    assert_eq!(
        status,
        StatusCode::BAD_REQUEST,
        "{why}: status; page:\n{html}"
    );
    assert_eq!(location, None, "{why}: never a redirect");
    assert!(
        html.contains(expected),
        "{why}: the page says {expected:?}; page:\n{html}"
    );
}

async fn token_form(app: &TestApp, form: &[(&str, &str)]) -> (StatusCode, Value) {
    let response = app
        .http
        .post(app.url("/oauth/token"))
        .form(form)
        .send()
        .await
        .unwrap();
    let status = response.status();
    (status, response.json().await.unwrap())
}

fn oauth2_http() -> oauth2::reqwest::Client {
    oauth2::reqwest::Client::builder()
        .redirect(oauth2::reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

async fn stored_auth_method(app: &TestApp, id: &str) -> Option<String> {
    let sql = "select auth_method from clients where id = $1";
    match &app.db {
        oauthd::store::Db::Postgres(p) => sqlx::query_scalar(sql).bind(id).fetch_optional(p).await,
        oauthd::store::Db::Sqlite(s) => {
            sqlx::query_scalar(sql)
                .bind(id)
                .fetch_optional(&s.pool)
                .await
        }
    }
    .unwrap()
}

async fn stored_name(app: &TestApp, id: &str) -> Option<String> {
    let sql = "select name from clients where id = $1";
    match &app.db {
        oauthd::store::Db::Postgres(p) => sqlx::query_scalar(sql).bind(id).fetch_optional(p).await,
        oauthd::store::Db::Sqlite(s) => {
            sqlx::query_scalar(sql)
                .bind(id)
                .fetch_optional(&s.pool)
                .await
        }
    }
    .unwrap()
}

// ---------------------------------------------------------------------------
// Scenarios

async fn a_document_client_runs_the_code_flow_with_the_oauth2_crate(backend: Backend) {
    let app = spawn_loopback(backend).await;
    let docs = DocServer::start().await;
    let client_id = docs.document("/oauth/client.json", &json!({}));

    let metadata: Value = app
        .http
        .get(app.url("/.well-known/oauth-authorization-server"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(metadata["client_id_metadata_document_supported"], true);

    let (browser, _) = signed_in(&app).await;
    let oauth = BasicClient::new(ClientId::new(client_id.clone()))
        .set_auth_uri(AuthUrl::new(app.url("/oauth/authorize")).unwrap())
        .set_token_uri(TokenUrl::new(app.url("/oauth/token")).unwrap())
        .set_redirect_uri(RedirectUrl::new(CB.to_owned()).unwrap());
    let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
    let (url, state) = oauth
        .authorize_url(CsrfToken::new_random)
        .add_scope(Scope::new("account:read".into()))
        .set_pkce_challenge(challenge)
        .url();
    let response = browser.http.get(url.as_str()).send().await.unwrap();
    let consent = read_consent(response, "consent for a document client").await;
    let location = browser.approve(&consent).await;
    assert!(location.as_str().starts_with(CB), "back to the listed URI");
    assert_eq!(
        param(&location, "state").as_deref(),
        Some(state.secret().as_str())
    );
    let code = param(&location, "code").expect("a code");
    assert_eq!(
        stored_auth_method(&app, &client_id).await.as_deref(),
        Some("none"),
        "a public clients row exists for the document client"
    );

    let tokens = oauth
        .exchange_code(AuthorizationCode::new(code))
        .set_pkce_verifier(verifier)
        .request_async(&oauth2_http())
        .await
        .unwrap_or_else(|e| panic!("code exchange for a document client: {e:?}"));
    let response = account(&app, tokens.access_token().secret()).await;
    assert_eq!(response.status(), StatusCode::OK, "the access token works");

    // Refresh tokens rotate as for any public client.
    let first = tokens.refresh_token().expect("a refresh token").clone();
    let refreshed = oauth
        .exchange_refresh_token(&first)
        .request_async(&oauth2_http())
        .await
        .unwrap_or_else(|e| panic!("refresh for a document client: {e:?}"));
    let second = refreshed.refresh_token().expect("a rotated refresh token");
    assert_ne!(second.secret(), first.secret(), "the refresh token rotated");
    // Past the grace period a replay is reuse (the document is still cached).
    app.clock
        .advance(oauthd::oauth::token::seconds(app.config.tokens.refresh_grace) + 1);
    let (status, body) = token_form(
        &app,
        &[
            ("grant_type", "refresh_token"),
            ("refresh_token", first.secret()),
            ("client_id", &client_id),
        ],
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "reuse: {body}");
    assert_eq!(body["error"], "invalid_grant");
    let reused_family = oauth
        .exchange_refresh_token(&RefreshToken::new(second.secret().clone()))
        .request_async(&oauth2_http())
        .await;
    assert!(
        reused_family.is_err(),
        "a reused refresh token revoked its whole family"
    );
    assert_eq!(
        docs.hits("/oauth/client.json"),
        1,
        "one fetch served the whole flow (the cache held it)"
    );
}

async fn the_consent_page_marks_a_document_client_unverified(backend: Backend) {
    let app = spawn_loopback(backend).await;
    let docs = DocServer::start().await;
    let client_id = docs.document("/c.json", &json!({}));
    let (browser, _) = signed_in(&app).await;
    let consent = browser.consent(&request(&client_id)).await;
    let html = unescape(&consent.html);
    assert!(html.contains("Unverified application"), "{html}");
    assert!(html.contains("Agent Smith"), "the document's name: {html}");
    assert!(
        html.contains("published at <strong>127.0.0.1:"),
        "the document's host: {html}"
    );
    assert!(
        html.contains("<strong class=\"host\">app.example</strong>"),
        "the redirect host, prominent: {html}"
    );
    assert!(
        html.contains("https://agent.example/"),
        "the client_uri: {html}"
    );
    assert!(
        !html.contains("logo.png"),
        "a remote logo of an unverified client is not shown"
    );
}

/// One refused document: how it is served, what the page must say.
struct Case {
    why: &'static str,
    path: &'static str,
    served: Option<Served>,
    /// The client_id to send, when not the document's own URL.
    client_id: Option<String>,
    redirect_uri: &'static str,
    expected: &'static str,
}

async fn every_refused_document_gets_a_clear_error_and_stores_nothing(backend: Backend) {
    let app = TestApp::spawn_with(backend, |c| {
        c.client_metadata.allow_http_loopback = true;
        // The slow server below takes 3 s.
        c.client_metadata.timeout = Duration::from_secs(1);
    })
    .await;
    let docs = DocServer::start().await;
    let (browser, _) = signed_in(&app).await;
    let base = docs.base.clone();
    let ok =
        |path: &str, extra: Value| Some(Served::json(&document(&format!("{base}{path}"), &extra)));
    let big = {
        let mut s = Served::json(&document(
            &format!("{base}/big.json"),
            &json!({"padding": "x".repeat(6000)}),
        ));
        s.chunked = false;
        s
    };
    let big_stream = {
        let mut s = Served::json(&document(
            &format!("{base}/big-stream.json"),
            &json!({"padding": "x".repeat(6000)}),
        ));
        s.chunked = true;
        s
    };
    let cases = vec![
        Case {
            why: "a redirect is not followed",
            path: "/moved.json",
            served: Some(Served {
                status: 302,
                location: Some("http://127.0.0.1:9/elsewhere.json"),
                ..Served::json(&json!({}))
            }),
            client_id: None,
            redirect_uri: CB,
            expected: "answers with a redirect, which is not followed",
        },
        Case {
            why: "an oversized document (Content-Length)",
            path: "/big.json",
            served: Some(big),
            client_id: None,
            redirect_uri: CB,
            expected: "larger than this server accepts",
        },
        Case {
            why: "an oversized document (streamed without a length)",
            path: "/big-stream.json",
            served: Some(big_stream),
            client_id: None,
            redirect_uri: CB,
            expected: "larger than this server accepts",
        },
        Case {
            why: "a slow server",
            path: "/slow.json",
            served: ok("/slow.json", json!({})).map(|s| Served {
                delay: Duration::from_secs(3),
                ..s
            }),
            client_id: None,
            redirect_uri: CB,
            expected: "did not answer in time",
        },
        Case {
            why: "a wrong content type",
            path: "/html.json",
            served: ok("/html.json", json!({})).map(|s| Served {
                content_type: "text/html",
                ..s
            }),
            client_id: None,
            redirect_uri: CB,
            expected: "not application/json",
        },
        Case {
            why: "a 404",
            path: "/missing.json",
            served: None,
            client_id: None,
            redirect_uri: CB,
            expected: "does not answer 200 OK",
        },
        Case {
            why: "a mismatched client_id",
            path: "/mismatch.json",
            served: ok(
                "/mismatch.json",
                json!({"client_id": format!("{base}/other.json")}),
            ),
            client_id: None,
            redirect_uri: CB,
            expected: "not exactly the URL it was fetched from",
        },
        Case {
            why: "an unlisted redirect_uri",
            path: "/unlisted.json",
            served: ok("/unlisted.json", json!({})),
            client_id: None,
            redirect_uri: "https://app.example/other",
            expected: "The redirect URI in the request is not registered for this application.",
        },
        Case {
            why: "private_key_jwt",
            path: "/pkjwt.json",
            served: ok(
                "/pkjwt.json",
                json!({"token_endpoint_auth_method": "private_key_jwt"}),
            ),
            client_id: None,
            redirect_uri: CB,
            expected: "must say token_endpoint_auth_method \"none\": private_key_jwt is not supported",
        },
        Case {
            why: "client_secret_basic",
            path: "/basic.json",
            served: ok(
                "/basic.json",
                json!({"token_endpoint_auth_method": "client_secret_basic"}),
            ),
            client_id: None,
            redirect_uri: CB,
            expected: "must say token_endpoint_auth_method \"none\"",
        },
        Case {
            why: "no token_endpoint_auth_method",
            path: "/noauth.json",
            served: ok("/noauth.json", json!({"token_endpoint_auth_method": null})),
            client_id: None,
            redirect_uri: CB,
            expected: "must say token_endpoint_auth_method \"none\"",
        },
        Case {
            why: "a client_secret in the document",
            path: "/secret.json",
            served: ok("/secret.json", json!({"client_secret": "hunter2"})),
            client_id: None,
            redirect_uri: CB,
            expected: "must not hold a client_secret",
        },
        Case {
            why: "the client_credentials grant",
            path: "/cc.json",
            served: ok(
                "/cc.json",
                json!({"grant_types": ["authorization_code", "client_credentials"]}),
            ),
            client_id: None,
            redirect_uri: CB,
            expected: "only use the authorization_code and refresh_token grant types",
        },
        Case {
            why: "invalid JSON",
            path: "/broken.json",
            served: Some(Served {
                body: b"{\"client_id\": ".to_vec(),
                ..Served::json(&json!({}))
            }),
            client_id: None,
            redirect_uri: CB,
            expected: "not a valid JSON client metadata object",
        },
        Case {
            why: "a URL with a fragment",
            path: "/frag.json",
            served: ok("/frag.json", json!({})),
            client_id: Some(format!("{base}/frag.json#x")),
            redirect_uri: CB,
            expected: "must not have a fragment",
        },
        Case {
            why: "a URL with user information",
            path: "/user.json",
            served: ok("/user.json", json!({})),
            client_id: Some(base.replace("http://", "http://user:pw@") + "/user.json"),
            redirect_uri: CB,
            expected: "must not hold a user name or password",
        },
        Case {
            why: "a URL with dot segments",
            path: "/dots.json",
            served: ok("/dots.json", json!({})),
            client_id: Some(format!("{base}/x/../dots.json")),
            redirect_uri: CB,
            expected: "not in normal form",
        },
        Case {
            why: "a URL without a path",
            path: "/",
            served: None,
            client_id: Some(format!("{base}/")),
            redirect_uri: CB,
            expected: "must have a path",
        },
        Case {
            why: "a private address, even with loopback allowed",
            path: "/private.json",
            served: None,
            client_id: Some("https://10.0.0.1/private.json".to_owned()),
            redirect_uri: CB,
            expected: "private, loopback, link-local or otherwise non-public address",
        },
        Case {
            why: "a link-local address spelt as IPv4-mapped IPv6",
            path: "/metadata.json",
            served: None,
            client_id: Some("https://[::ffff:a9fe:a9fe]/metadata.json".to_owned()),
            redirect_uri: CB,
            expected: "private, loopback, link-local or otherwise non-public address",
        },
        Case {
            why: "http to a host that is not loopback, with the switch on",
            path: "/plain.json",
            served: None,
            client_id: Some("http://agent.example/plain.json".to_owned()),
            redirect_uri: CB,
            expected: "the URL must use https",
        },
    ];
    for case in &cases {
        if let Some(served) = &case.served {
            docs.serve(case.path, served.clone());
        }
    }
    let before = app.snapshot().await;
    for case in &cases {
        let client_id = case
            .client_id
            .clone()
            .unwrap_or_else(|| docs.url(case.path));
        let params = request(&client_id).set("redirect_uri", case.redirect_uri);
        refused_page(&browser, &params, case.expected, case.why).await;
        assert_eq!(app.snapshot().await, before, "{}: nothing stored", case.why);
    }
    // Every fetched-and-refused document is remembered as a failure
    // (client_metadata.failure_cache_secs); URLs refused before any fetch
    // are not. Asked again, each case gets the same page with no new fetch.
    let fetched: Vec<&str> = cases
        .iter()
        .filter(|c| c.client_id.is_none() && docs.hits(c.path) > 0)
        .map(|c| c.path)
        .collect();
    let url_refusals = cases
        .iter()
        .filter(|c| {
            let id = c.client_id.clone().unwrap_or_else(|| docs.url(c.path));
            oauthd::oauth::client_metadata_document::DocumentUrl::parse(&id, true).is_err()
        })
        .count();
    assert_eq!(
        app.state.documents.cached(),
        cases.len() - url_refusals,
        "every case past the URL rules is cached (as a failure, or as a valid document for the unlisted redirect URI)"
    );
    let hits: Vec<usize> = fetched.iter().map(|p| docs.hits(p)).collect();
    for case in &cases {
        let client_id = case
            .client_id
            .clone()
            .unwrap_or_else(|| docs.url(case.path));
        let params = request(&client_id).set("redirect_uri", case.redirect_uri);
        refused_page(&browser, &params, case.expected, case.why).await;
    }
    assert_eq!(
        fetched.iter().map(|p| docs.hits(p)).collect::<Vec<_>>(),
        hits,
        "the second round was answered from the cache"
    );
    assert_eq!(app.snapshot().await, before, "nothing stored");
    for path in ["/frag.json", "/user.json", "/dots.json"] {
        assert_eq!(docs.hits(path), 0, "{path}: a refused URL is never fetched");
    }
}

async fn the_guard_refuses_loopback_and_http_while_the_switch_is_off(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    assert!(
        !app.config.client_metadata.allow_http_loopback,
        "off by default"
    );
    let docs = DocServer::start().await;
    let client_id = docs.document("/c.json", &json!({}));
    let port = client_id
        .trim_start_matches("http://127.0.0.1:")
        .split('/')
        .next()
        .unwrap()
        .to_owned();
    let (browser, _) = signed_in(&app).await;
    let before = app.snapshot().await;
    for (id, expected, why) in [
        (
            client_id.clone(),
            "the client_id URL is not acceptable: it must use https",
            "http with the switch off",
        ),
        (
            format!("https://127.0.0.1:{port}/c.json"),
            "private, loopback, link-local or otherwise non-public address",
            "a loopback IP literal",
        ),
        (
            format!("https://[::1]:{port}/c.json"),
            "private, loopback, link-local or otherwise non-public address",
            "the IPv6 loopback literal",
        ),
        (
            format!("https://localhost:{port}/c.json"),
            "private, loopback, link-local or otherwise non-public address",
            "a name that resolves to loopback (checked by the resolver)",
        ),
    ] {
        refused_page(&browser, &request(&id), expected, why).await;
        assert_eq!(app.snapshot().await, before, "{why}: nothing stored");
    }
    assert_eq!(
        docs.hits("/c.json"),
        0,
        "the document server was never reached"
    );
}

async fn the_token_endpoint_refuses_what_the_document_refuses(backend: Backend) {
    let app = spawn_loopback(backend).await;
    let docs = DocServer::start().await;
    let good = docs.document("/good.json", &json!({}));
    let bad = docs.document(
        "/bad.json",
        &json!({"token_endpoint_auth_method": "private_key_jwt"}),
    );
    let before = app.snapshot().await;
    // A document whose rules fail: invalid_client that says why.
    let (status, body) = token_form(
        &app,
        &[
            ("grant_type", "authorization_code"),
            ("code", "oac_whatever"),
            ("redirect_uri", CB),
            ("client_id", &bad),
            ("code_verifier", crate::support::flow::VERIFIER),
        ],
    )
    .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}");
    assert_eq!(body["error"], "invalid_client");
    assert!(
        body["error_description"]
            .as_str()
            .unwrap()
            .contains("private_key_jwt is not supported"),
        "{body}"
    );
    // A document client that sends a secret.
    let response = app
        .http
        .post(app.url("/oauth/token"))
        .basic_auth(&good, Some("a-secret"))
        .form(&[
            ("grant_type", "authorization_code"),
            ("code", "oac_whatever"),
            ("redirect_uri", CB),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["error"], "invalid_client");
    // A good document with a made-up code: the client is fine, the code is not.
    let (status, body) = token_form(
        &app,
        &[
            ("grant_type", "authorization_code"),
            ("code", "oac_whatever"),
            ("redirect_uri", CB),
            ("client_id", &good),
            ("code_verifier", crate::support::flow::VERIFIER),
        ],
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert_eq!(body["error"], "invalid_grant");
    assert_eq!(app.snapshot().await, before, "nothing stored");
}

async fn documents_are_cached_for_their_max_age_within_the_bounds(backend: Backend) {
    let app = TestApp::spawn_with(backend, |c| {
        c.client_metadata.allow_http_loopback = true;
        c.client_metadata.cache_min = Duration::from_secs(60);
        c.client_metadata.cache_max = Duration::from_secs(3600);
    })
    .await;
    let docs = DocServer::start().await;
    let browser = app.new_browser();
    let cases = [
        ("/ten-minutes.json", Some("public, max-age=600"), 600),
        ("/a-week.json", Some("max-age=604800"), 3600),
        ("/no-store.json", Some("no-store"), 60),
        ("/silent.json", None, 60),
    ];
    for (path, cache_control, _) in cases {
        let id = docs.url(path);
        docs.serve(
            path,
            Served {
                cache_control,
                ..Served::json(&document(&id, &json!({})))
            },
        );
    }
    let resolve = |path: &'static str| {
        let browser = browser.clone();
        let id = docs.url(path);
        async move {
            // Signed out: the client is still resolved before sign-in.
            let response = browser.authorize(&request(&id)).await;
            assert!(
                response.status().is_redirection(),
                "{path}: resolved, then sent to sign in"
            );
        }
    };
    for (path, _, _) in cases {
        resolve(path).await;
        resolve(path).await;
        assert_eq!(
            docs.hits(path),
            1,
            "{path}: the second use came from the cache"
        );
    }
    let start = app.clock.now();
    for (path, _, ttl) in cases {
        app.clock.advance(start + ttl - 1 - app.clock.now());
        resolve(path).await;
        assert_eq!(docs.hits(path), 1, "{path}: still fresh at {} s", ttl - 1);
        app.clock.advance(start + ttl + 1 - app.clock.now());
        resolve(path).await;
        assert_eq!(docs.hits(path), 2, "{path}: fetched again after {ttl} s");
        app.clock.advance(start - app.clock.now());
    }
}

async fn the_document_cache_holds_at_most_its_configured_entries(backend: Backend) {
    let app = TestApp::spawn_with(backend, |c| {
        c.client_metadata.allow_http_loopback = true;
        c.client_metadata.cache_entries = 3;
    })
    .await;
    let docs = DocServer::start().await;
    let browser = app.new_browser();
    for i in 0..10 {
        let id = docs.document(&format!("/c{i}.json"), &json!({}));
        let response = browser.authorize(&request(&id)).await;
        assert!(response.status().is_redirection(), "c{i}: resolved");
        assert!(
            app.state.documents.cached() <= 3,
            "after {} documents the cache holds {}",
            i + 1,
            app.state.documents.cached()
        );
    }
    assert_eq!(
        app.state.documents.cached(),
        3,
        "the cache is full, not empty"
    );
    // The newest stays cached.
    let response = browser.authorize(&request(&docs.url("/c9.json"))).await;
    assert!(response.status().is_redirection());
    assert_eq!(docs.hits("/c9.json"), 1, "the newest entry was kept");
}

/// `limits.client_metadata_fetches_per_minute`: requests from one address
/// may start that many new fetches; past it, a new URL is refused without a
/// fetch (and the refusal is not cached), while a cached document, or one a
/// fetch is already under way for, costs nothing.
async fn each_address_may_start_only_so_many_document_fetches(backend: Backend) {
    let app = TestApp::spawn_with(backend, |c| {
        c.client_metadata.allow_http_loopback = true;
        c.limits.client_metadata_fetch = Some(oauthd::config::Rate {
            requests: 3,
            per: std::time::Duration::from_secs(3600),
        });
    })
    .await;
    let docs = DocServer::start().await;
    let browser = app.new_browser();
    for i in 0..3 {
        let id = docs.document(&format!("/f{i}.json"), &json!({}));
        let response = browser.authorize(&request(&id)).await;
        assert!(response.status().is_redirection(), "f{i}: fetched and used");
    }
    let fourth = docs.document("/f3.json", &json!({}));
    for round in 0..2 {
        refused_page(
            &browser,
            &request(&fourth),
            "too many client metadata documents were fetched for your address",
            &format!("a fourth new URL (round {round})"),
        )
        .await;
    }
    assert_eq!(docs.hits("/f3.json"), 0, "no fetch past the limit");
    // The token endpoint answers the same way, without a fetch.
    let (status, body) = token_form(
        &app,
        &[
            ("grant_type", "authorization_code"),
            ("client_id", &fourth),
            ("code", "x"),
        ],
    )
    .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}");
    assert_eq!(body["error"], "invalid_client");
    assert_eq!(docs.hits("/f3.json"), 0);
    // Cached documents still work.
    let response = browser.authorize(&request(&docs.url("/f0.json"))).await;
    assert!(response.status().is_redirection(), "a cached document");
    assert_eq!(docs.hits("/f0.json"), 1);
    assert_eq!(app.count("clients").await, 0, "nothing stored");
}

async fn a_changed_document_reaches_the_stored_row_and_a_removed_one_ends_refresh(
    backend: Backend,
) {
    let app = TestApp::spawn_with(backend, |c| {
        c.client_metadata.allow_http_loopback = true;
        c.client_metadata.cache_min = Duration::from_secs(60);
        c.client_metadata.cache_max = Duration::from_secs(60);
    })
    .await;
    let docs = DocServer::start().await;
    let id = docs.document("/agent.json", &json!({}));
    let (browser, _) = signed_in(&app).await;
    let consent = browser.consent(&request(&id)).await;
    let location = browser.approve(&consent).await;
    let code = param(&location, "code").unwrap();
    let (status, body) = token_form(
        &app,
        &[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("redirect_uri", CB),
            ("client_id", &id),
            ("code_verifier", crate::support::flow::VERIFIER),
        ],
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let refresh = body["refresh_token"].as_str().unwrap().to_owned();
    assert_eq!(stored_name(&app, &id).await.as_deref(), Some("Agent Smith"));

    // The document changes its name: after the cache expires, the next use
    // brings the row in line.
    docs.document("/agent.json", &json!({"client_name": "Agent Jones"}));
    app.clock.advance(61);
    let (status, body) = token_form(
        &app,
        &[
            ("grant_type", "refresh_token"),
            ("refresh_token", &refresh),
            ("client_id", &id),
        ],
    )
    .await;
    assert_eq!(
        status,
        StatusCode::OK,
        "refresh with the changed document: {body}"
    );
    let refresh = body["refresh_token"].as_str().unwrap().to_owned();
    assert_eq!(stored_name(&app, &id).await.as_deref(), Some("Agent Jones"));

    // The document goes away: once the cache expires, the client cannot
    // refresh any more.
    docs.serve(
        "/agent.json",
        Served {
            status: 404,
            ..Served::json(&json!({}))
        },
    );
    app.clock.advance(61);
    let (status, body) = token_form(
        &app,
        &[
            ("grant_type", "refresh_token"),
            ("refresh_token", &refresh),
            ("client_id", &id),
        ],
    )
    .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}");
    assert_eq!(body["error"], "invalid_client");
}

async fn url_client_ids_are_unknown_while_documents_are_disabled(backend: Backend) {
    let app = TestApp::spawn_with(backend, |c| {
        c.client_metadata.enabled = false;
        c.client_metadata.allow_http_loopback = true;
    })
    .await;
    let docs = DocServer::start().await;
    let id = docs.document("/c.json", &json!({}));
    let metadata: Value = app
        .http
        .get(app.url("/.well-known/oauth-authorization-server"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(metadata["client_id_metadata_document_supported"], false);
    let (browser, _) = signed_in(&app).await;
    refused_page(
        &browser,
        &request(&id),
        "is not registered here",
        "documents disabled",
    )
    .await;
    assert_eq!(docs.hits("/c.json"), 0, "nothing fetched while disabled");
}

/// Rounds of the race below.
const ROUNDS: usize = 10;
/// Racers per round.
const RACERS: usize = 8;

/// Racers for one uncached document that is never cached (`no-store`, no
/// minimum): still one fetch per round, since they share the flight.
async fn concurrent_uncacheable_fetches(docs: &DocServer, browser: &Browser) {
    for round in 0..ROUNDS {
        let path = format!("/nostore{round}.json");
        let id = docs.url(&path);
        let mut served = Served::json(&document(&id, &json!({})));
        served.cache_control = Some("no-store");
        // Slow enough that every racer arrives while the fetch is under way.
        served.delay = Duration::from_millis(200);
        docs.serve(&path, served);
        let barrier = Arc::new(Barrier::new(RACERS));
        let racers: Vec<_> = (0..RACERS)
            .map(|_| {
                let browser = browser.clone();
                let barrier = Arc::clone(&barrier);
                let params = request(&id);
                tokio::spawn(async move {
                    barrier.wait().await;
                    browser.authorize(&params).await.status()
                })
            })
            .collect();
        for racer in racers {
            assert_eq!(racer.await.unwrap(), StatusCode::OK, "round {round}");
        }
        assert_eq!(docs.hits(&path), 1, "round {round}: one shared fetch");
        // Nothing was cached: the next use fetches again.
        assert_eq!(
            browser.authorize(&request(&id)).await.status(),
            StatusCode::OK
        );
        assert_eq!(docs.hits(&path), 2, "round {round}: no-store is not cached");
    }
}

async fn concurrent_first_uses_of_one_document_store_one_client_row(backend: Backend) {
    let app = spawn_loopback(backend).await;
    let docs = DocServer::start().await;
    let (browser, _) = signed_in(&app).await;
    for round in 0..ROUNDS {
        let id = docs.document(&format!("/race{round}.json"), &json!({}));
        let barrier = Arc::new(Barrier::new(RACERS));
        let racers: Vec<_> = (0..RACERS)
            .map(|_| {
                let browser = browser.clone();
                let barrier = Arc::clone(&barrier);
                let params = request(&id);
                tokio::spawn(async move {
                    barrier.wait().await;
                    browser.authorize(&params).await.status()
                })
            })
            .collect();
        for racer in racers {
            assert_eq!(
                racer.await.unwrap(),
                StatusCode::OK,
                "round {round}: every racer reaches the consent page"
            );
        }
        assert_eq!(
            docs.hits(&format!("/race{round}.json")),
            1,
            "round {round}: the racers shared one fetch"
        );
        assert_eq!(
            app.state.documents.fetches_under_way(),
            0,
            "round {round}: no flight outlives its callers"
        );
        assert_eq!(
            stored_auth_method(&app, &id).await.as_deref(),
            Some("none"),
            "round {round}: the row exists"
        );
    }
    let rows: i64 = app.count("clients").await;
    assert_eq!(
        rows, ROUNDS as i64,
        "one row per document, however many raced"
    );
    let app = TestApp::spawn_with(backend, |c| {
        c.client_metadata.allow_http_loopback = true;
        c.client_metadata.cache_min = Duration::ZERO;
    })
    .await;
    let (browser, _) = signed_in(&app).await;
    concurrent_uncacheable_fetches(&docs, &browser).await;
}

async fn failed_fetches_are_remembered_briefly_and_count_toward_the_client_throttle(
    backend: Backend,
) {
    let app = TestApp::spawn_with(backend, |c| {
        c.client_metadata.allow_http_loopback = true;
        c.client_metadata.failure_cache = Duration::from_secs(30);
        c.limits.free_failed_client_auths = 3;
    })
    .await;
    let docs = DocServer::start().await;
    let (browser, _) = signed_in(&app).await;
    let clients = app.count("clients").await;

    // A URL that answers 404: refused, and not fetched again for 30 s.
    let id = docs.url("/missing.json");
    docs.serve(
        "/missing.json",
        Served {
            status: 404,
            ..Served::json(&json!({}))
        },
    );
    for attempt in 0..5 {
        refused_page(
            &browser,
            &request(&id),
            "does not answer 200 OK",
            &format!("attempt {attempt}"),
        )
        .await;
    }
    assert_eq!(docs.hits("/missing.json"), 1, "one fetch for five requests");

    // The document appears; the failure is still remembered until it
    // expires, then the next request fetches and succeeds.
    docs.document("/missing.json", &json!({}));
    app.clock.advance(29);
    refused_page(&browser, &request(&id), "does not answer 200 OK", "at 29 s").await;
    assert_eq!(docs.hits("/missing.json"), 1);
    app.clock.advance(2);
    assert_eq!(
        browser.authorize(&request(&id)).await.status(),
        StatusCode::OK,
        "after the failure expired, the fixed document is used"
    );
    assert_eq!(docs.hits("/missing.json"), 2);

    // At the token endpoint a refused document is a failed client
    // authentication: after the free failures, the address must wait (429),
    // and the cache still spares the document host.
    let bad = docs.url("/bad.json");
    docs.serve(
        "/bad.json",
        Served::json(&document(&docs.url("/elsewhere.json"), &json!({}))),
    );
    let form = [
        ("grant_type", "refresh_token"),
        ("refresh_token", "rt_whatever"),
        ("client_id", bad.as_str()),
    ];
    for attempt in 0..4 {
        let (status, body) = token_form(&app, &form).await;
        assert_eq!(
            status,
            StatusCode::UNAUTHORIZED,
            "attempt {attempt}: {body}"
        );
        assert_eq!(body["error"], "invalid_client");
        assert!(
            body["error_description"]
                .as_str()
                .unwrap()
                .contains("not exactly the URL it was fetched from"),
            "{body}"
        );
    }
    let (status, body) = token_form(&app, &form).await;
    assert_eq!(
        status,
        StatusCode::TOO_MANY_REQUESTS,
        "throttled after the free failures: {body}"
    );
    assert_eq!(docs.hits("/bad.json"), 1, "one fetch for all of them");
    assert_eq!(stored_auth_method(&app, &bad).await, None, "nothing stored");
    assert_eq!(
        app.count("clients").await,
        clients + 1,
        "only the fixed document's client was stored"
    );
}

/// An https document server on 127.0.0.1 whose certificate a test CA signed.
async fn https_document_server(pki: &TestPki) -> DocServer {
    let listener = TlsListener::bind(pki).await;
    let addr = axum::serve::Listener::local_addr(&listener).unwrap();
    let routes = Routes::default();
    let app = axum::Router::new()
        .fallback(answer)
        .with_state(routes.clone());
    tokio::spawn(async move {
        axum::serve(listener, app).await.ok();
    });
    DocServer {
        base: format!("https://{addr}"),
        routes,
    }
}

async fn extra_root_certificates_let_documents_come_from_a_private_ca(backend: Backend) {
    let pki = TestPki::new();
    let docs = https_document_server(&pki).await;
    let id = docs.document("/client.json", &json!({}));
    assert!(id.starts_with("https://127.0.0.1:"), "{id}");

    // Without the CA: the certificate is untrusted, a clear error, nothing
    // stored.
    let app = spawn_loopback(backend).await;
    let (browser, _) = signed_in(&app).await;
    let clients = app.count("clients").await;
    refused_page(
        &browser,
        &request(&id),
        "TLS certificate is not trusted",
        "an unknown CA",
    )
    .await;
    assert_eq!(app.count("clients").await, clients, "nothing stored");
    assert_eq!(docs.hits("/client.json"), 0, "no request got past TLS");

    // With the CA as an extra root (read as `config check` and start-up
    // read it), the same document is fetched and the flow goes through.
    let roots = pki.ca_roots();
    let app = TestApp::spawn_with(backend, move |c| {
        c.client_metadata.allow_http_loopback = true;
        c.client_metadata.extra_roots = roots;
    })
    .await;
    let (browser, _) = signed_in(&app).await;
    let consent = browser.consent(&request(&id)).await;
    let location = browser.approve(&consent).await;
    let code = param(&location, "code").unwrap();
    let (status, body) = token_form(
        &app,
        &[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("redirect_uri", CB),
            ("client_id", &id),
            ("code_verifier", crate::support::flow::VERIFIER),
        ],
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(docs.hits("/client.json"), 1);
    assert_eq!(stored_auth_method(&app, &id).await.as_deref(), Some("none"));

    // The guard still applies: the extra root does not open http or
    // non-loopback hosts, and with loopback off the same URL is refused.
    let app = TestApp::spawn_with(backend, {
        let roots = pki.ca_roots();
        move |c| c.client_metadata.extra_roots = roots
    })
    .await;
    let (browser, _) = signed_in(&app).await;
    refused_page(
        &browser,
        &request(&id),
        "non-public address",
        "loopback refused while the switch is off",
    )
    .await;
    assert_eq!(docs.hits("/client.json"), 1);
}
