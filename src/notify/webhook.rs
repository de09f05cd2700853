//! A generic JSON webhook, optionally signed with HMAC-SHA256.
//!
//! # Signature
//!
//! With a secret configured, each request carries
//!
//! - `X-Warroom-Timestamp: <unix seconds when the request was sent>`
//! - `X-Warroom-Signature: sha256=<lowercase hex HMAC-SHA256(secret, "<timestamp>.<body>")>`
//!
//! where `<body>` is the raw request body, byte for byte. Signing the timestamp with the
//! body stops replays: a receiver recomputes the HMAC over `timestamp + "." + body`, compares
//! it in constant time, and refuses timestamps more than [`SIGNATURE_TOLERANCE`] from its own
//! clock. Each retry is signed afresh with its own timestamp. [`verify`] does all of this.
//!
//! # Body
//!
//! `{"schema": "warroom.page/v1", "event": "trigger" | "acknowledge" | "resolve",
//! "dedup_key": ..., "summary": ..., "incident": {...}, "level", "round", "target", "drill",
//! "message", "ack_url"}`; acknowledge and resolve carry only `schema`, `event` and
//! `dedup_key`. `ack_url` is the one-click acknowledgement link (acting as
//! `notifier:<name>`), `null` unless `[http] public_url` and `ack_secret_env` are set.

use std::time::Duration;

use async_trait::async_trait;
use hmac::{KeyInit, Mac};
use secrecy::{ExposeSecret, SecretString};
use serde_json::json;

use super::delivery::{Action, Deliverer, Delivery};
use super::links::{Links, Paged};
use super::{Notifier, NotifierKind, PageMessage, StatusUpdate};
use crate::domain::Timestamp;

/// The header with the request's unix time in seconds.
pub const TIMESTAMP_HEADER: &str = "X-Warroom-Timestamp";
/// The header with `sha256=<hex>`.
pub const SIGNATURE_HEADER: &str = "X-Warroom-Signature";
/// How far a receiver should let a signed timestamp be from its own clock: long enough for
/// clock skew and a slow network, short enough that a captured request soon stops working.
pub const SIGNATURE_TOLERANCE: Duration = Duration::from_secs(300);
/// The `schema` of every body: receivers can tell versions apart.
pub const SCHEMA: &str = "warroom.page/v1";

type HmacSha256 = hmac::Hmac<sha2::Sha256>;

/// `sha256=<hex>` of `"<timestamp>.<body>"` under `secret`.
pub fn sign(secret: &[u8], timestamp: i64, body: &[u8]) -> String {
    let mut mac = HmacSha256::new_from_slice(secret).expect("HMAC takes keys of any length");
    mac.update(timestamp.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
}

/// Why a signed request was refused.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum SignatureError {
    #[error("the {TIMESTAMP_HEADER} header is missing or not a unix time in seconds")]
    BadTimestamp,
    #[error(
        "the request was signed {0}s away from now, more than the tolerance; it may be a replay, or a clock is wrong"
    )]
    Stale(i64),
    #[error("the {SIGNATURE_HEADER} header is missing or not sha256=<hex>")]
    Malformed,
    #[error("the signature does not match the body; check that both sides use the same secret")]
    Mismatch,
}

/// Checks a request as a receiver should: timestamp within `tolerance` of `now`, then the
/// HMAC in constant time.
pub fn verify(
    secret: &[u8],
    timestamp_header: Option<&str>,
    signature_header: Option<&str>,
    body: &[u8],
    now: Timestamp,
    tolerance: Duration,
) -> Result<(), SignatureError> {
    let timestamp: i64 = timestamp_header
        .and_then(|value| value.trim().parse().ok())
        .ok_or(SignatureError::BadTimestamp)?;
    let skew = now.as_unix_seconds() - timestamp;
    if skew.unsigned_abs() > tolerance.as_secs() {
        return Err(SignatureError::Stale(skew));
    }
    let expected = signature_header
        .and_then(|value| value.trim().strip_prefix("sha256="))
        .and_then(|hex_digest| hex::decode(hex_digest).ok())
        .ok_or(SignatureError::Malformed)?;
    let mut mac = HmacSha256::new_from_slice(secret).expect("HMAC takes keys of any length");
    mac.update(timestamp.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    mac.verify_slice(&expected)
        .map_err(|_| SignatureError::Mismatch)
}

pub struct Webhook {
    name: String,
    url: SecretString,
    secret: Option<SecretString>,
    links: Option<Links>,
    deliverer: Deliverer,
}

impl std::fmt::Debug for Webhook {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Webhook")
            .field("name", &self.name)
            .field("signed", &self.secret.is_some())
            .finish_non_exhaustive()
    }
}

impl Webhook {
    pub fn new(
        name: &str,
        url: SecretString,
        secret: Option<SecretString>,
        links: Option<Links>,
        deliverer: Deliverer,
    ) -> Webhook {
        Webhook {
            name: name.to_owned(),
            url,
            secret,
            links,
            deliverer,
        }
    }

    /// Sends the body `body` makes for the moment of each attempt (its ack link expires from
    /// then), signed when a secret is configured.
    async fn send<B>(&self, action: Action, body: B) -> Delivery
    where
        B: Fn(Timestamp) -> serde_json::Value + Send + Sync,
    {
        self.deliverer
            .deliver(action, |http, now| {
                let body = serde_json::to_vec(&body(now)).expect("a JSON value always serializes");
                let mut request = http
                    .post(self.url.expose_secret())
                    .header(reqwest::header::CONTENT_TYPE, "application/json");
                if let Some(secret) = &self.secret {
                    let timestamp = now.as_unix_seconds();
                    request = request
                        .header(TIMESTAMP_HEADER, timestamp.to_string())
                        .header(
                            SIGNATURE_HEADER,
                            sign(secret.expose_secret().as_bytes(), timestamp, &body),
                        );
                }
                request.body(body)
            })
            .await
    }

    fn update(action: Action, dedup_key: &str) -> serde_json::Value {
        json!({ "schema": SCHEMA, "event": action.as_str(), "dedup_key": dedup_key })
    }
}

#[async_trait]
impl Notifier for Webhook {
    fn name(&self) -> &str {
        &self.name
    }

    fn kind(&self) -> NotifierKind {
        NotifierKind::Webhook
    }

    fn supports(&self, _action: Action) -> bool {
        true
    }

    async fn trigger(&self, page: &PageMessage) -> Delivery {
        let body = |now: Timestamp| {
            json!({
                "schema": SCHEMA,
                "event": Action::Trigger.as_str(),
                "dedup_key": page.dedup_key,
                "summary": page.summary(),
                "incident": {
                    "id": page.incident_id.0,
                    "ref": page.incident_id.to_string(),
                    "title": page.title,
                    "severity": page.severity,
                    "priority": page.priority.as_str(),
                    "service": page.service,
                    "opened_at": page.opened_at,
                    "channel_id": page.channel_id.map(|id| id.to_string()),
                    "link": page.link,
                },
                "level": page.level,
                "round": page.round,
                "target": page.target.to_string(),
                "recipient": page.recipient,
                "drill": page.drill,
                "message": page.message,
                "ack_url": self
                    .links
                    .as_ref()
                    .map(|links| links.ack_url_for(page, Paged::Notifier(self.name.clone()), now)),
            })
        };
        self.send(Action::Trigger, body).await
    }

    async fn acknowledge(&self, dedup_key: &str) -> Delivery {
        self.send(Action::Acknowledge, |_| {
            Webhook::update(Action::Acknowledge, dedup_key)
        })
        .await
    }

    async fn resolve(&self, dedup_key: &str) -> Delivery {
        self.send(Action::Resolve, |_| {
            Webhook::update(Action::Resolve, dedup_key)
        })
        .await
    }

    async fn status_update(&self, update: &StatusUpdate) -> Delivery {
        self.send(Action::Update, |_| {
            json!({
                "schema": STATUS_SCHEMA,
                "event": "status_update",
                "key": format!("{}:{}", update.incident_id, update.seq),
                "summary": update.summary(),
                "incident": {
                    "id": update.incident_id.0,
                    "ref": update.incident_id.to_string(),
                    "title": update.title,
                    "severity": update.severity,
                    "service": update.service,
                    "status": update.status,
                },
                "text": update.text,
                "at": update.at,
            })
        })
        .await
    }
}

/// The schema of status updates sent to webhooks.
pub const STATUS_SCHEMA: &str = "warroom.status/v1";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_signature_verifies_and_any_change_breaks_it() {
        let now = Timestamp::parse_rfc3339("2026-11-22T10:00:00Z").unwrap();
        let ts = now.as_unix_seconds();
        let signature = sign(b"s3cret", ts, b"{\"a\":1}");
        let check = |secret: &[u8], ts: i64, body: &[u8]| {
            verify(
                secret,
                Some(&ts.to_string()),
                Some(&signature),
                body,
                now,
                SIGNATURE_TOLERANCE,
            )
        };
        assert_eq!(check(b"s3cret", ts, b"{\"a\":1}"), Ok(()));
        assert_eq!(
            check(b"other", ts, b"{\"a\":1}"),
            Err(SignatureError::Mismatch)
        );
        assert_eq!(
            check(b"s3cret", ts, b"{\"a\":2}"),
            Err(SignatureError::Mismatch)
        );
        assert_eq!(
            check(b"s3cret", ts - 1, b"{\"a\":1}"),
            Err(SignatureError::Mismatch)
        );
        assert_eq!(
            check(b"s3cret", ts - 301, b"{\"a\":1}"),
            Err(SignatureError::Stale(301))
        );
    }
}
