//! The Discord pager: the [`Notifier`] the escalation engine hands Discord users and roles
//! to. A user gets a DM and a mention in the incident channel; a role gets a mention in the
//! incident channel; every page carries an Acknowledge button (which works from the DM too:
//! the paged person may acknowledge without any role).
//!
//! Nothing here retries: serenity's own rate limiter waits out Discord's 429s, and a page that
//! fails is recorded as failed, which escalates.

use std::sync::Arc;
use std::time::Instant;

use async_trait::async_trait;
use serenity::all::{ChannelId, CreateAllowedMentions, CreateMessage, RoleId, UserId};

use super::context::Bot;
use super::render;
use crate::escalation::Recipient;
use crate::notify::{
    Action, Attempt, AttemptResult, Delivery, Notifier, NotifierKind, Outcome, PageMessage,
};

/// The pager's name in deliveries, metrics and `page_sent` events.
const NAME: &str = "discord";

/// Pages through the bot's REST client, from whichever process's engine claimed the page
/// (REST needs no gateway). A page for an incident whose room is still being made waits for
/// it.
pub(crate) struct DiscordPager {
    bot: Arc<Bot>,
}

impl std::fmt::Debug for DiscordPager {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DiscordPager").finish_non_exhaustive()
    }
}

/// One message the pager tried to send.
struct Sent {
    /// What it was, for the attempt history: "DM to <@1>", "mention in <#2>".
    what: String,
    result: Result<(), Failure>,
    at_ms: u64,
}

/// Why Discord did not take a message.
#[derive(Clone, Debug)]
struct Failure {
    /// The HTTP status when Discord answered; `None` when it did not (timeout, connection).
    status: Option<u16>,
    text: String,
}

impl Failure {
    fn of(error: &serenity::Error) -> Failure {
        use serenity::all::HttpError;
        match error {
            serenity::Error::Http(HttpError::UnsuccessfulRequest(response)) => Failure {
                status: Some(response.status_code.as_u16()),
                text: format!(
                    "HTTP {}: {} (Discord error {})",
                    response.status_code.as_u16(),
                    response.error.message,
                    response.error.code
                ),
            },
            // The rest say nothing secret (the token travels in a header, never in an error).
            other => Failure {
                status: None,
                text: other.to_string(),
            },
        }
    }

    /// A refusal retrying cannot change (a 4xx other than 429): the user blocks DMs, the bot
    /// may not post in the channel, the channel is gone.
    fn permanent(&self) -> bool {
        self.status
            .is_some_and(|status| (400..500).contains(&status) && status != 429)
    }
}

impl DiscordPager {
    pub(crate) fn new(bot: Arc<Bot>) -> DiscordPager {
        DiscordPager { bot }
    }

    /// The incident's channel: the page's, else its room once the projector (of this process
    /// or the one holding the gateway) has made it. Level 1 pages as the incident opens, a
    /// moment before its room exists.
    async fn channel(&self, page: &PageMessage) -> Result<u64, String> {
        if let Some(channel_id) = page.channel_id {
            return Ok(channel_id);
        }
        self.bot
            .wait_for_room(page.incident_id)
            .await
            .ok_or_else(|| format!("{} has no channel yet", page.incident_id))
    }

    /// The policy that paged, when a policy level did (level 0 is a page by hand or the
    /// fallback). `PageMessage` does not carry it; the escalation does.
    async fn policy(&self, page: &PageMessage) -> Option<String> {
        if page.level == 0 {
            return None;
        }
        match self.bot.ops().store().escalation(page.incident_id).await {
            Ok(escalation) => escalation
                .map(|escalation| escalation.policy)
                .filter(|policy| !policy.is_empty()),
            Err(error) => {
                tracing::warn!(%error, incident = %page.incident_id, "cannot read the escalation policy for a page's text");
                None
            }
        }
    }

    async fn send(
        &self,
        started: Instant,
        channel: Result<u64, String>,
        what: String,
        message: CreateMessage,
    ) -> Sent {
        let result = match channel {
            Ok(channel_id) => ChannelId::new(channel_id)
                .send_message(self.bot.http(), message)
                .await
                .map(drop)
                .map_err(|error| Failure::of(&error)),
            Err(reason) => Err(Failure {
                status: None,
                text: reason,
            }),
        };
        Sent {
            what,
            result,
            at_ms: elapsed_ms(started),
        }
    }

    async fn page_user(&self, page: &PageMessage, user_id: u64, why: &str) -> Vec<Sent> {
        let started = Instant::now();
        let dm_channel = UserId::new(user_id)
            .create_dm_channel(self.bot.http())
            .await
            .map(|channel| channel.id.get())
            .map_err(|error| Failure::of(&error));
        let dm = CreateMessage::new()
            .content(render::page_text(page, None, why, true))
            .components(render::page_buttons(page.incident_id))
            .allowed_mentions(CreateAllowedMentions::new());
        let dm = match dm_channel {
            Ok(channel_id) => {
                self.send(started, Ok(channel_id), format!("DM to <@{user_id}>"), dm)
                    .await
            }
            Err(failure) => Sent {
                what: format!("DM to <@{user_id}>"),
                result: Err(failure),
                at_ms: elapsed_ms(started),
            },
        };
        let channel = self.channel(page).await;
        let place = match &channel {
            Ok(channel_id) => format!("mention in <#{channel_id}>"),
            Err(_) => "mention in the incident channel".to_owned(),
        };
        let mut text = render::page_text(page, Some(&format!("<@{user_id}>")), why, false);
        if let Err(failure) = &dm.result {
            text.push_str(&format!(
                "\n-# The DM to <@{user_id}> could not be sent: {}",
                failure.text
            ));
        }
        let mention = CreateMessage::new()
            .content(render::fit(text))
            .components(render::page_buttons(page.incident_id))
            .allowed_mentions(CreateAllowedMentions::new().users([UserId::new(user_id)]));
        let mention = self.send(started, channel, place, mention).await;
        vec![dm, mention]
    }

    async fn page_role(&self, page: &PageMessage, role: &str, role_ids: &[u64], why: &str) -> Sent {
        let started = Instant::now();
        if role_ids.is_empty() {
            return Sent {
                what: format!("mention of bot role {role}"),
                result: Err(Failure {
                    status: None,
                    text: format!("no Discord role grants the bot role {role}; map one in [roles]"),
                }),
                at_ms: 0,
            };
        }
        let mentions: Vec<String> = role_ids.iter().map(|id| format!("<@&{id}>")).collect();
        let whom = format!("{} (`{role}`)", mentions.join(" "));
        let message = CreateMessage::new()
            .content(render::page_text(page, Some(&whom), why, false))
            .components(render::page_buttons(page.incident_id))
            .allowed_mentions(
                CreateAllowedMentions::new().roles(role_ids.iter().map(|id| RoleId::new(*id))),
            );
        let channel = self.channel(page).await.map_err(|reason| {
            format!("the incident has no channel to mention the role in: {reason}")
        });
        self.send(
            started,
            channel,
            format!("mention of bot role {role}"),
            message,
        )
        .await
    }
}

#[async_trait]
impl Notifier for DiscordPager {
    fn name(&self) -> &str {
        NAME
    }

    fn kind(&self) -> NotifierKind {
        NotifierKind::Discord
    }

    fn supports(&self, action: Action) -> bool {
        action == Action::Trigger
    }

    async fn trigger(&self, page: &PageMessage) -> Delivery {
        let why = render::page_reason(page, self.policy(page).await.as_deref());
        let sent = match &page.recipient {
            Recipient::DiscordUser { user_id, .. } => self.page_user(page, *user_id, &why).await,
            Recipient::DiscordRole { role, role_ids } => {
                vec![self.page_role(page, role, role_ids, &why).await]
            }
            Recipient::Notifier { name, .. } => {
                return Delivery::unsupported(
                    NAME,
                    Action::Trigger,
                    format!("notifier {name} is not a Discord user or role"),
                );
            }
        };
        delivery(sent)
    }

    async fn acknowledge(&self, _dedup_key: &str) -> Delivery {
        Delivery::unsupported(
            NAME,
            Action::Acknowledge,
            "the incident channel already says who acknowledged",
        )
    }

    async fn resolve(&self, _dedup_key: &str) -> Delivery {
        Delivery::unsupported(
            NAME,
            Action::Resolve,
            "the incident channel already says it is resolved",
        )
    }
}

/// Delivered when any message went out; otherwise failed, permanently when every refusal was
/// one retrying cannot change. Each message is one attempt in the history, so the timeline
/// says which one failed.
fn delivery(sent: Vec<Sent>) -> Delivery {
    let attempts: Vec<Attempt> = sent
        .iter()
        .enumerate()
        .map(|(index, sent)| Attempt {
            number: u32::try_from(index + 1).unwrap_or(u32::MAX),
            waited_ms: 0,
            at_ms: sent.at_ms,
            result: match &sent.result {
                Ok(()) => AttemptResult::Status {
                    status: 200,
                    body: format!("{}: sent", sent.what),
                    retry_after_ms: None,
                },
                Err(failure) => match failure.status {
                    Some(status) => AttemptResult::Status {
                        status,
                        body: format!("{}: {}", sent.what, failure.text),
                        retry_after_ms: None,
                    },
                    None => AttemptResult::Error {
                        error: format!("{}: {}", sent.what, failure.text),
                    },
                },
            },
        })
        .collect();
    let failures: Vec<(&Sent, &Failure)> = sent
        .iter()
        .filter_map(|sent| sent.result.as_ref().err().map(|failure| (sent, failure)))
        .collect();
    let outcome = if failures.len() < sent.len() {
        Outcome::Delivered { status: 200 }
    } else {
        let reason = failures
            .iter()
            .map(|(sent, failure)| format!("{}: {}", sent.what, failure.text))
            .collect::<Vec<_>>()
            .join("; ");
        match failures.iter().find_map(|(_, failure)| failure.status) {
            Some(status) if failures.iter().all(|(_, failure)| failure.permanent()) => {
                Outcome::FailedPermanently {
                    status,
                    body: reason,
                }
            }
            _ => Outcome::FailedAfterRetries { reason },
        }
    };
    Delivery {
        notifier: NAME.to_owned(),
        action: Action::Trigger,
        outcome,
        attempts,
    }
}

fn elapsed_ms(started: Instant) -> u64 {
    u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sent(what: &str, result: Result<(), Failure>) -> Sent {
        Sent {
            what: what.to_owned(),
            result,
            at_ms: 0,
        }
    }

    fn refused(status: u16) -> Result<(), Failure> {
        Err(Failure {
            status: Some(status),
            text: format!("HTTP {status}: Cannot send messages to this user (Discord error 50007)"),
        })
    }

    #[test]
    fn one_message_out_is_a_delivery_that_still_names_the_failed_one() {
        let delivery = delivery(vec![sent("DM", refused(403)), sent("mention", Ok(()))]);
        assert!(delivery.is_delivered());
        assert_eq!(delivery.attempts.len(), 2);
        assert!(delivery.attempts[0].result.to_string().contains("50007"));
    }

    #[test]
    fn refusals_fail_permanently_and_anything_else_after_retries() {
        let both = delivery(vec![
            sent("DM", refused(403)),
            sent("mention", refused(404)),
        ]);
        assert!(matches!(
            both.outcome,
            Outcome::FailedPermanently { status: 403, .. }
        ));
        let down = Err(Failure {
            status: None,
            text: "timed out".to_owned(),
        });
        let mixed = delivery(vec![sent("DM", refused(403)), sent("mention", down)]);
        assert!(matches!(mixed.outcome, Outcome::FailedAfterRetries { .. }));
        let limited = delivery(vec![sent("mention", refused(429))]);
        assert!(matches!(
            limited.outcome,
            Outcome::FailedAfterRetries { .. }
        ));
    }
}
