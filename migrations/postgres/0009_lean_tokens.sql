-- A leaner token row: every issuance inserts one, so each column, index and
-- constraint of `tokens` is paid for on the hot path.
--
-- 1. The digests a token is found by (`token_hash`, and `replaced_by`, which
--    names the refresh token that replaced this one) become their 32 bytes
--    instead of 64 hex characters: a smaller row and a smaller primary key.
--    Existing rows are converted in place.
--
-- 2. No foreign keys to `clients` and `users`. Each inserted row checked its
--    client with a key-share lock on the client's row, so every concurrent
--    insert for one client queued on that one row. Measured with pgbench on
--    copies of this table (64 connections, -M prepared, one client id for
--    every row, 8 s per run, two runs, on a 2-core machine that others were
--    loading at the same time):
--      plain insert:                       FK 4,392 and 4,582 tps,
--                                          no FK 5,489 and 4,954 tps
--      insert … select from clients … for share (what issuance runs):
--                                          FK 4,885 and 3,953 tps,
--                                          no FK 5,672 and 4,031 tps
--    Without the keys every run was faster (+2 to +25%). Deleting a client or
--    a user still deletes its tokens in the same transaction, through the
--    triggers below, whoever deletes it (oauthd, the CLI, hand-written SQL).
--    Issuance still refuses a client deleted meanwhile: it reads the client
--    row `for share` (store::tokens::insert_for_client, store::grants::claim),
--    so a deletion waits for it and the trigger then sees its tokens.
--
-- 3. Secondary indexes only for the lookups that exist, and partial where
--    most rows have nothing to index: a client-credentials access token (the
--    hot path) enters only the primary key, `tokens_client_id` and
--    `tokens_expires_at`; before, it entered six indexes.

drop index tokens_grant_id;
drop index tokens_client_id;
drop index tokens_user_id;
drop index tokens_expires_at;
drop index tokens_public_id;

-- One rewrite of the table; the primary key is rebuilt on the new type.
alter table tokens
    drop constraint tokens_client_id_fkey,
    drop constraint tokens_user_id_fkey,
    alter column token_hash type bytea using decode(token_hash, 'hex'),
    alter column replaced_by type bytea using decode(replaced_by, 'hex');

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

-- What the foreign keys' `on delete cascade` did, in the deleting
-- transaction. A deletion waits for an issuance holding the client row
-- `for share`; each statement of the function then reads a fresh snapshot,
-- so it sees (and deletes) the tokens that issuance committed.
create function oauthd_client_deleted() returns trigger
language plpgsql as $$
begin
    delete from tokens where client_id = old.id;
    return null;
end;
$$;

create trigger clients_delete_tokens
    after delete on clients
    for each row execute function oauthd_client_deleted();

create function oauthd_user_deleted() returns trigger
language plpgsql as $$
begin
    delete from tokens where user_id = old.id;
    return null;
end;
$$;

create trigger users_delete_tokens
    after delete on users
    for each row execute function oauthd_user_deleted();
