//! The slash-command registry: one file per command, each a `SlashCommand`. Adding a command
//! is one file here and one line in `Registry::new`.

mod catalog;
mod checks;
mod followup;
mod incident;
mod maintenance;
mod oncall;
mod page;
mod run;

pub(crate) use incident::{opened_reply, parse_incident};

use std::sync::Arc;

use async_trait::async_trait;
use serenity::all::{
    CommandInteraction, CommandOptionType, CreateCommand, CreateCommandOption, PartialMember,
    ResolvedOption, ResolvedValue, User,
};

use super::context::Bot;
use super::principal;
use super::reply::{Reply, Visibility};
use crate::config::Config;
use crate::ops::{OpsError, Principal};
use crate::store::IncidentFilter;

/// Discord's limit on autocomplete choices.
pub(crate) const CHOICE_LIMIT: usize = 25;
/// Discord's limit on a choice's name.
const CHOICE_NAME_LIMIT: usize = 100;

/// One use of a command, as handlers see it: who, where, which subcommand, which options.
pub(crate) struct Call<'a> {
    pub who: Principal,
    pub channel_id: u64,
    pub subcommand: Option<&'a str>,
    /// The subcommand group the subcommand belongs to (`/incident action add`: `action`).
    pub group: Option<&'a str>,
    pub options: Vec<ResolvedOption<'a>>,
}

impl<'a> Call<'a> {
    pub fn from_interaction(config: &Config, interaction: &'a CommandInteraction) -> Call<'a> {
        let who = principal::from_member(config, &interaction.user, interaction.member.as_deref());
        let mut options = interaction.data.options();
        let mut subcommand = None;
        let mut group = None;
        if let [
            ResolvedOption {
                name,
                value: ResolvedValue::SubCommandGroup(inner),
                ..
            },
        ] = options.as_slice()
        {
            group = Some(*name);
            options = inner.clone();
        }
        if let [
            ResolvedOption {
                name,
                value: ResolvedValue::SubCommand(inner),
                ..
            },
        ] = options.as_slice()
        {
            subcommand = Some(*name);
            options = inner.clone();
        }
        Call {
            who,
            channel_id: interaction.channel_id.get(),
            subcommand,
            group,
            options,
        }
    }

    fn value(&self, name: &str) -> Option<&ResolvedValue<'a>> {
        self.options
            .iter()
            .find(|option| option.name == name)
            .map(|option| &option.value)
    }

    pub fn text(&self, name: &str) -> Option<&'a str> {
        match self.value(name)? {
            ResolvedValue::String(text) => Some(text),
            ResolvedValue::Autocomplete { value, .. } => Some(value),
            _ => None,
        }
    }

    pub fn flag(&self, name: &str) -> Option<bool> {
        match self.value(name)? {
            ResolvedValue::Boolean(flag) => Some(*flag),
            _ => None,
        }
    }

    pub fn integer(&self, name: &str) -> Option<i64> {
        match self.value(name)? {
            ResolvedValue::Integer(number) => Some(*number),
            _ => None,
        }
    }

    pub fn user(&self, name: &str) -> Option<(&'a User, Option<&'a PartialMember>)> {
        match self.value(name)? {
            ResolvedValue::User(user, member) => Some((user, *member)),
            _ => None,
        }
    }
}

/// An autocomplete suggestion.
pub(crate) struct Choice {
    pub name: String,
    pub value: String,
}

impl Choice {
    pub fn new(name: impl Into<String>, value: impl Into<String>) -> Choice {
        let mut name: String = name.into();
        if name.chars().count() > CHOICE_NAME_LIMIT {
            name = name.chars().take(CHOICE_NAME_LIMIT - 1).collect::<String>() + "…";
        }
        Choice {
            name,
            value: value.into(),
        }
    }
}

#[async_trait]
pub(crate) trait SlashCommand: Send + Sync {
    /// The top-level name, e.g. `incident`.
    fn name(&self) -> &'static str;

    /// What is registered with Discord.
    fn definition(&self, config: &Config) -> CreateCommand;

    /// Who sees the answer when it has to be deferred.
    fn visibility(&self, call: &Call<'_>) -> Visibility;

    /// Answers the call, or says why it cannot (the interaction layer turns an error into a
    /// private answer). `bot` is shared so the reply may finish work later (`Reply::then`).
    async fn handle(&self, bot: &Arc<Bot>, call: Call<'_>) -> Result<Reply, OpsError>;

    /// A form to answer with instead of [`Self::handle`] (the command line lacks what the form
    /// asks), if any.
    fn modal(
        &self,
        _bot: &Bot,
        _command: &CommandInteraction,
        _call: &Call<'_>,
    ) -> Option<serenity::all::CreateModal> {
        None
    }

    /// Suggestions for the option `focused`, given what was typed so far.
    async fn autocomplete(
        &self,
        bot: &Bot,
        call: Call<'_>,
        focused: &str,
        typed: &str,
    ) -> Vec<Choice>;
}

pub(crate) struct Registry {
    commands: Vec<Box<dyn SlashCommand>>,
}

impl Registry {
    pub fn new() -> Registry {
        Registry {
            commands: vec![
                Box::new(incident::IncidentCommand),
                Box::new(run::RunCommand),
                Box::new(page::PageCommand),
                Box::new(oncall::OncallCommand),
                Box::new(catalog::CommandsCommand),
                Box::new(super::modals::FromMessageCommand),
                Box::new(checks::ChecksCommand),
                Box::new(maintenance::MaintenanceCommand),
            ],
        }
    }

    pub fn find(&self, name: &str) -> Option<&dyn SlashCommand> {
        self.commands
            .iter()
            .find(|command| command.name() == name)
            .map(AsRef::as_ref)
    }

    pub fn definitions(&self, config: &Config) -> Vec<CreateCommand> {
        self.commands
            .iter()
            .map(|command| command.definition(config))
            .collect()
    }
}

/// The `incident` option of commands that act on one: autocompleted, defaulting to the
/// incident of the channel the command is used in.
pub(crate) fn incident_option() -> CreateCommandOption {
    CreateCommandOption::new(
        CommandOptionType::String,
        "incident",
        "The incident (defaults to this channel's)",
    )
    .set_autocomplete(true)
}

/// Suggestions for an `incident` option: active incidents first, matching what was typed.
pub(crate) async fn incident_choices(bot: &Bot, call: &Call<'_>, typed: &str) -> Vec<Choice> {
    let filter = IncidentFilter {
        search: Some(typed.to_owned()).filter(|typed| !typed.is_empty()),
        active_first: true,
        limit: Some(CHOICE_LIMIT as u32),
        ..IncidentFilter::default()
    };
    match bot.ops().list(&call.who, &filter).await {
        Ok(incidents) => incidents
            .into_iter()
            .map(|incident| {
                Choice::new(
                    format!(
                        "{} · {} · {} · {}",
                        incident.id, incident.severity, incident.status, incident.title
                    ),
                    incident.id.0.to_string(),
                )
            })
            .collect(),
        Err(error) => {
            tracing::warn!(%error, "incident autocomplete failed");
            Vec::new()
        }
    }
}

/// Names (with descriptions) matching what was typed, at most Discord's 25.
pub(crate) fn matching<'a>(
    items: impl Iterator<Item = (&'a str, &'a str)>,
    typed: &str,
) -> Vec<Choice> {
    let typed = typed.trim().to_lowercase();
    items
        .filter(|(name, description)| {
            typed.is_empty()
                || name.to_lowercase().contains(&typed)
                || description.to_lowercase().contains(&typed)
        })
        .take(CHOICE_LIMIT)
        .map(|(name, description)| {
            if description.is_empty() {
                Choice::new(name, name)
            } else {
                Choice::new(format!("{name} · {description}"), name)
            }
        })
        .collect()
}

/// A string option whose values are configured names (roles, policies, schedules): fixed
/// choices while they fit Discord's 25, autocomplete beyond that, so none is left out.
pub(crate) fn names_option<'a>(
    name: &str,
    description: &str,
    names: impl ExactSizeIterator<Item = &'a str>,
) -> CreateCommandOption {
    let option = CreateCommandOption::new(CommandOptionType::String, name, description);
    if names.len() > CHOICE_LIMIT {
        return option.set_autocomplete(true);
    }
    names.fold(option, |option, name| option.add_string_choice(name, name))
}
