//! Token issuances stored many at a time: what one writer transaction
//! (`store::writer`) runs for a batch.
//!
//! On Postgres the whole batch is one statement over arrays (`unnest`),
//! whatever its size, each step a part of it: claim the grants, consume the
//! codes and device codes, retire the refresh tokens, insert the tokens,
//! insert the audit
//! rows. On SQLite, which runs
//! in-process and one writer at a time, the same steps run row by row inside
//! the one transaction. Either way every issuance of the batch commits or
//! none does.
//!
//! An issuance whose step finds nothing to do (its grant revoked or expired,
//! its client changed, its code already used, its refresh token already
//! rotated) is refused and writes nothing besides its grant claim, which
//! only moves a live grant's end to where the one-request path would move
//! it. The caller decides what a refusal means. The writer never puts two
//! issuances of one grant in a batch, so the set statements need no order.

use super::tokens::{self, NewToken, TokenKind};
use super::{Error, Tx, audit, codes, device_codes, grants, on_lease};
use crate::crypto::Sha256Digest;

/// A token row to insert, owned so it can wait in a writer's queue.
#[derive(Clone, Debug)]
pub struct TokenRow {
    /// SHA-256 of the raw token.
    pub token_hash: Sha256Digest,
    /// Access or refresh.
    pub kind: TokenKind,
    /// The grant it descends from (`None` for client credentials).
    pub grant_id: Option<String>,
    /// The client it is issued to.
    pub client_id: String,
    /// The user it acts for (`None` for client credentials).
    pub user_id: Option<String>,
    /// Space-delimited scopes.
    pub scope: String,
    /// Unix seconds.
    pub created_at: i64,
    /// Unix seconds.
    pub expires_at: i64,
    /// A refresh family's absolute end.
    pub grant_expires_at: Option<i64>,
    /// Its audience (RFC 8707), space-delimited URIs; `None`: none named.
    pub audience: Option<String>,
}

impl TokenRow {
    /// The row as the one-request statements take it.
    pub fn as_new(&self) -> NewToken<'_> {
        NewToken {
            token_hash: self.token_hash,
            kind: self.kind,
            grant_id: self.grant_id.as_deref(),
            client_id: Some(&self.client_id),
            user_id: self.user_id.as_deref(),
            scope: &self.scope,
            label: None,
            created_at: self.created_at,
            expires_at: Some(self.expires_at),
            grant_expires_at: self.grant_expires_at,
            public_id: None,
            audience: self.audience.as_deref(),
        }
    }
}

/// An audit row to insert with the tokens it records.
#[derive(Clone, Debug)]
pub struct EventRow {
    /// Random id.
    pub id: String,
    /// Unix seconds.
    pub at: i64,
    /// What happened.
    pub kind: &'static str,
    /// The user concerned.
    pub user_id: Option<String>,
    /// The client concerned.
    pub client_id: Option<String>,
    /// The client address.
    pub ip: Option<String>,
    /// A short, secret-free detail.
    pub detail: Option<String>,
}

impl EventRow {
    fn as_new(&self) -> audit::NewEvent<'_> {
        audit::NewEvent {
            id: &self.id,
            at: self.at,
            kind: self.kind,
            user_id: self.user_id.as_deref(),
            client_id: self.client_id.as_deref(),
            ip: self.ip.as_deref(),
            detail: self.detail.as_deref(),
        }
    }
}

/// The grant an issuance draws on, as `store::grants::claim` takes it.
#[derive(Clone, Debug)]
pub struct GrantClaim {
    /// The grant.
    pub grant_id: String,
    /// The client that must own it, unchanged.
    pub client_id: String,
    /// The digest the client authenticated with (`None`: a public client).
    pub secret_hash: Option<String>,
    /// Unix seconds.
    pub now: i64,
    /// The grant's new end.
    pub expires_at: i64,
}

/// What an issuance from a grant uses up.
#[derive(Clone, Debug)]
pub enum Step {
    /// An authorization code, consumed once.
    ConsumeCode {
        /// Its digest.
        code_hash: String,
    },
    /// An approved device code (RFC 8628), redeemed once.
    ConsumeDeviceCode {
        /// Its digest.
        device_code_hash: Sha256Digest,
    },
    /// A current refresh token, retired for its successor.
    RetireRefresh {
        /// Its digest.
        token_hash: Sha256Digest,
        /// The successor's digest.
        replaced_by: Sha256Digest,
    },
}

/// One token request's writes.
#[derive(Clone, Debug)]
pub enum Issuance {
    /// A client's own access token (client credentials), stored only while
    /// the client still has the secret it authenticated with.
    ClientToken {
        /// The token.
        token: TokenRow,
        /// The digest the client authenticated with.
        secret_hash: Option<String>,
    },
    /// Tokens from a grant: the grant is claimed, then `step` must succeed.
    FromGrant {
        /// The grant.
        claim: GrantClaim,
        /// What the tokens are exchanged for.
        step: Step,
        /// The new tokens.
        tokens: Vec<TokenRow>,
        /// Its audit row.
        event: EventRow,
    },
}

impl Issuance {
    /// The grant it draws on, if any.
    pub fn grant_id(&self) -> Option<&str> {
        match self {
            Self::ClientToken { .. } => None,
            Self::FromGrant { claim, .. } => Some(&claim.grant_id),
        }
    }
}

/// Stores `batch` inside `tx`: for each issuance, whether it was stored
/// (false: refused, see the module comment). The caller commits.
pub async fn store(tx: &mut Tx, batch: &[Issuance]) -> Result<Vec<bool>, Error> {
    match tx {
        Tx::Postgres(t) => {
            let (lease, until) = t.statement();
            // One deadline for the batch's statements, as for one statement.
            on_lease!(lease, until, conn => postgres::store(conn, batch).await).map_err(Error::from)
        }
        Tx::Sqlite(..) => sqlite_store(tx, batch).await,
    }
}

/// Stores `batch` on Postgres on a writer's own connection, in one
/// statement, atomic on its own (one round trip, no transaction to begin):
/// a batch of client-credentials tokens alone is a plain insert, anything
/// else the statement of every step.
pub async fn store_on(
    conn: &mut sqlx::PgConnection,
    batch: &[Issuance],
) -> Result<Vec<bool>, sqlx::Error> {
    if batch
        .iter()
        .all(|i| matches!(i, Issuance::ClientToken { .. }))
    {
        return postgres::client_tokens(conn, batch).await;
    }
    postgres::store(conn, batch).await
}

/// Row by row, with the one-request statements.
async fn sqlite_store(tx: &mut Tx, batch: &[Issuance]) -> Result<Vec<bool>, Error> {
    let mut stored = Vec::with_capacity(batch.len());
    for issuance in batch {
        stored.push(match issuance {
            Issuance::ClientToken { token, secret_hash } => {
                tokens::insert_for_client(tx, token.as_new(), secret_hash.as_deref()).await?
            }
            Issuance::FromGrant {
                claim,
                step,
                tokens: rows,
                event,
            } => {
                let held = grants::claim(
                    tx,
                    &claim.grant_id,
                    &claim.client_id,
                    claim.secret_hash.as_deref(),
                    claim.now,
                    claim.expires_at,
                )
                .await?
                    == grants::Claim::Held;
                let used = held
                    && match step {
                        Step::ConsumeCode { code_hash } => {
                            codes::consume(tx, code_hash, claim.now).await?
                        }
                        Step::ConsumeDeviceCode { device_code_hash } => {
                            device_codes::consume(tx, device_code_hash, claim.now).await?
                        }
                        Step::RetireRefresh {
                            token_hash,
                            replaced_by,
                        } => tokens::retire_refresh(tx, token_hash, replaced_by, claim.now).await?,
                    };
                if used {
                    for row in rows {
                        tokens::insert(tx, row.as_new()).await?;
                    }
                    audit::insert_in(tx, event.as_new()).await?;
                }
                used
            }
        });
    }
    Ok(stored)
}

/// The set statement.
mod postgres {
    use std::collections::HashMap;

    use sqlx::{PgConnection, Row as _};

    use super::{EventRow, Issuance, Step, TokenRow};
    use crate::crypto::Sha256Digest;

    // A client deleted or re-keyed after it authenticated gets no row; one
    // deleted after this statement waits for the commit and cascades.
    const INSERT_FOR_CLIENTS: &str = r"
insert into tokens (token_hash, kind, grant_id, client_id, user_id, scope, label,
                    created_at, expires_at, revoked_at, last_used_at, rotated_at,
                    grant_expires_at, public_id, audience)
select r.token_hash, r.kind, r.grant_id, r.client_id, r.user_id, r.scope, null,
       r.created_at, r.expires_at, null, null, null, r.grant_expires_at, null, r.audience
from unnest($1::bytea[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[],
            $7::int8[], $8::int8[], $9::int8[], $10::text[], $11::text[])
     as r(token_hash, kind, grant_id, client_id, user_id, scope,
          created_at, expires_at, grant_expires_at, secret, audience)
where exists (select 1 from clients c
              where c.id = r.client_id and coalesce(c.secret_hash, '') = r.secret for share)
returning token_hash";

    // Every step of a batch in one statement (atomic on its own, one round
    // trip): claim the grants, then for the claimed ones consume the code or
    // retire the refresh token, then insert the tokens and audit rows of the
    // issuances whose step succeeded, and the client-credentials tokens of
    // clients that still hold their secret. Each step reads the rows the one
    // before returned, so a grant is locked before its code or refresh token
    // (the order of the one-request path and of revocation), and a grant
    // revoked before the claim gets nothing. The client check locks the
    // client row before the grant row, the order a client deletion takes
    // them in, as `store::grants::claim` does. Answers the batch positions
    // stored from grants, and the digests of the client tokens stored.
    const ISSUE: &str = r"
with claimed as (
  update grants g set issued_at = r.now, expires_at = r.expires_at
  from unnest($1::int4[], $2::text[], $3::text[], $4::text[], $5::int8[], $6::int8[],
              $7::text[], $8::bytea[], $9::bytea[], $40::bytea[])
       as r(i, id, client_id, secret, now, expires_at, code_hash, token_hash, next, device_hash)
  where g.id = r.id and g.revoked_at is null and g.expires_at > r.now
    and exists (select 1 from clients c
                where c.id = r.client_id and coalesce(c.secret_hash, '') = r.secret for share)
  returning r.i, r.now, r.code_hash, r.token_hash, r.next, r.device_hash
), consumed as (
  update auth_codes c set consumed_at = k.now
  from claimed k
  where c.code_hash = k.code_hash and c.consumed_at is null and c.expires_at > k.now
  returning k.i
), device_consumed as (
  update device_codes d set consumed_at = k.now
  from claimed k
  where d.device_code_hash = k.device_hash and d.status = 'approved'
    and d.consumed_at is null and d.expires_at > k.now
  returning k.i
), retired as (
  update tokens t set rotated_at = k.now, replaced_by = k.next
  from claimed k
  where t.token_hash = k.token_hash and t.kind = 'refresh' and t.rotated_at is null
    and t.revoked_at is null and t.expires_at > k.now
  returning k.i
), used as (
  select i from consumed union all select i from device_consumed
  union all select i from retired
), granted as (
  insert into tokens (token_hash, kind, grant_id, client_id, user_id, scope, label,
                      created_at, expires_at, revoked_at, last_used_at, rotated_at,
                      grant_expires_at, public_id, audience)
  select r.token_hash, r.kind, r.grant_id, r.client_id, r.user_id, r.scope, null,
         r.created_at, r.expires_at, null, null, null, r.grant_expires_at, null, r.audience
  from unnest($10::int4[], $11::bytea[], $12::text[], $13::text[], $14::text[], $15::text[],
              $16::text[], $17::int8[], $18::int8[], $19::int8[], $38::text[])
       as r(i, token_hash, kind, grant_id, client_id, user_id, scope,
            created_at, expires_at, grant_expires_at, audience)
  where r.i in (select i from used)
), events as (
  insert into audit_events (id, at, kind, user_id, client_id, ip, detail)
  select r.id, r.at, r.kind, r.user_id, r.client_id, r.ip, r.detail
  from unnest($20::int4[], $21::text[], $22::int8[], $23::text[], $24::text[], $25::text[],
              $26::text[], $27::text[])
       as r(i, id, at, kind, user_id, client_id, ip, detail)
  where r.i in (select i from used)
), client_tokens as (
  insert into tokens (token_hash, kind, grant_id, client_id, user_id, scope, label,
                      created_at, expires_at, revoked_at, last_used_at, rotated_at,
                      grant_expires_at, public_id, audience)
  select r.token_hash, r.kind, r.grant_id, r.client_id, r.user_id, r.scope, null,
         r.created_at, r.expires_at, null, null, null, r.grant_expires_at, null, r.audience
  from unnest($28::bytea[], $29::text[], $30::text[], $31::text[], $32::text[], $33::text[],
              $34::int8[], $35::int8[], $36::int8[], $37::text[], $39::text[])
       as r(token_hash, kind, grant_id, client_id, user_id, scope,
            created_at, expires_at, grant_expires_at, secret, audience)
  where exists (select 1 from clients c
                where c.id = r.client_id and coalesce(c.secret_hash, '') = r.secret for share)
  returning token_hash
)
select i, null::bytea from used
union all
select null, token_hash from client_tokens";

    /// Token rows as column arrays; `at` is each row's batch position where
    /// the statement needs it, `secret` the digest a client authenticated
    /// with for its own tokens.
    #[derive(Default)]
    struct Columns {
        at: Vec<i32>,
        token_hash: Vec<Sha256Digest>,
        kind: Vec<&'static str>,
        grant_id: Vec<Option<String>>,
        client_id: Vec<String>,
        user_id: Vec<Option<String>>,
        scope: Vec<String>,
        created_at: Vec<i64>,
        expires_at: Vec<i64>,
        grant_expires_at: Vec<Option<i64>>,
        secret: Vec<String>,
        audience: Vec<Option<String>>,
    }

    impl Columns {
        fn push(&mut self, row: &TokenRow) {
            self.token_hash.push(row.token_hash);
            self.kind.push(row.kind.as_str());
            self.grant_id.push(row.grant_id.clone());
            self.client_id.push(row.client_id.clone());
            self.user_id.push(row.user_id.clone());
            self.scope.push(row.scope.clone());
            self.created_at.push(row.created_at);
            self.expires_at.push(row.expires_at);
            self.grant_expires_at.push(row.grant_expires_at);
            self.audience.push(row.audience.clone());
        }
    }

    /// Audit rows as column arrays, with their batch positions.
    #[derive(Default)]
    struct Events<'a> {
        at_index: Vec<i32>,
        id: Vec<&'a str>,
        at: Vec<i64>,
        kind: Vec<&'static str>,
        user_id: Vec<Option<&'a str>>,
        client_id: Vec<Option<&'a str>>,
        ip: Vec<Option<&'a str>>,
        detail: Vec<Option<&'a str>>,
    }

    impl<'a> Events<'a> {
        fn push(&mut self, i: i32, e: &'a EventRow) {
            self.at_index.push(i);
            self.id.push(&e.id);
            self.at.push(e.at);
            self.kind.push(e.kind);
            self.user_id.push(e.user_id.as_deref());
            self.client_id.push(e.client_id.as_deref());
            self.ip.push(e.ip.as_deref());
            self.detail.push(e.detail.as_deref());
        }
    }

    /// Grant claims and their steps as column arrays.
    #[derive(Default)]
    struct Claims<'a> {
        at: Vec<i32>,
        grant_id: Vec<&'a str>,
        client_id: Vec<&'a str>,
        secret: Vec<&'a str>,
        now: Vec<i64>,
        expires_at: Vec<i64>,
        code_hash: Vec<Option<&'a str>>,
        token_hash: Vec<Option<Sha256Digest>>,
        next: Vec<Option<Sha256Digest>>,
        device_hash: Vec<Option<Sha256Digest>>,
    }

    /// The client-credentials tokens of `batch`, and where each sits in it.
    fn client_columns(batch: &[Issuance]) -> (Columns, HashMap<Sha256Digest, usize>) {
        let mut own = Columns::default();
        let mut own_at = HashMap::new();
        for (i, issuance) in batch.iter().enumerate() {
            if let Issuance::ClientToken { token, secret_hash } = issuance {
                own.push(token);
                own.secret.push(secret_hash.clone().unwrap_or_default());
                own_at.insert(token.token_hash, i);
            }
        }
        (own, own_at)
    }

    /// The batch's client-credentials tokens, in one insert checked against
    /// the clients; one statement, so it needs no transaction of its own.
    pub(super) async fn client_tokens(
        conn: &mut PgConnection,
        batch: &[Issuance],
    ) -> Result<Vec<bool>, sqlx::Error> {
        let mut stored = vec![false; batch.len()];
        let (own, own_at) = client_columns(batch);
        if own.token_hash.is_empty() {
            return Ok(stored);
        }
        let inserted = sqlx::query(INSERT_FOR_CLIENTS)
            .bind(&own.token_hash)
            .bind(&own.kind)
            .bind(&own.grant_id)
            .bind(&own.client_id)
            .bind(&own.user_id)
            .bind(&own.scope)
            .bind(&own.created_at)
            .bind(&own.expires_at)
            .bind(&own.grant_expires_at)
            .bind(&own.secret)
            .bind(&own.audience)
            .fetch_all(conn)
            .await?;
        for row in inserted {
            let hash: Sha256Digest = row.try_get(0)?;
            if let Some(&i) = own_at.get(&hash) {
                stored[i] = true;
            }
        }
        Ok(stored)
    }

    /// The whole batch in one statement ([`ISSUE`]).
    pub(super) async fn store(
        conn: &mut PgConnection,
        batch: &[Issuance],
    ) -> Result<Vec<bool>, sqlx::Error> {
        let index = |i: usize| i32::try_from(i).unwrap_or(i32::MAX);
        let (own, own_at) = client_columns(batch);
        let mut claims = Claims::default();
        let mut rows = Columns::default();
        let mut events = Events::default();
        for (i, issuance) in batch.iter().enumerate() {
            let Issuance::FromGrant {
                claim,
                step,
                tokens,
                event,
            } = issuance
            else {
                continue;
            };
            let i = index(i);
            claims.at.push(i);
            claims.grant_id.push(&claim.grant_id);
            claims.client_id.push(&claim.client_id);
            claims
                .secret
                .push(claim.secret_hash.as_deref().unwrap_or(""));
            claims.now.push(claim.now);
            claims.expires_at.push(claim.expires_at);
            let (code_hash, token_hash, next, device_hash) = match step {
                Step::ConsumeCode { code_hash } => (Some(code_hash.as_str()), None, None, None),
                Step::ConsumeDeviceCode { device_code_hash } => {
                    (None, None, None, Some(*device_code_hash))
                }
                Step::RetireRefresh {
                    token_hash,
                    replaced_by,
                } => (None, Some(*token_hash), Some(*replaced_by), None),
            };
            claims.device_hash.push(device_hash);
            claims.code_hash.push(code_hash);
            claims.token_hash.push(token_hash);
            claims.next.push(next);
            for row in tokens {
                rows.at.push(i);
                rows.push(row);
            }
            events.push(i, event);
        }
        let answered = sqlx::query(ISSUE)
            .bind(&claims.at)
            .bind(&claims.grant_id)
            .bind(&claims.client_id)
            .bind(&claims.secret)
            .bind(&claims.now)
            .bind(&claims.expires_at)
            .bind(&claims.code_hash)
            .bind(&claims.token_hash)
            .bind(&claims.next)
            .bind(&rows.at)
            .bind(&rows.token_hash)
            .bind(&rows.kind)
            .bind(&rows.grant_id)
            .bind(&rows.client_id)
            .bind(&rows.user_id)
            .bind(&rows.scope)
            .bind(&rows.created_at)
            .bind(&rows.expires_at)
            .bind(&rows.grant_expires_at)
            .bind(&events.at_index)
            .bind(&events.id)
            .bind(&events.at)
            .bind(&events.kind)
            .bind(&events.user_id)
            .bind(&events.client_id)
            .bind(&events.ip)
            .bind(&events.detail)
            .bind(&own.token_hash)
            .bind(&own.kind)
            .bind(&own.grant_id)
            .bind(&own.client_id)
            .bind(&own.user_id)
            .bind(&own.scope)
            .bind(&own.created_at)
            .bind(&own.expires_at)
            .bind(&own.grant_expires_at)
            .bind(&own.secret)
            .bind(&rows.audience)
            .bind(&own.audience)
            .bind(&claims.device_hash)
            .fetch_all(conn)
            .await?;
        let mut stored = vec![false; batch.len()];
        for row in answered {
            let at = match row.try_get::<Option<i32>, _>(0)? {
                Some(i) => usize::try_from(i).ok(),
                None => {
                    let hash: Sha256Digest = row.try_get(1)?;
                    own_at.get(&hash).copied()
                }
            };
            if let Some(slot) = at.and_then(|i| stored.get_mut(i)) {
                *slot = true;
            }
        }
        Ok(stored)
    }
}
