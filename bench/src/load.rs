//! The load generator: N keep-alive HTTP/1.1 connections, each sending its
//! next request as soon as it has read the previous answer (a closed loop, so
//! the rate measured is what the server sustains at that concurrency).

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::client::conn::http1::{self, SendRequest};
use hyper::header::{AUTHORIZATION, CONTENT_TYPE, HOST};
use hyper::{Method, Request, StatusCode};
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;

/// Any error, with its message.
pub(crate) type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// The redirect URI the bench client registers and its codes carry.
pub(crate) const REDIRECT_URI: &str = "http://127.0.0.1/cb";

/// A confidential client's `Authorization: Basic` value (RFC 6749 §2.3.1; the
/// generated id and secret need no form-encoding).
pub(crate) fn basic(id: &str, secret: &str) -> String {
    format!("Basic {}", STANDARD.encode(format!("{id}:{secret}")))
}

/// The server under load: where its connections go and whose CPU time
/// counts (one process, or several behind the same load split).
#[derive(Clone, Debug)]
pub(crate) struct Target {
    /// Listening addresses; connection `i` goes to `addrs[i % addrs.len()]`.
    pub(crate) addrs: Vec<SocketAddr>,
    /// The server's processes.
    pub(crate) pids: Vec<u32>,
}

/// What each request of a run is.
pub(crate) enum Scenario {
    /// `GET /healthz`: no database, the HTTP ceiling.
    Healthz,
    /// `grant_type=client_credentials`.
    ClientCredentials { basic: String },
    /// `grant_type=authorization_code`, each code used once.
    CodeExchange {
        basic: String,
        codes: Arc<Vec<String>>,
        next: Arc<AtomicUsize>,
    },
    /// `grant_type=refresh_token`: each connection rotates its own family.
    Refresh {
        basic: String,
        /// One current refresh token per connection.
        start: Vec<String>,
    },
    /// `POST /oauth/introspect` of one valid access token.
    Introspect { basic: String, token: String },
    /// `GET /account` with a bearer token.
    Account { bearer: String },
}

impl Scenario {
    /// The next request of connection `conn`, or `None` when it has no more
    /// work (the seeded codes ran out).
    fn request(&self, host: &str, refresh: Option<&str>) -> Option<Request<Full<Bytes>>> {
        let form = |auth: &str, body: String| {
            Request::builder()
                .method(Method::POST)
                .uri("/oauth/token")
                .header(HOST, host)
                .header(AUTHORIZATION, auth)
                .header(CONTENT_TYPE, "application/x-www-form-urlencoded")
                .body(Full::new(Bytes::from(body)))
        };
        let built = match self {
            Self::Healthz => Request::builder()
                .uri("/healthz")
                .header(HOST, host)
                .body(Full::default()),
            Self::ClientCredentials { basic } => {
                form(basic, "grant_type=client_credentials".to_owned())
            }
            Self::CodeExchange { basic, codes, next } => {
                let code = codes.get(next.fetch_add(1, Ordering::Relaxed))?;
                form(
                    basic,
                    format!(
                        "grant_type=authorization_code&code={code}&redirect_uri=http%3A%2F%2F127.0.0.1%2Fcb"
                    ),
                )
            }
            Self::Refresh { basic, .. } => form(
                basic,
                format!("grant_type=refresh_token&refresh_token={}", refresh?),
            ),
            Self::Introspect { basic, token } => Request::builder()
                .method(Method::POST)
                .uri("/oauth/introspect")
                .header(HOST, host)
                .header(AUTHORIZATION, basic.as_str())
                .header(CONTENT_TYPE, "application/x-www-form-urlencoded")
                .body(Full::new(Bytes::from(format!("token={token}")))),
            Self::Account { bearer } => Request::builder()
                .uri("/account")
                .header(HOST, host)
                .header(AUTHORIZATION, format!("Bearer {bearer}"))
                .body(Full::default()),
        };
        built.ok()
    }

    /// Whether the answer is the success this scenario expects; for refresh,
    /// also takes the rotated token for the connection's next request.
    fn accept(&self, status: StatusCode, body: &[u8], refresh: &mut Option<String>) -> bool {
        if status != StatusCode::OK {
            return false;
        }
        match self {
            Self::Introspect { .. } => body
                .windows(b"\"active\":true".len())
                .any(|w| w == b"\"active\":true"),
            Self::Refresh { .. } => {
                let next = serde_json::from_slice::<serde_json::Value>(body)
                    .ok()
                    .and_then(|v| v.get("refresh_token")?.as_str().map(str::to_owned));
                let ok = next.is_some();
                *refresh = next;
                ok
            }
            _ => true,
        }
    }
}

/// What a run measured.
#[derive(Debug, Default)]
pub(crate) struct Outcome {
    /// Successful answers inside the measured window.
    pub(crate) ok: u64,
    /// Failed requests (wrong status, connection errors) inside the window.
    pub(crate) errors: u64,
    /// Latencies of the successful answers, microseconds.
    pub(crate) latencies_us: Vec<u32>,
    /// The measured window.
    pub(crate) window: Duration,
    /// Whether some connection ran out of work before the window ended.
    pub(crate) exhausted: bool,
    /// The first failure seen, for the report.
    pub(crate) first_error: Option<String>,
    /// User plus system CPU time of the server's processes over the
    /// measured window, microseconds (`None` when not measured).
    pub(crate) cpu_us: Option<u64>,
}

impl Outcome {
    /// Successful requests per second.
    pub(crate) fn rate(&self) -> f64 {
        self.ok as f64 / self.window.as_secs_f64().max(1e-9)
    }

    /// The `q`-quantile latency in milliseconds (`q` in 0..=1).
    pub(crate) fn quantile_ms(&self, q: f64) -> f64 {
        if self.latencies_us.is_empty() {
            return f64::NAN;
        }
        let last = self.latencies_us.len() - 1;
        let at = ((last as f64) * q).round() as usize;
        f64::from(self.latencies_us[at.min(last)]) / 1000.0
    }

    /// Server CPU microseconds per request answered in the window.
    pub(crate) fn cpu_per_request(&self) -> Option<f64> {
        let answered = self.ok + self.errors;
        self.cpu_us
            .filter(|_| answered > 0)
            .map(|us| us as f64 / answered as f64)
    }
}

/// Runs `scenario` on `conns` connections: `warmup` unmeasured, then
/// `duration` measured, sampling the server's CPU time at both ends of the
/// measured window.
pub(crate) async fn run(
    target: Target,
    scenario: Arc<Scenario>,
    conns: usize,
    warmup: Duration,
    duration: Duration,
) -> Outcome {
    let start = Instant::now();
    let from = start + warmup;
    let until = from + duration;
    let cpu = tokio::spawn(cpu_over(target.pids.clone(), from, until));
    let mut tasks = Vec::with_capacity(conns);
    for conn in 0..conns {
        let refresh = match &*scenario {
            Scenario::Refresh { start, .. } => start.get(conn).cloned(),
            _ => None,
        };
        let scenario = Arc::clone(&scenario);
        let Some(&addr) = target.addrs.get(conn % target.addrs.len().max(1)) else {
            break;
        };
        tasks.push(tokio::spawn(connection(
            addr, scenario, refresh, from, until,
        )));
    }
    let mut total = Outcome {
        window: duration,
        cpu_us: cpu.await.ok().flatten(),
        ..Outcome::default()
    };
    for task in tasks {
        match task.await {
            Ok(part) => {
                total.ok += part.ok;
                total.errors += part.errors;
                total.latencies_us.extend(part.latencies_us);
                total.exhausted |= part.exhausted;
                if total.first_error.is_none() {
                    total.first_error = part.first_error;
                }
            }
            Err(e) => {
                total.errors += 1;
                total.first_error.get_or_insert(format!("load task: {e}"));
            }
        }
    }
    total.latencies_us.sort_unstable();
    total
}

/// The CPU time `pids` spent between `from` and `until`.
async fn cpu_over(pids: Vec<u32>, from: Instant, until: Instant) -> Option<u64> {
    tokio::time::sleep_until(from.into()).await;
    let before = crate::cpu::total_us(&pids)?;
    tokio::time::sleep_until(until.into()).await;
    let after = crate::cpu::total_us(&pids)?;
    Some(after.saturating_sub(before))
}

async fn connection(
    addr: SocketAddr,
    scenario: Arc<Scenario>,
    mut refresh: Option<String>,
    from: Instant,
    until: Instant,
) -> Outcome {
    let host = addr.to_string();
    let mut out = Outcome::default();
    let mut sender: Option<SendRequest<Full<Bytes>>> = None;
    let fail = |out: &mut Outcome, measured: bool, why: String| {
        if measured {
            out.errors += 1;
            out.first_error.get_or_insert(why);
        }
    };
    while Instant::now() < until {
        let live = match &mut sender {
            Some(s) => s,
            None => match connect(addr).await {
                Ok(s) => sender.insert(s),
                Err(e) => {
                    fail(&mut out, Instant::now() >= from, format!("connect: {e}"));
                    tokio::time::sleep(Duration::from_millis(10)).await;
                    continue;
                }
            },
        };
        let Some(request) = scenario.request(&host, refresh.as_deref()) else {
            out.exhausted = true;
            break;
        };
        let sent = Instant::now();
        let answer = exchange(live, request).await;
        let done = Instant::now();
        let measured = sent >= from && done <= until;
        match answer {
            Ok((status, body)) if scenario.accept(status, &body, &mut refresh) => {
                if measured {
                    out.ok += 1;
                    let us = done.duration_since(sent).as_micros();
                    out.latencies_us.push(u32::try_from(us).unwrap_or(u32::MAX));
                }
            }
            Ok((status, body)) => {
                let text = String::from_utf8_lossy(&body[..body.len().min(200)]).into_owned();
                fail(&mut out, measured, format!("{status}: {text}"));
                if refresh.is_none() && matches!(&*scenario, Scenario::Refresh { .. }) {
                    // The family is broken; nothing more this connection can do.
                    out.exhausted = true;
                    break;
                }
            }
            Err(e) => {
                sender = None;
                fail(&mut out, measured, format!("request: {e}"));
            }
        }
    }
    out
}

/// One keep-alive connection with its driver task.
pub(crate) async fn connect(addr: SocketAddr) -> Result<SendRequest<Full<Bytes>>, BoxError> {
    let stream = TcpStream::connect(addr).await?;
    stream.set_nodelay(true)?;
    let (sender, conn) = http1::handshake(TokioIo::new(stream)).await?;
    tokio::spawn(async move {
        let _ = conn.await;
    });
    Ok(sender)
}

/// Sends one request and reads the whole answer.
pub(crate) async fn exchange(
    sender: &mut SendRequest<Full<Bytes>>,
    request: Request<Full<Bytes>>,
) -> Result<(StatusCode, Bytes), BoxError> {
    sender.ready().await?;
    let response = sender.send_request(request).await?;
    let status = response.status();
    let body = response.into_body().collect().await?.to_bytes();
    Ok((status, body))
}

/// One request on a fresh connection (for seeding and readiness checks).
pub(crate) async fn once(
    addr: SocketAddr,
    request: Request<Full<Bytes>>,
) -> Result<(StatusCode, Bytes), BoxError> {
    let mut sender = connect(addr).await?;
    exchange(&mut sender, request).await
}
