//! The device authorization grant (RFC 8628): the device authorization
//! endpoint, the `/device` pages, polling at the token endpoint with every
//! §3.5 answer, the brute-force cap, rate limits, races, revocation, the
//! janitor and the metrics. The happy path runs through the stock `oauth2`
//! crate while the test approves through the pages over HTTP.

use std::sync::Arc;
use std::time::Duration;

use oauthd::cli::admin::NewClientArgs;
use oauthd::config::Rate;
use reqwest::StatusCode;
use serde_json::Value;
use tokio::sync::Barrier;

use crate::both_backends;
use crate::support::flow::{
    self, Browser, Client, PASSWORD, assert_no_store, create_user, header, hidden, page, register,
    tokens,
};
use crate::support::{Backend, TestApp};

both_backends!(
    the_stock_client_gets_tokens_once_the_user_approves_on_the_pages,
    device_authorization_answers_codes_people_can_type,
    device_authorization_refusals,
    polling_answers_every_error_of_section_3_5,
    slow_down_raises_the_interval_and_remembers_it,
    the_pages_ask_for_sign_in_and_refuse_bad_forms,
    a_link_with_the_code_only_fills_the_form,
    wrong_codes_are_audited_and_spend_pending_requests,
    code_entry_is_rate_limited_per_address_and_per_session,
    concurrent_redemptions_issue_tokens_exactly_once,
    revoking_the_app_wins_against_a_concurrent_redemption,
    revoking_after_approval_stops_the_device_and_its_tokens,
    the_janitor_deletes_expired_device_codes,
    metrics_count_device_authorizations,
    clients_register_for_the_device_grant_every_way,
    device_requests_carry_resources_to_consent_and_token_audiences,
    device_requests_refuse_bad_or_unallowed_resources,
    openid_devices_get_an_id_token_for_the_approving_user,
);

const DEVICE_GRANT: &str = "urn:ietf:params:oauth:grant-type:device_code";

/// One number from the database.
async fn scalar(app: &TestApp, sql: &str) -> i64 {
    flow::scalar(app, sql, &[]).await
}

/// A public client registered for the device grant (and refresh tokens).
async fn device_client(app: &TestApp) -> Client {
    register(
        app,
        NewClientArgs {
            name: "TV App".into(),
            public: true,
            grant_types: vec![DEVICE_GRANT.into(), "refresh_token".into()],
            ..NewClientArgs::default()
        },
    )
    .await
}

/// A confidential client registered for the device grant only.
async fn confidential_device_client(app: &TestApp) -> Client {
    register(
        app,
        NewClientArgs {
            name: "CLI App".into(),
            grant_types: vec![DEVICE_GRANT.into()],
            ..NewClientArgs::default()
        },
    )
    .await
}

/// `POST /oauth/device_authorization` as `client`.
async fn start_raw(app: &TestApp, client: &Client, form: &[(&str, &str)]) -> reqwest::Response {
    flow::token_at(
        app,
        "/oauth/device_authorization",
        &client.auth(),
        form,
        None,
    )
    .await
}

/// The started request's (device_code, user_code).
async fn start(app: &TestApp, client: &Client) -> (String, String) {
    let response = start_raw(app, client, &[]).await;
    assert_eq!(response.status(), StatusCode::OK);
    let body: Value = response.json().await.unwrap();
    (
        body["device_code"].as_str().unwrap().to_owned(),
        body["user_code"].as_str().unwrap().to_owned(),
    )
}

/// One poll by `client`.
async fn poll(app: &TestApp, client: &Client, device_code: &str) -> reqwest::Response {
    flow::token(
        app,
        &client.auth(),
        &[("grant_type", DEVICE_GRANT), ("device_code", device_code)],
    )
    .await
}

/// Asserts an RFC error answer with `status` and `error`.
async fn assert_error(response: reqwest::Response, status: StatusCode, error: &str, why: &str) {
    assert_no_store(&response, why);
    let got = response.status();
    let body: Value = response.json().await.unwrap();
    assert_eq!(got, status, "{why}: {body}");
    assert_eq!(body["error"], error, "{why}: {body}");
}

/// Signs a new user in with a fresh browser.
async fn user_browser(app: &TestApp, name: &str) -> Browser {
    create_user(app, name).await;
    let browser = app.new_browser();
    browser.login(name, PASSWORD).await;
    browser
}

/// The code entry page's CSRF field.
async fn entry_csrf(browser: &Browser) -> String {
    let html = page(browser.get("/device").await, StatusCode::OK, "entry page").await;
    hidden(&html, "csrf").expect("csrf on the entry page")
}

/// `POST /device` with `user_code`.
async fn enter(browser: &Browser, csrf: &str, user_code: &str) -> reqwest::Response {
    browser
        .http
        .post(browser.url("/device"))
        .form(&[("csrf", csrf), ("user_code", user_code)])
        .send()
        .await
        .unwrap()
}

/// Enters `user_code` and answers the consent page with `decision`; returns
/// the final page's HTML (asserts 200 at each step).
async fn answer(browser: &Browser, user_code: &str, decision: &str) -> String {
    let csrf = entry_csrf(browser).await;
    let consent = page(
        enter(browser, &csrf, user_code).await,
        StatusCode::OK,
        "consent page",
    )
    .await;
    assert!(
        consent.contains("Approve only if you started this yourself"),
        "the consent page warns against remote phishing"
    );
    let code_field = hidden(&consent, "user_code").expect("user_code on the consent page");
    let csrf = hidden(&consent, "csrf").expect("csrf on the consent page");
    let response = browser
        .http
        .post(browser.url("/device/decision"))
        .form(&[
            ("csrf", csrf.as_str()),
            ("user_code", code_field.as_str()),
            ("decision", decision),
        ])
        .send()
        .await
        .unwrap();
    let html = page(response, StatusCode::OK, "decision").await;
    assert!(html.contains("return to your device"), "{html}");
    html
}

async fn the_stock_client_gets_tokens_once_the_user_approves_on_the_pages(backend: Backend) {
    use oauth2::{StandardDeviceAuthorizationResponse, TokenResponse};
    let app = TestApp::spawn(backend).await;
    let client = device_client(&app).await;
    let browser = user_browser(&app, "dana").await;
    let oauth = oauth2::basic::BasicClient::new(oauth2::ClientId::new(client.id.clone()))
        .set_auth_type(oauth2::AuthType::RequestBody)
        .set_token_uri(oauth2::TokenUrl::new(app.url("/oauth/token")).unwrap())
        .set_device_authorization_url(
            oauth2::DeviceAuthorizationUrl::new(app.url("/oauth/device_authorization")).unwrap(),
        );
    let http = oauth2::reqwest::Client::builder()
        .redirect(oauth2::reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let details: StandardDeviceAuthorizationResponse = oauth
        .exchange_device_code()
        .add_scope(oauth2::Scope::new("account:read".into()))
        .request_async(&http)
        .await
        .unwrap();
    let user_code = details.user_code().secret().clone();
    assert_eq!(details.verification_uri().as_str(), app.url("/device"));
    assert_eq!(details.interval(), Duration::from_secs(5));

    // The user approves on the pages while the device polls. Each "sleep"
    // of the stock client moves the server's clock by the interval it
    // waits, so it never polls too fast; the first one approves.
    let approved = Arc::new(tokio::sync::OnceCell::new());
    let sleep = {
        let app_clock = app.clock.clone();
        let browser = browser.clone();
        let user_code = user_code.clone();
        let approved = Arc::clone(&approved);
        move |interval: Duration| {
            let app_clock = app_clock.clone();
            let browser = browser.clone();
            let user_code = user_code.clone();
            let approved = Arc::clone(&approved);
            async move {
                approved
                    .get_or_init(|| async { answer(&browser, &user_code, "approve").await })
                    .await;
                app_clock.advance(i64::try_from(interval.as_secs()).unwrap());
            }
        }
    };
    let token = oauth
        .exchange_device_access_token(&details)
        .request_async(&http, sleep, None)
        .await
        .unwrap();
    assert!(token.access_token().secret().starts_with("oat_"));
    assert!(
        token
            .refresh_token()
            .is_some_and(|r| r.secret().starts_with("ort_")),
        "a refresh token where the client is allowed one"
    );
    let scopes: Vec<String> = token
        .scopes()
        .unwrap()
        .iter()
        .map(|s| s.to_string())
        .collect();
    assert_eq!(scopes, ["account:read"]);

    // The token acts for the user who approved.
    let me: Value = app
        .http
        .get(app.url("/account"))
        .bearer_auth(token.access_token().secret())
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(me["username"], "dana", "{me}");

    // The device grant is on the user's authorized-apps page.
    let html = page(
        browser.get("/settings/authorizations").await,
        StatusCode::OK,
        "authorized apps",
    )
    .await;
    assert!(html.contains(&format!("data-client-id=\"{}\"", client.id)));
    // And its events on the activity page.
    let html = page(
        browser.get("/settings/activity").await,
        StatusCode::OK,
        "activity",
    )
    .await;
    assert!(html.contains("Approved a device"), "{html}");
}

async fn device_authorization_answers_codes_people_can_type(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let client = device_client(&app).await;
    let response = start_raw(&app, &client, &[("scope", "account:read")]).await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_no_store(&response, "device authorization");
    let body: Value = response.json().await.unwrap();
    let device_code = body["device_code"].as_str().unwrap();
    assert!(device_code.starts_with("odc_") && device_code.len() == 47);
    let user_code = body["user_code"].as_str().unwrap();
    assert_eq!(user_code.len(), 9, "{user_code}");
    assert_eq!(&user_code[4..5], "-");
    assert!(
        user_code
            .chars()
            .filter(|c| *c != '-')
            .all(|c| "BCDFGHJKLMNPQRSTVWXZ".contains(c)),
        "{user_code}"
    );
    assert_eq!(body["verification_uri"], app.url("/device"));
    let complete = url::Url::parse(body["verification_uri_complete"].as_str().unwrap()).unwrap();
    assert_eq!(
        flow::param(&complete, "user_code").as_deref(),
        Some(user_code)
    );
    assert_eq!(body["expires_in"], 600);
    assert_eq!(body["interval"], 5);
    // Only digests are stored.
    let stored: i64 = scalar(&app, "select count(*) from device_codes").await;
    assert_eq!(stored, 1);
    let plain: i64 = scalar(
        &app,
        &format!(
            "select count(*) from device_codes where user_code_hash = '{}' or user_code_hash = '{}'",
            user_code,
            user_code.replace('-', "")
        ),
    )
    .await;
    assert_eq!(plain, 0, "the user code is stored as a digest");

    // A confidential client authenticates, as at the token endpoint.
    let cli = confidential_device_client(&app).await;
    let response = start_raw(&app, &cli, &[]).await;
    assert_eq!(response.status(), StatusCode::OK);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["interval"], 5);
}

/// A refused device authorization: authentication, form, status, error, why.
type Refusal<'a> = (
    flow::Auth,
    Vec<(&'a str, &'a str)>,
    StatusCode,
    &'a str,
    &'a str,
);

async fn device_authorization_refusals(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let client = device_client(&app).await;
    let cli = confidential_device_client(&app).await;
    let web = flow::register_confidential(&app, &[flow::CB]).await;
    let path = "/oauth/device_authorization";
    let before = app.count("device_codes").await;
    let cases: Vec<Refusal> = vec![
        (
            web.auth(),
            vec![],
            StatusCode::BAD_REQUEST,
            "unauthorized_client",
            "a client not registered for the grant",
        ),
        (
            client.auth(),
            vec![("scope", "nope:nothing")],
            StatusCode::BAD_REQUEST,
            "invalid_scope",
            "a scope the client does not have",
        ),
        (
            client.auth(),
            vec![("scope", "a"), ("scope", "b")],
            StatusCode::BAD_REQUEST,
            "invalid_request",
            "a repeated parameter",
        ),
        (
            flow::Auth::Id(cli.id.clone()),
            vec![],
            StatusCode::UNAUTHORIZED,
            "invalid_client",
            "a confidential client without its secret",
        ),
        (
            flow::Auth::Basic(cli.id.clone(), "ocs_wrong".into()),
            vec![],
            StatusCode::UNAUTHORIZED,
            "invalid_client",
            "a wrong secret",
        ),
        (
            flow::Auth::Id("no-such-client".into()),
            vec![],
            StatusCode::UNAUTHORIZED,
            "invalid_client",
            "an unknown client",
        ),
    ];
    for (auth, form, status, error, why) in cases {
        let response = flow::token_at(&app, path, &auth, &form, None).await;
        assert_error(response, status, error, why).await;
    }
    // Not a form.
    let response = app
        .http
        .post(app.url(path))
        .json(&serde_json::json!({"client_id": client.id}))
        .send()
        .await
        .unwrap();
    assert_error(
        response,
        StatusCode::BAD_REQUEST,
        "invalid_request",
        "a JSON body",
    )
    .await;
    assert_eq!(
        app.count("device_codes").await,
        before,
        "no refused request stored anything"
    );
}

async fn polling_answers_every_error_of_section_3_5(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let client = device_client(&app).await;
    let other = device_client(&app).await;
    let web = flow::register_confidential(&app, &[flow::CB]).await;
    let browser = user_browser(&app, "erin").await;
    let (device_code, user_code) = start(&app, &client).await;

    // authorization_pending while the user has not answered.
    assert_error(
        poll(&app, &client, &device_code).await,
        StatusCode::BAD_REQUEST,
        "authorization_pending",
        "pending",
    )
    .await;
    // invalid_client: another client's device code (and nothing changes).
    app.clock.advance(5);
    assert_error(
        poll(&app, &other, &device_code).await,
        StatusCode::UNAUTHORIZED,
        "invalid_client",
        "another client's device code",
    )
    .await;
    // unauthorized_client: a client not registered for the grant.
    let response = flow::token(
        &app,
        &web.auth(),
        &[("grant_type", DEVICE_GRANT), ("device_code", &device_code)],
    )
    .await;
    assert_error(
        response,
        StatusCode::BAD_REQUEST,
        "unauthorized_client",
        "client without the grant",
    )
    .await;
    // invalid_grant: unknown, malformed, or another kind of secret.
    for (code, why) in [
        (
            "odc_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
            "unknown device code",
        ),
        ("odc_short", "malformed device code"),
        (
            user_code.as_str(),
            "the user code instead of the device code",
        ),
    ] {
        assert_error(
            poll(&app, &client, code).await,
            StatusCode::BAD_REQUEST,
            "invalid_grant",
            why,
        )
        .await;
    }
    // invalid_request: no device_code.
    let response = flow::token(&app, &client.auth(), &[("grant_type", DEVICE_GRANT)]).await;
    assert_error(
        response,
        StatusCode::BAD_REQUEST,
        "invalid_request",
        "missing device_code",
    )
    .await;

    // Approved: tokens once, then invalid_grant.
    answer(&browser, &user_code, "approve").await;
    app.clock.advance(5);
    let got = tokens(poll(&app, &client, &device_code).await, "redeem").await;
    assert!(got.refresh.is_some());
    app.clock.advance(5);
    assert_error(
        poll(&app, &client, &device_code).await,
        StatusCode::BAD_REQUEST,
        "invalid_grant",
        "a used device code",
    )
    .await;

    // access_denied after the user denies.
    let (denied_code, denied_user_code) = start(&app, &client).await;
    answer(&browser, &denied_user_code, "deny").await;
    assert_error(
        poll(&app, &client, &denied_code).await,
        StatusCode::BAD_REQUEST,
        "access_denied",
        "denied",
    )
    .await;

    // expired_token after the lifetime, approved or not.
    let (late_code, _) = start(&app, &client).await;
    let (late_approved, late_user_code) = start(&app, &client).await;
    answer(&browser, &late_user_code, "approve").await;
    app.clock.advance(601);
    for (code, why) in [
        (&late_code, "pending past expiry"),
        (&late_approved, "approved past expiry"),
    ] {
        assert_error(
            poll(&app, &client, code).await,
            StatusCode::BAD_REQUEST,
            "expired_token",
            why,
        )
        .await;
    }
    // And the expired request can no longer be approved.
    let csrf = entry_csrf(&browser).await;
    let response = enter(&browser, &csrf, &late_user_code).await;
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
}

async fn slow_down_raises_the_interval_and_remembers_it(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let client = device_client(&app).await;
    let (device_code, _) = start(&app, &client).await;
    let pending = |why: &'static str| (StatusCode::BAD_REQUEST, "authorization_pending", why);
    let slow = |why: &'static str| (StatusCode::BAD_REQUEST, "slow_down", why);
    let interval = || async { scalar(&app, "select interval_secs from device_codes").await };
    let (status, error, why) = pending("first poll");
    assert_error(poll(&app, &client, &device_code).await, status, error, why).await;
    let (status, error, why) = slow("at once again");
    assert_error(poll(&app, &client, &device_code).await, status, error, why).await;
    assert_eq!(interval().await, 10, "+5 s, stored");
    // 5 s later is still too soon: the interval is now 10 s.
    app.clock.advance(5);
    let (status, error, why) = slow("5 s later, interval 10 s");
    assert_error(poll(&app, &client, &device_code).await, status, error, why).await;
    assert_eq!(interval().await, 15);
    app.clock.advance(15);
    let (status, error, why) = pending("after the raised interval");
    assert_error(poll(&app, &client, &device_code).await, status, error, why).await;
    assert_eq!(interval().await, 15, "a well-paced poll writes nothing");
    // Polling is a read: a pending poll at the right pace changes no row.
    let before: Vec<i64> = vec![
        scalar(&app, "select interval_secs from device_codes").await,
        scalar(&app, "select coalesce(last_polled_at, 0) from device_codes").await,
    ];
    app.clock.advance(15);
    let (status, error, why) = pending("again at the right pace");
    assert_error(poll(&app, &client, &device_code).await, status, error, why).await;
    let after: Vec<i64> = vec![
        scalar(&app, "select interval_secs from device_codes").await,
        scalar(&app, "select coalesce(last_polled_at, 0) from device_codes").await,
    ];
    assert_eq!(before, after);
}

async fn the_pages_ask_for_sign_in_and_refuse_bad_forms(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let client = device_client(&app).await;
    let (device_code, user_code) = start(&app, &client).await;
    let anonymous = app.new_browser();
    // Signed out: to the sign-in page, coming back with the code.
    let response = anonymous
        .get(&format!("/device?user_code={user_code}"))
        .await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    let location = header(&response, "location").unwrap();
    let url = url::Url::parse(&format!("{}{location}", app.base)).unwrap();
    assert_eq!(url.path(), "/login");
    assert_eq!(
        flow::param(&url, "next").as_deref(),
        Some(format!("/device?user_code={user_code}").as_str())
    );
    // Signing in returns there.
    create_user(&app, "finn").await;
    let response = anonymous
        .login_with_next("finn", PASSWORD, &format!("/device?user_code={user_code}"))
        .await;
    assert_eq!(
        header(&response, "location").as_deref(),
        Some(format!("/device?user_code={user_code}").as_str())
    );
    // Posting without a session, or without the CSRF token, changes nothing.
    let stranger = app.new_browser();
    let response = stranger
        .http
        .post(stranger.url("/device"))
        .form(&[("csrf", "x"), ("user_code", user_code.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::FORBIDDEN);
    let response = enter(&anonymous, "not-the-token", &user_code).await;
    assert_eq!(response.status(), StatusCode::FORBIDDEN);
    // A consent page cannot be answered with a wrong CSRF token.
    let csrf = entry_csrf(&anonymous).await;
    let consent = page(
        enter(&anonymous, &csrf, &user_code).await,
        StatusCode::OK,
        "consent",
    )
    .await;
    assert!(consent.contains("TV App"));
    assert!(consent.contains("account:read"));
    let response = anonymous
        .http
        .post(anonymous.url("/device/decision"))
        .form(&[
            ("csrf", "forged"),
            ("user_code", user_code.as_str()),
            ("decision", "approve"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::FORBIDDEN);
    // A decision that is neither approve nor deny.
    let response = anonymous
        .http
        .post(anonymous.url("/device/decision"))
        .form(&[
            ("csrf", csrf.as_str()),
            ("user_code", user_code.as_str()),
            ("decision", "maybe"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    assert_error(
        poll(&app, &client, &device_code).await,
        StatusCode::BAD_REQUEST,
        "authorization_pending",
        "nothing was decided",
    )
    .await;
    // Answered twice: the second finds nothing pending.
    answer(&anonymous, &user_code, "deny").await;
    let response = anonymous
        .http
        .post(anonymous.url("/device/decision"))
        .form(&[
            ("csrf", csrf.as_str()),
            ("user_code", user_code.as_str()),
            ("decision", "approve"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    app.clock.advance(5);
    assert_error(
        poll(&app, &client, &device_code).await,
        StatusCode::BAD_REQUEST,
        "access_denied",
        "the denial stands",
    )
    .await;
}

async fn a_link_with_the_code_only_fills_the_form(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let client = device_client(&app).await;
    let browser = user_browser(&app, "gil").await;
    let (device_code, user_code) = start(&app, &client).await;
    // Lower case and without the dash, as someone might type it in a link.
    let typed = user_code.replace('-', "").to_lowercase();
    let html = page(
        browser.get(&format!("/device?user_code={typed}")).await,
        StatusCode::OK,
        "entry page from the link",
    )
    .await;
    assert!(
        html.contains(&format!("value=\"{user_code}\"")),
        "the code is filled in: {html}"
    );
    // Opening the link approved nothing.
    assert_error(
        poll(&app, &client, &device_code).await,
        StatusCode::BAD_REQUEST,
        "authorization_pending",
        "a link alone approves nothing",
    )
    .await;
    // Anything else in the link is not echoed.
    let html = page(
        browser
            .get("/device?user_code=%3Cscript%3Ealert(1)%3C%2Fscript%3E")
            .await,
        StatusCode::OK,
        "entry page with junk",
    )
    .await;
    assert!(!html.contains("<script>alert(1)"));
    // Typed with spaces and lower case, it is accepted.
    let spaced = format!(" {} {} ", &typed[..4], &typed[4..]);
    answer(&browser, &spaced, "approve").await;
    app.clock.advance(5);
    tokens(poll(&app, &client, &device_code).await, "redeem").await;
}

async fn wrong_codes_are_audited_and_spend_pending_requests(backend: Backend) {
    let app = TestApp::spawn_with(backend, |c| c.device.max_failed_guesses = 3).await;
    let client = device_client(&app).await;
    let browser = user_browser(&app, "hana").await;
    let (device_code, user_code) = start(&app, &client).await;
    let csrf = entry_csrf(&browser).await;
    // A code that cannot be a user code counts in the audit trail only.
    let response = enter(&browser, &csrf, "hello").await;
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    // Well-formed wrong codes each count against the pending request.
    let wrong = if user_code.starts_with('B') {
        "CCCC-CCCC"
    } else {
        "BBBB-BBBB"
    };
    for _ in 0..3 {
        let html = page(
            enter(&browser, &csrf, wrong).await,
            StatusCode::BAD_REQUEST,
            "wrong code",
        )
        .await;
        assert!(html.contains("No device is waiting for that code"));
    }
    let failed: i64 = scalar(
        &app,
        "select count(*) from audit_events where kind = 'user_code_failed'",
    )
    .await;
    assert_eq!(failed, 4, "every failed entry is audited");
    let html = page(
        browser.get("/settings/activity").await,
        StatusCode::OK,
        "activity",
    )
    .await;
    assert!(html.contains("Device code entered that matched no request"));
    // The cap is reached: the right code no longer works, and the device
    // is told to start again.
    let response = enter(&browser, &csrf, &user_code).await;
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    assert_error(
        poll(&app, &client, &device_code).await,
        StatusCode::BAD_REQUEST,
        "expired_token",
        "spent by wrong guesses",
    )
    .await;
    // A request started afterwards is not affected by earlier guesses.
    let (fresh, fresh_user_code) = start(&app, &client).await;
    answer(&browser, &fresh_user_code, "approve").await;
    tokens(poll(&app, &client, &fresh).await, "fresh request").await;
}

async fn code_entry_is_rate_limited_per_address_and_per_session(backend: Backend) {
    let app = TestApp::spawn_with(backend, |c| {
        c.limits.device = Some(Rate {
            requests: 3,
            per: Duration::from_secs(60),
        });
    })
    .await;
    let client = device_client(&app).await;
    // Per session: a session that ran out waits even where the address
    // limit would let it through (all tests share one address, so the
    // session limit is checked first by exhausting it on one session).
    let browser = user_browser(&app, "ivan").await;
    let csrf = entry_csrf(&browser).await;
    for i in 0..3 {
        let response = enter(&browser, &csrf, "BBBB-BBBB").await;
        assert_eq!(response.status(), StatusCode::BAD_REQUEST, "attempt {i}");
    }
    let response = enter(&browser, &csrf, "BBBB-BBBB").await;
    assert_eq!(response.status(), StatusCode::TOO_MANY_REQUESTS);
    assert!(header(&response, "retry-after").is_some());
    // Even the right code waits: the limit is on entries, not failures.
    let (device_code, user_code) = start(&app, &client).await;
    let response = enter(&browser, &csrf, &user_code).await;
    assert_eq!(response.status(), StatusCode::TOO_MANY_REQUESTS);
    assert_error(
        poll(&app, &client, &device_code).await,
        StatusCode::BAD_REQUEST,
        "authorization_pending",
        "nothing approved while limited",
    )
    .await;

    // Per address: another server where the session limit is generous.
    let app = TestApp::spawn_with(backend, |c| {
        c.limits.device = Some(Rate {
            requests: 3,
            per: Duration::from_secs(60),
        });
    })
    .await;
    let mut refused = 0;
    for n in 0..4 {
        // A new session each time: only the address is shared.
        let browser = user_browser(&app, &format!("user{n}")).await;
        let csrf = entry_csrf(&browser).await;
        let response = enter(&browser, &csrf, "BBBB-BBBB").await;
        if response.status() == StatusCode::TOO_MANY_REQUESTS {
            refused += 1;
        }
    }
    assert_eq!(refused, 1, "the fourth entry from one address waits");
}

/// What one racer saw.
struct Answer {
    status: StatusCode,
    body: Value,
}

/// Sends every request at once: each waits at one barrier, then goes.
async fn race(http: &reqwest::Client, requests: Vec<reqwest::Request>) -> Vec<Answer> {
    let barrier = Arc::new(Barrier::new(requests.len()));
    let running: Vec<_> = requests
        .into_iter()
        .map(|request| {
            let barrier = Arc::clone(&barrier);
            let http = http.clone();
            tokio::spawn(async move {
                barrier.wait().await;
                let response = http.execute(request).await.expect("the server answers");
                let status = response.status();
                let body = response.json().await.unwrap_or(Value::Null);
                Answer { status, body }
            })
        })
        .collect();
    let mut answers = Vec::new();
    for r in running {
        answers.push(r.await.expect("a racer panicked"));
    }
    answers
}

fn poll_request(app: &TestApp, client: &Client, device_code: &str) -> reqwest::Request {
    app.http
        .post(app.url("/oauth/token"))
        .form(&[
            ("grant_type", DEVICE_GRANT),
            ("device_code", device_code),
            ("client_id", client.id.as_str()),
        ])
        .build()
        .unwrap()
}

/// Rounds per race.
const ROUNDS: usize = 20;
/// Racers per round.
const RACERS: usize = 8;

async fn concurrent_redemptions_issue_tokens_exactly_once(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let client = device_client(&app).await;
    let browser = user_browser(&app, "jo").await;
    for round in 0..ROUNDS {
        let (device_code, user_code) = start(&app, &client).await;
        answer(&browser, &user_code, "approve").await;
        let before = app.count("tokens").await;
        let requests = (0..RACERS)
            .map(|_| poll_request(&app, &client, &device_code))
            .collect();
        let answers = race(&app.http, requests).await;
        let won: Vec<&Answer> = answers
            .iter()
            .filter(|a| a.status == StatusCode::OK)
            .collect();
        assert_eq!(won.len(), 1, "round {round}: exactly one redemption wins");
        for a in answers.iter().filter(|a| a.status != StatusCode::OK) {
            assert_eq!(
                a.status,
                StatusCode::BAD_REQUEST,
                "round {round}: {}",
                a.body
            );
            assert_eq!(
                a.body["error"], "invalid_grant",
                "round {round}: {}",
                a.body
            );
        }
        assert_eq!(
            app.count("tokens").await,
            before + 2,
            "round {round}: one access and one refresh token stored"
        );
    }
}

async fn revoking_the_app_wins_against_a_concurrent_redemption(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let client = device_client(&app).await;
    let browser = user_browser(&app, "kim").await;
    let path = format!("/settings/authorizations/{}/revoke", client.id);
    let mut won_by_device = 0;
    for round in 0..ROUNDS {
        let (device_code, user_code) = start(&app, &client).await;
        answer(&browser, &user_code, "approve").await;
        let confirm = browser.get(&path).await.text().await.unwrap();
        let csrf = hidden(&confirm, "csrf").expect("csrf on the confirm page");
        let revoke = browser
            .http
            .post(browser.url(&path))
            .form(&[("csrf", csrf.as_str())])
            .build()
            .unwrap();
        let barrier = Arc::new(Barrier::new(2));
        let revoking = {
            let barrier = Arc::clone(&barrier);
            let http = browser.http.clone();
            tokio::spawn(async move {
                barrier.wait().await;
                http.execute(revoke).await.unwrap().status()
            })
        };
        let redeeming = {
            let barrier = Arc::clone(&barrier);
            let http = app.http.clone();
            let request = poll_request(&app, &client, &device_code);
            tokio::spawn(async move {
                barrier.wait().await;
                let response = http.execute(request).await.unwrap();
                let status = response.status();
                (
                    status,
                    response.json::<Value>().await.unwrap_or(Value::Null),
                )
            })
        };
        assert_eq!(
            revoking.await.unwrap(),
            StatusCode::SEE_OTHER,
            "round {round}"
        );
        let (status, body) = redeeming.await.unwrap();
        if status == StatusCode::OK {
            won_by_device += 1;
            // Issued before the revocation: the revocation then took it.
            let access = body["access_token"].as_str().unwrap();
            let response = app
                .http
                .get(app.url("/account"))
                .bearer_auth(access)
                .send()
                .await
                .unwrap();
            assert_eq!(
                response.status(),
                StatusCode::UNAUTHORIZED,
                "round {round}: a token issued in the race is revoked"
            );
        } else {
            assert_eq!(status, StatusCode::BAD_REQUEST, "round {round}: {body}");
            assert_eq!(body["error"], "invalid_grant", "round {round}: {body}");
        }
        let live: i64 = scalar(
            &app,
            &format!(
                "select count(*) from tokens where client_id = '{}' and revoked_at is null",
                client.id
            ),
        )
        .await;
        assert_eq!(live, 0, "round {round}: nothing live after the revocation");
    }
    eprintln!(
        "race device revoke vs redeem on {backend:?}: {won_by_device} of {ROUNDS} redemptions went first"
    );
}

async fn revoking_after_approval_stops_the_device_and_its_tokens(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let client = device_client(&app).await;
    let browser = user_browser(&app, "lee").await;
    // Approved, then revoked before the device polls: nothing is issued.
    let (device_code, user_code) = start(&app, &client).await;
    answer(&browser, &user_code, "approve").await;
    let path = format!("/settings/authorizations/{}/revoke", client.id);
    let confirm = browser.get(&path).await.text().await.unwrap();
    let csrf = hidden(&confirm, "csrf").unwrap();
    let response = browser
        .http
        .post(browser.url(&path))
        .form(&[("csrf", csrf.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    assert_error(
        poll(&app, &client, &device_code).await,
        StatusCode::BAD_REQUEST,
        "invalid_grant",
        "the grant was revoked before redemption",
    )
    .await;
    assert_eq!(app.count("tokens").await, 0);

    // Redeemed, then revoked: access and refresh tokens die.
    let (device_code, user_code) = start(&app, &client).await;
    answer(&browser, &user_code, "approve").await;
    let got = tokens(poll(&app, &client, &device_code).await, "redeem").await;
    let confirm = browser.get(&path).await.text().await.unwrap();
    let csrf = hidden(&confirm, "csrf").unwrap();
    browser
        .http
        .post(browser.url(&path))
        .form(&[("csrf", csrf.as_str())])
        .send()
        .await
        .unwrap();
    let response = app
        .http
        .get(app.url("/account"))
        .bearer_auth(&got.access)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    let response = flow::token(
        &app,
        &client.auth(),
        &[
            ("grant_type", "refresh_token"),
            ("refresh_token", got.refresh.as_deref().unwrap()),
        ],
    )
    .await;
    assert_error(
        response,
        StatusCode::BAD_REQUEST,
        "invalid_grant",
        "the refresh token died too",
    )
    .await;
}

async fn the_janitor_deletes_expired_device_codes(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let client = device_client(&app).await;
    start(&app, &client).await;
    let (device_code, _) = start(&app, &client).await;
    oauthd::janitor::run_once(&app.db, &app.clock, &app.config)
        .await
        .unwrap();
    assert_eq!(app.count("device_codes").await, 2, "live codes stay");
    // Past expiry, but within retention: a late poll is still told
    // expired_token.
    app.clock.advance(601);
    oauthd::janitor::run_once(&app.db, &app.clock, &app.config)
        .await
        .unwrap();
    assert_eq!(app.count("device_codes").await, 2);
    assert_error(
        poll(&app, &client, &device_code).await,
        StatusCode::BAD_REQUEST,
        "expired_token",
        "late poll",
    )
    .await;
    let retention = i64::try_from(app.config.janitor.retention.as_secs()).unwrap();
    app.clock.advance(retention + 1);
    oauthd::janitor::run_once(&app.db, &app.clock, &app.config)
        .await
        .unwrap();
    assert_eq!(app.count("device_codes").await, 0, "expired codes deleted");
    assert_error(
        poll(&app, &client, &device_code).await,
        StatusCode::BAD_REQUEST,
        "invalid_grant",
        "a deleted code is unknown",
    )
    .await;
}

async fn metrics_count_device_authorizations(backend: Backend) {
    let app = TestApp::spawn_with(backend, |c| c.metrics.listen = None).await;
    let client = device_client(&app).await;
    let browser = user_browser(&app, "max").await;
    let (approved, approved_user) = start(&app, &client).await;
    let (_, denied_user) = start(&app, &client).await;
    let (expired, _) = start(&app, &client).await;
    answer(&browser, &approved_user, "approve").await;
    answer(&browser, &denied_user, "deny").await;
    tokens(poll(&app, &client, &approved).await, "redeem").await;
    app.clock.advance(601);
    for _ in 0..2 {
        // Counted once, however often the device polls.
        poll(&app, &client, &expired).await;
        app.clock.advance(10);
    }
    let text = app
        .http
        .get(app.url("/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    for (outcome, n) in [
        ("started", 3),
        ("approved", 1),
        ("denied", 1),
        ("expired", 1),
    ] {
        let line = format!("oauthd_device_authorizations_total{{outcome=\"{outcome}\"}} {n}");
        assert!(text.contains(&line), "{line} in\n{text}");
    }
    assert!(!text.contains(&approved), "no device code in /metrics");
}

async fn clients_register_for_the_device_grant_every_way(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    // RFC 7591 JSON: a public device client needs no redirect URI.
    let client = flow::register_json(
        &app,
        &serde_json::json!({
            "client_name": "Console",
            "grant_types": [DEVICE_GRANT, "refresh_token"],
            "token_endpoint_auth_method": "none",
        }),
    )
    .await;
    let (device_code, _) = start(&app, &client).await;
    assert!(device_code.starts_with("odc_"));
    // Unknown grant types are still refused.
    let response = app
        .http
        .post(app.url("/api/client"))
        .json(&serde_json::json!({
            "client_name": "Bad",
            "grant_types": ["urn:ietf:params:oauth:grant-type:jwt-bearer"],
        }))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    // The developer page: a checkbox adds the grant.
    let browser = user_browser(&app, "nia").await;
    let html = page(
        browser.get("/settings/developers").await,
        StatusCode::OK,
        "developers",
    )
    .await;
    let csrf = hidden(&html, "csrf").unwrap();
    let response = browser
        .http
        .post(browser.url("/settings/developers"))
        .form(&[
            ("csrf", csrf.as_str()),
            ("name", "Living room"),
            ("website", ""),
            ("redirect_uris", ""),
            ("client_type", "public"),
            ("device", "on"),
        ])
        .send()
        .await
        .unwrap();
    page(response, StatusCode::OK, "registered").await;
    let with_grant = scalar(
        &app,
        "select count(*) from clients where name = 'Living room' \
         and grant_types like '%grant-type:device_code%'",
    )
    .await;
    assert_eq!(
        with_grant, 1,
        "the developer page registered the device grant"
    );
}

const MCP: &str = "https://mcp.example/mcp";
const OTHER: &str = "https://other.example/api";

/// A confidential client for the device grant and refresh tokens (it may
/// introspect its own tokens).
async fn confidential_refreshing_device_client(app: &TestApp) -> Client {
    register(
        app,
        NewClientArgs {
            name: "Agent".into(),
            grant_types: vec![DEVICE_GRANT.into(), "refresh_token".into()],
            ..NewClientArgs::default()
        },
    )
    .await
}

/// Introspects `token` as `client`.
async fn introspect(app: &TestApp, client: &Client, token: &str) -> Value {
    let response = flow::token_at(
        app,
        "/oauth/introspect",
        &client.auth(),
        &[("token", token)],
        None,
    )
    .await;
    assert_eq!(response.status(), StatusCode::OK);
    response.json().await.unwrap()
}

async fn device_requests_carry_resources_to_consent_and_token_audiences(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let client = confidential_refreshing_device_client(&app).await;
    oauthd::cli::admin::add_resource(&app.db, &app.clock, MCP, "The MCP server", None)
        .await
        .unwrap();
    let response = start_raw(&app, &client, &[("resource", MCP), ("resource", OTHER)]).await;
    assert_eq!(response.status(), StatusCode::OK);
    let body: Value = response.json().await.unwrap();
    let device_code = body["device_code"].as_str().unwrap().to_owned();
    let user_code = body["user_code"].as_str().unwrap().to_owned();

    // The consent page names both: the registered one by its name.
    let browser = user_browser(&app, "dana").await;
    let csrf = entry_csrf(&browser).await;
    let consent = page(
        enter(&browser, &csrf, &user_code).await,
        StatusCode::OK,
        "consent page",
    )
    .await;
    assert!(
        consent.contains("access to <strong>The MCP server</strong>"),
        "{consent}"
    );
    assert!(
        consent.contains(&format!("access to <strong>{OTHER}</strong>")),
        "{consent}"
    );
    answer(&browser, &user_code, "approve").await;

    // A resource the user did not approve: invalid_target, and the device
    // code is not spent.
    let response = flow::token(
        &app,
        &client.auth(),
        &[
            ("grant_type", DEVICE_GRANT),
            ("device_code", &device_code),
            ("resource", "https://elsewhere.example/"),
        ],
    )
    .await;
    assert_error(
        response,
        StatusCode::BAD_REQUEST,
        "invalid_target",
        "not approved",
    )
    .await;

    // Narrowed to one: the access token is for it alone, the refresh token
    // keeps both.
    let narrowed = tokens(
        flow::token(
            &app,
            &client.auth(),
            &[
                ("grant_type", DEVICE_GRANT),
                ("device_code", &device_code),
                ("resource", MCP),
            ],
        )
        .await,
        "narrowed redemption",
    )
    .await;
    let seen = introspect(&app, &client, &narrowed.access).await;
    assert_eq!(seen["active"], true, "{seen}");
    assert_eq!(seen["aud"], serde_json::json!(MCP), "{seen}");
    let refresh = narrowed.refresh.clone().expect("a refresh token");
    let seen = introspect(&app, &client, &refresh).await;
    assert_eq!(seen["aud"], serde_json::json!([MCP, OTHER]), "{seen}");
    // Redeemed once: the next poll is invalid_grant.
    assert_error(
        poll(&app, &client, &device_code).await,
        StatusCode::BAD_REQUEST,
        "invalid_grant",
        "redeemed",
    )
    .await;
    // The consent remembers the resources with the scope.
    assert_eq!(
        scalar(
            &app,
            "select count(*) from consents where resources like '%mcp.example%' \
             and resources like '%other.example%'",
        )
        .await,
        1
    );

    // Without `resource` at the token endpoint the access token is for all
    // of them.
    let (device_code, user_code) = {
        let response = start_raw(&app, &client, &[("resource", OTHER)]).await;
        let body: Value = response.json().await.unwrap();
        (
            body["device_code"].as_str().unwrap().to_owned(),
            body["user_code"].as_str().unwrap().to_owned(),
        )
    };
    answer(&browser, &user_code, "approve").await;
    let all = tokens(poll(&app, &client, &device_code).await, "full audience").await;
    let seen = introspect(&app, &client, &all.access).await;
    assert_eq!(seen["aud"], serde_json::json!(OTHER), "{seen}");
}

async fn device_requests_refuse_bad_or_unallowed_resources(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let client = device_client(&app).await;
    for (resource, why) in [
        ("not-a-uri", "a relative reference"),
        ("https://mcp.example/mcp#frag", "a fragment"),
        ("https://mcp.example/a b", "a space"),
    ] {
        let response = start_raw(&app, &client, &[("resource", resource)]).await;
        assert_error(response, StatusCode::BAD_REQUEST, "invalid_target", why).await;
    }
    // A client with an allow-list may name only those.
    oauthd::cli::admin::set_client_resources(&app.db, &client.id, &[MCP.to_owned()])
        .await
        .unwrap();
    let response = start_raw(&app, &client, &[("resource", OTHER)]).await;
    assert_error(
        response,
        StatusCode::BAD_REQUEST,
        "invalid_target",
        "not allowed",
    )
    .await;
    assert_eq!(
        scalar(&app, "select count(*) from device_codes").await,
        0,
        "nothing stored"
    );
    let response = start_raw(&app, &client, &[("resource", MCP)]).await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(scalar(&app, "select count(*) from device_codes").await, 1);
}

/// OpenID Connect beside RFC 8628: `scope=openid` brings an ID token for the
/// user who approved (no nonce, their sign-in time), and a refresh another;
/// without a key-encryption key `openid` is refused at the start, before a
/// user sees anything.
async fn openid_devices_get_an_id_token_for_the_approving_user(backend: Backend) {
    let without_keys = TestApp::spawn(backend).await;
    let client = register(
        &without_keys,
        NewClientArgs {
            name: "TV".into(),
            grant_types: vec![DEVICE_GRANT.into(), "refresh_token".into()],
            scope: Some("openid profile".into()),
            ..NewClientArgs::default()
        },
    )
    .await;
    let requests = scalar(&without_keys, "select count(*) from device_codes").await;
    assert_error(
        start_raw(&without_keys, &client, &[("scope", "openid profile")]).await,
        StatusCode::BAD_REQUEST,
        "invalid_scope",
        "openid without a key-encryption key",
    )
    .await;
    assert_eq!(
        scalar(&without_keys, "select count(*) from device_codes").await,
        requests
    );

    let app = TestApp::spawn_with(backend, |c| {
        c.signing.key_encryption_key = Some([4u8; 32]);
    })
    .await;
    oauthd::signing::rotate(&app.db, &app.clock, &app.config.signing, true)
        .await
        .unwrap()
        .expect("a signing key");
    let client = register(
        &app,
        NewClientArgs {
            name: "TV".into(),
            grant_types: vec![DEVICE_GRANT.into(), "refresh_token".into()],
            scope: Some("openid profile".into()),
            ..NewClientArgs::default()
        },
    )
    .await;
    let response = start_raw(&app, &client, &[("scope", "openid profile")]).await;
    assert_eq!(response.status(), StatusCode::OK);
    let started: Value = response.json().await.unwrap();
    let device_code = started["device_code"].as_str().unwrap().to_owned();
    let browser = user_browser(&app, "alice").await;
    let signed_in_at = app.clock.now();
    app.clock.advance(20);
    answer(&browser, started["user_code"].as_str().unwrap(), "approve").await;
    let response = poll(&app, &client, &device_code).await;
    assert_eq!(response.status(), StatusCode::OK);
    let body: Value = response.json().await.unwrap();
    let alice = oauthd::store::users::find_by_username(&app.db, "alice")
        .await
        .unwrap()
        .unwrap();
    let claims = jwt_claims(body["id_token"].as_str().expect("an ID token"));
    assert_eq!(claims["sub"], alice.id.as_str());
    assert_eq!(claims["aud"], client.id.as_str());
    assert_eq!(claims["auth_time"], signed_in_at, "when alice signed in");
    assert!(
        claims.get("nonce").is_none(),
        "the device flow has no nonce"
    );
    assert!(claims["at_hash"].is_string());

    let response = flow::token(
        &app,
        &client.auth(),
        &[
            ("grant_type", "refresh_token"),
            ("refresh_token", body["refresh_token"].as_str().unwrap()),
        ],
    )
    .await;
    assert_eq!(response.status(), StatusCode::OK);
    let refreshed: Value = response.json().await.unwrap();
    let again = jwt_claims(
        refreshed["id_token"]
            .as_str()
            .expect("an ID token on refresh"),
    );
    assert_eq!(again["sub"], claims["sub"]);
    assert_eq!(again["auth_time"], claims["auth_time"]);
}

/// The claims of a JWS, unverified (the OpenID tests verify signatures).
fn jwt_claims(jwt: &str) -> Value {
    use base64::Engine as _;
    let payload = jwt.split('.').nth(1).expect("a JWS has three parts");
    serde_json::from_slice(
        &base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(payload)
            .unwrap(),
    )
    .unwrap()
}
