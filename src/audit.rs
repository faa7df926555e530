//! The audit trail: every security-relevant event becomes a structured
//! `tracing` event (target `oauthd::audit`) and a stored row the user can see
//! under their settings. Events carry ids, kinds and addresses, never a
//! secret. A failure to store one is logged and does not fail the request,
//! except for token issuance: that event is stored in the issuing transaction
//! ([`Event::record_in`]), so tokens and their record commit together.

use std::net::IpAddr;

use crate::clock::Clock;
use crate::crypto;
use crate::store::audit::NewEvent;
use crate::store::{self, Db, Tx};

/// What happened.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// A user signed in.
    SigninSucceeded,
    /// A sign-in failed (wrong name or password, or disabled user).
    SigninFailed,
    /// A user approved a client.
    ConsentGranted,
    /// A user denied a client.
    ConsentDenied,
    /// Tokens were issued (code exchange or client credentials).
    TokenIssued,
    /// A refresh token was rotated.
    TokenRefreshed,
    /// A token or a whole grant was revoked.
    TokenRevoked,
    /// A used authorization code was presented again.
    CodeReplayed,
    /// A retired refresh token was presented again.
    RefreshReused,
    /// A client was registered.
    ClientRegistered,
    /// A client's secret was replaced.
    SecretRotated,
    /// The operator let a client introspect every token.
    IntrospectionAllowed,
    /// The operator took that permission back.
    IntrospectionWithdrawn,
}

impl Kind {
    /// The stored and logged name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::SigninSucceeded => "signin_succeeded",
            Self::SigninFailed => "signin_failed",
            Self::ConsentGranted => "consent_granted",
            Self::ConsentDenied => "consent_denied",
            Self::TokenIssued => "token_issued",
            Self::TokenRefreshed => "token_refreshed",
            Self::TokenRevoked => "token_revoked",
            Self::CodeReplayed => "code_replayed",
            Self::RefreshReused => "refresh_reused",
            Self::ClientRegistered => "client_registered",
            Self::SecretRotated => "secret_rotated",
            Self::IntrospectionAllowed => "introspection_allowed",
            Self::IntrospectionWithdrawn => "introspection_withdrawn",
        }
    }
}

/// One event, built up with the who and where that are known.
#[derive(Clone, Debug)]
pub struct Event<'a> {
    kind: Kind,
    user_id: Option<&'a str>,
    client_id: Option<&'a str>,
    ip: Option<IpAddr>,
    detail: Option<String>,
}

impl<'a> Event<'a> {
    /// An event of this kind.
    pub fn new(kind: Kind) -> Self {
        Self {
            kind,
            user_id: None,
            client_id: None,
            ip: None,
            detail: None,
        }
    }

    /// The user concerned.
    pub fn user(mut self, user_id: &'a str) -> Self {
        self.user_id = Some(user_id);
        self
    }

    /// The user concerned, if any.
    pub fn maybe_user(mut self, user_id: Option<&'a str>) -> Self {
        self.user_id = user_id;
        self
    }

    /// The client concerned.
    pub fn client(mut self, client_id: &'a str) -> Self {
        self.client_id = Some(client_id);
        self
    }

    /// The client address.
    pub fn ip(mut self, ip: IpAddr) -> Self {
        self.ip = Some(ip);
        self
    }

    /// A short, secret-free detail (scopes, a user name typed at sign-in).
    pub fn detail(mut self, detail: impl Into<String>) -> Self {
        let d: String = detail
            .into()
            .chars()
            .filter(|c| !c.is_control())
            .take(200)
            .collect();
        self.detail = Some(d);
        self
    }

    /// Logs the event and stores it.
    pub async fn record(self, db: &Db, clock: &Clock) {
        let ip = self.log();
        let id = crypto::random_id();
        let stored = store::audit::insert(db, self.row(&id, ip.as_deref(), clock)).await;
        if let Err(e) = stored {
            tracing::warn!(error = %crate::telemetry::error_chain(&e), audit.kind = self.kind.as_str(), "could not store an audit event");
        }
    }

    /// Logs the event without storing a row: for high-volume events that
    /// concern no user (client-credentials issuance).
    pub fn log_only(self) {
        self.log();
    }

    /// Logs the event and stores it inside `tx`, so it commits (or not) with
    /// the tokens it describes: one commit per token request instead of two.
    /// Unlike [`Event::record`], a failure fails the transaction.
    pub async fn record_in(self, tx: &mut Tx, clock: &Clock) -> Result<(), store::Error> {
        let ip = self.log();
        let id = crypto::random_id();
        store::audit::insert_in(tx, self.row(&id, ip.as_deref(), clock)).await
    }

    /// Its row for the token writers, which store it in the transaction
    /// that stores its tokens. Nothing is logged: call [`Event::log_only`]
    /// once the row is stored.
    pub fn to_row(&self, clock: &Clock) -> store::batch::EventRow {
        store::batch::EventRow {
            id: crypto::random_id(),
            at: clock.now(),
            kind: self.kind.as_str(),
            user_id: self.user_id.map(str::to_owned),
            client_id: self.client_id.map(str::to_owned),
            ip: self.ip.map(|i| i.to_string()),
            detail: self.detail.clone(),
        }
    }

    fn row<'b>(&'b self, id: &'b str, ip: Option<&'b str>, clock: &Clock) -> NewEvent<'b> {
        NewEvent {
            id,
            at: clock.now(),
            kind: self.kind.as_str(),
            user_id: self.user_id,
            client_id: self.client_id,
            ip,
            detail: self.detail.as_deref(),
        }
    }

    /// Emits the tracing event and counts it in the request's metrics;
    /// returns the address as text for the row.
    fn log(&self) -> Option<String> {
        crate::metrics::with_current(|m| m.audit(self.kind));
        let ip = self.ip.map(|i| i.to_string());
        tracing::info!(
            target: "oauthd::audit",
            kind = self.kind.as_str(),
            user_id = self.user_id.unwrap_or(""),
            client_id = self.client_id.unwrap_or(""),
            ip = ip.as_deref().unwrap_or(""),
            detail = self.detail.as_deref().unwrap_or(""),
            "audit: {}",
            self.kind.as_str()
        );
        ip
    }
}
