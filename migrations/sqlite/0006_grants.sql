-- A grant: one user's authorization of one client, from the code it starts
-- with to the last token of its refresh family. Issuing from a grant updates
-- its row inside the issuing transaction, and revoking it marks the row
-- before touching the tokens, so issuance and revocation of one grant are
-- serialized: after a revocation returns, nothing issued from the grant is
-- live, whatever was in flight.
create table grants (
    id text primary key,
    client_id text not null references clients (id) on delete cascade,
    user_id text not null references users (id) on delete cascade,
    created_at bigint not null,
    -- Unix seconds of the last issuance from it.
    issued_at bigint,
    -- After this nothing can be issued from it (the code's expiry until it
    -- is exchanged, then the refresh family's end); the janitor deletes it.
    expires_at bigint not null,
    revoked_at bigint
);

create index grants_user_client on grants (user_id, client_id);
create index grants_client_id on grants (client_id);
create index grants_expires_at on grants (expires_at);

-- The refresh token that replaced this one: a replay inside the grace
-- period retires it, so a family never has two live refresh tokens.
alter table tokens add column replaced_by text;

-- Every grant that codes and tokens already name.
insert into grants (id, client_id, user_id, created_at, issued_at, expires_at, revoked_at)
select grant_id, min(client_id), min(user_id), min(created_at), null,
       coalesce(max(ends_at), 0), null
from (
    select grant_id, client_id, user_id, created_at, expires_at as ends_at
    from auth_codes
    union all
    select grant_id, client_id, user_id, created_at, coalesce(grant_expires_at, expires_at)
    from tokens
    where grant_id is not null and client_id is not null and user_id is not null
) named
group by grant_id;
