//! `[http]` and `[api_tokens]`: where warroom listens, and the bearer tokens of the HTTP API
//! (each names the environment variable that holds its secret and the bot roles it carries;
//! only a SHA-256 digest of each secret is kept). The lookup of a presented token is
//! `http::tokens`.

use std::fmt;
use std::net::SocketAddr;
use std::time::Duration;

use serde::Deserialize;
use sha2::{Digest, Sha256};

use super::load::{Environment, Loader, is_entry_name, is_env_var_name, join_path};
use crate::domain::bot_roles::{
    ADMIN, ALERT_SENDER, HEARTBEAT_SENDER, INCIDENT_COMMANDER, RESPONDER,
};

#[derive(Clone, Debug)]
pub struct HttpConfig {
    pub listen: SocketAddr,
    /// From the moment a connection waits for a request (new, or kept alive after an answer)
    /// until its headers are in; then the connection is closed. Bounds how long a slow or
    /// idle client holds a connection slot.
    pub header_read_timeout: Duration,
    /// From the headers until the whole body is in; then 408.
    pub body_read_timeout: Duration,
    /// No byte moved either way for this long, while no request is being handled (a client
    /// that stops reading its answer): the connection is closed.
    pub idle_timeout: Duration,
    /// Most connections served at once; `None`: half the open-files limit (see
    /// `http::serve`). At the cap a new connection replaces the oldest one that is not in
    /// the middle of a request.
    pub max_connections: Option<u32>,
}

/// The bounds of `[http] max_connections`.
pub const MAX_CONNECTIONS_RANGE: std::ops::RangeInclusive<u32> = 8..=100_000;
/// The longest any of the timeouts may be: beyond this a slow client holds its slot longer
/// than anyone waits for an answer.
const MAX_HTTP_TIMEOUT: Duration = Duration::from_secs(300);

#[derive(Deserialize)]
#[serde(default)]
struct RawHttp {
    listen: String,
    header_read_timeout: String,
    body_read_timeout: String,
    idle_timeout: String,
    max_connections: Option<i64>,
}

impl Default for RawHttp {
    fn default() -> RawHttp {
        RawHttp {
            listen: "127.0.0.1:8080".to_owned(),
            // A real client sends its headers and body in milliseconds; ten seconds keeps a
            // flood of slow clients from holding connection slots for long.
            header_read_timeout: "10s".to_owned(),
            body_read_timeout: "10s".to_owned(),
            idle_timeout: "10s".to_owned(),
            max_connections: None,
        }
    }
}

impl Loader {
    pub(super) fn build_http(&mut self, raw: Option<toml::Value>) -> HttpConfig {
        let raw: RawHttp = self.section("http", raw);
        let listen = raw.listen.parse().unwrap_or_else(|_| {
            self.problem(
                &["http".to_owned(), "listen".to_owned()],
                format!(
                    "`{}` is not an address to listen on; write it as 127.0.0.1:8080",
                    raw.listen
                ),
            );
            SocketAddr::from(([127, 0, 0, 1], 8080))
        });
        let header_read_timeout =
            self.http_timeout("header_read_timeout", &raw.header_read_timeout);
        let body_read_timeout = self.http_timeout("body_read_timeout", &raw.body_read_timeout);
        let idle_timeout = self.http_timeout("idle_timeout", &raw.idle_timeout);
        let max_connections = raw.max_connections.and_then(|value| {
            let fits = u32::try_from(value)
                .ok()
                .filter(|value| MAX_CONNECTIONS_RANGE.contains(value));
            if fits.is_none() {
                self.problem(
                    &["http".to_owned(), "max_connections".to_owned()],
                    format!(
                        "{value} is not a connection cap; write a number from {} to {}, or leave it out for half the open-files limit",
                        MAX_CONNECTIONS_RANGE.start(),
                        MAX_CONNECTIONS_RANGE.end()
                    ),
                );
            }
            fits
        });
        HttpConfig {
            listen,
            header_read_timeout,
            body_read_timeout,
            idle_timeout,
            max_connections,
        }
    }

    /// One of `[http]`'s timeouts: longer than zero, at most `MAX_HTTP_TIMEOUT`.
    fn http_timeout(&mut self, key: &str, text: &str) -> Duration {
        let path = ["http".to_owned(), key.to_owned()];
        let timeout = self.duration(&path, text, false);
        if timeout > MAX_HTTP_TIMEOUT {
            self.problem(
                &path,
                "is at most 5m: longer lets a slow client hold a connection for longer than anyone waits for an answer",
            );
            return MAX_HTTP_TIMEOUT;
        }
        timeout
    }
}

/// Shorter secrets are refused: a bearer token is the whole credential, and 32 characters
/// of a random generator (`openssl rand -hex 16`) is far beyond guessing.
pub const MIN_TOKEN_CHARS: usize = 32;

#[derive(Clone)]
pub struct ApiToken {
    pub name: String,
    pub token_env: String,
    pub roles: Vec<String>,
    /// SHA-256 of the secret; `None` while the variable is unset (the token is not ready).
    digest: Option<[u8; 32]>,
}

impl fmt::Debug for ApiToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ApiToken")
            .field("name", &self.name)
            .field("token_env", &self.token_env)
            .field("roles", &self.roles)
            .field("ready", &self.digest.is_some())
            .finish()
    }
}

impl ApiToken {
    pub fn is_ready(&self) -> bool {
        self.digest.is_some()
    }

    /// The SHA-256 digest of the secret, while the variable is set.
    pub fn digest(&self) -> Option<&[u8; 32]> {
        self.digest.as_ref()
    }
}

#[derive(Deserialize)]
struct RawToken {
    token_env: String,
    #[serde(default)]
    roles: Vec<String>,
    /// A secret pasted into the file: accepted by the parser only to be refused clearly.
    #[serde(default)]
    token: Option<toml::Value>,
}

impl Loader {
    pub(super) fn build_api_tokens(
        &mut self,
        raw: Option<toml::Value>,
        env: &Environment,
        bot_roles: &[String],
    ) -> Vec<ApiToken> {
        let mut known: Vec<String> = [
            RESPONDER,
            INCIDENT_COMMANDER,
            ADMIN,
            ALERT_SENDER,
            HEARTBEAT_SENDER,
        ]
        .into_iter()
        .map(str::to_owned)
        .collect();
        for role in bot_roles {
            if !known.contains(role) {
                known.push(role.clone());
            }
        }
        let mut tokens: Vec<ApiToken> = Vec::new();
        for (name, value) in self.entries("api_tokens", raw) {
            let path = vec!["api_tokens".to_owned(), name.clone()];
            if !is_entry_name(&name) || name.len() > 64 {
                self.problem(
                    &path,
                    "a token name is up to 64 letters, digits, `-` and `_` (it shows as api:<name> on the timeline)",
                );
            }
            let Some(raw) = self.decode::<RawToken>(&path, value) else {
                continue;
            };
            if raw.token.is_some() {
                self.problem(
                    &join_path(&path, "token"),
                    "never put a token in this file; put it in an environment variable and name that variable in token_env",
                );
            }
            if !is_env_var_name(&raw.token_env) {
                self.problem(
                    &join_path(&path, "token_env"),
                    "must name an environment variable (A-Z, 0-9 and _), e.g. WARROOM_API_TOKEN_ALERTMANAGER; the token itself never goes in this file",
                );
            }
            for role in &raw.roles {
                if !known.contains(role) {
                    self.problem(
                        &join_path(&path, "roles"),
                        format!(
                            "`{role}` is not a bot role; use one of {}",
                            known.join(", ")
                        ),
                    );
                }
            }
            let digest = self.token_digest(&path, &raw.token_env, env);
            if let Some(digest) = digest
                && tokens.iter().any(|other| other.digest == Some(digest))
            {
                self.problem(
                    &path,
                    "has the same secret as another token; give every sender its own, so the timeline says who acted",
                );
            }
            tokens.push(ApiToken {
                name,
                token_env: raw.token_env,
                roles: raw.roles,
                digest,
            });
        }
        tokens
    }

    /// The SHA-256 of the secret in `$var`, refusing short ones; `None` while the variable is
    /// unset. Not a problem of the file then: the token is "not ready" (refused until the
    /// variable is set), and `warroom run` logs it.
    fn token_digest(&mut self, path: &[String], var: &str, env: &Environment) -> Option<[u8; 32]> {
        let secret = env
            .get(var)
            .map(str::trim)
            .filter(|secret| !secret.is_empty())?;
        if secret.chars().count() < MIN_TOKEN_CHARS {
            self.problem(
                &join_path(path, "token_env"),
                format!(
                    "the token in ${var} is shorter than {MIN_TOKEN_CHARS} characters; make one with `openssl rand -hex 32`"
                ),
            );
            return None;
        }
        Some(Sha256::digest(secret.as_bytes()).into())
    }
}
