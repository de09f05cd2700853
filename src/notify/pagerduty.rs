//! PagerDuty Events API v2: `POST {base}/v2/enqueue` with `event_action` trigger,
//! acknowledge or resolve, all carrying the page's `dedup_key` (which PagerDuty keeps as the
//! incident's `incident_key`); and the check of PagerDuty's V3 webhooks back to warroom
//! ([`verify_webhook`]), which is how an acknowledgement made in PagerDuty reaches here.

use async_trait::async_trait;
use hmac::{KeyInit, Mac};
use secrecy::{ExposeSecret, SecretString};
use serde_json::json;

use super::delivery::{Action, Deliverer, Delivery};
use super::{Notifier, NotifierKind, PageMessage, Priority, shorten};

/// PagerDuty's Events API host; `url` in the config overrides it (tests, proxies, EU accounts
/// use the same host).
pub const DEFAULT_URL: &str = "https://events.pagerduty.com";

/// PagerDuty refuses a `payload.summary` longer than this; the full title stays in
/// `custom_details`.
const MAX_SUMMARY_CHARS: usize = 1024;

pub struct PagerDuty {
    name: String,
    /// `{base}/v2/enqueue`.
    enqueue_url: SecretString,
    routing_key: SecretString,
    deliverer: Deliverer,
}

impl std::fmt::Debug for PagerDuty {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PagerDuty")
            .field("name", &self.name)
            .finish_non_exhaustive()
    }
}

impl PagerDuty {
    pub fn new(
        name: &str,
        base: SecretString,
        routing_key: SecretString,
        deliverer: Deliverer,
    ) -> PagerDuty {
        PagerDuty {
            name: name.to_owned(),
            enqueue_url: SecretString::from(format!(
                "{}/v2/enqueue",
                base.expose_secret().trim_end_matches('/')
            )),
            routing_key,
            deliverer,
        }
    }

    async fn send(&self, action: Action, body: serde_json::Value) -> Delivery {
        self.deliverer
            .deliver(action, |http, _now| {
                http.post(self.enqueue_url.expose_secret()).json(&body)
            })
            .await
    }

    fn event(&self, action: Action, dedup_key: &str) -> serde_json::Value {
        json!({
            "routing_key": self.routing_key.expose_secret(),
            "event_action": action.as_str(),
            "dedup_key": dedup_key,
        })
    }
}

/// The header of a V3 webhook's signatures.
pub const SIGNATURE_HEADER: &str = "X-PagerDuty-Signature";

/// Whether `header` (PagerDuty's `X-PagerDuty-Signature`: `v1=<hex>` signatures, comma
/// separated, more than one while a secret is being rotated) holds a `v1` HMAC-SHA256 of the
/// raw `body` under `secret`. Each is compared in constant time; other versions are skipped.
pub fn verify_webhook(secret: &[u8], header: Option<&str>, body: &[u8]) -> bool {
    let Some(header) = header else {
        return false;
    };
    header.split(',').any(|signature| {
        let Some(hex_digest) = signature.trim().strip_prefix("v1=") else {
            return false;
        };
        let Ok(expected) = hex::decode(hex_digest) else {
            return false;
        };
        let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(secret)
            .expect("HMAC takes keys of any length");
        mac.update(body);
        mac.verify_slice(&expected).is_ok()
    })
}

/// PagerDuty's four severities, from warroom's priority.
fn severity(priority: Priority) -> &'static str {
    match priority {
        Priority::P1 => "critical",
        Priority::P2 => "error",
        Priority::P3 => "warning",
        Priority::P4 | Priority::P5 => "info",
    }
}

#[async_trait]
impl Notifier for PagerDuty {
    fn name(&self) -> &str {
        &self.name
    }

    fn kind(&self) -> NotifierKind {
        NotifierKind::PagerDuty
    }

    fn supports(&self, _action: Action) -> bool {
        true
    }

    async fn trigger(&self, page: &PageMessage) -> Delivery {
        let mut body = self.event(Action::Trigger, &page.dedup_key);
        body["client"] = json!("warroom");
        body["payload"] = json!({
            "summary": shorten(&page.summary(), MAX_SUMMARY_CHARS),
            "source": "warroom",
            "severity": severity(page.priority),
            "timestamp": page.opened_at.to_rfc3339(),
            "component": page.service,
            "class": page.severity,
            "custom_details": {
                "incident": page.incident_id.to_string(),
                "title": page.title,
                "severity": page.severity,
                "level": page.level,
                "round": page.round,
                "target": page.target.to_string(),
                "drill": page.drill,
                "channel_id": page.channel_id.map(|id| id.to_string()),
            },
        });
        if let Some(link) = &page.link {
            body["links"] = json!([{ "href": link, "text": "Incident channel" }]);
            body["client_url"] = json!(link);
        }
        self.send(Action::Trigger, body).await
    }

    async fn acknowledge(&self, dedup_key: &str) -> Delivery {
        self.send(
            Action::Acknowledge,
            self.event(Action::Acknowledge, dedup_key),
        )
        .await
    }

    async fn resolve(&self, dedup_key: &str) -> Delivery {
        self.send(Action::Resolve, self.event(Action::Resolve, dedup_key))
            .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_v1_signature_verifies_among_others_and_nothing_else_does() {
        let body = br#"{"event":{"id":"5ac64822"}}"#;
        let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(b"whsec").unwrap();
        mac.update(body);
        let good = format!("v1={}", hex::encode(mac.finalize().into_bytes()));
        assert!(verify_webhook(b"whsec", Some(&good), body));
        let rotating = format!("v1=00ff, {good}");
        assert!(verify_webhook(b"whsec", Some(&rotating), body));
        assert!(!verify_webhook(b"other", Some(&good), body));
        assert!(!verify_webhook(b"whsec", Some(&good), b"{}"));
        assert!(!verify_webhook(
            b"whsec",
            Some(&good.replace("v1=", "v2=")),
            body
        ));
        assert!(!verify_webhook(b"whsec", None, body));
    }
}
