//! The SVG timeline chart of the HTML post-mortem: how much happened when, by lane, with the
//! milestones marked. Built from counts in a fixed number of time buckets, so its memory does
//! not grow with the timeline.

use std::fmt::Write as _;

use super::Report;
use crate::domain::{EventKind, Timestamp, format_duration};

/// Columns of the chart. Enough to see the shape of a day-long incident, few enough that the
/// SVG stays small.
const BUCKETS: usize = 120;
const WIDTH: f64 = 960.0;
const LEFT: f64 = 120.0;
const LANE_HEIGHT: f64 = 36.0;
const TOP: f64 = 24.0;

struct Lane {
    name: &'static str,
    colour: &'static str,
    counts: [u32; BUCKETS],
}

pub(super) struct Chart {
    start: Timestamp,
    end: Timestamp,
    lanes: Vec<Lane>,
    milestones: Vec<(Timestamp, &'static str)>,
}

fn lane_of(kind: EventKind) -> usize {
    match kind {
        EventKind::Message
        | EventKind::MessageEdited
        | EventKind::MessageDeleted
        | EventKind::Highlighted
        | EventKind::Note => 0,
        EventKind::PageSent | EventKind::PageFailed | EventKind::Escalated => 2,
        EventKind::CommandRequested
        | EventKind::CommandApproved
        | EventKind::CommandDenied
        | EventKind::CommandExpired
        | EventKind::CommandStarted
        | EventKind::CommandFinished => 3,
        EventKind::AlertFiring
        | EventKind::AlertResolved
        | EventKind::CheckFailed
        | EventKind::CheckRecovered => 4,
        _ => 1,
    }
}

impl Chart {
    /// A chart from the incident's opening to `last` (the later of its resolution and its
    /// last event).
    pub(super) fn new(report: &Report<'_>, last: Timestamp) -> Chart {
        let incident = report.incident;
        let start = incident.opened_at;
        let end = incident
            .resolved_at
            .unwrap_or(last)
            .max(last)
            .max(start.plus(std::time::Duration::from_secs(1)));
        let lane = |name, colour| Lane {
            name,
            colour,
            counts: [0; BUCKETS],
        };
        let mut milestones = vec![(start, "opened")];
        milestones.extend(incident.acknowledged_at.map(|at| (at, "acknowledged")));
        milestones.extend(incident.mitigated_at.map(|at| (at, "mitigated")));
        milestones.extend(incident.resolved_at.map(|at| (at, "resolved")));
        Chart {
            start,
            end,
            lanes: vec![
                lane("conversation", "#4a90d9"),
                lane("status", "#8e44ad"),
                lane("paging", "#e67e22"),
                lane("commands", "#27ae60"),
                lane("alerts", "#c0392b"),
            ],
            milestones,
        }
    }

    fn x(&self, at: Timestamp) -> f64 {
        let span = self.end.since(self.start).as_millis().max(1) as f64;
        let offset = at
            .max(self.start)
            .min(self.end)
            .since(self.start)
            .as_millis() as f64;
        LEFT + (WIDTH - LEFT - 8.0) * offset / span
    }

    /// The span the chart covers, and its columns: what to count events over.
    pub(super) fn span(&self) -> (Timestamp, Timestamp, u32) {
        (self.start, self.end, BUCKETS as u32)
    }

    /// Counts `count` events of `kind` in column `bucket` (of [`Chart::span`]).
    pub(super) fn add(&mut self, kind: EventKind, bucket: usize, count: u32) {
        self.lanes[lane_of(kind)].counts[bucket.min(BUCKETS - 1)] += count;
    }

    pub(super) fn svg(&self) -> String {
        let height = TOP + LANE_HEIGHT * self.lanes.len() as f64 + 40.0;
        let column = (WIDTH - LEFT - 8.0) / BUCKETS as f64;
        let mut svg = String::new();
        let _ = write!(
            svg,
            r##"<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {WIDTH} {height}" width="100%" role="img" aria-label="Timeline chart: events over time by kind">"##
        );
        for (index, lane) in self.lanes.iter().enumerate() {
            let top = TOP + LANE_HEIGHT * index as f64;
            let most = lane.counts.iter().copied().max().unwrap_or(0).max(1) as f64;
            let total: u32 = lane.counts.iter().sum();
            let _ = write!(
                svg,
                r##"<text x="4" y="{:.1}" font-size="12" fill="#333">{} ({total})</text><line x1="{LEFT}" y1="{:.1}" x2="{:.1}" y2="{:.1}" stroke="#ddd"/>"##,
                top + LANE_HEIGHT / 2.0 + 4.0,
                lane.name,
                top + LANE_HEIGHT - 4.0,
                WIDTH - 8.0,
                top + LANE_HEIGHT - 4.0
            );
            for (bucket, count) in lane
                .counts
                .iter()
                .enumerate()
                .filter(|(_, count)| **count > 0)
            {
                let bar = ((*count as f64 / most) * (LANE_HEIGHT - 10.0)).max(2.0);
                let _ = write!(
                    svg,
                    r##"<rect x="{:.1}" y="{:.1}" width="{:.1}" height="{bar:.1}" fill="{}"><title>{count} {} event(s)</title></rect>"##,
                    LEFT + column * bucket as f64,
                    top + LANE_HEIGHT - 4.0 - bar,
                    (column - 1.0).max(1.0),
                    lane.colour,
                    lane.name
                );
            }
        }
        let bottom = TOP + LANE_HEIGHT * self.lanes.len() as f64;
        for (index, (at, label)) in self.milestones.iter().enumerate() {
            let x = self.x(*at);
            // Alternate label rows, so milestones close in time stay readable.
            let label_y = TOP - 10.0 - (index % 2) as f64 * 10.0;
            let _ = write!(
                svg,
                r##"<line x1="{x:.1}" y1="{:.1}" x2="{x:.1}" y2="{bottom:.1}" stroke="#555" stroke-dasharray="3,3"/><text x="{x:.1}" y="{:.1}" font-size="11" fill="#555" text-anchor="middle">{label}</text>"##,
                TOP - 8.0,
                label_y
            );
        }
        let _ = write!(
            svg,
            r##"<text x="{LEFT}" y="{:.1}" font-size="11" fill="#333">{}</text><text x="{:.1}" y="{:.1}" font-size="11" fill="#333" text-anchor="end">{} ({} after opening)</text></svg>"##,
            bottom + 18.0,
            self.start.human(),
            WIDTH - 8.0,
            bottom + 18.0,
            self.end.human(),
            format_duration(self.end.since(self.start))
        );
        svg
    }
}
