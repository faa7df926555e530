//! Seeding: the client is registered over HTTP and tokens come from the real
//! token endpoint; authorization codes (many thousands per run) and the
//! growth rows are written straight into the tables, with the server's own
//! secret format and SHA-256 digest (`oauthd::crypto`).

use std::net::SocketAddr;

use bytes::Bytes;
use http_body_util::Full;
use hyper::header::{AUTHORIZATION, CONTENT_TYPE, HOST};
use hyper::{Method, Request, StatusCode};
use oauthd::crypto::{Secret, SecretKind};
use sqlx::AssertSqlSafe;

use crate::load::{self, BoxError, REDIRECT_URI};
use crate::server::{Pool, on_pool};

/// The bench's confidential client.
pub(crate) struct Client {
    /// `client_id`.
    pub(crate) id: String,
    /// Its `Authorization: Basic` value.
    pub(crate) basic: String,
}

/// Registers a confidential client for all three grants (RFC 7591 JSON).
pub(crate) async fn register_client(addr: SocketAddr) -> Result<Client, BoxError> {
    let body = serde_json::json!({
        "client_name": "oauthd-bench",
        "redirect_uris": [REDIRECT_URI],
        "grant_types": ["authorization_code", "refresh_token", "client_credentials"],
    });
    let request = Request::builder()
        .method(Method::POST)
        .uri("/api/client")
        .header(HOST, addr.to_string())
        .header(CONTENT_TYPE, "application/json")
        .body(Full::new(Bytes::from(body.to_string())))?;
    let (status, answer) = load::once(addr, request).await?;
    if status != StatusCode::CREATED {
        return Err(format!("client registration: {status}").into());
    }
    let v: serde_json::Value = serde_json::from_slice(&answer)?;
    let field = |name: &str| {
        v.get(name)
            .and_then(|x| x.as_str())
            .map(str::to_owned)
            .ok_or_else(|| format!("client registration answer lacks {name}"))
    };
    let id = field("client_id")?;
    let secret = field("client_secret")?;
    Ok(Client {
        basic: load::basic(&id, &secret),
        id,
    })
}

/// The id of the user the first run made.
pub(crate) async fn admin_id(pool: &Pool) -> Result<String, BoxError> {
    Ok(on_pool!(pool, p => sqlx::query_scalar::<_, String>(
        "select id from users where username = 'admin'"
    )
    .fetch_one(p)
    .await)?)
}

/// The stored secret digest of a client (the grant claim checks it).
pub(crate) async fn secret_hash(pool: &Pool, client_id: &str) -> Result<String, BoxError> {
    Ok(on_pool!(pool, p => sqlx::query_scalar::<_, String>(
        "select coalesce(secret_hash, '') from clients where id = $1"
    )
    .bind(client_id)
    .fetch_one(p)
    .await)?)
}

/// Rows per multi-row insert (12 binds each, well under both limits).
const BATCH: usize = 500;

/// Stores `n` fresh authorization codes for the client and user, as the
/// consent step would (no PKCE, the registered redirect URI, default scopes),
/// and returns the raw codes.
pub(crate) async fn codes(
    pool: &Pool,
    client_id: &str,
    user_id: &str,
    n: usize,
    now: i64,
) -> Result<Vec<String>, BoxError> {
    let mut raw = Vec::with_capacity(n);
    let mut hashes = Vec::with_capacity(n);
    for _ in 0..n {
        let code = Secret::generate(SecretKind::AuthCode);
        hashes.push(code.digest());
        raw.push(code.expose().to_owned());
    }
    for chunk in hashes.chunks(BATCH) {
        let mut sql = String::from(
            "insert into auth_codes (code_hash, grant_id, client_id, user_id, redirect_uri, \
             redirect_uri_sent, scope, code_challenge, code_challenge_method, created_at, \
             expires_at, consumed_at) values ",
        );
        for i in 0..chunk.len() {
            let b = i * 2;
            if i > 0 {
                sql.push(',');
            }
            sql.push_str(&format!(
                "(${}, ${}, $1, $2, $3, true, 'account:read event:write', null, null, $4, $5, null)",
                b + 6,
                b + 7
            ));
        }
        on_pool!(pool, p => {
            let mut q = sqlx::query(AssertSqlSafe(sql.clone()))
                .bind(client_id)
                .bind(user_id)
                .bind(REDIRECT_URI)
                .bind(now)
                .bind(now + 600);
            for hash in chunk {
                q = q.bind(hash.as_str()).bind(oauthd::crypto::random_id());
            }
            q.execute(p).await.map(drop)
        })?;
    }
    // Each code's grant, as the consent step records it with the code: the
    // exchange claims it.
    on_pool!(pool, p => sqlx::query(GRANTS_OF_CODES).execute(p).await.map(drop))?;
    Ok(raw)
}

const GRANTS_OF_CODES: &str = r"
insert into grants (id, client_id, user_id, created_at, issued_at, expires_at, revoked_at)
select grant_id, min(client_id), min(user_id), min(created_at), null, max(expires_at), null
from auth_codes where grant_id not in (select id from grants)
group by grant_id";

/// Tokens from one code exchange.
pub(crate) struct Tokens {
    /// The access token.
    pub(crate) access: String,
    /// The refresh token.
    pub(crate) refresh: String,
}

/// Exchanges a code at the token endpoint.
pub(crate) async fn exchange(
    addr: SocketAddr,
    client: &Client,
    code: &str,
) -> Result<Tokens, BoxError> {
    let request = Request::builder()
        .method(Method::POST)
        .uri("/oauth/token")
        .header(HOST, addr.to_string())
        .header(AUTHORIZATION, client.basic.as_str())
        .header(CONTENT_TYPE, "application/x-www-form-urlencoded")
        .body(Full::new(Bytes::from(format!(
            "grant_type=authorization_code&code={code}&redirect_uri=http%3A%2F%2F127.0.0.1%2Fcb"
        ))))?;
    let (status, answer) = load::once(addr, request).await?;
    if status != StatusCode::OK {
        return Err(format!(
            "code exchange: {status}: {}",
            String::from_utf8_lossy(&answer)
        )
        .into());
    }
    let v: serde_json::Value = serde_json::from_slice(&answer)?;
    let field = |name: &str| {
        v.get(name)
            .and_then(|x| x.as_str())
            .map(str::to_owned)
            .ok_or_else(|| format!("token answer lacks {name}"))
    };
    Ok(Tokens {
        access: field("access_token")?,
        refresh: field("refresh_token")?,
    })
}

/// Stores `n` live access tokens with random 32-byte digests, half for the
/// user and half client-only, in one statement per backend:
/// `generate_series` on Postgres, a recursive CTE on SQLite.
pub(crate) async fn grow(
    pool: &Pool,
    n: i64,
    client_id: &str,
    user_id: &str,
    now: i64,
) -> Result<(), BoxError> {
    const PG: &str = r"
insert into tokens (token_hash, kind, grant_id, client_id, user_id, scope, label, created_at,
                    expires_at, revoked_at, last_used_at, rotated_at, grant_expires_at, public_id)
select sha256((random()::text || '-' || g::text)::bytea), 'access', null, $1,
       case when g % 2 = 0 then $2 end, 'account:read event:write', null, $3, $4,
       null, null, null, null, null
from generate_series(1, $5) g";
    const LITE: &str = r"
insert into tokens (token_hash, kind, grant_id, client_id, user_id, scope, label, created_at,
                    expires_at, revoked_at, last_used_at, rotated_at, grant_expires_at, public_id)
with recursive g(i) as (select 1 union all select i + 1 from g where i < $5)
select randomblob(32), 'access', null, $1,
       case when i % 2 = 0 then $2 end, 'account:read event:write', null, $3, $4,
       null, null, null, null, null
from g";
    let expires = now + 7 * 24 * 3600;
    match pool {
        Pool::Pg(p) => {
            sqlx::query(PG)
                .bind(client_id)
                .bind(user_id)
                .bind(now)
                .bind(expires)
                .bind(n)
                .execute(p)
                .await?;
            sqlx::query("analyze tokens").execute(p).await?;
        }
        Pool::Lite(p) => {
            sqlx::query(LITE)
                .bind(client_id)
                .bind(user_id)
                .bind(now)
                .bind(expires)
                .bind(n)
                .execute(p)
                .await?;
        }
    }
    Ok(())
}

/// A `select count(*) …` whose only parameter, `$1`, is `now`.
pub(crate) async fn count(pool: &Pool, sql: &'static str, now: i64) -> Result<i64, BoxError> {
    Ok(on_pool!(pool, p => sqlx::query_scalar::<_, i64>(sql).bind(now).fetch_one(p).await)?)
}
