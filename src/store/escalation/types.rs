//! The values of escalation storage: what an incident write does to its escalation, the
//! escalation row, pages of the outbox as written, claimed and finished.

use serde::Serialize;

use crate::domain::{Event, Incident, IncidentId, NewEvent, Timestamp};
use crate::store::StoreError;
use crate::store::sql::{corrupt, db_id};

/// How a write to an incident changes its escalation, in the same transaction.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub enum EscalationEffect {
    #[default]
    None,
    /// (Re)start the policy from level 1: at opening, at reopening, or from `/page`.
    Start(EscalationStart),
    /// Nothing more is paged: acknowledged, mitigated or resolved. Unsent pages are cancelled
    /// and the notifiers that were paged are told.
    Stop(Stop),
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EscalationStart {
    /// The policy's name; empty when no policy applies (the incident pages nobody
    /// automatically, and the auditor leaves it alone).
    pub policy: String,
    /// The plan's origin: level delays count from here.
    pub started_at: Timestamp,
    /// When level 1 is due; `None` with an empty policy.
    pub first_due: Option<Timestamp>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Stop {
    pub at: Timestamp,
    /// What the notifiers that were paged are told: `acknowledge` or `resolve`.
    pub forward: PageAction,
}

/// A closed set of values stored as text: `as_str` writes one, `parse` reads it back (an
/// unknown text is a corrupt row). Serialized (JSON) the same way.
macro_rules! stored_text {
    ($(#[$meta:meta])* $name:ident ($what:literal) { $($(#[$vmeta:meta])* $variant:ident => $text:literal,)* }) => {
        $(#[$meta])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
        #[serde(rename_all = "snake_case")]
        pub enum $name {
            $($(#[$vmeta])* $variant,)*
        }

        impl $name {
            pub fn as_str(self) -> &'static str {
                match self {
                    $($name::$variant => $text,)*
                }
            }

            pub(super) fn parse(text: &str) -> Result<$name, StoreError> {
                match text {
                    $($text => Ok($name::$variant),)*
                    other => Err(corrupt(format!(concat!("unknown ", $what, " `{}`"), other))),
                }
            }
        }
    };
}

stored_text! {
    /// What a row of the outbox asks of its receiver.
    PageAction ("page action") {
        Trigger => "trigger",
        Acknowledge => "acknowledge",
        Resolve => "resolve",
    }
}

/// Where a page goes, as decided when its step fired.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum PageRecipient {
    DiscordUser {
        #[serde(serialize_with = "crate::domain::discord_ids::one")]
        user_id: u64,
        schedule: Option<String>,
        via_override: bool,
    },
    /// A mention of the Discord roles that grant this bot role.
    DiscordRole {
        role: String,
    },
    Notifier {
        name: String,
    },
    /// Nobody could be reached; the page is recorded as failed with this reason.
    Nobody {
        reason: String,
    },
}

impl PageRecipient {
    pub(in crate::store) fn columns(
        &self,
    ) -> Result<(&'static str, String, Option<String>, bool), StoreError> {
        Ok(match self {
            PageRecipient::DiscordUser {
                user_id,
                schedule,
                via_override,
            } => (
                "discord_user",
                db_id(*user_id)?.to_string(),
                schedule.clone(),
                *via_override,
            ),
            PageRecipient::DiscordRole { role } => ("discord_role", role.clone(), None, false),
            PageRecipient::Notifier { name } => ("notifier", name.clone(), None, false),
            PageRecipient::Nobody { reason } => ("nobody", reason.clone(), None, false),
        })
    }

    pub(super) fn from_columns(
        kind: &str,
        value: String,
        schedule: Option<String>,
        via_override: bool,
    ) -> Result<PageRecipient, StoreError> {
        Ok(match kind {
            "discord_user" => PageRecipient::DiscordUser {
                user_id: value
                    .parse()
                    .map_err(|_| corrupt(format!("page recipient `{value}` is not a user id")))?,
                schedule,
                via_override,
            },
            "discord_role" => PageRecipient::DiscordRole { role: value },
            "notifier" => PageRecipient::Notifier { name: value },
            "nobody" => PageRecipient::Nobody { reason: value },
            other => return Err(corrupt(format!("unknown page recipient kind `{other}`"))),
        })
    }

    /// Whether the page travels inside Discord (the only place drill pages go).
    pub fn is_discord(&self) -> bool {
        matches!(
            self,
            PageRecipient::DiscordUser { .. } | PageRecipient::DiscordRole { .. }
        )
    }
}

/// A page to put in the outbox.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NewPage {
    pub dedup_key: String,
    pub action: PageAction,
    /// 1-based; 0 for pages made by hand (`/page`) or by the auditor.
    pub level: u32,
    /// Absolute round (rounds of earlier runs of the policy included).
    pub round: u32,
    /// The target as written (the policy's, the fallback's, or `/page`'s).
    pub target: String,
    pub recipient: PageRecipient,
    pub message: Option<String>,
    pub send_after: Timestamp,
}

stored_text! {
    PageState ("page state") {
        Pending => "pending",
        Sending => "sending",
        Sent => "sent",
        Failed => "failed",
        Cancelled => "cancelled",
        /// Not sent on purpose: a drill page to a notifier outside Discord.
        Skipped => "skipped",
    }
}

/// A row of the outbox.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Page {
    pub id: i64,
    pub dedup_key: String,
    pub action: PageAction,
    pub incident_id: IncidentId,
    pub level: u32,
    pub round: u32,
    pub target: String,
    pub recipient: PageRecipient,
    pub message: Option<String>,
    pub state: PageState,
    /// How many times the page was claimed: more than one means a sender stopped (or its
    /// claim ran out) before recording the outcome.
    pub attempts: u32,
    pub send_after: Timestamp,
    pub created_at: Timestamp,
    pub finished_at: Option<Timestamp>,
    pub outcome: Option<String>,
}

stored_text! {
    EscalationState ("escalation state") {
        Active => "active",
        Stopped => "stopped",
        Finished => "finished",
        Audited => "audited",
        /// No policy applies to the incident.
        Unpaged => "unpaged",
    }
}

/// Where an incident's escalation stands.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Escalation {
    pub incident_id: IncidentId,
    pub policy: String,
    pub state: EscalationState,
    pub started_at: Timestamp,
    pub round_base: u32,
    /// The step that fires next (1-based level, round relative to `round_base`).
    pub next_level: u32,
    pub next_round: u32,
    pub due_at: Option<Timestamp>,
    pub failures: u32,
}

/// A step to fire: the escalation must still expect `(level, round)`; it moves to `next`
/// (or finishes), and `pages` and `events` are written with it.
#[derive(Clone, Debug)]
pub struct FireStep {
    pub incident: IncidentId,
    pub level: u32,
    pub round: u32,
    /// The following step and when it is due; `None` after the last.
    pub next: Option<(u32, u32, Timestamp)>,
    pub pages: Vec<NewPage>,
    pub events: Vec<NewEvent>,
    pub now: Timestamp,
}

/// Who holds a claim on pages being sent, and until when.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PageClaim {
    /// The claiming process: `host/pid/start/n`.
    pub by: String,
    pub lease_until: Timestamp,
}

/// A step that fired: what it appended to the timeline, and its pages, already claimed by
/// the engine that fired it (no second write to claim them).
#[derive(Clone, Debug)]
pub struct Fired {
    pub appended: Appended,
    pub pages: Vec<Page>,
}

/// The outcome of a claimed page.
#[derive(Clone, Debug)]
pub struct PageDone {
    pub page: i64,
    pub incident: IncidentId,
    /// The `attempts` value of the claim: a stale claim records nothing.
    pub claim: u32,
    pub state: PageState,
    pub outcome: String,
    pub event: Option<NewEvent>,
    pub now: Timestamp,
    /// For a failed page of a policy step: after this many failures in the step, the next
    /// step becomes due at once.
    pub failures_before_next_level: Option<u32>,
}

/// What a write produced for the incident's timeline (for listeners).
pub type Appended = Option<(Incident, Vec<Event>)>;

/// What [`super::EscalationStore::finish_and_fire`] wrote: per step (in the order given) whether it
/// fired, and the events appended to incidents that had no step fired.
#[derive(Debug, Default)]
pub struct FinishedAndFired {
    pub fired: Vec<Option<Fired>>,
    pub appended: Vec<(Incident, Vec<Event>)>,
}
