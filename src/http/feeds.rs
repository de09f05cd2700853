//! On-call calendar feeds: `GET /v1/schedules/{name}.ics?token=...` (a schedule's shifts) and
//! `GET /v1/people/{discord id}.ics?token=...` (one person's, across schedules). Calendar
//! apps cannot send a bearer header, so the token is in the query string; it is a read-only
//! token of that one feed (`warroom feed` prints the URL), never an API token.

use std::sync::Arc;

use axum::Router;
use axum::extract::{Path, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde::Deserialize;

use super::AppState;
use super::error::{ApiError, ApiQuery};
use crate::ops::FeedError;

pub(super) fn routes() -> Router<Arc<AppState>> {
    Router::new()
        .route("/v1/schedules/{file}", get(schedule))
        .route("/v1/people/{file}", get(person))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct FeedQuery {
    #[serde(default)]
    token: String,
    #[serde(default)]
    weeks: Option<u32>,
}

/// `NAME.ics` → `NAME`.
fn feed_name(file: &str) -> Result<&str, ApiError> {
    file.strip_suffix(".ics")
        .filter(|name| !name.is_empty())
        .ok_or_else(|| {
            ApiError::new(
                StatusCode::NOT_FOUND,
                format!(
                    "`{file}` is not a feed; feeds end in .ics, e.g. /v1/schedules/primary.ics"
                ),
            )
        })
}

async fn schedule(
    State(state): State<Arc<AppState>>,
    Path(file): Path<String>,
    ApiQuery(query): ApiQuery<FeedQuery>,
) -> Result<Response, ApiError> {
    let name = feed_name(&file)?;
    let calendar = state
        .ops
        .schedule_feed(name, &query.token, query.weeks)
        .await
        .map_err(feed_error)?;
    Ok(calendar_response(calendar))
}

async fn person(
    State(state): State<Arc<AppState>>,
    Path(file): Path<String>,
    ApiQuery(query): ApiQuery<FeedQuery>,
) -> Result<Response, ApiError> {
    let id = feed_name(&file)?;
    let user_id = id.parse::<u64>().ok().filter(|id| *id > 0).ok_or_else(|| {
        ApiError::new(
            StatusCode::NOT_FOUND,
            format!("`{id}` is not a Discord user id; the person feed is /v1/people/<id>.ics"),
        )
    })?;
    let calendar = state
        .ops
        .person_feed(user_id, &query.token, query.weeks)
        .await
        .map_err(feed_error)?;
    Ok(calendar_response(calendar))
}

fn feed_error(error: FeedError) -> ApiError {
    let status = match error {
        FeedError::NotConfigured | FeedError::NoSuchSchedule(_) => StatusCode::NOT_FOUND,
        FeedError::BadToken => StatusCode::UNAUTHORIZED,
        FeedError::BadWeeks => StatusCode::BAD_REQUEST,
        FeedError::Store(_) => StatusCode::SERVICE_UNAVAILABLE,
    };
    ApiError::new(status, error.to_string())
}

fn calendar_response(calendar: String) -> Response {
    let mut response = (StatusCode::OK, calendar).into_response();
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/calendar; charset=utf-8"),
    );
    // The URL holds the token: keep it out of shared caches and referrers.
    headers.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("private, max-age=300"),
    );
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    response
}
