//! Abuse limits: per-address rate limits, failure throttles for sign-in and
//! client authentication, forwarded addresses from trusted proxies only, and
//! the URL length cap.

use std::time::Duration;

use oauthd::config::{Config, Rate};
use reqwest::StatusCode;
use serde_json::Value;

use crate::both_backends;
use crate::support::flow::{self, PASSWORD};
use crate::support::{Backend, TestApp};

both_backends!(
    rate_limits_answer_429_with_retry_after_and_then_release,
    forwarded_addresses_count_only_from_trusted_proxies,
    failed_sign_ins_slow_down_one_name_from_one_address_only,
    failed_client_authentications_slow_down_that_client_from_that_address,
    over_long_urls_get_414,
    the_header_size_cap_follows_the_config,
    over_long_parameters_get_invalid_request_and_store_nothing,
    slow_headers_are_cut_off_after_the_header_read_timeout,
    guessing_the_current_password_on_the_settings_page_is_throttled,
    a_rate_limited_browser_client_still_gets_cors_headers,
);

fn rate(requests: u32, per: Duration) -> Option<Rate> {
    Some(Rate { requests, per })
}

async fn cc(app: &TestApp, xff: Option<&str>) -> reqwest::Response {
    let mut request = app
        .http
        .post(app.url("/oauth/token"))
        .basic_auth("nobody", Some("ocs_nope"))
        .form(&[("grant_type", "client_credentials")]);
    if let Some(x) = xff {
        request = request.header("x-forwarded-for", x);
    }
    request.send().await.unwrap()
}

async fn rate_limits_answer_429_with_retry_after_and_then_release(backend: Backend) {
    let app = TestApp::spawn_with(backend, |c: &mut Config| {
        c.limits.token = rate(3, Duration::from_secs(1));
        c.limits.register = rate(2, Duration::from_secs(60));
        c.limits.login = rate(2, Duration::from_secs(60));
    })
    .await;
    for i in 0..3 {
        assert_eq!(
            cc(&app, None).await.status(),
            StatusCode::UNAUTHORIZED,
            "request {i}"
        );
    }
    let limited = cc(&app, None).await;
    assert_eq!(limited.status(), StatusCode::TOO_MANY_REQUESTS);
    let retry: u64 = flow::header(&limited, "retry-after")
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=2).contains(&retry), "Retry-After {retry}");
    assert_eq!(
        flow::header(&limited, "cache-control").as_deref(),
        Some("no-store")
    );
    let body: Value = limited.json().await.unwrap();
    assert_eq!(body["error"], "slow_down");
    // The limit releases as the bucket refills (3 per second).
    tokio::time::sleep(Duration::from_millis(1100)).await;
    assert_eq!(
        cc(&app, None).await.status(),
        StatusCode::UNAUTHORIZED,
        "released"
    );

    for _ in 0..2 {
        let r = app
            .http
            .post(app.url("/api/client"))
            .form(&[("client_name", "x")])
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::OK);
    }
    let r = app
        .http
        .post(app.url("/api/client"))
        .form(&[("client_name", "x")])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::TOO_MANY_REQUESTS);
    assert!(r.headers().contains_key("retry-after"));
    assert_eq!(
        app.count("clients").await,
        2,
        "the limited registration stored nothing"
    );

    let browser = app.browser();
    for _ in 0..2 {
        browser
            .post_login(&[("username", "a"), ("password", "b"), ("csrf", "c")])
            .await;
    }
    let page = browser
        .post_login(&[("username", "a"), ("password", "b"), ("csrf", "c")])
        .await;
    assert_eq!(page.status(), StatusCode::TOO_MANY_REQUESTS);
    assert!(
        flow::header(&page, "content-type")
            .unwrap()
            .starts_with("text/html")
    );
    // GET /login is never limited: it only shows the form.
    assert_eq!(browser.get("/login").await.status(), StatusCode::OK);
}

async fn forwarded_addresses_count_only_from_trusted_proxies(backend: Backend) {
    let trusted = TestApp::spawn_with(backend, |c: &mut Config| {
        c.limits.token = rate(2, Duration::from_secs(60));
        c.trusted_proxies = vec!["127.0.0.1/32".parse().unwrap()];
    })
    .await;
    for _ in 0..2 {
        cc(&trusted, Some("203.0.113.1")).await;
    }
    assert_eq!(
        cc(&trusted, Some("203.0.113.1")).await.status(),
        StatusCode::TOO_MANY_REQUESTS
    );
    assert_eq!(
        cc(&trusted, Some("203.0.113.2")).await.status(),
        StatusCode::UNAUTHORIZED,
        "behind a trusted proxy, another client address has its own budget"
    );
    assert_eq!(
        cc(&trusted, Some("6.6.6.6, 203.0.113.1")).await.status(),
        StatusCode::TOO_MANY_REQUESTS,
        "the right-most untrusted hop counts, not what the client prepends"
    );

    let untrusted = TestApp::spawn_with(backend, |c: &mut Config| {
        c.limits.token = rate(2, Duration::from_secs(60));
    })
    .await;
    for i in 0..2 {
        cc(&untrusted, Some(&format!("198.51.100.{i}"))).await;
    }
    assert_eq!(
        cc(&untrusted, Some("198.51.100.99")).await.status(),
        StatusCode::TOO_MANY_REQUESTS,
        "rotating X-Forwarded-For from an untrusted peer changes nothing"
    );
}

async fn failed_sign_ins_slow_down_one_name_from_one_address_only(backend: Backend) {
    let app = TestApp::spawn_with(backend, |c: &mut Config| {
        c.limits.free_failed_logins = 3;
        c.limits.max_lockout = Duration::from_secs(60);
        c.trusted_proxies = vec!["127.0.0.1/32".parse().unwrap()];
    })
    .await;
    flow::create_user(&app, "alice").await;
    flow::create_user(&app, "bob").await;
    let attempt = |name: &'static str, password: &'static str, from: &'static str| {
        let browser = app.new_browser();
        async move {
            let (csrf, _) = browser.login_page(None).await;
            browser
                .http
                .post(browser.url("/login"))
                .header("x-forwarded-for", from)
                .form(&[
                    ("username", name),
                    ("password", password),
                    ("csrf", csrf.as_str()),
                ])
                .send()
                .await
                .unwrap()
                .status()
        }
    };
    for name in ["alice", "nobody"] {
        for i in 0..4 {
            assert_eq!(
                attempt(name, "wrong password", "203.0.113.5").await,
                StatusCode::UNAUTHORIZED,
                "{name}: failure {i}"
            );
        }
        assert_eq!(
            attempt(name, PASSWORD, "203.0.113.5").await,
            StatusCode::TOO_MANY_REQUESTS,
            "{name}: after the free failures even the right password waits (no oracle; \
             unknown names behave the same)"
        );
    }
    assert_eq!(
        attempt("bob", PASSWORD, "203.0.113.5").await,
        StatusCode::SEE_OTHER,
        "other names are unaffected"
    );
    assert_eq!(
        attempt("alice", PASSWORD, "198.51.100.7").await,
        StatusCode::SEE_OTHER,
        "the real user elsewhere is not locked out"
    );
    app.clock.advance(2);
    assert_eq!(
        attempt("alice", PASSWORD, "203.0.113.5").await,
        StatusCode::SEE_OTHER,
        "the wait ends"
    );
}

async fn failed_client_authentications_slow_down_that_client_from_that_address(backend: Backend) {
    let app = TestApp::spawn_with(backend, |c: &mut Config| {
        c.limits.free_failed_client_auths = 2;
        c.limits.max_lockout = Duration::from_secs(60);
        c.trusted_proxies = vec!["127.0.0.1/32".parse().unwrap()];
    })
    .await;
    let client = flow::register_json(
        &app,
        &serde_json::json!({"client_name": "svc", "grant_types": ["client_credentials"]}),
    )
    .await;
    let try_secret = |secret: String, from: &'static str| {
        let request = app
            .http
            .post(app.url("/oauth/token"))
            .basic_auth(client.id.clone(), Some(secret))
            .header("x-forwarded-for", from)
            .form(&[("grant_type", "client_credentials")]);
        async move { request.send().await.unwrap().status() }
    };
    for _ in 0..3 {
        assert_eq!(
            try_secret("ocs_wrong".into(), "203.0.113.9").await,
            StatusCode::UNAUTHORIZED
        );
    }
    assert_eq!(
        try_secret(client.secret().to_owned(), "203.0.113.9").await,
        StatusCode::TOO_MANY_REQUESTS,
        "that address waits, even with the right secret"
    );
    assert_eq!(
        try_secret(client.secret().to_owned(), "198.51.100.1").await,
        StatusCode::OK,
        "the client's own traffic from elsewhere is untouched"
    );
    app.clock.advance(2);
    assert_eq!(
        try_secret(client.secret().to_owned(), "203.0.113.9").await,
        StatusCode::OK
    );
}

async fn over_long_urls_get_414(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let long = format!("/oauth/authorize?state={}", "a".repeat(16 * 1024));
    let response = app.http.get(app.url(&long)).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::URI_TOO_LONG);
    assert!(flow::header(&response, "location").is_none());
    assert!(
        flow::header(&response, "content-security-policy").is_some(),
        "the 414 carries the security headers"
    );
    assert!(response.text().await.unwrap().contains("Address too long"));

    // Over-long bodies are 413 on the pages too, not a generic 400.
    let big = format!("username=a&password={}", "p".repeat(70 * 1024));
    let response = app
        .http
        .post(app.url("/login"))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(big)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::PAYLOAD_TOO_LARGE);
}

/// `http.max_header_bytes` moves the 431 line (the rows in `hostile.rs`
/// check the 16 KiB default on every kind of endpoint).
async fn the_header_size_cap_follows_the_config(backend: Backend) {
    let app = TestApp::spawn_with(backend, |c: &mut Config| {
        c.http.max_header_bytes = 8 * 1024;
    })
    .await;
    let addr = app.config.listen.to_string();
    // `x-filler: ` and CRLF, plus `host: …` and `connection: close` lines.
    let fixed =
        "x-filler: \r\n".len() + format!("host: {addr}\r\n").len() + "connection: close\r\n".len();
    for (fields, status, why) in [
        (8 * 1024, 200, "exactly at the cap"),
        (8 * 1024 + 1, 431, "one byte over"),
        (12 * 1024, 431, "over the configured cap, under the default"),
    ] {
        let filler = "f".repeat(fields - fixed);
        let raw = format!(
            "GET /healthz HTTP/1.1\r\nhost: {addr}\r\nx-filler: {filler}\r\nconnection: close\r\n\r\n"
        );
        let answer = crate::hostile::send(&addr, raw.as_bytes()).await;
        assert_eq!(
            answer.status, status,
            "{why}: {fields} bytes of header fields"
        );
        if status == 431 {
            let body: Value = serde_json::from_str(&answer.body).unwrap();
            assert_eq!(body["error"], "invalid_request", "{why}");
            assert!(answer.header("x-request-id").is_some(), "{why}");
        }
    }
}

async fn over_long_parameters_get_invalid_request_and_store_nothing(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let client = flow::register_confidential(&app, &["http://127.0.0.1:9/cb"]).await;
    let before = app.snapshot().await;
    let response = app
        .http
        .post(app.url("/oauth/token"))
        .basic_auth(&client.id, Some(client.secret()))
        .form(&[
            ("grant_type", "authorization_code"),
            ("code", &"a".repeat(5000)),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["error"], "invalid_request");
    assert!(
        body["error_description"]
            .as_str()
            .unwrap()
            .contains("too long"),
        "{body}"
    );
    assert_eq!(app.snapshot().await, before);
}

/// A client that trickles its request headers (slowloris) loses the
/// connection once `http.header_read_timeout` passes, while a prompt client
/// on the same server is served.
async fn slow_headers_are_cut_off_after_the_header_read_timeout(backend: Backend) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    let app = TestApp::spawn_with(backend, |c: &mut Config| {
        c.http.header_read_timeout = Duration::from_secs(1);
    })
    .await;
    let mut slow = tokio::net::TcpStream::connect(app.config.listen)
        .await
        .unwrap();
    slow.write_all(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n")
        .await
        .unwrap();
    let started = std::time::Instant::now();
    // Keep trickling one header byte every 200 ms; the server must hang up.
    let mut closed = false;
    for _ in 0..50 {
        tokio::time::sleep(Duration::from_millis(200)).await;
        if slow.write_all(b"X").await.is_err() {
            closed = true;
            break;
        }
        let mut buf = [0u8; 512];
        match tokio::time::timeout(Duration::from_millis(1), slow.read(&mut buf)).await {
            Ok(Ok(0) | Err(_)) => {
                closed = true;
                break;
            }
            Ok(Ok(n)) => {
                let answer = String::from_utf8_lossy(&buf[..n]);
                assert!(
                    !answer.contains(" 200 "),
                    "slow request was served: {answer}"
                );
            }
            Err(_) => {}
        }
    }
    assert!(closed, "the server kept a trickling connection open");
    let waited = started.elapsed();
    assert!(
        waited < Duration::from_secs(5),
        "the trickling connection stayed open for {waited:?}"
    );
    let ok = app.http.get(app.url("/healthz")).send().await.unwrap();
    assert_eq!(ok.status(), StatusCode::OK);
}

/// `/settings/password` asks for the current password: a stolen session must
/// not be able to guess it without limit.
async fn guessing_the_current_password_on_the_settings_page_is_throttled(backend: Backend) {
    let app = TestApp::spawn_with(backend, |c: &mut Config| {
        c.limits.free_failed_logins = 3;
        c.limits.max_lockout = Duration::from_secs(60);
    })
    .await;
    let (browser, _alice) = flow::signed_in(&app).await;
    let page = browser
        .get("/settings/password")
        .await
        .text()
        .await
        .unwrap();
    let csrf = flow::hidden(&page, "csrf").expect("csrf on /settings/password");
    let change = |current: &'static str| {
        let browser = &browser;
        let csrf = csrf.clone();
        async move {
            browser
                .http
                .post(browser.url("/settings/password"))
                .form(&[
                    ("csrf", csrf.as_str()),
                    ("current", current),
                    ("new", "a brand new pass"),
                    ("confirm", "a brand new pass"),
                ])
                .send()
                .await
                .unwrap()
        }
    };
    for i in 0..4 {
        let r = change("wrong guess").await;
        assert_eq!(r.status(), StatusCode::BAD_REQUEST, "guess {i}");
    }
    let throttled = change(PASSWORD).await;
    assert_eq!(
        throttled.status(),
        StatusCode::TOO_MANY_REQUESTS,
        "even the right password waits"
    );
    assert!(flow::header(&throttled, "retry-after").is_some());
    app.clock.advance(61);
    assert_eq!(
        change(PASSWORD).await.status(),
        StatusCode::OK,
        "the wait ends"
    );
}

/// A browser client over its rate limit sees the 429 (CORS headers on it),
/// not an opaque network error.
async fn a_rate_limited_browser_client_still_gets_cors_headers(backend: Backend) {
    let app = TestApp::spawn_with(backend, |c: &mut Config| {
        c.limits.token = rate(1, Duration::from_secs(60));
    })
    .await;
    let origin = "http://127.0.0.1:3000";
    let client = flow::register_json(
        &app,
        &serde_json::json!({
            "client_name": "SPA",
            "redirect_uris": [flow::CB],
            "token_endpoint_auth_method": "none",
            "allowed_origins": [origin],
        }),
    )
    .await;
    let post = || {
        app.http
            .post(app.url("/oauth/token"))
            .header("origin", origin)
            .form(&[
                ("grant_type", "authorization_code"),
                ("code", "oac_nope"),
                ("client_id", client.id.as_str()),
            ])
            .send()
    };
    let first = post().await.unwrap();
    assert_eq!(first.status(), StatusCode::BAD_REQUEST);
    let second = post().await.unwrap();
    assert_eq!(second.status(), StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(
        flow::header(&second, "access-control-allow-origin").as_deref(),
        Some(origin)
    );
    let body: Value = second.json().await.unwrap();
    assert_eq!(body["error"], "slow_down");
}
