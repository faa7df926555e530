//! The audit trail: security events are stored (and shown to the user)
//! without secrets.

use reqwest::StatusCode;

use crate::both_backends;
use crate::support::flow::{self, PASSWORD, Params, register_confidential, signed_in};
use crate::support::{Backend, TestApp};

both_backends!(security_events_are_recorded_without_secrets_and_shown_to_the_user);

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
