//! `oauthd user …`.

use super::args::UserCommand;
use super::database::open;
use super::{Failure, admin, read_password};
use crate::clock::{Clock, format_utc};
use crate::config::Config;
use crate::telemetry::error_chain as chain;

pub(super) async fn user(cmd: UserCommand, config: &Config) -> Result<(), Failure> {
    let clock = Clock::system();
    match cmd {
        UserCommand::Add(args) => {
            let password = read_password(&args)?;
            let db = open(config).await?;
            let user = admin::add_user(&db, &clock, &args.name, &password).await?;
            eprintln!("oauthd: created user {}", user.username);
        }
        UserCommand::Passwd(args) => {
            let password = read_password(&args)?;
            let db = open(config).await?;
            admin::set_password(&db, &clock, &args.name, &password).await?;
            eprintln!("oauthd: password changed");
        }
        UserCommand::List => {
            let db = open(config).await?;
            let users = crate::store::users::list(&db)
                .await
                .map_err(|e| Failure::Runtime(chain(&e)))?;
            out!("{:<32} {:<9} CREATED", "USERNAME", "STATUS");
            for u in users {
                let status = if u.disabled { "disabled" } else { "active" };
                out!(
                    "{:<32} {:<9} {}",
                    u.username,
                    status,
                    format_utc(u.created_at)
                );
            }
        }
        UserCommand::Disable { name } => {
            let db = open(config).await?;
            admin::disable_user(&db, &clock, &name).await?;
            eprintln!("oauthd: user disabled");
        }
        UserCommand::Enable { name } => {
            let db = open(config).await?;
            admin::enable_user(&db, &clock, &name).await?;
            eprintln!("oauthd: user enabled");
        }
        UserCommand::Profile(args) => {
            let db = open(config).await?;
            let change = admin::ProfileChange {
                name: args.name.as_deref(),
                email: args.email.as_deref(),
                email_verified: args.email_verified,
            };
            let user =
                if args.name.is_none() && args.email.is_none() && args.email_verified.is_none() {
                    admin::show_user(&db, &args.username).await?
                } else {
                    let user =
                        admin::set_user_profile(&db, &clock, &args.username, &change).await?;
                    eprintln!("oauthd: profile changed");
                    user
                };
            out!("username:       {}", user.username);
            out!("name:           {}", user.name.as_deref().unwrap_or("-"));
            out!("email:          {}", user.email.as_deref().unwrap_or("-"));
            out!("email_verified: {}", user.email_verified);
        }
    }
    Ok(())
}
