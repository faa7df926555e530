//! Issue 17: oauthd's own API as a protected resource (RFC 9728), and
//! audiences (RFC 8707).

use reqwest::StatusCode;
use serde_json::Value;

use crate::both_backends;
use crate::support::flow::header;
use crate::support::{Backend, TestApp};

both_backends!(
    protected_resource_metadata_describes_the_account_api,
    account_challenges_name_the_resource_metadata,
);

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
