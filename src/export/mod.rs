//! Post-mortem exports (SPEC §6): Markdown, JSON and a self-contained HTML page with an SVG
//! chart (`markdown.rs`, `json.rs`, `html.rs` + `chart.rs`), written while paging through the
//! timeline so memory does not grow with the number of events.

mod chart;
mod followup;
mod html;
mod json;
mod markdown;
mod recovery;
mod report_html;

pub use report_html::report_html;

use std::collections::BTreeMap;
use std::io::Write;
use std::str::FromStr;
use std::time::Duration;

use crate::config::{Config, ServiceConfig, SeverityConfig};
use crate::domain::{Actor, Event, EventKind, Incident, RecoveryPoint, Timestamp};
use crate::store::{Store, StoreError};

/// Events fetched per page. Large enough to keep round trips few, small enough that a page
/// of long messages stays a few megabytes at most: memory is bounded by one page, whatever
/// the length of the timeline.
const PAGE: u32 = 2_000;

pub const JSON_SCHEMA: &str = "warroom.postmortem/v1";

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    Markdown,
    Json,
    /// A self-contained page with an SVG timeline chart.
    Html,
}

impl Format {
    pub fn as_str(self) -> &'static str {
        match self {
            Format::Markdown => "markdown",
            Format::Json => "json",
            Format::Html => "html",
        }
    }

    pub fn file_extension(self) -> &'static str {
        match self {
            Format::Markdown => "md",
            Format::Json => "json",
            Format::Html => "html",
        }
    }
}

impl FromStr for Format {
    type Err = String;

    fn from_str(text: &str) -> Result<Format, String> {
        match text.trim().to_ascii_lowercase().as_str() {
            "markdown" | "md" => Ok(Format::Markdown),
            "json" => Ok(Format::Json),
            "html" => Ok(Format::Html),
            other => Err(format!(
                "`{other}` is not an export format; use markdown, json or html"
            )),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ExportError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("writing the export failed: {0}")]
    Io(#[from] std::io::Error),
}

/// What an export covers besides the events: the incident and the configuration it refers to.
#[derive(Clone, Debug)]
pub struct Report<'a> {
    pub incident: &'a Incident,
    pub severity: Option<&'a SeverityConfig>,
    pub service: Option<&'a ServiceConfig>,
    pub generated_at: Timestamp,
    /// The latest recovery point recorded (`/incident rpo`), judged against the service's RPO.
    pub recovery_point: Option<RecoveryPoint>,
}

impl<'a> Report<'a> {
    pub fn new(config: &'a Config, incident: &'a Incident, generated_at: Timestamp) -> Report<'a> {
        Report {
            incident,
            severity: config.severity(&incident.severity),
            service: incident
                .service
                .as_deref()
                .and_then(|name| config.service(name)),
            generated_at,
            recovery_point: None,
        }
    }

    pub fn with_recovery_point(mut self, point: Option<RecoveryPoint>) -> Report<'a> {
        self.recovery_point = point;
        self
    }

    /// The recovery point objective against the data lost (incident start − the time the
    /// data was restored from); `Open` while no recovery point is recorded.
    pub fn rpo(&self) -> Option<Objective> {
        let target = self.service?.rpo;
        Some(match &self.recovery_point {
            Some(point) => {
                let lost = point.data_loss(self.incident.opened_at);
                Objective {
                    target,
                    actual: Some(lost),
                    verdict: if lost <= target {
                        Verdict::Met
                    } else {
                        Verdict::Missed
                    },
                }
            }
            None => Objective {
                target,
                actual: None,
                verdict: Verdict::Open,
            },
        })
    }

    /// The "Actual" of the RPO row in words: the data lost and what it was restored from.
    pub fn rpo_actual(&self) -> Option<String> {
        let point = self.recovery_point.as_ref()?;
        Some(match point.restored_from {
            Some(from) => format!(
                "{} of data lost (restored from {}, recorded by {})",
                crate::domain::format_duration(point.data_loss(self.incident.opened_at)),
                from.human(),
                point.by.name
            ),
            None => format!("no data lost (recorded by {})", point.by.name),
        })
    }

    /// The recovery time objective against the actual time to resolve.
    pub fn rto(&self) -> Option<Objective> {
        let target = self.service?.rto;
        let incident = self.incident;
        Some(match incident.resolved_at {
            Some(resolved) => {
                let actual = resolved.since(incident.opened_at);
                Objective {
                    target,
                    actual: Some(actual),
                    verdict: if actual <= target {
                        Verdict::Met
                    } else {
                        Verdict::Missed
                    },
                }
            }
            None => Objective {
                target,
                actual: None,
                verdict: if self.generated_at.since(incident.opened_at) > target {
                    Verdict::Missed
                } else {
                    Verdict::Open
                },
            },
        })
    }

    pub fn key_times(&self) -> KeyTimes {
        let opened = self.incident.opened_at;
        let since = |at: Option<Timestamp>| at.map(|at| at.since(opened));
        KeyTimes {
            to_acknowledge: since(self.incident.acknowledged_at),
            to_mitigate: since(self.incident.mitigated_at),
            to_resolve: since(self.incident.resolved_at),
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Objective {
    pub target: Duration,
    pub actual: Option<Duration>,
    pub verdict: Verdict,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verdict {
    Met,
    Missed,
    /// Not resolved yet, and still within the objective.
    Open,
}

impl Verdict {
    pub fn as_str(self) -> &'static str {
        match self {
            Verdict::Met => "met",
            Verdict::Missed => "missed",
            Verdict::Open => "open",
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct KeyTimes {
    pub to_acknowledge: Option<Duration>,
    pub to_mitigate: Option<Duration>,
    pub to_resolve: Option<Duration>,
}

/// Someone who took part, in order of first appearance.
#[derive(Clone, Debug)]
pub struct Participant {
    pub actor: Actor,
    pub first_seen: Timestamp,
    pub events: u64,
}

/// One checklist item of the service, and whether the timeline records it as checked.
#[derive(Clone, Debug)]
pub struct ChecklistItem {
    pub item: String,
    pub checked: Option<(Actor, Timestamp)>,
}

/// What is gathered while the timeline streams past: bounded by the number of people and
/// checklist items, not by the number of events.
#[derive(Debug, Default)]
pub struct Gathered {
    pub participants: Vec<Participant>,
    index: BTreeMap<String, usize>,
    pub checklist: Vec<ChecklistItem>,
    /// Runs of approved commands that finished, in order.
    pub commands: Vec<CommandRun>,
    /// Requests that never ran (refused or expired), counted.
    pub commands_not_run: u64,
    /// Pages sent or failed and escalations, in order.
    pub pages: Vec<Event>,
    pub events: u64,
    /// The incident's review, once resolved (read before the export ends).
    pub review: Option<crate::domain::Review>,
    /// The incident's action items, by number.
    pub action_items: Vec<crate::domain::ActionItem>,
}

/// A finished run, as the post-mortem lists it (from its `command_finished` event).
#[derive(Clone, Debug, serde::Serialize)]
pub struct CommandRun {
    pub run: serde_json::Value,
    pub command: String,
    /// The validated parameter values as the run recorded them: anything that looks like a
    /// secret was already `[redacted]` when the request was bound, so none is shown here.
    pub params: BTreeMap<String, String>,
    pub dry_run: bool,
    pub state: String,
    pub requested_by: Option<Actor>,
    pub approvers: Vec<Actor>,
    pub exit_code: Option<i64>,
    pub signal: Option<String>,
    pub duration_ms: Option<u64>,
    pub finished_at: Timestamp,
    pub output_sha256: Option<String>,
    pub note: Option<String>,
}

impl CommandRun {
    fn from_event(event: &Event) -> CommandRun {
        let data = &event.data;
        let text = |key: &str| {
            data.get(key)
                .and_then(|value| value.as_str())
                .map(str::to_owned)
        };
        let actor = |value: &serde_json::Value| serde_json::from_value::<Actor>(value.clone()).ok();
        CommandRun {
            run: data.get("run").cloned().unwrap_or(serde_json::Value::Null),
            command: text("command").unwrap_or_default(),
            params: data
                .get("values")
                .and_then(|values| values.as_object())
                .map(|values| {
                    values
                        .iter()
                        .map(|(name, value)| {
                            let value = value
                                .as_str()
                                .map_or_else(|| value.to_string(), str::to_owned);
                            (name.clone(), value)
                        })
                        .collect()
                })
                .unwrap_or_default(),
            dry_run: data
                .get("dry_run")
                .and_then(|dry| dry.as_bool())
                .unwrap_or(false),
            state: text("state").unwrap_or_default(),
            requested_by: data.get("requested_by").and_then(actor),
            approvers: data
                .get("approvals")
                .and_then(|approvals| approvals.as_array())
                .map(|approvals| {
                    approvals
                        .iter()
                        .filter_map(|approval| approval.get("by").and_then(actor))
                        .collect()
                })
                .unwrap_or_default(),
            exit_code: data.get("exit_code").and_then(|code| code.as_i64()),
            signal: text("signal"),
            duration_ms: data.get("duration_ms").and_then(|ms| ms.as_u64()),
            finished_at: event.at,
            output_sha256: text("output_sha256"),
            note: text("reason"),
        }
    }

    /// How it ended, in words: `exit 0`, `ended by SIGKILL`, or why it never ran.
    pub fn outcome(&self) -> String {
        match (self.exit_code, &self.signal, &self.note) {
            (Some(code), _, _) => format!("exit {code}"),
            (None, Some(signal), _) => format!("ended by {signal}"),
            (None, None, Some(note)) => note.clone(),
            (None, None, None) => self.state.clone(),
        }
    }
}

impl Gathered {
    fn new(report: &Report<'_>) -> Gathered {
        Gathered {
            checklist: report
                .service
                .map(|service| {
                    service
                        .checklist
                        .iter()
                        .map(|item| ChecklistItem {
                            item: item.clone(),
                            checked: None,
                        })
                        .collect()
                })
                .unwrap_or_default(),
            ..Gathered::default()
        }
    }

    fn observe(&mut self, event: &Event) {
        self.events += 1;
        if !event.actor.is_system() {
            match self.index.get(&event.actor.id) {
                Some(&position) => self.participants[position].events += 1,
                None => {
                    self.index
                        .insert(event.actor.id.clone(), self.participants.len());
                    self.participants.push(Participant {
                        actor: event.actor.clone(),
                        first_seen: event.at,
                        events: 1,
                    });
                }
            }
        }
        match event.kind {
            EventKind::CommandFinished => self.commands.push(CommandRun::from_event(event)),
            EventKind::CommandDenied | EventKind::CommandExpired => self.commands_not_run += 1,
            EventKind::PageSent | EventKind::PageFailed | EventKind::Escalated => {
                self.pages.push(event.clone())
            }
            _ => {}
        }
        if let EventKind::ChecklistChecked | EventKind::ChecklistUnchecked = event.kind
            && let Some(item) = event.data.get("item").and_then(|item| item.as_str())
            && let Some(entry) = self.checklist.iter_mut().find(|entry| entry.item == item)
        {
            entry.checked = (event.kind == EventKind::ChecklistChecked)
                .then(|| (event.actor.clone(), event.at));
        }
    }
}

/// Renders one format. Called once at the start, once per event in order, once at the end.
trait Renderer {
    fn begin(&mut self, out: &mut dyn Write, report: &Report<'_>) -> std::io::Result<()>;
    fn event(&mut self, out: &mut dyn Write, event: &Event) -> std::io::Result<()>;
    fn finish(
        &mut self,
        out: &mut dyn Write,
        report: &Report<'_>,
        gathered: &Gathered,
    ) -> std::io::Result<()>;
}

/// The HTML chart sits above the timeline, so it is built first, from counts per time bucket
/// that the database adds up (no second read of the timeline).
async fn chart(store: &dyn Store, report: &Report<'_>) -> Result<chart::Chart, ExportError> {
    let id = report.incident.id;
    let last = store
        .timeline_page(id, report.incident.last_seq - 1, 1)
        .await?
        .first()
        .map_or(report.incident.opened_at, |event| event.at);
    let mut chart = chart::Chart::new(report, last);
    let (from, to, buckets) = chart.span();
    for (kind, bucket, count) in store.timeline_histogram(id, from, to, buckets).await? {
        chart.add(kind, bucket, count);
    }
    Ok(chart)
}

/// Writes the post-mortem of `report.incident` in `format` to `out`; returns what it gathered.
pub async fn write(
    store: &dyn Store,
    report: &Report<'_>,
    format: Format,
    out: &mut (dyn Write + Send),
) -> Result<Gathered, ExportError> {
    let mut renderer: Box<dyn Renderer + Send> = match format {
        Format::Markdown => Box::new(markdown::Markdown),
        Format::Json => Box::new(json::Json::default()),
        Format::Html => Box::new(html::Html {
            chart: chart(store, report).await?,
        }),
    };
    let mut gathered = Gathered::new(report);
    renderer.begin(out, report)?;
    let mut after = 0;
    loop {
        let page = store.timeline_page(report.incident.id, after, PAGE).await?;
        let Some(last) = page.last() else { break };
        after = last.seq;
        for event in &page {
            gathered.observe(event);
            renderer.event(out, event)?;
        }
    }
    gathered.review = store.review(report.incident.id).await?;
    gathered.action_items = store.action_items(report.incident.id).await?;
    renderer.finish(out, report, &gathered)?;
    out.flush()?;
    Ok(gathered)
}
