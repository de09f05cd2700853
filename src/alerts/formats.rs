//! The senders' wire formats, read into `Delivery`. Unknown fields are ignored in the formats
//! other programs write (they add fields between versions) and refused in warroom's own
//! generic format (there a misspelt field is a mistake worth saying).

use std::collections::BTreeMap;

use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_json::json;
use sha2::{Digest, Sha256};

use super::{
    AlertGroup, AlertSource, Delivery, InputError, MAX_ALERTS_PER_REQUEST, MAX_ANNOTATION_BYTES,
    MAX_ANNOTATIONS_BYTES, MAX_KEY_CHARS, MAX_LABEL_NAME_BYTES, MAX_LABEL_VALUE_BYTES,
    MAX_LABELS_BYTES, MAX_NESTING,
};
use crate::domain::{AlertReport, AlertState, TEXT_LIMIT, TITLE_LIMIT, Timestamp};

type Labels = BTreeMap<String, String>;

/// Reads a JSON body as `T`, naming the field at fault.
fn decode<T: DeserializeOwned>(body: &[u8]) -> Result<T, InputError> {
    check_nesting(body)?;
    let mut deserializer = serde_json::Deserializer::from_slice(body);
    let value = serde_path_to_error::deserialize::<_, T>(&mut deserializer).map_err(|error| {
        let path = error.path().to_string();
        let inner = error.into_inner();
        match inner.classify() {
            serde_json::error::Category::Data => InputError::Shape(if path == "." {
                inner.to_string()
            } else {
                format!("{path}: {inner}")
            }),
            _ => syntax(&inner),
        }
    })?;
    deserializer
        .end()
        .map_err(|error| InputError::Syntax(error.to_string()))?;
    Ok(value)
}

/// A JSON error that is not about the shape: nesting beyond serde_json's limit is valid JSON
/// and is said so, with the limit; anything else is a syntax error.
fn syntax(error: &serde_json::Error) -> InputError {
    if error.to_string().starts_with("recursion limit exceeded") {
        return InputError::Shape(format!(
            "the body nests arrays and objects deeper than {MAX_NESTING} levels (line {}, column {}); alert bodies are a few levels deep, so this is not an alert",
            error.line(),
            error.column()
        ));
    }
    InputError::Syntax(error.to_string())
}

/// Refuses a body nested deeper than `MAX_NESTING` before it is decoded, wherever the
/// nesting is (serde_json skips fields it ignores without a limit, and would name a
/// misleading error for the others).
fn check_nesting(body: &[u8]) -> Result<(), InputError> {
    let (mut depth, mut in_string, mut escaped) = (0usize, false, false);
    for (offset, byte) in body.iter().enumerate() {
        if in_string {
            match byte {
                _ if escaped => escaped = false,
                b'\\' => escaped = true,
                b'"' => in_string = false,
                _ => {}
            }
            continue;
        }
        match byte {
            b'"' => in_string = true,
            b'[' | b'{' => {
                depth += 1;
                if depth > MAX_NESTING {
                    return Err(InputError::Shape(format!(
                        "the body nests arrays and objects deeper than {MAX_NESTING} levels (at byte {offset}); alert bodies are a few levels deep, so this is not an alert"
                    )));
                }
            }
            b']' | b'}' => depth = depth.saturating_sub(1),
            _ => {}
        }
    }
    Ok(())
}

fn shape(message: impl Into<String>) -> InputError {
    InputError::Shape(message.into())
}

fn check_count(count: usize) -> Result<(), InputError> {
    if count > MAX_ALERTS_PER_REQUEST {
        return Err(InputError::TooMany(count));
    }
    Ok(())
}

fn check_key(path: &str, key: &str) -> Result<(), InputError> {
    if key.trim().is_empty() {
        return Err(shape(format!("{path}: must not be empty")));
    }
    if key.chars().count() > MAX_KEY_CHARS {
        return Err(shape(format!(
            "{path}: longer than {MAX_KEY_CHARS} characters"
        )));
    }
    // Refused, not stripped: two keys that differ only by a NUL would become one. (PostgreSQL
    // cannot store a NUL in text at all; SQLite can, so both are made to refuse alike.)
    if key.contains('\0') {
        return Err(shape(format!(
            "{path}: contains a NUL character (\\u0000); send the key without it"
        )));
    }
    Ok(())
}

/// Refuses labels over their caps, naming the label.
fn check_labels(path: &str, labels: &Labels) -> Result<(), InputError> {
    let mut total = 0;
    for (name, value) in labels {
        if name.len() > MAX_LABEL_NAME_BYTES {
            return Err(InputError::TooLarge(format!(
                "{path}: a label name of {} bytes, more than the {MAX_LABEL_NAME_BYTES} warroom takes",
                name.len()
            )));
        }
        if value.len() > MAX_LABEL_VALUE_BYTES {
            return Err(InputError::TooLarge(format!(
                "{path}.{name}: {} bytes, more than the {MAX_LABEL_VALUE_BYTES} a label value may have; put long text in an annotation",
                value.len()
            )));
        }
        total += name.len() + value.len();
    }
    if total > MAX_LABELS_BYTES {
        return Err(InputError::TooLarge(format!(
            "{path}: {total} bytes of labels, more than the {MAX_LABELS_BYTES} one alert may have"
        )));
    }
    Ok(())
}

/// Refuses annotations over their caps, naming the annotation.
fn check_annotations(path: &str, annotations: &Labels) -> Result<(), InputError> {
    let mut total = 0;
    for (name, value) in annotations {
        if value.len() > MAX_ANNOTATION_BYTES {
            return Err(InputError::TooLarge(format!(
                "{path}.{name}: {} bytes, more than the {MAX_ANNOTATION_BYTES} an annotation may have; link to long text instead",
                value.len()
            )));
        }
        total += name.len() + value.len();
    }
    check_details_size(path, total)
}

fn check_details_size(path: &str, total: usize) -> Result<(), InputError> {
    if total > MAX_ANNOTATIONS_BYTES {
        return Err(InputError::TooLarge(format!(
            "{path}: {total} bytes, more than the {MAX_ANNOTATIONS_BYTES} of annotations or details one alert may have"
        )));
    }
    Ok(())
}

/// An RFC 3339 time, or `None` for the zero time Alertmanager and Grafana send as "no end".
fn time(path: &str, text: Option<&str>) -> Result<Option<Timestamp>, InputError> {
    let Some(text) = text.map(str::trim).filter(|text| !text.is_empty()) else {
        return Ok(None);
    };
    let at = Timestamp::parse_rfc3339(text).map_err(|_| {
        shape(format!(
            "{path}: `{text}` is not an RFC 3339 time such as 2026-03-29T09:00:00Z"
        ))
    })?;
    Ok((at.as_millis() > 0).then_some(at))
}

/// Cuts text to `limit` characters and one line (for titles).
fn one_line(text: &str, limit: usize) -> String {
    let line = text.lines().map(str::trim).find(|line| !line.is_empty());
    cut(line.unwrap_or(""), limit)
}

/// Cuts text to `limit` characters, dropping NUL characters (the timeline refuses them).
fn cut(text: &str, limit: usize) -> String {
    let text = text.replace('\0', "");
    if text.chars().count() <= limit {
        return text;
    }
    let mut cut: String = text.chars().take(limit.saturating_sub(1)).collect();
    cut.push('…');
    cut
}

/// A stable identity for alerts whose sender gives none: a hash of their labels.
fn labels_fingerprint(labels: &Labels) -> String {
    let mut hash = Sha256::new();
    for (name, value) in labels {
        hash.update(name.as_bytes());
        hash.update([0]);
        hash.update(value.as_bytes());
        hash.update([0]);
    }
    hex::encode(&hash.finalize()[..8])
}

#[derive(Clone, Copy, Debug, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
enum WireStatus {
    Firing,
    Resolved,
}

impl From<WireStatus> for AlertState {
    fn from(status: WireStatus) -> AlertState {
        match status {
            WireStatus::Firing => AlertState::Firing,
            WireStatus::Resolved => AlertState::Resolved,
        }
    }
}

/// Alertmanager's webhook (version 4) and Grafana's alerting webhook, which copies it.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct GroupedWebhook {
    version: Option<String>,
    group_key: Option<String>,
    #[serde(default)]
    receiver: String,
    #[serde(default)]
    group_labels: Labels,
    #[serde(default)]
    common_labels: Labels,
    #[serde(default)]
    common_annotations: Labels,
    #[serde(default, rename = "externalURL")]
    external_url: Option<String>,
    /// Grafana's notification title.
    #[serde(default)]
    title: Option<String>,
    #[serde(default)]
    truncated_alerts: u64,
    alerts: Vec<GroupedAlert>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct GroupedAlert {
    status: WireStatus,
    labels: Labels,
    #[serde(default)]
    annotations: Labels,
    starts_at: String,
    #[serde(default)]
    ends_at: Option<String>,
    #[serde(default, rename = "generatorURL")]
    generator_url: Option<String>,
    #[serde(default)]
    fingerprint: Option<String>,
    /// Grafana only.
    #[serde(default, rename = "dashboardURL")]
    dashboard_url: Option<String>,
    #[serde(default, rename = "panelURL")]
    panel_url: Option<String>,
    #[serde(default)]
    value_string: Option<String>,
}

/// Reads the body of `source` (any but PagerDuty, see `parse_pagerduty`).
pub fn parse(source: AlertSource, body: &[u8]) -> Result<Delivery, InputError> {
    match source {
        AlertSource::Alertmanager | AlertSource::Grafana => parse_grouped(source, body),
        AlertSource::Generic => parse_generic(body),
        AlertSource::PagerDuty => parse_pagerduty(body).map(|(delivery, _)| delivery),
    }
}

fn parse_grouped(source: AlertSource, body: &[u8]) -> Result<Delivery, InputError> {
    let webhook: GroupedWebhook = decode(body)?;
    if source == AlertSource::Alertmanager {
        match webhook.version.as_deref() {
            Some("4") => {}
            Some(other) => {
                return Err(shape(format!(
                    "version: `{other}` is not supported; warroom reads Alertmanager's webhook version 4"
                )));
            }
            None => return Err(shape("missing field `version`")),
        }
    }
    check_count(webhook.alerts.len())?;
    if webhook.alerts.is_empty() {
        return Err(shape("alerts: the list is empty; nothing to record"));
    }
    let key = match webhook.group_key {
        Some(key) => {
            check_key("groupKey", &key)?;
            key
        }
        None if source == AlertSource::Alertmanager => {
            return Err(shape("missing field `groupKey`"));
        }
        // Older Grafana versions leave it out; the group labels identify the group.
        None => {
            let key = format!(
                "{}:{}",
                webhook.receiver,
                labels_fingerprint(&webhook.group_labels)
            );
            check_key("receiver", &key)?;
            key
        }
    };
    check_labels("commonLabels", &webhook.common_labels)?;
    check_labels("groupLabels", &webhook.group_labels)?;
    check_annotations("commonAnnotations", &webhook.common_annotations)?;
    let mut alerts = Vec::with_capacity(webhook.alerts.len());
    for (index, alert) in webhook.alerts.iter().enumerate() {
        let path = |field: &str| format!("alerts[{index}].{field}");
        check_labels(&path("labels"), &alert.labels)?;
        check_annotations(&path("annotations"), &alert.annotations)?;
        let starts_at = time(&path("startsAt"), Some(&alert.starts_at))?;
        let ends_at = time(&path("endsAt"), alert.ends_at.as_deref())?;
        let fingerprint = match &alert.fingerprint {
            Some(fingerprint) => {
                check_key(&path("fingerprint"), fingerprint)?;
                fingerprint.clone()
            }
            None => labels_fingerprint(&alert.labels),
        };
        let summary = alert
            .annotations
            .get("summary")
            .or_else(|| alert.annotations.get("title"))
            .or_else(|| alert.labels.get("alertname"))
            .map(|text| one_line(text, TITLE_LIMIT))
            .unwrap_or_else(|| format!("alert {fingerprint}"));
        alerts.push(AlertReport {
            fingerprint,
            starts_at,
            ends_at,
            state: alert.status.into(),
            summary,
            labels: alert.labels.clone(),
            details: json!({
                "annotations": alert.annotations,
                "generator_url": alert.generator_url,
                "dashboard_url": alert.dashboard_url,
                "panel_url": alert.panel_url,
                "value": alert.value_string,
            }),
        });
    }
    let first = &webhook.alerts[0];
    let route_labels = if webhook.common_labels.is_empty() {
        first.labels.clone()
    } else {
        webhook.common_labels.clone()
    };
    let title = webhook
        .common_annotations
        .get("summary")
        .or_else(|| first.annotations.get("summary"))
        .or_else(|| webhook.common_labels.get("alertname"))
        .or_else(|| first.labels.get("alertname"))
        .or(webhook.title.as_ref())
        .map(|text| one_line(text, TITLE_LIMIT))
        .filter(|title| !title.is_empty())
        .unwrap_or_else(|| format!("Alerts from {}", source.as_str()));
    let mut description = webhook
        .common_annotations
        .get("description")
        .or_else(|| first.annotations.get("description"))
        .cloned()
        .unwrap_or_default();
    if !webhook.group_labels.is_empty() {
        let labels: Vec<String> = webhook
            .group_labels
            .iter()
            .map(|(name, value)| format!("{name}={value}"))
            .collect();
        description.push_str(&format!("\n\nGroup: {}", labels.join(", ")));
    }
    if let Some(url) = webhook.external_url.filter(|url| !url.is_empty()) {
        description.push_str(&format!("\nFrom: {url}"));
    }
    if webhook.truncated_alerts > 0 {
        description.push_str(&format!(
            "\n{} alerts of the group were left out by the sender (max_alerts)",
            webhook.truncated_alerts
        ));
    }
    Ok(Delivery {
        source,
        groups: vec![AlertGroup {
            key,
            route_labels,
            title,
            description: cut(description.trim(), TEXT_LIMIT),
            alerts,
            acknowledge: false,
            truncated: webhook.truncated_alerts,
        }],
    })
}

/// warroom's own format, documented in the README.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct GenericBody {
    alerts: Vec<GenericAlert>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct GenericAlert {
    id: String,
    status: WireStatus,
    #[serde(default)]
    title: Option<String>,
    #[serde(default)]
    group: Option<String>,
    #[serde(default)]
    labels: Labels,
    #[serde(default)]
    description: Option<String>,
    #[serde(default)]
    starts_at: Option<String>,
    #[serde(default)]
    ends_at: Option<String>,
    #[serde(default)]
    url: Option<String>,
}

fn parse_generic(body: &[u8]) -> Result<Delivery, InputError> {
    let body: GenericBody = decode(body)?;
    check_count(body.alerts.len())?;
    if body.alerts.is_empty() {
        return Err(shape("alerts: the list is empty; nothing to record"));
    }
    let mut groups: Vec<AlertGroup> = Vec::new();
    for (index, alert) in body.alerts.into_iter().enumerate() {
        let path = |field: &str| format!("alerts[{index}].{field}");
        check_key(&path("id"), &alert.id)?;
        let title = alert
            .title
            .as_deref()
            .map(|title| one_line(title, TITLE_LIMIT))
            .filter(|title| !title.is_empty());
        if alert.status == WireStatus::Firing && title.is_none() {
            return Err(shape(format!(
                "{}: a firing alert needs a title (one line saying what is wrong)",
                path("title")
            )));
        }
        let group_key = alert.group.clone().unwrap_or_else(|| alert.id.clone());
        check_key(&path("group"), &group_key)?;
        check_labels(&path("labels"), &alert.labels)?;
        if let Some(description) = &alert.description
            && description.len() > MAX_ANNOTATION_BYTES
        {
            return Err(InputError::TooLarge(format!(
                "{}: {} bytes, more than the {MAX_ANNOTATION_BYTES} a description may have; link to long text instead",
                path("description"),
                description.len()
            )));
        }
        let report = AlertReport {
            fingerprint: alert.id.clone(),
            starts_at: time(&path("starts_at"), alert.starts_at.as_deref())?,
            ends_at: time(&path("ends_at"), alert.ends_at.as_deref())?,
            state: alert.status.into(),
            summary: title.clone().unwrap_or_else(|| alert.id.clone()),
            labels: alert.labels.clone(),
            details: json!({"description": alert.description, "url": alert.url}),
        };
        match groups.iter_mut().find(|group| group.key == group_key) {
            Some(group) => group.alerts.push(report),
            None => groups.push(AlertGroup {
                key: group_key,
                route_labels: alert.labels,
                title: title.unwrap_or_else(|| alert.id.clone()),
                description: cut(
                    alert.description.as_deref().unwrap_or("").trim(),
                    TEXT_LIMIT,
                ),
                alerts: vec![report],
                acknowledge: false,
                truncated: 0,
            }),
        }
    }
    Ok(Delivery {
        source: AlertSource::Generic,
        groups,
    })
}

/// The PagerDuty Events API v2 request.
#[derive(Deserialize)]
struct PagerDutyEvent {
    #[serde(default)]
    routing_key: Option<String>,
    event_action: PagerDutyAction,
    #[serde(default)]
    dedup_key: Option<String>,
    #[serde(default)]
    payload: Option<PagerDutyPayload>,
    #[serde(default)]
    client: Option<String>,
    #[serde(default)]
    client_url: Option<String>,
    #[serde(default)]
    links: Vec<serde_json::Value>,
}

#[derive(Clone, Copy, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
enum PagerDutyAction {
    Trigger,
    Acknowledge,
    Resolve,
}

#[derive(Deserialize)]
struct PagerDutyPayload {
    summary: String,
    source: String,
    severity: PagerDutySeverity,
    #[serde(default)]
    timestamp: Option<String>,
    #[serde(default)]
    component: Option<String>,
    #[serde(default)]
    group: Option<String>,
    #[serde(default)]
    class: Option<String>,
    #[serde(default)]
    custom_details: Option<serde_json::Value>,
}

#[derive(Clone, Copy, Deserialize)]
#[serde(rename_all = "lowercase")]
enum PagerDutySeverity {
    Critical,
    Error,
    Warning,
    Info,
}

impl PagerDutySeverity {
    fn as_str(self) -> &'static str {
        match self {
            PagerDutySeverity::Critical => "critical",
            PagerDutySeverity::Error => "error",
            PagerDutySeverity::Warning => "warning",
            PagerDutySeverity::Info => "info",
        }
    }
}

/// PagerDuty limits a summary to 1024 characters.
const PAGERDUTY_SUMMARY_LIMIT: usize = 1_024;

/// PagerDuty limits a dedup key to 255 characters.
const PAGERDUTY_DEDUP_KEY_LIMIT: usize = 255;

/// Reads a PagerDuty-shaped event; also returns its `routing_key`, which senders use as
/// their credential (they send no Authorization header).
pub fn parse_pagerduty(body: &[u8]) -> Result<(Delivery, Option<String>), InputError> {
    let event: PagerDutyEvent = decode(body)?;
    let dedup_key = match (&event.dedup_key, event.event_action, &event.payload) {
        (Some(key), _, _) => {
            check_key("dedup_key", key)?;
            if key.chars().count() > PAGERDUTY_DEDUP_KEY_LIMIT {
                return Err(shape(format!(
                    "dedup_key: longer than {PAGERDUTY_DEDUP_KEY_LIMIT} characters"
                )));
            }
            key.clone()
        }
        // PagerDuty makes one up; warroom derives it from the payload, so a resent trigger
        // finds the same alert.
        (None, PagerDutyAction::Trigger, Some(payload)) => {
            let mut hash = Sha256::new();
            for part in [
                Some(payload.summary.as_str()),
                Some(payload.source.as_str()),
                Some(payload.severity.as_str()),
                payload.component.as_deref(),
                payload.group.as_deref(),
                payload.class.as_deref(),
            ] {
                hash.update(part.unwrap_or("").as_bytes());
                hash.update([0]);
            }
            format!("warroom-{}", hex::encode(&hash.finalize()[..16]))
        }
        (None, PagerDutyAction::Trigger, None) => {
            return Err(shape(
                "payload: a trigger needs a payload with summary, source and severity",
            ));
        }
        (None, _, _) => {
            return Err(shape(
                "dedup_key: acknowledge and resolve need the dedup_key of the trigger",
            ));
        }
    };
    let routing_key = event.routing_key.clone();
    let mut labels = Labels::new();
    let mut group = AlertGroup {
        key: dedup_key.clone(),
        route_labels: Labels::new(),
        title: String::new(),
        description: String::new(),
        alerts: Vec::new(),
        acknowledge: false,
        truncated: 0,
    };
    match event.event_action {
        PagerDutyAction::Trigger => {
            let Some(payload) = event.payload else {
                return Err(shape(
                    "payload: a trigger needs a payload with summary, source and severity",
                ));
            };
            if payload.summary.trim().is_empty() {
                return Err(shape("payload.summary: must not be empty"));
            }
            if payload.summary.chars().count() > PAGERDUTY_SUMMARY_LIMIT {
                return Err(shape(format!(
                    "payload.summary: longer than {PAGERDUTY_SUMMARY_LIMIT} characters"
                )));
            }
            if let Some(details) = &payload.custom_details {
                let size = serde_json::to_string(details).map_or(0, |text| text.len());
                check_details_size("payload.custom_details", size)?;
            }
            labels.insert("severity".to_owned(), payload.severity.as_str().to_owned());
            labels.insert("source".to_owned(), payload.source.clone());
            for (name, value) in [
                ("component", &payload.component),
                ("group", &payload.group),
                ("class", &payload.class),
            ] {
                if let Some(value) = value {
                    labels.insert(name.to_owned(), value.clone());
                }
            }
            group.title = one_line(&payload.summary, TITLE_LIMIT);
            group.description = cut(
                &format!(
                    "{}\n\nSource: {}",
                    payload.summary.trim(),
                    payload.source.trim()
                ),
                TEXT_LIMIT,
            );
            group.alerts.push(AlertReport {
                fingerprint: dedup_key,
                starts_at: time("payload.timestamp", payload.timestamp.as_deref())?,
                ends_at: None,
                state: AlertState::Firing,
                summary: group.title.clone(),
                labels: labels.clone(),
                details: json!({
                    "custom_details": payload.custom_details,
                    "client": event.client,
                    "client_url": event.client_url,
                    "links": event.links,
                }),
            });
        }
        PagerDutyAction::Resolve => group.alerts.push(AlertReport {
            fingerprint: dedup_key.clone(),
            starts_at: None,
            ends_at: None,
            state: AlertState::Resolved,
            summary: dedup_key,
            labels: Labels::new(),
            details: json!({}),
        }),
        PagerDutyAction::Acknowledge => group.acknowledge = true,
    }
    check_labels("payload", &labels)?;
    group.route_labels = labels;
    Ok((
        Delivery {
            source: AlertSource::PagerDuty,
            groups: vec![group],
        },
        routing_key,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_name_the_field_at_fault() {
        let error = parse(
            AlertSource::Generic,
            br#"{"alerts": [{"id": 5, "status": "firing"}]}"#,
        )
        .unwrap_err();
        assert!(
            error.to_string().starts_with("alerts[0].id: invalid type"),
            "{error}"
        );
        let error = parse(
            AlertSource::Generic,
            br#"{"alerts": [{"id": "a", "stauts": "firing"}]}"#,
        )
        .unwrap_err();
        assert!(
            error.to_string().contains("unknown field `stauts`"),
            "{error}"
        );
        let error = parse(AlertSource::Alertmanager, b"{\"version\": \"4\",").unwrap_err();
        assert!(matches!(error, InputError::Syntax(_)), "{error}");
    }

    #[test]
    fn a_resolved_pagerduty_event_without_a_timestamp_refers_to_the_latest_instance() {
        let (delivery, key) = parse_pagerduty(
            br#"{"routing_key": "k", "event_action": "resolve", "dedup_key": "disk-db1"}"#,
        )
        .unwrap();
        assert_eq!(key.as_deref(), Some("k"));
        assert_eq!(delivery.groups[0].alerts[0].state, AlertState::Resolved);
        assert_eq!(delivery.groups[0].alerts[0].starts_at, None);
    }

    #[test]
    fn alertmanagers_zero_end_time_means_no_end() {
        assert_eq!(time("x", Some("0001-01-01T00:00:00Z")).unwrap(), None);
    }
}
