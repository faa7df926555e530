//! The registered client authentication method is enforced (RFC 7591 §2
//! `token_endpoint_auth_method`): every registered method against every way
//! of sending credentials, at the token, revocation and introspection
//! endpoints. A refusal is the same `invalid_client` a wrong secret gets,
//! and changes nothing.

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::both_backends;
use crate::support::flow::{
    Auth, CB, Client, Params, VERIFIER, code_row, oauth_error, register_confidential,
    register_form, register_json, signed_in, token_at, tokens,
};
use crate::support::{Backend, TestApp};

both_backends!(
    each_registered_method_accepts_only_its_own_way_of_sending_credentials,
    clients_that_named_no_method_keep_both_ways,
);

/// How a request presents the client.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Way {
    /// `Authorization: Basic` (client_secret_basic).
    Basic,
    /// `client_id` and `client_secret` in the body (client_secret_post).
    Post,
    /// `client_id` alone (a public client, `none`).
    IdAlone,
}

const WAYS: [Way; 3] = [Way::Basic, Way::Post, Way::IdAlone];

/// A secret for clients that have none, and a wrong one for those that do.
const MADE_UP: &str = "ocs_made-up-secret-made-up-secret-made-up-sec";

fn auth(client: &Client, way: Way, secret: &str) -> Auth {
    match way {
        Way::Basic => Auth::Basic(client.id.clone(), secret.to_owned()),
        Way::Post => Auth::Body(client.id.clone(), secret.to_owned()),
        Way::IdAlone => Auth::Id(client.id.clone()),
    }
}

/// The client's own credentials sent `way`.
fn own(client: &Client, way: Way) -> Auth {
    auth(client, way, client.secret.as_deref().unwrap_or(MADE_UP))
}

/// One registered client and the ways it may authenticate.
struct Row {
    why: &'static str,
    client: Client,
    accepted: &'static [Way],
}

async fn json_client(app: &TestApp, method: Option<&str>) -> Client {
    let mut body = json!({"client_name": "Method test", "redirect_uris": [CB]});
    if let Some(method) = method {
        body["token_endpoint_auth_method"] = json!(method);
    }
    register_json(app, &body).await
}

/// A code for `client`, from the signed-in browser.
async fn code_for(browser: &crate::support::flow::Browser, client: &Client) -> String {
    let params = if client.secret.is_some() {
        Params::code(client)
    } else {
        Params::pkce(client)
    };
    browser.code(&params).await
}

async fn redeem_with(app: &TestApp, client: &Client, auth: &Auth, code: &str) -> reqwest::Response {
    let mut form = vec![
        ("grant_type", "authorization_code"),
        ("code", code),
        ("redirect_uri", CB),
    ];
    if client.secret.is_none() {
        form.push(("code_verifier", VERIFIER));
    }
    token_at(app, "/oauth/token", auth, &form, None).await
}

/// The answer with its status, challenge and body, to compare two refusals.
async fn answer_of(response: reqwest::Response) -> (StatusCode, Option<String>, String) {
    let status = response.status();
    let challenge = response
        .headers()
        .get("www-authenticate")
        .map(|v| v.to_str().unwrap().to_owned());
    (status, challenge, response.text().await.unwrap())
}

async fn each_registered_method_accepts_only_its_own_way_of_sending_credentials(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let (browser, _) = signed_in(&app).await;
    let rows = [
        Row {
            why: "client_secret_basic",
            client: json_client(&app, Some("client_secret_basic")).await,
            accepted: &[Way::Basic],
        },
        Row {
            why: "client_secret_post",
            client: json_client(&app, Some("client_secret_post")).await,
            accepted: &[Way::Post],
        },
        Row {
            why: "RFC 7591 JSON without a method (client_secret_basic, RFC 7591 §2)",
            client: json_client(&app, None).await,
            accepted: &[Way::Basic],
        },
        Row {
            why: "none (public)",
            client: json_client(&app, Some("none")).await,
            accepted: &[Way::IdAlone],
        },
    ];
    for row in &rows {
        for way in WAYS {
            let why = format!("{} sent by {way:?}", row.why);
            let accepted = row.accepted.contains(&way);
            let given = own(&row.client, way);
            let basic = way == Way::Basic;

            // Token endpoint: a real code, redeemed or left unspent.
            let code = code_for(&browser, &row.client).await;
            let before = app.snapshot().await;
            let response = redeem_with(&app, &row.client, &given, &code).await;
            if accepted {
                tokens(response, &format!("{why}: token")).await;
            } else {
                let refused = answer_of(response).await;
                assert_eq!(refused.0, StatusCode::UNAUTHORIZED, "{why}: token");
                assert_eq!(
                    refused
                        .1
                        .as_deref()
                        .map(|c| c.starts_with("Basic realm=\"oauthd\"")),
                    basic.then_some(true),
                    "{why}: a Basic challenge exactly when Basic was used (RFC 6749 §5.2)"
                );
                let body: Value = serde_json::from_str(&refused.2).unwrap();
                assert_eq!(body["error"], "invalid_client", "{why}: token");
                if let Some(secret) = &row.client.secret {
                    // The same way with a wrong secret: byte for byte the
                    // same answer, so a wrong way reveals nothing more.
                    let wrong = auth(&row.client, way, MADE_UP);
                    let other =
                        answer_of(redeem_with(&app, &row.client, &wrong, &code).await).await;
                    assert_eq!(refused, other, "{why}: like a wrong secret");
                    assert!(!refused.2.contains(secret.as_str()), "{why}");
                }
                assert_eq!(app.snapshot().await, before, "{why}: nothing stored");
                assert_eq!(
                    code_row(&app, &code).await.consumed_at,
                    None,
                    "{why}: the code is not spent"
                );
            }

            // Revocation (RFC 7009 §2.2: an unknown token is a 200).
            let form = [("token", "oat_not-a-token")];
            let response = token_at(&app, "/oauth/revoke", &given, &form, None).await;
            if accepted {
                assert_eq!(response.status(), StatusCode::OK, "{why}: revoke");
            } else {
                oauth_error(
                    response,
                    StatusCode::UNAUTHORIZED,
                    "invalid_client",
                    &format!("{why}: revoke"),
                    &[],
                )
                .await;
            }

            // Introspection: only confidential clients may ask at all.
            let response = token_at(&app, "/oauth/introspect", &given, &form, None).await;
            if accepted && row.client.secret.is_some() {
                assert_eq!(response.status(), StatusCode::OK, "{why}: introspect");
                let body: Value = response.json().await.unwrap();
                assert_eq!(body, json!({"active": false}), "{why}: introspect");
            } else {
                oauth_error(
                    response,
                    StatusCode::UNAUTHORIZED,
                    "invalid_client",
                    &format!("{why}: introspect"),
                    &[],
                )
                .await;
            }
        }
    }
}

/// Clients that named no method when they registered (the Gancio form shape,
/// the CLI, the developer pages, and every client stored before methods were
/// enforced) keep sending their secret either way, as the reference clients'
/// documents do (the secret in the body), and as stock libraries do (Basic);
/// never their id alone.
async fn clients_that_named_no_method_keep_both_ways(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let (browser, _) = signed_in(&app).await;
    let form = register_form(&app, "Gancio style", CB).await;
    let cli = register_confidential(&app, &[CB]).await;
    for (why, client) in [("form registration", &form), ("CLI", &cli)] {
        let stored = oauthd::store::clients::find(&app.db, &client.id)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(
            stored.secret_methods.stored(stored.auth_method),
            "client_secret_basic_or_post",
            "{why}"
        );
        for way in WAYS {
            let why = format!("{why} sent by {way:?}");
            let code = code_for(&browser, client).await;
            let response = redeem_with(&app, client, &own(client, way), &code).await;
            if way == Way::IdAlone {
                oauth_error(
                    response,
                    StatusCode::UNAUTHORIZED,
                    "invalid_client",
                    &why,
                    &[&code],
                )
                .await;
            } else {
                tokens(response, &why).await;
            }
        }
    }
}
