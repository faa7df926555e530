//! ID-token signing keys: sealed at rest, the JWKS through a rotation,
//! scheduled rotation, two replicas on one database, the CLI.

use std::sync::Arc;

use base64::Engine as _;
use jsonwebtoken::jwk::JwkSet;
use jsonwebtoken::{DecodingKey, Validation};
use oauthd::config::{Config, SigningAlgorithm};
use oauthd::signing::{self, SigningError};
use oauthd::store::Db;
use oauthd::store::signing_keys;
use serde_json::{Value, json};
use tokio::sync::Barrier;

use crate::support::{Backend, TestApp, TestDb, test_config};

const KEK: [u8; 32] = [7u8; 32];

fn with_keys(alg: SigningAlgorithm) -> impl FnOnce(&mut Config) {
    move |c: &mut Config| {
        c.signing.key_encryption_key = Some(KEK);
        c.signing.algorithm = alg;
        c.signing.prepublish = std::time::Duration::from_secs(600);
        c.signing.max_token_lifetime = std::time::Duration::from_secs(900);
        c.signing.rotate_after = Some(std::time::Duration::from_secs(86_400));
    }
}

fn claims(n: u32) -> Value {
    // exp far ahead of the wall clock the verifier reads.
    json!({"iss": "https://op.example", "sub": format!("user-{n}"), "exp": 4_000_000_000u64})
}

async fn fetch_jwks(app: &TestApp) -> (JwkSet, Value) {
    let response = app
        .http
        .get(app.url("/.well-known/jwks.json"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(
        response.headers()["content-type"],
        "application/jwk-set+json"
    );
    let raw: Value = response.json().await.unwrap();
    (serde_json::from_value(raw.clone()).unwrap(), raw)
}

fn kids(set: &JwkSet) -> Vec<String> {
    set.keys
        .iter()
        .map(|k| k.common.key_id.clone().unwrap())
        .collect()
}

fn header_kid(token: &str) -> String {
    jsonwebtoken::decode_header(token).unwrap().kid.unwrap()
}

/// Verifies `token` with the key its header names, taken from `set`.
fn verify(set: &JwkSet, token: &str) -> Result<Value, String> {
    let header = jsonwebtoken::decode_header(token).map_err(|e| e.to_string())?;
    let kid = header.kid.ok_or("no kid")?;
    let jwk = set.find(&kid).ok_or(format!("{kid} is not in the JWKS"))?;
    let key = DecodingKey::from_jwk(jwk).map_err(|e| e.to_string())?;
    jsonwebtoken::decode::<Value>(token, &key, &Validation::new(header.alg))
        .map(|d| d.claims)
        .map_err(|e| e.to_string())
}

async fn sign(app: &TestApp, n: u32) -> String {
    signing::sign(&app.db, &app.clock, &app.config.signing, &claims(n))
        .await
        .unwrap()
}

async fn keys_are_sealed_at_rest_and_a_wrong_kek_fails_clearly(backend: Backend) {
    let app = TestApp::spawn_with(backend, with_keys(SigningAlgorithm::Es256)).await;
    // Nothing before the first maintenance pass: an empty JWKS, no signing.
    let (set, _) = fetch_jwks(&app).await;
    assert!(set.keys.is_empty());
    let err = signing::sign(&app.db, &app.clock, &app.config.signing, &claims(0))
        .await
        .unwrap_err();
    assert!(matches!(err, SigningError::NoActiveKey), "{err}");

    let first = signing::maintain(&app.db, &app.clock, &app.config.signing)
        .await
        .unwrap()
        .expect("the first key");
    assert_eq!(
        first.activates_at,
        app.clock.now(),
        "the first key signs at once"
    );
    assert_eq!(app.count("signing_keys").await, 1);
    // A second pass has nothing to do.
    assert!(
        signing::maintain(&app.db, &app.clock, &app.config.signing)
            .await
            .unwrap()
            .is_none()
    );

    let rows = signing_keys::list(&app.db).await.unwrap();
    let row = &rows[0];
    let der = signing::open(&KEK, &row.kid, &row.private_key).unwrap();
    assert!(der.len() > 32);
    assert_ne!(row.private_key, der);
    assert!(
        !row.private_key
            .windows(der.len())
            .any(|w| w == der.as_slice()),
        "the stored bytes must not contain the private key"
    );
    assert!(
        !row.public_jwk.contains("\"d\""),
        "no private part in the JWK"
    );

    // A wrong key-encryption key: a clear error naming the key, and nothing
    // of either secret.
    let wrong = [9u8; 32];
    let err = signing::open(&wrong, &row.kid, &row.private_key).unwrap_err();
    let message = err.to_string();
    assert!(matches!(err, SigningError::Decrypt { .. }));
    assert!(
        message.contains(&row.kid) && message.contains("key_encryption_key"),
        "{message}"
    );
    let wrong_b64 = base64::engine::general_purpose::STANDARD.encode(wrong);
    assert!(!message.contains(&wrong_b64));
    let mut config = app.config.signing.clone();
    config.key_encryption_key = Some(wrong);
    let err = signing::sign(&app.db, &app.clock, &config, &claims(1))
        .await
        .unwrap_err();
    assert!(matches!(err, SigningError::Decrypt { .. }), "{err}");
    // The row sealed under one kid does not open as another (kid is bound).
    assert!(signing::open(&KEK, "other", &row.private_key).is_err());
    // Without a key-encryption key: nothing is generated.
    config.key_encryption_key = None;
    assert!(
        signing::maintain(&app.db, &app.clock, &config)
            .await
            .unwrap()
            .is_none()
    );
    let err = signing::rotate(&app.db, &app.clock, &config, true)
        .await
        .unwrap_err();
    assert!(matches!(err, SigningError::NoKek), "{err}");
    assert_eq!(app.count("signing_keys").await, 1);

    // The key it made signs, and the JWKS verifies it.
    let token = sign(&app, 1).await;
    assert_eq!(header_kid(&token), row.kid);
    let (set, _) = fetch_jwks(&app).await;
    assert_eq!(verify(&set, &token).unwrap()["sub"], "user-1");
}

async fn the_jwks_follows_a_rotation_and_old_tokens_keep_verifying(backend: Backend) {
    let app = TestApp::spawn_with(backend, with_keys(SigningAlgorithm::Rs256)).await;
    let metadata: Value = app
        .http
        .get(app.url("/.well-known/oauth-authorization-server"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(metadata["jwks_uri"], app.url("/.well-known/jwks.json"));

    let k1 = signing::maintain(&app.db, &app.clock, &app.config.signing)
        .await
        .unwrap()
        .unwrap();
    let t1 = sign(&app, 1).await;
    let (set, raw) = fetch_jwks(&app).await;
    assert_eq!(kids(&set), [k1.kid.as_str()]);
    let jwk = &raw["keys"][0];
    assert_eq!(jwk["kty"], "RSA");
    assert_eq!(jwk["alg"], "RS256");
    assert_eq!(jwk["use"], "sig");
    assert!(jwk.get("d").is_none() && jwk.get("p").is_none());
    assert_eq!(
        jsonwebtoken::decode_header(&t1).unwrap().alg,
        jsonwebtoken::Algorithm::RS256
    );
    verify(&set, &t1).unwrap();

    // Rotate: the new key is published at once, but signs only after the
    // pre-publish delay.
    let k2 = signing::rotate(&app.db, &app.clock, &app.config.signing, false)
        .await
        .unwrap()
        .unwrap();
    let (set, _) = fetch_jwks(&app).await;
    assert_eq!(kids(&set), [k1.kid.as_str(), k2.kid.as_str()]);
    let t2 = sign(&app, 2).await;
    assert_eq!(
        header_kid(&t2),
        k1.kid,
        "the new key must not sign before it is published long enough"
    );
    app.clock.advance(599);
    assert_eq!(header_kid(&sign(&app, 3).await), k1.kid);

    // Past the delay: the new key signs; the old one stays published.
    app.clock.advance(1);
    let t4 = sign(&app, 4).await;
    assert_eq!(header_kid(&t4), k2.kid);
    let (set, _) = fetch_jwks(&app).await;
    assert_eq!(kids(&set), [k1.kid.as_str(), k2.kid.as_str()]);
    for t in [&t1, &t2, &t4] {
        verify(&set, t).unwrap();
    }

    // Until everything the old key signed has expired.
    app.clock.advance(899);
    let (set, _) = fetch_jwks(&app).await;
    assert_eq!(kids(&set), [k1.kid.as_str(), k2.kid.as_str()]);
    verify(&set, &t2).unwrap();
    app.clock.advance(1);
    let (set, _) = fetch_jwks(&app).await;
    assert_eq!(kids(&set), [k2.kid.as_str()]);
    assert!(verify(&set, &t1).unwrap_err().contains("not in the JWKS"));
    verify(&set, &t4).unwrap();

    // A token signed by one key does not verify with another.
    let mut forged = t4.clone();
    let k1_header = t1.split('.').next().unwrap();
    forged.replace_range(..forged.find('.').unwrap(), k1_header);
    let (set_both, _) = {
        // The JWKS from mid-rotation, with both keys.
        let rows = signing_keys::list(&app.db).await.unwrap();
        let doc = signing::jwks(&rows, app.clock.now() - 900, &app.config.signing);
        (serde_json::from_value::<JwkSet>(doc.clone()).unwrap(), doc)
    };
    assert_eq!(set_both.keys.len(), 2);
    assert!(verify(&set_both, &forged).is_err());

    // Retiring: never the active key; a retired key leaves the JWKS.
    let err = signing::retire(&app.db, &app.clock, &k2.kid)
        .await
        .unwrap_err();
    assert!(matches!(err, SigningError::Refused(_)), "{err}");
    let k3 = signing::rotate(&app.db, &app.clock, &app.config.signing, true)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(header_kid(&sign(&app, 5).await), k3.kid);
    assert!(signing::retire(&app.db, &app.clock, &k2.kid).await.unwrap());
    assert!(!signing::retire(&app.db, &app.clock, &k2.kid).await.unwrap());
    let (set, _) = fetch_jwks(&app).await;
    assert_eq!(kids(&set), [k3.kid.as_str()]);
    let views = signing::views(
        &signing_keys::list(&app.db).await.unwrap(),
        app.clock.now(),
        &app.config.signing,
    );
    let states: Vec<&str> = views.iter().map(|v| v.state).collect();
    assert_eq!(states, ["expired", "retired", "active"]);
}

async fn every_algorithm_signs_and_verifies_from_the_jwks(backend: Backend) {
    for (alg, kty) in [
        (SigningAlgorithm::Es256, "EC"),
        (SigningAlgorithm::EdDsa, "OKP"),
    ] {
        let app = TestApp::spawn_with(backend, with_keys(alg)).await;
        signing::maintain(&app.db, &app.clock, &app.config.signing)
            .await
            .unwrap()
            .unwrap();
        let token = sign(&app, 7).await;
        let (set, raw) = fetch_jwks(&app).await;
        assert_eq!(raw["keys"][0]["kty"], kty);
        assert_eq!(raw["keys"][0]["alg"], alg.as_str());
        assert_eq!(verify(&set, &token).unwrap()["sub"], "user-7");
        // A changed payload fails.
        let parts: Vec<&str> = token.split('.').collect();
        let other = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(claims(8).to_string());
        let tampered = format!("{}.{other}.{}", parts[0], parts[2]);
        assert!(verify(&set, &tampered).is_err());
    }
}

async fn scheduled_rotation_and_two_replicas_agree_through_the_database(backend: Backend) {
    let a = TestApp::spawn_with(backend, with_keys(SigningAlgorithm::Es256)).await;
    let mut config_b = test_config(&a.database_url);
    with_keys(SigningAlgorithm::Es256)(&mut config_b);
    let db_b = Db::connect(&config_b.database).await.expect("connect");
    let b = TestApp::serve(config_b, db_b, TestDb::shared(&a.database_url)).await;
    assert_eq!(a.clock.now(), b.clock.now());
    let replicas = Arc::new([a, b]);

    let mut seen = Vec::new();
    for round in 0..4 {
        // Both replicas run their maintenance at the same moment.
        let barrier = Arc::new(Barrier::new(2));
        let mut tasks = Vec::new();
        for i in 0..2 {
            let (replicas, barrier) = (Arc::clone(&replicas), Arc::clone(&barrier));
            tasks.push(tokio::spawn(async move {
                let app = &replicas[i];
                barrier.wait().await;
                signing::maintain(&app.db, &app.clock, &app.config.signing).await
            }));
        }
        let mut created = 0;
        for t in tasks {
            if t.await.unwrap().unwrap().is_some() {
                created += 1;
            }
        }
        let [a, b] = &*replicas;
        assert_eq!(
            created,
            1,
            "round {round}: exactly one replica creates the key: {:?}",
            signing_keys::list(&a.db)
                .await
                .unwrap()
                .iter()
                .map(|k| (k.generation, k.activates_at, k.created_at))
                .collect::<Vec<_>>()
        );
        assert_eq!(a.count("signing_keys").await, round + 1);
        // Both serve the same JWKS and sign with the same key.
        let (set_a, raw_a) = fetch_jwks(a).await;
        let (_, raw_b) = fetch_jwks(b).await;
        assert_eq!(raw_a, raw_b, "round {round}");
        let (ta, tb) = (sign(a, 1).await, sign(b, 2).await);
        assert_eq!(header_kid(&ta), header_kid(&tb), "round {round}");
        verify(&set_a, &tb).unwrap();
        seen.push(header_kid(&ta));
        // Not yet due: nothing happens on either.
        for app in [a, b] {
            assert!(
                signing::maintain(&app.db, &app.clock, &app.config.signing)
                    .await
                    .unwrap()
                    .is_none()
            );
        }
        // Due: a day after the newest key started signing, less the
        // pre-publish delay. Then the new key signs after the delay.
        for app in [a, b] {
            app.clock.advance(86_400 - 600);
        }
        if round > 0 {
            // The key rotated last round began signing 600 s after it was
            // made, so it is due 600 s later than the first.
            for app in [a, b] {
                app.clock.advance(600);
            }
        }
    }
    // One key was made at start (signing at once); each later one signed
    // from 600 s after it was made, and the previous key signed until then.
    let [a, _] = &*replicas;
    let rows = signing_keys::list(&a.db).await.unwrap();
    let generations: Vec<i64> = rows.iter().map(|k| k.generation).collect();
    assert_eq!(generations, [1, 2, 3, 4]);
    for pair in rows.windows(2) {
        assert_eq!(pair[1].activates_at, pair[1].created_at + 600);
    }
    // Round 0 signed with key 1; rounds 1-3 were still within the previous
    // key's time (the new key had just been published).
    assert_eq!(seen[0], rows[0].kid);
    assert_eq!(seen[1], rows[0].kid);
    assert_eq!(seen[2], rows[1].kid);
    assert_eq!(seen[3], rows[2].kid);
}

async fn the_keys_commands_rotate_list_and_retire(backend: Backend) {
    let app = TestApp::spawn_with(backend, with_keys(SigningAlgorithm::Es256)).await;
    let kek = base64::engine::general_purpose::STANDARD.encode(KEK);
    let env = |kek: &str| {
        vec![
            ("DATABASE_URL", app.database_url.clone()),
            ("OAUTHD_SIGNING__KEY_ENCRYPTION_KEY", kek.to_owned()),
            ("OAUTHD_SIGNING__ALGORITHM", "ES256".to_owned()),
        ]
    };
    let run = |args: &[&str], env: Vec<(&'static str, String)>| {
        let pairs: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
        crate::cli::oauthd(args, &pairs, None)
    };
    let text = |b: &[u8]| String::from_utf8_lossy(b).into_owned();

    // No key-encryption key: a usage error that says which key to set.
    let out = run(
        &["keys", "rotate", "--now"],
        vec![("DATABASE_URL", app.database_url.clone())],
    );
    assert_eq!(out.status.code(), Some(2), "{}", text(&out.stderr));
    assert!(text(&out.stderr).contains("signing.key_encryption_key"));
    // A malformed one: the config error names the variable, not the value.
    let out = run(&["keys", "list"], env("c2hvcnQ="));
    assert_eq!(out.status.code(), Some(2));
    let err = text(&out.stderr);
    assert!(
        err.contains("signing.key_encryption_key") && !err.contains("c2hvcnQ="),
        "{err}"
    );

    let out = run(&["keys", "rotate", "--now", "--json"], env(&kek));
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let first: Value = serde_json::from_slice(&out.stdout).unwrap();
    let k1 = first[0]["kid"].as_str().unwrap().to_owned();
    assert_eq!(first[0]["state"], "active");
    let out = run(&["keys", "rotate", "--json"], env(&kek));
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let second: Value = serde_json::from_slice(&out.stdout).unwrap();
    let k2 = second[0]["kid"].as_str().unwrap().to_owned();

    // The CLI ran on the system clock; list states at the server's clock
    // are not compared, only what the CLI itself reports.
    let out = run(&["keys", "list", "--json"], env(&kek));
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let list: Value = serde_json::from_slice(&out.stdout).unwrap();
    let states: Vec<(&str, &str)> = list
        .as_array()
        .unwrap()
        .iter()
        .map(|k| (k["kid"].as_str().unwrap(), k["state"].as_str().unwrap()))
        .collect();
    assert_eq!(states, [(k1.as_str(), "active"), (k2.as_str(), "pending")]);
    assert!(!text(&out.stdout).contains("private"));

    // The active key is not retired; the pending one is.
    let out = run(&["keys", "retire", &k1], env(&kek));
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out.stderr).contains("rotate --now"));
    let out = run(&["keys", "retire", &k2], env(&kek));
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let out = run(&["keys", "retire", &k2], env(&kek));
    assert_eq!(out.status.code(), Some(2));
    let rows = signing_keys::list(&app.db).await.unwrap();
    assert_eq!(rows.len(), 2);
    assert!(rows[1].retired_at.is_some() && rows[0].retired_at.is_none());
    // The key the CLI made opens under the same key-encryption key.
    signing::open(&KEK, &rows[0].kid, &rows[0].private_key).unwrap();
}

crate::both_backends!(
    the_keys_commands_rotate_list_and_retire,
    keys_are_sealed_at_rest_and_a_wrong_kek_fails_clearly,
    the_jwks_follows_a_rotation_and_old_tokens_keep_verifying,
    every_algorithm_signs_and_verifies_from_the_jwks,
    scheduled_rotation_and_two_replicas_agree_through_the_database,
);
