//! tracing set-up: human-readable lines by default, JSON on request.
//!
//! Logs go to stderr in batches: a request formats its line and appends it
//! to a buffer in memory, and a flusher thread writes what the buffer holds
//! in one system call every [`FLUSH_EVERY`]. Nobody is woken per line, which
//! at thousands of requests a second costs more than the line itself. No
//! line is ever dropped: a buffer that grows past [`PENDING_LIMIT`] (stderr
//! slower than the server) is written out by the thread that logs, which
//! then waits for stderr like a direct writer would, and [`LogGuard`]
//! writes out the rest when dropped. What is logged is decided where it
//! happens; the rules are in ARCHITECTURE.md: no secrets, no URIs with query
//! strings, failures logged once where they are handled, one info line per
//! request.

use std::fmt;
use std::io::{IsTerminal, Write};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::thread::JoinHandle;
use std::time::Duration;

use serde_json::{Map, Value};
use tracing::field::{Field, Visit};
use tracing::{Event, Subscriber};
use tracing_subscriber::EnvFilter;
use tracing_subscriber::fmt::format::{JsonFields, Writer};
use tracing_subscriber::fmt::time::{FormatTime, SystemTime};
use tracing_subscriber::fmt::{FmtContext, FormatEvent, FormatFields, FormattedFields};
use tracing_subscriber::registry::LookupSpan;

use crate::config::{LogConfig, LogFormat};

/// How long a logged line may wait in memory before it reaches stderr.
const FLUSH_EVERY: Duration = Duration::from_millis(20);

/// Logged bytes past which the logging thread writes them out itself.
const PENDING_LIMIT: usize = 256 * 1024;

/// Lines logged and not yet written to stderr, shared by every logging
/// thread and the flusher.
#[derive(Debug, Default)]
struct Pending {
    lines: Mutex<Vec<u8>>,
    /// Set when the guard is dropped; the flusher writes out and ends.
    stopped: Mutex<bool>,
    wake: Condvar,
}

impl Pending {
    fn lines(&self) -> MutexGuard<'_, Vec<u8>> {
        self.lines.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Writes out what is pending, in order: the lock is held through the
    /// write, so a line logged meanwhile waits rather than overtakes. A
    /// failed write (stderr closed) loses what it held; nothing can say so.
    fn write_out(lines: &mut Vec<u8>) {
        if !lines.is_empty() {
            let _ = std::io::stderr().lock().write_all(lines);
            lines.clear();
        }
    }
}

/// What the subscriber writes each formatted line into.
#[derive(Clone, Debug)]
struct Lines {
    pending: Arc<Pending>,
    /// No flusher thread runs: each line is written out as it is logged.
    direct: bool,
}

impl Write for Lines {
    fn write(&mut self, line: &[u8]) -> std::io::Result<usize> {
        let mut lines = self.pending.lines();
        lines.extend_from_slice(line);
        if self.direct || lines.len() >= PENDING_LIMIT {
            Pending::write_out(&mut lines);
        }
        Ok(line.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Keeps the flusher thread; dropping it writes out every pending line.
/// Hold it until the process is about to exit.
#[must_use = "dropping the guard stops the log flusher"]
#[derive(Debug)]
pub struct LogGuard {
    pending: Arc<Pending>,
    flusher: Option<JoinHandle<()>>,
}

impl Drop for LogGuard {
    fn drop(&mut self) {
        *self
            .pending
            .stopped
            .lock()
            .unwrap_or_else(PoisonError::into_inner) = true;
        self.pending.wake.notify_one();
        if let Some(flusher) = self.flusher.take() {
            let _ = flusher.join();
        }
        Pending::write_out(&mut self.pending.lines());
    }
}

/// The flusher: every [`FLUSH_EVERY`], write out what is pending.
fn flush_until_stopped(pending: &Pending) {
    let mut stopped = pending
        .stopped
        .lock()
        .unwrap_or_else(PoisonError::into_inner);
    while !*stopped {
        stopped = pending
            .wake
            .wait_timeout(stopped, FLUSH_EVERY)
            .unwrap_or_else(PoisonError::into_inner)
            .0;
        Pending::write_out(&mut pending.lines());
    }
}

/// Installs the global subscriber. `RUST_LOG`, when set, overrides `log.level`.
pub fn init(config: &LogConfig) -> LogGuard {
    // sqlx reports every statement at info and Postgres notices at info; keep
    // them at warn unless the operator names sqlx in the level.
    let level = if config.level.contains("sqlx") {
        config.level.clone()
    } else {
        format!("{},sqlx=warn", config.level)
    };
    let filter = EnvFilter::try_from_default_env()
        .or_else(|_| EnvFilter::try_new(&level))
        .unwrap_or_else(|_| EnvFilter::new("info"));
    let pending = Arc::new(Pending::default());
    let flusher = {
        let pending = Arc::clone(&pending);
        std::thread::Builder::new()
            .name("oauthd-log".into())
            .spawn(move || flush_until_stopped(&pending))
    };
    let flusher = flusher.ok();
    let lines = Lines {
        pending: Arc::clone(&pending),
        direct: flusher.is_none(),
    };
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(move || lines.clone());
    // A second init (tests) fails harmlessly.
    let _ = match config.format {
        LogFormat::Pretty => builder
            .with_ansi(std::io::stderr().is_terminal())
            .try_init(),
        LogFormat::Json => builder
            .with_ansi(false)
            .fmt_fields(JsonFields::new())
            .event_format(FlatJson)
            .try_init(),
    };
    LogGuard { pending, flusher }
}

/// One JSON object per line: `timestamp`, `level`, `target`, the fields of
/// every enclosing span (the request span's `request.id`, `http.method`,
/// `http.route`, `client.ip`, `client.id`), then the event's own fields
/// (`message`, and on access lines `http.status` and `latency_ms`), all at the
/// top level so log pipelines need no nested lookups.
struct FlatJson;

impl<S, N> FormatEvent<S, N> for FlatJson
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    N: for<'a> FormatFields<'a> + 'static,
{
    fn format_event(
        &self,
        ctx: &FmtContext<'_, S, N>,
        mut writer: Writer<'_>,
        event: &Event<'_>,
    ) -> fmt::Result {
        let mut line = Map::new();
        let mut timestamp = String::new();
        SystemTime.format_time(&mut Writer::new(&mut timestamp))?;
        line.insert("timestamp".into(), timestamp.into());
        let meta = event.metadata();
        line.insert("level".into(), meta.level().to_string().into());
        line.insert("target".into(), meta.target().into());
        if let Some(scope) = ctx.event_scope() {
            for span in scope.from_root() {
                let extensions = span.extensions();
                // JsonFields keeps each span's fields as a JSON object.
                if let Some(fields) = extensions.get::<FormattedFields<N>>()
                    && let Ok(Value::Object(fields)) = serde_json::from_str(fields)
                {
                    line.extend(fields);
                }
            }
        }
        event.record(&mut Fields(&mut line));
        writeln!(writer, "{}", Value::Object(line))
    }
}

/// Collects an event's fields into the line's map.
struct Fields<'a>(&'a mut Map<String, Value>);

impl Visit for Fields<'_> {
    fn record_str(&mut self, field: &Field, value: &str) {
        self.0.insert(field.name().into(), value.into());
    }

    fn record_i64(&mut self, field: &Field, value: i64) {
        self.0.insert(field.name().into(), value.into());
    }

    fn record_u64(&mut self, field: &Field, value: u64) {
        self.0.insert(field.name().into(), value.into());
    }

    fn record_bool(&mut self, field: &Field, value: bool) {
        self.0.insert(field.name().into(), value.into());
    }

    fn record_f64(&mut self, field: &Field, value: f64) {
        let number = serde_json::Number::from_f64(value).map_or(Value::Null, Value::Number);
        self.0.insert(field.name().into(), number);
    }

    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        self.0
            .insert(field.name().into(), format!("{value:?}").into());
    }
}

/// An error and its causes on one line (`outer: inner: root`), for logs and
/// CLI messages. Never for response bodies.
pub fn error_chain(e: &dyn std::error::Error) -> String {
    let mut out = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        // Some errors repeat their source's text in their own; say it once.
        let text = s.to_string();
        if !out.contains(&text) {
            out.push_str(": ");
            out.push_str(&text);
        }
        source = s.source();
    }
    out
}
