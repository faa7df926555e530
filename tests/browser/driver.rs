//! The browser: chromedriver on a free loopback port, driving a headless
//! Chromium with a fresh profile, and the helpers every step uses (fill a
//! field, click, read what the page shows, save a screenshot).
//!
//! Nothing here knows oauthd's pages; `journey.rs` does.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use fantoccini::elements::Element;
use fantoccini::{Client, ClientBuilder, Locator};
use hyper_util::client::legacy::connect::HttpConnector;
use serde_json::{Value, json};

/// How long a page or element may take to appear.
const PATIENCE: Duration = Duration::from_secs(20);

/// What to install when the browser is missing (Debian's package names).
const INSTALL_HINT: &str = "install them with `apt-get install -y chromium chromium-driver` \
(or point CHROMIUM / CHROMEDRIVER at the binaries); .ci/run installs them";

/// Chromium's flags. The background-networking group keeps it from calling
/// out to the internet (closed in CI); the rest make it run headless as root
/// in a container with a small /dev/shm.
const CHROMIUM_ARGS: &[&str] = &[
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
    "--disable-extensions",
    "--hide-scrollbars",
    "--window-size=1024,768",
];

/// A program named by `var`, or found on `PATH` as `name`.
fn program(var: &str, name: &str) -> PathBuf {
    if let Some(path) = std::env::var_os(var) {
        let path = PathBuf::from(path);
        assert!(
            path.is_file(),
            "{var}={} does not name a file; {INSTALL_HINT}",
            path.display()
        );
        return path;
    }
    std::env::var_os("PATH")
        .iter()
        .flat_map(std::env::split_paths)
        .map(|dir| dir.join(name))
        .find(|p| p.is_file())
        .unwrap_or_else(|| {
            panic!("the browser test needs `{name}` and it is not on PATH; {INSTALL_HINT}")
        })
}

/// A free port on 127.0.0.1 (free when asked; chromedriver takes it next).
fn free_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind a free port");
    listener.local_addr().expect("local addr").port()
}

/// chromedriver in its own process group, so that the Chromium it starts can
/// be ended with it even when a step panics before the session is closed.
struct Chromedriver {
    child: Child,
    url: String,
}

impl Chromedriver {
    fn start(log: &Path) -> Self {
        let binary = program("CHROMEDRIVER", "chromedriver");
        let port = free_port();
        let log_file = std::fs::File::create(log).expect("create the chromedriver log");
        let child = {
            use std::os::unix::process::CommandExt;
            Command::new(&binary)
                .arg(format!("--port={port}"))
                .arg("--allowed-ips=127.0.0.1")
                .stdin(Stdio::null())
                .stdout(log_file.try_clone().expect("log handle"))
                .stderr(log_file)
                .process_group(0)
                .spawn()
                .unwrap_or_else(|e| {
                    panic!("cannot start {}: {e}; {INSTALL_HINT}", binary.display())
                })
        };
        Self {
            child,
            url: format!("http://127.0.0.1:{port}"),
        }
    }

    /// Waits until chromedriver answers `/status` with `ready: true`.
    async fn wait_ready(&mut self, log: &Path) {
        let http = reqwest::Client::new();
        let deadline = Instant::now() + PATIENCE;
        loop {
            if let Ok(Some(status)) = self.child.try_wait() {
                panic!(
                    "chromedriver exited at start ({status}); its log:\n{}",
                    std::fs::read_to_string(log).unwrap_or_default()
                );
            }
            let ready = match http.get(format!("{}/status", self.url)).send().await {
                Ok(r) => r
                    .json::<Value>()
                    .await
                    .is_ok_and(|v| v["value"]["ready"] == json!(true)),
                Err(_) => false,
            };
            if ready {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "chromedriver did not become ready within {PATIENCE:?}"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

impl Drop for Chromedriver {
    fn drop(&mut self) {
        // The whole group: chromedriver and any Chromium it left behind.
        let _ = Command::new("kill")
            .args(["-TERM", "--", &format!("-{}", self.child.id())])
            .stderr(Stdio::null())
            .status();
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// One headless Chromium session and where its screenshots go.
pub(crate) struct Browser {
    client: Client,
    shots: PathBuf,
    // Dropped after the session is closed: the profile, then the driver.
    _driver: Chromedriver,
    _profile: tempfile::TempDir,
}

impl Browser {
    /// Starts chromedriver (logging to `log`) and a Chromium with a fresh
    /// profile; screenshots are written to `shots`.
    pub(crate) async fn start(shots: &Path, log: &Path) -> Self {
        std::fs::create_dir_all(shots).expect("create the screenshot directory");
        let chromium = program("CHROMIUM", "chromium");
        let mut driver = Chromedriver::start(log);
        driver.wait_ready(log).await;
        let profile = tempfile::tempdir().expect("a temp dir for the Chromium profile");
        let mut args: Vec<String> = CHROMIUM_ARGS.iter().map(|a| (*a).to_owned()).collect();
        args.push(format!("--user-data-dir={}", profile.path().display()));
        let mut caps = serde_json::Map::new();
        caps.insert("browserName".into(), json!("chrome"));
        caps.insert(
            "goog:chromeOptions".into(),
            json!({ "binary": chromium, "args": args }),
        );
        let client = ClientBuilder::new(HttpConnector::new())
            .capabilities(caps)
            .connect(&driver.url)
            .await
            .unwrap_or_else(|e| {
                panic!(
                    "chromedriver could not start Chromium ({e}); its log:\n{}",
                    std::fs::read_to_string(log).unwrap_or_default()
                )
            });
        Self {
            client,
            shots: shots.to_owned(),
            _driver: driver,
            _profile: profile,
        }
    }

    /// Ends the session (Chromium exits), then chromedriver.
    pub(crate) async fn close(self) {
        let _ = self.client.clone().close().await;
    }

    /// Navigates to `url` and waits for the page to load.
    pub(crate) async fn goto(&self, url: &str) {
        self.client
            .goto(url)
            .await
            .unwrap_or_else(|e| panic!("open {url}: {e}"));
    }

    /// The address bar.
    pub(crate) async fn url(&self) -> url::Url {
        self.client.current_url().await.expect("current URL")
    }

    /// The path (and query) of the current page.
    pub(crate) async fn path(&self) -> String {
        let url = self.url().await;
        match url.query() {
            Some(q) => format!("{}?{q}", url.path()),
            None => url.path().to_owned(),
        }
    }

    /// Waits for an element matching the CSS selector, naming `why` if it
    /// never comes.
    pub(crate) async fn find(&self, css: &str, why: &str) -> Element {
        match self
            .client
            .wait()
            .at_most(PATIENCE)
            .for_element(Locator::Css(css))
            .await
        {
            Ok(element) => element,
            Err(e) => panic!(
                "{why}: no `{css}` on {} ({e}); the page says:\n{}",
                self.url().await,
                self.text().await
            ),
        }
    }

    /// Every element matching the CSS selector, now.
    pub(crate) async fn find_all(&self, css: &str) -> Vec<Element> {
        self.client
            .find_all(Locator::Css(css))
            .await
            .unwrap_or_else(|e| panic!("find all `{css}`: {e}"))
    }

    /// Whether an element matches the CSS selector, now.
    pub(crate) async fn has(&self, css: &str) -> bool {
        !self.find_all(css).await.is_empty()
    }

    /// Types `value` into the field matching `css` (cleared first).
    pub(crate) async fn fill(&self, css: &str, value: &str) {
        let field = self.find(css, "a form field").await;
        field.clear().await.expect("clear field");
        field
            .send_keys(value)
            .await
            .unwrap_or_else(|e| panic!("type into `{css}`: {e}"));
    }

    /// Clicks the element matching `css`.
    pub(crate) async fn click(&self, css: &str, why: &str) {
        let element = self.find(css, why).await;
        element
            .click()
            .await
            .unwrap_or_else(|e| panic!("{why}: click `{css}`: {e}"));
    }

    /// Clicks `css` and waits until the browser has left the current page.
    pub(crate) async fn click_and_wait(&self, css: &str, why: &str) {
        let before = self.url().await;
        let marker = self.page_marker().await;
        self.click(css, why).await;
        self.wait_for_new_page(&before, marker, why).await;
    }

    /// Picks the `<option value>` of the `<select>` matching `css`.
    pub(crate) async fn select(&self, css: &str, value: &str) {
        self.find(css, "a select box")
            .await
            .select_by_value(value)
            .await
            .unwrap_or_else(|e| panic!("select {value} in `{css}`: {e}"));
    }

    /// The visible text of the page.
    pub(crate) async fn text(&self) -> String {
        match self.client.find(Locator::Css("body")).await {
            Ok(body) => body.text().await.unwrap_or_default(),
            Err(_) => String::new(),
        }
    }

    /// The page's HTML as the browser holds it now.
    pub(crate) async fn source(&self) -> String {
        self.client.source().await.expect("page source")
    }

    /// The trimmed text of the element matching `css`.
    pub(crate) async fn text_of(&self, css: &str, why: &str) -> String {
        self.find(css, why)
            .await
            .text()
            .await
            .expect("element text")
            .trim()
            .to_owned()
    }

    /// Saves a PNG of the whole page as `<name>.png`.
    pub(crate) async fn screenshot(&self, name: &str) -> PathBuf {
        // Grow the window to the page so the shot shows all of it.
        let sizes = self
            .client
            .execute(
                "return [document.documentElement.scrollHeight, \
                 window.outerHeight - window.innerHeight];",
                vec![],
            )
            .await
            .expect("measure the page");
        let page = sizes[0].as_u64().unwrap_or(768);
        let chrome = sizes[1].as_u64().unwrap_or(0);
        let height = u32::try_from((page + chrome).clamp(768, 4000)).unwrap_or(768);
        self.client
            .set_window_size(1024, height)
            .await
            .expect("resize the window");
        let png = self.client.screenshot().await.expect("screenshot");
        let path = self.shots.join(format!("{name}.png"));
        std::fs::write(&path, png).unwrap_or_else(|e| panic!("write {}: {e}", path.display()));
        self.client
            .set_window_size(1024, 768)
            .await
            .expect("resize the window back");
        path
    }

    /// A value the current document holds until a new one replaces it.
    async fn page_marker(&self) -> String {
        let marker = format!("oauthd-test-{}", oauthd::crypto::random_id());
        self.client
            .execute(
                "window.__oauthdTestPage = arguments[0];",
                vec![json!(marker)],
            )
            .await
            .expect("mark the page");
        marker
    }

    /// Waits until a new document (not the marked one) has loaded.
    async fn wait_for_new_page(&self, before: &url::Url, marker: String, why: &str) {
        let deadline = Instant::now() + PATIENCE;
        loop {
            let state = self
                .client
                .execute(
                    "return [window.__oauthdTestPage || null, document.readyState];",
                    vec![],
                )
                .await;
            if let Ok(v) = state
                && v[0] != json!(marker)
                && v[1] == json!("complete")
            {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "{why}: still on {before} after {PATIENCE:?}"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}
