//! The real-browser end-to-end test: a headless Chromium, driven through
//! chromedriver (WebDriver, with `fantoccini`), walks a user through oauthd's
//! pages on SQLite and again on a fresh Postgres database (on the server
//! `TEST_DATABASE_URL` names, the local one by default).
//!
//! Run it with `OAUTHD_BROWSER_TESTS=1 cargo test --test browser`; without
//! that switch it does nothing, so a plain `cargo test` needs no browser.
//! With it, it needs `chromium` and `chromedriver` on `PATH` (Debian:
//! `apt-get install chromium chromium-driver`) and fails without them. Screenshots of
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
    if std::env::var_os("OAUTHD_BROWSER_TESTS").is_none() {
        eprintln!("browser journey not run: set OAUTHD_BROWSER_TESTS=1");
        return;
    }
    journey::run(Backend::Sqlite).await;
    journey::run(Backend::Postgres).await;
}
