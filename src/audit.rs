//! The audit trail: every security-relevant event becomes a stored row the
//! user can see under their settings, and a mention in the log. Events carry
//! ids, kinds and addresses, never a secret. A failure to store one is logged
//! and does not fail the request, except for token issuance: that event is
//! stored in the issuing transaction ([`Event::record_in`]), so tokens and
//! their record commit together.
//!
//! Inside a request ([`scope`]) an event writes no info line of its own: the
//! request's access line carries its kind and ids (`audit.kind`,
//! `audit.user_id`, `audit.client_id`), so a request is one line at info; the
//! whole event is a `debug` line (target `oauthd::audit`). Outside a request
//! (the CLI) there is no access line, so the event is its own `info` line.

use std::cell::RefCell;
use std::fmt;
use std::future::Future;
use std::net::IpAddr;

use crate::clock::Clock;
use crate::crypto;
use crate::store::audit::NewEvent;
use crate::store::{self, Db, Tx};

/// What happened.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
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
    /// A user code entered at `/device` matched no pending request.
    UserCodeFailed,
    /// A user approved a device authorization request.
    DeviceApproved,
    /// A user denied a device authorization request.
    DeviceDenied,
}

impl Kind {
    /// Every kind, in declaration order (the order [`Kinds`] lists them in).
    const ALL: [Self; 16] = [
        Self::SigninSucceeded,
        Self::SigninFailed,
        Self::ConsentGranted,
        Self::ConsentDenied,
        Self::TokenIssued,
        Self::TokenRefreshed,
        Self::TokenRevoked,
        Self::CodeReplayed,
        Self::RefreshReused,
        Self::ClientRegistered,
        Self::SecretRotated,
        Self::IntrospectionAllowed,
        Self::IntrospectionWithdrawn,
        Self::UserCodeFailed,
        Self::DeviceApproved,
        Self::DeviceDenied,
    ];

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
            Self::UserCodeFailed => "user_code_failed",
            Self::DeviceApproved => "device_approved",
            Self::DeviceDenied => "device_denied",
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
    /// concern no user (client-credentials issuance). In a request that is
    /// the access line's `audit.kind`, so the event is still seen at info.
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

    /// Counts the event in the request's metrics and logs it: on the
    /// request's access line when there is a request (see [`scope`]), else
    /// as an info line of its own. Returns the address as text for the row.
    fn log(&self) -> Option<String> {
        crate::metrics::with_current(|m| match self.kind {
            Kind::CodeReplayed => m.code_replayed(),
            Kind::RefreshReused => m.refresh_reused(),
            Kind::TokenRevoked => m.token_revoked(),
            _ => {}
        });
        let in_request = CURRENT.try_with(|slot| slot.borrow_mut().add(self)).is_ok();
        let ip = self.ip.map(|i| i.to_string());
        macro_rules! emit {
            ($level:expr) => {
                tracing::event!(
                    target: "oauthd::audit",
                    $level,
                    kind = self.kind.as_str(),
                    user_id = self.user_id.unwrap_or(""),
                    client_id = self.client_id.unwrap_or(""),
                    ip = ip.as_deref().unwrap_or(""),
                    detail = self.detail.as_deref().unwrap_or(""),
                    "audit: {}",
                    self.kind.as_str()
                )
            };
        }
        if in_request {
            emit!(tracing::Level::DEBUG);
        } else {
            emit!(tracing::Level::INFO);
        }
        ip
    }
}

tokio::task_local! {
    /// The audit events of the request this task is serving.
    static CURRENT: RefCell<Recorded>;
}

/// Runs `future` (a request) with an empty record of audit events, and
/// returns its output with what it recorded, for the access line.
pub async fn scope<F: Future>(future: F) -> (F::Output, Recorded) {
    CURRENT
        .scope(RefCell::new(Recorded::default()), async {
            let output = future.await;
            let recorded = CURRENT.with(|slot| slot.take());
            (output, recorded)
        })
        .await
}

/// The audit events of one request, as the access line shows them: their
/// kinds, and the user and client the first of them named. Ids only; the
/// detail stays in the stored row and the debug line.
#[derive(Debug, Default)]
pub struct Recorded {
    /// The kinds seen.
    pub kinds: Kinds,
    /// The first user an event named.
    pub user_id: Option<String>,
    /// The first client an event named.
    pub client_id: Option<String>,
}

impl Recorded {
    fn add(&mut self, event: &Event<'_>) {
        self.kinds.insert(event.kind);
        if self.user_id.is_none() {
            self.user_id = event.user_id.map(str::to_owned);
        }
        if self.client_id.is_none() {
            self.client_id = event.client_id.map(str::to_owned);
        }
    }
}

/// A set of [`Kind`]s, shown as their names joined by commas. A bit set,
/// so recording costs no allocation.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Kinds(u16);

impl Kinds {
    fn insert(&mut self, kind: Kind) {
        self.0 |= 1 << kind as u8;
    }

    /// True when no event was recorded.
    pub fn is_empty(self) -> bool {
        self.0 == 0
    }

    /// The kinds in the set, in declaration order.
    pub fn iter(self) -> impl Iterator<Item = Kind> {
        Kind::ALL
            .into_iter()
            .filter(move |k| self.0 & (1 << *k as u8) != 0)
    }
}

impl fmt::Display for Kinds {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, kind) in self.iter().enumerate() {
            if i > 0 {
                f.write_str(",")?;
            }
            f.write_str(kind.as_str())?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_list_every_kind_once_in_order() {
        let mut kinds = Kinds::default();
        assert!(kinds.is_empty());
        assert_eq!(kinds.to_string(), "");
        kinds.insert(Kind::IntrospectionAllowed);
        kinds.insert(Kind::ClientRegistered);
        kinds.insert(Kind::ClientRegistered);
        assert_eq!(kinds.to_string(), "client_registered,introspection_allowed");
        for kind in Kind::ALL {
            let mut one = Kinds::default();
            one.insert(kind);
            assert_eq!(one.iter().collect::<Vec<_>>(), [kind]);
        }
    }

    #[tokio::test]
    async fn events_in_a_request_are_recorded_for_its_access_line() {
        let ((), recorded) = scope(async {
            Event::new(Kind::ClientRegistered).client("c1").log_only();
            Event::new(Kind::IntrospectionAllowed)
                .client("c2")
                .user("u1")
                .log_only();
        })
        .await;
        assert_eq!(
            recorded.kinds.to_string(),
            "client_registered,introspection_allowed"
        );
        assert_eq!(recorded.client_id.as_deref(), Some("c1"));
        assert_eq!(recorded.user_id.as_deref(), Some("u1"));
        // Outside a request nothing is recorded (and nothing panics).
        Event::new(Kind::TokenIssued).client("c3").log_only();
    }
}
