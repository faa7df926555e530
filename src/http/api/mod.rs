//! JSON API endpoints: client registration (later: the protected resource).

pub mod account;
pub mod client;
