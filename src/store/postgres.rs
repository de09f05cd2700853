//! PostgreSQL, for several warroom processes or a shared database.

use std::time::Duration;

use futures::future::BoxFuture;
use secrecy::{ExposeSecret, SecretString};
use sqlx::postgres::{PgArguments, PgPoolOptions};
use sqlx::query::Query;
use sqlx::{Pool, Postgres};

use super::sql::{Column, ColumnType, Dialect, SqlStore};
use super::{AcquireHooks, StoreError};

/// How long to wait for a pooled connection before reporting the database as unreachable.
const ACQUIRE_TIMEOUT: Duration = Duration::from_secs(10);

impl Dialect for Postgres {
    const BACKEND: &'static str = "postgres";
    const BEGIN_WRITE: &'static str = "BEGIN";
    const LOCK_ROW: &'static str = " FOR UPDATE";
    const CONCURRENT_WRITERS: usize = 2;
    const NUMBERED_PARAMS: bool = true;

    fn run_migrations(
        pool: &Pool<Postgres>,
    ) -> BoxFuture<'_, Result<(), sqlx::migrate::MigrateError>> {
        Box::pin(sqlx::migrate!("migrations/postgres").run(pool))
    }

    fn id_in(column: &str, first: usize, _count: usize) -> String {
        format!("{column} = ANY(${first})")
    }

    fn bind_ids<'q>(
        query: Query<'q, Postgres, PgArguments>,
        ids: &[i64],
    ) -> Query<'q, Postgres, PgArguments> {
        query.bind(ids.to_vec())
    }

    fn planned_each_time<'q>(
        query: Query<'q, Postgres, PgArguments>,
    ) -> Query<'q, Postgres, PgArguments> {
        query.persistent(false)
    }

    fn list_slots(_count: usize) -> usize {
        1
    }

    fn bind_texts<'q>(
        query: Query<'q, Postgres, PgArguments>,
        values: &[&str],
    ) -> Query<'q, Postgres, PgArguments> {
        query.bind(
            values
                .iter()
                .map(|value| (*value).to_owned())
                .collect::<Vec<String>>(),
        )
    }

    fn rows_source(first: usize, _rows: usize, types: &[ColumnType]) -> String {
        let arrays: Vec<String> = types
            .iter()
            .enumerate()
            .map(|(n, kind)| {
                let kind = match kind {
                    ColumnType::Int => "bigint",
                    ColumnType::Text => "text",
                };
                format!("${}::{kind}[]", first + n)
            })
            .collect();
        let names: Vec<String> = (1..=types.len()).map(|n| format!("column{n}")).collect();
        format!("UNNEST({}) AS v ({})", arrays.join(", "), names.join(", "))
    }

    fn bind_rows<'q>(
        query: Query<'q, Postgres, PgArguments>,
        columns: Vec<Column>,
    ) -> Query<'q, Postgres, PgArguments> {
        columns
            .into_iter()
            .fold(query, |query, column| match column {
                Column::Int(values) => query.bind(values),
                Column::OptInt(values) => query.bind(values),
                Column::Text(values) => query.bind(values),
            })
    }

    fn start_change_feed(store: &SqlStore<Postgres>) -> super::duties::Feed {
        let pool = store.reader.clone();
        super::duties::spawn_feed(move |feed| Box::pin(listen_for_changes(pool, feed)))
    }
}

/// The channel the `incident_events` trigger notifies (migration 0007).
const CHANGES_CHANNEL: &str = "warroom_changes";

/// How long to wait before listening again after the connection broke.
const RELISTEN_AFTER: Duration = Duration::from_secs(1);

/// Listens on `warroom_changes` and bumps the feed per notification; after a broken
/// connection it bumps too (notifications sent meanwhile are lost) and listens again.
async fn listen_for_changes(pool: Pool<Postgres>, feed: super::duties::FeedHandle) {
    while !feed.is_gone() {
        let mut listener = match sqlx::postgres::PgListener::connect_with(&pool).await {
            Ok(listener) => listener,
            Err(error) => {
                tracing::debug!(%error, "cannot LISTEN for changes yet");
                tokio::time::sleep(RELISTEN_AFTER).await;
                continue;
            }
        };
        if let Err(error) = listener.listen(CHANGES_CHANNEL).await {
            tracing::debug!(%error, "LISTEN failed");
            tokio::time::sleep(RELISTEN_AFTER).await;
            continue;
        }
        feed.bump();
        loop {
            match listener.try_recv().await {
                Ok(Some(_)) => {
                    feed.bump();
                }
                // The connection was lost; whatever was sent meanwhile is gone.
                Ok(None) => {
                    feed.bump();
                }
                Err(error) => {
                    tracing::debug!(%error, "the LISTEN connection failed");
                    feed.bump();
                    break;
                }
            }
            if feed.is_gone() {
                return;
            }
        }
        tokio::time::sleep(RELISTEN_AFTER).await;
    }
}

/// What each of warroom's sessions tells the planner. The default `random_page_cost` (4)
/// models a spinning disk: with it PostgreSQL chose to read every escalation (and, before the
/// tables were analyzed, every incident) rather than look up the 100 rows a batch of steps
/// names, measured in a burst of 10,000 pages. warroom's tables are small and read hot from
/// cache, where an index lookup costs little more than reading the next page; 1.1 is the
/// value PostgreSQL's documentation gives for solid-state storage. Only warroom's sessions are
/// affected; the server's setting stays as it is.
const SESSION_SETUP: &str = "SET random_page_cost = 1.1";

pub(super) async fn connect(
    url: &SecretString,
    max_connections: u32,
    hooks: &AcquireHooks,
) -> Result<SqlStore<Postgres>, StoreError> {
    let pool = hooks
        .apply(PgPoolOptions::new(), Some(SESSION_SETUP))
        .max_connections(max_connections)
        .acquire_timeout(ACQUIRE_TIMEOUT)
        .connect(url.expose_secret())
        .await?;
    Ok(SqlStore::new(pool.clone(), pool))
}
