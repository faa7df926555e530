//! Database faults: a TCP proxy between oauthd and Postgres that the test cuts
//! (every live connection closed, new ones refused) and restores, freezes
//! (nothing forwarded, nothing closed) and thaws, or strands (open
//! connections silent for good, new ones fine); statements held on a lock;
//! and a SQLite database held locked by another connection.
//!
//! What must hold: during the fault every answer that needs the database is
//! a 503 (JSON with `Retry-After` on API paths, a page on HTML paths), never
//! another 5xx and never slower than the pool's acquire timeout allows;
//! `/readyz` follows the database; service resumes by itself within a stated
//! bound; every token ever answered with a 200 is active afterwards; and no
//! code exchange or refresh rotation is half-applied.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use oauthd::store::Db;
use reqwest::StatusCode;
use serde_json::{Value, json};
use sqlx::{Connection, Executor, SqliteConnection};
use tokio::io::copy_bidirectional;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;

use crate::both_backends;
use crate::support::flow::{self, CB, Client, PASSWORD, Params, basic, hidden};
use crate::support::{Backend, TestApp, TestDb, test_config};

both_backends!(a_dropped_transaction_rolls_back_before_its_connection_serves_again);

/// How long a request may wait for a pooled connection.
const ACQUIRE_TIMEOUT: Duration = Duration::from_secs(2);
/// The slowest a failing request may be: the acquire timeout plus slack
/// for a 2-core machine running the rest of the suite.
const SLOWEST_FAILURE: Duration = Duration::from_secs(6);
/// Service must be back this soon after the database is.
const RECOVERY_BOUND: Duration = Duration::from_secs(10);
/// Cut-and-restore cycles in the Postgres test.
const CUTS: usize = 2;

/// A TCP proxy to Postgres that can be cut and restored.
struct FaultProxy {
    addr: SocketAddr,
    cut: watch::Sender<bool>,
    /// While set, connections stay open but nothing is forwarded (a frozen
    /// server or a network partition); thawing closes them.
    frozen: watch::Sender<bool>,
    /// Bumped by [`FaultProxy::strand`]: every connection opened before the
    /// bump goes silent for good.
    strand: watch::Sender<u64>,
    /// Connections stranded (silent and open until the test ends).
    stranded: Arc<AtomicUsize>,
    /// Live connections closed by a cut.
    killed: Arc<AtomicUsize>,
    /// New connections refused while cut.
    refused: Arc<AtomicUsize>,
}

impl FaultProxy {
    async fn start(upstream: String) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind proxy");
        let addr = listener.local_addr().expect("proxy addr");
        let (cut, watch_cut) = watch::channel(false);
        let (frozen, watch_frozen) = watch::channel(false);
        let (strand, watch_strand) = watch::channel(0_u64);
        let killed = Arc::new(AtomicUsize::new(0));
        let refused = Arc::new(AtomicUsize::new(0));
        let stranded = Arc::new(AtomicUsize::new(0));
        let (k, r, st) = (killed.clone(), refused.clone(), stranded.clone());
        tokio::spawn(async move {
            while let Ok((mut inbound, _)) = listener.accept().await {
                let mut is_cut = watch_cut.clone();
                let mut is_frozen = watch_frozen.clone();
                let mut strands = watch_strand.clone();
                let epoch = *strands.borrow();
                if *is_frozen.borrow() {
                    tokio::spawn(async move {
                        let _ = is_frozen.wait_for(|frozen| !*frozen).await;
                        drop(inbound);
                    });
                    continue;
                }
                if *is_cut.borrow() {
                    r.fetch_add(1, Ordering::Relaxed);
                    drop(inbound);
                    continue;
                }
                let (upstream, k, st) = (upstream.clone(), k.clone(), st.clone());
                tokio::spawn(async move {
                    let Ok(mut outbound) = TcpStream::connect(&upstream).await else {
                        return;
                    };
                    enum Fate {
                        Closed,
                        Frozen,
                        Stranded,
                    }
                    // A strand wins over the freeze that comes with it.
                    let fate = tokio::select! {
                        biased;
                        _ = strands.wait_for(|e| *e > epoch) => Fate::Stranded,
                        _ = is_frozen.wait_for(|frozen| *frozen) => Fate::Frozen,
                        _ = copy_bidirectional(&mut inbound, &mut outbound) => Fate::Closed,
                        _ = is_cut.wait_for(|cut| *cut) => {
                            k.fetch_add(1, Ordering::Relaxed);
                            Fate::Closed
                        }
                    };
                    match fate {
                        Fate::Frozen => {
                            // Hold both ends open and silent until thawed.
                            let _ = is_frozen.wait_for(|frozen| !*frozen).await;
                        }
                        Fate::Stranded => {
                            // Both ends open and silent until the test ends.
                            st.fetch_add(1, Ordering::Relaxed);
                            std::future::pending::<()>().await;
                        }
                        Fate::Closed => {}
                    }
                    // Dropping both sockets closes them under the pool.
                });
            }
        });
        Self {
            addr,
            cut,
            frozen,
            strand,
            stranded,
            killed,
            refused,
        }
    }

    fn cut(&self) {
        self.cut.send_replace(true);
    }

    fn restore(&self) {
        self.cut.send_replace(false);
    }

    fn freeze(&self) {
        self.frozen.send_replace(true);
    }

    fn thaw(&self) {
        self.frozen.send_replace(false);
    }

    /// Every connection open now stops forwarding and stays open, silent,
    /// until the test ends: what the pool sees of a NAT entry that timed out
    /// or of the old primary after a failover. Connections opened later are
    /// not affected (a freeze still holds them).
    fn strand(&self) {
        self.strand.send_modify(|epoch| *epoch += 1);
    }
}

/// A server whose Postgres connections go through a [`FaultProxy`], with a
/// pool of `max_connections` and the short acquire timeout, and a
/// client-credentials client registered on it.
async fn behind_proxy(max_connections: u32) -> (TestApp, FaultProxy, Client) {
    let test_db = TestDb::new(Backend::Postgres).await;
    let proxy = FaultProxy::start(upstream_of(&test_db.url)).await;
    let mut config = test_config(&through(&test_db.url, proxy.addr));
    config.database.acquire_timeout = ACQUIRE_TIMEOUT;
    config.database.max_connections = max_connections;
    let db = Db::connect(&config.database).await.expect("connect");
    db.migrate().await.expect("migrate");
    let app = TestApp::serve(config, db, test_db).await;
    let service = flow::register_json(
        &app,
        &json!({"client_name": "svc", "grant_types": ["client_credentials"]}),
    )
    .await;
    (app, proxy, service)
}

/// `url` with its host and port replaced by `addr`.
fn through(url: &str, addr: SocketAddr) -> String {
    let mut parsed = url::Url::parse(url).expect("database URL");
    parsed.set_host(Some(&addr.ip().to_string())).expect("host");
    parsed.set_port(Some(addr.port())).expect("port");
    parsed.to_string()
}

fn upstream_of(url: &str) -> String {
    let parsed = url::Url::parse(url).expect("database URL");
    format!(
        "{}:{}",
        parsed.host_str().unwrap_or("127.0.0.1"),
        parsed.port().unwrap_or(5432)
    )
}

/// One answer, as the load workers and probes record it.
#[derive(Debug)]
struct Seen {
    what: &'static str,
    status: StatusCode,
    elapsed: Duration,
    content_type: String,
    retry_after: bool,
    body: String,
}

async fn seen(what: &'static str, request: reqwest::RequestBuilder) -> Seen {
    let started = Instant::now();
    let response = request.send().await.expect("the server answers");
    let status = response.status();
    let content_type = flow::header(&response, "content-type").unwrap_or_default();
    let retry_after = response.headers().contains_key("retry-after");
    let body = response.text().await.unwrap_or_default();
    Seen {
        what,
        status,
        elapsed: started.elapsed(),
        content_type,
        retry_after,
        body,
    }
}

/// Polls `done` until it holds, and returns how long that took; panics past
/// [`RECOVERY_BOUND`], saying what did not happen.
async fn within_recovery_bound(what: &str, mut done: impl AsyncFnMut() -> bool) -> Duration {
    let started = Instant::now();
    while !done().await {
        assert!(
            started.elapsed() < RECOVERY_BOUND,
            "{what} within {RECOVERY_BOUND:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    started.elapsed()
}

/// Asserts a clean outage answer: 503, in time, in the path's shape.
fn assert_clean_503(s: &Seen, html: bool) {
    let why = format!("{} during the cut", s.what);
    assert_eq!(
        s.status,
        StatusCode::SERVICE_UNAVAILABLE,
        "{why}: 503, got {}: {}",
        s.status,
        s.body
    );
    assert!(
        s.elapsed <= SLOWEST_FAILURE,
        "{why}: fails fast, took {:?}",
        s.elapsed
    );
    assert!(s.retry_after, "{why}: Retry-After");
    if html {
        assert!(
            s.content_type.starts_with("text/html"),
            "{why}: a page, got {:?}",
            s.content_type
        );
    } else {
        assert!(
            s.content_type.starts_with("application/json"),
            "{why}: JSON, got {:?}",
            s.content_type
        );
        let body: Value = serde_json::from_str(&s.body).expect("JSON error");
        assert_eq!(body["error"], "temporarily_unavailable", "{why}: {body}");
    }
}

fn cc_request(app: &TestApp, client: &Client) -> reqwest::RequestBuilder {
    app.http
        .post(app.url("/oauth/token"))
        .header("authorization", basic(&client.id, client.secret()))
        .form(&[("grant_type", "client_credentials")])
}

fn introspect_request(app: &TestApp, client: &Client, token: &str) -> reqwest::RequestBuilder {
    app.http
        .post(app.url("/oauth/introspect"))
        .header("authorization", basic(&client.id, client.secret()))
        .form(&[("token", token)])
}

async fn is_active(app: &TestApp, client: &Client, token: &str) -> bool {
    let response = introspect_request(app, client, token).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::OK, "introspection answers");
    let body: Value = response.json().await.unwrap();
    body["active"] == json!(true)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_cut_gives_clean_503s_and_service_resumes_with_nothing_lost() {
    let (app, proxy, service) = behind_proxy(4).await;
    // It checks the web client's tokens too (RFC 7662 §4: only with the
    // operator's permission).
    oauthd::cli::admin::set_introspection(&app.db, &app.clock, &service.id, true)
        .await
        .unwrap();
    let web = flow::register_json(
        &app,
        &json!({
            "client_name": "web",
            "redirect_uris": [CB],
            "grant_types": ["authorization_code", "refresh_token"],
            "response_types": ["code"],
        }),
    )
    .await;
    flow::create_user(&app, "alice").await;
    let browser = app.browser();
    let session = browser.login("alice", PASSWORD).await;
    let cookie = format!("{}={session}", flow::SESSION_COOKIE);

    // Load through every cut: two workers issuing tokens back to back.
    let stop = Arc::new(AtomicBool::new(false));
    let workers: Vec<_> = (0..2)
        .map(|_| {
            let request = cc_request(&app, &service);
            let stop = stop.clone();
            tokio::spawn(async move {
                let mut answers = Vec::new();
                while !stop.load(Ordering::Relaxed) {
                    let s = seen(
                        "token (load)",
                        request.try_clone().expect("cloneable request"),
                    )
                    .await;
                    answers.push(s);
                    tokio::time::sleep(Duration::from_millis(20)).await;
                }
                answers
            })
        })
        .collect();

    // A refresh chain used straight through the cuts: each 200 moves it on,
    // each 503 retries the same token later. A rotation that committed but
    // answered 503 would leave a chain whose next refresh is a reuse.
    let first = flow::tokens_for(&app, &browser, &web, &Params::code(&web), None).await;
    let mut chain = first.refresh.clone().expect("a refresh token");
    let mut rotations = 0;
    let mut issued: Vec<String> = vec![first.access.clone()];
    let mut checked_503s = 0;
    let mut code_outcomes = Vec::new();
    let mut rotation_outcomes = Vec::new();

    for cycle in 0..CUTS {
        let before = tokens(&app, &service, 3).await;
        issued.extend(before);
        // Codes redeemed as the cut lands: each either redeems (before the
        // cut or, rolled back, after it) or was consumed with its tokens.
        let mut codes = Vec::new();
        for _ in 0..3 {
            codes.push(browser.code(&Params::code(&web)).await);
        }
        let exchanges: Vec<_> = codes
            .iter()
            .map(|code| {
                let request = app
                    .http
                    .post(app.url("/oauth/token"))
                    .header("authorization", basic(&web.id, web.secret()))
                    .form(&[
                        ("grant_type", "authorization_code"),
                        ("code", code.as_str()),
                        ("redirect_uri", CB),
                    ]);
                tokio::spawn(async move { seen("code exchange at the cut", request).await })
            })
            .collect();
        let rotation = {
            let request = app
                .http
                .post(app.url("/oauth/token"))
                .header("authorization", basic(&web.id, web.secret()))
                .form(&[
                    ("grant_type", "refresh_token"),
                    ("refresh_token", chain.as_str()),
                ]);
            tokio::spawn(async move { seen("refresh at the cut", request).await })
        };
        tokio::time::sleep(Duration::from_millis(5)).await;
        proxy.cut();
        let rotation = rotation.await.unwrap();
        assert!(
            matches!(rotation.status.as_u16(), 200 | 503),
            "cycle {cycle}: a rotation at the cut answers 200 or 503: {rotation:?}"
        );
        let mut at_cut = Vec::new();
        for (code, exchange) in codes.into_iter().zip(exchanges) {
            let s = exchange.await.unwrap();
            assert!(
                matches!(s.status.as_u16(), 200 | 503),
                "cycle {cycle}: an exchange at the cut answers 200 or 503: {s:?}"
            );
            at_cut.push((code, s));
        }

        // During the cut: every kind of request fails fast and cleanly.
        let probes = [
            ("token", cc_request(&app, &service), false),
            (
                "introspect",
                introspect_request(&app, &service, &first.access),
                false,
            ),
            (
                "refresh",
                app.http
                    .post(app.url("/oauth/token"))
                    .header("authorization", basic(&web.id, web.secret()))
                    .form(&[
                        ("grant_type", "refresh_token"),
                        ("refresh_token", chain.as_str()),
                    ]),
                false,
            ),
            (
                "revoke",
                app.http
                    .post(app.url("/oauth/revoke"))
                    .header("authorization", basic(&web.id, web.secret()))
                    .form(&[("token", "oat_not-a-token")]),
                false,
            ),
            (
                "account",
                app.http
                    .get(app.url("/account"))
                    .header("authorization", format!("Bearer {}", first.access)),
                false,
            ),
            (
                "register",
                app.http
                    .post(app.url("/api/client"))
                    .json(&json!({"client_name": "during the cut"})),
                false,
            ),
            ("readyz", app.http.get(app.url("/readyz")), false),
            (
                "settings page",
                flow::cookieless()
                    .get(app.url("/settings/tokens"))
                    .header("cookie", &cookie),
                true,
            ),
            (
                "authorize page",
                flow::cookieless()
                    .get(app.url(&format!("/oauth/authorize?{}", Params::code(&web).query())))
                    .header("cookie", &cookie),
                true,
            ),
        ];
        for (what, request, html) in probes {
            let s = seen(what, request).await;
            if what == "readyz" {
                assert_eq!(s.status, StatusCode::SERVICE_UNAVAILABLE, "readyz: {s:?}");
                assert!(s.elapsed <= SLOWEST_FAILURE, "readyz fails fast: {s:?}");
            } else {
                assert_clean_503(&s, html);
            }
            checked_503s += 1;
        }
        let healthz = app.http.get(app.url("/healthz")).send().await.unwrap();
        assert_eq!(
            healthz.status(),
            StatusCode::OK,
            "liveness does not need the database"
        );

        // Restore and time the recovery.
        tokio::time::sleep(Duration::from_millis(500)).await;
        proxy.restore();
        let resumed = async || {
            let s = seen("token after restore", cc_request(&app, &service)).await;
            if s.status == StatusCode::OK {
                let body: Value = serde_json::from_str(&s.body).unwrap();
                issued.push(body["access_token"].as_str().unwrap().to_owned());
                return true;
            }
            assert_eq!(
                s.status,
                StatusCode::SERVICE_UNAVAILABLE,
                "cycle {cycle}: only 503 until recovered: {s:?}"
            );
            false
        };
        within_recovery_bound("service resumes after the restore", resumed).await;
        let ready = app.http.get(app.url("/readyz")).send().await.unwrap();
        assert_eq!(ready.status(), StatusCode::OK, "cycle {cycle}: ready again");

        // Codes from the cut: never half-applied.
        for (code, s) in at_cut {
            if s.status == StatusCode::OK {
                let body: Value = serde_json::from_str(&s.body).unwrap();
                issued.push(body["access_token"].as_str().unwrap().to_owned());
                continue;
            }
            let retry = flow::redeem(&app, &web, &code, Some(CB), None).await;
            let status = retry.status();
            let body: Value = retry.json().await.unwrap();
            let hash = oauthd::crypto::sha256_hex(&code);
            let consumed = flow::nullable(
                &app,
                "select consumed_at from auth_codes where code_hash = $1",
                &[&hash],
            )
            .await
            .is_some();
            let tokens_of_code = flow::scalar(
                &app,
                "select count(*) from tokens where grant_id = \
                 (select grant_id from auth_codes where code_hash = $1)",
                &[&hash],
            )
            .await;
            match status {
                StatusCode::OK => {
                    issued.push(body["access_token"].as_str().unwrap().to_owned());
                }
                StatusCode::BAD_REQUEST => {
                    assert_eq!(body["error"], "invalid_grant", "{body}");
                }
                other => panic!("cycle {cycle}: a retried exchange answers {other}: {body}"),
            }
            assert!(
                consumed && tokens_of_code > 0,
                "cycle {cycle}: a code is consumed together with its tokens \
                 (consumed {consumed}, tokens {tokens_of_code})"
            );
            code_outcomes.push(status);
        }

        // The rotation at the cut: all or nothing. Either the old refresh
        // token is still the family's one live token (rolled back), or a new
        // one is (committed, answer lost); never none, never two.
        if rotation.status == StatusCode::OK {
            let body: Value = serde_json::from_str(&rotation.body).unwrap();
            chain = body["refresh_token"].as_str().unwrap().to_owned();
            issued.push(body["access_token"].as_str().unwrap().to_owned());
            rotation_outcomes.push("200");
        } else {
            let hash = oauthd::crypto::sha256_hex(&chain);
            let live = flow::scalar(
                &app,
                &format!(
                    "select count(*) from tokens where kind = 'refresh' and revoked_at is null \
                     and rotated_at is null and grant_id = \
                     (select grant_id from tokens where token_hash = {})",
                    flow::token_digest(&app, "$1")
                ),
                &[&hash],
            )
            .await;
            assert_eq!(
                live, 1,
                "cycle {cycle}: one live refresh token in the family"
            );
            let old_live = flow::nullable(
                &app,
                &format!(
                    "select rotated_at from tokens where token_hash = {}",
                    flow::token_digest(&app, "$1")
                ),
                &[&hash],
            )
            .await
            .is_none();
            if old_live {
                rotation_outcomes.push("503, rolled back");
            } else {
                // The new token exists but its answer was lost; this test
                // cannot hold it, so it starts another chain.
                rotation_outcomes.push("503, committed");
                let fresh = flow::tokens_for(&app, &browser, &web, &Params::code(&web), None).await;
                chain = fresh.refresh.expect("a refresh token");
                issued.push(fresh.access);
            }
        }

        // The refresh chain: the token we hold still works.
        let refreshed = flow::token(
            &app,
            &web.auth(),
            &[("grant_type", "refresh_token"), ("refresh_token", &chain)],
        )
        .await;
        let t = flow::tokens(refreshed, "the chain's refresh token after the cut").await;
        chain = t.refresh.expect("rotated");
        issued.push(t.access);
        rotations += 1;

        let after = tokens(&app, &service, 3).await;
        issued.extend(after);
    }

    stop.store(true, Ordering::Relaxed);
    let mut load = Vec::new();
    for w in workers {
        load.extend(w.await.unwrap());
    }
    for s in &load {
        assert!(
            matches!(s.status.as_u16(), 200 | 503),
            "load: only 200 or 503, never another status: {s:?}"
        );
        assert!(
            s.elapsed <= SLOWEST_FAILURE,
            "load: no request hangs past the acquire timeout: {s:?}"
        );
        if s.status == StatusCode::OK {
            let body: Value = serde_json::from_str(&s.body).unwrap();
            issued.push(body["access_token"].as_str().unwrap().to_owned());
        } else {
            assert_clean_503(s, false);
        }
    }
    let load_503 = load
        .iter()
        .filter(|s| s.status == StatusCode::SERVICE_UNAVAILABLE)
        .count();
    assert!(load_503 > 0, "the load saw the cuts");

    // None lost: every token answered with a 200 is active.
    for token in &issued {
        assert!(
            is_active(&app, &service, token).await,
            "a token answered 200 is active afterwards"
        );
    }
    assert_eq!(
        flow::account(&app, &first.access).await.status(),
        StatusCode::OK
    );
    let refreshed = flow::token(
        &app,
        &web.auth(),
        &[("grant_type", "refresh_token"), ("refresh_token", &chain)],
    )
    .await;
    flow::tokens(refreshed, "the chain survives every cut").await;
    println!(
        "faults: {CUTS} cuts, {} connections killed, {} refused, {} load requests \
         ({load_503} answered 503), {checked_503s} probes answered 503, {} codes at the cut \
         ({:?}), rotations at the cut {rotation_outcomes:?}, {rotations} rotations after cuts, \
         {} tokens checked active",
        proxy.killed.load(Ordering::Relaxed),
        proxy.refused.load(Ordering::Relaxed),
        load.len(),
        code_outcomes.len(),
        code_outcomes,
        issued.len()
    );
}

/// `n` client-credentials tokens; asserts each is a 200.
async fn tokens(app: &TestApp, client: &Client, n: usize) -> Vec<String> {
    let mut out = Vec::new();
    for _ in 0..n {
        let t = flow::tokens(
            cc_request(app, client).send().await.unwrap(),
            "client_credentials",
        )
        .await;
        out.push(t.access);
    }
    out
}

/// SQLite only (Postgres has the proxy test): another process holds the
/// write lock. Writes wait the busy timeout, then answer a clean 503; reads
/// still work (WAL); releasing the lock brings writes back.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_locked_sqlite_database_gives_clean_503s_for_writes() {
    let app = TestApp::spawn_with(Backend::Sqlite, |c| {
        c.database.sqlite_busy_timeout = Duration::from_millis(300);
        c.database.acquire_timeout = ACQUIRE_TIMEOUT;
    })
    .await;
    let service = flow::register_json(
        &app,
        &json!({"client_name": "svc", "grant_types": ["client_credentials"]}),
    )
    .await;
    let held = tokens(&app, &service, 1).await.remove(0);
    let before = app.snapshot().await;
    let mut locker = SqliteConnection::connect(&app.database_url)
        .await
        .expect("a second connection");
    locker
        .execute("begin exclusive")
        .await
        .expect("take the write lock");

    for _ in 0..3 {
        let s = seen("token while locked", cc_request(&app, &service)).await;
        assert_clean_503(&s, false);
    }
    let s = seen(
        "register while locked",
        app.http
            .post(app.url("/api/client"))
            .json(&json!({"client_name": "locked out"})),
    )
    .await;
    assert_clean_503(&s, false);
    // Reads go on in WAL mode.
    assert!(
        is_active(&app, &service, &held).await,
        "introspection still reads while a writer holds the lock"
    );
    let login = flow::cookieless()
        .get(app.url("/login"))
        .send()
        .await
        .unwrap();
    let csrf_cookie = flow::set_cookie(&login, flow::LOGIN_CSRF_COOKIE).unwrap();
    let csrf = hidden(&login.text().await.unwrap(), "csrf").unwrap();
    let page = seen(
        "sign-in while locked",
        flow::cookieless()
            .post(app.url("/login"))
            .header(
                "cookie",
                format!("{}={}", flow::LOGIN_CSRF_COOKIE, csrf_cookie.value),
            )
            .form(&[
                ("username", "nobody"),
                ("password", "wrong"),
                ("csrf", csrf.as_str()),
            ]),
    )
    .await;
    assert!(
        !page.status.is_server_error() || page.status == StatusCode::SERVICE_UNAVAILABLE,
        "sign-in while locked: a failed sign-in only reads (its audit row is best effort), \
         else a clean 503: {page:?}"
    );
    assert_eq!(app.snapshot().await, before, "nothing written while locked");

    locker.execute("rollback").await.expect("release the lock");
    drop(locker);
    tokens(&app, &service, 2).await;
    assert!(is_active(&app, &service, &held).await);
}

/// SQLite only: the disk fills up (emulated with `max_page_count` on every
/// pooled connection). Writes get a clean 503 (SQLITE_FULL is a storage
/// outage, not a bug), nothing half-written stays, reads go on, and writes
/// resume once there is room again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_sqlite_disk_gives_clean_503s_for_writes() {
    use std::str::FromStr;

    use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions};

    let test_db = TestDb::new(Backend::Sqlite).await;
    let mut config = test_config(&test_db.url);
    config.database.acquire_timeout = ACQUIRE_TIMEOUT;
    let setup = Db::connect(&config.database).await.expect("connect");
    setup.migrate().await.expect("migrate");
    let Db::Sqlite(oauthd::store::SqliteStore { pool, .. }) = &setup else {
        unreachable!("a SQLite test database")
    };
    let pages: i64 = sqlx::query_scalar("pragma page_count")
        .fetch_one(pool)
        .await
        .expect("page count");
    setup.close().await;

    // A few pages of headroom, then the "disk" is full.
    let room = Arc::new(AtomicUsize::new(usize::try_from(pages).unwrap_or(0) + 4));
    let limit = Arc::clone(&room);
    let options = SqliteConnectOptions::from_str(&test_db.url)
        .expect("sqlite url")
        .journal_mode(SqliteJournalMode::Wal)
        .foreign_keys(true);
    let full = SqlitePoolOptions::new()
        .max_connections(4)
        .acquire_timeout(ACQUIRE_TIMEOUT)
        // Every time a connection is handed out, it gets the current cap.
        .before_acquire(move |conn, _| {
            let cap = limit.load(Ordering::SeqCst);
            Box::pin(async move {
                conn.execute(sqlx::AssertSqlSafe(format!(
                    "pragma max_page_count = {cap}"
                )))
                .await?;
                Ok(true)
            })
        })
        .connect_with(options)
        .await
        .expect("pool with a page cap");
    let db = Db::Sqlite(oauthd::store::SqliteStore::new(full, ACQUIRE_TIMEOUT));
    let app = TestApp::serve(config, db, test_db).await;
    let service = flow::register_json(
        &app,
        &json!({"client_name": "svc", "grant_types": ["client_credentials"]}),
    )
    .await;

    let mut issued = Vec::new();
    let mut refused = 0;
    for _ in 0..2000 {
        let s = seen("token on a full disk", cc_request(&app, &service)).await;
        if s.status == StatusCode::OK {
            let body: Value = serde_json::from_str(&s.body).expect("token JSON");
            issued.push(body["access_token"].as_str().unwrap().to_owned());
            continue;
        }
        assert_clean_503(&s, false);
        refused += 1;
        if refused == 3 {
            break;
        }
    }
    assert_eq!(
        refused,
        3,
        "the page cap was reached ({} issued)",
        issued.len()
    );
    let before = app.snapshot().await;
    let s = seen("token on a full disk", cc_request(&app, &service)).await;
    assert_clean_503(&s, false);
    assert_eq!(app.snapshot().await, before, "nothing half-written");
    for token in &issued {
        assert!(is_active(&app, &service, token).await, "reads go on");
    }

    room.store(1_073_741_823, Ordering::SeqCst);
    tokens(&app, &service, 2).await;
    eprintln!(
        "faults: full SQLite disk after {} tokens; {refused} writes answered 503",
        issued.len()
    );
}

/// Postgres stops answering without closing anything (a frozen server, a
/// network partition): every statement has a deadline (the acquire timeout),
/// so requests get a clean 503 in time instead of hanging until the request
/// timeout, `/readyz` says so, and service resumes after the thaw.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_frozen_postgres_gives_clean_503s_in_time_and_service_resumes() {
    let (app, proxy, service) = behind_proxy(4).await;
    let held = tokens(&app, &service, 2).await.remove(0);

    // Workers issue tokens back to back, so some statement is in flight at
    // the instant of the freeze (past the pool's health check): only the
    // statement deadline bounds those.
    let stop = Arc::new(AtomicBool::new(false));
    let workers: Vec<_> = (0..4)
        .map(|_| {
            let request = cc_request(&app, &service);
            let stop = stop.clone();
            tokio::spawn(async move {
                let mut answers = Vec::new();
                while !stop.load(Ordering::Relaxed) {
                    let r = request.try_clone().expect("cloneable request");
                    answers.push(seen("token (load)", r).await);
                }
                answers
            })
        })
        .collect();
    tokio::time::sleep(Duration::from_millis(300)).await;
    proxy.freeze();
    let token = seen("token while frozen", cc_request(&app, &service)).await;
    assert_clean_503(&token, false);
    let introspection = seen(
        "introspection while frozen",
        introspect_request(&app, &service, &held),
    )
    .await;
    assert_clean_503(&introspection, false);
    let ready = seen("readyz while frozen", app.http.get(app.url("/readyz"))).await;
    assert_eq!(ready.status, StatusCode::SERVICE_UNAVAILABLE, "{ready:?}");
    assert!(ready.elapsed <= SLOWEST_FAILURE, "{ready:?}");
    // Stay frozen well past the deadline, so a hung request would show.
    tokio::time::sleep(SLOWEST_FAILURE).await;
    stop.store(true, Ordering::Relaxed);
    let mut load = Vec::new();
    for w in workers {
        load.extend(w.await.expect("load worker"));
    }
    let mut in_flight_503s = 0;
    for s in &load {
        if s.status != StatusCode::OK {
            assert_clean_503(s, false);
            in_flight_503s += 1;
        }
    }
    assert!(in_flight_503s >= 4, "every worker met the freeze: {load:?}");

    proxy.thaw();
    let resumed = async || {
        let s = seen("token after the thaw", cc_request(&app, &service)).await;
        assert!(!s.status.is_server_error() || s.status == StatusCode::SERVICE_UNAVAILABLE);
        s.status == StatusCode::OK
    };
    let thawed = within_recovery_bound("service resumes after the thaw", resumed).await;
    assert!(is_active(&app, &service, &held).await, "nothing lost");
    eprintln!(
        "faults: frozen Postgres answered 503 in {:?} (token) and {:?} (introspection), \
         {} load requests ({in_flight_503s} answered 503); service resumed {thawed:?} after the thaw",
        token.elapsed,
        introspection.elapsed,
        load.len(),
    );
}

/// Workers in the black-hole test: more than the pool has connections, so
/// every connection is busy when the network goes silent.
const BLACK_HOLE_WORKERS: usize = 24;
/// The pool in the black-hole test.
const BLACK_HOLE_POOL: u32 = 8;

/// The network silently drops everything on the pool's connections without
/// closing them (a NAT entry that timed out, a failover that leaves the old
/// primary's sockets open), under load. While nothing answers, requests get
/// clean 503s in time and `/readyz` says 503. Then new connections work
/// again but the old sockets stay open and silent for good: a connection
/// whose statement missed its deadline must have been closed, not put back,
/// and a health check must not wait on a dead socket, or the pool stays
/// "in use" and every request answers 503 long after the network is back.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_black_hole_under_the_pool_heals_within_seconds() {
    let (app, proxy, service) = behind_proxy(BLACK_HOLE_POOL).await;
    let mut issued = tokens(&app, &service, 2).await;
    // A client whose row the cache holds when the network goes silent.
    let victim = flow::register_json(
        &app,
        &json!({"client_name": "victim", "grant_types": ["client_credentials"]}),
    )
    .await;
    tokens(&app, &victim, 1).await;

    // Each worker issues a token and introspects it, back to back.
    let stop = Arc::new(AtomicBool::new(false));
    let workers: Vec<_> = (0..BLACK_HOLE_WORKERS)
        .map(|_| {
            let token = cc_request(&app, &service);
            let introspect = app
                .http
                .post(app.url("/oauth/introspect"))
                .header("authorization", basic(&service.id, service.secret()));
            let stop = stop.clone();
            tokio::spawn(async move {
                let mut answers = Vec::new();
                while !stop.load(Ordering::Relaxed) {
                    let r = token.try_clone().expect("cloneable request");
                    let s = seen("token (load)", r).await;
                    let access = (s.status == StatusCode::OK)
                        .then(|| serde_json::from_str::<Value>(&s.body).ok())
                        .flatten()
                        .and_then(|b| b["access_token"].as_str().map(str::to_owned));
                    answers.push(s);
                    if let Some(access) = access {
                        let r = introspect
                            .try_clone()
                            .expect("cloneable request")
                            .form(&[("token", access.as_str())]);
                        answers.push(seen("introspection (load)", r).await);
                    }
                }
                answers
            })
        })
        .collect();
    tokio::time::sleep(Duration::from_millis(500)).await;

    // The black hole: every open connection goes silent for good, and new
    // ones get no answer either while it lasts.
    proxy.strand();
    proxy.freeze();
    let outage = Instant::now();
    let mut probes_503 = 0;
    while outage.elapsed() < 2 * ACQUIRE_TIMEOUT {
        let ready = seen("readyz in the black hole", app.http.get(app.url("/readyz"))).await;
        assert_eq!(
            ready.status,
            StatusCode::SERVICE_UNAVAILABLE,
            "readyz says unavailable while nothing answers: {ready:?}"
        );
        assert!(
            ready.elapsed <= SLOWEST_FAILURE,
            "readyz fails fast: {ready:?}"
        );
        let token = seen("token in the black hole", cc_request(&app, &service)).await;
        assert_clean_503(&token, false);
        probes_503 += 2;
    }

    // New connections work again; the old sockets stay open and silent.
    proxy.thaw();
    let resumed = async || {
        let s = seen("token after the black hole", cc_request(&app, &service)).await;
        if s.status == StatusCode::OK {
            let body: Value = serde_json::from_str(&s.body).expect("token JSON");
            issued.push(body["access_token"].as_str().unwrap().to_owned());
            return true;
        }
        assert_clean_503(&s, false);
        false
    };
    let recovery = within_recovery_bound("service resumes after the network heals", resumed).await;
    let ready = seen(
        "readyz after the black hole",
        app.http.get(app.url("/readyz")),
    )
    .await;
    assert_eq!(ready.status, StatusCode::OK, "ready again: {ready:?}");

    // The whole pool is back, not a remnant: as many requests at once as
    // the pool has connections all succeed, with the load still running.
    let at_once: Vec<_> = (0..BLACK_HOLE_POOL)
        .map(|_| {
            let r = cc_request(&app, &service);
            tokio::spawn(async move { seen("token at full pool", r).await })
        })
        .collect();
    for s in at_once {
        let s = s.await.expect("request task");
        assert_eq!(s.status, StatusCode::OK, "the healed pool serves: {s:?}");
    }

    // The client cache's listener was on a stranded socket too: it must
    // notice, or a secret replaced now would keep working from the cache
    // (the row expires only after five minutes).
    let mut operator = sqlx::PgConnection::connect(&app.database_url)
        .await
        .expect("an operator's connection");
    sqlx::query("update clients set secret_hash = 'replaced' where id = $1")
        .bind(&victim.id)
        .execute(&mut operator)
        .await
        .expect("replace the client's secret");
    let refused = async || {
        let s = seen("replaced secret", cc_request(&app, &victim)).await;
        if s.status != StatusCode::UNAUTHORIZED {
            assert_eq!(
                s.status,
                StatusCode::OK,
                "an old secret works from the cache until evicted: {s:?}"
            );
        }
        s.status == StatusCode::UNAUTHORIZED
    };
    let replacement_seen = within_recovery_bound(
        "a secret replaced after the black hole stops working",
        refused,
    )
    .await;

    stop.store(true, Ordering::Relaxed);
    let mut load = Vec::new();
    for w in workers {
        load.extend(w.await.expect("load worker"));
    }
    let mut load_503 = 0;
    for s in &load {
        if s.status == StatusCode::OK {
            if s.what == "token (load)" {
                let body: Value = serde_json::from_str(&s.body).expect("token JSON");
                issued.push(body["access_token"].as_str().unwrap().to_owned());
            }
        } else {
            assert_clean_503(s, false);
            load_503 += 1;
        }
    }
    assert!(load_503 > 0, "the load met the black hole");

    // No connection stays checked out once the load stops: the pool
    // gauges (what /metrics reports) come back to all idle.
    let all_idle = async || {
        let (size, idle) = app.db.pool_usage();
        u32::try_from(idle).is_ok_and(|idle| idle == size)
    };
    within_recovery_bound(
        "every pooled connection idle with no request running",
        all_idle,
    )
    .await;
    for token in &issued {
        assert!(
            is_active(&app, &service, token).await,
            "a token answered 200 is active afterwards"
        );
    }
    let stranded = proxy.stranded.load(Ordering::Relaxed);
    assert!(stranded > 0, "the black hole caught open connections");
    println!(
        "faults: black hole under a pool of {BLACK_HOLE_POOL} with {BLACK_HOLE_WORKERS} workers: \
         {stranded} connections stranded, {probes_503} probes answered 503, {} load requests \
         ({load_503} answered 503), {} tokens checked active; service resumed {recovery:?} \
         after the network healed; a secret replaced then was refused after {replacement_seen:?}",
        load.len(),
        issued.len()
    );
}

/// A statement that outlives its deadline, or whose request is cancelled
/// while it runs, takes its connection with it: the pool never hands out a
/// connection still busy with an earlier statement, and never waits on one.
/// Postgres holds the statement on a table lock; the backend that ran it
/// must leave the pool at once and go away when the lock is released.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_statement_past_its_deadline_or_cancelled_closes_its_connection() {
    let cases = [
        (
            "a statement past its deadline",
            Duration::from_secs(1),
            Duration::from_secs(30),
            StatusCode::SERVICE_UNAVAILABLE,
        ),
        (
            "a statement cancelled with its request",
            Duration::from_secs(5),
            Duration::from_secs(1),
            StatusCode::REQUEST_TIMEOUT,
        ),
    ];
    for (why, acquire_timeout, request_timeout, answer) in cases {
        let app = TestApp::spawn_with(Backend::Postgres, |c| {
            c.database.acquire_timeout = acquire_timeout;
            c.database.max_connections = 2;
            c.http.request_timeout = request_timeout;
        })
        .await;
        let service = flow::register_json(
            &app,
            &json!({"client_name": "svc", "grant_types": ["client_credentials"]}),
        )
        .await;
        tokens(&app, &service, 1).await;
        let mut locker = sqlx::PgConnection::connect(&app.database_url)
            .await
            .expect("a second connection");
        locker.execute("begin").await.expect("begin");
        locker
            .execute("lock table tokens in access exclusive mode")
            .await
            .expect("lock the tokens table");

        let s = seen(why, cc_request(&app, &service)).await;
        assert_eq!(s.status, answer, "{why}: the request fails: {s:?}");
        let (size, idle) = app.db.pool_usage();
        assert_eq!(
            size,
            u32::try_from(idle).unwrap(),
            "{why}: the connection held by the lock left the pool (size {size}, idle {idle})"
        );
        let blocked = |what: &'static str| {
            format!(
                "select {what} from pg_stat_activity \
                 where datname = current_database() and wait_event_type = 'Lock'"
            )
        };
        assert_eq!(
            flow::scalar(&app, &blocked("count(*)"), &[]).await,
            1,
            "{why}: one statement waits on the lock"
        );
        let pid = flow::scalar(&app, &blocked("max(pid)::bigint"), &[])
            .await
            .to_string();

        locker.execute("rollback").await.expect("release the lock");
        // Its backend runs the statement, then finds the socket closed.
        const ALIVE: &str = "select count(*) from pg_stat_activity where pid::text = $1";
        let gone = async || flow::scalar(&app, ALIVE, &[&pid]).await == 0;
        within_recovery_bound(&format!("{why}: its backend goes away"), gone).await;
        tokens(&app, &service, 3).await;
    }
}

/// A transaction dropped without a commit rolls back before its connection
/// serves anything else (on Postgres in the background, under the health
/// check's limit). With a pool of one connection every later write runs on
/// that same connection: it must land on its own, committed, and what the
/// dropped transaction wrote must be gone, seen from another pool.
async fn a_dropped_transaction_rolls_back_before_its_connection_serves_again(backend: Backend) {
    use oauthd::store::audit::{self, NewEvent};

    let app = TestApp::spawn_with(backend, |c| c.database.max_connections = 1).await;
    let user = flow::create_user(&app, "alice").await;
    for round in 0..3 {
        let event = |kind| NewEvent {
            id: "",
            at: 1_800_000_000 + round,
            kind,
            user_id: Some(&user.id),
            client_id: None,
            ip: None,
            detail: None,
        };
        let dropped_id = format!("dropped-{round}");
        let kept_id = format!("kept-{round}");
        let mut tx = app.db.begin().await.expect("begin");
        audit::insert_in(
            &mut tx,
            NewEvent {
                id: &dropped_id,
                ..event("dropped")
            },
        )
        .await
        .expect("a write in the transaction");
        drop(tx);
        audit::insert(
            &app.db,
            NewEvent {
                id: &kept_id,
                ..event("kept")
            },
        )
        .await
        .expect("a write after it");
    }
    let outside = Db::connect(&app.config.database)
        .await
        .expect("another pool");
    let seen = audit::list_for_user(&outside, &user.id, 100)
        .await
        .expect("events");
    let kinds: Vec<&str> = seen.iter().map(|e| e.kind.as_str()).collect();
    assert_eq!(
        kinds,
        ["kept", "kept", "kept"],
        "only the writes after each dropped transaction are stored, and committed"
    );
    outside.close().await;
}
