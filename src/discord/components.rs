//! Buttons: what each `custom_id` means, parsed into a closed set of actions before acting.

use crate::domain::{IncidentId, RunId};

/// Something a button asks for. The `custom_id` carries it, so buttons keep working after a
/// restart (no in-memory state behind them).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Action {
    Acknowledge(IncidentId),
    Resolve(IncidentId),
    ApproveRun(RunId),
    DenyRun(RunId),
    /// The card's checklist select menu (the item picked is in the interaction's values).
    Checklist(IncidentId),
    /// Resolve although checklist items are unticked (asked once before).
    ResolveAnyway(IncidentId),
}

impl Action {
    pub fn custom_id(self) -> String {
        match self {
            Action::Acknowledge(id) => format!("incident:ack:{}", id.0),
            Action::Resolve(id) => format!("incident:resolve:{}", id.0),
            Action::ApproveRun(id) => format!("run:approve:{}", id.0),
            Action::DenyRun(id) => format!("run:deny:{}", id.0),
            Action::Checklist(id) => format!("incident:checklist:{}", id.0),
            Action::ResolveAnyway(id) => format!("incident:resolve-anyway:{}", id.0),
        }
    }

    pub fn parse(custom_id: &str) -> Option<Action> {
        let mut parts = custom_id.split(':');
        let (Some(subject), Some(verb), Some(id), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return None;
        };
        let id: i64 = id.parse().ok().filter(|id: &i64| *id > 0)?;
        match (subject, verb) {
            ("incident", "ack") => Some(Action::Acknowledge(IncidentId(id))),
            ("incident", "resolve") => Some(Action::Resolve(IncidentId(id))),
            ("run", "approve") => Some(Action::ApproveRun(RunId(id))),
            ("run", "deny") => Some(Action::DenyRun(RunId(id))),
            ("incident", "checklist") => Some(Action::Checklist(IncidentId(id))),
            ("incident", "resolve-anyway") => Some(Action::ResolveAnyway(IncidentId(id))),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn custom_ids_round_trip_and_strangers_are_refused() {
        for action in [
            Action::Acknowledge(IncidentId(3)),
            Action::Resolve(IncidentId(99)),
        ] {
            assert_eq!(Action::parse(&action.custom_id()), Some(action));
        }
        for bad in [
            "",
            "incident",
            "incident:ack",
            "incident:ack:x",
            "incident:ack:0",
            "incident:nuke:3",
            "incident:ack:3:4",
        ] {
            assert_eq!(Action::parse(bad), None, "{bad}");
        }
    }
}
