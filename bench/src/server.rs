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
            Backend::Postgres => Self::create_postgres(admin_url, "oauthd_bench_").await,
        }
    }

    /// A new empty Postgres database `<prefix><random>` on the server at
    /// `admin_url`.
    pub(crate) async fn create_postgres(admin_url: &str, prefix: &str) -> Result<Self, BoxError> {
        let name = format!("{prefix}{}", oauthd::crypto::random_id());
        let mut conn = PgConnection::connect(admin_url).await?;
        conn.execute(AssertSqlSafe(format!("create database \"{name}\"")))
            .await?;
        conn.close().await?;
        let mut url = url::Url::parse(admin_url)?;
        url.set_path(&name);
        Ok(Self {
            url: url.to_string(),
            backend: Backend::Postgres,
            pg: Some((admin_url.to_owned(), name)),
        })
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

/// Resident memory of a server's processes, KiB.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct Memory {
    /// Current resident set (`VmRSS`).
    pub(crate) rss_kib: u64,
    /// Peak resident set since start (`VmHWM`), summed over the processes.
    pub(crate) hwm_kib: u64,
}

impl Memory {
    /// The memory of `pids` together now, from `/proc/<pid>/status`.
    pub(crate) fn of(pids: &[u32]) -> Self {
        let mut sum = Self::default();
        for pid in pids {
            let text = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
            let field = |name: &str| {
                text.lines()
                    .find_map(|l| l.strip_prefix(name))
                    .and_then(|rest| rest.split_whitespace().next()?.parse::<u64>().ok())
                    .unwrap_or(0)
            };
            sum.rss_kib += field("VmRSS:");
            sum.hwm_kib += field("VmHWM:");
        }
        sum
    }
}

/// Polls `GET path` on `addr` every millisecond until it answers 2xx, for at
/// most 15 s from `started`; fails at once when `child` exits, with the
/// last lines of `log`.
pub(crate) async fn wait_ready(
    child: &mut Child,
    addr: SocketAddr,
    path: &str,
    log: &Path,
    started: Instant,
) -> Result<Duration, BoxError> {
    loop {
        if started.elapsed() > Duration::from_secs(15) {
            return Err(format!("not ready after 15 s; log:\n{}", log_tail(log)).into());
        }
        if let Some(status) = child.try_wait()? {
            return Err(format!("exited ({status}); log:\n{}", log_tail(log)).into());
        }
        let request = Request::builder()
            .uri(path)
            .header(HOST, addr.to_string())
            .body(Full::<Bytes>::default())?;
        if let Ok((status, _)) = load::once(addr, request).await
            && status.is_success()
        {
            return Ok(started.elapsed());
        }
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
}

/// The last 20 lines of a log file.
pub(crate) fn log_tail(log: &Path) -> String {
    let text = std::fs::read_to_string(log).unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(20)..].join("\n")
}

/// SIGTERM, then SIGKILL if the process has not exited within 5 s.
pub(crate) async fn terminate(child: &mut Child, pid: u32) {
    let _ = Command::new("kill")
        .arg("-TERM")
        .arg(pid.to_string())
        .status()
        .await;
    if tokio::time::timeout(Duration::from_secs(5), child.wait())
        .await
        .is_err()
    {
        let _ = child.kill().await;
    }
}

/// `program` as found on the PATH.
pub(crate) fn on_path(program: &str) -> Option<PathBuf> {
    std::env::split_paths(&std::env::var_os("PATH")?)
        .map(|d| d.join(program))
        .find(|p| p.is_file())
}

/// A free loopback port (the OS's pick, released for the server to take).
pub(crate) fn free_port() -> Result<u16, BoxError> {
    Ok(TcpListener::bind((Ipv4Addr::LOCALHOST, 0))?
        .local_addr()?
        .port())
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
        let port = free_port()?;
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
        server.ready_in = wait_ready(&mut server.child, addr, "/readyz", &server.log, started)
            .await
            .map_err(|e| format!("oauthd {e}"))?;
        Ok(server)
    }

    /// Its memory now.
    pub(crate) fn memory(&self) -> Memory {
        Memory::of(&[self.pid])
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

    /// SIGTERM, then SIGKILL if it has not exited within 5 s.
    pub(crate) async fn stop(mut self) {
        terminate(&mut self.child, self.pid).await;
    }
}
