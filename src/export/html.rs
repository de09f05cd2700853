//! The HTML post-mortem: one self-contained page (no scripts, no outside resources) with an
//! SVG timeline chart, for reading in a browser or attaching to a review.

use std::io::{self, Write};

use super::chart::Chart;
use super::{Gathered, Renderer, Report, Verdict};
use crate::domain::{Event, Timestamp, format_duration};

pub(super) struct Html {
    /// Built by a first pass over the timeline, before the page starts.
    pub chart: Chart,
}

/// Text made safe in HTML content and attribute values.
pub(super) struct Escaped<'a>(pub(super) &'a str);

impl std::fmt::Display for Escaped<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let text = self.0;
        let mut plain_from = 0;
        for (index, byte) in text.bytes().enumerate() {
            let replacement = match byte {
                b'&' => "&amp;",
                b'<' => "&lt;",
                b'>' => "&gt;",
                b'"' => "&quot;",
                b'\'' => "&#39;",
                _ => continue,
            };
            f.write_str(&text[plain_from..index])?;
            f.write_str(replacement)?;
            plain_from = index + 1;
        }
        f.write_str(&text[plain_from..])
    }
}

const STYLE: &str = "body{font-family:system-ui,-apple-system,Segoe UI,sans-serif;max-width:1100px;margin:2em auto;padding:0 1em;color:#222}\
table{border-collapse:collapse;width:100%;margin:.5em 0 1.5em}th,td{border:1px solid #ddd;padding:4px 8px;text-align:left;vertical-align:top}\
th{background:#f4f4f4}td.n{text-align:right;white-space:nowrap}td.t{white-space:nowrap}.met{color:#1e8449;font-weight:bold}\
.missed{color:#c0392b;font-weight:bold}.todo{color:#777;font-style:italic}td.text{white-space:pre-wrap;word-break:break-word}";

fn milestone(
    out: &mut dyn Write,
    name: &str,
    at: Option<Timestamp>,
    since: Option<std::time::Duration>,
) -> io::Result<()> {
    match (at, since) {
        (Some(at), Some(since)) => writeln!(
            out,
            "<tr><td>{name}</td><td class=t>{}</td><td>{}</td></tr>",
            at.human(),
            format_duration(since)
        ),
        _ => writeln!(
            out,
            "<tr><td>{name}</td><td colspan=2>not reached</td></tr>"
        ),
    }
}

impl Renderer for Html {
    fn begin(&mut self, out: &mut dyn Write, report: &Report<'_>) -> io::Result<()> {
        let incident = report.incident;
        writeln!(
            out,
            "<!DOCTYPE html>\n<html lang=en><head><meta charset=utf-8><meta name=viewport content=\"width=device-width,initial-scale=1\">"
        )?;
        writeln!(
            out,
            "<title>{}: {}</title><style>{STYLE}</style></head><body>",
            incident.id,
            Escaped(&incident.title)
        )?;
        writeln!(
            out,
            "<h1>{}: {}</h1>",
            incident.id,
            Escaped(&incident.title)
        )?;
        writeln!(
            out,
            "<p class=todo>Post-mortem exported by warroom on {}. All times are UTC.</p>",
            report.generated_at.human()
        )?;
        writeln!(out, "<h2>Summary</h2><table>")?;
        let severity = match report.severity {
            Some(severity) => format!(
                "{} ({})",
                Escaped(&severity.name),
                Escaped(&severity.description)
            ),
            None => Escaped(&incident.severity).to_string(),
        };
        let service = match (report.service, &incident.service) {
            (Some(service), _) => format!(
                "{} ({})",
                Escaped(&service.name),
                Escaped(&service.description)
            ),
            (None, Some(name)) => Escaped(name).to_string(),
            (None, None) => "none recorded".to_owned(),
        };
        let rows = [
            ("Severity", severity),
            ("Status", incident.status.to_string()),
            ("Service", service),
            (
                "Commander",
                incident
                    .commander()
                    .map(|actor| Escaped(&actor.to_string()).to_string())
                    .unwrap_or_else(|| "none assigned".to_owned()),
            ),
            (
                "Opened by",
                format!(
                    "{} via {}",
                    Escaped(&incident.opened_by.to_string()),
                    incident.source.as_str()
                ),
            ),
            (
                "Drill",
                if incident.drill { "yes" } else { "no" }.to_owned(),
            ),
        ];
        for (name, value) in rows {
            writeln!(out, "<tr><th>{name}</th><td>{value}</td></tr>")?;
        }
        if !incident.description.is_empty() {
            writeln!(
                out,
                "<tr><th>Description</th><td class=text>{}</td></tr>",
                Escaped(&incident.description)
            )?;
        }
        writeln!(out, "</table>")?;

        writeln!(out, "<h2>Impact and objectives</h2>")?;
        match (report.service, report.rto()) {
            (Some(service), Some(rto)) => {
                let actual = rto
                    .actual
                    .map(|actual| format!("{} to resolve", format_duration(actual)))
                    .unwrap_or_else(|| "not resolved yet".to_owned());
                let class = match rto.verdict {
                    Verdict::Met => "met",
                    Verdict::Missed => "missed",
                    Verdict::Open => "todo",
                };
                writeln!(
                    out,
                    "<table><tr><th>Objective</th><th>Target</th><th>Actual</th><th>Result</th></tr>"
                )?;
                writeln!(
                    out,
                    "<tr><td>Recovery time (RTO)</td><td>{}</td><td>{actual}</td><td class={class}>{}</td></tr>",
                    format_duration(rto.target),
                    rto.verdict.as_str()
                )?;
                match (report.rpo(), report.rpo_actual()) {
                    (Some(rpo), Some(actual)) => writeln!(
                        out,
                        "<tr><td>Recovery point (RPO)</td><td>{}</td><td>{}</td><td class={}>{}</td></tr></table>",
                        format_duration(service.rpo),
                        Escaped(&actual),
                        rpo.verdict.as_str(),
                        rpo.verdict.as_str()
                    )?,
                    _ => writeln!(
                        out,
                        "<tr><td>Recovery point (RPO)</td><td>{}</td><td class=todo>not recorded: <code>/incident rpo</code> says what was restored from</td><td class=todo>to assess</td></tr></table>",
                        format_duration(service.rpo)
                    )?,
                }
            }
            _ => writeln!(
                out,
                "<p>No service was recorded for this incident, so there are no recovery objectives to compare against.</p>"
            )?,
        }

        let times = report.key_times();
        writeln!(
            out,
            "<h2>Key times</h2><table><tr><th>Milestone</th><th>Time (UTC)</th><th>Since opened</th></tr>"
        )?;
        writeln!(
            out,
            "<tr><td>Opened</td><td class=t>{}</td><td></td></tr>",
            incident.opened_at.human()
        )?;
        milestone(
            out,
            "Acknowledged",
            incident.acknowledged_at,
            times.to_acknowledge,
        )?;
        milestone(out, "Mitigated", incident.mitigated_at, times.to_mitigate)?;
        milestone(out, "Resolved", incident.resolved_at, times.to_resolve)?;
        writeln!(out, "</table>")?;

        writeln!(out, "<h2>Timeline</h2>")?;
        writeln!(out, "{}", self.chart.svg())?;
        writeln!(
            out,
            "<table><tr><th>#</th><th>Time (UTC)</th><th>Event</th><th>Who</th><th>What</th></tr>"
        )
    }

    fn event(&mut self, out: &mut dyn Write, event: &Event) -> io::Result<()> {
        writeln!(
            out,
            "<tr><td class=n>{}</td><td class=t>{}</td><td>{}</td><td>{}</td><td class=text>{}</td></tr>",
            event.seq,
            event.at.human(),
            event.kind,
            Escaped(&event.actor.name),
            Escaped(&event.text)
        )
    }

    fn finish(
        &mut self,
        out: &mut dyn Write,
        report: &Report<'_>,
        gathered: &Gathered,
    ) -> io::Result<()> {
        writeln!(out, "</table>")?;
        writeln!(out, "<h2>Pages and escalations</h2>")?;
        if gathered.pages.is_empty() {
            writeln!(out, "<p>Nobody was paged for this incident.</p>")?;
        } else {
            writeln!(
                out,
                "<table><tr><th>Time (UTC)</th><th>Event</th><th>What</th></tr>"
            )?;
            for page in &gathered.pages {
                writeln!(
                    out,
                    "<tr><td class=t>{}</td><td>{}</td><td class=text>{}</td></tr>",
                    page.at.human(),
                    page.kind,
                    Escaped(&page.text)
                )?;
            }
            writeln!(out, "</table>")?;
        }
        super::recovery::html(out, &super::recovery::RecoveryLog::new(report, gathered))?;
        writeln!(
            out,
            "<h2>Participants</h2><table><tr><th>Who</th><th>Id</th><th>Events</th><th>First seen (UTC)</th></tr>"
        )?;
        for participant in &gathered.participants {
            writeln!(
                out,
                "<tr><td>{}</td><td>{}</td><td class=n>{}</td><td class=t>{}</td></tr>",
                Escaped(&participant.actor.name),
                Escaped(&participant.actor.id),
                participant.events,
                participant.first_seen.human()
            )?;
        }
        writeln!(out, "</table>")?;
        for heading in ["Root cause", "Lessons learned"] {
            writeln!(
                out,
                "<h2>{heading}</h2><p class=todo>To be written by the team.</p>"
            )?;
        }
        super::followup::html(out, gathered)?;
        writeln!(out, "</body></html>")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_cannot_become_markup() {
        assert_eq!(
            Escaped("<script>alert('x')</script> & \"q\"").to_string(),
            "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt; &amp; &quot;q&quot;"
        );
    }
}
