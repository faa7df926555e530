//! `oauthd keys …`: the signing keys.

use super::args::KeysCommand;
use super::database::open;
use super::{Failure, print_json};
use crate::clock::{Clock, format_utc};
use crate::config::Config;
use crate::telemetry::error_chain as chain;

pub(super) async fn keys(cmd: KeysCommand, config: &Config) -> Result<(), Failure> {
    use crate::signing::{self, SigningError};
    let clock = Clock::system();
    let db = open(config).await?;
    let failed = |e: SigningError| match e {
        SigningError::NoKek | SigningError::Refused(_) => Failure::Usage(e.to_string()),
        _ => Failure::Runtime(chain(&e)),
    };
    let signing = &config.signing;
    match cmd {
        KeysCommand::Rotate { now, json } => {
            let Some(key) = signing::rotate(&db, &clock, signing, now)
                .await
                .map_err(failed)?
            else {
                return Err(Failure::Runtime(
                    "another process created a key at the same moment: run `oauthd keys list`"
                        .into(),
                ));
            };
            let rows = [key.clone()];
            let view = signing::views(&rows, clock.now(), signing);
            if json {
                print_json(&view)?;
            } else {
                out!(
                    "{} {} signs from {}",
                    key.kid,
                    key.alg,
                    format_utc(key.activates_at)
                );
            }
            eprintln!("oauthd: signing key {} created", key.kid);
        }
        KeysCommand::List { json } => {
            let rows = crate::store::signing_keys::list(&db)
                .await
                .map_err(|e| Failure::Runtime(chain(&e)))?;
            let views = signing::views(&rows, clock.now(), signing);
            if json {
                print_json(&views)?;
            } else {
                out!(
                    "{:<18} {:<6} {:<10} {:<24} CREATED",
                    "KID",
                    "ALG",
                    "STATE",
                    "SIGNS FROM"
                );
                for k in views {
                    out!(
                        "{:<18} {:<6} {:<10} {:<24} {}",
                        k.kid,
                        k.alg,
                        k.state,
                        format_utc(k.activates_at),
                        format_utc(k.created_at)
                    );
                }
            }
        }
        KeysCommand::Retire { kid } => {
            if !signing::retire(&db, &clock, &kid).await.map_err(failed)? {
                return Err(Failure::Usage(format!("no unretired signing key {kid}")));
            }
            eprintln!("oauthd: signing key {kid} retired");
        }
    }
    Ok(())
}
