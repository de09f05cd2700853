//! Opsgenie Alert API: create an alert with `alias` = the page's `dedup_key`, then
//! acknowledge and close it by that alias.

use async_trait::async_trait;
use secrecy::{ExposeSecret, SecretString};
use serde_json::json;

use super::delivery::{Action, Deliverer, Delivery};
use super::{Notifier, NotifierKind, PageMessage, shorten};

/// Opsgenie's API host; EU accounts set `url = "https://api.eu.opsgenie.com"`.
pub const DEFAULT_URL: &str = "https://api.opsgenie.com";

/// Opsgenie cuts an alert `message` at 130 characters; warroom shortens it visibly and puts
/// the whole summary in `description`.
const MAX_MESSAGE_CHARS: usize = 130;

pub struct Opsgenie {
    name: String,
    base: SecretString,
    api_key: SecretString,
    deliverer: Deliverer,
}

impl std::fmt::Debug for Opsgenie {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Opsgenie")
            .field("name", &self.name)
            .finish_non_exhaustive()
    }
}

impl Opsgenie {
    pub fn new(
        name: &str,
        base: SecretString,
        api_key: SecretString,
        deliverer: Deliverer,
    ) -> Opsgenie {
        Opsgenie {
            name: name.to_owned(),
            base: SecretString::from(base.expose_secret().trim_end_matches('/').to_owned()),
            api_key,
            deliverer,
        }
    }

    /// `{base}/v2/alerts` followed by `segments`, each percent-encoded as a path segment.
    fn url(&self, segments: &[&str]) -> Option<reqwest::Url> {
        let mut url =
            reqwest::Url::parse(&format!("{}/v2/alerts", self.base.expose_secret())).ok()?;
        url.path_segments_mut().ok()?.extend(segments);
        Some(url)
    }

    async fn send(
        &self,
        action: Action,
        url: Option<reqwest::Url>,
        body: serde_json::Value,
    ) -> Delivery {
        let Some(url) = url else {
            return Delivery {
                notifier: self.name.clone(),
                action,
                outcome: super::Outcome::FailedPermanently {
                    status: 0,
                    body: "the notifier's url is not a valid URL base; fix url in its [notifiers] entry"
                        .to_owned(),
                },
                attempts: Vec::new(),
            };
        };
        self.deliverer
            .deliver(action, |http, _now| {
                http.post(url.clone())
                    .header(
                        reqwest::header::AUTHORIZATION,
                        format!("GenieKey {}", self.api_key.expose_secret()),
                    )
                    .json(&body)
            })
            .await
    }

    /// Acknowledge or close the alert whose alias is `dedup_key`.
    async fn update(&self, action: Action, verb: &str, dedup_key: &str) -> Delivery {
        let url = self.url(&[dedup_key, verb]).map(|mut url| {
            url.query_pairs_mut().append_pair("identifierType", "alias");
            url
        });
        let note = match action {
            Action::Acknowledge => "Acknowledged in warroom",
            _ => "Resolved in warroom",
        };
        let body = json!({ "source": "warroom", "user": "warroom", "note": note });
        self.send(action, url, body).await
    }
}

#[async_trait]
impl Notifier for Opsgenie {
    fn name(&self) -> &str {
        &self.name
    }

    fn kind(&self) -> NotifierKind {
        NotifierKind::Opsgenie
    }

    fn supports(&self, _action: Action) -> bool {
        true
    }

    async fn trigger(&self, page: &PageMessage) -> Delivery {
        let summary = page.summary();
        let mut tags = vec!["warroom".to_owned(), page.severity.clone()];
        if page.drill {
            tags.push("drill".to_owned());
        }
        let body = json!({
            "message": shorten(&summary, MAX_MESSAGE_CHARS),
            "alias": page.dedup_key,
            "description": format!(
                "{summary}\nLevel {}, round {} of the escalation policy; target {}.{}",
                page.level,
                page.round,
                page.target,
                page.link.as_deref().map(|link| format!("\n{link}")).unwrap_or_default()
            ),
            "priority": page.priority.as_str(),
            "source": "warroom",
            "tags": tags,
            "details": {
                "incident": page.incident_id.to_string(),
                "severity": page.severity,
                "service": page.service.clone().unwrap_or_default(),
                "level": page.level.to_string(),
                "round": page.round.to_string(),
                "drill": page.drill.to_string(),
            },
        });
        self.send(Action::Trigger, self.url(&[]), body).await
    }

    async fn acknowledge(&self, dedup_key: &str) -> Delivery {
        self.update(Action::Acknowledge, "acknowledge", dedup_key)
            .await
    }

    async fn resolve(&self, dedup_key: &str) -> Delivery {
        self.update(Action::Resolve, "close", dedup_key).await
    }
}
