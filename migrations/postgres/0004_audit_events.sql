-- The audit trail: security-relevant events, never with a secret in them.
create table audit_events (
    id text primary key,
    at bigint not null,
    -- e.g. signin_succeeded, consent_granted, token_issued, code_replayed
    kind text not null,
    user_id text references users (id) on delete cascade,
    -- Kept as plain text: the event outlives the client.
    client_id text,
    ip text,
    detail text
);

create index audit_events_user_at on audit_events (user_id, at);
create index audit_events_at on audit_events (at);
