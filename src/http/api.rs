//! The REST API (SPEC §3): what the slash commands do, for when Discord itself is down. Each
//! handler authenticates its token into a `Principal` (the token's bot roles) and calls the
//! same `ops` use case as Discord and the CLI, so the same permission rules apply. Shapes are
//! the CLI's stable JSON: `Incident`, `Event`, and `{"incident", "events"}` for changes.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{MethodRouter, get, post};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::json;

use super::AppState;
use super::error::{ApiError, ApiQuery, decode, json_body};
use crate::domain::{Actor, IncidentId, Run, RunId, RunState, Source, Status};
use crate::export::Format;
use crate::ops::{OpenRequest, Requested, RunRequest, TIMELINE_PAGE};
use crate::store::{IncidentFilter, Written};

/// Most incidents one list returns; `limit` asks for fewer.
const LIST_LIMIT: u32 = 500;

/// Incidents a list returns when `limit` is not given.
const LIST_DEFAULT: u32 = 50;

pub(super) fn routes() -> Router<Arc<AppState>> {
    Router::new()
        .route("/v1/incidents", get(list).post(create))
        .route("/v1/incidents/{id}", get(show))
        .route("/v1/incidents/{id}/ack", change(Change::Acknowledge))
        .route("/v1/incidents/{id}/mitigate", change(Change::Mitigate))
        .route("/v1/incidents/{id}/reopen", change(Change::Reopen))
        .route("/v1/incidents/{id}/notes", change(Change::Note))
        .route("/v1/incidents/{id}/updates", change(Change::Update))
        .route("/v1/incidents/{id}/severity", post(severity))
        .route("/v1/incidents/{id}/roles", post(assign))
        .route("/v1/incidents/{id}/timeline", get(timeline))
        .route("/v1/incidents/{id}/export", get(export))
        .route("/v1/runs", post(request_run))
        .route("/v1/runs/{id}", get(show_run))
        .route("/v1/runs/{id}/approve", post(approve_run))
        .route("/v1/runs/{id}/deny", post(deny_run))
}

pub(super) type Body = Result<Bytes, BytesRejection>;

pub(super) fn incident_id(text: &str) -> Result<IncidentId, ApiError> {
    text.parse::<IncidentId>()
        .map_err(|error| ApiError::bad_request(error.to_string()))
}

fn number(name: &str, value: &str) -> Result<i64, ApiError> {
    value.parse::<i64>().map_err(|_| {
        ApiError::bad_request(format!(
            "query parameter `{name}`: `{value}` is not a number"
        ))
    })
}

pub(super) fn changed(status: StatusCode, written: Written) -> Response {
    (
        status,
        Json(json!({"incident": written.incident, "events": written.events})),
    )
        .into_response()
}

/// `GET /v1/incidents` query parameters.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ListQuery {
    /// Comma-separated statuses.
    status: Option<String>,
    search: Option<String>,
    limit: Option<String>,
}

async fn list(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    ApiQuery(query): ApiQuery<ListQuery>,
) -> Result<Response, ApiError> {
    let who = state.principal(&headers)?;
    let mut filter = IncidentFilter {
        limit: Some(LIST_DEFAULT),
        search: query.search,
        ..IncidentFilter::default()
    };
    for status in query.status.iter().flat_map(|text| text.split(',')) {
        if status.trim().is_empty() {
            continue;
        }
        filter.statuses.push(
            status
                .parse::<Status>()
                .map_err(|error| ApiError::bad_request(error.to_string()))?,
        );
    }
    if let Some(limit) = &query.limit {
        let limit = number("limit", limit)?;
        if !(1..=i64::from(LIST_LIMIT)).contains(&limit) {
            return Err(ApiError::bad_request(format!(
                "query parameter `limit`: {limit} is not between 1 and {LIST_LIMIT}"
            )));
        }
        filter.limit = Some(u32::try_from(limit).unwrap_or(LIST_LIMIT));
    }
    let incidents = state.ops.list(&who, &filter).await?;
    Ok(Json(incidents).into_response())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CreateBody {
    title: String,
    severity: String,
    #[serde(default)]
    service: Option<String>,
    #[serde(default)]
    description: Option<String>,
    #[serde(default)]
    drill: bool,
    /// Only principals holding `[incidents] private_roles` see it (and may ask for it).
    #[serde(default)]
    private: bool,
}

async fn create(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    let who = state.principal(&headers)?;
    let body: CreateBody = decode(&json_body(&headers, body, false)?)?;
    let written = state
        .ops
        .open(
            &who,
            Source::Api,
            OpenRequest {
                title: body.title,
                severity: body.severity,
                service: body.service,
                description: body.description.unwrap_or_default(),
                drill: body.drill,
                private: body.private,
            },
        )
        .await?;
    let location = format!("/v1/incidents/{}", written.incident.id.0);
    let mut response = changed(StatusCode::CREATED, written);
    if let Ok(location) = HeaderValue::from_str(&location) {
        response.headers_mut().insert(header::LOCATION, location);
    }
    Ok(response)
}

async fn show(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let who = state.principal(&headers)?;
    let incident = state.ops.show(&who, incident_id(&id)?).await?;
    Ok(Json(json!({"incident": incident})).into_response())
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct TextBody {
    #[serde(default)]
    note: Option<String>,
    #[serde(default)]
    summary: Option<String>,
    #[serde(default)]
    reason: Option<String>,
    #[serde(default)]
    text: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct EmptyBody {}

/// Reads an optional-text body whose only field is `field`.
fn text_field(headers: &HeaderMap, body: Body, field: &str) -> Result<Option<String>, ApiError> {
    let body: TextBody = decode(&json_body(headers, body, true)?)?;
    let (value, others) = match field {
        "note" => (body.note, [body.summary, body.reason, body.text]),
        "summary" => (body.summary, [body.note, body.reason, body.text]),
        "reason" => (body.reason, [body.note, body.summary, body.text]),
        _ => (body.text, [body.note, body.summary, body.reason]),
    };
    if others.iter().any(Option::is_some) {
        return Err(ApiError::bad_request(format!(
            "this endpoint takes only `{field}` in its body"
        )));
    }
    Ok(value)
}

/// The incident changes whose bodies are at most one text field: one handler serves them all.
#[derive(Clone, Copy, Debug)]
enum Change {
    Acknowledge,
    Mitigate,
    Reopen,
    Note,
    Update,
}

impl Change {
    /// The body's one field, if the change takes one, and whether it is required.
    fn field(self) -> Option<(&'static str, bool)> {
        match self {
            Change::Acknowledge => None,
            Change::Mitigate => Some(("note", false)),
            Change::Reopen => Some(("reason", false)),
            Change::Note | Change::Update => Some(("text", true)),
        }
    }

    /// Notes and updates add to the timeline (201); the others change the incident (200).
    fn status(self) -> StatusCode {
        match self {
            Change::Note | Change::Update => StatusCode::CREATED,
            _ => StatusCode::OK,
        }
    }
}

/// `POST` of `change`, as a route.
fn change(change: Change) -> MethodRouter<Arc<AppState>> {
    post(
        move |state: State<Arc<AppState>>, headers: HeaderMap, id: Path<String>, body: Body| {
            apply_change(change, state, headers, id, body)
        },
    )
}

async fn apply_change(
    change: Change,
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    Path(id): Path<String>,
    body: Body,
) -> Result<Response, ApiError> {
    let who = state.principal(&headers)?;
    let text = match change.field() {
        None => {
            let _: EmptyBody = decode(&json_body(&headers, body, true)?)?;
            None
        }
        Some((field, required)) => {
            let text = text_field(&headers, body, field)?;
            if required && text.is_none() {
                return Err(ApiError::bad_request(format!("missing field `{field}`")));
            }
            text
        }
    };
    let id = incident_id(&id)?;
    let text = text.as_deref();
    let ops = &state.ops;
    let written = match change {
        Change::Acknowledge => ops.acknowledge(&who, id).await?,
        Change::Mitigate => ops.mitigate(&who, id, text).await?,
        Change::Reopen => ops.reopen(&who, id, text).await?,
        Change::Note => ops.add_note(&who, id, text.unwrap_or_default()).await?,
        Change::Update => {
            ops.post_status_update(&who, id, text.unwrap_or_default())
                .await?
        }
    };
    Ok(changed(change.status(), written))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SeverityBody {
    severity: String,
}

async fn severity(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    Path(id): Path<String>,
    body: Body,
) -> Result<Response, ApiError> {
    let who = state.principal(&headers)?;
    let body: SeverityBody = decode(&json_body(&headers, body, false)?)?;
    let written = state
        .ops
        .change_severity(&who, incident_id(&id)?, &body.severity)
        .await?;
    Ok(changed(StatusCode::OK, written))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct AssignBody {
    role: String,
    /// The Discord user id of the person, as a string of digits.
    user_id: String,
    #[serde(default)]
    name: Option<String>,
}

async fn assign(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    Path(id): Path<String>,
    body: Body,
) -> Result<Response, ApiError> {
    let who = state.principal(&headers)?;
    let body: AssignBody = decode(&json_body(&headers, body, false)?)?;
    let user_id = body
        .user_id
        .trim()
        .parse::<u64>()
        .ok()
        .filter(|id| *id > 0)
        .ok_or_else(|| {
            ApiError::bad_request(format!(
                "user_id: `{}` is not a Discord user id (digits, copied with Developer Mode on)",
                body.user_id
            ))
        })?;
    let name = body.name.unwrap_or_else(|| user_id.to_string());
    let written = state
        .ops
        .assign_role(
            &who,
            incident_id(&id)?,
            &body.role,
            Actor::discord(user_id, name),
        )
        .await?;
    Ok(changed(StatusCode::OK, written))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct TimelineQuery {
    after: Option<String>,
}

async fn timeline(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    Path(id): Path<String>,
    ApiQuery(query): ApiQuery<TimelineQuery>,
) -> Result<Response, ApiError> {
    let who = state.principal(&headers)?;
    let id = incident_id(&id)?;
    let after = match &query.after {
        Some(after) => number("after", after)?.max(0),
        None => 0,
    };
    let events = state.ops.timeline_page(&who, id, after).await?;
    let next_after = if events.len() == usize::try_from(TIMELINE_PAGE).unwrap_or(0) {
        events.last().map(|event| event.seq)
    } else {
        None
    };
    Ok(Json(json!({"events": events, "next_after": next_after})).into_response())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ExportQuery {
    format: Option<String>,
}

async fn export(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    Path(id): Path<String>,
    ApiQuery(query): ApiQuery<ExportQuery>,
) -> Result<Response, ApiError> {
    let who = state.principal(&headers)?;
    let id = incident_id(&id)?;
    let format = match &query.format {
        Some(format) => format.parse::<Format>().map_err(|message| {
            ApiError::bad_request(format!("query parameter `format`: {message}"))
        })?,
        None => Format::Markdown,
    };
    let mut document = Vec::new();
    state.ops.export(&who, id, format, &mut document).await?;
    let content_type = match format {
        Format::Markdown => "text/markdown; charset=utf-8",
        Format::Json => "application/json",
        Format::Html => "text/html; charset=utf-8",
    };
    let disposition = format!(
        "attachment; filename=\"INC-{}.{}\"",
        id.0,
        format.file_extension()
    );
    let mut response = document.into_response();
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    if let Ok(disposition) = HeaderValue::from_str(&disposition) {
        headers.insert(header::CONTENT_DISPOSITION, disposition);
    }
    Ok(response)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RunBody {
    command: String,
    /// `key=value …`, as in `/run`.
    #[serde(default)]
    args: String,
    #[serde(default)]
    dry_run: bool,
    /// The incident the run is for; commands with `requires_incident` need one.
    #[serde(default)]
    incident: Option<i64>,
}

fn run_id(text: &str) -> Result<RunId, ApiError> {
    text.parse::<RunId>().map_err(ApiError::bad_request)
}

/// Starts an approved run in the background; its progress is on the incident timeline and at
/// `GET /v1/runs/{id}`. The claim inside `execute_run` keeps it to one start.
fn start(state: &AppState, run: &Run) {
    let ops = state.ops.clone();
    let id = run.id;
    tokio::spawn(async move {
        if let Err(error) = ops.execute_run(id, &mut |_| {}).await {
            tracing::warn!(run = %id, %error, "a run requested through the API did not run");
        }
    });
}

fn run_response(status: StatusCode, run: &Run) -> Response {
    let mut response = (status, Json(json!({"run": run}))).into_response();
    if let Ok(location) = HeaderValue::from_str(&format!("/v1/runs/{}", run.id.0)) {
        response.headers_mut().insert(header::LOCATION, location);
    }
    response
}

/// Requests a run of an approved command, under the rules of `/run`: the token's roles must
/// allow the command, values are validated, a refusal is recorded (403 with the reason), and
/// a command that needs approval waits for a second person (202, `requested`).
async fn request_run(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    let who = state.principal(&headers)?;
    let body: RunBody = decode(&json_body(&headers, body, false)?)?;
    let request = RunRequest {
        command: body.command,
        args: body.args,
        dry_run: body.dry_run,
        incident: body.incident.map(IncidentId),
        channel_id: None,
    };
    Ok(match state.ops.request_run(&who, request).await? {
        Requested::Denied(run) => {
            let message = format!(
                "{} was refused: {}; nothing ran, and the refusal is recorded",
                run.id,
                run.reason.as_deref().unwrap_or("not allowed")
            );
            (
                StatusCode::FORBIDDEN,
                Json(json!({"error": message, "run": run})),
            )
                .into_response()
        }
        Requested::AwaitingApproval(run) => run_response(StatusCode::ACCEPTED, &run),
        Requested::Ready(run) => {
            start(&state, &run);
            run_response(StatusCode::ACCEPTED, &run)
        }
    })
}

/// Approves a run: never by its requester, only with an approving role, only in time. The run
/// starts here once enough people approved.
async fn approve_run(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    Path(id): Path<String>,
    body: Body,
) -> Result<Response, ApiError> {
    let who = state.principal(&headers)?;
    let _: EmptyBody = decode(&json_body(&headers, body, true)?)?;
    let run = state.ops.approve_run(&who, run_id(&id)?).await?;
    if run.state == RunState::Approved {
        start(&state, &run);
    }
    Ok(run_response(StatusCode::OK, &run))
}

async fn deny_run(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    Path(id): Path<String>,
    body: Body,
) -> Result<Response, ApiError> {
    let who = state.principal(&headers)?;
    let reason = text_field(&headers, body, "reason")?;
    let run = state
        .ops
        .deny_run(&who, run_id(&id)?, reason.as_deref())
        .await?;
    Ok(run_response(StatusCode::OK, &run))
}

/// A run and its audit trail.
async fn show_run(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    state.principal(&headers)?;
    let (run, audit) = state.ops.show_run(run_id(&id)?).await?;
    Ok(Json(json!({"run": run, "audit": audit})).into_response())
}
