//! `[database]`: where warroom keeps everything (a SQLite file or PostgreSQL), read into the
//! store's `DatabaseConfig`.

use std::path::Path;

use secrecy::SecretString;
use serde::Deserialize;

use super::load::Loader;
use crate::store::{DatabaseConfig, DatabaseUrl, SqliteSync, redact_url_password};

#[derive(Deserialize)]
#[serde(default)]
struct RawDatabase {
    url: String,
    max_connections: u32,
    sqlite_synchronous: String,
}

impl Default for RawDatabase {
    fn default() -> RawDatabase {
        RawDatabase {
            url: "sqlite://warroom.db".to_owned(),
            max_connections: 8,
            sqlite_synchronous: "normal".to_owned(),
        }
    }
}

impl Loader {
    pub(super) fn build_database(&mut self, raw: Option<toml::Value>) -> DatabaseConfig {
        let raw: RawDatabase = self.section("database", raw);
        let path = |key: &str| vec!["database".to_owned(), key.to_owned()];
        let url = match parse_database_url(&raw.url, self.dir()) {
            Ok(url) => url,
            Err(message) => {
                self.problem(&path("url"), message);
                DatabaseUrl::Sqlite(self.dir().join("warroom.db"))
            }
        };
        if raw.max_connections == 0 {
            self.problem(&path("max_connections"), "must be at least 1");
        }
        let sqlite_synchronous = match raw.sqlite_synchronous.trim().to_ascii_lowercase().as_str() {
            "normal" => SqliteSync::Normal,
            "full" => SqliteSync::Full,
            other => {
                self.problem(
                    &path("sqlite_synchronous"),
                    format!("`{other}` is not a setting warroom offers; use \"normal\" (the default) or \"full\""),
                );
                SqliteSync::Normal
            }
        };
        DatabaseConfig {
            url,
            max_connections: raw.max_connections.max(1),
            sqlite_synchronous,
        }
    }
}

fn parse_database_url(text: &str, base: &Path) -> Result<DatabaseUrl, String> {
    let text = text.trim();
    if let Some(rest) = text
        .strip_prefix("sqlite://")
        .or_else(|| text.strip_prefix("sqlite:"))
    {
        if rest.is_empty() || rest.contains('?') {
            return Err("write a SQLite database as sqlite://FILE (relative to the config file's folder) or sqlite:///absolute/path; options after `?` are not supported".to_owned());
        }
        let path = Path::new(rest);
        return Ok(DatabaseUrl::Sqlite(if path.is_absolute() {
            path.to_owned()
        } else {
            base.join(path)
        }));
    }
    if text.starts_with("postgres://") || text.starts_with("postgresql://") {
        return Ok(DatabaseUrl::Postgres(SecretString::from(text.to_owned())));
    }
    Err(format!(
        "`{}` is not a database URL warroom knows; use sqlite://warroom.db (the default) or postgres://user@host/db",
        redact_url_password(text)
    ))
}
