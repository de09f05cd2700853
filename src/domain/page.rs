//! Pages as values: where a page goes as written in a policy (`Target`), who it reached once
//! resolved (`Recipient`), and the kinds of notifier. Shared by escalation, notify, the store
//! and the adapters; plain data, no I/O.

use std::fmt;
use std::str::FromStr;

use serde::{Serialize, Serializer};

/// The kinds of notifier. `Discord` is the in-Discord pager (not configured in
/// `[notifiers]`); the others are `kind = "..."` values.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
pub enum NotifierKind {
    #[serde(rename = "pagerduty")]
    PagerDuty,
    #[serde(rename = "opsgenie")]
    Opsgenie,
    #[serde(rename = "webhook")]
    Webhook,
    #[serde(rename = "slack_webhook")]
    SlackWebhook,
    #[serde(rename = "discord_webhook")]
    DiscordWebhook,
    #[serde(rename = "email")]
    Email,
    #[serde(rename = "discord")]
    Discord,
}

impl NotifierKind {
    /// The kinds `[notifiers]` accepts, as written there.
    pub const CONFIGURABLE: [NotifierKind; 6] = [
        NotifierKind::PagerDuty,
        NotifierKind::Opsgenie,
        NotifierKind::Webhook,
        NotifierKind::SlackWebhook,
        NotifierKind::DiscordWebhook,
        NotifierKind::Email,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            NotifierKind::PagerDuty => "pagerduty",
            NotifierKind::Opsgenie => "opsgenie",
            NotifierKind::Webhook => "webhook",
            NotifierKind::SlackWebhook => "slack_webhook",
            NotifierKind::DiscordWebhook => "discord_webhook",
            NotifierKind::Email => "email",
            NotifierKind::Discord => "discord",
        }
    }

    pub fn parse(text: &str) -> Option<NotifierKind> {
        NotifierKind::CONFIGURABLE
            .into_iter()
            .find(|kind| kind.as_str() == text)
    }

    /// How a page travels, in words, for `warroom policy simulate`.
    pub fn describe(self) -> &'static str {
        match self {
            NotifierKind::PagerDuty => "PagerDuty Events API v2",
            NotifierKind::Opsgenie => "Opsgenie alert",
            NotifierKind::Webhook => "signed JSON webhook",
            NotifierKind::SlackWebhook => "Slack incoming webhook cross-post",
            NotifierKind::DiscordWebhook => "Discord incoming webhook cross-post",
            NotifierKind::Email => "email (SMTP) with a one-click acknowledgement link",
            NotifierKind::Discord => "Discord DM and mention",
        }
    }
}

impl fmt::Display for NotifierKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Where a page goes, as written in a policy.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Target {
    /// A Discord user id: a DM and a mention in the incident channel.
    User(u64),
    /// A bot role of `[roles]`: a mention of the Discord roles that grant it.
    Role(String),
    /// Whoever is on call in this schedule at the step's due time.
    Schedule(String),
    /// A notifier of `[notifiers]` (PagerDuty, Opsgenie, a webhook, ...).
    Notifier(String),
}

/// Why a target could not be read.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum TargetParseError {
    #[error(
        "`{0}` is not a target; write user:<Discord user id>, role:<bot role>, schedule:<name> or notifier:<name>"
    )]
    UnknownKind(String),
    #[error(
        "`{0}` is not a Discord user id; ids are digits, copied with Developer Mode on (right-click → Copy User ID)"
    )]
    BadUserId(String),
    #[error("`{0}` names nothing; write the name after the colon, e.g. schedule:primary")]
    EmptyName(String),
}

impl FromStr for Target {
    type Err = TargetParseError;

    fn from_str(text: &str) -> Result<Target, TargetParseError> {
        let trimmed = text.trim();
        let Some((kind, name)) = trimmed.split_once(':') else {
            return Err(TargetParseError::UnknownKind(text.to_owned()));
        };
        let name = name.trim();
        if name.is_empty() {
            return Err(TargetParseError::EmptyName(text.to_owned()));
        }
        match kind.trim() {
            "user" => match name.parse::<u64>() {
                Ok(id) if id > 0 => Ok(Target::User(id)),
                _ => Err(TargetParseError::BadUserId(name.to_owned())),
            },
            "role" => Ok(Target::Role(name.to_owned())),
            "schedule" => Ok(Target::Schedule(name.to_owned())),
            "notifier" => Ok(Target::Notifier(name.to_owned())),
            _ => Err(TargetParseError::UnknownKind(text.to_owned())),
        }
    }
}

impl fmt::Display for Target {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Target::User(id) => write!(f, "user:{id}"),
            Target::Role(name) => write!(f, "role:{name}"),
            Target::Schedule(name) => write!(f, "schedule:{name}"),
            Target::Notifier(name) => write!(f, "notifier:{name}"),
        }
    }
}

impl Serialize for Target {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

/// Someone or something a page reaches once its target is resolved.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Recipient {
    /// A Discord user: a DM and a mention in the incident channel, each with Acknowledge.
    DiscordUser {
        #[serde(serialize_with = "crate::domain::discord_ids::one")]
        user_id: u64,
        /// The schedule that put them on call, when the target was a schedule.
        schedule: Option<String>,
        /// Whether they are on call through an override rather than the rotation.
        via_override: bool,
    },
    /// A mention, in the incident channel, of the Discord roles that grant a bot role.
    DiscordRole {
        role: String,
        #[serde(serialize_with = "crate::domain::discord_ids::many")]
        role_ids: Vec<u64>,
    },
    /// A configured notifier.
    Notifier { name: String, kind: NotifierKind },
}

impl Recipient {
    /// Who, and through which channel, as `warroom policy simulate` prints it.
    pub fn describe(&self) -> String {
        match self {
            Recipient::DiscordUser {
                user_id,
                schedule,
                via_override,
            } => {
                let source = match (schedule, via_override) {
                    (Some(schedule), true) => format!(" (on call in {schedule} by override)"),
                    (Some(schedule), false) => format!(" (on call in {schedule})"),
                    (None, _) => String::new(),
                };
                format!("Discord user {user_id}{source}: DM + mention in the incident channel")
            }
            Recipient::DiscordRole { role, role_ids } => {
                let ids: Vec<String> = role_ids.iter().map(u64::to_string).collect();
                format!(
                    "bot role {role}: mention of Discord role{} {} in the incident channel",
                    if ids.len() == 1 { "" } else { "s" },
                    ids.join(", ")
                )
            }
            Recipient::Notifier { name, kind } => {
                format!("notifier {name} ({})", kind.describe())
            }
        }
    }
}
