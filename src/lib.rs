//! oauthd: a standalone OAuth 2.0 authorization server.
//!
//! Requests flow one way: [`http`] (parse, authenticate the caller, render) →
//! [`oauth`] (the protocol rules) → [`store`] (the only code that speaks SQL).
//! `main.rs` is the CLI; it loads a [`config::Config`] and calls into this crate.

/// The audit trail: security events as tracing events and stored rows.
pub mod audit;
/// What the CLI (`main.rs`) does beyond parsing its arguments: the operator's
/// commands on users, clients, tokens and resources, and export/import.
pub mod cli;
/// The one wall-clock read; settable in tests.
pub mod clock;
/// Typed configuration: defaults, then the file, then the environment.
pub mod config;
/// Secret generation with kind prefixes, SHA-256 digests, constant-time compare, argon2.
pub mod crypto;
/// Outbound HTTP: the SSRF-guarded fetch of Client ID Metadata Documents.
pub mod fetch;
/// The HTTP surface: router, middleware, extractors, error rendering, handlers.
pub mod http;
/// Batched deletion of expired rows on an interval.
pub mod janitor;
/// Prometheus metrics: one registry per server, rendered at `/metrics`.
pub mod metrics;
/// Values shared by the protocol rules and storage (the bottom layer).
pub mod model;
/// Protocol rules: authorization requests, grants, tokens, client auth, PKCE,
/// scopes, redirect URIs, registration, sessions, RFC error codes.
pub mod oauth;
/// Serving: bind, migrate, run until SIGTERM/SIGINT.
pub mod server;
/// ID-token signing keys: generation, sealing, rotation, JWKS, signing.
pub mod signing;
/// Storage on Postgres and SQLite through one SQL text.
pub mod store;
/// tracing set-up: human-readable or JSON.
pub mod telemetry;

pub use http::build_app;
pub use http::state::AppState;
