//! A Discord world for tests: the emulator, warroom running in-process against it ([`App`],
//! configured the way an operator would, through `WARROOM__` overrides), people with roles,
//! and exchanges that read as one line:
//! `alice.runs(channel, "/incident ack").await.replied("acknowledged by alice")`.

use std::ops::Deref;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use discord_emulator::{
    Actor, Channel, ChannelId, Emulator, EmulatorConfig, Interaction, Message, MessageId, Response,
    RoleId, UserId,
};
use warroom::domain::Clock;

use super::TestDb;
pub use super::WAIT;
use super::app::{self, App};

/// How a test world differs from the default.
#[derive(Default)]
pub struct Options {
    /// The command catalog folder (default: none, so no approved commands).
    pub catalog: Option<PathBuf>,
    /// warroom's clock (default: the system clock).
    pub clock: Option<Arc<dyn Clock>>,
    /// TOML appended to the config file.
    pub extra_toml: String,
    /// More variables in warroom's environment.
    pub extra_env: Vec<(String, String)>,
    /// Every database connection warroom takes waits this long.
    pub slow_database: Option<Duration>,
}

/// The emulated guild before warroom starts: its roles and channels. Tests whose config names
/// people (a policy paging `user:<id>`, a schedule's members) add them here first, then start
/// warroom with [`World::start_in`].
pub struct Guild {
    pub emu: Emulator,
    pub responders: RoleId,
    pub commanders: RoleId,
    pub admins: RoleId,
    pub dbas: RoleId,
    pub category: ChannelId,
    pub announce: ChannelId,
    pub general: ChannelId,
}

impl Guild {
    pub async fn new() -> Guild {
        // Waits on the emulator get the harness's bound too (they fail, never pass, on time).
        let emu = Emulator::start(EmulatorConfig {
            wait_timeout: WAIT,
            ..EmulatorConfig::for_tests()
        })
        .await;
        let responders = emu.add_role("responders");
        let commanders = emu.add_role("incident-commanders");
        let admins = emu.add_role("warroom-admins");
        let dbas = emu.add_role("dbas");
        let category = emu.add_category("incidents");
        let announce = emu.add_text_channel("incident-announcements", None);
        let general = emu.add_text_channel("general", None);
        Guild {
            emu,
            responders,
            commanders,
            admins,
            dbas,
            category,
            announce,
            general,
        }
    }
}

/// warroom ([`App`], which this derefs to) connected to an emulated guild.
pub struct World {
    pub app: App,
    pub emu: Emulator,
    pub responders: RoleId,
    pub commanders: RoleId,
    pub admins: RoleId,
    pub dbas: RoleId,
    pub category: ChannelId,
    pub announce: ChannelId,
    pub general: ChannelId,
}

impl Deref for World {
    type Target = App;

    fn deref(&self) -> &App {
        &self.app
    }
}

impl World {
    pub async fn start(db: TestDb) -> World {
        World::start_with(db, Options::default()).await
    }

    pub async fn start_with(db: TestDb, options: Options) -> World {
        World::start_in(Guild::new().await, db, options).await
    }

    /// Starts warroom in a guild the test prepared (people its config names already exist),
    /// and waits until it is connected and has registered its commands.
    pub async fn start_in(guild: Guild, db: TestDb, options: Options) -> World {
        let Guild {
            emu,
            responders,
            commanders,
            admins,
            dbas,
            category,
            announce,
            general,
        } = guild;
        let catalog = options
            .catalog
            .unwrap_or_else(|| db.dir.path().join("no-commands"));
        let roles = [
            ("responder", responders),
            ("incident_commander", commanders),
            ("admin", admins),
            ("dba", dbas),
        ];
        let env = super::discord_env::environment(&emu, category, announce, &roles, &catalog)
            .extended(options.extra_env);
        let app = App::start(
            db,
            app::Options {
                toml: options.extra_toml,
                env,
                clock: options.clock,
                slow_database: options.slow_database,
            },
        )
        .await;
        emu.wait_connected(WAIT)
            .await
            .expect("warroom connects to the emulator");
        emu.wait_for_command("incident", WAIT)
            .await
            .expect("warroom registers /incident");
        World {
            app,
            emu,
            responders,
            commanders,
            admins,
            dbas,
            category,
            announce,
            general,
        }
    }

    /// Stops warroom cleanly, asserts it ran without error, and stops the emulator.
    pub async fn stop(self) {
        self.app.stop().await;
        self.emu.shutdown().await;
    }

    /// Waits for the channel named `name`.
    pub async fn channel(&self, name: &str) -> Channel {
        self.emu
            .wait_for_channel(name, WAIT)
            .await
            .unwrap_or_else(|error| panic!("no channel #{name}: {error:?}"))
    }

    /// Waits for a message in `channel` for which `what` holds.
    pub async fn message(&self, channel: ChannelId, what: impl Fn(&Message) -> bool) -> Message {
        self.emu
            .wait_for_message(channel, what, WAIT)
            .await
            .unwrap_or_else(|error| panic!("the awaited message in {channel}: {error:?}"))
    }

    /// Waits for a message of warroom's in `channel` for which `what` holds.
    pub async fn bot_message(
        &self,
        channel: ChannelId,
        what: impl Fn(&Message) -> bool,
    ) -> Message {
        self.message(channel, |message| message.from_bot && what(message))
            .await
    }

    /// Waits for a direct message of warroom's to `user`.
    pub async fn bot_dm(&self, user: UserId) -> Message {
        self.emu
            .wait_for_dm(user, |message| message.from_bot, WAIT)
            .await
            .unwrap_or_else(|error| panic!("no DM from warroom to {user}: {error:?}"))
    }
}

/// A person's side of an exchange with warroom, each one line.
pub trait Converse {
    /// Runs the slash command `line` in `channel` and waits for warroom's final answer.
    fn runs(&self, channel: ChannelId, line: &str) -> impl Future<Output = Exchange>;
    /// Clicks the button `custom_id` of `message` and waits for warroom's final answer.
    fn clicks(&self, message: MessageId, custom_id: &str) -> impl Future<Output = Exchange>;
}

impl Converse for Actor {
    async fn runs(&self, channel: ChannelId, line: &str) -> Exchange {
        let interaction = self
            .run(channel, line)
            .unwrap_or_else(|error| panic!("{line:?} cannot be run: {error:?}"));
        Exchange::of(interaction, line).await
    }

    async fn clicks(&self, message: MessageId, custom_id: &str) -> Exchange {
        let interaction = self
            .click(message, custom_id)
            .unwrap_or_else(|error| panic!("{custom_id} cannot be clicked: {error:?}"));
        Exchange::of(interaction, &format!("a click on {custom_id}")).await
    }
}

/// What was asked and warroom's final answer (for a deferred one, once it was edited in).
pub struct Exchange {
    pub asked: String,
    pub interaction: Interaction,
    pub answer: Response,
}

impl Exchange {
    async fn of(interaction: Interaction, asked: &str) -> Exchange {
        let answer = interaction
            .wait_final_response()
            .await
            .unwrap_or_else(|error| panic!("no final answer to {asked}: {error:?}"));
        Exchange {
            asked: asked.to_owned(),
            interaction,
            answer,
        }
    }

    /// Asserts the answer's text contains `fragment`, showing the whole text when not.
    #[track_caller]
    pub fn says(&self, fragment: &str) -> &Exchange {
        let text = self.answer.text();
        assert!(
            text.contains(fragment),
            "the answer to {} lacks {fragment:?}:\n{text}",
            self.asked
        );
        self
    }

    /// Asserts the answer contains `fragment` and returns it.
    #[track_caller]
    pub fn replied(self, fragment: &str) -> Response {
        self.says(fragment);
        self.answer
    }

    /// Asserts the answer contains `fragment` and is shown only to the person.
    #[track_caller]
    pub fn says_privately(&self, fragment: &str) -> &Exchange {
        assert!(
            self.answer.ephemeral(),
            "the answer to {} is shown to everyone:\n{}",
            self.asked,
            self.answer.text()
        );
        self.says(fragment)
    }

    /// Asserts the answer contains `fragment` and is shown only to the person, and returns it.
    #[track_caller]
    pub fn replied_privately(self, fragment: &str) -> Response {
        self.says_privately(fragment);
        self.answer
    }
}
