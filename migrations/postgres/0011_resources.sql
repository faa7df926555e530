-- Resource indicators (RFC 8707) and registration for native apps (RFC 8252).
--
-- A resource list is stored as its absolute URIs, space-delimited (a valid
-- resource URI holds no space), exactly as the client sent them; null means
-- none was named, which keeps the behaviour from before this migration.

-- What the pending request and its code were granted for.
alter table authorization_requests add column resources text;
alter table auth_codes add column resources text;

-- What the user granted the client for; consent is remembered only for
-- these.
alter table consents add column resources text;

-- A token's audience: the resources it may be presented to (access
-- tokens), or that its family was granted for (refresh tokens).
alter table tokens add column audience text;

-- RFC 7591 `application_type`: `web` (the default) or `native`.
alter table clients add column application_type text not null default 'web';

-- Resources the operator registered (`oauthd resource add`): a display name
-- for the consent page, and the client that is that resource server (it
-- may introspect tokens whose audience names the resource).
create table resources (
    uri text primary key,
    name text not null,
    client_id text references clients (id) on delete set null,
    created_at bigint not null
);

create index resources_client_id on resources (client_id) where client_id is not null;

-- A client with rows here may ask only for these resources
-- (`oauthd client resources`); a client without may ask for any.
create table client_resources (
    client_id text not null references clients (id) on delete cascade,
    uri text not null,
    primary key (client_id, uri)
);
