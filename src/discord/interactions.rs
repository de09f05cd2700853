//! Interactions, each acted on once: slash commands, autocomplete and buttons. Every command
//! and button is claimed in the database by its interaction id before anything visible
//! happens, so a second delivery (another session of the bot, a replay after a resume, a
//! takeover) does nothing and is not answered again. A claim the database cannot take in time
//! is answered at once, privately, so the person is never left on "thinking…".

use std::sync::Arc;

use serenity::all::{
    AutocompleteChoice, Builder, CommandInteraction, ComponentInteraction,
    CreateAutocompleteResponse, CreateInteractionResponse, Interaction, InteractionId,
};

use super::commands::{CHOICE_LIMIT, Call};
use super::components::Action;
use super::context::Bot;
use super::principal;
use super::render::replies;
use super::reply::{Reply, Visibility, answer};
use crate::domain::RunState;
use crate::ops::OpsError;

impl Bot {
    pub(crate) async fn on_interaction(self: &Arc<Self>, interaction: Interaction) {
        if !self.is_our_guild(interaction.guild_id().map(|guild| guild.get())) {
            tracing::info!(
                interaction = %interaction.id(),
                "ignoring an interaction from another guild than [discord] guild_id"
            );
            return;
        }
        match interaction {
            Interaction::Command(command) => self.on_command(&command).await,
            Interaction::Autocomplete(command) => self.on_autocomplete(&command).await,
            Interaction::Component(component) => self.on_component(&component).await,
            Interaction::Modal(modal) => self.on_modal(&modal).await,
            _ => {}
        }
    }

    /// Interactions come from the configured guild, or from a DM (an Acknowledge button on a
    /// paged person's DM); anything else was not meant for this warroom.
    fn is_our_guild(&self, guild: Option<u64>) -> bool {
        match (guild, self.config().discord.guild_id) {
            (None, _) => true,
            (Some(guild), Some(ours)) => guild == ours,
            (Some(_), None) => false,
        }
    }

    /// Claims interaction `id`: `Ok(true)` when it is this process's to answer, `Ok(false)`
    /// when another delivery took it (answer nothing), `Err` with what to answer otherwise.
    /// `taken_on` is false when warroom is shutting down (the person is told to retry).
    pub(super) async fn claim_interaction(
        &self,
        id: InteractionId,
        taken_on: bool,
    ) -> Result<bool, Reply> {
        match self.claim(&format!("interaction:{id}")).await {
            Ok(true) if taken_on => Ok(true),
            Ok(true) => Err(Reply::error(replies::RESTARTING)),
            Ok(false) => {
                tracing::info!(interaction = %id, "ignoring an interaction already taken (a redelivery)");
                Ok(false)
            }
            Err(error) => {
                tracing::error!(%error, interaction = %id, "cannot claim an interaction");
                Err(Reply::error(replies::DATABASE_UNREACHABLE))
            }
        }
    }

    /// Answers at once, privately, when the database is known to be unreachable: the person
    /// learns it within Discord's window instead of after a timeout. True when answered.
    async fn answered_database_down(&self, id: InteractionId, token: &str) -> bool {
        if self.database_up() {
            return false;
        }
        let reply = Reply::error(replies::DATABASE_UNREACHABLE);
        let received = std::time::Instant::now();
        if let Err(error) = answer(
            self.http(),
            id,
            token,
            Visibility::OnlyYou,
            received,
            async { reply },
        )
        .await
        {
            tracing::debug!(%error, "telling someone the database is unreachable failed");
        }
        true
    }

    async fn on_command(self: &Arc<Self>, command: &CommandInteraction) {
        let received = std::time::Instant::now();
        if self
            .answered_database_down(command.id, &command.token)
            .await
        {
            return;
        }
        let call = Call::from_interaction(self.config(), command);
        let handler = self.registry.find(&command.data.name);
        // A command that asks with a form answers with it first (Discord allows a modal only as
        // the first answer), once claimed.
        if let Some(modal) = handler.and_then(|handler| handler.modal(self, command, &call)) {
            let inflight = self.inflight.enter(command.id.get(), &command.token);
            match self.claim_interaction(command.id, inflight.is_some()).await {
                Ok(true) => self.show_modal(command, modal).await,
                Ok(false) => {}
                Err(reply) => {
                    let _ = answer(
                        self.http(),
                        command.id,
                        &command.token,
                        Visibility::OnlyYou,
                        received,
                        async { reply },
                    )
                    .await;
                }
            }
            return;
        }
        let visibility = handler.map_or(Visibility::OnlyYou, |handler| handler.visibility(&call));
        // In flight from now (a shutdown waits for it), unless warroom is shutting down.
        let inflight = self.inflight.enter(command.id.get(), &command.token);
        let work = async {
            // Claimed first: a second delivery answers nothing, deferral included.
            match self.claim_interaction(command.id, inflight.is_some()).await {
                Ok(true) => {}
                Ok(false) => return Reply::silence(),
                Err(reply) => return reply,
            }
            let Some(handler) = handler else {
                return Reply::error(replies::unknown_command(&command.data.name));
            };
            match handler.handle(self, call).await {
                Ok(reply) => reply,
                Err(error) => self.error_reply(error),
            }
        };
        if let Err(error) = answer(
            self.http(),
            command.id,
            &command.token,
            visibility,
            received,
            work,
        )
        .await
        {
            tracing::warn!(%error, command = %command.data.name, "answering a command failed");
        }
    }

    /// Autocomplete changes nothing, so it is answered by whichever session gets it first
    /// (a second answer is refused by Discord and harmless).
    async fn on_autocomplete(&self, command: &CommandInteraction) {
        let Some(handler) = self.registry.find(&command.data.name) else {
            return;
        };
        let Some(focused) = command.data.autocomplete() else {
            return;
        };
        let call = Call::from_interaction(self.config(), command);
        let choices = handler
            .autocomplete(self, call, focused.name, focused.value)
            .await
            .into_iter()
            .take(CHOICE_LIMIT)
            .map(|choice| AutocompleteChoice::new(choice.name, choice.value))
            .collect();
        let response = CreateInteractionResponse::Autocomplete(
            CreateAutocompleteResponse::new().set_choices(choices),
        );
        if let Err(error) = response
            .execute(self.http(), (command.id, &command.token))
            .await
        {
            tracing::debug!(%error, "answering an autocomplete failed");
        }
    }

    async fn on_component(self: &Arc<Self>, component: &ComponentInteraction) {
        let received = std::time::Instant::now();
        if self
            .answered_database_down(component.id, &component.token)
            .await
        {
            return;
        }
        let who = principal::from_member(self.config(), &component.user, component.member.as_ref());
        let inflight = self.inflight.enter(component.id.get(), &component.token);
        let work = async {
            match self
                .claim_interaction(component.id, inflight.is_some())
                .await
            {
                Ok(true) => {}
                Ok(false) => return Reply::silence(),
                Err(reply) => return reply,
            }
            let Some(action) = Action::parse(&component.data.custom_id) else {
                tracing::info!(custom_id = %component.data.custom_id, "a button warroom does not know");
                return Reply::error(replies::UNKNOWN_BUTTON);
            };
            match self.act(&who, action, &component.data.kind).await {
                Ok(reply) => reply,
                Err(error) => self.error_reply(error),
            }
        };
        if let Err(error) = answer(
            self.http(),
            component.id,
            &component.token,
            Visibility::OnlyYou,
            received,
            work,
        )
        .await
        {
            tracing::warn!(%error, "answering a button failed");
        }
    }

    /// What a button does, and what the person who clicked is told.
    async fn act(
        self: &Arc<Self>,
        who: &crate::ops::Principal,
        action: Action,
        kind: &serenity::all::ComponentInteractionDataKind,
    ) -> Result<Reply, OpsError> {
        Ok(Reply::private(match action {
            Action::Acknowledge(id) => {
                self.ops().acknowledge(who, id).await?;
                replies::acknowledged(id, None)
            }
            Action::Resolve(id) | Action::ResolveAnyway(id) => {
                let force = matches!(action, Action::ResolveAnyway(_));
                let done = |_: &str| Reply::private(replies::resolved_by_you(id));
                return self.resolve_asking(who, id, None, force, done).await;
            }
            Action::Checklist(id) => return self.pick_checklist_item(who, id, kind).await,
            Action::ApproveRun(id) => {
                let run = self.ops().approve_run(who, id).await?;
                if run.state == RunState::Approved {
                    self.start_run(run);
                    replies::approved_starting(id)
                } else {
                    replies::approved_waiting(id, run.approvals_missing())
                }
            }
            Action::DenyRun(id) => {
                let run = self.ops().deny_run(who, id, None).await?;
                replies::run_is(id, run.state)
            }
        }))
    }
}
