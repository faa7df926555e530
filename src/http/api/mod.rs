//! JSON API endpoints: client registration (later: the protected resource).

pub mod client;
