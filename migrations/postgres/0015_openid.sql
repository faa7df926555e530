-- OpenID Connect: the `nonce` of an authorization request travels with the
-- pending request and the code into the ID token; `auth_time` (when the
-- user signed in: the session's start) is kept with the code and with its
-- grant, so ID tokens from later refreshes carry the same value.
alter table authorization_requests add column nonce text;
alter table auth_codes add column nonce text;
alter table auth_codes add column auth_time bigint;
alter table grants add column auth_time bigint;

-- OpenID Connect pairwise subjects (`subject_type=pairwise`): the sector,
-- the one host of the client's redirect URIs, its `sub` values are derived
-- for. Null: public subjects (the user id).
alter table clients add column pairwise_sector text;
