//! Maintenance windows (SPEC §1): a service (or an alert route) under maintenance until a
//! time. Its alerts are stored and counted but open no incident and page nobody; incidents
//! opened by hand still work. A window ends on its own at its end, or early when ended.
//!
//! The one place alert ingestion asks is [`Ops::held_by_maintenance`], called where a group
//! would open an incident.

use std::time::Duration;

use super::{Ops, OpsError, Principal};
use crate::alerts::{AlertGroup, AlertSource, Route};
use crate::config::bot_roles::INCIDENT_COMMANDER;
use crate::domain::{MaintenanceWindow, NewMaintenance, Timestamp};

/// The longest window: a week. Longer is a service switched off, which is a config change.
pub const MAX_MAINTENANCE: Duration = Duration::from_secs(7 * 24 * 3600);

/// The longest reason, one line in `/maintenance list`.
const MAX_REASON_CHARS: usize = 300;

/// A window asked for.
#[derive(Clone, Debug, Default)]
pub struct MaintenanceRequest {
    /// A configured service, or `route:<name>` for an alert route.
    pub target: String,
    /// How long (`2h`), counted from `start_at`.
    pub duration: String,
    pub reason: String,
    /// When it starts (RFC 3339); now when `None`.
    pub start_at: Option<String>,
}

impl Ops {
    /// Starts (or plans) a maintenance window: incident commanders and admins.
    pub async fn start_maintenance(
        &self,
        who: &Principal,
        request: MaintenanceRequest,
    ) -> Result<MaintenanceWindow, OpsError> {
        require_commander(who, "start maintenance windows")?;
        let now = self.clock.now();
        let (service, route) = self.maintenance_target(&request.target)?;
        let duration = crate::config::parse_duration(&request.duration)
            .map_err(|error| OpsError::Invalid(format!("for: {error}")))?;
        if duration.is_zero() || duration > MAX_MAINTENANCE {
            return Err(OpsError::Invalid(
                "for: a window lasts more than zero and at most 7d".to_owned(),
            ));
        }
        let starts_at = match request.start_at.as_deref().map(str::trim) {
            None | Some("") => now,
            Some(text) if text.eq_ignore_ascii_case("now") => now,
            Some(text) => Timestamp::parse_rfc3339(text).map_err(|_| {
                OpsError::Invalid(format!(
                    "start_at: `{text}` is not an RFC 3339 time; write it like 2026-03-29T22:00:00+02:00"
                ))
            })?,
        };
        if starts_at < now.minus(Duration::from_secs(60)) {
            return Err(OpsError::Invalid(
                "start_at is in the past; leave it out to start now".to_owned(),
            ));
        }
        let reason = request.reason.trim();
        if reason.is_empty() || reason.chars().count() > MAX_REASON_CHARS || reason.contains('\n') {
            return Err(OpsError::Invalid(format!(
                "reason: say in one line of at most {MAX_REASON_CHARS} characters why (it shows in /maintenance list)"
            )));
        }
        let starts_at = starts_at.max(now);
        let window = self
            .store
            .create_maintenance(NewMaintenance {
                service,
                route,
                reason: reason.to_owned(),
                starts_at,
                ends_at: starts_at.plus(duration),
                created_by: who.actor.clone(),
                created_at: now,
            })
            .await?;
        self.announce_run();
        Ok(window)
    }

    /// Ends a window early (or cancels a planned one).
    pub async fn end_maintenance(
        &self,
        who: &Principal,
        id: i64,
    ) -> Result<MaintenanceWindow, OpsError> {
        require_commander(who, "end maintenance windows")?;
        let window = self
            .store
            .end_maintenance(id, self.clock.now())
            .await?
            .ok_or_else(|| {
                OpsError::Unknown(format!(
                    "there is no running or planned maintenance window {id}; `/maintenance list` shows them"
                ))
            })?;
        self.announce_run();
        Ok(window)
    }

    /// Windows running or planned. Anyone may look.
    pub async fn maintenance_windows(&self) -> Result<Vec<MaintenanceWindow>, OpsError> {
        Ok(self.store.maintenance_windows(self.clock.now()).await?)
    }

    /// Whether a group routed by `route` falls under a running window; if so, its alerts are
    /// kept in the window (counted once each) and the window is returned: the group opens no
    /// incident and pages nobody.
    pub(crate) async fn held_by_maintenance(
        &self,
        source: AlertSource,
        group: &AlertGroup,
        route: &Route,
    ) -> Result<Option<MaintenanceWindow>, OpsError> {
        let now = self.clock.now();
        let windows = self.store.maintenance_windows(now).await?;
        let Some(window) = windows.into_iter().find(|window| {
            window.active_at(now)
                && (window.route.as_deref() == Some(route.name.as_str())
                    || (window.service.is_some() && window.service == route.service))
        }) else {
            return Ok(None);
        };
        self.store
            .hold_alerts(window.id, source.as_str(), &group.key, &group.alerts, now)
            .await?;
        tracing::info!(window = window.id, group = %group.key, route = %route.name, "alerts held back by a maintenance window");
        Ok(Some(window))
    }

    /// `api` (a configured service) or `route:db` (a configured route).
    fn maintenance_target(
        &self,
        target: &str,
    ) -> Result<(Option<String>, Option<String>), OpsError> {
        let target = target.trim();
        if let Some(route) = target.strip_prefix("route:") {
            return match self.config.alerts.route_named(route.trim()) {
                Some(route) => Ok((None, Some(route.name.clone()))),
                None => Err(OpsError::Invalid(format!(
                    "there is no alert route `{}`; name one from [alerts] routes",
                    route.trim()
                ))),
            };
        }
        match self.config.service(target) {
            Some(service) => Ok((Some(service.name.clone()), None)),
            None => {
                let known: Vec<&str> = self
                    .config
                    .services
                    .iter()
                    .map(|s| s.name.as_str())
                    .collect();
                Err(OpsError::Invalid(format!(
                    "there is no service `{target}`; use one of {} (or route:<name> for an alert route)",
                    if known.is_empty() {
                        "none configured".to_owned()
                    } else {
                        known.join(", ")
                    }
                )))
            }
        }
    }
}

fn require_commander(who: &Principal, action: &'static str) -> Result<(), OpsError> {
    if who.holds(INCIDENT_COMMANDER) {
        Ok(())
    } else {
        Err(OpsError::Forbidden {
            role: INCIDENT_COMMANDER.to_owned(),
            action,
        })
    }
}
