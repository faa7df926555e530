//! The `signing_keys` table: ID-token signing keys, private halves sealed.

use super::{Db, Error, on_db};

/// A signing key as stored.
#[derive(Clone, Debug, PartialEq, Eq, sqlx::FromRow)]
pub struct SigningKeyRow {
    /// The JWK key id.
    pub kid: String,
    /// 1, 2, 3… in order of creation (unique).
    pub generation: i64,
    /// `RS256`, `ES256` or `EdDSA`.
    pub alg: String,
    /// The public half as a JWK (JSON).
    pub public_jwk: String,
    /// The sealed private half (nonce, then ciphertext and tag).
    pub private_key: Vec<u8>,
    /// Unix seconds; published from then on.
    pub created_at: i64,
    /// Unix seconds; signs from then on, until a newer key activates.
    pub activates_at: i64,
    /// Unix seconds; set by `oauthd keys retire`.
    pub retired_at: Option<i64>,
}

const INSERT: &str = "insert into signing_keys \
    (kid, generation, alg, public_jwk, private_key, created_at, activates_at) \
    values ($1, $2, $3, $4, $5, $6, $7)";

/// Stores a new key; [`Error::Conflict`] when its generation (or kid) is
/// taken, that is when another process rotated first.
pub async fn insert(db: &Db, k: &SigningKeyRow) -> Result<(), Error> {
    on_db!(db, pool => sqlx::query(INSERT)
        .bind(&k.kid)
        .bind(k.generation)
        .bind(&k.alg)
        .bind(&k.public_jwk)
        .bind(&k.private_key)
        .bind(k.created_at)
        .bind(k.activates_at)
        .execute(pool)
        .await
        .map(drop))?;
    Ok(())
}

const LIST: &str = "select kid, generation, alg, public_jwk, private_key, created_at, \
    activates_at, retired_at from signing_keys order by generation";

/// Every key, oldest generation first.
pub async fn list(db: &Db) -> Result<Vec<SigningKeyRow>, Error> {
    Ok(on_db!(db, pool => sqlx::query_as(LIST).fetch_all(pool).await)?)
}

const RETIRE: &str =
    "update signing_keys set retired_at = $2 where kid = $1 and retired_at is null";

/// Marks a key retired at `now`; false when there is no such unretired key.
pub async fn retire(db: &Db, kid: &str, now: i64) -> Result<bool, Error> {
    let n = on_db!(db, pool => sqlx::query(RETIRE)
        .bind(kid)
        .bind(now)
        .execute(pool)
        .await
        .map(|r| r.rows_affected()))?;
    Ok(n > 0)
}
