-- JWT access tokens (RFC 9068) and RP-initiated logout (OpenID Connect
-- RP-Initiated Logout 1.0).
--
-- access_token_format: `opaque` (the default: an `oat_` string only the
-- database can resolve) or `jwt` (a signed RFC 9068 token a resource server
-- can verify with the JWKS). A token is a JWT when its client says so or any
-- resource of its audience does. Either way the token's digest is stored
-- in `tokens`, so introspection and revocation work the same.
alter table clients add column access_token_format text not null default 'opaque';
alter table resources add column access_token_format text not null default 'opaque';

-- The client's registered `post_logout_redirect_uris`, space-delimited
-- like `redirect_uris` (exact strings; the same rules).
alter table clients add column post_logout_redirect_uris text not null default '';
