//! SQLite, the embedded default: one file next to the config, WAL mode, one writer.

use std::path::Path;
use std::str::FromStr;
use std::time::Duration;

use futures::future::BoxFuture;
use sqlx::query::Query;
use sqlx::sqlite::{
    SqliteArguments, SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous,
};
use sqlx::{Pool, Sqlite};

use super::sql::{Column, ColumnType, Dialect, SqlStore, param_list, value_rows};
use super::{AcquireHooks, SqliteSync, StoreError};

/// Rows the SQLite worker thread may queue ahead of the reader. sqlx's default (50) wakes the
/// reading task every 50 rows; long timeline pages read faster with a deeper queue, and the
/// memory it allows is bounded by the page size anyway.
const ROW_BUFFER: usize = 1_000;

/// How long a write waits for another process (a CLI beside `warroom run`) to release the
/// database before failing. Writes are short; five seconds means something is stuck.
const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

impl Dialect for Sqlite {
    const BACKEND: &'static str = "sqlite";
    const BEGIN_WRITE: &'static str = "BEGIN IMMEDIATE";
    const LOCK_ROW: &'static str = "";
    const CONCURRENT_WRITERS: usize = 1;
    const NUMBERED_PARAMS: bool = false;

    fn run_migrations(
        pool: &Pool<Sqlite>,
    ) -> BoxFuture<'_, Result<(), sqlx::migrate::MigrateError>> {
        Box::pin(sqlx::migrate!("migrations/sqlite").run(pool))
    }

    fn id_in(column: &str, first: usize, count: usize) -> String {
        format!("{column} IN ({})", param_list::<Sqlite>(first, count))
    }

    fn bind_ids<'q>(
        query: Query<'q, Sqlite, SqliteArguments>,
        ids: &[i64],
    ) -> Query<'q, Sqlite, SqliteArguments> {
        ids.iter().fold(query, |query, id| query.bind(*id))
    }

    fn planned_each_time<'q>(
        query: Query<'q, Sqlite, SqliteArguments>,
    ) -> Query<'q, Sqlite, SqliteArguments> {
        query
    }

    fn list_slots(count: usize) -> usize {
        count
    }

    fn bind_texts<'q>(
        query: Query<'q, Sqlite, SqliteArguments>,
        values: &[&str],
    ) -> Query<'q, Sqlite, SqliteArguments> {
        values
            .iter()
            .fold(query, |query, value| query.bind((*value).to_owned()))
    }

    fn rows_source(first: usize, rows: usize, types: &[ColumnType]) -> String {
        format!(
            "(VALUES {}) AS v",
            value_rows::<Sqlite>(first, rows, types.len())
        )
    }

    fn bind_rows<'q>(
        mut query: Query<'q, Sqlite, SqliteArguments>,
        columns: Vec<Column>,
    ) -> Query<'q, Sqlite, SqliteArguments> {
        // Row by row, as the VALUES list numbers its placeholders.
        let rows = columns.first().map_or(0, Column::len);
        for row in 0..rows {
            for column in &columns {
                query = match column {
                    Column::Int(values) => query.bind(values[row]),
                    Column::OptInt(values) => query.bind(values[row]),
                    Column::Text(values) => query.bind(values[row].clone()),
                };
            }
        }
        query
    }

    fn start_change_feed(store: &SqlStore<Sqlite>) -> super::duties::Feed {
        let reader = store.reader.clone();
        super::duties::spawn_feed(move |feed| Box::pin(watch_data_version(reader, feed)))
    }
}

/// How often another process's commits are looked for. `PRAGMA data_version` is answered from
/// memory, so polling costs next to nothing, and a tenth of a second keeps Discord well
/// within its 2 seconds of the database.
const DATA_VERSION_POLL: Duration = Duration::from_millis(100);

/// Polls `PRAGMA data_version` on a connection of its own (the value moves when any other
/// connection, of this process or another, commits) and bumps the feed when it moves.
async fn watch_data_version(reader: Pool<Sqlite>, feed: super::duties::FeedHandle) {
    let mut connection = None;
    let mut last = None;
    let mut ticks = tokio::time::interval(DATA_VERSION_POLL);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        ticks.tick().await;
        if feed.is_gone() {
            return;
        }
        if connection.is_none() {
            // Out of the pool for good: the value is only comparable on one connection.
            connection = reader.acquire().await.ok().map(|pooled| pooled.detach());
        }
        let Some(open) = connection.as_mut() else {
            continue;
        };
        match sqlx::query_scalar::<_, i64>("PRAGMA data_version")
            .fetch_one(&mut *open)
            .await
        {
            Ok(version) => {
                // Also when the watch (re)starts: whatever happened before is unknown.
                if last != Some(version) && !feed.bump() {
                    return;
                }
                last = Some(version);
            }
            Err(error) => {
                tracing::debug!(%error, "reading data_version failed; reconnecting");
                connection = None;
                last = None;
            }
        }
    }
}

pub(super) async fn connect(
    path: &Path,
    max_connections: u32,
    synchronous: SqliteSync,
    hooks: &AcquireHooks,
) -> Result<SqlStore<Sqlite>, StoreError> {
    if let Some(parent) = path
        .parent()
        .filter(|parent| !parent.as_os_str().is_empty())
    {
        std::fs::create_dir_all(parent).map_err(|error| {
            StoreError::Database(sqlx::Error::Configuration(
                format!(
                    "cannot create the folder {} for the database: {error}",
                    parent.display()
                )
                .into(),
            ))
        })?;
    }
    let options = SqliteConnectOptions::from_str("sqlite://")?
        .filename(path)
        .create_if_missing(true)
        .journal_mode(SqliteJournalMode::Wal)
        .synchronous(match synchronous {
            SqliteSync::Normal => SqliteSynchronous::Normal,
            SqliteSync::Full => SqliteSynchronous::Full,
        })
        .foreign_keys(true)
        .busy_timeout(BUSY_TIMEOUT);
    let writer = hooks
        .apply(SqlitePoolOptions::new(), None)
        .max_connections(1)
        .connect_with(options.clone())
        .await?;
    let reader = hooks
        .apply(SqlitePoolOptions::new(), None)
        .max_connections(max_connections)
        .connect_with(options.row_buffer_size(ROW_BUFFER))
        .await?;
    Ok(SqlStore::new(writer, reader))
}
