//! The REST API for what is recorded during an incident (SPEC §3): ticking the checklist,
//! the recovery point, and resolving with the checklist in mind (`"force": true` to resolve
//! with items unticked). Same `ops` use cases, same JSON shapes as the rest of the API.

use std::sync::Arc;

use axum::Json;
use axum::Router;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use serde::Deserialize;
use serde_json::json;

use super::AppState;
use super::api::{Body, changed, incident_id};
use super::error::{ApiError, decode, json_body};
use crate::ops::RpoRequest;

pub(super) fn routes() -> Router<Arc<AppState>> {
    Router::new()
        .route("/v1/incidents/{id}/resolve", post(resolve))
        .route("/v1/incidents/{id}/checklist", post(check).get(checklist))
        .route("/v1/incidents/{id}/rpo", post(rpo))
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct ResolveBody {
    #[serde(default)]
    summary: Option<String>,
    /// Resolve although checklist items are unticked.
    #[serde(default)]
    force: bool,
}

async fn resolve(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    Path(id): Path<String>,
    body: Body,
) -> Result<Response, ApiError> {
    let who = state.principal(&headers)?;
    let bytes = json_body(&headers, body, true)?;
    let body: ResolveBody = if bytes.is_empty() {
        ResolveBody::default()
    } else {
        decode(&bytes)?
    };
    let written = state
        .ops
        .resolve_checked(&who, incident_id(&id)?, body.summary.as_deref(), body.force)
        .await?;
    Ok(changed(StatusCode::OK, written))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CheckBody {
    item: String,
    #[serde(default)]
    undo: bool,
}

async fn check(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    Path(id): Path<String>,
    body: Body,
) -> Result<Response, ApiError> {
    let who = state.principal(&headers)?;
    let body: CheckBody = decode(&json_body(&headers, body, false)?)?;
    let written = state
        .ops
        .check_item(&who, incident_id(&id)?, &body.item, body.undo)
        .await?;
    Ok(changed(StatusCode::CREATED, written))
}

/// `GET`: each item with who ticked it when (`ticked` is null while unticked).
async fn checklist(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let who = state.principal(&headers)?;
    let (incident, items) = state.ops.checklist(&who, incident_id(&id)?).await?;
    Ok(Json(json!({
        "incident": incident.id,
        "service": incident.service,
        "progress": crate::domain::checklist_progress(&items),
        "items": items,
    }))
    .into_response())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RpoBody {
    #[serde(default)]
    restored_from: Option<String>,
    #[serde(default)]
    no_data_lost: bool,
    #[serde(default)]
    note: Option<String>,
}

async fn rpo(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    Path(id): Path<String>,
    body: Body,
) -> Result<Response, ApiError> {
    let who = state.principal(&headers)?;
    let body: RpoBody = decode(&json_body(&headers, body, false)?)?;
    let request = RpoRequest {
        restored_from: body.restored_from,
        no_data_lost: body.no_data_lost,
        note: body.note,
    };
    let written = state
        .ops
        .record_rpo(&who, incident_id(&id)?, request)
        .await?;
    Ok(changed(StatusCode::CREATED, written))
}
