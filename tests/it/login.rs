//! Sign-in, sessions and sign-out: the login form and its CSRF cookie, where
//! a successful sign-in may send the browser, the one generic failure, session
//! cookies and ids, logout, and idle/absolute expiry.

use std::time::Duration;

use oauthd::crypto::sha256_hex;
use reqwest::StatusCode;

use crate::both_backends;
use crate::support::flow::{
    CB, LOGIN_CSRF_COOKIE, PASSWORD, Params, SESSION_COOKIE, SIGN_IN_FAILED, assert_page_headers,
    cookieless, create_user, header, hidden, is_login_redirect, is_signed_in, location_on,
    login_by_hand, origin, page, read_consent, register_confidential, scalar, set_cookie,
    spawn_with_public_url, tags,
};
use crate::support::{Backend, TestApp};

both_backends!(
    login_page_offers_a_form_with_a_double_submit_csrf_token,
    signing_in_starts_a_session_and_goes_to_next,
    signing_in_sends_the_browser_only_to_local_paths,
    bad_credentials_get_one_generic_401_and_no_session,
    unknown_users_and_wrong_passwords_get_identical_pages,
    sign_in_without_the_matching_csrf_token_is_refused,
    sign_in_never_reuses_a_session_id_from_before,
    session_cookie_is_host_prefixed_and_secure_behind_an_https_public_url,
    logout_takes_a_post_with_the_session_csrf_and_ends_the_session,
    logout_by_get_is_refused_and_signs_nobody_out,
    a_session_cookie_replayed_after_logout_is_signed_out,
    an_idle_session_expires_and_use_keeps_it_alive,
    a_busy_session_still_ends_at_its_absolute_lifetime,
    session_ids_are_stored_only_as_digests,
);

async fn login_page_offers_a_form_with_a_double_submit_csrf_token(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let next = "/oauth/authorize?client_id=abc&state=x%20y";
    let path = format!(
        "/login?{}",
        url::form_urlencoded::Serializer::new(String::new())
            .append_pair("next", next)
            .finish()
    );
    let response = app.http.get(app.url(&path)).send().await.unwrap();
    assert_page_headers(&response, "login page");
    let csrf_cookie = set_cookie(&response, LOGIN_CSRF_COOKIE)
        .expect("the login page sets the double-submit csrf cookie");
    let html = page(response, StatusCode::OK, "login page").await;

    let forms = tags(&html, "form");
    assert!(
        forms.iter().any(|f| {
            f.get("method").map(|m| m.to_ascii_lowercase()).as_deref() == Some("post")
                && f.get("action").map(String::as_str) == Some("/login")
        }),
        "a <form method=\"post\" action=\"/login\">:\n{html}"
    );
    let inputs = tags(&html, "input");
    for name in ["username", "password"] {
        assert!(
            inputs
                .iter()
                .any(|i| i.get("name").map(String::as_str) == Some(name)),
            "an input named {name}"
        );
    }
    let csrf = hidden(&html, "csrf").expect("a hidden csrf field");
    assert!(!csrf.is_empty(), "the csrf field has a value");
    assert_eq!(
        csrf, csrf_cookie.value,
        "double submit: the form's csrf equals the cookie"
    );
    assert_eq!(
        hidden(&html, "next").as_deref(),
        Some(next),
        "the hidden next carries the local path"
    );
    assert_eq!(
        app.count("sessions").await,
        0,
        "showing the form signs nobody in"
    );
}

async fn signing_in_starts_a_session_and_goes_to_next(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let alice = create_user(&app, "alice").await;
    let browser = app.browser();
    let next = "/oauth/authorize?client_id=abc&state=x";
    let response = browser.login_with_next("alice", PASSWORD, next).await;
    let location = location_on(&app.base, &response);
    assert_eq!(origin(&location), app.base, "stays on this server");
    assert_eq!(
        &location[url::Position::BeforePath..],
        next,
        "Location is the next path"
    );

    let cookie = set_cookie(&response, SESSION_COOKIE).expect("a session cookie");
    assert!(cookie.value.len() >= 32, "an unguessable session id");
    assert_eq!(cookie.attr("path").as_deref(), Some("/"), "Path=/");
    assert!(cookie.has("httponly"), "HttpOnly: {cookie:?}");
    assert!(cookie.has("samesite=lax"), "SameSite=Lax: {cookie:?}");
    assert!(
        !cookie.has("secure"),
        "no Secure on a plain-http public_url (the browser would drop it)"
    );
    assert_eq!(cookie.attr("domain"), None, "a host-only cookie");

    assert_eq!(app.count("sessions").await, 1);
    let hash = sha256_hex(&cookie.value);
    assert_eq!(
        scalar(
            &app,
            "select count(*) from sessions where id_hash = $1 and user_id = $2",
            &[&hash, &alice.id],
        )
        .await,
        1,
        "the session row is alice's, stored under the cookie's digest"
    );
    let client = register_confidential(&app, &[CB]).await;
    assert!(
        is_signed_in(&browser, &client).await,
        "the cookie signs her in"
    );
}

async fn signing_in_sends_the_browser_only_to_local_paths(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    create_user(&app, "alice").await;
    let browser = app.browser();
    // (next sent in the form, where the browser must land, why)
    let cases: &[(Option<&str>, Option<&str>, &str)] = &[
        (Some("/"), Some("/"), "the root"),
        (
            Some("/oauth/authorize?client_id=a&redirect_uri=https%3A%2F%2Fapp.example%2Fcb"),
            Some("/oauth/authorize?client_id=a&redirect_uri=https%3A%2F%2Fapp.example%2Fcb"),
            "an authorize path with its query",
        ),
        (None, Some("/"), "next missing"),
        (Some(""), Some("/"), "next empty"),
        (Some("//evil.test"), Some("/"), "protocol-relative URL"),
        (
            Some("//evil.test/"),
            Some("/"),
            "protocol-relative URL with a path",
        ),
        (
            Some("https://evil.test/"),
            Some("/"),
            "absolute URL elsewhere",
        ),
        (Some("javascript:alert(1)"), Some("/"), "javascript: URL"),
        (Some("%2F%2Fevil.test"), Some("/"), "encoded slashes"),
        (Some("evil.test"), Some("/"), "no leading slash"),
        (
            Some("/\\evil.test"),
            None,
            "slash backslash (browsers read //)",
        ),
        (Some("\\\\evil.test"), None, "two backslashes"),
        (
            Some("/\t/evil.test"),
            None,
            "tab between slashes (browsers strip it)",
        ),
        (Some("/\n/evil.test"), None, "newline between slashes"),
    ];
    for (next, expected, why) in cases {
        let (csrf, _) = browser.login_page(None).await;
        let mut form = vec![
            ("username", "alice"),
            ("password", PASSWORD),
            ("csrf", csrf.as_str()),
        ];
        if let Some(n) = next {
            form.push(("next", n));
        }
        let response = browser.post_login(&form).await;
        assert_eq!(response.status(), StatusCode::SEE_OTHER, "{why}: 303");
        let raw = header(&response, "location").unwrap();
        let target = location_on(&app.base, &response);
        assert_eq!(
            origin(&target),
            app.base,
            "{why}: the browser stays on this server, Location {raw:?}"
        );
        assert!(
            !raw.starts_with("//") && !raw.starts_with("/\\") && !raw.contains(['\t', '\n']),
            "{why}: Location {raw:?} is not read as another host by any browser"
        );
        if let Some(expected) = expected {
            assert_eq!(&target[url::Position::BeforePath..], *expected, "{why}");
        }
    }
}

async fn bad_credentials_get_one_generic_401_and_no_session(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    create_user(&app, "alice").await;
    create_user(&app, "carol").await;
    assert!(
        oauthd::store::users::disable(&app.db, "carol", app.clock.now())
            .await
            .unwrap()
    );
    let long = "p".repeat(2048);
    let cases: &[(&str, &str, &str)] = &[
        ("nobody", PASSWORD, "unknown user"),
        ("alice", "wrong password!", "wrong password"),
        ("carol", PASSWORD, "disabled user with her right password"),
        ("", PASSWORD, "empty user name"),
        ("alice", "", "empty password"),
        ("alice", &long, "2 KiB password"),
    ];
    let before = app.snapshot().await;
    let browser = app.browser();
    for (username, password, why) in cases {
        let (csrf, _) = browser.login_page(Some("/")).await;
        let response = browser
            .post_login(&[
                ("username", username),
                ("password", password),
                ("csrf", &csrf),
                ("next", "/"),
            ])
            .await;
        assert!(
            set_cookie(&response, SESSION_COOKIE).is_none_or(|c| c.clears()),
            "{why}: no session cookie"
        );
        let html = page(response, StatusCode::UNAUTHORIZED, why).await;
        assert!(
            html.contains(SIGN_IN_FAILED),
            "{why}: the one generic message {SIGN_IN_FAILED:?}"
        );
        assert!(!html.contains(&long), "{why}: the password is never echoed");
    }
    assert_eq!(
        app.snapshot().await,
        before,
        "no failed sign-in stored anything"
    );
    let client = register_confidential(&app, &[CB]).await;
    assert!(!is_signed_in(&browser, &client).await, "still signed out");
}

async fn unknown_users_and_wrong_passwords_get_identical_pages(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    create_user(&app, "alice").await;
    let browser = app.browser();
    let mut pages = Vec::new();
    for (username, password) in [("nobody", PASSWORD), ("alice", "wrong password!")] {
        let (csrf, _) = browser.login_page(Some("/")).await;
        let response = browser
            .post_login(&[
                ("username", username),
                ("password", password),
                ("csrf", &csrf),
                ("next", "/"),
            ])
            .await;
        let html = page(response, StatusCode::UNAUTHORIZED, username).await;
        // The csrf value differs per form, and echoing what the user typed
        // into the name field tells them nothing new; anything else would be
        // an oracle for which user names exist.
        let mut normalised = html.replace(&csrf, "CSRF");
        if let Some(shown) = hidden(&html, "csrf") {
            normalised = normalised.replace(&shown, "CSRF");
        }
        pages.push(normalised.replace(username, "USERNAME"));
    }
    assert_eq!(
        pages[0], pages[1],
        "unknown user and wrong password are indistinguishable"
    );
}

async fn sign_in_without_the_matching_csrf_token_is_refused(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    create_user(&app, "alice").await;
    let before = app.snapshot().await;

    let browser = app.browser();
    let (_, _) = browser.login_page(None).await;
    let good = [("username", "alice"), ("password", PASSWORD), ("next", "/")];
    for (csrf, why) in [
        (None, "csrf field missing"),
        (
            Some("not-the-cookie-value"),
            "csrf field differs from the cookie",
        ),
    ] {
        let mut form = good.to_vec();
        if let Some(c) = csrf {
            form.push(("csrf", c));
        }
        let response = browser.post_login(&form).await;
        assert!(
            set_cookie(&response, SESSION_COOKIE).is_none(),
            "{why}: no session"
        );
        page(response, StatusCode::FORBIDDEN, why).await;
    }

    // A browser that never loaded the form has no csrf cookie at all.
    let (form_csrf, _) = app.new_browser().login_page(None).await;
    let stranger = app.new_browser();
    let mut form = good.to_vec();
    form.push(("csrf", &form_csrf));
    let response = stranger.post_login(&form).await;
    assert!(set_cookie(&response, SESSION_COOKIE).is_none());
    page(
        response,
        StatusCode::FORBIDDEN,
        "a csrf value from another browser, no cookie",
    )
    .await;

    assert_eq!(app.snapshot().await, before, "no session was stored");
}

async fn sign_in_never_reuses_a_session_id_from_before(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    create_user(&app, "alice").await;
    let http = cookieless();

    // An attacker planted a session cookie before the victim signs in.
    let planted = "attacker-chosen-session-id-0123456789abcdef";
    let response = login_by_hand(
        &app.base,
        &http,
        "alice",
        PASSWORD,
        Some(&format!("{SESSION_COOKIE}={planted}")),
    )
    .await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    let first = set_cookie(&response, SESSION_COOKIE).expect("a new session cookie");
    assert_ne!(first.value, planted, "a planted id is never adopted");
    assert_eq!(
        scalar(
            &app,
            "select count(*) from sessions where id_hash = $1",
            &[&sha256_hex(planted)]
        )
        .await,
        0
    );

    // Signing in again while signed in also gets a fresh id.
    let response = login_by_hand(
        &app.base,
        &http,
        "alice",
        PASSWORD,
        Some(&format!("{SESSION_COOKIE}={}", first.value)),
    )
    .await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    let second = set_cookie(&response, SESSION_COOKIE).expect("a new session cookie");
    assert_ne!(
        second.value, first.value,
        "every sign-in issues a new session id"
    );
}

async fn session_cookie_is_host_prefixed_and_secure_behind_an_https_public_url(backend: Backend) {
    let app = spawn_with_public_url(backend, "https://auth.example/").await;
    create_user(&app, "alice").await;
    let response = login_by_hand(&app.base, &cookieless(), "alice", PASSWORD, None).await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER, "sign-in succeeds");
    assert!(
        set_cookie(&response, SESSION_COOKIE).is_none(),
        "the unprefixed name is not used on https"
    );
    let cookie = set_cookie(&response, "__Host-oauthd_session")
        .expect("a __Host-oauthd_session cookie on an https public_url");
    assert!(cookie.has("secure"), "Secure: {cookie:?}");
    assert!(cookie.has("httponly"), "HttpOnly: {cookie:?}");
    assert!(cookie.has("samesite=lax"), "SameSite=Lax: {cookie:?}");
    assert_eq!(
        cookie.attr("path").as_deref(),
        Some("/"),
        "__Host- needs Path=/"
    );
    assert_eq!(cookie.attr("domain"), None, "__Host- forbids Domain");
}

/// The session's csrf value, from the consent page a signed-in user sees.
async fn session_csrf(app: &TestApp, browser: &crate::support::flow::Browser) -> String {
    let client = register_confidential(app, &[CB]).await;
    let response = browser
        .authorize(&Params::code(&client).set("prompt", "consent"))
        .await;
    read_consent(response, "consent page").await.csrf
}

async fn logout_takes_a_post_with_the_session_csrf_and_ends_the_session(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    create_user(&app, "alice").await;
    let browser = app.browser();
    browser.login("alice", PASSWORD).await;
    let client = register_confidential(&app, &[CB]).await;
    let csrf = session_csrf(&app, &browser).await;

    for (form, why) in [(vec![], "no csrf"), (vec![("csrf", "wrong")], "wrong csrf")] {
        let response = browser
            .http
            .post(app.url("/logout"))
            .form(&form)
            .send()
            .await
            .unwrap();
        assert!(
            response.status().is_client_error(),
            "{why}: refused, got {}",
            response.status()
        );
        assert_eq!(app.count("sessions").await, 1, "{why}: still signed in");
    }
    assert!(is_signed_in(&browser, &client).await);

    let response = browser
        .http
        .post(app.url("/logout"))
        .form(&[("csrf", csrf.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(
        response.status(),
        StatusCode::SEE_OTHER,
        "logout answers 303"
    );
    let target = location_on(&app.base, &response);
    assert_eq!(origin(&target), app.base);
    assert_eq!(target.path(), "/login", "logout goes to the sign-in page");
    let cleared = set_cookie(&response, SESSION_COOKIE).expect("the cookie is cleared");
    assert!(
        cleared.clears(),
        "the session cookie is deleted: {cleared:?}"
    );
    assert_eq!(app.count("sessions").await, 0, "the session row is gone");
    assert!(!is_signed_in(&browser, &client).await, "signed out");
}

async fn logout_by_get_is_refused_and_signs_nobody_out(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    create_user(&app, "alice").await;
    let browser = app.browser();
    browser.login("alice", PASSWORD).await;
    let client = register_confidential(&app, &[CB]).await;
    let csrf = session_csrf(&app, &browser).await;
    let response = browser.get(&format!("/logout?csrf={csrf}")).await;
    assert_eq!(
        response.status(),
        StatusCode::METHOD_NOT_ALLOWED,
        "an <img src=/logout> must not sign anyone out"
    );
    assert_eq!(app.count("sessions").await, 1);
    assert!(is_signed_in(&browser, &client).await);
}

async fn a_session_cookie_replayed_after_logout_is_signed_out(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    create_user(&app, "alice").await;
    let client = register_confidential(&app, &[CB]).await;
    let browser = app.browser();
    let old = browser.login("alice", PASSWORD).await;
    let by_hand = |value: String| {
        cookieless()
            .get(app.url(&format!(
                "/oauth/authorize?{}",
                Params::code(&client).set("prompt", "consent").query()
            )))
            .header("cookie", format!("{SESSION_COOKIE}={value}"))
            .send()
    };
    let before = by_hand(old.clone()).await.unwrap();
    assert_eq!(
        before.status(),
        StatusCode::OK,
        "the copied cookie works while the session lives"
    );
    let csrf = session_csrf(&app, &browser).await;
    let response = browser
        .http
        .post(app.url("/logout"))
        .form(&[("csrf", csrf.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::SEE_OTHER);

    let replay = by_hand(old).await.unwrap();
    assert!(
        is_login_redirect(&app.base, &replay),
        "a copied cookie is worthless after logout: {} {:?}",
        replay.status(),
        header(&replay, "location")
    );
}

async fn an_idle_session_expires_and_use_keeps_it_alive(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let idle = i64::try_from(app.config.sessions.idle_timeout.as_secs()).unwrap();
    create_user(&app, "alice").await;
    let client = register_confidential(&app, &[CB]).await;
    let browser = app.browser();
    browser.login("alice", PASSWORD).await;

    app.clock.advance(idle - 60);
    assert!(
        is_signed_in(&browser, &client).await,
        "used within the idle timeout"
    );
    app.clock.advance(idle - 60);
    assert!(
        is_signed_in(&browser, &client).await,
        "each use restarts the idle timeout"
    );
    app.clock.advance(idle + 1);
    assert!(
        !is_signed_in(&browser, &client).await,
        "idle past sessions.idle_timeout: signed out"
    );
}

async fn a_busy_session_still_ends_at_its_absolute_lifetime(backend: Backend) {
    let app = TestApp::spawn_with(backend, |c| {
        c.sessions.idle_timeout = Duration::from_secs(3600);
        c.sessions.absolute_lifetime = Duration::from_secs(3 * 3600);
    })
    .await;
    create_user(&app, "alice").await;
    let client = register_confidential(&app, &[CB]).await;
    let browser = app.browser();
    browser.login("alice", PASSWORD).await;
    for step in 1..=3 {
        app.clock.advance(50 * 60);
        assert!(
            is_signed_in(&browser, &client).await,
            "{} minutes in, used every 50 minutes",
            step * 50
        );
    }
    app.clock.advance(30 * 60 + 1);
    assert!(
        !is_signed_in(&browser, &client).await,
        "past sessions.absolute_lifetime even though used 30 minutes ago"
    );
}

async fn session_ids_are_stored_only_as_digests(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    create_user(&app, "alice").await;
    let value = app.browser().login("alice", PASSWORD).await;
    assert_eq!(
        scalar(
            &app,
            "select count(*) from sessions where id_hash = $1",
            &[&sha256_hex(&value)]
        )
        .await,
        1,
        "stored as lower-case hex SHA-256"
    );
    assert_eq!(
        scalar(
            &app,
            "select count(*) from sessions where id_hash = $1 or user_id = $1",
            &[&value]
        )
        .await,
        0,
        "the raw session id is stored nowhere"
    );
}
