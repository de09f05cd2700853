//! Answering interactions: within Discord's 3-second window, exactly once, errors only to the
//! person who caused them, and never a mention of anyone.

use std::future::Future;
use std::time::Duration;

use futures::future::BoxFuture;

use serenity::all::{
    Builder, CreateActionRow, CreateAllowedMentions, CreateAttachment, CreateEmbed,
    CreateInteractionResponse, CreateInteractionResponseFollowup, CreateInteractionResponseMessage,
    EditInteractionResponse, Http, InteractionId,
};

/// When an answer is not ready by then, the interaction is deferred ("warroom is thinking…")
/// and the answer edited in later. Discord invalidates an interaction not answered within
/// 3 s; 1.5 s leaves room for the defer itself to reach Discord on a slow link.
pub(crate) const DEFER_AFTER: Duration = Duration::from_millis(1_500);

/// Discord's limit on message content.
pub(crate) const CONTENT_LIMIT: usize = 2_000;

/// Who sees the answer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Visibility {
    Everyone,
    /// Only the person who used the command.
    OnlyYou,
}

/// What warroom answers. Built by handlers, sent by `answer`.
#[derive(Default)]
pub(crate) struct Reply {
    pub content: String,
    pub embeds: Vec<CreateEmbed>,
    pub components: Vec<CreateActionRow>,
    pub files: Vec<CreateAttachment>,
    pub ephemeral: bool,
    /// Work that finishes after the answer was sent; its reply replaces the answer. For what
    /// people need not wait for (`/incident open` answers once the incident is stored, then
    /// adds the link to the channel being made).
    pub then: Option<BoxFuture<'static, Reply>>,
    /// Nothing is to be sent: another delivery of the interaction took it (see
    /// `interactions.rs`).
    pub silent: bool,
}

impl Reply {
    pub fn public(content: impl Into<String>) -> Reply {
        Reply {
            content: content.into(),
            ..Reply::default()
        }
    }

    pub fn private(content: impl Into<String>) -> Reply {
        Reply {
            content: content.into(),
            ephemeral: true,
            ..Reply::default()
        }
    }

    /// No answer at all: the interaction is another process's (or an earlier delivery's).
    pub fn silence() -> Reply {
        Reply {
            silent: true,
            ..Reply::default()
        }
    }

    /// A problem the user caused or can act on: shown only to them.
    pub fn error(message: impl std::fmt::Display) -> Reply {
        Reply::private(format!("⚠️ {message}"))
    }

    pub fn embed(mut self, embed: CreateEmbed) -> Reply {
        self.embeds.push(embed);
        self
    }

    /// Finishes the answer later with the reply `rest` produces.
    pub fn then(mut self, rest: impl Future<Output = Reply> + Send + 'static) -> Reply {
        self.then = Some(Box::pin(rest));
        self
    }

    pub fn file(mut self, name: impl Into<String>, bytes: Vec<u8>) -> Reply {
        self.files.push(CreateAttachment::bytes(bytes, name.into()));
        self
    }

    /// The same answer, without its later part, to send another way.
    fn visible_copy(&self) -> Reply {
        Reply {
            content: self.content.clone(),
            embeds: self.embeds.clone(),
            components: self.components.clone(),
            files: self.files.clone(),
            ephemeral: self.ephemeral,
            then: None,
            silent: self.silent,
        }
    }

    /// Content too long for one message goes in an attached file, with its first lines kept
    /// in the message: never truncated silently.
    fn fitted(mut self) -> Reply {
        if self.content.chars().count() <= CONTENT_LIMIT {
            return self;
        }
        let full = std::mem::take(&mut self.content);
        let note = "\n… (the full text is attached)";
        let keep = CONTENT_LIMIT - note.chars().count();
        let mut head: String = full.chars().take(keep).collect();
        if let Some(cut) = head.rfind('\n') {
            head.truncate(cut);
        }
        self.content = format!("{head}{note}");
        self.files
            .push(CreateAttachment::bytes(full.into_bytes(), "message.txt"));
        self
    }

    fn into_message(self) -> CreateInteractionResponseMessage {
        let reply = self.fitted();
        CreateInteractionResponseMessage::new()
            .content(reply.content)
            .embeds(reply.embeds)
            .components(reply.components)
            .add_files(reply.files)
            .ephemeral(reply.ephemeral)
            .allowed_mentions(CreateAllowedMentions::new())
    }

    fn into_edit(self) -> EditInteractionResponse {
        let reply = self.fitted();
        let mut edit = EditInteractionResponse::new()
            .content(reply.content)
            .embeds(reply.embeds)
            .components(reply.components)
            .allowed_mentions(CreateAllowedMentions::new());
        for file in reply.files {
            edit = edit.new_attachment(file);
        }
        edit
    }

    fn into_followup(self) -> CreateInteractionResponseFollowup {
        let reply = self.fitted();
        CreateInteractionResponseFollowup::new()
            .content(reply.content)
            .embeds(reply.embeds)
            .components(reply.components)
            .add_files(reply.files)
            .ephemeral(reply.ephemeral)
            .allowed_mentions(CreateAllowedMentions::new())
    }
}

/// Runs `work` and sends its reply as the one answer to interaction `id`, which arrived at
/// `received`. If the reply is not ready `DEFER_AFTER` after that, the interaction is deferred
/// (visible as `defer_as`) and the reply edited in when it comes. An error reply after a public
/// defer replaces the public "thinking" message with a private follow-up, so errors stay with
/// the person who caused them. If another delivery of the interaction already answered or
/// deferred it (Discord says 40060), the reply is edited into that answer instead.
pub(crate) async fn answer(
    http: &Http,
    id: InteractionId,
    token: &str,
    defer_as: Visibility,
    received: std::time::Instant,
    work: impl Future<Output = Reply>,
) -> Result<(), serenity::Error> {
    tokio::pin!(work);
    let defer_at = tokio::time::Instant::from_std(received + DEFER_AFTER);
    let ready = tokio::select! {
        reply = &mut work => Some(reply),
        () = tokio::time::sleep_until(defer_at) => None,
    };
    let mut reply = match ready {
        Some(reply) if reply.silent => return Ok(()),
        Some(mut reply) => {
            let rest = reply.then.take();
            let again = reply.visible_copy();
            let sent = CreateInteractionResponse::Message(reply.into_message())
                .execute(http, (id, token))
                .await;
            crate::metrics::interaction_latency(received.elapsed());
            match sent {
                Ok(()) => return finish_later(http, token, rest).await,
                // Deferred by another delivery meanwhile: the reply goes into that answer.
                Err(error) if already_acknowledged(&error) => {
                    let mut again = again;
                    again.then = rest;
                    again
                }
                Err(error) => return Err(error),
            }
        }
        None => {
            let defer =
                CreateInteractionResponseMessage::new().ephemeral(defer_as == Visibility::OnlyYou);
            match CreateInteractionResponse::Defer(defer)
                .execute(http, (id, token))
                .await
            {
                Ok(()) => {}
                Err(error) if already_acknowledged(&error) => {}
                Err(error) => return Err(error),
            }
            crate::metrics::interaction_latency(received.elapsed());
            work.await
        }
    };
    // Deferred (by this delivery or another): the reply is edited in.
    if reply.silent {
        return Ok(());
    }
    let rest = reply.then.take();
    if reply.ephemeral && defer_as == Visibility::Everyone {
        http.delete_original_interaction_response(token).await?;
        reply.into_followup().execute(http, (None, token)).await?;
        return Ok(());
    }
    reply.into_edit().execute(http, token).await?;
    finish_later(http, token, rest).await
}

/// The rest of an answer, edited in when it is ready.
async fn finish_later(
    http: &Http,
    token: &str,
    rest: Option<BoxFuture<'static, Reply>>,
) -> Result<(), serenity::Error> {
    if let Some(rest) = rest {
        rest.await.into_edit().execute(http, token).await?;
    }
    Ok(())
}

/// Discord's 40060: the interaction was already answered (by another session of the bot).
fn already_acknowledged(error: &serenity::Error) -> bool {
    use serenity::all::HttpError;
    matches!(
        error,
        serenity::Error::Http(HttpError::UnsuccessfulRequest(response))
            if response.error.code == 40060
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_content_is_attached_not_cut() {
        let long: String = (0..400).map(|n| format!("line {n}\n")).collect();
        let reply = Reply::public(long.clone()).fitted();
        assert!(reply.content.chars().count() <= CONTENT_LIMIT);
        assert!(reply.content.ends_with("(the full text is attached)"));
        assert_eq!(reply.files.len(), 1);
        let short = Reply::public("fits").fitted();
        assert!(short.files.is_empty());
    }
}
