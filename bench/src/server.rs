//! A fresh database per backend, and the oauthd process under test: started
//! from the release binary, timed to its first ready answer, its memory read
//! from `/proc`.

use std::fmt;
use std::net::{Ipv4Addr, SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::Full;
use hyper::Request;
use hyper::header::HOST;
use sqlx::postgres::PgPoolOptions;
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::{AssertSqlSafe, Connection, Executor, PgConnection, PgPool, SqlitePool};
use tokio::process::{Child, Command};

use crate::load::{self, BoxError, Target};

/// Which store a run uses.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Backend {
    /// A SQLite file in a temporary directory.
    Sqlite,
    /// A fresh database on the Postgres server.
    Postgres,
}

impl fmt::Display for Backend {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Sqlite => "sqlite",
            Self::Postgres => "postgres",
        })
    }
}

/// The bench's own handle on the server's database (seeding, ceilings).
#[derive(Clone, Debug)]
pub(crate) enum Pool {
    /// Postgres.
    Pg(PgPool),
    /// SQLite, opened the way the server opens it.
    Lite(SqlitePool),
}

/// Expands `$body` once per backend with `$pool` bound to that pool.
macro_rules! on_pool {
    ($pool:expr, $p:ident => $body:expr) => {
        match $pool {
            $crate::server::Pool::Pg($p) => $body,
            $crate::server::Pool::Lite($p) => $body,
        }
    };
}
pub(crate) use on_pool;

/// A database that exists for one bench run.
pub(crate) struct Database {
    /// What the server is given as `DATABASE_URL`.
    pub(crate) url: String,
    /// Which backend.
    pub(crate) backend: Backend,
    /// The Postgres server's admin URL and the database name, to drop it.
    pg: Option<(String, String)>,
}

impl Database {
    /// A new empty database: a file under `dir`, or `oauthd_bench_<random>`
    /// on the server at `admin_url`.
    pub(crate) async fn create(
        backend: Backend,
        dir: &Path,
        admin_url: &str,
    ) -> Result<Self, BoxError> {
        match backend {
            Backend::Sqlite => Ok(Self {
                url: format!("sqlite://{}", dir.join("oauthd.db").display()),
                backend,
                pg: None,
            }),
            Backend::Postgres => {
                let name = format!("oauthd_bench_{}", oauthd::crypto::random_id());
                let mut conn = PgConnection::connect(admin_url).await?;
                conn.execute(AssertSqlSafe(format!("create database \"{name}\"")))
                    .await?;
                conn.close().await?;
                let mut url = url::Url::parse(admin_url)?;
                url.set_path(&name);
                Ok(Self {
                    url: url.to_string(),
                    backend,
                    pg: Some((admin_url.to_owned(), name)),
                })
            }
        }
    }

    /// Opens the bench's own pool of `size` connections.
    pub(crate) async fn pool(&self, size: u32) -> Result<Pool, BoxError> {
        Ok(match self.backend {
            Backend::Postgres => Pool::Pg(
                PgPoolOptions::new()
                    .max_connections(size)
                    .connect(&self.url)
                    .await?,
            ),
            // The options the server uses (store::Db::connect_lazy).
            Backend::Sqlite => {
                let options = self
                    .url
                    .parse::<SqliteConnectOptions>()?
                    .journal_mode(SqliteJournalMode::Wal)
                    .synchronous(SqliteSynchronous::Normal)
                    .busy_timeout(Duration::from_secs(5))
                    .foreign_keys(true);
                Pool::Lite(
                    SqlitePoolOptions::new()
                        .max_connections(size)
                        .connect_with(options)
                        .await?,
                )
            }
        })
    }

    /// Drops a Postgres database (a SQLite file goes with its directory).
    pub(crate) async fn drop_now(self) -> Result<(), BoxError> {
        if let Some((admin_url, name)) = self.pg {
            let mut conn = PgConnection::connect(&admin_url).await?;
            conn.execute(AssertSqlSafe(format!(
                "drop database if exists \"{name}\" with (force)"
            )))
            .await?;
        }
        Ok(())
    }
}

/// Resident memory of a process, KiB.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct Memory {
    /// Current resident set (`VmRSS`).
    pub(crate) rss_kib: u64,
    /// Peak resident set since start (`VmHWM`).
    pub(crate) hwm_kib: u64,
}

/// The running oauthd under test.
pub(crate) struct Server {
    child: Child,
    pid: u32,
    /// Where it listens.
    pub(crate) addr: SocketAddr,
    /// From spawn to the first `200` from `/readyz`.
    pub(crate) ready_in: Duration,
    log: PathBuf,
}

impl Server {
    /// Starts `bin` on `db` with rate limits off, plus `extra` settings, and
    /// waits until `/readyz` answers 200.
    pub(crate) async fn start(
        bin: &Path,
        db: &Database,
        dir: &Path,
        extra: &[(&str, String)],
    ) -> Result<Self, BoxError> {
        let port = TcpListener::bind((Ipv4Addr::LOCALHOST, 0))?
            .local_addr()?
            .port();
        let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
        let log = dir.join(format!("oauthd-{}-{port}.log", db.backend));
        let stderr = std::fs::File::create(&log)?;
        let mut command = Command::new(bin);
        // Only what the bench sets: a stray OAUTHD_* variable in the caller's
        // environment would change (or stop) the server.
        command
            .env_clear()
            .arg("serve")
            .env("DATABASE_URL", &db.url)
            .env("OAUTHD_LISTEN", addr.to_string())
            .env("OAUTHD_LIMITS__ENABLED", "false")
            // /metrics on the main listener, as before metrics.listen had a
            // default: two servers at once would both want 127.0.0.1:9464.
            .env("OAUTHD_METRICS__LISTEN", "")
            .current_dir(dir)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(stderr)
            .kill_on_drop(true);
        for (key, value) in extra {
            command.env(key, value);
        }
        let started = Instant::now();
        let child = command.spawn()?;
        let pid = child.id().ok_or("oauthd exited at once")?;
        let mut server = Self {
            child,
            pid,
            addr,
            ready_in: Duration::ZERO,
            log,
        };
        loop {
            if started.elapsed() > Duration::from_secs(15) {
                return Err(
                    format!("oauthd not ready after 15 s; log:\n{}", server.log_tail()).into(),
                );
            }
            if let Some(status) = server.child.try_wait()? {
                return Err(
                    format!("oauthd exited ({status}); log:\n{}", server.log_tail()).into(),
                );
            }
            let request = Request::builder()
                .uri("/readyz")
                .header(HOST, addr.to_string())
                .body(Full::<Bytes>::default())?;
            if let Ok((status, _)) = load::once(addr, request).await
                && status.is_success()
            {
                server.ready_in = started.elapsed();
                return Ok(server);
            }
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
    }

    /// Its memory now, from `/proc/<pid>/status`.
    pub(crate) fn memory(&self) -> Memory {
        let text =
            std::fs::read_to_string(format!("/proc/{}/status", self.pid)).unwrap_or_default();
        let field = |name: &str| {
            text.lines()
                .find_map(|l| l.strip_prefix(name))
                .and_then(|rest| rest.split_whitespace().next()?.parse().ok())
                .unwrap_or(0)
        };
        Memory {
            rss_kib: field("VmRSS:"),
            hwm_kib: field("VmHWM:"),
        }
    }

    /// The process id, for a profiler.
    pub(crate) fn pid(&self) -> u32 {
        self.pid
    }

    /// What the load generator drives: this one process at its address.
    pub(crate) fn target(&self) -> Target {
        Target {
            addrs: vec![self.addr],
            pids: vec![self.pid],
        }
    }

    /// The last lines it logged.
    pub(crate) fn log_tail(&self) -> String {
        let text = std::fs::read_to_string(&self.log).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(20)..].join("\n")
    }

    /// SIGTERM, then SIGKILL if it has not exited within 5 s.
    pub(crate) async fn stop(mut self) {
        let _ = Command::new("kill")
            .arg("-TERM")
            .arg(self.pid.to_string())
            .status()
            .await;
        if tokio::time::timeout(Duration::from_secs(5), self.child.wait())
            .await
            .is_err()
        {
            let _ = self.child.kill().await;
        }
    }
}
