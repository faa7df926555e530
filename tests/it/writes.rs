//! The token writers (`store::writer`): concurrent token requests share one
//! transaction, a full queue answers 503 at once, and a batch that mixes
//! every kind of issuance gives each request the answer it would get alone.
//!
//! Each test holds the database's write lock from a second connection so
//! that the first batch waits, queues the rest behind it (watched through
//! `Writer::backlog`, never with sleeps), then releases the lock.

use std::time::{Duration, Instant};

use reqwest::StatusCode;
use serde_json::{Value, json};
use sqlx::{Connection, Executor, PgConnection, SqliteConnection};
use tokio::task::JoinHandle;

use crate::both_backends;
use crate::races::{family, is_active, refresh_request, rotated_family, token_request};
use crate::support::flow::{self, Client, Params, register_confidential, register_json};
use crate::support::{Backend, TestApp};

both_backends!(
    concurrent_token_requests_share_one_transaction,
    a_full_write_queue_answers_503_at_once,
    a_mixed_batch_answers_each_request_as_if_alone,
);

/// A token endpoint answer.
#[derive(Debug)]
struct Answer {
    status: StatusCode,
    retry_after: bool,
    body: Value,
}

impl Answer {
    fn token(&self, name: &str) -> Option<String> {
        self.body[name].as_str().map(str::to_owned)
    }
}

/// Sends `request` on its own task.
fn send(request: reqwest::RequestBuilder) -> JoinHandle<Answer> {
    tokio::spawn(async move {
        let response = request.send().await.unwrap();
        let status = response.status();
        let retry_after = response.headers().contains_key("retry-after");
        let body = response.json().await.unwrap_or(Value::Null);
        Answer {
            status,
            retry_after,
            body,
        }
    })
}

fn cc_request(app: &TestApp, client: &Client) -> reqwest::RequestBuilder {
    token_request(app, client, &[("grant_type", "client_credentials")])
}

/// One writer, and room to wait on a held lock.
fn one_writer(app: &mut oauthd::config::Config) {
    app.database.writes.writers = 1;
    app.database.acquire_timeout = Duration::from_secs(30);
    app.database.sqlite_busy_timeout = Duration::from_secs(30);
}

/// The write lock, held by another connection until [`Lock::release`].
enum Lock {
    Postgres(PgConnection),
    Sqlite(SqliteConnection),
}

impl Lock {
    /// Blocks every token write (reads go on: `share` mode on Postgres,
    /// WAL on SQLite).
    async fn take(app: &TestApp) -> Self {
        if app.database_url.starts_with("postgres") {
            let mut conn = PgConnection::connect(&app.database_url).await.unwrap();
            conn.execute("begin").await.unwrap();
            conn.execute("lock table tokens in share mode")
                .await
                .unwrap();
            Self::Postgres(conn)
        } else {
            let mut conn = SqliteConnection::connect(&app.database_url).await.unwrap();
            conn.execute("begin exclusive").await.unwrap();
            Self::Sqlite(conn)
        }
    }

    /// Runs `sql` (binding `id`) in the lock's transaction and commits.
    async fn commit_after(self, sql: &'static str, id: &str) {
        match self {
            Self::Postgres(mut c) => {
                sqlx::query(sql).bind(id).execute(&mut c).await.unwrap();
                c.execute("commit").await.map(drop)
            }
            Self::Sqlite(mut c) => {
                sqlx::query(sql).bind(id).execute(&mut c).await.unwrap();
                c.execute("commit").await.map(drop)
            }
        }
        .unwrap();
    }

    async fn release(self) {
        match self {
            Self::Postgres(mut c) => c.execute("rollback").await.map(drop),
            Self::Sqlite(mut c) => c.execute("rollback").await.map(drop),
        }
        .unwrap();
    }
}

/// Waits until the writers hold `queued` issuances in their queues and
/// `waiting` requests in all (queued or in the batch being written).
async fn backlog_reaches(app: &TestApp, queued: usize, waiting: usize) {
    let started = Instant::now();
    loop {
        let now = app.state.writer.backlog();
        if now.queued == queued && now.waiting == waiting {
            return;
        }
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "the writers hold {now:?}, expected {queued} queued of {waiting} waiting"
        );
        tokio::task::yield_now().await;
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

/// The batches committed so far, and the requests they carried.
fn batches(app: &TestApp) -> (u64, u64) {
    let (_, text) = app.state.metrics.render(&app.db, "text/plain");
    let sample = |name: &str| {
        text.lines()
            .find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.parse::<u64>().ok())
            .unwrap_or_else(|| panic!("{name} in the metrics:\n{text}"))
    };
    (
        sample("oauthd_token_write_batches_total"),
        sample("oauthd_token_writes_total"),
    )
}

async fn concurrent_token_requests_share_one_transaction(backend: Backend) {
    let app = TestApp::spawn_with(backend, one_writer).await;
    let service = register_json(
        &app,
        &json!({"client_name": "svc", "grant_types": ["client_credentials"]}),
    )
    .await;
    let lock = Lock::take(&app).await;
    let first = send(cc_request(&app, &service));
    backlog_reaches(&app, 0, 1).await;
    let rest: Vec<_> = (0..19).map(|_| send(cc_request(&app, &service))).collect();
    backlog_reaches(&app, 19, 20).await;
    assert_eq!(app.count("tokens").await, 0, "nothing stored while locked");
    lock.release().await;

    let mut issued = Vec::new();
    for answer in std::iter::once(first).chain(rest) {
        let answer = answer.await.unwrap();
        assert_eq!(answer.status, StatusCode::OK, "{answer:?}");
        issued.push(answer.token("access_token").unwrap());
    }
    assert_eq!(
        batches(&app),
        (2, 20),
        "the first request alone, then the 19 queued behind it in one transaction"
    );
    assert_eq!(app.count("tokens").await, 20);
    for token in &issued {
        assert!(is_active(&app, &service, token).await, "{token} is live");
    }
}

async fn a_full_write_queue_answers_503_at_once(backend: Backend) {
    let app = TestApp::spawn_with(backend, |c| {
        one_writer(c);
        c.database.writes.queue_size = 2;
        c.database.writes.batch_size = 1;
    })
    .await;
    let service = register_json(
        &app,
        &json!({"client_name": "svc", "grant_types": ["client_credentials"]}),
    )
    .await;
    let lock = Lock::take(&app).await;
    let first = send(cc_request(&app, &service));
    backlog_reaches(&app, 0, 1).await;
    let queued = [
        send(cc_request(&app, &service)),
        send(cc_request(&app, &service)),
    ];
    backlog_reaches(&app, 2, 3).await;

    let started = Instant::now();
    let refused = send(cc_request(&app, &service)).await.unwrap();
    assert_eq!(
        refused.status,
        StatusCode::SERVICE_UNAVAILABLE,
        "{refused:?}"
    );
    assert_eq!(refused.body["error"], "temporarily_unavailable");
    assert!(refused.retry_after, "Retry-After on the 503");
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "refused without waiting for the lock"
    );
    lock.release().await;
    for answer in std::iter::once(first).chain(queued) {
        let answer = answer.await.unwrap();
        assert_eq!(answer.status, StatusCode::OK, "{answer:?}");
    }
    assert_eq!(
        app.count("tokens").await,
        3,
        "the refused request stored nothing"
    );
    assert_eq!(batches(&app), (3, 3), "batch size 1: one request each");
}

async fn a_mixed_batch_answers_each_request_as_if_alone(backend: Backend) {
    let app = TestApp::spawn_with(backend, |c| {
        one_writer(c);
        c.tokens.refresh_grace = Duration::ZERO;
    })
    .await;
    let (browser, _) = flow::signed_in(&app).await;
    let service = register_json(
        &app,
        &json!({"client_name": "svc", "grant_types": ["client_credentials"]}),
    )
    .await;
    // A fresh code; a code sent twice; a live refresh token; a refresh token
    // sent twice; a code of a client whose secret changes meanwhile.
    let web = register_confidential(&app, &[flow::CB]).await;
    let code = browser.code(&Params::code(&web)).await;
    let twice = register_confidential(&app, &[flow::CB]).await;
    let code_twice = browser.code(&Params::code(&twice)).await;
    let (live, first) = family(&app, &browser).await;
    let live_refresh = first.refresh.unwrap();
    let (reused, _, refresh_twice) = rotated_family(&app, &browser).await;
    let rekeyed = register_confidential(&app, &[flow::CB]).await;
    let rekeyed_code = browser.code(&Params::code(&rekeyed)).await;
    let exchange = |client: &Client, code: &str| {
        token_request(
            &app,
            client,
            &[
                ("grant_type", "authorization_code"),
                ("code", code),
                ("redirect_uri", flow::CB),
            ],
        )
    };
    let (before, _) = batches(&app);

    let lock = Lock::take(&app).await;
    let first = send(cc_request(&app, &service));
    backlog_reaches(&app, 0, 1).await;
    let cc = [
        send(cc_request(&app, &service)),
        send(cc_request(&app, &service)),
    ];
    let fresh = send(exchange(&web, &code));
    let both_codes = [
        send(exchange(&twice, &code_twice)),
        send(exchange(&twice, &code_twice)),
    ];
    let rotation = send(refresh_request(&app, &live, &live_refresh));
    let both_refreshes = [
        send(refresh_request(&app, &reused, &refresh_twice)),
        send(refresh_request(&app, &reused, &refresh_twice)),
    ];
    let rekeyed_answer = send(exchange(&rekeyed, &rekeyed_code));
    backlog_reaches(&app, 9, 10).await;
    // Its secret changes after it authenticated, before its batch runs.
    lock.commit_after(
        "update clients set secret_hash = 'rotated' where id = $1",
        &rekeyed.id,
    )
    .await;

    assert_eq!(first.await.unwrap().status, StatusCode::OK);
    for answer in cc {
        let answer = answer.await.unwrap();
        assert_eq!(
            answer.status,
            StatusCode::OK,
            "client credentials: {answer:?}"
        );
        let token = answer.token("access_token").unwrap();
        assert!(is_active(&app, &service, &token).await);
    }
    let fresh = fresh.await.unwrap();
    assert_eq!(fresh.status, StatusCode::OK, "the fresh code: {fresh:?}");
    for name in ["access_token", "refresh_token"] {
        assert!(is_active(&app, &web, &fresh.token(name).unwrap()).await);
    }
    let rotation = rotation.await.unwrap();
    assert_eq!(
        rotation.status,
        StatusCode::OK,
        "the live refresh: {rotation:?}"
    );
    assert!(is_active(&app, &live, &rotation.token("refresh_token").unwrap()).await);
    assert!(
        !is_active(&app, &live, &live_refresh).await,
        "the old one is retired"
    );

    // Sent twice: one wins in the batch, the other comes second, alone, and
    // is a replay (or reuse) that revokes what the first got.
    for (what, client, pair) in [
        ("a code sent twice", &twice, both_codes),
        ("a refresh token sent twice", &reused, both_refreshes),
    ] {
        let mut answers = Vec::new();
        for answer in pair {
            answers.push(answer.await.unwrap());
        }
        let mut statuses: Vec<_> = answers.iter().map(|a| a.status.as_u16()).collect();
        statuses.sort_unstable();
        assert_eq!(statuses, [200, 400], "{what}: {answers:?}");
        for answer in &answers {
            if answer.status == StatusCode::BAD_REQUEST {
                assert_eq!(answer.body["error"], "invalid_grant", "{what}");
            }
            for name in ["access_token", "refresh_token"] {
                if let Some(token) = answer.token(name) {
                    assert!(!is_active(&app, client, &token).await, "{what}: revoked");
                }
            }
        }
    }
    let rekeyed_answer = rekeyed_answer.await.unwrap();
    assert_eq!(
        rekeyed_answer.status,
        StatusCode::UNAUTHORIZED,
        "a client re-keyed meanwhile: {rekeyed_answer:?}"
    );
    assert_eq!(rekeyed_answer.body["error"], "invalid_client");
    let rekeyed_tokens = "select count(*) from tokens where client_id = $1";
    assert_eq!(flow::scalar(&app, rekeyed_tokens, &[&rekeyed.id]).await, 0);

    let (after, _) = batches(&app);
    assert_eq!(
        after - before,
        3,
        "the first request; the nine queued behind it; the two second sends"
    );
}
