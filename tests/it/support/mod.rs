//! Test support: fresh databases on both backends, configs, warroom in-process ([`app`]) and
//! the real binary, bounded waits ([`eventually`]), and snapshots of what a database holds
//! (to prove that a refused command changed nothing).

pub mod app;
pub mod discord;
pub mod process;
pub use warroom::bench::discord_env;

use std::fmt::Display;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use sqlx::Row;
use sqlx::postgres::PgPoolOptions;
use sqlx::sqlite::SqlitePoolOptions;
use warroom::config::{Config, Environment};
use warroom::domain::{Actor, SystemClock};
use warroom::ops::{Ops, Principal};
use warroom::store::{self, Store};

/// The variable `.ci/run` sets to a PostgreSQL server URL; each test makes its own database.
pub const PG_URL_VAR: &str = "WARROOM_TEST_DATABASE_URL";

/// How long any wait on warroom, Discord or the database may take before the test fails.
/// Generous, because a re-identify after a gateway fault can take serenity ~5 s and CI
/// machines are shared; no assertion is on time.
pub const WAIT: Duration = Duration::from_secs(30);

/// How often [`eventually`] looks again.
const POLL: Duration = Duration::from_millis(20);

/// What an [`eventually`] check answers: `true` or `Some(value)` when done; `false` or `None`
/// when not yet; or `Err(what it saw)`, shown if the wait times out.
pub trait Done {
    type Value;
    fn done(self) -> Result<Self::Value, Option<String>>;
}

impl Done for bool {
    type Value = ();
    fn done(self) -> Result<(), Option<String>> {
        if self { Ok(()) } else { Err(None) }
    }
}

impl<T> Done for Option<T> {
    type Value = T;
    fn done(self) -> Result<T, Option<String>> {
        self.ok_or(None)
    }
}

impl<T> Done for Result<T, String> {
    type Value = T;
    fn done(self) -> Result<T, Option<String>> {
        self.map_err(Some)
    }
}

/// Runs `check` every 20 ms until it is done and returns what it found; fails with "timed out
/// waiting for {what}" once `bound` has passed. The bound is real time (a paused tokio clock
/// cannot end it early) and only turns a hang into a failure.
pub async fn eventually<R: Done>(
    what: impl Display,
    bound: Duration,
    mut check: impl AsyncFnMut() -> R,
) -> R::Value {
    let started = Instant::now();
    loop {
        let seen = match check().await.done() {
            Ok(value) => return value,
            Err(seen) => seen,
        };
        if started.elapsed() >= bound {
            match seen {
                Some(seen) => {
                    panic!("timed out after {bound:?} waiting for {what}; last seen: {seen}")
                }
                None => panic!("timed out after {bound:?} waiting for {what}"),
            }
        }
        tokio::time::sleep(POLL).await;
    }
}

/// A database that exists only for one test.
pub struct TestDb {
    /// Holds the SQLite file (and the config) until the test ends.
    pub dir: tempfile::TempDir,
    /// The URL as written in the test's config file.
    pub url: String,
    pub backend: Backend,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

static DATABASES: AtomicU32 = AtomicU32::new(0);

impl TestDb {
    pub fn sqlite() -> TestDb {
        let dir = tempfile::tempdir().expect("a temporary folder");
        TestDb {
            dir,
            url: "sqlite://warroom.db".to_owned(),
            backend: Backend::Sqlite,
        }
    }

    /// A fresh PostgreSQL database, or `None` (said on stderr) when the server URL is not
    /// set outside CI. In CI a missing URL fails the test: the contract must run on both.
    pub async fn postgres() -> Option<TestDb> {
        let Ok(server) = std::env::var(PG_URL_VAR) else {
            assert!(
                std::env::var("CI").is_err(),
                "{PG_URL_VAR} is not set; .ci/run sets it so the PostgreSQL tests run in CI"
            );
            eprintln!("{PG_URL_VAR} is not set: skipping the PostgreSQL half of this test");
            return None;
        };
        let name = format!(
            "warroom_test_{}_{}_{}",
            std::process::id(),
            DATABASES.fetch_add(1, Ordering::SeqCst),
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .subsec_nanos()
        );
        let admin = PgPoolOptions::new()
            .max_connections(1)
            .connect(&server)
            .await
            .unwrap_or_else(|error| panic!("cannot reach PostgreSQL at {PG_URL_VAR}: {error}"));
        sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
            .execute(&admin)
            .await
            .expect("CREATE DATABASE");
        admin.close().await;
        let (base, _) = server
            .rsplit_once('/')
            .expect("the server URL ends with /DATABASE");
        Some(TestDb {
            dir: tempfile::tempdir().expect("a temporary folder"),
            url: format!("{base}/{name}"),
            backend: Backend::Postgres,
        })
    }

    /// Writes a config using this database (plus `extra` TOML) and returns its path.
    pub fn write_config(&self, extra: &str) -> PathBuf {
        let path = self.dir.path().join("warroom.toml");
        let mut shipped = warroom::config::DEFAULT_CONFIG_TOML.replace(
            "url = \"sqlite://warroom.db\"",
            &format!("url = \"{}\"", self.url),
        );
        // Tests that bring their own tokens and routes replace the shipped examples (TOML
        // refuses a table defined twice).
        if extra.contains("[api_tokens.") || extra.contains("[alerts") {
            let start = shipped
                .find("# API tokens:")
                .expect("the shipped [api_tokens]");
            let end = shipped.find("[discord]").expect("the shipped [discord]");
            shipped.replace_range(start..end, "");
        }
        let text = format!("{shipped}\n{extra}\n");
        std::fs::write(&path, text).expect("write the test config");
        path
    }

    pub fn config(&self) -> Config {
        Config::load(&self.write_config(""), &Environment::default())
            .expect("the test config is valid")
    }

    pub async fn store(&self) -> Arc<dyn Store> {
        store::connect(&self.config().database)
            .await
            .expect("connect to the test database")
    }

    pub async fn ops(&self) -> Ops {
        Ops::new(
            self.store().await,
            Arc::new(self.config()),
            Arc::new(SystemClock),
        )
    }

    fn sqlite_path(&self) -> PathBuf {
        self.dir.path().join("warroom.db")
    }

    /// Every incident and event the database holds, as text; equal snapshots mean nothing
    /// was written in between.
    pub async fn snapshot(&self) -> String {
        let queries = [
            "SELECT CAST(id AS TEXT), title, severity, status, COALESCE(service, '-'), \
             CAST(drill AS TEXT), COALESCE(acknowledged_by, '-'), roles, CAST(last_seq AS TEXT), \
             COALESCE(CAST(channel_id AS TEXT), '-') FROM incidents ORDER BY id",
            "SELECT CAST(incident_id AS TEXT), CAST(seq AS TEXT), CAST(at AS TEXT), kind, actor, \
             text, data FROM incident_events ORDER BY incident_id, seq",
        ];
        let mut lines = Vec::new();
        for query in queries {
            lines.extend(match self.backend {
                Backend::Sqlite => dump(&self.sqlite_pool().await, query).await,
                Backend::Postgres => dump(&self.postgres_pool().await, query).await,
            });
        }
        lines.join("\n")
    }

    /// Every row of `query` (whose columns are all text), one line each.
    pub async fn rows(&self, query: &'static str) -> Vec<String> {
        match self.backend {
            Backend::Sqlite => dump(&self.sqlite_pool().await, query).await,
            Backend::Postgres => dump(&self.postgres_pool().await, query).await,
        }
    }

    /// Runs a statement directly against the database, bypassing warroom.
    pub async fn execute_raw(&self, statement: &str) -> Result<(), sqlx::Error> {
        let statement = sqlx::AssertSqlSafe(statement.to_owned());
        match self.backend {
            Backend::Sqlite => sqlx::query(statement)
                .execute(&self.sqlite_pool().await)
                .await
                .map(drop),
            Backend::Postgres => sqlx::query(statement)
                .execute(&self.postgres_pool().await)
                .await
                .map(drop),
        }
    }

    /// SQLite's own verdict on the file: `ok` when it is intact.
    pub async fn sqlite_integrity(&self) -> String {
        assert_eq!(self.backend, Backend::Sqlite);
        sqlx::query_scalar("PRAGMA integrity_check")
            .fetch_one(&self.sqlite_pool().await)
            .await
            .expect("run the integrity check")
    }

    async fn sqlite_pool(&self) -> sqlx::SqlitePool {
        SqlitePoolOptions::new()
            .max_connections(1)
            .connect(&format!("sqlite://{}", self.sqlite_path().display()))
            .await
            .expect("open the SQLite file")
    }

    async fn postgres_pool(&self) -> sqlx::PgPool {
        PgPoolOptions::new()
            .max_connections(1)
            .connect(&self.url)
            .await
            .expect("open the PostgreSQL database")
    }
}

/// Every row of `query` (whose columns are all text) as one line.
async fn dump<DB>(pool: &sqlx::Pool<DB>, query: &'static str) -> Vec<String>
where
    DB: sqlx::Database,
    for<'c> &'c mut DB::Connection: sqlx::Executor<'c, Database = DB>,
    DB::Arguments: sqlx::IntoArguments<DB>,
    for<'q> String: sqlx::Decode<'q, DB> + sqlx::Type<DB>,
    usize: sqlx::ColumnIndex<DB::Row>,
{
    let rows = sqlx::query(query)
        .fetch_all(pool)
        .await
        .expect("read the database");
    rows.iter()
        .map(|row| {
            (0..row.len())
                .map(|index| row.get::<String, _>(index))
                .collect::<Vec<_>>()
                .join(" | ")
        })
        .collect()
}

/// Runs a scenario on SQLite and on PostgreSQL: `on_both_backends!(scenario_a, scenario_b);`
/// makes `sqlite::scenario_a`, `postgres::scenario_a`, ... from `async fn scenario_a(TestDb)`.
#[macro_export]
macro_rules! on_both_backends {
    ($($scenario:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
                async fn $scenario() {
                    super::$scenario($crate::support::TestDb::sqlite()).await;
                }
            )*
        }
        mod postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
                async fn $scenario() {
                    if let Some(db) = $crate::support::TestDb::postgres().await {
                        super::$scenario(db).await;
                    }
                }
            )*
        }
    };
}

/// The real `warroom` binary, with a clean environment apart from what tests pass.
pub fn warroom(config: &Path) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_warroom"));
    command
        .arg("--config")
        .arg(config)
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("USER", "alice")
        .env("WARROOM_LOG", "warn");
    command
}

/// Runs the binary with `args` and returns its output.
pub fn run(config: &Path, args: &[&str]) -> Output {
    warroom(config)
        .args(args)
        .output()
        .expect("run the warroom binary")
}

pub fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

pub fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

/// Asserts success and returns stdout, showing stderr when it failed.
#[track_caller]
pub fn succeed(config: &Path, args: &[&str]) -> String {
    let output = run(config, args);
    assert!(
        output.status.success(),
        "warroom {args:?} failed: {}\n{}",
        output.status,
        stderr(&output)
    );
    stdout(&output)
}

pub fn operator(login: &str) -> Principal {
    Principal::operator(Actor::cli(login))
}

/// The repository root, for reading `config/` and `commands/`.
pub fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// A free port on 127.0.0.1 (released for the child to take).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}
