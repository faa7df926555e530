//! The authorization request (RFC 6749 §4.1.1) and its answers.
//!
//! Two stages, because they fail differently (RFC 6749 §4.1.2.1):
//! [`resolve`] checks `client_id` and `redirect_uri`; until both hold, nothing
//! may redirect, so its refusals become an error page. [`validate`] checks
//! everything else; its refusals go back to the validated redirect URI.

use url::Url;

use super::client_metadata_document::{self, ClientDocuments, ResolveFailure};
use super::error::{ErrorCode, OAuthError};
use super::pkce;
use super::redirect_uri;
use super::resource::{self, Resources};
use super::scope::Scopes;
use crate::clock::Clock;
use crate::config::Config;
use crate::crypto::{self, Secret, SecretKind};
use crate::store::auth_requests::AuthRequest;
use crate::store::clients::Client;
use crate::store::{self, Db};

/// The redirect URI of native apps that show the code instead (RFC 6749 §3.1.2 era "oob").
pub const OUT_OF_BAND: &str = "urn:ietf:wg:oauth:2.0:oob";
/// Longest `state` accepted; longer is refused, never truncated.
pub const MAX_STATE_LEN: usize = 2048;

/// One request parameter: absent, given once, or given more than once
/// (RFC 6749 §3.1: parameters must not repeat).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub enum Param {
    /// Not sent (or sent empty, which RFC 6749 §3.1 treats as not sent).
    #[default]
    Absent,
    /// Sent once.
    One(String),
    /// Sent more than once.
    Repeated,
}

impl Param {
    fn get(&self) -> Result<Option<&str>, ()> {
        match self {
            Self::Absent => Ok(None),
            Self::One(v) => Ok(Some(v)),
            Self::Repeated => Err(()),
        }
    }
}

/// The parameters of an authorization request.
#[derive(Clone, Debug, Default)]
pub struct AuthorizeParams {
    /// `client_id`.
    pub client_id: Param,
    /// `redirect_uri`.
    pub redirect_uri: Param,
    /// `response_type`.
    pub response_type: Param,
    /// `scope`.
    pub scope: Param,
    /// `state`.
    pub state: Param,
    /// `code_challenge`.
    pub code_challenge: Param,
    /// `code_challenge_method`.
    pub code_challenge_method: Param,
    /// `prompt` (OpenID Connect Core §3.1.2.1).
    pub prompt: Param,
    /// `nonce` (OpenID Connect), echoed in the ID token.
    pub nonce: Param,
    /// `max_age` (OpenID Connect): the longest time since sign-in, seconds.
    pub max_age: Param,
    /// `login_hint` (OpenID Connect): the user name to pre-fill.
    pub login_hint: Param,
    /// `id_token_hint` (OpenID Connect): an ID token this server issued to
    /// the client, naming the user it believes is signed in.
    pub id_token_hint: Param,
    /// Every `resource` (RFC 8707: repeatable).
    pub resource: Vec<String>,
}

/// Where the answer goes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Target {
    /// Redirect to this URI (as requested, or the single registered one).
    Redirect(String),
    /// Show the code on a page for the user to copy.
    OutOfBand,
}

/// A client and redirect target that passed [`resolve`].
#[derive(Clone, Debug)]
pub struct Resolved {
    /// The registered client.
    pub client: Client,
    /// Where answers go.
    pub target: Target,
    /// The `redirect_uri` parameter as sent, if it was.
    pub redirect_uri_sent: Option<String>,
    /// `state`, when it was sent once and is acceptable (else `None`).
    pub state: Option<String>,
}

/// Why [`resolve`] stopped.
#[derive(Debug)]
pub enum ResolveError {
    /// Show an error page with this message; never redirect.
    Page(&'static str),
    /// The client's metadata document cannot be used (this says why); an
    /// error page, never a redirect.
    Document(client_metadata_document::DocumentError),
    /// Storage failed.
    Store(store::Error),
}

impl From<store::Error> for ResolveError {
    fn from(e: store::Error) -> Self {
        Self::Store(e)
    }
}

/// Where [`resolve`] looks clients up: the database, and the client
/// metadata documents behind URL `client_id`s.
#[derive(Clone, Copy, Debug)]
pub struct Lookup<'a> {
    /// Registered clients.
    pub db: &'a Db,
    /// Document clients (draft-ietf-oauth-client-id-metadata-document).
    pub documents: &'a ClientDocuments,
    /// For document cache lifetimes.
    pub clock: &'a Clock,
    /// Registration rules a document obeys.
    pub config: &'a Config,
    /// The requesting address, for the document fetch limit.
    pub from: Option<std::net::IpAddr>,
}

/// The client `client_id` names: a registered one, or, when it is a URL
/// and documents are enabled, the one its metadata document describes.
async fn find_client(lookup: Lookup<'_>, client_id: &str) -> Result<Client, ResolveError> {
    if lookup.documents.enabled() && client_metadata_document::is_document_id(client_id) {
        return match lookup
            .documents
            .resolve(
                lookup.db,
                lookup.clock,
                lookup.config,
                client_id,
                lookup.from,
            )
            .await
        {
            Ok(client) => Ok((*client).clone()),
            Err(ResolveFailure::Document(e)) => Err(ResolveError::Document(e)),
            Err(ResolveFailure::Store(e)) => Err(e.into()),
        };
    }
    store::clients::find(lookup.db, client_id)
        .await?
        .ok_or(ResolveError::Page(
            "The application that sent you here is not registered here.",
        ))
}

/// Checks `client_id`, `redirect_uri` and `state`: the parts that decide
/// whether an error may be redirected at all.
pub async fn resolve(
    lookup: Lookup<'_>,
    params: &AuthorizeParams,
) -> Result<Resolved, ResolveError> {
    use ResolveError::Page;
    let client_id = match params.client_id.get() {
        Err(()) => return Err(Page("The client_id parameter is given more than once.")),
        Ok(None) => return Err(Page("The request names no client (client_id is missing).")),
        Ok(Some(id)) => id,
    };
    let client = find_client(lookup, client_id).await?;
    let document_client = client_metadata_document::is_document_client(&client);
    let requested = params
        .redirect_uri
        .get()
        .map_err(|()| Page("The redirect_uri parameter is given more than once."))?;
    let registered = &client.redirect_uris;
    let target = match requested {
        None | Some(OUT_OF_BAND) if registered.is_empty() => Target::OutOfBand,
        Some(OUT_OF_BAND) => {
            return Err(Page(
                "This application has registered redirect URIs, so it cannot ask for the code to be shown on screen.",
            ));
        }
        None if registered.len() == 1 => Target::Redirect(registered[0].as_str().to_owned()),
        None => {
            return Err(Page(
                "The application has several redirect URIs, and the request does not say which to use.",
            ));
        }
        Some(uri) => {
            // A document client's URIs match exactly (draft §4.1); others
            // keep the RFC 8252 loopback port exception.
            let listed = if document_client {
                client_metadata_document::redirect_uri_listed(&client, uri)
            } else {
                registered
                    .iter()
                    .any(|r| redirect_uri::matches(r.as_str(), uri))
            };
            if !listed {
                return Err(Page(
                    "The redirect URI in the request is not registered for this application.",
                ));
            }
            Target::Redirect(uri.to_owned())
        }
    };
    let state = match params.state.get() {
        Ok(Some(s)) if s.len() > MAX_STATE_LEN => {
            return Err(Page(
                "The state parameter is longer than this server accepts.",
            ));
        }
        // RFC 6749 Appendix A.5 asks for VSCHAR, but clients send UTF-8 too;
        // it round-trips exactly through percent-encoding. Control characters
        // never get this far (the form decoder refuses them).
        Ok(s) => s.map(str::to_owned),
        Err(()) => None,
    };
    Ok(Resolved {
        client,
        target,
        redirect_uri_sent: requested.map(str::to_owned),
        state,
    })
}

/// An authorization request that passed every rule.
#[derive(Clone, Debug)]
pub struct ValidRequest {
    /// Scopes asked for (defaults applied).
    pub scope: Scopes,
    /// The PKCE challenge, if any.
    pub challenge: Option<pkce::Challenge>,
    /// `prompt=consent` was sent.
    pub force_consent: bool,
    /// `prompt=none`: answer without showing the user anything.
    pub no_prompt: bool,
    /// `prompt=login`: the user signs in again.
    pub force_login: bool,
    /// `max_age`: a sign-in older than this many seconds is not enough.
    pub max_age: Option<i64>,
    /// `nonce`, for the ID token.
    pub nonce: Option<String>,
    /// The resources asked for (RFC 8707); empty: none.
    pub resources: Resources,
}

/// Checks the rest of the request. Refusals are redirected to the client.
pub fn validate(
    resolved: &Resolved,
    params: &AuthorizeParams,
    config: &Config,
) -> Result<ValidRequest, OAuthError> {
    let repeated = |name: &str| {
        OAuthError::invalid_request(format!("the {name} parameter is given more than once"))
    };
    if params.state.get().is_err() {
        return Err(repeated("state"));
    }
    match params
        .response_type
        .get()
        .map_err(|()| repeated("response_type"))?
    {
        None => return Err(OAuthError::invalid_request("response_type is required")),
        Some("code") => {}
        Some(_) => {
            return Err(OAuthError::new(
                ErrorCode::UnsupportedResponseType,
                "only response_type=code is supported",
            ));
        }
    }
    let client = &resolved.client;
    if !client.response_types.iter().any(|r| r == "code") {
        return Err(OAuthError::new(
            ErrorCode::UnauthorizedClient,
            "this client is not registered for the authorization code grant",
        ));
    }
    let scope = match params.scope.get().map_err(|()| repeated("scope"))? {
        Some(raw) => Scopes::parse(raw)
            .map_err(|e| OAuthError::new(ErrorCode::InvalidScope, e.to_string()))?,
        None => Scopes::default(),
    };
    let scope = if scope.is_empty() {
        default_scope(client, config)?
    } else {
        if let Some(extra) = scope.iter().find(|s| !client.scopes.contains(s.as_str())) {
            return Err(OAuthError::new(
                ErrorCode::InvalidScope,
                format!("scope `{extra}` is unknown or not allowed for this client"),
            ));
        }
        scope
    };
    let challenge = pkce::parse_challenge(
        params
            .code_challenge
            .get()
            .map_err(|()| repeated("code_challenge"))?,
        params
            .code_challenge_method
            .get()
            .map_err(|()| repeated("code_challenge_method"))?,
        config.authorize.allow_plain_pkce,
    )?;
    // RFC 9700 §2.1.1: public clients must use PKCE.
    if challenge.is_none() && client.is_public() {
        return Err(OAuthError::invalid_request(
            "public clients must send a PKCE code_challenge",
        ));
    }
    let prompt = Prompt::parse(params)?;
    if super::id_token::wanted(&scope)
        && !(super::id_token::available(config) && super::subject::servable(config, client))
    {
        return Err(super::id_token::unavailable());
    }
    let nonce = match params.nonce.get().map_err(|()| repeated("nonce"))? {
        Some(n) if n.len() > super::id_token::MAX_NONCE_LEN => {
            return Err(OAuthError::invalid_request(
                "nonce is longer than this server accepts",
            ));
        }
        n => n.map(str::to_owned),
    };
    let max_age = match params.max_age.get().map_err(|()| repeated("max_age"))? {
        None => None,
        Some(raw) => Some(
            raw.parse::<u32>()
                .map(i64::from)
                .map_err(|_| OAuthError::invalid_request("max_age must be a number of seconds"))?,
        ),
    };
    let resources = Resources::parse(params.resource.iter().map(String::as_str))?;
    Ok(ValidRequest {
        scope,
        challenge,
        force_consent: prompt.consent,
        no_prompt: prompt.none,
        force_login: prompt.login,
        max_age,
        nonce,
        resources,
    })
}

/// The `prompt` values that matter here (OpenID Connect Core §3.1.2.1).
/// Unknown values (and `select_account`: a user has one account here) are
/// ignored.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Prompt {
    /// `none`.
    pub none: bool,
    /// `login`.
    pub login: bool,
    /// `consent`.
    pub consent: bool,
}

impl Prompt {
    /// Reads `prompt`; `none` beside another value is `invalid_request`.
    pub fn parse(params: &AuthorizeParams) -> Result<Self, OAuthError> {
        let raw = params.prompt.get().map_err(|()| {
            OAuthError::invalid_request("the prompt parameter is given more than once")
        })?;
        let mut prompt = Self::default();
        for value in raw.unwrap_or("").split(' ') {
            match value {
                "none" => prompt.none = true,
                "login" => prompt.login = true,
                "consent" => prompt.consent = true,
                _ => {}
            }
        }
        if prompt.none && (prompt.login || prompt.consent) {
            return Err(OAuthError::invalid_request(
                "prompt=none cannot be combined with other values",
            ));
        }
        Ok(prompt)
    }
}

/// True when the request says `prompt=none`, alone or not (read before
/// sign-in, to answer `login_required`, or the request's error, instead of
/// showing the sign-in page).
pub fn prompt_none(params: &AuthorizeParams) -> bool {
    matches!(&params.prompt, Param::One(v) if v.split(' ').any(|p| p == "none"))
}

/// Whether the request's `id_token_hint` (OpenID Connect Core §3.1.2.1)
/// names `user_id` as `client` knows it; `true` without a hint. The hint
/// must verify as a token this server signed for `client` (expired is
/// accepted: it names the user, it grants nothing); one that does not is
/// `invalid_request`, redirected like the request's other errors.
pub async fn hint_names_user(
    db: &Db,
    clock: &Clock,
    config: &Config,
    keys: &crate::signing::Keys,
    params: &AuthorizeParams,
    client: &Client,
    user_id: &str,
) -> Result<bool, super::Error> {
    let hint = match &params.id_token_hint {
        Param::Absent => return Ok(true),
        Param::Repeated => {
            return Err(OAuthError::invalid_request(
                "the id_token_hint parameter is given more than once",
            )
            .into());
        }
        Param::One(hint) => hint,
    };
    let expect = crate::signing::Expect {
        accept_expired: true,
        audience: Some(&client.id),
        typ: None,
    };
    let claims = match keys.verify(db, clock, config, hint, expect).await {
        Ok(claims) => claims,
        Err(crate::signing::SigningError::Store(e)) => return Err(e.into()),
        Err(e) => {
            tracing::debug!(reason = %e, "refused an id_token_hint at the authorization endpoint");
            return Err(OAuthError::invalid_request(
                "id_token_hint is not a valid ID token this server issued to the client",
            )
            .into());
        }
    };
    let sub = super::subject::subject(config, user_id, client).ok();
    Ok(sub.is_some() && claims.get("sub").and_then(|s| s.as_str()) == sub.as_deref())
}

/// The refusal for `prompt=none` when the user must sign in.
pub fn login_required() -> OAuthError {
    OAuthError::new(ErrorCode::LoginRequired, "the user must sign in")
}

/// Whether a session that started at `signed_in_at` is not fresh enough
/// for `valid`: `prompt=login` asks for a new sign-in, or the session is
/// older than `max_age` (`max_age=0` always asks, like `prompt=login`).
pub fn needs_sign_in(valid: &ValidRequest, signed_in_at: i64, now: i64) -> bool {
    valid.force_login
        || valid
            .max_age
            .is_some_and(|max| max == 0 || now.saturating_sub(signed_in_at) > max)
}

/// The checks of [`validate`] that read storage: the resources must be ones
/// the client may ask for (`invalid_target`, redirected like the others).
pub async fn check_resources(
    db: &Db,
    config: &Config,
    resolved: &Resolved,
    valid: &ValidRequest,
) -> Result<(), super::Error> {
    resource::check_allowed(db, config, &resolved.client.id, &valid.resources).await
}

/// A request naming no scope gets the client's scopes that are also default scopes.
fn default_scope(client: &Client, config: &Config) -> Result<Scopes, OAuthError> {
    let names: Vec<&str> = config
        .scopes
        .default_scopes
        .iter()
        .map(|s| s.as_str())
        .filter(|s| client.scopes.contains(s))
        .collect();
    let scope = Scopes::parse(&names.join(" "))
        .map_err(|e| OAuthError::new(ErrorCode::InvalidScope, e.to_string()))?;
    if scope.is_empty() {
        return Err(OAuthError::new(
            ErrorCode::InvalidScope,
            "no scope was requested and this client has no default scope",
        ));
    }
    Ok(scope)
}

/// The validated request as it is kept while the user decides.
pub fn pending(
    resolved: &Resolved,
    valid: &ValidRequest,
    session_id_hash: &str,
    id_hash: String,
    clock: &Clock,
    config: &Config,
) -> AuthRequest {
    let now = clock.now();
    AuthRequest {
        id_hash,
        session_id_hash: session_id_hash.to_owned(),
        client_id: resolved.client.id.clone(),
        redirect_uri: match &resolved.target {
            Target::Redirect(uri) => Some(uri.clone()),
            Target::OutOfBand => None,
        },
        redirect_uri_sent: resolved.redirect_uri_sent.is_some(),
        scope: valid.scope.to_string(),
        state: resolved.state.clone(),
        code_challenge: valid.challenge.as_ref().map(|c| c.value.clone()),
        code_challenge_method: valid
            .challenge
            .as_ref()
            .map(|c| c.method.as_str().to_owned()),
        resources: valid.resources.to_stored(),
        nonce: valid.nonce.clone(),
        created_at: now,
        expires_at: now.saturating_add(secs(config.authorize.request_lifetime)),
    }
}

/// True when the consent page may be skipped: the user already granted this
/// confidential client every requested scope and resource, and
/// `prompt=consent` was not sent.
/// Public clients always see the page (their identity is not proven).
pub async fn consent_remembered(
    db: &Db,
    client: &Client,
    valid: &ValidRequest,
    user_id: &str,
) -> Result<bool, store::Error> {
    if valid.force_consent || client.is_public() {
        return Ok(false);
    }
    let Some(granted) = store::consents::find(db, user_id, &client.id).await? else {
        return Ok(false);
    };
    let resources = Resources::from_stored(granted.resources.as_deref());
    let granted = Scopes::parse(&granted.scope).unwrap_or_default();
    Ok(valid.scope.iter().all(|s| granted.contains(s.as_str()))
        && valid.resources.is_subset_of(&resources))
}

/// Records that the user approved the request's scopes and resources for its
/// client (added to what they granted before), then issues a code.
pub async fn approve(
    db: &Db,
    clock: &Clock,
    config: &Config,
    request: &AuthRequest,
    user_id: &str,
    auth_time: i64,
) -> Result<Secret, store::Error> {
    remember_consent(
        db,
        clock,
        user_id,
        &request.client_id,
        &request.scope,
        &Resources::from_stored(request.resources.as_deref()),
    )
    .await?;
    issue_code(db, clock, config, request, user_id, auth_time).await
}

/// Adds `scope` and `resources` to what `user_id` has granted `client_id`.
pub async fn remember_consent(
    db: &Db,
    clock: &Clock,
    user_id: &str,
    client_id: &str,
    scope: &str,
    resources: &Resources,
) -> Result<(), store::Error> {
    let before = store::consents::find(db, user_id, client_id).await?;
    let resources = Resources::from_stored(before.as_ref().and_then(|b| b.resources.as_deref()))
        .union(resources);
    let mut granted: Vec<String> = before
        .as_ref()
        .map(|b| {
            b.scope
                .split(' ')
                .filter(|s| !s.is_empty())
                .map(str::to_owned)
                .collect()
        })
        .unwrap_or_default();
    for s in scope.split(' ').filter(|s| !s.is_empty()) {
        if !granted.iter().any(|g| g == s) {
            granted.push(s.to_owned());
        }
    }
    store::consents::upsert(
        db,
        user_id,
        client_id,
        &store::consents::Granted {
            scope: granted.join(" "),
            resources: resources.to_stored(),
        },
        clock.now(),
    )
    .await
}

/// Issues a single-use code bound to the request's client, redirect URI,
/// scope and PKCE challenge, and to the user, who signed in at `auth_time`.
pub async fn issue_code(
    db: &Db,
    clock: &Clock,
    config: &Config,
    request: &AuthRequest,
    user_id: &str,
    auth_time: i64,
) -> Result<Secret, store::Error> {
    let now = clock.now();
    let code = Secret::generate(SecretKind::AuthCode);
    let grant_id = crypto::random_id();
    let expires_at = now.saturating_add(secs(config.tokens.code_lifetime));
    let mut tx = db.begin().await?;
    store::grants::insert(
        &mut tx,
        store::grants::NewGrant {
            id: &grant_id,
            client_id: &request.client_id,
            user_id,
            created_at: now,
            expires_at,
            auth_time: Some(auth_time),
        },
    )
    .await?;
    store::codes::insert(
        &mut tx,
        &store::codes::AuthCode {
            code_hash: code.digest(),
            grant_id: grant_id.clone(),
            client_id: request.client_id.clone(),
            user_id: user_id.to_owned(),
            redirect_uri: request.redirect_uri.clone(),
            redirect_uri_sent: request.redirect_uri_sent,
            scope: request.scope.clone(),
            code_challenge: request.code_challenge.clone(),
            code_challenge_method: request.code_challenge_method.clone(),
            created_at: now,
            expires_at,
            consumed_at: None,
            resources: request.resources.clone(),
            nonce: request.nonce.clone(),
            auth_time: Some(auth_time),
        },
    )
    .await?;
    tx.commit().await?;
    tracing::info!(client.id = %request.client_id, user.id = %user_id, scope = %request.scope, "issued an authorization code");
    Ok(code)
}

fn secs(d: std::time::Duration) -> i64 {
    i64::try_from(d.as_secs()).unwrap_or(i64::MAX)
}

/// `redirect_uri?code=…&state=…&iss=…`, keeping any query the URI has
/// (RFC 6749 §4.1.2, RFC 9207 §2).
pub fn success_redirect(
    redirect_uri: &str,
    code: &str,
    state: Option<&str>,
    issuer: &str,
) -> Option<Url> {
    build_redirect(redirect_uri, &[("code", code)], state, issuer)
}

/// `redirect_uri?error=…&error_description=…&state=…&iss=…` (RFC 6749 §4.1.2.1).
pub fn error_redirect(
    redirect_uri: &str,
    error: &OAuthError,
    state: Option<&str>,
    issuer: &str,
) -> Option<Url> {
    build_redirect(
        redirect_uri,
        &[
            ("error", error.code.as_str()),
            ("error_description", &error.description),
        ],
        state,
        issuer,
    )
}

fn build_redirect(
    redirect_uri: &str,
    pairs: &[(&str, &str)],
    state: Option<&str>,
    issuer: &str,
) -> Option<Url> {
    let mut url = Url::parse(redirect_uri).ok()?;
    {
        let mut query = url.query_pairs_mut();
        for (k, v) in pairs {
            query.append_pair(k, v);
        }
        if let Some(state) = state {
            query.append_pair("state", state);
        }
        query.append_pair("iss", issuer);
    }
    Some(url)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redirects_keep_the_registered_query_and_encode_values() {
        let url = success_redirect(
            "https://app.example/cb?tenant=a",
            "oac_x",
            Some("a b&c=d"),
            "https://auth.example",
        )
        .unwrap();
        assert_eq!(
            url.as_str(),
            "https://app.example/cb?tenant=a&code=oac_x&state=a+b%26c%3Dd&iss=https%3A%2F%2Fauth.example"
        );
        let url = error_redirect(
            "com.example.app:/cb",
            &OAuthError::new(ErrorCode::AccessDenied, "the user said no"),
            None,
            "https://auth.example",
        )
        .unwrap();
        assert_eq!(
            url.as_str(),
            "com.example.app:/cb?error=access_denied&error_description=the+user+said+no&iss=https%3A%2F%2Fauth.example"
        );
    }
}
