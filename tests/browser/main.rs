//! The real-browser end-to-end test: a headless Chromium, driven through
//! chromedriver (WebDriver, with `fantoccini`), walks a user through oauthd's
//! pages on SQLite and, when `TEST_DATABASE_URL` is set, again on a fresh
//! Postgres database.
//!
//! Run it with `cargo test --features browser-tests --test browser`. It needs
//! `chromium` and `chromedriver` on `PATH` (Debian: `apt-get install chromium
//! chromium-driver`) and fails, never skips, without them. Screenshots of
//! every page land in `test-artifacts/screenshots/`; the login and consent
//! shots are copied to `docs/screenshots/` for the README.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "a test fails by panicking, helpers included"
)]

mod driver;
mod harness;
mod journey;

use harness::Backend;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_user_signs_in_authorizes_apps_and_revokes_them_in_a_real_browser() {
    journey::run(Backend::Sqlite).await;
    if std::env::var_os("TEST_DATABASE_URL").is_some() {
        journey::run(Backend::Postgres).await;
    } else {
        eprintln!(
            "NOTE: the browser journey ran on SQLite only. Set TEST_DATABASE_URL \
             (e.g. postgres://postgres@127.0.0.1:5432/postgres) to run it on Postgres too; \
             .ci/run does."
        );
    }
}
