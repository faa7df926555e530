//! No secret reaches a log line: the real binary at trace level, driven
//! through a whole flow (query-string tokens included), then its log grepped.

use std::io::Read;
use std::net::TcpListener;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn hidden(html: &str, name: &str) -> String {
    let marker = format!("name=\"{name}\" value=\"");
    let start = html
        .find(&marker)
        .unwrap_or_else(|| panic!("{name} in {html}"))
        + marker.len();
    html[start..].split('"').next().unwrap().to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_secret_ever_reaches_a_log_line() {
    let (log, _) = flow_logged("pretty").await;
    assert!(
        log.lines()
            .any(|l| l.contains("oauthd::access") && l.contains("audit.kind=token_issued")),
        "the token request's access line names its audit event:\n{log}"
    );
}

/// `log.format = "json"`: every line one JSON object with the request's
/// fields at the top level; the token request's access line names the
/// authenticated client, its status, latency and audit event, and is that
/// request's one info line.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn json_logs_are_one_flat_object_per_line() {
    let (log, client_id) = flow_logged("json").await;
    let lines: Vec<Value> = log
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}")))
        .collect();
    for line in &lines {
        assert!(
            line["timestamp"].as_str().is_some_and(|t| t.ends_with('Z')),
            "{line}"
        );
        assert!(
            line["level"].is_string() && line["target"].is_string(),
            "{line}"
        );
    }
    let access: Vec<&Value> = lines
        .iter()
        .filter(|l| l["target"] == "oauthd::access")
        .collect();
    assert!(access.len() >= 10, "one access line per request");
    let token = access
        .iter()
        .find(|l| l["http.route"] == "/oauth/token" && l["http.status"] == 200)
        .unwrap_or_else(|| panic!("a token access line in {access:?}"));
    assert_eq!(token["level"], "INFO");
    assert_eq!(token["http.method"], "POST");
    assert_eq!(token["client.id"], client_id.as_str());
    assert_eq!(token["client.ip"], "127.0.0.1");
    assert_eq!(
        token["request.id"].as_str().map(str::len),
        Some(36),
        "{token}"
    );
    assert!(
        token["latency_ms"].as_f64().is_some_and(|ms| ms > 0.0),
        "{token}"
    );
    // The access line carries what the request did: its audit event.
    assert_eq!(token["audit.kind"], "token_issued", "{token}");
    assert_eq!(token["audit.client_id"], client_id.as_str(), "{token}");
    assert!(token["audit.user_id"].is_string(), "{token}");
    // It is the request's only info line; the audit event itself is a debug
    // line, which carries the request's id too.
    let id = token["request.id"].as_str().unwrap();
    let of_request: Vec<&Value> = lines.iter().filter(|l| l["request.id"] == id).collect();
    let info: Vec<&&Value> = of_request.iter().filter(|l| l["level"] == "INFO").collect();
    assert_eq!(info.len(), 1, "one info line per request: {info:?}");
    assert!(
        of_request
            .iter()
            .any(|l| l["target"] == "oauthd::audit" && l["level"] == "DEBUG"),
        "the audit event of that request is a debug line with its id"
    );
    // No audit event inside a request is an info line of its own.
    assert!(
        !lines.iter().any(|l| l["target"] == "oauthd::audit"
            && l["level"] == "INFO"
            && l["request.id"].is_string()),
        "audit events in requests ride on the access line"
    );
}

/// Runs a whole flow against the real binary at trace level in `format`,
/// checks that no secret reached its log, and returns the log and the
/// client id it used.
async fn flow_logged(format: &str) -> (String, String) {
    let dir = tempfile::tempdir().unwrap();
    let bin = env!("CARGO_BIN_EXE_oauthd");
    let password = "correct horse battery staple";
    // The CLI makes no database implicitly: `migrate` makes the embedded one.
    let migrate = Command::new(bin)
        .arg("migrate")
        .env_clear()
        .current_dir(dir.path())
        .stderr(Stdio::null())
        .status()
        .unwrap();
    assert!(migrate.success());
    let mut add = Command::new(bin)
        .args(["user", "add", "alice", "--password-stdin"])
        .env_clear()
        .current_dir(dir.path())
        .stdin(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    std::io::Write::write_all(
        &mut add.stdin.take().unwrap(),
        format!("{password}\n").as_bytes(),
    )
    .unwrap();
    assert!(add.wait().unwrap().success());

    let listen = format!("127.0.0.1:{}", free_port());
    let base = format!("http://{listen}");
    let mut server = Command::new(bin)
        .env_clear()
        .env("OAUTHD_LISTEN", &listen)
        // Any free port: the default metrics address may be another test's.
        .env("OAUTHD_METRICS__LISTEN", "127.0.0.1:0")
        .env("RUST_LOG", "trace")
        .env("OAUTHD_LOG__FORMAT", format)
        .current_dir(dir.path())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let started = Instant::now();
    while std::net::TcpStream::connect(&listen).is_err() {
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "server did not start"
        );
        std::thread::sleep(Duration::from_millis(50));
    }

    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .cookie_store(true)
        .build()
        .unwrap();
    let mut secrets: Vec<String> = vec![password.to_owned()];
    let registered: Value = http
        .post(format!("{base}/api/client"))
        .form(&[
            ("client_name", "Logged"),
            ("redirect_uris", "https://app.example/cb"),
        ])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let client_id = registered["client_id"].as_str().unwrap().to_owned();
    let client_secret = registered["client_secret"].as_str().unwrap().to_owned();
    secrets.push(client_secret.clone());

    let authorize = format!(
        "/oauth/authorize?response_type=code&client_id={client_id}&redirect_uri=https%3A%2F%2Fapp.example%2Fcb&state=s3cr3t-state"
    );
    let login = http
        .get(format!("{base}/login"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let login_csrf = hidden(&login, "csrf");
    secrets.push(login_csrf.clone());
    let signed_in = http
        .post(format!("{base}/login"))
        .form(&[
            ("username", "alice"),
            ("password", password),
            ("csrf", &login_csrf),
            ("next", &authorize),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(signed_in.status(), reqwest::StatusCode::SEE_OTHER);
    let session = signed_in
        .headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|c| c.starts_with("oauthd_session="))
        .unwrap()
        .trim_start_matches("oauthd_session=")
        .split(';')
        .next()
        .unwrap()
        .to_owned();
    secrets.push(session);
    // A failed sign-in with a password-like value must not be logged either.
    http.post(format!("{base}/login"))
        .form(&[
            ("username", "alice"),
            ("password", "wrong-but-secret-pw"),
            ("csrf", &login_csrf),
        ])
        .send()
        .await
        .unwrap();
    secrets.push("wrong-but-secret-pw".into());

    let consent = http
        .get(format!("{base}{authorize}"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let request_id = hidden(&consent, "request_id");
    let csrf = hidden(&consent, "csrf");
    secrets.extend([request_id.clone(), csrf.clone()]);
    let approved = http
        .post(format!("{base}/oauth/authorize"))
        .form(&[
            ("request_id", request_id.as_str()),
            ("csrf", &csrf),
            ("decision", "approve"),
        ])
        .send()
        .await
        .unwrap();
    let location = url::Url::parse(approved.headers()["location"].to_str().unwrap()).unwrap();
    let code = location
        .query_pairs()
        .find(|(k, _)| k == "code")
        .unwrap()
        .1
        .into_owned();
    secrets.push(code.clone());

    let tokens: Value = http
        .post(format!("{base}/oauth/token"))
        .basic_auth(&client_id, Some(&client_secret))
        .form(&[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("redirect_uri", "https://app.example/cb"),
        ])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let access = tokens["access_token"].as_str().unwrap().to_owned();
    let refresh = tokens["refresh_token"].as_str().unwrap().to_owned();
    secrets.extend([access.clone(), refresh.clone()]);
    // Replay (logged as a warning) and a refresh.
    http.post(format!("{base}/oauth/token"))
        .basic_auth(&client_id, Some(&client_secret))
        .form(&[("grant_type", "authorization_code"), ("code", &code)])
        .send()
        .await
        .unwrap();
    // The token in the query string, the form and the header.
    http.get(format!("{base}/account?access_token={access}"))
        .send()
        .await
        .unwrap();
    http.post(format!("{base}/account"))
        .form(&[("access_token", &access)])
        .send()
        .await
        .unwrap();
    http.get(format!("{base}/account"))
        .bearer_auth(&access)
        .send()
        .await
        .unwrap();
    http.post(format!("{base}/oauth/introspect"))
        .basic_auth(&client_id, Some(&client_secret))
        .form(&[("token", &refresh)])
        .send()
        .await
        .unwrap();
    // The device authorization grant: the device code, the user code (as
    // shown and as typed) and the tokens stay out of the log too.
    let device_client: Value = http
        .post(format!("{base}/api/client"))
        .json(&serde_json::json!({
            "client_name": "Logged TV",
            "grant_types": ["urn:ietf:params:oauth:grant-type:device_code"],
            "token_endpoint_auth_method": "none",
        }))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let device_id = device_client["client_id"].as_str().unwrap().to_owned();
    let started: Value = http
        .post(format!("{base}/oauth/device_authorization"))
        .form(&[("client_id", device_id.as_str())])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let device_code = started["device_code"].as_str().unwrap().to_owned();
    let user_code = started["user_code"].as_str().unwrap().to_owned();
    secrets.extend([
        device_code.clone(),
        user_code.clone(),
        user_code.replace('-', ""),
    ]);
    let poll = || {
        http.post(format!("{base}/oauth/token"))
            .form(&[
                ("grant_type", "urn:ietf:params:oauth:grant-type:device_code"),
                ("device_code", device_code.as_str()),
                ("client_id", device_id.as_str()),
            ])
            .send()
    };
    poll().await.unwrap();
    let entry = http
        .get(format!("{base}/device?user_code={user_code}"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let device_csrf = hidden(&entry, "csrf");
    http.post(format!("{base}/device"))
        .form(&[("csrf", device_csrf.as_str()), ("user_code", "BBBB-CCCC")])
        .send()
        .await
        .unwrap();
    http.post(format!("{base}/device"))
        .form(&[
            ("csrf", device_csrf.as_str()),
            ("user_code", user_code.as_str()),
        ])
        .send()
        .await
        .unwrap();
    let done = http
        .post(format!("{base}/device/decision"))
        .form(&[
            ("csrf", device_csrf.as_str()),
            ("user_code", user_code.as_str()),
            ("decision", "approve"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(done.status(), reqwest::StatusCode::OK);
    let device_tokens: Value = poll().await.unwrap().json().await.unwrap();
    let device_access = device_tokens["access_token"]
        .as_str()
        .unwrap_or_else(|| panic!("device tokens: {device_tokens}"))
        .to_owned();
    secrets.push(device_access);

    // Credentials in the URL are refused, and not logged.
    http.post(format!("{base}/oauth/token?client_secret={client_secret}"))
        .form(&[("grant_type", "client_credentials")])
        .send()
        .await
        .unwrap();

    let _ = Command::new("kill")
        .args(["-TERM", &server.id().to_string()])
        .status();
    assert!(server.wait().unwrap().success());
    let mut log = String::new();
    server
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut log)
        .unwrap();
    assert!(
        log.lines().count() > 20,
        "trace logging produced output:\n{log}"
    );
    // The writer thread's queue is written out on SIGTERM, up to the line
    // logged last before exit.
    assert!(
        log.contains("oauthd stopped"),
        "every line written before exit:\n{log}"
    );
    for secret in &secrets {
        assert!(
            !log.contains(secret.as_str()),
            "a secret ({}…) reached the log",
            &secret[..6.min(secret.len())]
        );
    }
    assert!(
        !log.contains("s3cr3t-state"),
        "query strings are never logged"
    );
    (log, client_id)
}
