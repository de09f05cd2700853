//! Prometheus metrics: one process-wide registry and the small recording API every part
//! calls (`metrics::page_sent("pagerduty")`, `metrics::escalation_lateness(late)`, ...);
//! `GET /metrics` renders it, with incident counts read from the store at scrape time.
//!
//! Built on the `prometheus` crate because it writes the text exposition format 0.0.4 that
//! every Prometheus and `promtool check metrics` read, and uses a registry of our own (not a
//! global default that a dependency could also write to).

use std::sync::LazyLock;
use std::time::Duration;

use prometheus::{
    Encoder, Histogram, HistogramOpts, HistogramVec, IntCounter, IntCounterVec, IntGaugeVec, Opts,
    Registry, TextEncoder,
};

use crate::domain::Status;
use crate::store::IncidentCount;

/// Buckets for latencies people feel, in seconds: Discord's 3-second window and B1/B2's 20-25
/// ms targets both fall on a bucket boundary.
const LATENCY_BUCKETS: [f64; 14] = [
    0.001, 0.0025, 0.005, 0.01, 0.02, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 3.0, 10.0,
];

/// Buckets for escalation lateness, in seconds: B3 promises a p99 under one second; the long
/// tail shows a stalled engine.
const LATENESS_BUCKETS: [f64; 12] = [
    0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 2.0, 5.0, 10.0, 30.0, 60.0, 300.0,
];

struct Metrics {
    registry: Registry,
    alerts_received: IntCounterVec,
    alert_requests: IntCounterVec,
    pages_sent: IntCounterVec,
    pages_failed: IntCounterVec,
    escalation_lateness: Histogram,
    interaction_latency: Histogram,
    command_runs: IntCounterVec,
    http_requests: HistogramVec,
    ack_deadlines_missed: IntCounterVec,
    reminders: IntCounterVec,
    alert_batches_retried: IntCounter,
}

fn counter(registry: &Registry, name: &str, help: &str, labels: &[&str]) -> IntCounterVec {
    let counter = IntCounterVec::new(Opts::new(name, help), labels).expect("a valid metric");
    registry
        .register(Box::new(counter.clone()))
        .expect("registered once");
    counter
}

fn plain_counter(registry: &Registry, name: &str, help: &str) -> IntCounter {
    let counter = IntCounter::new(name, help).expect("a valid metric");
    registry
        .register(Box::new(counter.clone()))
        .expect("registered once");
    counter
}

fn histogram(registry: &Registry, name: &str, help: &str, buckets: &[f64]) -> Histogram {
    let histogram = Histogram::with_opts(HistogramOpts::new(name, help).buckets(buckets.to_vec()))
        .expect("a valid metric");
    registry
        .register(Box::new(histogram.clone()))
        .expect("registered once");
    histogram
}

static METRICS: LazyLock<Metrics> = LazyLock::new(|| {
    let registry = Registry::new();
    let http_requests = HistogramVec::new(
        HistogramOpts::new(
            "warroom_http_request_duration_seconds",
            "Time to answer an HTTP request, by route template and status code",
        )
        .buckets(LATENCY_BUCKETS.to_vec()),
        &["route", "status"],
    )
    .expect("a valid metric");
    registry
        .register(Box::new(http_requests.clone()))
        .expect("registered once");
    let metrics = Metrics {
        alerts_received: counter(
            &registry,
            "warroom_alerts_received_total",
            "Alerts received, by endpoint and result (fired: a new firing alert; resolved; duplicate: already known in that state; unmatched: a resolved notice for an alert never seen firing; rejected: a refused request, counted once)",
            &["endpoint", "result"],
        ),
        alert_requests: counter(
            &registry,
            "warroom_alert_requests_total",
            "Requests to the alert endpoints, by endpoint and HTTP status code",
            &["endpoint", "code"],
        ),
        pages_sent: counter(
            &registry,
            "warroom_pages_sent_total",
            "Pages delivered, by notifier",
            &["notifier"],
        ),
        pages_failed: counter(
            &registry,
            "warroom_pages_failed_total",
            "Pages that failed after their retries, by notifier",
            &["notifier"],
        ),
        escalation_lateness: histogram(
            &registry,
            "warroom_escalation_lateness_seconds",
            "How late an escalation step fired after its due time",
            &LATENESS_BUCKETS,
        ),
        interaction_latency: histogram(
            &registry,
            "warroom_interaction_latency_seconds",
            "Discord interaction received to its first callback sent",
            &LATENCY_BUCKETS,
        ),
        command_runs: counter(
            &registry,
            "warroom_command_runs_total",
            "Approved command runs, by final result (succeeded, failed, timed_out, denied, expired, cancelled)",
            &["result"],
        ),
        http_requests,
        ack_deadlines_missed: counter(
            &registry,
            "warroom_ack_deadlines_missed_total",
            "Incidents nobody acknowledged within their severity's ack_within, by severity",
            &["severity"],
        ),
        reminders: counter(
            &registry,
            "warroom_reminders_total",
            "Reminders given, by kind (update_every, commander_within)",
            &["reminder"],
        ),
        alert_batches_retried: plain_counter(
            &registry,
            "warroom_alert_batches_retried_total",
            "Group commits of alert deliveries that failed and were recorded again job by job (each delivery is still stored once; a steady rise means batches keep failing)",
        ),
        registry,
    };
    for source in crate::alerts::AlertSource::ALL {
        for result in ["fired", "resolved", "duplicate", "unmatched", "rejected"] {
            metrics
                .alerts_received
                .with_label_values(&[source.as_str(), result]);
        }
    }
    metrics
});

/// A page was delivered by `notifier` (its config name, or `discord`).
pub fn page_sent(notifier: &str) {
    METRICS.pages_sent.with_label_values(&[notifier]).inc();
}

/// A page to `notifier` failed after its retries.
pub fn page_failed(notifier: &str) {
    METRICS.pages_failed.with_label_values(&[notifier]).inc();
}

/// An escalation step fired `late` after it was due.
pub fn escalation_lateness(late: Duration) {
    METRICS.escalation_lateness.observe(late.as_secs_f64());
}

/// A Discord interaction got its first callback `latency` after it arrived.
pub fn interaction_latency(latency: Duration) {
    METRICS.interaction_latency.observe(latency.as_secs_f64());
}

/// A command run ended with `result` (`succeeded`, `failed`, `timed_out`, ...).
pub fn command_run(result: &str) {
    METRICS.command_runs.with_label_values(&[result]).inc();
}

/// `count` alerts of a request to `endpoint` ended as `result`.
pub fn alerts_received(endpoint: &str, result: &str, count: u64) {
    METRICS
        .alerts_received
        .with_label_values(&[endpoint, result])
        .inc_by(count);
}

/// A request to an alert endpoint was answered with `code`.
pub fn alert_request(endpoint: &str, code: u16) {
    METRICS
        .alert_requests
        .with_label_values(&[endpoint, &code.to_string()])
        .inc();
}

/// An HTTP request to `route` (its template, e.g. `/v1/incidents/{id}`) took `elapsed`.
pub fn http_request(route: &str, code: u16, elapsed: Duration) {
    METRICS
        .http_requests
        .with_label_values(&[route, &code.to_string()])
        .observe(elapsed.as_secs_f64());
}

/// An incident of `severity` passed its ack deadline unacknowledged.
pub fn ack_deadline_missed(severity: &str) {
    METRICS
        .ack_deadlines_missed
        .with_label_values(&[severity])
        .inc();
}

/// A reminder (`update_every`, `commander_within`) was given.
pub fn reminder(kind: &str) {
    METRICS.reminders.with_label_values(&[kind]).inc();
}

pub fn alert_batch_retried() {
    METRICS.alert_batches_retried.inc();
}

/// Names notifiers up front, so their counters show 0 before the first page.
pub fn describe_notifiers<'a>(names: impl IntoIterator<Item = &'a str>) {
    for name in names {
        METRICS.pages_sent.with_label_values(&[name]);
        METRICS.pages_failed.with_label_values(&[name]);
    }
}

/// The exposition text: every metric, plus `warroom_incidents` from `counts`, with a zero
/// for each status and configured severity that has no incident.
/// Who holds the Discord gateway, as `/metrics` shows it.
#[derive(Clone, Debug, Default)]
pub struct GatewayView {
    /// This process's part: `disabled`, `standby`, `connecting` or `connected`.
    pub state: &'static str,
    /// The holder the database names while its lease runs (any process), if one does.
    pub holder: Option<String>,
}

pub fn render(counts: &[IncidentCount], severities: &[String], gateway: &GatewayView) -> String {
    LazyLock::force(&INCIDENT_TIMES);
    let incidents = IntGaugeVec::new(
        Opts::new(
            "warroom_incidents",
            "Incidents in the database, by status and severity",
        ),
        &["status", "severity"],
    )
    .expect("a valid metric");
    for status in Status::ALL {
        for severity in severities {
            incidents.with_label_values(&[status.as_str(), severity]);
        }
    }
    for count in counts {
        incidents
            .with_label_values(&[&count.status, &count.severity])
            .set(count.count);
    }
    let mut families = METRICS.registry.gather();
    families.extend(prometheus::core::Collector::collect(&incidents));
    families.extend(gateway_families(gateway));
    families.sort_by(|a, b| a.name().cmp(b.name()));
    let mut text = Vec::new();
    TextEncoder::new()
        .encode(&families, &mut text)
        .expect("encoding into memory cannot fail");
    String::from_utf8(text).expect("the exposition format is UTF-8")
}

/// `warroom_discord_gateway{state}` (this process) and
/// `warroom_discord_gateway_holder{holder}` (the database's lease), each 1 for what holds.
fn gateway_families(gateway: &GatewayView) -> Vec<prometheus::proto::MetricFamily> {
    let state = IntGaugeVec::new(
        Opts::new(
            "warroom_discord_gateway",
            "This process's part in holding the Discord gateway: 1 for the state it is in",
        ),
        &["state"],
    )
    .expect("a valid metric");
    for name in ["disabled", "standby", "connecting", "connected"] {
        state
            .with_label_values(&[name])
            .set(i64::from(name == gateway.state));
    }
    let holder = IntGaugeVec::new(
        Opts::new(
            "warroom_discord_gateway_holder",
            "The process holding the Discord gateway lease (host/pid/start/n), as the database says",
        ),
        &["holder"],
    )
    .expect("a valid metric");
    if let Some(name) = &gateway.holder {
        holder.with_label_values(&[name]).set(1);
    }
    let mut families = prometheus::core::Collector::collect(&state);
    // A family without samples may not be written; with no holder there is none.
    if gateway.holder.is_some() {
        families.extend(prometheus::core::Collector::collect(&holder));
    }
    families
}

/// `warroom_check_last_success_timestamp_seconds{check}`, read from the database at each
/// scrape: when each configured scheduled check last succeeded (Unix seconds; 0 when it never
/// has), so an alert can fire on `time() - warroom_check_last_success_timestamp_seconds > X`.
pub fn render_checks(last_success: &[(String, Option<crate::domain::Timestamp>)]) -> String {
    if last_success.is_empty() {
        return String::new();
    }
    let gauge = prometheus::GaugeVec::new(
        Opts::new(
            "warroom_check_last_success_timestamp_seconds",
            "When each scheduled check last succeeded, in Unix seconds (0: never)",
        ),
        &["check"],
    )
    .expect("a valid metric");
    for (check, at) in last_success {
        gauge
            .with_label_values(&[check])
            .set(at.map_or(0.0, |at| at.as_millis() as f64 / 1000.0));
    }
    let mut text = Vec::new();
    TextEncoder::new()
        .encode(&prometheus::core::Collector::collect(&gauge), &mut text)
        .expect("encoding into memory cannot fail");
    String::from_utf8(text).expect("the exposition format is UTF-8")
}

/// The exposition format's content type.
pub const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// Buckets for how long incidents take to acknowledge and resolve, in seconds: a minute to
/// three days.
const INCIDENT_BUCKETS: [f64; 12] = [
    60.0, 300.0, 900.0, 1800.0, 3600.0, 7200.0, 14400.0, 28800.0, 43200.0, 86400.0, 172800.0,
    259200.0,
];

/// Time to acknowledge and to resolve, by severity (drills left out): observed by the process
/// that made the change, so summed over processes each incident counts once.
static INCIDENT_TIMES: LazyLock<[HistogramVec; 2]> = LazyLock::new(|| {
    let make = |name: &str, help: &str| {
        let histogram = HistogramVec::new(
            HistogramOpts::new(name, help).buckets(INCIDENT_BUCKETS.to_vec()),
            &["severity"],
        )
        .expect("a valid metric");
        METRICS
            .registry
            .register(Box::new(histogram.clone()))
            .expect("registered once");
        histogram
    };
    [
        make(
            "warroom_incident_time_to_acknowledge_seconds",
            "Opening to first acknowledgement of incidents (not drills), by severity",
        ),
        make(
            "warroom_incident_time_to_resolve_seconds",
            "Opening to resolution of incidents (not drills), by severity",
        ),
    ]
});

/// An incident of `severity` was acknowledged `after` its opening.
pub fn incident_acknowledged(severity: &str, after: Duration) {
    INCIDENT_TIMES[0]
        .with_label_values(&[severity])
        .observe(after.as_secs_f64());
}

/// An incident of `severity` was resolved `after` its opening.
pub fn incident_resolved(severity: &str, after: Duration) {
    INCIDENT_TIMES[1]
        .with_label_values(&[severity])
        .observe(after.as_secs_f64());
}
