-- A confidential client is now held to the way of sending its secret it
-- registered (RFC 7591 token_endpoint_auth_method): client_secret_basic
-- means HTTP Basic only, client_secret_post the body only. Until now every
-- confidential client could use both, and a client that named no method
-- (the form shape, the developer pages, the CLI) was stored as
-- client_secret_basic, so such a row cannot tell whether the client chose
-- it. Those rows keep accepting both ways under their own name; rows stored
-- as client_secret_post were chosen over RFC 7591 and are enforced.
update clients set auth_method = 'client_secret_basic_or_post'
where auth_method = 'client_secret_basic';
