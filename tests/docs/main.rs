//! Docs that are tested: the fenced shell blocks of README.md and the guides,
//! run in order against the real `oauthd` binary on a fresh database.
//!
//! For each page and backend (SQLite, and Postgres on the server named by
//! `TEST_DATABASE_URL`, the local one by default) the runner makes a temp
//! directory, picks free loopback ports, and runs ONE `bash` process in that
//! directory: `set -euo pipefail`, then `prelude.sh` (which starts
//! `oauthd serve` there and defines the helpers that stand in for a browser),
//! then every runnable block of the page in order, so shell variables carry
//! from block to block. The built binary is on `PATH` as `oauthd`, and the
//! CLI sees the same `OAUTHD_*` settings as the server, so CLI examples work
//! on the server's database. The documented addresses `127.0.0.1:8080` (the
//! server) and `127.0.0.1:9464` (metrics) are replaced by the real ones.
//!
//! Which blocks run (docs/contributing.md says the same):
//! - a fence whose info string is exactly `sh` runs;
//! - `sh no-run` (production, systemd, nginx…), `console`, `text`, `toml`,
//!   `json` and every other fence never run;
//! - an HTML comment `<!-- docs-test` … `-->` runs, invisible on GitHub: it
//!   holds what a person does in a browser (sign in, approve) as curl, or a
//!   server restart with a new config.
//!
//! A failing block fails the run with the page, the block's line and its
//! output. A page with no runnable block fails too, so the runner can never
//! pass by running nothing. The output says `docs: PAGE passed on BACKEND`
//! per page, which `.ci/run` checks.
//!
//! This is a `harness = false` test so that those lines reach the output of
//! a plain `cargo test`. Positional arguments filter by `PAGE::BACKEND`.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "a test fails by panicking, helpers included"
)]

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode, Stdio};
use std::time::{Duration, Instant};

use sqlx::{AssertSqlSafe, Connection, Executor, PgConnection};

/// The pages whose blocks run, from the repository root.
const PAGES: &[&str] = &[
    "README.md",
    "docs/clients.md",
    "docs/operators.md",
    "docs/oidc.md",
];

/// The prelude every page's script starts with.
const PRELUDE: &str = include_str!("prelude.sh");

/// The most one page may take before it counts as hung.
const PAGE_TIMEOUT_SECS: u64 = 120;

/// The server the Postgres runs create their databases on when
/// `TEST_DATABASE_URL` is not set: the local one, as on the CI machine.
const DEFAULT_TEST_DATABASE_URL: &str = "postgres://postgres@127.0.0.1:5432/postgres";

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Backend {
    Sqlite,
    Postgres,
}

impl Backend {
    fn name(self) -> &'static str {
        match self {
            Self::Sqlite => "sqlite",
            Self::Postgres => "postgres",
        }
    }
}

/// One runnable block: where it starts in the page, and its text.
#[derive(Debug, PartialEq, Eq)]
struct Block {
    line: usize,
    code: String,
}

/// The runnable blocks of a Markdown page, in order.
fn runnable_blocks(markdown: &str) -> Vec<Block> {
    let mut blocks = Vec::new();
    let mut lines = markdown.lines().enumerate();
    while let Some((index, line)) = lines.next() {
        let trimmed = line.trim_start();
        let indent = line.len() - trimmed.len();
        if let Some(fence) = ["```", "~~~"].into_iter().find(|f| trimmed.starts_with(f)) {
            let marker_len = trimmed
                .chars()
                .take_while(|c| *c == fence.as_bytes()[0] as char)
                .count();
            let info = trimmed[marker_len..].trim();
            let runs = info == "sh";
            let mut code = String::new();
            for (_, body) in lines.by_ref() {
                let body_trimmed = body.trim_start();
                if body_trimmed.starts_with(&trimmed[..marker_len])
                    && body_trimmed[marker_len..].trim().is_empty()
                {
                    break;
                }
                // Blocks inside list items are indented like their fence.
                let strip = body.len() - body_trimmed.len();
                code.push_str(&body[strip.min(indent)..]);
                code.push('\n');
            }
            if runs {
                blocks.push(Block {
                    line: index + 1,
                    code,
                });
            }
        } else if trimmed.starts_with("<!-- docs-test") {
            let mut code = String::new();
            let rest = trimmed.trim_start_matches("<!-- docs-test").trim();
            if let Some(inline) = rest.strip_suffix("-->") {
                code.push_str(inline);
                code.push('\n');
            } else {
                for (_, body) in lines.by_ref() {
                    if body.trim() == "-->" {
                        break;
                    }
                    code.push_str(body);
                    code.push('\n');
                }
            }
            blocks.push(Block {
                line: index + 1,
                code,
            });
        }
    }
    blocks
}

/// The documented addresses replaced by the real ones.
fn substitute(code: &str, port: u16, metrics_port: u16) -> String {
    code.replace("127.0.0.1:8080", &format!("127.0.0.1:{port}"))
        .replace("127.0.0.1:9464", &format!("127.0.0.1:{metrics_port}"))
}

/// The bash script for one page: the prelude, then each block behind a
/// marker line that says where it starts.
fn script(page: &str, blocks: &[Block], port: u16, metrics_port: u16) -> String {
    let mut s = String::from("set -euo pipefail\nexec 2>&1\n");
    s.push_str(PRELUDE);
    for block in blocks {
        let _ = writeln!(s, "printf '\\n::docs-block {page}:{}\\n'", block.line);
        s.push_str(&substitute(&block.code, port, metrics_port));
        s.push('\n');
    }
    s.push_str("printf '\\n::docs-done\\n'\n");
    s
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .expect("bind a free port")
        .local_addr()
        .expect("local address")
        .port()
}

fn test_database_url() -> String {
    std::env::var("TEST_DATABASE_URL").unwrap_or_else(|_| DEFAULT_TEST_DATABASE_URL.to_owned())
}

/// A fresh Postgres database for one run, dropped again by `drop_pg`.
fn create_pg(rt: &tokio::runtime::Runtime, tag: &str) -> Result<(String, String), String> {
    let admin_url = test_database_url();
    rt.block_on(async {
        let mut conn = PgConnection::connect(&admin_url).await.map_err(|e| {
            let mut shown = url::Url::parse(&admin_url).map_or_else(|_| "TEST_DATABASE_URL".to_owned(), |mut u| {
                let _ = u.set_password(None);
                u.to_string()
            });
            shown.truncate(200);
            format!(
                "the Postgres run of the docs needs a server where it may create databases, and {shown} \
                 did not answer ({e}): start Postgres there, or set TEST_DATABASE_URL to one that does \
                 (bash .ci/run starts the local one if needed)"
            )
        })?;
        let now = oauthd::clock::Clock::system().now();
        // `oauthd_test_<unix>_…`, so the suite's sweep of stale databases
        // also clears ours after a crash.
        let name = format!("oauthd_test_{now}_docs{tag}{}", std::process::id());
        conn.execute(AssertSqlSafe(format!("create database \"{name}\"")))
            .await
            .map_err(|e| format!("create database {name}: {e}"))?;
        let mut url = url::Url::parse(&admin_url).map_err(|e| e.to_string())?;
        url.set_path(&format!("/{name}"));
        Ok((url.to_string(), name))
    })
}

fn drop_pg(rt: &tokio::runtime::Runtime, name: &str) {
    let admin_url = test_database_url();
    rt.block_on(async {
        if let Ok(mut conn) = PgConnection::connect(&admin_url).await {
            let _ = conn
                .execute(AssertSqlSafe(format!(
                    "drop database if exists \"{name}\" with (force)"
                )))
                .await;
        }
    });
}

/// Runs one page on one backend. `Ok` holds the number of blocks run.
fn run_page(root: &Path, bin_dir: &Path, page: &str, backend: Backend) -> Result<usize, String> {
    let markdown = std::fs::read_to_string(root.join(page)).map_err(|e| format!("{page}: {e}"))?;
    let blocks = runnable_blocks(&markdown);
    if blocks.is_empty() {
        return Err(format!(
            "{page}: no runnable block (```sh or <!-- docs-test -->)"
        ));
    }
    let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| e.to_string())?;
    let tag = page
        .replace(|c: char| !c.is_ascii_alphanumeric(), "")
        .to_ascii_lowercase();
    let (database_url, pg_name) = match backend {
        Backend::Sqlite => ("sqlite://oauthd.db".to_owned(), None),
        Backend::Postgres => {
            let (url, name) = create_pg(&rt, &tag)?;
            (url, Some(name))
        }
    };
    let port = free_port();
    let metrics_port = free_port();
    let script_path = dir.path().join(".docs-script.sh");
    std::fs::write(&script_path, script(page, &blocks, port, metrics_port))
        .map_err(|e| e.to_string())?;
    let path = format!(
        "{}:{}",
        bin_dir.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let mut command = Command::new("timeout");
    command
        .arg(PAGE_TIMEOUT_SECS.to_string())
        .arg("bash")
        .arg(&script_path)
        .current_dir(dir.path())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    // Nothing from the caller's environment chooses the database or the
    // config; the page sees only what a fresh server would.
    for (key, _) in std::env::vars() {
        if key.starts_with("OAUTHD_") || key == "DATABASE_URL" || key == "RUST_LOG" {
            command.env_remove(key);
        }
    }
    command
        .env("PATH", path)
        .env("DOCS_URL", format!("http://127.0.0.1:{port}"))
        .env("DOCS_SERVER_LOG", dir.path().join(".docs-server.log"))
        .env("DOCS_REPO", root)
        .env("DATABASE_URL", &database_url)
        .env("OAUTHD_LISTEN", format!("127.0.0.1:{port}"))
        .env("OAUTHD_PUBLIC_URL", format!("http://127.0.0.1:{port}"))
        .env(
            "OAUTHD_METRICS__LISTEN",
            format!("127.0.0.1:{metrics_port}"),
        )
        // The pages register more clients in a minute than the default
        // per-address limit allows, and poll devices without waiting 5 s.
        .env("OAUTHD_LIMITS__REGISTER_PER_MINUTE", "0")
        .env("OAUTHD_DEVICE__INTERVAL_SECS", "1");
    let started = Instant::now();
    let output = command.output().map_err(|e| format!("run bash: {e}"));
    // The prelude stops the server on exit; make sure of it if bash died.
    if let Ok(pid) = std::fs::read_to_string(dir.path().join(".docs-server.pid")) {
        let _ = Command::new("kill")
            .arg(pid.trim())
            .stderr(Stdio::null())
            .status();
    }
    if let Some(name) = &pg_name {
        drop_pg(&rt, name);
    }
    let output = output?;
    let mut text = String::from_utf8_lossy(&output.stdout).into_owned();
    text.push_str(&String::from_utf8_lossy(&output.stderr));
    if output.status.success() && text.lines().any(|l| l == "::docs-done") {
        return Ok(blocks.len());
    }
    // The last block that started is the one that failed.
    let (at, tail) = match text.rfind("\n::docs-block ") {
        Some(i) => {
            let rest = &text[i + "\n::docs-block ".len()..];
            let (at, tail) = rest.split_once('\n').unwrap_or((rest, ""));
            (at.to_owned(), tail.to_owned())
        }
        None => (format!("{page} (the prelude)"), text.clone()),
    };
    let timed_out = if started.elapsed() >= Duration::from_secs(PAGE_TIMEOUT_SECS) {
        format!(" (timed out after {PAGE_TIMEOUT_SECS} s)")
    } else {
        String::new()
    };
    let server_log =
        std::fs::read_to_string(dir.path().join(".docs-server.log")).unwrap_or_default();
    let server_tail: Vec<&str> = server_log.lines().rev().take(15).collect();
    let server_tail: Vec<&str> = server_tail.into_iter().rev().collect();
    Err(format!(
        "docs: the block at {at} failed on {} with {}{timed_out}; its output:\n{}\n--- the server's last log lines:\n{}",
        backend.name(),
        output.status,
        tail.trim_end(),
        server_tail.join("\n")
    ))
}

/// The Markdown files whose links are checked: the README and every guide.
fn markdown_files(root: &Path) -> Vec<PathBuf> {
    let mut files = vec![root.join("README.md"), root.join("ARCHITECTURE.md")];
    let mut guides: Vec<PathBuf> = std::fs::read_dir(root.join("docs"))
        .expect("docs/")
        .map(|e| e.expect("a docs/ entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "md"))
        .collect();
    guides.sort();
    files.extend(guides);
    files
}

/// The lines of a Markdown page outside fenced code blocks.
fn prose_lines(markdown: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let mut fence: Option<String> = None;
    for line in markdown.lines() {
        let trimmed = line.trim_start();
        let marker: String = trimmed
            .chars()
            .take_while(|c| *c == '`' || *c == '~')
            .collect();
        match &fence {
            Some(open) => {
                if marker.len() >= open.len()
                    && marker.starts_with(&open[..1])
                    && trimmed[marker.len()..].trim().is_empty()
                {
                    fence = None;
                }
            }
            None if marker.len() >= 3 => fence = Some(marker),
            None => out.push(line),
        }
    }
    out
}

/// GitHub's anchors for the headings of a page.
fn anchors(markdown: &str) -> Vec<String> {
    let mut seen: Vec<String> = Vec::new();
    for line in prose_lines(markdown) {
        let Some(text) = line.strip_prefix('#') else {
            continue;
        };
        let text = text.trim_start_matches('#');
        if !text.starts_with(' ') {
            continue;
        }
        let slug: String = text
            .trim()
            .to_lowercase()
            .chars()
            .filter(|c| c.is_alphanumeric() || *c == ' ' || *c == '-' || *c == '_')
            .map(|c| if c == ' ' { '-' } else { c })
            .collect();
        let mut unique = slug.clone();
        let mut i = 1;
        while seen.contains(&unique) {
            unique = format!("{slug}-{i}");
            i += 1;
        }
        seen.push(unique);
    }
    seen
}

/// The targets of the inline links and images on a page (`](target)`),
/// outside code.
fn link_targets(markdown: &str) -> Vec<String> {
    let mut out = Vec::new();
    for line in prose_lines(markdown) {
        // Inline code spans may hold `](`; drop them first.
        let mut plain = String::new();
        for (i, part) in line.split('`').enumerate() {
            if i % 2 == 0 {
                plain.push_str(part);
            }
        }
        let mut rest = plain.as_str();
        while let Some(at) = rest.find("](") {
            rest = &rest[at + 2..];
            if let Some(end) = rest.find(')') {
                out.push(rest[..end].trim().to_owned());
                rest = &rest[end..];
            }
        }
    }
    out
}

/// Every relative link and anchor on the README and the guides resolves.
fn check_links(root: &Path) -> Result<usize, Vec<String>> {
    let mut broken = Vec::new();
    let mut checked = 0;
    for file in markdown_files(root) {
        let text = std::fs::read_to_string(&file).expect("a Markdown file");
        let shown = file
            .strip_prefix(root)
            .unwrap_or(&file)
            .display()
            .to_string();
        for target in link_targets(&text) {
            if target.contains("://") || target.starts_with("mailto:") {
                continue;
            }
            checked += 1;
            let (path, anchor) = target.split_once('#').unwrap_or((&target, ""));
            let resolved = if path.is_empty() {
                file.clone()
            } else {
                file.parent().expect("a parent").join(path)
            };
            if !resolved.exists() {
                broken.push(format!("{shown}: {target}: no such file"));
                continue;
            }
            if !anchor.is_empty() {
                let page = std::fs::read_to_string(&resolved).unwrap_or_default();
                if !anchors(&page).iter().any(|a| a == anchor) {
                    broken.push(format!("{shown}: {target}: no such heading"));
                }
            }
        }
    }
    if broken.is_empty() {
        Ok(checked)
    } else {
        Err(broken)
    }
}

/// Positional arguments filter by `PAGE::BACKEND`; libtest's flags (and
/// the values of those that take one) are ignored.
fn filters(args: &[String]) -> Vec<String> {
    let with_value = [
        "--skip",
        "--test-threads",
        "--format",
        "--color",
        "--logfile",
        "-Z",
    ];
    let mut out = Vec::new();
    let mut skip_next = false;
    for arg in args {
        if skip_next {
            skip_next = false;
        } else if with_value.contains(&arg.as_str()) {
            skip_next = true;
        } else if !arg.starts_with('-') {
            out.push(arg.clone());
        }
    }
    out
}

fn main() -> ExitCode {
    parser_selfcheck();
    let args: Vec<String> = std::env::args().skip(1).collect();
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let runs: Vec<(&str, Backend)> = PAGES
        .iter()
        .flat_map(|page| [(*page, Backend::Sqlite), (*page, Backend::Postgres)])
        .collect();
    if args.iter().any(|a| a == "--list") {
        for (page, backend) in &runs {
            println!("{page}::{}: test", backend.name());
        }
        return ExitCode::SUCCESS;
    }
    let missing: Vec<&str> = ["bash", "curl", "jq", "openssl", "timeout"]
        .into_iter()
        .filter(|tool| {
            !Command::new("sh")
                .arg("-c")
                .arg(format!("command -v {tool}"))
                .stdout(Stdio::null())
                .status()
                .is_ok_and(|s| s.success())
        })
        .collect();
    if !missing.is_empty() {
        println!(
            "docs: the docs runner needs {} on PATH (Debian: apt-get install curl jq openssl)",
            missing.join(", ")
        );
        return ExitCode::FAILURE;
    }
    match check_links(&root) {
        Ok(n) => println!("docs: {n} links and anchors resolve"),
        Err(broken) => {
            println!("docs: broken links:\n{}", broken.join("\n"));
            return ExitCode::FAILURE;
        }
    }
    let filters = filters(&args);
    let runs: Vec<(&str, Backend)> = runs
        .into_iter()
        .filter(|(page, backend)| {
            let name = format!("{page}::{}", backend.name());
            filters.is_empty() || filters.iter().any(|f| name.contains(f.as_str()))
        })
        .collect();
    if runs.is_empty() {
        println!("docs: no page matches the filter");
        return ExitCode::SUCCESS;
    }
    // A copy of the binary, so that a rebuild elsewhere cannot swap it
    // out under a running page.
    let bin = tempfile::tempdir().expect("temp dir");
    let exe = bin.path().join("oauthd");
    std::fs::copy(env!("CARGO_BIN_EXE_oauthd"), &exe).expect("copy the oauthd binary");
    let started = Instant::now();
    let results: Vec<(String, Result<usize, String>)> = std::thread::scope(|scope| {
        let handles: Vec<_> = runs
            .iter()
            .map(|(page, backend)| {
                let (root, bin_dir) = (&root, bin.path());
                scope.spawn(move || {
                    let name = format!("{page} on {}", backend.name());
                    (name, run_page(root, bin_dir, page, *backend))
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().expect("a page thread"))
            .collect()
    });
    let mut failed = 0;
    for (name, result) in &results {
        match result {
            Ok(blocks) => println!("docs: {name} passed ({blocks} blocks)"),
            Err(e) => {
                failed += 1;
                println!("docs: {name} FAILED\n{e}\n");
            }
        }
    }
    println!(
        "docs: {} of {} page runs passed in {:.1} s",
        results.len() - failed,
        results.len(),
        started.elapsed().as_secs_f64()
    );
    if failed == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}

/// The block parser, checked on a page of every kind of fence before any
/// page runs.
fn parser_selfcheck() {
    let page = "# t\n```sh\necho a\n```\n```sh no-run\necho b\n```\n```console\n$ echo c\n```\n\
                - item\n\n  ```sh\n  echo d\n  ```\n<!-- docs-test\necho e\n-->\n";
    let blocks = runnable_blocks(page);
    assert_eq!(
        blocks,
        vec![
            Block {
                line: 2,
                code: "echo a\n".into()
            },
            Block {
                line: 13,
                code: "echo d\n".into()
            },
            Block {
                line: 16,
                code: "echo e\n".into()
            },
        ]
    );
}
