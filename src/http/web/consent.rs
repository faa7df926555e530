//! The consent page and the out-of-band code page.

use askama::Template;
use axum::http::StatusCode;
use axum::response::Response;

use super::layout::Layout;
use super::{ActiveSession, render};
use crate::config::Config;
use crate::http::error::HttpError;
use crate::oauth::client_metadata_document;
use crate::oauth::scope::Scopes;
use crate::store::clients::Client;

/// One requested scope as the page shows it.
pub(crate) struct ScopeLine<'a> {
    /// The scope.
    pub(crate) name: &'a str,
    /// Its description from the catalogue.
    pub(crate) description: &'a str,
}

/// Each scope with its catalogue description, as consent pages list them.
pub(crate) fn scope_lines<'a>(config: &'a Config, scope: &'a Scopes) -> Vec<ScopeLine<'a>> {
    scope
        .iter()
        .map(|s| ScopeLine {
            name: s.as_str(),
            description: config
                .scopes
                .catalogue
                .get(s.as_str())
                .map_or("", String::as_str),
        })
        .collect()
}

#[derive(Template)]
#[template(path = "consent.html")]
struct ConsentPage<'a> {
    layout: Layout,
    client_name: &'a str,
    website: Option<&'a str>,
    self_registered: bool,
    /// For a client ID metadata document client: the host that publishes
    /// its document (the only thing known about who runs it).
    document_host: Option<String>,
    username: &'a str,
    scopes: Vec<ScopeLine<'a>>,
    resources: &'a [String],
    destination: Option<String>,
    request_id: &'a str,
    csrf: &'a str,
}

/// What the consent page needs to say.
#[derive(Clone, Debug)]
pub struct Consent<'a> {
    /// The asking client.
    pub client: &'a Client,
    /// What it asks for.
    pub scope: &'a Scopes,
    /// The resources it asks for, as the page names them.
    pub resources: Vec<String>,
    /// Where the user will be sent; `None` for out of band.
    pub redirect_uri: Option<&'a str>,
    /// The pending request's id, for the decision form.
    pub request_id: &'a str,
}

/// Renders the consent page: who asks, for what, and where the user goes next.
pub fn consent_page(
    config: &Config,
    active: &ActiveSession,
    consent: &Consent<'_>,
) -> Result<Response, HttpError> {
    let client = consent.client;
    let csrf = active.csrf();
    let scopes = scope_lines(config, consent.scope);
    render(
        StatusCode::OK,
        &ConsentPage {
            layout: Layout::signed_in(config, active),
            client_name: display_name(client),
            website: client.website.as_deref(),
            // Clients from the API or CLI have no owner; they vouch for themselves.
            self_registered: client.owner_id.is_none(),
            document_host: client_metadata_document::is_document_client(client)
                .then(|| destination_host(&client.id)),
            username: &active.info.user.username,
            scopes,
            resources: &consent.resources,
            destination: consent.redirect_uri.map(destination_host),
            request_id: consent.request_id,
            csrf: &csrf,
        },
    )
}

/// The name to show: the registered name, or the id when there is none.
pub fn display_name(client: &Client) -> &str {
    if client.name.is_empty() {
        &client.id
    } else {
        &client.name
    }
}

/// The host (or, for a private-use scheme, the scheme) the user is sent to.
fn destination_host(uri: &str) -> String {
    match url::Url::parse(uri) {
        Ok(u) => match u.host_str() {
            Some(host) => match u.port() {
                Some(port) => format!("{host}:{port}"),
                None => host.to_owned(),
            },
            None => format!("the app that handles {}:", u.scheme()),
        },
        Err(_) => uri.to_owned(),
    }
}

#[derive(Template)]
#[template(path = "oob.html")]
struct OobPage<'a> {
    layout: Layout,
    client_name: &'a str,
    code: &'a str,
    minutes: u64,
}

/// The page that shows a code for the user to copy (no redirect URI).
pub fn oob_page(
    config: &Config,
    active: &ActiveSession,
    client: &Client,
    code: &str,
) -> Result<Response, HttpError> {
    render(
        StatusCode::OK,
        &OobPage {
            layout: Layout::signed_in(config, active),
            client_name: display_name(client),
            code,
            minutes: config.tokens.code_lifetime.as_secs().div_ceil(60),
        },
    )
}
