//! Two-way sync: `POST /v1/webhooks/pagerduty` (PagerDuty V3 webhooks) and
//! `POST /v1/webhooks/opsgenie` (Opsgenie outgoing webhooks). An acknowledgement or
//! resolution made there (the app on the paged person's phone) acknowledges or resolves the
//! warroom incident whose page it was, found by the dedup key warroom sent, which stops
//! warroom's own escalation.
//!
//! - PagerDuty: `X-PagerDuty-Signature` must hold a `v1` HMAC-SHA256 of the raw body under a
//!   PagerDuty notifier's `webhook_secret_env`; `incident.acknowledged` and
//!   `incident.resolved` act (by `event.data.incident_key`), every other event type
//!   (`incident.reassigned`, ...) is answered and ignored. Once-only by `X-Webhook-Id` (else
//!   `event.id`).
//! - Opsgenie: `Authorization: Bearer <token>` must be an Opsgenie notifier's
//!   `webhook_secret_env`; actions `Acknowledge` and `Close` act (by `alert.alias`), others
//!   are ignored. Opsgenie sends no delivery id, so the body's SHA-256 is the once-only key:
//!   a redelivery is the same bytes.
//!
//! A bad or missing signature or token is 401 and nothing is read further or stored. A
//! webhook about an incident warroom does not know is answered 200 and logged, so the sender
//! does not retry it forever; only a database that did not answer is 503 (retry).

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::State;
use axum::extract::rejection::BytesRejection;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::{Json, Router};
use secrecy::ExposeSecret;
use serde::Deserialize;
use serde_json::json;
use sha2::{Digest, Sha256};

use super::AppState;
use super::error::{ApiError, decode, json_body};
use crate::notify::{NotifierConfig, NotifierKind, pagerduty};
use crate::ops::{MAX_WEBHOOK_ID_CHARS, SyncAction, SyncOutcome, SyncRequest, SyncSource};

pub(super) fn routes() -> Router<Arc<AppState>> {
    Router::new()
        .route("/v1/webhooks/pagerduty", post(pagerduty_webhook))
        .route("/v1/webhooks/opsgenie", post(opsgenie_webhook))
}

type Body = Result<Bytes, BytesRejection>;

/// The notifiers of `kind` whose inbound secret is set.
fn receivers(state: &AppState, kind: NotifierKind) -> Vec<&NotifierConfig> {
    state
        .ops
        .config()
        .notifiers
        .iter()
        .filter(|notifier| notifier.kind == kind)
        .filter(|notifier| {
            notifier
                .inbound_secret
                .as_ref()
                .is_some_and(|secret| secret.value.is_some())
        })
        .collect()
}

fn secret(notifier: &NotifierConfig) -> &[u8] {
    notifier
        .inbound_secret
        .as_ref()
        .and_then(|secret| secret.value.as_ref())
        .map_or(&[][..], |value| value.expose_secret().as_bytes())
}

fn not_set_up(source: SyncSource) -> ApiError {
    ApiError::unauthorized(format!(
        "no {} notifier has webhook_secret_env set (with its variable set), so warroom takes no webhooks from {}",
        source.as_str(),
        source.display()
    ))
}

#[derive(Deserialize)]
struct PagerDutyWebhook {
    event: PagerDutyEvent,
}

#[derive(Deserialize)]
struct PagerDutyEvent {
    id: Option<String>,
    event_type: String,
    #[serde(default)]
    agent: Option<PagerDutyReference>,
    #[serde(default)]
    data: Option<PagerDutyIncident>,
}

#[derive(Deserialize)]
struct PagerDutyReference {
    #[serde(default)]
    summary: Option<String>,
}

#[derive(Deserialize)]
struct PagerDutyIncident {
    #[serde(default)]
    incident_key: Option<String>,
    #[serde(default)]
    id: Option<String>,
}

async fn pagerduty_webhook(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    let source = SyncSource::PagerDuty;
    let body = json_body(&headers, body, false)?;
    let candidates = receivers(&state, NotifierKind::PagerDuty);
    if candidates.is_empty() {
        return Err(not_set_up(source));
    }
    let signature = headers
        .get(pagerduty::SIGNATURE_HEADER)
        .and_then(|value| value.to_str().ok());
    let notifier = candidates
        .into_iter()
        .find(|notifier| pagerduty::verify_webhook(secret(notifier), signature, &body))
        .ok_or_else(|| {
            ApiError::unauthorized(format!(
                "the {} header is missing or matches no PagerDuty notifier's webhook_secret_env; check that the subscription's signing secret is the one warroom has",
                pagerduty::SIGNATURE_HEADER
            ))
        })?;
    let webhook: PagerDutyWebhook = decode(&body)?;
    let event = webhook.event;
    let action = match event.event_type.as_str() {
        "incident.acknowledged" => SyncAction::Acknowledge,
        "incident.resolved" => SyncAction::Resolve,
        other => {
            return Ok(ignored(
                source,
                &notifier.name,
                format!(
                    "event type {other} is not synced (only incident.acknowledged and incident.resolved)"
                ),
            ));
        }
    };
    let webhook_id = headers
        .get("x-webhook-id")
        .and_then(|value| value.to_str().ok())
        .map(str::to_owned)
        .or(event.id)
        .ok_or_else(|| {
            ApiError::bad_request("event.id: missing, and no X-Webhook-Id header either")
        })?;
    let data = event.data.unwrap_or(PagerDutyIncident {
        incident_key: None,
        id: None,
    });
    let Some(dedup_key) = data.incident_key else {
        return Ok(ignored(
            source,
            &notifier.name,
            format!(
                "PagerDuty incident {} has no incident_key, so warroom did not page it",
                data.id.as_deref().unwrap_or("(no id)")
            ),
        ));
    };
    let by = event.agent.and_then(|agent| agent.summary);
    sync(
        &state,
        SyncRequest {
            source,
            notifier: &notifier.name,
            dedup_key: &dedup_key,
            action,
            by: by.as_deref(),
            webhook_id: &webhook_id,
        },
    )
    .await
}

#[derive(Deserialize)]
struct OpsgenieWebhook {
    action: String,
    alert: OpsgenieAlert,
}

#[derive(Deserialize)]
struct OpsgenieAlert {
    #[serde(default)]
    alias: Option<String>,
    #[serde(default, rename = "alertId")]
    alert_id: Option<String>,
    #[serde(default)]
    username: Option<String>,
}

async fn opsgenie_webhook(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    let source = SyncSource::Opsgenie;
    let candidates = receivers(&state, NotifierKind::Opsgenie);
    if candidates.is_empty() {
        return Err(not_set_up(source));
    }
    let presented = super::bearer(&headers)
        .ok()
        .flatten()
        .map(str::as_bytes)
        .unwrap_or_default();
    let digest: [u8; 32] = Sha256::digest(presented).into();
    // Every candidate is compared, each in constant time over digests, so timing says nothing
    // about which or how much matched.
    let mut found = None;
    for notifier in candidates {
        let expected: [u8; 32] = Sha256::digest(secret(notifier)).into();
        let difference = expected
            .iter()
            .zip(&digest)
            .fold(0u8, |acc, (a, b)| acc | (a ^ b));
        if difference == 0 && !presented.is_empty() {
            found = Some(notifier);
        }
    }
    let notifier = found.ok_or_else(|| {
        ApiError::unauthorized(
            "missing or wrong token: the Opsgenie webhook must send `Authorization: Bearer <token>` with the token in an Opsgenie notifier's webhook_secret_env",
        )
    })?;
    let body = json_body(&headers, body, false)?;
    let webhook: OpsgenieWebhook = decode(&body)?;
    let action = match webhook.action.as_str() {
        "Acknowledge" => SyncAction::Acknowledge,
        "Close" => SyncAction::Resolve,
        other => {
            return Ok(ignored(
                source,
                &notifier.name,
                format!("action {other} is not synced (only Acknowledge and Close)"),
            ));
        }
    };
    let Some(alias) = webhook.alert.alias.filter(|alias| !alias.is_empty()) else {
        return Ok(ignored(
            source,
            &notifier.name,
            format!(
                "Opsgenie alert {} has no alias, so warroom did not page it",
                webhook.alert.alert_id.as_deref().unwrap_or("(no id)")
            ),
        ));
    };
    let webhook_id = hex::encode(Sha256::digest(&body));
    sync(
        &state,
        SyncRequest {
            source,
            notifier: &notifier.name,
            dedup_key: &alias,
            action,
            by: webhook.alert.username.as_deref(),
            webhook_id: &webhook_id,
        },
    )
    .await
}

async fn sync(state: &AppState, request: SyncRequest<'_>) -> Result<Response, ApiError> {
    if request.webhook_id.is_empty() || request.webhook_id.chars().count() > MAX_WEBHOOK_ID_CHARS {
        return Err(ApiError::bad_request(format!(
            "the webhook id must be 1 to {MAX_WEBHOOK_ID_CHARS} characters"
        )));
    }
    let (source, notifier) = (request.source, request.notifier.to_owned());
    match state.ops.sync_from(request).await? {
        SyncOutcome::Applied(written) => Ok((
            StatusCode::OK,
            Json(json!({"applied": true, "incident": written.incident, "events": written.events})),
        )
            .into_response()),
        SyncOutcome::Replayed(id) => Ok((
            StatusCode::OK,
            Json(json!({"applied": false, "replayed": true, "incident_id": id.0})),
        )
            .into_response()),
        SyncOutcome::Ignored(reason) => Ok(ignored(source, &notifier, reason)),
    }
}

/// 200, so the sender does not retry what warroom will never act on; logged for whoever
/// wonders why an acknowledgement there did nothing here.
fn ignored(source: SyncSource, notifier: &str, reason: String) -> Response {
    tracing::info!(
        source = source.as_str(),
        notifier,
        "{} webhook ignored: {reason}",
        source.display()
    );
    (
        StatusCode::OK,
        Json(json!({"applied": false, "ignored": reason})),
    )
        .into_response()
}
