//! PagerDuty Events API v2: `POST {base}/v2/enqueue` with `event_action` trigger,
//! acknowledge or resolve, all carrying the page's `dedup_key`.

use async_trait::async_trait;
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
