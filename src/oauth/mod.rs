//! Protocol rules: what is allowed and what each refusal is called.
//!
//! This module never sees an HTTP type: handlers in `http` parse requests into
//! the types defined here, and these functions decide. Storage goes through
//! `store` functions; no SQL lives here.

pub mod account;
pub mod authorize;
pub mod client_auth;
pub mod client_metadata_document;
pub mod credentials;
pub mod device;
pub mod error;
pub mod grant;
pub mod grants;
pub mod id_token;
pub mod introspect;
pub mod logout;
pub mod personal;
pub mod pkce;
pub mod redirect_uri;
pub mod registration;
pub mod resource;
pub mod revoke;
pub mod session;
pub mod subject;
pub mod throttle;
pub mod token;
pub mod userinfo;

pub use crate::model::scope;
pub use error::{Error, ErrorCode, OAuthError};
