//! Deadlines, reminders, checklists and recovery points in Discord: the card with its
//! checklist and select menu, nudges (which mention the commander, or everyone here), the
//! select menu and "Resolve anyway" button, and resolving with the checklist in mind.

use serenity::all::{
    ChannelId, ComponentInteractionDataKind, CreateActionRow, CreateAllowedMentions, CreateEmbed,
    CreateMessage, UserId,
};

use super::context::Bot;
use super::render::{self, during, replies};
use super::reply::Reply;
use super::rooms::{Failed, nonce};
use crate::domain::{Event, Incident, IncidentId, Refusal, Status};
use crate::ops::{OpsError, Principal};

impl Bot {
    /// The summary card as the incident is now, with its checklist (read from the timeline).
    pub(crate) async fn card(
        &self,
        incident: &Incident,
    ) -> Result<(CreateEmbed, Vec<CreateActionRow>), OpsError> {
        let (embed, mut rows) = render::card(incident, self.config());
        let items = self.ops().checklist_of(incident).await?;
        let embed = during::checklist_field(embed, &items);
        if incident.status != Status::Resolved
            && let Some(menu) = during::checklist_menu(incident.id, &items)
        {
            rows.push(menu);
        }
        Ok((embed, rows))
    }

    /// A reminder in the room, mentioning (and so pinging) whom it is for.
    pub(crate) async fn nudge(&self, incident: &Incident, event: &Event) -> Result<(), Failed> {
        let Some(channel_id) = incident.channel_id else {
            return Ok(());
        };
        let (text, user) = during::reminder_line(event);
        let mentions = match user {
            Some(user) => CreateAllowedMentions::new().users([UserId::new(user)]),
            None => CreateAllowedMentions::new().everyone(true),
        };
        let message = CreateMessage::new()
            .content(render::fit(text))
            .nonce(nonce('l', incident.id, event.seq, 0))
            .enforce_nonce(true)
            .allowed_mentions(mentions);
        ChannelId::new(channel_id)
            .send_message(self.http(), message)
            .await
            .map(drop)
            .map_err(|error| Failed::of(&error, "posting a reminder in the incident channel"))
    }

    /// Resolves; with unticked checklist items and no `force`, answers with the warning and
    /// its "Resolve anyway" button instead (only to the person asking).
    pub(crate) async fn resolve_asking(
        &self,
        who: &Principal,
        id: IncidentId,
        summary: Option<&str>,
        force: bool,
        done: impl FnOnce(&str) -> Reply,
    ) -> Result<Reply, OpsError> {
        match self.ops().resolve_checked(who, id, summary, force).await {
            Ok(written) => Ok(done(&written.events[0].text)),
            Err(OpsError::Refused(refusal @ Refusal::ChecklistUnticked { .. })) => {
                let (text, rows) = during::unticked_warning(&refusal.to_string(), id);
                let mut reply = Reply::private(text);
                reply.components = rows;
                Ok(reply)
            }
            Err(error) => Err(error),
        }
    }

    /// The card's select menu: the item picked is ticked, or unticked when it was ticked.
    pub(crate) async fn pick_checklist_item(
        &self,
        who: &Principal,
        id: IncidentId,
        kind: &ComponentInteractionDataKind,
    ) -> Result<Reply, OpsError> {
        let ComponentInteractionDataKind::StringSelect { values } = kind else {
            return Err(OpsError::Invalid(replies::UNKNOWN_BUTTON.to_owned()));
        };
        let (_, items) = self.ops().checklist(who, id).await?;
        let Some(entry) = values
            .first()
            .and_then(|value| value.parse::<usize>().ok())
            .and_then(|index| items.get(index))
        else {
            return Err(OpsError::Invalid(
                "that checklist item is no longer on the checklist; pick again from the card"
                    .to_owned(),
            ));
        };
        let undo = entry.ticked.is_some();
        let written = self.ops().check_item(who, id, &entry.item, undo).await?;
        let (_, items) = self.ops().checklist(who, id).await?;
        Ok(Reply::private(during::ticked(
            id,
            &written.events[0].text,
            &items,
        )))
    }
}
