//! The `[heartbeats.NAME]` section: jobs that must check in (`every`, `grace`, `service`,
//! `severity`, `mitigate_on_recovery`), read into `domain::Heartbeat`.

use serde::Deserialize;

use super::load::{Loader, is_entry_name, join_path};
use crate::domain::{Heartbeat, ServiceConfig, SeverityConfig};

/// The shortest `every` accepted: a job checking in more often than this is a liveness
/// probe, better served by `/readyz`, and each beat is a database write.
const MIN_EVERY: std::time::Duration = std::time::Duration::from_secs(10);

#[derive(Deserialize)]
struct RawHeartbeat {
    every: String,
    #[serde(default = "default_grace")]
    grace: String,
    #[serde(default)]
    service: Option<String>,
    #[serde(default)]
    severity: Option<String>,
    #[serde(default = "default_true")]
    mitigate_on_recovery: bool,
}

fn default_grace() -> String {
    "0s".to_owned()
}

fn default_true() -> bool {
    true
}

impl Loader {
    pub(super) fn build_heartbeats(
        &mut self,
        raw: Option<toml::Value>,
        severities: &[SeverityConfig],
        services: &[ServiceConfig],
    ) -> Vec<Heartbeat> {
        let mut heartbeats = Vec::new();
        for (name, value) in self.entries("heartbeats", raw) {
            let path = vec!["heartbeats".to_owned(), name.clone()];
            if !is_entry_name(&name) || name.len() > 64 {
                self.problem(
                    &path,
                    "a heartbeat name is up to 64 letters, digits, `-` and `_` (it goes in the URL POST /v1/heartbeats/NAME)",
                );
            }
            let Some(raw) = self.decode::<RawHeartbeat>(&path, value) else {
                continue;
            };
            let every = self.duration(&join_path(&path, "every"), &raw.every, false);
            if !every.is_zero() && every < MIN_EVERY {
                self.problem(
                    &join_path(&path, "every"),
                    "is at least 10s; a job that checks in more often needs no heartbeat",
                );
            }
            let grace = self.duration(&join_path(&path, "grace"), &raw.grace, true);
            let service = raw
                .service
                .map(|service| service.trim().to_owned())
                .filter(|service| !service.is_empty());
            let service = match service {
                Some(name) => match services.iter().find(|s| s.name.eq_ignore_ascii_case(&name)) {
                    Some(found) => Some(found.name.clone()),
                    None => {
                        let known: Vec<&str> = services.iter().map(|s| s.name.as_str()).collect();
                        self.problem(
                            &join_path(&path, "service"),
                            format!(
                                "`{name}` is not a configured service; use one of {} or leave it out",
                                known.join(", ")
                            ),
                        );
                        None
                    }
                },
                None => None,
            };
            let severity = match raw.severity {
                Some(name) => match severities
                    .iter()
                    .find(|s| s.name.eq_ignore_ascii_case(&name))
                {
                    Some(found) => found.name.clone(),
                    None => {
                        let known: Vec<&str> = severities.iter().map(|s| s.name.as_str()).collect();
                        self.problem(
                            &join_path(&path, "severity"),
                            format!(
                                "`{name}` is not a configured severity; use one of {}",
                                known.join(", ")
                            ),
                        );
                        String::new()
                    }
                },
                // The service's default, else the least severe: a silent job is a warning
                // until someone says it is worse.
                None => service
                    .as_deref()
                    .and_then(|name| services.iter().find(|s| s.name == name))
                    .and_then(|service| service.default_severity.clone())
                    .or_else(|| severities.last().map(|s| s.name.clone()))
                    .unwrap_or_default(),
            };
            heartbeats.push(Heartbeat {
                name,
                every,
                grace,
                service,
                severity,
                mitigate_on_recovery: raw.mitigate_on_recovery,
            });
        }
        heartbeats
    }
}
