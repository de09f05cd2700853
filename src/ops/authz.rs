//! Who may do what: principals carry bot roles derived from Discord role ids, never names.

use std::collections::{BTreeMap, BTreeSet};

use crate::config::bot_roles::{ADMIN, INCIDENT_COMMANDER, RESPONDER};
use crate::domain::{Actor, Incident};

use super::OpsError;

/// The person (or token, or process) asking, with the bot roles they hold.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Principal {
    pub actor: Actor,
    roles: BTreeSet<String>,
}

impl Principal {
    pub fn new(actor: Actor, roles: impl IntoIterator<Item = String>) -> Principal {
        Principal {
            actor,
            roles: roles.into_iter().collect(),
        }
    }

    /// Someone at the host's command line: they can read and write the database directly,
    /// so the CLI treats them as `admin`.
    pub fn operator(actor: Actor) -> Principal {
        Principal::new(actor, [ADMIN.to_owned()])
    }

    /// warroom itself (timers, alerts): acts with every role.
    pub fn system(actor: Actor) -> Principal {
        Principal::new(actor, [ADMIN.to_owned()])
    }

    /// A Discord member: each bot role is held when one of its configured Discord role ids
    /// is among the member's role ids. Deny by default: no mapping, no role.
    pub fn from_discord_roles(
        actor: Actor,
        member_role_ids: &[u64],
        role_map: &BTreeMap<String, Vec<u64>>,
    ) -> Principal {
        let roles = role_map
            .iter()
            .filter(|(_, ids)| ids.iter().any(|id| member_role_ids.contains(id)))
            .map(|(name, _)| name.clone());
        Principal::new(actor, roles)
    }

    /// Whether this principal holds `role`: `admin` holds every role, and an
    /// `incident_commander` may also do what a `responder` may.
    pub fn holds(&self, role: &str) -> bool {
        self.roles.contains(role)
            || self.roles.contains(ADMIN)
            || (role == RESPONDER && self.roles.contains(INCIDENT_COMMANDER))
    }

    pub fn roles(&self) -> impl Iterator<Item = &str> {
        self.roles.iter().map(String::as_str)
    }
}

/// The actions guarded by a bot role (SPEC §2's defaults).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Permission {
    Open,
    Acknowledge,
    View,
    PostUpdate,
    ChangeSeverity,
    AssignRole,
    Mitigate,
    Resolve,
    Reopen,
    AddNote,
    Export,
    /// Paging people by hand (`/page`).
    Page,
    /// Approving or denying a run: the roles come from the command's catalog entry.
    ApproveRun,
    /// Scheduling, reassigning or completing a post-incident review.
    Review,
    /// Adding and completing follow-up action items.
    TrackActions,
}

impl Permission {
    /// The role needed, or `None` when anyone in the guild may.
    pub fn required_role(self) -> Option<&'static str> {
        match self {
            Permission::View => None,
            Permission::Open
            | Permission::Acknowledge
            | Permission::PostUpdate
            | Permission::Mitigate
            | Permission::AddNote
            | Permission::Export
            | Permission::Page
            | Permission::TrackActions => Some(RESPONDER),
            Permission::ChangeSeverity
            | Permission::AssignRole
            | Permission::Resolve
            | Permission::Reopen
            | Permission::Review => Some(INCIDENT_COMMANDER),
            // Checked against the command's approver roles, not a fixed one.
            Permission::ApproveRun => Some(INCIDENT_COMMANDER),
        }
    }

    pub fn describe(self) -> &'static str {
        match self {
            Permission::Open => "open an incident",
            Permission::Acknowledge => "acknowledge an incident",
            Permission::View => "view an incident",
            Permission::PostUpdate => "post a status update",
            Permission::ChangeSeverity => "change an incident's severity",
            Permission::AssignRole => "assign incident roles",
            Permission::Mitigate => "mark an incident mitigated",
            Permission::Resolve => "resolve an incident",
            Permission::Reopen => "reopen an incident",
            Permission::AddNote => "add a timeline note",
            Permission::Export => "export a post-mortem",
            Permission::Page => "page people",
            Permission::ApproveRun => "approve or deny this run",
            Permission::Review => "schedule or complete a post-incident review",
            Permission::TrackActions => "track action items",
        }
    }
}

/// Allows or refuses `permission` for `who`, on `incident` when the action concerns one.
/// The commander assigned to an incident may act as `incident_commander` on that incident.
pub fn authorize(
    who: &Principal,
    permission: Permission,
    incident: Option<&Incident>,
) -> Result<(), OpsError> {
    let Some(role) = permission.required_role() else {
        return Ok(());
    };
    if who.holds(role) {
        return Ok(());
    }
    let leads_this_incident = role == INCIDENT_COMMANDER
        && incident
            .and_then(Incident::commander)
            .is_some_and(|commander| commander.id == who.actor.id);
    if leads_this_incident {
        return Ok(());
    }
    Err(OpsError::Forbidden {
        role: role.to_owned(),
        action: permission.describe(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn role_map() -> BTreeMap<String, Vec<u64>> {
        BTreeMap::from([
            (RESPONDER.to_owned(), vec![11]),
            (INCIDENT_COMMANDER.to_owned(), vec![22]),
            ("dba".to_owned(), vec![33, 34]),
        ])
    }

    #[test]
    fn roles_come_from_ids_and_unmapped_means_nothing() {
        let alice =
            Principal::from_discord_roles(Actor::discord(1, "alice"), &[34, 99], &role_map());
        assert!(alice.holds("dba"));
        assert!(!alice.holds(RESPONDER));
        let nobody =
            Principal::from_discord_roles(Actor::discord(2, "responder"), &[], &role_map());
        assert!(!nobody.holds(RESPONDER), "a name is not a role");
    }

    #[test]
    fn commanders_may_respond_and_admins_may_do_everything() {
        let commander = Principal::from_discord_roles(Actor::discord(1, "c"), &[22], &role_map());
        assert!(commander.holds(RESPONDER));
        assert!(!commander.holds("dba"));
        let admin = Principal::new(Actor::cli("root"), [ADMIN.to_owned()]);
        assert!(admin.holds("dba") && admin.holds(INCIDENT_COMMANDER));
    }

    #[test]
    fn a_denial_names_the_missing_role() {
        let responder = Principal::from_discord_roles(Actor::discord(1, "r"), &[11], &role_map());
        let error = authorize(&responder, Permission::Resolve, None).unwrap_err();
        assert_eq!(
            error.to_string(),
            "you need the `incident_commander` role to resolve an incident; ask an admin to map one of your Discord roles to it in [roles]"
        );
    }
}
