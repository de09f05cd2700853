//! The `[http]` keys of links for people outside Discord: `public_url` (what one-click
//! acknowledgement links and calendar feed URLs are built on), `ack_secret_env` (the
//! environment variable holding the secret that signs them) and `ack_ttl` (how long an
//! acknowledgement link works). Read here rather than with `listen` in `http.rs` because they
//! configure `notify::links`, not the server; `build` hands them over before `[http]` is read.

use std::time::Duration;

use secrecy::SecretString;
use serde::Deserialize;

use super::load::{Environment, Loader, is_env_var_name};
use crate::notify::links::{DEFAULT_ACK_TTL, Links, MAX_ACK_TTL, MIN_SECRET_CHARS};

/// The keys of `[http]` this file reads.
pub(super) const KEYS: [&str; 3] = ["public_url", "ack_secret_env", "ack_ttl"];

/// What the link keys say, and the link maker when they are complete.
#[derive(Clone, Debug, Default)]
pub struct LinksConfig {
    /// `[http] public_url`, `None` when empty.
    pub public_url: Option<String>,
    pub secret_env: String,
    pub ack_ttl: Duration,
    /// Set when `public_url` is set and the secret's variable holds a secret.
    pub links: Option<Links>,
    /// What is missing before links work, for `warroom check`.
    pub gaps: Vec<String>,
}

#[derive(Deserialize)]
#[serde(default)]
struct RawLinks {
    public_url: String,
    ack_secret_env: String,
    ack_ttl: String,
}

impl Default for RawLinks {
    fn default() -> RawLinks {
        RawLinks {
            public_url: String::new(),
            ack_secret_env: "WARROOM_ACK_SECRET".to_owned(),
            ack_ttl: "24h".to_owned(),
        }
    }
}

/// Takes this file's keys out of the raw `[http]` table, so `http.rs` reads only its own.
pub(super) fn split_from_http(http: &mut Option<toml::Value>) -> Option<toml::Value> {
    let table = http.as_mut()?.as_table_mut()?;
    let mine: toml::Table = KEYS
        .iter()
        .filter_map(|key| table.remove(*key).map(|value| ((*key).to_owned(), value)))
        .collect();
    Some(toml::Value::Table(mine))
}

impl Loader {
    pub(super) fn build_links(
        &mut self,
        raw: Option<toml::Value>,
        env: &Environment,
    ) -> LinksConfig {
        let raw: RawLinks = self.section("http", raw);
        let path = |key: &str| vec!["http".to_owned(), key.to_owned()];
        let ack_ttl = self.duration(&path("ack_ttl"), &raw.ack_ttl, false);
        if ack_ttl > MAX_ACK_TTL {
            self.problem(
                &path("ack_ttl"),
                "is at most 7d: a link to a week-old page should not still act",
            );
        }
        let public_url = raw.public_url.trim().trim_end_matches('/').to_owned();
        let public_url = (!public_url.is_empty()).then_some(public_url);
        if let Some(url) = &public_url
            && let Err(message) = check_public_url(url)
        {
            self.problem(&path("public_url"), message);
        }
        let secret_env = raw.ack_secret_env.trim().to_owned();
        if !is_env_var_name(&secret_env) {
            self.problem(
                &path("ack_secret_env"),
                "must name an environment variable (A-Z, 0-9 and _); the secret itself never goes in this file",
            );
        }
        let secret = env
            .get(&secret_env)
            .map(str::trim)
            .filter(|secret| !secret.is_empty());
        if let Some(secret) = secret
            && secret.chars().count() < MIN_SECRET_CHARS
        {
            self.problem(
                &path("ack_secret_env"),
                format!(
                    "the secret in ${secret_env} is shorter than {MIN_SECRET_CHARS} characters; make one with `openssl rand -hex 32`"
                ),
            );
        }
        let mut gaps = Vec::new();
        let links = match (&public_url, secret) {
            (Some(url), Some(secret)) => Some(Links::new(
                url,
                SecretString::from(secret.to_owned()),
                ack_ttl.min(MAX_ACK_TTL).max(Duration::from_secs(1)),
            )),
            (Some(_), None) => {
                gaps.push(format!(
                    "[http] ack_secret_env: set the environment variable {secret_env} to a random secret of {MIN_SECRET_CHARS}+ characters (`openssl rand -hex 32`); until then pages carry no one-click acknowledgement link and calendar feeds are off"
                ));
                None
            }
            (None, _) => None,
        };
        LinksConfig {
            public_url,
            secret_env,
            ack_ttl: if ack_ttl.is_zero() {
                DEFAULT_ACK_TTL
            } else {
                ack_ttl
            },
            links,
            gaps,
        }
    }
}

/// An http(s) URL with a host and no query or fragment, made of characters that need no
/// escaping in HTML, Slack or a mail body.
fn check_public_url(url: &str) -> Result<(), String> {
    let parsed = reqwest::Url::parse(url).map_err(|_| {
        format!("`{url}` is not a URL; write where people reach warroom, like https://warroom.example.com")
    })?;
    if !matches!(parsed.scheme(), "http" | "https") || !parsed.has_host() {
        return Err(format!(
            "`{url}` is not an http(s) URL with a host; write it like https://warroom.example.com"
        ));
    }
    if parsed.query().is_some() || parsed.fragment().is_some() {
        return Err(
            "takes no query string or fragment: links are built by adding paths to it".to_owned(),
        );
    }
    if url
        .chars()
        .any(|c| matches!(c, '<' | '>' | '&' | '"' | '\'' | ' '))
    {
        return Err("must not contain <, >, &, quotes or spaces".to_owned());
    }
    Ok(())
}
