//! PostgreSQL, for several warroom processes or a shared database.

use std::time::Duration;

use futures::future::BoxFuture;
use secrecy::{ExposeSecret, SecretString};
use sqlx::postgres::PgPoolOptions;
use sqlx::{Pool, Postgres};

use super::sql::{Dialect, SqlStore};
use super::{AcquireDelay, StoreError};

/// How long to wait for a pooled connection before reporting the database as unreachable.
const ACQUIRE_TIMEOUT: Duration = Duration::from_secs(10);

impl Dialect for Postgres {
    const BACKEND: &'static str = "postgres";
    const BEGIN_WRITE: &'static str = "BEGIN";
    const LOCK_ROW: &'static str = " FOR UPDATE";
    const NUMBERED_PARAMS: bool = true;

    fn run_migrations(
        pool: &Pool<Postgres>,
    ) -> BoxFuture<'_, Result<(), sqlx::migrate::MigrateError>> {
        Box::pin(sqlx::migrate!("migrations/postgres").run(pool))
    }
}

pub(super) async fn connect(
    url: &SecretString,
    max_connections: u32,
    delay: &AcquireDelay,
) -> Result<SqlStore<Postgres>, StoreError> {
    let pool = delay
        .apply(PgPoolOptions::new())
        .max_connections(max_connections)
        .acquire_timeout(ACQUIRE_TIMEOUT)
        .connect(url.expose_secret())
        .await?;
    Ok(SqlStore::new(pool.clone(), pool))
}
