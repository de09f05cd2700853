//! The HTTP face (axum): health and readiness, alert ingestion (`alerts.rs`), the REST API
//! (`api.rs`) and Prometheus metrics. Handlers parse, authenticate a bearer token into a
//! `Principal`, call `ops` and render; every refusal is a 4xx with `{"error": "..."}`.

mod ack;
mod alerts;
mod api;
mod cover;
mod during;
mod error;
mod feeds;
mod followup;
mod paging;
mod serve;
mod status_page;
mod tokens;
mod webhooks;

use std::sync::Arc;
use std::time::Instant;

use axum::extract::{DefaultBodyLimit, MatchedPath, Request, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, Uri, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde_json::json;
use tokio::sync::watch;

use crate::domain::GatewayState;
use crate::ops::{Ops, Principal};

pub use crate::config::{ApiToken, MIN_TOKEN_CHARS};
pub use error::ApiError;
pub use serve::{Limits, serve};

/// The largest request body accepted. An Alertmanager group of a thousand alerts with the
/// usual labels and annotations is a few hundred KiB; more is a mistake or an attack.
pub const MAX_BODY_BYTES: usize = 1024 * 1024;

#[derive(Clone, Debug)]
pub struct AppState {
    pub ops: Ops,
    /// This process's part in holding the Discord gateway.
    pub gateway: watch::Receiver<GatewayState>,
    /// This process, as leases and claims name it (`host/pid/start/n`).
    pub instance: String,
}

impl AppState {
    /// The principal of the request's bearer token: 401 without a known one.
    fn principal(&self, headers: &HeaderMap) -> Result<Principal, ApiError> {
        let presented = bearer(headers)?.ok_or_else(|| {
            ApiError::unauthorized(
                "missing token: send `Authorization: Bearer <token>` with a token from [api_tokens]",
            )
        })?;
        self.principal_for(presented)
    }

    fn principal_for(&self, presented: &str) -> Result<Principal, ApiError> {
        tokens::find(&self.ops.config().api_tokens, presented)
            .map(tokens::principal)
            .ok_or_else(|| {
                ApiError::unauthorized(
                    "the token is not valid: it matches no configured [api_tokens] entry whose variable is set",
                )
            })
    }
}

/// The bearer token of the `Authorization` header, if there is one.
fn bearer(headers: &HeaderMap) -> Result<Option<&str>, ApiError> {
    let Some(value) = headers.get(header::AUTHORIZATION) else {
        return Ok(None);
    };
    let value = value.to_str().map_err(|_| {
        ApiError::unauthorized(
            "the Authorization header is not readable text; send `Bearer <token>`",
        )
    })?;
    let (scheme, token) = value.trim().split_once(' ').unwrap_or((value, ""));
    if !scheme.eq_ignore_ascii_case("bearer") || token.trim().is_empty() {
        return Err(ApiError::unauthorized(
            "the Authorization header must be `Bearer <token>`",
        ));
    }
    Ok(Some(token.trim()))
}

pub fn router(state: Arc<AppState>) -> Router {
    for token in &state.ops.config().api_tokens {
        if !token.is_ready() {
            tracing::warn!(
                token = %token.name,
                "${} is not set: requests with the API token `{}` are refused until it is",
                token.token_env,
                token.name
            );
        }
    }
    crate::metrics::describe_notifiers(
        state
            .ops
            .config()
            .notifiers
            .iter()
            .map(|notifier| notifier.name.as_str()),
    );
    Router::new()
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics))
        .route("/v1/alerts/alertmanager", post(alerts::alertmanager))
        .route("/v1/alerts/grafana", post(alerts::grafana))
        .route("/v1/alerts/generic", post(alerts::generic))
        .route("/v1/enqueue", post(alerts::enqueue))
        .merge(api::routes())
        .merge(during::routes())
        .merge(ack::routes())
        .merge(webhooks::routes())
        .merge(paging::routes())
        .merge(feeds::routes())
        .merge(cover::routes())
        .merge(followup::routes())
        .merge(status_page::routes())
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        .layer(middleware::from_fn_with_state(
            state.ops.config().http.body_read_timeout,
            read_body,
        ))
        .layer(middleware::from_fn(measure))
        .with_state(state)
}

/// Records each request's duration under its route template (bounded label values).
async fn measure(request: Request, next: Next) -> Response {
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map(|path| path.as_str().to_owned())
        .unwrap_or_else(|| "unmatched".to_owned());
    let started = Instant::now();
    let response = next.run(request).await;
    crate::metrics::http_request(&route, response.status().as_u16(), started.elapsed());
    response
}

/// Reads the whole body before the handler runs: refused at once (413) when its
/// `Content-Length` is over the limit, before a byte of it is read; 408 when it does not
/// arrive within `[http] body_read_timeout`, so a slow sender cannot hold a handler.
async fn read_body(
    State(timeout): State<std::time::Duration>,
    request: Request,
    next: Next,
) -> Response {
    let declared = request
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.trim().parse::<u64>().ok());
    if declared.is_some_and(|length| length > MAX_BODY_BYTES as u64) {
        let expects_continue = request.headers().contains_key(header::EXPECT);
        let (_, body) = request.into_parts();
        // A client that waits for `100 Continue` sends nothing more; one that already sends
        // would get a reset (and lose this answer) if the connection closed on its unread
        // bytes, so some of them are read and dropped while the answer goes out.
        if !expects_continue {
            tokio::spawn(discard_body(body, timeout));
        }
        let mut response = too_large().into_response();
        response
            .headers_mut()
            .insert(header::CONNECTION, HeaderValue::from_static("close"));
        return response;
    }
    let (parts, body) = request.into_parts();
    let bytes = match tokio::time::timeout(timeout, axum::body::to_bytes(body, MAX_BODY_BYTES))
        .await
    {
        Ok(Ok(bytes)) => bytes,
        Ok(Err(error)) => {
            // `to_bytes` fails for a body over the limit or one the client broke off.
            if std::error::Error::source(&error)
                .is_some_and(|source| source.is::<http_body_util::LengthLimitError>())
            {
                return too_large().into_response();
            }
            return ApiError::new(
                StatusCode::BAD_REQUEST,
                format!("the request body could not be read: {error}"),
            )
            .into_response();
        }
        Err(_) => {
            return ApiError::new(
                    StatusCode::REQUEST_TIMEOUT,
                    format!(
                        "the request body did not arrive within {} ([http] body_read_timeout); send it at once",
                        humantime::format_duration(timeout)
                    ),
                )
                .into_response();
        }
    };
    next.run(Request::from_parts(parts, axum::body::Body::from(bytes)))
        .await
}

/// Most bytes of a refused body read and dropped (see `read_body`): past this the client
/// gets a reset, as it would from any server.
const DISCARD_BYTES: usize = 8 * 1024 * 1024;

async fn discard_body(body: axum::body::Body, timeout: std::time::Duration) {
    use futures::StreamExt;
    let mut stream = body.into_data_stream();
    let deadline = tokio::time::Instant::now() + timeout;
    let mut read = 0;
    while let Ok(Some(Ok(chunk))) = tokio::time::timeout_at(deadline, stream.next()).await {
        read += chunk.len();
        if read > DISCARD_BYTES {
            break;
        }
    }
}

fn too_large() -> ApiError {
    ApiError::new(
        StatusCode::PAYLOAD_TOO_LARGE,
        format!(
            "the body is larger than {} KiB (1 MiB), the most one request may carry; send fewer alerts per request",
            MAX_BODY_BYTES / 1024
        ),
    )
}

async fn not_found(method: Method, uri: Uri) -> ApiError {
    ApiError::new(
        StatusCode::NOT_FOUND,
        format!(
            "there is no endpoint {method} {}; the README's HTTP API section lists them",
            uri.path()
        ),
    )
}

async fn method_not_allowed(method: Method, uri: Uri) -> ApiError {
    ApiError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        format!(
            "{} does not take {method}; the README's HTTP API section lists what it takes",
            uri.path()
        ),
    )
}

async fn healthz() -> &'static str {
    "ok\n"
}

/// How long `/readyz` waits for the database: an unreachable one is reported within a second,
/// not after the pool's own acquire timeout.
const READY_PING_TIMEOUT: std::time::Duration = std::time::Duration::from_millis(900);

/// 200 when the database answers and, with Discord configured, this process holds the gateway
/// and is connected or another process holds it (this one stands by).
async fn readyz(State(state): State<Arc<AppState>>) -> Response {
    let database = match tokio::time::timeout(READY_PING_TIMEOUT, state.ops.store().ping()).await {
        Ok(Ok(())) => Ok(()),
        Ok(Err(error)) => Err(format!("unreachable: {error}")),
        Err(_) => Err(format!(
            "unreachable: no answer within {} ms",
            READY_PING_TIMEOUT.as_millis()
        )),
    };
    let gateway = state.gateway.borrow().clone();
    let ready = database.is_ok() && gateway.is_ready();
    // Who holds the gateway is the database's to say, not this process's belief.
    let holder = if database.is_ok() {
        gateway_holder(&state).await
    } else {
        None
    };
    let body = json!({
        "ready": ready,
        "database": match &database {
            Ok(()) => "ok".to_owned(),
            Err(error) => error.clone(),
        },
        "discord": gateway.as_str(),
        "gateway_holder": holder,
        "instance": state.instance,
    });
    let status = if ready {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (status, Json(body)).into_response()
}

/// The process whose gateway lease runs, as the database says.
async fn gateway_holder(state: &AppState) -> Option<String> {
    let lease = tokio::time::timeout(
        READY_PING_TIMEOUT,
        state.ops.store().lease(crate::domain::GATEWAY_LEASE),
    )
    .await;
    match lease {
        Ok(Ok(Some(lease))) if lease.until > state.ops.clock().now() => Some(lease.holder),
        _ => None,
    }
}

/// Each configured check's last success, for `/metrics` (none when the database fails: the
/// rest of the scrape still answers).
async fn check_successes(state: &AppState) -> Vec<(String, Option<crate::domain::Timestamp>)> {
    let states = state.ops.store().check_states().await.unwrap_or_default();
    state
        .ops
        .config()
        .checks
        .iter()
        .map(|check| {
            let last = states
                .iter()
                .find(|known| known.name == check.name)
                .and_then(|known| known.last_success_at);
            (check.name.clone(), last)
        })
        .collect()
}

/// Prometheus text. Open like `/healthz`: it holds counts, no incident content.
async fn metrics(State(state): State<Arc<AppState>>) -> Response {
    let counts = match state.ops.store().incident_counts().await {
        Ok(counts) => counts,
        Err(error) => {
            return ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                format!("the database did not answer: {error}"),
            )
            .into_response();
        }
    };
    let severities: Vec<String> = state
        .ops
        .config()
        .severities
        .iter()
        .map(|severity| severity.name.clone())
        .collect();
    let holder = gateway_holder(&state).await;
    let gateway = crate::metrics::GatewayView {
        state: state.gateway.borrow().as_str(),
        holder,
    };
    let mut text = crate::metrics::render(&counts, &severities, &gateway);
    text.push_str(&crate::metrics::render_checks(
        &check_successes(&state).await,
    ));
    (
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static(crate::metrics::CONTENT_TYPE),
        )],
        text,
    )
        .into_response()
}
