//! Every CLI subcommand, run as the real binary against both databases.

use std::io::Write;
use std::process::{Command, Output, Stdio};

use oauthd::store;
use serde_json::Value;

use crate::both_backends;
use crate::support::flow;
use crate::support::{Backend, TestApp, TestDb};

both_backends!(
    migrate_applies_and_is_idempotent,
    commands_say_which_database_and_refuse_to_make_one,
    user_commands_manage_accounts,
    user_add_refuses_bad_input_with_exit_code_2,
    client_commands_manage_clients,
    client_add_refuses_bad_input_with_exit_code_2,
    client_introspection_permission_is_set_and_shown,
    token_commands_manage_personal_access_tokens,
    janitor_once_runs_one_pass,
    resource_commands_register_list_and_remove,
    client_resources_sets_and_shows_the_allow_list,
    client_add_registers_a_device_client,
    client_add_sets_the_auth_method_and_application_type,
    token_formats_and_logout_uris_are_set_by_the_cli_and_carried_by_export,
);

async fn client_add_registers_a_device_client(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let add = run(
        &app,
        &[
            "client",
            "add",
            "--name",
            "Living Room TV",
            "--public",
            "--grant-type",
            "urn:ietf:params:oauth:grant-type:device_code",
            "--grant-type",
            "refresh_token",
        ],
        None,
    );
    assert_exit(&add, 0, "client add --grant-type");
    let out = text(&add.stdout);
    assert!(
        out.contains("grant types:   refresh_token urn:ietf:params:oauth:grant-type:device_code"),
        "{out}"
    );
    assert!(out.contains("redirect URIs: (none)\n"), "{out}");
    let id = out
        .lines()
        .find_map(|l| l.strip_prefix("client_id:"))
        .unwrap()
        .trim()
        .to_owned();
    // The device can start a request at once.
    let response = app
        .http
        .post(app.url("/oauth/device_authorization"))
        .form(&[("client_id", id.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), reqwest::StatusCode::OK);
}

/// The client id `client add` printed.
fn client_id_of(out: &str) -> String {
    out.lines()
        .find_map(|l| l.strip_prefix("client_id:"))
        .unwrap()
        .trim()
        .to_owned()
}

/// `client add` sets what `POST /api/client` can: the auth method and the
/// application type too, under the same rules.
async fn client_add_sets_the_auth_method_and_application_type(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let post_only = run(
        &app,
        &[
            "client",
            "add",
            "--name",
            "Service",
            "--auth-method",
            "client_secret_post",
            "--grant-type",
            "client_credentials",
        ],
        None,
    );
    assert_exit(&post_only, 0, "client add --auth-method client_secret_post");
    let id = client_id_of(&text(&post_only.stdout));
    let stored = store::clients::find(&app.db, &id).await.unwrap().unwrap();
    assert_eq!(stored.auth_method.as_str(), "client_secret_post");
    assert_eq!(
        stored.secret_methods,
        oauthd::oauth::registration::SecretMethods::Registered,
        "held to the method it named"
    );

    let native = run(
        &app,
        &[
            "client",
            "add",
            "--name",
            "Desktop",
            "--auth-method",
            "none",
            "--application-type",
            "native",
            "--redirect-uri",
            "http://127.0.0.1/cb",
        ],
        None,
    );
    assert_exit(&native, 0, "client add --application-type native");
    let id = client_id_of(&text(&native.stdout));
    let stored = store::clients::find(&app.db, &id).await.unwrap().unwrap();
    assert_eq!(stored.application_type.as_str(), "native");
    assert!(stored.is_public());

    let before = app.count("clients").await;
    for (args, why) in [
        (
            vec!["--auth-method", "private_key_jwt"],
            "an unsupported method",
        ),
        (
            vec!["--application-type", "desktop"],
            "an unknown application type",
        ),
        (
            vec![
                "--application-type",
                "native",
                "--redirect-uri",
                "http://app.example/cb",
            ],
            "a native app with http to a host that is not loopback",
        ),
        (
            vec!["--public", "--auth-method", "none"],
            "--public with --auth-method",
        ),
    ] {
        let mut all = vec!["client", "add", "--name", "Bad"];
        all.extend(args);
        let output = run(&app, &all, None);
        assert_eq!(
            output.status.code(),
            Some(2),
            "{why}: {}",
            text(&output.stderr)
        );
    }
    assert_eq!(app.count("clients").await, before, "nothing stored");
}

/// Runs `oauthd ARGS` with only the given environment, feeding `stdin`.
pub(crate) fn oauthd(args: &[&str], env: &[(&str, &str)], stdin: Option<&str>) -> Output {
    let mut command = Command::new(env!("CARGO_BIN_EXE_oauthd"));
    command
        .args(args)
        .env_clear()
        .envs(env.iter().copied())
        .stdin(if stdin.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = command.spawn().expect("run oauthd");
    if let Some(input) = stdin {
        child
            .stdin
            .take()
            .expect("stdin")
            .write_all(input.as_bytes())
            .expect("write stdin");
    }
    child.wait_with_output().expect("wait for oauthd")
}

fn run(app: &TestApp, args: &[&str], stdin: Option<&str>) -> Output {
    oauthd(args, &[("DATABASE_URL", app.database_url.as_str())], stdin)
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

#[track_caller]
fn assert_exit(output: &Output, code: i32, why: &str) {
    assert_eq!(
        output.status.code(),
        Some(code),
        "{why}\nstdout: {}\nstderr: {}",
        text(&output.stdout),
        text(&output.stderr)
    );
}

/// Every database command names its database first; only `migrate` and
/// `import` make a schema where there is none. A SQLite path that does not
/// exist is not created, and an empty Postgres database is not migrated.
async fn commands_say_which_database_and_refuse_to_make_one(backend: Backend) {
    // SQLite: a file not yet made, in a directory that exists (as a path
    // typed in the wrong directory would be). Postgres: an empty database.
    let empty = TestDb::new(backend).await;
    let url = empty.url.clone();
    for args in [
        vec!["user", "list"],
        vec!["client", "list"],
        vec!["token", "list", "--user", "alice"],
        vec!["resource", "list"],
        vec!["export"],
        vec!["janitor", "--once"],
    ] {
        let output = oauthd(&args, &[("DATABASE_URL", url.as_str())], None);
        assert_exit(&output, 1, &format!("{args:?} on no database"));
        let stderr = text(&output.stderr);
        let mut lines = stderr.lines();
        assert!(
            lines
                .next()
                .is_some_and(|l| l.starts_with("oauthd: database ")),
            "{args:?}: the database first: {stderr}"
        );
        let refusal = lines.next().unwrap_or_default();
        assert!(
            refusal.contains("no oauthd database at") && refusal.contains("oauthd migrate"),
            "{args:?}: {stderr}"
        );
        assert_eq!(lines.next(), None, "{args:?}: two lines: {stderr}");
    }
    // Nothing was made: no SQLite file, no table in the Postgres database.
    match backend {
        Backend::Sqlite => {
            let path = url.trim_start_matches("sqlite://");
            assert!(!std::path::Path::new(path).exists(), "no file at {path}");
        }
        Backend::Postgres => {
            use sqlx::Connection as _;
            let mut conn = sqlx::PgConnection::connect(&url).await.unwrap();
            let tables: i64 = sqlx::query_scalar(
                "select count(*) from information_schema.tables where table_schema = 'public'",
            )
            .fetch_one(&mut conn)
            .await
            .unwrap();
            assert_eq!(tables, 0, "no schema was made");
        }
    }
    // `migrate` makes it; then the same command works and still says where.
    let migrate = oauthd(&["migrate"], &[("DATABASE_URL", url.as_str())], None);
    assert_exit(&migrate, 0, "migrate makes the database");
    let list = oauthd(&["user", "list"], &[("DATABASE_URL", url.as_str())], None);
    assert_exit(&list, 0, "user list after migrate");
    assert!(text(&list.stderr).starts_with("oauthd: database "));
    // A password in a Postgres URL is never printed.
    if backend == Backend::Postgres {
        let mut with_password = url::Url::parse(&url).unwrap();
        with_password.set_password(Some("hunter2-secret")).unwrap();
        let output = oauthd(
            &["user", "list"],
            &[("DATABASE_URL", with_password.as_str())],
            None,
        );
        assert!(
            !text(&output.stderr).contains("hunter2-secret"),
            "{}",
            text(&output.stderr)
        );
    }
}

async fn migrate_applies_and_is_idempotent(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let first = run(&app, &["migrate"], None);
    assert_exit(&first, 0, "migrate");
    assert!(text(&first.stderr).contains("migrations applied"));
    assert_exit(&run(&app, &["migrate"], None), 0, "migrate again");
}

async fn user_commands_manage_accounts(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let add = run(
        &app,
        &["user", "add", "Alice", "--password-stdin"],
        Some("correct horse battery\n"),
    );
    assert_exit(&add, 0, "user add");
    let alice = store::users::find_by_username(&app.db, "alice")
        .await
        .unwrap()
        .unwrap();
    assert!(alice.password_hash.starts_with("$argon2id$"));
    assert!(oauthd::crypto::verify_password(
        "correct horse battery",
        &alice.password_hash
    ));
    assert!(!alice.disabled);

    assert_exit(
        &run(
            &app,
            &["user", "add", "alice", "--password-stdin"],
            Some("another password\n"),
        ),
        1,
        "duplicate user",
    );

    // The profile: shown, set, refused when malformed, verified on request.
    let shown = run(&app, &["user", "profile", "alice"], None);
    assert_exit(&shown, 0, "user profile");
    assert!(text(&shown.stdout).contains("email:          -"));
    let set = run(
        &app,
        &[
            "user",
            "profile",
            "alice",
            "--name",
            "Alice Liddell",
            "--email",
            "alice@example.com",
            "--email-verified",
            "true",
        ],
        None,
    );
    assert_exit(&set, 0, "user profile --name --email --email-verified");
    let printed = text(&set.stdout);
    assert!(
        printed.contains("name:           Alice Liddell"),
        "{printed}"
    );
    assert!(printed.contains("email_verified: true"), "{printed}");
    let bad = run(
        &app,
        &["user", "profile", "alice", "--email", "alice"],
        None,
    );
    assert_exit(&bad, 2, "not an email address");
    assert!(text(&bad.stderr).contains("not an email address"));
    let alice = store::users::find_by_username(&app.db, "alice")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(alice.email.as_deref(), Some("alice@example.com"), "kept");
    assert!(alice.email_verified);
    // A new address without the flag is unverified; the name is kept.
    let moved = run(
        &app,
        &["user", "profile", "alice", "--email", "a@new.example"],
        None,
    );
    assert_exit(&moved, 0, "user profile --email");
    let printed = text(&moved.stdout);
    assert!(printed.contains("email_verified: false"), "{printed}");
    assert!(
        printed.contains("name:           Alice Liddell"),
        "{printed}"
    );
    let nobody = run(&app, &["user", "profile", "nobody", "--name", "X"], None);
    assert_exit(&nobody, 1, "no such user");

    let list = run(&app, &["user", "list"], None);
    assert_exit(&list, 0, "user list");
    let listed = text(&list.stdout);
    assert!(
        listed.contains("alice") && listed.contains("active"),
        "{listed}"
    );
    assert!(!listed.contains("argon2"), "never print hashes");

    assert_exit(
        &run(
            &app,
            &["user", "passwd", "alice", "--password-stdin"],
            Some("a new passphrase\n"),
        ),
        0,
        "user passwd",
    );
    let alice = store::users::find_by_username(&app.db, "alice")
        .await
        .unwrap()
        .unwrap();
    assert!(oauthd::crypto::verify_password(
        "a new passphrase",
        &alice.password_hash
    ));
    assert!(!oauthd::crypto::verify_password(
        "correct horse battery",
        &alice.password_hash
    ));

    assert_exit(
        &run(&app, &["user", "disable", "alice"], None),
        0,
        "user disable",
    );
    assert!(
        store::users::find_by_username(&app.db, "alice")
            .await
            .unwrap()
            .unwrap()
            .disabled
    );
    assert!(text(&run(&app, &["user", "list"], None).stdout).contains("disabled"));
    assert_exit(
        &run(&app, &["user", "enable", "alice"], None),
        0,
        "user enable",
    );
    assert!(
        !store::users::find_by_username(&app.db, "alice")
            .await
            .unwrap()
            .unwrap()
            .disabled
    );

    for args in [
        &["user", "disable", "nobody"][..],
        &["user", "enable", "nobody"],
    ] {
        assert_exit(&run(&app, args, None), 1, "unknown user");
    }
    assert_exit(
        &run(
            &app,
            &["user", "passwd", "nobody", "--password-stdin"],
            Some("long enough pw\n"),
        ),
        1,
        "passwd of an unknown user",
    );
}

async fn user_add_refuses_bad_input_with_exit_code_2(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let short = run(
        &app,
        &["user", "add", "bob", "--password-stdin"],
        Some("short\n"),
    );
    assert_exit(&short, 2, "password under 8 characters");
    assert!(text(&short.stderr).contains("at least 8"));
    assert_exit(
        &run(
            &app,
            &["user", "add", "bad name", "--password-stdin"],
            Some("long enough pw\n"),
        ),
        2,
        "user name with a space",
    );
    let no_tty = run(&app, &["user", "add", "bob"], None);
    assert_exit(&no_tty, 2, "no terminal and no --password-stdin");
    assert!(text(&no_tty.stderr).contains("--password-stdin"));
    assert_exit(&run(&app, &["user", "add"], None), 2, "missing name");
    assert_eq!(app.count("users").await, 0);
}

async fn client_commands_manage_clients(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let add = run(
        &app,
        &[
            "client",
            "add",
            "--name",
            "CLI App",
            "--redirect-uri",
            "https://cli.example/cb",
            "--redirect-uri",
            "http://127.0.0.1/cb",
            "--scope",
            "account:read",
            "--website",
            "https://cli.example",
            "--json",
        ],
        None,
    );
    assert_exit(&add, 0, "client add");
    let added: Value = serde_json::from_slice(&add.stdout).unwrap();
    let id = added["client_id"].as_str().unwrap().to_owned();
    let secret = added["client_secret"].as_str().unwrap().to_owned();
    assert!(secret.starts_with("ocs_"));
    assert_eq!(added["redirect_uris"].as_array().unwrap().len(), 2);
    assert_eq!(added["scope"], "account:read");
    let stored = store::clients::find(&app.db, &id).await.unwrap().unwrap();
    assert_eq!(
        stored.secret_hash.as_deref(),
        Some(oauthd::crypto::sha256_hex(&secret).as_str())
    );

    let text_add = run(&app, &["client", "add", "--name", "Plain output"], None);
    assert_exit(&text_add, 0, "client add (text)");
    let printed = text(&text_add.stdout);
    assert!(
        printed.contains("client_id:") && printed.contains("client_secret: ocs_"),
        "{printed}"
    );
    assert!(text(&text_add.stderr).contains("shown only this once"));

    let public = run(
        &app,
        &[
            "client",
            "add",
            "--name",
            "Native",
            "--public",
            "--redirect-uri",
            "com.example.native:/cb",
            "--json",
        ],
        None,
    );
    assert_exit(&public, 0, "client add --public");
    let public: Value = serde_json::from_slice(&public.stdout).unwrap();
    assert!(public.get("client_secret").is_none());
    assert_eq!(public["token_endpoint_auth_method"], "none");
    let public_id = public["client_id"].as_str().unwrap().to_owned();

    let list = run(&app, &["client", "list", "--json"], None);
    assert_exit(&list, 0, "client list --json");
    let listed: Value = serde_json::from_slice(&list.stdout).unwrap();
    assert_eq!(listed.as_array().unwrap().len(), 3);
    assert!(
        !text(&list.stdout).contains(&secret),
        "list never shows secrets"
    );
    let table = run(&app, &["client", "list"], None);
    assert_exit(&table, 0, "client list");
    assert!(text(&table.stdout).contains("CLI App"));

    let show = run(&app, &["client", "show", &id], None);
    assert_exit(&show, 0, "client show");
    assert!(text(&show.stdout).contains("https://cli.example/cb"));
    assert!(
        !text(&show.stdout).contains(&secret),
        "show never shows the secret"
    );
    assert_exit(
        &run(&app, &["client", "show", &id, "--json"], None),
        0,
        "client show --json",
    );

    let rotated = run(&app, &["client", "rotate-secret", &id, "--json"], None);
    assert_exit(&rotated, 0, "client rotate-secret");
    let rotated: Value = serde_json::from_slice(&rotated.stdout).unwrap();
    let new_secret = rotated["client_secret"].as_str().unwrap();
    assert_ne!(new_secret, secret);
    let stored = store::clients::find(&app.db, &id).await.unwrap().unwrap();
    assert_eq!(
        stored.secret_hash.as_deref(),
        Some(oauthd::crypto::sha256_hex(new_secret).as_str())
    );
    assert_exit(
        &run(&app, &["client", "rotate-secret", &public_id], None),
        1,
        "public clients have no secret",
    );

    assert_exit(
        &run(&app, &["client", "remove", &id], None),
        0,
        "client remove",
    );
    assert!(store::clients::find(&app.db, &id).await.unwrap().is_none());
    for args in [
        &["client", "show", "no-such-client"][..],
        &["client", "remove", "no-such-client"],
        &["client", "rotate-secret", "no-such-client"],
    ] {
        assert_exit(&run(&app, args, None), 1, "unknown client");
    }
}

async fn client_add_refuses_bad_input_with_exit_code_2(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    for (why, args) in [
        (
            "javascript redirect",
            &[
                "client",
                "add",
                "--name",
                "x",
                "--redirect-uri",
                "javascript:alert(1)",
            ][..],
        ),
        (
            "unknown scope",
            &["client", "add", "--name", "x", "--scope", "root"],
        ),
        (
            "bad website",
            &["client", "add", "--name", "x", "--website", "ftp://x"],
        ),
        (
            "private-use scheme on a confidential client",
            &[
                "client",
                "add",
                "--name",
                "x",
                "--redirect-uri",
                "com.example.app:/cb",
            ],
        ),
        (
            "loopback port past 65535",
            &[
                "client",
                "add",
                "--name",
                "x",
                "--redirect-uri",
                "http://127.0.0.1:65536/cb",
            ],
        ),
        (
            "loopback port 0",
            &[
                "client",
                "add",
                "--name",
                "x",
                "--redirect-uri",
                "http://127.0.0.1:0/cb",
            ],
        ),
        ("empty name", &["client", "add", "--name", " "]),
        ("missing --name", &["client", "add"]),
        (
            "unknown grant type",
            &["client", "add", "--name", "x", "--grant-type", "password"],
        ),
        (
            "device grant with a redirect URI",
            &[
                "client",
                "add",
                "--name",
                "x",
                "--grant-type",
                "urn:ietf:params:oauth:grant-type:device_code",
                "--redirect-uri",
                "https://cli.example/cb",
            ],
        ),
    ] {
        let output = run(&app, args, None);
        assert_exit(&output, 2, why);
        assert!(!text(&output.stderr).trim().is_empty(), "{why}: says why");
    }
    assert_eq!(app.count("clients").await, 0);
}

async fn client_introspection_permission_is_set_and_shown(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let may_introspect = |id: String| {
        let db = app.db.clone();
        async move {
            store::clients::find(&db, &id)
                .await
                .unwrap()
                .unwrap()
                .may_introspect
        }
    };
    let add = run(
        &app,
        &["client", "add", "--name", "RS", "--introspect", "--json"],
        None,
    );
    assert_exit(&add, 0, "client add --introspect");
    let added: Value = serde_json::from_slice(&add.stdout).unwrap();
    assert_eq!(added["may_introspect"], true);
    let id = added["client_id"].as_str().unwrap().to_owned();
    assert!(may_introspect(id.clone()).await);
    let show = run(&app, &["client", "show", &id], None);
    assert_exit(&show, 0, "client show");
    assert!(
        text(&show.stdout).contains("introspects:   every token"),
        "{}",
        text(&show.stdout)
    );

    let update = run(
        &app,
        &["client", "update", &id, "--introspect", "false", "--json"],
        None,
    );
    assert_exit(&update, 0, "client update --introspect false");
    let updated: Value = serde_json::from_slice(&update.stdout).unwrap();
    assert_eq!(updated["may_introspect"], false);
    assert!(!may_introspect(id.clone()).await);
    let show = run(&app, &["client", "show", &id, "--json"], None);
    let shown: Value = serde_json::from_slice(&show.stdout).unwrap();
    assert_eq!(shown["may_introspect"], false);
    let show = run(&app, &["client", "show", &id], None);
    assert!(text(&show.stdout).contains("introspects:   only its own tokens"));

    let update = run(
        &app,
        &["client", "update", &id, "--introspect", "true"],
        None,
    );
    assert_exit(&update, 0, "client update --introspect true");
    assert!(text(&update.stdout).contains("introspects:   every token"));
    assert!(may_introspect(id.clone()).await);

    let plain = run(&app, &["client", "add", "--name", "Plain", "--json"], None);
    let plain: Value = serde_json::from_slice(&plain.stdout).unwrap();
    assert_eq!(plain["may_introspect"], false, "off unless asked for");
    let public_id = flow::register_public(&app, &[flow::CB]).await.id;

    let clients = app.count("clients").await;
    for (why, args, code) in [
        (
            "a public introspector",
            &["client", "add", "--name", "x", "--public", "--introspect"][..],
            2,
        ),
        (
            "a public client allowed later",
            &["client", "update", &public_id, "--introspect", "true"],
            2,
        ),
        ("no change asked for", &["client", "update", &id], 2),
        (
            "not a boolean",
            &["client", "update", &id, "--introspect", "yes please"],
            2,
        ),
        (
            "unknown client",
            &["client", "update", "no-such-client", "--introspect", "true"],
            1,
        ),
    ] {
        let output = run(&app, args, None);
        assert_exit(&output, code, why);
        assert!(!text(&output.stderr).trim().is_empty(), "{why}: says why");
    }
    assert_eq!(app.count("clients").await, clients, "nothing added");
    assert!(
        !may_introspect(public_id).await,
        "the public client is unchanged"
    );
    assert!(may_introspect(id).await, "the refusals changed nothing");
}

async fn token_commands_manage_personal_access_tokens(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    assert_exit(
        &run(
            &app,
            &["user", "add", "alice", "--password-stdin"],
            Some("correct horse battery\n"),
        ),
        0,
        "user add",
    );
    let created = run(
        &app,
        &[
            "token",
            "create",
            "--user",
            "alice",
            "--scope",
            "account:read",
            "--name",
            "laptop",
            "--json",
        ],
        None,
    );
    assert_exit(&created, 0, "token create");
    let created: Value = serde_json::from_slice(&created.stdout).unwrap();
    let token = created["token"].as_str().unwrap().to_owned();
    let id = created["id"].as_str().unwrap().to_owned();
    assert!(token.starts_with("opt_"));
    assert_eq!(created["scope"], "account:read");
    assert_eq!(created["label"], "laptop");
    assert_eq!(
        created["expires_at"],
        Value::Null,
        "no --expires-in: never expires"
    );

    let account = app
        .http
        .get(app.url("/account"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(account.status(), reqwest::StatusCode::OK);

    // The CLI reads the system clock while the test server's stands in 2027,
    // so only the stored expiry is checked here, not its effect.
    let plain = run(
        &app,
        &[
            "token",
            "create",
            "--user",
            "alice",
            "--scope",
            "event:write",
            "--expires-in",
            "30",
        ],
        None,
    );
    assert_exit(&plain, 0, "token create (text)");
    assert!(text(&plain.stdout).contains("token:   opt_"));
    assert!(text(&plain.stderr).contains("shown only this once"));
    assert!(
        !text(&plain.stdout).contains("expires: never"),
        "30 days set an expiry"
    );

    let list = run(&app, &["token", "list", "--user", "alice", "--json"], None);
    assert_exit(&list, 0, "token list --json");
    let listed: Value = serde_json::from_slice(&list.stdout).unwrap();
    assert_eq!(listed.as_array().unwrap().len(), 2);
    assert!(
        !text(&list.stdout).contains("opt_"),
        "lists never show tokens"
    );
    let table = run(&app, &["token", "list", "--user", "alice"], None);
    assert_exit(&table, 0, "token list");
    assert!(text(&table.stdout).contains("laptop"));

    assert_exit(
        &run(&app, &["token", "revoke", &id], None),
        0,
        "token revoke",
    );
    let account = app
        .http
        .get(app.url("/account"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(account.status(), reqwest::StatusCode::UNAUTHORIZED);
    assert_exit(
        &run(&app, &["token", "revoke", &id], None),
        1,
        "already revoked",
    );

    for (why, args, code) in [
        (
            "unknown user",
            &[
                "token",
                "create",
                "--user",
                "nobody",
                "--scope",
                "account:read",
            ][..],
            1,
        ),
        (
            "unknown scope",
            &["token", "create", "--user", "alice", "--scope", "root"],
            2,
        ),
        (
            "zero days",
            &[
                "token",
                "create",
                "--user",
                "alice",
                "--scope",
                "account:read",
                "--expires-in",
                "0",
            ],
            2,
        ),
        ("missing scope", &["token", "create", "--user", "alice"], 2),
    ] {
        assert_exit(&run(&app, args, None), code, why);
    }
}

async fn janitor_once_runs_one_pass(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let output = run(&app, &["janitor", "--once"], None);
    assert_exit(&output, 0, "janitor --once");
    assert!(text(&output.stderr).contains("janitor removed 0 expired rows"));
}

#[test]
fn help_works_at_every_level() {
    for args in [
        &["--help"][..],
        &["serve", "--help"],
        &["migrate", "--help"],
        &["user", "--help"],
        &["user", "add", "--help"],
        &["user", "passwd", "--help"],
        &["user", "list", "--help"],
        &["user", "disable", "--help"],
        &["user", "enable", "--help"],
        &["client", "--help"],
        &["client", "add", "--help"],
        &["client", "list", "--help"],
        &["client", "show", "--help"],
        &["client", "remove", "--help"],
        &["client", "rotate-secret", "--help"],
        &["token", "--help"],
        &["token", "create", "--help"],
        &["token", "list", "--help"],
        &["token", "revoke", "--help"],
        &["janitor", "--help"],
    ] {
        let output = oauthd(args, &[], None);
        assert_exit(&output, 0, &format!("{args:?}"));
        assert!(text(&output.stdout).contains("Usage:"), "{args:?}");
    }
}

#[test]
fn usage_errors_exit_with_code_2() {
    for args in [
        &["frobnicate"][..],
        &["user"],
        &["client", "add", "--bogus"],
        &["--config"],
    ] {
        let output = oauthd(args, &[], None);
        assert_exit(&output, 2, &format!("{args:?}"));
    }
}

async fn resource_commands_register_list_and_remove(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let server = flow::register_confidential(&app, &[]).await;
    let uri = "https://mcp.example/mcp";
    let add = run(
        &app,
        &[
            "resource", "add", uri, "--name", "Team MCP", "--client", &server.id, "--json",
        ],
        None,
    );
    assert_exit(&add, 0, "resource add");
    let shown: Value = serde_json::from_slice(&add.stdout).unwrap();
    assert_eq!(shown["uri"], uri);
    assert_eq!(shown["name"], "Team MCP");
    assert_eq!(shown["client_id"], server.id.as_str());
    assert_exit(
        &run(&app, &["resource", "add", uri, "--name", "Again"], None),
        1,
        "a registered URI",
    );
    for (args, why) in [
        (
            vec!["resource", "add", "/relative", "--name", "X"],
            "relative",
        ),
        (
            vec!["resource", "add", "https://a.example/#f", "--name", "X"],
            "fragment",
        ),
        (
            vec!["resource", "add", "https://a.example/", "--name", " "],
            "empty name",
        ),
    ] {
        let out = run(&app, &args, None);
        assert_exit(&out, 2, why);
    }
    assert_exit(
        &run(
            &app,
            &[
                "resource",
                "add",
                "https://b.example/",
                "--name",
                "B",
                "--client",
                "nope",
            ],
            None,
        ),
        1,
        "an unknown client",
    );
    let list = run(&app, &["resource", "list", "--json"], None);
    assert_exit(&list, 0, "resource list");
    let listed: Value = serde_json::from_slice(&list.stdout).unwrap();
    assert_eq!(listed.as_array().map(Vec::len), Some(1), "{listed}");
    let table = run(&app, &["resource", "list"], None);
    assert!(text(&table.stdout).contains("Team MCP"));
    assert_exit(&run(&app, &["resource", "remove", uri], None), 0, "remove");
    assert_exit(&run(&app, &["resource", "remove", uri], None), 1, "gone");
    let list = run(&app, &["resource", "list", "--json"], None);
    assert_eq!(text(&list.stdout).trim(), "[]");
}

async fn client_resources_sets_and_shows_the_allow_list(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let client = flow::register_confidential(&app, &[flow::CB]).await;
    let show = run(&app, &["client", "resources", &client.id], None);
    assert_exit(&show, 0, "show");
    assert_eq!(text(&show.stdout).trim(), "any resource");
    let set = run(
        &app,
        &[
            "client",
            "resources",
            &client.id,
            "--resource",
            "https://a.example/",
            "--resource",
            "https://b.example/",
            "--json",
        ],
        None,
    );
    assert_exit(&set, 0, "set");
    let listed: Value = serde_json::from_slice(&set.stdout).unwrap();
    assert_eq!(
        listed,
        serde_json::json!(["https://a.example/", "https://b.example/"])
    );
    assert_eq!(
        oauthd::store::resources::allowed_for(&app.db, &client.id)
            .await
            .unwrap()
            .len(),
        2
    );
    assert_exit(
        &run(
            &app,
            &["client", "resources", &client.id, "--resource", "no"],
            None,
        ),
        2,
        "a bad URI",
    );
    assert_exit(
        &run(&app, &["client", "resources", "nope", "--any"], None),
        1,
        "an unknown client",
    );
    let clear = run(&app, &["client", "resources", &client.id, "--any"], None);
    assert_exit(&clear, 0, "clear");
    assert_eq!(text(&clear.stdout).trim(), "any resource");
}

/// `--token-format` on clients and resources, `--post-logout-redirect-uri`
/// on `client add`, and `export`/`import` carrying all three.
async fn token_formats_and_logout_uris_are_set_by_the_cli_and_carried_by_export(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let after = "https://app.example/signed-out";
    let add = run(
        &app,
        &[
            "client",
            "add",
            "--name",
            "RP",
            "--redirect-uri",
            flow::CB,
            "--post-logout-redirect-uri",
            after,
            "--json",
        ],
        None,
    );
    assert_exit(&add, 0, "client add");
    let added: Value = serde_json::from_slice(&add.stdout).unwrap();
    let id = added["client_id"].as_str().unwrap().to_owned();
    assert_eq!(added["post_logout_redirect_uris"][0], after);
    assert_eq!(added["access_token_format"], "opaque");
    assert_exit(
        &run(
            &app,
            &[
                "client",
                "add",
                "--name",
                "RP",
                "--post-logout-redirect-uri",
                "http://app.example/bye",
            ],
            None,
        ),
        2,
        "plain http off loopback",
    );

    let update = run(
        &app,
        &["client", "update", &id, "--token-format", "jwt", "--json"],
        None,
    );
    assert_exit(&update, 0, "client update --token-format");
    let shown: Value = serde_json::from_slice(&update.stdout).unwrap();
    assert_eq!(shown["access_token_format"], "jwt");
    let show = run(&app, &["client", "show", &id], None);
    assert!(text(&show.stdout).contains("access tokens: jwt"));
    assert!(text(&show.stdout).contains(after));
    for (args, why) in [
        (
            vec!["client", "update", id.as_str(), "--token-format", "pasetoo"],
            "an unknown format",
        ),
        (vec!["client", "update", id.as_str()], "nothing to change"),
    ] {
        assert_exit(&run(&app, &args, None), 2, why);
    }

    let uri = "https://mcp.example/mcp";
    let add = run(
        &app,
        &[
            "resource",
            "add",
            uri,
            "--name",
            "MCP",
            "--token-format",
            "jwt",
            "--json",
        ],
        None,
    );
    assert_exit(&add, 0, "resource add --token-format");
    let shown: Value = serde_json::from_slice(&add.stdout).unwrap();
    assert_eq!(shown["access_token_format"], "jwt");
    let other = "https://other.example/api";
    assert_exit(
        &run(&app, &["resource", "add", other, "--name", "Other"], None),
        0,
        "resource add",
    );
    let update = run(
        &app,
        &[
            "resource",
            "update",
            other,
            "--token-format",
            "jwt",
            "--json",
        ],
        None,
    );
    assert_exit(&update, 0, "resource update");
    assert!(text(&update.stdout).contains("\"jwt\""));
    assert_exit(
        &run(
            &app,
            &[
                "resource",
                "update",
                "https://none.example/",
                "--token-format",
                "jwt",
            ],
            None,
        ),
        1,
        "no such resource",
    );
    assert_exit(
        &run(
            &app,
            &["resource", "update", other, "--token-format", "x"],
            None,
        ),
        2,
        "an unknown format",
    );

    // Export and import into an empty database carry all of it.
    let export = run(&app, &["export"], None);
    assert_exit(&export, 0, "export");
    let document = text(&export.stdout);
    let target = TestApp::spawn(backend).await;
    assert_exit(
        &run(&target, &["import", "-"], Some(&document)),
        0,
        "import",
    );
    let client = store::clients::find(&target.db, &id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(client.access_token_format.as_str(), "jwt");
    assert_eq!(
        client
            .post_logout_redirect_uris
            .iter()
            .map(|u| u.as_str())
            .collect::<Vec<_>>(),
        [after]
    );
    for r in [uri, other] {
        let found = store::resources::find(&target.db, r)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(found.access_token_format, "jwt", "{r}");
    }
    // A document with an unknown format is refused, and nothing imported.
    let mut bad: Value = serde_json::from_str(&document).unwrap();
    assert_eq!(bad["clients"][0]["access_token_format"], "jwt");
    bad["clients"][0]["access_token_format"] = Value::from("cbor");
    let bad = bad.to_string();
    let empty = TestApp::spawn(backend).await;
    assert_exit(
        &run(&empty, &["import", "-"], Some(&bad)),
        2,
        "unknown format",
    );
    assert_eq!(empty.count("clients").await, 0);
}
