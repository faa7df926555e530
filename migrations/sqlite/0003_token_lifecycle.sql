-- Refresh rotation, personal access token ids, and per-client CORS origins.

-- When a refresh token was exchanged for a new one. A retired token presented
-- again (outside the grace period) revokes its whole grant.
alter table tokens add column rotated_at bigint;
-- The absolute end of the refresh family, carried from token to token.
alter table tokens add column grant_expires_at bigint;
-- A short public id for personal access tokens, for listing and revoking.
alter table tokens add column public_id text;

create unique index tokens_public_id on tokens (public_id);

-- Browser origins allowed to call the token, revocation and introspection
-- endpoints and /account with CORS (an oauthd extension to RFC 7591).
create table client_origins (
    client_id text not null references clients (id) on delete cascade,
    origin text not null,
    primary key (client_id, origin)
);

create index client_origins_origin on client_origins (origin);
