//! The official MCP TypeScript SDK drives oauthd end to end (issue 17):
//! `tests/mcp/e2e.mjs` runs the SDK's `auth()` against this server, with a
//! tiny protected resource of its own that accepts a token only once
//! introspection shows its audience.
//!
//! Runs only with `OAUTHD_MCP_SDK_TESTS=1`: it needs `node` and `npm ci` run
//! in `tests/mcp` first. `OAUTHD_MCP_SDK_TESTS=1 cargo test --test it
//! mcp_sdk`; `.ci/run` does both and fails if it did not run. Two cases per
//! backend: dynamic registration, and a Client ID Metadata Document served
//! over https (a throwaway CA made here, trusted through
//! `client_metadata.extra_root_certificates`).

use std::path::Path;
use std::process::Command;

use oauthd::cli::admin;
use serde_json::json;

use crate::both_backends;
use crate::support::flow::{self, PASSWORD, create_user, register_json, text_of};
use crate::support::tls::TestPki;
use crate::support::{Backend, TestApp};

both_backends!(
    the_mcp_sdk_discovers_registers_authorizes_and_refreshes,
    the_mcp_sdk_uses_a_client_id_metadata_document_over_https,
);

/// What one SDK run needs: the running oauthd, the resource's URI and the
/// environment for `e2e.mjs`.
struct Setup {
    app: TestApp,
    resource: String,
    envs: Vec<(&'static str, String)>,
}

fn enabled() -> bool {
    if std::env::var_os("OAUTHD_MCP_SDK_TESTS").is_none() {
        eprintln!("mcp sdk e2e not run: set OAUTHD_MCP_SDK_TESTS=1 (after `npm ci` in tests/mcp)");
        return false;
    }
    true
}

fn free_port() -> u16 {
    let probe = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    probe.local_addr().unwrap().port()
}

async fn setup(app: TestApp) -> Setup {
    create_user(&app, "alice").await;
    // The resource server: a confidential client, registered by the
    // operator as the server of its resource, so it may introspect tokens
    // for it.
    let rs = register_json(
        &app,
        &json!({"client_name": "MCP server", "grant_types": ["client_credentials"]}),
    )
    .await;
    let port = free_port();
    let resource = format!("http://127.0.0.1:{port}/mcp");
    admin::add_resource(&app.db, &app.clock, &resource, "MCP server", Some(&rs.id))
        .await
        .unwrap();
    let envs = vec![
        ("OAUTHD_URL", app.base.clone()),
        ("RS_PORT", port.to_string()),
        ("RS_CLIENT_ID", rs.id.clone()),
        ("RS_CLIENT_SECRET", rs.secret().to_owned()),
        ("OAUTHD_USERNAME", "alice".to_owned()),
        ("OAUTHD_PASSWORD", PASSWORD.to_owned()),
    ];
    Setup {
        app,
        resource,
        envs,
    }
}

/// Runs `e2e.mjs` and asserts that it printed `pass_line`.
async fn run_node(envs: Vec<(&'static str, String)>, pass_line: &str) {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/mcp");
    assert!(
        dir.join("node_modules/@modelcontextprotocol/sdk").is_dir(),
        "run `npm ci` in tests/mcp first (the MCP SDK is not installed)"
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
        output.status.success() && stdout.lines().any(|l| l == pass_line),
        "the MCP SDK run failed ({}):\nstdout: {stdout}\nstderr: {stderr}",
        output.status
    );
}

async fn the_mcp_sdk_discovers_registers_authorizes_and_refreshes(backend: Backend) {
    if !enabled() {
        return;
    }
    let Setup {
        app,
        resource,
        envs,
    } = setup(TestApp::spawn(backend).await).await;
    run_node(envs, "mcp sdk e2e passed").await;
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

/// The second case of issue 17: the SDK's provider names a Client ID
/// Metadata Document (`clientMetadataUrl`), served over https by the script
/// with a leaf certificate from a throwaway CA that oauthd trusts through
/// `client_metadata.extra_root_certificates`. The SDK must use the URL as
/// its client_id and register nothing.
async fn the_mcp_sdk_uses_a_client_id_metadata_document_over_https(backend: Backend) {
    if !enabled() {
        return;
    }
    let pki = TestPki::new();
    let roots = pki.ca_roots();
    let app = TestApp::spawn_with(backend, move |c| {
        // The document host is 127.0.0.1.
        c.client_metadata.allow_http_loopback = true;
        c.client_metadata.extra_roots = roots;
    })
    .await;
    let Setup {
        app,
        resource,
        mut envs,
    } = setup(app).await;
    let clients_before = app.count("clients").await;
    let doc_port = free_port();
    let document_url = format!("https://127.0.0.1:{doc_port}/client.json");
    envs.extend([
        ("CIMD_PORT", doc_port.to_string()),
        ("CIMD_CERT", pki.leaf_cert.display().to_string()),
        ("CIMD_KEY", pki.leaf_key.display().to_string()),
    ]);
    run_node(envs, "mcp sdk cimd e2e passed").await;
    // What was stored: one new clients row, keyed by the document URL, public
    // and unowned; no registered client.
    assert_eq!(
        app.count("clients").await,
        clients_before + 1,
        "only the document client's row was added"
    );
    assert_eq!(
        text_of(
            &app,
            "select auth_method from clients where id = $1",
            &[&document_url]
        )
        .await
        .as_deref(),
        Some("none"),
        "the clients row is keyed by the document URL"
    );
    assert_eq!(
        text_of(
            &app,
            "select name from clients where id = $1",
            &[&document_url]
        )
        .await
        .as_deref(),
        Some("MCP SDK CIMD e2e")
    );
    assert_eq!(
        flow::scalar(
            &app,
            "select count(*) from clients where id <> $1 and owner_id is null and secret_hash is null",
            &[&document_url]
        )
        .await,
        0,
        "no public client was registered besides the document client"
    );
    assert_eq!(
        flow::scalar(
            &app,
            "select count(*) from tokens where audience = $1 and kind = 'refresh' and client_id = $2",
            &[&resource, &document_url]
        )
        .await,
        2,
        "two refresh tokens for the resource, issued to the document client (one rotated)"
    );
    eprintln!("mcp sdk cimd e2e on {backend:?} passed");
}
