//! `oauthd config check` and `oauthd completions`, run as the real binary.
//! Neither needs a database.

use serde_json::Value;

use crate::cli::oauthd;
use crate::transfer::{assert_exit, text};

/// A database that never answers: `config check` must not try it.
const UNREACHABLE: &str = "postgres://oauthd:db-password-9f3a@127.0.0.1:9/oauthd";

#[test]
fn config_check_prints_effective_values_and_the_metadata_without_a_database() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("oauthd.toml");
    std::fs::write(
        &path,
        "public_url = \"https://auth.example\"\n[tokens]\naccess_token_lifetime_secs = 900\n\
         [authorize]\nallow_plain_pkce = true\n",
    )
    .unwrap();
    let path_arg = path.display().to_string();
    let env = [
        ("DATABASE_URL", UNREACHABLE),
        ("OAUTHD_DATABASE__ACQUIRE_TIMEOUT_SECS", "30"),
        ("OAUTHD_REGISTRATION__POLICY", "closed"),
    ];

    let output = oauthd(&["config", "check", "--config", &path_arg], &env, None);
    assert_exit(&output, 0, "a valid config");
    let stdout = text(&output.stdout);
    assert!(text(&output.stderr).contains("the configuration is valid"));
    for line in [
        "listen = \"127.0.0.1:8080\"",
        "public_url = \"https://auth.example\"\n",
        "access_token_lifetime_secs = 900",
        "policy = \"closed\"",
        "\"issuer\": \"https://auth.example\"",
        "\"token_endpoint\": \"https://auth.example/oauth/token\"",
        "\"plain\"",
    ] {
        assert!(stdout.contains(line), "{line:?} in\n{stdout}");
    }
    assert!(
        !stdout.contains("registration_endpoint"),
        "closed registration is not advertised"
    );

    // --json: one object, with the same metadata the server serves.
    let output = oauthd(&["config", "check", "--json"], &env, None);
    assert_exit(&output, 0, "--json");
    let checked: Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(checked["config"]["listen"], "127.0.0.1:8080");
    assert_eq!(checked["config"]["tokens"]["code_lifetime_secs"], 600);
    assert_eq!(checked["metadata"]["issuer"], "http://127.0.0.1:8080");
    assert_eq!(
        checked["metadata"]["code_challenge_methods_supported"],
        serde_json::json!(["S256"])
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn config_check_prints_the_metadata_the_server_serves() {
    let app = crate::support::TestApp::spawn(crate::support::Backend::Sqlite).await;
    let served: Value = app
        .http
        .get(app.url("/.well-known/oauth-authorization-server"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let output = oauthd(
        &["config", "check", "--json"],
        &[
            ("DATABASE_URL", app.database_url.as_str()),
            ("OAUTHD_LISTEN", &app.config.listen.to_string()),
        ],
        None,
    );
    assert_exit(&output, 0, "config check");
    let checked: Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(checked["metadata"], served, "one builder for both");
}

#[test]
fn config_check_never_prints_a_secret() {
    let token = "initial-access-token-4c1d2e";
    let env = [
        (
            "DATABASE_URL",
            "postgres://oauthd:db-password-9f3a@db.internal:5432/oauthd?password=query-password-77&sslmode=require",
        ),
        ("OAUTHD_REGISTRATION__POLICY", "token"),
        ("OAUTHD_REGISTRATION__INITIAL_ACCESS_TOKEN", token),
    ];
    for args in [&["config", "check"][..], &["config", "check", "--json"][..]] {
        let output = oauthd(args, &env, None);
        assert_exit(&output, 0, "valid");
        let all = format!("{}{}", text(&output.stdout), text(&output.stderr));
        for secret in [token, "db-password-9f3a", "query-password-77"] {
            assert!(!all.contains(secret), "{args:?}: {secret} printed:\n{all}");
        }
        assert!(all.contains("db.internal:5432/oauthd"), "the rest shows");
        assert!(all.contains("sslmode=require"), "the rest shows");
        assert!(all.contains("REDACTED"), "{all}");
    }
}

#[test]
fn config_check_refuses_a_bad_config_with_exit_2_and_one_line() {
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("bad.toml");
    std::fs::write(&bad, "[database]\nurll = \"sqlite://x.db\"\n").unwrap();
    let bad_arg = bad.display().to_string();
    type Case<'a> = (Vec<&'a str>, Vec<(&'a str, &'a str)>, &'a str);
    let cases: Vec<Case<'_>> = vec![
        (
            vec!["config", "check", "--config", &bad_arg],
            vec![],
            "database.urll",
        ),
        (
            vec!["config", "check"],
            vec![("OAUTHD_LISTEN", "nowhere")],
            "listen",
        ),
        (
            vec!["config", "check"],
            vec![("OAUTHD_REGISTRATION__POLICY", "token")],
            "registration.initial_access_token",
        ),
    ];
    for (args, env, key) in cases {
        let checked = oauthd(&args, &env, None);
        assert_exit(&checked, 2, key);
        let stderr = text(&checked.stderr);
        assert_eq!(stderr.trim_end().lines().count(), 1, "one line: {stderr}");
        assert!(stderr.contains(key), "{key} in {stderr}");
        assert!(checked.stdout.is_empty(), "nothing printed as valid");
        // Exactly what serve says about the same config.
        let mut serve_args: Vec<&str> = args[2..].to_vec();
        serve_args.push("serve");
        let served = oauthd(&serve_args, &env, None);
        assert_exit(&served, 2, key);
        assert_eq!(text(&served.stderr), stderr, "the same error as serve");
    }
}

#[test]
fn completions_are_printed_for_every_shell() {
    for shell in ["bash", "zsh", "fish", "elvish", "powershell"] {
        let output = oauthd(&["completions", shell], &[], None);
        assert_exit(&output, 0, shell);
        let script = text(&output.stdout);
        assert!(
            script.contains("oauthd") && script.contains("export") && script.len() > 1000,
            "{shell}: a completion script naming the commands"
        );
    }
    assert_exit(
        &oauthd(&["completions", "tcsh"], &[], None),
        2,
        "an unknown shell is a usage error",
    );
}
