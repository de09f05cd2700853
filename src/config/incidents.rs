//! `[roles]`, `[incidents]`, `[severities]` and `[services]`: who may act (bot roles to
//! Discord role ids), the roles within an incident, the severities (the runbooks' P1..P4 with
//! their deadlines) and the services with their objectives and checklists.

use std::collections::BTreeMap;
use std::time::Duration;

use serde::Deserialize;

use super::load::{Loader, Snowflake, is_entry_name, is_simple_name, join_path};
use crate::domain::{ServiceConfig, SeverityConfig};

/// Incident roles offered when `incident_roles` is not configured.
pub const DEFAULT_INCIDENT_ROLES: [&str; 4] = ["commander", "communications", "dba", "scribe"];

impl Loader {
    pub(super) fn build_roles(&mut self, raw: Option<toml::Value>) -> BTreeMap<String, Vec<u64>> {
        let mut roles = BTreeMap::new();
        for (name, value) in self.entries("roles", raw) {
            let path = vec!["roles".to_owned(), name.clone()];
            if !is_simple_name(&name) {
                self.problem(
                    &path,
                    "a bot role name is lowercase letters, digits and `_`",
                );
            }
            let Some(ids) = self.decode::<Vec<Snowflake>>(&path, value) else {
                continue;
            };
            let mut role_ids = Vec::new();
            for (index, id) in ids.iter().enumerate() {
                match id.parse() {
                    Ok(Some(id)) => role_ids.push(id),
                    Ok(None) => self.problem(
                        &path,
                        format!(
                            "entry {} is empty; remove it or put a Discord role id",
                            index + 1
                        ),
                    ),
                    Err(message) => self.problem(&path, message),
                }
            }
            roles.insert(name, role_ids);
        }
        roles
    }

    /// `[incidents]`: the incident roles, and the bot roles that may see private incidents.
    pub(super) fn build_incident_roles(
        &mut self,
        raw: Option<toml::Value>,
        bot_role_names: &BTreeMap<String, Vec<u64>>,
    ) -> (Vec<String>, Vec<String>) {
        let raw: RawIncidents = self.section("incidents", raw);
        let private_roles = self.private_roles(&raw.private_roles, bot_role_names);
        let path = vec!["incidents".to_owned(), "roles".to_owned()];
        for role in &raw.roles {
            if !is_simple_name(role) {
                self.problem(
                    &path,
                    format!("`{role}` is not a role name; use lowercase letters, digits and `_`"),
                );
            }
        }
        if !raw
            .roles
            .iter()
            .any(|role| role == crate::domain::COMMANDER_ROLE)
        {
            self.problem(
                &path,
                "must include \"commander\": every incident needs someone leading it",
            );
        }
        (raw.roles, private_roles)
    }

    /// `private_roles`: bot roles (built in, or named in `[roles]`) that see private incidents.
    fn private_roles(
        &mut self,
        names: &[String],
        bot_role_names: &BTreeMap<String, Vec<u64>>,
    ) -> Vec<String> {
        let path = vec!["incidents".to_owned(), "private_roles".to_owned()];
        let built_in = [
            crate::domain::bot_roles::ADMIN,
            crate::domain::bot_roles::INCIDENT_COMMANDER,
            crate::domain::bot_roles::RESPONDER,
        ];
        for name in names {
            if !built_in.contains(&name.as_str()) && !bot_role_names.contains_key(name) {
                self.problem(
                    &path,
                    format!("`{name}` is not a bot role; use admin, incident_commander, responder or a role of [roles]"),
                );
            }
        }
        if names.is_empty() {
            self.problem(
                &path,
                "is empty, so nobody could see a private incident; list at least one bot role, e.g. [\"incident_commander\", \"admin\"]",
            );
        }
        names.to_vec()
    }

    pub(super) fn build_severities(&mut self, raw: Option<toml::Value>) -> Vec<SeverityConfig> {
        if raw.is_none() {
            return default_severities();
        }
        let mut severities = Vec::new();
        for (name, value) in self.entries("severities", raw) {
            let path = vec!["severities".to_owned(), name.clone()];
            if !is_entry_name(&name) {
                self.problem(
                    &path,
                    "a severity name is letters, digits, `-` and `_`, e.g. SEV1",
                );
            }
            let Some(raw) = self.decode::<RawSeverity>(&path, value) else {
                continue;
            };
            let ack_within = self.duration(&join_path(&path, "ack_within"), &raw.ack_within, false);
            let review_within = match &raw.review_within {
                Some(text) => self.duration(&join_path(&path, "review_within"), text, false),
                None => default_review_within(&name),
            };
            if raw.description.trim().is_empty() {
                self.problem(
                    &join_path(&path, "description"),
                    "say in a few words when to use this severity",
                );
            }
            let update_every = self.reminder(&path, "update_every", raw.update_every.as_deref());
            let commander_within =
                self.reminder(&path, "commander_within", raw.commander_within.as_deref());
            severities.push(SeverityConfig {
                name,
                description: raw.description,
                ack_within,
                review_within,
                policy: raw.policy,
                update_every,
                commander_within,
            });
        }
        if severities.is_empty() {
            self.problem(
                &["severities".to_owned()],
                "at least one severity is needed",
            );
        }
        severities
    }

    pub(super) fn build_services(
        &mut self,
        raw: Option<toml::Value>,
        severities: &[SeverityConfig],
    ) -> Vec<ServiceConfig> {
        let mut services = Vec::new();
        for (name, value) in self.entries("services", raw) {
            let path = vec!["services".to_owned(), name.clone()];
            if !is_entry_name(&name) {
                self.problem(&path, "a service name is letters, digits, `-` and `_`");
            }
            let Some(raw) = self.decode::<RawService>(&path, value) else {
                continue;
            };
            let rto = self.duration(&join_path(&path, "rto"), &raw.rto, false);
            let rpo = self.duration(&join_path(&path, "rpo"), &raw.rpo, true);
            if let Some(severity) = &raw.default_severity
                && !severities.iter().any(|known| known.name == *severity)
            {
                let known: Vec<&str> = severities.iter().map(|s| s.name.as_str()).collect();
                self.problem(
                    &join_path(&path, "default_severity"),
                    format!(
                        "`{severity}` is not a configured severity; use one of {}",
                        known.join(", ")
                    ),
                );
            }
            for (index, item) in raw.checklist.iter().enumerate() {
                if item.trim().is_empty() {
                    self.problem(
                        &join_path(&path, "checklist"),
                        format!("item {} is empty", index + 1),
                    );
                }
            }
            services.push(ServiceConfig {
                name,
                description: raw.description,
                rto,
                rpo,
                checklist: raw.checklist,
                default_severity: raw.default_severity,
                policy: raw.policy,
            });
        }
        services
    }
}

/// The longest reminder accepted: no incident stays open for longer, so one set beyond it
/// could never fire.
pub const REMINDER_LIMIT: Duration = Duration::from_secs(366 * 24 * 3600);

impl Loader {
    /// A severity's reminder (`update_every`, `commander_within`): absent or "0" is none.
    fn reminder(&mut self, severity: &[String], key: &str, text: Option<&str>) -> Duration {
        let Some(text) = text else {
            return Duration::ZERO;
        };
        let path = join_path(severity, key);
        let every = self.duration(&path, text, true);
        if every > REMINDER_LIMIT {
            self.problem(
                &path,
                format!(
                    "`{}` could never fire: no incident stays open that long (the most is 366 days); use a shorter time, or \"0\" for no reminder",
                    text.trim()
                ),
            );
        }
        every
    }
}

fn default_severities() -> Vec<SeverityConfig> {
    // The runbooks' P1..P4: answered within 15 minutes .. 24 hours; the gravest incidents
    // say where they stand every 30 minutes and get a commander within 15.
    let severity =
        |name: &str, description: &str, [ack, update, commander]: [u64; 3]| SeverityConfig {
            name: name.to_owned(),
            description: description.to_owned(),
            ack_within: Duration::from_secs(ack * 60),
            review_within: default_review_within(name),
            policy: None,
            update_every: Duration::from_secs(update * 60),
            commander_within: Duration::from_secs(commander * 60),
        };
    vec![
        severity(
            "SEV1",
            "Critical: the service is down or data is being lost for many users",
            [15, 30, 15],
        ),
        severity(
            "SEV2",
            "Major: a core feature is broken or badly degraded",
            [60, 60, 30],
        ),
        severity(
            "SEV3",
            "Minor: degraded for some users, a workaround exists",
            [240, 240, 0],
        ),
        severity(
            "SEV4",
            "Low: cosmetic or internal, no user impact yet",
            [1_440, 0, 0],
        ),
    ]
}

/// When a severity names no `review_within`: the runbooks' two days for SEV1, three for SEV2,
/// a week for everything else.
fn default_review_within(name: &str) -> Duration {
    const DAY: u64 = 24 * 60 * 60;
    Duration::from_secs(match name {
        "SEV1" => 2 * DAY,
        "SEV2" => 3 * DAY,
        _ => 7 * DAY,
    })
}

#[derive(Deserialize)]
#[serde(default)]
struct RawIncidents {
    roles: Vec<String>,
    private_roles: Vec<String>,
}

/// Bot roles that see private incidents when `private_roles` is not configured: those who run
/// incidents, not every responder (issue 14).
pub const DEFAULT_PRIVATE_ROLES: [&str; 2] = ["incident_commander", "admin"];

impl Default for RawIncidents {
    fn default() -> RawIncidents {
        RawIncidents {
            roles: DEFAULT_INCIDENT_ROLES.map(str::to_owned).to_vec(),
            private_roles: DEFAULT_PRIVATE_ROLES.map(str::to_owned).to_vec(),
        }
    }
}

#[derive(Deserialize)]
struct RawSeverity {
    description: String,
    ack_within: String,
    #[serde(default)]
    review_within: Option<String>,
    #[serde(default)]
    policy: Option<String>,
    #[serde(default)]
    update_every: Option<String>,
    #[serde(default)]
    commander_within: Option<String>,
}

#[derive(Deserialize)]
struct RawService {
    #[serde(default)]
    description: String,
    rto: String,
    rpo: String,
    #[serde(default)]
    checklist: Vec<String>,
    #[serde(default)]
    default_severity: Option<String>,
    #[serde(default)]
    policy: Option<String>,
}
