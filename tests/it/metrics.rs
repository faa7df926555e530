//! `GET /metrics`: every counter the issue names moves by exactly what the
//! test did, the text is valid OpenMetrics, and no secret appears in it; not
//! on the main listener by default, back there with `metrics.listen = ""`,
//! on a separate address (the real binary), and off.

use std::collections::HashMap;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::both_backends;
use crate::support::flow::*;
use crate::support::{Backend, TestApp};

both_backends!(
    metrics_count_what_happened,
    metrics_are_not_on_the_main_listener_by_default,
    metrics_can_be_turned_off,
);

/// A server with `/metrics` on its main listener: `metrics.listen = ""`.
async fn spawn_with_metrics_on_main(backend: Backend) -> TestApp {
    TestApp::spawn_with(backend, |c| c.metrics.listen = None).await
}

/// The samples of an OpenMetrics text, by series (`name{labels}`).
fn samples(text: &str) -> HashMap<String, f64> {
    text.lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
        .map(|l| {
            let (series, value) = l.rsplit_once(' ').unwrap_or_else(|| panic!("sample {l:?}"));
            (series.to_owned(), value.parse::<f64>().unwrap())
        })
        .collect()
}

/// What Prometheus 2.x sends when it scrapes.
const PROMETHEUS_ACCEPT: &str = "application/openmetrics-text;version=1.0.0,\
application/openmetrics-text;version=0.0.1;q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1";

async fn scrape(app: &TestApp) -> (String, HashMap<String, f64>) {
    let response = app
        .http
        .get(app.url("/metrics"))
        .header("accept", PROMETHEUS_ACCEPT)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(
        header(&response, "content-type").as_deref(),
        Some("application/openmetrics-text; version=1.0.0; charset=utf-8")
    );
    let text = response.text().await.unwrap();
    assert!(text.ends_with("# EOF\n"), "OpenMetrics ends with # EOF");
    let map = samples(&text);
    (text, map)
}

fn value(map: &HashMap<String, f64>, series: &str) -> f64 {
    map.get(series).copied().unwrap_or(0.0)
}

async fn metrics_count_what_happened(backend: Backend) {
    let app = spawn_with_metrics_on_main(backend).await;
    let user = create_user(&app, "mia").await;
    let client = register_json(
        &app,
        &json!({
            "client_name": "Metered",
            "redirect_uris": ["https://app.example/cb"],
            "grant_types": ["authorization_code", "refresh_token", "client_credentials"],
        }),
    )
    .await;
    let mut secrets = vec![client.secret().to_owned(), PASSWORD.to_owned()];

    // client_credentials: two successes, a wrong secret, an unsupported grant.
    for _ in 0..2 {
        let t = tokens(
            token(
                &app,
                &client.auth(),
                &[("grant_type", "client_credentials")],
            )
            .await,
            "client credentials",
        )
        .await;
        secrets.push(t.access);
    }
    let wrong = Auth::Basic(client.id.clone(), "not-the-secret".into());
    let refused = token(&app, &wrong, &[("grant_type", "client_credentials")]).await;
    assert_eq!(refused.status(), StatusCode::UNAUTHORIZED);
    let refused = token(&app, &client.auth(), &[("grant_type", "password")]).await;
    assert_eq!(refused.status(), StatusCode::BAD_REQUEST);

    // Sign-ins: one failure, then a success.
    let browser = app.browser();
    let (csrf, _) = browser.login_page(None).await;
    let failed = browser
        .post_login(&[
            ("username", user.username.as_str()),
            ("password", "wrong password"),
            ("csrf", &csrf),
        ])
        .await;
    assert_eq!(failed.status(), StatusCode::UNAUTHORIZED);
    browser.login(&user.username, PASSWORD).await;

    // A code exchanged; its refresh token rotated, then reused; the code replayed.
    let code = browser.code(&Params::code(&client)).await;
    secrets.push(code.clone());
    let first = tokens(
        redeem(&app, &client, &code, Some(client.redirect_uri()), None).await,
        "code exchange",
    )
    .await;
    let rt1 = first.refresh.clone().unwrap();
    let rotate = |rt: String| {
        let app = &app;
        let auth = client.auth();
        async move {
            token(
                app,
                &auth,
                &[("grant_type", "refresh_token"), ("refresh_token", &rt)],
            )
            .await
        }
    };
    let second = tokens(rotate(rt1.clone()).await, "rotation").await;
    // Past the grace period, so the second use is reuse.
    app.clock
        .advance(oauthd::oauth::token::seconds(app.config.tokens.refresh_grace) + 1);
    let reuse = rotate(rt1.clone()).await;
    assert_eq!(reuse.status(), StatusCode::BAD_REQUEST);
    secrets.extend([first.access, rt1, second.access]);
    // The replay last: it revokes what the code issued.
    let replay = redeem(&app, &client, &code, Some(client.redirect_uri()), None).await;
    assert_eq!(replay.status(), StatusCode::BAD_REQUEST);

    // One revocation of a live token (RFC 7009).
    let live = tokens(
        token(
            &app,
            &client.auth(),
            &[("grant_type", "client_credentials")],
        )
        .await,
        "client credentials",
    )
    .await;
    let mut form = vec![("token".to_owned(), live.access.clone())];
    let revoke = client
        .auth()
        .apply(app.http.post(app.url("/oauth/revoke")), &mut form)
        .form(&form)
        .send()
        .await
        .unwrap();
    assert_eq!(revoke.status(), StatusCode::OK);
    secrets.push(live.access);

    // A path nothing serves.
    let missing = app.http.get(app.url("/wp-login.php")).send().await.unwrap();
    assert_eq!(missing.status(), StatusCode::NOT_FOUND);

    let (text, m) = scrape(&app).await;
    let expect = [
        (
            r#"oauthd_tokens_issued_total{grant_type="client_credentials"}"#,
            3.0,
        ),
        (
            r#"oauthd_tokens_issued_total{grant_type="authorization_code"}"#,
            1.0,
        ),
        (
            r#"oauthd_tokens_issued_total{grant_type="refresh_token"}"#,
            1.0,
        ),
        (r#"oauthd_token_errors_total{error="invalid_client"}"#, 1.0),
        (
            r#"oauthd_token_errors_total{error="unsupported_grant_type"}"#,
            1.0,
        ),
        (r#"oauthd_token_errors_total{error="invalid_grant"}"#, 2.0),
        (r#"oauthd_signins_total{outcome="failed"}"#, 1.0),
        (r#"oauthd_signins_total{outcome="succeeded"}"#, 1.0),
        ("oauthd_code_replays_total", 1.0),
        ("oauthd_refresh_reuses_total", 1.0),
        ("oauthd_revocations_total", 1.0),
        (
            r#"oauthd_http_requests_total{method="POST",route="/oauth/token",status="200"}"#,
            5.0,
        ),
        (
            r#"oauthd_http_requests_total{method="POST",route="/oauth/token",status="400"}"#,
            3.0,
        ),
        (
            r#"oauthd_http_requests_total{method="POST",route="/oauth/token",status="401"}"#,
            1.0,
        ),
        (
            r#"oauthd_http_requests_total{method="POST",route="/oauth/revoke",status="200"}"#,
            1.0,
        ),
        (
            r#"oauthd_http_requests_total{method="GET",route="unmatched",status="404"}"#,
            1.0,
        ),
        (
            r#"oauthd_http_request_duration_seconds_count{method="POST",route="/oauth/token",status="200"}"#,
            5.0,
        ),
        (
            "oauthd_db_pool_max_connections",
            f64::from(app.config.database.max_connections),
        ),
        (r#"oauthd_build_info{version="0.1.0"}"#, 1.0),
    ];
    for (series, want) in expect {
        assert_eq!(value(&m, series), want, "{series} in\n{text}");
    }
    let in_use = value(&m, r#"oauthd_db_pool_connections{state="in_use"}"#);
    let idle = value(&m, r#"oauthd_db_pool_connections{state="idle"}"#);
    assert!(
        in_use + idle >= 1.0 && in_use + idle <= f64::from(app.config.database.max_connections),
        "pool gauges: in_use {in_use}, idle {idle}"
    );
    // The latency histogram's buckets are cumulative and end at +Inf = count.
    let inf = r#"oauthd_http_request_duration_seconds_bucket{le="+Inf",method="POST",route="/oauth/token",status="200"}"#;
    assert_eq!(value(&m, inf), 5.0, "{inf} in\n{text}");
    for secret in &secrets {
        assert!(!text.contains(secret.as_str()), "no secret in /metrics");
    }
    assert!(!text.contains(&user.username), "no user name in /metrics");
    assert!(!text.contains(&client.id), "no client id in /metrics");

    // Without an OpenMetrics Accept: the Prometheus text format, the same
    // samples, counter families named with their suffix.
    let plain = app.http.get(app.url("/metrics")).send().await.unwrap();
    assert_eq!(
        header(&plain, "content-type").as_deref(),
        Some("text/plain; version=0.0.4; charset=utf-8")
    );
    let plain = plain.text().await.unwrap();
    assert!(!plain.contains("# EOF") && !plain.contains("# UNIT"));
    assert!(plain.contains("# TYPE oauthd_tokens_issued_total counter\n"));
    assert_eq!(
        value(&samples(&plain), "oauthd_code_replays_total"),
        1.0,
        "{plain}"
    );

    // A scrape is itself counted, and counters only grow.
    let (_, again) = scrape(&app).await;
    assert_eq!(
        value(
            &again,
            r#"oauthd_http_requests_total{method="GET",route="/metrics",status="200"}"#
        ),
        2.0
    );
}

/// The public listener answers 404 at `/metrics` unless the operator puts
/// it back there: the default address is loopback only.
async fn metrics_are_not_on_the_main_listener_by_default(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    assert_eq!(
        app.config.metrics.listen,
        Some("127.0.0.1:9464".parse().unwrap())
    );
    for path in ["/metrics", "/metrics/", "/METRICS"] {
        let response = app.http.get(app.url(path)).send().await.unwrap();
        assert_eq!(response.status(), StatusCode::NOT_FOUND, "{path}");
    }
    let on_main = spawn_with_metrics_on_main(backend).await;
    scrape(&on_main).await;
}

async fn metrics_can_be_turned_off(backend: Backend) {
    let app = TestApp::spawn_with(backend, |c| {
        c.metrics.enabled = false;
        c.metrics.listen = None;
    })
    .await;
    let response = app.http.get(app.url("/metrics")).send().await.unwrap();
    assert_eq!(
        response.status(),
        StatusCode::NOT_FOUND,
        "off, even where `metrics.listen = \"\"` would serve it"
    );
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

struct Server(Child);

/// The real binary serving SQLite in `dir` on `main_port`, with `env` on top.
fn serve_binary(dir: &std::path::Path, main_port: u16, env: &[(&str, String)]) -> Server {
    let child = Command::new(env!("CARGO_BIN_EXE_oauthd"))
        .arg("serve")
        .env_clear()
        .current_dir(dir)
        .env("OAUTHD_LISTEN", format!("127.0.0.1:{main_port}"))
        .env("OAUTHD_ACCOUNTS__CREATE_ADMIN_ON_FIRST_RUN", "false")
        .env("OAUTHD_DATABASE__URL", "sqlite://oauthd.db")
        .envs(env.iter().map(|(k, v)| (k, v)))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    Server(child)
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

async fn wait_ready(url: &str) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while Instant::now() < deadline {
        if let Ok(r) = reqwest::get(url).await
            && r.status() == StatusCode::OK
        {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("{url} did not answer 200 in time");
}

/// The documented line `OAUTHD_METRICS__LISTEN=""` (the real binary, as an
/// operator sets it) serves `/metrics` on the main listener again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_empty_metrics_listen_serves_metrics_on_the_main_listener() {
    let dir = tempfile::tempdir().unwrap();
    let main_port = free_port();
    let _server = serve_binary(
        dir.path(),
        main_port,
        &[("OAUTHD_METRICS__LISTEN", String::new())],
    );
    let main = format!("http://127.0.0.1:{main_port}");
    wait_ready(&format!("{main}/healthz")).await;
    let response = reqwest::get(format!("{main}/metrics")).await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert!(
        response
            .text()
            .await
            .unwrap()
            .contains("oauthd_http_requests_total")
    );
}

/// `metrics.listen`: /metrics moves to its own address, the main listener
/// answers 404 there, and the janitor's passes are counted.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_on_their_own_address_with_the_janitor_counted() {
    let dir = tempfile::tempdir().unwrap();
    let (main_port, metrics_port) = (free_port(), free_port());
    let _server = serve_binary(
        dir.path(),
        main_port,
        &[
            (
                "OAUTHD_METRICS__LISTEN",
                format!("127.0.0.1:{metrics_port}"),
            ),
            ("OAUTHD_JANITOR__INTERVAL_SECS", "1".into()),
        ],
    );
    let main = format!("http://127.0.0.1:{main_port}");
    let metrics = format!("http://127.0.0.1:{metrics_port}");
    wait_ready(&format!("{main}/healthz")).await;
    wait_ready(&format!("{metrics}/metrics")).await;

    let on_main = reqwest::get(format!("{main}/metrics")).await.unwrap();
    assert_eq!(on_main.status(), StatusCode::NOT_FOUND);
    let elsewhere = reqwest::get(format!("{metrics}/healthz")).await.unwrap();
    assert_eq!(
        elsewhere.status(),
        StatusCode::NOT_FOUND,
        "the metrics address serves /metrics and nothing else"
    );
    let meta: Value = reqwest::get(format!("{main}/.well-known/oauth-authorization-server"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(meta["issuer"].is_string());

    // The janitor runs every second; its first pass is immediate.
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let text = reqwest::get(format!("{metrics}/metrics"))
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        let m = samples(&text);
        let passes = value(&m, r#"oauthd_janitor_passes_total{outcome="ok"}"#);
        if passes >= 2.0 {
            assert_eq!(value(&m, "oauthd_janitor_rows_deleted_total"), 0.0);
            let metadata = r#"oauthd_http_requests_total{method="GET",route="/.well-known/oauth-authorization-server",status="200"}"#;
            assert_eq!(
                value(&m, metadata),
                1.0,
                "one registry for both listeners:\n{text}"
            );
            break;
        }
        assert!(
            Instant::now() < deadline,
            "janitor passes not counted:\n{text}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}
