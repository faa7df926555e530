//! Protocol rules: what is allowed and what each refusal is called.
//!
//! This module never sees an HTTP type: handlers in `http` parse requests into
//! the types defined here, and these functions decide. Storage goes through
//! `store` functions; no SQL lives here.

pub mod account;
pub mod error;
pub mod redirect_uri;
pub mod registration;
pub mod scope;

pub use error::{Error, ErrorCode, OAuthError};
