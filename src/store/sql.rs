//! The SQL shared by both backends, written once over sqlx's `Database` trait.
//!
//! Queries use `$N` placeholders, which SQLite and PostgreSQL both accept (long generated
//! statements take theirs from [`param`]), and only types both
//! have (BIGINT milliseconds for time, TEXT for JSON), so one text serves both. What differs
//! lives in `Dialect`.

use std::collections::BTreeMap;
use std::fmt;

use futures::future::BoxFuture;
use sqlx::query::Query;
use sqlx::{AssertSqlSafe, Database, Pool, Row, Transaction};

use super::{Change, Decide, IncidentFilter, IncidentStore, Post, StoreError, Written};
use crate::domain::{
    Actor, Event, EventKind, Incident, IncidentId, NewEvent, NewIncident, Source, Status, Timestamp,
};

/// What differs between SQLite and PostgreSQL.
pub(crate) trait Dialect: Database {
    const BACKEND: &'static str;
    /// How a writing transaction starts. SQLite takes the write lock at once (`BEGIN
    /// IMMEDIATE`) so that two writers never both read and then fail to upgrade; PostgreSQL
    /// relies on row locks (`LOCK_ROW`).
    const BEGIN_WRITE: &'static str;
    /// Appended to the `SELECT` that reads an incident before changing it.
    const LOCK_ROW: &'static str;
    /// Whether long generated statements (multi-row inserts, `IN` lists) number their
    /// placeholders (`$N`) or use anonymous ones (`?`, in order). SQLite resolves each named
    /// placeholder by walking all of them, which makes binding a statement of thousands of
    /// values quadratic; anonymous ones cost nothing.
    const NUMBERED_PARAMS: bool;
    /// Writing transactions worth running at once for one kind of work (the alert writer's
    /// tasks). SQLite has one writer: a second transaction only waits for it, with a batch
    /// formed too early (B2 on 2026-12-07: 23k alerts/s with one, 15k with four). PostgreSQL
    /// serves several; two overlap one batch's round trips with another's (B2, same day, with
    /// an earlier build of the batching: one writer 8.6k, two 10.1k, four 9.4k alerts/s).
    const CONCURRENT_WRITERS: usize;

    fn run_migrations(pool: &Pool<Self>) -> BoxFuture<'_, Result<(), sqlx::migrate::MigrateError>>;

    /// `column` is one of `count` values bound by [`Self::bind_ids`] (or, for text,
    /// [`Self::bind_texts`]) from the `first`th placeholder on. PostgreSQL: `column = ANY($first)`, one array, so one statement text
    /// (one prepared statement) whatever the count, planned as index probes; SQLite: an
    /// `IN (?, ...)` list.
    fn id_in(column: &str, first: usize, count: usize) -> String;

    /// Binds the ids of [`Self::id_in`].
    fn bind_ids<'q>(
        query: Query<'q, Self, Self::Arguments>,
        ids: &[i64],
    ) -> Query<'q, Self, Self::Arguments>;

    /// `query`, planned for the values it runs with each time. PostgreSQL: not kept prepared
    /// (one more round trip). sqlx keeps a statement prepared for the connection's life, and
    /// after five runs PostgreSQL may switch it to one generic plan costed on the table sizes
    /// of that moment, kept until an ANALYZE. Tables start empty and `alerts` grows fast in a
    /// storm: a plan made on a nearly empty table (a sequential scan) stayed in use while it
    /// grew, and in B2 a delivery's fingerprint lookup took 2.5 ms instead of 0.3 ms. Planning
    /// every statement that way instead (`plan_cache_mode`) slowed B3 by half. SQLite: as is
    /// (its planner reads no statistics it has not been given).
    fn planned_each_time<'q>(
        query: Query<'q, Self, Self::Arguments>,
    ) -> Query<'q, Self, Self::Arguments>;

    /// How many placeholders an [`Self::id_in`] of `count` values takes (where the next
    /// placeholder is numbered from): one array on PostgreSQL.
    fn list_slots(count: usize) -> usize;

    /// Binds text values of an [`Self::id_in`] (one text array on PostgreSQL).
    fn bind_texts<'q>(
        query: Query<'q, Self, Self::Arguments>,
        values: &[&str],
    ) -> Query<'q, Self, Self::Arguments>;

    /// A row source `v` of `rows` rows whose columns (`v.column1`, ...) have the given
    /// types, bound by [`Self::bind_rows`] from the `first`th placeholder on. PostgreSQL:
    /// `UNNEST($first::bigint[], ...)`, one array per column (one statement text whatever
    /// the count; the planner joins it by index, where a long `VALUES` list made it hash a
    /// sequential scan of the table); SQLite: `(VALUES (?, ...), ...)`.
    fn rows_source(first: usize, rows: usize, types: &[ColumnType]) -> String;

    /// Binds the columns of [`Self::rows_source`] (all of one length).
    fn bind_rows<'q>(
        query: Query<'q, Self, Self::Arguments>,
        columns: Vec<Column>,
    ) -> Query<'q, Self, Self::Arguments>;

    /// Starts watching for commits by any process (see `DutyStore::change_feed`).
    fn start_change_feed(store: &SqlStore<Self>) -> super::duties::Feed;
}

/// The type of a column of [`Dialect::rows_source`].
#[derive(Clone, Copy, Debug)]
pub(crate) enum ColumnType {
    Int,
    Text,
}

/// One column's values for [`Dialect::bind_rows`].
pub(crate) enum Column {
    Int(Vec<i64>),
    OptInt(Vec<Option<i64>>),
    Text(Vec<String>),
}

impl Column {
    pub(crate) fn len(&self) -> usize {
        match self {
            Column::Int(values) => values.len(),
            Column::OptInt(values) => values.len(),
            Column::Text(values) => values.len(),
        }
    }
}

/// A store over one sqlx pool type.
pub(crate) struct SqlStore<DB: Database> {
    /// Every write goes through this pool. For SQLite it has one connection: SQLite allows
    /// one writer, and queueing in the pool is fairer and faster than spinning on SQLITE_BUSY.
    pub(super) writer: Pool<DB>,
    /// Reads go here; for SQLite (WAL) they proceed beside the writer.
    pub(super) reader: Pool<DB>,
    /// The change feed, started the first time someone watches it.
    pub(super) feed: std::sync::OnceLock<super::duties::Feed>,
}

impl<DB: Database> SqlStore<DB> {
    pub(crate) fn new(writer: Pool<DB>, reader: Pool<DB>) -> SqlStore<DB> {
        SqlStore {
            writer,
            reader,
            feed: std::sync::OnceLock::new(),
        }
    }
}

impl<DB: Dialect> fmt::Debug for SqlStore<DB> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SqlStore")
            .field("backend", &DB::BACKEND)
            .finish_non_exhaustive()
    }
}

pub(super) const INCIDENT_COLUMNS: &str = "id, title, description, severity, status, service, source, drill, private, \
     channel_id, opened_at, opened_by, opened_by_name, acknowledged_at, acknowledged_by, \
     acknowledged_by_name, mitigated_at, resolved_at, roles, last_seq";

/// Rows per multi-row statement: far below both backends' limits on bound values (SQLite
/// 32,766, PostgreSQL 65,535) at up to 17 values a row.
pub(super) const APPEND_CHUNK: usize = 100;

pub(super) const EVENT_COLUMNS: &str = "incident_id, seq, at, kind, actor, actor_name, text, data";

pub(super) fn sql(text: String) -> AssertSqlSafe<String> {
    // Every dynamic statement here is assembled from the constants above and `$N`
    // placeholders; no value is ever spliced into SQL text.
    AssertSqlSafe(text)
}

/// The placeholder of the `n`th (from 1) value of a generated statement whose placeholders
/// all come from here, in order (see [`Dialect::NUMBERED_PARAMS`]).
pub(super) fn param<DB: Dialect>(n: usize) -> String {
    if DB::NUMBERED_PARAMS {
        format!("${n}")
    } else {
        "?".to_owned()
    }
}

/// `count` placeholders from the `first`th, comma-separated: an `IN (...)` list.
pub(super) fn param_list<DB: Dialect>(first: usize, count: usize) -> String {
    (first..first + count)
        .map(param::<DB>)
        .collect::<Vec<_>>()
        .join(", ")
}

/// `rows` parenthesised rows of `columns` placeholders each, from the `first`th: the
/// `VALUES` of a multi-row statement.
pub(super) fn value_rows<DB: Dialect>(first: usize, rows: usize, columns: usize) -> String {
    (0..rows)
        .map(|row| format!("({})", param_list::<DB>(first + row * columns, columns)))
        .collect::<Vec<_>>()
        .join(", ")
}

/// `events` as incident `id`'s, numbered from `first_seq`, with their keys.
fn numbered(
    id: IncidentId,
    first_seq: i64,
    events: Vec<NewEvent>,
) -> (Vec<Event>, Vec<Option<String>>) {
    (first_seq..)
        .zip(events)
        .map(|(seq, event)| {
            (
                Event {
                    incident_id: id,
                    seq,
                    at: event.at,
                    kind: event.kind,
                    actor: event.actor,
                    text: event.text,
                    data: event.data,
                },
                event.key,
            )
        })
        .unzip()
}

pub(super) fn corrupt(what: impl fmt::Display) -> StoreError {
    StoreError::Corrupt(what.to_string())
}

fn to_db_id(channel_id: Option<u64>) -> Result<Option<i64>, StoreError> {
    channel_id.map(db_id).transpose()
}

/// Discord ids are below 2^63, so they fit BIGINT, which both backends have.
pub(super) fn db_id(id: u64) -> Result<i64, StoreError> {
    i64::try_from(id).map_err(|_| corrupt(format!("id {id} is out of range")))
}

/// Writes an `impl` block for `SqlStore<DB>` with the bounds sqlx's generic API needs for the
/// types warroom stores, so each storage file (incidents here, escalation, runs, alerts
/// beside it) states them once. Rust does not imply where-clauses from a trait, hence a macro.
///
/// `sql_store_impl! { impl { ... } }` for inherent items, `sql_store_impl! { impl Trait { ... } }`
/// for an `#[async_trait]` trait.
macro_rules! sql_store_impl {
    (impl { $($body:tt)* }) => {
        $crate::store::sql::sql_store_impl!(@emit [] [] { $($body)* });
    };
    (impl $trait:path { $($body:tt)* }) => {
        $crate::store::sql::sql_store_impl!(@emit [#[async_trait::async_trait]] [$trait for] { $($body)* });
    };
    (@emit [$($attr:tt)*] [$($head:tt)*] { $($body:tt)* }) => {
        $($attr)*
        impl<DB> $($head)* $crate::store::sql::SqlStore<DB>
        where
            DB: $crate::store::sql::Dialect,
            for<'c> &'c mut <DB as sqlx::Database>::Connection: sqlx::Executor<'c, Database = DB>,
            <DB as sqlx::Database>::Arguments: sqlx::IntoArguments<DB>,
            for<'q> i64: sqlx::Encode<'q, DB> + sqlx::Decode<'q, DB> + sqlx::Type<DB>,
            for<'q> String: sqlx::Encode<'q, DB> + sqlx::Decode<'q, DB> + sqlx::Type<DB>,
            for<'q> bool: sqlx::Encode<'q, DB> + sqlx::Decode<'q, DB> + sqlx::Type<DB>,
            for<'q> Option<i64>: sqlx::Encode<'q, DB> + sqlx::Decode<'q, DB>,
            for<'q> Option<String>: sqlx::Encode<'q, DB> + sqlx::Decode<'q, DB>,
            for<'a> &'a str: sqlx::ColumnIndex<<DB as sqlx::Database>::Row>,
        {
            $($body)*
        }
    };
}
pub(crate) use sql_store_impl;

sql_store_impl! {
impl {
    pub(super) async fn begin_write(&self) -> Result<Transaction<'static, DB>, StoreError> {
        Ok(self.writer.begin_with(DB::BEGIN_WRITE).await?)
    }

    /// Inserts a new incident with its first events and starts its escalation, inside `tx`.
    pub(super) async fn insert_incident(
        tx: &mut Transaction<'static, DB>,
        new: NewIncident,
        events: Vec<NewEvent>,
        escalation: &super::EscalationEffect,
    ) -> Result<Written, StoreError> {
        let last_seq = i64::try_from(events.len()).map_err(corrupt)?;
        let row = sqlx::query(
            "INSERT INTO incidents (title, description, severity, status, service, source, drill, \
             private, opened_at, opened_by, opened_by_name, roles, last_seq) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13) RETURNING id",
        )
        .bind(new.title.clone())
        .bind(new.description.clone())
        .bind(new.severity.clone())
        .bind(Status::Open.as_str().to_owned())
        .bind(new.service.clone())
        .bind(new.source.as_str().to_owned())
        .bind(new.drill)
        .bind(new.private)
        .bind(new.opened_at.as_millis())
        .bind(new.opened_by.id.clone())
        .bind(new.opened_by.name.clone())
        .bind("{}".to_owned())
        .bind(last_seq)
        .fetch_one(&mut **tx)
        .await?;
        let id = IncidentId(row.try_get::<i64, _>("id")?);
        let events = Self::insert_events(tx, id, 1, events).await?;
        Self::apply_escalation_effect(tx, id, escalation).await?;
        Ok(Written {
            incident: Incident {
                id,
                title: new.title,
                description: new.description,
                severity: new.severity,
                status: Status::Open,
                service: new.service,
                source: new.source,
                drill: new.drill,
                private: new.private,
                channel_id: None,
                opened_at: new.opened_at,
                opened_by: new.opened_by,
                acknowledged_at: None,
                acknowledged_by: None,
                mitigated_at: None,
                resolved_at: None,
                roles: BTreeMap::new(),
                last_seq,
            },
            events,
            duplicate: false,
        })
    }

    pub(super) async fn load_for_update(
        tx: &mut Transaction<'static, DB>,
        id: IncidentId,
    ) -> Result<Incident, StoreError> {
        let row = sqlx::query(sql(format!(
            "SELECT {INCIDENT_COLUMNS} FROM incidents WHERE id = $1{}",
            DB::LOCK_ROW
        )))
        .bind(id.0)
        .fetch_optional(&mut **tx)
        .await?;
        match row {
            Some(row) => Self::incident_from_row(&row),
            None => Err(StoreError::NotFound(id)),
        }
    }

    /// The events already stored under any of `events`' keys.
    pub(super) async fn existing_keyed(
        tx: &mut Transaction<'static, DB>,
        id: IncidentId,
        events: &[NewEvent],
    ) -> Result<Vec<Event>, StoreError> {
        let mut found = Vec::new();
        for key in events.iter().filter_map(|event| event.key.as_ref()) {
            let row = sqlx::query(sql(format!(
                "SELECT {EVENT_COLUMNS} FROM incident_events WHERE incident_id = $1 AND event_key = $2"
            )))
            .bind(id.0)
            .bind(key.clone())
            .fetch_optional(&mut **tx)
            .await?;
            if let Some(row) = row {
                found.push(Self::event_from_row(&row)?);
            }
        }
        Ok(found)
    }

    /// Appends `events` to incident `id` inside `tx`, taking their sequence numbers; returns
    /// the incident as it is after. Other storage (runs, escalation) appends this way, so an
    /// event and the change it records share one transaction.
    pub(super) async fn append_in_tx(
        tx: &mut Transaction<'static, DB>,
        id: IncidentId,
        events: Vec<NewEvent>,
    ) -> Result<(Incident, Vec<Event>), StoreError> {
        // Taking the next sequence numbers and locking the row is one statement, so two
        // writers can never be handed the same numbers.
        let count = i64::try_from(events.len()).map_err(corrupt)?;
        let row = sqlx::query(sql(format!(
            "UPDATE incidents SET last_seq = last_seq + $2 WHERE id = $1 RETURNING {INCIDENT_COLUMNS}"
        )))
        .bind(id.0)
        .bind(count)
        .fetch_optional(&mut **tx)
        .await?
        .ok_or(StoreError::NotFound(id))?;
        let incident = Self::incident_from_row(&row)?;
        let events = Self::insert_events(tx, id, incident.last_seq - count + 1, events).await?;
        Ok((incident, events))
    }

    /// [`Self::append_in_tx`] for many incidents at once, in few statements: one `UPDATE`
    /// per distinct number of new events takes the sequence numbers, and multi-row `INSERT`s
    /// write the events. Events of one incident keep their order. Returns each incident as it
    /// is after, with its new events, in incident order.
    pub(super) async fn append_many(
        tx: &mut Transaction<'static, DB>,
        batches: Vec<(IncidentId, Vec<NewEvent>)>,
    ) -> Result<Vec<(Incident, Vec<Event>)>, StoreError> {
        let mut by_incident: BTreeMap<IncidentId, Vec<NewEvent>> = BTreeMap::new();
        for (id, events) in batches {
            by_incident.entry(id).or_default().extend(events);
        }
        by_incident.retain(|_, events| !events.is_empty());
        let mut by_count: BTreeMap<usize, Vec<IncidentId>> = BTreeMap::new();
        for (id, events) in &by_incident {
            by_count.entry(events.len()).or_default().push(*id);
        }
        let mut incidents: BTreeMap<IncidentId, Incident> = BTreeMap::new();
        for (count, ids) in by_count {
            for ids in ids.chunks(APPEND_CHUNK) {
                let mut query = sqlx::query(sql(format!(
                    "UPDATE incidents SET last_seq = last_seq + {} WHERE {} \
                     RETURNING {INCIDENT_COLUMNS}",
                    param::<DB>(1),
                    DB::id_in("id", 2, ids.len())
                )))
                .bind(i64::try_from(count).map_err(corrupt)?);
                let ids: Vec<i64> = ids.iter().map(|id| id.0).collect();
                query = DB::bind_ids(query, &ids);
                for row in query.fetch_all(&mut **tx).await? {
                    let incident = Self::incident_from_row(&row)?;
                    incidents.insert(incident.id, incident);
                }
            }
        }
        let mut appended = Vec::with_capacity(by_incident.len());
        let mut keys = Vec::with_capacity(by_incident.len());
        for (id, events) in by_incident {
            let incident = incidents.remove(&id).ok_or(StoreError::NotFound(id))?;
            let count = i64::try_from(events.len()).map_err(corrupt)?;
            let (written, written_keys) = numbered(id, incident.last_seq - count + 1, events);
            appended.push((incident, written));
            keys.push(written_keys);
        }
        let rows: Vec<(&Event, &Option<String>)> = appended
            .iter()
            .zip(&keys)
            .flat_map(|((_, events), keys)| events.iter().zip(keys))
            .collect();
        Self::write_events(tx, &rows).await?;
        Ok(appended)
    }

    /// Writes `events` (numbered from `first_seq`) to incident `id`'s timeline.
    pub(super) async fn insert_events(
        tx: &mut Transaction<'static, DB>,
        id: IncidentId,
        first_seq: i64,
        events: Vec<NewEvent>,
    ) -> Result<Vec<Event>, StoreError> {
        let (written, keys) = numbered(id, first_seq, events);
        let rows: Vec<(&Event, &Option<String>)> = written.iter().zip(&keys).collect();
        Self::write_events(tx, &rows).await?;
        Ok(written)
    }

    /// Inserts numbered events with their keys, in multi-row statements.
    async fn write_events(
        tx: &mut Transaction<'static, DB>,
        rows: &[(&Event, &Option<String>)],
    ) -> Result<(), StoreError> {
        for chunk in rows.chunks(APPEND_CHUNK) {
            let mut query = sqlx::query(sql(format!(
                "INSERT INTO incident_events \
                 (incident_id, seq, at, kind, actor, actor_name, text, data, event_key) VALUES {}",
                value_rows::<DB>(1, chunk.len(), 9)
            )));
            for (event, key) in chunk {
                query = query
                    .bind(event.incident_id.0)
                    .bind(event.seq)
                    .bind(event.at.as_millis())
                    .bind(event.kind.as_str().to_owned())
                    .bind(event.actor.id.clone())
                    .bind(event.actor.name.clone())
                    .bind(event.text.clone())
                    .bind(event.data.to_string())
                    .bind((*key).clone());
            }
            query.execute(&mut **tx).await?;
        }
        // Reviews and action items follow their events in the same transaction.
        for (event, _) in rows {
            Self::follow_in_tx(tx, event).await?;
        }
        Ok(())
    }

    pub(super) async fn write_incident_state(
        tx: &mut Transaction<'static, DB>,
        incident: &Incident,
    ) -> Result<(), StoreError> {
        let roles = serde_json::to_string(&incident.roles).map_err(corrupt)?;
        sqlx::query(
            "UPDATE incidents SET title = $2, description = $3, severity = $4, status = $5, \
             service = $6, drill = $7, private = $8, channel_id = $9, acknowledged_at = $10, \
             acknowledged_by = $11, acknowledged_by_name = $12, mitigated_at = $13, \
             resolved_at = $14, roles = $15, last_seq = $16 WHERE id = $1",
        )
        .bind(incident.id.0)
        .bind(incident.title.clone())
        .bind(incident.description.clone())
        .bind(incident.severity.clone())
        .bind(incident.status.as_str().to_owned())
        .bind(incident.service.clone())
        .bind(incident.drill)
        .bind(incident.private)
        .bind(to_db_id(incident.channel_id)?)
        .bind(incident.acknowledged_at.map(Timestamp::as_millis))
        .bind(
            incident
                .acknowledged_by
                .as_ref()
                .map(|actor| actor.id.clone()),
        )
        .bind(
            incident
                .acknowledged_by
                .as_ref()
                .map(|actor| actor.name.clone()),
        )
        .bind(incident.mitigated_at.map(Timestamp::as_millis))
        .bind(incident.resolved_at.map(Timestamp::as_millis))
        .bind(roles)
        .bind(incident.last_seq)
        .execute(&mut **tx)
        .await?;
        Ok(())
    }

    async fn upsert_post(
        tx: &mut Transaction<'static, DB>,
        id: IncidentId,
        kind: &str,
        post: Post,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO incident_posts (incident_id, kind, channel_id, message_id) \
             VALUES ($1, $2, $3, $4) ON CONFLICT (incident_id, kind) \
             DO UPDATE SET channel_id = excluded.channel_id, message_id = excluded.message_id",
        )
        .bind(id.0)
        .bind(kind.to_owned())
        .bind(db_id(post.channel_id)?)
        .bind(db_id(post.message_id)?)
        .execute(&mut **tx)
        .await?;
        Ok(())
    }

    async fn fetch_incidents(
        &self,
        query_text: String,
        binds: Vec<String>,
    ) -> Result<Vec<Incident>, StoreError> {
        let mut query = sqlx::query(sql(query_text));
        for bind in binds {
            query = query.bind(bind);
        }
        let rows = query.fetch_all(&self.reader).await?;
        rows.iter().map(Self::incident_from_row).collect()
    }

    pub(super) fn incident_from_row(row: &DB::Row) -> Result<Incident, StoreError> {
        let status: String = row.try_get("status")?;
        let source: String = row.try_get("source")?;
        let roles: String = row.try_get("roles")?;
        let channel_id: Option<i64> = row.try_get("channel_id")?;
        let actor = |id: Option<String>, name: Option<String>| {
            id.map(|id| Actor {
                name: name.unwrap_or_else(|| id.clone()),
                id,
            })
        };
        let millis = |value: Option<i64>| value.map(Timestamp::from_millis);
        Ok(Incident {
            id: IncidentId(row.try_get("id")?),
            title: row.try_get("title")?,
            description: row.try_get("description")?,
            severity: row.try_get("severity")?,
            status: status.parse::<Status>().map_err(corrupt)?,
            service: row.try_get("service")?,
            source: Source::parse(&source).ok_or_else(|| corrupt(format!("source `{source}`")))?,
            drill: row.try_get("drill")?,
            private: row.try_get("private")?,
            channel_id: channel_id.map(|id| id as u64),
            opened_at: Timestamp::from_millis(row.try_get("opened_at")?),
            opened_by: Actor {
                id: row.try_get("opened_by")?,
                name: row.try_get("opened_by_name")?,
            },
            acknowledged_at: millis(row.try_get("acknowledged_at")?),
            acknowledged_by: actor(
                row.try_get("acknowledged_by")?,
                row.try_get("acknowledged_by_name")?,
            ),
            mitigated_at: millis(row.try_get("mitigated_at")?),
            resolved_at: millis(row.try_get("resolved_at")?),
            roles: serde_json::from_str(&roles).map_err(corrupt)?,
            last_seq: row.try_get("last_seq")?,
        })
    }

    pub(super) fn event_from_row(row: &DB::Row) -> Result<Event, StoreError> {
        let kind: String = row.try_get("kind")?;
        let data: String = row.try_get("data")?;
        Ok(Event {
            incident_id: IncidentId(row.try_get("incident_id")?),
            seq: row.try_get("seq")?,
            at: Timestamp::from_millis(row.try_get("at")?),
            kind: kind.parse::<EventKind>().map_err(corrupt)?,
            actor: Actor {
                id: row.try_get("actor")?,
                name: row.try_get("actor_name")?,
            },
            text: row.try_get("text")?,
            data: serde_json::from_str(&data).map_err(corrupt)?,
        })
    }
}
}

sql_store_impl! {
impl IncidentStore {
    fn backend(&self) -> &'static str {
        DB::BACKEND
    }

    async fn migrate(&self) -> Result<(), StoreError> {
        Ok(DB::run_migrations(&self.writer).await?)
    }

    async fn ping(&self) -> Result<(), StoreError> {
        sqlx::query("SELECT 1").execute(&self.reader).await?;
        Ok(())
    }

    async fn create_incident(
        &self,
        new: NewIncident,
        events: Vec<NewEvent>,
        escalation: super::EscalationEffect,
        timers: super::TimerPlan<'_>,
    ) -> Result<Written, StoreError> {
        let mut tx = self.begin_write().await?;
        let written = Self::insert_incident(&mut tx, new, events, &escalation).await?;
        Self::apply_timers_in_tx(&mut tx, &timers(&written.incident)).await?;
        tx.commit().await?;
        Ok(written)
    }

    async fn update_incident(
        &self,
        id: IncidentId,
        decide: Decide<'_>,
    ) -> Result<Written, StoreError> {
        let mut tx = self.begin_write().await?;
        let current = Self::load_for_update(&mut tx, id).await?;
        let Change {
            incident: mut next,
            events,
            escalation,
            timers,
        } = decide(&current)?;
        let earlier = Self::existing_keyed(&mut tx, id, &events).await?;
        if !earlier.is_empty() {
            tx.rollback().await?;
            return Ok(Written {
                incident: current,
                events: earlier,
                duplicate: true,
            });
        }
        next.id = current.id;
        next.last_seq = current.last_seq + i64::try_from(events.len()).map_err(corrupt)?;
        Self::write_incident_state(&mut tx, &next).await?;
        let events = Self::insert_events(&mut tx, id, current.last_seq + 1, events).await?;
        Self::apply_escalation_effect(&mut tx, id, &escalation).await?;
        Self::apply_timers_in_tx(&mut tx, &timers).await?;
        tx.commit().await?;
        Ok(Written {
            incident: next,
            events,
            duplicate: false,
        })
    }

    async fn append_events(
        &self,
        id: IncidentId,
        events: Vec<NewEvent>,
    ) -> Result<Written, StoreError> {
        let mut tx = self.begin_write().await?;
        // The incident's row first: a second writer of the same key waits here, then finds it.
        let current = Self::load_for_update(&mut tx, id).await?;
        let earlier = Self::existing_keyed(&mut tx, id, &events).await?;
        if !earlier.is_empty() {
            tx.rollback().await?;
            return Ok(Written {
                incident: current,
                events: earlier,
                duplicate: true,
            });
        }
        let (incident, events) = Self::append_in_tx(&mut tx, id, events).await?;
        tx.commit().await?;
        Ok(Written {
            incident,
            events,
            duplicate: false,
        })
    }

    async fn get_incident(&self, id: IncidentId) -> Result<Option<Incident>, StoreError> {
        let row = sqlx::query(sql(format!(
            "SELECT {INCIDENT_COLUMNS} FROM incidents WHERE id = $1"
        )))
        .bind(id.0)
        .fetch_optional(&self.reader)
        .await?;
        row.as_ref().map(Self::incident_from_row).transpose()
    }

    async fn incident_by_channel(&self, channel_id: u64) -> Result<Option<Incident>, StoreError> {
        let row = sqlx::query(sql(format!(
            "SELECT {INCIDENT_COLUMNS} FROM incidents WHERE channel_id = $1"
        )))
        .bind(to_db_id(Some(channel_id))?)
        .fetch_optional(&self.reader)
        .await?;
        row.as_ref().map(Self::incident_from_row).transpose()
    }

    async fn list_incidents(&self, filter: &IncidentFilter) -> Result<Vec<Incident>, StoreError> {
        let mut conditions = Vec::new();
        let mut binds = Vec::new();
        if !filter.statuses.is_empty() {
            let placeholders: Vec<String> = filter
                .statuses
                .iter()
                .map(|status| {
                    binds.push(status.as_str().to_owned());
                    format!("${}", binds.len())
                })
                .collect();
            conditions.push(format!("status IN ({})", placeholders.join(", ")));
        }
        if let Some(search) = filter
            .search
            .as_deref()
            .map(str::trim)
            .filter(|s| !s.is_empty())
        {
            let number = search
                .trim_start_matches("INC-")
                .trim_start_matches("inc-")
                .to_owned();
            binds.push(format!("%{}%", search.to_lowercase()));
            binds.push(number);
            conditions.push(format!(
                "(LOWER(title) LIKE ${} OR CAST(id AS TEXT) = ${})",
                binds.len() - 1,
                binds.len()
            ));
        }
        if filter.without_private {
            conditions.push("NOT private".to_owned());
        }
        let mut query = format!("SELECT {INCIDENT_COLUMNS} FROM incidents");
        if !conditions.is_empty() {
            query.push_str(" WHERE ");
            query.push_str(&conditions.join(" AND "));
        }
        query.push_str(if filter.active_first {
            " ORDER BY CASE WHEN status = 'resolved' THEN 1 ELSE 0 END, id DESC"
        } else {
            " ORDER BY id DESC"
        });
        if let Some(limit) = filter.limit {
            query.push_str(&format!(" LIMIT {limit}"));
        }
        self.fetch_incidents(query, binds).await
    }

    async fn timeline_page(
        &self,
        id: IncidentId,
        after_seq: i64,
        limit: u32,
    ) -> Result<Vec<Event>, StoreError> {
        let rows = sqlx::query(sql(format!(
            "SELECT {EVENT_COLUMNS} FROM incident_events \
             WHERE incident_id = $1 AND seq > $2 ORDER BY seq LIMIT $3"
        )))
        .bind(id.0)
        .bind(after_seq)
        .bind(i64::from(limit))
        .fetch_all(&self.reader)
        .await?;
        rows.iter().map(Self::event_from_row).collect()
    }

    async fn timeline_histogram(
        &self,
        id: IncidentId,
        from: Timestamp,
        to: Timestamp,
        buckets: u32,
    ) -> Result<Vec<(EventKind, usize, u32)>, StoreError> {
        let span = (to.as_millis() - from.as_millis()).max(1);
        // The offset into [from, to], clamped, scaled to `buckets` columns: the last bucket
        // ends just past `to`, so every offset lands in one.
        let rows = sqlx::query(
            "SELECT kind, (CASE WHEN at < $2 THEN 0 WHEN at > $3 THEN $3 - $2 ELSE at - $2 END) \
             * $5 / ($4 + 1) AS bucket, COUNT(*) AS n FROM incident_events \
             WHERE incident_id = $1 GROUP BY kind, bucket",
        )
        .bind(id.0)
        .bind(from.as_millis())
        .bind(to.as_millis())
        .bind(span)
        .bind(i64::from(buckets))
        .fetch_all(&self.reader)
        .await?;
        rows.iter()
            .map(|row| {
                let kind: String = row.try_get("kind")?;
                let kind = kind
                    .parse::<EventKind>()
                    .map_err(|_| corrupt(format!("unknown event kind `{kind}`")))?;
                let bucket: i64 = row.try_get("bucket")?;
                let count: i64 = row.try_get("n")?;
                Ok((
                    kind,
                    usize::try_from(bucket).map_err(corrupt)?,
                    u32::try_from(count).map_err(corrupt)?,
                ))
            })
            .collect()
    }

    async fn event_by_key(&self, id: IncidentId, key: &str) -> Result<Option<Event>, StoreError> {
        let row = sqlx::query(sql(format!(
            "SELECT {EVENT_COLUMNS} FROM incident_events WHERE incident_id = $1 AND event_key = $2"
        )))
        .bind(id.0)
        .bind(key.to_owned())
        .fetch_optional(&self.reader)
        .await?;
        row.as_ref().map(Self::event_from_row).transpose()
    }

    async fn last_numbered_key(
        &self,
        id: IncidentId,
        prefix: &str,
    ) -> Result<Option<String>, StoreError> {
        // Among digit strings, the longer is the larger; equal lengths compare as text.
        let row = sqlx::query(
            "SELECT event_key FROM incident_events WHERE incident_id = $1 AND event_key LIKE $2 \
             ORDER BY LENGTH(event_key) DESC, event_key DESC LIMIT 1",
        )
        .bind(id.0)
        .bind(format!("{}%", prefix.replace(['%', '_'], "")))
        .fetch_optional(&self.reader)
        .await?;
        row.map(|row| row.try_get::<String, _>("event_key"))
            .transpose()
            .map_err(StoreError::from)
    }

    async fn attach_room(
        &self,
        id: IncidentId,
        channel_id: u64,
        card: Option<Post>,
    ) -> Result<Incident, StoreError> {
        let mut tx = self.begin_write().await?;
        let row = sqlx::query(sql(format!(
            "UPDATE incidents SET channel_id = $2 WHERE id = $1 RETURNING {INCIDENT_COLUMNS}"
        )))
        .bind(id.0)
        .bind(db_id(channel_id)?)
        .fetch_optional(&mut *tx)
        .await?
        .ok_or(StoreError::NotFound(id))?;
        let incident = Self::incident_from_row(&row)?;
        if let Some(card) = card {
            Self::upsert_post(&mut tx, id, super::CARD, card).await?;
        }
        tx.commit().await?;
        Ok(incident)
    }

    async fn set_post(&self, id: IncidentId, kind: &str, post: Post) -> Result<(), StoreError> {
        let mut tx = self.begin_write().await?;
        Self::upsert_post(&mut tx, id, kind, post).await?;
        tx.commit().await?;
        Ok(())
    }
    async fn post(&self, id: IncidentId, kind: &str) -> Result<Option<Post>, StoreError> {
        let row = sqlx::query(
            "SELECT channel_id, message_id FROM incident_posts WHERE incident_id = $1 AND kind = $2",
        )
        .bind(id.0)
        .bind(kind.to_owned())
        .fetch_optional(&self.reader)
        .await?;
        let Some(row) = row else { return Ok(None) };
        Ok(Some(Post {
            channel_id: row.try_get::<i64, _>("channel_id")? as u64,
            message_id: row.try_get::<i64, _>("message_id")? as u64,
        }))
    }
}
}
