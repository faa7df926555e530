//! Shared steps of the authorization-code flow: users and clients, a browser
//! that signs in and answers the consent page, the token endpoint, `/account`,
//! and small readers for HTML, cookies, redirects and stored rows.
//!
//! Everything here speaks HTTP to the test server, except the set-up helpers
//! (users and clients come from `oauthd::cli::admin`) and the row readers.

use std::collections::HashMap;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use oauthd::cli::admin::{self, NewClientArgs};
use oauthd::clock::Clock;
use oauthd::crypto::sha256_hex;
use oauthd::store::Db;
use oauthd::store::users::User;
use oauthd::{AppState, build_app};
use reqwest::{Response, StatusCode};
use serde_json::Value;
use sqlx::AssertSqlSafe;
use tokio::net::TcpListener;
use url::Url;

use super::{Backend, TestApp, TestDb, init_logging, test_config};

/// The password every test user gets.
pub const PASSWORD: &str = "correct horse battery";
/// The usual registered redirect URI.
pub const CB: &str = "https://app.example/cb";
/// A second redirect URI on the same host.
pub const CB2: &str = "https://app.example/cb2";
/// The `state` most requests send.
pub const STATE: &str = "af0ifjsldkj";
/// RFC 7636 Appendix B: the verifier ...
pub const VERIFIER: &str = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
/// ... and its S256 challenge.
pub const CHALLENGE: &str = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM";
/// The out-of-band redirect URI of installed apps.
pub const OOB: &str = "urn:ietf:wg:oauth:2.0:oob";
/// The one message every failed sign-in shows.
pub const SIGN_IN_FAILED: &str = "Incorrect user name or password.";
/// The session cookie's name on plain http.
pub const SESSION_COOKIE: &str = "oauthd_session";
/// The sign-in form's double-submit cookie.
pub const LOGIN_CSRF_COOKIE: &str = "oauthd_login_csrf";

// ---------------------------------------------------------------------------
// Users and clients

/// Adds an enabled user with [`PASSWORD`].
pub async fn create_user(app: &TestApp, name: &str) -> User {
    admin::add_user(&app.db, &app.clock, name, PASSWORD)
        .await
        .expect("add user")
}

/// A registered client as the tests use it.
#[derive(Clone, Debug)]
pub struct Client {
    pub id: String,
    pub secret: Option<String>,
    pub name: String,
    pub redirect_uris: Vec<String>,
}

impl Client {
    /// The first registered redirect URI.
    pub fn redirect_uri(&self) -> &str {
        &self.redirect_uris[0]
    }

    /// The secret of a confidential client.
    pub fn secret(&self) -> &str {
        self.secret.as_deref().expect("a confidential client")
    }

    /// How this client authenticates by default: Basic with its secret, or
    /// its id alone when it is public.
    pub fn auth(&self) -> Auth {
        match &self.secret {
            Some(secret) => Auth::Basic(self.id.clone(), secret.clone()),
            None => Auth::Id(self.id.clone()),
        }
    }
}

/// Registers a client through `oauthd::cli::admin` (the CLI's rules).
pub async fn register(app: &TestApp, args: NewClientArgs) -> Client {
    let why = format!("register {args:?}");
    let issued = admin::add_client(&app.db, &app.clock, &app.config, args)
        .await
        .unwrap_or_else(|e| panic!("{why}: {e}"));
    Client {
        id: issued.client.client_id.clone(),
        secret: issued.client_secret.clone(),
        name: issued.client.client_name.clone(),
        redirect_uris: issued.client.redirect_uris.clone(),
    }
}

/// A confidential client with the default scopes.
pub async fn register_confidential(app: &TestApp, redirect_uris: &[&str]) -> Client {
    register(
        app,
        NewClientArgs {
            name: "Test App".into(),
            redirect_uris: redirect_uris.iter().map(|s| (*s).to_owned()).collect(),
            ..NewClientArgs::default()
        },
    )
    .await
}

/// A public client (no secret) with the default scopes.
pub async fn register_public(app: &TestApp, redirect_uris: &[&str]) -> Client {
    register(
        app,
        NewClientArgs {
            name: "Public App".into(),
            redirect_uris: redirect_uris.iter().map(|s| (*s).to_owned()).collect(),
            public: true,
            ..NewClientArgs::default()
        },
    )
    .await
}

/// Registers over HTTP with the flat form shape (Gancio's); expects 200.
pub async fn register_form(app: &TestApp, name: &str, redirect_uris: &str) -> Client {
    let response = app
        .http
        .post(app.url("/api/client"))
        .form(&[("client_name", name), ("redirect_uris", redirect_uris)])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK, "form registration");
    let body: Value = response.json().await.unwrap();
    Client {
        id: body["client_id"].as_str().unwrap().to_owned(),
        secret: body["client_secret"].as_str().map(str::to_owned),
        name: name.to_owned(),
        redirect_uris: redirect_uris
            .split_whitespace()
            .map(str::to_owned)
            .collect(),
    }
}

/// Registers over HTTP with an RFC 7591 JSON body; expects 201.
pub async fn register_json(app: &TestApp, body: &Value) -> Client {
    let response = app
        .http
        .post(app.url("/api/client"))
        .json(body)
        .send()
        .await
        .unwrap();
    assert_eq!(
        response.status(),
        StatusCode::CREATED,
        "registration of {body}"
    );
    let body: Value = response.json().await.unwrap();
    Client {
        id: body["client_id"].as_str().unwrap().to_owned(),
        secret: body["client_secret"].as_str().map(str::to_owned),
        name: body["client_name"].as_str().unwrap_or_default().to_owned(),
        redirect_uris: body["redirect_uris"]
            .as_array()
            .map(|a| a.iter().map(|v| v.as_str().unwrap().to_owned()).collect())
            .unwrap_or_default(),
    }
}

// ---------------------------------------------------------------------------
// Authorization request parameters

/// Query or form parameters in order; repeats allowed.
#[derive(Clone, Debug, Default)]
pub struct Params(pub Vec<(String, String)>);

impl Params {
    /// No parameters.
    pub fn new() -> Self {
        Self::default()
    }

    /// A plain code request: `response_type=code`, the client id, its first
    /// redirect URI (if it has one) and [`STATE`].
    pub fn code(client: &Client) -> Self {
        let mut p = Self::new()
            .add("response_type", "code")
            .add("client_id", &client.id);
        if let Some(uri) = client.redirect_uris.first() {
            p = p.add("redirect_uri", uri);
        }
        p.add("state", STATE)
    }

    /// A code request with the RFC 7636 Appendix B S256 challenge.
    pub fn pkce(client: &Client) -> Self {
        Self::code(client)
            .add("code_challenge", CHALLENGE)
            .add("code_challenge_method", "S256")
    }

    /// Replaces every `key` with one `key=value`.
    pub fn set(self, key: &str, value: &str) -> Self {
        self.without(key).add(key, value)
    }

    /// Appends `key=value`, even when `key` is already there.
    pub fn add(mut self, key: &str, value: &str) -> Self {
        self.0.push((key.to_owned(), value.to_owned()));
        self
    }

    /// Drops every `key`.
    pub fn without(mut self, key: &str) -> Self {
        self.0.retain(|(k, _)| k != key);
        self
    }

    /// The first value of `key`.
    pub fn get(&self, key: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }

    /// `application/x-www-form-urlencoded` serialization.
    pub fn query(&self) -> String {
        url::form_urlencoded::Serializer::new(String::new())
            .extend_pairs(self.0.iter())
            .finish()
    }
}

// ---------------------------------------------------------------------------
// The browser

/// A user agent: no redirects followed, its own cookie jar (or the app's).
#[derive(Clone)]
pub struct Browser {
    pub http: reqwest::Client,
    pub base: String,
}

/// A consent page and the two hidden fields its form posts.
#[derive(Clone, Debug)]
pub struct Consent {
    pub request_id: String,
    pub csrf: String,
    pub html: String,
}

impl TestApp {
    /// The browser whose cookie jar is `app.http`'s.
    pub fn browser(&self) -> Browser {
        Browser {
            http: self.http.clone(),
            base: self.base.clone(),
        }
    }

    /// A second browser with an empty cookie jar.
    pub fn new_browser(&self) -> Browser {
        Browser {
            http: reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .cookie_store(true)
                .build()
                .unwrap(),
            base: self.base.clone(),
        }
    }
}

/// A client that keeps no cookies: every cookie is sent by hand.
pub fn cookieless() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

impl Browser {
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    pub async fn get(&self, path: &str) -> Response {
        self.http.get(self.url(path)).send().await.unwrap()
    }

    /// `GET /login?next=…` and its csrf field (asserts 200).
    pub async fn login_page(&self, next: Option<&str>) -> (String, String) {
        let path = match next {
            Some(n) => format!(
                "/login?{}",
                url::form_urlencoded::Serializer::new(String::new())
                    .append_pair("next", n)
                    .finish()
            ),
            None => "/login".to_owned(),
        };
        let response = self.get(&path).await;
        assert_eq!(response.status(), StatusCode::OK, "GET {path}");
        let html = response.text().await.unwrap();
        let csrf = hidden(&html, "csrf").expect("the login form holds a csrf field");
        (csrf, html)
    }

    /// `POST /login` with exactly these fields.
    pub async fn post_login(&self, fields: &[(&str, &str)]) -> Response {
        self.http
            .post(self.url("/login"))
            .form(fields)
            .send()
            .await
            .unwrap()
    }

    /// Signs in (fetching the form first for its csrf) and returns the 303.
    pub async fn login_with_next(&self, username: &str, password: &str, next: &str) -> Response {
        let (csrf, _) = self.login_page(Some(next)).await;
        let response = self
            .post_login(&[
                ("username", username),
                ("password", password),
                ("csrf", &csrf),
                ("next", next),
            ])
            .await;
        assert_eq!(
            response.status(),
            StatusCode::SEE_OTHER,
            "sign-in of {username} succeeds with a 303"
        );
        response
    }

    /// Signs in and returns the new session cookie's value.
    pub async fn login(&self, username: &str, password: &str) -> String {
        let response = self.login_with_next(username, password, "/").await;
        set_cookie(&response, SESSION_COOKIE)
            .expect("sign-in sets the session cookie")
            .value
    }

    /// `GET /oauth/authorize?…`.
    pub async fn authorize(&self, params: &Params) -> Response {
        self.authorize_at("/oauth/authorize", &params.query()).await
    }

    /// `GET {path}?{query}` with a query written by the test.
    pub async fn authorize_at(&self, path: &str, query: &str) -> Response {
        self.get(&format!("{path}?{query}")).await
    }

    /// `POST /oauth/authorize` with the parameters as a form.
    pub async fn authorize_post(&self, params: &Params) -> Response {
        self.http
            .post(self.url("/oauth/authorize"))
            .header("content-type", "application/x-www-form-urlencoded")
            .body(params.query())
            .send()
            .await
            .unwrap()
    }

    /// The consent page for `params` (asserts 200).
    pub async fn consent(&self, params: &Params) -> Consent {
        let response = self.authorize(params).await;
        read_consent(response, &format!("consent page for {}", params.query())).await
    }

    /// `POST /oauth/authorize` with the decision form's fields.
    pub async fn decide(&self, fields: &[(&str, &str)]) -> Response {
        self.http
            .post(self.url("/oauth/authorize"))
            .form(fields)
            .send()
            .await
            .unwrap()
    }

    /// Posts `decision` for a consent page; returns the response.
    pub async fn decision(&self, consent: &Consent, decision: &str) -> Response {
        self.decide(&[
            ("request_id", &consent.request_id),
            ("csrf", &consent.csrf),
            ("decision", decision),
        ])
        .await
    }

    /// Approves: asserts the 303 and returns where it points.
    pub async fn approve(&self, consent: &Consent) -> Url {
        let response = self.decision(consent, "approve").await;
        assert_eq!(
            response.status(),
            StatusCode::SEE_OTHER,
            "approving answers 303, never 307"
        );
        absolute_location(&response)
    }

    /// Asks for a code and approves if asked; returns the redirect carrying
    /// it (remembered consent may skip the page).
    pub async fn code_redirect(&self, params: &Params) -> Url {
        let response = self.authorize(params).await;
        match response.status().as_u16() {
            200 => {
                let consent = read_consent(response, "consent page").await;
                self.approve(&consent).await
            }
            302 | 303 => absolute_location(&response),
            status => panic!(
                "authorize {} answered {status}: {}",
                params.query(),
                response.text().await.unwrap_or_default()
            ),
        }
    }

    /// A fresh code for `params`.
    pub async fn code(&self, params: &Params) -> String {
        let location = self.code_redirect(params).await;
        let code = param(&location, "code")
            .unwrap_or_else(|| panic!("no code in the redirect {location}"));
        assert_eq!(
            param(&location, "state").as_deref(),
            params.get("state"),
            "state comes back verbatim"
        );
        code
    }
}

/// Reads a consent page (asserts 200 and HTML) and its hidden fields.
pub async fn read_consent(response: Response, why: &str) -> Consent {
    let html = page(response, StatusCode::OK, why).await;
    let request_id = hidden(&html, "request_id")
        .unwrap_or_else(|| panic!("{why}: hidden request_id in\n{html}"));
    let csrf = hidden(&html, "csrf").unwrap_or_else(|| panic!("{why}: hidden csrf in\n{html}"));
    Consent {
        request_id,
        csrf,
        html,
    }
}

/// Creates alice and signs her in with `app.http`.
pub async fn signed_in(app: &TestApp) -> (Browser, User) {
    let alice = create_user(app, "alice").await;
    let browser = app.browser();
    browser.login("alice", PASSWORD).await;
    (browser, alice)
}

/// Whether the browser is signed in, seen from the authorization endpoint:
/// a request for `client` is sent to `/login` only when signed out.
pub async fn is_signed_in(browser: &Browser, client: &Client) -> bool {
    let response = browser
        .authorize(&Params::code(client).set("prompt", "consent"))
        .await;
    !is_login_redirect(&browser.base, &response)
}

/// A 302/303 to this server's `/login`.
pub fn is_login_redirect(base: &str, response: &Response) -> bool {
    if !response.status().is_redirection() {
        return false;
    }
    let Some(location) = header(response, "location") else {
        return false;
    };
    let target = Url::parse(base).unwrap().join(&location).unwrap();
    origin(&target) == base && target.path() == "/login"
}

// ---------------------------------------------------------------------------
// Responses, redirects, pages

/// A header as a string.
pub fn header(response: &Response, name: &str) -> Option<String> {
    response
        .headers()
        .get(name)
        .map(|v| v.to_str().unwrap().to_owned())
}

/// The `Location` header, parsed (it must be absolute).
pub fn absolute_location(response: &Response) -> Url {
    let raw = header(response, "location").expect("a Location header");
    Url::parse(&raw).unwrap_or_else(|e| panic!("Location {raw:?} is not absolute: {e}"))
}

/// The `Location` header resolved against the server.
pub fn location_on(base: &str, response: &Response) -> Url {
    let raw = header(response, "location").expect("a Location header");
    Url::parse(base).unwrap().join(&raw).unwrap()
}

/// `scheme://host:port` of a URL, no trailing slash.
pub fn origin(url: &Url) -> String {
    url.origin().ascii_serialization()
}

/// The first value of a query parameter.
pub fn param(url: &Url, name: &str) -> Option<String> {
    url.query_pairs()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.into_owned())
}

/// How often a query parameter appears.
pub fn param_count(url: &Url, name: &str) -> usize {
    url.query_pairs().filter(|(k, _)| k == name).count()
}

/// Asserts a redirect to the client carrying `error` (with a description,
/// `state` when given and `iss`), and no code.
pub fn assert_error_redirect(
    app: &TestApp,
    response: &Response,
    redirect_uri: &str,
    error: &str,
    state: Option<&str>,
    why: &str,
) {
    assert!(
        matches!(response.status().as_u16(), 302 | 303),
        "{why}: an error redirect (302/303), got {}",
        response.status()
    );
    let location = absolute_location(response);
    assert!(
        location
            .as_str()
            .starts_with(&format!("{redirect_uri}{}", sep(redirect_uri))),
        "{why}: goes to the registered redirect URI {redirect_uri}, not {location}"
    );
    assert_eq!(
        param(&location, "error").as_deref(),
        Some(error),
        "{why}: {location}"
    );
    assert!(
        param(&location, "error_description").is_some_and(|d| !d.is_empty()),
        "{why}: says why in error_description: {location}"
    );
    if let Some(state) = state {
        assert_eq!(
            param(&location, "state").as_deref(),
            Some(state),
            "{why}: state comes back verbatim"
        );
    }
    assert_eq!(
        param(&location, "iss").as_deref(),
        Some(app.base.as_str()),
        "{why}: iss (RFC 9207) is the issuer"
    );
    assert_eq!(param(&location, "code"), None, "{why}: no code");
}

/// `?` or `&`: how parameters are appended to `uri`.
pub fn sep(uri: &str) -> char {
    if uri.contains('?') { '&' } else { '?' }
}

/// Reads an HTML page with `status` and no `Location`.
pub async fn page(response: Response, status: StatusCode, why: &str) -> String {
    let got = response.status();
    let location = header(&response, "location");
    let content_type = header(&response, "content-type").unwrap_or_default();
    let body = response.text().await.unwrap();
    assert_eq!(got, status, "{why}: status; body:\n{body}");
    assert_eq!(location, None, "{why}: a page, never a redirect");
    assert!(
        content_type.starts_with("text/html"),
        "{why}: an HTML page, got {content_type:?}"
    );
    body
}

/// Asserts the headers that keep a page out of frames and its URL out of
/// other sites' logs.
pub fn assert_page_headers(response: &Response, why: &str) {
    let csp = header(response, "content-security-policy").unwrap_or_default();
    assert!(
        csp.contains("frame-ancestors 'none'"),
        "{why}: CSP forbids framing: {csp:?}"
    );
    assert_eq!(
        header(response, "x-frame-options")
            .map(|v| v.to_ascii_uppercase())
            .as_deref(),
        Some("DENY"),
        "{why}: X-Frame-Options"
    );
    assert_eq!(
        header(response, "referrer-policy").as_deref(),
        Some("same-origin"),
        "{why}: Referrer-Policy"
    );
}

// ---------------------------------------------------------------------------
// HTML

/// Attributes of every `<tag …>` in `html`, names lower-cased, values
/// unescaped.
pub fn tags(html: &str, tag: &str) -> Vec<HashMap<String, String>> {
    let lower = html.to_ascii_lowercase();
    let open = format!("<{}", tag.to_ascii_lowercase());
    let mut found = Vec::new();
    let mut from = 0;
    while let Some(i) = lower[from..].find(&open) {
        let start = from + i + open.len();
        let boundary = lower[start..].chars().next();
        if !matches!(boundary, Some(c) if c.is_ascii_whitespace() || c == '>' || c == '/') {
            from = start;
            continue;
        }
        let Some(end) = html[start..].find('>') else {
            break;
        };
        found.push(attributes(&html[start..start + end]));
        from = start + end;
    }
    found
}

fn attributes(mut s: &str) -> HashMap<String, String> {
    let mut out = HashMap::new();
    loop {
        s = s.trim_start_matches(|c: char| c.is_ascii_whitespace() || c == '/');
        if s.is_empty() {
            return out;
        }
        let name_end = s
            .find(|c: char| c.is_ascii_whitespace() || c == '=' || c == '/')
            .unwrap_or(s.len());
        let name = s[..name_end].to_ascii_lowercase();
        s = s[name_end..].trim_start();
        let value = if let Some(rest) = s.strip_prefix('=') {
            let rest = rest.trim_start();
            if let Some(q) = rest.chars().next().filter(|c| *c == '"' || *c == '\'') {
                let body = &rest[1..];
                let close = body.find(q).unwrap_or(body.len());
                s = body.get(close + 1..).unwrap_or("");
                unescape(&body[..close])
            } else {
                let end = rest
                    .find(|c: char| c.is_ascii_whitespace())
                    .unwrap_or(rest.len());
                s = &rest[end..];
                unescape(&rest[..end])
            }
        } else {
            String::new()
        };
        out.insert(name, value);
    }
}

/// Undoes the HTML escaping a template applies to attribute values and text.
pub fn unescape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(i) = rest.find('&') {
        out.push_str(&rest[..i]);
        rest = &rest[i..];
        let Some(end) = rest.find(';').filter(|e| *e <= 10) else {
            out.push('&');
            rest = &rest[1..];
            continue;
        };
        let entity = &rest[1..end];
        let decoded = match entity {
            "amp" => Some('&'),
            "lt" => Some('<'),
            "gt" => Some('>'),
            "quot" => Some('"'),
            "apos" => Some('\''),
            _ => entity
                .strip_prefix("#x")
                .or_else(|| entity.strip_prefix("#X"))
                .and_then(|h| u32::from_str_radix(h, 16).ok())
                .or_else(|| entity.strip_prefix('#').and_then(|d| d.parse().ok()))
                .and_then(char::from_u32),
        };
        match decoded {
            Some(c) => {
                out.push(c);
                rest = &rest[end + 1..];
            }
            None => {
                out.push('&');
                rest = &rest[1..];
            }
        }
    }
    out.push_str(rest);
    out
}

/// The value of the `<input type="hidden" name="…">` in `html`.
pub fn hidden(html: &str, name: &str) -> Option<String> {
    tags(html, "input")
        .into_iter()
        .find(|a| {
            a.get("name").map(String::as_str) == Some(name)
                && a.get("type").map(|t| t.to_ascii_lowercase()).as_deref() == Some("hidden")
        })
        .and_then(|a| a.get("value").cloned())
}

/// The code an out-of-band page shows in `<code id="code">`.
pub fn oob_code(html: &str) -> Option<String> {
    let marker = "<code id=\"code\">";
    let start = html.find(marker)? + marker.len();
    let end = html[start..].find("</code>")? + start;
    Some(unescape(html[start..end].trim()))
}

// ---------------------------------------------------------------------------
// Cookies

/// One `Set-Cookie` header.
#[derive(Clone, Debug)]
pub struct SetCookie {
    pub name: String,
    pub value: String,
    /// `Path=/`, `HttpOnly`, … as sent (trimmed).
    pub attributes: Vec<String>,
}

impl SetCookie {
    /// Whether an attribute is present, compared case-insensitively
    /// (`has("httponly")`, `has("samesite=lax")`).
    pub fn has(&self, attribute: &str) -> bool {
        self.attributes
            .iter()
            .any(|a| a.replace(' ', "").eq_ignore_ascii_case(attribute))
    }

    /// The value of `key=value` attributes (`attr("max-age")`).
    pub fn attr(&self, key: &str) -> Option<String> {
        self.attributes.iter().find_map(|a| {
            let (k, v) = a.split_once('=')?;
            k.trim()
                .eq_ignore_ascii_case(key)
                .then(|| v.trim().to_owned())
        })
    }

    /// Whether this header deletes the cookie.
    pub fn clears(&self) -> bool {
        self.value.is_empty()
            || self
                .attr("max-age")
                .is_some_and(|v| v == "0" || v.starts_with('-'))
            || self.attr("expires").is_some_and(|v| v.contains("1970"))
    }
}

/// Every `Set-Cookie` of a response.
pub fn set_cookies(response: &Response) -> Vec<SetCookie> {
    response
        .headers()
        .get_all("set-cookie")
        .iter()
        .map(|v| {
            let raw = v.to_str().unwrap();
            let mut parts = raw.split(';');
            let (name, value) = parts.next().unwrap().split_once('=').unwrap_or((raw, ""));
            SetCookie {
                name: name.trim().to_owned(),
                value: value.trim().to_owned(),
                attributes: parts.map(|p| p.trim().to_owned()).collect(),
            }
        })
        .collect()
}

/// The `Set-Cookie` for `name`, if any.
pub fn set_cookie(response: &Response, name: &str) -> Option<SetCookie> {
    set_cookies(response).into_iter().find(|c| c.name == name)
}

/// `name=value; …` for a `Cookie` header from what a response set.
pub fn cookie_header(cookies: &[SetCookie]) -> String {
    cookies
        .iter()
        .map(|c| format!("{}={}", c.name, c.value))
        .collect::<Vec<_>>()
        .join("; ")
}

/// Signs in with a cookieless client, carrying every cookie by hand (plus
/// `extra_cookie`, if any); returns the answer to the `POST /login`.
pub async fn login_by_hand(
    base: &str,
    http: &reqwest::Client,
    username: &str,
    password: &str,
    extra_cookie: Option<&str>,
) -> Response {
    let form = http.get(format!("{base}/login")).send().await.unwrap();
    assert_eq!(form.status(), StatusCode::OK, "GET /login");
    let cookies = set_cookies(&form);
    let html = form.text().await.unwrap();
    let csrf = hidden(&html, "csrf").expect("csrf field");
    let mut cookie = cookie_header(&cookies);
    if let Some(extra) = extra_cookie {
        cookie = format!("{cookie}; {extra}");
    }
    http.post(format!("{base}/login"))
        .header("cookie", cookie)
        .form(&[
            ("username", username),
            ("password", password),
            ("csrf", &csrf),
            ("next", "/"),
        ])
        .send()
        .await
        .unwrap()
}

// ---------------------------------------------------------------------------
// Token endpoint

/// How a token request authenticates the client.
#[derive(Clone, Debug)]
pub enum Auth {
    /// `Authorization: Basic` with the id and secret form-urlencoded first.
    Basic(String, String),
    /// `client_id` and `client_secret` in the body.
    Body(String, String),
    /// `client_id` alone in the body (public clients).
    Id(String),
    /// A raw `Authorization` header.
    Header(String),
    /// Nothing.
    Nothing,
}

/// RFC 6749 §2.3.1: Basic credentials are form-urlencoded, then base64.
pub fn basic(id: &str, secret: &str) -> String {
    let enc = |s: &str| url::form_urlencoded::byte_serialize(s.as_bytes()).collect::<String>();
    format!(
        "Basic {}",
        STANDARD.encode(format!("{}:{}", enc(id), enc(secret)))
    )
}

impl Auth {
    /// Adds this authentication to a request and its form.
    pub fn apply(
        &self,
        request: reqwest::RequestBuilder,
        form: &mut Vec<(String, String)>,
    ) -> reqwest::RequestBuilder {
        match self {
            Auth::Basic(id, secret) => request.header("authorization", basic(id, secret)),
            Auth::Body(id, secret) => {
                form.push(("client_id".into(), id.clone()));
                form.push(("client_secret".into(), secret.clone()));
                request
            }
            Auth::Id(id) => {
                form.push(("client_id".into(), id.clone()));
                request
            }
            Auth::Header(value) => request.header("authorization", value),
            Auth::Nothing => request,
        }
    }

    /// Whether the request carries `Authorization: Basic`.
    pub fn is_basic(&self) -> bool {
        match self {
            Auth::Basic(..) => true,
            Auth::Header(h) => h.to_ascii_lowercase().starts_with("basic"),
            _ => false,
        }
    }
}

/// `POST {path}` with `form` (in order) plus `auth`, and `Accept` if given.
pub async fn token_at(
    app: &TestApp,
    path: &str,
    auth: &Auth,
    form: &[(&str, &str)],
    accept: Option<&str>,
) -> Response {
    let mut pairs: Vec<(String, String)> = form
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect();
    let mut request = app.http.post(app.url(path));
    request = auth.apply(request, &mut pairs);
    if let Some(accept) = accept {
        request = request.header("accept", accept);
    }
    request.form(&pairs).send().await.unwrap()
}

/// `POST /oauth/token`.
pub async fn token(app: &TestApp, auth: &Auth, form: &[(&str, &str)]) -> Response {
    token_at(app, "/oauth/token", auth, form, None).await
}

/// Redeems `code` as `client` (its default authentication).
pub async fn redeem(
    app: &TestApp,
    client: &Client,
    code: &str,
    redirect_uri: Option<&str>,
    verifier: Option<&str>,
) -> Response {
    redeem_as(app, &client.auth(), code, redirect_uri, verifier).await
}

/// Redeems `code` with the given authentication.
pub async fn redeem_as(
    app: &TestApp,
    auth: &Auth,
    code: &str,
    redirect_uri: Option<&str>,
    verifier: Option<&str>,
) -> Response {
    let mut form = vec![("grant_type", "authorization_code"), ("code", code)];
    if let Some(uri) = redirect_uri {
        form.push(("redirect_uri", uri));
    }
    if let Some(v) = verifier {
        form.push(("code_verifier", v));
    }
    token(app, auth, &form).await
}

/// A successful token response.
#[derive(Clone, Debug)]
pub struct Tokens {
    pub access: String,
    pub refresh: Option<String>,
    pub scope: String,
    pub body: Value,
}

/// Asserts `Cache-Control: no-store` and `Pragma: no-cache`.
pub fn assert_no_store(response: &Response, why: &str) {
    assert_eq!(
        header(response, "cache-control").as_deref(),
        Some("no-store"),
        "{why}: token responses are never cached"
    );
    assert_eq!(
        header(response, "pragma").as_deref(),
        Some("no-cache"),
        "{why}: Pragma: no-cache (RFC 6749 §5.1)"
    );
}

/// Reads a 200 JSON token response.
pub async fn tokens(response: Response, why: &str) -> Tokens {
    let status = response.status();
    assert_no_store(&response, why);
    let content_type = header(&response, "content-type").unwrap_or_default();
    let text = response.text().await.unwrap();
    assert_eq!(status, StatusCode::OK, "{why}: {text}");
    assert!(
        content_type.starts_with("application/json"),
        "{why}: JSON answer, got {content_type:?}"
    );
    let body: Value = serde_json::from_str(&text).unwrap();
    let access = body["access_token"]
        .as_str()
        .unwrap_or_else(|| panic!("{why}: access_token in {body}"))
        .to_owned();
    assert!(
        access.starts_with("oat_"),
        "{why}: access token kind prefix"
    );
    let refresh = body["refresh_token"].as_str().map(str::to_owned);
    if let Some(r) = &refresh {
        assert!(r.starts_with("ort_"), "{why}: refresh token kind prefix");
    }
    Tokens {
        access,
        refresh,
        scope: body["scope"].as_str().unwrap_or_default().to_owned(),
        body,
    }
}

/// The space-separated scopes of a string, sorted.
pub fn scope_set(scope: &str) -> Vec<String> {
    let mut v: Vec<String> = scope.split_whitespace().map(str::to_owned).collect();
    v.sort();
    v
}

/// Whether an `error_description` keeps to RFC 6749 §5.2's characters.
pub fn rfc_description(s: &str) -> bool {
    s.chars()
        .all(|c| matches!(c, '\x20'..='\x21' | '\x23'..='\x5b' | '\x5d'..='\x7e'))
}

/// Asserts an RFC 6749 §5.2 JSON error with no-store headers, and that the
/// body repeats none of `secrets`; returns the raw body.
pub async fn oauth_error(
    response: Response,
    status: StatusCode,
    error: &str,
    why: &str,
    secrets: &[&str],
) -> String {
    let got = response.status();
    assert_no_store(&response, why);
    let content_type = header(&response, "content-type").unwrap_or_default();
    let text = response.text().await.unwrap();
    assert_eq!(got, status, "{why}: status; body {text}");
    assert!(
        content_type.starts_with("application/json"),
        "{why}: a JSON error, got {content_type:?}: {text}"
    );
    let body: Value = serde_json::from_str(&text)
        .unwrap_or_else(|e| panic!("{why}: JSON error body ({e}): {text}"));
    assert_eq!(body["error"], error, "{why}: {body}");
    if let Some(d) = body.get("error_description") {
        let d = d
            .as_str()
            .unwrap_or_else(|| panic!("{why}: description is a string"));
        assert!(
            rfc_description(d),
            "{why}: error_description keeps to RFC 6749 §5.2 characters: {d:?}"
        );
    }
    for secret in secrets {
        assert!(
            !text.contains(secret),
            "{why}: the error body never repeats a presented secret"
        );
    }
    text
}

/// Checks the `oac_` + 43 base64url format of a code.
pub fn assert_code_format(code: &str) {
    let rest = code
        .strip_prefix("oac_")
        .unwrap_or_else(|| panic!("code {code:?} starts with oac_"));
    assert_eq!(rest.len(), 43, "code {code:?}: 43 characters after oac_");
    assert!(
        rest.chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_'),
        "code {code:?} is base64url"
    );
}

// ---------------------------------------------------------------------------
// /account

/// `GET /account` with `Authorization: Bearer`.
pub async fn account(app: &TestApp, access_token: &str) -> Response {
    app.http
        .get(app.url("/account"))
        .header("authorization", format!("Bearer {access_token}"))
        .send()
        .await
        .unwrap()
}

/// A user's tokens for `client`, by the code flow in `browser`.
pub async fn tokens_for(
    app: &TestApp,
    browser: &Browser,
    client: &Client,
    params: &Params,
    verifier: Option<&str>,
) -> Tokens {
    let code = browser.code(params).await;
    tokens(
        redeem(app, client, &code, params.get("redirect_uri"), verifier).await,
        "code exchange",
    )
    .await
}

// ---------------------------------------------------------------------------
// Stored rows

/// One number from a query with string binds (SQL text fixed by the test).
pub async fn scalar(app: &TestApp, sql: &str, binds: &[&str]) -> i64 {
    macro_rules! run {
        ($pool:expr) => {{
            let mut q = sqlx::query_scalar::<_, i64>(AssertSqlSafe(sql.to_owned()));
            for b in binds {
                q = q.bind(*b);
            }
            q.fetch_one($pool).await.unwrap()
        }};
    }
    match &app.db {
        Db::Postgres(p) => run!(p),
        Db::Sqlite(s) => run!(&s.pool),
    }
}

/// One optional number (e.g. a nullable timestamp) of the single row a query
/// finds; panics when there is no row.
pub async fn nullable(app: &TestApp, sql: &str, binds: &[&str]) -> Option<i64> {
    macro_rules! run {
        ($pool:expr) => {{
            let mut q = sqlx::query_scalar::<_, Option<i64>>(AssertSqlSafe(sql.to_owned()));
            for b in binds {
                q = q.bind(*b);
            }
            q.fetch_one($pool).await.unwrap()
        }};
    }
    match &app.db {
        Db::Postgres(p) => run!(p),
        Db::Sqlite(s) => run!(&s.pool),
    }
}

/// One text column of the single row a query finds.
pub async fn text_of(app: &TestApp, sql: &str, binds: &[&str]) -> Option<String> {
    macro_rules! run {
        ($pool:expr) => {{
            let mut q = sqlx::query_scalar::<_, Option<String>>(AssertSqlSafe(sql.to_owned()));
            for b in binds {
                q = q.bind(*b);
            }
            q.fetch_one($pool).await.unwrap()
        }};
    }
    match &app.db {
        Db::Postgres(p) => run!(p),
        Db::Sqlite(s) => run!(&s.pool),
    }
}

/// A stored code, by its raw value.
#[derive(Clone, Debug)]
pub struct CodeRow {
    pub client_id: String,
    pub user_id: String,
    pub redirect_uri: Option<String>,
    pub scope: String,
    pub code_challenge: Option<String>,
    pub created_at: i64,
    pub expires_at: i64,
    pub consumed_at: Option<i64>,
}

/// The `auth_codes` row of a raw code.
pub async fn code_row(app: &TestApp, code: &str) -> CodeRow {
    type Row = (
        String,
        String,
        Option<String>,
        String,
        Option<String>,
        i64,
        i64,
        Option<i64>,
    );
    const SQL: &str = "select client_id, user_id, redirect_uri, scope, code_challenge, \
        created_at, expires_at, consumed_at from auth_codes where code_hash = $1";
    let hash = sha256_hex(code);
    let row: Row = match &app.db {
        Db::Postgres(p) => sqlx::query_as(SQL).bind(&hash).fetch_one(p).await,
        Db::Sqlite(s) => sqlx::query_as(SQL).bind(&hash).fetch_one(&s.pool).await,
    }
    .unwrap_or_else(|e| panic!("the code is stored under its SHA-256 digest: {e}"));
    CodeRow {
        client_id: row.0,
        user_id: row.1,
        redirect_uri: row.2,
        scope: row.3,
        code_challenge: row.4,
        created_at: row.5,
        expires_at: row.6,
        consumed_at: row.7,
    }
}

/// SQL that reads the hex digest bound as `param` (e.g. `$1`, bound to
/// `sha256_hex(raw)`) as the 32 bytes `tokens.token_hash` holds.
pub fn token_digest(app: &TestApp, param: &str) -> String {
    match app.db {
        Db::Postgres(_) => format!("decode({param}, 'hex')"),
        Db::Sqlite(_) => format!("unhex({param})"),
    }
}

/// `revoked_at` of a token, by its raw value (panics if not stored).
pub async fn revoked_at(app: &TestApp, raw_token: &str) -> Option<i64> {
    nullable(
        app,
        &format!(
            "select revoked_at from tokens where token_hash = {}",
            token_digest(app, "$1")
        ),
        &[&sha256_hex(raw_token)],
    )
    .await
}

/// Tokens of one kind (`access`, `refresh`).
pub async fn count_tokens(app: &TestApp, kind: &str) -> i64 {
    scalar(app, "select count(*) from tokens where kind = $1", &[kind]).await
}

/// Rows in which a raw secret appears verbatim in any text column of the
/// tables that hold secrets' digests (`tokens.token_hash` holds 32 bytes).
pub async fn raw_hits(app: &TestApp, raw: &str) -> i64 {
    let mut hits = 0;
    for sql in [
        "select count(*) from tokens where kind = $1 or grant_id = $1 \
         or client_id = $1 or user_id = $1 or scope = $1 or label = $1 or public_id = $1",
        "select count(*) from auth_codes where code_hash = $1 or grant_id = $1 or client_id = $1 \
         or user_id = $1 or redirect_uri = $1 or scope = $1 or code_challenge = $1",
        "select count(*) from sessions where id_hash = $1 or user_id = $1",
        "select count(*) from authorization_requests where id_hash = $1 \
         or session_id_hash = $1 or client_id = $1 or scope = $1",
    ] {
        hits += scalar(app, sql, &[raw]).await;
    }
    hits
}

// ---------------------------------------------------------------------------
// A server behind another public URL

/// Like [`TestApp::spawn`], but the server believes it is reached at
/// `public_url` (e.g. `https://auth.example/`), as behind a TLS proxy. Tests
/// still talk to it over plain http on its port.
pub async fn spawn_with_public_url(backend: Backend, public_url: &str) -> TestApp {
    init_logging();
    let test_db = TestDb::new(backend).await;
    let mut config = test_config(&test_db.url);
    let db = Db::connect(&config.database)
        .await
        .expect("connect test database");
    db.migrate().await.expect("migrate test database");
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("local addr");
    config.listen = addr;
    config.public_url = Url::parse(public_url).expect("public url");
    let clock = Clock::manual(1_800_000_000);
    let state = AppState::new(config.clone(), db.clone(), clock.clone());
    let app = build_app(state.clone());
    let http = config.http.clone();
    tokio::spawn(async move {
        oauthd::http::listener::serve(listener, app, &http, std::future::pending()).await;
    });
    TestApp {
        base: format!("http://{addr}"),
        http: reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .cookie_store(true)
            .build()
            .expect("http client"),
        db,
        clock,
        config,
        database_url: test_db.url.clone(),
        state,
        _db: test_db,
    }
}
