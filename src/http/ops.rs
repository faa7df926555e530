//! Operations endpoints: liveness, readiness and metrics.

use axum::Json;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::http::StatusCode;
use axum::http::header::{ACCEPT, CACHE_CONTROL, CONTENT_TYPE};
use axum::response::IntoResponse;
use serde_json::{Value, json};

use crate::http::state::AppState;
use crate::store::Db;

/// `GET /healthz`: the process is up and answering.
pub async fn healthz() -> Json<Value> {
    Json(json!({"status": "ok"}))
}

/// `GET /readyz`: the database answers a query, on a pooled connection as
/// requests get one (health check included), within the acquire timeout;
/// 503 otherwise, e.g. while the network under the pool is silent.
pub async fn readyz(State(db): State<Db>) -> (StatusCode, Json<Value>) {
    match db.ping().await {
        Ok(()) => (StatusCode::OK, Json(json!({"status": "ready"}))),
        Err(e) => {
            tracing::warn!(error = %e, "readiness check failed");
            (
                StatusCode::SERVICE_UNAVAILABLE,
                Json(json!({"status": "unavailable", "reason": "database unreachable"})),
            )
        }
    }
}

/// `GET /metrics`: every metric, in OpenMetrics text when the scraper asks
/// for it (Prometheus does), else in the Prometheus text format.
pub async fn metrics(State(state): State<AppState>, headers: HeaderMap) -> impl IntoResponse {
    let accept = headers
        .get(ACCEPT)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let (media_type, text) = state.metrics.render(&state.db, accept);
    (
        [(CONTENT_TYPE, media_type), (CACHE_CONTROL, "no-store")],
        text,
    )
}
