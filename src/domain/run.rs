//! Runs of approved commands (SPEC §1 "Run"): the request, its approvals, its state and how
//! it ended. Plain data and the rules for moving between states.

use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use super::{Actor, IncidentId, Timestamp};

/// A run's number, shown as `RUN-<id>`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct RunId(pub i64);

impl fmt::Display for RunId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "RUN-{}", self.0)
    }
}

impl FromStr for RunId {
    type Err = String;

    fn from_str(text: &str) -> Result<RunId, String> {
        let trimmed = text.trim();
        let digits = trimmed
            .strip_prefix("RUN-")
            .or_else(|| trimmed.strip_prefix("run-"))
            .unwrap_or(trimmed);
        match digits.parse::<i64>() {
            Ok(id) if id > 0 => Ok(RunId(id)),
            _ => Err(format!("`{text}` is not a run id; write it as 5 or RUN-5")),
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RunState {
    /// Waiting for approval.
    Requested,
    /// Allowed to run (approved, or needing no approval); not started yet.
    Approved,
    Running,
    Succeeded,
    Failed,
    TimedOut,
    /// Refused: the requester lacked a role, a value was rejected, or an approver said no.
    Denied,
    /// Nobody approved it in time.
    Expired,
    /// Withdrawn by the requester before it ran.
    Cancelled,
    /// It was running when warroom shut down, and was stopped after the shutdown grace.
    Interrupted,
}

impl RunState {
    pub const ALL: [RunState; 10] = [
        RunState::Requested,
        RunState::Approved,
        RunState::Running,
        RunState::Succeeded,
        RunState::Failed,
        RunState::TimedOut,
        RunState::Denied,
        RunState::Expired,
        RunState::Cancelled,
        RunState::Interrupted,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            RunState::Requested => "requested",
            RunState::Approved => "approved",
            RunState::Running => "running",
            RunState::Succeeded => "succeeded",
            RunState::Failed => "failed",
            RunState::TimedOut => "timed_out",
            RunState::Denied => "denied",
            RunState::Expired => "expired",
            RunState::Cancelled => "cancelled",
            RunState::Interrupted => "interrupted",
        }
    }

    /// Nothing more will happen to the run.
    pub fn is_final(self) -> bool {
        matches!(
            self,
            RunState::Succeeded
                | RunState::Failed
                | RunState::TimedOut
                | RunState::Denied
                | RunState::Expired
                | RunState::Cancelled
                | RunState::Interrupted
        )
    }
}

impl fmt::Display for RunState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for RunState {
    type Err = String;

    fn from_str(text: &str) -> Result<RunState, String> {
        RunState::ALL
            .into_iter()
            .find(|state| state.as_str() == text)
            .ok_or_else(|| format!("unknown run state `{text}`"))
    }
}

/// One approval of a run.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RunApproval {
    pub by: Actor,
    pub at: Timestamp,
    /// The fingerprint of the command as the approver saw it (the run's, at approval).
    #[serde(default)]
    pub fingerprint: Option<String>,
}

/// A run as stored: what was asked, exactly what would run, who decided what, how it ended.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Run {
    pub id: RunId,
    pub incident_id: Option<IncidentId>,
    pub command: String,
    /// The validated values by parameter name (empty when the request was refused before),
    /// as shown: anything that looks like a secret is `[redacted]`.
    pub values: BTreeMap<String, String>,
    /// The validated values exactly, which execution binds again. Never serialized with
    /// the run (so no view of it, API, card or export, shows them); the store keeps them
    /// apart.
    #[serde(skip)]
    pub exact_values: BTreeMap<String, String>,
    /// What the person typed, kept for the audit of refused requests (redacted).
    pub args_text: String,
    pub program: String,
    /// The arguments after the program, as approved and as shown (secrets `[redacted]`);
    /// execution runs only what has the same [`Run::fingerprint`].
    pub argv: Vec<String>,
    /// SHA-256 of the whole resolved command at the request (program, arguments,
    /// environment, working directory, timeout, lock, risk): the run starts only if the
    /// catalog still resolves to the same.
    #[serde(default)]
    pub fingerprint: Option<String>,
    /// The child's environment as shown (`NAME=value`, `NAME=<from_env VAR>`).
    #[serde(default)]
    pub env: Vec<String>,
    #[serde(default)]
    pub workdir: Option<String>,
    #[serde(default)]
    pub timeout_ms: Option<i64>,
    pub dry_run: bool,
    pub risk: String,
    pub lock_key: Option<String>,
    pub requested_by: Actor,
    pub requested_at: Timestamp,
    pub approvals_needed: u32,
    pub approver_roles: Vec<String>,
    pub approvals: Vec<RunApproval>,
    pub expires_at: Option<Timestamp>,
    pub state: RunState,
    /// Why it was denied, expired, cancelled or failed before running.
    pub reason: Option<String>,
    /// Who denied or cancelled it.
    pub decided_by: Option<Actor>,
    /// The warroom process running it, and until when its claim holds.
    pub claimed_by: Option<String>,
    pub lease_until: Option<Timestamp>,
    pub started_at: Option<Timestamp>,
    pub finished_at: Option<Timestamp>,
    pub exit_code: Option<i32>,
    pub signal: Option<String>,
    pub timed_out: bool,
    pub duration_ms: Option<i64>,
    /// The kept output (head and tail, the cut said), redacted.
    pub output: Option<String>,
    pub output_bytes: Option<i64>,
    /// SHA-256 of the whole redacted output.
    pub output_sha256: Option<String>,
    pub output_file: Option<String>,
    /// Where it was requested and where its card is (Discord ids).
    #[serde(with = "super::ids::optional_id_string")]
    pub channel_id: Option<u64>,
    #[serde(with = "super::ids::optional_id_string")]
    pub card_message_id: Option<u64>,
}

/// Why a decision about a run was refused. Each says what to do instead.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum RunRefusal {
    #[error("{id} is {state}, so it cannot be {verb}")]
    WrongState {
        id: RunId,
        state: RunState,
        verb: &'static str,
    },
    #[error(
        "{id} expired before it was approved (its approval window closed at {at}); request it again if it is still needed"
    )]
    Expired { id: RunId, at: Timestamp },
    #[error("you requested {id}, so you cannot approve it: a second person must")]
    OwnRequest { id: RunId },
    #[error("you already approved {id}; it needs {more} more approval(s) from someone else")]
    AlreadyApproved { id: RunId, more: u32 },
}

impl Run {
    /// A new request of `command` by `requested_by`: nothing decided, nothing bound yet.
    pub fn new(
        command: &str,
        program: String,
        requested_by: Actor,
        requested_at: Timestamp,
    ) -> Run {
        Run {
            id: RunId(0),
            incident_id: None,
            command: command.to_owned(),
            values: BTreeMap::new(),
            exact_values: BTreeMap::new(),
            args_text: String::new(),
            program,
            argv: Vec::new(),
            fingerprint: None,
            env: Vec::new(),
            workdir: None,
            timeout_ms: None,
            dry_run: false,
            risk: String::new(),
            lock_key: None,
            requested_by,
            requested_at,
            approvals_needed: 0,
            approver_roles: Vec::new(),
            approvals: Vec::new(),
            expires_at: None,
            state: RunState::Requested,
            reason: None,
            decided_by: None,
            claimed_by: None,
            lease_until: None,
            started_at: None,
            finished_at: None,
            exit_code: None,
            signal: None,
            timed_out: false,
            duration_ms: None,
            output: None,
            output_bytes: None,
            output_sha256: None,
            output_file: None,
            channel_id: None,
            card_message_id: None,
        }
    }

    /// The run ended without an outcome of its own: it never started, or the process running
    /// it was lost.
    pub fn failed(&self, now: Timestamp, reason: impl Into<String>) -> Run {
        let mut next = self.clone();
        next.state = RunState::Failed;
        next.finished_at = Some(now);
        next.lease_until = None;
        next.reason = Some(reason.into());
        next
    }

    /// Approvals still missing.
    pub fn approvals_missing(&self) -> u32 {
        self.approvals_needed
            .saturating_sub(self.approvals.len() as u32)
    }

    /// Adds `by`'s approval at `now`: refused for the requester, twice for one person, after
    /// expiry, or in any state but `Requested`. Returns the run with the approval, `Approved`
    /// once enough people approved.
    pub fn approve(&self, by: &Actor, now: Timestamp) -> Result<Run, RunRefusal> {
        self.check_pending(now, "approved")?;
        if by.id == self.requested_by.id {
            return Err(RunRefusal::OwnRequest { id: self.id });
        }
        if self
            .approvals
            .iter()
            .any(|approval| approval.by.id == by.id)
        {
            return Err(RunRefusal::AlreadyApproved {
                id: self.id,
                more: self.approvals_missing(),
            });
        }
        let mut next = self.clone();
        next.approvals.push(RunApproval {
            by: by.clone(),
            at: now,
            fingerprint: self.fingerprint.clone(),
        });
        if next.approvals_missing() == 0 {
            next.state = RunState::Approved;
        }
        Ok(next)
    }

    /// Refuses the request (an approver's "no") or withdraws it (the requester).
    pub fn decline(&self, by: &Actor, state: RunState, reason: &str) -> Result<Run, RunRefusal> {
        let verb = if state == RunState::Cancelled {
            "cancelled"
        } else {
            "denied"
        };
        if !matches!(self.state, RunState::Requested | RunState::Approved) {
            return Err(RunRefusal::WrongState {
                id: self.id,
                state: self.state,
                verb,
            });
        }
        let mut next = self.clone();
        next.state = state;
        next.decided_by = Some(by.clone());
        next.reason = Some(reason.to_owned());
        Ok(next)
    }

    /// Whether the approval window has passed at `now`.
    pub fn is_expired(&self, now: Timestamp) -> bool {
        self.state == RunState::Requested && self.expires_at.is_some_and(|at| now >= at)
    }

    fn check_pending(&self, now: Timestamp, verb: &'static str) -> Result<(), RunRefusal> {
        // Expired says so whether or not the sweep has recorded it yet.
        if self.state == RunState::Expired {
            return Err(RunRefusal::Expired {
                id: self.id,
                at: self.expires_at.unwrap_or(self.requested_at),
            });
        }
        if self.state != RunState::Requested {
            return Err(RunRefusal::WrongState {
                id: self.id,
                state: self.state,
                verb,
            });
        }
        if let Some(at) = self.expires_at
            && now >= at
        {
            return Err(RunRefusal::Expired { id: self.id, at });
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn requested() -> Run {
        let mut run = Run::new(
            "pg-restore",
            "/usr/bin/pg_restore".into(),
            Actor::discord(1, "dana"),
            Timestamp::from_millis(0),
        );
        run.id = RunId(5);
        run.argv = vec!["--list".into()];
        run.approvals_needed = 2;
        run.approver_roles = vec!["incident_commander".into()];
        run.expires_at = Some(Timestamp::from_millis(600_000));
        run
    }

    #[test]
    fn two_person_rule_expiry_and_counting() {
        let run = requested();
        let now = Timestamp::from_millis(1_000);
        assert_eq!(
            run.approve(&Actor::discord(1, "dana"), now),
            Err(RunRefusal::OwnRequest { id: RunId(5) })
        );
        let once = run.approve(&Actor::discord(2, "carol"), now).unwrap();
        assert_eq!(once.state, RunState::Requested, "two approvals needed");
        assert!(matches!(
            once.approve(&Actor::discord(2, "carol"), now),
            Err(RunRefusal::AlreadyApproved { more: 1, .. })
        ));
        let twice = once.approve(&Actor::discord(3, "erin"), now).unwrap();
        assert_eq!(twice.state, RunState::Approved);
        assert!(matches!(
            twice.approve(&Actor::discord(4, "x"), now),
            Err(RunRefusal::WrongState { .. })
        ));
        let late = Timestamp::from_millis(600_000);
        assert!(matches!(
            run.approve(&Actor::discord(2, "carol"), late),
            Err(RunRefusal::Expired { .. })
        ));
        assert!(run.is_expired(late) && !run.is_expired(now));
    }

    #[test]
    fn an_expired_request_refuses_approval_alike_before_and_after_the_sweep() {
        let run = requested();
        let late = Timestamp::from_millis(600_000);
        let before = run.approve(&Actor::discord(2, "carol"), late).unwrap_err();
        let mut swept = run.clone();
        swept.state = RunState::Expired;
        let after = swept
            .approve(&Actor::discord(2, "carol"), late)
            .unwrap_err();
        assert_eq!(before, after);
        assert!(matches!(before, RunRefusal::Expired { .. }));
    }

    #[test]
    fn an_approval_records_the_fingerprint_it_approved() {
        let mut run = requested();
        run.fingerprint = Some("abc".into());
        let once = run
            .approve(&Actor::discord(2, "carol"), Timestamp::from_millis(1))
            .unwrap();
        assert_eq!(once.approvals[0].fingerprint.as_deref(), Some("abc"));
    }
}
