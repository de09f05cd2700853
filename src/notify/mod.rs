//! Notifiers: where pages go besides Discord mentions and DMs. The [`Notifier`] trait
//! (trigger, acknowledge, resolve under one `dedup_key`), the [`PageMessage`] they carry,
//! their configuration, and the implementations: PagerDuty Events API v2, Opsgenie, a signed
//! generic webhook, Slack / Discord incoming webhooks for cross-posting, and email over SMTP.
//! Pages by email, webhook and Slack carry a one-click acknowledgement link ([`links`]) for
//! the person who reads them outside Discord; [`people`] is who those people are.
//!
//! Every HTTP notifier delivers through [`delivery::Deliverer`]: a timeout per attempt,
//! retries with backoff and jitter on timeouts, connection errors and 5xx, `Retry-After` on
//! 429, never a retry of another 4xx, and a rate limit. The Discord pager (a DM and a
//! mention with an Acknowledge button) lives in `src/discord/` and implements the same
//! trait. Drill pages say DRILL; the engine keeps them inside Discord.
//!
//! No notifier retries a 4xx other than 429, follows a redirect, uses a proxy from the
//! environment, or waits longer than two minutes for a `Retry-After`; no notifier secret
//! (routing key, API key, HMAC secret, a webhook URL with a token) is shown in `Debug` or
//! written into an error or an attempt history.

pub mod chat;
pub mod delivery;
pub mod email;
pub mod links;
pub mod opsgenie;
pub mod pagerduty;
pub mod people;
pub mod webhook;

use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;

use async_trait::async_trait;
use secrecy::SecretString;
use serde::Serialize;

pub use crate::domain::NotifierKind;
use crate::domain::{IncidentId, Recipient, SeverityConfig, Target, Timestamp};

pub use delivery::{
    Action, Attempt, AttemptResult, Deliverer, Delivery, DeliveryPolicy, Outcome, RateLimit,
    RateLimiter, Timer, TokioTimer, VirtualTimer,
};

/// The API base a notifier of `kind` uses when `url` is not set (only PagerDuty and Opsgenie
/// have one).
pub fn default_url(kind: NotifierKind) -> Option<&'static str> {
    match kind {
        NotifierKind::PagerDuty => Some(pagerduty::DEFAULT_URL),
        NotifierKind::Opsgenie => Some(opsgenie::DEFAULT_URL),
        _ => None,
    }
}

/// One `[notifiers.NAME]` entry, validated. Secrets come from environment variables named
/// in the file and never show in `Debug`.
#[derive(Clone, Debug)]
pub struct NotifierConfig {
    pub name: String,
    pub kind: NotifierKind,
    /// The API base (PagerDuty, Opsgenie) or the webhook URL.
    pub endpoint: Endpoint,
    /// The routing key (PagerDuty), API key (Opsgenie) or HMAC secret (webhook), when the kind
    /// has one.
    pub credential: Option<Credential>,
    pub delivery: DeliveryPolicy,
    pub rate_limit: RateLimit,
    /// The SMTP server, sender and recipients of an email notifier.
    pub email: Option<email::EmailSettings>,
    /// What one-click acknowledgement links are built with, when `[http] public_url` and
    /// `ack_secret_env` are set; email, webhook and Slack pages carry one.
    pub links: Option<links::Links>,
    /// What a PagerDuty or Opsgenie notifier's inbound webhook (`/v1/webhooks/...`) must be
    /// signed with (PagerDuty) or carry (Opsgenie): `webhook_secret_env`.
    pub inbound_secret: Option<Credential>,
    /// Also sends incidents' status updates (`status_updates = true`).
    pub status_updates: bool,
}

/// Where a notifier sends.
#[derive(Clone, Debug)]
pub enum Endpoint {
    /// Written in the file: it holds no secret.
    Url(String),
    /// Read from an environment variable because the URL embeds a token (Slack, Discord).
    FromEnv {
        var: String,
        /// `None` while the variable is unset: the notifier is not ready.
        url: Option<SecretString>,
    },
}

/// A secret read from the environment variable `var`.
#[derive(Clone, Debug)]
pub struct Credential {
    pub var: String,
    /// What it holds; `None` while unset, which makes the notifier not ready (not a config error).
    pub value: Option<SecretString>,
    /// What the secret is, for readiness notes: "PagerDuty routing key".
    pub what: &'static str,
}

impl NotifierConfig {
    /// What this notifier still needs before it can send (empty when ready).
    pub fn sending_gaps(&self) -> Vec<String> {
        let mut gaps = Vec::new();
        if let Endpoint::FromEnv { var, url: None } = &self.endpoint {
            gaps.push(format!(
                "notifier {}: set the environment variable {var} to the {} URL",
                self.name,
                self.kind.describe()
            ));
        }
        let credentials = std::iter::once(&self.credential).chain(
            self.email
                .iter()
                .flat_map(|email| [&email.username, &email.password]),
        );
        gaps.extend(credentials.filter_map(|credential| self.unset(credential)));
        gaps
    }

    /// Everything this notifier still needs: to send, and to take its inbound webhook (an
    /// unset `webhook_secret_env` refuses PagerDuty's or Opsgenie's calls, but pages still go).
    pub fn setup_gaps(&self) -> Vec<String> {
        let mut gaps = self.sending_gaps();
        gaps.extend(self.unset(&self.inbound_secret));
        gaps
    }

    fn unset(&self, credential: &Option<Credential>) -> Option<String> {
        match credential {
            Some(Credential {
                var,
                value: None,
                what,
            }) => Some(format!(
                "notifier {}: set the environment variable {var} to the {what}",
                self.name
            )),
            _ => None,
        }
    }
}

/// P1 (most urgent) to P5, from a severity's rank in the configured list.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub enum Priority {
    P1,
    P2,
    P3,
    P4,
    P5,
}

impl Priority {
    /// The first configured severity is P1, the second P2, ...; the fifth and later are P5.
    pub fn from_rank(rank: usize) -> Priority {
        match rank {
            0 => Priority::P1,
            1 => Priority::P2,
            2 => Priority::P3,
            3 => Priority::P4,
            _ => Priority::P5,
        }
    }

    /// The priority of `severity` in the configured severity order (P5 when unknown).
    pub fn of_severity(severities: &[SeverityConfig], severity: &str) -> Priority {
        severities
            .iter()
            .position(|known| known.name.eq_ignore_ascii_case(severity))
            .map_or(Priority::P5, Priority::from_rank)
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Priority::P1 => "P1",
            Priority::P2 => "P2",
            Priority::P3 => "P3",
            Priority::P4 => "P4",
            Priority::P5 => "P5",
        }
    }
}

/// One page, as every notifier receives it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct PageMessage {
    /// Unique per (incident, level, round, target); see [`crate::escalation::dedup_key`].
    pub dedup_key: String,
    pub incident_id: IncidentId,
    pub title: String,
    pub severity: String,
    pub priority: Priority,
    pub service: Option<String>,
    /// 1-based level and 0-based round of the policy step that pages.
    pub level: u32,
    pub round: u32,
    /// The target as written in the policy (or the fallback standing in for it).
    pub target: Target,
    /// Who the target resolved to.
    pub recipient: Recipient,
    /// The incident's Discord channel or thread, when it has one.
    pub channel_id: Option<u64>,
    /// A link to the incident (its Discord channel), for people reading the page elsewhere.
    pub link: Option<String>,
    /// A practice incident: every notifier says DRILL.
    pub drill: bool,
    pub opened_at: Timestamp,
    /// What the person who paged by hand (`/page`) said, if anyone did.
    pub message: Option<String>,
}

impl PageMessage {
    /// One line: `[DRILL] INC-12 SEV1: Checkout is down (service api)`.
    pub fn summary(&self) -> String {
        format!(
            "{}{} {}: {}{}",
            if self.drill { "[DRILL] " } else { "" },
            self.incident_id,
            self.severity,
            self.title,
            self.service
                .as_deref()
                .map(|service| format!(" (service {service})"))
                .unwrap_or_default()
        )
    }
}

/// Something that delivers pages. Every delivery of one page carries the same `dedup_key`,
/// so receivers can deduplicate; acknowledge and resolve name the page by that key.
#[async_trait]
pub trait Notifier: Send + Sync + fmt::Debug {
    fn name(&self) -> &str;
    fn kind(&self) -> NotifierKind;
    /// Whether `action` reaches the receiver; unsupported actions return
    /// [`Outcome::Unsupported`] without sending anything.
    fn supports(&self, action: Action) -> bool;
    async fn trigger(&self, page: &PageMessage) -> Delivery;
    async fn acknowledge(&self, dedup_key: &str) -> Delivery;
    async fn resolve(&self, dedup_key: &str) -> Delivery;
    /// Sends a status update to stakeholders; notifiers that page people only say they
    /// cannot.
    async fn status_update(&self, _update: &StatusUpdate) -> Delivery {
        Delivery::unsupported(
            self.name(),
            Action::Update,
            "this kind of notifier pages people; status updates go to webhook, Slack and Discord webhook, and email notifiers",
        )
    }
}

/// A status update as notifiers send it: the incident's public face and what was said.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct StatusUpdate {
    pub incident_id: IncidentId,
    pub title: String,
    pub severity: String,
    pub service: Option<String>,
    /// `open`, `acknowledged`, `mitigated` or `resolved`.
    pub status: String,
    pub text: String,
    pub at: Timestamp,
    /// The update's place in the incident's timeline: with the incident, a unique key.
    pub seq: i64,
}

impl StatusUpdate {
    /// One line: `INC-12 (mitigated) Checkout is down: text`.
    pub fn summary(&self) -> String {
        format!(
            "{} ({}) {}: {}",
            self.incident_id, self.status, self.title, self.text
        )
    }
}

/// A notifier that cannot be built yet, and why.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("notifier {notifier} is not ready: {missing}")]
pub struct NotReady {
    pub notifier: String,
    pub missing: String,
}

/// The HTTP client notifiers share: no proxy from the environment (pages go where the config
/// says), and no redirects (a signed request must not wander to another host).
pub fn http_client() -> reqwest::Client {
    reqwest::Client::builder()
        .no_proxy()
        .redirect(reqwest::redirect::Policy::none())
        .user_agent(concat!("warroom/", env!("CARGO_PKG_VERSION")))
        .build()
        // Fails only when the TLS backend cannot start, where reqwest::Client::new() panics
        // too; falling back to a client that follows proxies and redirects would be worse.
        .expect("the TLS backend (rustls) starts")
}

/// Builds the notifier `config` describes, or says what it still lacks.
pub fn build(
    config: &NotifierConfig,
    http: &reqwest::Client,
    timer: Arc<dyn Timer>,
) -> Result<Arc<dyn Notifier>, NotReady> {
    let gaps = config.sending_gaps();
    if !gaps.is_empty() {
        return Err(NotReady {
            notifier: config.name.clone(),
            missing: gaps.join("; "),
        });
    }
    if let Some(settings) = &config.email {
        return email::Email::new(
            &config.name,
            settings.clone(),
            config.links.clone(),
            config.delivery.clone(),
            config.rate_limit,
            timer,
        )
        .map(|email| Arc::new(email) as Arc<dyn Notifier>)
        .map_err(|missing| NotReady {
            notifier: config.name.clone(),
            missing,
        });
    }
    let url = match &config.endpoint {
        Endpoint::Url(url) => SecretString::from(url.clone()),
        Endpoint::FromEnv { url: Some(url), .. } => url.clone(),
        Endpoint::FromEnv { url: None, .. } => unreachable!("a setup gap, returned above"),
    };
    let secret = config
        .credential
        .as_ref()
        .and_then(|credential| credential.value.clone());
    let deliverer = Deliverer::new(
        &config.name,
        http.clone(),
        config.delivery.clone(),
        config.rate_limit,
        timer,
    );
    let name = config.name.clone();
    let not_ready = |missing: &str| NotReady {
        notifier: name.clone(),
        missing: missing.to_owned(),
    };
    Ok(match config.kind {
        NotifierKind::PagerDuty => Arc::new(pagerduty::PagerDuty::new(
            &config.name,
            url,
            secret.ok_or_else(|| not_ready("a routing key"))?,
            deliverer,
        )),
        NotifierKind::Opsgenie => Arc::new(opsgenie::Opsgenie::new(
            &config.name,
            url,
            secret.ok_or_else(|| not_ready("an API key"))?,
            deliverer,
        )),
        NotifierKind::Webhook => Arc::new(webhook::Webhook::new(
            &config.name,
            url,
            secret,
            config.links.clone(),
            deliverer,
        )),
        NotifierKind::SlackWebhook => Arc::new(chat::SlackWebhook::new(
            &config.name,
            url,
            config.links.clone(),
            deliverer,
        )),
        NotifierKind::DiscordWebhook => {
            Arc::new(chat::DiscordWebhook::new(&config.name, url, deliverer))
        }
        NotifierKind::Email => {
            return Err(not_ready("an email notifier without its SMTP settings"));
        }
        NotifierKind::Discord => {
            return Err(not_ready(
                "the Discord pager is built by the Discord adapter, not from [notifiers]",
            ));
        }
    })
}

/// Builds every configured notifier that is ready; the others are listed with what they lack.
pub fn build_all(
    configs: &[NotifierConfig],
    http: &reqwest::Client,
    timer: Arc<dyn Timer>,
) -> (BTreeMap<String, Arc<dyn Notifier>>, Vec<NotReady>) {
    let mut ready = BTreeMap::new();
    let mut not_ready = Vec::new();
    for config in configs {
        match build(config, http, timer.clone()) {
            Ok(notifier) => {
                ready.insert(config.name.clone(), notifier);
            }
            Err(error) => not_ready.push(error),
        }
    }
    (ready, not_ready)
}

/// `text` cut to at most `max` characters, ending in `…` when cut. For receivers with hard
/// limits (Opsgenie's 130-character message); the full text always travels alongside.
pub(crate) fn shorten(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        return text.to_owned();
    }
    let mut cut: String = text.chars().take(max.saturating_sub(1)).collect();
    cut.push('…');
    cut
}

/// `text` escaped for HTML text and attribute values: the email notifier's HTML body and the
/// acknowledgement page show titles and names anyone could have typed.
pub(crate) fn escape_html(text: &str) -> String {
    let mut escaped = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => escaped.push_str("&amp;"),
            '<' => escaped.push_str("&lt;"),
            '>' => escaped.push_str("&gt;"),
            '"' => escaped.push_str("&quot;"),
            '\'' => escaped.push_str("&#39;"),
            c => escaped.push(c),
        }
    }
    escaped
}
