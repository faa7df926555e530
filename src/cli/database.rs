//! How a CLI command finds and opens its database: as `serve` does (config
//! file, env, `--config`), saying which one on stderr, and refusing to make
//! one implicitly.

use std::path::{Path, PathBuf};
use std::str::FromStr;

use super::Failure;
use crate::config::Config;
use crate::store::Db;
use crate::telemetry::error_chain as chain;

/// Whether a CLI command may make the database it is pointed at.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(super) enum Missing {
    /// `migrate` and `import`: making the schema is their job.
    Create,
    /// Every other command: a missing or empty database is a mistake (the
    /// wrong directory, config or `DATABASE_URL`), not something to create.
    Refuse,
}

/// Opens the database the config names (as `serve` would), says which on
/// stderr, and brings the schema up to date, for CLI commands.
pub(super) async fn open(config: &Config) -> Result<Db, Failure> {
    open_as(config, Missing::Refuse).await
}

pub(super) async fn open_as(config: &Config, missing: Missing) -> Result<Db, Failure> {
    let shown = config.database.shown_url();
    eprintln!("oauthd: database {shown}");
    let refuse = || {
        Failure::Runtime(format!(
            "no oauthd database at {shown}: create it with `oauthd migrate` (or `oauthd serve`), or point --config or DATABASE_URL at the server's"
        ))
    };
    if missing == Missing::Refuse
        && !config.database.is_postgres()
        && let Some(file) = sqlite_file(&config.database.url)
        && !file.exists()
    {
        return Err(refuse());
    }
    let db = Db::connect(&config.database)
        .await
        .map_err(|e| Failure::Runtime(chain(&e)))?;
    if missing == Missing::Refuse {
        let applied = db
            .newest_applied_migration()
            .await
            .map_err(|e| Failure::Runtime(chain(&e)))?;
        if applied.is_none() {
            return Err(refuse());
        }
    }
    db.migrate()
        .await
        .map_err(|e| Failure::Runtime(chain(&e)))?;
    Ok(db)
}

/// The file a SQLite URL names; `None` for an in-memory database.
pub(super) fn sqlite_file(url: &str) -> Option<PathBuf> {
    let options = sqlx::sqlite::SqliteConnectOptions::from_str(url).ok()?;
    let file = options.get_filename();
    (file != Path::new(":memory:") && !file.as_os_str().is_empty()).then(|| file.to_path_buf())
}
