//! `oauthd token …`: personal access tokens.

use super::args::TokenCommand;
use super::database::open;
use super::{Failure, admin, print_json};
use crate::clock::{Clock, format_utc};
use crate::config::Config;

pub(super) async fn token(cmd: TokenCommand, config: &Config) -> Result<(), Failure> {
    let clock = Clock::system();
    let db = open(config).await?;
    match cmd {
        TokenCommand::Create {
            user,
            scope,
            name,
            expires_in,
            json,
        } => {
            let created = admin::create_token(
                &db,
                &clock,
                config,
                &user,
                &scope,
                name.as_deref(),
                expires_in,
            )
            .await?;
            if json {
                print_json(&created)?;
            } else {
                out!("id:      {}", created.id);
                out!("scope:   {}", created.scope);
                out!(
                    "expires: {}",
                    created.expires_at.map_or("never".to_owned(), format_utc)
                );
                out!("token:   {}", created.token.as_deref().unwrap_or(""));
                eprintln!("oauthd: the token is shown only this once; store it now");
            }
        }
        TokenCommand::List { user, json } => {
            let tokens = admin::list_tokens(&db, &clock, &user).await?;
            if json {
                print_json(&tokens)?;
            } else {
                out!(
                    "{:<36} {:<9} {:<24} {:<24} LABEL",
                    "ID",
                    "STATUS",
                    "SCOPE",
                    "EXPIRES"
                );
                for t in tokens {
                    out!(
                        "{:<36} {:<9} {:<24} {:<24} {}",
                        t.id,
                        t.status,
                        t.scope,
                        t.expires_at.map_or("never".to_owned(), format_utc),
                        t.label.as_deref().unwrap_or("")
                    );
                }
            }
        }
        TokenCommand::Revoke { id } => {
            admin::revoke_token(&db, &clock, &id).await?;
            eprintln!("oauthd: token {id} revoked");
        }
    }
    Ok(())
}
