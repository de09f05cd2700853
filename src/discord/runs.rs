//! Runs in Discord: the request card (posted by `/run`, kept current by the projector from the
//! run's audit trail, whoever approved or ended it) and a run's output streamed into its
//! channel by the process that runs it, edited within Discord's rate limits.

use std::sync::Arc;
use std::time::{Duration, Instant};

use serenity::all::{
    ChannelId, CreateAllowedMentions, CreateAttachment, CreateMessage, EditMessage, MessageId,
};
use tokio::sync::mpsc;

use super::context::Bot;
use super::render;
use super::reply::CONTENT_LIMIT;
use super::rooms::Failed;
use crate::domain::{Run, RunState, format_duration};
use crate::runner::Progress;

/// How often the streaming message is edited. Discord allows about five edits per five
/// seconds in a channel; one every two seconds leaves room for everything else said there.
const STREAM_EDIT_INTERVAL: Duration = Duration::from_secs(2);

/// The most output shown in the streaming message: its tail, leaving room in the 2000
/// characters for the header and the code block around it.
const STREAM_TAIL_CHARS: usize = 1_500;

/// Output longer than what the message shows is attached as a file, up to Discord's
/// default upload limit.
const ATTACHMENT_LIMIT: u64 = 10 * 1024 * 1024;

impl Bot {
    /// Posts the request card of a run awaiting approval in its channel and remembers it.
    pub(crate) async fn post_run_card(&self, run: &Run) -> Result<(), String> {
        let Some(channel_id) = run.channel_id else {
            return Ok(());
        };
        let (embed, rows) = render::run_card(run);
        let message = CreateMessage::new()
            .embed(embed)
            .components(rows)
            .allowed_mentions(CreateAllowedMentions::new());
        let posted = ChannelId::new(channel_id)
            .send_message(self.http(), message)
            .await
            .map_err(|error| format!("Discord refused the request card ({error})"))?;
        self.ops()
            .set_run_card(run.id, channel_id, posted.id.get())
            .await
            .map_err(|error| error.to_string())?;
        // From now on the projector keeps it current (from audit entry 0: one redraw at once
        // catches anything that happened while it was being posted).
        self.ops()
            .store()
            .mark_run_card_shown(run.id, 0, false)
            .await
            .map_err(|error| error.to_string())?;
        Ok(())
    }

    /// Redraws a run's card from the run as it is now.
    pub(crate) async fn refresh_run_card(&self, run: &Run) -> Result<(), Failed> {
        let (Some(channel_id), Some(message_id)) = (run.channel_id, run.card_message_id) else {
            return Ok(());
        };
        let (embed, rows) = render::run_card(run);
        let edit = EditMessage::new().embed(embed).components(rows);
        ChannelId::new(channel_id)
            .edit_message(self.http(), MessageId::new(message_id), edit)
            .await
            .map(drop)
            .map_err(|error| Failed::of(&error, "updating the run card"))
    }

    /// Starts an approved run in the background, its output streamed into its channel.
    pub(crate) fn start_run(self: &Arc<Self>, run: Run) {
        let bot = self.clone();
        tokio::spawn(async move { bot.stream_run(run).await });
    }

    async fn stream_run(self: Arc<Self>, run: Run) {
        let id = run.id;
        let header = format!(
            "{} `{}`{}",
            id,
            run.command,
            if run.dry_run { " (dry run)" } else { "" }
        );
        let channel = run.channel_id.map(ChannelId::new);
        let mut posted = None;
        if let Some(channel) = channel {
            let first = CreateMessage::new()
                .content(format!("⏳ {header}: starting…"))
                .allowed_mentions(CreateAllowedMentions::new());
            match channel.send_message(self.http(), first).await {
                Ok(message) => posted = Some(message.id),
                Err(error) => {
                    tracing::warn!(%error, run = %id, "posting the run's output message failed; it runs without streaming")
                }
            }
        }
        let (progress_tx, progress_rx) = mpsc::unbounded_channel();
        let streamer = match (channel, posted) {
            (Some(channel), Some(message)) => Some(tokio::spawn(stream_output(
                self.clone(),
                channel,
                message,
                header.clone(),
                progress_rx,
            ))),
            _ => None,
        };
        let mut report = move |progress: Progress| {
            let _ = progress_tx.send(progress);
        };
        let finished = self.ops().execute_run(id, &mut report).await;
        drop(report);
        if let Some(streamer) = streamer {
            let _ = streamer.await;
        }
        let (Some(channel), Some(message)) = (channel, posted) else {
            return;
        };
        match finished {
            Ok(run) => self.show_result(channel, message, &header, &run).await,
            Err(error) => {
                let edit = EditMessage::new().content(format!("🚫 {header} did not run: {error}"));
                let _ = channel.edit_message(self.http(), message, edit).await;
            }
        }
    }

    /// The result in place of the streaming message, and the whole output as a file when the
    /// message cannot hold it.
    async fn show_result(&self, channel: ChannelId, message: MessageId, header: &str, run: &Run) {
        let icon = if run.state == RunState::Succeeded {
            "✅"
        } else {
            "❌"
        };
        let how = match (run.exit_code, &run.signal) {
            (Some(code), _) => format!("exit {code}"),
            (None, Some(signal)) => format!("ended by {signal}"),
            (None, None) => run.reason.clone().unwrap_or_else(|| run.state.to_string()),
        };
        let after = run
            .duration_ms
            .map(|ms| {
                format!(
                    " after {}",
                    format_duration(Duration::from_millis(ms.max(0) as u64))
                )
            })
            .unwrap_or_default();
        let output = run.output.clone().unwrap_or_default();
        let shown = tail(&output, STREAM_TAIL_CHARS);
        let complete =
            shown.len() == output.len() && run.output_bytes.unwrap_or(0) as usize == output.len();
        let mut content = format!("{icon} {header} {}: {how}{after}", run.state);
        if let Some(reason) = run
            .reason
            .as_ref()
            .filter(|_| run.exit_code.is_some() || run.signal.is_some())
        {
            content.push_str(&format!(" ({reason})"));
        }
        if !output.is_empty() {
            content.push('\n');
            content.push_str(&render::code_block(shown));
        }
        if !complete {
            content.push_str("\nThe whole output is attached below.");
        }
        let edit = EditMessage::new().content(content);
        if let Err(error) = channel.edit_message(self.http(), message, edit).await {
            tracing::warn!(%error, run = %run.id, "showing the run's result failed");
        }
        if complete {
            return;
        }
        // The full output file when it is whole and not too big, else the kept head and tail.
        let whole = match &run.output_file {
            Some(path) => match tokio::fs::metadata(path).await {
                Ok(meta) if meta.len() <= ATTACHMENT_LIMIT => tokio::fs::read(path).await.ok(),
                _ => None,
            },
            None => None,
        };
        let bytes = whole.unwrap_or_else(|| output.into_bytes());
        let file = CreateMessage::new()
            .content(format!(
                "Output of {} (SHA-256 {})",
                run.id,
                run.output_sha256.as_deref().unwrap_or("unknown")
            ))
            .add_file(CreateAttachment::bytes(
                bytes,
                format!("run-{}.log", run.id.0),
            ))
            .allowed_mentions(CreateAllowedMentions::new());
        if let Err(error) = channel.send_message(self.http(), file).await {
            tracing::warn!(%error, run = %run.id, "attaching the run's output failed");
        }
    }
}

/// The last `limit` characters of `text`, from a line start when one is near.
fn tail(text: &str, limit: usize) -> &str {
    let count = text.chars().count();
    if count <= limit {
        return text;
    }
    let start = text
        .char_indices()
        .nth(count - limit)
        .map(|(index, _)| index)
        .unwrap_or(0);
    let from = text[start..]
        .find('\n')
        .map(|offset| start + offset + 1)
        .unwrap_or(start);
    &text[from..]
}

/// Edits the run's message with the latest output, at most every `STREAM_EDIT_INTERVAL`.
async fn stream_output(
    bot: Arc<Bot>,
    channel: ChannelId,
    message: MessageId,
    header: String,
    mut progress: mpsc::UnboundedReceiver<Progress>,
) {
    let started = Instant::now();
    let mut shown = String::new();
    let mut status = "starting…".to_owned();
    let mut changed = false;
    let mut ticks = tokio::time::interval(STREAM_EDIT_INTERVAL);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            next = progress.recv() => match next {
                Some(Progress::WaitingForLock { key }) => {
                    status = format!("waiting for `{key}`, held by another run");
                    changed = true;
                }
                Some(Progress::Started { .. }) => {
                    status = "running".to_owned();
                    changed = true;
                }
                Some(Progress::Output { text, .. }) => {
                    shown.push_str(&text);
                    if shown.len() > STREAM_TAIL_CHARS * 4 {
                        shown = tail(&shown, STREAM_TAIL_CHARS).to_owned();
                    }
                    changed = true;
                }
                Some(Progress::Stopping { signal, .. }) => {
                    status = format!("stopping ({signal})");
                    changed = true;
                }
                None => return,
            },
            _ = ticks.tick() => {
                if !changed {
                    continue;
                }
                changed = false;
                let mut content = format!("⏳ {header}: {status} · {}", format_duration(started.elapsed()));
                let visible = tail(&shown, STREAM_TAIL_CHARS);
                if !visible.is_empty() {
                    content.push('\n');
                    content.push_str(&render::code_block(visible));
                }
                if content.chars().count() > CONTENT_LIMIT {
                    content = content.chars().take(CONTENT_LIMIT).collect();
                }
                let edit = EditMessage::new().content(content);
                if let Err(error) = channel.edit_message(bot.http(), message, edit).await {
                    tracing::warn!(%error, "streaming run output failed");
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tails_start_at_a_line_when_they_can() {
        assert_eq!(tail("short", 10), "short");
        let text = "first line\nsecond line\nthird";
        assert_eq!(tail(text, 12), "third");
        assert_eq!(tail("ééééé", 2), "éé");
    }
}
