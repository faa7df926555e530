-- The device authorization grant (RFC 8628): one row per device
-- authorization request, from the device's first request until the janitor
-- deletes it after expiry.
create table device_codes (
    -- SHA-256 of the device code (32 bytes, like `tokens.token_hash`).
    device_code_hash bytea primary key,
    -- SHA-256 (hex) of the normalized user code (8 letters, no dash).
    user_code_hash text not null,
    client_id text not null references clients (id) on delete cascade,
    -- Requested scopes, space-delimited.
    scope text not null,
    -- pending | approved | denied | expired
    status text not null,
    -- The user who approved or denied.
    user_id text references users (id) on delete cascade,
    -- The grant created on approval; tokens are issued from it.
    grant_id text,
    -- Seconds the device must wait between polls (raised by slow_down).
    interval_secs bigint not null,
    -- Unix seconds of the last poll that was answered slow_down.
    last_polled_at bigint,
    -- Wrong user codes entered while this code was pending (RFC 8628 §5.1).
    failed_guesses bigint not null default 0,
    created_at bigint not null,
    expires_at bigint not null,
    -- Unix seconds of the token exchange; set once.
    consumed_at bigint
);

-- store::device_codes::find_pending (code entry): a user code names at most
-- one pending request.
create unique index device_codes_user_code on device_codes (user_code_hash)
    where status = 'pending';

-- store::device_codes::count_guess: the pending requests still live.
create index device_codes_pending on device_codes (expires_at) where status = 'pending';

-- store::janitor DEVICE_CODES.
create index device_codes_expires_at on device_codes (expires_at);

-- Deleting a client (cascade above) or revoking by client.
create index device_codes_client_id on device_codes (client_id);
