//! The served OpenAPI document and the checked-in `openapi.json` agree.

use std::path::Path;

use serde_json::Value;

use crate::both_backends;
use crate::support::{Backend, TestApp};

both_backends!(served_openapi_document_matches_the_checked_in_file);

const REGENERATE: &str = "UPDATE_OPENAPI=1 cargo test --test it openapi";

async fn served_openapi_document_matches_the_checked_in_file(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let response = app.http.get(app.url("/openapi.json")).send().await.unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(
        response.headers()["content-type"].to_str().unwrap(),
        "application/json"
    );
    let served = response.text().await.unwrap();
    let parsed: Value = serde_json::from_str(&served).unwrap();
    assert_eq!(parsed["openapi"], "3.1.0");
    assert_eq!(
        served,
        oauthd::http::openapi::pretty(),
        "the served document is the library's, pretty-printed"
    );

    let file = Path::new(env!("CARGO_MANIFEST_DIR")).join("openapi.json");
    if std::env::var_os("UPDATE_OPENAPI").is_some() {
        std::fs::write(&file, &served).unwrap();
        return;
    }
    let checked_in = std::fs::read_to_string(&file).unwrap_or_default();
    assert!(
        checked_in == served,
        "openapi.json differs from the document the server serves at /openapi.json.\n\
         Regenerate it with `{REGENERATE}` and commit the result."
    );
}
