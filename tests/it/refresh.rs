//! `grant_type=refresh_token`: rotation, reuse detection, scope, races, expiry.

use std::time::Duration;

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::both_backends;
use crate::support::flow::{
    self, Auth, Client, Params, Tokens, account, register_confidential, signed_in, token, tokens,
    tokens_for,
};
use crate::support::{Backend, TestApp};
use oauthd::oauth::token::seconds;

both_backends!(
    refresh_rotates_through_a_chain_with_the_oauth2_crate,
    a_reused_refresh_token_revokes_its_whole_family,
    refresh_may_narrow_the_scope_but_never_widen_it,
    concurrent_refreshes_of_one_token_let_exactly_one_win,
    a_refresh_token_works_only_for_its_own_client,
    refresh_tokens_expire_absolutely_and_when_idle,
    the_grace_period_forgives_a_quick_retry_only,
    a_token_retired_by_a_grace_retry_counts_as_reuse,
    the_grace_period_ends_once_the_successor_is_used,
    revoking_a_refresh_token_revokes_its_access_tokens,
    token_kinds_are_not_interchangeable,
    clients_without_the_refresh_grant_get_no_refresh_token,
);

const CB: &str = flow::CB;

async fn first_tokens(app: &TestApp) -> (Client, Tokens) {
    let (browser, _) = signed_in(app).await;
    let client = register_confidential(app, &[CB]).await;
    let tokens = tokens_for(app, &browser, &client, &Params::code(&client), None).await;
    assert!(
        tokens.refresh.is_some(),
        "the code exchange hands out a refresh token"
    );
    (client, tokens)
}

async fn refresh(
    app: &TestApp,
    client: &Client,
    refresh_token: &str,
    scope: Option<&str>,
) -> reqwest::Response {
    let mut form = vec![
        ("grant_type", "refresh_token"),
        ("refresh_token", refresh_token),
    ];
    if let Some(s) = scope {
        form.push(("scope", s));
    }
    token(app, &client.auth(), &form).await
}

async fn refreshed(app: &TestApp, client: &Client, refresh_token: &str) -> Tokens {
    tokens(refresh(app, client, refresh_token, None).await, "refresh").await
}

async fn assert_invalid_grant(response: reqwest::Response, why: &str) {
    let status = response.status();
    let body: Value = response.json().await.unwrap();
    assert_eq!(status, StatusCode::BAD_REQUEST, "{why}: {body}");
    assert_eq!(body["error"], "invalid_grant", "{why}");
}

async fn active(app: &TestApp, client: &Client, token: &str) -> bool {
    let response = app
        .http
        .post(app.url("/oauth/introspect"))
        .basic_auth(&client.id, Some(client.secret()))
        .form(&[("token", token)])
        .send()
        .await
        .unwrap();
    let body: Value = response.json().await.unwrap();
    body["active"] == json!(true)
}

async fn refresh_rotates_through_a_chain_with_the_oauth2_crate(backend: Backend) {
    use oauth2::TokenResponse;
    let app = TestApp::spawn(backend).await;
    let (client, first) = first_tokens(&app).await;
    let oauth = oauth2::basic::BasicClient::new(oauth2::ClientId::new(client.id.clone()))
        .set_client_secret(oauth2::ClientSecret::new(client.secret().to_owned()))
        .set_token_uri(oauth2::TokenUrl::new(app.url("/oauth/token")).unwrap());
    let http = oauth2::reqwest::Client::builder()
        .redirect(oauth2::reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let mut current = first.refresh.clone().unwrap();
    let mut seen = vec![current.clone()];
    for round in 0..4 {
        let answer = oauth
            .exchange_refresh_token(&oauth2::RefreshToken::new(current.clone()))
            .request_async(&http)
            .await
            .unwrap_or_else(|e| panic!("round {round}: {e:?}"));
        let next = answer.refresh_token().unwrap().secret().clone();
        assert!(
            !seen.contains(&next),
            "round {round}: a new refresh token every time"
        );
        let access = answer.access_token().secret().clone();
        assert_eq!(
            account(&app, &access).await.status(),
            StatusCode::OK,
            "round {round}"
        );
        seen.push(next.clone());
        current = next;
    }
    // Every retired token is dead; the newest lives.
    assert!(active(&app, &client, &current).await);
    for old in &seen[..seen.len() - 1] {
        assert!(
            !active(&app, &client, old).await,
            "retired refresh tokens introspect inactive"
        );
    }
}

async fn a_reused_refresh_token_revokes_its_whole_family(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let (client, first) = first_tokens(&app).await;
    let rt1 = first.refresh.clone().unwrap();
    let second = refreshed(&app, &client, &rt1).await;
    let rt2 = second.refresh.clone().unwrap();
    assert_eq!(account(&app, &second.access).await.status(), StatusCode::OK);

    // Past the default grace period, a replay is reuse.
    app.clock
        .advance(seconds(app.config.tokens.refresh_grace) + 1);
    assert_invalid_grant(refresh(&app, &client, &rt1, None).await, "replay of RT1").await;
    assert_invalid_grant(
        refresh(&app, &client, &rt2, None).await,
        "RT2 after the family was revoked",
    )
    .await;
    for (why, access) in [
        ("first access token", &first.access),
        ("newest access token", &second.access),
    ] {
        let response = account(&app, access).await;
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED, "{why}");
        assert!(
            !active(&app, &client, access).await,
            "{why} introspects inactive"
        );
    }
}

async fn refresh_may_narrow_the_scope_but_never_widen_it(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let (client, first) = first_tokens(&app).await;
    assert_eq!(first.scope, "account:read event:write");
    let before = app.snapshot().await;
    for (why, scope) in [
        ("a scope the grant lacks", "account:read introspect"),
        ("an unknown scope", "root"),
        ("bad syntax", "account\\read"),
    ] {
        let response = refresh(
            &app,
            &client,
            first.refresh.as_deref().unwrap(),
            Some(scope),
        )
        .await;
        let body: Value = response.json().await.unwrap();
        assert_eq!(body["error"], "invalid_scope", "{why}");
    }
    assert_eq!(
        app.snapshot().await,
        before,
        "refused refreshes change nothing"
    );

    let narrow = tokens(
        refresh(
            &app,
            &client,
            first.refresh.as_deref().unwrap(),
            Some("event:write"),
        )
        .await,
        "narrow",
    )
    .await;
    assert_eq!(narrow.scope, "event:write");
    assert_eq!(
        account(&app, &narrow.access).await.status(),
        StatusCode::FORBIDDEN,
        "the narrowed access token lacks account:read"
    );
    // The new refresh token keeps the original grant (RFC 6749 §6).
    let wide_again = refreshed(&app, &client, narrow.refresh.as_deref().unwrap()).await;
    assert_eq!(wide_again.scope, "account:read event:write");
    assert_eq!(
        account(&app, &wide_again.access).await.status(),
        StatusCode::OK
    );
}

/// Rounds of the refresh race, and racers per round.
const REFRESH_ROUNDS: usize = 20;
const REFRESH_RACERS: usize = 8;

async fn concurrent_refreshes_of_one_token_let_exactly_one_win(backend: Backend) {
    // Strict rotation: inside a grace period the other uses would each be
    // forgiven in turn (races.rs covers that).
    let app = TestApp::spawn_with(backend, |c| c.tokens.refresh_grace = Duration::ZERO).await;
    let (browser, _) = signed_in(&app).await;
    let client = register_confidential(&app, &[CB]).await;
    for round in 0..REFRESH_ROUNDS {
        let first = tokens_for(&app, &browser, &client, &Params::code(&client), None).await;
        let rt = first.refresh.unwrap();
        let attempts = (0..REFRESH_RACERS).map(|_| {
            let http = app.http.clone();
            let url = app.url("/oauth/token");
            let (id, secret, rt) = (client.id.clone(), client.secret().to_owned(), rt.clone());
            tokio::spawn(async move {
                let response = http
                    .post(url)
                    .basic_auth(id, Some(secret))
                    .form(&[
                        ("grant_type", "refresh_token"),
                        ("refresh_token", rt.as_str()),
                    ])
                    .send()
                    .await
                    .unwrap();
                let status = response.status();
                let body: Value = response.json().await.unwrap();
                (status, body)
            })
        });
        let results: Vec<(StatusCode, Value)> = futures::future::join_all(attempts)
            .await
            .into_iter()
            .map(Result::unwrap)
            .collect();
        let wins = results.iter().filter(|(s, _)| *s == StatusCode::OK).count();
        assert_eq!(
            wins, 1,
            "round {round}: exactly one refresh wins: {results:?}"
        );
        for (status, body) in &results {
            assert!(
                !status.is_server_error(),
                "round {round}: never a 5xx: {body}"
            );
            if *status != StatusCode::OK {
                assert_eq!(body["error"], "invalid_grant", "round {round}");
            }
        }
        let live = flow::scalar(
            &app,
            &format!(
                "select count(*) from tokens where kind = 'refresh' and revoked_at is null \
                 and rotated_at is null and grant_id = \
                 (select grant_id from tokens where token_hash = {})",
                flow::token_digest(&app, "$1")
            ),
            &[&oauthd::crypto::sha256_hex(&rt)],
        )
        .await;
        assert!(
            live <= 1,
            "round {round}: at most one live refresh token in the family, found {live}"
        );
    }
}

async fn a_refresh_token_works_only_for_its_own_client(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let (client, first) = first_tokens(&app).await;
    let other = register_confidential(&app, &["https://other.example/cb"]).await;
    let rt = first.refresh.clone().unwrap();
    assert_invalid_grant(
        refresh(&app, &other, &rt, None).await,
        "another client's refresh token",
    )
    .await;
    let public = flow::register_public(&app, &["https://spa.example/cb"]).await;
    let response = token(
        &app,
        &Auth::Id(public.id.clone()),
        &[("grant_type", "refresh_token"), ("refresh_token", &rt)],
    )
    .await;
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    // Untouched: the owner can still use it.
    refreshed(&app, &client, &rt).await;
}

async fn refresh_tokens_expire_absolutely_and_when_idle(backend: Backend) {
    let app = TestApp::spawn_with(backend, |c| {
        c.tokens.refresh_token_lifetime = Duration::from_secs(1000);
        c.tokens.refresh_token_idle = Some(Duration::from_secs(300));
    })
    .await;
    let (client, first) = first_tokens(&app).await;
    // Idle: unused for longer than 300 s.
    app.clock.advance(301);
    assert_invalid_grant(
        refresh(&app, &client, first.refresh.as_deref().unwrap(), None).await,
        "idle refresh token",
    )
    .await;

    // Absolute: rotating every 250 s keeps it from idling, but not past 1000 s.
    let (browser, _) = (app.browser(), ());
    let fresh = tokens_for(&app, &browser, &client, &Params::code(&client), None).await;
    let mut rt = fresh.refresh.unwrap();
    for step in 0..3 {
        app.clock.advance(250);
        rt = refreshed(&app, &client, &rt)
            .await
            .refresh
            .unwrap_or_else(|| panic!("step {step}"));
    }
    app.clock.advance(251);
    assert_invalid_grant(
        refresh(&app, &client, &rt, None).await,
        "past the absolute lifetime",
    )
    .await;
}

async fn the_grace_period_forgives_a_quick_retry_only(backend: Backend) {
    let app = with_grace(backend, 10).await;
    let (client, first) = first_tokens(&app).await;
    let rt1 = first.refresh.clone().unwrap();
    let second = refreshed(&app, &client, &rt1).await;
    app.clock.advance(5);
    let retry = refreshed(&app, &client, &rt1).await;
    app.clock.advance(1);
    let retry2 = refreshed(&app, &client, &rt1).await;
    assert_eq!(account(&app, &retry2.access).await.status(), StatusCode::OK);
    assert_eq!(
        account(&app, &second.access).await.status(),
        StatusCode::OK,
        "no reuse detected inside the grace period"
    );
    for (why, superseded) in [
        ("the refresh token of the lost response", &second),
        ("the refresh token of the first retry", &retry),
    ] {
        assert!(
            !active(&app, &client, superseded.refresh.as_deref().unwrap()).await,
            "{why} is retired by the retry after it"
        );
    }
    assert_eq!(
        live_refresh_tokens(&app, &client).await,
        1,
        "the family keeps exactly one live refresh token"
    );
    app.clock.advance(5);
    assert_invalid_grant(
        refresh(&app, &client, &rt1, None).await,
        "after the grace period",
    )
    .await;
    assert_eq!(
        account(&app, &retry2.access).await.status(),
        StatusCode::UNAUTHORIZED,
        "reuse after the grace period revokes the family"
    );
}

async fn a_token_retired_by_a_grace_retry_counts_as_reuse(backend: Backend) {
    let app = with_grace(backend, 10).await;
    let (client, first) = first_tokens(&app).await;
    let rt1 = first.refresh.clone().unwrap();
    let lost = refreshed(&app, &client, &rt1).await;
    let retry = refreshed(&app, &client, &rt1).await;
    // Whoever holds the superseded token was not the client that retried.
    assert_invalid_grant(
        refresh(&app, &client, lost.refresh.as_deref().unwrap(), None).await,
        "the superseded refresh token",
    )
    .await;
    assert!(
        !active(&app, &client, retry.refresh.as_deref().unwrap()).await,
        "the family is revoked"
    );
    assert_eq!(
        account(&app, &retry.access).await.status(),
        StatusCode::UNAUTHORIZED
    );
}

async fn the_grace_period_ends_once_the_successor_is_used(backend: Backend) {
    let app = with_grace(backend, 10).await;
    let (client, first) = first_tokens(&app).await;
    let rt1 = first.refresh.clone().unwrap();
    let second = refreshed(&app, &client, &rt1).await;
    let third = refreshed(&app, &client, second.refresh.as_deref().unwrap()).await;
    // The client evidently got RT2 (it used it): RT1 again is reuse.
    assert_invalid_grant(
        refresh(&app, &client, &rt1, None).await,
        "RT1 after its successor was used",
    )
    .await;
    assert!(
        !active(&app, &client, third.refresh.as_deref().unwrap()).await,
        "the family is revoked"
    );
}

/// A server whose refresh grace period is `secs`.
async fn with_grace(backend: Backend, secs: u64) -> TestApp {
    TestApp::spawn_with(backend, |c| {
        c.tokens.refresh_grace = Duration::from_secs(secs);
    })
    .await
}

/// Live refresh tokens the client holds.
async fn live_refresh_tokens(app: &TestApp, client: &Client) -> i64 {
    flow::scalar(
        app,
        "select count(*) from tokens where client_id = $1 and kind = 'refresh' \
         and revoked_at is null and rotated_at is null",
        &[&client.id],
    )
    .await
}

async fn revoking_a_refresh_token_revokes_its_access_tokens(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let (client, first) = first_tokens(&app).await;
    let second = refreshed(&app, &client, first.refresh.as_deref().unwrap()).await;
    let response = app
        .http
        .post(app.url("/oauth/revoke"))
        .basic_auth(&client.id, Some(client.secret()))
        .form(&[
            ("token", second.refresh.as_deref().unwrap()),
            ("token_type_hint", "refresh_token"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(
        account(&app, &second.access).await.status(),
        StatusCode::UNAUTHORIZED
    );
    assert_invalid_grant(
        refresh(&app, &client, second.refresh.as_deref().unwrap(), None).await,
        "revoked refresh token",
    )
    .await;

    // Revoking an access token leaves the refresh token alone.
    let (browser, ()) = (app.browser(), ());
    let other = tokens_for(
        &app,
        &browser,
        &client,
        &Params::code(&client).set("prompt", "consent"),
        None,
    )
    .await;
    app.http
        .post(app.url("/oauth/revoke"))
        .basic_auth(&client.id, Some(client.secret()))
        .form(&[("token", other.access.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(
        account(&app, &other.access).await.status(),
        StatusCode::UNAUTHORIZED
    );
    refreshed(&app, &client, other.refresh.as_deref().unwrap()).await;
}

async fn token_kinds_are_not_interchangeable(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let (client, first) = first_tokens(&app).await;
    assert_invalid_grant(
        refresh(&app, &client, &first.access, None).await,
        "access token as refresh token",
    )
    .await;
    let response = account(&app, first.refresh.as_deref().unwrap()).await;
    assert_eq!(
        response.status(),
        StatusCode::UNAUTHORIZED,
        "refresh token as bearer"
    );
    let response = token(&app, &client.auth(), &[("grant_type", "refresh_token")]).await;
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["error"], "invalid_request", "missing refresh_token");
    // The refused attempts did not burn the real refresh token.
    refreshed(&app, &client, first.refresh.as_deref().unwrap()).await;
}

async fn clients_without_the_refresh_grant_get_no_refresh_token(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let (browser, _) = signed_in(&app).await;
    let client = flow::register_json(
        &app,
        &json!({"client_name": "No refresh", "redirect_uris": [CB], "grant_types": ["authorization_code"]}),
    )
    .await;
    let got = tokens_for(&app, &browser, &client, &Params::code(&client), None).await;
    assert!(got.refresh.is_none());
    let response = refresh(
        &app,
        &client,
        "ort_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
        None,
    )
    .await;
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["error"], "unauthorized_client");
}
