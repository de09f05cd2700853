//! `warroom feed schedule NAME` and `warroom feed person DISCORD_ID`: the URL (with its
//! read-only token) a calendar app subscribes to for a schedule's or a person's on-call
//! shifts. Built from `[http] public_url` and the secret in `[http] ack_secret_env`.

use std::io::Write;

use anyhow::bail;
use clap::Subcommand;

use crate::config::Config;
use crate::notify::links::Feed;

#[derive(Debug, Subcommand)]
pub enum FeedCommand {
    /// The feed of a schedule's shifts
    Schedule { name: String },
    /// The feed of one person's shifts in every schedule
    Person {
        /// Their Discord user id
        user_id: u64,
    },
}

pub(super) fn feed(
    config: &Config,
    command: FeedCommand,
    out: &mut impl Write,
) -> anyhow::Result<()> {
    let feed = match command {
        FeedCommand::Schedule { name } => {
            if config.schedule(&name).is_none() {
                let names: Vec<&str> = config.schedules.iter().map(|s| s.name.as_str()).collect();
                bail!(
                    "there is no schedule `{name}`; the schedules are: {}",
                    if names.is_empty() {
                        "none".to_owned()
                    } else {
                        names.join(", ")
                    }
                );
            }
            Feed::Schedule(name)
        }
        FeedCommand::Person { user_id } => Feed::Person(user_id),
    };
    let Some(links) = &config.links.links else {
        bail!(
            "calendar feeds need [http] public_url and a secret in the variable [http] ack_secret_env names (now {}); set both and try again",
            config.links.secret_env
        );
    };
    writeln!(out, "{}", links.feed_url(&feed))?;
    Ok(())
}
