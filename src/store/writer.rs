//! The token writers: issuances queued by concurrent token requests are
//! stored together, one transaction per batch, and each request is
//! answered only after the transaction that holds its tokens commits.
//!
//! A fixed set of writer tasks, each with a bounded queue. A writer takes
//! what its queue holds (up to the batch size, waiting at most the batch
//! wait for more) and runs [`batch::store`] in one transaction. A full queue
//! refuses at once ([`Error::Overloaded`], 503): back-pressure instead of
//! an unbounded backlog. A failed batch fails each of its requests with the
//! same error and writes nothing; one that failed transiently (a deadlock
//! broken by Postgres, a serialization failure) is run once more first.
//!
//! Ordering against revocation: every issuance of one grant goes to the
//! same writer, which never puts two of them in one batch. Within the batch
//! transaction the grant row is claimed before anything is written for it,
//! exactly as on the one-request path, so a revocation of the grant either
//! commits first (the claim fails and nothing is issued) or waits for the
//! batch's commit and then revokes what it issued.

use std::collections::VecDeque;
use std::hash::{BuildHasher, RandomState};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use tokio::sync::{mpsc, oneshot};
use tokio::time::Instant;

use super::batch::{self, Issuance};
use super::{Db, Error, pg};
use crate::config::WriteConfig;
use crate::metrics::Metrics;

/// One queued issuance, where its answer goes, and when its request stops
/// waiting for the database (the acquire timeout after it was queued, the
/// bound a one-request statement has).
struct Job {
    issuance: Issuance,
    reply: oneshot::Sender<Result<bool, Error>>,
    until: Instant,
}

/// The handle requests submit to; dropping every clone stops the writers
/// once their queues are empty.
#[derive(Debug)]
pub struct Writer {
    queues: Vec<mpsc::Sender<Job>>,
    /// Spreads issuances without a grant over the writers.
    next: AtomicUsize,
    /// Picks a grant's writer.
    hasher: RandomState,
    /// How long a queued issuance may take to be stored.
    limit: Duration,
    /// Submitted and not answered yet.
    waiting: Arc<AtomicUsize>,
}

/// How much work the writers hold.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Backlog {
    /// Issuances in the queues, not yet taken into a batch.
    pub queued: usize,
    /// Requests waiting for an answer: queued, or in a batch being written.
    pub waiting: usize,
}

/// Counts a request as waiting until it is answered or gone.
struct Waiting(Arc<AtomicUsize>);

impl Waiting {
    fn new(count: &Arc<AtomicUsize>) -> Self {
        count.fetch_add(1, Ordering::Relaxed);
        Self(Arc::clone(count))
    }
}

impl Drop for Waiting {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}

/// What every writer task shares.
#[derive(Clone, Debug)]
struct Shared {
    db: Db,
    config: WriteConfig,
    metrics: Arc<Metrics>,
}

impl Writer {
    /// Starts `config.writers` writer tasks on the current runtime; an
    /// issuance not stored within `limit` of being queued fails with 503.
    /// Committed batches are counted in `metrics`.
    pub fn start(db: &Db, config: WriteConfig, limit: Duration, metrics: Arc<Metrics>) -> Self {
        let shared = Shared {
            db: db.clone(),
            config,
            metrics,
        };
        let queues = (0..config.writers.max(1))
            .map(|_| {
                let (queue, jobs) = mpsc::channel(config.queue_size.max(1));
                tokio::spawn(run(shared.clone(), jobs));
                queue
            })
            .collect();
        Self {
            queues,
            next: AtomicUsize::new(0),
            hasher: RandomState::new(),
            limit,
            waiting: Arc::default(),
        }
    }

    /// What the writers hold now (for diagnostics and tests).
    pub fn backlog(&self) -> Backlog {
        Backlog {
            queued: self
                .queues
                .iter()
                .map(|q| q.max_capacity() - q.capacity())
                .sum(),
            waiting: self.waiting.load(Ordering::Relaxed),
        }
    }

    /// Queues `issuance` and waits until its batch is committed: true when
    /// it was stored, false when it was refused (see [`batch`]).
    pub async fn submit(&self, issuance: Issuance) -> Result<bool, Error> {
        let shard = match issuance.grant_id() {
            Some(grant) => usize::try_from(self.hasher.hash_one(grant)).unwrap_or(0),
            None => self.next.fetch_add(1, Ordering::Relaxed),
        } % self.queues.len();
        let _waiting = Waiting::new(&self.waiting);
        let (reply, answer) = oneshot::channel();
        self.queues[shard]
            .try_send(Job {
                issuance,
                reply,
                until: Instant::now() + self.limit,
            })
            .map_err(|_| Error::Overloaded)?;
        answer.await.map_err(|_| Error::Overloaded)?
    }
}

/// One writer: batch, store, answer, until every sender is gone.
async fn run(shared: Shared, mut jobs: mpsc::Receiver<Job>) {
    let config = shared.config;
    let mut own = pg::Own::default();
    // Issuances of a grant already in the batch wait for the next one.
    let mut held_back: VecDeque<Job> = VecDeque::new();
    loop {
        let mut batch: Vec<Job> = Vec::with_capacity(config.batch_size);
        let mut grants: Vec<String> = Vec::new();
        let mut add = |job: Job, batch: &mut Vec<Job>, held_back: &mut VecDeque<Job>| {
            if let Some(grant) = job.issuance.grant_id() {
                if grants.iter().any(|g| g == grant) {
                    held_back.push_back(job);
                    return;
                }
                grants.push(grant.to_owned());
            }
            batch.push(job);
        };
        let waiting = std::mem::take(&mut held_back);
        for job in waiting {
            add(job, &mut batch, &mut held_back);
        }
        if batch.is_empty() {
            match jobs.recv().await {
                Some(job) => add(job, &mut batch, &mut held_back),
                None => return,
            }
        }
        let until = Instant::now() + config.batch_wait;
        while batch.len() < config.batch_size {
            match jobs.try_recv() {
                Ok(job) => add(job, &mut batch, &mut held_back),
                Err(mpsc::error::TryRecvError::Empty) if config.batch_wait > Duration::ZERO => {
                    match tokio::time::timeout_at(until, jobs.recv()).await {
                        Ok(Some(job)) => add(job, &mut batch, &mut held_back),
                        Ok(None) | Err(_) => break,
                    }
                }
                Err(_) => break,
            }
        }
        write(&shared, &mut own, batch).await;
    }
}

/// Stores one batch and answers its requests. The batch has the deadline
/// of its most pressed request, and is abandoned (rolled back, its
/// connection closed if a statement was running) when every request that
/// waits for it has gone: nobody would learn what it stored.
async fn write(shared: &Shared, own: &mut pg::Own, batch: Vec<Job>) {
    let db = &shared.db;
    let now = Instant::now();
    let (late, batch): (Vec<Job>, Vec<Job>) = batch.into_iter().partition(|j| j.until <= now);
    for job in late {
        let _ = job.reply.send(Err(timed_out()));
    }
    let Some(until) = batch.iter().map(|j| j.until).min() else {
        return;
    };
    let mut issuances = Vec::with_capacity(batch.len());
    let mut replies = Vec::with_capacity(batch.len());
    for job in batch {
        issuances.push(job.issuance);
        replies.push(job.reply);
    }
    let attempt = async {
        let mut outcome = store(db, own, until, &issuances).await;
        // A deadlock or serialization failure broken by Postgres: once more.
        if outcome.as_ref().is_err_and(is_retryable) {
            outcome = store(db, own, until, &issuances).await;
        }
        outcome
    };
    let outcome = tokio::select! {
        outcome = tokio::time::timeout_at(until, attempt) => Some(outcome.unwrap_or_else(|_| Err(timed_out()))),
        () = all_gone(&mut replies) => None,
    };
    // Cut off midway (past the deadline, or nobody waiting any more): the
    // statement may still run on the server, so its connection goes now.
    own.drop_if_cancelled();
    let Some(outcome) = outcome else {
        return;
    };
    match outcome {
        Ok(stored) => {
            shared.metrics.write_batch(stored.len());
            for (reply, stored) in replies.into_iter().zip(stored) {
                let _ = reply.send(Ok(stored));
            }
        }
        Err(e) => {
            tracing::warn!(
                error = %crate::telemetry::error_chain(&e),
                batch = issuances.len(),
                "a token write batch failed; its requests are answered 503 or 500"
            );
            for reply in replies {
                let _ = reply.send(Err(copy_of(&e)));
            }
        }
    }
}

/// Resolves once no request waits for an answer any more.
async fn all_gone(replies: &mut [oneshot::Sender<Result<bool, Error>>]) {
    for reply in replies {
        reply.closed().await;
    }
}

fn timed_out() -> Error {
    Error::Unavailable(sqlx::Error::PoolTimedOut)
}

/// Postgres broke a deadlock (40P01) or a serialization failure (40001).
fn is_retryable(e: &Error) -> bool {
    matches!(e, Error::Unavailable(sqlx::Error::Database(db))
        if matches!(db.code().as_deref(), Some("40001" | "40P01")))
}

/// One transaction for the whole batch (one statement, when that is all
/// it needs); on Postgres on the writer's own connection.
async fn store(
    db: &Db,
    own: &mut pg::Own,
    until: Instant,
    issuances: &[Issuance],
) -> Result<Vec<bool>, Error> {
    if let Db::Postgres(pool) = db {
        return Ok(own
            .run(pool, until, async |conn| {
                batch::store_on(conn, issuances).await
            })
            .await?);
    }
    let mut tx = db.begin().await?;
    let stored = batch::store(&mut tx, issuances).await?;
    tx.commit().await?;
    Ok(stored)
}

/// The same failure for every request of a failed batch (`sqlx::Error` is
/// not `Clone`): the same variant, its cause as text.
fn copy_of(e: &Error) -> Error {
    let cause = || sqlx::Error::Protocol(crate::telemetry::error_chain(e));
    match e {
        Error::Unavailable(_) => Error::Unavailable(cause()),
        Error::Db(_) => Error::Db(cause()),
        Error::Overloaded => Error::Overloaded,
        Error::Conflict => Error::Conflict,
        Error::Corrupt(s) => Error::Corrupt(s.clone()),
    }
}
