//! Cross-posting to chat through incoming webhooks: Slack (`{"text": ...}`) and Discord
//! (`{"content": ..., "allowed_mentions": {"parse": []}}`). They post a message per page;
//! they cannot acknowledge or resolve anything, and say so. A Slack cross-post carries the
//! one-click acknowledgement link (acting as `notifier:<name>`) when `[http] public_url` and
//! `ack_secret_env` are set; a Discord cross-post does not, since the Discord page itself
//! has an Acknowledge button for the person paged.
//!
//! Nothing in a cross-post can ping anyone: Discord gets `allowed_mentions` empty, and
//! Slack's control characters (`&`, `<`, `>`) are escaped so a title holding `<!channel>`
//! is shown, not obeyed.

use async_trait::async_trait;
use secrecy::{ExposeSecret, SecretString};
use serde_json::json;

use super::delivery::{Action, Deliverer, Delivery};
use super::links::{Links, Paged};
use super::{Notifier, NotifierKind, PageMessage, StatusUpdate, shorten};

/// Discord refuses message content over 2000 characters.
const DISCORD_MAX_CONTENT_CHARS: usize = 2000;
/// Slack truncates `text` beyond 40,000 characters; warroom stays well inside and says so
/// when it shortens a title.
const SLACK_MAX_TEXT_CHARS: usize = 4000;
/// Room kept for everything in a cross-post but the title.
const TITLE_ROOM: usize = 400;

const CANNOT_UPDATE: &str = "an incoming webhook can only post messages; acknowledgements and resolutions are shown in Discord";

/// The message both chats post, with `title` already made safe for the chat.
fn cross_post_text(page: &PageMessage, title: &str, max_chars: usize) -> String {
    let budget = max_chars.saturating_sub(TITLE_ROOM);
    let shortened = title.chars().count() > budget;
    let title = shorten(title, budget);
    let mut lines = vec![format!(
        "{}{} {} ({}): {}{}",
        if page.drill { "[DRILL] " } else { "" },
        page.incident_id,
        page.severity,
        page.priority.as_str(),
        title,
        if shortened {
            " (title shortened; the whole title is in warroom)"
        } else {
            ""
        }
    )];
    let mut detail = format!(
        "Escalation level {}, round {}, target {}",
        page.level, page.round, page.target
    );
    if let Some(service) = &page.service {
        detail.push_str(&format!(", service {service}"));
    }
    lines.push(detail);
    if let Some(link) = &page.link {
        lines.push(link.clone());
    }
    lines.join("\n")
}

/// Slack's escaping for message text: these three characters form mentions and links.
fn slack_escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

pub struct SlackWebhook {
    name: String,
    url: SecretString,
    links: Option<Links>,
    deliverer: Deliverer,
}

impl std::fmt::Debug for SlackWebhook {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SlackWebhook")
            .field("name", &self.name)
            .finish_non_exhaustive()
    }
}

impl SlackWebhook {
    pub fn new(
        name: &str,
        url: SecretString,
        links: Option<Links>,
        deliverer: Deliverer,
    ) -> SlackWebhook {
        SlackWebhook {
            name: name.to_owned(),
            url,
            links,
            deliverer,
        }
    }
}

#[async_trait]
impl Notifier for SlackWebhook {
    fn name(&self) -> &str {
        &self.name
    }

    fn kind(&self) -> NotifierKind {
        NotifierKind::SlackWebhook
    }

    fn supports(&self, action: Action) -> bool {
        action == Action::Trigger
    }

    async fn trigger(&self, page: &PageMessage) -> Delivery {
        let text = slack_escape(&cross_post_text(page, &page.title, SLACK_MAX_TEXT_CHARS));
        self.deliverer
            .deliver(Action::Trigger, |http, now| {
                let mut text = text.clone();
                if let Some(links) = &self.links {
                    // Built of letters, digits, dots, slashes and colons: nothing Slack reads
                    // as markup, so it needs no escaping.
                    text.push_str("\nAcknowledge: ");
                    text.push_str(&links.ack_url_for(
                        page,
                        Paged::Notifier(self.name.clone()),
                        now,
                    ));
                }
                http.post(self.url.expose_secret())
                    .json(&json!({ "text": text }))
            })
            .await
    }

    async fn status_update(&self, update: &StatusUpdate) -> Delivery {
        let text = slack_escape(&shorten(&update.summary(), SLACK_MAX_TEXT_CHARS));
        self.deliverer
            .deliver(Action::Update, |http, _now| {
                http.post(self.url.expose_secret())
                    .json(&json!({ "text": text }))
            })
            .await
    }

    async fn acknowledge(&self, _dedup_key: &str) -> Delivery {
        Delivery::unsupported(&self.name, Action::Acknowledge, CANNOT_UPDATE)
    }

    async fn resolve(&self, _dedup_key: &str) -> Delivery {
        Delivery::unsupported(&self.name, Action::Resolve, CANNOT_UPDATE)
    }
}

pub struct DiscordWebhook {
    name: String,
    url: SecretString,
    deliverer: Deliverer,
}

impl std::fmt::Debug for DiscordWebhook {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DiscordWebhook")
            .field("name", &self.name)
            .finish_non_exhaustive()
    }
}

impl DiscordWebhook {
    pub fn new(name: &str, url: SecretString, deliverer: Deliverer) -> DiscordWebhook {
        DiscordWebhook {
            name: name.to_owned(),
            url,
            deliverer,
        }
    }
}

#[async_trait]
impl Notifier for DiscordWebhook {
    fn name(&self) -> &str {
        &self.name
    }

    fn kind(&self) -> NotifierKind {
        NotifierKind::DiscordWebhook
    }

    fn supports(&self, action: Action) -> bool {
        action == Action::Trigger
    }

    async fn trigger(&self, page: &PageMessage) -> Delivery {
        let content = cross_post_text(page, &page.title, DISCORD_MAX_CONTENT_CHARS);
        let body = json!({
            "content": content,
            "username": "warroom",
            // Nobody is pinged by a cross-post, whatever the title says.
            "allowed_mentions": { "parse": [] },
        });
        self.deliverer
            .deliver(Action::Trigger, |http, _now| {
                http.post(self.url.expose_secret()).json(&body)
            })
            .await
    }

    async fn status_update(&self, update: &StatusUpdate) -> Delivery {
        let content = shorten(&update.summary(), DISCORD_MAX_CONTENT_CHARS);
        let body = json!({
            "content": content,
            "username": "warroom",
            "allowed_mentions": { "parse": [] },
        });
        self.deliverer
            .deliver(Action::Update, |http, _now| {
                http.post(self.url.expose_secret()).json(&body)
            })
            .await
    }

    async fn acknowledge(&self, _dedup_key: &str) -> Delivery {
        Delivery::unsupported(&self.name, Action::Acknowledge, CANNOT_UPDATE)
    }

    async fn resolve(&self, _dedup_key: &str) -> Delivery {
        Delivery::unsupported(&self.name, Action::Resolve, CANNOT_UPDATE)
    }
}
