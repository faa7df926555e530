//! Start-up configuration: the example file, and errors that stop start-up.

use std::net::TcpListener;
use std::time::{Duration, Instant};

use oauthd::config::Config;

use crate::cli::oauthd;

#[test]
fn the_example_config_is_valid_and_equals_the_defaults() {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("config.example.toml");
    let loaded = Config::load_from(Some(&path), &Default::default())
        .unwrap_or_else(|e| panic!("config.example.toml must load: {e}"));
    assert_eq!(format!("{loaded:?}"), format!("{:?}", Config::defaults()));
}

#[test]
fn bad_config_stops_start_up_with_exit_2_and_one_line_naming_the_key() {
    let dir = tempfile::tempdir().unwrap();
    let unknown_key = dir.path().join("unknown.toml");
    std::fs::write(&unknown_key, "[database]\nurll = \"sqlite://x.db\"\n").unwrap();
    let bad_type = dir.path().join("type.toml");
    std::fs::write(
        &bad_type,
        "[tokens]\naccess_token_lifetime_secs = \"soon\"\n",
    )
    .unwrap();
    let not_toml = dir.path().join("broken.toml");
    std::fs::write(&not_toml, "listen = \n").unwrap();
    let missing = dir.path().join("missing.toml");
    let path = |p: &std::path::Path| p.display().to_string();
    let unknown_key_path = path(&unknown_key);

    type Case<'a> = (Vec<String>, Vec<(&'a str, &'a str)>, &'a str);
    let cases: Vec<Case<'_>> = vec![
        (vec![], vec![("OAUTHD_LISTEN", "not-an-address")], "listen"),
        (
            vec![],
            vec![("OAUTHD_PUBLIC_URL", "javascript:x")],
            "public_url",
        ),
        (
            vec![],
            vec![("DATABASE_URL", "mysql://db/x")],
            "database.url",
        ),
        (vec![], vec![("OAUTHD_LOG__FORMAT", "xml")], "log.format"),
        (
            vec![],
            vec![("OAUTHD_TOKENS__CODE_LIFETIME_SECS", "-1")],
            "tokens.code_lifetime_secs",
        ),
        (
            vec![],
            vec![("OAUTHD_REGISTRATION__POLICY", "token")],
            "registration.initial_access_token",
        ),
        (
            vec![],
            vec![("OAUTHD_TRUSTED_PROXIES", "my-proxy")],
            "trusted_proxies",
        ),
        (vec![], vec![("OAUTHD_SURPRISE", "1")], "surprise"),
        (
            vec![],
            vec![("OAUTHD_DEVICE__INTERVAL_SECS", "0")],
            "device.interval_secs",
        ),
        (
            vec![],
            vec![("OAUTHD_DEVICE__CODE_LIFETIME_SECS", "86400")],
            "device.code_lifetime_secs",
        ),
        (
            vec![],
            vec![("OAUTHD_DEVICE__MAX_FAILED_GUESSES", "0")],
            "device.max_failed_guesses",
        ),
        (
            vec!["--config".into(), path(&unknown_key)],
            vec![],
            "database.urll",
        ),
        (
            vec!["--config".into(), path(&bad_type)],
            vec![],
            "tokens.access_token_lifetime_secs",
        ),
        (
            vec!["--config".into(), path(&not_toml)],
            vec![],
            "broken.toml",
        ),
        (
            vec!["--config".into(), path(&missing)],
            vec![],
            "missing.toml",
        ),
        (
            vec![],
            vec![("OAUTHD_CONFIG", unknown_key_path.as_str())],
            "database.urll",
        ),
    ];
    for (args, env, key) in cases {
        let mut all_args: Vec<&str> = args.iter().map(String::as_str).collect();
        all_args.push("serve");
        let output = oauthd(&all_args, &env, None);
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(2), "{env:?} {args:?}: {stderr}");
        assert_eq!(stderr.trim_end().lines().count(), 1, "one line: {stderr}");
        assert!(
            stderr.contains(key),
            "{env:?} {args:?}: should name {key}: {stderr}"
        );
    }
}

#[test]
fn serve_exits_1_when_the_database_cannot_be_reached() {
    let output = oauthd(
        &["serve"],
        &[
            ("DATABASE_URL", "postgres://postgres@127.0.0.1:9/nowhere"),
            ("OAUTHD_DATABASE__ACQUIRE_TIMEOUT_SECS", "1"),
            ("OAUTHD_LISTEN", "127.0.0.1:0"),
        ],
        None,
    );
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("cannot open the database"), "{stderr}");
}

/// `cargo run`'s path: serve on SQLite in a fresh directory, answer, and stop
/// cleanly on SIGTERM.
#[test]
fn serve_creates_its_sqlite_file_answers_and_stops_on_sigterm() {
    let dir = tempfile::tempdir().unwrap();
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let listen = format!("127.0.0.1:{port}");
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_oauthd"))
        .env_clear()
        .env("OAUTHD_LISTEN", &listen)
        // Any free port for /metrics: the default, 127.0.0.1:9464, may be
        // taken by another test's server.
        .env("OAUTHD_METRICS__LISTEN", "127.0.0.1:0")
        .current_dir(dir.path())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let started = Instant::now();
    let mut up = false;
    while started.elapsed() < Duration::from_secs(20) {
        if let Ok(mut s) = std::net::TcpStream::connect(&listen) {
            use std::io::{Read, Write};
            s.write_all(b"GET /readyz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
                .unwrap();
            let mut answer = String::new();
            let _ = s.read_to_string(&mut answer);
            up = answer.starts_with("HTTP/1.1 200");
            if up {
                break;
            }
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(up, "server answered /readyz");
    assert!(
        dir.path().join("oauthd.db").exists(),
        "created oauthd.db in the working directory"
    );
    let kill = std::process::Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(kill.success());
    let status = child.wait().unwrap();
    assert_eq!(status.code(), Some(0), "graceful shutdown exits 0");
    let mut stderr = String::new();
    std::io::Read::read_to_string(&mut child.stderr.take().unwrap(), &mut stderr).unwrap();
    assert!(
        stderr.contains("first run: created the user \"admin\" with the password"),
        "an empty database gets an admin whose password is printed once:\n{stderr}"
    );
    assert!(
        stderr.contains("/settings/password"),
        "and where to change it"
    );
}
