-- Sign-in sessions, pending authorization requests, remembered consent,
-- authorization codes and tokens. Secrets are stored only as SHA-256 hex digests.

create table sessions (
    id_hash text primary key,
    user_id text not null references users (id) on delete cascade,
    created_at bigint not null,
    last_seen_at bigint not null,
    expires_at bigint not null
);

create index sessions_user_id on sessions (user_id);
create index sessions_expires_at on sessions (expires_at);

-- A validated authorization request waiting for the user's decision. The
-- consent form refers to it by id, so no parameter can be swapped when posting.
create table authorization_requests (
    id_hash text primary key,
    session_id_hash text not null references sessions (id_hash) on delete cascade,
    client_id text not null references clients (id) on delete cascade,
    redirect_uri text,
    redirect_uri_sent boolean not null,
    scope text not null,
    state text,
    code_challenge text,
    code_challenge_method text,
    created_at bigint not null,
    expires_at bigint not null
);

create index authorization_requests_expires_at on authorization_requests (expires_at);

-- What a user has granted a client, so the consent page can be skipped.
create table consents (
    user_id text not null references users (id) on delete cascade,
    client_id text not null references clients (id) on delete cascade,
    scope text not null,
    created_at bigint not null,
    updated_at bigint not null,
    primary key (user_id, client_id)
);

create index consents_client_id on consents (client_id);

-- A grant ties together the code and every token descended from it, so a
-- replayed code (or, later, a reused refresh token) can revoke them all.
create table auth_codes (
    code_hash text primary key,
    grant_id text not null,
    client_id text not null references clients (id) on delete cascade,
    user_id text not null references users (id) on delete cascade,
    redirect_uri text,
    redirect_uri_sent boolean not null,
    scope text not null,
    code_challenge text,
    code_challenge_method text,
    created_at bigint not null,
    expires_at bigint not null,
    consumed_at bigint
);

create index auth_codes_expires_at on auth_codes (expires_at);

create table tokens (
    token_hash text primary key,
    -- access | refresh | personal
    kind text not null,
    grant_id text,
    client_id text references clients (id) on delete cascade,
    user_id text references users (id) on delete cascade,
    scope text not null,
    label text,
    created_at bigint not null,
    expires_at bigint,
    revoked_at bigint,
    last_used_at bigint
);

create index tokens_grant_id on tokens (grant_id);
create index tokens_client_id on tokens (client_id);
create index tokens_user_id on tokens (user_id);
create index tokens_expires_at on tokens (expires_at);
