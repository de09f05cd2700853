//! The storage boundary: the `Store` trait, its errors, and the choice of backend by URL scheme.
//!
//! One generic SQL implementation (`sql.rs`) serves both backends; `sqlite.rs` and
//! `postgres.rs` hold only what truly differs (connection setup, locking, migrations).
//! Nothing outside this module writes SQL.

mod alert_record;
mod alerts;
mod checks;
mod config;
mod cover;
mod during;
mod duties;
mod escalation;
mod followup;
mod postgres;
mod reach;
mod runs;
mod seed;
mod sql;
mod sqlite;
mod timers;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use async_trait::async_trait;
use sqlx::pool::PoolOptions;

pub use crate::domain::{AlertReport, AlertState};
pub use alerts::{
    AlertChange, AlertStore, BatchRecorded, Claim, EARLY_RESOLVE_MEMORY, GroupPlan, GroupState,
    IncidentCount, OVERFLOW_PREFIX, OVERFLOW_SOURCE, PlanRequest, RecordJob, RecordRequest,
    Recorded, RenderAlert,
};
pub use checks::{CheckState, CheckStore, DrillAnnouncement};
pub(crate) use config::redact_url_password;
pub use config::{DatabaseConfig, DatabaseUrl, SqliteSync};
pub use cover::CoverStore;
pub use during::DuringStore;
pub use duties::{DutyStore, LeaseHolder, Unshown};
pub use escalation::{
    Appended, Escalation, EscalationEffect, EscalationStart, EscalationState, EscalationStore,
    FinishedAndFired, FireStep, Fired, NewPage, Page, PageAction, PageClaim, PageDone,
    PageRecipient, PageState, Stop,
};
pub use followup::{FollowupStore, ReportIncident, ReportScope, ReviewCounts};
pub use reach::ReachStore;
pub use runs::{AuditEntry, RunChange, RunClaim, RunDecide, RunRecord, RunStore, RunWritten};
pub use seed::{SeedIncident, SeedPage, SeedRest, SeedStore};
pub use timers::{OutboxDm, TimerStore};

use crate::domain::{
    Event, EventKind, Incident, IncidentId, NewEvent, NewIncident, Refusal, RunId, RunRefusal,
    Status, Timestamp,
};

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("{0} does not exist; `warroom incident list` shows the incidents there are")]
    NotFound(IncidentId),
    #[error(transparent)]
    Refused(#[from] Refusal),
    #[error("{0} does not exist")]
    RunNotFound(RunId),
    #[error(transparent)]
    RunRefused(#[from] RunRefusal),
    #[error("database error: {0}")]
    Database(#[from] sqlx::Error),
    #[error("applying database migrations failed: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    #[error("the database holds a value this warroom cannot read: {0}")]
    Corrupt(String),
    /// Another delivery took over an alert group's claim (this one was too slow).
    #[error("{0}")]
    ClaimLost(String),
}

/// What a decision about an incident produces: its new state and the events that record why.
/// Both are written in one transaction, or neither is.
#[derive(Clone, Debug)]
pub struct Change {
    pub incident: Incident,
    pub events: Vec<NewEvent>,
    /// What the change does to the incident's escalation, in the same transaction.
    pub escalation: EscalationEffect,
    /// Timers the change sets or cancels (deadlines, reminders), in the same transaction.
    pub timers: Vec<crate::domain::TimerOp>,
}

/// Decides a change from the incident's current state, as read inside the write transaction.
/// Pure: it may run while the incident is locked, so it must not wait on anything.
pub type Decide<'a> = &'a (dyn Fn(&Incident) -> Result<Change, Refusal> + Send + Sync);

/// The timers a new incident starts with, from the incident as inserted (its id known).
pub type TimerPlan<'a> = &'a (dyn Fn(&Incident) -> Vec<crate::domain::TimerOp> + Send + Sync);

/// The result of a write.
#[derive(Clone, Debug)]
pub struct Written {
    pub incident: Incident,
    /// The events appended, with their sequence numbers; for a duplicate, the earlier ones.
    pub events: Vec<Event>,
    /// True when an event key already existed: nothing was written this time.
    pub duplicate: bool,
}

#[derive(Clone, Debug, Default)]
pub struct IncidentFilter {
    /// Only these statuses; empty means all.
    pub statuses: Vec<Status>,
    /// Case-insensitive match on the title, or the exact id.
    pub search: Option<String>,
    /// Unresolved incidents before resolved ones (then newest first), for pickers.
    pub active_first: bool,
    pub limit: Option<u32>,
    /// Leaves private incidents out (for principals who may not see them).
    pub without_private: bool,
}

/// Everything warroom keeps: one trait per concern, implemented by both backends. Callers hold
/// an `Arc<dyn Store>` and call any of them.
pub trait Store:
    IncidentStore
    + RunStore
    + AlertStore
    + EscalationStore
    + DutyStore
    + ReachStore
    + TimerStore
    + DuringStore
    + CheckStore
    + CoverStore
    + FollowupStore
    + SeedStore
    + Send
    + Sync
    + std::fmt::Debug
    + 'static
{
}

impl<
    T: IncidentStore
        + RunStore
        + AlertStore
        + EscalationStore
        + DutyStore
        + ReachStore
        + TimerStore
        + DuringStore
        + CheckStore
        + CoverStore
        + FollowupStore
        + SeedStore
        + Send
        + Sync
        + std::fmt::Debug
        + 'static,
> Store for T
{
}

/// Incidents, their timeline and where they are shown.
#[async_trait]
pub trait IncidentStore: Send + Sync {
    /// `sqlite` or `postgres`.
    fn backend(&self) -> &'static str;

    /// Applies pending migrations of this backend's folder.
    async fn migrate(&self) -> Result<(), StoreError>;

    /// Succeeds when the database answers a query.
    async fn ping(&self) -> Result<(), StoreError>;

    /// Inserts a new incident with its first events (`events[0]` is `opened`) and starts its
    /// escalation, in one transaction.
    async fn create_incident(
        &self,
        incident: NewIncident,
        events: Vec<NewEvent>,
        escalation: EscalationEffect,
        timers: TimerPlan<'_>,
    ) -> Result<Written, StoreError>;

    /// Reads the incident under a write lock, lets `decide` compute the change, and writes the
    /// new state and its events in the same transaction. If any event's key already exists,
    /// nothing is decided or written and the result is marked `duplicate`.
    async fn update_incident(
        &self,
        id: IncidentId,
        decide: Decide<'_>,
    ) -> Result<Written, StoreError>;

    /// Appends events without changing the incident's state (notes, messages).
    async fn append_events(
        &self,
        id: IncidentId,
        events: Vec<NewEvent>,
    ) -> Result<Written, StoreError>;

    async fn get_incident(&self, id: IncidentId) -> Result<Option<Incident>, StoreError>;

    async fn incident_by_channel(&self, channel_id: u64) -> Result<Option<Incident>, StoreError>;

    async fn list_incidents(&self, filter: &IncidentFilter) -> Result<Vec<Incident>, StoreError>;

    /// Up to `limit` events with `seq > after_seq`, in order. Exports page through this so
    /// memory does not grow with the length of the timeline.
    async fn timeline_page(
        &self,
        id: IncidentId,
        after_seq: i64,
        limit: u32,
    ) -> Result<Vec<Event>, StoreError>;

    /// How many events of each kind fall in each of `buckets` equal spans of `[from, to]`
    /// (events before or after count in the first or last): `(kind, bucket, count)`, in no
    /// order. The HTML export's chart, without reading the timeline twice.
    async fn timeline_histogram(
        &self,
        id: IncidentId,
        from: Timestamp,
        to: Timestamp,
        buckets: u32,
    ) -> Result<Vec<(EventKind, usize, u32)>, StoreError>;

    /// The event appended with `key`, if any.
    async fn event_by_key(&self, id: IncidentId, key: &str) -> Result<Option<Event>, StoreError>;

    /// The greatest key starting with `prefix` whose remainder is a number (compared as a
    /// number), e.g. the newest recorded Discord message of an incident.
    async fn last_numbered_key(
        &self,
        id: IncidentId,
        prefix: &str,
    ) -> Result<Option<String>, StoreError>;

    /// Records the incident's Discord channel and, if it was posted, where its card is: one
    /// write for the whole room.
    async fn attach_room(
        &self,
        id: IncidentId,
        channel_id: u64,
        card: Option<Post>,
    ) -> Result<Incident, StoreError>;

    /// Remembers where a message about the incident lives (e.g. `card`), replacing the last.
    async fn set_post(&self, id: IncidentId, kind: &str, post: Post) -> Result<(), StoreError>;

    async fn post(&self, id: IncidentId, kind: &str) -> Result<Option<Post>, StoreError>;
}

/// The post kind under which an incident's summary card is remembered.
pub const CARD: &str = "card";

/// A message that shows an incident: its channel and message ids.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Post {
    pub channel_id: u64,
    pub message_id: u64,
}

/// Opens the database named by the config (SQLite or PostgreSQL by URL scheme) and applies
/// migrations, so every caller gets a ready store.
pub async fn connect(config: &DatabaseConfig) -> Result<Arc<dyn Store>, StoreError> {
    connect_with(config, ConnectOptions::default()).await
}

/// How the store's pools behave beyond what the configuration says: a seam for tests and
/// benchmarks, never read from the config file.
#[derive(Clone, Copy, Debug, Default)]
pub struct ConnectOptions {
    /// Every connection the pools hand out waits this long first, as a struggling database
    /// makes every query wait. Starts once the store is ready: migrations are not slowed.
    pub acquire_delay: Option<Duration>,
}

/// [`connect`] with `options`.
pub async fn connect_with(
    config: &DatabaseConfig,
    options: ConnectOptions,
) -> Result<Arc<dyn Store>, StoreError> {
    let hooks = AcquireHooks::new(options.acquire_delay);
    let store: Arc<dyn Store> = match &config.url {
        DatabaseUrl::Sqlite(path) => Arc::new(
            sqlite::connect(
                path,
                config.max_connections,
                config.sqlite_synchronous,
                &hooks,
            )
            .await?,
        ),
        DatabaseUrl::Postgres(url) => {
            Arc::new(postgres::connect(url, config.max_connections, &hooks).await?)
        }
    };
    store.migrate().await?;
    hooks.arm();
    Ok(store)
}

/// A pooled connection idle at least this long is checked (one round trip) before it is
/// handed out; one used more recently is not. sqlx checks every one by default, which costs
/// a round trip per query or transaction on a busy pool; a connection that broke within this
/// window fails its query once and is dropped, as any connection that breaks mid-query.
const CHECK_IDLE_AFTER: Duration = Duration::from_millis(500);

/// The pools' hooks: the liveness check of connections idle for [`CHECK_IDLE_AFTER`],
/// [`ConnectOptions::acquire_delay`] through sqlx's hooks, on fresh connections
/// (`after_connect`) and idle ones (`before_acquire`) alike, so no acquire escapes it, and a
/// backend's session setup on each fresh connection.
#[derive(Clone, Debug)]
struct AcquireHooks {
    delay: Option<Duration>,
    /// The delay is off until the store is ready.
    armed: Arc<AtomicBool>,
}

impl AcquireHooks {
    fn new(delay: Option<Duration>) -> AcquireHooks {
        AcquireHooks {
            delay,
            armed: Arc::new(AtomicBool::new(false)),
        }
    }

    fn arm(&self) {
        self.armed.store(true, Ordering::SeqCst);
    }

    /// The hooks on `pool`; `setup` (statements), if any, runs on every new connection.
    fn apply<DB: sqlx::Database>(
        &self,
        pool: PoolOptions<DB>,
        setup: Option<&'static str>,
    ) -> PoolOptions<DB>
    where
        for<'c> &'c mut DB::Connection: sqlx::Executor<'c, Database = DB>,
    {
        let delay = self.delay;
        let wait = move |armed: Arc<AtomicBool>| async move {
            if let Some(delay) = delay
                && armed.load(Ordering::SeqCst)
            {
                tokio::time::sleep(delay).await;
            }
        };
        let (on_connect, on_acquire) = (self.armed.clone(), self.armed.clone());
        let pool = pool
            .test_before_acquire(false)
            .before_acquire(move |connection, meta| {
                let waited = wait(on_acquire.clone());
                Box::pin(async move {
                    waited.await;
                    if meta.idle_for >= CHECK_IDLE_AFTER {
                        // An error closes this connection; the pool hands out another.
                        sqlx::Connection::ping(connection).await?;
                    }
                    Ok(true)
                })
            });
        if self.delay.is_none() && setup.is_none() {
            return pool;
        }
        pool.after_connect(move |connection, _| {
            let waited = wait(on_connect.clone());
            Box::pin(async move {
                if let Some(setup) = setup {
                    sqlx::raw_sql(setup).execute(&mut *connection).await?;
                }
                waited.await;
                Ok(())
            })
        })
    }
}
