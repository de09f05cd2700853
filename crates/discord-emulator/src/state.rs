//! The state every part of the emulator shares, behind one lock, and the change signal that
//! driver waits sleep on.

use std::sync::{Mutex, MutexGuard};
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde_json::Value;
use tokio::sync::watch;

use crate::clock::Clock;
use crate::config::EmulatorConfig;
use crate::error::{Error, Result};
use crate::gateway::Gateway;
use crate::ids::Snowflakes;
use crate::model::World;

/// A file sent in a multipart request.
#[derive(Clone, Debug, PartialEq)]
pub struct UploadedFile {
    /// The form field, e.g. `files[0]`.
    pub field: String,
    pub filename: String,
    pub content_type: Option<String>,
    pub bytes: Vec<u8>,
}

/// One REST request the bot made and what the emulator answered.
#[derive(Clone, Debug, PartialEq)]
pub struct RecordedRequest {
    pub method: String,
    /// The path after `/api/v10`, e.g. `/channels/123/messages`.
    pub path: String,
    /// Query parameters in order (serenity writes `?&limit=50`; the empty pair is dropped).
    pub query: Vec<(String, String)>,
    /// The JSON body, or a multipart request's `payload_json`.
    pub json: Option<Value>,
    pub files: Vec<UploadedFile>,
    pub status: u16,
    pub response: Option<Value>,
    pub at: DateTime<Utc>,
}

impl RecordedRequest {
    /// `"POST /channels/123/messages"`.
    pub fn route(&self) -> String {
        format!("{} {}", self.method, self.path)
    }

    /// Whether this request matches a route pattern such as `"POST /channels/{id}/messages"`:
    /// the method must be equal, and each `{...}` or `*` segment matches any one segment.
    pub fn matches(&self, pattern: &str) -> bool {
        route_matches(pattern, &self.method, &self.path)
    }
}

pub(crate) fn route_matches(pattern: &str, method: &str, path: &str) -> bool {
    let (pm, pp) = pattern.split_once(' ').unwrap_or(("*", pattern));
    if pm != "*" && !pm.eq_ignore_ascii_case(method) {
        return false;
    }
    let pp = pp.trim_start_matches("/api/v10");
    let want: Vec<&str> = pp.trim_matches('/').split('/').collect();
    let got: Vec<&str> = path.trim_matches('/').split('/').collect();
    want.len() == got.len()
        && want
            .iter()
            .zip(&got)
            .all(|(w, g)| *w == "*" || (w.starts_with('{') && w.ends_with('}')) || w == g)
}

/// A 429 a test asked for on the next request(s) matching `pattern`.
#[derive(Clone, Debug)]
pub(crate) struct ArmedRateLimit {
    pub pattern: String,
    pub remaining: u32,
    pub retry_after: Duration,
    pub global: bool,
}

#[derive(Debug, Default)]
pub(crate) struct State {
    pub world: World,
    pub gateway: Gateway,
    /// Capped at [`crate::gateway::LOG_LIMIT`] entries, oldest dropped first.
    pub requests: std::collections::VecDeque<RecordedRequest>,
    pub rate_limits: Vec<ArmedRateLimit>,
    pub ids: Snowflakes,
    /// Armed by `Emulator::next_interaction_from_guild`: the next interaction says it comes
    /// from this guild.
    pub foreign_guild_next: Option<crate::GuildId>,
}

impl State {
    /// A fresh snowflake stamped with the emulator's now.
    pub(crate) fn next_id(&mut self, clock: &Clock) -> u64 {
        self.ids.next(clock.utc())
    }
}

/// Owned by the server tasks and every handle a test holds.
pub(crate) struct Shared {
    pub config: EmulatorConfig,
    /// `http://127.0.0.1:PORT`
    pub http_base: String,
    /// `ws://127.0.0.1:PORT/gateway`
    pub ws_url: String,
    pub clock: Clock,
    state: Mutex<State>,
    /// Bumped after every change so that waits re-check their condition instead of polling.
    changed: watch::Sender<u64>,
}

impl Shared {
    pub(crate) fn new(
        config: EmulatorConfig,
        http_base: String,
        ws_url: String,
        mut state: State,
    ) -> Self {
        let clock = Clock::default();
        state
            .gateway
            .configure(clock.clone(), config.session_resume_window);
        Self {
            config,
            http_base,
            ws_url,
            clock,
            state: Mutex::new(state),
            changed: watch::Sender::new(0),
        }
    }

    /// Runs `f` under the lock, then wakes every waiter.
    pub(crate) fn with<R>(&self, f: impl FnOnce(&mut State) -> R) -> R {
        let out = {
            let mut st = self.lock();
            f(&mut st)
        };
        self.changed.send_modify(|v| *v = v.wrapping_add(1));
        out
    }

    /// Runs `f` under the lock without waking waiters (reads).
    pub(crate) fn read<R>(&self, f: impl FnOnce(&State) -> R) -> R {
        f(&self.lock())
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // A panic while holding the lock (a bug in a handler) should not hide every later
        // assertion behind a PoisonError; the state is plain data and stays usable.
        self.state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Waits until `check` returns `Some`, re-checking after every change; fails after `timeout`
    /// with a message naming `awaited`.
    pub(crate) async fn wait_until<T>(
        &self,
        awaited: impl FnOnce() -> String,
        timeout: Duration,
        mut check: impl FnMut(&State) -> Option<T>,
    ) -> Result<T> {
        let mut rx = self.changed.subscribe();
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            if let Some(found) = self.read(&mut check) {
                return Ok(found);
            }
            match tokio::time::timeout_at(deadline, rx.changed()).await {
                Ok(Ok(())) => continue,
                Ok(Err(_)) => return Err(Error::ShutDown(awaited())),
                Err(_) => {
                    if let Some(found) = self.read(&mut check) {
                        return Ok(found);
                    }
                    return Err(Error::Timeout {
                        awaited: awaited(),
                        after: timeout,
                    });
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::route_matches;

    #[test]
    fn route_patterns_match_segments() {
        assert!(route_matches(
            "POST /channels/{id}/messages",
            "POST",
            "/channels/5/messages"
        ));
        assert!(route_matches(
            "POST /api/v10/channels/*/messages",
            "POST",
            "/channels/5/messages"
        ));
        assert!(!route_matches(
            "POST /channels/{id}/messages",
            "GET",
            "/channels/5/messages"
        ));
        assert!(!route_matches(
            "POST /channels/{id}/messages",
            "POST",
            "/channels/5/messages/6"
        ));
        assert!(route_matches(
            "/channels/5/messages",
            "PATCH",
            "/channels/5/messages"
        ));
    }
}
