-- A user's profile, for OpenID Connect's `profile` and `email` claims: a
-- display name and an email address, both optional. `email_verified` says
-- whether the operator vouches for the address (`oauthd user profile
-- --email-verified`); a user changing it on their settings page clears it.
alter table users add column name text;
alter table users add column email text;
alter table users add column email_verified boolean not null default false;
