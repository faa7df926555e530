//! The audit trail: security events are stored (and shown to the user)
//! without secrets.

use reqwest::StatusCode;

use crate::both_backends;
use crate::support::flow::{self, PASSWORD, Params, register_confidential, signed_in};
use crate::support::{Backend, TestApp};

both_backends!(
    security_events_are_recorded_without_secrets_and_shown_to_the_user,
    every_token_and_client_event_is_recorded,
    the_janitor_drops_audit_events_past_their_retention,
);

async fn kinds(app: &TestApp, user_id: &str) -> Vec<String> {
    oauthd::store::audit::list_for_user(&app.db, user_id, 100)
        .await
        .unwrap()
        .into_iter()
        .map(|e| e.kind)
        .collect()
}

async fn security_events_are_recorded_without_secrets_and_shown_to_the_user(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let (browser, alice) = signed_in(&app).await;
    let attacker = app.new_browser();
    let (csrf, _) = attacker.login_page(None).await;
    attacker
        .post_login(&[
            ("username", "alice"),
            ("password", "guess-number-one"),
            ("csrf", &csrf),
        ])
        .await;

    let client = register_confidential(&app, &[flow::CB]).await;
    let code = browser.code(&Params::code(&client)).await;
    let got = flow::tokens(
        flow::redeem(&app, &client, &code, Some(flow::CB), None).await,
        "exchange",
    )
    .await;
    let replay = flow::redeem(&app, &client, &code, Some(flow::CB), None).await;
    assert_eq!(replay.status(), StatusCode::BAD_REQUEST);

    let recorded = kinds(&app, &alice.id).await;
    for kind in [
        "signin_succeeded",
        "signin_failed",
        "consent_granted",
        "token_issued",
        "code_replayed",
    ] {
        assert!(recorded.iter().any(|k| k == kind), "{kind} in {recorded:?}");
    }

    let (status, page) = {
        let r = browser.get("/settings/activity").await;
        (r.status(), r.text().await.unwrap())
    };
    assert_eq!(status, StatusCode::OK);
    assert!(page.contains("data-kind=\"signin_failed\""));
    assert!(page.contains("Authorization code replayed"));

    let secrets = [
        PASSWORD,
        "guess-number-one",
        code.as_str(),
        got.access.as_str(),
        got.refresh.as_deref().unwrap(),
        client.secret(),
    ];
    let rows = oauthd::store::audit::list_for_user(&app.db, &alice.id, 100)
        .await
        .unwrap();
    for row in rows {
        let text = format!(
            "{} {:?} {:?} {:?}",
            row.kind, row.client_id, row.ip, row.detail
        );
        for secret in secrets {
            assert!(
                !text.contains(secret),
                "no secret in the audit trail: {text}"
            );
        }
    }
}

/// Consent denied, refresh, refresh reuse, revocation (by the client, of a
/// whole authorization, of a personal token), client registration and secret
/// rotation each leave their row; a row per event, with the right user.
async fn every_token_and_client_event_is_recorded(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let (browser, alice) = signed_in(&app).await;
    let client = register_confidential(&app, &[flow::CB]).await;

    let consent = browser.consent(&Params::code(&client)).await;
    let denied = browser.decision(&consent, "deny").await;
    assert_eq!(denied.status(), StatusCode::SEE_OTHER);

    let code = browser.code(&Params::code(&client)).await;
    let first = flow::tokens(
        flow::redeem(&app, &client, &code, Some(flow::CB), None).await,
        "exchange",
    )
    .await;
    let old_refresh = first.refresh.clone().unwrap();
    let refresh = |token: String| {
        let app = &app;
        let client = &client;
        async move {
            flow::token(
                app,
                &client.auth(),
                &[("grant_type", "refresh_token"), ("refresh_token", &token)],
            )
            .await
        }
    };
    let second = flow::tokens(refresh(old_refresh.clone()).await, "refresh").await;
    // Past the grace period, so the second use is reuse.
    app.clock
        .advance(oauthd::oauth::token::seconds(app.config.tokens.refresh_grace) + 1);
    let reused = refresh(old_refresh).await;
    assert_eq!(reused.status(), StatusCode::BAD_REQUEST);

    // A fresh grant, revoked by the client, then the whole authorization
    // revoked by the user.
    let code = browser.code(&Params::code(&client)).await;
    let third = flow::tokens(
        flow::redeem(&app, &client, &code, Some(flow::CB), None).await,
        "exchange",
    )
    .await;
    let revoked = app
        .http
        .post(app.url("/oauth/revoke"))
        .basic_auth(&client.id, Some(client.secret()))
        .form(&[("token", third.access.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(revoked.status(), StatusCode::OK);
    oauthd::oauth::grants::revoke_authorization(&app.db, &app.clock, &alice.id, &client.id)
        .await
        .unwrap();

    let user = oauthd::store::users::find_by_username(&app.db, "alice")
        .await
        .unwrap()
        .unwrap();
    let pat = oauthd::oauth::personal::create(
        &app.db,
        &app.clock,
        &app.config,
        &user,
        "account:read",
        Some("backup"),
        None,
    )
    .await
    .unwrap();
    assert!(
        oauthd::oauth::personal::revoke_of(&app.db, &app.clock, &alice.id, &pat.public_id)
            .await
            .unwrap()
    );

    let recorded = kinds(&app, &alice.id).await;
    let count = |kind: &str| recorded.iter().filter(|k| *k == kind).count();
    assert_eq!(count("consent_denied"), 1, "{recorded:?}");
    assert_eq!(count("token_refreshed"), 1, "{recorded:?}");
    assert_eq!(count("refresh_reused"), 1, "{recorded:?}");
    // Two code exchanges and one personal token.
    assert_eq!(count("token_issued"), 3, "{recorded:?}");
    // The client's revocation, the user's revocation of the app, the
    // personal token.
    assert_eq!(count("token_revoked"), 3, "{recorded:?}");

    // Client events belong to no user when an operator registers the
    // client; they are stored all the same.
    let secret = oauthd::oauth::registration::rotate_secret(&app.db, &app.clock, &client.id)
        .await
        .unwrap();
    let count_kind = "select count(*) from audit_events where kind = $1";
    assert_eq!(
        flow::scalar(&app, count_kind, &["client_registered"]).await,
        1
    );
    assert_eq!(flow::scalar(&app, count_kind, &["secret_rotated"]).await, 1);

    let secrets = [
        first.access.as_str(),
        second.access.as_str(),
        third.access.as_str(),
        pat.token.expose(),
        secret.expose(),
        client.secret(),
    ];
    let mut texts: Vec<String> = oauthd::store::audit::list_for_user(&app.db, &alice.id, 100)
        .await
        .unwrap()
        .into_iter()
        .map(|row| format!("{} {:?} {:?}", row.kind, row.client_id, row.detail))
        .collect();
    for kind in ["client_registered", "secret_rotated"] {
        let detail = "select detail from audit_events where kind = $1";
        texts.extend(flow::text_of(&app, detail, &[kind]).await);
    }
    for text in texts {
        for s in secrets {
            assert!(!text.contains(s), "no secret in the audit trail: {text}");
        }
    }
}

/// Audit events live `janitor.audit_retention_days`, then the janitor
/// deletes them; with the retention off they stay.
async fn the_janitor_drops_audit_events_past_their_retention(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let (_browser, alice) = signed_in(&app).await;
    assert_eq!(kinds(&app, &alice.id).await, ["signin_succeeded"]);
    let day = 86_400;
    app.clock.advance(364 * day);
    oauthd::janitor::run_once(&app.db, &app.clock, &app.config)
        .await
        .unwrap();
    assert_eq!(kinds(&app, &alice.id).await.len(), 1, "kept within a year");

    let mut keep_forever = app.config.clone();
    keep_forever.janitor.audit_retention = None;
    app.clock.advance(10 * 365 * day);
    oauthd::janitor::run_once(&app.db, &app.clock, &keep_forever)
        .await
        .unwrap();
    assert_eq!(
        kinds(&app, &alice.id).await.len(),
        1,
        "kept when retention is off"
    );

    oauthd::janitor::run_once(&app.db, &app.clock, &app.config)
        .await
        .unwrap();
    assert!(
        kinds(&app, &alice.id).await.is_empty(),
        "deleted after a year"
    );
}
