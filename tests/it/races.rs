//! Revocation against issuance, fired at the same instant.
//!
//! Each case builds its requests first, then releases them together through
//! one barrier (never sleeps), and repeats the round [`ROUNDS`] times with a
//! fresh client, so that one round's leftovers cannot hide in the next.
//! After every round, each token a racer was handed is introspected and
//! must be inactive, and the store must hold no live token of the round's
//! client. A summary line per case (`race <case> on <backend>: ...`) shows
//! with `--nocapture`.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use reqwest::StatusCode;
use serde_json::{Value, json};
use tokio::sync::Barrier;

use crate::both_backends;
use crate::support::flow::{
    self, Browser, Client, Params, Tokens, basic, hidden, register_confidential, register_json,
    signed_in, tokens, tokens_for,
};
use crate::support::{Backend, TestApp};

both_backends!(
    revocation_wins_against_a_concurrent_refresh,
    revoking_an_app_wins_against_a_concurrent_code_exchange,
    reuse_detection_wins_against_a_concurrent_rotation,
    deleting_a_client_wins_against_concurrent_client_credentials,
    revoking_a_personal_token_wins_against_its_use,
    revocation_wins_against_a_grace_replay,
    grace_replays_at_once_leave_one_live_refresh_token,
    a_secret_rotated_while_a_request_waits_issues_nothing,
    a_client_deleted_while_its_code_is_exchanged_issues_nothing,
    revocation_wins_against_a_refresh_narrowed_to_one_resource,
    revocation_wins_against_a_refresh_that_signs_its_tokens,
);

/// Rounds per case.
const ROUNDS: usize = 30;

/// What one racer saw.
#[derive(Debug)]
struct Answer {
    status: StatusCode,
    body: String,
}

impl Answer {
    fn json(&self) -> Value {
        serde_json::from_str(&self.body).unwrap_or(Value::Null)
    }

    /// The tokens of a 200 token response (none for anything else).
    fn issued(&self) -> Vec<String> {
        if self.status != StatusCode::OK {
            return Vec::new();
        }
        let body = self.json();
        ["access_token", "refresh_token"]
            .iter()
            .filter_map(|k| body[*k].as_str().map(str::to_owned))
            .collect()
    }
}

type Racer = Pin<Box<dyn Future<Output = Answer> + Send>>;

/// A prepared HTTP request as a racer.
fn send(http: &reqwest::Client, request: reqwest::RequestBuilder) -> Racer {
    let http = http.clone();
    let request = request.build().expect("a well-formed request");
    Box::pin(async move {
        let response = http.execute(request).await.expect("the server answers");
        Answer {
            status: response.status(),
            body: response.text().await.unwrap_or_default(),
        }
    })
}

/// Runs every racer at once: each waits at one barrier, then goes.
async fn race(racers: Vec<Racer>) -> Vec<Answer> {
    let barrier = Arc::new(Barrier::new(racers.len()));
    let running: Vec<_> = racers
        .into_iter()
        .map(|racer| {
            let barrier = Arc::clone(&barrier);
            tokio::spawn(async move {
                barrier.wait().await;
                racer.await
            })
        })
        .collect();
    let mut answers = Vec::new();
    for r in running {
        answers.push(r.await.expect("a racer panicked"));
    }
    answers
}

pub(crate) fn token_request(
    app: &TestApp,
    client: &Client,
    form: &[(&str, &str)],
) -> reqwest::RequestBuilder {
    app.http
        .post(app.url("/oauth/token"))
        .header("authorization", basic(&client.id, client.secret()))
        .form(form)
}

pub(crate) fn refresh_request(
    app: &TestApp,
    client: &Client,
    refresh: &str,
) -> reqwest::RequestBuilder {
    token_request(
        app,
        client,
        &[("grant_type", "refresh_token"), ("refresh_token", refresh)],
    )
}

fn revoke_request(app: &TestApp, client: &Client, token: &str) -> reqwest::RequestBuilder {
    app.http
        .post(app.url("/oauth/revoke"))
        .header("authorization", basic(&client.id, client.secret()))
        .form(&[("token", token)])
}

/// Whether introspection by the token's own client calls it active.
pub(crate) async fn is_active(app: &TestApp, client: &Client, token: &str) -> bool {
    let response = app
        .http
        .post(app.url("/oauth/introspect"))
        .header("authorization", basic(&client.id, client.secret()))
        .form(&[("token", token)])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK, "introspection answers");
    let body: Value = response.json().await.unwrap();
    body["active"] == json!(true)
}

/// Stored tokens of `client_id` that are neither revoked, retired nor
/// expired.
async fn live_tokens(app: &TestApp, client_id: &str) -> i64 {
    flow::scalar(
        app,
        &format!(
            "select count(*) from tokens where client_id = $1 and revoked_at is null \
             and rotated_at is null and (expires_at is null or expires_at > {})",
            app.clock.now()
        ),
        &[client_id],
    )
    .await
}

/// Stored live tokens with this digest (0 once revoked or deleted).
async fn live_by_hash(app: &TestApp, token: &str) -> i64 {
    flow::scalar(
        app,
        &format!(
            "select count(*) from tokens where token_hash = {} and revoked_at is null \
             and rotated_at is null",
            flow::token_digest(app, "$1")
        ),
        &[&oauthd::crypto::sha256_hex(token)],
    )
    .await
}

/// Tallies rounds that left something alive, and checks every answer.
struct Tally {
    case: &'static str,
    backend: Backend,
    survivors: usize,
    /// Answers outside what the case allows (a 5xx above all).
    unexpected: Vec<String>,
}

impl Tally {
    fn new(case: &'static str, backend: Backend) -> Self {
        Self {
            case,
            backend,
            survivors: 0,
            unexpected: Vec::new(),
        }
    }

    /// Records a round's answers: each must be one of `allowed` for its
    /// position (so never a 5xx).
    fn answers(&mut self, round: usize, answers: &[Answer], allowed: &[&[u16]]) {
        for (i, (answer, allowed)) in answers.iter().zip(allowed).enumerate() {
            if !allowed.contains(&answer.status.as_u16()) {
                self.unexpected.push(format!(
                    "round {round}, racer {i}: {} {}",
                    answer.status, answer.body
                ));
            }
        }
    }

    fn round(&mut self, alive: bool) {
        if alive {
            self.survivors += 1;
        }
    }

    fn finish(self) {
        eprintln!(
            "race {} on {:?}: {} of {ROUNDS} rounds left a live token; {} unexpected answers",
            self.case,
            self.backend,
            self.survivors,
            self.unexpected.len()
        );
        assert!(
            self.unexpected.is_empty(),
            "{}: answers outside the allowed set: {:#?}",
            self.case,
            self.unexpected
        );
        assert_eq!(
            self.survivors, 0,
            "{}: {} of {ROUNDS} rounds left a live token after the revocation returned",
            self.case, self.survivors
        );
    }
}

/// A signed-in browser and a fresh family for a new confidential client.
pub(crate) async fn family(app: &TestApp, browser: &Browser) -> (Client, Tokens) {
    let client = register_confidential(app, &[flow::CB]).await;
    let first = tokens_for(app, browser, &client, &Params::code(&client), None).await;
    assert!(first.refresh.is_some(), "the family has a refresh token");
    (client, first)
}

/// A family rotated once: its client, the retired refresh token and the
/// current one.
pub(crate) async fn rotated_family(app: &TestApp, browser: &Browser) -> (Client, String, String) {
    let (client, first) = family(app, browser).await;
    let old = first.refresh.unwrap();
    let second = tokens(
        refresh_request(app, &client, &old).send().await.unwrap(),
        "the first rotation",
    )
    .await;
    (client, old, second.refresh.unwrap())
}

/// After a round: every token handed out is inactive, and none of the
/// client's stored tokens is live.
async fn nothing_alive(app: &TestApp, client: &Client, answers: &[Answer]) -> bool {
    let mut alive = live_tokens(app, &client.id).await > 0;
    for token in answers.iter().flat_map(Answer::issued) {
        alive |= is_active(app, client, &token).await;
    }
    alive
}

async fn revocation_wins_against_a_concurrent_refresh(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let (browser, _) = signed_in(&app).await;
    let mut tally = Tally::new("revoke vs refresh", backend);
    for round in 0..ROUNDS {
        let (client, first) = family(&app, &browser).await;
        let refresh = first.refresh.unwrap();
        let answers = race(vec![
            send(&app.http, revoke_request(&app, &client, &refresh)),
            send(&app.http, refresh_request(&app, &client, &refresh)),
        ])
        .await;
        tally.answers(round, &answers, &[&[200], &[200, 400]]);
        tally.round(nothing_alive(&app, &client, &answers).await);
    }
    tally.finish();
}

/// RFC 8707: a refresh that narrows the audience goes through the same
/// writers (the audience is one more column of the batch statement), so a
/// concurrent revocation still wins.
async fn revocation_wins_against_a_refresh_narrowed_to_one_resource(backend: Backend) {
    const MCP: &str = "https://mcp.example/mcp";
    const OTHER: &str = "https://other.example/api";
    let app = TestApp::spawn(backend).await;
    let (browser, _) = signed_in(&app).await;
    let mut tally = Tally::new("revoke vs narrowed refresh", backend);
    for round in 0..ROUNDS {
        let client = register_confidential(&app, &[flow::CB]).await;
        let params = Params::code(&client)
            .add("resource", MCP)
            .add("resource", OTHER);
        let first = tokens_for(&app, &browser, &client, &params, None).await;
        let refresh = first.refresh.unwrap();
        let answers = race(vec![
            send(&app.http, revoke_request(&app, &client, &refresh)),
            send(
                &app.http,
                token_request(
                    &app,
                    &client,
                    &[
                        ("grant_type", "refresh_token"),
                        ("refresh_token", &refresh),
                        ("resource", MCP),
                    ],
                ),
            ),
        ])
        .await;
        tally.answers(round, &answers, &[&[200], &[200, 400]]);
        tally.round(nothing_alive(&app, &client, &answers).await);
    }
    tally.finish();
}

async fn revoking_an_app_wins_against_a_concurrent_code_exchange(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let (browser, _) = signed_in(&app).await;
    let mut tally = Tally::new("app revoke vs code exchange", backend);
    for round in 0..ROUNDS {
        let client = register_confidential(&app, &[flow::CB]).await;
        // An earlier authorization, so the app is listed, then a fresh code.
        tokens_for(&app, &browser, &client, &Params::code(&client), None).await;
        let code = browser.code(&Params::code(&client)).await;
        let path = format!("/settings/authorizations/{}/revoke", client.id);
        let confirm = browser.get(&path).await.text().await.unwrap();
        let csrf = hidden(&confirm, "csrf").expect("csrf on the confirm page");
        let answers = race(vec![
            send(
                &browser.http,
                browser
                    .http
                    .post(browser.url(&path))
                    .form(&[("csrf", &csrf)]),
            ),
            send(
                &app.http,
                token_request(
                    &app,
                    &client,
                    &[
                        ("grant_type", "authorization_code"),
                        ("code", &code),
                        ("redirect_uri", flow::CB),
                    ],
                ),
            ),
        ])
        .await;
        tally.answers(round, &answers, &[&[303], &[200, 400]]);
        tally.round(nothing_alive(&app, &client, &answers).await);
    }
    tally.finish();
}

async fn reuse_detection_wins_against_a_concurrent_rotation(backend: Backend) {
    // No grace: a second use of a rotated token is reuse at once.
    let app = TestApp::spawn_with(backend, |c| {
        c.tokens.refresh_grace = std::time::Duration::ZERO;
    })
    .await;
    let (browser, _) = signed_in(&app).await;
    let mut tally = Tally::new("reuse detection vs rotation", backend);
    for round in 0..ROUNDS {
        let (client, old, current) = rotated_family(&app, &browser).await;
        let answers = race(vec![
            send(&app.http, refresh_request(&app, &client, &old)),
            send(&app.http, refresh_request(&app, &client, &current)),
        ])
        .await;
        tally.answers(round, &answers, &[&[400], &[200, 400]]);
        tally.round(nothing_alive(&app, &client, &answers).await);
    }
    tally.finish();
}

async fn deleting_a_client_wins_against_concurrent_client_credentials(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let mut tally = Tally::new("client deletion vs client_credentials", backend);
    for round in 0..ROUNDS {
        let client = register_json(
            &app,
            &json!({"client_name": "Batch job", "grant_types": ["client_credentials"]}),
        )
        .await;
        let cc = || {
            send(
                &app.http,
                token_request(&app, &client, &[("grant_type", "client_credentials")]),
            )
        };
        let (db, id) = (app.db.clone(), client.id.clone());
        let delete: Racer = Box::pin(async move {
            oauthd::cli::admin::remove_client(&db, &id)
                .await
                .expect("the client is removed");
            Answer {
                status: StatusCode::OK,
                body: String::new(),
            }
        });
        let answers = race(vec![delete, cc(), cc()]).await;
        tally.answers(round, &answers, &[&[200], &[200, 401], &[200, 401]]);
        let mut alive = live_tokens(&app, &client.id).await > 0;
        for token in answers.iter().flat_map(Answer::issued) {
            alive |= live_by_hash(&app, &token).await > 0;
            alive |= flow::account(&app, &token).await.status() == StatusCode::OK;
        }
        tally.round(alive);
    }
    tally.finish();
}

async fn revoking_a_personal_token_wins_against_its_use(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let (browser, alice) = signed_in(&app).await;
    let mut tally = Tally::new("personal token revoke vs use", backend);
    for round in 0..ROUNDS {
        let created = oauthd::oauth::personal::create(
            &app.db,
            &app.clock,
            &app.config,
            &alice,
            "account:read",
            Some("race"),
            None,
        )
        .await
        .expect("a personal token");
        let token = created.token.expose().to_owned();
        let path = format!("/settings/tokens/{}/revoke", created.public_id);
        let confirm = browser.get(&path).await.text().await.unwrap();
        let csrf = hidden(&confirm, "csrf").expect("csrf on the confirm page");
        let use_it = || {
            send(
                &app.http,
                app.http.get(app.url("/account")).bearer_auth(&token),
            )
        };
        let answers = race(vec![
            send(
                &browser.http,
                browser
                    .http
                    .post(browser.url(&path))
                    .form(&[("csrf", &csrf)]),
            ),
            use_it(),
            use_it(),
        ])
        .await;
        tally.answers(round, &answers, &[&[303], &[200, 401], &[200, 401]]);
        let alive = live_by_hash(&app, &token).await > 0
            || flow::account(&app, &token).await.status() == StatusCode::OK;
        tally.round(alive);
    }
    tally.finish();
}

async fn revocation_wins_against_a_grace_replay(backend: Backend) {
    let app = TestApp::spawn_with(backend, |c| {
        c.tokens.refresh_grace = std::time::Duration::from_secs(30);
    })
    .await;
    let (browser, _) = signed_in(&app).await;
    let mut tally = Tally::new("revoke vs grace replay", backend);
    for round in 0..ROUNDS {
        let (client, old, current) = rotated_family(&app, &browser).await;
        // Alternate which member of the family the revocation names.
        let revoked = if round % 2 == 0 { &current } else { &old };
        let answers = race(vec![
            send(&app.http, revoke_request(&app, &client, revoked)),
            send(&app.http, refresh_request(&app, &client, &old)),
        ])
        .await;
        tally.answers(round, &answers, &[&[200], &[200, 400]]);
        tally.round(nothing_alive(&app, &client, &answers).await);
    }
    tally.finish();
}

async fn grace_replays_at_once_leave_one_live_refresh_token(backend: Backend) {
    let app = TestApp::spawn_with(backend, |c| {
        c.tokens.refresh_grace = std::time::Duration::from_secs(30);
    })
    .await;
    let (browser, _) = signed_in(&app).await;
    // A "survivor" here is a round that left the family with other than
    // exactly one live refresh token.
    let mut tally = Tally::new("grace replays at once", backend);
    for round in 0..ROUNDS {
        let (client, old, _) = rotated_family(&app, &browser).await;
        let answers = race(
            (0..3)
                .map(|_| send(&app.http, refresh_request(&app, &client, &old)))
                .collect(),
        )
        .await;
        // Each replay inside the window is forgiven.
        tally.answers(round, &answers, &[&[200], &[200], &[200]]);
        let live_refresh = flow::scalar(
            &app,
            "select count(*) from tokens where client_id = $1 and kind = 'refresh' \
             and revoked_at is null and rotated_at is null",
            &[&client.id],
        )
        .await;
        let mut live_heads = 0;
        for answer in &answers {
            if let Some(head) = answer.json()["refresh_token"].as_str()
                && is_active(&app, &client, head).await
            {
                live_heads += 1;
            }
        }
        tally.round(live_refresh != 1 || live_heads != 1);
    }
    tally.finish();
}

/// A write the test holds open on a connection of its own, so that a request
/// meets it half-way.
enum Held {
    Postgres(sqlx::PgConnection),
    Sqlite(sqlx::SqliteConnection),
}

impl Held {
    /// Begins a transaction and runs `sql` (one bind) in it, uncommitted.
    async fn begin(app: &TestApp, sql: &'static str, bind: &str) -> Self {
        use sqlx::Connection;
        match app.db {
            oauthd::store::Db::Postgres(_) => {
                let mut conn = sqlx::PgConnection::connect(&app.database_url)
                    .await
                    .unwrap();
                sqlx::query("begin").execute(&mut conn).await.unwrap();
                sqlx::query(sql)
                    .bind(bind)
                    .execute(&mut conn)
                    .await
                    .unwrap();
                Self::Postgres(conn)
            }
            oauthd::store::Db::Sqlite(_) => {
                let mut conn = sqlx::SqliteConnection::connect(&app.database_url)
                    .await
                    .unwrap();
                sqlx::query("begin immediate")
                    .execute(&mut conn)
                    .await
                    .unwrap();
                sqlx::query(sql)
                    .bind(bind)
                    .execute(&mut conn)
                    .await
                    .unwrap();
                Self::Sqlite(conn)
            }
        }
    }

    /// On Postgres, waits until some statement of the test database is
    /// blocked on a row lock (the request reached the held row). SQLite
    /// shows no such thing; there the request waits in the busy handler,
    /// or reads the committed change if it comes late: either way it must
    /// not get a token.
    async fn until_a_request_waits(&self, app: &TestApp) {
        if let Self::Postgres(_) = self {
            let started = std::time::Instant::now();
            while flow::scalar(
                app,
                "select count(*) from pg_stat_activity \
                 where datname = current_database() and wait_event_type = 'Lock'",
                &[],
            )
            .await
                == 0
            {
                assert!(
                    started.elapsed() < std::time::Duration::from_secs(10),
                    "the request never reached the held row"
                );
                tokio::task::yield_now().await;
            }
        }
    }

    async fn commit(self) {
        match self {
            Self::Postgres(mut c) => sqlx::query("commit").execute(&mut c).await.map(drop),
            Self::Sqlite(mut c) => sqlx::query("commit").execute(&mut c).await.map(drop),
        }
        .unwrap();
    }
}

const ROTATE: &str = "update clients set secret_hash = 'rotated-by-the-test' where id = $1";

async fn a_secret_rotated_while_a_request_waits_issues_nothing(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let (browser, _) = signed_in(&app).await;

    // Client credentials.
    let machine = register_json(
        &app,
        &json!({"client_name": "Batch job", "grant_types": ["client_credentials"]}),
    )
    .await;
    let held = Held::begin(&app, ROTATE, &machine.id).await;
    let request = tokio::spawn(send(
        &app.http,
        token_request(&app, &machine, &[("grant_type", "client_credentials")]),
    ));
    held.until_a_request_waits(&app).await;
    held.commit().await;
    let answer = request.await.unwrap();
    assert_eq!(answer.status, StatusCode::UNAUTHORIZED, "{}", answer.body);
    assert_eq!(answer.json()["error"], "invalid_client");
    assert_eq!(live_tokens(&app, &machine.id).await, 0, "no token stored");

    // A refresh: refused, and the family left as it was.
    let (client, first) = family(&app, &browser).await;
    let refresh = first.refresh.unwrap();
    let held = Held::begin(&app, ROTATE, &client.id).await;
    let request = tokio::spawn(send(&app.http, refresh_request(&app, &client, &refresh)));
    held.until_a_request_waits(&app).await;
    held.commit().await;
    let answer = request.await.unwrap();
    assert_eq!(answer.status, StatusCode::UNAUTHORIZED, "{}", answer.body);
    assert_eq!(answer.json()["error"], "invalid_client");
    assert_eq!(
        live_tokens(&app, &client.id).await,
        2,
        "the refresh token and its access token, untouched"
    );
}

async fn a_client_deleted_while_its_code_is_exchanged_issues_nothing(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let (browser, _) = signed_in(&app).await;
    let client = register_confidential(&app, &[flow::CB]).await;
    let code = browser.code(&Params::code(&client)).await;
    let held = Held::begin(&app, "delete from clients where id = $1", &client.id).await;
    let request = tokio::spawn(send(
        &app.http,
        token_request(
            &app,
            &client,
            &[
                ("grant_type", "authorization_code"),
                ("code", &code),
                ("redirect_uri", flow::CB),
            ],
        ),
    ));
    held.until_a_request_waits(&app).await;
    held.commit().await;
    let answer = request.await.unwrap();
    assert_eq!(answer.status, StatusCode::UNAUTHORIZED, "{}", answer.body);
    assert_eq!(answer.json()["error"], "invalid_client");
    assert_eq!(live_tokens(&app, &client.id).await, 0);
}

/// OpenID Connect and RFC 9068: a refresh of an `openid` grant whose client
/// gets JWT access tokens signs two tokens before it reaches the writer (an
/// await the plain refresh does not have); a concurrent revocation still
/// wins, and the signed access token it may have handed out introspects as
/// inactive (a JWT cannot be recalled, introspection reports it at once).
async fn revocation_wins_against_a_refresh_that_signs_its_tokens(backend: Backend) {
    let app = TestApp::spawn_with(backend, |c| {
        c.signing.key_encryption_key = Some([5u8; 32]);
    })
    .await;
    oauthd::signing::rotate(&app.db, &app.clock, &app.config.signing, true)
        .await
        .unwrap()
        .expect("a signing key");
    let (browser, _) = signed_in(&app).await;
    let mut tally = Tally::new("revoke vs signed refresh", backend);
    for round in 0..ROUNDS {
        let client = flow::register(
            &app,
            oauthd::cli::admin::NewClientArgs {
                name: "Signed RP".into(),
                redirect_uris: vec![flow::CB.to_owned()],
                scope: Some("openid account:read".into()),
                ..oauthd::cli::admin::NewClientArgs::default()
            },
        )
        .await;
        oauthd::cli::admin::set_client_token_format(
            &app.db,
            &app.clock,
            &client.id,
            oauthd::model::client::AccessTokenFormat::Jwt,
        )
        .await
        .unwrap();
        let code = browser
            .code(
                &Params::code(&client)
                    .set("scope", "openid account:read")
                    .add("nonce", "race"),
            )
            .await;
        let first: Value = flow::redeem(&app, &client, &code, Some(flow::CB), None)
            .await
            .json()
            .await
            .unwrap();
        assert!(first["id_token"].is_string(), "an ID token: {first}");
        assert_eq!(
            first["access_token"].as_str().unwrap().matches('.').count(),
            2,
            "a JWT access token"
        );
        let refresh = first["refresh_token"].as_str().unwrap().to_owned();
        let answers = race(vec![
            send(&app.http, revoke_request(&app, &client, &refresh)),
            send(&app.http, refresh_request(&app, &client, &refresh)),
        ])
        .await;
        tally.answers(round, &answers, &[&[200], &[200, 400]]);
        tally.round(nothing_alive(&app, &client, &answers).await);
    }
    tally.finish();
}
