//! Operations endpoints: liveness, readiness and metrics.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::http::header::{CACHE_CONTROL, CONTENT_TYPE};
use axum::response::IntoResponse;
use serde_json::{Value, json};

use crate::http::state::AppState;
use crate::store::Db;

/// `GET /healthz`: the process is up and answering.
pub async fn healthz() -> Json<Value> {
    Json(json!({"status": "ok"}))
}

/// `GET /readyz`: the database answers a query; 503 otherwise.
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

/// `GET /metrics`: every metric in OpenMetrics text, for Prometheus.
pub async fn metrics(State(state): State<AppState>) -> impl IntoResponse {
    (
        [
            (CONTENT_TYPE, crate::metrics::CONTENT_TYPE),
            (CACHE_CONTROL, "no-store"),
        ],
        state.metrics.render(&state.db),
    )
}
