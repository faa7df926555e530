//! The database's own rate for the statements each scenario needs, at the
//! same concurrency: `pgbench` with a custom script on Postgres, a tight
//! loop through sqlx (with the server's connection options) on SQLite.
//!
//! Each ceiling runs what the server writes for ONE request, as the
//! single-row statements of its one-request path (`store::tokens`,
//! `store::grants`, `store::codes`, `store::audit`), with nothing else: no
//! read before the write, no `begin`/`commit` around a single statement. So
//! a ceiling is the one-request-one-transaction rate: the server beats it
//! only by coalescing requests (`store::writer`), and every extra round trip
//! it makes counts against it:
//! - `insert`: one autocommitted token insert checked against the client row
//!   (`store::tokens::insert_for_client`: client credentials);
//! - `lean`: one autocommitted insert into a lean token table (a 32-byte
//!   `bytea` key, client id, scope, expiry, creation time, no other index),
//!   the single-row rate issue 14's issuance target is stated against;
//! - `select`: the token-by-digest lookup joined to its user
//!   (`store::tokens::find`: introspection, `/account`);
//! - `code`: a transaction that claims the code's grant (the update with the
//!   client check `store::grants::claim` makes), consumes the code, inserts
//!   an access and a refresh token and the audit row (code exchange);
//! - `refresh`: a transaction that claims the family's grant, retires a
//!   refresh token pointing it at its successor, inserts the successors and
//!   the audit row (refresh rotation).
//!
//! Token digests are 32 bytes (`sha256(…)` on Postgres, a bound
//! [`Sha256Digest`] on SQLite, the same value for the same text); code
//! digests stay 64 hex digits, as `auth_codes` keeps them.

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use oauthd::crypto::{Sha256Digest, sha256_hex};
use sqlx::{AssertSqlSafe, SqlitePool};
use tokio::process::Command;

use crate::load::{BoxError, Outcome};
use crate::server::{Database, Pool, on_pool};

/// Which statement set.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Kind {
    /// One token insert.
    Insert,
    /// One row into the lean table.
    Lean,
    /// One token lookup.
    Select,
    /// Consume a code, insert two tokens, in one transaction.
    Code,
    /// Retire a refresh token, insert two tokens, in one transaction.
    Refresh,
}

impl Kind {
    /// How the grant ids this ceiling claims begin (`None`: it claims none).
    fn grant_prefix(self) -> Option<&'static str> {
        match self {
            Self::Code => Some("cg"),
            Self::Refresh => Some("rg"),
            Self::Insert | Self::Lean | Self::Select => None,
        }
    }

    /// The name in the table.
    pub(crate) fn name(self) -> &'static str {
        match self {
            Self::Insert => "db:insert",
            Self::Lean => "db:lean",
            Self::Select => "db:select",
            Self::Code => "db:code",
            Self::Refresh => "db:refresh",
        }
    }
}

/// Rows the lookup ceiling picks from.
const SELECT_ROWS: i64 = 10_000;

/// What every run needs to know.
pub(crate) struct Ctx<'a> {
    /// The database (its URL for pgbench).
    pub(crate) db: &'a Database,
    /// The bench's pool on it.
    pub(crate) pool: &'a Pool,
    /// The bench client's id (tokens reference it).
    pub(crate) client_id: &'a str,
    /// The bench user's id.
    pub(crate) user_id: &'a str,
    /// The bench client's stored secret digest, which the grant claim checks.
    pub(crate) secret_hash: &'a str,
    /// Unix seconds.
    pub(crate) now: i64,
    /// Where pgbench scripts and logs go.
    pub(crate) dir: &'a Path,
    /// How many connections the server's pool has (the SQLite loop uses as many).
    pub(crate) server_pool: u32,
}

/// A token's key: the 32-byte digest `sha256(parts::bytea)` makes on Postgres.
fn token_key(parts: &str) -> Sha256Digest {
    Sha256Digest::of(parts)
}

/// A code's key: the 64 hex digits `auth_codes.code_hash` holds.
fn code_key(parts: &str) -> String {
    sha256_hex(parts)
}

/// The table of the `lean` ceiling: what a token row needs and no more.
const LEAN_TABLE_PG: &str = r"
create table bench_lean_tokens (
    token_hash bytea primary key,
    client_id text not null,
    scope text not null,
    expires_at bigint not null,
    created_at bigint not null
)";

const LEAN_TABLE_SQLITE: &str = r"
create table bench_lean_tokens (
    token_hash blob primary key,
    client_id text not null,
    scope text not null,
    expires_at bigint not null,
    created_at bigint not null
)";

/// Seeds the rows the lookup ceiling reads and makes the lean table (once
/// per database).
pub(crate) async fn prepare(ctx: &Ctx<'_>) -> Result<(), BoxError> {
    match ctx.pool {
        Pool::Pg(p) => {
            sqlx::query(LEAN_TABLE_PG).execute(p).await?;
            sqlx::query(
                r"
insert into tokens (token_hash, kind, grant_id, client_id, user_id, scope, label, created_at,
                    expires_at, revoked_at, last_used_at, rotated_at, grant_expires_at, public_id)
select sha256(('seed-' || g)::bytea), 'access', null, $1, $2,
       'account:read event:write', null, $3, $4, null, null, null, null, null
from generate_series(1, $5) g",
            )
            .bind(ctx.client_id)
            .bind(ctx.user_id)
            .bind(ctx.now)
            .bind(ctx.now + 86_400)
            .bind(SELECT_ROWS)
            .execute(p)
            .await?;
        }
        Pool::Lite(p) => {
            sqlx::query(LEAN_TABLE_SQLITE).execute(p).await?;
            let rows: Vec<(Sha256Digest, Option<String>)> = (1..=SELECT_ROWS)
                .map(|i| (token_key(&format!("seed-{i}")), None))
                .collect();
            insert_tokens(p, &rows, ctx, "access").await?;
        }
    }
    // The lookups bind the digest the server computes (on SQLite) or make it
    // with `sha256()` (pgbench): both must name the seeded rows.
    if !token_stored(ctx.pool, token_key("seed-1")).await? {
        return Err("db:select: the seeded rows are not found by their digest".into());
    }
    Ok(())
}

/// Whether `tokens` holds a row with this digest.
async fn token_stored(pool: &Pool, hash: Sha256Digest) -> Result<bool, BoxError> {
    let n = on_pool!(pool, p => sqlx::query_scalar::<_, i64>(
        "select count(*) from tokens where token_hash = $1"
    )
    .bind(hash)
    .fetch_one(p)
    .await)?;
    Ok(n == 1)
}

/// Stores tokens of `kind`, each `(digest, grant id)`.
async fn insert_tokens(
    p: &SqlitePool,
    rows: &[(Sha256Digest, Option<String>)],
    ctx: &Ctx<'_>,
    kind: &'static str,
) -> Result<(), BoxError> {
    for chunk in rows.chunks(400) {
        let mut sql = String::from(
            "insert into tokens (token_hash, kind, grant_id, client_id, user_id, scope, label, \
             created_at, expires_at, revoked_at, last_used_at, rotated_at, grant_expires_at, \
             public_id) values ",
        );
        for i in 0..chunk.len() {
            if i > 0 {
                sql.push(',');
            }
            sql.push_str(&format!(
                "(${}, $1, ${}, $2, $3, 'account:read event:write', null, $4, $5, null, null, null, $5, null)",
                2 * i + 6,
                2 * i + 7
            ));
        }
        let mut q = sqlx::query(AssertSqlSafe(sql))
            .bind(kind)
            .bind(ctx.client_id)
            .bind(ctx.user_id)
            .bind(ctx.now)
            .bind(ctx.now + 86_400);
        for (k, grant) in chunk {
            q = q.bind(*k).bind(grant.as_deref());
        }
        q.execute(p).await?;
    }
    Ok(())
}

/// Runs one ceiling at `conns` for `duration`.
pub(crate) async fn run(
    ctx: &Ctx<'_>,
    kind: Kind,
    conns: usize,
    duration: Duration,
) -> Result<Outcome, BoxError> {
    // Enough consumable rows for ~20k transactions a second, per connection.
    let per_conn = (20_000.0 * duration.as_secs_f64() * 1.2 / conns as f64) as i64 + 200;
    let salt = oauthd::crypto::random_id();
    match ctx.pool {
        Pool::Pg(p) => {
            match kind {
                Kind::Code => {
                    sqlx::query(
                        r"
insert into auth_codes (code_hash, grant_id, client_id, user_id, redirect_uri, redirect_uri_sent,
                        scope, code_challenge, code_challenge_method, created_at, expires_at,
                        consumed_at)
select encode(sha256(('code-' || $1 || '-' || c || '-' || n)::bytea), 'hex'),
       'cg-' || $1 || '-' || c || '-' || n, $2, $3,
       null, false, 'account:read event:write', null, null, $4, $5, null
from generate_series(0, $6 - 1) c, generate_series(1, $7) n",
                    )
                    .bind(&salt)
                    .bind(ctx.client_id)
                    .bind(ctx.user_id)
                    .bind(ctx.now)
                    .bind(ctx.now + 3600)
                    .bind(conns as i64)
                    .bind(per_conn)
                    .execute(p)
                    .await?;
                }
                Kind::Refresh => {
                    sqlx::query(
                        r"
insert into tokens (token_hash, kind, grant_id, client_id, user_id, scope, label, created_at,
                    expires_at, revoked_at, last_used_at, rotated_at, grant_expires_at, public_id)
select sha256(('rt-' || $1 || '-' || c || '-' || n)::bytea), 'refresh',
       'rg-' || $1 || '-' || c, $2,
       $3, 'account:read event:write', null, $4, $5, null, null, null, $5, null
from generate_series(0, $6 - 1) c, generate_series(1, $7) n",
                    )
                    .bind(&salt)
                    .bind(ctx.client_id)
                    .bind(ctx.user_id)
                    .bind(ctx.now)
                    .bind(ctx.now + 86_400)
                    .bind(conns as i64)
                    .bind(per_conn)
                    .execute(p)
                    .await?;
                }
                Kind::Insert | Kind::Lean | Kind::Select => {}
            }
            record_grants(ctx, kind, &salt).await?;
            let out = pgbench(ctx, kind, conns, duration, &salt).await?;
            // A client check that matched nothing would make the ceiling too
            // fast: the first transaction of pgbench's client 0 stored a row.
            if kind == Kind::Insert
                && out.ok > 0
                && !token_stored(ctx.pool, token_key(&format!("ins-{salt}-0-1"))).await?
            {
                return Err("db:insert: the client check matched no row".into());
            }
            if let Some(prefix) = kind.grant_prefix() {
                // A claim that matched nothing would make the ceiling too fast.
                let claimed: i64 = sqlx::query_scalar(
                    "select count(*) from grants where id like $1 and issued_at is not null",
                )
                .bind(format!("{prefix}-{salt}-%"))
                .fetch_one(p)
                .await?;
                if claimed == 0 && out.ok > 0 {
                    return Err(format!("{}: the grant claim matched no row", kind.name()).into());
                }
            }
            Ok(out)
        }
        Pool::Lite(p) => {
            match kind {
                Kind::Code => {
                    let rows: Vec<(String, String)> = (0..conns)
                        .flat_map(|c| (1..=per_conn).map(move |n| (c, n)))
                        .map(|(c, n)| {
                            (
                                code_key(&format!("code-{salt}-{c}-{n}")),
                                format!("cg-{salt}-{c}-{n}"),
                            )
                        })
                        .collect();
                    for chunk in rows.chunks(400) {
                        let mut sql = String::from(
                            "insert into auth_codes (code_hash, grant_id, client_id, user_id, \
                             redirect_uri, redirect_uri_sent, scope, code_challenge, \
                             code_challenge_method, created_at, expires_at, consumed_at) values ",
                        );
                        for i in 0..chunk.len() {
                            if i > 0 {
                                sql.push(',');
                            }
                            sql.push_str(&format!(
                                "(${}, ${}, $1, $2, null, false, 'account:read event:write', null, null, $3, $4, null)",
                                2 * i + 5,
                                2 * i + 6
                            ));
                        }
                        let mut q = sqlx::query(AssertSqlSafe(sql))
                            .bind(ctx.client_id)
                            .bind(ctx.user_id)
                            .bind(ctx.now)
                            .bind(ctx.now + 3600);
                        for (k, grant) in chunk {
                            q = q.bind(k.as_str()).bind(grant.as_str());
                        }
                        q.execute(p).await?;
                    }
                }
                Kind::Refresh => {
                    let rows: Vec<(Sha256Digest, Option<String>)> = (0..conns)
                        .flat_map(|c| (1..=per_conn).map(move |n| (c, n)))
                        .map(|(c, n)| {
                            (
                                token_key(&format!("rt-{salt}-{c}-{n}")),
                                Some(format!("rg-{salt}-{c}")),
                            )
                        })
                        .collect();
                    insert_tokens(p, &rows, ctx, "refresh").await?;
                }
                Kind::Insert | Kind::Lean | Kind::Select => {}
            }
            record_grants(ctx, kind, &salt).await?;
            Ok(sqlite_loop(ctx, p, kind, conns, duration, Arc::from(salt.as_str())).await)
        }
    }
}

/// Records the grants of the codes or refresh families just seeded for `kind`.
async fn record_grants(ctx: &Ctx<'_>, kind: Kind, salt: &str) -> Result<(), BoxError> {
    if let Some(prefix) = kind.grant_prefix() {
        let pattern = format!("{prefix}-{salt}-%");
        on_pool!(ctx.pool, p => sqlx::query(GRANTS_OF_ROWS)
            .bind(ctx.now + 86_400)
            .bind(&pattern)
            .execute(p)
            .await
            .map(drop))?;
    }
    Ok(())
}

/// The grant of every code and refresh family a ceiling run seeded (their
/// grant ids start `<prefix>-<salt>-`), as the consent step records it.
const GRANTS_OF_ROWS: &str = r"
insert into grants (id, client_id, user_id, created_at, issued_at, expires_at, revoked_at)
select grant_id, min(client_id), min(user_id), min(created_at), null, $1, null
from (select grant_id, client_id, user_id, created_at from auth_codes where grant_id like $2
      union all
      select grant_id, client_id, user_id, created_at from tokens where grant_id like $2) named
group by grant_id";

const TOKEN_COLUMNS: &str = "token_hash, kind, grant_id, client_id, user_id, scope, label, created_at, expires_at, revoked_at, last_used_at, rotated_at, grant_expires_at, public_id";

/// The pgbench script for `kind`. Variables: `n` counts each client's
/// transactions (so every key is fresh), `salt` keeps runs apart.
fn pgbench_script(kind: Kind) -> String {
    // Each code has a grant of its own; each connection rotates one family.
    let grant = match kind {
        Kind::Code => "'cg-' || :salt::text || '-' || :client_id::text || '-' || :n::text",
        _ => "'rg-' || :salt::text || '-' || :client_id::text",
    };
    // The 32-byte digest of `<tag>-<salt>-<client>-<n>` (`token_key`).
    let digest = |tag: &str| {
        format!(
            "sha256(('{tag}-' || :salt::text || '-' || :client_id::text || '-' || :n::text)::bytea)"
        )
    };
    let token = |kind: &str, tag: &str, grant_end: &str| {
        format!(
            "insert into tokens ({TOKEN_COLUMNS}) values ({}, '{kind}', {grant}, :cid::text, :uid::text, :scope::text, null, :now::bigint, :now::bigint + 3600, null, null, null, {grant_end}, null);\n",
            digest(tag)
        )
    };
    // store::audit::insert_in: the row a code exchange or a rotation stores
    // with its tokens (no ip at the token endpoint).
    let audit = |kind: &str, detail: &str| {
        format!(
            "insert into audit_events (id, at, kind, user_id, client_id, ip, detail) values ('ev-' || :salt::text || '-' || :client_id::text || '-' || :n::text, :now::bigint, '{kind}', :uid::text, :cid::text, null, {detail});\n"
        )
    };
    // store::grants::claim on Postgres, client row locked `for share`.
    let claim = format!(
        "update grants set issued_at = :now::bigint, expires_at = :now::bigint + 3600 \
         where id = {grant} and revoked_at is null and expires_at > :now::bigint \
         and exists (select 1 from clients where id = :cid::text and coalesce(secret_hash, '') = :sh::text for share);\n"
    );
    match kind {
        // store::tokens::insert_for_client on Postgres.
        Kind::Insert => format!(
            "\\set n :n + 1\n\
             insert into tokens ({TOKEN_COLUMNS}) select {}, 'access', null, :cid::text, null, :scope::text, null, :now::bigint, :now::bigint + 3600, null, null, null, null, null \
             from clients where id = :cid::text and coalesce(secret_hash, '') = :sh::text for share;\n",
            digest("ins")
        ),
        Kind::Lean => format!(
            "\\set n :n + 1\n\
             insert into bench_lean_tokens (token_hash, client_id, scope, expires_at, created_at) \
             values ({}, :cid::text, :scope::text, :now::bigint + 3600, :now::bigint);\n",
            digest("lean")
        ),
        Kind::Select => format!(
            "\\set i random(1, {SELECT_ROWS})\n\
             select t.kind, t.grant_id, t.client_id, t.user_id, u.username, u.disabled as user_disabled, \
             t.scope, t.created_at, t.expires_at, t.revoked_at, t.rotated_at, t.grant_expires_at \
             from tokens t left join users u on u.id = t.user_id \
             where t.token_hash = sha256(('seed-' || :i::text)::bytea);\n"
        ),
        Kind::Code => format!(
            "\\set n :n + 1\nbegin;\n{claim}\
             update auth_codes set consumed_at = :now::bigint where code_hash = encode({}, 'hex') and consumed_at is null and expires_at > :now::bigint;\n\
             {}{}{}commit;\n",
            digest("code"),
            token("access", "cat", "null"),
            token("refresh", "crt", ":now::bigint + 3600"),
            audit("token_issued", ":scope::text")
        ),
        Kind::Refresh => format!(
            "\\set n :n + 1\nbegin;\n{claim}\
             update tokens set rotated_at = :now::bigint, replaced_by = {} where token_hash = {} and kind = 'refresh' and rotated_at is null and revoked_at is null and expires_at > :now::bigint;\n\
             {}{}{}commit;\n",
            digest("rrt"),
            digest("rt"),
            token("access", "rat", "null"),
            token("refresh", "rrt", ":now::bigint + 3600"),
            audit("token_refreshed", "null")
        ),
    }
}

async fn pgbench(
    ctx: &Ctx<'_>,
    kind: Kind,
    conns: usize,
    duration: Duration,
    salt: &str,
) -> Result<Outcome, BoxError> {
    let script = ctx
        .dir
        .join(format!("pgbench-{}.sql", kind.name().replace(':', "-")));
    std::fs::write(&script, pgbench_script(kind))?;
    let logs = ctx.dir.join(format!("pgbench-{salt}"));
    std::fs::create_dir_all(&logs)?;
    let secs = duration.as_secs().max(1);
    let output = Command::new(pgbench_binary())
        .arg("-n")
        .args(["-M", "prepared"])
        .args(["-c", &conns.to_string()])
        .args(["-j", &conns.min(2).to_string()])
        .args(["-T", &secs.to_string()])
        .args(["-D", "n=0"])
        .args(["-D", &format!("salt={salt}")])
        .args(["-D", &format!("cid={}", ctx.client_id)])
        .args(["-D", &format!("uid={}", ctx.user_id)])
        .args(["-D", &format!("sh={}", ctx.secret_hash)])
        .args(["-D", &format!("now={}", ctx.now)])
        // pgbench would read `:read` inside a quoted literal as a variable.
        .args(["-D", "scope=account:read event:write"])
        .arg("-l")
        .arg(format!("--log-prefix={}", logs.join("tx").display()))
        .arg("-f")
        .arg(&script)
        .arg(&ctx.db.url)
        .current_dir(&logs)
        .output()
        .await?;
    let text = String::from_utf8_lossy(&output.stdout).into_owned();
    let errors_text = String::from_utf8_lossy(&output.stderr).into_owned();
    if !output.status.success() {
        return Err(format!("pgbench failed: {errors_text}").into());
    }
    let mut out = Outcome {
        window: Duration::from_secs(secs),
        ..Outcome::default()
    };
    for entry in std::fs::read_dir(&logs)? {
        let text = std::fs::read_to_string(entry?.path())?;
        for line in text.lines() {
            // client_id transaction_no time_us script_no epoch epoch_us
            if let Some(us) = line
                .split_whitespace()
                .nth(2)
                .and_then(|v| v.parse::<u64>().ok())
            {
                out.latencies_us.push(u32::try_from(us).unwrap_or(u32::MAX));
            }
        }
    }
    out.latencies_us.sort_unstable();
    let tps = text
        .lines()
        .find_map(|l| l.strip_prefix("tps = "))
        .and_then(|rest| rest.split_whitespace().next()?.parse::<f64>().ok())
        .ok_or_else(|| format!("no tps in pgbench output: {text}"))?;
    // The rate pgbench reports (excluding connection set-up), as `ok`.
    out.ok = (tps * out.window.as_secs_f64()).round() as u64;
    out.errors = text
        .lines()
        .find_map(|l| l.strip_prefix("number of failed transactions: "))
        .and_then(|rest| rest.split_whitespace().next()?.parse().ok())
        .unwrap_or(0);
    if !errors_text.trim().is_empty() {
        out.first_error = Some(errors_text.lines().take(3).collect::<Vec<_>>().join(" "));
        if out.errors == 0 {
            out.errors = 1;
        }
    }
    let _ = std::fs::remove_dir_all(&logs);
    Ok(out)
}

/// `pgbench` on the PATH, or from the newest Postgres install.
fn pgbench_binary() -> std::path::PathBuf {
    if let Ok(p) = std::env::var("PGBENCH") {
        return p.into();
    }
    if let Some(p) = crate::server::on_path("pgbench") {
        return p;
    }
    let mut found: Vec<std::path::PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| e.path().join("bin/pgbench"))
        .filter(|p| p.is_file())
        .collect();
    found.sort();
    found.pop().unwrap_or_else(|| "pgbench".into())
}

async fn sqlite_loop(
    ctx: &Ctx<'_>,
    pool: &SqlitePool,
    kind: Kind,
    conns: usize,
    duration: Duration,
    salt: Arc<str>,
) -> Outcome {
    // The server's pool size: more connections only queue on SQLite's one writer.
    let pool = {
        let options = pool.connect_options().as_ref().clone();
        match sqlx::sqlite::SqlitePoolOptions::new()
            .max_connections(ctx.server_pool)
            .connect_with(options)
            .await
        {
            Ok(p) => p,
            Err(e) => {
                return Outcome {
                    errors: 1,
                    first_error: Some(e.to_string()),
                    window: duration,
                    ..Outcome::default()
                };
            }
        }
    };
    let until = Instant::now() + duration;
    let mut tasks = Vec::new();
    for c in 0..conns {
        let (pool, salt) = (pool.clone(), Arc::clone(&salt));
        let (cid, uid, now) = (ctx.client_id.to_owned(), ctx.user_id.to_owned(), ctx.now);
        let sh = ctx.secret_hash.to_owned();
        tasks.push(tokio::spawn(async move {
            let mut out = Outcome::default();
            let mut n: u64 = 0;
            let mut rng: u64 = 0x9E37_79B9_7F4A_7C15 ^ (c as u64 + 1);
            while Instant::now() < until {
                n += 1;
                let started = Instant::now();
                let result = match kind {
                    Kind::Insert => {
                        sqlite_insert_for_client(
                            &pool,
                            token_key(&format!("ins-{salt}-{c}-{n}")),
                            (&cid, &sh),
                            now,
                        )
                        .await
                    }
                    Kind::Select => {
                        rng ^= rng << 13;
                        rng ^= rng >> 7;
                        rng ^= rng << 17;
                        let i = rng % (SELECT_ROWS as u64) + 1;
                        // A digest that found no row would make the ceiling too fast.
                        sqlx::query(SELECT)
                            .bind(token_key(&format!("seed-{i}")))
                            .fetch_one(&pool)
                            .await
                            .map(drop)
                    }
                    Kind::Lean => sqlx::query(LEAN_INSERT)
                        .bind(&oauthd::crypto::random_bytes::<32>()[..])
                        .bind(&cid)
                        .bind(now + 3600)
                        .bind(now)
                        .execute(&pool)
                        .await
                        .map(drop),
                    Kind::Code | Kind::Refresh => {
                        sqlite_txn(&pool, kind, &salt, c, n, (&cid, &uid, &sh), now).await
                    }
                };
                let done = Instant::now();
                if done > until {
                    break;
                }
                match result {
                    Ok(()) => {
                        out.ok += 1;
                        let us = done.duration_since(started).as_micros();
                        out.latencies_us.push(u32::try_from(us).unwrap_or(u32::MAX));
                    }
                    Err(e) => {
                        out.errors += 1;
                        out.first_error.get_or_insert(e.to_string());
                    }
                }
            }
            out
        }));
    }
    let mut total = Outcome {
        window: duration,
        ..Outcome::default()
    };
    for t in tasks {
        if let Ok(part) = t.await {
            total.ok += part.ok;
            total.errors += part.errors;
            total.latencies_us.extend(part.latencies_us);
            if total.first_error.is_none() {
                total.first_error = part.first_error;
            }
        }
    }
    total.latencies_us.sort_unstable();
    pool.close().await;
    total
}

const SELECT: &str = r"
select t.kind, t.grant_id, t.client_id, t.user_id, u.username, u.disabled as user_disabled,
       t.scope, t.created_at, t.expires_at, t.revoked_at, t.rotated_at, t.grant_expires_at
from tokens t left join users u on u.id = t.user_id
where t.token_hash = $1";

const INSERT: &str = r"
insert into tokens (token_hash, kind, grant_id, client_id, user_id, scope, label,
                    created_at, expires_at, revoked_at, last_used_at, rotated_at,
                    grant_expires_at, public_id)
values ($1, $2, $3, $4, $5, 'account:read event:write', null, $6, $7, null, null, null, $8, null)";

// store::tokens::insert_for_client on SQLite.
const INSERT_FOR_CLIENT: &str = r"
insert into tokens (token_hash, kind, grant_id, client_id, user_id, scope, label,
                    created_at, expires_at, revoked_at, last_used_at, rotated_at,
                    grant_expires_at, public_id)
select $1, 'access', null, $2, null, 'account:read event:write', null, $3, $4, null, null, null,
       null, null
from clients where id = $2 and coalesce(secret_hash, '') = $5";

/// A client's own token, stored only while the client has the secret it
/// authenticated with; `who` is the client id and its secret digest.
async fn sqlite_insert_for_client(
    pool: &SqlitePool,
    hash: Sha256Digest,
    who: (&str, &str),
    now: i64,
) -> Result<(), sqlx::Error> {
    let (cid, secret_hash) = who;
    let n = sqlx::query(INSERT_FOR_CLIENT)
        .bind(hash)
        .bind(cid)
        .bind(now)
        .bind(now + 3600)
        .bind(secret_hash)
        .execute(pool)
        .await?
        .rows_affected();
    // A client check that matched nothing would make the ceiling too fast.
    expect_one(n, "the client check matched no row")
}

/// `Ok` when a statement changed exactly one row, else an error saying `what`.
fn expect_one(rows: u64, what: &str) -> Result<(), sqlx::Error> {
    if rows == 1 {
        Ok(())
    } else {
        Err(sqlx::Error::Protocol(what.to_owned()))
    }
}

/// One token row; `user` is the user id and the grant id, for a token
/// issued from a grant.
async fn sqlite_insert<'e, E: sqlx::SqliteExecutor<'e>>(
    e: E,
    hash: Sha256Digest,
    kind: &str,
    cid: &str,
    user: Option<(&str, &str)>,
    now: i64,
) -> Result<(), sqlx::Error> {
    let (uid, grant) = user.unzip();
    sqlx::query(INSERT)
        .bind(hash)
        .bind(kind)
        .bind(grant)
        .bind(cid)
        .bind(uid)
        .bind(now)
        .bind(now + 3600)
        .bind((kind == "refresh").then_some(now + 3600))
        .execute(e)
        .await
        .map(drop)
}

const LEAN_INSERT: &str = r"
insert into bench_lean_tokens (token_hash, client_id, scope, expires_at, created_at)
values ($1, $2, 'account:read event:write', $3, $4)";

// store::grants::claim on SQLite.
const CLAIM: &str = r"
update grants set issued_at = $1, expires_at = $1 + 3600
where id = $2 and revoked_at is null and expires_at > $1
  and exists (select 1 from clients where id = $3 and coalesce(secret_hash, '') = $4)";

// store::audit::insert_in (no ip at the token endpoint).
const AUDIT: &str = r"
insert into audit_events (id, at, kind, user_id, client_id, ip, detail)
values ($1, $2, $3, $4, $5, null, $6)";

/// One code exchange or rotation: claim the grant, consume the code (or
/// retire the refresh token for its successor), insert two tokens and the
/// audit row. `who` is the client id, the user id and the client's secret
/// digest.
async fn sqlite_txn(
    pool: &SqlitePool,
    kind: Kind,
    salt: &str,
    c: usize,
    n: u64,
    who: (&str, &str, &str),
    now: i64,
) -> Result<(), sqlx::Error> {
    let (cid, uid, secret_hash) = who;
    let grant = match kind {
        Kind::Code => format!("cg-{salt}-{c}-{n}"),
        _ => format!("rg-{salt}-{c}"),
    };
    let mut tx = pool.begin().await?;
    let claimed = sqlx::query(CLAIM)
        .bind(now)
        .bind(&grant)
        .bind(cid)
        .bind(secret_hash)
        .execute(&mut *tx)
        .await?
        .rows_affected();
    expect_one(claimed, "the grant claim matched no row")?;
    let successor = token_key(&format!("r-{salt}-{c}-{n}"));
    let (used, event, detail) = if kind == Kind::Code {
        let rows = sqlx::query(
            "update auth_codes set consumed_at = $1 where code_hash = $2 and consumed_at is null and expires_at > $1",
        )
        .bind(now)
        .bind(code_key(&format!("code-{salt}-{c}-{n}")))
        .execute(&mut *tx)
        .await?
        .rows_affected();
        (rows, "token_issued", Some("account:read event:write"))
    } else {
        let rows = sqlx::query(
            "update tokens set rotated_at = $1, replaced_by = $2 where token_hash = $3 and kind = 'refresh' and rotated_at is null and revoked_at is null and expires_at > $1",
        )
        .bind(now)
        .bind(successor)
        .bind(token_key(&format!("rt-{salt}-{c}-{n}")))
        .execute(&mut *tx)
        .await?
        .rows_affected();
        (rows, "token_refreshed", None)
    };
    expect_one(used, "the code or refresh token was not current")?;
    sqlite_insert(
        &mut *tx,
        token_key(&format!("a-{salt}-{c}-{n}")),
        "access",
        cid,
        Some((uid, &grant)),
        now,
    )
    .await?;
    sqlite_insert(
        &mut *tx,
        successor,
        "refresh",
        cid,
        Some((uid, &grant)),
        now,
    )
    .await?;
    sqlx::query(AUDIT)
        .bind(format!("ev-{salt}-{c}-{n}"))
        .bind(now)
        .bind(event)
        .bind(uid)
        .bind(cid)
        .bind(detail)
        .execute(&mut *tx)
        .await?;
    tx.commit().await
}
