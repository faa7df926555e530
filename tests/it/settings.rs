//! The user's pages: personal access tokens, authorized apps, developer apps,
//! password, sign-up, the landing page and the first-run admin.

use reqwest::StatusCode;
use serde_json::Value;

use crate::both_backends;
use crate::support::flow::{
    self, Browser, PASSWORD, Params, account, hidden, register_confidential, signed_in, tokens_for,
    unescape,
};
use crate::support::{Backend, TestApp};

both_backends!(
    settings_pages_send_signed_out_users_to_sign_in,
    personal_tokens_are_shown_once_work_and_can_be_revoked,
    personal_token_forms_refuse_bad_input_and_missing_csrf,
    authorized_apps_are_listed_and_revoking_one_kills_its_tokens,
    authorized_apps_show_the_resources_each_was_granted,
    developers_register_edit_rotate_and_delete_their_apps,
    apps_are_private_to_their_owner_and_admins_see_api_clients,
    changing_the_password_checks_the_old_one_and_ends_other_sessions,
    users_edit_their_profile_and_a_changed_address_is_unverified,
    sign_up_is_off_by_default_and_works_when_enabled,
    the_landing_page_tells_developers_where_things_are,
);

/// GET a page in `browser` and return (status, body).
async fn get(browser: &Browser, path: &str) -> (StatusCode, String) {
    let response = browser.get(path).await;
    (response.status(), response.text().await.unwrap())
}

/// POSTs a form in `browser`.
async fn post(browser: &Browser, path: &str, form: &[(&str, &str)]) -> reqwest::Response {
    browser
        .http
        .post(browser.url(path))
        .form(form)
        .send()
        .await
        .unwrap()
}

/// The text of `<code id="{id}">`.
fn code_by_id(html: &str, id: &str) -> Option<String> {
    let marker = format!("<code id=\"{id}\">");
    let start = html.find(&marker)? + marker.len();
    Some(html[start..].split('<').next()?.to_owned())
}

/// The CSRF token on a page.
async fn csrf(browser: &Browser, path: &str) -> String {
    let (status, html) = get(browser, path).await;
    assert_eq!(status, StatusCode::OK, "{path}");
    hidden(&html, "csrf").unwrap_or_else(|| panic!("csrf on {path}"))
}

async fn settings_pages_send_signed_out_users_to_sign_in(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let browser = app.browser();
    for path in [
        "/settings/tokens",
        "/settings/authorizations",
        "/settings/developers",
        "/settings/password",
        "/settings/profile",
    ] {
        let response = browser.get(path).await;
        assert_eq!(response.status(), StatusCode::SEE_OTHER, "{path}");
        let location = flow::header(&response, "location").unwrap();
        assert!(location.starts_with("/login?next="), "{path}: {location}");
        if path != "/settings/authorizations" {
            let response = post(&browser, path, &[("csrf", "x")]).await;
            assert_eq!(response.status(), StatusCode::SEE_OTHER, "POST {path}");
        }
    }
    assert_eq!(app.count("tokens").await, 0);
    assert_eq!(app.count("clients").await, 0);
}

async fn personal_tokens_are_shown_once_work_and_can_be_revoked(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let (browser, alice) = signed_in(&app).await;
    let token_csrf = csrf(&browser, "/settings/tokens").await;
    let response = post(
        &browser,
        "/settings/tokens",
        &[
            ("csrf", &token_csrf),
            ("label", "backup script"),
            ("scope", "account:read"),
            ("scope", "event:write"),
            ("expires_in", "7"),
        ],
    )
    .await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(
        flow::header(&response, "cache-control").as_deref(),
        Some("no-store")
    );
    let html = response.text().await.unwrap();
    let token = code_by_id(&html, "new-token").expect("the new token is shown");
    assert!(token.starts_with("opt_"));
    assert!(html.contains("backup script"));

    let me = account(&app, &token).await;
    assert_eq!(me.status(), StatusCode::OK);
    let me: Value = me.json().await.unwrap();
    assert_eq!(me["id"], alice.id.as_str());

    let (_, again) = get(&browser, "/settings/tokens").await;
    assert!(!again.contains(&token), "shown only once");
    let listed = oauthd::oauth::personal::list(&app.db, &alice)
        .await
        .unwrap();
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0].expires_at, Some(app.clock.now() + 7 * 86_400));
    let id = listed[0].public_id.clone();
    assert!(again.contains(&format!("data-token-id=\"{id}\"")));

    let (status, confirm) = get(&browser, &format!("/settings/tokens/{id}/revoke")).await;
    assert_eq!(status, StatusCode::OK);
    assert!(confirm.contains("id=\"confirm\""));
    assert_eq!(
        account(&app, &token).await.status(),
        StatusCode::OK,
        "GET never revokes"
    );
    let confirm_csrf = hidden(&confirm, "csrf").unwrap();
    let response = post(
        &browser,
        &format!("/settings/tokens/{id}/revoke"),
        &[("csrf", &confirm_csrf)],
    )
    .await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    assert_eq!(
        account(&app, &token).await.status(),
        StatusCode::UNAUTHORIZED
    );
}

async fn personal_token_forms_refuse_bad_input_and_missing_csrf(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let (browser, _) = signed_in(&app).await;
    let good = csrf(&browser, "/settings/tokens").await;
    for (why, form, status) in [
        (
            "no csrf",
            vec![("label", "x"), ("scope", "account:read")],
            StatusCode::FORBIDDEN,
        ),
        (
            "wrong csrf",
            vec![("csrf", "0000"), ("label", "x"), ("scope", "account:read")],
            StatusCode::FORBIDDEN,
        ),
        (
            "no label",
            vec![("csrf", good.as_str()), ("scope", "account:read")],
            StatusCode::BAD_REQUEST,
        ),
        (
            "no scope",
            vec![("csrf", good.as_str()), ("label", "x")],
            StatusCode::BAD_REQUEST,
        ),
        (
            "unknown scope",
            vec![("csrf", good.as_str()), ("label", "x"), ("scope", "root")],
            StatusCode::BAD_REQUEST,
        ),
    ] {
        let response = post(&browser, "/settings/tokens", &form).await;
        assert_eq!(response.status(), status, "{why}");
    }
    assert_eq!(app.count("tokens").await, 0, "nothing was created");
    // Another user's token cannot be revoked from here.
    let bob = flow::create_user(&app, "bob").await;
    let bobs = oauthd::oauth::personal::create(
        &app.db,
        &app.clock,
        &app.config,
        &bob,
        "account:read",
        None,
        None,
    )
    .await
    .unwrap();
    let response = post(
        &browser,
        &format!("/settings/tokens/{}/revoke", bobs.public_id),
        &[("csrf", &good)],
    )
    .await;
    assert_eq!(response.status(), StatusCode::NOT_FOUND);
    assert_eq!(
        account(&app, bobs.token.expose()).await.status(),
        StatusCode::OK
    );
}

async fn authorized_apps_are_listed_and_revoking_one_kills_its_tokens(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let (browser, _) = signed_in(&app).await;
    let client = register_confidential(&app, &[flow::CB]).await;
    let got = tokens_for(&app, &browser, &client, &Params::code(&client), None).await;
    let (status, html) = get(&browser, "/settings/authorizations").await;
    assert_eq!(status, StatusCode::OK);
    assert!(html.contains(&format!("data-client-id=\"{}\"", client.id)));
    assert!(html.contains(&client.name));
    assert!(html.contains("account:read event:write"));

    let path = format!("/settings/authorizations/{}/revoke", client.id);
    let (_, confirm) = get(&browser, &path).await;
    let response = post(
        &browser,
        &path,
        &[("csrf", &hidden(&confirm, "csrf").unwrap())],
    )
    .await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    assert_eq!(
        account(&app, &got.access).await.status(),
        StatusCode::UNAUTHORIZED
    );
    let refresh = flow::token(
        &app,
        &client.auth(),
        &[
            ("grant_type", "refresh_token"),
            ("refresh_token", got.refresh.as_deref().unwrap()),
        ],
    )
    .await;
    assert_eq!(
        refresh.status(),
        StatusCode::BAD_REQUEST,
        "the refresh token died too"
    );
    let (_, html) = get(&browser, "/settings/authorizations").await;
    assert!(!html.contains(&format!("data-client-id=\"{}\"", client.id)));
    // The consent is forgotten: the next request asks again.
    let response = browser.authorize(&Params::code(&client)).await;
    assert_eq!(response.status(), StatusCode::OK, "the consent page again");
}

/// The table row of `client_id` on the authorized-apps page, unescaped.
fn app_row(html: &str, client_id: &str) -> String {
    let html = unescape(html);
    let start = html
        .find(&format!("data-client-id=\"{client_id}\""))
        .unwrap_or_else(|| panic!("a row for {client_id}:\n{html}"));
    let row = &html[start..];
    row[..row.find("</tr>").unwrap()].to_owned()
}

async fn authorized_apps_show_the_resources_each_was_granted(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let (browser, _) = signed_in(&app).await;
    // One registered resource (shown by its name), one not (shown by URI).
    oauthd::cli::admin::add_resource(
        &app.db,
        &app.clock,
        "https://mcp.example/mcp",
        "Example MCP server",
        None,
    )
    .await
    .unwrap();
    let with = register_confidential(&app, &[flow::CB]).await;
    let params = Params::code(&with)
        .add("resource", "https://mcp.example/mcp")
        .add("resource", "https://api.example/v1");
    tokens_for(&app, &browser, &with, &params, None).await;
    let without = register_confidential(&app, &[flow::CB]).await;
    tokens_for(&app, &browser, &without, &Params::code(&without), None).await;

    let (status, html) = get(&browser, "/settings/authorizations").await;
    assert_eq!(status, StatusCode::OK);
    assert!(unescape(&html).contains("<th>Resources</th>"), "{html}");
    let row = app_row(&html, &with.id);
    assert!(
        row.contains("<li>Example MCP server</li>"),
        "the registered resource by name: {row}"
    );
    assert!(
        row.contains("<li>https://api.example/v1</li>"),
        "the unregistered resource by URI: {row}"
    );
    assert!(!row.contains("none named"), "{row}");
    let row = app_row(&html, &without.id);
    assert!(
        row.contains("none named"),
        "an app granted no resource says so: {row}"
    );
    assert!(!row.contains("<li>"), "{row}");
}

async fn developers_register_edit_rotate_and_delete_their_apps(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let (browser, alice) = signed_in(&app).await;
    let form_csrf = csrf(&browser, "/settings/developers").await;
    for (uri, why) in [
        ("javascript:alert(1)", "a javascript: URI"),
        ("http://127.0.0.1:65536/cb", "a loopback port past 65535"),
        ("http://127.0.0.1:0/cb", "loopback port 0"),
        ("http://[::1]:99999/cb", "an IPv6 loopback port past 65535"),
    ] {
        for client_type in ["confidential", "public"] {
            let bad = post(
                &browser,
                "/settings/developers",
                &[
                    ("csrf", &form_csrf),
                    ("name", "Bad"),
                    ("redirect_uris", uri),
                    ("client_type", client_type),
                ],
            )
            .await;
            assert_eq!(bad.status(), StatusCode::BAD_REQUEST, "{why}");
            assert!(
                bad.text().await.unwrap().contains("redirect URI"),
                "{why}: the error is shown next to the form"
            );
        }
    }
    assert_eq!(app.count("clients").await, 0);

    let response = post(
        &browser,
        "/settings/developers",
        &[
            ("csrf", &form_csrf),
            ("name", "Calendar"),
            ("website", "https://cal.example"),
            (
                "redirect_uris",
                "https://cal.example/cb\r\nhttp://127.0.0.1/cb",
            ),
            ("client_type", "confidential"),
        ],
    )
    .await;
    assert_eq!(response.status(), StatusCode::OK);
    let html = response.text().await.unwrap();
    let client_id = code_by_id(&html, "client-id").unwrap();
    let secret = code_by_id(&html, "client-secret").unwrap();
    let stored = oauthd::store::clients::find(&app.db, &client_id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(stored.owner_id.as_deref(), Some(alice.id.as_str()));
    assert_eq!(stored.redirect_uris.len(), 2);
    assert_eq!(
        stored.secret_hash.as_deref(),
        Some(oauthd::crypto::sha256_hex(&secret).as_str())
    );
    let page = format!("/settings/developers/{client_id}");
    let (_, app_html) = get(&browser, &page).await;
    assert!(!app_html.contains(&secret), "the secret is shown only once");

    let app_csrf = hidden(&app_html, "csrf").unwrap();
    let edited = post(
        &browser,
        &page,
        &[
            ("csrf", &app_csrf),
            ("name", "Calendar 2"),
            ("website", ""),
            ("redirect_uris", "https://cal.example/new"),
            (
                "post_logout_redirect_uris",
                "https://cal.example/bye\r\nhttps://cal.example/bye2",
            ),
        ],
    )
    .await;
    assert_eq!(edited.status(), StatusCode::OK);
    let edited_html = edited.text().await.unwrap();
    assert!(
        edited_html.contains("https://cal.example/bye2</textarea>"),
        "the page shows the post-logout redirect URIs"
    );
    let stored = oauthd::store::clients::find(&app.db, &client_id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(stored.name, "Calendar 2");
    assert_eq!(stored.website, None);
    assert_eq!(
        stored
            .redirect_uris
            .iter()
            .map(|u| u.as_str())
            .collect::<Vec<_>>(),
        ["https://cal.example/new"]
    );
    assert_eq!(
        stored
            .post_logout_redirect_uris
            .iter()
            .map(|u| u.as_str())
            .collect::<Vec<_>>(),
        ["https://cal.example/bye", "https://cal.example/bye2"]
    );
    // A post-logout redirect URI under the redirect-URI rules: refused,
    // nothing changed.
    let refused = post(
        &browser,
        &page,
        &[
            ("csrf", &app_csrf),
            ("name", "Calendar 3"),
            ("redirect_uris", "https://cal.example/new"),
            ("post_logout_redirect_uris", "http://evil.example/bye"),
        ],
    )
    .await;
    assert_eq!(refused.status(), StatusCode::BAD_REQUEST);
    let unchanged = oauthd::store::clients::find(&app.db, &client_id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(unchanged.name, "Calendar 2");
    assert_eq!(unchanged.post_logout_redirect_uris.len(), 2);
    let refused = post(
        &browser,
        &page,
        &[
            ("csrf", &app_csrf),
            ("name", "x"),
            ("redirect_uris", "http://evil.example/cb"),
        ],
    )
    .await;
    assert_eq!(refused.status(), StatusCode::BAD_REQUEST);
    assert_eq!(
        oauthd::store::clients::find(&app.db, &client_id)
            .await
            .unwrap()
            .unwrap()
            .name,
        "Calendar 2",
        "a refused edit changes nothing"
    );

    let rotated = post(&browser, &format!("{page}/secret"), &[("csrf", &app_csrf)]).await;
    let new_secret = code_by_id(&rotated.text().await.unwrap(), "client-secret").unwrap();
    assert_ne!(new_secret, secret);
    let with = |s: &str| flow::Auth::Basic(client_id.clone(), s.to_owned());
    let old_try = flow::token(
        &app,
        &with(&secret),
        &[("grant_type", "authorization_code"), ("code", "oac_x")],
    )
    .await;
    assert_eq!(
        old_try.status(),
        StatusCode::UNAUTHORIZED,
        "the old secret stopped working"
    );
    let new_try = flow::token(
        &app,
        &with(&new_secret),
        &[("grant_type", "authorization_code"), ("code", "oac_x")],
    )
    .await;
    assert_eq!(
        new_try.status(),
        StatusCode::BAD_REQUEST,
        "the new secret authenticates"
    );

    let (_, confirm) = get(&browser, &format!("{page}/delete")).await;
    assert!(confirm.contains("id=\"confirm\""));
    let deleted = post(
        &browser,
        &format!("{page}/delete"),
        &[("csrf", &hidden(&confirm, "csrf").unwrap())],
    )
    .await;
    assert_eq!(deleted.status(), StatusCode::SEE_OTHER);
    assert!(
        oauthd::store::clients::find(&app.db, &client_id)
            .await
            .unwrap()
            .is_none()
    );

    let public = post(
        &browser,
        "/settings/developers",
        &[
            ("csrf", &form_csrf),
            ("name", "CLI tool"),
            ("redirect_uris", "http://127.0.0.1/cb"),
            ("client_type", "public"),
        ],
    )
    .await;
    let html = public.text().await.unwrap();
    assert!(code_by_id(&html, "client-id").is_some());
    assert!(
        code_by_id(&html, "client-secret").is_none(),
        "public apps have no secret"
    );
}

async fn apps_are_private_to_their_owner_and_admins_see_api_clients(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let checker = oauthd::oauth::session::PasswordChecker::new(1);
    let admin_password = oauthd::oauth::account::first_run_admin(&app.db, &app.clock, &checker)
        .await
        .unwrap()
        .expect("an empty database gets an admin");
    assert!(
        oauthd::oauth::account::first_run_admin(&app.db, &app.clock, &checker)
            .await
            .unwrap()
            .is_none(),
        "only once"
    );
    let api_client = register_confidential(&app, &[flow::CB]).await;
    let (alice_browser, _) = signed_in(&app).await;
    let form_csrf = csrf(&alice_browser, "/settings/developers").await;
    let created = post(
        &alice_browser,
        "/settings/developers",
        &[
            ("csrf", &form_csrf),
            ("name", "Alice App"),
            ("client_type", "confidential"),
        ],
    )
    .await;
    let alice_app = code_by_id(&created.text().await.unwrap(), "client-id").unwrap();
    let (_, alice_list) = get(&alice_browser, "/settings/developers").await;
    assert!(alice_list.contains(&alice_app));
    assert!(
        !alice_list.contains(&api_client.id),
        "API clients are for admins"
    );
    let (status, _) = get(
        &alice_browser,
        &format!("/settings/developers/{}", api_client.id),
    )
    .await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    let admin = app.new_browser();
    admin.login("admin", &admin_password).await;
    let (_, admin_list) = get(&admin, "/settings/developers").await;
    assert!(admin_list.contains(&api_client.id));
    assert!(
        !admin_list.contains(&alice_app),
        "other users' apps stay theirs"
    );
    let (status, _) = get(&admin, &format!("/settings/developers/{alice_app}")).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

async fn changing_the_password_checks_the_old_one_and_ends_other_sessions(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let (browser, _) = signed_in(&app).await;
    let other = app.new_browser();
    other.login("alice", PASSWORD).await;
    let client = register_confidential(&app, &[flow::CB]).await;
    assert!(flow::is_signed_in(&other, &client).await);

    let token = csrf(&browser, "/settings/password").await;
    for (why, current, new, confirm) in [
        (
            "wrong current password",
            "nope nope nope",
            "a brand new pass",
            "a brand new pass",
        ),
        ("mismatch", PASSWORD, "a brand new pass", "another new pass"),
        ("too short", PASSWORD, "short", "short"),
    ] {
        let response = post(
            &browser,
            "/settings/password",
            &[
                ("csrf", &token),
                ("current", current),
                ("new", new),
                ("confirm", confirm),
            ],
        )
        .await;
        assert_eq!(response.status(), StatusCode::BAD_REQUEST, "{why}");
    }
    assert!(
        flow::is_signed_in(&other, &client).await,
        "refusals change nothing"
    );
    let response = post(
        &browser,
        "/settings/password",
        &[
            ("csrf", &token),
            ("current", PASSWORD),
            ("new", "a brand new pass"),
            ("confirm", "a brand new pass"),
        ],
    )
    .await;
    assert_eq!(response.status(), StatusCode::OK);
    assert!(
        flow::is_signed_in(&browser, &client).await,
        "this session stays"
    );
    assert!(
        !flow::is_signed_in(&other, &client).await,
        "other sessions end"
    );
    let fresh = app.new_browser();
    let (login_csrf, _) = fresh.login_page(None).await;
    let old = fresh
        .post_login(&[
            ("username", "alice"),
            ("password", PASSWORD),
            ("csrf", &login_csrf),
        ])
        .await;
    assert_eq!(
        old.status(),
        StatusCode::UNAUTHORIZED,
        "the old password is dead"
    );
    fresh.login("alice", "a brand new pass").await;
}

async fn sign_up_is_off_by_default_and_works_when_enabled(backend: Backend) {
    let closed = TestApp::spawn(backend).await;
    let (status, _) = get(&closed.browser(), "/signup").await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    let app = TestApp::spawn_with(backend, |c| c.accounts.signup = true).await;
    let browser = app.browser();
    let (status, html) = get(&browser, "/signup").await;
    assert_eq!(status, StatusCode::OK);
    let token = hidden(&html, "csrf").unwrap();
    let response = post(
        &browser,
        "/signup",
        &[
            ("csrf", &token),
            ("username", "Carol"),
            ("password", "carols password"),
            ("confirm", "carols password"),
        ],
    )
    .await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    let (status, home) = get(&browser, "/").await;
    assert_eq!(status, StatusCode::OK);
    assert!(home.contains("Signed in as carol"));

    let again = app.new_browser();
    let (_, html) = get(&again, "/signup").await;
    let token = hidden(&html, "csrf").unwrap();
    let taken = post(
        &again,
        "/signup",
        &[
            ("csrf", &token),
            ("username", "carol"),
            ("password", "another password"),
            ("confirm", "another password"),
        ],
    )
    .await;
    assert_eq!(taken.status(), StatusCode::BAD_REQUEST);
    assert_eq!(app.count("users").await, 1);
}

async fn the_landing_page_tells_developers_where_things_are(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let (status, html) = get(&app.browser(), "/").await;
    assert_eq!(status, StatusCode::OK);
    assert!(html.contains(&format!(
        "{}/.well-known/oauth-authorization-server",
        app.base
    )));
    assert!(html.contains("href=\"/login\""));
}

/// The stored (name, email, email_verified) of a user.
async fn stored_profile(app: &TestApp, username: &str) -> (Option<String>, Option<String>, bool) {
    let user = oauthd::store::users::find_by_username(&app.db, username)
        .await
        .unwrap()
        .unwrap();
    (user.name, user.email, user.email_verified)
}

async fn users_edit_their_profile_and_a_changed_address_is_unverified(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let (browser, user) = signed_in(&app).await;
    let (status, html) = get(&browser, "/settings/profile").await;
    assert_eq!(status, StatusCode::OK);
    assert!(html.contains("id=\"profile\""), "{html}");
    let good = hidden(&html, "csrf").unwrap();

    // Refusals change nothing.
    for (why, form, status) in [
        (
            "no csrf",
            vec![("name", "Alice"), ("email", "alice@example.com")],
            StatusCode::FORBIDDEN,
        ),
        (
            "not an address",
            vec![
                ("csrf", good.as_str()),
                ("name", "Alice"),
                ("email", "alice"),
            ],
            StatusCode::BAD_REQUEST,
        ),
        (
            "a control character in the name",
            vec![
                ("csrf", good.as_str()),
                ("name", "Al\u{7}ice"),
                ("email", ""),
            ],
            StatusCode::BAD_REQUEST,
        ),
    ] {
        let response = post(&browser, "/settings/profile", &form).await;
        assert_eq!(response.status(), status, "{why}");
        assert_eq!(
            stored_profile(&app, &user.username).await,
            (None, None, false),
            "{why}: nothing stored"
        );
    }

    let response = post(
        &browser,
        "/settings/profile",
        &[
            ("csrf", &good),
            ("name", " Alice Liddell "),
            ("email", "alice@example.com"),
        ],
    )
    .await;
    assert_eq!(response.status(), StatusCode::OK);
    let html = response.text().await.unwrap();
    assert!(html.contains("Profile saved."), "{html}");
    assert!(html.contains("id=\"email-unverified\""), "{html}");
    assert_eq!(
        stored_profile(&app, &user.username).await,
        (
            Some("Alice Liddell".to_owned()),
            Some("alice@example.com".to_owned()),
            false
        )
    );

    // The operator vouches for the address; saving it unchanged keeps that,
    // changing it does not.
    oauthd::cli::admin::set_user_profile(
        &app.db,
        &app.clock,
        &user.username,
        &oauthd::cli::admin::ProfileChange {
            email_verified: Some(true),
            ..Default::default()
        },
    )
    .await
    .unwrap();
    let (_, html) = get(&browser, "/settings/profile").await;
    assert!(html.contains("id=\"email-verified\""), "{html}");
    let same = [
        ("csrf", good.as_str()),
        ("name", "Alice"),
        ("email", "alice@example.com"),
    ];
    assert_eq!(
        post(&browser, "/settings/profile", &same).await.status(),
        StatusCode::OK
    );
    assert!(
        stored_profile(&app, &user.username).await.2,
        "same address: still verified"
    );
    let other = [
        ("csrf", good.as_str()),
        ("name", "Alice"),
        ("email", "alice@elsewhere.example"),
    ];
    assert_eq!(
        post(&browser, "/settings/profile", &other).await.status(),
        StatusCode::OK
    );
    assert_eq!(
        stored_profile(&app, &user.username).await,
        (
            Some("Alice".to_owned()),
            Some("alice@elsewhere.example".to_owned()),
            false
        ),
        "a changed address is no longer verified"
    );

    // Blank fields remove both.
    let blank = [("csrf", good.as_str()), ("name", ""), ("email", "  ")];
    assert_eq!(
        post(&browser, "/settings/profile", &blank).await.status(),
        StatusCode::OK
    );
    assert_eq!(
        stored_profile(&app, &user.username).await,
        (None, None, false)
    );
}
