//! Who gets paged, when: on-call schedules, escalation policies and their pure planner,
//! target resolution, dedup keys, the dry run, and the `[schedules]`, `[policies]` and
//! `[escalation]` configuration, and the durable engine (`engine`) that fires steps and sends
//! pages from the store's outbox.

mod config;
pub mod engine;
pub mod policy;
pub mod schedule;

pub use config::{DEFAULT_MAX_IN_FLIGHT, DEFAULT_PAGE_LEASE, EscalationSettings};
pub use engine::{Engine, Pagers, Pass};
pub use policy::{
    Directory, Level, MAX_REPEAT, PlannedPage, Policy, Reach, Recipient, SimulatedStep, Simulation,
    Step, Target, TargetParseError, Unreachable, dedup_key, simulate,
};
pub use schedule::{
    Cover, Gap, Override, Period, Rotation, Schedule, Shift, format_in_zone, parse_instant,
    resolve_local,
};

use crate::config::Config;

impl Config {
    pub fn schedule(&self, name: &str) -> Option<&Schedule> {
        self.schedules.iter().find(|schedule| schedule.name == name)
    }

    pub fn policy(&self, name: &str) -> Option<&Policy> {
        self.policies.iter().find(|policy| policy.name == name)
    }

    /// The policy an incident of `severity` (and `service`, if any) escalates with: the
    /// service's `policy` if it names one, else the severity's, else `[escalation]
    /// default_policy`; `None` means nobody is paged automatically.
    pub fn policy_for(&self, severity: &str, service: Option<&str>) -> Option<&Policy> {
        let from_service = service
            .and_then(|service| self.service(service))
            .and_then(|service| service.policy.as_deref());
        let from_severity = self
            .severity(severity)
            .and_then(|severity| severity.policy.as_deref());
        let name = from_service
            .or(from_severity)
            .or(self.escalation.default_policy.as_deref())?;
        self.policy(name)
    }

    /// What the notifiers still need before they can send (environment variables unset).
    /// Not errors: like the Discord token, `warroom check` lists these as to-dos.
    pub fn notifier_setup_gaps(&self) -> Vec<String> {
        self.notifiers
            .iter()
            .flat_map(|notifier| notifier.setup_gaps())
            .collect()
    }
}

/// Discord ids in JSON output are strings: they exceed the integers JavaScript reads exactly
/// (as the README's stable JSON already does for `channel_id`).
pub(crate) mod discord_ids {
    use serde::Serializer;

    pub fn one<S: Serializer>(id: &u64, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(id)
    }

    pub fn optional<S: Serializer>(id: &Option<u64>, serializer: S) -> Result<S::Ok, S::Error> {
        match id {
            Some(id) => serializer.collect_str(id),
            None => serializer.serialize_none(),
        }
    }

    pub fn many<S: Serializer>(ids: &[u64], serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_seq(ids.iter().map(u64::to_string))
    }
}
