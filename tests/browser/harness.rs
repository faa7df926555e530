//! What the browser talks to: oauthd served in-process on a fresh SQLite file
//! or a fresh Postgres database, and a tiny third-party "test client" site
//! with a sign-in link and a redirect endpoint.
//!
//! A trimmed copy of the integration harness in `tests/it/support`: only what
//! one browser journey needs.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::extract::{Query, State};
use axum::response::Html;
use axum::routing::get;
use oauthd::clock::Clock;
use oauthd::config::Config;
use oauthd::store::Db;
use oauthd::{AppState, build_app};
use sqlx::{AssertSqlSafe, Connection, Executor, PgConnection};
use tokio::net::TcpListener;

/// Which database oauthd runs on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Backend {
    Sqlite,
    Postgres,
}

impl Backend {
    pub(crate) fn name(self) -> &'static str {
        match self {
            Self::Sqlite => "sqlite",
            Self::Postgres => "postgres",
        }
    }
}

/// A fresh database, removed when dropped.
struct TestDb {
    url: String,
    _dir: Option<tempfile::TempDir>,
    _pg: Option<PgDrop>,
}

/// Drops the Postgres database a run made.
struct PgDrop {
    admin_url: String,
    name: String,
}

impl Drop for PgDrop {
    fn drop(&mut self) {
        let admin_url = self.admin_url.clone();
        let sql = format!("drop database if exists \"{}\" with (force)", self.name);
        // Drop cannot await; a runtime of its own on another thread can.
        let _ = std::thread::spawn(move || {
            let Ok(rt) = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            else {
                return;
            };
            rt.block_on(async {
                if let Ok(mut conn) = PgConnection::connect(&admin_url).await {
                    let _ = conn.execute(AssertSqlSafe(sql)).await;
                }
            });
        })
        .join();
    }
}

impl TestDb {
    async fn new(backend: Backend) -> Self {
        match backend {
            Backend::Sqlite => {
                let dir = tempfile::tempdir().expect("temp dir");
                let url = format!("sqlite://{}", dir.path().join("oauthd.db").display());
                Self {
                    url,
                    _dir: Some(dir),
                    _pg: None,
                }
            }
            Backend::Postgres => {
                // TEST_DATABASE_URL, or the local server (as tests/it does).
                let admin_url = std::env::var("TEST_DATABASE_URL")
                    .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".to_owned());
                let mut conn = PgConnection::connect(&admin_url).await.unwrap_or_else(|e| {
                    panic!(
                        "the Postgres journey needs a server where it may create databases, and \
                         TEST_DATABASE_URL (or the local one) did not answer ({e}): start \
                         Postgres, or set TEST_DATABASE_URL"
                    )
                });
                let name = format!(
                    "oauthd_test_{}_{}",
                    Clock::system().now(),
                    oauthd::crypto::random_id()
                        .to_ascii_lowercase()
                        .replace(['-', '_'], "")
                );
                conn.execute(AssertSqlSafe(format!("create database \"{name}\"")))
                    .await
                    .expect("create the test database");
                let mut url = url::Url::parse(&admin_url).expect("TEST_DATABASE_URL is a URL");
                url.set_path(&format!("/{name}"));
                Self {
                    url: url.to_string(),
                    _dir: None,
                    _pg: Some(PgDrop { admin_url, name }),
                }
            }
        }
    }
}

/// oauthd, served in-process on 127.0.0.1.
pub(crate) struct Server {
    /// `http://127.0.0.1:<port>`, no trailing slash.
    pub(crate) base: String,
    pub(crate) db: Db,
    pub(crate) clock: Clock,
    pub(crate) config: Config,
    task: tokio::task::JoinHandle<()>,
    _db: TestDb,
}

impl Server {
    /// Migrates a fresh database and serves oauthd on a free port.
    pub(crate) async fn start(backend: Backend) -> Self {
        let test_db = TestDb::new(backend).await;
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("local addr");
        let mut config = Config::defaults();
        config.database.url = test_db.url.clone();
        config.listen = addr;
        config.public_url = url::Url::parse(&format!("http://{addr}/")).expect("public URL");
        let db = Db::connect(&config.database)
            .await
            .expect("connect the test database");
        db.migrate().await.expect("migrate the test database");
        let clock = Clock::system();
        let app = build_app(AppState::new(config.clone(), db.clone(), clock.clone()));
        let http = config.http.clone();
        let task = tokio::spawn(async move {
            oauthd::http::listener::serve(listener, app, &http, std::future::pending()).await;
        });
        Self {
            base: format!("http://{addr}"),
            db,
            clock,
            config,
            task,
            _db: test_db,
        }
    }

    /// An absolute URL on oauthd.
    pub(crate) fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// Stops serving and closes the pool, so the database can be dropped.
    pub(crate) async fn stop(self) {
        self.task.abort();
        let _ = self.task.await;
        match &self.db {
            Db::Postgres(pool) => pool.close().await,
            Db::Sqlite(store) => store.pool.close().await,
        }
    }
}

/// The third-party site: `GET /` links to oauthd's authorize endpoint,
/// `GET /cb` shows the `code` and `state` it was sent back with.
pub(crate) struct TestClient {
    /// `http://127.0.0.1:<port>`, no trailing slash.
    pub(crate) base: String,
    link: Arc<Mutex<String>>,
    task: tokio::task::JoinHandle<()>,
}

impl TestClient {
    /// Where the site listens when it can.
    const PREFERRED: &str = "127.0.0.1:8910";

    /// Binds a free port and serves; the link is set later with
    /// [`TestClient::link_to`], once the app is registered.
    pub(crate) async fn start() -> Self {
        // The consent page shows this site's host and port, and the README
        // shows the consent page: a fixed port keeps that screenshot the
        // same from run to run. Any free port does when it is taken.
        let listener = match TcpListener::bind(TestClient::PREFERRED).await {
            Ok(listener) => listener,
            Err(_) => TcpListener::bind("127.0.0.1:0").await.expect("bind"),
        };
        let addr = listener.local_addr().expect("local addr");
        let link = Arc::new(Mutex::new(String::new()));
        let app = Router::new()
            .route("/", get(home))
            .route("/cb", get(callback))
            .with_state(link.clone());
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Self {
            base: format!("http://{addr}"),
            link,
            task,
        }
    }

    /// The redirect URI registered for this site.
    pub(crate) fn redirect_uri(&self) -> String {
        format!("{}/cb", self.base)
    }

    /// Where the "Sign in with oauthd" link points.
    pub(crate) fn link_to(&self, authorize_url: &str) {
        *self.link.lock().expect("link lock") = authorize_url.to_owned();
    }

    pub(crate) fn stop(self) {
        self.task.abort();
    }
}

async fn home(State(link): State<Arc<Mutex<String>>>) -> Html<String> {
    let href = escape(&link.lock().expect("link lock"));
    Html(format!(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">\
         <title>Test client</title></head><body style=\"font-family: sans-serif\">\
         <h1>Test client</h1><p>An app that uses oauthd to sign you in.</p>\
         <p><a id=\"sign-in\" href=\"{href}\">Sign in with oauthd</a></p></body></html>"
    ))
}

async fn callback(Query(params): Query<HashMap<String, String>>) -> Html<String> {
    let show = |key: &str| escape(params.get(key).map_or("", String::as_str));
    Html(format!(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">\
         <title>Test client callback</title></head><body style=\"font-family: sans-serif\">\
         <h1>Back at the test client</h1>\
         <p>code: <code id=\"code\">{}</code></p>\
         <p>state: <code id=\"state\">{}</code></p>\
         <p>error: <code id=\"error\">{}</code></p></body></html>",
        show("code"),
        show("state"),
        show("error"),
    ))
}

/// HTML-escapes text for an element or a quoted attribute.
fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}
