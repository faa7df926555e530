//! `POST /api/client` in both shapes, every refusal, and the policies.

use oauthd::config::RegistrationPolicy;
use oauthd::store::{self, Db};
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::both_backends;
use crate::support::{Backend, TestApp};

both_backends!(
    form_registration_answers_the_flat_gancio_shape,
    form_registration_takes_several_redirect_uris_and_scopes,
    json_registration_answers_rfc_7591,
    json_registration_of_a_public_client_has_no_secret,
    registration_ignores_a_client_chosen_id,
    client_credentials_clients_register_without_redirect_uris,
    every_bad_registration_gets_its_rfc_error_and_stores_nothing,
    malformed_and_oversized_bodies_are_refused_cleanly,
    token_policy_requires_the_initial_access_token,
    closed_policy_refuses_registration,
    config_can_allow_plain_http_redirect_uris,
    secrets_are_stored_only_as_digests,
);

async fn register_form(app: &TestApp, form: &[(&str, &str)]) -> reqwest::Response {
    app.http
        .post(app.url("/api/client"))
        .form(form)
        .send()
        .await
        .unwrap()
}

async fn register_json(app: &TestApp, body: &Value) -> reqwest::Response {
    app.http
        .post(app.url("/api/client"))
        .json(body)
        .send()
        .await
        .unwrap()
}

fn assert_no_store(response: &reqwest::Response) {
    assert_eq!(
        response
            .headers()
            .get("cache-control")
            .map(|v| v.to_str().unwrap()),
        Some("no-store"),
        "responses holding secrets or errors must not be cached"
    );
    assert_eq!(
        response
            .headers()
            .get("pragma")
            .map(|v| v.to_str().unwrap()),
        Some("no-cache")
    );
}

async fn form_registration_answers_the_flat_gancio_shape(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let response = register_form(
        &app,
        &[
            ("client_name", "Wordpress Event Manager"),
            ("redirect_uris", "https://noblogs.org/"),
            ("website", "https://myapp.example"),
        ],
    )
    .await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_no_store(&response);
    let body: Value = response.json().await.unwrap();
    let keys: Vec<&str> = body
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    let mut sorted = keys.clone();
    sorted.sort_unstable();
    assert_eq!(
        sorted,
        [
            "client_id",
            "client_secret",
            "name",
            "redirect_uris",
            "scopes",
            "website"
        ]
    );
    assert_eq!(body["name"], "Wordpress Event Manager");
    assert_eq!(body["redirect_uris"], "https://noblogs.org/");
    assert_eq!(body["website"], "https://myapp.example");
    assert_eq!(body["scopes"], "account:read event:write", "default_scopes");
    let secret = body["client_secret"].as_str().unwrap();
    assert!(secret.starts_with("ocs_") && secret.len() >= 47, "{secret}");
    let id = body["client_id"].as_str().unwrap();
    let stored = store::clients::find(&app.db, id).await.unwrap().unwrap();
    assert_eq!(stored.name, "Wordpress Event Manager");
    assert!(!stored.is_public());
}

async fn form_registration_takes_several_redirect_uris_and_scopes(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let response = register_form(
        &app,
        &[
            ("client_name", "Multi"),
            (
                "redirect_uris",
                "https://a.example/cb\nhttps://b.example/cb  http://127.0.0.1/cb",
            ),
            ("scopes", "event:write"),
        ],
    )
    .await;
    assert_eq!(response.status(), StatusCode::OK);
    let body: Value = response.json().await.unwrap();
    assert_eq!(
        body["redirect_uris"],
        "https://a.example/cb https://b.example/cb http://127.0.0.1/cb"
    );
    assert_eq!(body["scopes"], "event:write");
    assert_eq!(body["website"], Value::Null);
    let stored = store::clients::find(&app.db, body["client_id"].as_str().unwrap())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(stored.redirect_uris.len(), 3);
    assert_eq!(stored.scopes.to_string(), "event:write");
}

async fn json_registration_answers_rfc_7591(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let response = register_json(
        &app,
        &json!({
            "client_name": "Calendar Sync",
            "redirect_uris": ["https://cal.example/oauth/cb", "https://cal.example/alt"],
            "scope": "account:read",
            "grant_types": ["authorization_code", "refresh_token"],
            "response_types": ["code"],
            "token_endpoint_auth_method": "client_secret_post",
            "client_uri": "https://cal.example",
            "logo_uri": "https://cal.example/logo.png"
        }),
    )
    .await;
    assert_eq!(response.status(), StatusCode::CREATED);
    assert_no_store(&response);
    let body: Value = response.json().await.unwrap();
    assert!(body["client_id"].as_str().is_some_and(|s| s.len() >= 22));
    assert!(
        body["client_secret"]
            .as_str()
            .is_some_and(|s| s.starts_with("ocs_"))
    );
    assert_eq!(body["client_secret_expires_at"], 0);
    assert_eq!(body["client_id_issued_at"], app.clock.now());
    assert_eq!(body["client_name"], "Calendar Sync");
    assert_eq!(
        body["redirect_uris"],
        json!(["https://cal.example/oauth/cb", "https://cal.example/alt"])
    );
    assert_eq!(body["scope"], "account:read");
    assert_eq!(
        body["grant_types"],
        json!(["authorization_code", "refresh_token"])
    );
    assert_eq!(body["response_types"], json!(["code"]));
    assert_eq!(body["token_endpoint_auth_method"], "client_secret_post");
    assert_eq!(body["client_uri"], "https://cal.example");
    assert!(
        body.get("logo_uri").is_none(),
        "unknown metadata is ignored, not echoed"
    );
}

async fn json_registration_of_a_public_client_has_no_secret(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let response = register_json(
        &app,
        &json!({
            "client_name": "Desktop App",
            "redirect_uris": ["http://127.0.0.1/cb", "com.example.desktop:/oauth"],
            "token_endpoint_auth_method": "none"
        }),
    )
    .await;
    assert_eq!(response.status(), StatusCode::CREATED);
    let body: Value = response.json().await.unwrap();
    assert!(body.get("client_secret").is_none());
    assert!(body.get("client_secret_expires_at").is_none());
    assert_eq!(body["token_endpoint_auth_method"], "none");
    let stored = store::clients::find(&app.db, body["client_id"].as_str().unwrap())
        .await
        .unwrap()
        .unwrap();
    assert!(stored.is_public());
    assert!(stored.secret_hash.is_none());
}

async fn registration_ignores_a_client_chosen_id(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let body: Value = register_json(
        &app,
        &json!({"client_id": "my-own-id", "client_secret": "mine", "client_name": "Sneaky",
                "redirect_uris": ["https://s.example/cb"]}),
    )
    .await
    .json()
    .await
    .unwrap();
    assert_ne!(body["client_id"], "my-own-id");
    assert_ne!(body["client_secret"], "mine");
    assert!(
        store::clients::find(&app.db, "my-own-id")
            .await
            .unwrap()
            .is_none()
    );
}

async fn client_credentials_clients_register_without_redirect_uris(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let response = register_json(
        &app,
        &json!({"client_name": "Batch job", "grant_types": ["client_credentials"]}),
    )
    .await;
    assert_eq!(response.status(), StatusCode::CREATED);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["grant_types"], json!(["client_credentials"]));
    assert_eq!(body["response_types"], json!([]));
    assert_eq!(body["redirect_uris"], json!([]));
}

/// One bad registration: how it is sent, and the answer it must get.
struct Refusal {
    why: &'static str,
    body: Body,
    status: StatusCode,
    error: &'static str,
}

enum Body {
    Form(Vec<(&'static str, String)>),
    Json(Value),
    Raw(&'static str, Vec<u8>),
}

fn form(pairs: &[(&'static str, &str)]) -> Body {
    Body::Form(pairs.iter().map(|(k, v)| (*k, (*v).to_owned())).collect())
}

fn refusals() -> Vec<Refusal> {
    use StatusCode as S;
    const META: &str = "invalid_client_metadata";
    const URI: &str = "invalid_redirect_uri";
    let mut cases = Vec::new();
    for (why, uri) in [
        ("javascript scheme", "javascript:alert(1)"),
        ("data scheme", "data:text/html,hi"),
        ("file scheme", "file:///etc/passwd"),
        ("vbscript scheme", "vbscript:msgbox"),
        ("fragment", "https://app.example/cb#frag"),
        ("relative", "/cb"),
        ("userinfo", "https://u:p@app.example/cb"),
        ("wildcard", "https://*.app.example/cb"),
        ("plain http to a public host", "http://app.example/cb"),
        (
            "private-use scheme for a confidential client",
            "com.example.app:/cb",
        ),
        ("private-use scheme without a dot", "myapp:/cb"),
        ("non-ASCII", "https://app.example/caf\u{e9}"),
        ("backslash trick", "https://evil.test\\@app.example/cb"),
        ("upper-case scheme", "HTTPS://app.example/cb"),
        ("loopback port past 65535", "http://127.0.0.1:65536/cb"),
        ("loopback port of five digits", "http://127.0.0.1:99999/cb"),
        ("loopback port 0", "http://127.0.0.1:0/cb"),
        ("IPv6 loopback port past 65535", "http://[::1]:70000/cb"),
        ("https port 0", "https://app.example:0/cb"),
    ] {
        cases.push(Refusal {
            why,
            body: form(&[("client_name", "x"), ("redirect_uris", uri)]),
            status: S::BAD_REQUEST,
            error: URI,
        });
        cases.push(Refusal {
            why,
            body: Body::Json(json!({"client_name": "x", "redirect_uris": [uri]})),
            status: S::BAD_REQUEST,
            error: URI,
        });
    }
    let eleven: Vec<String> = (0..11).map(|i| format!("https://a.example/{i}")).collect();
    cases.extend([
        Refusal {
            why: "too many redirect URIs",
            body: Body::Json(json!({"client_name": "x", "redirect_uris": eleven})),
            status: S::BAD_REQUEST,
            error: URI,
        },
        Refusal {
            why: "missing client_name in the form shape",
            body: form(&[("redirect_uris", "https://a.example/cb")]),
            status: S::BAD_REQUEST,
            error: META,
        },
        Refusal {
            why: "unknown scope",
            body: form(&[("client_name", "x"), ("scopes", "admin:everything")]),
            status: S::BAD_REQUEST,
            error: META,
        },
        Refusal {
            why: "unknown scope (JSON)",
            body: Body::Json(json!({"client_name": "x", "scope": "account:read root"})),
            status: S::BAD_REQUEST,
            error: META,
        },
        Refusal {
            why: "scope with a quote",
            body: form(&[("client_name", "x"), ("scopes", "a\"b")]),
            status: S::BAD_REQUEST,
            error: META,
        },
        Refusal {
            why: "javascript website",
            body: form(&[("client_name", "x"), ("website", "javascript:alert(1)")]),
            status: S::BAD_REQUEST,
            error: META,
        },
        Refusal {
            why: "oversized name",
            body: Body::Form(vec![("client_name", "n".repeat(201))]),
            status: S::BAD_REQUEST,
            error: META,
        },
        Refusal {
            why: "right-to-left override in the name",
            body: form(&[("client_name", "Good\u{202e}liveE")]),
            status: S::BAD_REQUEST,
            error: META,
        },
        Refusal {
            why: "NUL in the name (Postgres would refuse it, SQLite would store it)",
            body: Body::Json(json!({"client_name": "a\u{0}b"})),
            status: S::BAD_REQUEST,
            error: META,
        },
        Refusal {
            why: "NUL in a form field",
            body: Body::Raw(
                "application/x-www-form-urlencoded",
                b"client_name=a%00b".to_vec(),
            ),
            status: S::BAD_REQUEST,
            error: META,
        },
        Refusal {
            why: "client_name twice",
            body: Body::Raw(
                "application/x-www-form-urlencoded",
                b"client_name=a&client_name=b".to_vec(),
            ),
            status: S::BAD_REQUEST,
            error: META,
        },
        Refusal {
            why: "password grant",
            body: Body::Json(json!({"client_name": "x", "grant_types": ["password"]})),
            status: S::BAD_REQUEST,
            error: META,
        },
        Refusal {
            why: "implicit response type",
            body: Body::Json(json!({"client_name": "x", "response_types": ["token"]})),
            status: S::BAD_REQUEST,
            error: META,
        },
        Refusal {
            why: "unknown auth method",
            body: Body::Json(
                json!({"client_name": "x", "token_endpoint_auth_method": "private_key_jwt"}),
            ),
            status: S::BAD_REQUEST,
            error: META,
        },
        Refusal {
            why: "public client asking for client_credentials",
            body: Body::Json(
                json!({"client_name": "x", "token_endpoint_auth_method": "none",
                                    "grant_types": ["client_credentials"]}),
            ),
            status: S::BAD_REQUEST,
            error: META,
        },
        Refusal {
            why: "redirect_uris as a string in JSON",
            body: Body::Json(json!({"client_name": "x", "redirect_uris": "https://a.example/cb"})),
            status: S::BAD_REQUEST,
            error: META,
        },
        Refusal {
            why: "null everywhere is an empty registration, but a number name is not",
            body: Body::Json(json!({"client_name": 42})),
            status: S::BAD_REQUEST,
            error: META,
        },
    ]);
    cases
}

async fn every_bad_registration_gets_its_rfc_error_and_stores_nothing(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let before = app.snapshot().await;
    for case in refusals() {
        let request = app.http.post(app.url("/api/client"));
        let request = match &case.body {
            Body::Form(pairs) => request.form(pairs),
            Body::Json(v) => request.json(v),
            Body::Raw(content_type, bytes) => request
                .header("content-type", *content_type)
                .body(bytes.clone()),
        };
        let response = request.send().await.unwrap();
        assert_eq!(response.status(), case.status, "{}", case.why);
        assert_no_store(&response);
        let body: Value = response.json().await.unwrap();
        assert_eq!(body["error"], case.error, "{}: {body}", case.why);
        let description = body["error_description"].as_str().unwrap_or_default();
        assert!(!description.is_empty(), "{}: says why", case.why);
        assert!(
            description
                .chars()
                .all(|c| matches!(c, '\x20'..='\x21' | '\x23'..='\x5b' | '\x5d'..='\x7e')),
            "{}: error_description keeps to RFC 6749 §5.2 characters: {description:?}",
            case.why
        );
    }
    assert_eq!(
        app.snapshot().await,
        before,
        "no refused registration stored anything"
    );
}

async fn malformed_and_oversized_bodies_are_refused_cleanly(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let before = app.snapshot().await;
    // Over the 64 KiB limit but small enough to sit in socket buffers, so the
    // client always finishes sending and reads the 413.
    let big = vec![b'a'; 70 * 1024];
    let cases: Vec<(&str, Option<&str>, Vec<u8>, StatusCode)> = vec![
        (
            "bad escape",
            Some("application/x-www-form-urlencoded"),
            b"client_name=%ZZ".to_vec(),
            StatusCode::BAD_REQUEST,
        ),
        (
            "lone percent",
            Some("application/x-www-form-urlencoded"),
            b"client_name=%".to_vec(),
            StatusCode::BAD_REQUEST,
        ),
        (
            "truncated UTF-8",
            Some("application/x-www-form-urlencoded"),
            b"client_name=%E2%82".to_vec(),
            StatusCode::BAD_REQUEST,
        ),
        (
            "invalid UTF-8",
            Some("application/x-www-form-urlencoded"),
            b"client_name=%FF%FE".to_vec(),
            StatusCode::BAD_REQUEST,
        ),
        (
            "broken JSON",
            Some("application/json"),
            b"{\"client_name\": ".to_vec(),
            StatusCode::BAD_REQUEST,
        ),
        (
            "JSON array",
            Some("application/json"),
            b"[]".to_vec(),
            StatusCode::BAD_REQUEST,
        ),
        (
            "JSON with trailing garbage",
            Some("application/json"),
            b"{\"client_name\":\"a\"} x".to_vec(),
            StatusCode::BAD_REQUEST,
        ),
        (
            "deep nesting",
            Some("application/json"),
            format!(
                "{{\"client_name\":{}{}}}",
                "[".repeat(10_000),
                "]".repeat(10_000)
            )
            .into_bytes(),
            StatusCode::BAD_REQUEST,
        ),
        (
            "invalid UTF-8 in JSON",
            Some("application/json"),
            b"{\"client_name\":\"\xff\"}".to_vec(),
            StatusCode::BAD_REQUEST,
        ),
        (
            "no content type",
            None,
            b"client_name=x".to_vec(),
            StatusCode::BAD_REQUEST,
        ),
        (
            "multipart",
            Some("multipart/form-data; boundary=x"),
            b"--x--".to_vec(),
            StatusCode::BAD_REQUEST,
        ),
        (
            "text/plain",
            Some("text/plain"),
            b"client_name=x".to_vec(),
            StatusCode::BAD_REQUEST,
        ),
        (
            "70 KiB form",
            Some("application/x-www-form-urlencoded"),
            big.clone(),
            StatusCode::PAYLOAD_TOO_LARGE,
        ),
        (
            "70 KiB JSON",
            Some("application/json"),
            big,
            StatusCode::PAYLOAD_TOO_LARGE,
        ),
    ];
    for (why, content_type, body, status) in cases {
        let mut request = app.http.post(app.url("/api/client")).body(body);
        if let Some(ct) = content_type {
            request = request.header("content-type", ct);
        }
        let response = request.send().await.unwrap();
        assert_eq!(response.status(), status, "{why}");
        assert_eq!(
            response.headers()["content-type"].to_str().unwrap(),
            "application/json",
            "{why}: an RFC JSON error, never a plain-text rejection"
        );
        let body: Value = response.json().await.unwrap();
        let error = body["error"].as_str().unwrap();
        assert!(
            ["invalid_client_metadata", "invalid_request"].contains(&error),
            "{why}: {body}"
        );
    }
    assert_eq!(app.snapshot().await, before);

    // Oversized bodies: the server answers 413 as soon as it sees the length,
    // possibly before the client finished sending, so read the answer off a
    // raw socket (a client that waits to finish writing may see the
    // connection close instead, which is also an acceptable end).
    for content_type in ["application/x-www-form-urlencoded", "application/json"] {
        let answer = send_oversized_body(&app, content_type).await;
        assert!(
            answer.starts_with("HTTP/1.1 413") || answer.is_empty(),
            "{content_type}: 413 or a closed connection, got {answer}"
        );
    }
    let still_up = app.http.get(app.url("/healthz")).send().await.unwrap();
    assert_eq!(still_up.status(), StatusCode::OK);
    assert_eq!(app.snapshot().await, before);

    // A chunked body with no length that never stops is cut off at the limit.
    let response = send_endless_chunked_body(&app).await;
    assert!(
        response.starts_with("HTTP/1.1 413") || response.is_empty(),
        "413 or a closed connection, got {response}"
    );
    assert_eq!(app.snapshot().await, before);
}

/// Sends a 1 MiB body with a Content-Length over a raw socket and returns the
/// status line.
async fn send_oversized_body(app: &TestApp, content_type: &str) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let addr = app.base.trim_start_matches("http://");
    let mut socket = tokio::net::TcpStream::connect(addr).await.unwrap();
    let size = 1024 * 1024;
    let head = format!(
        "POST /api/client HTTP/1.1\r\nHost: {addr}\r\nContent-Type: {content_type}\r\nContent-Length: {size}\r\n\r\n"
    );
    socket.write_all(head.as_bytes()).await.unwrap();
    let chunk = vec![b'a'; 64 * 1024];
    for _ in 0..16 {
        if socket.write_all(&chunk).await.is_err() {
            break; // the server answered and closed: fine
        }
    }
    let mut answer = vec![0u8; 1024];
    let n = socket.read(&mut answer).await.unwrap_or(0);
    String::from_utf8_lossy(&answer[..n])
        .lines()
        .next()
        .unwrap_or("")
        .to_owned()
}

/// Sends 1 MiB of chunked form data over a raw socket and returns the status line.
async fn send_endless_chunked_body(app: &TestApp) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let addr = app.base.trim_start_matches("http://");
    let mut socket = tokio::net::TcpStream::connect(addr).await.unwrap();
    let head = format!(
        "POST /api/client HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/x-www-form-urlencoded\r\nTransfer-Encoding: chunked\r\n\r\n"
    );
    socket.write_all(head.as_bytes()).await.unwrap();
    let chunk = format!("{:x}\r\n{}\r\n", 4096, "a".repeat(4096));
    for _ in 0..256 {
        if socket.write_all(chunk.as_bytes()).await.is_err() {
            break; // the server closed the connection: fine
        }
    }
    let mut answer = vec![0u8; 1024];
    let n = socket.read(&mut answer).await.unwrap_or(0);
    String::from_utf8_lossy(&answer[..n])
        .lines()
        .next()
        .unwrap_or("")
        .to_owned()
}

async fn token_policy_requires_the_initial_access_token(backend: Backend) {
    let token = "initial-access-token-for-tests";
    let app = TestApp::spawn_with(backend, |c| {
        c.registration.policy = RegistrationPolicy::Token;
        c.registration.initial_access_token = Some(token.into());
    })
    .await;
    let form = [
        ("client_name", "x"),
        ("redirect_uris", "https://a.example/cb"),
    ];
    for (why, header) in [
        ("no token", None),
        ("wrong token", Some("Bearer not-the-token")),
        ("wrong scheme", Some("Basic aW5pdGlhbA==")),
        ("empty bearer", Some("Bearer ")),
    ] {
        let mut request = app.http.post(app.url("/api/client")).form(&form);
        if let Some(h) = header {
            request = request.header("authorization", h);
        }
        let response = request.send().await.unwrap();
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED, "{why}");
        let challenge = response.headers()["www-authenticate"]
            .to_str()
            .unwrap()
            .to_owned();
        assert!(challenge.starts_with("Bearer realm="), "{why}: {challenge}");
        let body: Value = response.json().await.unwrap();
        assert_eq!(body["error"], "invalid_token", "{why}");
        assert!(!body.to_string().contains(token), "never echo the token");
    }
    assert_eq!(app.count("clients").await, 0);
    let response = app
        .http
        .post(app.url("/api/client"))
        .bearer_auth(token)
        .form(&form)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(app.count("clients").await, 1);
}

async fn closed_policy_refuses_registration(backend: Backend) {
    let app = TestApp::spawn_with(backend, |c| {
        c.registration.policy = RegistrationPolicy::Closed;
    })
    .await;
    let response = register_form(&app, &[("client_name", "x")]).await;
    assert_eq!(response.status(), StatusCode::FORBIDDEN);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["error"], "access_denied");
    assert_eq!(app.count("clients").await, 0);
}

async fn config_can_allow_plain_http_redirect_uris(backend: Backend) {
    let app = TestApp::spawn_with(backend, |c| {
        c.registration.allow_http_redirect_uris = true;
    })
    .await;
    let response = register_form(
        &app,
        &[
            ("client_name", "LAN app"),
            ("redirect_uris", "http://intranet.example/cb"),
        ],
    )
    .await;
    assert_eq!(response.status(), StatusCode::OK);
}

async fn secrets_are_stored_only_as_digests(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let body: Value = register_form(&app, &[("client_name", "Digest check")])
        .await
        .json()
        .await
        .unwrap();
    let secret = body["client_secret"].as_str().unwrap();
    let id = body["client_id"].as_str().unwrap();
    let stored = store::clients::find(&app.db, id).await.unwrap().unwrap();
    assert_eq!(
        stored.secret_hash.as_deref(),
        Some(oauthd::crypto::sha256_hex(secret).as_str())
    );
    let raw_hits: i64 = match &app.db {
        Db::Postgres(p) => sqlx::query_scalar(
            "select count(*) from clients where secret_hash = $1 or name = $1 or id = $1",
        )
        .bind(secret)
        .fetch_one(p)
        .await
        .unwrap(),
        Db::Sqlite(s) => sqlx::query_scalar(
            "select count(*) from clients where secret_hash = $1 or name = $1 or id = $1",
        )
        .bind(secret)
        .fetch_one(&s.pool)
        .await
        .unwrap(),
    };
    assert_eq!(raw_hits, 0, "the raw secret is stored nowhere");
}
