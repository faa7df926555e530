//! The stock openid-client (panva's, pinned in `tests/oidc`) drives oauthd as
//! an OpenID Provider, unchanged: `tests/oidc/e2e.mjs` runs discovery, the
//! code flow with PKCE and a nonce, ID-token validation, UserInfo, refresh,
//! a wrong nonce and state refused, RP-initiated logout and `prompt=none`
//! after it.
//!
//! Runs only with `OAUTHD_OPENID_CLIENT_TESTS=1`: it needs `node` and
//! `npm ci` run in `tests/oidc` first. `.ci/run` does both and fails if it
//! did not run on both backends.

use std::path::Path;
use std::process::Command;

use oauthd::cli::admin;
use oauthd::clock::Clock;
use oauthd::signing;
use serde_json::json;

use crate::both_backends;
use crate::support::flow::{PASSWORD, create_user, register_json};
use crate::support::{Backend, TestApp};

both_backends!(openid_client_signs_in_refreshes_and_logs_out);

const REDIRECT: &str = "http://127.0.0.1:33419/callback";
const POST_LOGOUT: &str = "http://127.0.0.1:33419/signed-out";

fn enabled() -> bool {
    if std::env::var_os("OAUTHD_OPENID_CLIENT_TESTS").is_none() {
        eprintln!(
            "openid-client e2e not run: set OAUTHD_OPENID_CLIENT_TESTS=1 (after `npm ci` in tests/oidc)"
        );
        return false;
    }
    true
}

async fn openid_client_signs_in_refreshes_and_logs_out(backend: Backend) {
    if !enabled() {
        return;
    }
    let app = TestApp::spawn_with(backend, |c| {
        c.signing.key_encryption_key = Some([3u8; 32]);
    })
    .await;
    // openid-client checks iat and exp against its own wall clock.
    let wall = Clock::system().now();
    app.clock.advance(wall - app.clock.now());
    signing::rotate(&app.db, &app.clock, &app.config.signing, true)
        .await
        .unwrap()
        .expect("a signing key");

    create_user(&app, "alice").await;
    admin::set_user_profile(
        &app.db,
        &app.clock,
        "alice",
        &admin::ProfileChange {
            name: Some("Alice Liddell"),
            email: Some("alice@example.com"),
            email_verified: Some(true),
        },
    )
    .await
    .unwrap();
    let client = register_json(
        &app,
        &json!({
            "client_name": "openid-client e2e",
            "redirect_uris": [REDIRECT],
            "post_logout_redirect_uris": [POST_LOGOUT],
            "grant_types": ["authorization_code", "refresh_token"],
            "scope": "openid profile email",
            "token_endpoint_auth_method": "client_secret_basic",
        }),
    )
    .await;

    let envs = [
        ("OAUTHD_URL", app.base.clone()),
        ("CLIENT_ID", client.id.clone()),
        ("CLIENT_SECRET", client.secret().to_owned()),
        ("REDIRECT_URI", REDIRECT.to_owned()),
        ("POST_LOGOUT_REDIRECT_URI", POST_LOGOUT.to_owned()),
        ("OAUTHD_USERNAME", "alice".to_owned()),
        ("OAUTHD_PASSWORD", PASSWORD.to_owned()),
        ("EXPECT_NAME", "Alice Liddell".to_owned()),
        ("EXPECT_EMAIL", "alice@example.com".to_owned()),
    ];
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/oidc");
    assert!(
        dir.join("node_modules/openid-client").is_dir(),
        "run `npm ci` in tests/oidc first (openid-client is not installed)"
    );
    let output = tokio::task::spawn_blocking(move || {
        Command::new("node")
            .arg("e2e.mjs")
            .current_dir(&dir)
            .envs(envs)
            .output()
            .expect("run node (is Node.js installed?)")
    })
    .await
    .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success() && stdout.lines().any(|l| l == "openid-client e2e passed"),
        "the openid-client run failed ({}):\nstdout: {stdout}\nstderr: {stderr}",
        output.status
    );
    eprintln!("openid-client e2e on {backend:?} passed");
}
