//! The two migration sets, `migrations/postgres` and `migrations/sqlite`,
//! must describe one schema: the same migrations by number and name (but
//! for the few that exist on one backend only, listed here with why), and,
//! once all are applied, the same tables with the same columns and the same
//! nullability. Types differ by design (`bigint` against `INTEGER`, `bytea`
//! against `BLOB`), so they are not compared.

use std::collections::BTreeMap;

use oauthd::store::Db;

use crate::support::{Backend, TestDb, test_config};

/// Migrations that exist on one backend only.
const ONE_BACKEND_ONLY: &[(&str, &str)] = &[(
    "postgres/0005_client_change_notify.sql",
    "LISTEN/NOTIFY keeps other replicas' client caches fresh; SQLite has one process",
)];

fn migration_files(backend: &str) -> Vec<String> {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("migrations")
        .join(backend);
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .filter(|name| name.ends_with(".sql"))
        .filter(|name| {
            !ONE_BACKEND_ONLY
                .iter()
                .any(|(path, _)| *path == format!("{backend}/{name}"))
        })
        .collect();
    names.sort();
    names
}

#[test]
fn both_backends_have_the_same_migrations() {
    assert_eq!(
        migration_files("postgres"),
        migration_files("sqlite"),
        "every migration exists on both backends under the same name \
         (or is listed in ONE_BACKEND_ONLY with the reason)"
    );
}

/// table -> column -> nullable, for every table the migrations made.
type Shape = BTreeMap<String, BTreeMap<String, bool>>;

async fn shape(backend: Backend) -> Shape {
    let test_db = TestDb::new(backend).await;
    let db = Db::connect(&test_config(&test_db.url).database)
        .await
        .unwrap();
    db.migrate().await.unwrap();
    let rows: Vec<(String, String, bool)> = match &db {
        Db::Postgres(pool) => sqlx::query_as(
            "select table_name::text, column_name::text, is_nullable = 'YES'
             from information_schema.columns
             where table_schema = 'public' and table_name <> '_sqlx_migrations'",
        )
        .fetch_all(pool)
        .await
        .unwrap(),
        Db::Sqlite(sqlite) => sqlx::query_as(
            "select m.name, c.name, c.\"notnull\" = 0 and c.pk = 0
             from sqlite_schema m, pragma_table_info(m.name) c
             where m.type = 'table' and m.name not like 'sqlite_%'
               and m.name <> '_sqlx_migrations'",
        )
        .fetch_all(&sqlite.pool)
        .await
        .unwrap(),
    };
    db.close().await;
    let mut shape = Shape::new();
    for (table, column, nullable) in rows {
        shape.entry(table).or_default().insert(column, nullable);
    }
    shape
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn both_backends_end_with_the_same_tables_columns_and_nullability() {
    let postgres = shape(Backend::Postgres).await;
    let sqlite = shape(Backend::Sqlite).await;
    assert!(!postgres.is_empty(), "the migrations made tables");
    let mut differences = Vec::new();
    for table in postgres.keys().chain(sqlite.keys()) {
        let (pg, lite) = (postgres.get(table), sqlite.get(table));
        if pg != lite {
            differences.push(format!("{table}:\n  postgres {pg:?}\n  sqlite   {lite:?}"));
        }
    }
    differences.dedup();
    assert!(
        differences.is_empty(),
        "the schemas differ:\n{}",
        differences.join("\n")
    );
}
