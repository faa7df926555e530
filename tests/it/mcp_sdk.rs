//! The official MCP TypeScript SDK drives oauthd end to end (issue 17):
//! `tests/mcp/e2e.mjs` runs the SDK's `auth()` against this server, with a
//! tiny protected resource of its own that accepts a token only once
//! introspection shows its audience.
//!
//! Runs only with `OAUTHD_MCP_SDK_TESTS=1`: it needs `node` and `npm ci` run
//! in `tests/mcp` first. `OAUTHD_MCP_SDK_TESTS=1 cargo test --test it
//! mcp_sdk`; `.ci/run` does both and fails if it did not run.

use std::path::Path;
use std::process::Command;

use oauthd::admin;
use serde_json::json;

use crate::both_backends;
use crate::support::flow::{self, PASSWORD, create_user, register_json, text_of};
use crate::support::{Backend, TestApp};

both_backends!(the_mcp_sdk_discovers_registers_authorizes_and_refreshes);

async fn the_mcp_sdk_discovers_registers_authorizes_and_refreshes(backend: Backend) {
    if std::env::var_os("OAUTHD_MCP_SDK_TESTS").is_none() {
        eprintln!("mcp sdk e2e not run: set OAUTHD_MCP_SDK_TESTS=1 (after `npm ci` in tests/mcp)");
        return;
    }
    let app = TestApp::spawn(backend).await;
    create_user(&app, "alice").await;
    // The resource server: a confidential client, registered by the
    // operator as the server of its resource, so it may introspect tokens
    // for it.
    let rs = register_json(
        &app,
        &json!({"client_name": "MCP server", "grant_types": ["client_credentials"]}),
    )
    .await;
    let port = {
        let probe = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        probe.local_addr().unwrap().port()
    };
    let resource = format!("http://127.0.0.1:{port}/mcp");
    admin::add_resource(&app.db, &app.clock, &resource, "MCP server", Some(&rs.id))
        .await
        .unwrap();

    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/mcp");
    assert!(
        dir.join("node_modules/@modelcontextprotocol/sdk").is_dir(),
        "run `npm ci` in tests/mcp first (the MCP SDK is not installed)"
    );
    let envs = [
        ("OAUTHD_URL", app.base.clone()),
        ("RS_PORT", port.to_string()),
        ("RS_CLIENT_ID", rs.id.clone()),
        ("RS_CLIENT_SECRET", rs.secret().to_owned()),
        ("OAUTHD_USERNAME", "alice".to_owned()),
        ("OAUTHD_PASSWORD", PASSWORD.to_owned()),
    ];
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
        output.status.success() && stdout.contains("mcp sdk e2e passed"),
        "the MCP SDK run failed ({}):\nstdout: {stdout}\nstderr: {stderr}",
        output.status
    );
    // What the SDK left behind: a native public client it registered, and
    // tokens whose audience is the resource.
    assert_eq!(
        text_of(
            &app,
            "select application_type from clients where name = $1",
            &["MCP SDK e2e"]
        )
        .await
        .as_deref(),
        Some("native")
    );
    assert_eq!(
        flow::scalar(
            &app,
            "select count(*) from tokens where audience = $1 and kind = 'refresh'",
            &[&resource]
        )
        .await,
        2,
        "two refresh tokens for the resource (one rotated)"
    );
    eprintln!("mcp sdk e2e on {backend:?} passed");
}
