//! Heartbeats and maintenance windows over HTTP: `POST /v1/heartbeats/{name}` (a token
//! holding `heartbeat_sender`; 404 for a name not in [heartbeats]), and
//! `GET/POST /v1/maintenance`, `DELETE /v1/maintenance/{id}` (incident commanders to change,
//! any token to list).

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::json;

use super::AppState;
use super::error::{ApiError, decode, json_body};
use crate::ops::MaintenanceRequest;

pub(super) fn routes() -> Router<Arc<AppState>> {
    Router::new()
        .route("/v1/heartbeats/{name}", post(heartbeat))
        .route("/v1/maintenance", get(list).post(start))
        .route("/v1/maintenance/{id}", delete(end))
}

async fn heartbeat(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    Path(name): Path<String>,
) -> Result<Response, ApiError> {
    let who = state.principal(&headers)?;
    let beat = state.ops.heartbeat(&who, &name).await?;
    Ok(Json(json!({
        "heartbeat": beat.name,
        "next_deadline": beat.next_deadline,
        "recovered": beat.recovered,
    }))
    .into_response())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct StartBody {
    /// A service, or `route:<name>`.
    target: String,
    /// How long: `2h`.
    #[serde(rename = "for")]
    duration: String,
    reason: String,
    #[serde(default)]
    start_at: Option<String>,
}

async fn start(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    let who = state.principal(&headers)?;
    let body: StartBody = decode(&json_body(&headers, body, false)?)?;
    let window = state
        .ops
        .start_maintenance(
            &who,
            MaintenanceRequest {
                target: body.target,
                duration: body.duration,
                reason: body.reason,
                start_at: body.start_at,
            },
        )
        .await?;
    Ok((StatusCode::CREATED, Json(window)).into_response())
}

async fn list(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    state.principal(&headers)?;
    let windows = state.ops.maintenance_windows().await?;
    Ok(Json(json!({"windows": windows})).into_response())
}

async fn end(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let who = state.principal(&headers)?;
    let id: i64 = id.trim().parse().map_err(|_| {
        ApiError::bad_request(format!(
            "`{id}` is not a window number; GET /v1/maintenance lists them"
        ))
    })?;
    let window = state.ops.end_maintenance(&who, id).await?;
    Ok(Json(window).into_response())
}
