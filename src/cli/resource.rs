//! `oauthd resource …`: registered resources (RFC 8707).

use super::args::ResourceCommand;
use super::database::open;
use super::{Failure, admin, print_json};
use crate::clock::Clock;
use crate::config::Config;

pub(super) async fn resource(cmd: ResourceCommand, config: &Config) -> Result<(), Failure> {
    let clock = Clock::system();
    let db = open(config).await?;
    match cmd {
        ResourceCommand::Add {
            uri,
            name,
            client,
            token_format,
            json,
        } => {
            let format = token_format
                .as_deref()
                .map(admin::parse_token_format)
                .transpose()?;
            let mut r = admin::add_resource(&db, &clock, &uri, &name, client.as_deref()).await?;
            if let Some(format) = format {
                r = admin::set_resource_token_format(&db, &uri, format).await?;
            }
            if json {
                print_json(&r)?;
            } else {
                print_resource(&r);
            }
            eprintln!("oauthd: resource {uri} registered");
        }
        ResourceCommand::Update {
            uri,
            token_format,
            json,
        } => {
            let format = admin::parse_token_format(&token_format)?;
            let r = admin::set_resource_token_format(&db, &uri, format).await?;
            if json {
                print_json(&r)?;
            } else {
                print_resource(&r);
            }
            eprintln!("oauthd: resource {uri} updated");
        }
        ResourceCommand::List { json } => {
            let list = admin::list_resources(&db).await?;
            if json {
                print_json(&list)?;
            } else {
                out!("{:<48} {:<32} NAME", "URI", "CLIENT_ID");
                for r in list {
                    out!(
                        "{:<48} {:<32} {}",
                        r.uri,
                        r.client_id.as_deref().unwrap_or("-"),
                        r.name
                    );
                }
            }
        }
        ResourceCommand::Remove { uri } => {
            admin::remove_resource(&db, &uri).await?;
            eprintln!("oauthd: resource {uri} removed");
        }
    }
    Ok(())
}

pub(super) fn print_resource(r: &admin::ResourceView) {
    out!("uri:        {}", r.uri);
    out!("name:       {}", r.name);
    out!("client_id:  {}", r.client_id.as_deref().unwrap_or("-"));
    out!("tokens:     {}", r.access_token_format);
}
