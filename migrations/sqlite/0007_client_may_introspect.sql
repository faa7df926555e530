-- Introspection permission (RFC 7662 §4). Introspection answers `active: true`
-- only to the client a token was issued to, or to a client the operator has
-- allowed to see every token (`oauthd client update <id> --introspect true`).
-- Existing clients keep seeing only their own tokens.
alter table clients add column may_introspect boolean not null default false;
