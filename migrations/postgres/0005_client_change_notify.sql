-- Every change to a client row (secret rotated, redirect URIs edited, client
-- deleted), by any oauthd replica, the CLI or hand-written SQL, notifies
-- channel `oauthd_clients` with the client id, in the same transaction:
-- replicas that cache client rows evict it on the notification.
create function oauthd_client_changed() returns trigger
language plpgsql as $$
begin
    perform pg_notify('oauthd_clients', old.id);
    return null;
end;
$$;

create trigger clients_changed
    after update or delete on clients
    for each row execute function oauthd_client_changed();
