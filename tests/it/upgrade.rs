//! Upgrades, run as the real binary: migrations from an empty database and
//! from the 0.1.0 schema with its data, and the refusal to run on a schema
//! newer than the binary knows. Migrations that convert data are also run on
//! a database brought to the migration before them and filled with rows.
//!
//! The 0.1.0 fixtures (tests/fixtures/upgrade/) are real 0.1.0 databases,
//! `_sqlx_migrations` checksums included. The tests read the binary's
//! migrations from migrations/<backend>/, so they keep passing, unchanged,
//! when a migration is added; editing a released migration makes them fail.

use oauthd::cli::admin;
use oauthd::clock::Clock;
use oauthd::crypto::{Secret, SecretKind, sha256_hex};
use oauthd::store::Db;
use reqwest::StatusCode;
use serde_json::{Value, json};
use sqlx::{AssertSqlSafe, Connection, PgConnection, SqliteConnection};

use crate::both_backends;
use crate::support::flow::{self, Auth, Client, PASSWORD, Params, VERIFIER};
use crate::support::{Backend, TestApp, TestDb, test_config};
use crate::transfer::{
    assert_client_credentials, assert_exit, assert_sign_in_refused, assert_signs_in, on, text,
};

both_backends!(
    migrate_on_an_empty_database_applies_every_migration,
    a_0_1_0_database_upgrades_and_its_clients_and_users_keep_working,
    serve_and_migrate_refuse_a_schema_newer_than_the_binary,
    the_grants_migration_backfills_every_family_and_code,
    the_lean_tokens_migration_keeps_every_token_as_it_was,
);

/// The migration versions this build embeds, from the file names.
fn known_versions(backend: Backend) -> Vec<i64> {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("migrations")
        .join(folder(backend));
    let mut versions: Vec<i64> = std::fs::read_dir(dir)
        .unwrap()
        .filter_map(|e| {
            let name = e.unwrap().file_name().into_string().unwrap();
            name.ends_with(".sql")
                .then(|| name.split('_').next().unwrap().parse().unwrap())
        })
        .collect();
    versions.sort_unstable();
    versions
}

fn folder(backend: Backend) -> &'static str {
    match backend {
        Backend::Sqlite => "sqlite",
        Backend::Postgres => "postgres",
    }
}

/// `_sqlx_migrations` as (version, success, checksum), in order.
async fn applied(db: &Db) -> Vec<(i64, bool, Vec<u8>)> {
    const SQL: &str = "select version, success, checksum from _sqlx_migrations order by version";
    match db {
        Db::Postgres(p) => sqlx::query_as(SQL).fetch_all(p).await,
        Db::Sqlite(s) => sqlx::query_as(SQL).fetch_all(&s.pool).await,
    }
    .unwrap()
}

async fn connect(url: &str) -> Db {
    Db::connect(&test_config(url).database).await.unwrap()
}

async fn migrate_on_an_empty_database_applies_every_migration(backend: Backend) {
    let test_db = TestDb::new(backend).await;
    let output = on(&test_db.url, &["migrate"], None);
    assert_exit(&output, 0, "migrate on an empty database");
    let db = connect(&test_db.url).await;
    let rows = applied(&db).await;
    let versions: Vec<i64> = rows.iter().map(|r| r.0).collect();
    assert_eq!(versions, known_versions(backend));
    assert!(rows.iter().all(|r| r.1), "every migration succeeded");
    assert_exit(&on(&test_db.url, &["migrate"], None), 0, "again: no-op");
    assert_eq!(applied(&db).await, rows, "nothing changes the second time");
    db.close().await;
}

/// The plaintext secrets behind the hashes in a 0.1.0 fixture.
struct Release010 {
    web: (&'static str, &'static str),
    service: (&'static str, &'static str),
    public: &'static str,
    personal: &'static str,
}

fn release_0_1_0(backend: Backend) -> Release010 {
    match backend {
        Backend::Sqlite => Release010 {
            web: (
                "44d184f98df1e42e25b74b3bbd27666f",
                "ocs_XHUpv77zWPP8AHcL17hQ-8DpBnqV1021_YFEV_SQ1ek",
            ),
            service: (
                "8e84b1576494798ba9e6022229f1d235",
                "ocs_WRdeT1Med2qGU70YwMG8KX8z5jZltZ5TftfCG3ML2pI",
            ),
            public: "7b168a96bc1d83a2d3ce9d76a3029d93",
            personal: "opt_fBg7w_t4l0cZvDMoTDS7hHERJkItZk1CrsLjP9sRa40",
        },
        Backend::Postgres => Release010 {
            web: (
                "40d35417338f2ee5edca2acf59e7d590",
                "ocs_0rbmxQBjNE2RUnJvOyDmJPw-7BVh6wp6et6ePhJQ-hI",
            ),
            service: (
                "7330a0d56518d2b11d3c27ce8fde1603",
                "ocs_NzHN42N7dMOVTw6b-2KueGoATvvEFZDixT5532MuMl0",
            ),
            public: "6459b35166b28bc88f8b431a165c52d2",
            personal: "opt_69UmtYea14miOGLfYeQjuS2rEf8JgMJxgvAwEPctNDs",
        },
    }
}

/// Loads tests/fixtures/upgrade/0.1.0-<backend>.sql into a fresh database,
/// on a connection of its own (the Postgres dump empties `search_path`).
async fn load_0_1_0(backend: Backend, url: &str) {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/upgrade")
        .join(format!("0.1.0-{}.sql", folder(backend)));
    let sql = std::fs::read_to_string(path).unwrap();
    match backend {
        Backend::Postgres => {
            let mut conn = PgConnection::connect(url).await.unwrap();
            sqlx::raw_sql(AssertSqlSafe(sql))
                .execute(&mut conn)
                .await
                .unwrap();
            conn.close().await.unwrap();
        }
        Backend::Sqlite => {
            let options: sqlx::sqlite::SqliteConnectOptions = url.parse().unwrap();
            let mut conn = SqliteConnection::connect_with(&options.create_if_missing(true))
                .await
                .unwrap();
            sqlx::raw_sql(AssertSqlSafe(sql))
                .execute(&mut conn)
                .await
                .unwrap();
            conn.close().await.unwrap();
        }
    }
}

async fn a_0_1_0_database_upgrades_and_its_clients_and_users_keep_working(backend: Backend) {
    let test_db = TestDb::new(backend).await;
    load_0_1_0(backend, &test_db.url).await;
    let old = release_0_1_0(backend);

    let migrate = on(&test_db.url, &["migrate"], None);
    assert_exit(
        &migrate,
        0,
        "the current binary migrates a 0.1.0 database (a checksum mismatch means a released migration was edited)",
    );
    let db = connect(&test_db.url).await;
    let versions: Vec<i64> = applied(&db).await.iter().map(|r| r.0).collect();
    assert_eq!(versions, known_versions(backend), "every migration applied");

    let app = TestApp::serve(test_config(&test_db.url), db, test_db).await;
    assert_client_credentials(
        &app,
        &Auth::Basic(old.web.0.into(), old.web.1.into()),
        "a 0.1.0 client_secret_basic client",
    )
    .await;
    assert_client_credentials(
        &app,
        &Auth::Body(old.service.0.into(), old.service.1.into()),
        "a 0.1.0 client_secret_post client",
    )
    .await;
    // 0.1.0 stored client_secret_basic for every client that named no
    // method, and let each send its secret either way: those rows keep both
    // ways. A client that chose client_secret_post is now held to it.
    assert_client_credentials(
        &app,
        &Auth::Body(old.web.0.into(), old.web.1.into()),
        "a 0.1.0 client_secret_basic client, secret in the body",
    )
    .await;
    let refused = flow::token(
        &app,
        &Auth::Basic(old.service.0.into(), old.service.1.into()),
        &[("grant_type", "client_credentials")],
    )
    .await;
    flow::oauth_error(
        refused,
        StatusCode::UNAUTHORIZED,
        "invalid_client",
        "a 0.1.0 client_secret_post client using HTTP Basic",
        &[old.service.1],
    )
    .await;
    assert_signs_in(&app, "alice", PASSWORD).await;
    assert_sign_in_refused(&app, "bob", "battery staple horse").await;
    assert_eq!(
        flow::account(&app, old.personal).await.status(),
        StatusCode::OK,
        "a 0.1.0 personal access token"
    );

    // A code flow with PKCE for the 0.1.0 public client.
    let public = Client {
        id: old.public.into(),
        secret: None,
        name: "Fixture CLI".into(),
        redirect_uris: vec!["http://127.0.0.1/cb".into()],
    };
    let browser = app.new_browser();
    browser.login("alice", PASSWORD).await;
    let code = browser.code(&Params::pkce(&public)).await;
    flow::tokens(
        flow::redeem(
            &app,
            &public,
            &code,
            Some(public.redirect_uri()),
            Some(VERIFIER),
        )
        .await,
        "a code flow for a 0.1.0 public client",
    )
    .await;
}

async fn serve_and_migrate_refuse_a_schema_newer_than_the_binary(backend: Backend) {
    const FUTURE: i64 = 99_999_999;
    let test_db = TestDb::new(backend).await;
    assert_exit(&on(&test_db.url, &["migrate"], None), 0, "migrate");
    let db = connect(&test_db.url).await;
    const FAKE: &str = r"
insert into _sqlx_migrations (version, description, success, checksum, execution_time)
values ($1, 'from a newer oauthd', true, $2, 0)";
    let checksum = vec![0_u8; 48];
    match &db {
        Db::Postgres(p) => sqlx::query(FAKE)
            .bind(FUTURE)
            .bind(&checksum)
            .execute(p)
            .await
            .map(drop),
        Db::Sqlite(s) => sqlx::query(FAKE)
            .bind(FUTURE)
            .bind(&checksum)
            .execute(&s.pool)
            .await
            .map(drop),
    }
    .unwrap();
    let before = applied(&db).await;
    let newest = *known_versions(backend).last().unwrap();
    let expected = format!(
        "oauthd: the database schema is at migration {FUTURE}, newer than this oauthd knows (its newest is {newest})"
    );

    let migrate = on(&test_db.url, &["migrate"], None);
    assert_exit(&migrate, 1, "migrate on a newer schema");
    let stderr = crate::transfer::answer(&text(&migrate.stderr));
    assert!(stderr.starts_with(&expected), "{stderr}");
    assert_eq!(stderr.trim_end().lines().count(), 1, "one line: {stderr}");

    let serve = oauthd_serve(&test_db.url);
    assert_exit(&serve, 1, "serve on a newer schema");
    let stderr = text(&serve.stderr);
    assert!(
        stderr.lines().any(|l| l.starts_with(&expected)),
        "serve says why: {stderr}"
    );

    assert_exit(
        &on(&test_db.url, &["user", "list"], None),
        1,
        "every command that opens the database refuses",
    );
    assert_eq!(applied(&db).await, before, "no migration row changed");
    let users: i64 = match &db {
        Db::Postgres(p) => {
            sqlx::query_scalar("select count(*) from users")
                .fetch_one(p)
                .await
        }
        Db::Sqlite(s) => {
            sqlx::query_scalar("select count(*) from users")
                .fetch_one(&s.pool)
                .await
        }
    }
    .unwrap();
    assert_eq!(users, 0, "serve stopped before its first-run admin");
    db.close().await;
}

fn oauthd_serve(url: &str) -> std::process::Output {
    crate::cli::oauthd(
        &["serve"],
        &[("DATABASE_URL", url), ("OAUTHD_LISTEN", "127.0.0.1:0")],
        None,
    )
}

/// Migration 0006 records a grant for every code and token family that
/// existed before it. The 0.1.0 fixtures hold neither, so this runs the
/// migration's backfill statement on a live database whose grant rows were
/// removed, and checks that what they held keeps working.
async fn the_grants_migration_backfills_every_family_and_code(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let (browser, _) = flow::signed_in(&app).await;
    let client = flow::register_confidential(&app, &[flow::CB]).await;
    let family = flow::tokens_for(&app, &browser, &client, &Params::code(&client), None).await;
    let unused_code = browser.code(&Params::code(&client)).await;
    let before = flow::scalar(&app, "select count(*) from grants", &[]).await;
    assert_eq!(before, 2, "one grant per code");

    let migration = std::fs::read_to_string(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("migrations")
            .join(folder(backend))
            .join("0006_grants.sql"),
    )
    .unwrap();
    let backfill = migration
        .split("-- Every grant that codes and tokens already name.")
        .nth(1)
        .expect("the backfill statement")
        .to_owned();
    execute(&app.db, "delete from grants".to_owned()).await;
    execute(&app.db, backfill).await;
    assert_eq!(
        flow::scalar(&app, "select count(*) from grants", &[]).await,
        before,
        "every grant is back"
    );
    flow::tokens(
        flow::token(
            &app,
            &client.auth(),
            &[
                ("grant_type", "refresh_token"),
                ("refresh_token", family.refresh.as_deref().unwrap()),
            ],
        )
        .await,
        "the family refreshes after the backfill",
    )
    .await;
    flow::tokens(
        flow::redeem(&app, &client, &unused_code, Some(flow::CB), None).await,
        "the code still exchanges after the backfill",
    )
    .await;
}

/// Applies this build's migrations up to and including `last`, as an older
/// oauthd would have left the database.
async fn migrate_until(db: &Db, backend: Backend, last: i64) {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("migrations")
        .join(folder(backend));
    let mut migrator = sqlx::migrate::Migrator::new(dir).await.unwrap();
    migrator.migrations = migrator
        .migrations
        .iter()
        .filter(|m| m.version <= last)
        .cloned()
        .collect::<Vec<_>>()
        .into();
    match db {
        Db::Postgres(p) => migrator.run(p).await,
        Db::Sqlite(s) => migrator.run(&s.pool).await,
    }
    .unwrap();
}

/// Runs SQL text (one statement or several) on either backend.
async fn execute(db: &Db, sql: String) {
    match db {
        Db::Postgres(p) => sqlx::raw_sql(AssertSqlSafe(sql)).execute(p).await.map(drop),
        Db::Sqlite(s) => sqlx::raw_sql(AssertSqlSafe(sql))
            .execute(&s.pool)
            .await
            .map(drop),
    }
    .unwrap();
}

/// A token row as migration 0008 stored it: the digests as hex text.
struct OldToken<'a> {
    raw: &'a Secret,
    kind: &'a str,
    grant: Option<&'a str>,
    client: Option<&'a str>,
    user: Option<&'a str>,
    expires_at: Option<i64>,
    revoked_at: Option<i64>,
    rotated_at: Option<i64>,
    replaced_by: Option<&'a Secret>,
    public_id: Option<&'a str>,
}

impl<'a> OldToken<'a> {
    /// A live token of `client`: an access token for an hour, any other for
    /// a month.
    fn live(
        raw: &'a Secret,
        kind: &'a str,
        grant: Option<&'a str>,
        client: &'a str,
        user: Option<&'a str>,
        now: i64,
    ) -> Self {
        let lifetime = if kind == "access" { 3600 } else { 30 * 86_400 };
        Self {
            raw,
            kind,
            grant,
            client: Some(client),
            user,
            expires_at: Some(now + lifetime),
            revoked_at: None,
            rotated_at: None,
            replaced_by: None,
            public_id: None,
        }
    }

    /// The statement that stores it, in the 0008 schema.
    fn insert(&self, now: i64) -> String {
        let text = |v: Option<&str>| v.map_or("null".to_owned(), |v| format!("'{v}'"));
        let number = |v: Option<i64>| v.map_or("null".to_owned(), |v| v.to_string());
        let family_end = (self.kind == "refresh").then_some(now + 30 * 86_400);
        format!(
            "insert into tokens (token_hash, kind, grant_id, client_id, user_id, scope, label, \
             created_at, expires_at, revoked_at, last_used_at, rotated_at, grant_expires_at, \
             public_id, replaced_by) values ('{}', '{}', {}, {}, {}, 'account:read event:write', \
             {}, {}, {}, {}, null, {}, {}, {}, {});\n",
            self.raw.digest(),
            self.kind,
            text(self.grant),
            text(self.client),
            text(self.user),
            text(self.public_id.map(|_| "from before")),
            now - 60,
            number(self.expires_at),
            number(self.revoked_at),
            number(self.rotated_at),
            number(family_end),
            text(self.public_id),
            text(self.replaced_by.map(Secret::digest).as_deref()),
        )
    }
}

/// Migration 0009 turns `tokens.token_hash` and `replaced_by` from hex text
/// into bytes and drops the foreign keys. A database at 0008 holding tokens
/// of every kind and state is upgraded by the binary, and each token then
/// answers as before: live ones work, revoked ones stay revoked, a retired
/// refresh token still finds its successor, and deleting a client still
/// deletes its tokens.
async fn the_lean_tokens_migration_keeps_every_token_as_it_was(backend: Backend) {
    let test_db = TestDb::new(backend).await;
    let db = connect(&test_db.url).await;
    migrate_until(&db, backend, 8).await;
    let clock = Clock::manual(1_800_000_000);
    let now = clock.now();
    let config = test_config(&test_db.url);
    // The user row as schema 0008 holds it (today's insert names the
    // profile columns that 0013 adds).
    let alice_id = "00000000000000000000000000a11ce0";
    let alice_hash = oauthd::crypto::hash_password(PASSWORD).unwrap();
    execute(
        &db,
        format!(
            "insert into users (id, username, password_hash, is_admin, disabled, created_at, \
             updated_at) values ('{alice_id}', 'alice', '{alice_hash}', false, false, {now}, {now});"
        ),
    )
    .await;
    // The client row as schema 0008 holds it (today's insert names columns
    // later migrations add).
    let web_secret = Secret::generate(SecretKind::ClientSecret);
    let web = Client {
        id: "0123456789abcdef0123456789abcdef".into(),
        secret: Some(web_secret.expose().to_owned()),
        name: "Web".into(),
        redirect_uris: vec![flow::CB.into()],
    };
    execute(
        &db,
        format!(
            "insert into clients (id, name, website, secret_hash, auth_method, redirect_uris, \
             scopes, grant_types, response_types, owner_id, may_introspect, created_at, \
             updated_at) values ('{}', 'Web', null, '{}', 'client_secret_basic_or_post', '{}', \
             'account:read event:write', 'authorization_code refresh_token', 'code', null, \
             false, {now}, {now});\n",
            web.id,
            web_secret.digest(),
            flow::CB,
        ),
    )
    .await;
    let new = || Secret::generate(SecretKind::AccessToken);
    let new_refresh = || Secret::generate(SecretKind::RefreshToken);
    let new_personal = || Secret::generate(SecretKind::PersonalToken);
    let (service, revoked_access) = (new(), new());
    let (live_access, live_refresh) = (new(), new_refresh());
    let (rotated_access, retired, successor) = (new(), new_refresh(), new_refresh());
    let revoked_refresh = new_refresh();
    let (personal, revoked_personal) = (new_personal(), new_personal());
    let token = |raw, kind, grant, user| OldToken::live(raw, kind, grant, &web.id, user, now);
    let user = Some(alice_id);
    let rows = [
        // Client credentials: no user, no grant.
        token(&service, "access", None, None),
        OldToken {
            revoked_at: Some(now - 100),
            ..token(&revoked_access, "access", None, None)
        },
        // A family as a code exchange left it.
        token(&live_access, "access", Some("g-live"), user),
        token(&live_refresh, "refresh", Some("g-live"), user),
        // A family rotated two seconds ago: inside the grace period.
        token(&rotated_access, "access", Some("g-rotated"), user),
        OldToken {
            rotated_at: Some(now - 2),
            replaced_by: Some(&successor),
            ..token(&retired, "refresh", Some("g-rotated"), user)
        },
        token(&successor, "refresh", Some("g-rotated"), user),
        // A family revoked with its grant.
        OldToken {
            revoked_at: Some(now - 100),
            ..token(&revoked_refresh, "refresh", Some("g-revoked"), user)
        },
        // Personal access tokens.
        OldToken {
            client: None,
            expires_at: None,
            public_id: Some("pat_live"),
            ..token(&personal, "personal", None, user)
        },
        OldToken {
            client: None,
            expires_at: None,
            revoked_at: Some(now - 100),
            public_id: Some("pat_revoked"),
            ..token(&revoked_personal, "personal", None, user)
        },
    ];
    let mut sql = String::new();
    for (grant, revoked_at) in [
        ("g-live", "null"),
        ("g-rotated", "null"),
        ("g-revoked", "1"),
    ] {
        sql.push_str(&format!(
            "insert into grants (id, client_id, user_id, created_at, issued_at, expires_at, \
             revoked_at) values ('{grant}', '{}', '{}', {}, {now}, {}, {revoked_at});\n",
            web.id,
            alice_id,
            now - 60,
            now + 30 * 86_400,
        ));
    }
    for row in &rows {
        sql.push_str(&row.insert(now));
    }
    execute(&db, sql).await;

    assert_exit(&on(&test_db.url, &["migrate"], None), 0, "migrate to 0009");
    let versions: Vec<i64> = applied(&db).await.iter().map(|r| r.0).collect();
    assert_eq!(versions, known_versions(backend), "every migration applied");
    let app = TestApp::serve(config, db, test_db).await;
    assert_eq!(
        flow::scalar(
            &app,
            "select count(*) from tokens where length(token_hash) = 32",
            &[]
        )
        .await,
        i64::try_from(rows.len()).unwrap(),
        "every digest is now its 32 bytes"
    );
    assert_eq!(
        flow::scalar(
            &app,
            &format!(
                "select count(*) from tokens where replaced_by = {}",
                flow::token_digest(&app, "$1")
            ),
            &[&sha256_hex(successor.expose())]
        )
        .await,
        1,
        "the retired token still names its successor"
    );

    let auth = web.auth();
    for (raw, what) in [
        (&service, "a client-credentials token"),
        (&live_access, "an access token of a family"),
        (&rotated_access, "an access token of a rotated family"),
    ] {
        assert!(
            active(&app, &auth, raw.expose()).await,
            "{what} is still active"
        );
    }
    assert!(
        !active(&app, &auth, revoked_access.expose()).await,
        "a revoked token stays revoked"
    );
    assert_eq!(
        flow::account(&app, live_access.expose()).await.status(),
        StatusCode::OK,
        "a user's access token reaches /account"
    );
    assert_eq!(
        flow::account(&app, personal.expose()).await.status(),
        StatusCode::OK,
        "a personal access token"
    );
    assert_eq!(
        flow::account(&app, revoked_personal.expose())
            .await
            .status(),
        StatusCode::UNAUTHORIZED,
        "a revoked personal access token"
    );
    let listed = admin::list_tokens(&app.db, &app.clock, "alice")
        .await
        .unwrap();
    assert_eq!(
        listed.len(),
        2,
        "both personal tokens are listed: {listed:?}"
    );

    let next = flow::tokens(
        refresh(&app, &auth, &live_refresh).await,
        "a refresh token refreshes",
    )
    .await;
    assert!(
        active(&app, &auth, &next.access).await,
        "the new token is active"
    );
    flow::oauth_error(
        refresh(&app, &auth, &revoked_refresh).await,
        StatusCode::BAD_REQUEST,
        "invalid_grant",
        "a refresh token of a revoked grant",
        &[],
    )
    .await;
    // Replayed inside the grace period, the retired token finds its unused
    // successor by `replaced_by`, retires it and gets a new pair.
    flow::tokens(
        refresh(&app, &auth, &retired).await,
        "the retired token is forgiven inside the grace period",
    )
    .await;
    flow::oauth_error(
        refresh(&app, &auth, &successor).await,
        StatusCode::BAD_REQUEST,
        "invalid_grant",
        "the successor it retired is reuse",
        &[],
    )
    .await;
    assert!(
        !active(&app, &auth, rotated_access.expose()).await,
        "reuse revoked the family"
    );

    // Without the foreign keys, the triggers delete a client's tokens.
    admin::remove_client(&app.db, &web.id).await.unwrap();
    assert_eq!(
        flow::scalar(
            &app,
            "select count(*) from tokens where client_id is not null",
            &[]
        )
        .await,
        0,
        "the client's tokens went with it"
    );
    assert_eq!(app.count("tokens").await, 2, "the personal tokens stay");
}

/// Presents a refresh token as `caller`.
async fn refresh(app: &TestApp, caller: &Auth, token: &Secret) -> reqwest::Response {
    let form = [
        ("grant_type", "refresh_token"),
        ("refresh_token", token.expose()),
    ];
    flow::token(app, caller, &form).await
}

/// Whether introspection tells `caller` that `token` is active.
async fn active(app: &TestApp, caller: &Auth, token: &str) -> bool {
    let response =
        flow::token_at(app, "/oauth/introspect", caller, &[("token", token)], None).await;
    assert_eq!(response.status(), StatusCode::OK, "introspection answers");
    let body: Value = response.json().await.unwrap();
    body["active"] == json!(true)
}
