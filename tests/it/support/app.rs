//! warroom running in this test's process (the real app, through `warroom::app::spawn`), on
//! a test database, with the HTTP tests' and the Discord tests' ways of looking at it.

use std::sync::Arc;
use std::time::Duration;

use warroom::app::{self, Overrides, Running};
use warroom::config::{Config, Environment};
use warroom::domain::{Clock, Event, Incident, IncidentId};
use warroom::store::{self, ConnectOptions, Store};

use super::{TestDb, WAIT, eventually};

/// How a test's warroom differs from the shipped config.
#[derive(Default)]
pub struct Options {
    /// TOML appended to the shipped config file.
    pub toml: String,
    /// warroom's environment: tokens, `WARROOM__` overrides, the Discord settings.
    pub env: Environment,
    /// warroom's clock (default: the system clock).
    pub clock: Option<Arc<dyn Clock>>,
    /// Every database connection warroom takes waits this long, as on a struggling database.
    pub slow_database: Option<Duration>,
}

/// warroom in-process, serving HTTP on a free port of 127.0.0.1.
pub struct App {
    pub db: TestDb,
    /// `http://127.0.0.1:PORT`.
    pub base: String,
    pub client: reqwest::Client,
    /// The same database through a store of the test's own (never slowed), to read what
    /// warroom wrote.
    pub store: Arc<dyn Store>,
    running: Running,
}

impl App {
    /// Loads the config the way `warroom run` would (file plus environment) and starts warroom.
    /// Returns once it listens; the HTTP tests wait for `/readyz`, the Discord tests for the
    /// gateway.
    pub async fn start(db: TestDb, options: Options) -> App {
        let config = Config::load(&db.write_config(&options.toml), &options.env)
            .unwrap_or_else(|error| panic!("the test config is invalid: {error}"));
        if config.discord.token.is_some() {
            assert!(
                config.discord_setup_gaps().is_empty(),
                "a test that turns Discord on sets it up wholly: {:?}",
                config.discord_setup_gaps()
            );
        }
        // Connected (and migrated) before warroom starts, so the two never migrate at once.
        let store = store::connect(&config.database)
            .await
            .expect("connect to the test database");
        let overrides = Overrides {
            database: ConnectOptions {
                acquire_delay: options.slow_database,
            },
            clock: options.clock,
        };
        let running = app::spawn(config, "127.0.0.1:0".parse().unwrap(), overrides)
            .await
            .expect("warroom starts");
        App {
            db,
            base: format!("http://{}", running.address()),
            client: reqwest::Client::builder().no_proxy().build().unwrap(),
            store,
            running,
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// Waits until `/readyz` says 200.
    pub async fn wait_ready(&self) {
        eventually("warroom to be ready", WAIT, async || {
            assert!(
                !self.running.is_finished(),
                "warroom stopped while starting"
            );
            self.client
                .get(self.url("/readyz"))
                .send()
                .await
                .is_ok_and(|response| response.status() == 200)
        })
        .await;
    }

    /// Stops warroom cleanly and asserts it ran without error.
    pub async fn stop(self) {
        self.running
            .stop()
            .await
            .expect("warroom ran without error");
    }

    /// The incident `id` as stored now; it must exist.
    pub async fn incident(&self, id: IncidentId) -> Incident {
        self.store
            .get_incident(id)
            .await
            .unwrap()
            .unwrap_or_else(|| panic!("{id} does not exist"))
    }

    /// The whole timeline of `id`.
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

    /// Waits until the timeline of `id` has an event for which `predicate` holds.
    pub async fn wait_for_event(
        &self,
        id: IncidentId,
        what: &str,
        predicate: impl Fn(&Event) -> bool,
    ) -> Event {
        eventually(
            format!("{what} on the timeline of {id}"),
            WAIT,
            async || self.timeline(id).await.into_iter().find(&predicate),
        )
        .await
    }

    /// Waits until the incident's room is recorded in the database (its card may show in
    /// Discord a moment before).
    pub async fn wait_for_room(&self, id: IncidentId) {
        eventually(format!("the room of {id}"), WAIT, async || {
            let incident = self.store.get_incident(id).await.unwrap();
            let card = self.store.post(id, store::CARD).await.unwrap();
            incident.is_some_and(|incident| incident.channel_id.is_some()) && card.is_some()
        })
        .await;
    }
}
