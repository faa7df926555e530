//! The grants of the token endpoint, one module each.

pub mod authorization_code;
