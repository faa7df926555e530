//! The files in `deploy/` and the `Dockerfile` agree with the config loader:
//! every key they set exists and every value is valid, and the systemd unit
//! waits longer than the server's shutdown grace. (`.ci/check-deploy` checks
//! the same files with systemd-analyze, nginx and caddy.)

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "a test fails by panicking, helpers included"
)]

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;

use oauthd::config::{Config, LogFormat};

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn read(path: &str) -> String {
    std::fs::read_to_string(root().join(path)).unwrap()
}

/// The `ENV` variables the final image sets, read from the Dockerfile.
fn image_env() -> HashMap<String, String> {
    let dockerfile = read("Dockerfile");
    let joined = dockerfile.replace("\\\n", " ");
    let final_stage = joined.rsplit("\nFROM ").next().unwrap();
    final_stage
        .lines()
        .filter_map(|line| line.strip_prefix("ENV "))
        .flat_map(str::split_whitespace)
        .map(|pair| {
            let (k, v) = pair.split_once('=').unwrap();
            (k.to_owned(), v.to_owned())
        })
        .collect()
}

/// The value of `key=` in the systemd unit.
fn unit_value(key: &str) -> String {
    let unit = read("deploy/oauthd.service");
    let prefix = format!("{key}=");
    unit.lines()
        .find_map(|line| line.strip_prefix(prefix.as_str()))
        .unwrap_or_else(|| panic!("deploy/oauthd.service has no {key}="))
        .to_owned()
}

#[test]
fn deploy_config_loads_and_is_production_shaped() {
    let config = Config::load_from(Some(&root().join("deploy/config.toml")), &HashMap::new())
        .unwrap_or_else(|e| panic!("deploy/config.toml: {e}"));
    assert_eq!(config.public_url.scheme(), "https");
    assert_eq!(
        config.listen,
        "127.0.0.1:8080".parse::<SocketAddr>().unwrap()
    );
    assert_eq!(
        config.trusted_proxies,
        vec!["127.0.0.1/32".parse().unwrap()]
    );
    assert!(config.database.is_postgres());
    assert!(matches!(config.log.format, LogFormat::Json));
    assert_eq!(
        config.metrics.listen,
        Some("127.0.0.1:9464".parse::<SocketAddr>().unwrap()),
        "/metrics on loopback only, never through the proxy"
    );
}

#[test]
fn image_environment_is_a_valid_config() {
    let env = image_env();
    assert!(env.contains_key("OAUTHD_LISTEN"), "{env:?}");
    let config = Config::load_from(None, &env).unwrap_or_else(|e| panic!("Dockerfile ENV: {e}"));
    assert_eq!(config.listen, "0.0.0.0:8080".parse::<SocketAddr>().unwrap());
    // /metrics on its own port, reachable from the container network but
    // not through the published main port.
    assert_eq!(
        config.metrics.listen,
        Some("0.0.0.0:9464".parse::<SocketAddr>().unwrap())
    );
    // The default SQLite path is relative: it lands in the working
    // directory, which is the volume.
    assert_eq!(config.database.url, "sqlite://oauthd.db");
    let dockerfile = read("Dockerfile");
    assert!(dockerfile.contains("VOLUME /var/lib/oauthd\nWORKDIR /var/lib/oauthd\n"));
    assert!(dockerfile.contains("EXPOSE 8080 9464"));

    // Nothing in the image overrides an operator's database URL.
    let mut env = env;
    env.insert(
        "DATABASE_URL".into(),
        "postgres://oauthd@db:5432/oauthd".into(),
    );
    let config = Config::load_from(None, &env).unwrap();
    assert!(config.database.is_postgres());
}

#[test]
fn unit_waits_longer_than_the_shutdown_grace() {
    let stop = unit_value("TimeoutStopSec");
    let stop = Duration::from_secs(stop.trim_end_matches('s').parse().unwrap());
    let deployed = Config::load_from(Some(&root().join("deploy/config.toml")), &HashMap::new())
        .unwrap()
        .http
        .shutdown_grace;
    for grace in [deployed, Config::defaults().http.shutdown_grace] {
        assert!(stop > grace, "TimeoutStopSec {stop:?} <= grace {grace:?}");
    }
    assert_eq!(unit_value("KillSignal"), "SIGTERM");
    assert_eq!(
        unit_value("ExecStart"),
        "/usr/local/bin/oauthd --config /etc/oauthd/config.toml serve"
    );
}

/// The lines of the operators' guide's first fenced block tagged `lang`,
/// trimmed.
fn guide_block(lang: &str) -> Vec<String> {
    let guide = read("docs/operators.md");
    let start = guide
        .find(&format!("```{lang}\n"))
        .unwrap_or_else(|| panic!("docs/operators.md has no ```{lang} block"));
    let body = &guide[start + lang.len() + 4..];
    let end = body.find("```").unwrap();
    body[..end].lines().map(|l| l.trim().to_owned()).collect()
}

/// True when `excerpt` appears in `file` in order, ignoring indentation,
/// comments and blank lines.
fn is_excerpt_of(excerpt: &[String], file: &str) -> bool {
    let mut lines = file
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'));
    excerpt
        .iter()
        .filter(|l| !l.is_empty())
        .all(|wanted| lines.any(|l| l == wanted))
}

#[test]
fn operators_guide_shows_the_deploy_files_as_they_are() {
    assert!(is_excerpt_of(
        &guide_block("nginx"),
        &read("deploy/nginx.conf")
    ));
    assert!(is_excerpt_of(
        &guide_block("caddyfile"),
        &read("deploy/Caddyfile")
    ));
}
