//! `warroom report` and `GET /v1/reports` (SPEC §4): over the incidents opened in a span,
//! per severity and per service, how many, time to acknowledge / mitigate / resolve (p50 and
//! p90 by nearest rank, and the mean, in seconds), how often the severity's `ack_within` and
//! the service's `rto` were met, pages per person and per hour of day (UTC), reviews done on
//! time, and open action items. Drills are counted apart and left out of everything else.

use std::collections::BTreeMap;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use super::{Ops, OpsError, Permission, Principal, authorize};
use crate::domain::{Action, Incident, IncidentId, Timestamp};
use crate::store::{ReportIncident, ReportScope};

/// The schema of the JSON report.
pub const REPORT_SCHEMA: &str = "warroom.report/v1";

/// Open action items a report lists at most.
const ACTION_ITEMS_LIMIT: u32 = 1_000;

/// What a report covers.
#[derive(Clone, Debug, Default)]
pub struct ReportQuery {
    /// How far back, e.g. `30d` (default 30 days).
    pub since: Option<String>,
    pub service: Option<String>,
    pub severity: Option<String>,
}

/// `30d`, `12h`, `2w`: how far back a report looks.
pub fn parse_since(text: &str) -> Result<Duration, OpsError> {
    let trimmed = text.trim();
    let weeks = trimmed
        .strip_suffix('w')
        .and_then(|weeks| weeks.trim().parse::<u64>().ok());
    let span = match weeks {
        Some(weeks) => Ok(Duration::from_secs(weeks * 7 * 24 * 3600)),
        None => crate::config::parse_duration(trimmed),
    };
    match span {
        Ok(span) if !span.is_zero() => Ok(span),
        _ => Err(OpsError::Invalid(format!(
            "since `{trimmed}` is not a span of time; write it like 30d, 12h or 2w"
        ))),
    }
}

/// p50, p90 (nearest rank) and mean of some durations, in seconds.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Spread {
    pub n: usize,
    pub p50_seconds: Option<f64>,
    pub p90_seconds: Option<f64>,
    pub mean_seconds: Option<f64>,
}

impl Spread {
    pub fn of(mut seconds: Vec<f64>) -> Spread {
        seconds.sort_by(f64::total_cmp);
        let n = seconds.len();
        let rank = |q: f64| -> Option<f64> {
            if n == 0 {
                return None;
            }
            let index = ((q * n as f64).ceil() as usize).clamp(1, n) - 1;
            Some(seconds[index])
        };
        Spread {
            n,
            p50_seconds: rank(0.5),
            p90_seconds: rank(0.9),
            mean_seconds: (n > 0).then(|| seconds.iter().sum::<f64>() / n as f64),
        }
    }
}

/// Met and missed counts of a target, and the met rate (of those decided).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Rate {
    pub met: usize,
    pub missed: usize,
    /// met / (met + missed); none when nothing was decided yet.
    pub rate: Option<f64>,
}

impl Rate {
    fn add(&mut self, met: Option<bool>) {
        match met {
            Some(true) => self.met += 1,
            Some(false) => self.missed += 1,
            None => {}
        }
        let decided = self.met + self.missed;
        self.rate = (decided > 0).then(|| self.met as f64 / decided as f64);
    }
}

/// The figures of one group of incidents.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Group {
    pub count: usize,
    pub time_to_acknowledge: Spread,
    pub time_to_mitigate: Spread,
    pub time_to_resolve: Spread,
    pub ack_deadline: Rate,
    pub rto: Rate,
}

fn seconds(from: Timestamp, to: Option<Timestamp>) -> Option<f64> {
    to.map(|to| to.since(from).as_millis() as f64 / 1000.0)
}

impl Ops {
    /// Whether `incident` was acknowledged within its severity's `ack_within`: none while
    /// that may still happen.
    fn ack_met(&self, incident: &ReportIncident, now: Timestamp) -> Option<bool> {
        let within = self.config.severity(&incident.severity)?.ack_within;
        let deadline = incident.opened_at.plus(within);
        match incident.acknowledged_at {
            Some(at) => Some(at <= deadline),
            None if now > deadline => Some(false),
            None => None,
        }
    }

    /// Whether `incident` was resolved within its service's RTO: none without a service or
    /// while that may still happen.
    fn rto_met(&self, incident: &ReportIncident, now: Timestamp) -> Option<bool> {
        let rto = self.config.service(incident.service.as_deref()?)?.rto;
        let deadline = incident.opened_at.plus(rto);
        match incident.resolved_at {
            Some(at) => Some(at <= deadline),
            None if now > deadline => Some(false),
            None => None,
        }
    }

    fn group(&self, incidents: &[&ReportIncident], now: Timestamp) -> Group {
        let spread = |pick: fn(&ReportIncident) -> Option<Timestamp>| {
            Spread::of(
                incidents
                    .iter()
                    .filter_map(|incident| seconds(incident.opened_at, pick(incident)))
                    .collect(),
            )
        };
        let mut ack_deadline = Rate::default();
        let mut rto = Rate::default();
        for incident in incidents {
            ack_deadline.add(self.ack_met(incident, now));
            rto.add(self.rto_met(incident, now));
        }
        Group {
            count: incidents.len(),
            time_to_acknowledge: spread(|incident| incident.acknowledged_at),
            time_to_mitigate: spread(|incident| incident.mitigated_at),
            time_to_resolve: spread(|incident| incident.resolved_at),
            ack_deadline,
            rto,
        }
    }

    /// The report over incidents opened since `query.since` (default 30 days), as JSON.
    pub async fn report(&self, who: &Principal, query: &ReportQuery) -> Result<Value, OpsError> {
        authorize(who, Permission::View, None)?;
        let span = parse_since(query.since.as_deref().unwrap_or("30d"))?;
        let severity = query
            .severity
            .as_deref()
            .map(|name| self.canonical_severity(name))
            .transpose()?;
        let service = query
            .service
            .as_deref()
            .map(|name| self.canonical_service(name))
            .transpose()?;
        let now = self.clock.now();
        let since = now.minus(span);
        // Filtered, counted and stripped to the columns used in the database: only the
        // incidents' times come back, and pages and reviews come back counted.
        let scope = ReportScope {
            since,
            severity: severity.clone(),
            service: service.clone(),
        };
        let all = self.store.report_incidents(&scope).await?;
        let (drills, real): (Vec<&ReportIncident>, Vec<&ReportIncident>) =
            all.iter().partition(|incident| incident.drill);
        let mut by_severity: BTreeMap<&str, Vec<&ReportIncident>> = BTreeMap::new();
        let mut by_service: BTreeMap<&str, Vec<&ReportIncident>> = BTreeMap::new();
        for incident in &real {
            by_severity
                .entry(&incident.severity)
                .or_default()
                .push(incident);
            by_service
                .entry(incident.service.as_deref().unwrap_or("(none)"))
                .or_default()
                .push(incident);
        }
        let groups = |map: BTreeMap<&str, Vec<&ReportIncident>>| -> BTreeMap<String, Group> {
            map.into_iter()
                .map(|(name, incidents)| (name.to_owned(), self.group(&incidents, now)))
                .collect()
        };
        Ok(json!({
            "schema": REPORT_SCHEMA,
            "since": since,
            "until": now,
            "filters": {"service": service, "severity": severity},
            "incidents": real.len(),
            "drills": drills.len(),
            "overall": self.group(&real, now),
            "by_severity": groups(by_severity),
            "by_service": groups(by_service),
            "pages": self.page_load(&scope).await?,
            "reviews": self.review_figures(&scope, now).await?,
            "open_action_items": self.open_items(&real, now).await?,
        }))
    }

    async fn page_load(&self, scope: &ReportScope) -> Result<Value, OpsError> {
        let mut per_person: BTreeMap<String, u64> = BTreeMap::new();
        let mut per_hour = [0u64; 24];
        for (user, hour, pages) in self.store.report_page_load(scope).await? {
            *per_person.entry(user).or_default() += pages;
            per_hour[hour as usize % 24] += pages;
        }
        Ok(json!({"per_person": per_person, "per_hour_utc": per_hour}))
    }

    async fn review_figures(&self, scope: &ReportScope, now: Timestamp) -> Result<Value, OpsError> {
        let counts = self.store.report_review_counts(scope, now).await?;
        Ok(json!({
            "total": counts.total,
            "done": counts.done,
            "done_on_time": counts.done_on_time,
            "open": counts.total - counts.done,
            "overdue": counts.overdue,
            "on_time_rate": (counts.total > 0)
                .then(|| counts.done_on_time as f64 / counts.total as f64),
        }))
    }

    async fn open_items(
        &self,
        real: &[&ReportIncident],
        now: Timestamp,
    ) -> Result<Value, OpsError> {
        let titles: BTreeMap<IncidentId, &str> = real
            .iter()
            .map(|incident| (incident.id, incident.title.as_str()))
            .collect();
        let items: Vec<Value> = self
            .store
            .open_action_items(ACTION_ITEMS_LIMIT)
            .await?
            .into_iter()
            .filter_map(|item| Some((titles.get(&item.incident_id)?.to_owned(), item)))
            .map(|(title, item)| {
                json!({
                    "item": item.label(),
                    "incident_title": title,
                    "text": item.text,
                    "owner": item.owner,
                    "due_at": item.due_at,
                    "overdue": item.due_at < now,
                })
            })
            .collect();
        Ok(Value::Array(items))
    }
}

/// Feeds the time-to-acknowledge and time-to-resolve histograms (`/metrics`) with a
/// transition this process made; drills are left out.
pub(super) fn observe_transition(incident: &Incident, action: Action) {
    if incident.drill {
        return;
    }
    match (action, incident.acknowledged_at, incident.resolved_at) {
        (Action::Acknowledge, Some(at), _) => {
            crate::metrics::incident_acknowledged(&incident.severity, at.since(incident.opened_at));
        }
        (Action::Resolve, _, Some(at)) => {
            crate::metrics::incident_resolved(&incident.severity, at.since(incident.opened_at));
        }
        _ => {}
    }
}
