//! The state every part of the Discord adapter shares: the use cases, the REST client, the
//! command registry, which channels belong to which incident, this process's name in claims,
//! and the interactions in flight (so a shutdown answers them before it ends).

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use serenity::all::Http;
use tokio::sync::watch;

use super::commands::{Call, Registry};
use super::reply::Reply;
use crate::config::Config;
use crate::domain::{Actor, GatewayState, IncidentId};
use crate::ops::{Ops, OpsError, Principal};

/// How long a claim of a Discord event may wait for the database before the person is told it
/// is unreachable. Long enough for a slow database (the answer is deferred meanwhile); an
/// unreachable one is caught sooner by the health check.
pub(crate) const CLAIM_TIMEOUT: Duration = Duration::from_secs(10);

/// What every handler, the projector and the pager share.
pub(crate) struct Bot {
    ops: Ops,
    http: Arc<Http>,
    pub(super) registry: Registry,
    /// The bot's own user id: its messages are never recorded as someone's words. Known from
    /// REST at start (`/users/@me`), before any gateway event.
    me: OnceLock<u64>,
    /// Channels known to belong to an incident; saves a database lookup per message there.
    channels: Mutex<HashMap<u64, IncidentId>>,
    pub(super) gateway: watch::Sender<GatewayState>,
    /// This process, as its claims and the gateway lease name it.
    instance: String,
    pub(super) inflight: Inflight,
    /// Channels to reconcile with their history because recording one of their events failed.
    dirty: Mutex<Dirty>,
    /// Whether the database answered its last health check (see `watch_database`).
    database_up: watch::Sender<bool>,
}

/// What the next retry reconciles.
#[derive(Default)]
pub(crate) struct Dirty {
    /// Every active incident channel (even listing them failed).
    pub all: bool,
    pub channels: std::collections::BTreeSet<u64>,
}

impl Bot {
    pub(super) fn new(
        ops: Ops,
        http: Arc<Http>,
        gateway: watch::Sender<GatewayState>,
        instance: String,
    ) -> Bot {
        Bot {
            ops,
            http,
            registry: Registry::new(),
            me: OnceLock::new(),
            channels: Mutex::new(HashMap::new()),
            gateway,
            instance,
            inflight: Inflight::default(),
            dirty: Mutex::new(Dirty::default()),
            database_up: watch::channel(true).0,
        }
    }

    pub fn ops(&self) -> &Ops {
        &self.ops
    }

    pub fn config(&self) -> &Config {
        self.ops.config()
    }

    pub fn http(&self) -> &Http {
        &self.http
    }

    pub fn instance(&self) -> &str {
        &self.instance
    }

    /// warroom itself, for changes no person asked for (creating rooms, catching up).
    pub fn system(&self) -> Principal {
        Principal::system(Actor::system())
    }

    /// False while the database does not answer its health checks: interactions are then
    /// told so at once instead of waiting out the pool's timeout.
    pub fn database_up(&self) -> bool {
        *self.database_up.borrow()
    }

    /// Resolves once a health check finds the database unreachable.
    pub async fn database_down(&self) {
        let _ = self.database_up.subscribe().wait_for(|up| !*up).await;
    }

    /// Checks the database every `every`, each check bounded by `within`, until dropped.
    pub async fn watch_database(&self, every: Duration, within: Duration) {
        let mut ticks = tokio::time::interval(every);
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            ticks.tick().await;
            let up = matches!(
                tokio::time::timeout(within, self.ops.store().ping()).await,
                Ok(Ok(()))
            );
            if self.database_up.send_replace(up) != up {
                if up {
                    tracing::info!("the database answers again");
                } else {
                    tracing::error!(
                        "the database does not answer; Discord commands are told so at once"
                    );
                }
            }
        }
    }

    pub fn set_me(&self, user_id: u64) {
        let _ = self.me.set(user_id);
    }

    /// The bot's own user id, once known.
    pub fn me(&self) -> Option<u64> {
        self.me.get().copied()
    }

    pub fn is_me(&self, user_id: u64) -> bool {
        self.me.get() == Some(&user_id)
    }

    /// Claims a Discord event or effect (`interaction:<id>`, `room:<incident>`) for this
    /// process before anything visible happens: true when this process is the first, false
    /// when another delivery (another session, a replay, a takeover) already took it.
    pub async fn claim(&self, key: &str) -> Result<bool, OpsError> {
        let now = self.ops.clock().now();
        let claim = tokio::time::timeout(
            CLAIM_TIMEOUT,
            self.ops.store().claim(key, &self.instance, now),
        );
        tokio::select! {
            result = claim => match result {
                Ok(result) => Ok(result?),
                Err(_) => Err(OpsError::Unavailable(format!(
                    "the database did not answer within {} s",
                    CLAIM_TIMEOUT.as_secs()
                ))),
            },
            // Waiting longer would only keep the person waiting for the same answer.
            () = self.database_down() => Err(OpsError::Unavailable(
                "the database stopped answering its health checks".to_owned(),
            )),
        }
    }

    /// Reconciles `channel_id` with its history at the next retry (something said there could
    /// not be recorded).
    pub fn mark_dirty_channel(&self, channel_id: u64) {
        self.dirty
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .channels
            .insert(channel_id);
    }

    /// Reconciles every active incident channel at the next retry.
    pub fn mark_all_dirty(&self) {
        self.dirty
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .all = true;
    }

    pub fn take_dirty(&self) -> Dirty {
        std::mem::take(
            &mut *self
                .dirty
                .lock()
                .unwrap_or_else(|poisoned| poisoned.into_inner()),
        )
    }

    pub fn remember_channel(&self, channel_id: u64, id: IncidentId) {
        self.channels
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .insert(channel_id, id);
    }

    /// The incident whose channel this is, if any.
    pub async fn incident_for_channel(
        &self,
        channel_id: u64,
    ) -> Result<Option<IncidentId>, OpsError> {
        let known = self
            .channels
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .get(&channel_id)
            .copied();
        if known.is_some() {
            return Ok(known);
        }
        let found = self
            .ops
            .incident_by_channel(channel_id)
            .await?
            .map(|incident| incident.id);
        if let Some(id) = found {
            self.remember_channel(channel_id, id);
        }
        Ok(found)
    }

    /// The incident of the channel the command was used in.
    pub async fn incident_here(&self, call: &Call<'_>) -> Result<IncidentId, OpsError> {
        self.incident_for_channel(call.channel_id)
            .await?
            .ok_or_else(|| {
                OpsError::Invalid(super::render::replies::NOT_AN_INCIDENT_CHANNEL.to_owned())
            })
    }

    /// The incident named in an option, else the one of this channel.
    pub async fn incident_ref(
        &self,
        call: &Call<'_>,
        given: Option<&str>,
    ) -> Result<IncidentId, OpsError> {
        match given {
            Some(text) => super::commands::parse_incident(text),
            None => self.incident_here(call).await,
        }
    }

    /// What the user sees when a use case fails: only them, saying what to do. Storage failures
    /// are logged in full and summarised for the user, who can only retry.
    pub fn error_reply(&self, error: OpsError) -> Reply {
        match error {
            OpsError::Store(_) | OpsError::Output(_) | OpsError::Unavailable(_) => {
                tracing::error!(%error, "a Discord command failed");
                Reply::error(super::render::replies::DATABASE_UNREACHABLE)
            }
            other => Reply::error(other),
        }
    }
}

/// The interactions being answered, and whether new ones are taken: a shutdown stops taking
/// them, then waits (bounded) for the ones in flight.
#[derive(Default)]
pub(crate) struct Inflight {
    closed: AtomicBool,
    count: watch::Sender<usize>,
    /// The tokens of interactions in flight, so those a shutdown cannot wait for are told.
    tokens: Mutex<HashMap<u64, String>>,
}

/// One interaction in flight; dropping it says it is done.
pub(crate) struct InflightGuard<'a> {
    inflight: &'a Inflight,
    id: u64,
}

impl Drop for InflightGuard<'_> {
    fn drop(&mut self) {
        self.inflight
            .tokens
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .remove(&self.id);
        self.inflight.count.send_modify(|count| *count -= 1);
    }
}

impl Inflight {
    /// Takes an interaction on, unless the process is shutting down.
    pub fn enter(&self, id: u64, token: &str) -> Option<InflightGuard<'_>> {
        if self.closed.load(Ordering::SeqCst) {
            return None;
        }
        self.count.send_modify(|count| *count += 1);
        self.tokens
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .insert(id, token.to_owned());
        Some(InflightGuard { inflight: self, id })
    }

    /// Stops taking new interactions.
    pub fn close(&self) {
        self.closed.store(true, Ordering::SeqCst);
    }

    /// Waits until none is in flight, at most `limit`; the tokens of those still in flight.
    pub async fn drain(&self, limit: Duration) -> Vec<String> {
        let mut count = self.count.subscribe();
        let _ = tokio::time::timeout(limit, count.wait_for(|count| *count == 0)).await;
        self.tokens
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .values()
            .cloned()
            .collect()
    }
}
