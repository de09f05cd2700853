//! Use cases: `(principal, request) -> outcome`. Authorization and validation happen here;
//! storage is behind `Store`, and nothing here knows Discord, HTTP or SQL.

mod alert_writer;
mod alerts;
mod archive;
mod authz;
pub mod deadlines;
mod during;
mod escalation;
mod export;
mod feeds;
mod followup;
mod heartbeats;
mod incidents;
pub mod instance;
pub mod lease;
mod maintenance;
mod oncall;
mod private;
mod reach;
mod report;
mod runs;
pub mod schedules;
mod status;
pub mod timers;

use std::sync::Arc;

use crate::config::Config;
use crate::domain::{Clock, Event, Incident, IncidentId, Refusal};
use crate::store::{Store, StoreError};

pub use crate::domain::{TEXT_LIMIT, TITLE_LIMIT};
pub use alert_writer::{ALERT_BATCH_MAX, ALERT_QUEUE_CAPACITY, AlertWriter, WriterError};
pub use alerts::{CLAIM_TIMEOUT, GroupOutcome, IngestError, IngestOutcome, STORM_WINDOW};
pub use archive::{ARCHIVE_TIMER, ArchiveHandler};
pub use authz::{Permission, Principal, authorize};
pub use during::{RpoRequest, rpo_at};
pub use escalation::{PageRequest, Paged};
pub use feeds::{FEED_WEEKS, FeedError, MAX_FEED_WEEKS};
pub use followup::{
    ActionRequest, REVIEW_MEETING_LENGTH, ReviewRequest, meeting_end as followup_meeting_end,
    parse_discord_user, parse_when,
};
pub use heartbeats::{Beat, HeartbeatTimer};
pub use incidents::{OpenRequest, TIMELINE_PAGE};
pub use maintenance::{MAX_MAINTENANCE, MaintenanceRequest};
pub use oncall::{HandoffTimer, OnCall, OverrideRequest};
pub use reach::{
    AckView, LinkRefusal, MAX_WEBHOOK_ID_CHARS, SyncAction, SyncOutcome, SyncRequest, SyncSource,
};
pub use report::{Group, REPORT_SCHEMA, Rate, ReportQuery, Spread, parse_since};
pub use runs::{Commands, Requested, RunRequest, RunsShutdown};
pub use status::{PublicIncident, PublicStatus, STATUS_PAGE_RESOLVED_DAYS, STATUS_UPDATE_TIMER};

#[derive(Debug, thiserror::Error)]
pub enum OpsError {
    #[error(
        "you need the `{role}` role to {action}; ask an admin to map one of your Discord roles to it in [roles]"
    )]
    Forbidden { role: String, action: &'static str },
    #[error("{0} does not exist; list incidents to find the right number")]
    NotFound(IncidentId),
    #[error(transparent)]
    Refused(#[from] Refusal),
    #[error(transparent)]
    RunRefused(#[from] crate::domain::RunRefusal),
    #[error("{0}")]
    Invalid(String),
    /// A named thing (a heartbeat, a maintenance window) that does not exist.
    #[error("{0}")]
    Unknown(String),
    #[error("the database failed: {0}")]
    Store(StoreError),
    /// The database did not answer in time (a claim waited too long).
    #[error("the database is unreachable: {0}")]
    Unavailable(String),
    #[error("writing the output failed: {0}")]
    Output(std::io::Error),
}

impl From<StoreError> for OpsError {
    fn from(error: StoreError) -> OpsError {
        match error {
            StoreError::NotFound(id) => OpsError::NotFound(id),
            StoreError::Refused(refusal) => OpsError::Refused(refusal),
            StoreError::RunRefused(refusal) => OpsError::RunRefused(refusal),
            other => OpsError::Store(other),
        }
    }
}

/// The use cases, with what they need injected.
#[derive(Clone, Debug)]
pub struct Ops {
    store: Arc<dyn Store>,
    config: Arc<Config>,
    clock: Arc<dyn Clock>,
    /// The command catalog and runner; only `warroom run` has them.
    commands: Option<Arc<Commands>>,
    /// Moves after every write this process committed: wakes this process's workers (the
    /// escalation engine, the Discord projector) at once. Commits of other processes reach
    /// them through the store's change feed; neither is ever the only way work is found.
    commits: Arc<tokio::sync::watch::Sender<u64>>,
    /// The group-commit writer of alert deliveries, started on first use (it needs a tokio
    /// runtime, which building `Ops` does not), shared by clones.
    alert_writer: Arc<std::sync::OnceLock<AlertWriter>>,
    /// The writer's queue capacity and largest batch.
    alert_queue: (usize, usize),
}

impl Ops {
    pub fn new(store: Arc<dyn Store>, config: Arc<Config>, clock: Arc<dyn Clock>) -> Ops {
        Ops {
            store,
            config,
            clock,
            commands: None,
            commits: Arc::new(tokio::sync::watch::channel(0).0),
            alert_writer: Arc::new(std::sync::OnceLock::new()),
            alert_queue: (ALERT_QUEUE_CAPACITY, ALERT_BATCH_MAX),
        }
    }

    /// The same use cases with an alert writer of this queue capacity and largest batch
    /// (tests use tiny ones to show backpressure).
    pub fn with_alert_queue(mut self, capacity: usize, max_batch: usize) -> Ops {
        self.alert_writer = Arc::new(std::sync::OnceLock::new());
        self.alert_queue = (capacity, max_batch);
        self
    }

    /// The alert writer, started on the current runtime the first time.
    fn alert_writer(&self) -> &AlertWriter {
        self.alert_writer.get_or_init(|| {
            let (capacity, max_batch) = self.alert_queue;
            AlertWriter::spawn(self.store.clone(), capacity, max_batch)
        })
    }

    /// The same use cases, able to run approved commands.
    pub fn with_commands(mut self, commands: Commands) -> Ops {
        self.commands = Some(Arc::new(commands));
        self
    }

    pub fn store(&self) -> &Arc<dyn Store> {
        &self.store
    }

    pub fn config(&self) -> &Arc<Config> {
        &self.config
    }

    pub fn clock(&self) -> &Arc<dyn Clock> {
        &self.clock
    }

    /// Moves after every write this process commits (see the field).
    pub fn commits(&self) -> tokio::sync::watch::Receiver<u64> {
        self.commits.subscribe()
    }

    /// Says that a write committed, waking this process's workers (see `commits`). What
    /// happened is found in the database, never in this call.
    pub(crate) fn announce(&self, _incident: &Incident, _events: &[Event]) {
        self.announce_run();
    }

    /// The same for a write with no incident event (a run outside any incident).
    pub(crate) fn announce_run(&self) {
        self.commits
            .send_modify(|count| *count = count.wrapping_add(1));
    }
}
