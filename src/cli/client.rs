//! `oauthd client …`, and how a client is printed.

use super::admin::{self, NewClientArgs};
use super::args::ClientCommand;
use super::database::open;
use super::{Failure, print_json};
use crate::clock::{Clock, format_utc};
use crate::config::Config;

pub(super) async fn client(cmd: ClientCommand, config: &Config) -> Result<(), Failure> {
    let clock = Clock::system();
    let db = open(config).await?;
    match cmd {
        ClientCommand::Add {
            name,
            redirect_uris,
            scope,
            website,
            public,
            allowed_origins,
            introspect,
            grant_types,
            auth_method,
            application_type,
            post_logout_redirect_uris,
            subject_type,
            json,
        } => {
            let args = NewClientArgs {
                name,
                redirect_uris,
                scope,
                website,
                public,
                allowed_origins,
                introspect,
                grant_types,
                auth_method,
                application_type,
                post_logout_redirect_uris,
                subject_type,
            };
            let issued = admin::add_client(&db, &clock, config, args).await?;
            print_issued(&issued, json)?;
        }
        ClientCommand::List { json } => {
            let clients = admin::list_clients(&db).await?;
            if json {
                print_json(&clients)?;
            } else {
                out!(
                    "{:<32} {:<12} {:<28} REDIRECT_URIS",
                    "CLIENT_ID",
                    "TYPE",
                    "NAME"
                );
                for c in clients {
                    out!(
                        "{:<32} {:<12} {:<28} {}",
                        c.client_id,
                        client_type(&c.token_endpoint_auth_method),
                        c.client_name,
                        c.redirect_uris.join(" ")
                    );
                }
            }
        }
        ClientCommand::Show { id, json } => {
            let c = admin::show_client(&db, &id).await?;
            if json {
                print_json(&c)?;
            } else {
                print_client(&c);
            }
        }
        ClientCommand::Update {
            id,
            introspect,
            token_format,
            json,
        } => {
            let format = token_format
                .as_deref()
                .map(admin::parse_token_format)
                .transpose()?;
            let mut c = None;
            if let Some(introspect) = introspect {
                c = Some(admin::set_introspection(&db, &clock, &id, introspect).await?);
            }
            if let Some(format) = format {
                c = Some(admin::set_client_token_format(&db, &clock, &id, format).await?);
            }
            let Some(c) = c else {
                return Err(Failure::Usage(
                    "client update needs --introspect or --token-format".into(),
                ));
            };
            if json {
                print_json(&c)?;
            } else {
                print_client(&c);
            }
            eprintln!("oauthd: client {id} updated");
        }
        ClientCommand::Resources {
            id,
            resources,
            any,
            json,
        } => {
            let list = if any || !resources.is_empty() {
                let list = admin::set_client_resources(&db, &id, &resources).await?;
                eprintln!("oauthd: client {id} updated");
                list
            } else {
                admin::client_resources(&db, &id).await?
            };
            if json {
                print_json(&list)?;
            } else if list.is_empty() {
                out!("any resource");
            } else {
                for uri in list {
                    out!("{uri}");
                }
            }
        }
        ClientCommand::Remove { id } => {
            admin::remove_client(&db, &id).await?;
            eprintln!("oauthd: client {id} removed");
        }
        ClientCommand::RotateSecret { id, json } => {
            let issued = admin::rotate_client_secret(&db, &clock, &id).await?;
            print_issued(&issued, json)?;
        }
    }
    Ok(())
}

pub(super) fn client_type(auth_method: &str) -> &'static str {
    if auth_method == "none" {
        "public"
    } else {
        "confidential"
    }
}

pub(super) fn print_client(c: &admin::ClientView) {
    out!("client_id:     {}", c.client_id);
    out!("name:          {}", c.client_name);
    out!(
        "type:          {}",
        client_type(&c.token_endpoint_auth_method)
    );
    if c.token_endpoint_auth_method == crate::oauth::registration::EITHER_SECRET_METHOD {
        out!(
            "auth method:   client_secret_basic or client_secret_post (none named at registration)"
        );
    } else {
        out!("auth method:   {}", c.token_endpoint_auth_method);
    }
    out!("website:       {}", c.client_uri.as_deref().unwrap_or("-"));
    out!("scope:         {}", c.scope);
    for origin in &c.allowed_origins {
        out!("CORS origin:   {origin}");
    }
    out!("grant types:   {}", c.grant_types.join(" "));
    out!(
        "introspects:   {}",
        if c.may_introspect {
            "every token (allowed by the operator)"
        } else {
            "only its own tokens"
        }
    );
    if c.redirect_uris.is_empty() && c.grant_types.iter().any(|g| g == "authorization_code") {
        out!("redirect URIs: (none: codes are shown on screen)");
    } else if c.redirect_uris.is_empty() {
        out!("redirect URIs: (none)");
    }
    for uri in &c.redirect_uris {
        out!("redirect URI:  {uri}");
    }
    for uri in &c.post_logout_redirect_uris {
        out!("after logout:  {uri}");
    }
    out!("access tokens: {}", c.access_token_format);
    out!("created:       {}", format_utc(c.created_at));
}

pub(super) fn print_issued(issued: &admin::IssuedClient, json: bool) -> Result<(), Failure> {
    if json {
        return print_json(issued);
    }
    print_client(&issued.client);
    if let Some(secret) = &issued.client_secret {
        out!("client_secret: {secret}");
        eprintln!("oauthd: the client secret is shown only this once; store it now");
    }
    Ok(())
}
