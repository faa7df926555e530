//! `oauthd-bench`: starts the release oauthd on a fresh SQLite file or
//! Postgres database, seeds it, drives load over loopback from this process,
//! measures the ceilings (the `/healthz` rate, and the database's own rate for
//! each scenario's statements) in the same run, and prints one table. On
//! Postgres it also drives the peer, node-oidc-provider (`peer.rs`), through
//! the same scenarios, when `node` is on the PATH.
//!
//! ```sh
//! cargo run --release -p oauthd-bench -- [--backend sqlite|postgres|both] [--duration SECS] [--quick] [--growth] [--janitor] [--no-peer] [--server-env KEY=VALUE]...
//! ```
//!
//! `--server-env` sets one more `OAUTHD_*` variable for the server, e.g. to
//! compare the token writers without coalescing (one transaction per token
//! request) against the default, in two runs:
//!
//! ```sh
//! cargo run --release -p oauthd-bench -- --backend postgres --only client_credentials --server-env OAUTHD_DATABASE__WRITE_BATCH_SIZE=1
//! cargo run --release -p oauthd-bench -- --backend postgres --only client_credentials
//! ```
//!
//! The bench itself sets only the database URL, the listen address, rate
//! limits off and `/metrics` on the main listener (and, for `--janitor`, the
//! token lifetime and the janitor's interval and retention), so a
//! `--server-env` for any `database.*` key takes effect as given.
//!
//! Postgres: `OAUTHD_BENCH_DATABASE_URL` (default
//! `postgres://postgres@127.0.0.1:5432/postgres`) names a server where the
//! bench may create and drop `oauthd_bench_*` databases. `OAUTHD_BENCH_SERVER`
//! names an oauthd binary to use instead of building the release one.

mod ceiling;
mod cpu;
mod load;
mod peer;
mod seed;
mod server;

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::AtomicUsize;
use std::time::{Duration, Instant};

use clap::{Parser, ValueEnum};
use oauthd::clock::Clock;

use crate::load::{BoxError, Outcome, Scenario};
use crate::peer::Peer;
use crate::server::{Backend, Database, Memory, Pool, Server};

/// Benchmark oauthd against the ceilings of its HTTP stack and its database.
#[derive(Parser, Debug)]
#[command(name = "oauthd-bench")]
struct Args {
    /// Which store to run on.
    #[arg(long, value_enum, default_value_t = BackendArg::Both)]
    backend: BackendArg,
    /// Measured seconds per scenario (after a warm-up of a quarter of it, at least 0.5 s).
    #[arg(long, default_value_t = 4.0)]
    duration: f64,
    /// Short runs (1.5 s each) for a smoke test; figures are noisier.
    #[arg(long)]
    quick: bool,
    /// Concurrency levels (connections), comma-separated.
    #[arg(long, value_delimiter = ',', default_value = "8,64")]
    conns: Vec<usize>,
    /// Also run issuance and introspection with 1 million live tokens stored.
    #[arg(long)]
    growth: bool,
    /// Also watch the token table under sustained issuance with 2-second
    /// tokens and a 2-second janitor (about 40 s per backend).
    #[arg(long)]
    janitor: bool,
    /// Run only the scenarios whose name contains this (ceilings included).
    #[arg(long)]
    only: Option<String>,
    /// An extra setting for the server, e.g. `OAUTHD_DATABASE__MAX_CONNECTIONS=32`
    /// (repeatable), to compare configurations.
    #[arg(long = "server-env", value_name = "KEY=VALUE")]
    server_env: Vec<String>,
    /// Leave out the peer (node-oidc-provider on Postgres).
    #[arg(long)]
    no_peer: bool,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
enum BackendArg {
    Sqlite,
    Postgres,
    Both,
}

/// What a row measured.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Source {
    /// The database alone (pgbench or the SQLite loop).
    Ceiling,
    /// oauthd.
    Oauthd,
    /// node-oidc-provider.
    Peer,
}

/// The scenarios the peer runs too.
const PEER_SCENARIOS: [&str; 3] = ["client_credentials", "introspect", "code_exchange"];

/// One line of the table.
struct Row {
    source: Source,
    scenario: String,
    backend: Backend,
    conns: usize,
    outcome: Outcome,
    memory: Option<Memory>,
    /// The ceiling's name and rate.
    ceiling: Option<(&'static str, f64)>,
    /// The `/healthz` rate at the same concurrency.
    healthz: Option<f64>,
}

impl Row {
    fn ratio(&self) -> Option<f64> {
        self.ceiling.map(|(_, c)| self.outcome.rate() / c)
    }

    /// The scenario as the table names it (the peer's rows are `peer:…`).
    fn label(&self) -> String {
        match self.source {
            Source::Peer => format!("peer:{}", self.scenario),
            Source::Ceiling | Source::Oauthd => self.scenario.clone(),
        }
    }
}

/// The Postgres row of `source` for `scenario` at `conns`.
fn find<'a>(rows: &'a [Row], source: Source, scenario: &str, conns: usize) -> Option<&'a Row> {
    rows.iter().find(|r| {
        r.source == source
            && r.backend == Backend::Postgres
            && r.conns == conns
            && r.scenario == scenario
    })
}

/// What a backend's run found besides the table.
#[derive(Default)]
struct Notes {
    lines: Vec<String>,
    ready_ms: Vec<(Backend, &'static str, f64)>,
    /// (backend, scenario, conns, empty rate, grown rate)
    growth: Vec<(Backend, &'static str, usize, f64, f64)>,
    /// Which peer ran ("oidc-provider …, node …, 2 processes").
    peer: Option<String>,
}

#[tokio::main]
async fn main() -> ExitCode {
    let args = Args::parse();
    match run(&args).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("oauthd-bench: {e}");
            ExitCode::FAILURE
        }
    }
}

async fn run(args: &Args) -> Result<(), BoxError> {
    let began = Instant::now();
    let duration = Duration::from_secs_f64(if args.quick {
        1.5
    } else {
        args.duration.max(0.5)
    });
    let warmup = (duration / 4).max(Duration::from_millis(500));
    // Checked before anything starts.
    server_env(args)?;
    let bin = server_binary()?;
    let admin_url = std::env::var("OAUTHD_BENCH_DATABASE_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into());
    let backends: &[Backend] = match args.backend {
        BackendArg::Sqlite => &[Backend::Sqlite],
        BackendArg::Postgres => &[Backend::Postgres],
        BackendArg::Both => &[Backend::Sqlite, Backend::Postgres],
    };
    let mut rows = Vec::new();
    let mut notes = Notes::default();
    for &backend in backends {
        let dir = tempfile::tempdir()?;
        let db = Database::create(backend, dir.path(), &admin_url).await?;
        let mut peer = if backend == Backend::Postgres && wants_peer(args) {
            start_peer(&admin_url, dir.path(), &mut notes).await
        } else {
            None
        };
        let result = bench_backend(
            args,
            backend,
            &bin,
            &db,
            dir.path(),
            (warmup, duration),
            &mut peer,
            &mut rows,
            &mut notes,
        )
        .await;
        if let Some(peer) = peer {
            peer.stop().await;
        }
        let dropped = db.drop_now().await;
        result?;
        dropped?;
    }
    print_table(&rows);
    print_peer(&rows, &notes);
    print_targets(&rows, &notes);
    print_issue14_targets(&rows);
    for line in &notes.lines {
        println!("{line}");
    }
    println!(
        "\nwhole run: {:.0} s; {} s measured per scenario after {:.1} s warm-up; load generator in this process, same machine",
        began.elapsed().as_secs_f64(),
        duration.as_secs_f64(),
        warmup.as_secs_f64()
    );
    Ok(())
}

/// Builds the release server (unless `OAUTHD_BENCH_SERVER` names one) and
/// returns its path: next to this binary, in the same target directory.
fn server_binary() -> Result<PathBuf, BoxError> {
    if let Ok(p) = std::env::var("OAUTHD_BENCH_SERVER") {
        // The server runs in a temporary directory: make the path absolute.
        return Ok(std::fs::canonicalize(p)?);
    }
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR")).join("../Cargo.toml");
    eprintln!("oauthd-bench: building the release oauthd");
    let status = std::process::Command::new(cargo)
        .args([
            "build",
            "--release",
            "--quiet",
            "-p",
            "oauthd",
            "--bin",
            "oauthd",
        ])
        .arg("--manifest-path")
        .arg(&manifest)
        .status()?;
    if !status.success() {
        return Err("building the release oauthd failed".into());
    }
    let exe = std::env::current_exe()?;
    let bin = exe
        .parent()
        .ok_or("this binary has no directory")?
        .join("oauthd");
    if !bin.is_file() {
        return Err(format!("no oauthd next to {}", exe.display()).into());
    }
    Ok(bin)
}

/// The `--server-env` settings as (key, value). A setting without `=` is an
/// error: dropped, it would leave the run comparing the default with itself.
fn server_env(args: &Args) -> Result<Vec<(&str, String)>, BoxError> {
    args.server_env
        .iter()
        .map(|kv| {
            kv.split_once('=')
                .map(|(k, v)| (k, v.to_owned()))
                .ok_or_else(|| format!("--server-env {kv}: want KEY=VALUE").into())
        })
        .collect()
}

fn wanted(args: &Args, name: &str) -> bool {
    args.only.as_deref().is_none_or(|o| name.contains(o))
}

fn wants_peer(args: &Args) -> bool {
    !args.no_peer && PEER_SCENARIOS.iter().any(|s| wanted(args, s))
}

/// Starts the peer, or notes why the run goes on without it.
async fn start_peer(admin_url: &str, dir: &Path, notes: &mut Notes) -> Option<Peer> {
    eprintln!("oauthd-bench: peer: starting node-oidc-provider");
    match Peer::start(admin_url, dir).await {
        Ok(peer) => {
            eprintln!("oauthd-bench: peer: {} ready", peer.version);
            notes.peer = Some(format!(
                "{}, {} processes",
                peer.version,
                peer.target().pids.len()
            ));
            Some(peer)
        }
        Err(peer::Skipped(why)) => {
            let line = format!("peer: skipped, {why}");
            eprintln!("oauthd-bench: {line}");
            notes.lines.push(line);
            None
        }
    }
}

#[expect(
    clippy::too_many_arguments,
    reason = "the one driver of a backend's run"
)]
async fn bench_backend(
    args: &Args,
    backend: Backend,
    bin: &Path,
    db: &Database,
    dir: &Path,
    (warmup, duration): (Duration, Duration),
    peer: &mut Option<Peer>,
    rows: &mut Vec<Row>,
    notes: &mut Notes,
) -> Result<(), BoxError> {
    let extra = server_env(args)?;
    let server = Server::start(bin, db, dir, &extra).await?;
    let fresh_ready = server.ready_in.as_secs_f64() * 1000.0;
    notes.ready_ms.push((
        backend,
        "fresh database (migrations, first-run admin)",
        fresh_ready,
    ));
    eprintln!(
        "oauthd-bench: {backend}: oauthd pid {} ready in {fresh_ready:.0} ms",
        server.pid()
    );
    let pool = db.pool(4).await?;
    let client = seed::register_client(server.addr).await?;
    let user_id = seed::admin_id(&pool).await?;
    let secret_hash = seed::secret_hash(&pool, &client.id).await?;
    let now = Clock::system().now();
    let first = seed::codes(&pool, &client.id, &user_id, 1, now).await?;
    let tokens = seed::exchange(server.addr, &client, first.first().ok_or("no code")?).await?;
    let ctx = ceiling::Ctx {
        db,
        pool: &pool,
        client_id: &client.id,
        user_id: &user_id,
        secret_hash: &secret_hash,
        now,
        dir,
        server_pool: 10,
    };
    ceiling::prepare(&ctx).await?;

    let mut empty = Vec::new();
    for &conns in &args.conns {
        let mut healthz = None;
        let mut cc_rate = 2000.0;
        let mut ceilings: Vec<(ceiling::Kind, f64)> = Vec::new();
        for kind in [
            ceiling::Kind::Insert,
            ceiling::Kind::Lean,
            ceiling::Kind::Select,
            ceiling::Kind::Code,
            ceiling::Kind::Refresh,
        ] {
            if !wanted(args, kind.name()) && !wanted_for(args, kind) {
                continue;
            }
            eprintln!("oauthd-bench: {backend} {} at {conns}", kind.name());
            let out = ceiling::run(&ctx, kind, conns, duration).await?;
            ceilings.push((kind, out.rate()));
            rows.push(Row {
                source: Source::Ceiling,
                scenario: kind.name().into(),
                backend,
                conns,
                outcome: out,
                memory: None,
                ceiling: None,
                healthz: None,
            });
        }
        for name in [
            "healthz",
            "client_credentials",
            "introspect",
            "account",
            "code_exchange",
            "refresh",
        ] {
            if name != "healthz" && !wanted(args, name) {
                continue;
            }
            let scenario = match name {
                "healthz" => Scenario::Healthz,
                "client_credentials" => Scenario::ClientCredentials {
                    basic: client.basic.clone(),
                },
                "introspect" => Scenario::Introspect {
                    basic: client.basic.clone(),
                    token: tokens.access.clone(),
                },
                "account" => Scenario::Account {
                    bearer: tokens.access.clone(),
                },
                "code_exchange" => {
                    let n = codes_needed(cc_rate, warmup + duration);
                    let codes =
                        seed::codes(&pool, &client.id, &user_id, n, Clock::system().now()).await?;
                    Scenario::CodeExchange {
                        basic: client.basic.clone(),
                        codes: Arc::new(codes),
                        next: Arc::new(AtomicUsize::new(0)),
                    }
                }
                _ => {
                    let codes =
                        seed::codes(&pool, &client.id, &user_id, conns, Clock::system().now())
                            .await?;
                    let mut start = Vec::with_capacity(conns);
                    for code in &codes {
                        start.push(seed::exchange(server.addr, &client, code).await?.refresh);
                    }
                    Scenario::Refresh {
                        basic: client.basic.clone(),
                        start,
                    }
                }
            };
            eprintln!("oauthd-bench: {backend} {name} at {conns}");
            let out = load::run(server.target(), Arc::new(scenario), conns, warmup, duration).await;
            let rate = out.rate();
            if name == "healthz" {
                healthz = Some(rate);
            }
            if name == "client_credentials" {
                cc_rate = rate.max(500.0);
            }
            note_outcome(notes, &format!("{backend} {name}"), conns, &out);
            if matches!(name, "client_credentials" | "introspect") {
                empty.push((name, conns, rate));
            }
            rows.push(Row {
                source: Source::Oauthd,
                ceiling: ceiling_for(name, &ceilings),
                scenario: name.into(),
                backend,
                conns,
                outcome: out,
                memory: Some(server.memory()),
                healthz: if name == "healthz" { None } else { healthz },
            });
        }
        if let Some(p) = peer.as_ref()
            && let Err(e) =
                peer_scenarios(args, p, conns, (warmup, duration), &ceilings, rows, notes).await
        {
            notes.lines.push(format!(
                "peer: stopped after an error at {conns} connections: {e}"
            ));
            if let Some(p) = peer.take() {
                p.stop().await;
            }
        }
    }

    if args.growth {
        // The empty-database reference again, right before the tokens are
        // stored: the rows above ran minutes earlier, on a colder machine.
        let mut reference = Vec::new();
        for (name, conns, _) in empty.clone() {
            let scenario = growth_scenario(name, &client, &tokens);
            eprintln!("oauthd-bench: {backend} {name} (before the 1M) at {conns}");
            let out = load::run(server.target(), Arc::new(scenario), conns, warmup, duration).await;
            note_outcome(notes, &format!("{backend} {name} before 1M"), conns, &out);
            reference.push((name, conns, out.rate()));
        }
        let empty = reference;
        let started = Instant::now();
        eprintln!("oauthd-bench: {backend}: storing 1,000,000 live tokens");
        seed::grow(
            &pool,
            1_000_000,
            &client.id,
            &user_id,
            Clock::system().now(),
        )
        .await?;
        notes.lines.push(format!(
            "growth: {backend}: 1,000,000 tokens stored in {:.1} s",
            started.elapsed().as_secs_f64()
        ));
        for (name, conns, empty_rate) in empty {
            let scenario = growth_scenario(name, &client, &tokens);
            eprintln!("oauthd-bench: {backend} {name}+1M at {conns}");
            let out = load::run(server.target(), Arc::new(scenario), conns, warmup, duration).await;
            notes
                .growth
                .push((backend, name, conns, empty_rate, out.rate()));
            note_outcome(notes, &format!("{backend} {name}+1M"), conns, &out);
            rows.push(Row {
                source: Source::Oauthd,
                scenario: format!("{name}+1M"),
                backend,
                conns,
                outcome: out,
                memory: Some(server.memory()),
                ceiling: Some(("empty db", empty_rate)),
                healthz: None,
            });
        }
    }
    let peak = server.memory();
    notes.lines.push(format!(
        "memory: {backend}: oauthd peak RSS (VmHWM) over the whole run {:.1} MiB",
        mib(peak.hwm_kib)
    ));
    server.stop().await;

    // Start-up again on the now populated database: no migrations to apply.
    let again = Server::start(bin, db, dir, &extra).await?;
    notes.ready_ms.push((
        backend,
        "restart on the populated database",
        again.ready_in.as_secs_f64() * 1000.0,
    ));
    again.stop().await;

    if args.janitor {
        janitor_watch(bin, db, dir, &extra, &pool, &client, notes).await?;
    }
    on_pool_close(&pool).await;
    Ok(())
}

/// Codes enough for a code-exchange run at up to 1.5 times `rate`, plus a margin.
fn codes_needed(rate: f64, run: Duration) -> usize {
    (rate * run.as_secs_f64() * 1.5) as usize + 2000
}

/// The ceiling a scenario's rate is compared with in the table, if measured.
fn ceiling_for(scenario: &str, ceilings: &[(ceiling::Kind, f64)]) -> Option<(&'static str, f64)> {
    let kind = match scenario {
        "client_credentials" => ceiling::Kind::Insert,
        "introspect" | "account" => ceiling::Kind::Select,
        "code_exchange" => ceiling::Kind::Code,
        "refresh" => ceiling::Kind::Refresh,
        _ => return None,
    };
    ceilings
        .iter()
        .find(|(k, _)| *k == kind)
        .map(|(k, r)| (k.name(), *r))
}

/// Records what a run's report needs besides its figures.
fn note_outcome(notes: &mut Notes, what: &str, conns: usize, out: &Outcome) {
    if out.exhausted {
        notes.lines.push(format!(
            "note: {what} at {conns}: some connections ran out of work before the end"
        ));
    }
    if let Some(e) = &out.first_error {
        notes
            .lines
            .push(format!("first error: {what} at {conns}: {e}"));
    }
}

/// The peer's scenarios at `conns`: the same requests as oauthd's, against
/// its two processes.
async fn peer_scenarios(
    args: &Args,
    peer: &Peer,
    conns: usize,
    (warmup, duration): (Duration, Duration),
    ceilings: &[(ceiling::Kind, f64)],
    rows: &mut Vec<Row>,
    notes: &mut Notes,
) -> Result<(), BoxError> {
    let mut cc_rate = 2000.0;
    for name in PEER_SCENARIOS {
        if !wanted(args, name) {
            continue;
        }
        let basic = peer.client.basic.clone();
        let scenario = match name {
            "client_credentials" => Scenario::ClientCredentials { basic },
            "introspect" => Scenario::Introspect {
                basic,
                token: peer.access.clone(),
            },
            _ => {
                eprintln!("oauthd-bench: peer: seeding codes");
                let codes = peer.codes(codes_needed(cc_rate, warmup + duration)).await?;
                Scenario::CodeExchange {
                    basic,
                    codes: Arc::new(codes),
                    next: Arc::new(AtomicUsize::new(0)),
                }
            }
        };
        eprintln!("oauthd-bench: peer {name} at {conns}");
        let out = load::run(peer.target(), Arc::new(scenario), conns, warmup, duration).await;
        if name == "client_credentials" {
            cc_rate = out.rate().max(500.0);
        }
        note_outcome(notes, &format!("peer {name}"), conns, &out);
        rows.push(Row {
            source: Source::Peer,
            scenario: name.into(),
            backend: Backend::Postgres,
            conns,
            memory: Some(peer.memory()),
            ceiling: ceiling_for(name, ceilings),
            healthz: None,
            outcome: out,
        });
    }
    Ok(())
}

/// Ceilings are only worth measuring for the scenarios that use them.
fn wanted_for(args: &Args, kind: ceiling::Kind) -> bool {
    let scenarios: &[&str] = match kind {
        ceiling::Kind::Insert | ceiling::Kind::Lean => &["client_credentials"],
        ceiling::Kind::Select => &["introspect", "account"],
        ceiling::Kind::Code => &["code_exchange"],
        ceiling::Kind::Refresh => &["refresh"],
    };
    scenarios.iter().any(|s| wanted(args, s))
}

async fn on_pool_close(pool: &Pool) {
    server::on_pool!(pool, p => p.close().await);
}

/// Sustained client-credentials issuance with 2-second tokens and a janitor
/// every 2 seconds: the table should level off, not grow with time. The
/// server gets the run's `--server-env` settings too (`extra`); its own
/// three come after them and win.
async fn janitor_watch(
    bin: &Path,
    db: &Database,
    dir: &Path,
    extra: &[(&str, String)],
    pool: &Pool,
    client: &seed::Client,
    notes: &mut Notes,
) -> Result<(), BoxError> {
    let mut settings = extra.to_vec();
    settings.extend([
        ("OAUTHD_TOKENS__ACCESS_TOKEN_LIFETIME_SECS", "2".into()),
        ("OAUTHD_JANITOR__INTERVAL_SECS", "2".into()),
        ("OAUTHD_JANITOR__RETENTION_SECS", "2".into()),
    ]);
    let server = Server::start(bin, db, dir, &settings).await?;
    let scenario = Arc::new(Scenario::ClientCredentials {
        basic: client.basic.clone(),
    });
    let load = tokio::spawn(load::run(
        server.target(),
        scenario,
        8,
        Duration::ZERO,
        Duration::from_secs(36),
    ));
    let mut line = format!(
        "janitor: {}: tokens / expired tokens / audit rows every 4 s under issuance:",
        db.backend
    );
    for _ in 0..9 {
        tokio::time::sleep(Duration::from_secs(4)).await;
        let now = Clock::system().now();
        let total = seed::count(
            pool,
            "select count(*) from tokens where created_at <= $1",
            now,
        )
        .await?;
        let expired = seed::count(
            pool,
            "select count(*) from tokens where expires_at < $1",
            now,
        )
        .await?;
        let audit = seed::count(
            pool,
            "select count(*) from audit_events where at <= $1",
            now,
        )
        .await?;
        let _ = write!(line, " {total}/{expired}/{audit}");
    }
    let out = load.await?;
    let _ = write!(line, " (issuing {:.0}/s)", out.rate());
    notes.lines.push(line);
    server.stop().await;
    Ok(())
}

fn mib(kib: u64) -> f64 {
    kib as f64 / 1024.0
}

fn print_table(rows: &[Row]) {
    println!(
        "\n{:<24} {:<8} {:>5} {:>9} {:>7} {:>7} {:>6} {:>8} {:>12} {:>18} {:>6} {:>8}",
        "scenario",
        "backend",
        "conns",
        "req/s",
        "p50 ms",
        "p99 ms",
        "errors",
        "CPU µs",
        "RSS/peak MiB",
        "ceiling (req/s)",
        "ratio",
        "/healthz"
    );
    for r in rows {
        let o = &r.outcome;
        let mem = r.memory.map_or("-".into(), |m| {
            format!("{:.1}/{:.1}", mib(m.rss_kib), mib(m.hwm_kib))
        });
        let ceiling = r.ceiling.map_or("-".into(), |(n, c)| format!("{n} {c:.0}"));
        let ratio = r.ratio().map_or("-".into(), |x| format!("{x:.2}"));
        let cpu = o
            .cpu_per_request()
            .map_or("-".into(), |us| format!("{us:.0}"));
        let healthz = r
            .healthz
            .map_or("-".into(), |h| format!("{:.2}", o.rate() / h));
        println!(
            "{:<24} {:<8} {:>5} {:>9.0} {:>7.2} {:>7.2} {:>6} {:>8} {:>12} {:>18} {:>6} {:>8}",
            r.label(),
            r.backend.to_string(),
            r.conns,
            o.rate(),
            o.quantile_ms(0.50),
            o.quantile_ms(0.99),
            o.errors,
            cpu,
            mem,
            ceiling,
            ratio,
            healthz
        );
    }
}

/// The ceiling the peer comparison sets each scenario beside: for issuance
/// the lean single-row insert (issue 14's yardstick), else the table's.
fn comparison_ceiling<'a>(rows: &'a [Row], scenario: &str, conns: usize) -> Option<&'a Row> {
    let name = match scenario {
        "client_credentials" => "db:lean",
        "introspect" => "db:select",
        "code_exchange" => "db:code",
        _ => return None,
    };
    find(rows, Source::Ceiling, name, conns)
}

/// oauthd against the peer on Postgres, beside both against the database.
fn print_peer(rows: &[Row], notes: &Notes) {
    let Some(peer) = &notes.peer else { return };
    let mut levels: Vec<usize> = rows
        .iter()
        .filter(|r| r.source == Source::Peer)
        .map(|r| r.conns)
        .collect();
    levels.dedup();
    if levels.is_empty() {
        return;
    }
    println!(
        "
oauthd and the peer ({peer}) on postgres, same run:"
    );
    println!(
        "{:<20} {:>5} {:>9} {:>9} {:>11} {:>18} {:>9} {:>8} {:>15}",
        "scenario",
        "conns",
        "oauthd/s",
        "peer/s",
        "oauthd/peer",
        "ceiling (req/s)",
        "oauthd/db",
        "peer/db",
        "CPU µs oauthd/peer"
    );
    let fmt = |x: Option<f64>, digits: usize| x.map_or("-".into(), |v| format!("{v:.digits$}"));
    for conns in levels {
        for name in PEER_SCENARIOS {
            let ours = find(rows, Source::Oauthd, name, conns);
            let theirs = find(rows, Source::Peer, name, conns);
            if ours.is_none() && theirs.is_none() {
                continue;
            }
            let rate = |r: Option<&Row>| r.map(|r| r.outcome.rate());
            let cpu = |r: Option<&Row>| r.and_then(|r| r.outcome.cpu_per_request());
            let db = comparison_ceiling(rows, name, conns);
            let of = |x: Option<f64>, base: Option<f64>| Some(x? / base?);
            println!(
                "{:<20} {:>5} {:>9} {:>9} {:>11} {:>18} {:>9} {:>8} {:>15}",
                name,
                conns,
                fmt(rate(ours), 0),
                fmt(rate(theirs), 0),
                fmt(of(rate(ours), rate(theirs)), 2),
                db.map_or("-".into(), |d| format!(
                    "{} {:.0}",
                    d.scenario,
                    d.outcome.rate()
                )),
                fmt(of(rate(ours), rate(db)), 2),
                fmt(of(rate(theirs), rate(db)), 2),
                format!("{}/{}", fmt(cpu(ours), 0), fmt(cpu(theirs), 0)),
            );
        }
    }
}

fn verdict(ok: bool) -> &'static str {
    if ok { "met" } else { "MISSED" }
}

fn print_targets(rows: &[Row], notes: &Notes) {
    println!("\ntargets (issue 7):");
    let served = |r: &&Row| r.source == Source::Oauthd;
    for r in rows.iter().filter(served) {
        let (want, against) = match (r.scenario.as_str(), r.backend) {
            ("client_credentials", Backend::Postgres) => (0.6, r.ratio()),
            ("introspect" | "account", Backend::Postgres) => (0.6, r.ratio()),
            ("introspect" | "account", Backend::Sqlite) => {
                (0.4, r.healthz.map(|h| r.outcome.rate() / h))
            }
            ("code_exchange" | "refresh", Backend::Postgres) => (0.4, r.ratio()),
            _ => continue,
        };
        if let Some(x) = against {
            let base = if r.backend == Backend::Sqlite && r.scenario != "client_credentials" {
                "/healthz"
            } else {
                "the database ceiling"
            };
            println!(
                "  {:<9} {} {} at {}: {:.2} of {base} (want >= {want:.2})",
                verdict(x >= want),
                r.scenario,
                r.backend,
                r.conns,
                x
            );
        }
    }
    let at64: Vec<&Row> = rows
        .iter()
        .filter(served)
        .filter(|r| r.conns == 64)
        .collect();
    let worst = at64
        .iter()
        .map(|r| (r.outcome.quantile_ms(0.99), r))
        .max_by(|a, b| a.0.total_cmp(&b.0));
    if let Some((p99, r)) = worst {
        println!(
            "  {:<9} p99 < 25 ms at 64 connections: worst {p99:.1} ms ({} {})",
            verdict(p99 < 25.0),
            r.scenario,
            r.backend
        );
    }
    let errors: u64 = rows.iter().filter(served).map(|r| r.outcome.errors).sum();
    println!("  {:<9} zero errors: {errors}", verdict(errors == 0));
    let peak = rows
        .iter()
        .filter(served)
        .filter_map(|r| r.memory)
        .map(|m| m.hwm_kib)
        .max()
        .unwrap_or(0);
    println!(
        "  {:<9} server RSS < 64 MiB: peak {:.1} MiB",
        verdict(mib(peak) < 64.0),
        mib(peak)
    );
    for (backend, what, ms) in &notes.ready_ms {
        let target = if *backend == Backend::Sqlite {
            " (want < 200 ms)"
        } else {
            ""
        };
        let mark = if *backend == Backend::Sqlite {
            verdict(*ms < 200.0)
        } else {
            "info"
        };
        println!("  {mark:<9} start to ready, {backend}, {what}: {ms:.0} ms{target}");
    }
    for (backend, name, conns, empty, grown) in &notes.growth {
        let r = grown / empty;
        println!(
            "  {:<9} {name} {backend} at {conns} with 1M tokens: {r:.2} of the empty-db rate (want >= 0.80)",
            verdict(r >= 0.8)
        );
    }
}

/// The load a growth row repeats: issuance or introspection.
fn growth_scenario(name: &str, client: &seed::Client, tokens: &seed::Tokens) -> Scenario {
    match name {
        "client_credentials" => Scenario::ClientCredentials {
            basic: client.basic.clone(),
        },
        _ => Scenario::Introspect {
            basic: client.basic.clone(),
            token: tokens.access.clone(),
        },
    }
}

/// Issue 14's targets, on Postgres, where this run measured what they need.
fn print_issue14_targets(rows: &[Row]) {
    let mut lines = Vec::new();
    let rate = |r: &Row| r.outcome.rate();
    if let (Some(ours), Some(lean)) = (
        find(rows, Source::Oauthd, "client_credentials", 64),
        find(rows, Source::Ceiling, "db:lean", 64),
    ) {
        let x = rate(ours) / rate(lean);
        lines.push(format!(
            "  {:<9} client_credentials at 64: {x:.2} of db:lean (want >= 0.80)",
            verdict(x >= 0.8)
        ));
    }
    for (name, conns, want) in [
        ("client_credentials", 64, 2.5),
        ("client_credentials", 8, 2.0),
        ("introspect", 8, 3.5),
        ("introspect", 64, 3.5),
    ] {
        if let (Some(ours), Some(theirs)) = (
            find(rows, Source::Oauthd, name, conns),
            find(rows, Source::Peer, name, conns),
        ) {
            let x = rate(ours) / rate(theirs);
            lines.push(format!(
                "  {:<9} {name} at {conns}: {x:.2} x the peer (want >= {want:.1})",
                verdict(x >= want)
            ));
        }
    }
    let writes = rows.iter().filter(|r| {
        r.source == Source::Oauthd
            && r.backend == Backend::Postgres
            && r.conns == 64
            && matches!(
                r.scenario.as_str(),
                "client_credentials" | "code_exchange" | "refresh"
            )
    });
    if let Some((p99, r)) = writes
        .map(|r| (r.outcome.quantile_ms(0.99), r))
        .max_by(|a, b| a.0.total_cmp(&b.0))
    {
        lines.push(format!(
            "  {:<9} p99 of writes at 64 < 25 ms: worst {p99:.1} ms ({})",
            verdict(p99 < 25.0),
            r.scenario
        ));
    }
    for r in rows.iter().filter(|r| {
        r.source == Source::Oauthd
            && r.backend == Backend::Postgres
            && r.scenario == "client_credentials"
    }) {
        if let Some(us) = r.outcome.cpu_per_request() {
            lines.push(format!(
                "  {:<9} CPU per client_credentials request at {}: {us:.0} µs (want < 80)",
                verdict(us < 80.0),
                r.conns
            ));
        }
    }
    for r in rows.iter().filter(|r| {
        r.source == Source::Oauthd && r.backend == Backend::Postgres && r.scenario.ends_with("+1M")
    }) {
        if let Some((_, empty)) = r.ceiling {
            let x = rate(r) / empty;
            lines.push(format!(
                "  {:<9} {} at {}: {x:.2} of the empty-db rate (want 0.85 to 1.15)",
                verdict((0.85..=1.15).contains(&x)),
                r.scenario,
                r.conns
            ));
        }
    }
    if !lines.is_empty() {
        println!("\ntargets (issue 14, postgres):");
        for line in lines {
            println!("{line}");
        }
    }
}
