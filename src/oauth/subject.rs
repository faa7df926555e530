//! The OpenID Connect subject (`sub`) of a user as one client sees it: the
//! one rule every claim producer (ID tokens, UserInfo) goes through.
//!
//! A public subject is the user's id (`users.id`): stable, opaque, never the
//! user name (which a user may be given anew).

use crate::store::clients::Client;

/// The `sub` of `user_id` for `client`.
pub fn subject(user_id: &str, _client: &Client) -> String {
    user_id.to_owned()
}
