//! A Discord world for tests: the emulator, warroom running in-process against it (configured
//! the way an operator would, through `WARROOM__` overrides), and people with roles.

use std::sync::Arc;
use std::time::{Duration, Instant};

use discord_emulator::{ChannelId, Emulator, EmulatorConfig, RoleId};
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;
use warroom::app::{self, Overrides};
use warroom::config::Config;
use warroom::domain::{Event, IncidentId};
use warroom::store::{self, Store};

use super::TestDb;

/// How long any wait on Discord or the database may take before the test fails. Generous,
/// because a re-identify after a fault can take serenity ~5 s; no assertion is on time.
pub const WAIT: Duration = Duration::from_secs(30);

/// Wraps the store a world runs with.
pub type WrapStore = Box<dyn FnOnce(Arc<dyn Store>) -> Arc<dyn Store>>;

/// How a test world differs from the default.
#[derive(Default)]
pub struct Options {
    /// Wraps the store (e.g. to make it slow).
    pub wrap_store: Option<WrapStore>,
    /// The command catalog folder (default: none, so no approved commands).
    pub catalog: Option<std::path::PathBuf>,
    /// warroom's clock (default: the system clock).
    pub clock: Option<Arc<dyn warroom::domain::Clock>>,
    /// TOML appended to the config file.
    pub extra_toml: String,
    /// More variables in warroom's environment.
    pub extra_env: Vec<(String, String)>,
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
        let emu = Emulator::start(EmulatorConfig::for_tests()).await;
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

pub struct World {
    pub emu: Emulator,
    pub db: TestDb,
    pub store: Arc<dyn Store>,
    pub responders: RoleId,
    pub commanders: RoleId,
    pub admins: RoleId,
    pub dbas: RoleId,
    pub category: ChannelId,
    pub announce: ChannelId,
    pub general: ChannelId,
    /// warroom's own HTTP address (for `/readyz`).
    pub http: String,
    stop: Option<oneshot::Sender<()>>,
    app: Option<JoinHandle<anyhow::Result<()>>>,
}

impl World {
    pub async fn start(db: TestDb) -> World {
        World::start_with_options(db, Options::default()).await
    }

    /// Starts with the store wrapped by `wrap` (e.g. to make it slow).
    pub async fn start_with(
        db: TestDb,
        wrap: impl FnOnce(Arc<dyn Store>) -> Arc<dyn Store> + 'static,
    ) -> World {
        World::start_with_options(
            db,
            Options {
                wrap_store: Some(Box::new(wrap)),
                ..Options::default()
            },
        )
        .await
    }

    /// Starts with `extra` TOML appended to the config and `extra_env` in its environment.
    pub async fn start_configured(
        db: TestDb,
        extra: &str,
        extra_env: Vec<(String, String)>,
        wrap: impl FnOnce(Arc<dyn Store>) -> Arc<dyn Store> + 'static,
    ) -> World {
        World::start_with_options(
            db,
            Options {
                wrap_store: Some(Box::new(wrap)),
                extra_toml: extra.to_owned(),
                extra_env,
                ..Options::default()
            },
        )
        .await
    }

    pub async fn start_with_options(db: TestDb, options: Options) -> World {
        World::start_in(Guild::new().await, db, options).await
    }

    /// Starts warroom in a guild the test prepared (people its config names already exist).
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
            .clone()
            .unwrap_or_else(|| db.dir.path().join("no-commands"));
        let roles = [
            ("responder", responders),
            ("incident_commander", commanders),
            ("admin", admins),
            ("dba", dbas),
        ];
        let env = super::discord_env::environment(&emu, category, announce, &roles, &catalog)
            .extended(options.extra_env);
        let config = Config::load(&db.write_config(&options.extra_toml), &env)
            .expect("the Discord test config is valid");
        assert!(
            config.discord_setup_gaps().is_empty(),
            "{:?}",
            config.discord_setup_gaps()
        );
        let store = store::connect(&config.database).await.expect("connect");
        let store = match options.wrap_store {
            Some(wrap) => wrap(store),
            None => store,
        };
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let http = format!("http://{}", listener.local_addr().unwrap());
        let (stop, stopped) = oneshot::channel::<()>();
        let overrides = Overrides {
            store: Some(store.clone()),
            clock: options.clock,
        };
        let app = tokio::spawn(app::run_with(config, listener, overrides, async {
            let _ = stopped.await;
        }));
        emu.wait_connected(WAIT)
            .await
            .expect("warroom connects to the emulator");
        emu.wait_for_command("incident", WAIT)
            .await
            .expect("warroom registers /incident");
        World {
            emu,
            db,
            store,
            responders,
            commanders,
            admins,
            dbas,
            category,
            announce,
            general,
            http,
            stop: Some(stop),
            app: Some(app),
        }
    }

    /// Stops warroom cleanly and reports whether it ran without error.
    pub async fn stop(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(app) = self.app.take() {
            app.await
                .expect("the app task")
                .expect("warroom ran without error");
        }
        self.emu.shutdown().await;
    }

    /// Waits until the timeline of `id` has an event for which `predicate` holds.
    pub async fn wait_for_event(
        &self,
        id: IncidentId,
        what: &str,
        predicate: impl Fn(&Event) -> bool,
    ) -> Event {
        let started = Instant::now();
        loop {
            let events = self.timeline(id).await;
            if let Some(event) = events.into_iter().find(|event| predicate(event)) {
                return event;
            }
            assert!(
                started.elapsed() < WAIT,
                "timed out waiting for {what} on the timeline of {id}"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Waits until the incident's room is recorded in the database (its card may show in
    /// Discord a moment before).
    pub async fn wait_for_room(&self, id: IncidentId) {
        let started = Instant::now();
        loop {
            let incident = self.store.get_incident(id).await.unwrap();
            let card = self.store.post(id, warroom::store::CARD).await.unwrap();
            if incident.is_some_and(|incident| incident.channel_id.is_some()) && card.is_some() {
                return;
            }
            assert!(
                started.elapsed() < WAIT,
                "timed out waiting for the room of {id}"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    pub async fn timeline(&self, id: IncidentId) -> Vec<Event> {
        let mut events = Vec::new();
        let mut after = 0;
        loop {
            let page = self.store.timeline_page(id, after, 1_000).await.unwrap();
            let Some(last) = page.last() else {
                return events;
            };
            after = last.seq;
            events.extend(page);
        }
    }
}
