//! The alert endpoints: Alertmanager, Grafana, generic JSON and the PagerDuty Events API v2
//! shape. A 2xx means every alert is stored; a 4xx says what is wrong and stores nothing; a
//! 5xx means "try again" (the database or a concurrent delivery), which senders do.

use std::sync::Arc;

use axum::Json;
use axum::body::Bytes;
use axum::extract::State;
use axum::extract::rejection::BytesRejection;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::json;

use super::error::{ApiError, json_body};
use super::{AppState, bearer};
use crate::alerts::{self, AlertSource, Delivery};
use crate::metrics;
use crate::ops::IngestOutcome;

pub(super) async fn alertmanager(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    grouped(&state, AlertSource::Alertmanager, &headers, body).await
}

pub(super) async fn grafana(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    grouped(&state, AlertSource::Grafana, &headers, body).await
}

pub(super) async fn generic(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    grouped(&state, AlertSource::Generic, &headers, body).await
}

/// Alertmanager, Grafana and generic: token first, then the body.
async fn grouped(
    state: &AppState,
    source: AlertSource,
    headers: &HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    let result = async {
        let who = state.principal(headers)?;
        let body = json_body(headers, body, false)?;
        let delivery = alerts::parse(source, &body)?;
        let outcome = state.ops.ingest(&who, &delivery).await?;
        Ok::<_, ApiError>((delivery, outcome))
    }
    .await;
    finish(source, result, |delivery, outcome| {
        (StatusCode::OK, Json(summary(delivery, outcome))).into_response()
    })
}

/// `POST /v1/enqueue`: PagerDuty senders put their credential in `routing_key` and send no
/// Authorization header, so either is accepted; the answer has PagerDuty's shape.
pub(super) async fn enqueue(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    let source = AlertSource::PagerDuty;
    let result = async {
        let header_token = bearer(&headers)?;
        let body = json_body(&headers, body, false)?;
        let parsed = alerts::parse_pagerduty(&body);
        // Without a header, the credential is inside the body: a body that cannot be read
        // carries no credential, so that answer is 401, not a description of the body.
        let who = match (header_token, &parsed) {
            (Some(token), _) => state.principal_for(token)?,
            (None, Ok((_, Some(routing_key)))) => state.principal_for(routing_key)?,
            (None, _) => {
                return Err(ApiError::unauthorized(
                    "missing token: put a token from [api_tokens] in routing_key, or send `Authorization: Bearer <token>`",
                ));
            }
        };
        let (delivery, _) = parsed?;
        let outcome = state.ops.ingest(&who, &delivery).await?;
        Ok::<_, ApiError>((delivery, outcome))
    }
    .await;
    finish(source, result, |delivery, outcome| {
        let mut body = summary(delivery, outcome);
        body["status"] = json!("success");
        body["message"] = json!("Event processed");
        body["dedup_key"] = json!(delivery.groups.first().map(|group| group.key.clone()));
        (StatusCode::ACCEPTED, Json(body)).into_response()
    })
}

fn finish(
    source: AlertSource,
    result: Result<(Delivery, IngestOutcome), ApiError>,
    render: impl FnOnce(&Delivery, &IngestOutcome) -> Response,
) -> Response {
    let endpoint = source.as_str();
    let response = match result {
        Ok((delivery, outcome)) => {
            metrics::alerts_received(endpoint, "fired", u64::from(outcome.fired()));
            metrics::alerts_received(endpoint, "resolved", u64::from(outcome.resolved()));
            metrics::alerts_received(endpoint, "duplicate", u64::from(outcome.duplicates()));
            metrics::alerts_received(endpoint, "unmatched", u64::from(outcome.unmatched()));
            let held: u32 = outcome.groups.iter().map(|group| group.held).sum();
            metrics::alerts_received(endpoint, "held", u64::from(held));
            render(&delivery, &outcome)
        }
        Err(error) => {
            if error.status.is_server_error() {
                tracing::warn!(endpoint, error = %error.message, "an alert delivery failed; the sender will retry");
            }
            metrics::alerts_received(endpoint, "rejected", 1);
            error.into_response()
        }
    };
    metrics::alert_request(endpoint, response.status().as_u16());
    response
}

fn summary(delivery: &Delivery, outcome: &IngestOutcome) -> serde_json::Value {
    json!({
        "stored": true,
        "alerts": delivery.alert_count(),
        "fired": outcome.fired(),
        "resolved": outcome.resolved(),
        "duplicates": outcome.duplicates(),
        "unmatched": outcome.unmatched(),
        "groups": outcome.groups.iter().map(|group| json!({
            "group_key": group.group_key,
            "route": group.route,
            "incident": group.incident.map(|id| id.0),
            "opened": group.opened,
            "overflow": group.overflow,
            "acknowledged": group.acknowledged,
            "held_by_maintenance": group.held,
        })).collect::<Vec<_>>(),
    })
}
