//! The integration tests: one binary, real HTTP, both databases.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "a test fails by panicking, helpers included"
)]

mod support;

mod account;
mod audit;
mod authorize;
mod cli;
mod client_auth;
mod client_cache;
mod client_metadata_document;
mod config;
mod device;
mod faults;
mod hostile;
mod introspection;
mod jwt_access_tokens;
mod lifecycle;
mod limits;
mod login;
mod logout;
mod logs;
mod mcp_sdk;
mod metrics;
mod oidc;
mod openapi;
mod openid_client;
mod operator;
mod ops;
mod properties;
mod races;
mod refresh;
mod registration;
mod resources;
mod schema;
mod settings;
mod signing;
mod token;
mod transfer;
mod upgrade;
mod writes;
