//! Alerts from monitoring: the senders' wire formats (Alertmanager webhook v4, Grafana
//! alerting webhook, warroom's generic JSON, the PagerDuty Events API v2 shape) read into one
//! normalized `Delivery`, and the `[alerts]` routing rules. Pure: no I/O, no clock.

mod formats;
mod routing;

use std::collections::BTreeMap;

pub use formats::{parse, parse_pagerduty};
pub use routing::{
    AlertsConfig, DEFAULT_MAX_NEW_INCIDENTS_PER_MINUTE, DEFAULT_ROUTE, Matcher, Route,
};

use crate::domain::AlertReport;
pub use crate::domain::bot_roles::ALERT_SENDER;

/// Most alerts one request may carry. Alertmanager and Grafana send one group per request,
/// and a group of more than a thousand alerts is a misconfiguration (Alertmanager's
/// `max_alerts` caps it); refusing keeps one request from holding the writer for long.
pub const MAX_ALERTS_PER_REQUEST: usize = 1_000;

/// Longest fingerprint, dedup key or group key accepted: PagerDuty allows 255 characters for
/// a dedup key; Alertmanager's group keys are label sets and can be longer.
pub const MAX_KEY_CHARS: usize = 1_024;

/// Longest label name, in bytes: Prometheus names are short identifiers.
pub const MAX_LABEL_NAME_BYTES: usize = 256;

/// Longest label value, in bytes. Labels identify an alert and are stored with each alert
/// and each of its timeline events; a value longer than this is data in the wrong place.
pub const MAX_LABEL_VALUE_BYTES: usize = 4 * 1024;

/// Most bytes of one alert's labels together (names and values).
pub const MAX_LABELS_BYTES: usize = 16 * 1024;

/// Most bytes of one annotation (a description, a runbook text) and of one alert's
/// annotations (or PagerDuty `custom_details`) together: enough for a long description,
/// small enough that a thousand-alert group stays far below the body limit once stored.
pub const MAX_ANNOTATION_BYTES: usize = 16 * 1024;
pub const MAX_ANNOTATIONS_BYTES: usize = 64 * 1024;

/// serde_json refuses bodies nested deeper than this (its recursion limit); no sender's
/// format nests more than a few levels.
pub const MAX_NESTING: usize = 128;

/// Where an alert came from; also the endpoint that took it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum AlertSource {
    Alertmanager,
    Grafana,
    Generic,
    PagerDuty,
}

impl AlertSource {
    pub const ALL: [AlertSource; 4] = [
        AlertSource::Alertmanager,
        AlertSource::Grafana,
        AlertSource::Generic,
        AlertSource::PagerDuty,
    ];

    /// The name in actors (`alert:<name>`), keys and metrics.
    pub fn as_str(self) -> &'static str {
        match self {
            AlertSource::Alertmanager => "alertmanager",
            AlertSource::Grafana => "grafana",
            AlertSource::Generic => "generic",
            AlertSource::PagerDuty => "pagerduty",
        }
    }
}

/// One request's alerts, grouped.
#[derive(Clone, Debug, PartialEq)]
pub struct Delivery {
    pub source: AlertSource,
    pub groups: Vec<AlertGroup>,
}

impl Delivery {
    pub fn alert_count(&self) -> usize {
        self.groups.iter().map(|group| group.alerts.len()).sum()
    }
}

/// Alerts that belong together: one incident per group.
#[derive(Clone, Debug, PartialEq)]
pub struct AlertGroup {
    /// The sender's grouping (Alertmanager `groupKey`, generic `group`, PagerDuty `dedup_key`).
    pub key: String,
    /// The labels that pick the route.
    pub route_labels: BTreeMap<String, String>,
    /// The title of the incident this group would open.
    pub title: String,
    pub description: String,
    pub alerts: Vec<AlertReport>,
    /// A PagerDuty `acknowledge`: acknowledge the group's incident (no alerts).
    pub acknowledge: bool,
    /// Alerts of the group the sender left out of this delivery (Alertmanager's
    /// `truncatedAlerts`, when `max_alerts` cut the group).
    pub truncated: u64,
}

/// Why a body was refused; each says what is wrong, for the `{"error": ...}` answer.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum InputError {
    #[error("the body is not valid JSON: {0}")]
    Syntax(String),
    #[error("{0}")]
    Shape(String),
    #[error(
        "the body holds {0} alerts, more than the {MAX_ALERTS_PER_REQUEST} one request may carry; send fewer per request (Alertmanager: set max_alerts on the webhook receiver)"
    )]
    TooMany(usize),
    /// A label, an annotation or details over their size cap.
    #[error("{0}")]
    TooLarge(String),
}
