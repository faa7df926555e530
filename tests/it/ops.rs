//! Health, readiness, error shapes and headers every response carries.

use oauthd::store::Db;
use reqwest::StatusCode;
use serde_json::Value;

use crate::both_backends;
use crate::hostile::send;
use crate::support::flow::{header, spawn_with_public_url};
use crate::support::{Backend, TestApp, TestDb, test_config};

both_backends!(
    healthz_and_readyz_answer_when_the_database_is_up,
    readyz_turns_503_when_the_database_goes_away,
    storage_outage_gives_503_json_without_driver_text,
    unknown_paths_and_methods_get_the_shape_their_path_calls_for,
    every_response_carries_the_security_headers_and_a_request_id,
    hsts_is_on_every_response_exactly_when_public_url_is_https,
);

async fn healthz_and_readyz_answer_when_the_database_is_up(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let health = app.http.get(app.url("/healthz")).send().await.unwrap();
    assert_eq!(health.status(), StatusCode::OK);
    let ready = app.http.get(app.url("/readyz")).send().await.unwrap();
    assert_eq!(ready.status(), StatusCode::OK);
    let body: Value = ready.json().await.unwrap();
    assert_eq!(body["status"], "ready");
}

async fn readyz_turns_503_when_the_database_goes_away(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    assert_eq!(
        app.http
            .get(app.url("/readyz"))
            .send()
            .await
            .unwrap()
            .status(),
        StatusCode::OK
    );
    app.db.close().await;
    let ready = app.http.get(app.url("/readyz")).send().await.unwrap();
    assert_eq!(ready.status(), StatusCode::SERVICE_UNAVAILABLE);
    let health = app.http.get(app.url("/healthz")).send().await.unwrap();
    assert_eq!(
        health.status(),
        StatusCode::OK,
        "the process itself is still up"
    );
}

/// A server whose database cannot be reached: a closed pool on SQLite, a
/// port nothing listens on for Postgres.
async fn unreachable_app(backend: Backend) -> TestApp {
    let test_db = TestDb::new(backend).await;
    let mut config = test_config(&test_db.url);
    config.database.acquire_timeout = std::time::Duration::from_secs(1);
    let db = match backend {
        Backend::Sqlite => {
            let db = Db::connect(&config.database).await.unwrap();
            db.close().await;
            db
        }
        Backend::Postgres => {
            config.database.url = "postgres://postgres@127.0.0.1:9/nowhere".into();
            Db::connect_lazy(&config.database).unwrap()
        }
    };
    TestApp::serve(config, db, test_db).await
}

async fn storage_outage_gives_503_json_without_driver_text(backend: Backend) {
    let app = unreachable_app(backend).await;
    let ready = app.http.get(app.url("/readyz")).send().await.unwrap();
    assert_eq!(ready.status(), StatusCode::SERVICE_UNAVAILABLE);

    let response = app
        .http
        .post(app.url("/api/client"))
        .form(&[
            ("client_name", "x"),
            ("redirect_uris", "https://a.example/cb"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert!(response.headers().contains_key("retry-after"));
    assert_eq!(response.headers()["cache-control"], "no-store");
    let text = response.text().await.unwrap();
    let body: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(body["error"], "temporarily_unavailable");
    for leak in ["sqlx", "pool", "connection refused", "closed", "os error"] {
        assert!(
            !text.to_lowercase().contains(leak),
            "driver text leaked: {text}"
        );
    }
}

async fn unknown_paths_and_methods_get_the_shape_their_path_calls_for(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let api = app.http.get(app.url("/api/nothing")).send().await.unwrap();
    assert_eq!(api.status(), StatusCode::NOT_FOUND);
    assert_eq!(api.headers()["content-type"], "application/json");
    let body: Value = api.json().await.unwrap();
    assert_eq!(body["error"], "invalid_request");

    let page = app.http.get(app.url("/no/such/page")).send().await.unwrap();
    assert_eq!(page.status(), StatusCode::NOT_FOUND);
    assert!(
        page.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/html")
    );
    assert!(page.text().await.unwrap().contains("Not found"));

    let wrong_method = app.http.get(app.url("/api/client")).send().await.unwrap();
    assert_eq!(wrong_method.status(), StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(wrong_method.headers()["allow"], "POST");
    assert_eq!(wrong_method.headers()["content-type"], "application/json");

    for method in ["PUT", "DELETE", "PATCH", "TRACE"] {
        let response = app
            .http
            .request(method.parse().unwrap(), app.url("/api/client"))
            .send()
            .await
            .unwrap();
        assert_eq!(
            response.status(),
            StatusCode::METHOD_NOT_ALLOWED,
            "{method}"
        );
    }
}

async fn every_response_carries_the_security_headers_and_a_request_id(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    for path in ["/healthz", "/no/such/page", "/api/nothing"] {
        let response = app.http.get(app.url(path)).send().await.unwrap();
        let h = response.headers();
        let csp = h["content-security-policy"].to_str().unwrap();
        assert!(csp.contains("frame-ancestors 'none'"), "{path}: {csp}");
        assert!(csp.contains("default-src 'self'"), "{path}: {csp}");
        assert_eq!(h["x-frame-options"], "DENY", "{path}");
        assert_eq!(h["referrer-policy"], "same-origin", "{path}");
        assert_eq!(h["x-content-type-options"], "nosniff", "{path}");
        assert!(!h["x-request-id"].is_empty(), "{path}");
    }
    // A client's own id is replaced: only a trusted proxy may set it.
    let response = app
        .http
        .get(app.url("/healthz"))
        .header("x-request-id", "trace-me-123")
        .send()
        .await
        .unwrap();
    let id = response.headers()["x-request-id"].to_str().unwrap();
    assert_ne!(id, "trace-me-123");
    assert!(!id.is_empty());

    let behind_proxy = TestApp::spawn_with(backend, |c| {
        c.trusted_proxies = vec!["127.0.0.1/32".parse().unwrap()];
    })
    .await;
    let response = behind_proxy
        .http
        .get(behind_proxy.url("/healthz"))
        .header("x-request-id", "trace-me-123")
        .send()
        .await
        .unwrap();
    assert_eq!(response.headers()["x-request-id"], "trace-me-123");
}

/// RFC 6797: `Strict-Transport-Security` on every answer (pages, JSON,
/// redirects, errors, refusals of the request head) when `public_url` is
/// https, and on none when it is http.
async fn hsts_is_on_every_response_exactly_when_public_url_is_https(backend: Backend) {
    let https = spawn_with_public_url(backend, "https://auth.example/").await;
    let http = TestApp::spawn(backend).await;
    for (app, want) in [(&https, Some("max-age=31536000")), (&http, None)] {
        let scheme = app.config.public_url.scheme();
        let get = |path: &str| app.http.get(app.url(path));
        for (why, request, status) in [
            ("health", get("/healthz"), StatusCode::OK),
            (
                "metadata",
                get("/.well-known/oauth-authorization-server"),
                StatusCode::OK,
            ),
            ("sign-in page", get("/login"), StatusCode::OK),
            ("no such page", get("/no/such/page"), StatusCode::NOT_FOUND),
            (
                "redirect to sign-in",
                get("/settings"),
                StatusCode::SEE_OTHER,
            ),
            (
                "token error",
                app.http
                    .post(app.url("/oauth/token"))
                    .form(&[("grant_type", "client_credentials")]),
                StatusCode::UNAUTHORIZED,
            ),
        ] {
            let response = request.send().await.unwrap();
            assert_eq!(response.status(), status, "{scheme} {why}");
            assert_eq!(
                header(&response, "strict-transport-security").as_deref(),
                want,
                "{scheme} {why}"
            );
        }
        let addr = app.config.listen.to_string();
        let filler = "f".repeat(17 * 1024);
        for (why, raw, status) in [
            (
                "no Host",
                "GET /healthz HTTP/1.1\r\nconnection: close\r\n\r\n".to_owned(),
                400,
            ),
            (
                "oversized headers",
                format!(
                    "GET /healthz HTTP/1.1\r\nhost: {addr}\r\nx-filler: {filler}\r\n\
                     connection: close\r\n\r\n"
                ),
                431,
            ),
        ] {
            let answer = send(&addr, raw.as_bytes()).await;
            assert_eq!(answer.status, status, "{scheme} {why}");
            assert_eq!(
                answer.header("strict-transport-security"),
                want,
                "{scheme} {why}"
            );
        }
    }
}
