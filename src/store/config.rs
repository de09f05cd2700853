//! What the store is opened with: the database location (a SQLite file or a PostgreSQL URL,
//! whose password never shows in logs, errors or `Debug`), the pool size, and SQLite's
//! durability setting. The config's `[database]` section is read into it.

use std::fmt;
use std::path::PathBuf;

use secrecy::{ExposeSecret, SecretString};

#[derive(Clone, Debug)]
pub struct DatabaseConfig {
    pub url: DatabaseUrl,
    /// Upper bound on pooled connections; SQLite writes still go through one connection.
    pub max_connections: u32,
    /// How hard SQLite flushes each commit to disk (ignored for PostgreSQL).
    pub sqlite_synchronous: SqliteSync,
}

/// SQLite's `synchronous` setting, in WAL mode.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SqliteSync {
    /// A committed change survives warroom crashing or being killed (it is in the OS before
    /// the commit returns); the last moments before a power loss or kernel crash may not.
    /// Several times the write throughput of `Full`, which the interaction target needs.
    Normal,
    /// Every commit waits for the disk: survives power loss too, at one fsync per commit.
    Full,
}

/// The database location. Holds the URL as a secret because PostgreSQL URLs carry passwords.
#[derive(Clone)]
pub enum DatabaseUrl {
    /// A SQLite file, already resolved against the config file's folder.
    Sqlite(PathBuf),
    Postgres(SecretString),
}

impl DatabaseUrl {
    /// A form safe for logs and error messages: the password, if any, is masked.
    pub fn redacted(&self) -> String {
        match self {
            DatabaseUrl::Sqlite(path) => format!("sqlite://{}", path.display()),
            DatabaseUrl::Postgres(url) => redact_url_password(url.expose_secret()),
        }
    }
}

impl fmt::Debug for DatabaseUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.redacted())
    }
}

pub(crate) fn redact_url_password(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return "[unparsable database url]".to_owned();
    };
    let authority_end = rest.find('/').unwrap_or(rest.len());
    match rest[..authority_end].rfind('@') {
        Some(at) => match rest[..at].split_once(':') {
            Some((user, _password)) => format!("{scheme}://{user}:[redacted]{}", &rest[at..]),
            None => url.to_owned(),
        },
        None => url.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_never_show_in_redacted_urls() {
        assert_eq!(
            redact_url_password("postgres://app:hunter2@db.internal:5432/warroom"),
            "postgres://app:[redacted]@db.internal:5432/warroom"
        );
        assert_eq!(
            redact_url_password("postgres://app@db/warroom"),
            "postgres://app@db/warroom"
        );
    }
}
