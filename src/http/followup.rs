//! The REST API of the post-incident follow-up (SPEC §3): `GET/POST /v1/incidents/{id}/review`
//! and `GET/POST /v1/incidents/{id}/actions`, `POST /v1/incidents/{id}/actions/{item}/done`,
//! calling the same use cases as `/incident review|action` and the CLI.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;

use super::AppState;
use super::error::{ApiError, ApiQuery, decode, json_body};
use crate::domain::IncidentId;
use crate::ops::{ActionRequest, ReviewRequest};

pub(super) fn routes() -> Router<Arc<AppState>> {
    Router::new()
        .route("/v1/incidents/{id}/review", get(show_review).post(review))
        .route(
            "/v1/incidents/{id}/actions",
            get(list_actions).post(add_action),
        )
        .route(
            "/v1/incidents/{id}/actions/{item}/done",
            post(finish_action),
        )
        .route("/v1/reports", get(report))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ReportParams {
    since: Option<String>,
    service: Option<String>,
    severity: Option<String>,
    /// `json` (the default) or `html`; without it, `Accept: text/html` asks for the page.
    format: Option<String>,
}

/// Whether the report is asked for as the HTML page: `?format=html`, or else an `Accept`
/// header naming `text/html` (as a browser's does). JSON stays the default.
fn wants_html(format: Option<&str>, headers: &HeaderMap) -> Result<bool, ApiError> {
    match format.map(|format| format.trim().to_ascii_lowercase()) {
        Some(format) if format == "html" => Ok(true),
        Some(format) if format == "json" => Ok(false),
        Some(format) => Err(ApiError::bad_request(format!(
            "query parameter `format`: `{format}` is not a report format; use json or html"
        ))),
        None => Ok(headers
            .get_all(header::ACCEPT)
            .iter()
            .filter_map(|value| value.to_str().ok())
            .flat_map(|value| value.split(','))
            .any(|media| {
                media
                    .split(';')
                    .next()
                    .is_some_and(|media| media.trim().eq_ignore_ascii_case("text/html"))
            })),
    }
}

async fn report(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    ApiQuery(params): ApiQuery<ReportParams>,
) -> Result<Response, ApiError> {
    let who = state.principal(&headers)?;
    let html = wants_html(params.format.as_deref(), &headers)?;
    let query = crate::ops::ReportQuery {
        since: params.since,
        service: params.service,
        severity: params.severity,
    };
    let report = state.ops.report(&who, &query).await?;
    let mut response = if html {
        let page = crate::export::report_html(&report)
            .map_err(|error| ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, error))?;
        super::status_page::with_type(page, "text/html; charset=utf-8")
    } else {
        Json(report).into_response()
    };
    // One URL, two bodies: caches must key on what was asked for.
    response
        .headers_mut()
        .insert(header::VARY, HeaderValue::from_static("accept"));
    Ok(response)
}

type Body = Result<Bytes, BytesRejection>;

fn incident_id(text: &str) -> Result<IncidentId, ApiError> {
    text.parse::<IncidentId>()
        .map_err(|error| ApiError::bad_request(error.to_string()))
}

async fn show_review(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let who = state.principal(&headers)?;
    let id = incident_id(&id)?;
    match state.ops.show_review(&who, id).await? {
        Some(review) => Ok(Json(review).into_response()),
        None => Err(ApiError::new(
            StatusCode::NOT_FOUND,
            format!("{id} has no review yet; its review is created when it is resolved"),
        )),
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ReviewBody {
    when: Option<String>,
    owner: Option<String>,
    #[serde(default)]
    done: bool,
}

async fn review(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    Path(id): Path<String>,
    body: Body,
) -> Result<Response, ApiError> {
    let who = state.principal(&headers)?;
    let body: ReviewBody = decode(&json_body(&headers, body, false)?)?;
    let request = ReviewRequest {
        when: body.when,
        owner: body.owner,
        done: body.done,
    };
    let review = state.ops.review(&who, incident_id(&id)?, request).await?;
    Ok(Json(review).into_response())
}

async fn list_actions(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let who = state.principal(&headers)?;
    let items = state.ops.action_items(&who, incident_id(&id)?).await?;
    Ok(Json(items).into_response())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ActionBody {
    text: String,
    /// A Discord user id (a string: ids exceed what JSON numbers hold exactly).
    owner: String,
    due: String,
}

async fn add_action(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    Path(id): Path<String>,
    body: Body,
) -> Result<Response, ApiError> {
    let who = state.principal(&headers)?;
    let body: ActionBody = decode(&json_body(&headers, body, false)?)?;
    let request = ActionRequest {
        text: body.text,
        owner: body.owner,
        due: body.due,
    };
    let item = state
        .ops
        .add_action_item(&who, incident_id(&id)?, request)
        .await?;
    Ok((StatusCode::CREATED, Json(item)).into_response())
}

async fn finish_action(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    Path((id, item)): Path<(String, String)>,
) -> Result<Response, ApiError> {
    let who = state.principal(&headers)?;
    let number = item.trim().trim_start_matches('#').parse::<i64>().map_err(|_| {
        ApiError::bad_request(format!("`{item}` is not an action item number; use the number `GET /v1/incidents/{id}/actions` shows"))
    })?;
    let item = state
        .ops
        .finish_action_item(&who, incident_id(&id)?, number)
        .await?;
    Ok(Json(item).into_response())
}
