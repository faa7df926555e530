//! tracing set-up: human-readable lines by default, JSON on request.
//!
//! Logs go to stderr. What is logged is decided where it happens; the rules
//! are in ARCHITECTURE.md: no secrets, no URIs with query strings, failures
//! logged once where they are handled.

use std::io::IsTerminal;

use tracing_subscriber::EnvFilter;

use crate::config::{LogConfig, LogFormat};

/// Installs the global subscriber. `RUST_LOG`, when set, overrides `log.level`.
pub fn init(config: &LogConfig) {
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
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(std::io::stderr().is_terminal())
        .with_writer(std::io::stderr);
    // A second init (tests) fails harmlessly.
    let _ = match config.format {
        LogFormat::Pretty => builder.try_init(),
        LogFormat::Json => builder.json().flatten_event(true).try_init(),
    };
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
