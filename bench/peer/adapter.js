// oidc-provider's Adapter interface on Postgres: one table, oidc_payloads
// (schema.sql), keyed by (model, id). Every statement is named, so pg
// prepares it once per connection.
import pg from 'pg';

const UPSERT = `
insert into oidc_payloads (model, id, payload, grant_id, uid, user_code, expires_at)
values ($1, $2, $3, $4, $5, $6, $7)
on conflict (model, id) do update
set payload = excluded.payload, grant_id = excluded.grant_id, uid = excluded.uid,
    user_code = excluded.user_code, expires_at = excluded.expires_at`;

// Expiry is the provider's to check (it finds codes and grants with
// ignoreExpiration to tell "expired" from "not found"), so reads return
// expired rows too, as the reference adapters do.
const FIND = 'select payload, consumed_at from oidc_payloads where model = $1 and id = $2';
const FIND_BY_UID = 'select payload, consumed_at from oidc_payloads where model = $1 and uid = $2';
const FIND_BY_USER_CODE = 'select payload, consumed_at from oidc_payloads where model = $1 and user_code = $2';
const CONSUME = 'update oidc_payloads set consumed_at = now() where model = $1 and id = $2';
const DESTROY = 'delete from oidc_payloads where model = $1 and id = $2';
const REVOKE_BY_GRANT_ID = 'delete from oidc_payloads where model = $1 and grant_id = $2';

export function createPool(connectionString) {
  // pg's default pool size (10) per process.
  return new pg.Pool({ connectionString });
}

function row(result) {
  const found = result.rows[0];
  if (!found) return undefined;
  const { payload, consumed_at: consumedAt } = found;
  return consumedAt ? { ...payload, consumed: Math.floor(consumedAt.getTime() / 1000) } : payload;
}

export function adapterFor(pool) {
  return class PostgresAdapter {
    constructor(model) {
      this.model = model;
    }

    #query(name, text, values) {
      return pool.query({ name, text, values: [this.model, ...values] });
    }

    async upsert(id, payload, expiresIn) {
      const expiresAt = expiresIn ? new Date(Date.now() + expiresIn * 1000) : null;
      await this.#query('upsert', UPSERT, [
        id,
        JSON.stringify(payload),
        payload.grantId ?? null,
        payload.uid ?? null,
        payload.userCode ?? null,
        expiresAt,
      ]);
    }

    async find(id) {
      return row(await this.#query('find', FIND, [id]));
    }

    async findByUid(uid) {
      return row(await this.#query('find_by_uid', FIND_BY_UID, [uid]));
    }

    async findByUserCode(userCode) {
      return row(await this.#query('find_by_user_code', FIND_BY_USER_CODE, [userCode]));
    }

    async consume(id) {
      await this.#query('consume', CONSUME, [id]);
    }

    async destroy(id) {
      await this.#query('destroy', DESTROY, [id]);
    }

    async revokeByGrantId(grantId) {
      await this.#query('revoke_by_grant_id', REVOKE_BY_GRANT_ID, [grantId]);
    }
  };
}
