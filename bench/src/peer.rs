//! The peer a user would pick instead of oauthd: node-oidc-provider on
//! Postgres. `bench/peer/` holds its configuration (`provider.js`), a
//! Postgres adapter with its one table (`adapter.js`, `schema.sql`), the
//! server (`server.js`) and the seed script (`seed.js`). It runs as two
//! node processes on two ports over a fresh `oauthd_bench_peer_*` database,
//! and the load generator splits its connections between them.
//!
//! The peer runs only when `node` and `npm` are on the PATH; `npm ci`
//! installs its locked packages when `node_modules` is missing. When either
//! is missing, or the install or the start fails, the run goes on without
//! it and says why.

use std::net::{Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use tokio::process::{Child, Command};

use crate::load::{self, BoxError, Target};
use crate::seed;
use crate::server::{self, Database, Memory};

/// How many node processes serve the peer.
const PROCESSES: usize = 2;

/// The peer's client id (its secret is made per run).
const CLIENT_ID: &str = "oauthd-bench";

/// Why the run goes on without the peer.
#[derive(Debug)]
pub(crate) struct Skipped(pub(crate) String);

/// The running peer.
pub(crate) struct Peer {
    procs: Vec<(Child, u32)>,
    addrs: Vec<SocketAddr>,
    db: Database,
    node: PathBuf,
    /// What every node process is given (database, client).
    env: Vec<(&'static str, String)>,
    /// The bench's client at the peer.
    pub(crate) client: seed::Client,
    /// An access token from a code exchange at the peer, to introspect.
    pub(crate) access: String,
    /// "oidc-provider <version>, node <version>".
    pub(crate) version: String,
}

/// `bench/peer/`.
fn peer_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("peer")
}

impl Peer {
    /// Installs what the peer needs if missing, makes its database, seeds
    /// the schema and starts its processes, logging into `logs`.
    pub(crate) async fn start(admin_url: &str, logs: &Path) -> Result<Self, Skipped> {
        let node =
            server::on_path("node").ok_or_else(|| Skipped("node is not on the PATH".into()))?;
        let dir = peer_dir();
        install(&dir).await?;
        let version = versions(&node, &dir).await;
        let db = Database::create_postgres(admin_url, "oauthd_bench_peer_")
            .await
            .map_err(|e| Skipped(format!("creating its database: {e}")))?;
        let secret = format!(
            "{}{}",
            oauthd::crypto::random_id(),
            oauthd::crypto::random_id()
        );
        let mut peer = Self {
            procs: Vec::new(),
            addrs: Vec::new(),
            env: vec![
                ("DATABASE_URL", db.url.clone()),
                ("PEER_CLIENT_ID", CLIENT_ID.into()),
                ("PEER_CLIENT_SECRET", secret.clone()),
                ("NODE_ENV", "production".into()),
            ],
            db,
            node,
            client: seed::Client {
                id: CLIENT_ID.into(),
                basic: load::basic(CLIENT_ID, &secret),
            },
            version,
            access: String::new(),
        };
        match peer.launch(logs).await {
            Ok(()) => Ok(peer),
            Err(e) => {
                peer.stop().await;
                Err(Skipped(format!("it did not start: {e}")))
            }
        }
    }

    /// Makes the schema and a first code, starts the processes, and
    /// exchanges that code for the access token to introspect.
    async fn launch(&mut self, logs: &Path) -> Result<(), BoxError> {
        let first = self.codes(1).await?;
        for i in 0..PROCESSES {
            let port = server::free_port()?;
            let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
            let log = logs.join(format!("peer-{i}-{port}.log"));
            let mut command = self.node_command();
            command
                .arg("server.js")
                .env("PEER_PORT", port.to_string())
                .stdout(Stdio::null())
                .stderr(std::fs::File::create(&log)?)
                .kill_on_drop(true);
            let started = Instant::now();
            let child = command.spawn()?;
            let pid = child.id().ok_or("node exited at once")?;
            self.procs.push((child, pid));
            let (child, _) = self.procs.last_mut().ok_or("no process")?;
            server::wait_ready(
                child,
                addr,
                "/.well-known/openid-configuration",
                &log,
                started,
            )
            .await
            .map_err(|e| format!("peer process {i} {e}"))?;
            self.addrs.push(addr);
        }
        let code = first.first().ok_or("no code")?;
        self.access = seed::exchange(self.addr()?, &self.client, code)
            .await?
            .access;
        Ok(())
    }

    /// `node` in `bench/peer/` with only the peer's environment.
    fn node_command(&self) -> Command {
        let mut command = Command::new(&self.node);
        command
            .env_clear()
            .envs(self.env.iter().map(|(k, v)| (k, v)))
            .current_dir(peer_dir())
            .stdin(Stdio::null());
        command
    }

    /// `n` fresh authorization codes, each with its own grant, made through
    /// the provider's models by `seed.js` (which first makes the schema).
    pub(crate) async fn codes(&self, n: usize) -> Result<Vec<String>, BoxError> {
        let output = self
            .node_command()
            .arg("seed.js")
            .arg(n.to_string())
            .kill_on_drop(true)
            .output()
            .await?;
        if !output.status.success() {
            let text = String::from_utf8_lossy(&output.stderr);
            let last: Vec<&str> = text.lines().rev().take(5).collect();
            return Err(format!(
                "seed.js failed ({}): {}",
                output.status,
                last.into_iter().rev().collect::<Vec<_>>().join(" | ")
            )
            .into());
        }
        let codes: Vec<String> = String::from_utf8(output.stdout)?
            .lines()
            .map(str::to_owned)
            .collect();
        if codes.len() != n {
            return Err(format!("seed.js printed {} codes, not {n}", codes.len()).into());
        }
        Ok(codes)
    }

    /// What the load generator drives: both processes, connections split.
    pub(crate) fn target(&self) -> Target {
        Target {
            addrs: self.addrs.clone(),
            pids: self.procs.iter().map(|(_, pid)| *pid).collect(),
        }
    }

    /// The first process's address (seeding exchanges go there).
    pub(crate) fn addr(&self) -> Result<SocketAddr, BoxError> {
        Ok(*self.addrs.first().ok_or("the peer has no process")?)
    }

    /// Its processes' memory together.
    pub(crate) fn memory(&self) -> Memory {
        let pids: Vec<u32> = self.procs.iter().map(|(_, pid)| *pid).collect();
        Memory::of(&pids)
    }

    /// Stops the processes and drops the database; a failed drop is
    /// reported on stderr (it names an `oauthd_bench_peer_*` database).
    pub(crate) async fn stop(mut self) {
        for (child, pid) in &mut self.procs {
            server::terminate(child, *pid).await;
        }
        if let Err(e) = self.db.drop_now().await {
            eprintln!("oauthd-bench: peer: dropping its database: {e}");
        }
    }
}

/// `npm ci` in `dir` when its `node_modules` is missing.
async fn install(dir: &Path) -> Result<(), Skipped> {
    if dir
        .join("node_modules/oidc-provider/package.json")
        .is_file()
    {
        return Ok(());
    }
    let npm = server::on_path("npm").ok_or_else(|| Skipped("npm is not on the PATH".into()))?;
    eprintln!("oauthd-bench: peer: npm ci in {}", dir.display());
    let run = Command::new(npm)
        .args(["ci", "--no-audit", "--no-fund", "--loglevel=error"])
        .current_dir(dir)
        .stdin(Stdio::null())
        .kill_on_drop(true)
        .output();
    // Offline, npm retries for minutes: give up sooner.
    let output = match tokio::time::timeout(Duration::from_secs(180), run).await {
        Err(_) => return Err(Skipped("npm ci did not finish in 180 s (offline?)".into())),
        Ok(Err(e)) => return Err(Skipped(format!("npm ci did not run: {e}"))),
        Ok(Ok(o)) => o,
    };
    if !output.status.success() {
        // npm's first line says what went wrong (`npm error code …`).
        let text = String::from_utf8_lossy(&output.stderr);
        let first = text.lines().find(|l| !l.trim().is_empty()).unwrap_or("");
        return Err(Skipped(format!(
            "npm ci failed ({}): {first}",
            output.status
        )));
    }
    Ok(())
}

/// "oidc-provider <version>, node <version>", for the report.
async fn versions(node: &Path, dir: &Path) -> String {
    let provider = std::fs::read_to_string(dir.join("node_modules/oidc-provider/package.json"))
        .ok()
        .and_then(|t| serde_json::from_str::<serde_json::Value>(&t).ok())
        .and_then(|v| Some(v.get("version")?.as_str()?.to_owned()))
        .unwrap_or_else(|| "?".into());
    let node = Command::new(node)
        .arg("--version")
        .output()
        .await
        .ok()
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .map_or_else(|| "?".into(), |v| v.trim().to_owned());
    format!("oidc-provider {provider}, node {node}")
}
