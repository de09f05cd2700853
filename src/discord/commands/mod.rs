//! The slash-command registry: one file per command, each a `SlashCommand`. Adding a command
//! is one file here and one line in `Registry::new`.

mod catalog;
mod incident;
mod run;

pub(crate) use incident::parse_incident;

use std::sync::Arc;

use async_trait::async_trait;
use serenity::all::{
    CommandInteraction, CreateCommand, PartialMember, ResolvedOption, ResolvedValue, User,
};

use super::bot::Bot;
use super::principal;
use super::reply::{Reply, Visibility};
use crate::config::Config;
use crate::ops::Principal;

/// Discord's limit on autocomplete choices.
pub(crate) const CHOICE_LIMIT: usize = 25;
/// Discord's limit on a choice's name.
const CHOICE_NAME_LIMIT: usize = 100;

/// One use of a command, as handlers see it: who, where, which subcommand, which options.
pub(crate) struct Call<'a> {
    pub who: Principal,
    pub channel_id: u64,
    pub subcommand: Option<&'a str>,
    pub options: Vec<ResolvedOption<'a>>,
}

impl<'a> Call<'a> {
    pub fn from_interaction(config: &Config, interaction: &'a CommandInteraction) -> Call<'a> {
        let who = principal::from_member(config, &interaction.user, interaction.member.as_deref());
        let mut options = interaction.data.options();
        let mut subcommand = None;
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

    /// Answers the call. `bot` is shared so the reply may finish work later (`Reply::then`).
    async fn run(&self, bot: &Arc<Bot>, call: Call<'_>) -> Reply;

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
                Box::new(catalog::CommandsCommand),
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
