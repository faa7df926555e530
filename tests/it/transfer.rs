//! `oauthd export` and `oauthd import`, run as the real binary: a round trip
//! from one backend to the other keeps every client able to get tokens and
//! every user able to sign in; a conflict or a malformed document imports
//! nothing.

use std::process::Output;

use oauthd::oauth::account;
use oauthd::oauth::registration::SecretMethods;
use oauthd::oauth::session::PasswordChecker;
use oauthd::store::{self, Db};
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::both_backends;
use crate::cli::oauthd;
use crate::support::flow::{
    self, Auth, Client, PASSWORD, Params, SESSION_COOKIE, SIGN_IN_FAILED, VERIFIER, page,
    set_cookie,
};
use crate::support::{Backend, TestApp, TestDb, test_config};

both_backends!(
    import_refuses_a_conflict_and_imports_nothing,
    import_refuses_malformed_documents_with_exit_2_and_imports_nothing,
    export_to_a_file_is_readable_by_its_owner_only,
);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_to_postgres_round_trip_keeps_every_client_and_user_working() {
    round_trip(Backend::Sqlite, Backend::Postgres).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_to_sqlite_round_trip_keeps_every_client_and_user_working() {
    round_trip(Backend::Postgres, Backend::Sqlite).await;
}

/// Runs `oauthd ARGS` on the database at `url`.
pub(crate) fn on(url: &str, args: &[&str], stdin: Option<&str>) -> Output {
    oauthd(args, &[("DATABASE_URL", url)], stdin)
}

pub(crate) fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// stderr without the line every database command starts with (which
/// database it uses): what is left is the command's own answer.
pub(crate) fn answer(stderr: &str) -> String {
    stderr
        .lines()
        .filter(|line| !line.starts_with("oauthd: database "))
        .collect::<Vec<_>>()
        .join("\n")
}

#[track_caller]
pub(crate) fn assert_exit(output: &Output, code: i32, why: &str) {
    assert_eq!(
        output.status.code(),
        Some(code),
        "{why}\nstdout: {}\nstderr: {}",
        text(&output.stdout),
        text(&output.stderr)
    );
}

/// A confidential client gets an access token by `client_credentials`.
pub(crate) async fn assert_client_credentials(app: &TestApp, auth: &Auth, why: &str) {
    let response = flow::token(app, auth, &[("grant_type", "client_credentials")]).await;
    let tokens = flow::tokens(response, why).await;
    assert!(tokens.refresh.is_none(), "{why}: no refresh token");
}

/// `user` signs in with `password` (303 and a session cookie).
pub(crate) async fn assert_signs_in(app: &TestApp, user: &str, password: &str) {
    let browser = app.new_browser();
    let session = browser.login(user, password).await;
    assert!(!session.is_empty(), "{user} gets a session");
}

/// `user` is refused with the one generic message.
pub(crate) async fn assert_sign_in_refused(app: &TestApp, user: &str, password: &str) {
    let browser = app.new_browser();
    let (csrf, _) = browser.login_page(Some("/")).await;
    let response = browser
        .post_login(&[
            ("username", user),
            ("password", password),
            ("csrf", &csrf),
            ("next", "/"),
        ])
        .await;
    assert!(
        set_cookie(&response, SESSION_COOKIE).is_none_or(|c| c.clears()),
        "{user}: no session"
    );
    let html = page(response, StatusCode::UNAUTHORIZED, user).await;
    assert!(html.contains(SIGN_IN_FAILED), "{user}: refused");
}

/// The clients and users the round trip carries, with their secrets.
struct Fixture {
    confidential: Vec<(Client, Auth)>,
    public: Client,
    users: Vec<(&'static str, String)>,
    disabled: (&'static str, String),
    admin: &'static str,
    refresh: String,
    personal: String,
    web: Client,
    /// Registered under the CLI's rules: no method named, so either way.
    cli: Client,
    /// A native app limited to [`MCP`], and alice's refresh token for it.
    mcp: Client,
    mcp_refresh: String,
}

/// A resource the operator registered, served by the service client.
const MCP: &str = "https://mcp.example/api";

/// Registers several clients and users on `app`, gives alice a consent and
/// a refresh token for the web client and a personal access token.
async fn populate(app: &TestApp) -> Fixture {
    let web = flow::register_json(
        app,
        &json!({
            "client_name": "Web",
            "redirect_uris": [flow::CB, flow::CB2],
            "grant_types": ["authorization_code", "refresh_token", "client_credentials"],
            "scope": "account:read event:write",
            "allowed_origins": ["https://app.example", "https://admin.app.example"],
        }),
    )
    .await;
    let service = flow::register_json(
        app,
        &json!({
            "client_name": "Service",
            "grant_types": ["client_credentials"],
            "scope": "event:write",
            "token_endpoint_auth_method": "client_secret_post",
        }),
    )
    .await;
    let spa_backend = flow::register_json(
        app,
        &json!({
            "client_name": "Reader",
            "redirect_uris": ["https://reader.example/cb"],
            "grant_types": ["authorization_code", "client_credentials"],
            "scope": "account:read",
            "client_uri": "https://reader.example",
        }),
    )
    .await;
    let public = flow::register_json(
        app,
        &json!({
            "client_name": "Native",
            "redirect_uris": ["http://127.0.0.1/cb", "com.example.app:/cb"],
            "token_endpoint_auth_method": "none",
            "scope": "account:read",
            "allowed_origins": ["http://127.0.0.1:3000"],
        }),
    )
    .await;

    // The service resource server may introspect every token.
    assert!(
        store::clients::set_may_introspect(&app.db, &service.id, true, app.clock.now())
            .await
            .unwrap()
    );

    let checker = PasswordChecker::new(1);
    let admin_password = "admin password here";
    account::create_user(&app.db, &app.clock, &checker, "admin", admin_password, true)
        .await
        .expect("admin");
    flow::create_user(app, "alice").await;
    flow::create_user(app, "carol").await;
    oauthd::cli::admin::set_user_profile(
        &app.db,
        &app.clock,
        "carol",
        &oauthd::cli::admin::ProfileChange {
            name: Some("Carol Danvers"),
            email: Some("carol@example.com"),
            email_verified: Some(true),
        },
    )
    .await
    .unwrap();
    flow::create_user(app, "bob").await;
    oauthd::cli::admin::disable_user(&app.db, &app.clock, "bob")
        .await
        .unwrap();

    // A registered resource whose server is the service client, and a native
    // app that may ask only for it; alice grants the app that resource.
    oauthd::cli::admin::add_resource(&app.db, &app.clock, MCP, "Events API", Some(&service.id))
        .await
        .unwrap();
    let mcp = flow::register_json(
        app,
        &json!({
            "client_name": "Agent",
            "application_type": "native",
            "redirect_uris": ["http://127.0.0.1/agent"],
            "token_endpoint_auth_method": "none",
            "grant_types": ["authorization_code", "refresh_token"],
            "scope": "account:read",
        }),
    )
    .await;
    oauthd::cli::admin::set_client_resources(&app.db, &mcp.id, &[MCP.to_owned()])
        .await
        .unwrap();
    let agent = app.new_browser();
    agent.login("alice", PASSWORD).await;
    let code = agent.code(&Params::pkce(&mcp).add("resource", MCP)).await;
    let mcp_tokens = flow::tokens(
        flow::redeem(app, &mcp, &code, Some(mcp.redirect_uri()), Some(VERIFIER)).await,
        "alice's tokens for the agent on the source",
    )
    .await;

    // alice approves the web client: a consent and a refresh token.
    let browser = app.new_browser();
    browser.login("alice", PASSWORD).await;
    let code = browser.code(&Params::code(&web)).await;
    let tokens = flow::tokens(
        flow::redeem(app, &web, &code, Some(flow::CB), None).await,
        "alice's tokens on the source",
    )
    .await;
    let personal = oauthd::cli::admin::create_token(
        &app.db,
        &app.clock,
        &app.config,
        "alice",
        "account:read",
        Some("laptop"),
        None,
    )
    .await
    .unwrap()
    .token
    .unwrap();

    Fixture {
        confidential: vec![
            (web.clone(), web.auth()),
            (
                service.clone(),
                Auth::Body(service.id.clone(), service.secret().to_owned()),
            ),
            (spa_backend.clone(), spa_backend.auth()),
        ],
        public,
        users: vec![
            ("admin", admin_password.to_owned()),
            ("alice", PASSWORD.to_owned()),
            ("carol", PASSWORD.to_owned()),
        ],
        disabled: ("bob", PASSWORD.to_owned()),
        admin: "admin",
        refresh: tokens.refresh.expect("a refresh token"),
        personal,
        web,
        cli: flow::register_confidential(app, &[flow::CB]).await,
        mcp,
        mcp_refresh: mcp_tokens.refresh.expect("the agent's refresh token"),
    }
}

/// Introspects `token` as `client`.
async fn introspect(app: &TestApp, auth: &Auth, token: &str) -> Value {
    let response = flow::token_at(app, "/oauth/introspect", auth, &[("token", token)], None).await;
    assert_eq!(response.status(), StatusCode::OK);
    response.json().await.unwrap()
}

async fn round_trip(from: Backend, to: Backend) {
    let source = TestApp::spawn(from).await;
    let fx = populate(&source).await;
    let origins_before = store::clients::origins(&source.db, &fx.web.id)
        .await
        .unwrap();

    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("export.json");
    let file_arg = file.display().to_string();
    let export = on(
        &source.database_url,
        &["export", "--output", &file_arg],
        None,
    );
    assert_exit(&export, 0, "export");
    assert!(
        text(&export.stderr).contains("exported 4 users, 6 clients, 2 consents"),
        "{}",
        text(&export.stderr)
    );
    let document = std::fs::read_to_string(&file).unwrap();
    for secret in fx
        .confidential
        .iter()
        .map(|(c, _)| c.secret())
        .chain(fx.users.iter().map(|(_, p)| p.as_str()))
        .chain([fx.refresh.as_str(), fx.personal.as_str()])
    {
        assert!(
            !document.contains(secret),
            "the export holds hashes, never a plaintext secret"
        );
    }
    let parsed: Value = serde_json::from_str(&document).unwrap();
    assert_eq!(parsed["format"], "oauthd-export");
    assert_eq!(parsed["version"], 1);

    // A fresh database of the other backend, imported before it ever serves.
    let target_db = TestDb::new(to).await;
    let target_url = target_db.url.clone();
    let import = on(&target_url, &["import", &file_arg], None);
    assert_exit(&import, 0, "import");
    assert!(
        text(&import.stderr).contains("imported 4 users, 6 clients"),
        "{}",
        text(&import.stderr)
    );
    let config = test_config(&target_url);
    let db = Db::connect(&config.database).await.unwrap();
    let target = TestApp::serve(config, db, target_db).await;

    for (client, auth) in &fx.confidential {
        assert_client_credentials(
            &target,
            auth,
            &format!("{} with its old secret", client.name),
        )
        .await;
    }
    for (user, password) in &fx.users {
        assert_signs_in(&target, user, password).await;
    }
    assert_sign_in_refused(&target, fx.disabled.0, &fx.disabled.1).await;
    let admin = store::users::find_by_username(&target.db, fx.admin)
        .await
        .unwrap()
        .unwrap();
    assert!(admin.is_admin, "the admin flag is carried");
    let carol = store::users::find_by_username(&target.db, "carol")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        (
            carol.name.as_deref(),
            carol.email.as_deref(),
            carol.email_verified
        ),
        (Some("Carol Danvers"), Some("carol@example.com"), true),
        "the profile is carried"
    );
    assert_eq!(
        store::clients::origins(&target.db, &fx.web.id)
            .await
            .unwrap(),
        origins_before,
        "CORS origins are carried"
    );

    // Each client keeps the ways it may send its secret: the CLI's client
    // both, the service only the body it registered.
    for (client, expected) in [
        (&fx.cli, SecretMethods::Either),
        (&fx.confidential[1].0, SecretMethods::Registered),
    ] {
        let stored = store::clients::find(&target.db, &client.id)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(stored.secret_methods, expected, "{}", client.name);
    }
    let carol = target.new_browser();
    carol.login("carol", PASSWORD).await;
    for (auth, way) in [
        (fx.cli.auth(), "HTTP Basic"),
        (
            Auth::Body(fx.cli.id.clone(), fx.cli.secret().to_owned()),
            "the body",
        ),
    ] {
        let code = carol.code(&Params::code(&fx.cli)).await;
        flow::tokens(
            flow::redeem_as(&target, &auth, &code, Some(flow::CB), None).await,
            &format!("the CLI's client after import, secret in {way}"),
        )
        .await;
    }

    // An authorization-code flow with PKCE for an imported public client.
    let browser = target.new_browser();
    browser.login("carol", PASSWORD).await;
    let code = browser.code(&Params::pkce(&fx.public)).await;
    let tokens = flow::tokens(
        flow::redeem(
            &target,
            &fx.public,
            &code,
            Some(fx.public.redirect_uri()),
            Some(VERIFIER),
        )
        .await,
        "the public client's code flow after import",
    )
    .await;
    assert_eq!(
        flow::account(&target, &tokens.access).await.status(),
        StatusCode::OK
    );

    // alice's consent is carried: the web client gets a code without asking.
    let alice = target.new_browser();
    alice.login("alice", PASSWORD).await;
    let response = alice.authorize(&Params::code(&fx.web)).await;
    assert!(
        response.status().is_redirection(),
        "remembered consent skips the page, got {}",
        response.status()
    );
    let code = flow::param(&flow::absolute_location(&response), "code").expect("a code");
    flow::tokens(
        flow::redeem(&target, &fx.web, &code, Some(flow::CB), None).await,
        "the confidential client's code flow after import",
    )
    .await;

    // Her refresh token and personal access token go on working.
    flow::tokens(
        flow::token(
            &target,
            &fx.web.auth(),
            &[
                ("grant_type", "refresh_token"),
                ("refresh_token", &fx.refresh),
            ],
        )
        .await,
        "the old refresh token",
    )
    .await;
    assert_eq!(
        flow::account(&target, &fx.personal).await.status(),
        StatusCode::OK,
        "the old personal access token"
    );

    // Resources move with everything that names them: the registered
    // resource and its server, the agent's allow-list and application type,
    // alice's consent, and her refresh token's audience, which the new
    // access token keeps.
    let resources = oauthd::cli::admin::list_resources(&target.db)
        .await
        .unwrap();
    assert_eq!(resources.len(), 1);
    assert_eq!(
        oauthd::cli::admin::client_resources(&target.db, &fx.mcp.id)
            .await
            .unwrap(),
        vec![MCP.to_owned()]
    );
    let agent = store::clients::find(&target.db, &fx.mcp.id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(agent.application_type.as_str(), "native");
    let refreshed = flow::tokens(
        flow::token(
            &target,
            &Auth::Id(fx.mcp.id.clone()),
            &[
                ("grant_type", "refresh_token"),
                ("refresh_token", &fx.mcp_refresh),
            ],
        )
        .await,
        "the agent's old refresh token",
    )
    .await;
    let service_auth = fx.confidential[1].1.clone();
    let seen = introspect(&target, &service_auth, &refreshed.access).await;
    assert_eq!(seen["active"], true, "{seen}");
    assert_eq!(seen["aud"], MCP, "the audience is carried: {seen}");
    let other = flow::token(
        &target,
        &Auth::Id(fx.mcp.id.clone()),
        &[
            ("grant_type", "refresh_token"),
            ("refresh_token", refreshed.refresh.as_deref().unwrap()),
            ("resource", "https://other.example/"),
        ],
    )
    .await;
    assert_eq!(other.status(), StatusCode::BAD_REQUEST, "not granted");
    assert_eq!(
        flow::text_of(
            &target,
            "select resources from consents where client_id = $1",
            &[&fx.mcp.id]
        )
        .await
        .as_deref(),
        Some(MCP),
        "alice's consent names the resource"
    );

    // The introspection permission moves with its client, and only there.
    for (client, allowed) in [(&fx.confidential[1].0, true), (&fx.web, false)] {
        let row = store::clients::find(&target.db, &client.id)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(row.may_introspect, allowed, "{}", client.name);
    }
}

/// The rows `import` could write.
async fn counts(app: &TestApp) -> Vec<i64> {
    let mut v = app.snapshot().await;
    v.push(app.count("client_origins").await);
    v
}

async fn import_refuses_a_conflict_and_imports_nothing(backend: Backend) {
    let source = TestApp::spawn(backend).await;
    flow::create_user(&source, "alice").await;
    flow::create_user(&source, "dave").await;
    flow::register_confidential(&source, &[flow::CB]).await;
    let export = on(&source.database_url, &["export"], None);
    assert_exit(&export, 0, "export to stdout");
    let document = text(&export.stdout);

    // A target that already has a user named alice (another id).
    let target = TestApp::spawn(backend).await;
    flow::create_user(&target, "alice").await;
    let before = counts(&target).await;
    let import = on(&target.database_url, &["import", "-"], Some(&document));
    assert_exit(&import, 1, "a user name that exists");
    let stderr = answer(&text(&import.stderr));
    assert!(
        stderr.contains("alice") && stderr.contains("nothing was imported"),
        "{stderr}"
    );
    assert_eq!(stderr.trim_end().lines().count(), 1, "one line: {stderr}");
    assert_eq!(counts(&target).await, before, "nothing imported");

    // Importing the same document twice: every id exists the second time.
    let again = TestApp::spawn(backend).await;
    assert_exit(
        &on(&again.database_url, &["import"], Some(&document)),
        0,
        "first import",
    );
    let before = counts(&again).await;
    let twice = on(&again.database_url, &["import"], Some(&document));
    assert_exit(&twice, 1, "the same document again");
    assert!(
        text(&twice.stderr).contains("already exists"),
        "{}",
        text(&twice.stderr)
    );
    assert_eq!(counts(&again).await, before, "nothing imported twice");
}

async fn import_refuses_malformed_documents_with_exit_2_and_imports_nothing(backend: Backend) {
    let source = TestApp::spawn(backend).await;
    flow::create_user(&source, "alice").await;
    let client = flow::register_confidential(&source, &[flow::CB]).await;
    let export = on(&source.database_url, &["export"], None);
    assert_exit(&export, 0, "export");
    let good: Value = serde_json::from_str(&text(&export.stdout)).unwrap();
    let hash = good["users"][0]["password_hash"]
        .as_str()
        .unwrap()
        .to_owned();

    let edit = |f: &dyn Fn(&mut Value)| {
        let mut v = good.clone();
        f(&mut v);
        v.to_string()
    };
    let cases: Vec<(String, &str, &str)> = vec![
        ("{not json".into(), "not JSON", "broken JSON"),
        (
            edit(&|v| v["format"] = json!("something-else")),
            "`format`",
            "another format",
        ),
        (
            edit(&|v| v["version"] = json!(2)),
            "version 2",
            "a newer layout",
        ),
        (
            edit(&|v| {
                v.as_object_mut().unwrap().remove("users");
            }),
            "users",
            "missing member",
        ),
        (
            edit(&|v| v["users"][0]["disabled"] = json!(hash.clone())),
            "users[0].disabled",
            "wrong type (a hash where a flag belongs)",
        ),
        (
            edit(&|v| v["users"][0]["password_hash"] = json!("plaintext password")),
            "password_hash",
            "not an argon2 hash",
        ),
        (
            edit(&|v| v["users"][0]["username"] = json!("Alice Smith")),
            "username",
            "a bad user name",
        ),
        (
            edit(&|v| v["clients"][0]["secret_hash"] = json!("short")),
            "secret_hash",
            "a bad secret digest",
        ),
        (
            edit(&|v| v["clients"][0]["grant_types"] = json!(["password"])),
            "grant type",
            "an unknown grant type",
        ),
        (
            edit(&|v| v["clients"][0]["owner_id"] = json!("nobody")),
            "owner_id",
            "a dangling owner",
        ),
        (
            edit(&|v| {
                v["clients"][0]["token_endpoint_auth_method"] = json!("none");
                v["clients"][0]["secret_hash"] = Value::Null;
                v["clients"][0]["may_introspect"] = json!(true);
            }),
            "may_introspect",
            "a public client allowed to introspect",
        ),
        (
            edit(&|v| v["clients"][0]["application_type"] = json!("desktop")),
            "application_type",
            "an unknown application type",
        ),
        (
            edit(&|v| v["clients"][0]["allowed_resources"] = json!(["https://a.example/#x"])),
            "allowed_resources",
            "a resource with a fragment",
        ),
        (
            edit(&|v| {
                v["resources"] = json!([{
                    "uri": "https://a.example/", "name": "A",
                    "client_id": "nobody", "created_at": 1
                }]);
            }),
            "resources[0].client_id",
            "a resource served by a client not in the document",
        ),
        (
            edit(&|v| {
                v["resources"] = json!([{
                    "uri": "relative/path", "name": "A", "client_id": null, "created_at": 1
                }]);
            }),
            "resources[0].uri",
            "a relative resource URI",
        ),
        (
            edit(&|v| v["surprise"] = json!(1)),
            "surprise",
            "an unknown member",
        ),
    ];
    let target = TestApp::spawn(backend).await;
    let before = counts(&target).await;
    for (document, expected, why) in cases {
        let output = on(&target.database_url, &["import"], Some(&document));
        assert_exit(&output, 2, why);
        let stderr = text(&output.stderr);
        assert!(stderr.contains(expected), "{why}: {expected:?} in {stderr}");
        assert_eq!(stderr.trim_end().lines().count(), 1, "{why}: one line");
        assert!(!stderr.contains(&hash), "{why}: never a hash in a message");
        assert!(
            !stderr.contains(client.secret()),
            "{why}: never a secret in a message"
        );
        assert_eq!(counts(&target).await, before, "{why}: nothing imported");
    }
    let missing = on(
        &target.database_url,
        &["import", "/nonexistent/x.json"],
        None,
    );
    assert_exit(&missing, 2, "an unreadable file");
}

async fn export_to_a_file_is_readable_by_its_owner_only(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    flow::create_user(&app, "alice").await;
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("export.json");
    // An existing, world-readable file is narrowed before it is written.
    std::fs::write(&file, "old").unwrap();
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o644)).unwrap();
    }
    let output = on(
        &app.database_url,
        &["export", "-o", &file.display().to_string()],
        None,
    );
    assert_exit(&output, 0, "export --output");
    assert!(output.stdout.is_empty(), "the document goes to the file");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&file).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600, "owner read/write only, got {mode:o}");
    }
    let document: Value = serde_json::from_str(&std::fs::read_to_string(&file).unwrap()).unwrap();
    assert_eq!(document["users"][0]["username"], "alice");
    let help = oauthd(&["export", "--help"], &[], None);
    assert!(text(&help.stdout).contains("0600"), "--help says so");
}
