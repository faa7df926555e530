//! Issue 17: oauthd's own API as a protected resource (RFC 9728), and
//! audiences (RFC 8707).

use oauth2::TokenResponse;
use oauthd::cli::admin;
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::both_backends;
use crate::support::flow::{
    self, Auth, CB, Client, Params, account, assert_error_redirect, header, oauth_error, param,
    read_consent, redeem, register_confidential, register_json, signed_in, text_of, token,
    token_digest, tokens,
};
use crate::support::{Backend, TestApp};

both_backends!(
    protected_resource_metadata_describes_the_account_api,
    account_challenges_name_the_resource_metadata,
    resources_flow_from_consent_to_code_tokens_and_introspection,
    token_requests_narrow_to_granted_resources_or_get_invalid_target,
    malformed_or_unallowed_resources_get_invalid_target_at_authorize,
    client_credentials_take_resources_within_the_rules,
    a_resource_server_introspects_tokens_for_its_resource_only,
    account_accepts_only_tokens_for_itself_or_without_audience,
    remembered_consent_covers_only_resources_granted_before,
    native_apps_register_as_public_clients_under_rfc_8252_rules,
    application_type_is_checked_and_answered,
    public_client_refresh_tokens_always_rotate,
);

const MCP: &str = "https://mcp.example/mcp";
const OTHER: &str = "https://other.example/api";

async fn json(app: &TestApp, path: &str) -> Value {
    let response = app.http.get(app.url(path)).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::OK, "GET {path}");
    assert_eq!(
        header(&response, "content-type").as_deref(),
        Some("application/json"),
        "GET {path}"
    );
    response.json().await.unwrap()
}

async fn protected_resource_metadata_describes_the_account_api(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let issuer = app.config.issuer().to_owned();
    let doc = json(&app, "/.well-known/oauth-protected-resource").await;
    assert_eq!(doc["resource"], format!("{issuer}/account"));
    assert_eq!(doc["authorization_servers"], serde_json::json!([issuer]));
    assert_eq!(
        doc["scopes_supported"],
        serde_json::json!([app.config.resource.account_scope.as_str()])
    );
    assert_eq!(
        doc["bearer_methods_supported"],
        serde_json::json!(["header", "body", "query"])
    );
    // RFC 9728 §3.1: the location derived from the resource identifier
    // serves the same document.
    assert_eq!(
        json(&app, "/.well-known/oauth-protected-resource/account").await,
        doc
    );
    // The authorization server's metadata is served; OpenID's is not (no
    // OpenID Connect yet).
    let meta = json(&app, "/.well-known/oauth-authorization-server").await;
    assert_eq!(meta["issuer"], issuer);
    assert_eq!(
        meta["code_challenge_methods_supported"],
        serde_json::json!(["S256"])
    );
    assert_eq!(meta["authorization_response_iss_parameter_supported"], true);
    assert_eq!(
        meta["registration_endpoint"],
        format!("{issuer}/api/client")
    );
    let oidc = app
        .http
        .get(app.url("/.well-known/openid-configuration"))
        .send()
        .await
        .unwrap();
    assert_eq!(oidc.status(), StatusCode::NOT_FOUND);
}

async fn account_challenges_name_the_resource_metadata(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let expected = format!(
        "resource_metadata=\"{}/.well-known/oauth-protected-resource\"",
        app.config.issuer()
    );
    // No token, and an unknown one: both 401 with the metadata's URL.
    let bare = app.http.get(app.url("/account")).send().await.unwrap();
    let unknown = app
        .http
        .get(app.url("/account"))
        .header("authorization", "Bearer oat_unknown")
        .send()
        .await
        .unwrap();
    for (response, why) in [(bare, "no token"), (unknown, "unknown token")] {
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED, "{why}");
        let challenge = header(&response, "www-authenticate").unwrap_or_default();
        assert!(
            challenge.starts_with("Bearer realm=\"oauthd\""),
            "{why}: {challenge:?}"
        );
        assert!(challenge.contains(&expected), "{why}: {challenge:?}");
    }
}

/// `resource` values for a form.
fn with_resources<'a>(
    mut form: Vec<(&'a str, &'a str)>,
    resources: &[&'a str],
) -> Vec<(&'a str, &'a str)> {
    for r in resources {
        form.push(("resource", r));
    }
    form
}

/// Introspects `token` as `caller`: the JSON answer.
async fn introspect(app: &TestApp, caller: &Auth, token: &str) -> Value {
    let response =
        flow::token_at(app, "/oauth/introspect", caller, &[("token", token)], None).await;
    assert_eq!(response.status(), StatusCode::OK);
    response.json().await.unwrap()
}

/// A code for `client` asking for `resources`, approved by the signed-in user.
async fn code_for(browser: &flow::Browser, client: &Client, resources: &[&str]) -> String {
    let mut params = Params::code(client);
    for r in resources {
        params = params.add("resource", r);
    }
    browser.code(&params).await
}

async fn resources_flow_from_consent_to_code_tokens_and_introspection(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    admin::add_resource(&app.db, &app.clock, MCP, "Team MCP server", None)
        .await
        .unwrap();
    let client = register_confidential(&app, &[CB]).await;
    let (browser, _) = signed_in(&app).await;

    // The consent page names each resource: the registered one by its name,
    // the other by its URI.
    let params = Params::code(&client)
        .add("resource", MCP)
        .add("resource", OTHER);
    let consent = browser.consent(&params).await;
    assert!(
        consent
            .html
            .contains("access to <strong>Team MCP server</strong>"),
        "{}",
        consent.html
    );
    assert!(
        consent
            .html
            .contains(&format!("access to <strong>{OTHER}</strong>")),
        "{}",
        consent.html
    );
    let location = browser.approve(&consent).await;
    let code = param(&location, "code").unwrap();
    assert_eq!(
        text_of(
            &app,
            "select resources from auth_codes where code_hash = $1",
            &[&oauthd::crypto::sha256_hex(&code)]
        )
        .await
        .as_deref(),
        Some(&*format!("{MCP} {OTHER}")),
        "the code carries the resources"
    );

    // The oauth2 crate exchanges the code with no resource: the token is for
    // both, and so is its refresh token.
    let oauth = oauth2::basic::BasicClient::new(oauth2::ClientId::new(client.id.clone()))
        .set_client_secret(oauth2::ClientSecret::new(client.secret().to_owned()))
        .set_token_uri(oauth2::TokenUrl::new(app.url("/oauth/token")).unwrap());
    let http = oauth2::reqwest::Client::builder()
        .redirect(oauth2::reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let answer = oauth
        .exchange_code(oauth2::AuthorizationCode::new(code))
        .set_redirect_uri(std::borrow::Cow::Owned(
            oauth2::RedirectUrl::new(CB.to_owned()).unwrap(),
        ))
        .request_async(&http)
        .await
        .unwrap();
    let access = answer.access_token().secret().clone();
    let refresh = answer.refresh_token().unwrap().secret().clone();
    let seen = introspect(&app, &client.auth(), &access).await;
    assert_eq!(seen["active"], true);
    assert_eq!(seen["aud"], json!([MCP, OTHER]), "{seen}");
    let seen = introspect(&app, &client.auth(), &refresh).await;
    assert_eq!(seen["aud"], json!([MCP, OTHER]), "{seen}");

    // A refresh through the oauth2 crate asking for one of them.
    let answer = oauth
        .exchange_refresh_token(&oauth2::RefreshToken::new(refresh))
        .add_extra_param("resource", MCP)
        .request_async(&http)
        .await
        .unwrap();
    let narrowed = answer.access_token().secret().clone();
    let seen = introspect(&app, &client.auth(), &narrowed).await;
    assert_eq!(seen["aud"], json!(MCP), "one audience is a string: {seen}");
    // The new refresh token keeps the whole grant.
    let next = answer.refresh_token().unwrap().secret().clone();
    let sql = format!(
        "select audience from tokens where token_hash = {}",
        token_digest(&app, "$1")
    );
    assert_eq!(
        text_of(&app, &sql, &[&oauthd::crypto::sha256_hex(&next)])
            .await
            .as_deref(),
        Some(&*format!("{MCP} {OTHER}"))
    );

    // No resource at all: no audience, as before.
    let plain = flow::tokens_for(&app, &browser, &client, &Params::code(&client), None).await;
    let seen = introspect(&app, &client.auth(), &plain.access).await;
    assert_eq!(seen["active"], true);
    assert!(seen.get("aud").is_none(), "{seen}");
}

async fn token_requests_narrow_to_granted_resources_or_get_invalid_target(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let client = register_confidential(&app, &[CB]).await;
    let (browser, _) = signed_in(&app).await;

    // Exchange: a subset is fine, anything else is invalid_target and leaves
    // the code unused.
    let code = code_for(&browser, &client, &[MCP, OTHER]).await;
    for (extra, why) in [
        (vec!["https://third.example/"], "a resource not granted"),
        (
            vec![MCP, "https://third.example/"],
            "one of two not granted",
        ),
        (vec!["relative/path"], "not an absolute URI"),
        (vec!["https://mcp.example/mcp#x"], "a fragment"),
    ] {
        let form = with_resources(
            vec![
                ("grant_type", "authorization_code"),
                ("code", &code),
                ("redirect_uri", CB),
            ],
            &extra,
        );
        oauth_error(
            token(&app, &client.auth(), &form).await,
            StatusCode::BAD_REQUEST,
            "invalid_target",
            why,
            &[&code],
        )
        .await;
    }
    let form = with_resources(
        vec![
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("redirect_uri", CB),
        ],
        &[OTHER],
    );
    let t = tokens(
        token(&app, &client.auth(), &form).await,
        "narrowed exchange",
    )
    .await;
    let seen = introspect(&app, &client.auth(), &t.access).await;
    assert_eq!(seen["aud"], json!(OTHER));
    // The refresh token keeps both: a refresh can ask for the other one.
    let refresh = t.refresh.unwrap();
    let seen = introspect(&app, &client.auth(), &refresh).await;
    assert_eq!(seen["aud"], json!([MCP, OTHER]), "{seen}");
    let form = with_resources(
        vec![("grant_type", "refresh_token"), ("refresh_token", &refresh)],
        &["https://third.example/"],
    );
    oauth_error(
        token(&app, &client.auth(), &form).await,
        StatusCode::BAD_REQUEST,
        "invalid_target",
        "refresh for a resource not granted",
        &[&refresh],
    )
    .await;
    // Refused before anything was used: the same refresh token still works.
    let form = with_resources(
        vec![("grant_type", "refresh_token"), ("refresh_token", &refresh)],
        &[MCP],
    );
    let t = tokens(token(&app, &client.auth(), &form).await, "refresh").await;
    let seen = introspect(&app, &client.auth(), &t.access).await;
    assert_eq!(seen["aud"], json!(MCP));

    // A grant without resources cannot gain one at the token endpoint.
    let code = code_for(&browser, &client, &[]).await;
    let form = with_resources(
        vec![
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("redirect_uri", CB),
        ],
        &[MCP],
    );
    oauth_error(
        token(&app, &client.auth(), &form).await,
        StatusCode::BAD_REQUEST,
        "invalid_target",
        "a resource on a grant without any",
        &[&code],
    )
    .await;
    tokens(
        redeem(&app, &client, &code, Some(CB), None).await,
        "the code is still good",
    )
    .await;
}

async fn malformed_or_unallowed_resources_get_invalid_target_at_authorize(backend: Backend) {
    let app = TestApp::spawn_with(backend, |c| {
        c.resource_indicators.registered_only = true;
    })
    .await;
    admin::add_resource(&app.db, &app.clock, MCP, "MCP", None)
        .await
        .unwrap();
    admin::add_resource(&app.db, &app.clock, OTHER, "Other", None)
        .await
        .unwrap();
    let client = register_confidential(&app, &[CB]).await;
    let limited = register_confidential(&app, &[CB]).await;
    admin::set_client_resources(&app.db, &limited.id, &[MCP.to_owned()])
        .await
        .unwrap();
    let (browser, _) = signed_in(&app).await;
    let too_many: Vec<String> = (0..11).map(|i| format!("https://r{i}.example/")).collect();
    let mut cases: Vec<(&Client, Vec<&str>, &str)> = vec![
        (&client, vec!["/relative"], "a relative reference"),
        (&client, vec!["mcp.example/mcp"], "no scheme"),
        (&client, vec!["https://mcp.example/mcp#frag"], "a fragment"),
        (&client, vec!["https://mcp.example/a b"], "a space"),
        (
            &client,
            vec!["https://unregistered.example/"],
            "not registered",
        ),
        (&limited, vec![OTHER], "not on the client's allow-list"),
        (&limited, vec![MCP, OTHER], "one of two not allowed"),
    ];
    cases.push((
        &client,
        too_many.iter().map(String::as_str).collect(),
        "too many",
    ));
    for (who, resources, why) in cases {
        let mut params = Params::code(who);
        for r in &resources {
            params = params.add("resource", r);
        }
        let response = browser.authorize(&params).await;
        assert_error_redirect(
            &app,
            &response,
            CB,
            "invalid_target",
            Some(flow::STATE),
            why,
        );
    }
    assert_eq!(
        flow::scalar(&app, "select count(*) from auth_codes", &[]).await,
        0,
        "nothing issued"
    );
    // What is allowed works.
    let code = code_for(&browser, &limited, &[MCP]).await;
    tokens(
        redeem(&app, &limited, &code, Some(CB), None).await,
        "allowed resource",
    )
    .await;
    let code = code_for(&browser, &client, &[MCP, OTHER]).await;
    tokens(
        redeem(&app, &client, &code, Some(CB), None).await,
        "registered resources",
    )
    .await;
}

async fn client_credentials_take_resources_within_the_rules(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let client = register_json(
        &app,
        &json!({"client_name": "svc", "grant_types": ["client_credentials"]}),
    )
    .await;
    let cc = |resources: &'static [&'static str]| {
        with_resources(vec![("grant_type", "client_credentials")], resources)
    };
    let t = tokens(
        token(&app, &client.auth(), &cc(&[MCP, OTHER])).await,
        "two resources",
    )
    .await;
    let seen = introspect(&app, &client.auth(), &t.access).await;
    assert_eq!(seen["aud"], json!([MCP, OTHER]));
    let t = tokens(token(&app, &client.auth(), &cc(&[])).await, "none").await;
    let seen = introspect(&app, &client.auth(), &t.access).await;
    assert!(seen.get("aud").is_none(), "{seen}");
    for (resources, why) in [
        (&["urn"][..], "no scheme-specific part"),
        (&["https://a.example/#"][..], "an empty fragment"),
        (&["//a.example/x"][..], "a network-path reference"),
    ] {
        oauth_error(
            token(&app, &client.auth(), &cc(resources)).await,
            StatusCode::BAD_REQUEST,
            "invalid_target",
            why,
            &[client.secret()],
        )
        .await;
    }
    admin::set_client_resources(&app.db, &client.id, &[MCP.to_owned()])
        .await
        .unwrap();
    oauth_error(
        token(&app, &client.auth(), &cc(&[OTHER])).await,
        StatusCode::BAD_REQUEST,
        "invalid_target",
        "not on the allow-list",
        &[client.secret()],
    )
    .await;
    tokens(
        token(&app, &client.auth(), &cc(&[MCP])).await,
        "on the allow-list",
    )
    .await;
}

async fn a_resource_server_introspects_tokens_for_its_resource_only(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let server = register_confidential(&app, &[]).await;
    let stranger = register_confidential(&app, &[]).await;
    admin::add_resource(&app.db, &app.clock, MCP, "MCP", Some(&server.id))
        .await
        .unwrap();
    let client = register_confidential(&app, &[CB]).await;
    let (browser, _) = signed_in(&app).await;
    let for_mcp = {
        let code = code_for(&browser, &client, &[MCP]).await;
        tokens(
            redeem(&app, &client, &code, Some(CB), None).await,
            "for MCP",
        )
        .await
    };
    let for_other = {
        let code = code_for(&browser, &client, &[OTHER]).await;
        tokens(
            redeem(&app, &client, &code, Some(CB), None).await,
            "for other",
        )
        .await
    };
    let seen = introspect(&app, &server.auth(), &for_mcp.access).await;
    assert_eq!(seen["active"], true, "the resource server sees it: {seen}");
    assert_eq!(seen["aud"], json!(MCP));
    assert_eq!(seen["client_id"], json!(client.id));
    let refresh = for_mcp.refresh.clone().unwrap();
    assert_eq!(
        introspect(&app, &server.auth(), &refresh).await["active"],
        true
    );
    for (caller, t, why) in [
        (&server, &for_other.access, "a token for another resource"),
        (&stranger, &for_mcp.access, "a client that serves nothing"),
    ] {
        let seen = introspect(&app, &caller.auth(), t).await;
        assert_eq!(seen, json!({"active": false}), "{why}");
    }
    // Once the resource is gone, so is the permission.
    admin::remove_resource(&app.db, MCP).await.unwrap();
    assert_eq!(
        introspect(&app, &server.auth(), &for_mcp.access).await,
        json!({"active": false})
    );
}

async fn account_accepts_only_tokens_for_itself_or_without_audience(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let client = register_confidential(&app, &[CB]).await;
    let (browser, _) = signed_in(&app).await;
    let own = format!("{}/account", app.config.issuer());
    for (resources, want) in [
        (vec![], StatusCode::OK),
        (vec![own.as_str()], StatusCode::OK),
        (vec![MCP, own.as_str()], StatusCode::OK),
        (vec![MCP], StatusCode::UNAUTHORIZED),
    ] {
        let code = code_for(&browser, &client, &resources).await;
        let t = tokens(redeem(&app, &client, &code, Some(CB), None).await, "tokens").await;
        let response = account(&app, &t.access).await;
        assert_eq!(response.status(), want, "{resources:?}");
        if want == StatusCode::UNAUTHORIZED {
            let challenge = header(&response, "www-authenticate").unwrap_or_default();
            assert!(challenge.contains("error=\"invalid_token\""), "{challenge}");
        }
    }
}

async fn remembered_consent_covers_only_resources_granted_before(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let client = register_confidential(&app, &[CB]).await;
    let (browser, _) = signed_in(&app).await;
    code_for(&browser, &client, &[MCP]).await;
    // The same resource again: no page.
    let again = browser
        .authorize(&Params::code(&client).add("resource", MCP))
        .await;
    assert_eq!(again.status(), StatusCode::FOUND, "remembered");
    // None at all: remembered as well (the scopes were granted).
    let none = browser.authorize(&Params::code(&client)).await;
    assert_eq!(none.status(), StatusCode::FOUND, "no resource");
    // A new resource: the page again, naming it.
    let response = browser
        .authorize(&Params::code(&client).add("resource", OTHER))
        .await;
    let consent = read_consent(response, "a new resource").await;
    assert!(consent.html.contains(OTHER));
    browser.approve(&consent).await;
    let both = browser
        .authorize(
            &Params::code(&client)
                .add("resource", MCP)
                .add("resource", OTHER),
        )
        .await;
    assert_eq!(both.status(), StatusCode::FOUND, "both granted by now");
}

async fn post_json(app: &TestApp, body: &Value) -> reqwest::Response {
    app.http
        .post(app.url("/api/client"))
        .json(body)
        .send()
        .await
        .unwrap()
}

async fn native_apps_register_as_public_clients_under_rfc_8252_rules(backend: Backend) {
    // Even where the operator allows plain http redirect URIs for web
    // applications, a native app's http redirect is loopback only.
    let app = TestApp::spawn_with(backend, |c| {
        c.registration.allow_http_redirect_uris = true;
    })
    .await;
    let response = post_json(
        &app,
        &json!({
            "client_name": "Agent",
            "application_type": "native",
            "redirect_uris": ["http://127.0.0.1/callback", "com.example.agent:/cb"],
        }),
    )
    .await;
    assert_eq!(response.status(), StatusCode::CREATED);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["application_type"], "native");
    assert_eq!(
        body["token_endpoint_auth_method"], "none",
        "a native app naming no method is public (RFC 8252 §8.4)"
    );
    assert!(body.get("client_secret").is_none(), "{body}");
    let client = Client {
        id: body["client_id"].as_str().unwrap().to_owned(),
        secret: None,
        name: "Agent".into(),
        redirect_uris: vec!["http://127.0.0.1/callback".into()],
    };
    assert_eq!(
        text_of(
            &app,
            "select application_type from clients where id = $1",
            &[&client.id]
        )
        .await
        .as_deref(),
        Some("native")
    );
    // The loopback redirect matches on any port (RFC 8252 §7.3), with PKCE.
    let (browser, _) = signed_in(&app).await;
    let redirect = "http://127.0.0.1:49152/callback";
    let params = Params::pkce(&client).set("redirect_uri", redirect);
    let code = browser.code(&params).await;
    tokens(
        redeem(&app, &client, &code, Some(redirect), Some(flow::VERIFIER)).await,
        "native exchange",
    )
    .await;
    // The private-use scheme redirect works too.
    let params = Params::pkce(&client).set("redirect_uri", "com.example.agent:/cb");
    let location = browser.code_redirect(&params).await;
    assert!(
        location.as_str().starts_with("com.example.agent:/cb?code="),
        "{location}"
    );

    let refused = post_json(
        &app,
        &json!({
            "application_type": "native",
            "redirect_uris": ["http://app.example/cb"],
        }),
    )
    .await;
    assert_eq!(refused.status(), StatusCode::BAD_REQUEST);
    let body: Value = refused.json().await.unwrap();
    assert_eq!(body["error"], "invalid_redirect_uri", "{body}");
    // The same URI is fine for a web application under this config.
    let web = post_json(
        &app,
        &json!({"application_type": "web", "redirect_uris": ["http://app.example/cb"]}),
    )
    .await;
    assert_eq!(web.status(), StatusCode::CREATED);
}

async fn application_type_is_checked_and_answered(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let before = flow::scalar(&app, "select count(*) from clients", &[]).await;
    for (body, error, why) in [
        (
            json!({"application_type": "desktop", "redirect_uris": [CB]}),
            "invalid_client_metadata",
            "an unknown application_type",
        ),
        (
            json!({"application_type": 7, "redirect_uris": [CB]}),
            "invalid_client_metadata",
            "a number",
        ),
        (
            json!({"application_type": "web", "token_endpoint_auth_method": "none",
                   "redirect_uris": ["com.example.app:/cb"]}),
            "invalid_redirect_uri",
            "a private-use scheme for a web application",
        ),
    ] {
        let response = post_json(&app, &body).await;
        assert_eq!(response.status(), StatusCode::BAD_REQUEST, "{why}");
        let answer: Value = response.json().await.unwrap();
        assert_eq!(answer["error"], error, "{why}: {answer}");
    }
    assert_eq!(
        flow::scalar(&app, "select count(*) from clients", &[]).await,
        before,
        "nothing stored"
    );
    // Absent: web for a confidential client, native for a public client
    // with a private-use redirect URI (what registrations sent before).
    let web = post_json(&app, &json!({"redirect_uris": [CB]})).await;
    let web: Value = web.json().await.unwrap();
    assert_eq!(web["application_type"], "web");
    assert_eq!(web["token_endpoint_auth_method"], "client_secret_basic");
    let public = post_json(
        &app,
        &json!({"redirect_uris": ["com.example.app:/cb"], "token_endpoint_auth_method": "none"}),
    )
    .await;
    let public: Value = public.json().await.unwrap();
    assert_eq!(public["application_type"], "native", "{public}");
    // A native app may still name a secret method (the operator's call).
    let confidential = post_json(
        &app,
        &json!({"application_type": "native", "token_endpoint_auth_method": "client_secret_post",
                "redirect_uris": ["http://[::1]/cb"]}),
    )
    .await;
    assert_eq!(confidential.status(), StatusCode::CREATED);
    let confidential: Value = confidential.json().await.unwrap();
    assert!(confidential["client_secret"].is_string());
}

async fn public_client_refresh_tokens_always_rotate(backend: Backend) {
    let app = TestApp::spawn_with(backend, |c| {
        c.tokens.refresh_grace = std::time::Duration::ZERO;
    })
    .await;
    let client = register_json(
        &app,
        &json!({"application_type": "native", "redirect_uris": ["http://127.0.0.1/cb"]}),
    )
    .await;
    assert!(client.secret.is_none(), "a public client");
    let (browser, _) = signed_in(&app).await;
    let code = browser
        .code(&Params::pkce(&client).add("resource", MCP))
        .await;
    let first = tokens(
        redeem(
            &app,
            &client,
            &code,
            Some(client.redirect_uri()),
            Some(flow::VERIFIER),
        )
        .await,
        "public exchange",
    )
    .await;
    let mut current = first.refresh.clone().expect("a refresh token");
    let mut seen = vec![current.clone()];
    for round in 0..3 {
        let next = tokens(
            token(
                &app,
                &client.auth(),
                &[("grant_type", "refresh_token"), ("refresh_token", &current)],
            )
            .await,
            "refresh",
        )
        .await;
        let rotated = next.refresh.expect("a new refresh token every time");
        assert!(!seen.contains(&rotated), "round {round}: rotated");
        seen.push(rotated.clone());
        current = rotated;
    }
    // The first one again is reuse: the whole family goes.
    oauth_error(
        token(
            &app,
            &client.auth(),
            &[("grant_type", "refresh_token"), ("refresh_token", &seen[0])],
        )
        .await,
        StatusCode::BAD_REQUEST,
        "invalid_grant",
        "reuse",
        &[&seen[0]],
    )
    .await;
    oauth_error(
        token(
            &app,
            &client.auth(),
            &[("grant_type", "refresh_token"), ("refresh_token", &current)],
        )
        .await,
        StatusCode::BAD_REQUEST,
        "invalid_grant",
        "the newest one went with its family",
        &[&current],
    )
    .await;
}
