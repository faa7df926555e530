//! `POST /oauth/token` with the authorization_code grant: client
//! authentication, request shape, code binding (client, redirect URI, PKCE,
//! lifetime), single use under replay and concurrency, response formats, and
//! the happy paths driven by the `oauth2` crate.

use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use oauth2::basic::{BasicClient, BasicTokenResponse, BasicTokenType};
use oauth2::{
    AuthType, AuthUrl, AuthorizationCode, ClientId, ClientSecret, CsrfToken, PkceCodeChallenge,
    RedirectUrl, Scope, TokenResponse, TokenUrl,
};
use oauthd::config::ResponseFormat;
use oauthd::crypto::sha256_hex;
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::both_backends;
use crate::support::flow::{
    Auth, Browser, CB, CB2, CHALLENGE, PASSWORD, Params, VERIFIER, account, assert_no_store, basic,
    code_row, count_tokens, header, nullable, oauth_error, param, raw_hits, read_consent, redeem,
    redeem_as, register_confidential, register_json, register_public, revoked_at, rfc_description,
    scalar, scope_set, signed_in, text_of, token, token_at, token_digest, tokens,
};
use crate::support::{Backend, TestApp};

/// Form fields in order; repeats allowed.
type Form<'a> = Vec<(&'a str, &'a str)>;

both_backends!(
    a_code_exchange_answers_bearer_and_refresh_tokens,
    codes_and_tokens_are_stored_only_as_digests,
    no_refresh_token_without_the_refresh_grant,
    clients_authenticate_by_basic_by_body_or_by_id_alone_when_public,
    client_authentication_failures_are_401_invalid_client,
    unknown_clients_and_wrong_secrets_get_byte_identical_answers,
    one_authentication_method_per_request_and_no_secret_in_the_query,
    the_token_endpoint_takes_only_a_form_post,
    grant_types_are_checked,
    repeated_parameters_are_refused,
    missing_unknown_and_foreign_codes_are_refused,
    an_expired_code_is_refused,
    the_code_is_bound_to_the_redirect_uri_as_sent,
    pkce_verifiers_are_checked,
    a_verifier_for_a_code_without_challenge_is_a_downgrade,
    plain_pkce_works_end_to_end_when_configured,
    token_rejects_a_reused_code_and_revokes_its_tokens,
    an_invalid_replay_leaves_the_tokens_alone,
    exactly_one_of_eight_concurrent_exchanges_of_a_code_succeeds_in_every_round,
    answers_are_form_encoded_when_the_client_asks,
    configured_form_answers_give_way_to_an_accept_naming_json,
    gitbook_style_clients_exchange_at_access_token_without_redirect_uri,
    the_token_endpoint_aliases_work,
    oauth2_crate_confidential_client_with_basic_auth,
    oauth2_crate_client_with_client_secret_post,
    oauth2_crate_public_client_with_pkce,
);

/// The standard exchange form for a code sent with [`CB`].
fn exchange_form(code: &str) -> Vec<(&str, &str)> {
    vec![
        ("grant_type", "authorization_code"),
        ("code", code),
        ("redirect_uri", CB),
    ]
}

async fn a_code_exchange_answers_bearer_and_refresh_tokens(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let client = register_confidential(&app, &[CB]).await;
    let (browser, alice) = signed_in(&app).await;
    let code = browser.code(&Params::code(&client)).await;
    let t = tokens(
        redeem(&app, &client, &code, Some(CB), None).await,
        "exchange with Basic",
    )
    .await;
    assert!(
        t.body["token_type"]
            .as_str()
            .is_some_and(|s| s.eq_ignore_ascii_case("bearer")),
        "token_type Bearer: {}",
        t.body
    );
    assert_eq!(t.body["expires_in"], 3600, "tokens.access_token_lifetime");
    let refresh = t.refresh.clone().expect("a refresh token (default grants)");
    assert_eq!(
        scope_set(&t.scope),
        scope_set("account:read event:write"),
        "the granted scope"
    );

    let now = app.clock.now();
    for (raw, kind) in [(&t.access, "access"), (&refresh, "refresh")] {
        assert_eq!(
            scalar(
                &app,
                &format!(
                    "select count(*) from tokens where token_hash = {} and kind = $2 \
                     and client_id = $3 and user_id = $4 and revoked_at is null",
                    token_digest(&app, "$1")
                ),
                &[&sha256_hex(raw), kind, &client.id, &alice.id],
            )
            .await,
            1,
            "the {kind} token is stored for the client and user"
        );
        assert_eq!(
            text_of(
                &app,
                &format!(
                    "select grant_id from tokens where token_hash = {}",
                    token_digest(&app, "$1")
                ),
                &[&sha256_hex(raw)]
            )
            .await,
            text_of(
                &app,
                "select grant_id from auth_codes where code_hash = $1",
                &[&sha256_hex(&code)]
            )
            .await,
            "the {kind} token belongs to the code's grant"
        );
    }
    assert_eq!(
        nullable(
            &app,
            &format!(
                "select expires_at from tokens where token_hash = {}",
                token_digest(&app, "$1")
            ),
            &[&sha256_hex(&t.access)]
        )
        .await,
        Some(now + 3600)
    );
    assert_eq!(
        code_row(&app, &code).await.consumed_at,
        Some(now),
        "the code is used up"
    );
    assert_eq!(account(&app, &t.access).await.status(), StatusCode::OK);
}

async fn codes_and_tokens_are_stored_only_as_digests(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let client = register_confidential(&app, &[CB]).await;
    let (browser, _) = signed_in(&app).await;
    let code = browser.code(&Params::code(&client)).await;
    let t = tokens(
        redeem(&app, &client, &code, Some(CB), None).await,
        "exchange",
    )
    .await;
    let refresh = t.refresh.clone().unwrap();
    for (raw, what) in [
        (&code, "code"),
        (&t.access, "access token"),
        (&refresh, "refresh token"),
    ] {
        assert_eq!(
            raw_hits(&app, raw).await,
            0,
            "the raw {what} is stored nowhere"
        );
        let digest = sha256_hex(raw);
        assert_eq!(digest, digest.to_ascii_lowercase());
        // Codes keep the hex text; tokens keep the digest's 32 bytes.
        let stored = scalar(
            &app,
            &format!(
                "select (select count(*) from tokens where token_hash = {} \
                         and length(token_hash) = 32) \
                 + (select count(*) from auth_codes where code_hash = $1)",
                token_digest(&app, "$1")
            ),
            &[&digest],
        )
        .await;
        assert_eq!(stored, 1, "the {what} is stored as its SHA-256");
    }
}

async fn no_refresh_token_without_the_refresh_grant(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let client = register_json(
        &app,
        &json!({
            "client_name": "No refresh",
            "redirect_uris": [CB],
            "grant_types": ["authorization_code"],
            "response_types": ["code"]
        }),
    )
    .await;
    let (browser, _) = signed_in(&app).await;
    let code = browser.code(&Params::code(&client)).await;
    let t = tokens(
        redeem(&app, &client, &code, Some(CB), None).await,
        "exchange",
    )
    .await;
    assert_eq!(t.refresh, None, "no refresh_token: {}", t.body);
    assert_eq!(count_tokens(&app, "refresh").await, 0);
}

/// Every byte as `%XX`: still the same value once form-urldecoded.
fn percent_all(s: &str) -> String {
    s.bytes().map(|b| format!("%{b:02X}")).collect()
}

async fn clients_authenticate_by_basic_by_body_or_by_id_alone_when_public(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let client = register_confidential(&app, &[CB]).await;
    let public = register_public(&app, &[CB]).await;
    let (browser, _) = signed_in(&app).await;
    let secret = client.secret().to_owned();
    for (auth, why) in [
        (Auth::Basic(client.id.clone(), secret.clone()), "HTTP Basic"),
        (
            Auth::Body(client.id.clone(), secret.clone()),
            "client_secret in the body",
        ),
        (
            Auth::Header(format!(
                "Basic {}",
                STANDARD.encode(format!(
                    "{}:{}",
                    percent_all(&client.id),
                    percent_all(&secret)
                ))
            )),
            "Basic with id and secret form-urlencoded (RFC 6749 §2.3.1)",
        ),
        (
            Auth::Header(format!(
                "basic {}",
                STANDARD.encode(format!("{}:{}", client.id, secret))
            )),
            "lower-case scheme name",
        ),
    ] {
        let code = browser.code(&Params::code(&client)).await;
        tokens(redeem_as(&app, &auth, &code, Some(CB), None).await, why).await;
    }
    let code = browser.code(&Params::pkce(&public)).await;
    tokens(
        redeem(&app, &public, &code, Some(CB), Some(VERIFIER)).await,
        "public client: client_id alone, with PKCE",
    )
    .await;
}

async fn client_authentication_failures_are_401_invalid_client(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let client = register_confidential(&app, &[CB]).await;
    let (browser, _) = signed_in(&app).await;
    let code = browser.code(&Params::code(&client)).await;
    let secret = client.secret().to_owned();
    let wrong = format!("ocs_{}", "W".repeat(43));
    let cases = [
        (
            Auth::Basic("no-such-client".into(), secret.clone()),
            "unknown client, Basic",
        ),
        (
            Auth::Basic(client.id.clone(), wrong.clone()),
            "wrong secret, Basic",
        ),
        (
            Auth::Body(client.id.clone(), wrong.clone()),
            "wrong secret, body",
        ),
        (
            Auth::Body("no-such-client".into(), secret.clone()),
            "unknown client, body",
        ),
        (
            Auth::Id(client.id.clone()),
            "confidential client with no secret",
        ),
        (
            Auth::Basic(client.id.clone(), String::new()),
            "empty secret, Basic",
        ),
        (Auth::Header("Basic !!!".into()), "Basic with bad base64"),
        (
            Auth::Header(format!("Basic {}", STANDARD.encode(&client.id))),
            "Basic without a colon",
        ),
        (Auth::Header("Basic ".into()), "Basic with nothing"),
        (
            Auth::Header(format!(
                "Basic {}",
                STANDARD.encode([0xff, 0xfe, b':', 0xff])
            )),
            "Basic that is not UTF-8",
        ),
    ];
    for (auth, why) in cases {
        let response = redeem_as(&app, &auth, &code, Some(CB), None).await;
        if auth.is_basic() {
            let challenge = header(&response, "www-authenticate").unwrap_or_default();
            assert!(
                challenge.starts_with("Basic realm=\"oauthd\""),
                "{why}: WWW-Authenticate: Basic realm=\"oauthd\", got {challenge:?}"
            );
        }
        oauth_error(
            response,
            StatusCode::UNAUTHORIZED,
            "invalid_client",
            why,
            &[&code, &secret, &wrong],
        )
        .await;
    }
    assert_eq!(
        app.count("tokens").await,
        0,
        "no token for a failed authentication"
    );
    assert_eq!(
        code_row(&app, &code).await.consumed_at,
        None,
        "the code is not spent"
    );
    tokens(
        redeem(&app, &client, &code, Some(CB), None).await,
        "the client itself still redeems its code",
    )
    .await;
}

async fn unknown_clients_and_wrong_secrets_get_byte_identical_answers(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let client = register_confidential(&app, &[CB]).await;
    let (browser, _) = signed_in(&app).await;
    let code = browser.code(&Params::code(&client)).await;
    let wrong = format!("ocs_{}", "W".repeat(43));
    let pairs = [
        (
            Auth::Basic("no-such-client".into(), wrong.clone()),
            Auth::Basic(client.id.clone(), wrong.clone()),
            "Basic",
        ),
        (
            Auth::Body("no-such-client".into(), wrong.clone()),
            Auth::Body(client.id.clone(), wrong.clone()),
            "body",
        ),
    ];
    for (unknown, wrong_secret, how) in pairs {
        let mut answers = Vec::new();
        for auth in [unknown, wrong_secret] {
            let response = redeem_as(&app, &auth, &code, Some(CB), None).await;
            let status = response.status();
            let challenge = header(&response, "www-authenticate");
            let body = response.bytes().await.unwrap();
            answers.push((status, challenge, body));
        }
        assert_eq!(answers[0].0, StatusCode::UNAUTHORIZED, "{how}");
        assert_eq!(
            answers[0], answers[1],
            "{how}: unknown client and wrong secret are indistinguishable"
        );
    }
}

async fn one_authentication_method_per_request_and_no_secret_in_the_query(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let client = register_confidential(&app, &[CB]).await;
    let (browser, _) = signed_in(&app).await;
    let code = browser.code(&Params::code(&client)).await;
    let secret = client.secret().to_owned();

    let mut form = exchange_form(&code);
    form.push(("client_secret", &secret));
    oauth_error(
        token(&app, &client.auth(), &form).await,
        StatusCode::BAD_REQUEST,
        "invalid_request",
        "Basic and client_secret in the body",
        &[&code, &secret],
    )
    .await;

    let mut form = exchange_form(&code);
    form.push(("client_id", &client.id));
    let response = app
        .http
        .post(app.url(&format!("/oauth/token?client_secret={secret}")))
        .form(&form)
        .send()
        .await
        .unwrap();
    oauth_error(
        response,
        StatusCode::BAD_REQUEST,
        "invalid_request",
        "client_secret in the URL query",
        &[&code, &secret],
    )
    .await;

    assert_eq!(app.count("tokens").await, 0);
    tokens(
        redeem(&app, &client, &code, Some(CB), None).await,
        "a proper request afterwards",
    )
    .await;
}

async fn the_token_endpoint_takes_only_a_form_post(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let client = register_confidential(&app, &[CB]).await;
    let (browser, _) = signed_in(&app).await;
    let code = browser.code(&Params::code(&client)).await;
    let authorization = basic(&client.id, client.secret());
    let form_body = url::form_urlencoded::Serializer::new(String::new())
        .extend_pairs(exchange_form(&code))
        .finish();

    let response = app
        .http
        .get(app.url(&format!("/oauth/token?{form_body}")))
        .header("authorization", &authorization)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::METHOD_NOT_ALLOWED, "GET");

    let response = app
        .http
        .post(app.url("/oauth/token"))
        .header("authorization", &authorization)
        .json(&json!({"grant_type": "authorization_code", "code": code, "redirect_uri": CB}))
        .send()
        .await
        .unwrap();
    oauth_error(
        response,
        StatusCode::BAD_REQUEST,
        "invalid_request",
        "a JSON body",
        &[&code],
    )
    .await;

    let response = app
        .http
        .post(app.url("/oauth/token"))
        .header("authorization", &authorization)
        .body(form_body.clone())
        .send()
        .await
        .unwrap();
    oauth_error(
        response,
        StatusCode::BAD_REQUEST,
        "invalid_request",
        "no Content-Type",
        &[&code],
    )
    .await;
    assert_eq!(app.count("tokens").await, 0);

    let response = app
        .http
        .post(app.url("/oauth/token"))
        .header("authorization", &authorization)
        .header(
            "content-type",
            "application/x-www-form-urlencoded; charset=UTF-8",
        )
        .body(form_body)
        .send()
        .await
        .unwrap();
    tokens(response, "a form with charset=UTF-8").await;
}

async fn grant_types_are_checked(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let client = register_confidential(&app, &[CB]).await;
    let machine = register_json(
        &app,
        &json!({"client_name": "Batch job", "grant_types": ["client_credentials"]}),
    )
    .await;
    let (browser, _) = signed_in(&app).await;
    let code = browser.code(&Params::code(&client)).await;
    let before = app.snapshot().await;
    let cases: Vec<(Auth, Form<'_>, &str, &str)> = vec![
        (
            client.auth(),
            vec![("code", &code), ("redirect_uri", CB)],
            "invalid_request",
            "grant_type missing",
        ),
        (
            client.auth(),
            vec![
                ("grant_type", "password"),
                ("username", "alice"),
                ("password", PASSWORD),
            ],
            "unsupported_grant_type",
            "the password grant",
        ),
        (
            client.auth(),
            vec![
                ("grant_type", "urn:ietf:params:oauth:grant-type:jwt-bearer"),
                ("assertion", "x"),
            ],
            "unsupported_grant_type",
            "an unknown grant",
        ),
        (
            client.auth(),
            vec![
                ("grant_type", "urn:ietf:params:oauth:grant-type:device_code"),
                ("device_code", "x"),
            ],
            "unauthorized_client",
            "a client not registered for the device code grant",
        ),
        (
            client.auth(),
            vec![("grant_type", "implicit")],
            "unsupported_grant_type",
            "implicit is no grant",
        ),
        (
            machine.auth(),
            exchange_form(&code),
            "unauthorized_client",
            "a client not registered for authorization_code",
        ),
    ];
    for (auth, form, error, why) in cases {
        oauth_error(
            token(&app, &auth, &form).await,
            StatusCode::BAD_REQUEST,
            error,
            why,
            &[&code],
        )
        .await;
    }
    assert_eq!(app.snapshot().await, before, "nothing stored");
}

async fn repeated_parameters_are_refused(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let client = register_confidential(&app, &[CB, CB2]).await;
    let (browser, _) = signed_in(&app).await;
    let code = browser.code(&Params::pkce(&client)).await;
    let secret = client.secret().to_owned();
    let id = client.id.clone();
    let gt = ("grant_type", "authorization_code");
    let c = ("code", code.as_str());
    let ru = ("redirect_uri", CB);
    let cv = ("code_verifier", VERIFIER);
    let basic_auth = client.auth();
    let cases: Vec<(Auth, Form<'_>, &str)> = vec![
        (
            basic_auth.clone(),
            vec![gt, c, ("code", "garbage"), ru, cv],
            "code twice, real first",
        ),
        (
            basic_auth.clone(),
            vec![gt, ("code", "garbage"), c, ru, cv],
            "code twice, real last",
        ),
        (
            basic_auth.clone(),
            vec![gt, c, c, ru, cv],
            "code twice, same value",
        ),
        (
            basic_auth.clone(),
            vec![gt, gt, c, ru, cv],
            "grant_type twice, same value",
        ),
        (
            basic_auth.clone(),
            vec![gt, ("grant_type", "password"), c, ru, cv],
            "grant_type twice, authorization_code first",
        ),
        (
            basic_auth.clone(),
            vec![("grant_type", "password"), gt, c, ru, cv],
            "grant_type twice, authorization_code last",
        ),
        (
            basic_auth.clone(),
            vec![gt, c, ru, ru, cv],
            "redirect_uri twice, same value",
        ),
        (
            basic_auth.clone(),
            vec![gt, c, ru, ("redirect_uri", CB2), cv],
            "redirect_uri twice, right one first",
        ),
        (
            basic_auth.clone(),
            vec![gt, c, ("redirect_uri", CB2), ru, cv],
            "redirect_uri twice, right one last",
        ),
        (
            basic_auth.clone(),
            vec![gt, c, ru, cv, cv],
            "code_verifier twice, same value",
        ),
        (
            basic_auth.clone(),
            vec![gt, c, ru, cv, ("code_verifier", CHALLENGE)],
            "code_verifier twice, right one first",
        ),
        (
            basic_auth.clone(),
            vec![gt, c, ru, ("code_verifier", CHALLENGE), cv],
            "code_verifier twice, right one last",
        ),
        (
            Auth::Nothing,
            vec![
                ("client_id", &id),
                ("client_id", &id),
                ("client_secret", &secret),
                gt,
                c,
                ru,
                cv,
            ],
            "client_id twice, same value",
        ),
        (
            Auth::Nothing,
            vec![
                ("client_id", &id),
                ("client_id", "other"),
                ("client_secret", &secret),
                gt,
                c,
                ru,
                cv,
            ],
            "client_id twice, right one first",
        ),
        (
            Auth::Nothing,
            vec![
                ("client_id", "other"),
                ("client_id", &id),
                ("client_secret", &secret),
                gt,
                c,
                ru,
                cv,
            ],
            "client_id twice, right one last",
        ),
        (
            Auth::Nothing,
            vec![
                ("client_id", &id),
                ("client_secret", &secret),
                ("client_secret", &secret),
                gt,
                c,
                ru,
                cv,
            ],
            "client_secret twice",
        ),
    ];
    for (auth, form, why) in cases {
        oauth_error(
            token(&app, &auth, &form).await,
            StatusCode::BAD_REQUEST,
            "invalid_request",
            why,
            &[&code, &secret, VERIFIER],
        )
        .await;
    }
    assert_eq!(app.count("tokens").await, 0, "no tokens");
    assert_eq!(
        code_row(&app, &code).await.consumed_at,
        None,
        "the code is not spent"
    );
    tokens(
        redeem(&app, &client, &code, Some(CB), Some(VERIFIER)).await,
        "the well-formed request afterwards",
    )
    .await;
}

async fn missing_unknown_and_foreign_codes_are_refused(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let owner = register_confidential(&app, &[CB]).await;
    let other = register_confidential(&app, &[CB]).await;
    let (browser, _) = signed_in(&app).await;
    let code = browser.code(&Params::code(&owner)).await;
    let well_formed = format!("oac_{}", "A".repeat(43));
    let cases: Vec<(Auth, Form<'_>, &str, &str)> = vec![
        (
            owner.auth(),
            vec![("grant_type", "authorization_code"), ("redirect_uri", CB)],
            "invalid_request",
            "code missing",
        ),
        (
            owner.auth(),
            exchange_form("garbage"),
            "invalid_grant",
            "a garbage code",
        ),
        (
            owner.auth(),
            exchange_form(&well_formed),
            "invalid_grant",
            "a well-formed unknown code",
        ),
        (
            other.auth(),
            exchange_form(&code),
            "invalid_grant",
            "another client's code (Basic)",
        ),
        (
            Auth::Body(other.id.clone(), other.secret().to_owned()),
            exchange_form(&code),
            "invalid_grant",
            "another client's code (body)",
        ),
    ];
    let mut bodies = std::collections::HashMap::new();
    for (auth, form, error, why) in cases {
        let body = oauth_error(
            token(&app, &auth, &form).await,
            StatusCode::BAD_REQUEST,
            error,
            why,
            &[&code, &well_formed],
        )
        .await;
        bodies.insert(why, body);
    }
    // Telling them apart would confirm to another client that a code is real.
    assert_eq!(
        bodies["a well-formed unknown code"], bodies["another client's code (Basic)"],
        "another client's code is answered as an unknown one"
    );
    assert_eq!(app.count("tokens").await, 0);
    tokens(
        redeem(&app, &owner, &code, Some(CB), None).await,
        "the owner still redeems its code",
    )
    .await;
}

async fn an_expired_code_is_refused(backend: Backend) {
    let app = TestApp::spawn_with(backend, |c| {
        c.tokens.code_lifetime = Duration::from_secs(60);
    })
    .await;
    let client = register_confidential(&app, &[CB]).await;
    let (browser, _) = signed_in(&app).await;

    let fresh = browser.code(&Params::code(&client)).await;
    let row = code_row(&app, &fresh).await;
    assert_eq!(row.expires_at - row.created_at, 60, "tokens.code_lifetime");
    app.clock.advance(59);
    tokens(
        redeem(&app, &client, &fresh, Some(CB), None).await,
        "within the lifetime",
    )
    .await;

    let stale = browser.code(&Params::code(&client)).await;
    app.clock.advance(61);
    oauth_error(
        redeem(&app, &client, &stale, Some(CB), None).await,
        StatusCode::BAD_REQUEST,
        "invalid_grant",
        "past tokens.code_lifetime",
        &[&stale],
    )
    .await;
    assert_eq!(
        count_tokens(&app, "access").await,
        1,
        "only the fresh code's token"
    );
}

async fn the_code_is_bound_to_the_redirect_uri_as_sent(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let two = register_confidential(&app, &[CB, CB2]).await;
    let one = register_confidential(&app, &[CB]).await;
    let (browser, _) = signed_in(&app).await;
    let refusals = [
        (&two, Some(CB), Some(CB2), "another registered URI"),
        (
            &two,
            Some(CB),
            None,
            "sent in the request, missing at the token endpoint",
        ),
        (
            &two,
            Some(CB),
            Some("https://app.example/cb/"),
            "a trailing slash added",
        ),
        (
            &one,
            Some(CB),
            None,
            "single-URI client: sent, then missing",
        ),
        (&one, None, Some(CB2), "not sent, then an unregistered one"),
    ];
    for (client, sent, presented, why) in refusals {
        let mut params = Params::code(client).without("redirect_uri");
        if let Some(uri) = sent {
            params = params.set("redirect_uri", uri);
        }
        let code = browser.code(&params).await;
        oauth_error(
            redeem(&app, client, &code, presented, None).await,
            StatusCode::BAD_REQUEST,
            "invalid_grant",
            why,
            &[&code],
        )
        .await;
    }
    assert_eq!(app.count("tokens").await, 0);

    let code = browser
        .code(&Params::code(&two).set("redirect_uri", CB2))
        .await;
    assert_eq!(
        code_row(&app, &code).await.redirect_uri.as_deref(),
        Some(CB2)
    );
    tokens(
        redeem(&app, &two, &code, Some(CB2), None).await,
        "the same URI as in the request",
    )
    .await;
    let code = browser
        .code(&Params::code(&one).without("redirect_uri"))
        .await;
    tokens(
        redeem(&app, &one, &code, None, None).await,
        "omitted in the request, omitted at the token endpoint",
    )
    .await;
}

async fn pkce_verifiers_are_checked(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let client = register_confidential(&app, &[CB]).await;
    let public = register_public(&app, &[CB]).await;
    let (browser, _) = signed_in(&app).await;
    let plus = format!("+{}", &VERIFIER[1..]);
    let long = "a".repeat(129);
    let other = "a".repeat(43);
    let refusals: [(Option<&str>, &str); 6] = [
        (None, "no verifier"),
        (Some(&other), "a well-formed wrong verifier"),
        (Some(&VERIFIER[..42]), "42 characters"),
        (Some(&long), "129 characters"),
        (Some(&plus), "a '+' in the verifier"),
        (Some(CHALLENGE), "the challenge itself (a plain downgrade)"),
    ];
    for who in [&client, &public] {
        for (verifier, why) in refusals {
            let code = browser.code(&Params::pkce(who)).await;
            let why = format!(
                "{}: {why}",
                if who.secret.is_some() {
                    "confidential"
                } else {
                    "public"
                }
            );
            oauth_error(
                redeem(&app, who, &code, Some(CB), verifier).await,
                StatusCode::BAD_REQUEST,
                "invalid_grant",
                &why,
                &[&code],
            )
            .await;
        }
    }
    assert_eq!(app.count("tokens").await, 0);
    for who in [&client, &public] {
        let code = browser.code(&Params::pkce(who)).await;
        assert_eq!(
            code_row(&app, &code).await.code_challenge.as_deref(),
            Some(CHALLENGE)
        );
        tokens(
            redeem(&app, who, &code, Some(CB), Some(VERIFIER)).await,
            "the RFC 7636 Appendix B verifier",
        )
        .await;
    }
}

async fn a_verifier_for_a_code_without_challenge_is_a_downgrade(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let client = register_confidential(&app, &[CB]).await;
    let (browser, _) = signed_in(&app).await;
    let code = browser.code(&Params::code(&client)).await;
    oauth_error(
        redeem(&app, &client, &code, Some(CB), Some(VERIFIER)).await,
        StatusCode::BAD_REQUEST,
        "invalid_request",
        "code_verifier for a code issued without code_challenge",
        &[&code],
    )
    .await;
    assert_eq!(app.count("tokens").await, 0, "no tokens");
}

async fn plain_pkce_works_end_to_end_when_configured(backend: Backend) {
    let app = TestApp::spawn_with(backend, |c| c.authorize.allow_plain_pkce = true).await;
    let public = register_public(&app, &[CB]).await;
    let (browser, _) = signed_in(&app).await;
    for (params, why) in [
        (
            Params::code(&public).add("code_challenge", VERIFIER),
            "no method means plain",
        ),
        (
            Params::code(&public)
                .add("code_challenge", VERIFIER)
                .add("code_challenge_method", "plain"),
            "method=plain",
        ),
    ] {
        let code = browser.code(&params).await;
        oauth_error(
            redeem(&app, &public, &code, Some(CB), Some(&"b".repeat(43))).await,
            StatusCode::BAD_REQUEST,
            "invalid_grant",
            &format!("{why}: wrong verifier"),
            &[&code],
        )
        .await;
        let code = browser.code(&params).await;
        tokens(
            redeem(&app, &public, &code, Some(CB), Some(VERIFIER)).await,
            &format!("{why}: the verifier equals the challenge"),
        )
        .await;
    }
}

async fn token_rejects_a_reused_code_and_revokes_its_tokens(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let client = register_confidential(&app, &[CB]).await;
    let (browser, _) = signed_in(&app).await;
    let code = browser.code(&Params::code(&client)).await;
    let first = tokens(
        redeem(&app, &client, &code, Some(CB), None).await,
        "first use",
    )
    .await;
    let refresh = first.refresh.clone().unwrap();
    assert_eq!(account(&app, &first.access).await.status(), StatusCode::OK);

    app.clock.advance(30);
    oauth_error(
        redeem(&app, &client, &code, Some(CB), None).await,
        StatusCode::BAD_REQUEST,
        "invalid_grant",
        "second use with correct client authentication",
        &[&code],
    )
    .await;
    let response = account(&app, &first.access).await;
    assert_eq!(
        response.status(),
        StatusCode::UNAUTHORIZED,
        "the first access token is revoked"
    );
    let challenge = header(&response, "www-authenticate").unwrap_or_default();
    assert!(challenge.contains("error=\"invalid_token\""), "{challenge}");
    assert!(
        revoked_at(&app, &first.access).await.is_some(),
        "access token row revoked"
    );
    assert!(
        revoked_at(&app, &refresh).await.is_some(),
        "refresh token row revoked"
    );
    assert_eq!(
        count_tokens(&app, "access").await,
        1,
        "the replay issued nothing"
    );
}

async fn an_invalid_replay_leaves_the_tokens_alone(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let client = register_confidential(&app, &[CB]).await;
    let other = register_confidential(&app, &[CB]).await;
    let (browser, _) = signed_in(&app).await;
    let code = browser.code(&Params::pkce(&client)).await;
    let first = tokens(
        redeem(&app, &client, &code, Some(CB), Some(VERIFIER)).await,
        "first use",
    )
    .await;
    let refresh = first.refresh.clone().unwrap();
    let wrong = format!("ocs_{}", "W".repeat(43));
    let other_verifier = "c".repeat(43);
    let replays: Vec<(Auth, Option<&str>, StatusCode, &str, &str)> = vec![
        (
            Auth::Basic(client.id.clone(), wrong.clone()),
            Some(VERIFIER),
            StatusCode::UNAUTHORIZED,
            "invalid_client",
            "replay with a wrong secret",
        ),
        (
            Auth::Basic("no-such-client".into(), wrong.clone()),
            Some(VERIFIER),
            StatusCode::UNAUTHORIZED,
            "invalid_client",
            "replay by an unknown client",
        ),
        (
            client.auth(),
            Some(&other_verifier),
            StatusCode::BAD_REQUEST,
            "invalid_grant",
            "replay with a wrong verifier",
        ),
        (
            client.auth(),
            None,
            StatusCode::BAD_REQUEST,
            "invalid_grant",
            "replay without the verifier",
        ),
        (
            other.auth(),
            Some(VERIFIER),
            StatusCode::BAD_REQUEST,
            "invalid_grant",
            "replay by another (authenticated) client",
        ),
    ];
    for (auth, verifier, status, error, why) in replays {
        oauth_error(
            redeem_as(&app, &auth, &code, Some(CB), verifier).await,
            status,
            error,
            why,
            &[&code],
        )
        .await;
        assert_eq!(
            account(&app, &first.access).await.status(),
            StatusCode::OK,
            "{why}: the first tokens stay valid (OAuth 2.1 §7.5.2)"
        );
    }
    assert_eq!(revoked_at(&app, &first.access).await, None);
    assert_eq!(revoked_at(&app, &refresh).await, None);
}

/// Rounds of the code-exchange race, and racers per round.
const EXCHANGE_ROUNDS: usize = 20;
const EXCHANGE_RACERS: usize = 8;

async fn exactly_one_of_eight_concurrent_exchanges_of_a_code_succeeds_in_every_round(
    backend: Backend,
) {
    let app = TestApp::spawn(backend).await;
    let client = register_confidential(&app, &[CB]).await;
    let (browser, _) = signed_in(&app).await;
    let url = app.url("/oauth/token");
    let authorization = basic(&client.id, client.secret());
    for round in 0..EXCHANGE_ROUNDS {
        let code = browser.code(&Params::code(&client)).await;
        let mut tasks = Vec::new();
        for _ in 0..EXCHANGE_RACERS {
            let http = app.http.clone();
            let url = url.clone();
            let authorization = authorization.clone();
            let code = code.clone();
            tasks.push(tokio::spawn(async move {
                let response = http
                    .post(url)
                    .header("authorization", authorization)
                    .form(&[
                        ("grant_type", "authorization_code"),
                        ("code", code.as_str()),
                        ("redirect_uri", CB),
                    ])
                    .send()
                    .await
                    .unwrap();
                let status = response.status();
                let body: Value = response.json().await.unwrap_or(Value::Null);
                (status, body)
            }));
        }
        let results: Vec<(StatusCode, Value)> = futures::future::join_all(tasks)
            .await
            .into_iter()
            .map(|r| r.unwrap())
            .collect();
        for (status, body) in &results {
            assert!(
                !status.is_server_error(),
                "round {round}: never a 5xx: {status} {body}"
            );
        }
        let winners = results.iter().filter(|(s, _)| *s == StatusCode::OK).count();
        assert_eq!(
            winners, 1,
            "round {round}: exactly one exchange succeeds: {results:?}"
        );
        for (status, body) in results.iter().filter(|(s, _)| *s != StatusCode::OK) {
            assert_eq!(*status, StatusCode::BAD_REQUEST, "round {round}: {body}");
            assert_eq!(body["error"], "invalid_grant", "round {round}: {body}");
        }
        let expected = i64::try_from(round + 1).unwrap();
        assert_eq!(
            count_tokens(&app, "access").await,
            expected,
            "round {round}: one token pair stored per code"
        );
        assert_eq!(
            count_tokens(&app, "refresh").await,
            expected,
            "round {round}: one token pair stored per code"
        );
    }
}

/// Reads a form-encoded answer with `status`.
async fn form_answer(
    response: reqwest::Response,
    status: StatusCode,
    why: &str,
) -> Vec<(String, String)> {
    assert_no_store(&response, why);
    let got = response.status();
    let content_type = header(&response, "content-type").unwrap_or_default();
    let text = response.text().await.unwrap();
    assert_eq!(got, status, "{why}: {text}");
    assert!(
        content_type.starts_with("application/x-www-form-urlencoded"),
        "{why}: a form answer, got {content_type:?}: {text}"
    );
    url::form_urlencoded::parse(text.as_bytes())
        .into_owned()
        .collect()
}

fn field<'a>(pairs: &'a [(String, String)], name: &str) -> Option<&'a str> {
    pairs
        .iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
}

fn assert_form_tokens(pairs: &[(String, String)], why: &str) {
    assert!(
        field(pairs, "access_token").is_some_and(|t| t.starts_with("oat_")),
        "{why}: {pairs:?}"
    );
    assert!(
        field(pairs, "token_type").is_some_and(|t| t.eq_ignore_ascii_case("bearer")),
        "{why}: {pairs:?}"
    );
    assert_eq!(field(pairs, "expires_in"), Some("3600"), "{why}");
    assert!(
        field(pairs, "refresh_token").is_some_and(|t| t.starts_with("ort_")),
        "{why}: {pairs:?}"
    );
    assert_eq!(
        scope_set(field(pairs, "scope").unwrap_or_default()),
        scope_set("account:read event:write"),
        "{why}"
    );
}

fn assert_form_error(pairs: &[(String, String)], error: &str, why: &str) {
    assert_eq!(field(pairs, "error"), Some(error), "{why}: {pairs:?}");
    if let Some(d) = field(pairs, "error_description") {
        assert!(rfc_description(d), "{why}: {d:?}");
    }
}

async fn answers_are_form_encoded_when_the_client_asks(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let client = register_confidential(&app, &[CB]).await;
    let (browser, _) = signed_in(&app).await;
    let form_type = Some("application/x-www-form-urlencoded");

    let code = browser.code(&Params::code(&client)).await;
    let response = token_at(
        &app,
        "/oauth/token",
        &client.auth(),
        &exchange_form(&code),
        form_type,
    )
    .await;
    let pairs = form_answer(response, StatusCode::OK, "Accept: form").await;
    assert_form_tokens(&pairs, "Accept: form");

    let response = token_at(
        &app,
        "/oauth/token",
        &client.auth(),
        &exchange_form("garbage"),
        form_type,
    )
    .await;
    let pairs = form_answer(response, StatusCode::BAD_REQUEST, "an error, Accept: form").await;
    assert_form_error(&pairs, "invalid_grant", "an error, Accept: form");

    let code = browser.code(&Params::code(&client)).await;
    let response = token_at(
        &app,
        "/oauth/token",
        &client.auth(),
        &exchange_form(&code),
        Some("application/json"),
    )
    .await;
    tokens(response, "Accept: application/json").await;
}

async fn configured_form_answers_give_way_to_an_accept_naming_json(backend: Backend) {
    let app =
        TestApp::spawn_with(backend, |c| c.tokens.response_format = ResponseFormat::Form).await;
    let client = register_confidential(&app, &[CB]).await;
    let (browser, _) = signed_in(&app).await;

    for accept in [None, Some("*/*"), Some("text/html")] {
        let why = format!("response_format=form, Accept {accept:?}");
        let code = browser.code(&Params::code(&client)).await;
        let response = token_at(
            &app,
            "/oauth/token",
            &client.auth(),
            &exchange_form(&code),
            accept,
        )
        .await;
        assert_form_tokens(&form_answer(response, StatusCode::OK, &why).await, &why);
        let response = token_at(
            &app,
            "/oauth/token",
            &client.auth(),
            &exchange_form("garbage"),
            accept,
        )
        .await;
        assert_form_error(
            &form_answer(response, StatusCode::BAD_REQUEST, &why).await,
            "invalid_grant",
            &why,
        );
    }
    for accept in ["application/json", "application/json, text/plain;q=0.5"] {
        let code = browser.code(&Params::code(&client)).await;
        let response = token_at(
            &app,
            "/oauth/token",
            &client.auth(),
            &exchange_form(&code),
            Some(accept),
        )
        .await;
        tokens(response, &format!("response_format=form, Accept {accept}")).await;
        let response = token_at(
            &app,
            "/oauth/token",
            &client.auth(),
            &exchange_form("garbage"),
            Some(accept),
        )
        .await;
        oauth_error(
            response,
            StatusCode::BAD_REQUEST,
            "invalid_grant",
            &format!("an error, response_format=form, Accept {accept}"),
            &[],
        )
        .await;
    }
}

async fn gitbook_style_clients_exchange_at_access_token_without_redirect_uri(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let client = register_confidential(&app, &[CB]).await;
    let (browser, alice) = signed_in(&app).await;
    let code = browser
        .code(&Params::code(&client).without("redirect_uri"))
        .await;
    let response = token_at(
        &app,
        "/oauth/access_token",
        &Auth::Nothing,
        &[
            ("client_id", &client.id),
            ("client_secret", client.secret()),
            ("code", &code),
            ("grant_type", "authorization_code"),
        ],
        Some("application/x-www-form-urlencoded"),
    )
    .await;
    let pairs = form_answer(response, StatusCode::OK, "GitBook-style exchange").await;
    assert_form_tokens(&pairs, "GitBook-style exchange");
    let response = account(&app, field(&pairs, "access_token").unwrap()).await;
    assert_eq!(response.status(), StatusCode::OK);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["id"], alice.id.as_str());
}

async fn the_token_endpoint_aliases_work(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let client = register_confidential(&app, &[CB]).await;
    let (browser, _) = signed_in(&app).await;
    for path in ["/oauth/access_token", "/oauth2/token/"] {
        let code = browser.code(&Params::code(&client)).await;
        let response = token_at(&app, path, &client.auth(), &exchange_form(&code), None).await;
        tokens(response, path).await;
    }
}

// --- Happy paths with the oauth2 crate as a stock client -----------------

fn oauth2_http() -> oauth2::reqwest::Client {
    oauth2::reqwest::Client::builder()
        .redirect(oauth2::reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

/// The browser's part: open the authorization URL, approve, and return the
/// code after checking `state`.
async fn browse_to_code(browser: &Browser, url: &url::Url, state: &str) -> String {
    let response = browser.http.get(url.as_str()).send().await.unwrap();
    let consent = read_consent(response, "the consent page for the oauth2 crate's URL").await;
    let location = browser.approve(&consent).await;
    assert_eq!(
        param(&location, "state").as_deref(),
        Some(state),
        "state round trip"
    );
    param(&location, "code").expect("a code")
}

/// Checks what the oauth2 crate parsed, then uses the token at /account.
async fn check_and_use(app: &TestApp, token: &BasicTokenResponse, username: &str) {
    assert_eq!(token.token_type(), &BasicTokenType::Bearer);
    assert_eq!(token.expires_in(), Some(Duration::from_secs(3600)));
    assert!(token.refresh_token().is_some(), "a refresh token");
    let scopes: Vec<String> = token
        .scopes()
        .map(|s| s.iter().map(|x| x.to_string()).collect())
        .unwrap_or_default();
    assert_eq!(scopes, ["account:read"], "the granted scope");
    let response = account(app, token.access_token().secret()).await;
    assert_eq!(response.status(), StatusCode::OK);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["username"], username);
}

async fn oauth2_crate_confidential_client_with_basic_auth(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let registered = register_confidential(&app, &[CB]).await;
    let (browser, _) = signed_in(&app).await;
    let client = BasicClient::new(ClientId::new(registered.id.clone()))
        .set_client_secret(ClientSecret::new(registered.secret().to_owned()))
        .set_auth_uri(AuthUrl::new(app.url("/oauth/authorize")).unwrap())
        .set_token_uri(TokenUrl::new(app.url("/oauth/token")).unwrap())
        .set_redirect_uri(RedirectUrl::new(CB.to_owned()).unwrap());
    let (url, state) = client
        .authorize_url(CsrfToken::new_random)
        .add_scope(Scope::new("account:read".into()))
        .url();
    let code = browse_to_code(&browser, &url, state.secret()).await;
    let token = client
        .exchange_code(AuthorizationCode::new(code))
        .request_async(&oauth2_http())
        .await
        .unwrap_or_else(|e| panic!("code exchange with Basic auth: {e:?}"));
    check_and_use(&app, &token, "alice").await;
}

async fn oauth2_crate_client_with_client_secret_post(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let registered = register_json(
        &app,
        &json!({
            "client_name": "Posting client",
            "redirect_uris": [CB],
            "token_endpoint_auth_method": "client_secret_post"
        }),
    )
    .await;
    let (browser, _) = signed_in(&app).await;
    let client = BasicClient::new(ClientId::new(registered.id.clone()))
        .set_client_secret(ClientSecret::new(registered.secret().to_owned()))
        .set_auth_type(AuthType::RequestBody)
        .set_auth_uri(AuthUrl::new(app.url("/oauth/authorize")).unwrap())
        .set_token_uri(TokenUrl::new(app.url("/oauth/token")).unwrap())
        .set_redirect_uri(RedirectUrl::new(CB.to_owned()).unwrap());
    let (url, state) = client
        .authorize_url(CsrfToken::new_random)
        .add_scope(Scope::new("account:read".into()))
        .url();
    let code = browse_to_code(&browser, &url, state.secret()).await;
    let token = client
        .exchange_code(AuthorizationCode::new(code))
        .request_async(&oauth2_http())
        .await
        .unwrap_or_else(|e| panic!("code exchange with client_secret_post: {e:?}"));
    check_and_use(&app, &token, "alice").await;
}

async fn oauth2_crate_public_client_with_pkce(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let registered = register_public(&app, &[CB]).await;
    let (browser, _) = signed_in(&app).await;
    let client = BasicClient::new(ClientId::new(registered.id.clone()))
        .set_auth_uri(AuthUrl::new(app.url("/oauth/authorize")).unwrap())
        .set_token_uri(TokenUrl::new(app.url("/oauth/token")).unwrap())
        .set_redirect_uri(RedirectUrl::new(CB.to_owned()).unwrap());
    let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
    let (url, state) = client
        .authorize_url(CsrfToken::new_random)
        .add_scope(Scope::new("account:read".into()))
        .set_pkce_challenge(challenge)
        .url();
    let code = browse_to_code(&browser, &url, state.secret()).await;
    let token = client
        .exchange_code(AuthorizationCode::new(code))
        .set_pkce_verifier(verifier)
        .request_async(&oauth2_http())
        .await
        .unwrap_or_else(|e| panic!("public client code exchange with PKCE: {e:?}"));
    check_and_use(&app, &token, "alice").await;
}
