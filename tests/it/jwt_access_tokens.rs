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
    let good = signing::sign(&app.db, &app.clock, &app.config.signing, &id_claims(&app, 60))
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
    let other = signing::sign(&app.db, &app.clock, &app.config.signing, &json!({
        "iss": app.config.issuer(), "sub": "user-2", "exp": app.clock.now() + 60
    }))
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
    let tampered = format!(
        "{}.{}.{}",
        parts[0],
        B64.encode(body.to_string()),
        parts[2]
    );
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
    let expired = signing::sign(&app.db, &app.clock, &app.config.signing, &id_claims(&app, 60))
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
    let fresh = signing::sign(&app.db, &app.clock, &app.config.signing, &id_claims(&app, 60))
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
        invalid(keys.verify(&app.db, &app.clock, &app.config, &old, Expect::default()).await),
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
