//! JWT access tokens (RFC 9068), and `signing::verify`, which checks the
//! JWTs this server issued.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use oauthd::config::{Config, SigningAlgorithm};
use oauthd::signing::{self, Expect, Invalid, KEY_LIST_TTL_SECS, Keys, SigningError};
use serde_json::{Value, json};

use crate::support::{Backend, TestApp};

const KEK: [u8; 32] = [5u8; 32];

pub(crate) fn with_keys(c: &mut Config) {
    c.signing.key_encryption_key = Some(KEK);
    c.signing.algorithm = SigningAlgorithm::Es256;
    c.signing.prepublish = std::time::Duration::from_secs(600);
    c.signing.max_token_lifetime = std::time::Duration::from_secs(900);
    c.signing.rotate_after = None;
}

/// A server with a signing key that signs at once.
pub(crate) async fn app_with_key(backend: Backend, adjust: impl FnOnce(&mut Config)) -> TestApp {
    let app = TestApp::spawn_with(backend, |c| {
        with_keys(c);
        adjust(c);
    })
    .await;
    signing::maintain(&app.db, &app.clock, &app.config.signing)
        .await
        .unwrap()
        .expect("the first key");
    app
}

fn id_claims(app: &TestApp, exp_in: i64) -> Value {
    let now = app.clock.now();
    json!({
        "iss": app.config.issuer(),
        "sub": "user-1",
        "aud": "client-1",
        "iat": now,
        "exp": now + exp_in,
    })
}

async fn verify(app: &TestApp, token: &str, expect: Expect<'_>) -> Result<Value, SigningError> {
    signing::verify(&app.db, &app.clock, &app.config, token, expect).await
}

fn invalid(result: Result<Value, SigningError>) -> Invalid {
    match result {
        Err(SigningError::Invalid(why)) => why,
        other => panic!("expected a refusal, got {other:?}"),
    }
}

async fn verify_accepts_our_tokens_and_refuses_forged_expired_and_misdirected_ones(
    backend: Backend,
) {
    let app = app_with_key(backend, |_| {}).await;
    let good = signing::sign(
        &app.db,
        &app.clock,
        &app.config.signing,
        &id_claims(&app, 60),
    )
    .await
    .unwrap();
    let claims = verify(&app, &good, Expect::default()).await.unwrap();
    assert_eq!(claims["sub"], "user-1");
    let expect_aud = Expect {
        audience: Some("client-1"),
        ..Expect::default()
    };
    verify(&app, &good, expect_aud).await.unwrap();

    // Wrong signature: one token's header and claims with another's
    // signature.
    let other = signing::sign(
        &app.db,
        &app.clock,
        &app.config.signing,
        &json!({
            "iss": app.config.issuer(), "sub": "user-2", "exp": app.clock.now() + 60
        }),
    )
    .await
    .unwrap();
    let (head, _) = good.rsplit_once('.').unwrap();
    let (_, sig) = other.rsplit_once('.').unwrap();
    let forged = format!("{head}.{sig}");
    assert_eq!(
        invalid(verify(&app, &forged, Expect::default()).await),
        Invalid::BadSignature
    );
    // Claims changed under a valid signature.
    let parts: Vec<&str> = good.split('.').collect();
    let mut body: Value = serde_json::from_slice(&B64.decode(parts[1]).unwrap()).unwrap();
    body["sub"] = json!("admin");
    let tampered = format!("{}.{}.{}", parts[0], B64.encode(body.to_string()), parts[2]);
    assert_eq!(
        invalid(verify(&app, &tampered, Expect::default()).await),
        Invalid::BadSignature
    );

    // A key that is not ours (never stored, so never published).
    let stranger = signing::generate(&app.config.signing, app.clock.now(), 99, 0).unwrap();
    let unknown = signing::sign_with(&KEK, &stranger, &id_claims(&app, 60)).unwrap();
    assert_eq!(
        invalid(verify(&app, &unknown, Expect::default()).await),
        Invalid::UnknownKey
    );

    // alg none, with our kid; and an HMAC "signed" with the public key.
    let kid = jsonwebtoken::decode_header(&good).unwrap().kid.unwrap();
    let none_head = B64.encode(json!({"alg": "none", "typ": "JWT", "kid": kid}).to_string());
    let none = format!("{none_head}.{}.", parts[1]);
    assert_eq!(
        invalid(verify(&app, &none, Expect::default()).await),
        Invalid::Malformed
    );
    let hs_head = B64.encode(json!({"alg": "HS256", "typ": "JWT", "kid": kid}).to_string());
    let hs = format!("{hs_head}.{}.{}", parts[1], parts[2]);
    assert_eq!(
        invalid(verify(&app, &hs, Expect::default()).await),
        Invalid::BadSignature
    );
    assert_eq!(
        invalid(verify(&app, "not a jwt", Expect::default()).await),
        Invalid::Malformed
    );

    // Expired: refused, unless the caller accepts expired tokens.
    let expired = signing::sign(
        &app.db,
        &app.clock,
        &app.config.signing,
        &id_claims(&app, 60),
    )
    .await
    .unwrap();
    app.clock.advance(61);
    assert_eq!(
        invalid(verify(&app, &expired, Expect::default()).await),
        Invalid::Expired
    );
    let late = Expect {
        accept_expired: true,
        ..Expect::default()
    };
    assert_eq!(verify(&app, &expired, late).await.unwrap()["sub"], "user-1");

    // Wrong audience, wrong issuer, wrong typ.
    let fresh = signing::sign(
        &app.db,
        &app.clock,
        &app.config.signing,
        &id_claims(&app, 60),
    )
    .await
    .unwrap();
    let elsewhere = Expect {
        audience: Some("client-2"),
        ..Expect::default()
    };
    assert_eq!(
        invalid(verify(&app, &fresh, elsewhere).await),
        Invalid::WrongAudience
    );
    let mut foreign = id_claims(&app, 60);
    foreign["iss"] = json!("https://other.example");
    let foreign = signing::sign(&app.db, &app.clock, &app.config.signing, &foreign)
        .await
        .unwrap();
    assert_eq!(
        invalid(verify(&app, &foreign, Expect::default()).await),
        Invalid::WrongIssuer
    );
    let at = Expect {
        typ: Some("at+jwt"),
        ..Expect::default()
    };
    assert_eq!(invalid(verify(&app, &fresh, at).await), Invalid::WrongType);
    let typed = signing::sign_typed(
        &app.db,
        &app.clock,
        &app.config.signing,
        Some("at+jwt"),
        &id_claims(&app, 60),
    )
    .await
    .unwrap();
    assert_eq!(
        jsonwebtoken::decode_header(&typed).unwrap().typ.as_deref(),
        Some("at+jwt")
    );
    verify(&app, &typed, at).await.unwrap();
}

async fn the_key_cache_follows_rotation_and_never_signs_with_a_retired_key(backend: Backend) {
    let app = app_with_key(backend, |_| {}).await;
    let keys = Keys::new();
    let claims = id_claims(&app, 60);
    let sign = async |keys: &Keys| {
        let t = keys
            .sign_typed(&app.db, &app.clock, &app.config.signing, None, &claims)
            .await
            .unwrap();
        jsonwebtoken::decode_header(&t).unwrap().kid.unwrap()
    };
    let k1 = sign(&keys).await;
    // A rotation by another process (the CLI) with --now.
    let k2 = signing::rotate(&app.db, &app.clock, &app.config.signing, true)
        .await
        .unwrap()
        .unwrap()
        .kid;
    // Within the list's lifetime the cache still signs with k1, which is
    // still published, so what it signs verifies.
    assert_eq!(sign(&keys).await, k1);
    app.clock.advance(KEY_LIST_TTL_SECS);
    assert_eq!(sign(&keys).await, k2, "the re-read list names the new key");
    // k1 is retired: it neither signs (it is not the newest) nor verifies.
    assert!(signing::retire(&app.db, &app.clock, &k1).await.unwrap());
    app.clock.advance(KEY_LIST_TTL_SECS);
    assert_eq!(sign(&keys).await, k2);
    let old = signing::sign_with(
        &KEK,
        &oauthd::store::signing_keys::list(&app.db)
            .await
            .unwrap()
            .into_iter()
            .find(|k| k.kid == k1)
            .unwrap(),
        &id_claims(&app, 60),
    )
    .unwrap();
    assert_eq!(
        invalid(
            keys.verify(&app.db, &app.clock, &app.config, &old, Expect::default())
                .await
        ),
        Invalid::UnknownKey
    );
    // A pending key starts signing at its activation time.
    let k3 = signing::rotate(&app.db, &app.clock, &app.config.signing, false)
        .await
        .unwrap()
        .unwrap();
    app.clock.advance(KEY_LIST_TTL_SECS);
    assert_eq!(sign(&keys).await, k2, "k3 is only pending");
    app.clock.advance(k3.activates_at - app.clock.now());
    assert_eq!(sign(&keys).await, k3.kid);
}

crate::both_backends!(
    verify_accepts_our_tokens_and_refuses_forged_expired_and_misdirected_ones,
    the_key_cache_follows_rotation_and_never_signs_with_a_retired_key,
);

// ---------------------------------------------------------------------------
// JWT access tokens over HTTP

use jsonwebtoken::jwk::JwkSet;
use oauthd::cli::admin::{self, NewClientArgs};
use oauthd::model::client::AccessTokenFormat;
use reqwest::StatusCode;

use crate::support::flow::{
    self, CB, Client, Params, register, register_confidential, signed_in, token_at,
};

const MCP: &str = "https://mcp.example/api";
const OTHER: &str = "https://other.example/api";

async fn jwks(app: &TestApp) -> JwkSet {
    let response = app
        .http
        .get(app.url("/.well-known/jwks.json"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    response.json().await.unwrap()
}

/// Verifies `token` as a resource server would, with the JWKS alone and the
/// `jsonwebtoken` crate: `typ: at+jwt`, a kid in the set, a valid
/// signature. Expiry is checked by the caller against the test clock.
fn verify_at(set: &JwkSet, token: &str) -> Result<(String, Value), String> {
    let header = jsonwebtoken::decode_header(token).map_err(|e| e.to_string())?;
    if header.typ.as_deref() != Some("at+jwt") {
        return Err(format!("typ {:?}", header.typ));
    }
    let kid = header.kid.ok_or("no kid")?;
    let jwk = set.find(&kid).ok_or(format!("{kid} is not in the JWKS"))?;
    let key = jsonwebtoken::DecodingKey::from_jwk(jwk).map_err(|e| e.to_string())?;
    let mut validation = jsonwebtoken::Validation::new(header.alg);
    validation.validate_exp = false;
    validation.validate_aud = false;
    validation.required_spec_claims.clear();
    jsonwebtoken::decode::<Value>(token, &key, &validation)
        .map(|d| (kid, d.claims))
        .map_err(|e| e.to_string())
}

/// A 200 token response's JSON.
async fn token_json(response: reqwest::Response, why: &str) -> Value {
    let status = response.status();
    let text = response.text().await.unwrap();
    assert_eq!(status, StatusCode::OK, "{why}: {text}");
    serde_json::from_str(&text).unwrap()
}

fn is_jwt(token: &str) -> bool {
    token.starts_with("eyJ") && token.split('.').count() == 3
}

async fn introspect(app: &TestApp, client: &Client, token: &str) -> Value {
    let response = token_at(
        app,
        "/oauth/introspect",
        &client.auth(),
        &[("token", token)],
        None,
    )
    .await;
    assert_eq!(response.status(), StatusCode::OK);
    response.json().await.unwrap()
}

async fn set_client_format(app: &TestApp, client: &Client, format: AccessTokenFormat) {
    admin::set_client_token_format(&app.db, &app.clock, &client.id, format)
        .await
        .unwrap();
    // The CLI's change reaches a server's client cache through the change
    // notification; this server is told at once.
    app.state.clients.evict(&client.id);
}

async fn a_client_set_to_jwt_gets_rfc_9068_tokens_that_introspect_revoke_and_refresh(
    backend: Backend,
) {
    let app = app_with_key(backend, |_| {}).await;
    let client = register_confidential(&app, &[CB]).await;
    let (browser, alice) = signed_in(&app).await;

    // Opaque by default.
    let code = browser.code(&Params::code(&client)).await;
    let body = token_json(
        flow::redeem(&app, &client, &code, Some(CB), None).await,
        "opaque",
    )
    .await;
    assert!(body["access_token"].as_str().unwrap().starts_with("oat_"));
    assert_eq!(body["expires_in"], 3600);

    set_client_format(&app, &client, AccessTokenFormat::Jwt).await;
    let code = browser.code(&Params::code(&client)).await;
    let response = flow::redeem(&app, &client, &code, Some(CB), None).await;
    flow::assert_no_store(&response, "jwt");
    let body = token_json(response, "jwt").await;
    let access = body["access_token"].as_str().unwrap().to_owned();
    assert!(is_jwt(&access), "{access}");
    assert_eq!(body["token_type"], "Bearer");
    assert_eq!(
        body["expires_in"], 300,
        "the JWT lifetime, not the opaque one"
    );
    let refresh = body["refresh_token"].as_str().unwrap().to_owned();
    assert!(refresh.starts_with("ort_"), "refresh tokens stay opaque");

    let set = jwks(&app).await;
    let (_, claims) = verify_at(&set, &access).unwrap();
    let now = app.clock.now();
    assert_eq!(claims["iss"], app.config.issuer());
    assert_eq!(claims["sub"], alice.id.as_str());
    assert_eq!(claims["client_id"], client.id.as_str());
    assert_eq!(
        claims["aud"],
        format!("{}/account", app.config.issuer()),
        "no resource asked: the default resource, /account"
    );
    assert_eq!(claims["scope"], body["scope"]);
    assert_eq!(claims["iat"], now);
    assert_eq!(claims["exp"], now + 300);
    assert!(claims["jti"].as_str().is_some_and(|j| j.len() >= 32));
    let auth_time = claims["auth_time"]
        .as_i64()
        .expect("auth_time: when alice signed in");
    assert!(auth_time <= now, "auth_time {auth_time} is a past sign-in");

    // Stored like an opaque token: introspection knows it, with the same
    // expiry; /account takes it.
    let info = introspect(&app, &client, &access).await;
    assert_eq!(info["active"], true, "{info}");
    assert_eq!(info["exp"], claims["exp"]);
    assert_eq!(info["client_id"], client.id.as_str());
    let response = flow::account(&app, &access).await;
    assert_eq!(response.status(), StatusCode::OK);
    let me: Value = response.json().await.unwrap();
    assert_eq!(me["id"], alice.id.as_str());

    // Refresh: a new JWT.
    let response = flow::token(
        &app,
        &client.auth(),
        &[("grant_type", "refresh_token"), ("refresh_token", &refresh)],
    )
    .await;
    let next = token_json(response, "refresh").await;
    let next_access = next["access_token"].as_str().unwrap().to_owned();
    assert!(is_jwt(&next_access));
    let (_, next_claims) = verify_at(&set, &next_access).unwrap();
    assert_ne!(next_claims["jti"], claims["jti"]);
    assert_eq!(next_claims["sub"], alice.id.as_str());
    assert_eq!(
        next_claims["auth_time"], auth_time,
        "a refresh keeps the original sign-in"
    );

    // Revoked: the signature still verifies (a JWT cannot be recalled), but
    // introspection says inactive at once and /account refuses it.
    let response = token_at(
        &app,
        "/oauth/revoke",
        &client.auth(),
        &[("token", &access)],
        None,
    )
    .await;
    assert_eq!(response.status(), StatusCode::OK);
    assert!(verify_at(&jwks(&app).await, &access).is_ok());
    assert_eq!(introspect(&app, &client, &access).await["active"], false);
    assert_eq!(
        flow::account(&app, &access).await.status(),
        StatusCode::UNAUTHORIZED
    );
    // Expired with its row.
    assert_eq!(
        introspect(&app, &client, &next_access).await["active"],
        true
    );
    app.clock.advance(300);
    assert_eq!(
        introspect(&app, &client, &next_access).await["active"],
        false
    );
}

async fn a_resource_set_to_jwt_makes_the_tokens_for_it_jwts(backend: Backend) {
    let app = app_with_key(backend, |_| {}).await;
    let service = register(
        &app,
        NewClientArgs {
            name: "service".into(),
            grant_types: vec!["client_credentials".into()],
            ..NewClientArgs::default()
        },
    )
    .await;
    admin::add_resource(&app.db, &app.clock, MCP, "MCP", None)
        .await
        .unwrap();
    admin::add_resource(&app.db, &app.clock, OTHER, "Other", None)
        .await
        .unwrap();
    let view = admin::set_resource_token_format(&app.db, MCP, AccessTokenFormat::Jwt)
        .await
        .unwrap();
    assert_eq!(view.access_token_format, "jwt");
    let cc = async |resources: &[&str]| {
        let mut form = vec![("grant_type", "client_credentials")];
        for r in resources {
            form.push(("resource", r));
        }
        token_json(
            flow::token(&app, &service.auth(), &form).await,
            "client credentials",
        )
        .await
    };
    for opaque in [&[][..], &[OTHER][..]] {
        let body = cc(opaque).await;
        assert!(
            body["access_token"].as_str().unwrap().starts_with("oat_"),
            "{opaque:?}: {body}"
        );
    }
    let set = jwks(&app).await;
    let body = cc(&[MCP]).await;
    let (_, claims) = verify_at(&set, body["access_token"].as_str().unwrap()).unwrap();
    assert_eq!(claims["aud"], MCP);
    assert_eq!(claims["sub"], service.id.as_str(), "RFC 9068 §2.2: no user");
    assert_eq!(claims["client_id"], service.id.as_str());
    assert!(claims.get("auth_time").is_none(), "no user signed in");
    let body = cc(&[MCP, OTHER]).await;
    let (_, claims) = verify_at(&set, body["access_token"].as_str().unwrap()).unwrap();
    assert_eq!(
        claims["aud"],
        json!([MCP, OTHER]),
        "any JWT resource makes a JWT"
    );
    // Back to opaque.
    admin::set_resource_token_format(&app.db, MCP, AccessTokenFormat::Opaque)
        .await
        .unwrap();
    assert!(
        cc(&[MCP]).await["access_token"]
            .as_str()
            .unwrap()
            .starts_with("oat_")
    );
    // No such resource.
    assert!(
        admin::set_resource_token_format(&app.db, "https://none.example/", AccessTokenFormat::Jwt)
            .await
            .is_err()
    );
}

async fn tokens_signed_before_a_rotation_verify_with_the_jwks_fetched_during_it(backend: Backend) {
    let app = app_with_key(backend, |_| {}).await;
    let client = register(
        &app,
        NewClientArgs {
            name: "service".into(),
            grant_types: vec!["client_credentials".into()],
            ..NewClientArgs::default()
        },
    )
    .await;
    set_client_format(&app, &client, AccessTokenFormat::Jwt).await;
    let issue = async || {
        token_json(
            flow::token(
                &app,
                &client.auth(),
                &[("grant_type", "client_credentials")],
            )
            .await,
            "cc",
        )
        .await["access_token"]
            .as_str()
            .unwrap()
            .to_owned()
    };
    let old = issue().await;
    let old_kid = jsonwebtoken::decode_header(&old).unwrap().kid.unwrap();
    let new_kid = signing::rotate(&app.db, &app.clock, &app.config.signing, true)
        .await
        .unwrap()
        .unwrap()
        .kid;
    app.clock.advance(KEY_LIST_TTL_SECS);
    let new = issue().await;
    assert_eq!(
        jsonwebtoken::decode_header(&new).unwrap().kid.unwrap(),
        new_kid
    );
    // Mid-rotation the JWKS holds both keys; both tokens verify.
    let set = jwks(&app).await;
    assert_eq!(verify_at(&set, &old).unwrap().0, old_kid);
    assert_eq!(verify_at(&set, &new).unwrap().0, new_kid);
    // The old key retired: gone from the JWKS, and the cache does not sign
    // with it.
    assert!(
        signing::retire(&app.db, &app.clock, &old_kid)
            .await
            .unwrap()
    );
    app.clock.advance(KEY_LIST_TTL_SECS);
    let after = issue().await;
    let set = jwks(&app).await;
    assert!(set.find(&old_kid).is_none());
    assert_eq!(verify_at(&set, &after).unwrap().0, new_kid);
    assert!(verify_at(&set, &old).is_err());
}

async fn jwt_shaped_garbage_is_an_unknown_token_and_stores_nothing(backend: Backend) {
    let app = app_with_key(backend, |_| {}).await;
    let client = register_confidential(&app, &[CB]).await;
    let before = app.snapshot().await;
    // Signed by us, but never issued as an access token: no row.
    let minted = signing::sign_typed(
        &app.db,
        &app.clock,
        &app.config.signing,
        Some("at+jwt"),
        &id_claims(&app, 60),
    )
    .await
    .unwrap();
    for token in [
        minted.as_str(),
        "eyJhbGciOiJub25lIn0.eyJzdWIiOiJ4In0.",
        "eyJ.a.b.c",
    ] {
        assert_eq!(
            introspect(&app, &client, token).await["active"],
            false,
            "{token}"
        );
        let response = flow::account(&app, token).await;
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED, "{token}");
        let challenge = flow::header(&response, "www-authenticate").unwrap_or_default();
        assert!(challenge.contains("invalid_token"), "{challenge}");
    }
    assert_eq!(app.snapshot().await, before);
}

async fn a_jwt_client_without_a_signing_key_gets_server_error_and_nothing_stored(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let client = register(
        &app,
        NewClientArgs {
            name: "service".into(),
            grant_types: vec!["client_credentials".into()],
            ..NewClientArgs::default()
        },
    )
    .await;
    set_client_format(&app, &client, AccessTokenFormat::Jwt).await;
    let before = app.snapshot().await;
    let response = flow::token(
        &app,
        &client.auth(),
        &[("grant_type", "client_credentials")],
    )
    .await;
    assert_eq!(response.status(), StatusCode::INTERNAL_SERVER_ERROR);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["error"], "server_error");
    assert_eq!(app.snapshot().await, before);
}

crate::both_backends!(
    a_client_set_to_jwt_gets_rfc_9068_tokens_that_introspect_revoke_and_refresh,
    a_resource_set_to_jwt_makes_the_tokens_for_it_jwts,
    tokens_signed_before_a_rotation_verify_with_the_jwks_fetched_during_it,
    jwt_shaped_garbage_is_an_unknown_token_and_stores_nothing,
    a_jwt_client_without_a_signing_key_gets_server_error_and_nothing_stored,
);

/// Two replicas on one database: each signs with the key the rows say is
/// active, a rotation by either reaches the other's cache within
/// `KEY_LIST_TTL_SECS`, and every token verifies with either JWKS.
async fn two_replicas_sign_with_the_same_keys_through_a_rotation(backend: Backend) {
    use crate::support::{TestDb, test_config};
    let a = app_with_key(backend, |_| {}).await;
    let mut config_b = test_config(&a.database_url);
    with_keys(&mut config_b);
    let db_b = oauthd::store::Db::connect(&config_b.database)
        .await
        .expect("connect");
    let b = TestApp::serve(config_b, db_b, TestDb::shared(&a.database_url)).await;
    let client = register(
        &a,
        NewClientArgs {
            name: "service".into(),
            grant_types: vec!["client_credentials".into()],
            ..NewClientArgs::default()
        },
    )
    .await;
    set_client_format(&a, &client, AccessTokenFormat::Jwt).await;
    let issue = async |app: &TestApp| {
        token_json(
            flow::token(app, &client.auth(), &[("grant_type", "client_credentials")]).await,
            "cc",
        )
        .await["access_token"]
            .as_str()
            .unwrap()
            .to_owned()
    };
    let kid = |t: &str| jsonwebtoken::decode_header(t).unwrap().kid.unwrap();
    let (from_a, from_b) = (issue(&a).await, issue(&b).await);
    assert_eq!(kid(&from_a), kid(&from_b), "one active key for both");
    let k2 = signing::rotate(&a.db, &a.clock, &a.config.signing, true)
        .await
        .unwrap()
        .unwrap()
        .kid;
    a.clock.advance(KEY_LIST_TTL_SECS);
    b.clock.advance(KEY_LIST_TTL_SECS);
    let (next_a, next_b) = (issue(&a).await, issue(&b).await);
    assert_eq!(kid(&next_a), k2);
    assert_eq!(kid(&next_b), k2, "the other replica's cache follows");
    for set in [jwks(&a).await, jwks(&b).await] {
        for token in [&from_a, &from_b, &next_a, &next_b] {
            verify_at(&set, token).unwrap();
        }
    }
    // Stored once, seen by both: introspected at a, revoked at b.
    assert_eq!(introspect(&a, &client, &from_b).await["active"], true);
    let response = token_at(
        &b,
        "/oauth/revoke",
        &client.auth(),
        &[("token", &from_a)],
        None,
    )
    .await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(introspect(&a, &client, &from_a).await["active"], false);
}

crate::both_backends!(two_replicas_sign_with_the_same_keys_through_a_rotation);
