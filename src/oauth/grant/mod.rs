//! The grants of the token endpoint, one module each.

pub mod authorization_code;
pub mod client_credentials;
pub mod device_code;
pub mod refresh_token;
