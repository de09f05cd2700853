//! The `[escalation]` settings the engine runs with (read by `config`).

use std::time::Duration;

/// The `[escalation]` section.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EscalationSettings {
    /// The policy of incidents whose service and severity name none; `None` pages nobody
    /// automatically.
    pub default_policy: Option<String>,
    /// How many failed pages (after their retries) within one step make the next step fire
    /// at once instead of at its time.
    pub failures_before_next_level: u32,
    /// How long a claimed page is held by the engine that claimed it. If that engine stops
    /// before recording the outcome, another (or the same after a restart) sends the page
    /// again when the claim runs out, under the same dedup key. Longer than any delivery
    /// with its retries, or a slow delivery is sent twice.
    pub page_lease: Duration,
    /// Pages one engine sends at once.
    pub max_in_flight: u32,
}

/// Longer than the slowest delivery the notifier defaults allow (4 attempts of 10 s plus
/// backoff up to 30 s between them: about 2 minutes).
pub const DEFAULT_PAGE_LEASE: Duration = Duration::from_secs(5 * 60);

pub const DEFAULT_MAX_IN_FLIGHT: u32 = 64;

/// One failed page is enough to move on by default: a page that could not be delivered means
/// someone may not know, and paging the next level early costs little next to that.
pub const DEFAULT_FAILURES_BEFORE_NEXT_LEVEL: u32 = 1;

impl Default for EscalationSettings {
    fn default() -> EscalationSettings {
        EscalationSettings {
            default_policy: None,
            failures_before_next_level: DEFAULT_FAILURES_BEFORE_NEXT_LEVEL,
            page_lease: DEFAULT_PAGE_LEASE,
            max_in_flight: DEFAULT_MAX_IN_FLIGHT,
        }
    }
}
