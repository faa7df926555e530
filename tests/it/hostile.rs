//! Hostile input on every endpoint: one table of raw requests and what each
//! must get back, run on both backends.
//!
//! Every request goes over a raw TCP connection, so the table can hold bytes
//! no HTTP client library would send (invalid UTF-8, bare CR/LF, NUL). For
//! each row: the status and RFC `error` code; never a 5xx; never a
//! `Location` outside this server or the client's registered URI; no
//! injected header; and, for rows that must store nothing, unchanged row
//! counts in every table a request could write.

use std::time::Duration;

use reqwest::StatusCode;
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::both_backends;
use crate::support::flow::{
    self, CB, Client, LOGIN_CSRF_COOKIE, PASSWORD, Params, basic, hidden, set_cookie,
};
use crate::support::{Backend, TestApp};

both_backends!(hostile_input_gets_clean_refusals_on_every_endpoint);

/// What the answer must look like besides its status.
#[derive(Clone, Copy, Debug)]
enum Want {
    /// A JSON body whose `error` is this RFC code.
    Json(&'static str),
    /// An HTML page, no `Location`.
    Page,
    /// A redirect to this server's `/login`.
    Login,
    /// A redirect to this server (a local path).
    Local,
    /// A redirect to the registered [`CB`] carrying this `error`.
    ClientError(&'static str),
    /// A redirect to the registered [`CB`] with a code and this `state`.
    Code(&'static str),
    /// The status alone (refusals by the HTTP parser, empty 200s).
    Status,
}

/// One row: a raw request and its expected answer.
struct Case {
    why: String,
    method: &'static str,
    target: Vec<u8>,
    headers: Vec<(String, Vec<u8>)>,
    body: Option<Vec<u8>>,
    status: u16,
    want: Want,
    /// May legitimately write a row (e.g. a registration with odd but valid
    /// characters); every other row must leave the row counts alone.
    stores: bool,
    /// Text the answer must not contain anywhere (reflection checks).
    lacks: Vec<String>,
    /// The protocol version on the request line.
    version: &'static str,
    /// Send the usual `host: 127.0.0.1` (off to test the `Host` rules).
    host: bool,
}

impl Case {
    fn new(why: impl Into<String>, method: &'static str, target: impl AsRef<[u8]>) -> Self {
        Self {
            why: why.into(),
            method,
            target: target.as_ref().to_vec(),
            headers: Vec::new(),
            body: None,
            status: 400,
            want: Want::Status,
            stores: false,
            lacks: Vec::new(),
            version: "HTTP/1.1",
            host: true,
        }
    }

    fn get(why: impl Into<String>, target: impl AsRef<[u8]>) -> Self {
        Self::new(why, "GET", target)
    }

    /// A POST with this content type (none when empty) and body.
    fn post(
        why: impl Into<String>,
        target: impl AsRef<[u8]>,
        content_type: &str,
        body: impl AsRef<[u8]>,
    ) -> Self {
        let mut case = Self::new(why, "POST", target);
        if !content_type.is_empty() {
            case = case.header("content-type", content_type);
        }
        case.body = Some(body.as_ref().to_vec());
        case
    }

    /// A form POST.
    fn form(why: impl Into<String>, target: impl AsRef<[u8]>, body: impl AsRef<[u8]>) -> Self {
        Self::post(why, target, "application/x-www-form-urlencoded", body)
    }

    fn header(mut self, name: &str, value: impl AsRef<[u8]>) -> Self {
        self.headers
            .push((name.to_owned(), value.as_ref().to_vec()));
        self
    }

    fn want(mut self, status: u16, want: Want) -> Self {
        self.status = status;
        self.want = want;
        self
    }

    /// No `Host` header unless the row adds its own.
    fn without_host(mut self) -> Self {
        self.host = false;
        self
    }

    fn http_1_0(mut self) -> Self {
        self.version = "HTTP/1.0";
        self
    }

    /// Small `x-filler-N` headers adding up to about `total` bytes.
    fn headers_totalling(mut self, total: usize) -> Self {
        let mut sent = 0;
        let mut n = 0;
        while sent < total {
            let name = format!("x-filler-{n}");
            // Under hyper's 100-header limit, which has its own bare 431.
            let value = "v".repeat(400);
            sent += name.len() + value.len() + 4;
            self.headers.push((name, value.into_bytes()));
            n += 1;
        }
        self
    }

    /// `count` tiny headers.
    fn headers_counting(mut self, count: usize) -> Self {
        for n in 0..count {
            self.headers.push((format!("x-h{n}"), b"1".to_vec()));
        }
        self
    }

    fn stores(mut self) -> Self {
        self.stores = true;
        self
    }

    fn lacks(mut self, text: &str) -> Self {
        self.lacks.push(text.to_owned());
        self
    }

    /// The request as bytes on the wire.
    fn bytes(&self) -> Vec<u8> {
        let mut out = Vec::new();
        out.extend_from_slice(self.method.as_bytes());
        out.push(b' ');
        out.extend_from_slice(&self.target);
        out.push(b' ');
        out.extend_from_slice(self.version.as_bytes());
        out.extend_from_slice(b"\r\n");
        if self.host {
            out.extend_from_slice(b"host: 127.0.0.1\r\n");
        }
        out.extend_from_slice(b"connection: close\r\n");
        for (name, value) in &self.headers {
            out.extend_from_slice(name.as_bytes());
            out.extend_from_slice(b": ");
            out.extend_from_slice(value);
            out.extend_from_slice(b"\r\n");
        }
        if let Some(body) = &self.body {
            out.extend_from_slice(format!("content-length: {}\r\n\r\n", body.len()).as_bytes());
            out.extend_from_slice(body);
        } else {
            out.extend_from_slice(b"\r\n");
        }
        out
    }
}

/// A raw HTTP/1.1 answer.
#[derive(Debug)]
pub(crate) struct Answer {
    pub(crate) status: u16,
    pub(crate) headers: Vec<(String, String)>,
    pub(crate) body: String,
}

impl Answer {
    pub(crate) fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// Sends raw bytes on a fresh connection and reads the whole answer.
pub(crate) async fn send(addr: &str, request: &[u8]) -> Answer {
    let mut stream = TcpStream::connect(addr).await.expect("connect");
    stream.write_all(request).await.expect("write request");
    let mut raw = Vec::new();
    tokio::time::timeout(Duration::from_secs(20), stream.read_to_end(&mut raw))
        .await
        .expect("the server answers and closes within 20 s")
        .expect("read answer");
    parse_answer(&raw)
}

fn parse_answer(raw: &[u8]) -> Answer {
    let split = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .unwrap_or_else(|| panic!("no end of headers in {:?}", String::from_utf8_lossy(raw)));
    let head = String::from_utf8_lossy(&raw[..split]).into_owned();
    let mut lines = head.split("\r\n");
    let status_line = lines.next().unwrap_or_default();
    let status: u16 = status_line
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("status line {status_line:?}"));
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(n, v)| (n.trim().to_ascii_lowercase(), v.trim().to_owned()))
        .collect();
    let mut body = raw[split + 4..].to_vec();
    let chunked = headers
        .iter()
        .any(|(n, v)| n == "transfer-encoding" && v.eq_ignore_ascii_case("chunked"));
    if chunked {
        body = dechunk(&body);
    }
    Answer {
        status,
        headers,
        body: String::from_utf8_lossy(&body).into_owned(),
    }
}

fn dechunk(mut raw: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    while let Some(end) = raw.windows(2).position(|w| w == b"\r\n") {
        let size_text = String::from_utf8_lossy(&raw[..end]);
        let size = usize::from_str_radix(size_text.split(';').next().unwrap_or("0").trim(), 16)
            .unwrap_or(0);
        raw = &raw[end + 2..];
        if size == 0 || raw.len() < size {
            break;
        }
        out.extend_from_slice(&raw[..size]);
        raw = raw.get(size + 2..).unwrap_or_default();
    }
    out
}

/// What the rows need: a signed-in user, a client with every grant, live
/// tokens and an unused code.
struct Fixture {
    client: Client,
    other: Client,
    access: String,
    refresh: String,
    code: String,
    /// `oauthd_session=…`.
    session: String,
    /// The settings forms' CSRF token for that session.
    csrf: String,
    /// `oauthd_login_csrf=…` and the sign-in form's field.
    login_cookie: String,
    login_csrf: String,
}

async fn fixture(app: &TestApp) -> Fixture {
    flow::create_user(app, "alice").await;
    let browser = app.browser();
    let session = browser.login("alice", PASSWORD).await;
    let client = flow::register_json(
        app,
        &json!({
            "client_name": "Hostile Target",
            "redirect_uris": [CB],
            "grant_types": ["authorization_code", "refresh_token", "client_credentials"],
            "response_types": ["code"],
        }),
    )
    .await;
    let other = flow::register_json(
        app,
        &json!({"client_name": "Other", "grant_types": ["client_credentials"]}),
    )
    .await;
    let t = flow::tokens_for(app, &browser, &client, &Params::code(&client), None).await;
    let code = browser.code(&Params::code(&client)).await;
    let page = browser.get("/settings/tokens").await;
    assert_eq!(page.status(), StatusCode::OK, "the settings page");
    let csrf = hidden(&page.text().await.unwrap(), "csrf").expect("settings csrf");
    let login = flow::cookieless()
        .get(app.url("/login"))
        .send()
        .await
        .unwrap();
    let login_cookie = set_cookie(&login, LOGIN_CSRF_COOKIE).expect("login csrf cookie");
    let login_csrf = hidden(&login.text().await.unwrap(), "csrf").expect("login csrf");
    Fixture {
        client,
        other,
        access: t.access,
        refresh: t.refresh.expect("a refresh token"),
        code,
        session: format!("oauthd_session={session}"),
        csrf,
        login_cookie: format!("{LOGIN_CSRF_COOKIE}={}", login_cookie.value),
        login_csrf,
    }
}

fn enc(s: &str) -> String {
    url::form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

/// The whole table.
#[allow(clippy::too_many_lines, reason = "one table, read top to bottom")]
fn table(f: &Fixture) -> Vec<Case> {
    use Want::{ClientError, Code, Json, Local, Login, Page, Status};
    let cid = f.client.id.as_str();
    let auth = basic(cid, f.client.secret());
    let other_auth = basic(&f.other.id, f.other.secret());
    let cb = enc(CB);
    let az = |extra: &str| {
        format!("/oauth/authorize?response_type=code&client_id={cid}&redirect_uri={cb}{extra}")
    };
    let form = "application/x-www-form-urlencoded";
    // Long, but under every per-parameter cap: what a lookup does with it.
    let long = "a".repeat(3 * 1024);
    // Huge: over the form parser's per-parameter cap.
    let huge = "a".repeat(60 * 1024);
    let mut rows = Vec::new();

    // ---- /oauth/authorize GET (signed in unless said otherwise) -------------
    let s = f.session.as_str();
    for (why, target, status, want, stores) in [
        (
            "raw 0xFF byte in the request line",
            [az("&state=").as_bytes(), b"\xff\xfe"].concat(),
            400,
            Status,
            false,
        ),
        (
            "raw space and CRLF in the request line",
            az("&state=a b\r\nx-injected: 1").into_bytes(),
            400,
            Status,
            false,
        ),
        (
            "%FF (invalid UTF-8) in state",
            az("&state=%FF").into_bytes(),
            400,
            Page,
            false,
        ),
        (
            "%ZZ (bad escape) in state",
            az("&state=%ZZ").into_bytes(),
            400,
            Page,
            false,
        ),
        (
            "lone % at the end",
            az("&state=abc%").into_bytes(),
            400,
            Page,
            false,
        ),
        (
            "truncated UTF-8 %E2%82",
            az("&state=%E2%82").into_bytes(),
            400,
            Page,
            false,
        ),
        (
            "NUL in state",
            az("&state=a%00b").into_bytes(),
            400,
            Page,
            false,
        ),
        (
            "NUL in client_id",
            format!("/oauth/authorize?response_type=code&client_id={cid}%00&redirect_uri={cb}")
                .into_bytes(),
            400,
            Page,
            false,
        ),
        (
            "client_id twice",
            az(&format!("&client_id={cid}")).into_bytes(),
            400,
            Page,
            false,
        ),
        (
            "redirect_uri twice",
            az(&format!("&redirect_uri={cb}")).into_bytes(),
            400,
            Page,
            false,
        ),
        (
            "redirect_uri twice, the second unregistered",
            az("&redirect_uri=https%3A%2F%2Fevil.example%2F").into_bytes(),
            400,
            Page,
            false,
        ),
        (
            "state twice",
            az("&state=a&state=b").into_bytes(),
            302,
            ClientError("invalid_request"),
            false,
        ),
        (
            "scope twice",
            az("&scope=account:read&scope=event:write").into_bytes(),
            302,
            ClientError("invalid_request"),
            false,
        ),
        (
            "response_type twice",
            az("&response_type=code").into_bytes(),
            302,
            ClientError("invalid_request"),
            false,
        ),
        (
            "unregistered redirect_uri",
            format!(
                "/oauth/authorize?response_type=code&client_id={cid}&redirect_uri=https%3A%2F%2Fevil.example%2Fcb"
            )
            .into_bytes(),
            400,
            Page,
            false,
        ),
        (
            "unregistered redirect_uri with an error to report",
            format!(
                "/oauth/authorize?response_type=token&client_id={cid}&redirect_uri=https%3A%2F%2Fevil.example%2Fcb&state=x"
            )
            .into_bytes(),
            400,
            Page,
            false,
        ),
        (
            "unknown client with a redirect_uri",
            "/oauth/authorize?response_type=bogus&client_id=nobody&redirect_uri=https%3A%2F%2Fevil.example%2F"
                .as_bytes()
                .to_vec(),
            400,
            Page,
            false,
        ),
        (
            "javascript: redirect_uri",
            format!(
                "/oauth/authorize?response_type=code&client_id={cid}&redirect_uri=javascript%3Aalert(1)"
            )
            .into_bytes(),
            400,
            Page,
            false,
        ),
        (
            "data: redirect_uri",
            format!(
                "/oauth/authorize?response_type=code&client_id={cid}&redirect_uri=data%3Atext%2Fhtml%2C%3Cscript%3Ealert(1)%3C%2Fscript%3E"
            )
            .into_bytes(),
            400,
            Page,
            false,
        ),
        (
            "CRLF header injection in redirect_uri",
            format!(
                "/oauth/authorize?response_type=code&client_id={cid}&redirect_uri={cb}%0D%0Ax-injected%3A%201"
            )
            .into_bytes(),
            400,
            Page,
            false,
        ),
        (
            "registered URI as a prefix of another host",
            format!(
                "/oauth/authorize?response_type=code&client_id={cid}&redirect_uri={cb}.evil.example"
            )
            .into_bytes(),
            400,
            Page,
            false,
        ),
        (
            "registered URI with userinfo trick",
            format!(
                "/oauth/authorize?response_type=bogus&client_id={cid}&redirect_uri=https%3A%2F%2Fapp.example%40evil.example%2Fcb"
            )
            .into_bytes(),
            400,
            Page,
            false,
        ),
        (
            "registered URI with dot segments",
            format!(
                "/oauth/authorize?response_type=code&client_id={cid}&redirect_uri={cb}%2F..%2F..%2Fevil"
            )
            .into_bytes(),
            400,
            Page,
            false,
        ),
        (
            "percent-encoded unicode redirect_uri (decodes to café)",
            format!(
                "/oauth/authorize?response_type=code&client_id={cid}&redirect_uri=https%3A%2F%2Fapp.example%2Fcaf%C3%A9"
            )
            .into_bytes(),
            400,
            Page,
            false,
        ),
        (
            "SQL in client_id",
            "/oauth/authorize?response_type=code&client_id=%27%20or%20%271%27%3D%271%27--"
                .as_bytes()
                .to_vec(),
            400,
            Page,
            false,
        ),
        (
            "SQL in scope",
            az("&scope=account%3Aread%27%20OR%20%271%27%3D%271&state=s").into_bytes(),
            302,
            ClientError("invalid_scope"),
            false,
        ),
        (
            "CRLF header injection in state with an error to report",
            format!(
                "/oauth/authorize?response_type=token&client_id={cid}&redirect_uri={cb}&state=a%0D%0Ax-injected%3A%201%0D%0Aset-cookie%3A%20injected%3D1"
            )
            .into_bytes(),
            302,
            ClientError("unsupported_response_type"),
            false,
        ),
        (
            "state over 2048 bytes",
            az(&format!("&state={}", "s".repeat(3000))).into_bytes(),
            400,
            Page,
            false,
        ),
        (
            "URL over 8 KiB",
            az(&format!("&state={}", "s".repeat(9000))).into_bytes(),
            414,
            Status,
            false,
        ),
        (
            "unicode-laden state (RTL override, emoji)",
            az("&state=%E2%80%AEtats%C3%A9%F0%9F%99%82").into_bytes(),
            302,
            Code("\u{202e}tats\u{e9}\u{1f642}"),
            true,
        ),
    ] {
        let mut case = Case::get(format!("GET authorize: {why}"), target)
            .header("cookie", s)
            .want(status, want);
        if stores {
            case = case.stores();
        }
        rows.push(case);
    }
    rows.push(
        Case::get(
            "GET authorize signed out: unregistered redirect_uri",
            format!(
                "/oauth/authorize?response_type=code&client_id={cid}&redirect_uri=https%3A%2F%2Fevil.example%2F"
            ),
        )
        .want(400, Page),
    );
    rows.push(
        Case::get(
            "GET authorize signed out: bad response_type still goes to sign-in first",
            format!("/oauth/authorize?response_type=token&client_id={cid}&redirect_uri={cb}"),
        )
        .want(303, Login),
    );
    rows.push(
        Case::get(
            "GET authorize: garbage session cookie is no session",
            az("&state=x"),
        )
        .header("cookie", "oauthd_session=%00%FF'--; oauthd_session=x")
        .want(303, Login),
    );

    // ---- /oauth/authorize POST ----------------------------------------------
    let az_body = format!("response_type=code&client_id={cid}&redirect_uri={cb}&state=x");
    for (why, ctype, body, status, want) in [
        (
            "JSON body",
            "application/json",
            r#"{"client_id":"x"}"#.to_owned(),
            400,
            Page,
        ),
        ("no content type", "", az_body.clone(), 400, Page),
        (
            "multipart body",
            "multipart/form-data; boundary=x",
            "--x\r\ncontent-disposition: form-data; name=\"client_id\"\r\n\r\nx\r\n--x--"
                .to_owned(),
            400,
            Page,
        ),
        (
            "%FF in the form",
            form,
            format!("{az_body}&scope=%FF"),
            400,
            Page,
        ),
        ("NUL in the form", form, format!("{az_body}%00"), 400, Page),
        (
            "client_id twice",
            form,
            format!("{az_body}&client_id={cid}"),
            400,
            Page,
        ),
        (
            "unregistered redirect_uri",
            form,
            format!(
                "response_type=code&client_id={cid}&redirect_uri=https%3A%2F%2Fevil.example%2F"
            ),
            400,
            Page,
        ),
        (
            "state twice",
            form,
            format!("{az_body}&state=y"),
            303,
            ClientError("invalid_request"),
        ),
        (
            "a decision for an unknown request",
            form,
            format!(
                "request_id=%27%20or%201%3D1--&csrf={}&decision=approve",
                f.csrf
            ),
            403,
            Page,
        ),
        (
            "a decision with a forged csrf",
            form,
            "request_id=x&csrf=forged&decision=approve".to_owned(),
            403,
            Page,
        ),
    ] {
        rows.push(
            Case::post(
                format!("POST authorize: {why}"),
                "/oauth/authorize",
                ctype,
                body,
            )
            .header("cookie", s)
            .want(status, want),
        );
    }

    // ---- /oauth/token ---------------------------------------------------------
    let code_form = format!(
        "grant_type=authorization_code&code={}&redirect_uri={cb}",
        f.code
    );
    let mut token = |why: &str, body: String, status: u16, error: &'static str| {
        rows.push(
            Case::form(format!("token: {why}"), "/oauth/token", body)
                .header("authorization", &auth)
                .want(status, Json(error)),
        );
    };
    token(
        "%FF in code",
        "grant_type=authorization_code&code=%FF".into(),
        400,
        "invalid_request",
    );
    token(
        "%ZZ in code",
        "grant_type=authorization_code&code=%ZZ".into(),
        400,
        "invalid_request",
    );
    token(
        "lone %",
        "grant_type=authorization_code&code=%".into(),
        400,
        "invalid_request",
    );
    token(
        "truncated UTF-8",
        "grant_type=client_credentials&scope=%E2%82".into(),
        400,
        "invalid_request",
    );
    token(
        "NUL in code",
        "grant_type=authorization_code&code=oac_%00".into(),
        400,
        "invalid_request",
    );
    token(
        "NUL in grant_type",
        "grant_type=client_credentials%00".into(),
        400,
        "invalid_request",
    );
    token(
        "NUL in scope",
        "grant_type=client_credentials&scope=account%3Aread%00".into(),
        400,
        "invalid_request",
    );
    token(
        "grant_type twice",
        format!("{code_form}&grant_type=client_credentials"),
        400,
        "invalid_request",
    );
    token(
        "grant_type twice, other order",
        format!("grant_type=client_credentials&{code_form}"),
        400,
        "invalid_request",
    );
    token(
        "code twice",
        format!("{code_form}&code=oac_x"),
        400,
        "invalid_request",
    );
    token(
        "redirect_uri twice",
        format!("{code_form}&redirect_uri={cb}"),
        400,
        "invalid_request",
    );
    token(
        "scope twice",
        "grant_type=client_credentials&scope=a&scope=b".into(),
        400,
        "invalid_request",
    );
    token(
        "client_id in the body differs from Basic",
        format!("{code_form}&client_id=%27%20or%201%3D1--"),
        400,
        "invalid_request",
    );
    token(
        "SQL in code",
        "grant_type=authorization_code&code=%27%20OR%20%271%27%3D%271%27--&redirect_uri=x".into(),
        400,
        "invalid_grant",
    );
    token(
        "SQL in grant_type",
        "grant_type=%27%3B%20drop%20table%20tokens%3B--".into(),
        400,
        "unsupported_grant_type",
    );
    token(
        "unicode code",
        format!("grant_type=authorization_code&code=oac_%F0%9F%99%82%E2%80%AE&redirect_uri={cb}"),
        400,
        "invalid_grant",
    );
    token(
        "3 KiB code",
        format!("grant_type=authorization_code&code={long}&redirect_uri={cb}"),
        400,
        "invalid_grant",
    );
    token(
        "60 KiB code (over the per-parameter cap)",
        format!("grant_type=authorization_code&code={huge}&redirect_uri={cb}"),
        400,
        "invalid_request",
    );
    token(
        "javascript: redirect_uri with the code",
        format!(
            "grant_type=authorization_code&code={}&redirect_uri=javascript%3Aalert(1)",
            f.code
        ),
        400,
        "invalid_grant",
    );
    token(
        "refresh token as a code",
        format!(
            "grant_type=authorization_code&code={}&redirect_uri={cb}",
            f.refresh
        ),
        400,
        "invalid_grant",
    );
    token(
        "access token as a code",
        format!(
            "grant_type=authorization_code&code={}&redirect_uri={cb}",
            f.access
        ),
        400,
        "invalid_grant",
    );
    token(
        "access token as a refresh token",
        format!("grant_type=refresh_token&refresh_token={}", f.access),
        400,
        "invalid_grant",
    );
    token(
        "code as a refresh token",
        format!("grant_type=refresh_token&refresh_token={}", f.code),
        400,
        "invalid_grant",
    );
    token(
        "unicode scope",
        "grant_type=client_credentials&scope=caf%C3%A9%20%E2%80%AE".into(),
        400,
        "invalid_scope",
    );
    for (why, ctype) in [
        ("JSON body", "application/json"),
        ("no content type", ""),
        ("multipart body", "multipart/form-data; boundary=x"),
        ("text/plain body", "text/plain"),
    ] {
        rows.push(
            Case::post(
                format!("token: {why}"),
                "/oauth/token",
                ctype,
                "grant_type=client_credentials",
            )
            .header("authorization", &auth)
            .want(400, Json("invalid_request")),
        );
    }
    rows.push(
        Case::form(
            "token: body over the limit",
            "/oauth/token",
            format!(
                "grant_type=client_credentials&scope={}",
                "a".repeat(70 * 1024)
            ),
        )
        .header("authorization", &auth)
        .want(413, Json("invalid_request")),
    );
    rows.push(
        Case::form(
            "token: client_secret in the query",
            format!("/oauth/token?client_secret={}", f.client.secret()),
            "grant_type=client_credentials",
        )
        .header("authorization", &auth)
        .want(400, Json("invalid_request"))
        .lacks(f.client.secret()),
    );
    rows.push(Case::get("token: GET", "/oauth/token").want(405, Json("invalid_request")));
    let cc = "grant_type=client_credentials";
    for (why, value, status, error) in [
        (
            "Basic with bad base64",
            b"Basic !!!not-base64!!!".to_vec(),
            401,
            "invalid_client",
        ),
        (
            "Basic without a colon",
            format!("Basic {}", b64(cid)).into_bytes(),
            401,
            "invalid_client",
        ),
        (
            "Basic with an empty id",
            format!("Basic {}", b64(":secret")).into_bytes(),
            401,
            "invalid_client",
        ),
        (
            "Basic with nothing",
            b"Basic".to_vec(),
            401,
            "invalid_client",
        ),
        (
            "Basic with NUL inside",
            format!("Basic {}", b64(&format!("{cid}:a%00b"))).into_bytes(),
            401,
            "invalid_client",
        ),
        (
            "Basic of invalid UTF-8",
            format!("Basic {}", b64_bytes(b"\xff\xfe:\xff")).into_bytes(),
            401,
            "invalid_client",
        ),
        (
            "Basic with SQL",
            format!("Basic {}", b64("' or '1'='1:' or '1'='1")).into_bytes(),
            401,
            "invalid_client",
        ),
        (
            "8 KiB Basic",
            format!("Basic {}", "QUFB".repeat(2048)).into_bytes(),
            401,
            "invalid_client",
        ),
        (
            "raw non-ASCII bytes in Authorization",
            b"Basic \xc3\xa9\xff".to_vec(),
            401,
            "invalid_client",
        ),
        (
            "Bearer instead of Basic",
            format!("Bearer {}", f.access).into_bytes(),
            401,
            "invalid_client",
        ),
    ] {
        rows.push(
            Case::form(format!("token: {why}"), "/oauth/token", cc)
                .header("authorization", value)
                .want(status, Json(error)),
        );
    }
    rows.push(
        Case::form("token: two Authorization headers", "/oauth/token", cc)
            .header("authorization", &auth)
            .header("authorization", &auth)
            .want(400, Json("invalid_request")),
    );
    rows.push(
        Case::form(
            "token: a NUL byte inside a header value",
            "/oauth/token",
            cc,
        )
        .header("authorization", format!("{auth}\0x"))
        .want(400, Status),
    );
    rows.push(
        Case::form(
            "token: client_id twice in the body",
            "/oauth/token",
            format!("{cc}&client_id={cid}&client_id={cid}&client_secret=x"),
        )
        .want(400, Json("invalid_request")),
    );

    // ---- /oauth/revoke ----------------------------------------------------------
    for (why, ctype, body, status, want) in [
        (
            "%FF in token",
            form,
            "token=%FF".to_owned(),
            400,
            Json("invalid_request"),
        ),
        (
            "NUL in token",
            form,
            "token=ort_%00".to_owned(),
            400,
            Json("invalid_request"),
        ),
        (
            "token twice",
            form,
            "token=a&token=b".to_owned(),
            400,
            Json("invalid_request"),
        ),
        (
            "no token",
            form,
            "token_type_hint=access_token".to_owned(),
            400,
            Json("invalid_request"),
        ),
        (
            "JSON body",
            "application/json",
            r#"{"token":"x"}"#.to_owned(),
            400,
            Json("invalid_request"),
        ),
        (
            "no content type",
            "",
            "token=x".to_owned(),
            400,
            Json("invalid_request"),
        ),
        (
            "SQL in token",
            form,
            "token=%27%20or%20%271%27%3D%271".to_owned(),
            200,
            Status,
        ),
        (
            "unicode token",
            form,
            "token=%F0%9F%99%82%E2%80%AE".to_owned(),
            200,
            Status,
        ),
        (
            "a code as the token",
            form,
            format!("token={}", f.code),
            200,
            Status,
        ),
        (
            "hint twice",
            form,
            "token=x&token_type_hint=a&token_type_hint=b".to_owned(),
            400,
            Json("invalid_request"),
        ),
    ] {
        rows.push(
            Case::post(format!("revoke: {why}"), "/oauth/revoke", ctype, body)
                .header("authorization", &auth)
                .want(status, want),
        );
    }
    rows.push(
        Case::form(
            "revoke: another client's access token",
            "/oauth/revoke",
            format!("token={}", f.access),
        )
        .header("authorization", &other_auth)
        .want(400, Json("unauthorized_client")),
    );
    rows.push(
        Case::form("revoke: Basic without a colon", "/oauth/revoke", "token=x")
            .header("authorization", format!("Basic {}", b64("nocolon")))
            .want(401, Json("invalid_client")),
    );

    // ---- /oauth/device_authorization and device polling (RFC 8628) -------------
    for (why, body, status, want) in [
        (
            "%FF in scope",
            format!("client_id={cid}&scope=%FF"),
            400,
            Json("invalid_request"),
        ),
        (
            "scope twice",
            format!("client_id={cid}&scope=a&scope=b"),
            400,
            Json("invalid_request"),
        ),
        (
            "client_id twice",
            format!("client_id={cid}&client_id={cid}"),
            400,
            Json("invalid_request"),
        ),
        (
            "unknown client",
            "client_id=nobody".to_owned(),
            401,
            Json("invalid_client"),
        ),
    ] {
        rows.push(
            Case::form(
                format!("device authorization: {why}"),
                "/oauth/device_authorization",
                body,
            )
            .want(status, want),
        );
    }
    rows.push(
        Case::post(
            "device authorization: a JSON body",
            "/oauth/device_authorization",
            "application/json",
            format!("{{\"client_id\":\"{cid}\"}}"),
        )
        .want(400, Json("invalid_request")),
    );
    rows.push(
        Case::form(
            "device authorization: a client without the grant",
            "/oauth/device_authorization",
            "scope=account%3Aread",
        )
        .header("authorization", &auth)
        .want(400, Json("unauthorized_client")),
    );
    rows.push(
        Case::form(
            "device authorization: a secret in the URL",
            format!(
                "/oauth/device_authorization?client_secret={}",
                f.client.secret()
            ),
            format!("client_id={cid}"),
        )
        .want(400, Json("invalid_request"))
        .lacks(f.client.secret()),
    );
    for (why, body, status, want) in [
        (
            "device_code with a NUL",
            "grant_type=urn%3Aietf%3Aparams%3Aoauth%3Agrant-type%3Adevice_code&device_code=%00".to_owned(),
            400,
            Json("invalid_request"),
        ),
        (
            "device_code twice",
            "grant_type=urn%3Aietf%3Aparams%3Aoauth%3Agrant-type%3Adevice_code&device_code=a&device_code=b".to_owned(),
            400,
            Json("invalid_request"),
        ),
    ] {
        rows.push(
            Case::form(format!("token: {why}"), "/oauth/token", body)
                .header("authorization", &auth)
                .want(status, want),
        );
    }

    // ---- /device pages ----------------------------------------------------------
    rows.push(Case::get("device page: signed out", "/device?user_code=BBBB-BBBB").want(303, Login));
    rows.push(
        Case::get("device page: %FF in user_code", "/device?user_code=%FF")
            .header("cookie", &f.session)
            .want(400, Page),
    );
    rows.push(
        Case::get(
            "device page: a script in user_code",
            "/device?user_code=%3Cscript%3Ealert(1)%3C%2Fscript%3E",
        )
        .header("cookie", &f.session)
        .want(200, Page)
        .lacks("<script>alert(1)"),
    );
    for (why, target, body, status) in [
        (
            "entry without CSRF",
            "/device",
            "user_code=BBBB-BBBB".to_owned(),
            403,
        ),
        (
            "entry with a NUL in the code",
            "/device",
            format!("csrf={}&user_code=%00", f.csrf),
            400,
        ),
        (
            "entry with a script as the code",
            "/device",
            format!(
                "csrf={}&user_code=%3Cscript%3Ealert(1)%3C%2Fscript%3E",
                f.csrf
            ),
            400,
        ),
        (
            "entry with a 3 KiB code",
            "/device",
            format!("csrf={}&user_code={long}", f.csrf),
            400,
        ),
        (
            "decision for no pending request",
            "/device/decision",
            format!("csrf={}&user_code=BBBB-BBBB&decision=approve", f.csrf),
            400,
        ),
        (
            "decision twice",
            "/device/decision",
            format!(
                "csrf={}&user_code=BBBB-BBBB&decision=approve&decision=deny",
                f.csrf
            ),
            400,
        ),
    ] {
        rows.push(
            Case::form(format!("device page: {why}"), target, body)
                .header("cookie", &f.session)
                .want(status, Page)
                .lacks("<script>alert(1)"),
        );
    }
    rows.push(
        Case::form(
            "device page: entry signed out",
            "/device",
            "csrf=x&user_code=BBBB-BBBB",
        )
        .want(403, Page),
    );

    // ---- /oauth/introspect --------------------------------------------------------
    for (why, ctype, body, status, want) in [
        (
            "%FF in token",
            form,
            "token=%FF".to_owned(),
            400,
            Json("invalid_request"),
        ),
        (
            "NUL in token",
            form,
            "token=oat_%00".to_owned(),
            400,
            Json("invalid_request"),
        ),
        (
            "token twice",
            form,
            "token=a&token=b".to_owned(),
            400,
            Json("invalid_request"),
        ),
        (
            "multipart",
            "multipart/form-data; boundary=x",
            "--x--".to_owned(),
            400,
            Json("invalid_request"),
        ),
        (
            "SQL in token",
            form,
            "token=%27%20or%201%3D1--".to_owned(),
            200,
            Json(""),
        ),
        (
            "a code as the token",
            form,
            format!("token={}", f.code),
            200,
            Json(""),
        ),
    ] {
        rows.push(
            Case::post(
                format!("introspect: {why}"),
                "/oauth/introspect",
                ctype,
                body,
            )
            .header("authorization", &auth)
            .want(status, want),
        );
    }
    for (why, value, status, error) in [
        (
            "Basic with bad base64",
            "Basic %%%".to_owned(),
            401,
            "invalid_client",
        ),
        (
            "a refresh token as the caller's bearer token",
            format!("Bearer {}", f.refresh),
            401,
            "invalid_token",
        ),
        (
            "a code as the caller's bearer token",
            format!("Bearer {}", f.code),
            401,
            "invalid_token",
        ),
        (
            "Bearer with spaces (not a bearer token: client auth fails)",
            "Bearer a b c".to_owned(),
            401,
            "invalid_client",
        ),
    ] {
        rows.push(
            Case::form(
                format!("introspect: {why}"),
                "/oauth/introspect",
                format!("token={}", f.access),
            )
            .header("authorization", value)
            .want(status, Json(error)),
        );
    }

    // ---- /api/client --------------------------------------------------------------
    let json_ct = "application/json";
    for (why, ctype, body, status, error, stores) in [
        (
            "NUL in a JSON client_name",
            json_ct,
            br#"{"client_name":"a\u0000b"}"#.to_vec(),
            400,
            "invalid_client_metadata",
            false,
        ),
        (
            "NUL in a form client_name",
            form,
            b"client_name=a%00b".to_vec(),
            400,
            "invalid_client_metadata",
            false,
        ),
        (
            "RTL override in client_name",
            json_ct,
            br#"{"client_name":"evil\u202Egpj.exe"}"#.to_vec(),
            400,
            "invalid_client_metadata",
            false,
        ),
        (
            "invalid UTF-8 in JSON",
            json_ct,
            b"{\"client_name\":\"\xff\xfe\"}".to_vec(),
            400,
            "invalid_client_metadata",
            false,
        ),
        (
            "%FF in a form",
            form,
            b"client_name=%FF".to_vec(),
            400,
            "invalid_client_metadata",
            false,
        ),
        (
            "duplicate JSON keys",
            json_ct,
            br#"{"client_name":"a","client_name":"b"}"#.to_vec(),
            400,
            "invalid_client_metadata",
            false,
        ),
        (
            "client_name twice in a form",
            form,
            b"client_name=a&client_name=b".to_vec(),
            400,
            "invalid_client_metadata",
            false,
        ),
        (
            "trailing garbage after JSON",
            json_ct,
            br#"{"client_name":"a"}}"#.to_vec(),
            400,
            "invalid_client_metadata",
            false,
        ),
        (
            "10 000-deep nesting",
            json_ct,
            format!(
                "{{\"client_name\":{}{}}}",
                "[".repeat(10_000),
                "]".repeat(10_000)
            )
            .into_bytes(),
            400,
            "invalid_client_metadata",
            false,
        ),
        (
            "null client_name and redirect_uris (both optional in RFC 7591)",
            json_ct,
            br#"{"client_name":null,"redirect_uris":null}"#.to_vec(),
            201,
            "",
            true,
        ),
        (
            "wrong types",
            json_ct,
            br#"{"client_name":["a"],"redirect_uris":"https://a.example/cb"}"#.to_vec(),
            400,
            "invalid_client_metadata",
            false,
        ),
        (
            "text/plain",
            "text/plain",
            b"client_name=a".to_vec(),
            400,
            "invalid_client_metadata",
            false,
        ),
        (
            "multipart",
            "multipart/form-data; boundary=x",
            b"--x--".to_vec(),
            400,
            "invalid_client_metadata",
            false,
        ),
        (
            "60 KiB client_name",
            json_ct,
            format!("{{\"client_name\":\"{huge}\"}}").into_bytes(),
            400,
            "invalid_client_metadata",
            false,
        ),
        (
            "javascript: redirect URI",
            json_ct,
            br#"{"client_name":"a","redirect_uris":["javascript:alert(1)"]}"#.to_vec(),
            400,
            "invalid_redirect_uri",
            false,
        ),
        (
            "data: redirect URI",
            json_ct,
            br#"{"client_name":"a","redirect_uris":["data:text/html,<script>alert(1)</script>"]}"#
                .to_vec(),
            400,
            "invalid_redirect_uri",
            false,
        ),
        (
            "CRLF in a redirect URI",
            json_ct,
            br#"{"client_name":"a","redirect_uris":["https://a.example/cb\r\nx-injected: 1"]}"#
                .to_vec(),
            400,
            "invalid_redirect_uri",
            false,
        ),
        (
            "NUL in a redirect URI",
            json_ct,
            br#"{"client_name":"a","redirect_uris":["https://a.example/cb\u0000"]}"#.to_vec(),
            400,
            "invalid_redirect_uri",
            false,
        ),
        (
            "raw non-ASCII redirect URI",
            json_ct,
            "{\"client_name\":\"a\",\"redirect_uris\":[\"https://bücher.example/cb\"]}"
                .as_bytes()
                .to_vec(),
            400,
            "invalid_redirect_uri",
            false,
        ),
        (
            "fullwidth solidus in a redirect URI",
            json_ct,
            "{\"client_name\":\"a\",\"redirect_uris\":[\"https://app.example\u{ff0f}cb\"]}"
                .as_bytes()
                .to_vec(),
            400,
            "invalid_redirect_uri",
            false,
        ),
        (
            "javascript: website",
            json_ct,
            br#"{"client_name":"a","client_uri":"javascript:alert(1)"}"#.to_vec(),
            400,
            "invalid_client_metadata",
            false,
        ),
        (
            "SQL in client_name (stored verbatim)",
            json_ct,
            br#"{"client_name":"Robert'); DROP TABLE clients;--"}"#.to_vec(),
            201,
            "",
            true,
        ),
        (
            "unicode client_name (stored)",
            json_ct,
            "{\"client_name\":\"Caf\u{e9} \u{1f642} \u{65e5}\u{672c}\"}"
                .as_bytes()
                .to_vec(),
            201,
            "",
            true,
        ),
    ] {
        let mut case = Case::post(format!("register: {why}"), "/api/client", ctype, body).want(
            status,
            if error.is_empty() {
                Status
            } else {
                Json(error)
            },
        );
        if stores {
            case = case.stores();
        }
        rows.push(case);
    }

    // ---- /account ------------------------------------------------------------------
    for (why, value, status, error) in [
        (
            "Bearer with spaces",
            b"Bearer a b".to_vec(),
            400,
            "invalid_request",
        ),
        (
            "Bearer with a tab",
            b"Bearer a\tb".to_vec(),
            400,
            "invalid_request",
        ),
        ("empty Bearer", b"Bearer ".to_vec(), 400, "invalid_request"),
        (
            "Bearer with raw UTF-8",
            "Bearer oat_\u{e9}\u{1f642}".as_bytes().to_vec(),
            400,
            "invalid_request",
        ),
        (
            "Bearer with SQL",
            b"Bearer ' or '1'='1".to_vec(),
            400,
            "invalid_request",
        ),
        (
            "Basic instead of Bearer",
            format!("Basic {}", b64("a:b")).into_bytes(),
            400,
            "invalid_request",
        ),
        (
            "a refresh token as bearer",
            format!("Bearer {}", f.refresh).into_bytes(),
            401,
            "invalid_token",
        ),
        (
            "a code as bearer",
            format!("Bearer {}", f.code).into_bytes(),
            401,
            "invalid_token",
        ),
        (
            "a client secret as bearer",
            format!("Bearer {}", f.client.secret()).into_bytes(),
            401,
            "invalid_token",
        ),
        (
            "8 KiB bearer",
            format!("Bearer oat_{}", "A".repeat(8192)).into_bytes(),
            401,
            "invalid_token",
        ),
    ] {
        rows.push(
            Case::get(format!("account: {why}"), "/account")
                .header("authorization", value)
                .want(status, Json(error)),
        );
    }
    rows.push(
        Case::get("account: two Authorization headers", "/account")
            .header("authorization", format!("Bearer {}", f.access))
            .header("authorization", format!("Bearer {}", f.access))
            .want(400, Json("invalid_request")),
    );
    for (why, target, status, error) in [
        (
            "%FF in the query token",
            "/account?access_token=%FF".to_owned(),
            400,
            "invalid_request",
        ),
        (
            "NUL in the query token",
            "/account?access_token=oat_%00".to_owned(),
            400,
            "invalid_request",
        ),
        (
            "query token twice",
            format!("/account?access_token={0}&access_token={0}", f.access),
            400,
            "invalid_request",
        ),
        (
            "SQL in the query token",
            "/account?access_token=%27%20or%201%3D1--".to_owned(),
            401,
            "invalid_token",
        ),
    ] {
        rows.push(Case::get(format!("account: {why}"), target).want(status, Json(error)));
    }
    rows.push(
        Case::form(
            "account: POST form token and header token at once",
            "/account",
            format!("access_token={}", f.access),
        )
        .header("authorization", format!("Bearer {}", f.access))
        .want(400, Json("invalid_request")),
    );
    rows.push(
        Case::form("account: POST %FF form", "/account", "access_token=%FF")
            .want(400, Json("invalid_request")),
    );

    // ---- /login -------------------------------------------------------------------
    let lc = f.login_cookie.as_str();
    let lf = f.login_csrf.as_str();
    for (why, ctype, body, status, want, stores) in [
        (
            "JSON body",
            "application/json",
            r#"{"username":"alice"}"#.to_owned(),
            400,
            Page,
            false,
        ),
        (
            "no content type",
            "",
            format!("username=alice&csrf={lf}"),
            400,
            Page,
            false,
        ),
        (
            "%FF in username",
            form,
            format!("username=%FF&password=x&csrf={lf}"),
            400,
            Page,
            false,
        ),
        (
            "NUL in username",
            form,
            format!("username=alice%00&password=x&csrf={lf}"),
            400,
            Page,
            false,
        ),
        (
            "NUL in password",
            form,
            format!("username=alice&password=a%00&csrf={lf}"),
            400,
            Page,
            false,
        ),
        (
            "username twice",
            form,
            format!("username=alice&username=bob&password=x&csrf={lf}"),
            400,
            Page,
            false,
        ),
        (
            "password twice",
            form,
            format!(
                "username=alice&password={0}&password={0}&csrf={lf}",
                enc(PASSWORD)
            ),
            400,
            Page,
            false,
        ),
        (
            "forged csrf",
            form,
            format!("username=alice&password={}&csrf=forged", enc(PASSWORD)),
            403,
            Page,
            false,
        ),
        (
            "SQL in username",
            form,
            format!(
                "username=%27%20or%20%271%27%3D%271&password=%27%20or%20%271%27%3D%271&csrf={lf}"
            ),
            401,
            Page,
            false,
        ),
        (
            "unicode username",
            form,
            format!("username=%E2%80%AEalice%F0%9F%99%82&password=x&csrf={lf}"),
            401,
            Page,
            false,
        ),
        (
            "3 KiB username",
            form,
            format!("username={long}&password=x&csrf={lf}"),
            401,
            Page,
            false,
        ),
        (
            "60 KiB username (over the per-parameter cap)",
            form,
            format!("username={huge}&password=x&csrf={lf}"),
            400,
            Page,
            false,
        ),
        (
            "next=javascript: with a wrong password",
            form,
            format!("username=alice&password=x&csrf={lf}&next=javascript%3Aalert(1)"),
            401,
            Page,
            false,
        ),
        (
            "next to another site after a good password",
            form,
            format!(
                "username=alice&password={}&csrf={lf}&next=https%3A%2F%2Fevil.example%2F",
                enc(PASSWORD)
            ),
            303,
            Local,
            true,
        ),
        (
            "next=//evil after a good password",
            form,
            format!(
                "username=alice&password={}&csrf={lf}&next=%2F%2Fevil.example",
                enc(PASSWORD)
            ),
            303,
            Local,
            true,
        ),
        (
            "next=/\\evil after a good password",
            form,
            format!(
                "username=alice&password={}&csrf={lf}&next=%2F%5Cevil.example",
                enc(PASSWORD)
            ),
            303,
            Local,
            true,
        ),
        (
            "next=/<tab>/evil after a good password",
            form,
            format!(
                "username=alice&password={}&csrf={lf}&next=%2F%09%2Fevil.example",
                enc(PASSWORD)
            ),
            303,
            Local,
            true,
        ),
    ] {
        let mut case = Case::post(format!("login: {why}"), "/login", ctype, body)
            .header("cookie", lc)
            .want(status, want)
            .lacks("evil.example")
            .lacks("javascript:");
        if stores {
            case = case.stores();
        }
        rows.push(case);
    }
    for (why, target) in [
        ("GET with %FF in next", "/login?next=%FF"),
        (
            "GET with next=javascript:",
            "/login?next=javascript%3Aalert(1)",
        ),
        ("GET with next=//evil", "/login?next=%2F%2Fevil.example"),
        (
            "GET with a script in next",
            "/login?next=%2F%22%3E%3Cscript%3Ealert(1)%3C%2Fscript%3E",
        ),
    ] {
        rows.push(
            Case::get(format!("login: {why}"), target)
                .want(200, Page)
                .lacks("evil.example")
                .lacks("javascript:")
                .lacks("<script>"),
        );
    }

    // ---- /settings/* POSTs ----------------------------------------------------------------
    let c = f.csrf.as_str();
    for (path, why, ctype, body, status, want, stores) in [
        (
            "/settings/tokens",
            "JSON body",
            "application/json",
            format!(r#"{{"csrf":"{c}"}}"#),
            400,
            Page,
            false,
        ),
        (
            "/settings/tokens",
            "%FF in label",
            form,
            format!("csrf={c}&label=%FF&scope=account%3Aread"),
            400,
            Page,
            false,
        ),
        (
            "/settings/tokens",
            "NUL in label",
            form,
            format!("csrf={c}&label=a%00&scope=account%3Aread"),
            400,
            Page,
            false,
        ),
        (
            "/settings/tokens",
            "no csrf",
            form,
            "label=a&scope=account%3Aread".to_owned(),
            403,
            Page,
            false,
        ),
        (
            "/settings/tokens",
            "csrf twice",
            form,
            format!("csrf={c}&csrf={c}&label=a&scope=account%3Aread"),
            403,
            Page,
            false,
        ),
        (
            "/settings/tokens",
            "SQL in scope",
            form,
            format!("csrf={c}&label=a&scope=%27%20or%201%3D1--"),
            400,
            Page,
            false,
        ),
        (
            "/settings/tokens",
            "SQL and unicode in label (stored)",
            form,
            format!(
                "csrf={c}&label=%27%29%3B%20DROP%20TABLE%20tokens%3B--%20%F0%9F%99%82&scope=account%3Aread"
            ),
            200,
            Page,
            true,
        ),
        (
            "/settings/developers",
            "javascript: redirect URI",
            form,
            format!("csrf={c}&name=a&redirect_uris=javascript%3Aalert(1)"),
            400,
            Page,
            false,
        ),
        (
            "/settings/developers",
            "data: redirect URI",
            form,
            format!("csrf={c}&name=a&redirect_uris=data%3Atext%2Fhtml%2Cx"),
            400,
            Page,
            false,
        ),
        (
            "/settings/developers",
            "CRLF-split redirect URIs",
            form,
            format!(
                "csrf={c}&name=a&redirect_uris=https%3A%2F%2Fa.example%2Fcb%0D%0Ax-injected%3A%201"
            ),
            400,
            Page,
            false,
        ),
        (
            "/settings/developers",
            "javascript: website",
            form,
            format!(
                "csrf={c}&name=a&website=javascript%3Aalert(1)&redirect_uris=https%3A%2F%2Fa.example%2Fcb"
            ),
            400,
            Page,
            false,
        ),
        (
            "/settings/developers",
            "RTL override in name",
            form,
            format!("csrf={c}&name=%E2%80%AEexe&redirect_uris=https%3A%2F%2Fa.example%2Fcb"),
            400,
            Page,
            false,
        ),
        (
            "/settings/developers",
            "%ZZ",
            form,
            format!("csrf={c}&name=%ZZ"),
            400,
            Page,
            false,
        ),
        (
            "/settings/password",
            "NUL in the new password",
            form,
            format!(
                "csrf={c}&current={0}&new=abc%00defghijkl&confirm=abc%00defghijkl",
                enc(PASSWORD)
            ),
            400,
            Page,
            false,
        ),
        (
            "/settings/password",
            "%FF",
            form,
            format!("csrf={c}&current=%FF"),
            400,
            Page,
            false,
        ),
        (
            "/settings/tokens/%27%20or%201%3D1--/revoke",
            "SQL in the token id",
            form,
            format!("csrf={c}"),
            404,
            Page,
            false,
        ),
        (
            "/settings/authorizations/%27%20or%201%3D1--/revoke",
            "SQL in the client id (revoking nothing is done)",
            form,
            format!("csrf={c}"),
            303,
            Local,
            false,
        ),
        (
            "/settings/developers/%27%20or%201%3D1--",
            "SQL in the app id",
            form,
            format!("csrf={c}&name=x"),
            404,
            Page,
            false,
        ),
        (
            "/settings/developers/%00/secret",
            "NUL in the app id",
            form,
            format!("csrf={c}"),
            404,
            Page,
            false,
        ),
        (
            "/settings/developers/%FF%FE/delete",
            "invalid UTF-8 in the app id",
            form,
            format!("csrf={c}"),
            404,
            Page,
            false,
        ),
    ] {
        let mut case = Case::post(format!("{path}: {why}"), path, ctype, body)
            .header("cookie", s)
            .want(status, want);
        if stores {
            case = case.stores();
        }
        rows.push(case);
    }
    let other_app = f.other.id.as_str();
    rows.push(
        Case::form(
            "settings: another owner's app",
            format!("/settings/developers/{other_app}/delete"),
            format!("csrf={c}"),
        )
        .header("cookie", s)
        .want(404, Page),
    );
    rows.push(
        Case::form(
            "settings: signed out",
            "/settings/tokens",
            "label=a&scope=account%3Aread",
        )
        .want(303, Login),
    );

    // ---- /.well-known/oauth-authorization-server -----------------------------------------------
    let wk = "/.well-known/oauth-authorization-server";
    rows.push(
        Case::get("metadata: a forged Host", wk)
            .header("x-forwarded-host", "evil.example")
            .header("forwarded", "host=evil.example;proto=http")
            .want(200, Status)
            .lacks("evil.example"),
    );
    rows.push(
        Case::get(
            "metadata: garbage query",
            format!("{wk}?%FF%00=%ZZ&a=1&a=2"),
        )
        .want(200, Status),
    );
    rows.push(Case::post("metadata: POST", wk, form, "a=b").want(405, Json("invalid_request")));
    rows.push(
        Case::get("metadata: NUL in the path", format!("{wk}%00"))
            .want(404, Json("invalid_request")),
    );
    rows.extend(request_head_rows(f));
    rows
}

/// The request head: RFC 9112 §3.2's `Host` rules (400) and the cap on the
/// header fields' size (`http.max_header_bytes`, 16 KiB by default: 431), on
/// an endpoint of each kind. Beyond the cap plus room for the request line,
/// hyper answers the 431 itself, without a body.
fn request_head_rows(f: &Fixture) -> Vec<Case> {
    use Want::*;
    let auth = basic(&f.client.id, f.client.secret());
    let wk = "/.well-known/oauth-authorization-server";
    let cc = "grant_type=client_credentials";
    let registration = "client_name=Headless&redirect_uris=https%3A%2F%2Fapp.example%2Fcb";
    // Header fields of this many bytes in all, as the server counts them
    // (`name: value` and CRLF), besides the row's own few.
    let filler = |total: usize| "f".repeat(total - "x-filler: \r\n".len());
    let just_under = filler(15 * 1024);
    let over = filler(17 * 1024);
    let far_over = filler(60 * 1024);
    // One endpoint of each kind, and the shape its refusal takes.
    let kinds = || {
        [
            (
                "healthz",
                Case::get("healthz", "/healthz"),
                Json("invalid_request"),
            ),
            (
                "metadata",
                Case::get("metadata", wk),
                Json("invalid_request"),
            ),
            (
                "token with valid client credentials",
                Case::form("token", "/oauth/token", cc).header("authorization", &auth),
                Json("invalid_request"),
            ),
            (
                "registration",
                Case::form("registration", "/api/client", registration),
                Json("invalid_request"),
            ),
            ("sign-in page", Case::get("login", "/login"), Page),
        ]
    };
    let mut rows = Vec::new();
    let authorize = (
        "authorize, signed in",
        Case::get("authorize", "/oauth/authorize?response_type=code").header("cookie", &f.session),
        Page,
    );
    for (why, case, want) in kinds().into_iter().chain([authorize]) {
        let mut missing = case.without_host();
        missing.why = format!("{why}: HTTP/1.1 without Host");
        rows.push(missing.want(400, want));
    }
    for (why, host) in [
        ("user information in Host", "u@127.0.0.1"),
        ("a space in Host", "127.0.0.1 evil.example"),
        ("an empty Host", ""),
        ("a path in Host", "127.0.0.1/x"),
    ] {
        rows.push(
            Case::form(format!("token: {why}"), "/oauth/token", cc)
                .without_host()
                .header("host", host)
                .header("authorization", &auth)
                .want(400, Json("invalid_request"))
                .lacks("evil.example"),
        );
    }
    rows.push(
        Case::form("token: two Host headers", "/oauth/token", cc)
            .header("host", "evil.example")
            .header("authorization", &auth)
            .want(400, Json("invalid_request"))
            .lacks("evil.example"),
    );
    rows.push(
        Case::get("sign-in page: two Host headers", "/login")
            .header("host", "127.0.0.1")
            .want(400, Page),
    );
    rows.push(
        Case::get("healthz: HTTP/1.0 needs no Host", "/healthz")
            .http_1_0()
            .without_host()
            .want(200, Status),
    );
    rows.push(
        Case::get("healthz: HTTP/1.1 with Host and a port", "/healthz")
            .without_host()
            .header("host", "127.0.0.1:8080")
            .want(200, Status),
    );

    rows.push(
        Case::get("metadata: header fields just under 16 KiB", wk)
            .header("x-filler", &just_under)
            .want(200, Status),
    );
    for (why, case, want) in kinds() {
        let mut big = case.header("x-filler", &over);
        big.why = format!("{why}: header fields over 16 KiB");
        rows.push(big.want(431, want));
    }
    rows.push(
        Case::get("sign-in page: 17 KiB in many small headers", "/login")
            .headers_totalling(17 * 1024)
            .want(431, Page),
    );
    rows.push(
        Case::form(
            "token: a 60 KiB header (hyper's own cap)",
            "/oauth/token",
            cc,
        )
        .header("authorization", &auth)
        .header("x-filler", &far_over)
        .want(431, Status),
    );
    rows.push(
        Case::get("metadata: 150 header fields", wk)
            .headers_counting(150)
            .want(431, Status),
    );
    rows.push(
        Case::post(
            "token: over 16 KiB without a content type",
            "/oauth/token",
            "",
            cc,
        )
        .header("x-filler", &over)
        .want(431, Json("invalid_request")),
    );
    rows
}

fn b64(s: &str) -> String {
    b64_bytes(s.as_bytes())
}

fn b64_bytes(b: &[u8]) -> String {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.encode(b)
}

/// A `Location` may point at this server or at the registered URI, nowhere else.
fn location_is_safe(location: &str, base: &str) -> bool {
    let local =
        location.starts_with('/') && !location.starts_with("//") && !location.starts_with("/\\");
    local || location.starts_with(&format!("{base}/")) || location.starts_with(&format!("{CB}?"))
}

/// Records a failed expectation instead of stopping at the first one, so a
/// run reports every row that misbehaves.
macro_rules! check {
    ($failures:expr, $cond:expr, $($fmt:tt)+) => {
        if !$cond {
            $failures.push(format!($($fmt)+));
        }
    };
}

async fn hostile_input_gets_clean_refusals_on_every_endpoint(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let f = fixture(&app).await;
    let addr = app.base.trim_start_matches("http://").to_owned();
    let rows = table(&f);
    let count = rows.len();
    let mut failures: Vec<String> = Vec::new();
    for case in rows {
        let why = format!("{backend:?} / {}", case.why);
        let before = app.snapshot().await;
        let answer = send(&addr, &case.bytes()).await;
        let body: String = answer.body.chars().take(300).collect();
        check!(
            failures,
            answer.status < 500,
            "{why}: never a 5xx, got {}: {body}",
            answer.status
        );
        check!(
            failures,
            answer.status == case.status,
            "{why}: status {} expected, got {}: {body}",
            case.status,
            answer.status
        );
        if let Some(location) = answer.header("location") {
            check!(
                failures,
                location_is_safe(location, &app.base),
                "{why}: Location {location:?} leaves the server for an unregistered place"
            );
        }
        check!(
            failures,
            answer.header("x-injected").is_none()
                && !answer
                    .headers
                    .iter()
                    .any(|(n, v)| n == "set-cookie" && v.contains("injected")),
            "{why}: no injected header: {:?}",
            answer.headers
        );
        for text in &case.lacks {
            let found = answer.body.contains(text.as_str())
                || answer
                    .headers
                    .iter()
                    .any(|(_, v)| v.contains(text.as_str()));
            check!(failures, !found, "{why}: the answer repeats {text:?}");
        }
        if answer.status == case.status
            && let Err(e) = shape(&app, &answer, case.want)
        {
            failures.push(format!("{why}: {e}: {body}"));
        }
        if !case.stores {
            let after = app.snapshot().await;
            check!(
                failures,
                after == before,
                "{why}: stored something: row counts {before:?} -> {after:?} \
                 (users, clients, sessions, requests, consents, codes, tokens)"
            );
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {count} rows misbehaved:\n{}",
        failures.len(),
        failures.join("\n")
    );
    // Still serving, and the fixture's tokens survived every row.
    let ready = app.http.get(app.url("/readyz")).send().await.unwrap();
    assert_eq!(ready.status(), StatusCode::OK, "{backend:?}: still ready");
    assert_eq!(
        flow::account(&app, &f.access).await.status(),
        StatusCode::OK,
        "{backend:?}: the access token survived {count} hostile rows"
    );
    let refreshed = flow::token(
        &app,
        &f.client.auth(),
        &[
            ("grant_type", "refresh_token"),
            ("refresh_token", &f.refresh),
        ],
    )
    .await;
    assert_eq!(
        refreshed.status(),
        StatusCode::OK,
        "{backend:?}: the refresh token survived"
    );
    let redeemed = flow::redeem(&app, &f.client, &f.code, Some(CB), None).await;
    assert_eq!(
        redeemed.status(),
        StatusCode::OK,
        "{backend:?}: the code survived being sent as a token everywhere"
    );
}

/// Checks the shape the row wants; `Err` says what is wrong.
fn shape(app: &TestApp, answer: &Answer, want: Want) -> Result<(), String> {
    let content_type = answer.header("content-type").unwrap_or_default();
    let location = answer.header("location").unwrap_or_default();
    let ensure = |ok: bool, what: String| if ok { Ok(()) } else { Err(what) };
    let to_cb = |location: &str| -> Result<url::Url, String> {
        ensure(
            location.starts_with(&format!("{CB}?")),
            format!("to the registered URI, got {location:?}"),
        )?;
        url::Url::parse(location).map_err(|e| format!("Location {location:?}: {e}"))
    };
    match want {
        Want::Json(error) => {
            ensure(
                content_type.starts_with("application/json"),
                format!("a JSON answer, got {content_type:?}"),
            )?;
            let body: Value =
                serde_json::from_str(&answer.body).map_err(|e| format!("JSON body: {e}"))?;
            if error.is_empty() {
                ensure(body.get("error").is_none(), "no error".into())?;
                if body.get("active").is_some() {
                    ensure(body == json!({"active": false}), "inactive".into())?;
                }
            } else {
                ensure(body["error"] == error, format!("error {error}"))?;
                ensure(
                    answer.header("cache-control") == Some("no-store"),
                    "errors are not cached".into(),
                )?;
            }
        }
        Want::Page => {
            ensure(
                content_type.starts_with("text/html"),
                format!("an HTML page, got {content_type:?}"),
            )?;
            ensure(location.is_empty(), "no redirect".into())?;
        }
        Want::Login => ensure(
            location.starts_with("/login") || location.starts_with(&format!("{}/login", app.base)),
            format!("to sign-in, got {location:?}"),
        )?,
        Want::Local => ensure(
            location.starts_with('/') && !location.starts_with("//"),
            format!("a local redirect, got {location:?}"),
        )?,
        Want::ClientError(error) => {
            let url = to_cb(location)?;
            ensure(
                flow::param(&url, "error").as_deref() == Some(error),
                format!("error {error} in {location}"),
            )?;
            ensure(flow::param(&url, "code").is_none(), "no code".into())?;
        }
        Want::Code(state) => {
            let url = to_cb(location)?;
            ensure(flow::param(&url, "code").is_some(), "a code".into())?;
            ensure(
                flow::param(&url, "state").as_deref() == Some(state),
                format!("state comes back exactly, got {location}"),
            )?;
        }
        Want::Status => {}
    }
    Ok(())
}
