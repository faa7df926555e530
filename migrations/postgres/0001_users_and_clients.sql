-- Users and OAuth clients. Times are unix seconds; ids are TEXT.
create table users (
    id text primary key,
    username text not null unique,
    password_hash text not null,
    is_admin boolean not null default false,
    disabled boolean not null default false,
    created_at bigint not null,
    updated_at bigint not null
);

create table clients (
    id text primary key,
    name text not null,
    website text,
    -- SHA-256 hex digest of the secret; null for public clients.
    secret_hash text,
    auth_method text not null,
    -- Space-delimited lists (a valid URI or scope holds no space).
    redirect_uris text not null,
    scopes text not null,
    grant_types text not null,
    response_types text not null,
    -- The user who registered the client in the portal; null for API and CLI clients.
    owner_id text references users (id) on delete cascade,
    created_at bigint not null,
    updated_at bigint not null
);

create index clients_owner_id on clients (owner_id);
