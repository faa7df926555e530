//! Serving: connect, migrate, bind, and run until SIGTERM or SIGINT.

use std::net::SocketAddr;

use tokio::net::TcpListener;

use crate::clock::Clock;
use crate::config::Config;
use crate::http::{build_app, state::AppState};
use crate::store::{self, Db};

/// Why the server stopped with an error.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    /// The database could not be opened or reached.
    #[error("cannot open the database")]
    Database(#[source] store::Error),
    /// The schema could not be migrated.
    #[error(transparent)]
    Migrate(#[from] store::MigrateError),
    /// A listen address could not be bound.
    #[error("cannot listen on {addr} ({key})")]
    Bind {
        /// The config key that names it: `listen` or `metrics.listen`.
        key: &'static str,
        /// The configured address.
        addr: SocketAddr,
        /// Why.
        #[source]
        source: std::io::Error,
    },
}

/// Opens the database, applies migrations, and serves until a shutdown signal;
/// in-flight requests then get `http.shutdown_grace` to finish.
pub async fn serve(config: Config) -> Result<(), ServeError> {
    let db = Db::connect(&config.database)
        .await
        .map_err(ServeError::Database)?;
    db.migrate().await?;
    let listener = TcpListener::bind(config.listen)
        .await
        .map_err(|source| ServeError::Bind {
            key: "listen",
            addr: config.listen,
            source,
        })?;
    let metrics_listener = match config.metrics.listen.filter(|_| config.metrics.enabled) {
        Some(addr) => Some(
            TcpListener::bind(addr)
                .await
                .map_err(|source| ServeError::Bind {
                    key: "metrics.listen",
                    addr,
                    source,
                })?,
        ),
        None => None,
    };
    if config.public_url.scheme() == "http" && !is_loopback_url(&config.public_url) {
        tracing::warn!(
            public_url = %config.public_url,
            "public_url is plain http on a non-loopback host: tokens and passwords would cross the network unencrypted; put TLS in front and set an https public_url"
        );
    }
    tracing::info!(
        listen = %config.listen,
        issuer = config.issuer(),
        database = db.backend(),
        "oauthd listening on {}",
        config.listen
    );
    if config.signing.key_encryption_key.is_none() {
        tracing::warn!(
            "no signing.key_encryption_key is configured: no signing key is generated and the JWKS stays empty"
        );
    }
    let grace = config.http.shutdown_grace;
    if config.accounts.create_admin_on_first_run {
        first_run(&db, &config).await;
    }
    let state = AppState::new(config, db.clone(), Clock::system());
    let janitor = state.config.janitor.enabled.then(|| {
        tokio::spawn(crate::janitor::run_forever(
            db.clone(),
            Clock::system(),
            state.config.clone(),
            state.metrics.clone(),
        ))
    });
    // Signing keys: the first one at start, then scheduled rotation. Every
    // replica runs this; the database makes them agree on one new key.
    let keys = {
        let (db, config) = (db.clone(), state.config.signing.clone());
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(std::time::Duration::from_secs(60));
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            let clock = Clock::system();
            loop {
                tick.tick().await;
                if let Err(e) = crate::signing::maintain(&db, &clock, &config).await {
                    tracing::warn!(error = %crate::telemetry::error_chain(&e), "signing key maintenance failed");
                }
            }
        })
    };
    let shrinker = {
        let state = state.clone();
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(std::time::Duration::from_secs(60));
            loop {
                tick.tick().await;
                state.limits.shrink();
            }
        })
    };
    let http = state.config.http.clone();
    // One shutdown signal stops both listeners.
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let metrics = metrics_listener.map(|listener| {
        tracing::info!(listen = ?listener.local_addr().ok(), "serving /metrics on its own address");
        let (app, http) = (crate::http::metrics_app(state.clone()), http.clone());
        let mut stopped = stopped.clone();
        tokio::spawn(async move {
            let shutdown = async move {
                let _ = stopped.wait_for(|s| *s).await;
            };
            crate::http::listener::serve(listener, app, &http, shutdown).await;
        })
    });
    let shutdown = async move {
        shutdown_signal(grace).await;
        let _ = stop.send(true);
    };
    crate::http::listener::serve(listener, build_app(state), &http, shutdown).await;
    if let Some(m) = metrics {
        let _ = m.await;
    }
    if let Some(j) = janitor {
        j.abort();
    }
    shrinker.abort();
    keys.abort();
    db.close().await;
    tracing::info!("oauthd stopped");
    Ok(())
}

fn is_loopback_url(url: &url::Url) -> bool {
    match url.host() {
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        Some(url::Host::Domain(d)) => d == "localhost",
        None => false,
    }
}

/// Resolves on SIGTERM or SIGINT, then arms a timer that ends the process if
/// in-flight requests outlast the grace period.
async fn shutdown_signal(grace: std::time::Duration) {
    let interrupt = tokio::signal::ctrl_c();
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        _ = interrupt => {},
        () = terminate => {},
    }
    tracing::info!(
        grace_secs = grace.as_secs(),
        "shutting down: finishing in-flight requests"
    );
    tokio::spawn(async move {
        tokio::time::sleep(grace).await;
        tracing::warn!("shutdown grace period over; exiting");
        std::process::exit(0);
    });
}

/// On an empty database, makes the `admin` user and prints its password once,
/// on stderr and not through the log pipeline (which may ship it elsewhere).
async fn first_run(db: &Db, config: &Config) {
    let checker = crate::oauth::session::PasswordChecker::new(1);
    match crate::oauth::account::first_run_admin(db, &Clock::system(), &checker).await {
        Ok(Some(password)) => {
            let change = format!("{}/settings/password", config.issuer());
            eprintln!(
                "\noauthd: first run: created the user \"admin\" with the password\n\n    {password}\n\n\
                 oauthd: it is shown only this once. Sign in and change it at {change}\n"
            );
            tracing::warn!(change_at = %change, "first run: created the admin user; its password was printed once on stderr");
        }
        Ok(None) => {}
        Err(e) => {
            tracing::error!(error = %crate::telemetry::error_chain(&e), "first run: could not create the admin user")
        }
    }
}
