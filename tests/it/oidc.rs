//! OpenID Connect: discovery, ID tokens, UserInfo, `prompt`, `max_age`,
//! `login_hint`, through the stock `openidconnect` relying party and raw
//! requests.
//!
//! Checklist (after the OpenID Foundation's oidcc plans), each a test below:
//! - the `openidconnect` crate runs discovery, the code flow with PKCE and
//!   nonce, validates the ID token against the JWKS (and `at_hash`), calls
//!   UserInfo, refreshes and logs out (RP-initiated, with `id_token_hint`);
//! - the nonce round-trips exactly; an over-long one is refused;
//! - a tampered ID token, or one for another `aud`, fails validation;
//! - `prompt=none` without a session → `login_required`, without consent
//!   → `consent_required`; `prompt=login` and `max_age` force a sign-in and
//!   `auth_time` follows it; `login_hint` pre-fills the user name;
//! - UserInfo with no token, a revoked token, a token without `openid`;
//! - discovery agrees with the RFC 8414 metadata;
//! - no key-encryption key: `openid` is `invalid_scope`, discovery is 404;
//! - `id_token_hint`: the signed-in user's (expired too) answers,
//!   another user's is `login_required` with `prompt=none` and a sign-in
//!   otherwise, a forged one or one for another client is
//!   `invalid_request`.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use oauthd::cli::admin::NewClientArgs;
use oauthd::config::Config;
use openidconnect::core::{
    CoreAuthenticationFlow, CoreClient, CoreIdToken, CoreProviderMetadata, CoreUserInfoClaims,
};
use openidconnect::{
    AccessTokenHash, AuthorizationCode, ClientId, ClientSecret, CsrfToken, IssuerUrl,
    LogoutRequest, Nonce, OAuth2TokenResponse, PkceCodeChallenge, PostLogoutRedirectUrl,
    ProviderMetadataWithLogout, RedirectUrl, RefreshToken, Scope, TokenResponse,
};
use reqwest::StatusCode;
use serde_json::Value;
use sha2::Digest as _;
use url::Url;

use crate::support::flow::{
    Browser, CB, Client, PASSWORD, Params, STATE, VERIFIER, assert_error_redirect, create_user,
    header, is_login_redirect, param, redeem, register, tokens,
};
use crate::support::{Backend, TestApp};

crate::both_backends!(
    the_openidconnect_crate_signs_in_validates_reads_userinfo_and_refreshes,
    discovery_agrees_with_the_rfc8414_metadata,
    the_nonce_round_trips_exactly_and_an_overlong_one_is_refused,
    a_tampered_id_token_or_another_audience_fails_validation,
    prompt_none_without_a_session_is_login_required,
    prompt_none_without_consent_is_consent_required,
    max_age_forces_a_new_sign_in_and_auth_time_follows,
    prompt_login_forces_a_new_sign_in_and_login_hint_prefills,
    userinfo_refuses_no_token_revoked_tokens_and_tokens_without_openid,
    userinfo_claims_follow_the_scopes,
    without_a_key_encryption_key_openid_is_invalid_scope,
    pairwise_subjects_differ_between_hosts_and_are_stable,
    pairwise_registration_refusals_store_nothing,
    a_replica_without_keys_refuses_the_code_without_burning_it_and_refreshes_without_id_token,
    a_pairwise_client_keeps_its_redirect_uris_on_its_host,
    id_tokens_of_every_key_algorithm_validate,
    id_token_hint_names_the_signed_in_user_or_asks_for_a_sign_in,
    registration_accepts_only_the_id_token_alg_oauthd_signs_with,
    a_pairwise_clients_jwt_access_tokens_carry_its_pairwise_sub_and_read_userinfo,
);

const KEK: [u8; 32] = [9u8; 32];
const OIDC_SCOPE: &str = "openid profile email account:read";
/// Where the relying parties ask to return after RP-initiated logout.
const SIGNED_OUT: &str = "https://rp.example/signed-out";

/// A server that can sign ID tokens, with its first key active.
async fn op(backend: Backend) -> TestApp {
    op_with(backend, |_| {}).await
}

async fn op_with(backend: Backend, adjust: impl FnOnce(&mut Config)) -> TestApp {
    let app = TestApp::spawn_with(backend, |c| {
        c.signing.key_encryption_key = Some(KEK);
        adjust(c);
    })
    .await;
    oauthd::signing::rotate(&app.db, &app.clock, &app.config.signing, true)
        .await
        .unwrap()
        .expect("the first signing key");
    app
}

/// A confidential client that may ask for the OpenID scopes.
async fn rp(app: &TestApp, redirect_uri: &str) -> Client {
    register(
        app,
        NewClientArgs {
            name: "Relying Party".into(),
            redirect_uris: vec![redirect_uri.to_owned()],
            scope: Some(OIDC_SCOPE.into()),
            post_logout_redirect_uris: vec![SIGNED_OUT.to_owned()],
            ..NewClientArgs::default()
        },
    )
    .await
}

/// Alice, signed in with the app's browser, and her profile.
async fn alice(app: &TestApp) -> (Browser, oauthd::store::users::User) {
    let user = create_user(app, "alice").await;
    oauthd::store::users::set_profile(
        &app.db,
        &user.id,
        Some("Alice Liddell"),
        Some("alice@example.org"),
        true,
        app.clock.now(),
    )
    .await
    .unwrap();
    let browser = app.browser();
    browser.login("alice", PASSWORD).await;
    (browser, user)
}

/// The claims of a JWS, unverified (the crate verifies in the main test).
fn claims_of(jwt: &str) -> Value {
    let payload = jwt.split('.').nth(1).expect("a JWS has three parts");
    serde_json::from_slice(&B64.decode(payload).unwrap()).unwrap()
}

/// An OpenID code request with PKCE and `nonce`.
fn oidc_params(client: &Client, nonce: &str) -> Params {
    Params::pkce(client)
        .set("scope", OIDC_SCOPE)
        .add("nonce", nonce)
}

/// Runs the code flow for `params` and returns the token response body.
async fn id_tokens(app: &TestApp, browser: &Browser, client: &Client, params: &Params) -> Value {
    let code = browser.code(params).await;
    tokens(
        redeem(
            app,
            client,
            &code,
            Some(client.redirect_uri()),
            Some(VERIFIER),
        )
        .await,
        "code exchange",
    )
    .await
    .body
}

async fn the_openidconnect_crate_signs_in_validates_reads_userinfo_and_refreshes(backend: Backend) {
    let app = op(backend).await;
    let client = rp(&app, CB).await;
    let (browser, user) = alice(&app).await;
    let http = openidconnect::reqwest::Client::builder()
        .redirect(openidconnect::reqwest::redirect::Policy::none())
        .build()
        .unwrap();

    let metadata =
        CoreProviderMetadata::discover_async(IssuerUrl::new(app.base.clone()).unwrap(), &http)
            .await
            .expect("discovery and the JWKS are accepted");
    let rp = CoreClient::from_provider_metadata(
        metadata,
        ClientId::new(client.id.clone()),
        Some(ClientSecret::new(client.secret().to_owned())),
    )
    .set_redirect_uri(RedirectUrl::new(CB.to_owned()).unwrap());
    let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
    let (auth_url, csrf, nonce) = rp
        .authorize_url(
            CoreAuthenticationFlow::AuthorizationCode,
            CsrfToken::new_random,
            Nonce::new_random,
        )
        .add_scope(Scope::new("profile".into()))
        .add_scope(Scope::new("email".into()))
        .set_pkce_challenge(challenge)
        .url();
    assert!(auth_url.as_str().starts_with(&app.url("/oauth/authorize")));
    let params = Params(auth_url.query_pairs().into_owned().collect());
    let redirect = browser.code_redirect(&params).await;
    assert_eq!(
        param(&redirect, "state").as_deref(),
        Some(csrf.secret().as_str())
    );
    assert_eq!(
        param(&redirect, "iss").as_deref(),
        Some(app.config.issuer())
    );
    let code = param(&redirect, "code").expect("a code");

    let answer = rp
        .exchange_code(AuthorizationCode::new(code))
        .unwrap()
        .set_pkce_verifier(verifier)
        .request_async(&http)
        .await
        .expect("the code exchange");
    let id_token = answer.id_token().expect("an id_token for the openid scope");
    let checker = rp.id_token_verifier();
    let claims = id_token
        .claims(&checker, &nonce)
        .expect("the ID token validates against the JWKS, iss, aud and nonce");
    assert_eq!(claims.subject().as_str(), user.id, "sub is the user id");
    assert_ne!(claims.subject().as_str(), "alice", "never the user name");
    assert_eq!(claims.issuer().as_str(), app.config.issuer());
    let expected = AccessTokenHash::from_token(
        answer.access_token(),
        id_token.signing_alg().unwrap(),
        id_token.signing_key(&checker).unwrap(),
    )
    .unwrap();
    assert_eq!(claims.access_token_hash(), Some(&expected), "at_hash");
    assert!(claims.auth_time().is_some(), "auth_time");

    let info: CoreUserInfoClaims = rp
        .user_info(
            answer.access_token().clone(),
            Some(claims.subject().clone()),
        )
        .unwrap()
        .request_async(&http)
        .await
        .expect("UserInfo");
    assert_eq!(info.subject().as_str(), user.id);
    assert_eq!(info.preferred_username().map(|u| u.as_str()), Some("alice"));
    assert_eq!(info.email().map(|e| e.as_str()), Some("alice@example.org"));
    assert_eq!(info.email_verified(), Some(true));

    // OIDC Core §12.2: a refresh brings a new ID token, same auth_time, no nonce.
    let first_auth_time = claims.auth_time();
    let refresh = answer.refresh_token().expect("a refresh token").clone();
    app.clock.advance(30);
    let refreshed = rp
        .exchange_refresh_token(&RefreshToken::new(refresh.secret().clone()))
        .unwrap()
        .request_async(&http)
        .await
        .expect("the refresh");
    let again = refreshed.id_token().expect("a new ID token on refresh");
    let again_claims = again
        .claims(&checker, |n: Option<&Nonce>| match n {
            None => Ok(()),
            Some(_) => Err("a refreshed ID token carries no nonce".to_owned()),
        })
        .expect("the refreshed ID token validates");
    assert_eq!(again_claims.subject(), claims.subject());
    assert_eq!(again_claims.auth_time(), first_auth_time);
    assert!(again_claims.issue_time() > claims.issue_time());

    // RP-initiated logout, as the crate builds it: back at the registered
    // URI with the state, and the session is over.
    let with_logout = ProviderMetadataWithLogout::discover_async(
        IssuerUrl::new(app.base.clone()).unwrap(),
        &http,
    )
    .await
    .expect("discovery with the logout metadata");
    let end_session = with_logout
        .additional_metadata()
        .end_session_endpoint
        .clone()
        .expect("end_session_endpoint in discovery");
    let logout = LogoutRequest::from(end_session)
        .set_id_token_hint(again)
        .set_post_logout_redirect_uri(PostLogoutRedirectUrl::new(SIGNED_OUT.to_owned()).unwrap())
        .set_state(CsrfToken::new("bye".to_owned()))
        .http_get_url();
    let path = format!("{}?{}", logout.path(), logout.query().unwrap_or_default());
    let response = browser.get(&path).await;
    assert!(response.status().is_redirection(), "{}", response.status());
    let back = Url::parse(&header(&response, "location").unwrap()).unwrap();
    assert!(back.as_str().starts_with(SIGNED_OUT), "{back}");
    assert_eq!(param(&back, "state").as_deref(), Some("bye"));
    let response = browser
        .authorize(&oidc_params(&client, "after").add("prompt", "none"))
        .await;
    assert_error_redirect(
        &app,
        &response,
        CB,
        "login_required",
        Some(STATE),
        "prompt=none after logout",
    );
}

async fn discovery_agrees_with_the_rfc8414_metadata(backend: Backend) {
    let app = op(backend).await;
    let get = |path: &'static str| {
        let http = app.http.clone();
        let url = app.url(path);
        async move {
            let response = http.get(url).send().await.unwrap();
            assert_eq!(response.status(), StatusCode::OK, "{path}");
            response.json::<Value>().await.unwrap()
        }
    };
    let oidc = get("/.well-known/openid-configuration").await;
    let oauth = get("/.well-known/oauth-authorization-server").await;
    for (key, value) in oauth.as_object().unwrap() {
        assert_eq!(&oidc[key], value, "{key} is the same in both documents");
    }
    // OIDC Discovery §3: the REQUIRED fields.
    for key in [
        "issuer",
        "authorization_endpoint",
        "token_endpoint",
        "jwks_uri",
        "response_types_supported",
        "subject_types_supported",
        "id_token_signing_alg_values_supported",
    ] {
        assert!(!oidc[key].is_null(), "{key} is present");
    }
    assert_eq!(oidc["issuer"], app.config.issuer());
    assert_eq!(oidc["userinfo_endpoint"], app.url("/oauth/userinfo"));
    assert_eq!(
        oidc["id_token_signing_alg_values_supported"],
        serde_json::json!(["RS256"])
    );
    assert_eq!(
        oidc["subject_types_supported"],
        serde_json::json!(["public"])
    );
    assert_eq!(oidc["request_uri_parameter_supported"], false);
    let scopes = oidc["scopes_supported"].as_array().unwrap();
    for s in ["openid", "profile", "email"] {
        assert!(scopes.iter().any(|v| v == s), "scopes_supported has {s}");
    }
    let claims = oidc["claims_supported"].as_array().unwrap();
    for c in [
        "sub",
        "auth_time",
        "nonce",
        "preferred_username",
        "email_verified",
    ] {
        assert!(claims.iter().any(|v| v == c), "claims_supported has {c}");
    }
}

async fn the_nonce_round_trips_exactly_and_an_overlong_one_is_refused(backend: Backend) {
    let app = op(backend).await;
    let client = rp(&app, CB).await;
    let (browser, _) = alice(&app).await;
    let nonce = "n-0S6_WzA2Mj é+/=&?";
    let body = id_tokens(&app, &browser, &client, &oidc_params(&client, nonce)).await;
    let claims = claims_of(body["id_token"].as_str().expect("id_token"));
    assert_eq!(claims["nonce"], nonce, "the nonce comes back byte for byte");
    assert_eq!(claims["aud"], client.id);
    assert_eq!(claims["azp"], client.id);
    assert_eq!(claims["amr"], serde_json::json!(["pwd"]));
    assert_eq!(claims["iss"], app.config.issuer());
    // at_hash: the left half of SHA-256 of the access token (RS256).
    let digest = sha2::Sha256::digest(body["access_token"].as_str().unwrap().as_bytes());
    assert_eq!(claims["at_hash"], B64.encode(&digest[..16]));

    // Without a nonce, the ID token has none.
    let body = id_tokens(
        &app,
        &browser,
        &client,
        &Params::pkce(&client).set("scope", OIDC_SCOPE),
    )
    .await;
    assert!(claims_of(body["id_token"].as_str().unwrap())["nonce"].is_null());

    let requests = app.count("authorization_requests").await;
    let codes = app.count("auth_codes").await;
    let long = "n".repeat(513);
    let response = browser.authorize(&oidc_params(&client, &long)).await;
    assert_error_redirect(
        &app,
        &response,
        CB,
        "invalid_request",
        Some(STATE),
        "513-byte nonce",
    );
    assert_eq!(
        app.count("authorization_requests").await,
        requests,
        "nothing stored"
    );
    assert_eq!(app.count("auth_codes").await, codes, "nothing stored");
}

async fn a_tampered_id_token_or_another_audience_fails_validation(backend: Backend) {
    let app = op(backend).await;
    let client = rp(&app, CB).await;
    let (browser, _) = alice(&app).await;
    let body = id_tokens(&app, &browser, &client, &oidc_params(&client, "n1")).await;
    let raw = body["id_token"].as_str().unwrap().to_owned();
    let http = openidconnect::reqwest::Client::builder()
        .redirect(openidconnect::reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let metadata =
        CoreProviderMetadata::discover_async(IssuerUrl::new(app.base.clone()).unwrap(), &http)
            .await
            .unwrap();
    let for_client = |id: &str| {
        CoreClient::from_provider_metadata(metadata.clone(), ClientId::new(id.to_owned()), None)
    };
    let nonce = Nonce::new("n1".into());
    let genuine: CoreIdToken = raw.parse().unwrap();
    let ours = for_client(&client.id);
    genuine
        .claims(&ours.id_token_verifier(), &nonce)
        .expect("the untouched token validates");

    // Another client (wrong aud) refuses it.
    let other = for_client("someone-else");
    assert!(
        genuine.claims(&other.id_token_verifier(), &nonce).is_err(),
        "an ID token for another audience fails"
    );
    // A wrong nonce fails.
    assert!(
        genuine
            .claims(&ours.id_token_verifier(), &Nonce::new("n2".into()))
            .is_err(),
        "a nonce mismatch fails"
    );
    // A changed payload (another sub) breaks the signature.
    let mut parts: Vec<String> = raw.split('.').map(str::to_owned).collect();
    let mut claims = claims_of(&raw);
    claims["sub"] = "mallory".into();
    parts[1] = B64.encode(serde_json::to_vec(&claims).unwrap());
    let tampered: CoreIdToken = parts.join(".").parse().unwrap();
    assert!(
        tampered.claims(&ours.id_token_verifier(), &nonce).is_err(),
        "a tampered ID token fails"
    );
}

async fn prompt_none_without_a_session_is_login_required(backend: Backend) {
    let app = op(backend).await;
    let client = rp(&app, CB).await;
    let browser = app.new_browser();
    let requests = app.count("authorization_requests").await;
    let response = browser
        .authorize(&oidc_params(&client, "n").add("prompt", "none"))
        .await;
    assert_error_redirect(
        &app,
        &response,
        CB,
        "login_required",
        Some(STATE),
        "prompt=none, signed out",
    );
    let location = Url::parse(&header(&response, "location").unwrap()).unwrap();
    assert_eq!(
        param(&location, "iss").as_deref(),
        Some(app.config.issuer())
    );
    assert_eq!(app.count("authorization_requests").await, requests);
    assert_eq!(app.count("auth_codes").await, 0);

    // Without prompt=none the same request goes to the sign-in page.
    let response = browser.authorize(&oidc_params(&client, "n")).await;
    assert!(is_login_redirect(&app.base, &response));
    // prompt=none beside another value is invalid_request.
    let response = browser
        .authorize(&oidc_params(&client, "n").add("prompt", "none login"))
        .await;
    assert_error_redirect(
        &app,
        &response,
        CB,
        "invalid_request",
        Some(STATE),
        "prompt=none login",
    );
}

async fn prompt_none_without_consent_is_consent_required(backend: Backend) {
    let app = op(backend).await;
    let client = rp(&app, CB).await;
    let (browser, _) = alice(&app).await;
    let params = oidc_params(&client, "n");
    let response = browser
        .authorize(&params.clone().add("prompt", "none"))
        .await;
    assert_error_redirect(
        &app,
        &response,
        CB,
        "consent_required",
        Some(STATE),
        "never approved",
    );
    assert_eq!(
        app.count("authorization_requests").await,
        0,
        "no pending request"
    );
    assert_eq!(app.count("auth_codes").await, 0);

    // Once approved, prompt=none answers with a code straight away.
    browser.code(&params).await;
    let response = browser.authorize(&params.add("prompt", "none")).await;
    assert_eq!(response.status(), StatusCode::FOUND);
    let location = Url::parse(&header(&response, "location").unwrap()).unwrap();
    assert!(
        param(&location, "code").is_some(),
        "a code without a page: {location}"
    );
}

async fn max_age_forces_a_new_sign_in_and_auth_time_follows(backend: Backend) {
    let app = op(backend).await;
    let client = rp(&app, CB).await;
    let (browser, _) = alice(&app).await;
    let signed_in_at = app.clock.now();
    app.clock.advance(120);

    // Fresh enough: a code, and auth_time is the first sign-in.
    let body = id_tokens(
        &app,
        &browser,
        &client,
        &oidc_params(&client, "a").add("max_age", "600"),
    )
    .await;
    assert_eq!(
        claims_of(body["id_token"].as_str().unwrap())["auth_time"],
        signed_in_at
    );

    // Too old: prompt=none hears login_required, otherwise sign in again.
    let params = oidc_params(&client, "b").add("max_age", "60");
    let response = browser
        .authorize(&params.clone().add("prompt", "none"))
        .await;
    assert_error_redirect(
        &app,
        &response,
        CB,
        "login_required",
        Some(STATE),
        "max_age exceeded",
    );
    let response = browser.authorize(&params).await;
    assert!(
        is_login_redirect(&app.base, &response),
        "max_age exceeded: sign in again"
    );
    let login = Url::parse(&app.url(&header(&response, "location").unwrap())).unwrap();
    let next = param(&login, "next").unwrap();
    assert!(!next.contains("max_age"), "the way back asks once: {next}");
    let response = browser.login_with_next("alice", PASSWORD, &next).await;
    assert_eq!(
        header(&response, "location").as_deref(),
        Some(next.as_str())
    );
    let resigned_at = app.clock.now();
    let body = id_tokens(&app, &browser, &client, &params).await;
    let claims = claims_of(body["id_token"].as_str().unwrap());
    assert_eq!(
        claims["auth_time"], resigned_at,
        "auth_time is the new sign-in"
    );
    assert_eq!(claims["nonce"], "b");
    // max_age=0 (a sign-in for this very request) does not loop, even when
    // the way back arrives a second after the sign-in.
    let response = browser
        .authorize(&oidc_params(&client, "z").add("max_age", "0"))
        .await;
    assert!(is_login_redirect(&app.base, &response), "max_age=0");
    let login = Url::parse(&app.url(&header(&response, "location").unwrap())).unwrap();
    let next = param(&login, "next").unwrap();
    app.clock.advance(1);
    browser.login_with_next("alice", PASSWORD, &next).await;
    app.clock.advance(1);
    let back = browser.get(&next).await;
    assert_eq!(
        back.status(),
        StatusCode::FOUND,
        "a code, not the sign-in page again"
    );
    let location = Url::parse(&header(&back, "location").unwrap()).unwrap();
    assert!(param(&location, "code").is_some(), "{location}");
    // max_age must be a number.
    let response = browser
        .authorize(&oidc_params(&client, "c").add("max_age", "soon"))
        .await;
    assert_error_redirect(
        &app,
        &response,
        CB,
        "invalid_request",
        Some(STATE),
        "max_age=soon",
    );
}

async fn prompt_login_forces_a_new_sign_in_and_login_hint_prefills(backend: Backend) {
    let app = op(backend).await;
    let client = rp(&app, CB).await;
    let (browser, _) = alice(&app).await;
    let params = oidc_params(&client, "n")
        .add("prompt", "login")
        .add("login_hint", "alice");
    let response = browser.authorize(&params).await;
    assert!(
        is_login_redirect(&app.base, &response),
        "signed in, yet asked again"
    );
    let login = Url::parse(&app.url(&header(&response, "location").unwrap())).unwrap();
    assert_eq!(param(&login, "login_hint").as_deref(), Some("alice"));
    let next = param(&login, "next").unwrap();
    assert!(
        !next.contains("prompt=login"),
        "the way back asks once: {next}"
    );
    let html = browser
        .get(&format!("{}?{}", login.path(), login.query().unwrap()))
        .await
        .text()
        .await
        .unwrap();
    assert!(
        html.contains("value=\"alice\""),
        "the user name is pre-filled"
    );

    app.clock.advance(5);
    browser.login_with_next("alice", PASSWORD, &next).await;
    let resigned_at = app.clock.now();
    let code = browser
        .code(&Params(
            Url::parse(&app.url(&next))
                .unwrap()
                .query_pairs()
                .into_owned()
                .collect(),
        ))
        .await;
    let body = tokens(
        redeem(&app, &client, &code, Some(CB), Some(VERIFIER)).await,
        "exchange after prompt=login",
    )
    .await
    .body;
    assert_eq!(
        claims_of(body["id_token"].as_str().unwrap())["auth_time"],
        resigned_at
    );

    // Signed out, prompt=login asks once: the sign-in it leads to counts.
    let bob_browser = app.new_browser();
    create_user(&app, "bob").await;
    let response = bob_browser.authorize(&params).await;
    assert!(is_login_redirect(&app.base, &response));
    let login = Url::parse(&app.url(&header(&response, "location").unwrap())).unwrap();
    let next = param(&login, "next").unwrap();
    assert!(!next.contains("prompt=login"), "{next}");
    bob_browser.login_with_next("bob", PASSWORD, &next).await;
    let back = bob_browser.get(&next).await;
    assert_eq!(
        back.status(),
        StatusCode::OK,
        "the consent page, not the sign-in page again"
    );
}

/// A token for `scope` through the code flow.
async fn access_token(app: &TestApp, browser: &Browser, client: &Client, scope: &str) -> Value {
    id_tokens(
        app,
        browser,
        client,
        &Params::pkce(client).set("scope", scope),
    )
    .await
}

async fn userinfo(app: &TestApp, token: Option<&str>) -> reqwest::Response {
    let mut request = app.http.get(app.url("/oauth/userinfo"));
    if let Some(t) = token {
        request = request.bearer_auth(t);
    }
    request.send().await.unwrap()
}

async fn userinfo_refuses_no_token_revoked_tokens_and_tokens_without_openid(backend: Backend) {
    let app = op(backend).await;
    let client = rp(&app, CB).await;
    let (browser, _) = alice(&app).await;

    let response = userinfo(&app, None).await;
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    let challenge = header(&response, "www-authenticate").unwrap();
    assert!(
        challenge.starts_with("Bearer") && !challenge.contains("error="),
        "{challenge}"
    );

    let response = userinfo(&app, Some("oat_not-a-real-token")).await;
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    assert!(
        header(&response, "www-authenticate")
            .unwrap()
            .contains("error=\"invalid_token\"")
    );

    let plain = access_token(&app, &browser, &client, "account:read").await;
    assert!(plain["id_token"].is_null(), "no ID token without openid");
    let response = userinfo(&app, plain["access_token"].as_str()).await;
    assert_eq!(response.status(), StatusCode::FORBIDDEN);
    let challenge = header(&response, "www-authenticate").unwrap();
    assert!(
        challenge.contains("error=\"insufficient_scope\""),
        "{challenge}"
    );
    assert!(challenge.contains("scope=\"openid\""), "{challenge}");

    let body = access_token(&app, &browser, &client, "openid").await;
    let token = body["access_token"].as_str().unwrap();
    assert_eq!(userinfo(&app, Some(token)).await.status(), StatusCode::OK);
    // POST with the token in the form (RFC 6750 §2.2) works too.
    let response = app
        .http
        .post(app.url("/oauth/userinfo"))
        .form(&[("access_token", token)])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    // The refresh token is no bearer token.
    let response = userinfo(&app, body["refresh_token"].as_str()).await;
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);

    let revoked = app
        .http
        .post(app.url("/oauth/revoke"))
        .basic_auth(&client.id, Some(client.secret()))
        .form(&[("token", token)])
        .send()
        .await
        .unwrap();
    assert_eq!(revoked.status(), StatusCode::OK);
    let response = userinfo(&app, Some(token)).await;
    assert_eq!(
        response.status(),
        StatusCode::UNAUTHORIZED,
        "revoked at once"
    );
    assert!(
        header(&response, "www-authenticate")
            .unwrap()
            .contains("error=\"invalid_token\"")
    );
}

async fn userinfo_claims_follow_the_scopes(backend: Backend) {
    let app = op(backend).await;
    let client = rp(&app, CB).await;
    let (browser, user) = alice(&app).await;
    let cases: [(&str, &[&str]); 3] = [
        ("openid", &["sub"]),
        (
            "openid profile",
            &["name", "preferred_username", "sub", "updated_at"],
        ),
        ("openid email", &["email", "email_verified", "sub"]),
    ];
    for (scope, keys) in cases {
        let body = access_token(&app, &browser, &client, scope).await;
        let response = userinfo(&app, body["access_token"].as_str()).await;
        assert_eq!(response.status(), StatusCode::OK, "{scope}");
        assert_eq!(
            header(&response, "cache-control").as_deref(),
            Some("no-store")
        );
        let info: Value = response.json().await.unwrap();
        let mut got: Vec<&str> = info
            .as_object()
            .unwrap()
            .keys()
            .map(String::as_str)
            .collect();
        got.sort_unstable();
        assert_eq!(got, keys, "claims for {scope}");
        assert_eq!(info["sub"], user.id);
        let id = claims_of(body["id_token"].as_str().unwrap());
        assert_eq!(id["sub"], info["sub"], "the same sub in both");
    }
}

async fn without_a_key_encryption_key_openid_is_invalid_scope(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let client = rp(&app, CB).await;
    let (browser, _) = alice(&app).await;
    let response = browser.authorize(&oidc_params(&client, "n")).await;
    assert_error_redirect(
        &app,
        &response,
        CB,
        "invalid_scope",
        Some(STATE),
        "openid without a KEK",
    );
    assert_eq!(app.count("authorization_requests").await, 0);
    let response = app
        .http
        .get(app.url("/.well-known/openid-configuration"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::NOT_FOUND);
    // Other scopes work as before.
    let body = access_token(&app, &browser, &client, "account:read").await;
    assert!(body["id_token"].is_null());
}

// ---------------------------------------------------------------------------
// Pairwise subjects

const SALT: [u8; 32] = [4u8; 32];

async fn pairwise_op(backend: Backend) -> TestApp {
    op_with(backend, |c| c.oidc.pairwise_salt = Some(SALT)).await
}

/// A pairwise client registered over HTTP (RFC 7591 JSON).
async fn pairwise_rp(app: &TestApp, redirect_uri: &str) -> Client {
    let body = serde_json::json!({
        "client_name": "Pairwise RP",
        "redirect_uris": [redirect_uri],
        "scope": OIDC_SCOPE,
        "subject_type": "pairwise",
    });
    let response = app
        .http
        .post(app.url("/api/client"))
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::CREATED);
    let answer: Value = response.json().await.unwrap();
    assert_eq!(
        answer["subject_type"], "pairwise",
        "the answer says pairwise"
    );
    Client {
        id: answer["client_id"].as_str().unwrap().to_owned(),
        secret: answer["client_secret"].as_str().map(str::to_owned),
        name: "Pairwise RP".into(),
        redirect_uris: vec![redirect_uri.to_owned()],
    }
}

/// The `sub` of the ID token and of UserInfo for one code flow (asserted equal).
async fn sub_for(app: &TestApp, browser: &Browser, client: &Client) -> String {
    let body = id_tokens(app, browser, client, &oidc_params(client, "p")).await;
    let sub = claims_of(body["id_token"].as_str().unwrap())["sub"]
        .as_str()
        .unwrap()
        .to_owned();
    let info: Value = userinfo(app, body["access_token"].as_str())
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(info["sub"], sub, "UserInfo and the ID token agree");
    sub
}

async fn pairwise_subjects_differ_between_hosts_and_are_stable(backend: Backend) {
    let app = pairwise_op(backend).await;
    let (browser, user) = alice(&app).await;
    let one = pairwise_rp(&app, "https://one.example/cb").await;
    let one_again = pairwise_rp(&app, "https://one.example/other").await;
    let two = pairwise_rp(&app, "https://two.example/cb").await;
    let public = rp(&app, CB).await;

    let sub_one = sub_for(&app, &browser, &one).await;
    assert_eq!(
        sub_for(&app, &browser, &one).await,
        sub_one,
        "stable for one client"
    );
    assert_eq!(
        sub_for(&app, &browser, &one_again).await,
        sub_one,
        "the same for another client of the same sector"
    );
    let sub_two = sub_for(&app, &browser, &two).await;
    assert_ne!(sub_one, sub_two, "different hosts see different subjects");
    assert_ne!(sub_one, user.id, "a pairwise sub is not the user id");
    assert_eq!(
        sub_for(&app, &browser, &public).await,
        user.id,
        "public: the user id"
    );

    let oidc: Value = app
        .http
        .get(app.url("/.well-known/openid-configuration"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        oidc["subject_types_supported"],
        serde_json::json!(["public", "pairwise"])
    );

    // Export and import into another server with the same salt: the client
    // keeps its subjects.
    let doc = oauthd::cli::export_import::export(&app.db, &app.clock)
        .await
        .unwrap();
    let copy = pairwise_op(backend).await;
    oauthd::cli::export_import::import(&copy.db, &doc)
        .await
        .unwrap();
    let browser = copy.browser();
    browser.login("alice", PASSWORD).await;
    assert_eq!(
        sub_for(&copy, &browser, &one).await,
        sub_one,
        "the same sub after import"
    );
}

async fn pairwise_registration_refusals_store_nothing(backend: Backend) {
    let app = pairwise_op(backend).await;
    let without_salt = op(backend).await;
    let cases = [
        (
            &app,
            serde_json::json!({"redirect_uris": ["https://a.example/cb", "https://b.example/cb"], "subject_type": "pairwise"}),
            "redirect URIs on two hosts",
        ),
        (
            &app,
            serde_json::json!({"redirect_uris": ["https://a.example/cb"], "subject_type": "secret"}),
            "an unknown subject_type",
        ),
        (
            &app,
            serde_json::json!({"grant_types": ["client_credentials"], "subject_type": "pairwise"}),
            "no redirect URI",
        ),
        (
            &without_salt,
            serde_json::json!({"redirect_uris": ["https://a.example/cb"], "subject_type": "pairwise"}),
            "no oidc.pairwise_salt",
        ),
    ];
    for (server, body, why) in cases {
        let before = server.count("clients").await;
        let response = server
            .http
            .post(server.url("/api/client"))
            .json(&body)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::BAD_REQUEST, "{why}");
        let error: Value = response.json().await.unwrap();
        assert_eq!(error["error"], "invalid_client_metadata", "{why}");
        assert_eq!(
            server.count("clients").await,
            before,
            "{why}: nothing stored"
        );
    }
    // The CLI's --subject-type goes through the same rules.
    let refused = oauthd::cli::admin::add_client(
        &app.db,
        &app.clock,
        &app.config,
        NewClientArgs {
            name: "Two hosts".into(),
            redirect_uris: vec!["https://a.example/cb".into(), "https://b.example/cb".into()],
            subject_type: Some("pairwise".into()),
            ..NewClientArgs::default()
        },
    )
    .await;
    assert!(refused.is_err(), "the CLI refuses two hosts too");
    let added = oauthd::cli::admin::add_client(
        &app.db,
        &app.clock,
        &app.config,
        NewClientArgs {
            name: "One host".into(),
            redirect_uris: vec!["https://a.example/cb".into()],
            subject_type: Some("pairwise".into()),
            ..NewClientArgs::default()
        },
    )
    .await
    .unwrap();
    assert_eq!(added.client.subject_type, "pairwise");
}

async fn a_replica_without_keys_refuses_the_code_without_burning_it_and_refreshes_without_id_token(
    backend: Backend,
) {
    let a = op(backend).await;
    let client = rp(&a, CB).await;
    let (browser, _) = alice(&a).await;
    // A replica on the same database whose operator took the KEK away.
    let config_b = crate::support::test_config(&a.database_url);
    let db_b = oauthd::store::Db::connect(&config_b.database)
        .await
        .unwrap();
    let b = TestApp::serve(
        config_b,
        db_b,
        crate::support::TestDb::shared(&a.database_url),
    )
    .await;

    let code = browser.code(&oidc_params(&client, "n")).await;
    let tokens_before = a.count("tokens").await;
    let response = redeem(&b, &client, &code, Some(CB), Some(VERIFIER)).await;
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    let error: Value = response.json().await.unwrap();
    assert_eq!(error["error"], "invalid_scope", "{error}");
    assert_eq!(a.count("tokens").await, tokens_before, "nothing stored");
    // Signing comes before anything is stored: the code still works where
    // it can be served.
    let body = tokens(
        redeem(&a, &client, &code, Some(CB), Some(VERIFIER)).await,
        "the same code at a replica that signs",
    )
    .await
    .body;
    assert!(body["id_token"].is_string());

    // OIDC Core §12.2: a refresh may come without an ID token, and does when
    // nothing can sign; it still works.
    let refreshed = tokens(
        crate::support::flow::token(
            &b,
            &client.auth(),
            &[
                ("grant_type", "refresh_token"),
                ("refresh_token", body["refresh_token"].as_str().unwrap()),
            ],
        )
        .await,
        "refresh at the replica without keys",
    )
    .await
    .body;
    assert!(refreshed["id_token"].is_null(), "{refreshed}");
    assert!(refreshed["scope"].as_str().unwrap().contains("openid"));
}

async fn a_pairwise_client_keeps_its_redirect_uris_on_its_host(backend: Backend) {
    let app = pairwise_op(backend).await;
    let client = pairwise_rp(&app, "https://one.example/cb").await;
    let stored = oauthd::store::clients::find(&app.db, &client.id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(stored.pairwise_sector.as_deref(), Some("one.example"));
    let policy = oauthd::oauth::registration::Policy::from_config(&app.config);
    let moved = oauthd::oauth::registration::update(
        &app.db,
        &app.clock,
        policy,
        &stored,
        oauthd::oauth::registration::AppChange {
            name: "Pairwise RP",
            website: None,
            redirect_uris: vec!["https://two.example/cb".into()],
            post_logout_redirect_uris: Vec::new(),
        },
    )
    .await;
    assert!(moved.is_err(), "another host would change every sub");
    let after = oauthd::store::clients::find(&app.db, &client.id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(after.redirect_uris, stored.redirect_uris, "nothing changed");
    oauthd::oauth::registration::update(
        &app.db,
        &app.clock,
        policy,
        &stored,
        oauthd::oauth::registration::AppChange {
            name: "Pairwise RP",
            website: None,
            redirect_uris: vec![
                "https://one.example/cb".into(),
                "https://one.example/cb2".into(),
            ],
            post_logout_redirect_uris: Vec::new(),
        },
    )
    .await
    .expect("the same host is fine");
}

/// ES256 and EdDSA keys: the crate validates the ID token and its `at_hash`
/// (SHA-256 for ES256, SHA-512 for Ed25519), and discovery names the alg.
async fn id_tokens_of_every_key_algorithm_validate(backend: Backend) {
    use oauthd::config::SigningAlgorithm;
    for alg in [SigningAlgorithm::Es256, SigningAlgorithm::EdDsa] {
        let app = op_with(backend, |c| c.signing.algorithm = alg).await;
        let client = rp(&app, CB).await;
        let (browser, _) = alice(&app).await;
        let body = id_tokens(&app, &browser, &client, &oidc_params(&client, "n")).await;
        let http = openidconnect::reqwest::Client::builder()
            .redirect(openidconnect::reqwest::redirect::Policy::none())
            .build()
            .unwrap();
        let metadata =
            CoreProviderMetadata::discover_async(IssuerUrl::new(app.base.clone()).unwrap(), &http)
                .await
                .unwrap();
        let names: Vec<String> = metadata
            .id_token_signing_alg_values_supported()
            .iter()
            .map(|a| {
                serde_json::to_value(a)
                    .unwrap()
                    .as_str()
                    .unwrap()
                    .to_owned()
            })
            .collect();
        assert_eq!(names, [alg.as_str()], "discovery names {}", alg.as_str());
        let client_rp =
            CoreClient::from_provider_metadata(metadata, ClientId::new(client.id.clone()), None);
        let checker = client_rp
            .id_token_verifier()
            .set_allowed_algs(vec![serde_json::from_value(alg.as_str().into()).unwrap()]);
        let id_token: CoreIdToken = body["id_token"].as_str().unwrap().parse().unwrap();
        let claims = id_token
            .claims(&checker, &Nonce::new("n".into()))
            .unwrap_or_else(|e| panic!("{}: {e:?}", alg.as_str()));
        let access = openidconnect::AccessToken::new(body["access_token"].as_str().unwrap().into());
        let expected = AccessTokenHash::from_token(
            &access,
            id_token.signing_alg().unwrap(),
            id_token.signing_key(&checker).unwrap(),
        )
        .unwrap();
        assert_eq!(
            claims.access_token_hash(),
            Some(&expected),
            "{}",
            alg.as_str()
        );
    }
}

async fn id_token_hint_names_the_signed_in_user_or_asks_for_a_sign_in(backend: Backend) {
    let app = op(backend).await;
    let client = rp(&app, CB).await;
    let (alice_browser, _) = alice(&app).await;
    let hint =
        id_tokens(&app, &alice_browser, &client, &oidc_params(&client, "n1")).await["id_token"]
            .as_str()
            .unwrap()
            .to_owned();

    // Alice's own hint, expired by now: prompt=none answers with a code.
    app.clock.advance(2 * 3600);
    alice_browser.login("alice", PASSWORD).await;
    let silent = oidc_params(&client, "n2")
        .add("prompt", "none")
        .add("id_token_hint", &hint);
    let location = alice_browser.code_redirect(&silent).await;
    assert!(param(&location, "code").is_some(), "{location}");

    let other = rp(&app, "https://other.example/cb").await;
    let other_hint =
        id_tokens(&app, &alice_browser, &other, &oidc_params(&other, "n4")).await["id_token"]
            .as_str()
            .unwrap()
            .to_owned();

    // Bob is signed in where the client believes Alice is.
    create_user(&app, "bob").await;
    let bob_browser = app.new_browser();
    bob_browser.login("bob", PASSWORD).await;
    let codes = app.count("auth_codes").await;
    let response = bob_browser.authorize(&silent).await;
    assert_error_redirect(
        &app,
        &response,
        CB,
        "login_required",
        Some(STATE),
        "prompt=none with another user's id_token_hint",
    );
    // Without prompt=none: a sign-in, whose way back drops the hint (so it
    // is asked once).
    let response = bob_browser
        .authorize(&oidc_params(&client, "n3").add("id_token_hint", &hint))
        .await;
    assert!(is_login_redirect(&app.base, &response));
    let login = Url::parse(&app.base)
        .unwrap()
        .join(&header(&response, "location").unwrap())
        .unwrap();
    let next = param(&login, "next").unwrap();
    assert!(!next.contains("id_token_hint"), "{next}");
    assert!(next.contains("nonce=n3"), "{next}");
    assert_eq!(app.count("auth_codes").await, codes);

    // A forged hint, and a hint issued to another client: invalid_request.
    // (A character in the middle of the signature, not its last one, whose
    // low bits may be padding.)
    let at = hint.len() - 10;
    let flipped = if &hint[at..=at] == "A" { "B" } else { "A" };
    let forged = format!("{}{flipped}{}", &hint[..at], &hint[at + 1..]);
    for (bad, what) in [
        (forged.as_str(), "a forged hint"),
        (other_hint.as_str(), "another client's hint"),
        ("not-a-jwt", "garbage"),
    ] {
        let response = alice_browser
            .authorize(&oidc_params(&client, "n5").add("id_token_hint", bad))
            .await;
        assert_error_redirect(&app, &response, CB, "invalid_request", Some(STATE), what);
    }
    assert_eq!(app.count("auth_codes").await, codes);
}

async fn registration_accepts_only_the_id_token_alg_oauthd_signs_with(backend: Backend) {
    let app = op(backend).await;
    let register = |body: Value| {
        let app = &app;
        async move {
            app.http
                .post(app.url("/api/client"))
                .json(&body)
                .send()
                .await
                .unwrap()
        }
    };
    // Named as oauthd signs (RS256 by default), or not named: registered,
    // and the answer says which algorithm its ID tokens carry.
    for body in [
        serde_json::json!({"redirect_uris": [CB], "id_token_signed_response_alg": "RS256"}),
        serde_json::json!({"redirect_uris": [CB]}),
    ] {
        let response = register(body.clone()).await;
        assert_eq!(response.status(), StatusCode::CREATED, "{body}");
        let answer: Value = response.json().await.unwrap();
        assert_eq!(answer["id_token_signed_response_alg"], "RS256", "{body}");
    }
    // Another algorithm (or `none`): refused, nothing stored.
    let clients = app.count("clients").await;
    for alg in ["ES256", "none", "HS256"] {
        let response = register(
            serde_json::json!({"redirect_uris": [CB], "id_token_signed_response_alg": alg}),
        )
        .await;
        assert_eq!(response.status(), StatusCode::BAD_REQUEST, "{alg}");
        let body: Value = response.json().await.unwrap();
        assert_eq!(body["error"], "invalid_client_metadata", "{alg}");
        assert!(
            body["error_description"]
                .as_str()
                .unwrap()
                .contains("RS256"),
            "{body}"
        );
    }
    assert_eq!(app.count("clients").await, clients);
}

async fn a_pairwise_clients_jwt_access_tokens_carry_its_pairwise_sub_and_read_userinfo(
    backend: Backend,
) {
    let app = pairwise_op(backend).await;
    let client = pairwise_rp(&app, "https://rp.example/cb").await;
    oauthd::cli::admin::set_client_token_format(
        &app.db,
        &app.clock,
        &client.id,
        oauthd::model::client::AccessTokenFormat::Jwt,
    )
    .await
    .unwrap();
    let (browser, user) = alice(&app).await;
    // (Not through `id_tokens`: its checks expect an opaque access token.)
    let code = browser.code(&oidc_params(&client, "j")).await;
    let response = redeem(
        &app,
        &client,
        &code,
        Some(client.redirect_uri()),
        Some(VERIFIER),
    )
    .await;
    assert_eq!(response.status(), StatusCode::OK);
    let body: Value = response.json().await.unwrap();
    let id_sub = claims_of(body["id_token"].as_str().unwrap())["sub"].clone();
    let access = claims_of(body["access_token"].as_str().unwrap());
    assert_eq!(access["client_id"], client.id.as_str());
    assert_eq!(
        access["sub"], id_sub,
        "the JWT access token and the ID token name the user alike"
    );
    assert_ne!(
        access["sub"],
        user.id.as_str(),
        "a pairwise sub, not the user id"
    );
    // The JWT access token reads UserInfo like an opaque one.
    let response = userinfo(&app, body["access_token"].as_str()).await;
    assert_eq!(response.status(), StatusCode::OK);
    let info: Value = response.json().await.unwrap();
    assert_eq!(info["sub"], id_sub);
}
