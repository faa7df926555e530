//! `/oauth/authorize`: what is checked before anything is redirected, the
//! sign-in detour, errors sent back to the client, the consent page and its
//! decision, remembered consent, and out-of-band codes.

use oauthd::cli::admin::NewClientArgs;
use oauthd::crypto::sha256_hex;
use reqwest::StatusCode;

use crate::both_backends;
use crate::support::flow::{
    Browser, CB, CB2, CHALLENGE, Client, OOB, PASSWORD, Params, STATE, VERIFIER, absolute_location,
    assert_code_format, assert_error_redirect, assert_page_headers, code_row, create_user, header,
    hidden, location_on, oob_code, origin, page, param, param_count, read_consent, redeem,
    register, register_confidential, register_public, scalar, scope_set, signed_in, tags, tokens,
};
use crate::support::{Backend, TestApp};

/// Form fields in order; repeats allowed.
type Form<'a> = Vec<(&'a str, &'a str)>;

both_backends!(
    unknown_missing_or_repeated_client_ids_get_an_error_page_not_a_redirect,
    redirect_uris_must_match_a_registered_one_exactly,
    loopback_redirect_uris_may_use_any_port,
    loopback_ports_outside_1_to_65535_get_an_error_page_and_store_nothing,
    a_registered_query_is_part_of_the_redirect_uri,
    redirect_uri_is_required_when_several_are_registered,
    out_of_band_is_refused_to_clients_with_redirect_uris,
    an_overlong_state_gets_an_error_page_and_a_long_one_round_trips,
    a_signed_out_user_is_sent_to_login_before_any_other_check,
    signing_in_from_the_login_redirect_lands_back_on_the_request,
    errors_after_sign_in_go_back_to_the_client_with_state_and_iss,
    unknown_parameters_are_ignored_and_empty_ones_count_as_omitted,
    plain_pkce_is_accepted_only_when_configured,
    the_request_may_be_sent_as_a_form_post_or_to_an_alias,
    the_consent_page_names_the_client_its_destination_and_each_scope,
    every_page_forbids_framing_and_cross_origin_referrers,
    approving_redirects_by_303_with_code_state_and_iss,
    denying_redirects_by_303_with_access_denied,
    decisions_without_the_right_csrf_or_request_are_refused,
    decisions_ignore_smuggled_request_fields,
    remembered_consent_skips_the_page_for_confidential_clients_only,
    out_of_band_clients_are_shown_the_code,
);

/// The description the config gives a scope.
fn description(app: &TestApp, scope: &str) -> String {
    app.config
        .scopes
        .catalogue
        .get(scope)
        .unwrap_or_else(|| panic!("{scope} is in the default catalogue"))
        .clone()
}

/// Asserts a 400 error page for `GET /oauth/authorize?{query}` that links to
/// none of the untrusted values.
async fn assert_error_page(browser: &Browser, query: &str, why: &str) {
    let response = browser.authorize_at("/oauth/authorize", query).await;
    let html = page(response, StatusCode::BAD_REQUEST, why).await;
    for link in tags(&html, "a") {
        let href = link.get("href").cloned().unwrap_or_default();
        assert!(
            !href.contains("evil") && !href.contains("app.example"),
            "{why}: the error page never links to the requested redirect URI: {href}"
        );
    }
}

async fn unknown_missing_or_repeated_client_ids_get_an_error_page_not_a_redirect(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let client = register_confidential(&app, &[CB]).await;
    create_user(&app, "alice").await;
    let spaced = format!("{} ", client.id);
    let cases: Vec<(Params, &str)> = vec![
        (
            Params::code(&client).without("client_id"),
            "client_id missing",
        ),
        (
            Params::code(&client).set("client_id", ""),
            "client_id empty",
        ),
        (
            Params::code(&client).set("client_id", "no-such-client"),
            "unknown client_id",
        ),
        (
            Params::code(&client).set("client_id", &spaced),
            "client_id with a trailing space",
        ),
        (
            Params::code(&client).add("client_id", &client.id),
            "client_id twice with the same value",
        ),
        (
            Params::code(&client).add("client_id", "other"),
            "client_id twice with different values",
        ),
        (
            Params::code(&client).add("redirect_uri", CB),
            "redirect_uri twice with the same value",
        ),
        (
            Params::code(&client).add("redirect_uri", "https://evil.test/cb"),
            "redirect_uri twice, the second elsewhere",
        ),
        (
            Params::code(&client)
                .set("redirect_uri", "https://evil.test/cb")
                .set("response_type", "token"),
            "unregistered redirect_uri and another error",
        ),
    ];
    let before = app.snapshot().await;
    let signed_out = app.new_browser();
    for (params, why) in &cases {
        assert_error_page(&signed_out, &params.query(), &format!("signed out, {why}")).await;
    }
    assert_eq!(app.snapshot().await, before, "nothing stored");
    let browser = app.browser();
    browser.login("alice", PASSWORD).await;
    let before_signed_in = app.snapshot().await;
    for (params, why) in &cases {
        assert_error_page(&browser, &params.query(), &format!("signed in, {why}")).await;
    }
    assert_eq!(app.snapshot().await, before_signed_in, "nothing stored");
}

async fn redirect_uris_must_match_a_registered_one_exactly(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let client = register_confidential(&app, &[CB]).await;
    let (browser, _) = signed_in(&app).await;
    let before = app.snapshot().await;
    for (uri, why) in [
        ("https://app.example/cb/", "trailing slash"),
        ("https://APP.example/cb", "upper-case host"),
        ("HTTPS://app.example/cb", "upper-case scheme"),
        ("https://app.example:443/cb", "explicit default port"),
        (
            "https://app.example/%63b",
            "percent-encoded unreserved character",
        ),
        ("https://app.example/x/../cb", "dot segments"),
        ("https://app.example/cb?x=1", "added query"),
        ("https://app.example/cb#f", "fragment"),
        (
            "https://app.example.evil.test/cb",
            "registered host as a prefix",
        ),
        (
            "https://app.example@evil.test/cb",
            "registered host as userinfo",
        ),
        ("https://evil.test\\@app.example/cb", "backslash trick"),
        ("http://app.example/cb", "http instead of https"),
        ("https://app.example/c", "prefix of the path"),
        ("https://app.example/cbx", "longer path"),
        (" https://app.example/cb", "leading space"),
    ] {
        assert_error_page(
            &browser,
            &Params::code(&client).set("redirect_uri", uri).query(),
            &format!("{why}: {uri}"),
        )
        .await;
    }
    assert_eq!(app.snapshot().await, before, "nothing stored");
    // The registered string itself works.
    browser.code(&Params::code(&client)).await;
}

async fn loopback_redirect_uris_may_use_any_port(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let any_port = register_confidential(&app, &["http://127.0.0.1/cb"]).await;
    let with_port = register_confidential(&app, &["http://127.0.0.1:8000/cb"]).await;
    let ipv6 = register_confidential(&app, &["http://[::1]/cb"]).await;
    let localhost = register_confidential(&app, &["http://localhost/cb"]).await;
    let (browser, _) = signed_in(&app).await;

    for (client, uri, why) in [
        (
            &any_port,
            "http://127.0.0.1:51004/cb",
            "a port where none was registered",
        ),
        (&any_port, "http://127.0.0.1/cb", "exactly as registered"),
        (
            &with_port,
            "http://127.0.0.1:9999/cb",
            "another port than registered",
        ),
        (
            &with_port,
            "http://127.0.0.1/cb",
            "no port where one was registered",
        ),
        (
            &with_port,
            "http://127.0.0.1:8000/cb",
            "exactly as registered",
        ),
        (&ipv6, "http://[::1]:61023/cb", "IPv6 loopback with a port"),
        (
            &localhost,
            "http://localhost/cb",
            "localhost exactly as registered",
        ),
    ] {
        let params = Params::code(client).set("redirect_uri", uri);
        let location = browser.code_redirect(&params).await;
        assert!(
            location.as_str().starts_with(&format!("{uri}?")),
            "{why}: the redirect goes to the requested URI with its port: {location}"
        );
        let code = param(&location, "code").unwrap_or_else(|| panic!("{why}: a code"));
        tokens(
            redeem(&app, client, &code, Some(uri), None).await,
            &format!("{why}: the code redeems with the same redirect_uri"),
        )
        .await;
    }

    let before = app.snapshot().await;
    for (client, uri, why) in [
        (&any_port, "http://127.0.0.1:51004/other", "another path"),
        (&any_port, "http://127.0.0.1:51004/cb?x", "an added query"),
        (
            &any_port,
            "http://127.000.000.001:51004/cb",
            "another spelling of the address",
        ),
        (
            &any_port,
            "http://127.0.0.2:8888/cb",
            "another loopback address",
        ),
        (
            &any_port,
            "https://127.0.0.1:8888/cb",
            "https instead of http",
        ),
        (&any_port, "HTTP://127.0.0.1:8888/cb", "upper-case scheme"),
        (
            &any_port,
            "http://localhost:8888/cb",
            "localhost for a registered IP literal",
        ),
        (
            &any_port,
            "http://[::1]:8888/cb",
            "IPv6 for a registered IPv4 address",
        ),
        (
            &ipv6,
            "http://127.0.0.1:8888/cb",
            "IPv4 for a registered IPv6 address",
        ),
        (
            &localhost,
            "http://localhost:8080/cb",
            "localhost gets no port exception",
        ),
    ] {
        assert_error_page(
            &browser,
            &Params::code(client).set("redirect_uri", uri).query(),
            &format!("{why}: {uri}"),
        )
        .await;
    }
    assert_eq!(app.snapshot().await, before, "nothing stored");
}

/// Ports the `url` crate refuses (past 65535) or that no socket listens on
/// (0), in the spellings a requested loopback URI may carry them.
const NOT_A_PORT: [(&str, &str); 6] = [
    ("65536", "one past the last port"),
    ("99999", "five digits past 65535"),
    ("4294967297", "past 2^32, so it wraps to 1 in 32 bits"),
    ("0", "port 0"),
    ("00000", "port 0 with leading zeros"),
    ("70000", "past 65535"),
];

async fn loopback_ports_outside_1_to_65535_get_an_error_page_and_store_nothing(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let ipv4 = register_confidential(&app, &["http://127.0.0.1/cb"]).await;
    let ipv6 = register_confidential(&app, &["http://[::1]:8080/cb"]).await;
    let (browser, _) = signed_in(&app).await;

    // Before the fix the consent page came first, and the approval stored a
    // code and then failed to build the redirect (500). Now the request is
    // refused before the page: no authorization request, no code.
    let before = app.snapshot().await;
    for (port, why) in NOT_A_PORT {
        for (client, uri) in [
            (&ipv4, format!("http://127.0.0.1:{port}/cb")),
            (&ipv6, format!("http://[::1]:{port}/cb")),
        ] {
            assert_error_page(
                &browser,
                &Params::code(client).set("redirect_uri", &uri).query(),
                &format!("{why}: {uri}"),
            )
            .await;
        }
    }
    assert_eq!(app.snapshot().await, before, "nothing stored");

    // With consent remembered, no page stands between the request and the
    // code: this is where the code used to be stored before the redirect
    // failed.
    let ok = "http://127.0.0.1:51004/cb";
    let location = browser
        .code_redirect(&Params::code(&ipv4).set("redirect_uri", ok))
        .await;
    assert!(
        location.as_str().starts_with(&format!("{ok}?")),
        "{location}"
    );
    let before = app.snapshot().await;
    for (port, why) in NOT_A_PORT {
        let uri = format!("http://127.0.0.1:{port}/cb");
        assert_error_page(
            &browser,
            &Params::code(&ipv4).set("redirect_uri", &uri).query(),
            &format!("remembered consent, {why}: {uri}"),
        )
        .await;
    }
    assert_eq!(
        app.snapshot().await,
        before,
        "no code is stored for a redirect that cannot be built"
    );
}

async fn a_registered_query_is_part_of_the_redirect_uri(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let registered = "https://app.example/cb?tenant=a";
    let client = register_confidential(&app, &[registered]).await;
    let (browser, _) = signed_in(&app).await;

    let location = browser.code_redirect(&Params::code(&client)).await;
    assert!(
        location
            .as_str()
            .starts_with("https://app.example/cb?tenant=a&"),
        "the registered query is kept and the answer appended: {location}"
    );
    assert_eq!(param_count(&location, "tenant"), 1);
    assert_eq!(param(&location, "tenant").as_deref(), Some("a"));
    assert!(param(&location, "code").is_some());
    assert_eq!(param(&location, "state").as_deref(), Some(STATE));
    assert_eq!(param(&location, "iss").as_deref(), Some(app.base.as_str()));

    let response = browser
        .authorize(&Params::code(&client).set("response_type", "token"))
        .await;
    assert_error_redirect(
        &app,
        &response,
        registered,
        "unsupported_response_type",
        Some(STATE),
        "an error to a URI with a query",
    );

    let before = app.snapshot().await;
    for (uri, why) in [
        ("https://app.example/cb?tenant=b", "another tenant"),
        ("https://app.example/cb", "the query left out"),
        ("https://app.example/cb?tenant=a&x=1", "a parameter added"),
        (
            "https://app.example/cb?tenant=A",
            "the value's case changed",
        ),
    ] {
        assert_error_page(
            &browser,
            &Params::code(&client).set("redirect_uri", uri).query(),
            why,
        )
        .await;
    }
    assert_eq!(app.snapshot().await, before, "nothing stored");
}

async fn redirect_uri_is_required_when_several_are_registered(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let two = register_confidential(&app, &[CB, CB2]).await;
    let one = register_confidential(&app, &[CB]).await;
    let (browser, _) = signed_in(&app).await;

    let before = app.snapshot().await;
    assert_error_page(
        &browser,
        &Params::code(&two).without("redirect_uri").query(),
        "two registered, none sent",
    )
    .await;
    assert_eq!(app.snapshot().await, before, "nothing stored");

    let location = browser
        .code_redirect(&Params::code(&one).without("redirect_uri"))
        .await;
    assert!(
        location.as_str().starts_with(&format!("{CB}?")),
        "one registered, none sent: goes to the registered one: {location}"
    );
    // Either registered URI may be chosen when sent.
    let location = browser
        .code_redirect(&Params::code(&two).set("redirect_uri", CB2))
        .await;
    assert!(location.as_str().starts_with(&format!("{CB2}?")));
}

async fn out_of_band_is_refused_to_clients_with_redirect_uris(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let client = register_confidential(&app, &[CB]).await;
    let (browser, _) = signed_in(&app).await;
    let before = app.snapshot().await;
    assert_error_page(
        &browser,
        &Params::code(&client).set("redirect_uri", OOB).query(),
        "out of band asked by a client with redirect URIs",
    )
    .await;
    assert_eq!(app.snapshot().await, before, "nothing stored");
}

async fn an_overlong_state_gets_an_error_page_and_a_long_one_round_trips(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let client = register_confidential(&app, &[CB]).await;
    create_user(&app, "alice").await;
    let too_long = "s".repeat(2049);
    let params = Params::code(&client).set("state", &too_long);

    let before = app.snapshot().await;
    assert_error_page(
        &app.new_browser(),
        &params.query(),
        "signed out, 2049-character state",
    )
    .await;
    assert_eq!(app.snapshot().await, before, "nothing stored");

    let browser = app.browser();
    browser.login("alice", PASSWORD).await;
    let before = app.snapshot().await;
    assert_error_page(&browser, &params.query(), "signed in, 2049-character state").await;
    assert_eq!(app.snapshot().await, before, "nothing stored");

    // Outside RFC 6749's VSCHAR: refused, or echoed unchanged; never altered.
    for (raw, why) in [
        ("caf%C3%A9", "non-ASCII state"),
        ("%FF%FE", "state that is not UTF-8"),
    ] {
        let query = format!(
            "{}&state={raw}",
            Params::code(&client)
                .without("state")
                .set("prompt", "consent")
                .query()
        );
        let response = browser.authorize_at("/oauth/authorize", &query).await;
        match response.status() {
            StatusCode::BAD_REQUEST => {
                page(response, StatusCode::BAD_REQUEST, why).await;
            }
            StatusCode::OK => {
                let consent = read_consent(response, why).await;
                let location = browser.approve(&consent).await;
                assert!(
                    location
                        .query()
                        .unwrap_or_default()
                        .contains(&format!("state={raw}")),
                    "{why}: echoed byte for byte: {location}"
                );
            }
            other => panic!("{why}: a 400 page or the consent page, got {other}"),
        }
    }

    for len in [1000, 2048] {
        let state: String = "aZ09-._~".chars().cycle().take(len).collect();
        // Browser::code asserts that state comes back verbatim.
        browser
            .code(&Params::code(&client).set("state", &state))
            .await;
    }
}

async fn a_signed_out_user_is_sent_to_login_before_any_other_check(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let client = register_confidential(&app, &[CB]).await;
    let public = register_public(&app, &[CB]).await;
    create_user(&app, "alice").await;
    let browser = app.browser();
    let cases: Vec<(&str, Params, &str)> = vec![
        ("/oauth/authorize", Params::code(&client), "a valid request"),
        (
            "/oauth/authorize",
            Params::code(&client).set("scope", "does-not-exist"),
            "unknown scope (RFC 9700 §4.11.2: no redirect before sign-in)",
        ),
        (
            "/oauth/authorize",
            Params::code(&client).set("response_type", "token"),
            "unsupported response type",
        ),
        (
            "/oauth/authorize",
            Params::code(&client).without("response_type"),
            "response_type missing",
        ),
        (
            "/oauth/authorize",
            Params::code(&client)
                .add("code_challenge", "short")
                .add("code_challenge_method", "S512"),
            "bad PKCE parameters",
        ),
        (
            "/oauth/authorize",
            Params::code(&public),
            "public client without PKCE",
        ),
        ("/authorize", Params::code(&client), "alias /authorize"),
        (
            "/oauth2/authorize/",
            Params::code(&client),
            "alias /oauth2/authorize/",
        ),
    ];
    let before = app.snapshot().await;
    for (path, params, why) in cases {
        let query = params.query();
        let response = browser.authorize_at(path, &query).await;
        assert!(
            matches!(response.status().as_u16(), 302 | 303),
            "{why}: a redirect to the sign-in page, got {}",
            response.status()
        );
        let target = location_on(&app.base, &response);
        assert_eq!(origin(&target), app.base, "{why}: stays on this server");
        assert_eq!(target.path(), "/login", "{why}: {target}");
        // An alias may be canonicalised to /oauth/authorize: the browser
        // still lands back on the same request.
        let next = param(&target, "next").unwrap_or_default();
        assert!(
            next == format!("{path}?{query}") || next == format!("/oauth/authorize?{query}"),
            "{why}: next is the authorize path and query, got {next:?}"
        );
    }
    assert_eq!(
        app.snapshot().await,
        before,
        "nothing stored before sign-in"
    );
}

async fn signing_in_from_the_login_redirect_lands_back_on_the_request(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let client = register_confidential(&app, &[CB]).await;
    create_user(&app, "alice").await;
    let browser = app.browser();

    let good = browser.authorize(&Params::code(&client)).await;
    let good_login = location_on(&app.base, &good);
    let bad_scope = browser
        .authorize(&Params::code(&client).set("scope", "does-not-exist"))
        .await;
    let bad_login = location_on(&app.base, &bad_scope);

    let form = browser.get(&good_login[url::Position::BeforePath..]).await;
    let html = page(form, StatusCode::OK, "the sign-in page").await;
    let next = param(&good_login, "next").unwrap();
    assert_eq!(hidden(&html, "next").as_deref(), Some(next.as_str()));
    let csrf = hidden(&html, "csrf").unwrap();
    let response = browser
        .post_login(&[
            ("username", "alice"),
            ("password", PASSWORD),
            ("csrf", &csrf),
            ("next", &next),
        ])
        .await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    let back = location_on(&app.base, &response);
    assert_eq!(
        &back[url::Position::BeforePath..],
        next,
        "back to the request"
    );
    let consent = browser.get(&next).await;
    read_consent(consent, "the original request, now signed in").await;

    let next = param(&bad_login, "next").unwrap();
    let response = browser.get(&next).await;
    assert_error_redirect(
        &app,
        &response,
        CB,
        "invalid_scope",
        Some(STATE),
        "the unknown scope is reported only after sign-in",
    );
}

async fn errors_after_sign_in_go_back_to_the_client_with_state_and_iss(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let client = register_confidential(&app, &[CB]).await;
    let narrow = register(
        &app,
        NewClientArgs {
            name: "Narrow".into(),
            redirect_uris: vec![CB.into()],
            scope: Some("account:read".into()),
            ..NewClientArgs::default()
        },
    )
    .await;
    let public = register_public(&app, &[CB]).await;
    let (browser, _) = signed_in(&app).await;
    let s = |len: usize, fill: &str| fill.repeat(len);
    let cases: Vec<(&Client, Params, &str, Option<&str>, String)> = vec![
        (
            &client,
            Params::code(&client).without("response_type"),
            "invalid_request",
            Some(STATE),
            "response_type missing".into(),
        ),
        (
            &client,
            Params::code(&client).set("response_type", "token"),
            "unsupported_response_type",
            Some(STATE),
            "implicit grant".into(),
        ),
        (
            &client,
            Params::code(&client).set("scope", "does-not-exist"),
            "invalid_scope",
            Some(STATE),
            "unknown scope".into(),
        ),
        (
            &client,
            Params::code(&client).set("scope", "account:read does-not-exist"),
            "invalid_scope",
            Some(STATE),
            "one unknown scope among known ones".into(),
        ),
        (
            &narrow,
            Params::code(&narrow).set("scope", "event:write"),
            "invalid_scope",
            Some(STATE),
            "a scope the client did not register".into(),
        ),
        (
            &narrow,
            Params::code(&narrow).set("scope", "account:read event:write"),
            "invalid_scope",
            Some(STATE),
            "a registered and an unregistered scope".into(),
        ),
        (
            &client,
            Params::code(&client)
                .add("scope", "account:read")
                .add("scope", "event:write"),
            "invalid_request",
            Some(STATE),
            "scope twice".into(),
        ),
        (
            &client,
            Params::code(&client).add("state", "second"),
            "invalid_request",
            None,
            "state twice".into(),
        ),
        (
            &client,
            Params::code(&client).add("response_type", "code"),
            "invalid_request",
            Some(STATE),
            "response_type twice".into(),
        ),
        (
            &client,
            Params::pkce(&client).add("code_challenge", CHALLENGE),
            "invalid_request",
            Some(STATE),
            "code_challenge twice".into(),
        ),
        (
            &public,
            Params::code(&public),
            "invalid_request",
            Some(STATE),
            "public client without code_challenge".into(),
        ),
        (
            &public,
            Params::pkce(&public).set("code_challenge_method", "S512"),
            "invalid_request",
            Some(STATE),
            "code_challenge_method=S512".into(),
        ),
        (
            &public,
            Params::code(&public).add("code_challenge", CHALLENGE),
            "invalid_request",
            Some(STATE),
            "code_challenge without a method means plain (RFC 7636 §4.3)".into(),
        ),
        (
            &public,
            Params::pkce(&public).set("code_challenge_method", "plain"),
            "invalid_request",
            Some(STATE),
            "plain PKCE while allow_plain_pkce is false".into(),
        ),
        (
            &public,
            Params::pkce(&public).set("code_challenge", &s(42, "a")),
            "invalid_request",
            Some(STATE),
            "S256 challenge of 42 characters".into(),
        ),
        (
            &public,
            Params::pkce(&public).set("code_challenge", &s(44, "a")),
            "invalid_request",
            Some(STATE),
            "S256 challenge of 44 characters".into(),
        ),
        (
            &public,
            Params::pkce(&public).set("code_challenge", &s(128, "a")),
            "invalid_request",
            Some(STATE),
            "S256 challenge of 128 characters".into(),
        ),
        (
            &public,
            Params::pkce(&public).set("code_challenge", &format!("{}+", s(42, "a"))),
            "invalid_request",
            Some(STATE),
            "S256 challenge with '+'".into(),
        ),
        (
            &public,
            Params::pkce(&public).set("code_challenge", &format!("{}/", s(42, "a"))),
            "invalid_request",
            Some(STATE),
            "S256 challenge with '/'".into(),
        ),
        (
            &public,
            Params::pkce(&public).set("code_challenge", &format!("{}=", s(42, "a"))),
            "invalid_request",
            Some(STATE),
            "S256 challenge with '=' padding".into(),
        ),
    ];
    let before = app.snapshot().await;
    for (client, params, error, state, why) in cases {
        let response = browser.authorize(&params).await;
        assert_error_redirect(&app, &response, client.redirect_uri(), error, state, &why);
    }
    assert_eq!(app.snapshot().await, before, "no error stored anything");
}

async fn unknown_parameters_are_ignored_and_empty_ones_count_as_omitted(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let client = register_confidential(&app, &[CB]).await;
    let (browser, _) = signed_in(&app).await;
    let both = scope_set("account:read event:write");
    let requests = [
        (Params::code(&client).add("extra", "foobar"), "extra=foobar"),
        (
            Params::code(&client).add("scope[0]", "x"),
            "qs-style key scope[0]",
        ),
        (
            Params::code(&client).set("scope", "event:write account:read"),
            "scopes in reverse order",
        ),
        (Params::code(&client).set("scope", ""), "scope= (empty)"),
        (Params::code(&client).set("state", ""), "state= (empty)"),
        (
            Params::code(&client).add("code_challenge", ""),
            "code_challenge= (empty)",
        ),
    ];
    // Every request gets its consent page before any approval is remembered.
    let mut pages = Vec::new();
    for (params, why) in &requests {
        let consent = browser.consent(params).await;
        for scope in &both {
            assert!(
                consent.html.contains(&description(&app, scope)),
                "{why}: the page lists {scope}"
            );
        }
        pages.push(consent);
    }
    for ((params, why), consent) in requests.iter().zip(&pages) {
        let location = browser.approve(consent).await;
        let code = param(&location, "code").unwrap_or_else(|| panic!("{why}: a code"));
        assert_eq!(
            scope_set(&code_row(&app, &code).await.scope),
            both,
            "{why}: the code carries the default scopes"
        );
        let state = params.get("state").filter(|s| !s.is_empty());
        assert_eq!(
            param(&location, "state").as_deref(),
            state,
            "{why}: an empty state is an omitted state"
        );
        assert_eq!(param(&location, "iss").as_deref(), Some(app.base.as_str()));
    }
}

async fn plain_pkce_is_accepted_only_when_configured(backend: Backend) {
    let app = TestApp::spawn_with(backend, |c| c.authorize.allow_plain_pkce = true).await;
    let public = register_public(&app, &[CB]).await;
    let (browser, _) = signed_in(&app).await;
    for params in [
        Params::code(&public).add("code_challenge", VERIFIER),
        Params::code(&public)
            .add("code_challenge", VERIFIER)
            .add("code_challenge_method", "plain"),
    ] {
        let code = browser.code(&params).await;
        assert_eq!(
            code_row(&app, &code).await.code_challenge.as_deref(),
            Some(VERIFIER),
            "the plain challenge is bound to the code"
        );
    }
    let response = browser
        .authorize(&Params::pkce(&public).set("code_challenge_method", "S512"))
        .await;
    assert_error_redirect(
        &app,
        &response,
        CB,
        "invalid_request",
        Some(STATE),
        "unknown methods stay refused",
    );
}

async fn the_request_may_be_sent_as_a_form_post_or_to_an_alias(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let client = register_confidential(&app, &[CB]).await;
    let (browser, _) = signed_in(&app).await;
    let params = Params::code(&client).set("scope", "account:read");

    let posted = browser.authorize_post(&params).await;
    let consent = read_consent(posted, "authorization request sent as a form POST").await;
    for (path, why) in [
        ("/authorize", "alias /authorize"),
        ("/oauth2/authorize/", "alias /oauth2/authorize/"),
    ] {
        let response = browser.authorize_at(path, &params.query()).await;
        read_consent(response, why).await;
    }
    let location = browser.approve(&consent).await;
    assert!(location.as_str().starts_with(&format!("{CB}?")));
    let code = param(&location, "code").unwrap();
    assert_eq!(code_row(&app, &code).await.scope, "account:read");
}

async fn the_consent_page_names_the_client_its_destination_and_each_scope(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let client = register(
        &app,
        NewClientArgs {
            name: "Event Calendar".into(),
            redirect_uris: vec![CB.into()],
            website: Some("https://calendar.example".into()),
            ..NewClientArgs::default()
        },
    )
    .await;
    let (browser, _) = signed_in(&app).await;
    let before = app.snapshot().await;
    let consent = browser
        .consent(&Params::code(&client).set("scope", "account:read event:write"))
        .await;
    let html = &consent.html;
    assert!(html.contains("Event Calendar"), "names the client");
    assert!(
        html.contains("app.example"),
        "names the host the user is sent to"
    );
    assert_eq!(
        description(&app, "account:read"),
        "Read your account: your user name and id"
    );
    for scope in ["account:read", "event:write"] {
        assert!(
            html.contains(&description(&app, scope)),
            "describes {scope}"
        );
    }
    assert!(
        tags(html, "form").iter().any(|f| {
            f.get("method").map(|m| m.to_ascii_lowercase()).as_deref() == Some("post")
                && f.get("action").map(String::as_str) == Some("/oauth/authorize")
        }),
        "a <form method=\"post\" action=\"/oauth/authorize\">"
    );
    let buttons = tags(html, "button");
    for decision in ["approve", "deny"] {
        assert!(
            buttons.iter().any(|b| {
                b.get("name").map(String::as_str) == Some("decision")
                    && b.get("value").map(String::as_str) == Some(decision)
            }),
            "a submit button decision={decision}"
        );
    }
    assert!(!consent.request_id.is_empty() && !consent.csrf.is_empty());
    let after = app.snapshot().await;
    assert_eq!(
        app.count("authorization_requests").await,
        1,
        "one pending request"
    );
    assert_eq!(
        app.count("auth_codes").await,
        0,
        "no code before the decision"
    );
    assert_eq!(after[..3], before[..3], "no user, client or session added");
    assert_eq!(
        scalar(
            &app,
            "select count(*) from authorization_requests where id_hash = $1",
            &[&sha256_hex(&consent.request_id)]
        )
        .await,
        1,
        "the pending request is stored under the digest of request_id"
    );

    let narrow = browser
        .consent(&Params::code(&client).set("scope", "account:read"))
        .await;
    assert!(narrow.html.contains(&description(&app, "account:read")));
    assert!(
        !narrow.html.contains(&description(&app, "event:write")),
        "only the requested scopes are listed"
    );

    // A client's name is text, never markup.
    let sneaky = oauthd::cli::admin::add_client(
        &app.db,
        &app.clock,
        &app.config,
        NewClientArgs {
            name: "<script>alert(1)</script>".into(),
            redirect_uris: vec![CB.into()],
            ..NewClientArgs::default()
        },
    )
    .await;
    if let Ok(sneaky) = sneaky {
        let response = browser
            .authorize(
                &Params::new()
                    .add("response_type", "code")
                    .add("client_id", &sneaky.client.client_id),
            )
            .await;
        let html = page(
            response,
            StatusCode::OK,
            "consent for a client named like markup",
        )
        .await;
        assert!(
            !html.contains("<script>alert(1)"),
            "the client name is escaped"
        );
    }
}

async fn every_page_forbids_framing_and_cross_origin_referrers(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let client = register_confidential(&app, &[CB]).await;
    let oob_client = register_confidential(&app, &[]).await;
    create_user(&app, "alice").await;
    let browser = app.browser();

    let response = browser.get("/login").await;
    assert_page_headers(&response, "login page");
    let csrf = hidden(&response.text().await.unwrap(), "csrf").unwrap();
    let response = browser
        .post_login(&[
            ("username", "alice"),
            ("password", "wrong password!"),
            ("csrf", &csrf),
            ("next", "/"),
        ])
        .await;
    assert_page_headers(&response, "failed sign-in page");
    browser.login("alice", PASSWORD).await;

    let response = browser
        .authorize(&Params::code(&client).set("client_id", "no-such-client"))
        .await;
    assert_page_headers(&response, "authorize error page");
    let response = browser.authorize(&Params::code(&client)).await;
    assert_page_headers(&response, "consent page");
    let response = browser.authorize(&Params::code(&oob_client)).await;
    let consent = read_consent(response, "out-of-band consent").await;
    let response = browser.decision(&consent, "approve").await;
    assert_page_headers(&response, "out-of-band code page");
}

async fn approving_redirects_by_303_with_code_state_and_iss(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let client = register_confidential(&app, &[CB]).await;
    let (browser, alice) = signed_in(&app).await;
    // RFC 6749 Appendix A.5: state is VSCHARs (%x20-7E), every one of which
    // must survive the round trip.
    let state = "st 1/+&=?#%~\"'<>\\";
    let consent = browser
        .consent(&Params::code(&client).set("state", state))
        .await;
    let response = browser.decision(&consent, "approve").await;
    assert_eq!(
        response.status(),
        StatusCode::SEE_OTHER,
        "303 after a POST (RFC 9700 §4.12), never 307"
    );
    let location = absolute_location(&response);
    assert!(
        location.as_str().starts_with(&format!("{CB}?")),
        "to the redirect URI: {location}"
    );
    assert_eq!(
        param(&location, "state").as_deref(),
        Some(state),
        "state verbatim"
    );
    assert_eq!(
        param(&location, "iss").as_deref(),
        Some(app.base.as_str()),
        "iss"
    );
    assert_eq!(param(&location, "error"), None);
    let code = param(&location, "code").expect("a code");
    assert_code_format(&code);

    let row = code_row(&app, &code).await;
    assert_eq!(row.client_id, client.id);
    assert_eq!(row.user_id, alice.id);
    assert_eq!(row.redirect_uri.as_deref(), Some(CB));
    assert_eq!(scope_set(&row.scope), scope_set("account:read event:write"));
    assert_eq!(row.consumed_at, None);
    assert_eq!(row.created_at, app.clock.now());
    assert_eq!(
        row.expires_at - row.created_at,
        i64::try_from(app.config.tokens.code_lifetime.as_secs()).unwrap(),
        "lives tokens.code_lifetime"
    );
    assert_eq!(app.count("auth_codes").await, 1);
    assert_eq!(app.count("tokens").await, 0);
    assert_eq!(
        scalar(
            &app,
            "select count(*) from auth_codes where code_hash = $1",
            &[&code]
        )
        .await,
        0,
        "the raw code is not the key"
    );
}

async fn denying_redirects_by_303_with_access_denied(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let client = register_confidential(&app, &[CB]).await;
    let (browser, _) = signed_in(&app).await;
    let consent = browser.consent(&Params::code(&client)).await;
    let response = browser.decision(&consent, "deny").await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER, "303, never 307");
    assert_error_redirect(&app, &response, CB, "access_denied", Some(STATE), "deny");
    assert_eq!(app.count("auth_codes").await, 0, "no code");
    assert_eq!(app.count("tokens").await, 0);
    // Denying is not remembered as consent.
    read_consent(
        browser.authorize(&Params::code(&client)).await,
        "asked again after a denial",
    )
    .await;
}

/// Asserts a refused decision: 403 (or 400) page, no redirect.
async fn assert_refused_decision(response: reqwest::Response, why: &str) {
    let status = response.status();
    assert!(
        status == StatusCode::FORBIDDEN || status == StatusCode::BAD_REQUEST,
        "{why}: 403 (or 400), got {status}"
    );
    assert_eq!(
        header(&response, "location"),
        None,
        "{why}: never a redirect"
    );
    page(response, status, why).await;
}

async fn decisions_without_the_right_csrf_or_request_are_refused(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let client = register_confidential(&app, &[CB]).await;
    let (alice, _) = signed_in(&app).await;
    create_user(&app, "bob").await;
    let bob = app.new_browser();
    bob.login("bob", PASSWORD).await;

    let mine = alice.consent(&Params::code(&client)).await;
    let theirs = bob.consent(&Params::code(&client)).await;
    let cases: Vec<(&Browser, Form<'_>, &str)> = vec![
        (
            &alice,
            vec![("request_id", &mine.request_id), ("decision", "approve")],
            "csrf missing",
        ),
        (
            &alice,
            vec![
                ("request_id", &mine.request_id),
                ("csrf", "wrong"),
                ("decision", "approve"),
            ],
            "wrong csrf",
        ),
        (
            &alice,
            vec![
                ("request_id", &mine.request_id),
                ("csrf", &theirs.csrf),
                ("decision", "approve"),
            ],
            "another session's csrf",
        ),
        (
            &alice,
            vec![
                ("request_id", &mine.request_id),
                ("csrf", "wrong"),
                ("decision", "deny"),
            ],
            "a denial with a wrong csrf does not redirect either",
        ),
        (
            &bob,
            vec![
                ("request_id", &mine.request_id),
                ("csrf", &theirs.csrf),
                ("decision", "approve"),
            ],
            "a request_id from another session",
        ),
        (
            &alice,
            vec![
                ("request_id", "no-such-request"),
                ("csrf", &mine.csrf),
                ("decision", "approve"),
            ],
            "unknown request_id",
        ),
        (
            &alice,
            vec![("csrf", &mine.csrf), ("decision", "approve")],
            "request_id missing",
        ),
    ];
    for (browser, form, why) in cases {
        assert_refused_decision(browser.decide(&form).await, why).await;
        assert_eq!(app.count("auth_codes").await, 0, "{why}: no code stored");
    }

    // Decided once: a second decision is refused.
    let once = alice
        .consent(&Params::code(&client).set("prompt", "consent"))
        .await;
    alice.approve(&once).await;
    assert_refused_decision(alice.decision(&once, "approve").await, "approved twice").await;
    assert_refused_decision(alice.decision(&once, "deny").await, "denied after approval").await;
    assert_eq!(
        app.count("auth_codes").await,
        1,
        "one code for one approval"
    );

    // Pending longer than authorize.request_lifetime.
    let late = alice
        .consent(&Params::code(&client).set("prompt", "consent"))
        .await;
    let lifetime = i64::try_from(app.config.authorize.request_lifetime.as_secs()).unwrap();
    app.clock.advance(lifetime + 1);
    assert_refused_decision(
        alice.decision(&late, "approve").await,
        "decided after the request expired",
    )
    .await;
    assert_eq!(
        app.count("auth_codes").await,
        1,
        "no code for the expired request"
    );
}

async fn decisions_ignore_smuggled_request_fields(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let client = register_confidential(&app, &[CB, CB2]).await;
    let other = register_confidential(&app, &["https://evil.test/cb"]).await;
    let (browser, alice) = signed_in(&app).await;
    let consent = browser
        .consent(&Params::code(&client).set("scope", "account:read"))
        .await;
    let response = browser
        .decide(&[
            ("request_id", &consent.request_id),
            ("csrf", &consent.csrf),
            ("decision", "approve"),
            ("scope", "account:read event:write"),
            ("client_id", &other.id),
            ("redirect_uri", "https://evil.test/cb"),
            ("state", "smuggled"),
            ("code_challenge", CHALLENGE),
        ])
        .await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    let location = absolute_location(&response);
    assert!(
        location.as_str().starts_with(&format!("{CB}?")),
        "goes where the validated request said: {location}"
    );
    assert_eq!(param(&location, "state").as_deref(), Some(STATE));
    let row = code_row(&app, &param(&location, "code").unwrap()).await;
    assert_eq!(row.client_id, client.id);
    assert_eq!(row.user_id, alice.id);
    assert_eq!(row.redirect_uri.as_deref(), Some(CB));
    assert_eq!(row.scope, "account:read");
    assert_eq!(row.code_challenge, None);
}

async fn remembered_consent_skips_the_page_for_confidential_clients_only(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let client = register_confidential(&app, &[CB]).await;
    let narrow_grant = register_confidential(&app, &[CB]).await;
    let public = register_public(&app, &[CB]).await;
    let (browser, _) = signed_in(&app).await;

    let first = browser
        .consent(&Params::code(&client).set("scope", "account:read event:write"))
        .await;
    browser.approve(&first).await;
    assert_eq!(app.count("consents").await, 1, "the approval is remembered");

    for (scope, why) in [
        ("account:read", "a subset"),
        (
            "event:write account:read",
            "the same scopes in another order",
        ),
        ("", "the default scopes"),
    ] {
        let params = Params::code(&client)
            .set("scope", scope)
            .set("state", "again");
        let response = browser.authorize(&params).await;
        assert!(
            matches!(response.status().as_u16(), 302 | 303),
            "{why}: no page, straight back with a code; got {}",
            response.status()
        );
        let location = absolute_location(&response);
        assert!(location.as_str().starts_with(&format!("{CB}?")), "{why}");
        let code = param(&location, "code").unwrap_or_else(|| panic!("{why}: a code"));
        assert_code_format(&code);
        assert_eq!(param(&location, "state").as_deref(), Some("again"), "{why}");
        assert_eq!(
            param(&location, "iss").as_deref(),
            Some(app.base.as_str()),
            "{why}"
        );
    }

    read_consent(
        browser
            .authorize(&Params::code(&client).set("prompt", "consent"))
            .await,
        "prompt=consent forces the page",
    )
    .await;

    let narrow = browser
        .consent(&Params::code(&narrow_grant).set("scope", "account:read"))
        .await;
    browser.approve(&narrow).await;
    read_consent(
        browser
            .authorize(&Params::code(&narrow_grant).set("scope", "account:read event:write"))
            .await,
        "more than was approved asks again",
    )
    .await;

    create_user(&app, "bob").await;
    let bob = app.new_browser();
    bob.login("bob", PASSWORD).await;
    read_consent(
        bob.authorize(&Params::code(&client).set("scope", "account:read"))
            .await,
        "another user's approval does not count",
    )
    .await;

    let public_first = browser.consent(&Params::pkce(&public)).await;
    browser.approve(&public_first).await;
    read_consent(
        browser.authorize(&Params::pkce(&public)).await,
        "a public client always gets the page",
    )
    .await;
}

async fn out_of_band_clients_are_shown_the_code(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let client = register_confidential(&app, &[]).await;
    let (browser, _) = signed_in(&app).await;

    // No redirect_uri at all.
    let consent = browser.consent(&Params::code(&client)).await;
    let response = browser.decision(&consent, "approve").await;
    let html = page(response, StatusCode::OK, "the out-of-band code page").await;
    let code = oob_code(&html).expect("the code in <code id=\"code\">");
    assert_code_format(&code);
    tokens(
        redeem(&app, &client, &code, None, None).await,
        "an out-of-band code redeems without redirect_uri",
    )
    .await;

    // redirect_uri=urn:ietf:wg:oauth:2.0:oob, which must then be repeated.
    let mut codes = Vec::new();
    for _ in 0..2 {
        let consent = browser
            .consent(
                &Params::code(&client)
                    .set("redirect_uri", OOB)
                    .set("prompt", "consent"),
            )
            .await;
        let response = browser.decision(&consent, "approve").await;
        let html = page(response, StatusCode::OK, "the out-of-band code page").await;
        codes.push(oob_code(&html).expect("a code"));
    }
    let body: serde_json::Value = redeem(&app, &client, &codes[0], None, None)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(
        body["error"], "invalid_grant",
        "redirect_uri was sent, so it must be repeated"
    );
    tokens(
        redeem(&app, &client, &codes[1], Some(OOB), None).await,
        "redeemed with the same oob redirect_uri",
    )
    .await;
}
