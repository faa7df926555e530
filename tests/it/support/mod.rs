//! The test harness: a real oauthd on an ephemeral port, on SQLite or Postgres.
//!
//! `TestApp::spawn(Backend)` makes a fresh SQLite file in a temp dir, or a
//! fresh `oauthd_test_<unix>_<random>` Postgres database on the server named
//! by `TEST_DATABASE_URL`, serves `build_app` on 127.0.0.1:0, and drops the
//! database again when the test ends. Leftover databases older than an hour
//! (from crashed runs) are swept at the first Postgres spawn.

#![allow(dead_code, unreachable_pub)]

use std::sync::Once;

use oauthd::clock::Clock;
use oauthd::config::Config;
use oauthd::store::Db;
use oauthd::{AppState, build_app};
use sqlx::{AssertSqlSafe, Connection, Executor, PgConnection};
use tokio::net::TcpListener;

/// Which database a test runs against.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// The Postgres server the tests create their databases on when
/// `TEST_DATABASE_URL` is not set: the local one, as on the CI machine.
pub const DEFAULT_TEST_DATABASE_URL: &str = "postgres://postgres@127.0.0.1:5432/postgres";

/// `TEST_DATABASE_URL`, or the local server.
pub fn test_database_url() -> String {
    std::env::var("TEST_DATABASE_URL").unwrap_or_else(|_| DEFAULT_TEST_DATABASE_URL.to_owned())
}

/// What to do when that server does not answer (one line).
fn pg_hint(url: &str, e: &sqlx::Error) -> String {
    let shown = url::Url::parse(url).map_or_else(
        |_| "TEST_DATABASE_URL".to_owned(),
        |mut u| {
            let _ = u.set_password(None);
            u.to_string()
        },
    );
    format!(
        "the Postgres half of the suite needs a server where it may create databases, and {shown} \
         did not answer ({e}): start Postgres there, or set TEST_DATABASE_URL to one that does \
         (bash .ci/run starts the local one if needed)"
    )
}

/// Turns each named scenario `async fn name(backend: Backend)` into the tests
/// `name::sqlite` and `name::postgres`.
#[macro_export]
macro_rules! both_backends {
    ($($name:ident),* $(,)?) => {
        $(
            mod $name {
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn sqlite() {
                    super::$name($crate::support::Backend::Sqlite).await;
                }
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn postgres() {
                    super::$name($crate::support::Backend::Postgres).await;
                }
            }
        )*
    };
}

/// A fresh, empty database for one test; removed when dropped.
pub struct TestDb {
    pub url: String,
    _dir: Option<tempfile::TempDir>,
    pg: Option<PgCleanup>,
}

struct PgCleanup {
    admin_url: String,
    name: String,
}

impl Drop for PgCleanup {
    fn drop(&mut self) {
        let admin_url = self.admin_url.clone();
        let name = self.name.clone();
        // Drop cannot await; a short-lived runtime on its own thread can.
        let _ = std::thread::spawn(move || {
            let Ok(rt) = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            else {
                return;
            };
            rt.block_on(async {
                if let Ok(mut conn) = PgConnection::connect(&admin_url).await {
                    let sql = format!("drop database if exists \"{name}\" with (force)");
                    let _ = conn.execute(AssertSqlSafe(sql)).await;
                }
            });
        })
        .join();
    }
}

impl TestDb {
    /// Another handle on a database some other `TestDb` owns (a second
    /// replica's view): dropping it removes nothing.
    pub fn shared(url: &str) -> Self {
        Self {
            url: url.to_owned(),
            _dir: None,
            pg: None,
        }
    }

    pub async fn new(backend: Backend) -> Self {
        match backend {
            Backend::Sqlite => {
                let dir = tempfile::tempdir().expect("temp dir");
                let url = format!("sqlite://{}", dir.path().join("oauthd.db").display());
                Self {
                    url,
                    _dir: Some(dir),
                    pg: None,
                }
            }
            Backend::Postgres => {
                let admin_url = test_database_url();
                let mut conn = PgConnection::connect(&admin_url)
                    .await
                    .unwrap_or_else(|e| panic!("{}", pg_hint(&admin_url, &e)));
                static SWEEP: Once = Once::new();
                let mut sweep = false;
                SWEEP.call_once(|| sweep = true);
                let now = Clock::system().now();
                if sweep {
                    sweep_stale(&mut conn, now).await;
                }
                let name = format!(
                    "oauthd_test_{now}_{}",
                    oauthd::crypto::random_id()
                        .to_ascii_lowercase()
                        .replace(['-', '_'], "")
                );
                conn.execute(AssertSqlSafe(format!("create database \"{name}\"")))
                    .await
                    .expect("create test database");
                let url = with_database(&admin_url, &name);
                Self {
                    url,
                    _dir: None,
                    pg: Some(PgCleanup { admin_url, name }),
                }
            }
        }
    }
}

/// Drops `oauthd_test_*` databases made more than an hour ago.
async fn sweep_stale(conn: &mut PgConnection, now: i64) {
    let names: Vec<String> = sqlx::query_scalar(
        "select datname::text from pg_database where datname like 'oauthd\\_test\\_%'",
    )
    .fetch_all(&mut *conn)
    .await
    .unwrap_or_default();
    for name in names {
        let made = name
            .split('_')
            .nth(2)
            .and_then(|t| t.parse::<i64>().ok())
            .unwrap_or(now);
        if now - made > 3600 {
            let _ = conn
                .execute(AssertSqlSafe(format!(
                    "drop database if exists \"{name}\" with (force)"
                )))
                .await;
        }
    }
}

/// The same server URL with another database name.
fn with_database(url: &str, name: &str) -> String {
    let mut parsed = url::Url::parse(url).expect("TEST_DATABASE_URL is a URL");
    parsed.set_path(&format!("/{name}"));
    parsed.to_string()
}

/// The default test configuration for a database URL.
pub fn test_config(database_url: &str) -> Config {
    let mut config = Config::defaults();
    config.database.url = database_url.to_owned();
    config.database.max_connections = 5;
    // Tests send hundreds of requests from one address; the limit tests turn
    // the limits back on for themselves.
    config.limits.login = None;
    config.limits.token = None;
    config.limits.introspect = None;
    config.limits.revoke = None;
    config.limits.register = None;
    config.limits.device = None;
    config.limits.client_metadata_fetch = None;
    config.limits.free_failed_logins = 0;
    config.limits.free_failed_client_auths = 0;
    config
}

/// Adds the `introspect` scope (the default `introspection.bearer_scope`) to
/// the catalogue, so that tokens can hold it.
pub fn with_introspect_scope(config: &mut Config) {
    let name = oauthd::oauth::scope::ScopeName::parse("introspect").expect("a scope name");
    config
        .scopes
        .catalogue
        .insert(name, "Check tokens for a resource server".into());
}

/// A running server and what a test needs to check on it.
pub struct TestApp {
    /// `http://127.0.0.1:<port>`, no trailing slash.
    pub base: String,
    /// No redirects followed, cookies kept.
    pub http: reqwest::Client,
    /// The server's own database handle, for checking stored state.
    pub db: Db,
    /// The server's clock; tests move it instead of sleeping.
    pub clock: Clock,
    /// The config the server runs with.
    pub config: Config,
    /// Where the database lives (for the CLI tests).
    pub database_url: String,
    /// The server's shared state (its caches, throttles).
    pub state: AppState,
    _db: TestDb,
}

impl TestApp {
    /// A server with the default test configuration.
    pub async fn spawn(backend: Backend) -> Self {
        Self::spawn_with(backend, |_| {}).await
    }

    /// A server whose configuration `adjust` may change first.
    pub async fn spawn_with(backend: Backend, adjust: impl FnOnce(&mut Config)) -> Self {
        init_logging();
        let test_db = TestDb::new(backend).await;
        let mut config = test_config(&test_db.url);
        adjust(&mut config);
        let db = Db::connect(&config.database)
            .await
            .expect("connect test database");
        db.migrate().await.expect("migrate test database");
        Self::serve(config, db, test_db).await
    }

    /// Serves with a database handle the test made itself (e.g. one that
    /// cannot connect).
    pub async fn serve(mut config: Config, db: Db, test_db: TestDb) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("local addr");
        config.listen = addr;
        config.public_url = url::Url::parse(&format!("http://{addr}/")).expect("url");
        let clock = Clock::manual(1_800_000_000);
        let state = AppState::new(config.clone(), db.clone(), clock.clone());
        let app = build_app(state.clone());
        let http = config.http.clone();
        tokio::spawn(async move {
            oauthd::http::listener::serve(listener, app, &http, std::future::pending()).await;
        });
        let http = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .cookie_store(true)
            .build()
            .expect("http client");
        Self {
            base: format!("http://{addr}"),
            http,
            db,
            clock,
            config,
            database_url: test_db.url.clone(),
            state,
            _db: test_db,
        }
    }

    /// An absolute URL on this server.
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// Rows in `table` (a fixed name from the test itself).
    pub async fn count(&self, table: &str) -> i64 {
        let sql = format!("select count(*) from {table}");
        match &self.db {
            Db::Postgres(p) => sqlx::query_scalar(AssertSqlSafe(sql)).fetch_one(p).await,
            Db::Sqlite(s) => {
                sqlx::query_scalar(AssertSqlSafe(sql))
                    .fetch_one(&s.pool)
                    .await
            }
        }
        .expect("count rows")
    }

    /// Row counts of every table a request could write.
    pub async fn snapshot(&self) -> Vec<i64> {
        let mut counts = Vec::new();
        for table in [
            "users",
            "clients",
            "sessions",
            "authorization_requests",
            "consents",
            "auth_codes",
            "device_codes",
            "tokens",
        ] {
            counts.push(self.count(table).await);
        }
        counts
    }
}

/// Tracing output only with TEST_LOG=1.
fn init_logging() {
    static INIT: Once = Once::new();
    INIT.call_once(|| {
        if std::env::var_os("TEST_LOG").is_some() {
            let _ = tracing_subscriber::fmt()
                .with_env_filter(
                    tracing_subscriber::EnvFilter::try_from_default_env()
                        .unwrap_or_else(|_| "debug".into()),
                )
                .with_test_writer()
                .try_init();
        }
    });
}

pub mod flow;
pub mod tls;
