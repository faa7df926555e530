//! Who may see what at `POST /oauth/introspect` (RFC 7662 §4): a token is
//! active only to the client it was issued to and to clients the operator
//! allowed; to everyone else it answers exactly like an unknown token.

use oauthd::cli::admin::{self, NewClientArgs};
use oauthd::oauth::personal;
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::both_backends;
use crate::support::flow::{
    self, Auth, Client, Params, register, register_confidential, register_json, signed_in,
    token_at, tokens_for,
};
use crate::support::{Backend, TestApp, with_introspect_scope};

both_backends!(
    introspection_shows_a_token_only_to_its_client_and_allowed_introspectors,
    bearer_callers_see_what_the_client_behind_their_token_may_see,
);

/// Status, headers (without the per-request `date` and `x-request-id`) and
/// body: everything a caller can compare between two answers.
type Answer = (StatusCode, Vec<(String, String)>, String);

async fn ask(app: &TestApp, caller: &Auth, token: &str) -> Answer {
    let response = token_at(app, "/oauth/introspect", caller, &[("token", token)], None).await;
    let status = response.status();
    let mut headers: Vec<(String, String)> = response
        .headers()
        .iter()
        .filter(|(name, _)| !matches!(name.as_str(), "date" | "x-request-id"))
        .map(|(name, value)| (name.to_string(), value.to_str().unwrap().to_owned()))
        .collect();
    headers.sort();
    (status, headers, response.text().await.unwrap())
}

fn active(answer: &Answer) -> bool {
    assert_eq!(answer.0, StatusCode::OK, "introspection answers 200");
    let body: Value = serde_json::from_str(&answer.2).unwrap();
    body["active"] == json!(true)
}

/// An access token by client credentials.
async fn cc_token(app: &TestApp, client: &Client) -> String {
    flow::tokens(
        flow::token(app, &client.auth(), &[("grant_type", "client_credentials")]).await,
        "client credentials",
    )
    .await
    .access
}

/// Sets the permission as `oauthd client update --introspect` does. The CLI
/// is another process, whose change reaches the server's client cache through
/// the change notification (timed in `client_cache.rs`); this server is told
/// at once, so the next request sees the change on both backends.
async fn allow(app: &TestApp, client: &Client, allowed: bool) -> admin::ClientView {
    let view = admin::set_introspection(&app.db, &app.clock, &client.id, allowed)
        .await
        .unwrap();
    app.state.clients.evict(&client.id);
    view
}

const UNKNOWN: &str = "oat_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA";

async fn introspection_shows_a_token_only_to_its_client_and_allowed_introspectors(
    backend: Backend,
) {
    let app = TestApp::spawn(backend).await;
    let (browser, alice) = signed_in(&app).await;
    let app_a = register_confidential(&app, &[flow::CB]).await;
    let app_b = register_confidential(&app, &[flow::CB]).await;
    let service = register_json(
        &app,
        &json!({"client_name": "svc", "grant_types": ["client_credentials"]}),
    )
    .await;
    let introspector = register(
        &app,
        NewClientArgs {
            name: "resource server".into(),
            introspect: true,
            ..NewClientArgs::default()
        },
    )
    .await;
    let a = tokens_for(&app, &browser, &app_a, &Params::code(&app_a), None).await;
    let a_refresh = a.refresh.clone().unwrap();
    let service_token = cc_token(&app, &service).await;
    let pat = personal::create(
        &app.db,
        &app.clock,
        &app.config,
        &alice,
        "account:read",
        None,
        None,
    )
    .await
    .unwrap();
    let pat = pat.token.expose().to_owned();

    let before = app.snapshot().await;
    let audit_before = app.count("audit_events").await;
    let cases: [(&str, &Client, &str, bool); 12] = [
        ("own access token", &app_a, &a.access, true),
        ("own refresh token", &app_a, &a_refresh, true),
        (
            "own client-credentials token",
            &service,
            &service_token,
            true,
        ),
        ("another client's access token", &app_b, &a.access, false),
        ("another client's refresh token", &app_b, &a_refresh, false),
        ("another client's cc token", &app_a, &service_token, false),
        ("a personal access token", &app_a, &pat, false),
        (
            "a service asking about a user's token",
            &service,
            &a.access,
            false,
        ),
        (
            "allowed: another client's access token",
            &introspector,
            &a.access,
            true,
        ),
        (
            "allowed: another client's refresh token",
            &introspector,
            &a_refresh,
            true,
        ),
        ("allowed: a cc token", &introspector, &service_token, true),
        (
            "allowed: a personal access token",
            &introspector,
            &pat,
            true,
        ),
    ];
    for (why, caller, token, want) in cases {
        let answer = ask(&app, &caller.auth(), token).await;
        assert_eq!(active(&answer), want, "{why}: {}", answer.2);
        if want {
            continue;
        }
        // RFC 7662 §4: nothing tells the caller the token exists.
        let unknown = ask(&app, &caller.auth(), UNKNOWN).await;
        assert_eq!(
            answer, unknown,
            "{why}: same status, headers and body as an unknown token"
        );
        assert_eq!(answer.2, r#"{"active":false}"#, "{why}");
    }
    assert_eq!(app.snapshot().await, before, "introspection writes nothing");
    assert_eq!(
        app.count("audit_events").await,
        audit_before,
        "nor an audit event"
    );

    // The permission taken back: the introspector is an ordinary client again.
    assert!(!allow(&app, &introspector, false).await.may_introspect);
    for (why, token) in [
        ("access token", &a.access),
        ("refresh token", &a_refresh),
        ("personal access token", &pat),
    ] {
        let answer = ask(&app, &introspector.auth(), token).await;
        assert_eq!(
            answer,
            ask(&app, &introspector.auth(), UNKNOWN).await,
            "permission withdrawn: {why} looks unknown"
        );
    }
    // And granted again, at once.
    assert!(allow(&app, &introspector, true).await.may_introspect);
    assert!(active(&ask(&app, &introspector.auth(), &a.access).await));

    // Each change is in the audit trail, under the client.
    let count = "select count(*) from audit_events where kind = $1 and client_id = $2";
    assert_eq!(
        flow::scalar(&app, count, &["introspection_allowed", &introspector.id]).await,
        2,
        "allowed at registration and again"
    );
    assert_eq!(
        flow::scalar(&app, count, &["introspection_withdrawn", &introspector.id]).await,
        1
    );

    // Only a confidential client can be allowed: nothing is stored otherwise.
    let public = flow::register_public(&app, &[flow::CB]).await;
    let clients = app.count("clients").await;
    let refused = admin::add_client(
        &app.db,
        &app.clock,
        &app.config,
        NewClientArgs {
            name: "spa".into(),
            redirect_uris: vec![flow::CB.into()],
            public: true,
            introspect: true,
            ..NewClientArgs::default()
        },
    )
    .await;
    assert!(
        matches!(refused, Err(admin::AdminError::Usage(_))),
        "a public client cannot be registered as an introspector"
    );
    assert_eq!(app.count("clients").await, clients, "nothing stored");
    let refused = admin::set_introspection(&app.db, &app.clock, &public.id, true).await;
    assert!(
        matches!(refused, Err(admin::AdminError::Usage(_))),
        "a public client cannot be allowed later either"
    );
    let stored = oauthd::store::clients::find(&app.db, &public.id)
        .await
        .unwrap()
        .unwrap();
    assert!(!stored.may_introspect, "the public client stays unchanged");
}

async fn bearer_callers_see_what_the_client_behind_their_token_may_see(backend: Backend) {
    let app = TestApp::spawn_with(backend, with_introspect_scope).await;
    let resource_server = register_json(
        &app,
        &json!({"client_name": "rs", "grant_types": ["client_credentials"], "scope": "introspect"}),
    )
    .await;
    let service = register_json(
        &app,
        &json!({"client_name": "svc", "grant_types": ["client_credentials"]}),
    )
    .await;
    let rs_bearer = cc_token(&app, &resource_server).await;
    let service_token = cc_token(&app, &service).await;
    let bearer = Auth::Header(format!("Bearer {rs_bearer}"));

    assert!(
        active(&ask(&app, &bearer, &rs_bearer).await),
        "a bearer caller sees its own client's tokens"
    );
    let hidden = ask(&app, &bearer, &service_token).await;
    assert_eq!(
        hidden,
        ask(&app, &bearer, UNKNOWN).await,
        "another client's token looks unknown to a bearer caller without permission"
    );

    allow(&app, &resource_server, true).await;
    let seen = ask(&app, &bearer, &service_token).await;
    assert!(active(&seen), "with permission: {}", seen.2);
    let body: Value = serde_json::from_str(&seen.2).unwrap();
    assert_eq!(body["client_id"], service.id.as_str());

    // A personal access token stands for no client, so it cannot introspect,
    // scope or not; the refusal says nothing about the token asked about.
    let user = flow::create_user(&app, "carol").await;
    let pat = personal::create(
        &app.db,
        &app.clock,
        &app.config,
        &user,
        "introspect",
        None,
        None,
    )
    .await
    .unwrap();
    let before = app.snapshot().await;
    let pat_bearer = Auth::Header(format!("Bearer {}", pat.token.expose()));
    for (why, token) in [
        ("an active token", service_token.as_str()),
        ("an unknown token", UNKNOWN),
    ] {
        let (status, headers, body) = ask(&app, &pat_bearer, token).await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{why}: {body}");
        let challenge = headers
            .iter()
            .find(|(name, _)| name == "www-authenticate")
            .map(|(_, value)| value.as_str());
        assert_eq!(
            challenge,
            Some("Bearer realm=\"oauthd\", error=\"insufficient_scope\""),
            "{why}"
        );
        let body: Value = serde_json::from_str(&body).unwrap();
        assert_eq!(body["error"], "insufficient_scope", "{why}");
        assert!(body.get("active").is_none(), "{why}: says nothing");
    }
    assert_eq!(app.snapshot().await, before, "refusals store nothing");
}
