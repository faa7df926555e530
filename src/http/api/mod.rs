//! JSON API endpoints: client registration and the protected resource.

pub mod account;
pub mod client;
