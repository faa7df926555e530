-- A leaner token row: every issuance inserts one, so each column, index and
-- constraint of `tokens` is paid for on the hot path. The Postgres migration
-- of the same name has the measurements behind it.
--
-- 1. The digests a token is found by (`token_hash`, and `replaced_by`, which
--    names the refresh token that replaced this one) become their 32 bytes
--    instead of 64 hex characters. SQLite cannot change a column's type, so
--    the table is rebuilt and its rows copied through `unhex()` (SQLite
--    3.41 and later; oauthd bundles its SQLite). A digest that is not hex
--    would become null and fail the `not null` key, stopping the migration
--    rather than losing the row.
--
-- 2. No foreign keys to `clients` and `users`: deleting a client or a user
--    deletes its tokens through the triggers below, in the same transaction,
--    whoever deletes it. SQLite runs one writer at a time, so an issuance
--    and a deletion never overlap.
--
-- 3. Secondary indexes only for the lookups that exist, and partial where
--    most rows have nothing to index (see each index).

create table tokens_lean (
    token_hash blob primary key not null,
    -- access | refresh | personal
    kind text not null,
    grant_id text,
    client_id text,
    user_id text,
    scope text not null,
    label text,
    created_at bigint not null,
    expires_at bigint,
    revoked_at bigint,
    last_used_at bigint,
    rotated_at bigint,
    grant_expires_at bigint,
    public_id text,
    replaced_by blob
);

insert into tokens_lean (token_hash, kind, grant_id, client_id, user_id, scope, label,
                         created_at, expires_at, revoked_at, last_used_at, rotated_at,
                         grant_expires_at, public_id, replaced_by)
select unhex(token_hash), kind, grant_id, client_id, user_id, scope, label,
       created_at, expires_at, revoked_at, last_used_at, rotated_at,
       grant_expires_at, public_id, unhex(replaced_by)
from tokens;

-- Its indexes go with it.
drop table tokens;
alter table tokens_lean rename to tokens;

-- store::janitor TOKENS: `expires_at < $1`. Personal tokens that never
-- expire are left out.
create index tokens_expires_at on tokens (expires_at) where expires_at is not null;

-- store::janitor TOKENS: `revoked_at < $1` (the other half of its `or`, which
-- no index served before). An issued token is not revoked, so an insert never
-- enters this index.
create index tokens_revoked_at on tokens (revoked_at) where revoked_at is not null;

-- store::grants::revoke (`where grant_id = $2`): revoking a code's, a
-- refresh family's or an app's tokens. Client-credentials and personal tokens
-- have no grant.
create index tokens_grant_id on tokens (grant_id) where grant_id is not null;

-- store::tokens::revoke_for_user_client (`user_id = $2 and client_id = $3`),
-- store::consents::list_for_user (the newest token per user and client),
-- store::tokens::list_personal (`user_id = $1`) and the users trigger below.
-- Client-credentials tokens have no user.
create index tokens_user_id on tokens (user_id, client_id) where user_id is not null;

-- The clients trigger below (`client_id = old.id`): without it, deleting a
-- client would read the whole table. Personal tokens have no client.
create index tokens_client_id on tokens (client_id) where client_id is not null;

-- store::tokens::revoke_personal and revoke_personal_of (`public_id = $2`),
-- and the uniqueness of the public id. Only personal tokens have one.
create unique index tokens_public_id on tokens (public_id) where public_id is not null;

-- What the foreign keys' `on delete cascade` did. A user's deletion that
-- cascades to the clients they own fires the clients trigger too.
create trigger clients_delete_tokens
    after delete on clients
    for each row
begin
    delete from tokens where client_id = old.id;
end;

create trigger users_delete_tokens
    after delete on users
    for each row
begin
    delete from tokens where user_id = old.id;
end;
