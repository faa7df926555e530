-- The peer's one table: every model oidc-provider stores, keyed by
-- (model, id), with the payload as jsonb and the columns its adapter looks
-- rows up by. Only the lookups the Adapter interface makes get an index,
-- partial where most rows leave the column null.
create table if not exists oidc_payloads (
    model text not null,
    id text not null,
    payload jsonb not null,
    grant_id text,
    uid text,
    user_code text,
    expires_at timestamptz,
    consumed_at timestamptz,
    primary key (model, id)
);

-- revokeByGrantId
create index if not exists oidc_payloads_grant_id
    on oidc_payloads (grant_id) where grant_id is not null;
-- findByUid (sessions)
create index if not exists oidc_payloads_uid
    on oidc_payloads (model, uid) where uid is not null;
-- findByUserCode (device flow)
create index if not exists oidc_payloads_user_code
    on oidc_payloads (model, user_code) where user_code is not null;
