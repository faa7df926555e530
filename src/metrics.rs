//! Prometheus metrics: the counters, gauges and histograms `GET /metrics`
//! renders (OpenMetrics text, which Prometheus scrapes natively).
//!
//! One [`Metrics`] per server, owned by `AppState`: no global registry, so
//! servers in one process (the tests) keep their own counts. The HTTP layer
//! counts requests, token answers and sign-ins where it renders them. Audit
//! events (code replays, refresh reuses, revocations) are detected deep in
//! `oauth::`, which has no state to carry a handle; the request middleware
//! makes the server's `Metrics` the request task's current one
//! ([`scope`]) and `audit` counts through [`with_current`]. Events outside a
//! request (the CLI) are not counted: they are not this server's.
//!
//! Labels come from fixed sets (route templates, methods, status codes, error
//! codes), never from request data, so a scanner cannot grow the series.

use std::future::Future;
use std::sync::Arc;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;

use crate::store::Db;

/// OpenMetrics text, what Prometheus asks for first.
const OPENMETRICS: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";
/// The classic Prometheus text format, for scrapers that do not ask for
/// OpenMetrics (and `promtool check metrics`).
const PROMETHEUS_TEXT: &str = "text/plain; version=0.0.4; charset=utf-8";

/// Upper bounds (seconds) of the request latency buckets.
const LATENCY_BUCKETS: [f64; 14] = [
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
];

/// One request's labels.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RequestLabels {
    /// The HTTP method ([`method_label`]).
    pub method: &'static str,
    /// The route template (`/settings/developers/{client_id}`), or
    /// `unmatched` for paths no route serves.
    pub route: String,
    /// The response status code.
    pub status: u16,
}

/// The method as a label: the ones oauthd serves, anything else `other`.
pub fn method_label(method: &axum::http::Method) -> &'static str {
    match *method {
        axum::http::Method::GET => "GET",
        axum::http::Method::HEAD => "HEAD",
        axum::http::Method::POST => "POST",
        axum::http::Method::OPTIONS => "OPTIONS",
        _ => "other",
    }
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct GrantLabels {
    grant_type: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ErrorLabels {
    error: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct OutcomeLabels {
    outcome: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct StateLabels {
    state: &'static str,
}

/// How a sign-in ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SigninOutcome {
    /// Right name and password.
    Succeeded,
    /// Wrong name or password, or a disabled user.
    Failed,
    /// Refused unchecked: too many recent failures from this address.
    Throttled,
}

impl SigninOutcome {
    fn as_str(self) -> &'static str {
        match self {
            Self::Succeeded => "succeeded",
            Self::Failed => "failed",
            Self::Throttled => "throttled",
        }
    }
}

/// How a device authorization request (RFC 8628) moved on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DeviceOutcome {
    /// A device started one.
    Started,
    /// The user approved it.
    Approved,
    /// The user denied it.
    Denied,
    /// A poll found it past its end (or spent by wrong user codes).
    Expired,
}

impl DeviceOutcome {
    fn as_str(self) -> &'static str {
        match self {
            Self::Started => "started",
            Self::Approved => "approved",
            Self::Denied => "denied",
            Self::Expired => "expired",
        }
    }
}

/// Every metric a server exposes.
#[derive(Debug)]
pub struct Metrics {
    registry: Registry,
    requests: Family<RequestLabels, Counter>,
    latency: Family<RequestLabels, Histogram, fn() -> Histogram>,
    tokens_issued: Family<GrantLabels, Counter>,
    token_errors: Family<ErrorLabels, Counter>,
    signins: Family<OutcomeLabels, Counter>,
    device_authorizations: Family<OutcomeLabels, Counter>,
    code_replays: Counter,
    refresh_reuses: Counter,
    revocations: Counter,
    janitor_rows: Counter,
    janitor_passes: Family<OutcomeLabels, Counter>,
    db_connections: Family<StateLabels, Gauge>,
    write_batches: Counter,
    batched_writes: Counter,
}

fn latency_histogram() -> Histogram {
    Histogram::new(LATENCY_BUCKETS)
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new(0)
    }
}

impl Metrics {
    /// A fresh registry with every metric at zero; `max_connections` is the
    /// configured pool size, exposed as a constant gauge.
    pub fn new(max_connections: u32) -> Self {
        let mut registry = Registry::with_prefix("oauthd");
        let requests = Family::<RequestLabels, Counter>::default();
        registry.register(
            "http_requests",
            "HTTP requests answered, by method, route template and status",
            requests.clone(),
        );
        let latency = Family::<RequestLabels, Histogram, fn() -> Histogram>::new_with_constructor(
            latency_histogram,
        );
        registry.register_with_unit(
            "http_request_duration",
            "Time from request to response head, by method, route template and status",
            prometheus_client::registry::Unit::Seconds,
            latency.clone(),
        );
        let tokens_issued = Family::<GrantLabels, Counter>::default();
        registry.register(
            "tokens_issued",
            "Successful token endpoint answers, by grant type",
            tokens_issued.clone(),
        );
        let token_errors = Family::<ErrorLabels, Counter>::default();
        registry.register(
            "token_errors",
            "Token endpoint error answers, by RFC 6749 error code",
            token_errors.clone(),
        );
        let signins = Family::<OutcomeLabels, Counter>::default();
        registry.register(
            "signins",
            "Sign-in attempts at /login, by outcome (succeeded, failed, throttled)",
            signins.clone(),
        );
        let device_authorizations = Family::<OutcomeLabels, Counter>::default();
        registry.register(
            "device_authorizations",
            "Device authorization requests (RFC 8628), by outcome (started, approved, denied, expired)",
            device_authorizations.clone(),
        );
        let code_replays = Counter::default();
        registry.register(
            "code_replays",
            "Used authorization codes presented again (the tokens they issued were revoked)",
            code_replays.clone(),
        );
        let refresh_reuses = Counter::default();
        registry.register(
            "refresh_reuses",
            "Retired refresh tokens presented again (their family was revoked)",
            refresh_reuses.clone(),
        );
        let revocations = Counter::default();
        registry.register(
            "revocations",
            "Tokens or grants revoked by a client (RFC 7009) or by a user on their pages",
            revocations.clone(),
        );
        let janitor_rows = Counter::default();
        registry.register(
            "janitor_rows_deleted",
            "Expired or retired rows the janitor deleted",
            janitor_rows.clone(),
        );
        let janitor_passes = Family::<OutcomeLabels, Counter>::default();
        registry.register(
            "janitor_passes",
            "Janitor passes, by outcome (ok, failed)",
            janitor_passes.clone(),
        );
        let db_connections = Family::<StateLabels, Gauge>::default();
        registry.register(
            "db_pool_connections",
            "Database pool connections at scrape time, by state (in_use, idle)",
            db_connections.clone(),
        );
        let write_batches = Counter::default();
        registry.register(
            "token_write_batches",
            "Transactions the token writers committed (database.writers)",
            write_batches.clone(),
        );
        let batched_writes = Counter::default();
        registry.register(
            "token_writes",
            "Token requests those transactions carried; divided by token_write_batches, the mean batch size",
            batched_writes.clone(),
        );
        let db_max_connections: Gauge = Gauge::default();
        db_max_connections.set(i64::from(max_connections));
        registry.register(
            "db_pool_max_connections",
            "The configured database pool size (database.max_connections)",
            db_max_connections,
        );
        let build_info = Family::<Vec<(&'static str, &'static str)>, Gauge>::default();
        build_info
            .get_or_create(&vec![("version", env!("CARGO_PKG_VERSION"))])
            .set(1);
        registry.register(
            "build_info",
            "Always 1; the version label says which oauthd is running",
            build_info,
        );
        Self {
            registry,
            requests,
            latency,
            tokens_issued,
            token_errors,
            signins,
            device_authorizations,
            code_replays,
            refresh_reuses,
            revocations,
            janitor_rows,
            janitor_passes,
            db_connections,
            write_batches,
            batched_writes,
        }
    }

    /// One committed token write batch of `size` requests.
    pub fn write_batch(&self, size: usize) {
        self.write_batches.inc();
        self.batched_writes
            .inc_by(u64::try_from(size).unwrap_or(u64::MAX));
    }

    /// One answered request and how long it took.
    pub fn request(&self, labels: &RequestLabels, seconds: f64) {
        self.requests.get_or_create(labels).inc();
        self.latency.get_or_create(labels).observe(seconds);
    }

    /// A token endpoint success for `grant_type` (one of the four the
    /// endpoint accepts).
    pub fn token_issued(&self, grant_type: &'static str) {
        self.tokens_issued
            .get_or_create(&GrantLabels { grant_type })
            .inc();
    }

    /// A token endpoint error answer with this RFC 6749 error code.
    pub fn token_error(&self, error: &'static str) {
        self.token_errors
            .get_or_create(&ErrorLabels { error })
            .inc();
    }

    /// A sign-in attempt's outcome.
    pub fn signin(&self, outcome: SigninOutcome) {
        self.signins
            .get_or_create(&OutcomeLabels {
                outcome: outcome.as_str(),
            })
            .inc();
    }

    /// A device authorization request moved on.
    pub fn device(&self, outcome: DeviceOutcome) {
        self.device_authorizations
            .get_or_create(&OutcomeLabels {
                outcome: outcome.as_str(),
            })
            .inc();
    }

    /// A replayed authorization code was refused (its grant revoked).
    pub fn code_replayed(&self) {
        self.code_replays.inc();
    }

    /// A reused refresh token was refused (its family revoked).
    pub fn refresh_reused(&self) {
        self.refresh_reuses.inc();
    }

    /// A token was revoked.
    pub fn token_revoked(&self) {
        self.revocations.inc();
    }

    /// A janitor pass: rows deleted, or failed.
    pub fn janitor_pass(&self, deleted: Option<u64>) {
        let outcome = match deleted {
            Some(n) => {
                self.janitor_rows.inc_by(n);
                "ok"
            }
            None => "failed",
        };
        self.janitor_passes
            .get_or_create(&OutcomeLabels { outcome })
            .inc();
    }

    /// Every metric, with the pool gauges read now, and its media type:
    /// OpenMetrics when `accept` asks for it, else the Prometheus text format.
    pub fn render(&self, db: &Db, accept: &str) -> (&'static str, String) {
        let (size, idle) = db.pool_usage();
        let idle = u32::try_from(idle).unwrap_or(u32::MAX);
        let in_use = size.saturating_sub(idle);
        self.db_connections
            .get_or_create(&StateLabels { state: "in_use" })
            .set(i64::from(in_use));
        self.db_connections
            .get_or_create(&StateLabels { state: "idle" })
            .set(i64::from(idle));
        let mut out = String::new();
        if let Err(e) = prometheus_client::encoding::text::encode(&mut out, &self.registry) {
            // Writing to a String cannot fail; say so if it ever does.
            tracing::error!(error = %e, "metrics encoding failed");
        }
        if accept.contains("application/openmetrics-text") {
            (OPENMETRICS, out)
        } else {
            (PROMETHEUS_TEXT, prometheus_text(&out))
        }
    }
}

/// OpenMetrics text to the Prometheus text format 0.0.4, for the metric
/// types used here (counters, gauges, histograms; no exemplars): a counter
/// family is named with its `_total` suffix in `HELP` and `TYPE`, and the
/// `UNIT` and `EOF` lines go.
fn prometheus_text(openmetrics: &str) -> String {
    let mut counters = std::collections::HashSet::new();
    for line in openmetrics.lines() {
        if let Some(name) = line
            .strip_prefix("# TYPE ")
            .and_then(|rest| rest.strip_suffix(" counter"))
        {
            counters.insert(name);
        }
    }
    let mut out = String::with_capacity(openmetrics.len());
    for line in openmetrics.lines() {
        if line.starts_with("# UNIT ") || line == "# EOF" {
            continue;
        }
        let family = ["# HELP ", "# TYPE "].iter().find_map(|prefix| {
            let rest = line.strip_prefix(prefix)?;
            let (name, tail) = rest.split_once(' ')?;
            counters
                .contains(name)
                .then(|| format!("{prefix}{name}_total {tail}"))
        });
        out.push_str(family.as_deref().unwrap_or(line));
        out.push('\n');
    }
    out
}

tokio::task_local! {
    static CURRENT: Arc<Metrics>;
}

/// Runs `future` (a request) with `metrics` as its task's current metrics.
pub async fn scope<F: Future>(metrics: Arc<Metrics>, future: F) -> F::Output {
    CURRENT.scope(metrics, future).await
}

/// Calls `f` with the current request's metrics, if there is a request.
pub fn with_current(f: impl FnOnce(&Metrics)) {
    let _ = CURRENT.try_with(|m| f(m));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prometheus_text_names_counter_families_with_their_suffix() {
        let om = "# HELP a_b Things.\n# TYPE a_b counter\na_b_total{x=\"1\"} 2\n\
                  # HELP d Time.\n# TYPE d histogram\n# UNIT d seconds\nd_count 1\n\
                  # HELP g Now.\n# TYPE g gauge\ng 3\n# EOF\n";
        assert_eq!(
            prometheus_text(om),
            "# HELP a_b_total Things.\n# TYPE a_b_total counter\na_b_total{x=\"1\"} 2\n\
             # HELP d Time.\n# TYPE d histogram\nd_count 1\n\
             # HELP g Now.\n# TYPE g gauge\ng 3\n"
        );
    }
}
