//! The incident record, its statuses and the legal transitions between them (SPEC §1).

use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use super::{Actor, Timestamp};

/// Longest title accepted. Discord shows titles in embeds (256 characters) and channel names
/// are cut from them; 200 leaves room for the `INC-<id>: ` prefix.
pub const TITLE_LIMIT: usize = 200;

/// Longest note, update or reason accepted, in characters. Discord messages hold 2000; longer
/// text is still kept whole in the timeline and split when echoed, but beyond this it belongs
/// in a document linked from the note.
pub const TEXT_LIMIT: usize = 4000;

/// An incident's number, shown to people as `INC-<id>`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct IncidentId(pub i64);

impl fmt::Display for IncidentId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "INC-{}", self.0)
    }
}

#[derive(Debug, thiserror::Error)]
#[error("`{0}` is not an incident id; write it as 12 or INC-12")]
pub struct ParseIncidentIdError(String);

impl FromStr for IncidentId {
    type Err = ParseIncidentIdError;

    /// Accepts `12`, `INC-12` and `inc-12`, the forms people paste.
    fn from_str(text: &str) -> Result<IncidentId, ParseIncidentIdError> {
        let trimmed = text.trim();
        let digits = trimmed
            .strip_prefix("INC-")
            .or_else(|| trimmed.strip_prefix("inc-"))
            .unwrap_or(trimmed);
        match digits.parse::<i64>() {
            Ok(id) if id > 0 => Ok(IncidentId(id)),
            _ => Err(ParseIncidentIdError(text.to_owned())),
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    Open,
    Acknowledged,
    Mitigated,
    Resolved,
}

impl Status {
    pub const ALL: [Status; 4] = [
        Status::Open,
        Status::Acknowledged,
        Status::Mitigated,
        Status::Resolved,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Status::Open => "open",
            Status::Acknowledged => "acknowledged",
            Status::Mitigated => "mitigated",
            Status::Resolved => "resolved",
        }
    }

    /// Whether the incident still needs someone: escalation runs only while this holds.
    pub fn is_active(self) -> bool {
        self != Status::Resolved
    }
}

impl fmt::Display for Status {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[derive(Debug, thiserror::Error)]
#[error("`{0}` is not a status; use one of open, acknowledged, mitigated, resolved")]
pub struct UnknownStatus(pub String);

impl FromStr for Status {
    type Err = UnknownStatus;

    fn from_str(text: &str) -> Result<Status, UnknownStatus> {
        Status::ALL
            .into_iter()
            .find(|status| status.as_str().eq_ignore_ascii_case(text.trim()))
            .ok_or_else(|| UnknownStatus(text.to_owned()))
    }
}

/// What a person asks to do with an incident's status.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Action {
    Acknowledge,
    Mitigate,
    Resolve,
    Reopen,
}

impl Action {
    pub fn verb(self) -> &'static str {
        match self {
            Action::Acknowledge => "acknowledged",
            Action::Mitigate => "mitigated",
            Action::Resolve => "resolved",
            Action::Reopen => "reopened",
        }
    }

    /// The status this action leads to.
    pub fn target(self) -> Status {
        match self {
            Action::Acknowledge => Status::Acknowledged,
            Action::Mitigate => Status::Mitigated,
            Action::Resolve => Status::Resolved,
            Action::Reopen => Status::Open,
        }
    }
}

/// Why a change to an incident was refused. These are decided by the rules, never by storage,
/// and each says what was wrong and what to do instead.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    #[error("{id} is {current}, so it cannot be {verb}; {hint}", verb = action.verb(), hint = transition_hint(*current, *action))]
    IllegalTransition {
        id: IncidentId,
        current: Status,
        action: Action,
    },
    #[error("{id} was already acknowledged by {by} at {at}; nothing to do")]
    AlreadyAcknowledged {
        id: IncidentId,
        by: Actor,
        at: Timestamp,
    },
    #[error("{id} already has {what}; nothing to change")]
    Unchanged { id: IncidentId, what: String },
    #[error("{id} has {} of its checklist unticked: {}. Tick them with `/incident check` first, or resolve anyway (CLI `--force`, API `\"force\": true`)", unticked.len(), unticked.join("; "))]
    ChecklistUnticked {
        id: IncidentId,
        unticked: Vec<String>,
    },
}

fn transition_hint(current: Status, action: Action) -> &'static str {
    match (current, action) {
        (Status::Resolved, _) => "reopen it first if the problem is back",
        (_, Action::Reopen) => "only a resolved incident can be reopened",
        (Status::Mitigated, Action::Mitigate) => "resolve it once the fix is confirmed",
        (Status::Mitigated, Action::Acknowledge) => {
            "it is already past acknowledgement; resolve it once the fix is confirmed"
        }
        _ => "check its status with `incident show`",
    }
}

impl Status {
    /// The status after `action`, or why the action is not allowed now.
    ///
    /// Forward moves may skip a step (an incident can be resolved straight from `open`), because
    /// a responder who fixed something fast should not have to click through statuses. Backward
    /// moves exist only as `reopen` from `resolved`.
    pub fn after(self, id: IncidentId, action: Action) -> Result<Status, Refusal> {
        let allowed = match action {
            Action::Acknowledge => self == Status::Open,
            Action::Mitigate => matches!(self, Status::Open | Status::Acknowledged),
            Action::Resolve => self != Status::Resolved,
            Action::Reopen => self == Status::Resolved,
        };
        if allowed {
            Ok(action.target())
        } else {
            Err(Refusal::IllegalTransition {
                id,
                current: self,
                action,
            })
        }
    }
}

/// Where an incident came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Source {
    Discord,
    Api,
    Alert,
    Cli,
    /// A scheduled drill or a failing scheduled check (`[drills.NAME]`, `[checks.NAME]`).
    Schedule,
}

impl Source {
    pub fn as_str(self) -> &'static str {
        match self {
            Source::Discord => "discord",
            Source::Api => "api",
            Source::Alert => "alert",
            Source::Cli => "cli",
            Source::Schedule => "schedule",
        }
    }

    pub fn parse(text: &str) -> Option<Source> {
        [
            Source::Discord,
            Source::Api,
            Source::Alert,
            Source::Cli,
            Source::Schedule,
        ]
        .into_iter()
        .find(|source| source.as_str() == text)
    }
}

/// The incident record as stored. History lives in the timeline; this is the current state.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Incident {
    pub id: IncidentId,
    pub title: String,
    pub description: String,
    pub severity: String,
    pub status: Status,
    pub service: Option<String>,
    pub source: Source,
    pub drill: bool,
    pub private: bool,
    /// The Discord channel or thread of the incident, once one exists. A string in JSON:
    /// Discord ids exceed what JavaScript numbers hold exactly.
    #[serde(with = "super::ids::optional_id_string")]
    pub channel_id: Option<u64>,
    pub opened_at: Timestamp,
    pub opened_by: Actor,
    pub acknowledged_at: Option<Timestamp>,
    pub acknowledged_by: Option<Actor>,
    pub mitigated_at: Option<Timestamp>,
    pub resolved_at: Option<Timestamp>,
    /// Incident role (e.g. `commander`) to the person holding it.
    pub roles: BTreeMap<String, Actor>,
    /// The sequence number of the newest timeline event.
    pub last_seq: i64,
}

/// The incident role that leads the response; its holder may act as `incident_commander` on it.
pub const COMMANDER_ROLE: &str = "commander";

impl Incident {
    pub fn commander(&self) -> Option<&Actor> {
        self.roles.get(COMMANDER_ROLE)
    }
}

/// What is needed to open an incident; the store adds the id and the first event.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NewIncident {
    pub title: String,
    pub description: String,
    pub severity: String,
    pub service: Option<String>,
    pub source: Source,
    pub drill: bool,
    pub private: bool,
    pub opened_at: Timestamp,
    pub opened_by: Actor,
}

#[cfg(test)]
mod tests {
    use super::*;

    const ID: IncidentId = IncidentId(7);

    #[test]
    fn ids_parse_the_forms_people_paste() {
        assert_eq!("12".parse::<IncidentId>().unwrap(), IncidentId(12));
        assert_eq!("INC-12".parse::<IncidentId>().unwrap(), IncidentId(12));
        assert_eq!(" inc-12 ".parse::<IncidentId>().unwrap(), IncidentId(12));
        for bad in ["", "INC-", "0", "-3", "twelve", "INC-1x"] {
            assert!(bad.parse::<IncidentId>().is_err(), "{bad:?} parsed");
        }
    }

    #[test]
    fn every_status_and_action_pair_follows_the_table() {
        use Action::*;
        use Status::*;
        let table = [
            (Open, Acknowledge, Some(Acknowledged)),
            (Open, Mitigate, Some(Mitigated)),
            (Open, Resolve, Some(Resolved)),
            (Open, Reopen, None),
            (Acknowledged, Acknowledge, None),
            (Acknowledged, Mitigate, Some(Mitigated)),
            (Acknowledged, Resolve, Some(Resolved)),
            (Acknowledged, Reopen, None),
            (Mitigated, Acknowledge, None),
            (Mitigated, Mitigate, None),
            (Mitigated, Resolve, Some(Resolved)),
            (Mitigated, Reopen, None),
            (Resolved, Acknowledge, None),
            (Resolved, Mitigate, None),
            (Resolved, Resolve, None),
            (Resolved, Reopen, Some(Open)),
        ];
        for (from, action, expected) in table {
            assert_eq!(from.after(ID, action).ok(), expected, "{from} + {action:?}");
        }
    }

    #[test]
    fn an_illegal_transition_names_the_current_status_and_what_to_do() {
        let message = Status::Resolved
            .after(ID, Action::Acknowledge)
            .unwrap_err()
            .to_string();
        assert_eq!(
            message,
            "INC-7 is resolved, so it cannot be acknowledged; reopen it first if the problem is back"
        );
    }
}
