//! How every HTTP notifier delivers: a per-attempt timeout; retries with exponential backoff
//! and full jitter on timeouts, connection errors and 5xx; `Retry-After` honoured on 429;
//! other 4xx never retried; a governor rate limit per notifier; and an outcome with the
//! whole attempt history, for `page_failed` events.
//!
//! Waiting (backoff, `Retry-After`, the rate limit) goes through an injected [`Timer`], so
//! tests run every wait on a [`VirtualTimer`] and never sleep, while each attempt's timeout
//! stays real (reqwest's), because a paused tokio clock would fire it while a real socket
//! is still talking.

use std::fmt;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use async_trait::async_trait;
use governor::Quota;
use governor::clock::Clock as GovernorClock;
use governor::middleware::NoOpMiddleware;
use governor::state::{InMemoryState, NotKeyed};
use serde::Serialize;

use crate::domain::{Clock, Timestamp};

/// Per-attempt timeout unless configured: PagerDuty and Opsgenie answer in well under a
/// second, so ten seconds tolerates a slow receiver while four attempts still leave a failed
/// page escalated within about a minute.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);
/// Attempts per delivery unless configured: enough to ride out a brief 5xx blip or a
/// restart behind a load balancer, few enough that the policy moves on quickly.
pub const DEFAULT_MAX_ATTEMPTS: u32 = 4;
/// First backoff ceiling: a second lets a restarting receiver come back.
pub const DEFAULT_BACKOFF_BASE: Duration = Duration::from_secs(1);
/// Backoff ceiling cap: a page is urgent; waiting longer than this between tries is better
/// spent escalating.
pub const DEFAULT_BACKOFF_MAX: Duration = Duration::from_secs(30);
/// Requests per second unless configured: Slack's incoming webhooks allow about one per
/// second; PagerDuty (120 events a minute per routing key) and Opsgenie allow more.
pub const DEFAULT_RATE_PER_SECOND: f64 = 1.0;
/// Requests allowed at once above the rate: an incident that pages several targets of one
/// notifier, or a handful of incidents opening together, goes out without queueing.
pub const DEFAULT_RATE_BURST: u32 = 10;

/// The most attempts configurable: each may take the whole timeout, and a page held for
/// many minutes by one receiver should fail and escalate instead.
pub const MAX_ATTEMPTS_LIMIT: u32 = 10;
/// The longest per-attempt timeout configurable, for the same reason.
pub const MAX_TIMEOUT: Duration = Duration::from_secs(60);
/// The longest `Retry-After` warroom waits for. A receiver that asks for more is treated as
/// unavailable: the delivery fails now and the policy escalates, instead of holding a page
/// for as long as the receiver likes.
pub const MAX_RETRY_AFTER: Duration = Duration::from_secs(120);
/// How much of a response body is kept in the attempt history: enough for an error message
/// from PagerDuty or Opsgenie, little enough for a timeline event.
pub const BODY_EXCERPT_BYTES: usize = 512;

/// Timeouts, retries and backoff of one notifier.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DeliveryPolicy {
    /// Per attempt, from connecting to the end of the response body.
    pub timeout: Duration,
    /// Attempts in all, the first included; at least 1.
    pub max_attempts: u32,
    /// The backoff ceiling after the first failed attempt; it doubles after each.
    pub backoff_base: Duration,
    /// The largest backoff ceiling.
    pub backoff_max: Duration,
}

impl Default for DeliveryPolicy {
    fn default() -> DeliveryPolicy {
        DeliveryPolicy {
            timeout: DEFAULT_TIMEOUT,
            max_attempts: DEFAULT_MAX_ATTEMPTS,
            backoff_base: DEFAULT_BACKOFF_BASE,
            backoff_max: DEFAULT_BACKOFF_MAX,
        }
    }
}

impl DeliveryPolicy {
    /// The backoff ceiling after failed attempt `failed` (1-based): `base · 2^(failed-1)`,
    /// capped at `backoff_max`.
    pub fn backoff_ceiling(&self, failed: u32) -> Duration {
        let factor = 2u32.saturating_pow(failed.saturating_sub(1));
        self.backoff_base
            .checked_mul(factor)
            .unwrap_or(self.backoff_max)
            .min(self.backoff_max)
    }

    /// Full jitter: a uniformly random wait in `[0, ceiling)`, `random` being in `[0, 1)`.
    /// Spreads the retries of many pages so a recovering receiver is not hit all at once.
    pub fn backoff(&self, failed: u32, random: f64) -> Duration {
        self.backoff_ceiling(failed).mul_f64(random.clamp(0.0, 1.0))
    }
}

/// A notifier's rate limit: `per_second` on average, up to `burst` at once.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct RateLimit {
    pub per_second: f64,
    pub burst: u32,
}

impl Default for RateLimit {
    fn default() -> RateLimit {
        RateLimit {
            per_second: DEFAULT_RATE_PER_SECOND,
            burst: DEFAULT_RATE_BURST,
        }
    }
}

impl RateLimit {
    fn quota(self) -> Quota {
        let period = Duration::from_secs_f64(1.0 / self.per_second.max(f64::MIN_POSITIVE))
            .max(Duration::from_nanos(1));
        let burst =
            std::num::NonZeroU32::new(self.burst.max(1)).unwrap_or(std::num::NonZeroU32::MIN);
        Quota::with_period(period)
            .unwrap_or_else(|| Quota::per_second(std::num::NonZeroU32::MIN))
            .allow_burst(burst)
    }
}

/// Where delivery reads time and waits. Injected so tests never sleep.
#[async_trait]
pub trait Timer: Send + Sync + fmt::Debug {
    /// Monotonic time since an arbitrary origin: for the rate limiter and attempt history.
    fn monotonic(&self) -> Duration;
    /// The wall clock: for `Retry-After` dates and webhook signature timestamps.
    fn wall(&self) -> Timestamp;
    async fn sleep(&self, duration: Duration);
}

/// The real timer: tokio's sleep (so it follows `tokio::time::pause`) and an injected clock.
#[derive(Debug)]
pub struct TokioTimer {
    origin: tokio::time::Instant,
    clock: Arc<dyn Clock>,
}

impl TokioTimer {
    pub fn new(clock: Arc<dyn Clock>) -> TokioTimer {
        TokioTimer {
            origin: tokio::time::Instant::now(),
            clock,
        }
    }
}

#[async_trait]
impl Timer for TokioTimer {
    fn monotonic(&self) -> Duration {
        self.origin.elapsed()
    }

    fn wall(&self) -> Timestamp {
        self.clock.now()
    }

    async fn sleep(&self, duration: Duration) {
        tokio::time::sleep(duration).await;
    }
}

/// A timer for tests: `sleep` returns at once, moving virtual time forward by the duration
/// and remembering it; both clocks read virtual time.
#[derive(Debug)]
pub struct VirtualTimer {
    start: Timestamp,
    /// Virtual time elapsed, and every sleep asked for, in order.
    state: Mutex<(Duration, Vec<Duration>)>,
}

impl VirtualTimer {
    pub fn new(start: Timestamp) -> VirtualTimer {
        VirtualTimer {
            start,
            state: Mutex::new((Duration::ZERO, Vec::new())),
        }
    }

    /// Every sleep asked for so far, in order.
    pub fn sleeps(&self) -> Vec<Duration> {
        self.lock().1.clone()
    }

    /// Virtual time elapsed so far.
    pub fn elapsed(&self) -> Duration {
        self.lock().0
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, (Duration, Vec<Duration>)> {
        self.state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

#[async_trait]
impl Timer for VirtualTimer {
    fn monotonic(&self) -> Duration {
        self.elapsed()
    }

    fn wall(&self) -> Timestamp {
        self.start.plus(self.elapsed())
    }

    async fn sleep(&self, duration: Duration) {
        {
            let mut state = self.lock();
            state.0 += duration;
            state.1.push(duration);
        }
        tokio::task::yield_now().await;
    }
}

/// governor's view of a [`Timer`].
#[derive(Clone, Debug)]
struct TimerClock(Arc<dyn Timer>);

impl GovernorClock for TimerClock {
    type Instant = Duration;

    fn now(&self) -> Duration {
        self.0.monotonic()
    }
}

/// A notifier's rate limiter: governor's GCRA on the injected timer.
pub struct RateLimiter {
    limiter: governor::RateLimiter<NotKeyed, InMemoryState, TimerClock, NoOpMiddleware<Duration>>,
    timer: Arc<dyn Timer>,
}

impl fmt::Debug for RateLimiter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RateLimiter").finish_non_exhaustive()
    }
}

impl RateLimiter {
    pub fn new(limit: RateLimit, timer: Arc<dyn Timer>) -> RateLimiter {
        RateLimiter {
            limiter: governor::RateLimiter::direct_with_clock(
                limit.quota(),
                TimerClock(timer.clone()),
            ),
            timer,
        }
    }

    /// Waits until one more request may go, and says how long that took.
    pub async fn until_ready(&self) -> Duration {
        let mut waited = Duration::ZERO;
        loop {
            match self.limiter.check() {
                Ok(()) => return waited,
                Err(not_until) => {
                    let wait = not_until.wait_time_from(self.timer.monotonic());
                    // GCRA answers in nanoseconds; never spin on a zero wait.
                    let wait = wait.max(Duration::from_millis(1));
                    self.timer.sleep(wait).await;
                    waited += wait;
                }
            }
        }
    }
}

/// What a notifier was asked to do.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Action {
    Trigger,
    Acknowledge,
    Resolve,
    /// A status update for stakeholders (not a page).
    Update,
}

impl Action {
    pub fn as_str(self) -> &'static str {
        match self {
            Action::Trigger => "trigger",
            Action::Acknowledge => "acknowledge",
            Action::Resolve => "resolve",
            Action::Update => "status_update",
        }
    }
}

/// What one HTTP attempt got.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "result", rename_all = "snake_case")]
pub enum AttemptResult {
    /// The receiver answered.
    Status {
        status: u16,
        /// The start of the response body, for error messages.
        body: String,
        /// What a 429's `Retry-After` asked for, in milliseconds.
        #[serde(skip_serializing_if = "Option::is_none")]
        retry_after_ms: Option<u64>,
    },
    /// No complete answer within the per-attempt timeout.
    TimedOut { after_ms: u64 },
    /// The connection could not be made (refused, DNS, TLS).
    Connect { error: String },
    /// Anything else that broke the exchange.
    Error { error: String },
}

impl fmt::Display for AttemptResult {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            AttemptResult::Status { status, body, .. } if body.is_empty() => {
                write!(f, "HTTP {status}")
            }
            AttemptResult::Status { status, body, .. } => write!(f, "HTTP {status}: {body}"),
            AttemptResult::TimedOut { after_ms } => write!(f, "no answer within {after_ms} ms"),
            AttemptResult::Connect { error } => write!(f, "cannot connect: {error}"),
            AttemptResult::Error { error } => f.write_str(error),
        }
    }
}

/// One attempt in the history of a delivery.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Attempt {
    /// 1-based.
    pub number: u32,
    /// How long delivery waited before this attempt (backoff, `Retry-After`, rate limit).
    pub waited_ms: u64,
    /// When the attempt started, counted from the start of the delivery.
    pub at_ms: u64,
    #[serde(flatten)]
    pub result: AttemptResult,
}

/// How a delivery ended.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "outcome", rename_all = "snake_case")]
pub enum Outcome {
    /// A 2xx answer.
    Delivered { status: u16 },
    /// A 4xx other than 429 (or a redirect): retrying cannot help; the configuration or the
    /// request must change.
    FailedPermanently { status: u16, body: String },
    /// Every attempt timed out, could not connect, got a 5xx or a 429, or a 429 asked to wait
    /// longer than [`MAX_RETRY_AFTER`].
    FailedAfterRetries { reason: String },
    /// This notifier cannot do the action (a Slack webhook cannot acknowledge); nothing was
    /// sent. Not a failure.
    Unsupported { reason: String },
}

/// The result of asking one notifier to do one action: for `page_sent` / `page_failed`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Delivery {
    pub notifier: String,
    pub action: Action,
    #[serde(flatten)]
    pub outcome: Outcome,
    pub attempts: Vec<Attempt>,
}

impl Delivery {
    pub fn unsupported(notifier: &str, action: Action, reason: impl Into<String>) -> Delivery {
        Delivery {
            notifier: notifier.to_owned(),
            action,
            outcome: Outcome::Unsupported {
                reason: reason.into(),
            },
            attempts: Vec::new(),
        }
    }

    pub fn is_delivered(&self) -> bool {
        matches!(self.outcome, Outcome::Delivered { .. })
    }

    /// Whether this counts as a failed page (unsupported actions do not).
    pub fn is_failure(&self) -> bool {
        matches!(
            self.outcome,
            Outcome::FailedPermanently { .. } | Outcome::FailedAfterRetries { .. }
        )
    }

    /// One line for the incident channel and the timeline.
    pub fn describe(&self) -> String {
        let attempts = self.attempts.len();
        let tries = format!("{attempts} attempt{}", if attempts == 1 { "" } else { "s" });
        match &self.outcome {
            Outcome::Delivered { status } => format!(
                "notifier {}: {} delivered (HTTP {status}, {tries})",
                self.notifier,
                self.action.as_str()
            ),
            // The Discord pager has no [notifiers] entry to check: Discord refused the
            // message itself (a user who does not accept DMs, a missing permission).
            Outcome::FailedPermanently { status, body } if self.notifier == "discord" => format!(
                "Discord refused the {} with HTTP {status}{}{}",
                self.action.as_str(),
                if body.is_empty() { "" } else { ": " },
                body
            ),
            Outcome::FailedPermanently { status, body } => format!(
                "notifier {}: {} refused with HTTP {status}{}{}; not retried: check the notifier's configuration (key, URL) in [notifiers.{}]",
                self.notifier,
                self.action.as_str(),
                if body.is_empty() { "" } else { ": " },
                body,
                self.notifier
            ),
            Outcome::FailedAfterRetries { reason } => format!(
                "notifier {}: {} failed after {tries}: {reason}",
                self.notifier,
                self.action.as_str()
            ),
            Outcome::Unsupported { reason } => format!(
                "notifier {}: {} not sent: {reason}",
                self.notifier,
                self.action.as_str()
            ),
        }
    }
}

/// Sends one notifier's requests under its delivery policy and rate limit.
pub struct Deliverer {
    /// The notifier's name, for the `Delivery` record.
    notifier: String,
    /// Shared by all notifiers, so connections to one receiver are reused between pages.
    http: reqwest::Client,
    policy: DeliveryPolicy,
    /// One per notifier and shared by all its deliveries, so the receiver sees one rate
    /// however many incidents page at once.
    limiter: RateLimiter,
    /// Where waits happen: tokio in production, virtual in tests.
    timer: Arc<dyn Timer>,
}

impl fmt::Debug for Deliverer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Deliverer")
            .field("notifier", &self.notifier)
            .field("policy", &self.policy)
            .finish_non_exhaustive()
    }
}

/// What to do after an attempt.
enum Verdict {
    Delivered(u16),
    Permanent(u16, String),
    Retry(Option<Duration>),
}

impl Deliverer {
    pub fn new(
        notifier: &str,
        http: reqwest::Client,
        policy: DeliveryPolicy,
        rate_limit: RateLimit,
        timer: Arc<dyn Timer>,
    ) -> Deliverer {
        Deliverer {
            notifier: notifier.to_owned(),
            http,
            policy,
            limiter: RateLimiter::new(rate_limit, timer.clone()),
            timer,
        }
    }

    /// Delivers the request `build` makes (afresh for each attempt, given the wall time, so a
    /// signature's timestamp is the time of sending), retrying as the module docs say.
    pub async fn deliver<F>(&self, action: Action, build: F) -> Delivery
    where
        F: Fn(&reqwest::Client, Timestamp) -> reqwest::RequestBuilder + Send + Sync,
    {
        let began = self.timer.monotonic();
        let max_attempts = self.policy.max_attempts.max(1);
        let mut attempts = Vec::new();
        let mut waited = Duration::ZERO;
        let finish = |outcome: Outcome, attempts: Vec<Attempt>| Delivery {
            notifier: self.notifier.clone(),
            action,
            outcome,
            attempts,
        };
        for number in 1..=max_attempts {
            waited += self.limiter.until_ready().await;
            let at = self.timer.monotonic().saturating_sub(began);
            let result = self.attempt(&build).await;
            let verdict = verdict(&result);
            attempts.push(Attempt {
                number,
                waited_ms: millis(waited),
                at_ms: millis(at),
                result: result.clone(),
            });
            let retry_after = match verdict {
                Verdict::Delivered(status) => {
                    return finish(Outcome::Delivered { status }, attempts);
                }
                Verdict::Permanent(status, body) => {
                    return finish(Outcome::FailedPermanently { status, body }, attempts);
                }
                Verdict::Retry(retry_after) => retry_after,
            };
            if number == max_attempts {
                let reason = format!("the last attempt got {result}");
                return finish(Outcome::FailedAfterRetries { reason }, attempts);
            }
            let delay = match retry_after {
                Some(asked) if asked > MAX_RETRY_AFTER => {
                    let reason = format!(
                        "the receiver is rate limiting and asked to wait {}s (Retry-After), longer than warroom holds a page ({}s)",
                        asked.as_secs(),
                        MAX_RETRY_AFTER.as_secs()
                    );
                    return finish(Outcome::FailedAfterRetries { reason }, attempts);
                }
                Some(asked) => asked,
                None => self.policy.backoff(number, fastrand::f64()),
            };
            self.timer.sleep(delay).await;
            waited = delay;
        }
        unreachable!("the loop returns on its last attempt")
    }

    async fn attempt<F>(&self, build: &F) -> AttemptResult
    where
        F: Fn(&reqwest::Client, Timestamp) -> reqwest::RequestBuilder + Send + Sync,
    {
        let request = build(&self.http, self.timer.wall()).timeout(self.policy.timeout);
        match request.send().await {
            Ok(response) => {
                let status = response.status().as_u16();
                let retry_after_ms = (status == 429)
                    .then(|| retry_after(response.headers(), self.timer.wall()))
                    .flatten()
                    .map(millis);
                let body = body_excerpt(response).await;
                AttemptResult::Status {
                    status,
                    body,
                    retry_after_ms,
                }
            }
            Err(error) if error.is_timeout() => AttemptResult::TimedOut {
                after_ms: millis(self.policy.timeout),
            },
            Err(error) if error.is_connect() => AttemptResult::Connect {
                error: error_chain(error),
            },
            Err(error) => AttemptResult::Error {
                error: error_chain(error),
            },
        }
    }
}

fn verdict(result: &AttemptResult) -> Verdict {
    match result {
        AttemptResult::Status { status, .. } if (200..300).contains(status) => {
            Verdict::Delivered(*status)
        }
        AttemptResult::Status {
            status: 429,
            retry_after_ms,
            ..
        } => Verdict::Retry(retry_after_ms.map(Duration::from_millis)),
        AttemptResult::Status { status, .. } if *status >= 500 => Verdict::Retry(None),
        // 4xx, and 1xx/3xx (redirects are not followed: a signed request must not wander).
        AttemptResult::Status { status, body, .. } => Verdict::Permanent(*status, body.clone()),
        AttemptResult::TimedOut { .. } | AttemptResult::Connect { .. } => Verdict::Retry(None),
        // A broken exchange (reset mid-body, malformed answer) is as transient as a timeout.
        AttemptResult::Error { .. } => Verdict::Retry(None),
    }
}

fn millis(duration: Duration) -> u64 {
    u64::try_from(duration.as_millis()).unwrap_or(u64::MAX)
}

/// The wait a `Retry-After` header asks for: delay-seconds or an HTTP date.
pub fn retry_after(headers: &reqwest::header::HeaderMap, now: Timestamp) -> Option<Duration> {
    let value = headers
        .get(reqwest::header::RETRY_AFTER)?
        .to_str()
        .ok()?
        .trim();
    if let Ok(seconds) = value.parse::<u64>() {
        return Some(Duration::from_secs(seconds));
    }
    let date = httpdate::parse_http_date(value).ok()?;
    let now = SystemTime::UNIX_EPOCH + Duration::from_millis(u64::try_from(now.as_millis()).ok()?);
    Some(date.duration_since(now).unwrap_or(Duration::ZERO))
}

/// The start of a response body, read no further than [`BODY_EXCERPT_BYTES`].
async fn body_excerpt(mut response: reqwest::Response) -> String {
    let mut bytes = Vec::new();
    loop {
        match response.chunk().await {
            Ok(Some(chunk)) => {
                bytes.extend_from_slice(&chunk);
                if bytes.len() >= BODY_EXCERPT_BYTES {
                    break;
                }
            }
            Ok(None) => break,
            Err(_) => break,
        }
    }
    let cut = bytes.len() > BODY_EXCERPT_BYTES;
    bytes.truncate(BODY_EXCERPT_BYTES);
    let mut text = String::from_utf8_lossy(&bytes).trim().to_owned();
    if cut {
        text.push_str(" [cut]");
    }
    text
}

/// An error and its causes, without the URL (webhook URLs carry their tokens).
fn error_chain(error: reqwest::Error) -> String {
    let error = error.without_url();
    let mut text = error.to_string();
    let mut source = std::error::Error::source(&error);
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_up_to_the_cap_and_jitter_stays_below_the_ceiling() {
        let policy = DeliveryPolicy {
            timeout: Duration::from_secs(1),
            max_attempts: 10,
            backoff_base: Duration::from_millis(500),
            backoff_max: Duration::from_secs(3),
        };
        let ceilings: Vec<Duration> = (1..=5).map(|n| policy.backoff_ceiling(n)).collect();
        assert_eq!(
            ceilings,
            [500, 1000, 2000, 3000, 3000].map(Duration::from_millis)
        );
        assert_eq!(policy.backoff(3, 0.0), Duration::ZERO);
        assert_eq!(policy.backoff(3, 0.5), Duration::from_secs(1));
        assert!(policy.backoff(40, 0.999) < Duration::from_secs(3));
    }

    #[test]
    fn retry_after_reads_seconds_and_http_dates() {
        let mut headers = reqwest::header::HeaderMap::new();
        let now = Timestamp::parse_rfc3339("2026-11-22T10:00:00Z").unwrap();
        headers.insert(reqwest::header::RETRY_AFTER, "7".parse().unwrap());
        assert_eq!(retry_after(&headers, now), Some(Duration::from_secs(7)));
        headers.insert(
            reqwest::header::RETRY_AFTER,
            "Sun, 22 Nov 2026 10:00:30 GMT".parse().unwrap(),
        );
        assert_eq!(retry_after(&headers, now), Some(Duration::from_secs(30)));
        headers.insert(
            reqwest::header::RETRY_AFTER,
            "Sun, 22 Nov 2026 09:00:00 GMT".parse().unwrap(),
        );
        assert_eq!(retry_after(&headers, now), Some(Duration::ZERO));
        headers.insert(reqwest::header::RETRY_AFTER, "soon".parse().unwrap());
        assert_eq!(retry_after(&headers, now), None);
    }

    #[tokio::test(start_paused = true)]
    async fn the_rate_limiter_spaces_requests_on_a_paused_tokio_clock() {
        let timer: Arc<dyn Timer> = Arc::new(TokioTimer::new(Arc::new(crate::domain::SystemClock)));
        let limiter = RateLimiter::new(
            RateLimit {
                per_second: 4.0,
                burst: 2,
            },
            timer,
        );
        let start = tokio::time::Instant::now();
        let mut at = Vec::new();
        for _ in 0..5 {
            limiter.until_ready().await;
            at.push(start.elapsed());
        }
        // Two at once (the burst), then one every 250 ms.
        assert_eq!(at, [0, 0, 250, 500, 750].map(Duration::from_millis));
    }
}
