//! The janitor: deletes expired codes, tokens, pending requests and sessions
//! (and audit events past their retention)
//! in bounded batches on an interval, so tables do not grow without bound and
//! no single statement holds a long lock.
//!
//! Expiry is always enforced by time checks where rows are read; the janitor
//! only reclaims space. Used codes and retired refresh tokens are kept for
//! `janitor.retention` past their end so a replay is still recognised.

use std::time::Duration;

use crate::clock::Clock;
use crate::config::Config;
use crate::oauth::token::seconds;
use crate::store::{self, Db};

/// Runs passes until a pass deletes less than a full batch of everything;
/// returns the number of rows deleted.
pub async fn run_once(db: &Db, clock: &Clock, config: &Config) -> Result<u64, store::Error> {
    let batch = i64::from(config.janitor.batch_size);
    let mut total = 0;
    loop {
        let now = clock.now();
        let cut = store::janitor::Cutoffs {
            now,
            ended_before: now.saturating_sub(seconds(config.janitor.retention)),
            idle_before: now.saturating_sub(seconds(config.sessions.idle_timeout)),
            audit_before: config
                .janitor
                .audit_retention
                .map(|keep| now.saturating_sub(seconds(keep))),
        };
        let deleted = store::janitor::sweep_once(db, cut, batch).await?;
        total += deleted;
        if deleted < u64::try_from(batch).unwrap_or(u64::MAX) {
            return Ok(total);
        }
        // Let other writers in between batches (SQLite has one writer).
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// Runs the janitor every `janitor.interval` until the task is dropped.
pub async fn run_forever(
    db: Db,
    clock: Clock,
    config: Config,
    metrics: std::sync::Arc<crate::metrics::Metrics>,
) {
    let mut ticker = tokio::time::interval(config.janitor.interval);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        ticker.tick().await;
        match run_once(&db, &clock, &config).await {
            Ok(n) => {
                metrics.janitor_pass(Some(n));
                if n > 0 {
                    tracing::info!(rows.deleted = n, "janitor removed {n} expired rows");
                }
            }
            Err(e) => {
                metrics.janitor_pass(None);
                tracing::warn!(error = %crate::telemetry::error_chain(&e), "janitor pass failed");
            }
        }
    }
}
