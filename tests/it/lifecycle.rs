//! Client credentials, revocation, introspection, metadata, CORS, personal
//! access tokens and the janitor. Refresh rotation lives in `refresh.rs`.

use oauthd::cli::admin;
use oauthd::oauth::personal;
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::both_backends;
use crate::support::{Backend, TestApp, with_introspect_scope};

both_backends!(
    client_credentials_issues_an_access_token_without_refresh,
    client_credentials_refusals_use_the_rfc_codes,
    client_credentials_tokens_belong_to_no_user_at_account,
    revocation_is_immediate_and_idempotent,
    revocation_never_touches_another_clients_token,
    revocation_refusals_use_the_rfc_codes,
    introspection_describes_active_tokens_and_nothing_else,
    introspection_requires_an_authenticated_caller,
    introspection_accepts_a_bearer_token_with_the_introspect_scope,
    metadata_advertises_endpoints_that_answer,
    cors_answers_registered_origins_only_and_never_on_authorize,
    personal_access_tokens_work_at_account_and_introspection_until_revoked,
    the_janitor_removes_exactly_the_expired_rows,
);

/// A confidential client registered over HTTP for `grant_types`.
async fn client(app: &TestApp, body: Value) -> (String, String) {
    let response = app
        .http
        .post(app.url("/api/client"))
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::CREATED, "register {body}");
    let body: Value = response.json().await.unwrap();
    (
        body["client_id"].as_str().unwrap().to_owned(),
        body["client_secret"]
            .as_str()
            .unwrap_or_default()
            .to_owned(),
    )
}

async fn service_client(app: &TestApp) -> (String, String) {
    client(
        app,
        json!({"client_name": "svc", "grant_types": ["client_credentials"], "scope": "event:write account:read"}),
    )
    .await
}

async fn post_form(
    app: &TestApp,
    path: &str,
    auth: Option<(&str, &str)>,
    form: &[(&str, &str)],
) -> reqwest::Response {
    let mut request = app.http.post(app.url(path)).form(form);
    if let Some((id, secret)) = auth {
        request = request.basic_auth(id, Some(secret));
    }
    request.send().await.unwrap()
}

async fn cc_token(app: &TestApp, id: &str, secret: &str, scope: Option<&str>) -> String {
    let mut form = vec![("grant_type", "client_credentials")];
    if let Some(s) = scope {
        form.push(("scope", s));
    }
    let response = post_form(app, "/oauth/token", Some((id, secret)), &form).await;
    assert_eq!(response.status(), StatusCode::OK);
    let body: Value = response.json().await.unwrap();
    body["access_token"].as_str().unwrap().to_owned()
}

async fn introspect(app: &TestApp, caller: (&str, &str), token: &str) -> Value {
    let response = post_form(app, "/oauth/introspect", Some(caller), &[("token", token)]).await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.headers()["cache-control"], "no-store");
    response.json().await.unwrap()
}

async fn account_status(app: &TestApp, token: &str) -> StatusCode {
    app.http
        .get(app.url("/account"))
        .bearer_auth(token)
        .send()
        .await
        .unwrap()
        .status()
}

async fn client_credentials_issues_an_access_token_without_refresh(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let (id, secret) = service_client(&app).await;

    // Driven by the stock client library.
    let oauth = oauth2::basic::BasicClient::new(oauth2::ClientId::new(id.clone()))
        .set_client_secret(oauth2::ClientSecret::new(secret.clone()))
        .set_token_uri(oauth2::TokenUrl::new(app.url("/oauth/token")).unwrap());
    let http = oauth2::reqwest::Client::builder()
        .redirect(oauth2::reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    use oauth2::TokenResponse;
    let token = oauth
        .exchange_client_credentials()
        .add_scope(oauth2::Scope::new("event:write".into()))
        .request_async(&http)
        .await
        .unwrap();
    assert!(token.access_token().secret().starts_with("oat_"));
    assert!(
        token.refresh_token().is_none(),
        "RFC 6749 §4.4.3: no refresh token"
    );
    assert_eq!(token.expires_in().unwrap().as_secs(), 3600);
    let scopes: Vec<String> = token
        .scopes()
        .unwrap()
        .iter()
        .map(|s| s.to_string())
        .collect();
    assert_eq!(scopes, ["event:write"]);

    // Omitted scope means every scope the client registered.
    let response = post_form(
        &app,
        "/oauth/token",
        Some((&id, &secret)),
        &[("grant_type", "client_credentials")],
    )
    .await;
    assert_eq!(response.headers()["cache-control"], "no-store");
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["scope"], "event:write account:read");
    assert!(body.get("refresh_token").is_none());
    assert_eq!(app.count("tokens").await, 2);
}

async fn client_credentials_refusals_use_the_rfc_codes(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let (svc_id, svc_secret) = service_client(&app).await;
    let (web_id, web_secret) = client(
        &app,
        json!({"client_name": "web", "redirect_uris": ["https://web.example/cb"]}),
    )
    .await;
    let (public_id, _) = client(
        &app,
        json!({"client_name": "spa", "redirect_uris": ["https://spa.example/cb"], "token_endpoint_auth_method": "none"}),
    )
    .await;
    let before = app.snapshot().await;
    let cases: Vec<(&str, reqwest::RequestBuilder, StatusCode, &str)> = vec![
        (
            "client not registered for the grant",
            app.http
                .post(app.url("/oauth/token"))
                .basic_auth(&web_id, Some(&web_secret))
                .form(&[("grant_type", "client_credentials")]),
            StatusCode::BAD_REQUEST,
            "unauthorized_client",
        ),
        (
            "public client",
            app.http.post(app.url("/oauth/token")).form(&[
                ("grant_type", "client_credentials"),
                ("client_id", &public_id),
            ]),
            StatusCode::BAD_REQUEST,
            "unauthorized_client",
        ),
        (
            "scope outside the registration",
            app.http
                .post(app.url("/oauth/token"))
                .basic_auth(&svc_id, Some(&svc_secret))
                .form(&[
                    ("grant_type", "client_credentials"),
                    ("scope", "introspect"),
                ]),
            StatusCode::BAD_REQUEST,
            "invalid_scope",
        ),
        (
            "scope with a forbidden character",
            app.http
                .post(app.url("/oauth/token"))
                .basic_auth(&svc_id, Some(&svc_secret))
                .form(&[
                    ("grant_type", "client_credentials"),
                    ("scope", "event\\write"),
                ]),
            StatusCode::BAD_REQUEST,
            "invalid_scope",
        ),
        (
            "wrong secret",
            app.http
                .post(app.url("/oauth/token"))
                .basic_auth(&svc_id, Some("ocs_wrong"))
                .form(&[("grant_type", "client_credentials")]),
            StatusCode::UNAUTHORIZED,
            "invalid_client",
        ),
        (
            "password grant",
            app.http
                .post(app.url("/oauth/token"))
                .basic_auth(&svc_id, Some(&svc_secret))
                .form(&[
                    ("grant_type", "password"),
                    ("username", "a"),
                    ("password", "b"),
                ]),
            StatusCode::BAD_REQUEST,
            "unsupported_grant_type",
        ),
        (
            "scope twice",
            app.http
                .post(app.url("/oauth/token"))
                .basic_auth(&svc_id, Some(&svc_secret))
                .header("content-type", "application/x-www-form-urlencoded")
                .body("grant_type=client_credentials&scope=event:write&scope=account:read"),
            StatusCode::BAD_REQUEST,
            "invalid_request",
        ),
    ];
    for (why, request, status, error) in cases {
        let response = request.send().await.unwrap();
        assert_eq!(response.status(), status, "{why}");
        assert_eq!(response.headers()["cache-control"], "no-store", "{why}");
        let body: Value = response.json().await.unwrap();
        assert_eq!(body["error"], error, "{why}: {body}");
    }
    assert_eq!(
        app.snapshot().await,
        before,
        "no refused request stored a token"
    );
}

async fn client_credentials_tokens_belong_to_no_user_at_account(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let (id, secret) = service_client(&app).await;
    let token = cc_token(&app, &id, &secret, Some("account:read")).await;
    let response = app
        .http
        .get(app.url("/account"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::FORBIDDEN);
    let challenge = response.headers()["www-authenticate"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(
        challenge.contains("error=\"insufficient_scope\""),
        "{challenge}"
    );
    let body: Value = response.json().await.unwrap();
    assert!(
        body["error_description"]
            .as_str()
            .unwrap()
            .contains("no user")
    );
}

async fn revocation_is_immediate_and_idempotent(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let (id, secret) = service_client(&app).await;
    let token = cc_token(&app, &id, &secret, None).await;
    assert_eq!(
        introspect(&app, (&id, &secret), &token).await["active"],
        true
    );

    for round in ["first", "again (already revoked)"] {
        let response = post_form(
            &app,
            "/oauth/revoke",
            Some((&id, &secret)),
            &[("token", &token), ("token_type_hint", "access_token")],
        )
        .await;
        assert_eq!(response.status(), StatusCode::OK, "{round}");
        assert_eq!(response.text().await.unwrap(), "", "{round}: empty body");
    }
    assert_eq!(
        introspect(&app, (&id, &secret), &token).await,
        json!({"active": false}),
        "revocation is visible on the next request"
    );
    let response = post_form(
        &app,
        "/oauth/revoke",
        Some((&id, &secret)),
        &[
            ("token", "oat_unknown"),
            ("token_type_hint", "refresh_token"),
        ],
    )
    .await;
    assert_eq!(
        response.status(),
        StatusCode::OK,
        "unknown tokens revoke silently"
    );
    let response = post_form(
        &app,
        "/oauth/revoke",
        Some((&id, &secret)),
        &[("token", "garbage"), ("token_type_hint", "something_else")],
    )
    .await;
    assert_eq!(
        response.status(),
        StatusCode::OK,
        "unknown hints are only hints"
    );
}

async fn revocation_never_touches_another_clients_token(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let (a_id, a_secret) = service_client(&app).await;
    let (b_id, b_secret) = service_client(&app).await;
    let token = cc_token(&app, &a_id, &a_secret, None).await;
    let response = post_form(
        &app,
        "/oauth/revoke",
        Some((&b_id, &b_secret)),
        &[("token", &token)],
    )
    .await;
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["error"], "unauthorized_client");
    assert_eq!(
        introspect(&app, (&a_id, &a_secret), &token).await["active"],
        true
    );
}

async fn revocation_refusals_use_the_rfc_codes(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let (id, secret) = service_client(&app).await;
    let token = cc_token(&app, &id, &secret, None).await;
    let cases: Vec<(&str, reqwest::RequestBuilder, StatusCode, &str)> = vec![
        (
            "no client authentication",
            app.http
                .post(app.url("/oauth/revoke"))
                .form(&[("token", &token)]),
            StatusCode::UNAUTHORIZED,
            "invalid_client",
        ),
        (
            "wrong secret",
            app.http
                .post(app.url("/oauth/revoke"))
                .basic_auth(&id, Some("ocs_wrong"))
                .form(&[("token", &token)]),
            StatusCode::UNAUTHORIZED,
            "invalid_client",
        ),
        (
            "missing token",
            app.http
                .post(app.url("/oauth/revoke"))
                .basic_auth(&id, Some(&secret))
                .form(&[("x", "y")]),
            StatusCode::BAD_REQUEST,
            "invalid_request",
        ),
        (
            "token twice",
            app.http
                .post(app.url("/oauth/revoke"))
                .basic_auth(&id, Some(&secret))
                .header("content-type", "application/x-www-form-urlencoded")
                .body(format!("token={token}&token=other")),
            StatusCode::BAD_REQUEST,
            "invalid_request",
        ),
        (
            "JSON body",
            app.http
                .post(app.url("/oauth/revoke"))
                .basic_auth(&id, Some(&secret))
                .json(&json!({"token": token})),
            StatusCode::BAD_REQUEST,
            "invalid_request",
        ),
    ];
    for (why, request, status, error) in cases {
        let response = request.send().await.unwrap();
        assert_eq!(response.status(), status, "{why}");
        let body: Value = response.json().await.unwrap();
        assert_eq!(body["error"], error, "{why}");
    }
    let wrong = app.http.get(app.url("/oauth/revoke")).send().await.unwrap();
    assert_eq!(wrong.status(), StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(
        introspect(&app, (&id, &secret), &token).await["active"],
        true,
        "nothing was revoked"
    );
}

async fn introspection_describes_active_tokens_and_nothing_else(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let (id, secret) = service_client(&app).await;
    let token = cc_token(&app, &id, &secret, Some("event:write")).await;
    let answer = introspect(&app, (&id, &secret), &token).await;
    assert_eq!(answer["active"], true);
    assert_eq!(answer["scope"], "event:write");
    assert_eq!(answer["client_id"], id.as_str());
    assert_eq!(answer["token_type"], "Bearer");
    assert_eq!(answer["iat"], app.clock.now());
    assert_eq!(answer["exp"], app.clock.now() + 3600);
    assert_eq!(answer["iss"], app.base.as_str());
    assert!(
        answer.get("username").is_none(),
        "client credentials have no user"
    );

    for (why, value) in [
        (
            "unknown",
            "oat_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA".to_owned(),
        ),
        ("garbage", "not a token".to_owned()),
        ("client secret", secret.clone()),
        ("wrong kind prefix", token.replacen("oat_", "ort_", 1)),
    ] {
        assert_eq!(
            introspect(&app, (&id, &secret), &value).await,
            json!({"active": false}),
            "{why}"
        );
    }
    app.clock.advance(3601);
    assert_eq!(
        introspect(&app, (&id, &secret), &token).await,
        json!({"active": false}),
        "expired by time check, not only by deletion"
    );
}

async fn introspection_requires_an_authenticated_caller(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let (id, secret) = service_client(&app).await;
    let (public_id, _) = client(
        &app,
        json!({"client_name": "spa", "redirect_uris": ["https://spa.example/cb"], "token_endpoint_auth_method": "none"}),
    )
    .await;
    let token = cc_token(&app, &id, &secret, None).await;
    let introspect = || app.http.post(app.url("/oauth/introspect"));
    let form = [("token", token.as_str())];
    for (why, request, status) in [
        ("nobody", introspect().form(&form), StatusCode::UNAUTHORIZED),
        (
            "public client",
            introspect().form(&[("token", token.as_str()), ("client_id", public_id.as_str())]),
            StatusCode::UNAUTHORIZED,
        ),
        (
            "wrong secret",
            introspect().basic_auth(&id, Some("ocs_nope")).form(&form),
            StatusCode::UNAUTHORIZED,
        ),
        (
            "bearer token without the introspect scope",
            introspect().bearer_auth(&token).form(&form),
            StatusCode::FORBIDDEN,
        ),
        (
            "unknown bearer token",
            introspect()
                .bearer_auth("oat_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA")
                .form(&form),
            StatusCode::UNAUTHORIZED,
        ),
    ] {
        let response = request.send().await.unwrap();
        assert_eq!(response.status(), status, "{why}");
        let body: Value = response.json().await.unwrap();
        assert!(
            body.get("active").is_none(),
            "{why}: says nothing about the token"
        );
    }
}

async fn introspection_accepts_a_bearer_token_with_the_introspect_scope(backend: Backend) {
    let app = TestApp::spawn_with(backend, with_introspect_scope).await;
    let (rs_id, rs_secret) = client(
        &app,
        json!({"client_name": "resource server", "grant_types": ["client_credentials"], "scope": "introspect"}),
    )
    .await;
    // A resource server sees other clients' tokens only with the operator's
    // permission (RFC 7662 §4); `tests/it/introspection.rs` covers the rule.
    admin::set_introspection(&app.db, &app.clock, &rs_id, true)
        .await
        .unwrap();
    let (id, secret) = service_client(&app).await;
    let rs_token = cc_token(&app, &rs_id, &rs_secret, None).await;
    let token = cc_token(&app, &id, &secret, None).await;
    let response = app
        .http
        .post(app.url("/oauth/introspect"))
        .bearer_auth(&rs_token)
        .form(&[("token", token.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["active"], true);
    assert_eq!(body["client_id"], id.as_str());
}

async fn metadata_advertises_endpoints_that_answer(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let response = app
        .http
        .get(app.url("/.well-known/oauth-authorization-server"))
        .header("host", "evil.test")
        .header("x-forwarded-host", "evil.test")
        .header("x-forwarded-proto", "http")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let m: Value = response.json().await.unwrap();
    assert_eq!(
        m["issuer"],
        app.base.as_str(),
        "issuer is public_url, whatever the headers say"
    );
    assert_eq!(m["authorization_response_iss_parameter_supported"], true);
    assert_eq!(m["code_challenge_methods_supported"], json!(["S256"]));
    assert_eq!(m["response_types_supported"], json!(["code"]));
    assert_eq!(
        m["grant_types_supported"],
        json!([
            "authorization_code",
            "refresh_token",
            "client_credentials",
            "urn:ietf:params:oauth:grant-type:device_code"
        ])
    );
    assert_eq!(
        m["scopes_supported"],
        json!(["account:read", "email", "event:write", "openid", "profile"])
    );
    for method in ["client_secret_basic", "client_secret_post", "none"] {
        assert!(
            m["token_endpoint_auth_methods_supported"]
                .as_array()
                .unwrap()
                .contains(&json!(method))
        );
    }
    assert!(m["service_documentation"].is_string());
    // Every advertised endpoint answers (no 404), at its advertised URL.
    for (key, method) in [
        ("authorization_endpoint", "GET"),
        ("token_endpoint", "POST"),
        ("registration_endpoint", "POST"),
        ("revocation_endpoint", "POST"),
        ("introspection_endpoint", "POST"),
        ("device_authorization_endpoint", "POST"),
    ] {
        let url = m[key].as_str().unwrap();
        assert!(url.starts_with(&app.base), "{key}: {url}");
        let response = app
            .http
            .request(method.parse().unwrap(), url)
            .send()
            .await
            .unwrap();
        assert_ne!(response.status(), StatusCode::NOT_FOUND, "{key}");
        assert!(!response.status().is_server_error(), "{key}");
    }
}

async fn cors_answers_registered_origins_only_and_never_on_authorize(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let body = json!({"client_name": "spa", "grant_types": ["client_credentials"],
                      "allowed_origins": ["https://spa.example", "http://127.0.0.1:5173"]});
    let response = app
        .http
        .post(app.url("/api/client"))
        .json(&body)
        .send()
        .await
        .unwrap();
    let registered: Value = response.json().await.unwrap();
    assert_eq!(
        registered["allowed_origins"],
        json!(["https://spa.example", "http://127.0.0.1:5173"])
    );
    let (id, secret) = (
        registered["client_id"].as_str().unwrap().to_owned(),
        registered["client_secret"].as_str().unwrap().to_owned(),
    );
    for path in [
        "/oauth/token",
        "/oauth/revoke",
        "/oauth/introspect",
        "/account",
    ] {
        let preflight = app
            .http
            .request(reqwest::Method::OPTIONS, app.url(path))
            .header("origin", "https://spa.example")
            .header("access-control-request-method", "POST")
            .send()
            .await
            .unwrap();
        assert_eq!(preflight.status(), StatusCode::NO_CONTENT, "{path}");
        let h = preflight.headers();
        assert_eq!(
            h["access-control-allow-origin"], "https://spa.example",
            "{path}"
        );
        assert!(
            h["access-control-allow-methods"]
                .to_str()
                .unwrap()
                .contains("POST")
        );
        assert!(
            h["access-control-allow-headers"]
                .to_str()
                .unwrap()
                .contains("authorization")
        );
        assert!(
            !h.contains_key("access-control-allow-credentials"),
            "{path}"
        );

        let stranger = app
            .http
            .request(reqwest::Method::OPTIONS, app.url(path))
            .header("origin", "https://evil.example")
            .header("access-control-request-method", "POST")
            .send()
            .await
            .unwrap();
        assert!(
            !stranger
                .headers()
                .contains_key("access-control-allow-origin"),
            "{path}: unregistered origins get nothing"
        );
    }
    let response = app
        .http
        .post(app.url("/oauth/token"))
        .header("origin", "http://127.0.0.1:5173")
        .basic_auth(&id, Some(&secret))
        .form(&[("grant_type", "client_credentials")])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(
        response.headers()["access-control-allow-origin"],
        "http://127.0.0.1:5173"
    );
    assert!(
        response.headers()["vary"]
            .to_str()
            .unwrap()
            .contains("Origin")
    );

    for method in [reqwest::Method::GET, reqwest::Method::OPTIONS] {
        let response = app
            .http
            .request(method.clone(), app.url("/oauth/authorize"))
            .header("origin", "https://spa.example")
            .header("access-control-request-method", "GET")
            .send()
            .await
            .unwrap();
        assert!(
            !response
                .headers()
                .contains_key("access-control-allow-origin"),
            "{method} /oauth/authorize never carries CORS headers"
        );
    }
    for bad in [
        "https://spa.example/",
        "https://spa.example/path",
        "http://spa.example",
        "*",
    ] {
        let response = app
            .http
            .post(app.url("/api/client"))
            .json(&json!({"client_name": "x", "allowed_origins": [bad]}))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::BAD_REQUEST, "{bad}");
    }
}

async fn personal_access_tokens_work_at_account_and_introspection_until_revoked(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let (id, secret) = service_client(&app).await;
    // Only a client the operator allowed sees personal access tokens.
    admin::set_introspection(&app.db, &app.clock, &id, true)
        .await
        .unwrap();
    let user = admin::add_user(&app.db, &app.clock, "alice", "correct horse battery")
        .await
        .unwrap();
    let created = personal::create(
        &app.db,
        &app.clock,
        &app.config,
        &user,
        "account:read",
        Some("laptop"),
        Some(30),
    )
    .await
    .unwrap();
    let token = created.token.expose().to_owned();
    assert!(token.starts_with("opt_"));
    let response = app
        .http
        .get(app.url("/account"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["username"], "alice");
    assert_eq!(body["id"], user.id.as_str());
    let answer = introspect(&app, (&id, &secret), &token).await;
    assert_eq!(answer["active"], true);
    assert_eq!(answer["username"], "alice");
    assert_eq!(answer["sub"], user.id.as_str());
    assert!(answer.get("client_id").is_none());

    // A PAT is not a refresh token and cannot be revoked by a client.
    let response = post_form(
        &app,
        "/oauth/token",
        Some((&id, &secret)),
        &[("grant_type", "refresh_token"), ("refresh_token", &token)],
    )
    .await;
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    let response = post_form(
        &app,
        "/oauth/revoke",
        Some((&id, &secret)),
        &[("token", &token)],
    )
    .await;
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    assert_eq!(account_status(&app, &token).await, StatusCode::OK);

    let listed = personal::list(&app.db, &user).await.unwrap();
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0].label.as_deref(), Some("laptop"));
    assert!(
        personal::revoke(&app.db, &app.clock, &created.public_id)
            .await
            .unwrap()
    );
    assert_eq!(account_status(&app, &token).await, StatusCode::UNAUTHORIZED);
    assert_eq!(
        introspect(&app, (&id, &secret), &token).await,
        json!({"active": false})
    );

    let expiring = personal::create(
        &app.db,
        &app.clock,
        &app.config,
        &user,
        "account:read",
        None,
        Some(1),
    )
    .await
    .unwrap();
    let expiring = expiring.token.expose().to_owned();
    assert_eq!(account_status(&app, &expiring).await, StatusCode::OK);
    app.clock.advance(86_401);
    assert_eq!(
        account_status(&app, &expiring).await,
        StatusCode::UNAUTHORIZED
    );

    let unknown_scope =
        personal::create(&app.db, &app.clock, &app.config, &user, "root", None, None).await;
    assert!(unknown_scope.is_err(), "scopes come from the catalogue");
}

async fn the_janitor_removes_exactly_the_expired_rows(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let (id, secret) = service_client(&app).await;
    let old = cc_token(&app, &id, &secret, None).await;
    let revoked = cc_token(&app, &id, &secret, None).await;
    post_form(
        &app,
        "/oauth/revoke",
        Some((&id, &secret)),
        &[("token", &revoked)],
    )
    .await;
    // Nothing is past its end plus retention yet.
    assert_eq!(
        oauthd::janitor::run_once(&app.db, &app.clock, &app.config)
            .await
            .unwrap(),
        0
    );
    app.clock.advance(3000);
    let fresh = cc_token(&app, &id, &secret, None).await;
    assert_eq!(app.count("tokens").await, 3);
    // old expired at +3600 and the other was revoked at 0: both are now
    // more than the retention (1800 s) past their end; fresh is not.
    app.clock.advance(600 + 1800 + 1);
    let deleted = oauthd::janitor::run_once(&app.db, &app.clock, &app.config)
        .await
        .unwrap();
    assert_eq!(deleted, 2, "the expired and the long-revoked token");
    assert_eq!(app.count("tokens").await, 1);
    assert_eq!(
        introspect(&app, (&id, &secret), &fresh).await["active"],
        true
    );
    assert_eq!(
        introspect(&app, (&id, &secret), &old).await,
        json!({"active": false})
    );

    // Batches: a batch size of 1 still clears everything in one run.
    let mut config = app.config.clone();
    config.janitor.batch_size = 1;
    for _ in 0..3 {
        cc_token(&app, &id, &secret, None).await;
    }
    app.clock.advance(3600 + 1800 + 1);
    let deleted = oauthd::janitor::run_once(&app.db, &app.clock, &config)
        .await
        .unwrap();
    assert_eq!(deleted, 4);
    assert_eq!(app.count("tokens").await, 0);
}
