//! RP-initiated logout (OpenID Connect RP-Initiated Logout 1.0): the
//! `end_session_endpoint`, `/oauth/logout`, and `post_logout_redirect_uris`
//! in registration.

use oauthd::cli::admin::NewClientArgs;
use oauthd::signing;
use reqwest::{Response, StatusCode};
use serde_json::{Value, json};
use url::Url;

use crate::jwt_access_tokens::app_with_key;
use crate::support::flow::{
    self, Browser, CB, Client, absolute_location, hidden, is_signed_in, param, register, signed_in,
};
use crate::support::{Backend, TestApp};

const AFTER: &str = "https://app.example/signed-out";
const STATE: &str = "st-4711";

async fn client_with_logout_uri(app: &TestApp) -> Client {
    register(
        app,
        NewClientArgs {
            name: "Logout App".into(),
            redirect_uris: vec![CB.into()],
            post_logout_redirect_uris: vec![AFTER.into()],
            ..NewClientArgs::default()
        },
    )
    .await
}

/// An ID-token-shaped hint for `sub` and `aud`, signed with the active key
/// (the real ID tokens come from the OpenID Connect code flow).
async fn hint(app: &TestApp, sub: &str, aud: &str, exp_in: i64) -> String {
    let now = app.clock.now();
    signing::sign(
        &app.db,
        &app.clock,
        &app.config.signing,
        &json!({"iss": app.config.issuer(), "sub": sub, "aud": aud, "iat": now, "exp": now + exp_in}),
    )
    .await
    .unwrap()
}

fn logout_path(params: &[(&str, &str)]) -> String {
    let query = url::form_urlencoded::Serializer::new(String::new())
        .extend_pairs(params)
        .finish();
    format!("/oauth/logout?{query}")
}

async fn post_logout(browser: &Browser, form: &[(&str, &str)]) -> Response {
    browser
        .http
        .post(browser.url("/oauth/logout"))
        .form(form)
        .send()
        .await
        .unwrap()
}

async fn sessions(app: &TestApp) -> i64 {
    app.count("sessions").await
}

fn cleared_session_cookie(response: &Response) -> bool {
    flow::set_cookies(response)
        .iter()
        .any(|c| c.name == flow::SESSION_COOKIE && c.value.is_empty())
}

async fn a_valid_hint_and_a_registered_uri_sign_out_and_redirect_with_state(backend: Backend) {
    let app = app_with_key(backend, |_| {}).await;
    let client = client_with_logout_uri(&app).await;
    let (browser, alice) = signed_in(&app).await;
    assert!(is_signed_in(&browser, &client).await);
    let token = hint(&app, &alice.id, &client.id, 300).await;
    let response = browser
        .get(&logout_path(&[
            ("id_token_hint", &token),
            ("post_logout_redirect_uri", AFTER),
            ("state", STATE),
            ("ui_locales", "de"),
            ("logout_hint", "alice"),
        ]))
        .await;
    assert_eq!(response.status(), StatusCode::FOUND);
    let location = absolute_location(&response);
    assert_eq!(
        location.as_str(),
        format!("{AFTER}?state={STATE}"),
        "the registered URI with state"
    );
    assert!(cleared_session_cookie(&response));
    assert_eq!(sessions(&app).await, 0, "the session row is gone");
    assert!(
        !is_signed_in(&browser, &client).await,
        "a later /oauth/authorize asks to sign in"
    );

    // An expired hint still names the session to end (§2).
    browser.login("alice", flow::PASSWORD).await;
    let old = hint(&app, &alice.id, &client.id, 60).await;
    app.clock.advance(3600);
    let response = browser
        .get(&logout_path(&[
            ("id_token_hint", &old),
            ("post_logout_redirect_uri", AFTER),
        ]))
        .await;
    assert_eq!(response.status(), StatusCode::FOUND);
    assert_eq!(absolute_location(&response).as_str(), AFTER);
    assert!(!is_signed_in(&browser, &client).await);

    // The metadata advertises the endpoint.
    let meta: Value = app
        .http
        .get(app.url("/.well-known/oauth-authorization-server"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        meta["end_session_endpoint"],
        format!("{}/oauth/logout", app.config.issuer())
    );
}

async fn an_unregistered_uri_is_never_a_redirect(backend: Backend) {
    let app = app_with_key(backend, |_| {}).await;
    let client = client_with_logout_uri(&app).await;
    let (browser, alice) = signed_in(&app).await;
    let token = hint(&app, &alice.id, &client.id, 300).await;
    for uri in [
        "https://evil.example/",
        "https://app.example/signed-out/",
        "https://app.example/signed-out?x=1",
        CB,
    ] {
        browser.login("alice", flow::PASSWORD).await;
        let response = browser
            .get(&logout_path(&[
                ("id_token_hint", &token),
                ("post_logout_redirect_uri", uri),
                ("state", STATE),
            ]))
            .await;
        assert_eq!(response.status(), StatusCode::OK, "{uri}");
        assert!(flow::header(&response, "location").is_none(), "{uri}");
        let html = response.text().await.unwrap();
        assert!(html.contains("You are signed out"), "{uri}: {html}");
        assert!(!html.contains("evil.example"));
        assert!(!is_signed_in(&browser, &client).await, "{uri}");
    }
    // client_id alone names the client, but without a hint the user is asked
    // first; a client_id that is not the hint's audience is refused.
    browser.login("alice", flow::PASSWORD).await;
    let other = client_with_logout_uri(&app).await;
    let response = browser
        .get(&logout_path(&[
            ("id_token_hint", &token),
            ("client_id", &other.id),
            ("post_logout_redirect_uri", AFTER),
        ]))
        .await;
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    assert!(is_signed_in(&browser, &client).await);
}

async fn without_a_hint_the_user_confirms_with_a_csrf_protected_post(backend: Backend) {
    let app = app_with_key(backend, |_| {}).await;
    let client = client_with_logout_uri(&app).await;
    let (browser, _alice) = signed_in(&app).await;
    let path = logout_path(&[
        ("client_id", &client.id),
        ("post_logout_redirect_uri", AFTER),
        ("state", STATE),
    ]);
    // A GET alone (a cross-site link or image) only shows the question.
    let response = browser.get(&path).await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(
        flow::header(&response, "cache-control").as_deref(),
        Some("no-store")
    );
    let html = response.text().await.unwrap();
    assert!(html.contains("Logout App"), "{html}");
    let csrf = hidden(&html, "csrf").expect("csrf field");
    assert_eq!(
        hidden(&html, "post_logout_redirect_uri").as_deref(),
        Some(AFTER)
    );
    assert_eq!(hidden(&html, "state").as_deref(), Some(STATE));
    assert!(
        is_signed_in(&browser, &client).await,
        "GET did not sign out"
    );
    assert_eq!(sessions(&app).await, 1);

    // A POST without the CSRF token, or with a wrong one, is refused.
    for form in [
        vec![("confirm", "yes"), ("client_id", client.id.as_str())],
        vec![
            ("confirm", "yes"),
            ("csrf", "0000"),
            ("client_id", client.id.as_str()),
        ],
    ] {
        let response = post_logout(&browser, &form).await;
        assert_eq!(response.status(), StatusCode::FORBIDDEN, "{form:?}");
        assert!(is_signed_in(&browser, &client).await);
    }
    // A cross-site POST of the logout request itself is asked about too.
    let response = post_logout(&browser, &[("client_id", client.id.as_str())]).await;
    assert_eq!(response.status(), StatusCode::OK);
    assert!(is_signed_in(&browser, &client).await);

    // The confirmed form: signed out, redirected with state (303 after POST).
    let response = post_logout(
        &browser,
        &[
            ("csrf", csrf.as_str()),
            ("confirm", "yes"),
            ("client_id", client.id.as_str()),
            ("post_logout_redirect_uri", AFTER),
            ("state", STATE),
        ],
    )
    .await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    let location: Url = absolute_location(&response);
    assert_eq!(param(&location, "state").as_deref(), Some(STATE));
    assert!(location.as_str().starts_with(AFTER));
    assert!(!is_signed_in(&browser, &client).await);
    assert_eq!(sessions(&app).await, 0);

    // Nobody signed in: nothing to confirm, the redirect at once.
    let response = browser.get(&path).await;
    assert_eq!(response.status(), StatusCode::FOUND);
}

async fn a_hint_we_did_not_sign_or_for_someone_else_does_not_sign_out(backend: Backend) {
    let app = app_with_key(backend, |_| {}).await;
    let client = client_with_logout_uri(&app).await;
    let (browser, alice) = signed_in(&app).await;
    // Signed by a key that was never published.
    let stranger = signing::generate(&app.config.signing, app.clock.now(), 77, 0).unwrap();
    let now = app.clock.now();
    let forged = signing::sign_with(
        &[5u8; 32],
        &stranger,
        &json!({"iss": app.config.issuer(), "sub": alice.id, "aud": client.id, "iat": now, "exp": now + 300}),
    )
    .unwrap();
    let tampered = {
        let good = hint(&app, "someone-else", &client.id, 300).await;
        let (head, _) = good.rsplit_once('.').unwrap();
        let (_, sig) = forged.rsplit_once('.').unwrap();
        format!("{head}.{sig}")
    };
    for bad in [
        forged.as_str(),
        tampered.as_str(),
        "not-a-jwt",
        "eyJhbGciOiJub25lIn0.e30.",
    ] {
        let response = browser
            .get(&logout_path(&[
                ("id_token_hint", bad),
                ("post_logout_redirect_uri", AFTER),
                ("state", STATE),
            ]))
            .await;
        assert_eq!(response.status(), StatusCode::BAD_REQUEST, "{bad}");
        assert!(flow::header(&response, "location").is_none());
        let html = response.text().await.unwrap();
        assert!(!html.contains(bad), "the hint is not echoed");
        assert!(is_signed_in(&browser, &client).await, "{bad}");
    }
    // An oversized state is refused, not truncated.
    let long = "s".repeat(2049);
    let response = browser
        .get(&logout_path(&[("client_id", &client.id), ("state", &long)]))
        .await;
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    assert!(is_signed_in(&browser, &client).await);
    // Repeated parameters are refused.
    let response = browser.get("/oauth/logout?state=a&state=b").await;
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    // A valid hint for another user: the signed-in user is asked first.
    let theirs = hint(&app, "another-user", &client.id, 300).await;
    let response = browser
        .get(&logout_path(&[("id_token_hint", &theirs)]))
        .await;
    assert_eq!(response.status(), StatusCode::OK);
    let html = response.text().await.unwrap();
    assert!(hidden(&html, "csrf").is_some(), "{html}");
    assert!(is_signed_in(&browser, &client).await);
}

async fn registration_takes_post_logout_redirect_uris_under_the_redirect_uri_rules(
    backend: Backend,
) {
    let app = TestApp::spawn(backend).await;
    let ok = app
        .http
        .post(app.url("/api/client"))
        .json(&json!({
            "client_name": "rp",
            "redirect_uris": [CB],
            "post_logout_redirect_uris": [AFTER, "http://127.0.0.1:8080/bye", AFTER],
        }))
        .send()
        .await
        .unwrap();
    assert_eq!(ok.status(), StatusCode::CREATED);
    let body: Value = ok.json().await.unwrap();
    assert_eq!(
        body["post_logout_redirect_uris"],
        json!([AFTER, "http://127.0.0.1:8080/bye"]),
        "duplicates collapsed, order kept"
    );
    let stored = oauthd::store::clients::find(&app.db, body["client_id"].as_str().unwrap())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(stored.post_logout_redirect_uris.len(), 2);

    let before = app.snapshot().await;
    for (bad, why) in [
        (json!(["http://app.example/bye"]), "plain http off loopback"),
        (json!(["https://app.example/bye#frag"]), "a fragment"),
        (json!(["/bye"]), "relative"),
        (json!(["javascript:alert(1)"]), "a script URL"),
        (json!("https://app.example/bye"), "not a list"),
    ] {
        let response = app
            .http
            .post(app.url("/api/client"))
            .json(&json!({
                "client_name": "rp",
                "redirect_uris": [CB],
                "post_logout_redirect_uris": bad,
            }))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::BAD_REQUEST, "{why}");
        let body: Value = response.json().await.unwrap();
        assert!(
            matches!(
                body["error"].as_str(),
                Some("invalid_redirect_uri" | "invalid_client_metadata")
            ),
            "{why}: {body}"
        );
    }
    assert_eq!(app.snapshot().await, before, "nothing stored");

    // The CLI's rules are the same.
    let view = oauthd::cli::admin::add_client(
        &app.db,
        &app.clock,
        &app.config,
        NewClientArgs {
            name: "cli rp".into(),
            redirect_uris: vec![CB.into()],
            post_logout_redirect_uris: vec![AFTER.into()],
            ..NewClientArgs::default()
        },
    )
    .await
    .unwrap();
    assert_eq!(view.client.post_logout_redirect_uris, [AFTER]);
    assert!(
        oauthd::cli::admin::add_client(
            &app.db,
            &app.clock,
            &app.config,
            NewClientArgs {
                name: "cli rp".into(),
                redirect_uris: vec![CB.into()],
                post_logout_redirect_uris: vec!["http://app.example/bye".into()],
                ..NewClientArgs::default()
            },
        )
        .await
        .is_err()
    );
}

crate::both_backends!(
    a_valid_hint_and_a_registered_uri_sign_out_and_redirect_with_state,
    an_unregistered_uri_is_never_a_redirect,
    without_a_hint_the_user_confirms_with_a_csrf_protected_post,
    a_hint_we_did_not_sign_or_for_someone_else_does_not_sign_out,
    registration_takes_post_logout_redirect_uris_under_the_redirect_uri_rules,
);
