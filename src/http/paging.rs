//! `POST /v1/page`: page a user, a bot role, a schedule, a notifier or a whole policy for an
//! incident without Discord (`{"incident": 12 | "INC-12", "target": "user:<id>" |
//! "role:<r>" | "schedule:<s>" | "notifier:<n>" | "policy:<p>", "message"?}`). The same use
//! case as `/page` in Discord and `warroom page`, so the same rules (responders; not for a
//! resolved incident) and the same events; the engine sends it like any page. 202: the page
//! is in the outbox, and its `page_sent` or `page_failed` follows on the timeline.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::State;
use axum::extract::rejection::BytesRejection;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::json;

use super::AppState;
use super::error::{ApiError, decode, json_body};
use crate::domain::IncidentId;
use crate::ops::PageRequest;

pub(super) fn routes() -> Router<Arc<AppState>> {
    Router::new().route("/v1/page", post(page))
}

/// `12` or `"INC-12"`.
#[derive(Deserialize)]
#[serde(untagged)]
enum IncidentRef {
    Number(i64),
    Text(String),
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PageBody {
    incident: IncidentRef,
    target: String,
    #[serde(default)]
    message: Option<String>,
}

async fn page(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    let who = state.principal(&headers)?;
    let body: PageBody = decode(&json_body(&headers, body, false)?)?;
    let id = match body.incident {
        IncidentRef::Number(number) if number > 0 => IncidentId(number),
        IncidentRef::Number(number) => {
            return Err(ApiError::bad_request(format!(
                "incident: {number} is not an incident number; write 12 or \"INC-12\""
            )));
        }
        IncidentRef::Text(text) => text
            .parse::<IncidentId>()
            .map_err(|error| ApiError::bad_request(format!("incident: {error}")))?,
    };
    let request = PageRequest::parse(&body.target)
        .map_err(|error| ApiError::bad_request(format!("target: {error}")))?;
    let paged = state
        .ops
        .page(&who, id, request, body.message.as_deref())
        .await?;
    Ok((
        StatusCode::ACCEPTED,
        Json(json!({"incident": paged.incident, "summary": paged.summary})),
    )
        .into_response())
}
