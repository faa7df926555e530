//! `oauthd export` and `oauthd import`: reading and writing the document;
//! `export_import` builds and applies it.

use std::io::{Read, Write};
use std::path::Path;

use super::Failure;
use super::database::{Missing, open, open_as};
use super::export_import::{self, TransferError};
use crate::clock::Clock;
use crate::config::Config;
use crate::telemetry::error_chain as chain;

pub(super) async fn export(config: &Config, output: Option<&Path>) -> Result<(), Failure> {
    let db = open(config).await?;
    let document = export_import::export(&db, &Clock::system())
        .await
        .map_err(transfer_failure)?;
    let mut text = serde_json::to_string_pretty(&document)
        .map_err(|e| Failure::Runtime(format!("cannot encode JSON: {e}")))?;
    text.push('\n');
    match output {
        Some(path) => write_private(path, text.as_bytes())
            .map_err(|e| Failure::Runtime(format!("cannot write {}: {e}", path.display())))?,
        None => std::io::stdout()
            .write_all(text.as_bytes())
            .map_err(|e| Failure::Runtime(format!("cannot write to stdout: {e}")))?,
    }
    eprintln!(
        "oauthd: exported {} from {}; the document holds password hashes and secret digests: keep it private",
        document.counts(),
        db.backend()
    );
    Ok(())
}

/// Writes a file only its owner may read: created with mode 0600, and an
/// existing file is narrowed to 0600 before anything is written into it.
pub(super) fn write_private(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut file = options.open(path)?;
    #[cfg(unix)]
    file.set_permissions(std::os::unix::fs::PermissionsExt::from_mode(0o600))?;
    file.write_all(bytes)?;
    file.sync_all()
}

pub(super) async fn import(config: &Config, file: Option<&Path>) -> Result<(), Failure> {
    let text = match file {
        Some(path) if path != Path::new("-") => std::fs::read_to_string(path)
            .map_err(|e| Failure::Usage(format!("cannot read {}: {e}", path.display())))?,
        _ => {
            let mut input = String::new();
            std::io::stdin()
                .read_to_string(&mut input)
                .map_err(|e| Failure::Usage(format!("cannot read stdin: {e}")))?;
            input
        }
    };
    // Checked before the database is opened: a bad document changes nothing.
    let document = export_import::parse(&text).map_err(transfer_failure)?;
    let db = open_as(config, Missing::Create).await?;
    let counts = export_import::import(&db, &document)
        .await
        .map_err(transfer_failure)?;
    eprintln!("oauthd: imported {counts} into {}", db.backend());
    Ok(())
}

pub(super) fn transfer_failure(e: TransferError) -> Failure {
    match e {
        TransferError::Malformed(m) => Failure::Usage(m),
        TransferError::Conflict(_) => Failure::Runtime(e.to_string()),
        TransferError::Store(e) => Failure::Runtime(chain(&e)),
    }
}
