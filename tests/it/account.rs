//! `/account`, the resource the flow's access token opens: the three RFC 6750
//! ways to present a token, and every way a token can be unusable.

use std::time::Duration;

use reqwest::StatusCode;
use serde_json::Value;

use crate::both_backends;
use crate::support::flow::{
    Browser, CB, Client, Params, Tokens, account, header, redeem, register_confidential, signed_in,
    tokens, tokens_for,
};
use crate::support::{Backend, TestApp};

both_backends!(
    account_answers_with_the_user_for_a_bearer_token,
    account_takes_the_token_as_a_form_field_or_query_parameter,
    account_without_a_token_asks_for_one,
    account_refuses_unusable_tokens_as_invalid_token,
    an_access_token_expires_after_its_lifetime,
    a_token_without_the_account_scope_is_insufficient,
    a_token_sent_two_ways_is_an_invalid_request,
    a_disabled_users_token_is_invalid,
);

/// A client, alice signed in, and her tokens for the default scopes.
async fn alice_with_tokens(app: &TestApp) -> (Browser, oauthd::store::users::User, Client, Tokens) {
    let client = register_confidential(app, &[CB]).await;
    let (browser, alice) = signed_in(app).await;
    let t = tokens_for(app, &browser, &client, &Params::code(&client), None).await;
    (browser, alice, client, t)
}

/// Asserts a 401 whose challenge names `invalid_token`.
fn assert_invalid_token(response: &reqwest::Response, why: &str) {
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED, "{why}");
    let challenge = header(response, "www-authenticate").unwrap_or_default();
    assert!(
        challenge.starts_with("Bearer realm=\"oauthd\""),
        "{why}: Bearer challenge, got {challenge:?}"
    );
    assert!(
        challenge.contains("error=\"invalid_token\""),
        "{why}: error=\"invalid_token\" in {challenge:?}"
    );
}

async fn account_answers_with_the_user_for_a_bearer_token(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let (_, alice, _, t) = alice_with_tokens(&app).await;
    for scheme in ["Bearer", "bearer", "BEARER"] {
        let response = app
            .http
            .get(app.url("/account"))
            .header("authorization", format!("{scheme} {}", t.access))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::OK, "scheme {scheme}");
        assert!(
            header(&response, "content-type")
                .unwrap_or_default()
                .starts_with("application/json")
        );
        let body: Value = response.json().await.unwrap();
        assert_eq!(body["id"], alice.id.as_str(), "scheme {scheme}: {body}");
        assert_eq!(body["username"], "alice", "scheme {scheme}");
        let text = body.to_string();
        assert!(
            !text.contains("argon2") && body.get("password_hash").is_none(),
            "never the password hash"
        );
    }
}

async fn account_takes_the_token_as_a_form_field_or_query_parameter(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let (_, alice, _, t) = alice_with_tokens(&app).await;

    let response = app
        .http
        .post(app.url("/account"))
        .form(&[("access_token", t.access.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK, "form field");
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["id"], alice.id.as_str());

    let response = app
        .http
        .get(app.url(&format!("/account?access_token={}", t.access)))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK, "query parameter");
    let cache = header(&response, "cache-control").unwrap_or_default();
    assert!(
        cache.contains("private") || cache.contains("no-store"),
        "a URI with a token must not be cached by shared caches (RFC 6750 §2.3): {cache:?}"
    );
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["username"], "alice");
}

async fn account_without_a_token_asks_for_one(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    for (response, why) in [
        (
            app.http.get(app.url("/account")).send().await.unwrap(),
            "GET without a token",
        ),
        (
            app.http
                .post(app.url("/account"))
                .form(&[("other", "x")])
                .send()
                .await
                .unwrap(),
            "POST without a token",
        ),
    ] {
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED, "{why}");
        let challenge = header(&response, "www-authenticate").unwrap_or_default();
        assert!(
            challenge.starts_with("Bearer realm=\"oauthd\""),
            "{why}: {challenge:?}"
        );
        assert!(
            !challenge.contains("error="),
            "{why}: no error code when no token was sent (RFC 6750 §3.1): {challenge:?}"
        );
    }
}

async fn account_refuses_unusable_tokens_as_invalid_token(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let (browser, _, client, t) = alice_with_tokens(&app).await;

    // A token revoked by a replay of its code.
    let code = browser.code(&Params::code(&client)).await;
    let revoked = tokens(
        redeem(&app, &client, &code, Some(CB), None).await,
        "exchange",
    )
    .await;
    let replay = redeem(&app, &client, &code, Some(CB), None).await;
    assert_eq!(
        replay.status(),
        StatusCode::BAD_REQUEST,
        "the replay is refused"
    );
    // A code that was never redeemed.
    let unused_code = browser.code(&Params::code(&client)).await;

    let unknown = format!("oat_{}", "A".repeat(43));
    let refresh = t.refresh.clone().unwrap();
    for (token, why) in [
        (unknown.as_str(), "an unknown token"),
        ("not-a-token", "garbage"),
        (revoked.access.as_str(), "a revoked token"),
        (refresh.as_str(), "a refresh token used as a bearer token"),
        (
            unused_code.as_str(),
            "an authorization code used as a bearer token",
        ),
        (client.secret(), "a client secret used as a bearer token"),
    ] {
        let response = account(&app, token).await;
        assert_invalid_token(&response, why);
        let text = response.text().await.unwrap();
        assert!(!text.contains(token), "{why}: the token is not echoed");
    }
    assert_eq!(
        account(&app, &t.access).await.status(),
        StatusCode::OK,
        "the good token still works"
    );
}

async fn an_access_token_expires_after_its_lifetime(backend: Backend) {
    let app = TestApp::spawn_with(backend, |c| {
        c.tokens.access_token_lifetime = Duration::from_secs(900);
    })
    .await;
    let (_, _, _, t) = alice_with_tokens(&app).await;
    assert_eq!(t.body["expires_in"], 900, "tokens.access_token_lifetime");
    app.clock.advance(899);
    assert_eq!(account(&app, &t.access).await.status(), StatusCode::OK);
    app.clock.advance(2);
    assert_invalid_token(&account(&app, &t.access).await, "past its lifetime");
}

async fn a_token_without_the_account_scope_is_insufficient(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let client = register_confidential(&app, &[CB]).await;
    let (browser, _) = signed_in(&app).await;
    let t = tokens_for(
        &app,
        &browser,
        &client,
        &Params::code(&client).set("scope", "event:write"),
        None,
    )
    .await;
    assert_eq!(t.scope, "event:write");
    let response = account(&app, &t.access).await;
    assert_eq!(response.status(), StatusCode::FORBIDDEN);
    let challenge = header(&response, "www-authenticate").unwrap_or_default();
    assert!(
        challenge.contains("error=\"insufficient_scope\""),
        "{challenge:?}"
    );
}

async fn a_token_sent_two_ways_is_an_invalid_request(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let (_, _, _, t) = alice_with_tokens(&app).await;
    let response = app
        .http
        .get(app.url(&format!("/account?access_token={}", t.access)))
        .header("authorization", format!("Bearer {}", t.access))
        .send()
        .await
        .unwrap();
    assert_eq!(
        response.status(),
        StatusCode::BAD_REQUEST,
        "RFC 6750 §2: one method per request"
    );
    let challenge = header(&response, "www-authenticate").unwrap_or_default();
    let body = response.text().await.unwrap();
    assert!(
        challenge.contains("invalid_request") || body.contains("invalid_request"),
        "invalid_request in the challenge or body: {challenge:?} {body}"
    );
    assert!(!body.contains(&t.access), "the token is not echoed");
}

async fn a_disabled_users_token_is_invalid(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let (_, _, _, t) = alice_with_tokens(&app).await;
    assert_eq!(account(&app, &t.access).await.status(), StatusCode::OK);
    assert!(
        oauthd::store::users::disable(&app.db, "alice", app.clock.now())
            .await
            .unwrap()
    );
    assert_invalid_token(&account(&app, &t.access).await, "the user was disabled");
}
