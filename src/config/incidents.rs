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

    pub(super) fn build_incident_roles(&mut self, raw: Option<toml::Value>) -> Vec<String> {
        let raw: RawIncidents = self.section("incidents", raw);
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
        raw.roles
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
            severities.push(SeverityConfig {
                name,
                description: raw.description,
                ack_within,
                review_within,
                policy: raw.policy,
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

fn default_severities() -> Vec<SeverityConfig> {
    let severity = |name: &str, description: &str, minutes: u64| SeverityConfig {
        name: name.to_owned(),
        description: description.to_owned(),
        ack_within: Duration::from_secs(minutes * 60),
        review_within: default_review_within(name),
        policy: None,
    };
    vec![
        severity(
            "SEV1",
            "Critical: the service is down or data is being lost for many users",
            15,
        ),
        severity(
            "SEV2",
            "Major: a core feature is broken or badly degraded",
            60,
        ),
        severity(
            "SEV3",
            "Minor: degraded for some users, a workaround exists",
            240,
        ),
        severity(
            "SEV4",
            "Low: cosmetic or internal, no user impact yet",
            1_440,
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
}

impl Default for RawIncidents {
    fn default() -> RawIncidents {
        RawIncidents {
            roles: DEFAULT_INCIDENT_ROLES.map(str::to_owned).to_vec(),
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
