//! The client cache (Postgres): two replicas on one database. A replica
//! really serves client rows from memory, and a change made anywhere (the
//! other replica, the CLI's library calls, hand-written SQL) reaches it
//! through the change notification within a stated bound.
//!
//! The cache is seen at the revocation endpoint, which authenticates the
//! client from it. The token endpoint authenticates from it too, but then
//! re-checks the client row inside the issuing statement, so a token is never
//! issued on a cached secret that has changed.

use std::time::{Duration, Instant};

use oauthd::store::Db;
use reqwest::StatusCode;
use serde_json::json;
use sqlx::{Connection, Executor, PgConnection};

use crate::support::flow::{self, basic};
use crate::support::{Backend, TestApp, TestDb, test_config};

/// How soon a change must reach the other replica.
const PROPAGATION_BOUND: Duration = Duration::from_secs(2);

async fn token_status(app: &TestApp, id: &str, secret: &str) -> StatusCode {
    app.http
        .post(app.url("/oauth/token"))
        .header("authorization", basic(id, secret))
        .form(&[("grant_type", "client_credentials")])
        .send()
        .await
        .unwrap()
        .status()
}

/// How the revocation endpoint answers these credentials (200 for an
/// unknown token once the client authenticates, RFC 7009 §2.2).
async fn auth_status(app: &TestApp, id: &str, secret: &str) -> StatusCode {
    app.http
        .post(app.url("/oauth/revoke"))
        .header("authorization", basic(id, secret))
        .form(&[("token", "oat_not-a-real-token")])
        .send()
        .await
        .unwrap()
        .status()
}

/// Polls `probe` until it returns `want`; returns how long that took, or
/// panics past the bound.
async fn until<T, F>(mut probe: impl FnMut() -> F, want: T, why: &str) -> Duration
where
    T: PartialEq + std::fmt::Debug,
    F: Future<Output = T>,
{
    let started = Instant::now();
    loop {
        let got = probe().await;
        if got == want {
            return started.elapsed();
        }
        assert!(
            started.elapsed() < PROPAGATION_BOUND,
            "{why}: still {got:?} after {:?}",
            started.elapsed()
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// Waits for `app`'s change listener to connect.
async fn live(app: &TestApp) {
    until(
        || async { app.state.clients.is_live() },
        true,
        "the change listener connects",
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn client_changes_reach_every_replica_through_the_notification() {
    let a = TestApp::spawn(Backend::Postgres).await;
    let config_b = test_config(&a.database_url);
    let db_b = Db::connect(&config_b.database).await.expect("connect");
    let b = TestApp::serve(config_b, db_b, TestDb::shared(&a.database_url)).await;

    let client = flow::register_json(
        &a,
        &json!({"client_name": "svc", "grant_types": ["client_credentials"]}),
    )
    .await;
    let old_secret = client.secret().to_owned();

    // Wait for B's listener, then warm its cache.
    live(&b).await;
    assert_eq!(
        token_status(&b, &client.id, &old_secret).await,
        StatusCode::OK
    );

    // 1. B really caches: a secret changed behind the notification's back
    //    (trigger off) is not seen by B, which keeps accepting the old one.
    let mut sql = PgConnection::connect(&a.database_url).await.unwrap();
    sql.execute("alter table clients disable trigger clients_changed")
        .await
        .unwrap();
    sqlx::query("update clients set secret_hash = 'x' where id = $1")
        .bind(&client.id)
        .execute(&mut sql)
        .await
        .unwrap();
    assert_eq!(
        auth_status(&b, &client.id, &old_secret).await,
        StatusCode::OK,
        "B answers from its cache"
    );
    assert_eq!(
        auth_status(&a, &client.id, &old_secret).await,
        StatusCode::UNAUTHORIZED,
        "A had not cached the client, so it reads the change"
    );
    assert_eq!(
        token_status(&b, &client.id, &old_secret).await,
        StatusCode::UNAUTHORIZED,
        "B's cache authenticates, but the issuing statement checks the row"
    );
    sql.execute("alter table clients enable trigger clients_changed")
        .await
        .unwrap();

    // 2. A secret rotated through replica A's code stops working on B.
    let new_secret = oauthd::oauth::registration::rotate_secret(&a.db, &a.clock, &client.id)
        .await
        .unwrap();
    let took = until(
        || auth_status(&b, &client.id, &old_secret),
        StatusCode::UNAUTHORIZED,
        "old secret on B after rotation on A",
    )
    .await;
    assert_eq!(
        token_status(&b, &client.id, new_secret.expose()).await,
        StatusCode::OK
    );

    // 3. A client deleted by hand-written SQL stops working on B.
    sqlx::query("delete from clients where id = $1")
        .bind(&client.id)
        .execute(&mut sql)
        .await
        .unwrap();
    let took_delete = until(
        || auth_status(&b, &client.id, new_secret.expose()),
        StatusCode::UNAUTHORIZED,
        "deleted client on B",
    )
    .await;
    eprintln!("client cache: rotation reached B in {took:?}, deletion in {took_delete:?}");
}

/// Whether `caller` is told that `token` is active.
async fn sees(app: &TestApp, caller: &flow::Client, token: &str) -> bool {
    let response = flow::token_at(
        app,
        "/oauth/introspect",
        &caller.auth(),
        &[("token", token)],
        None,
    )
    .await;
    assert_eq!(response.status(), StatusCode::OK);
    let body: serde_json::Value = response.json().await.unwrap();
    body["active"] == json!(true)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_introspection_permission_changed_by_the_cli_reaches_the_cache() {
    let app = TestApp::spawn(Backend::Postgres).await;
    live(&app).await;
    let body = json!({"client_name": "svc", "grant_types": ["client_credentials"]});
    let service = flow::register_json(&app, &body).await;
    let resource_server = flow::register_json(&app, &body).await;
    let response = flow::token(
        &app,
        &service.auth(),
        &[("grant_type", "client_credentials")],
    )
    .await;
    let token = flow::tokens(response, "client credentials").await.access;
    // The resource server's row is now cached, without the permission.
    assert!(!sees(&app, &resource_server, &token).await);

    // The CLI is another process with its own connection.
    let cli = Db::connect(&test_config(&app.database_url).database)
        .await
        .expect("connect");
    let set = |allowed: bool| {
        let cli = cli.clone();
        let clock = app.clock.clone();
        let id = resource_server.id.clone();
        async move {
            oauthd::cli::admin::set_introspection(&cli, &clock, &id, allowed)
                .await
                .unwrap();
        }
    };

    // 1. The cache really holds the row: with the trigger off, the change
    //    goes unseen.
    let mut sql = PgConnection::connect(&app.database_url).await.unwrap();
    sql.execute("alter table clients disable trigger clients_changed")
        .await
        .unwrap();
    set(true).await;
    assert!(
        !sees(&app, &resource_server, &token).await,
        "served from the cache"
    );
    sql.execute("alter table clients enable trigger clients_changed")
        .await
        .unwrap();

    // 2. Through the notification, a grant and a withdrawal both arrive.
    set(true).await;
    let granted = until(
        || sees(&app, &resource_server, &token),
        true,
        "the permission granted by the CLI",
    )
    .await;
    set(false).await;
    let withdrawn = until(
        || sees(&app, &resource_server, &token),
        false,
        "the permission withdrawn by the CLI",
    )
    .await;
    eprintln!(
        "client cache: introspection permission granted in {granted:?}, withdrawn in {withdrawn:?}"
    );
    cli.close().await;
}
