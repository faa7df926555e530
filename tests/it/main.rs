//! The integration tests: one binary, real HTTP, both databases.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "a test fails by panicking, helpers included"
)]

mod support;

mod cli;
mod config;
mod lifecycle;
mod logs;
mod ops;
mod refresh;
mod registration;
