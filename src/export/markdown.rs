//! The Markdown post-mortem: readable as-is in git, GitHub and Confluence.

use std::io::{self, Write};

use super::{Gathered, Renderer, Report, Verdict};
use crate::domain::{Event, Timestamp, format_duration};

pub(super) struct Markdown;

impl Renderer for Markdown {
    fn begin(&mut self, out: &mut dyn Write, report: &Report<'_>) -> io::Result<()> {
        let incident = report.incident;
        writeln!(out, "# {}: {}", incident.id, cell(&incident.title))?;
        writeln!(out)?;
        writeln!(
            out,
            "_Post-mortem exported by warroom on {}. All times are UTC._",
            report.generated_at.to_human()
        )?;
        writeln!(out)?;

        writeln!(out, "## Summary")?;
        writeln!(out)?;
        writeln!(out, "| | |")?;
        writeln!(out, "|---|---|")?;
        writeln!(out, "| Incident | {} |", incident.id)?;
        writeln!(out, "| Title | {} |", cell(&incident.title))?;
        let severity = match report.severity {
            Some(severity) => format!("{} ({})", severity.name, cell(&severity.description)),
            None => cell(&incident.severity),
        };
        writeln!(out, "| Severity | {severity} |")?;
        writeln!(out, "| Status | {} |", incident.status)?;
        let service = match (report.service, &incident.service) {
            (Some(service), _) => format!("{} ({})", service.name, cell(&service.description)),
            (None, Some(name)) => cell(name),
            (None, None) => "none recorded".to_owned(),
        };
        writeln!(out, "| Service | {service} |")?;
        let commander = incident
            .commander()
            .map(|actor| cell(&actor.to_string()))
            .unwrap_or_else(|| "none assigned".to_owned());
        writeln!(out, "| Commander | {commander} |")?;
        for (role, holder) in incident
            .roles
            .iter()
            .filter(|(role, _)| *role != "commander")
        {
            writeln!(
                out,
                "| Role: {} | {} |",
                cell(role),
                cell(&holder.to_string())
            )?;
        }
        writeln!(
            out,
            "| Opened by | {} via {} |",
            cell(&incident.opened_by.to_string()),
            incident.source.as_str()
        )?;
        writeln!(
            out,
            "| Drill | {} |",
            if incident.drill { "yes" } else { "no" }
        )?;
        if !incident.description.is_empty() {
            writeln!(out, "| Description | {} |", cell(&incident.description))?;
        }
        writeln!(out)?;

        writeln!(out, "## Impact and objectives")?;
        writeln!(out)?;
        match report.service {
            None => writeln!(
                out,
                "No service was recorded for this incident, so there are no recovery objectives to compare against."
            )?,
            Some(service) => {
                writeln!(out, "| Objective | Target | Actual | Result |")?;
                writeln!(out, "|---|---|---|---|")?;
                if let Some(rto) = report.rto() {
                    let actual = match rto.actual {
                        Some(actual) => format!("{} to resolve", format_duration(actual)),
                        None => "not resolved yet".to_owned(),
                    };
                    let verdict = match (rto.verdict, rto.actual) {
                        (Verdict::Missed, None) => "missed (still unresolved)",
                        (verdict, _) => verdict.as_str(),
                    };
                    writeln!(
                        out,
                        "| Recovery time (RTO) | {} | {actual} | **{verdict}** |",
                        format_duration(rto.target)
                    )?;
                }
                match (report.rpo(), report.rpo_actual()) {
                    (Some(rpo), Some(actual)) => writeln!(
                        out,
                        "| Recovery point (RPO) | {} | {} | **{}** |",
                        format_duration(service.rpo),
                        inline(&actual),
                        rpo.verdict.as_str()
                    )?,
                    _ => writeln!(
                        out,
                        "| Recovery point (RPO) | {} | not recorded: `/incident rpo` says what was restored from | to assess |",
                        format_duration(service.rpo)
                    )?,
                }
            }
        }
        writeln!(out)?;

        writeln!(out, "## Key times")?;
        writeln!(out)?;
        let times = report.key_times();
        writeln!(out, "| Milestone | Time (UTC) | Since opened |")?;
        writeln!(out, "|---|---|---|")?;
        writeln!(out, "| Opened | {} | |", incident.opened_at.to_human())?;
        milestone(
            out,
            "Acknowledged",
            incident.acknowledged_at,
            times.to_acknowledge,
            "time to acknowledge",
        )?;
        milestone(
            out,
            "Mitigated",
            incident.mitigated_at,
            times.to_mitigate,
            "time to mitigate",
        )?;
        milestone(
            out,
            "Resolved",
            incident.resolved_at,
            times.to_resolve,
            "time to resolve",
        )?;
        writeln!(out)?;

        writeln!(out, "## Timeline")?;
        writeln!(out)?;
        writeln!(out, "| # | Time (UTC) | Event | Who | What |")?;
        writeln!(out, "|---:|---|---|---|---|")
    }

    fn event(&mut self, out: &mut dyn Write, event: &Event) -> io::Result<()> {
        let actor = &event.actor;
        if actor.name.is_empty() || actor.name == actor.id {
            writeln!(
                out,
                "| {} | {} | {} | {} | {} |",
                event.seq,
                event.at.human(),
                event.kind,
                Cell(&actor.id),
                Cell(&event.text)
            )
        } else {
            writeln!(
                out,
                "| {} | {} | {} | {} ({}) | {} |",
                event.seq,
                event.at.human(),
                event.kind,
                Cell(&actor.name),
                Cell(&actor.id),
                Cell(&event.text)
            )
        }
    }

    fn finish(
        &mut self,
        out: &mut dyn Write,
        report: &Report<'_>,
        gathered: &Gathered,
    ) -> io::Result<()> {
        writeln!(out)?;
        writeln!(out, "## Pages and escalations")?;
        writeln!(out)?;
        if gathered.pages.is_empty() {
            writeln!(out, "Nobody was paged for this incident.")?;
        } else {
            writeln!(out, "| Time (UTC) | Event | What |")?;
            writeln!(out, "|---|---|---|")?;
            for page in &gathered.pages {
                writeln!(
                    out,
                    "| {} | {} | {} |",
                    page.at.human(),
                    page.kind,
                    Cell(&page.text)
                )?;
            }
        }
        writeln!(out)?;

        super::recovery::markdown(out, &super::recovery::RecoveryLog::new(report, gathered))?;

        writeln!(out, "## Participants")?;
        writeln!(out)?;
        if gathered.participants.is_empty() {
            writeln!(out, "Nobody but warroom itself appears in the timeline.")?;
        } else {
            writeln!(out, "| Who | Id | Events | First seen (UTC) |")?;
            writeln!(out, "|---|---|---:|---|")?;
            for participant in &gathered.participants {
                writeln!(
                    out,
                    "| {} | {} | {} | {} |",
                    cell(&participant.actor.name),
                    cell(&participant.actor.id),
                    participant.events,
                    participant.first_seen.to_human()
                )?;
            }
        }
        writeln!(out)?;

        for heading in ["Root cause", "Lessons learned"] {
            writeln!(out, "## {heading}")?;
            writeln!(out)?;
            writeln!(out, "_To be written by the team._")?;
            writeln!(out)?;
        }
        super::followup::markdown(out, gathered)
    }
}

fn milestone(
    out: &mut dyn Write,
    name: &str,
    at: Option<Timestamp>,
    since_opened: Option<std::time::Duration>,
    what: &str,
) -> io::Result<()> {
    match (at, since_opened) {
        (Some(at), Some(since)) => writeln!(
            out,
            "| {name} | {} | {} ({what}) |",
            at.to_human(),
            format_duration(since)
        ),
        _ => writeln!(out, "| {name} | not reached | |"),
    }
}

/// Text made safe for one Markdown table cell: pipes escaped, line breaks kept as `<br>`,
/// and HTML neutralised so a message cannot inject markup into the rendered page.
struct Cell<'a>(&'a str);

impl std::fmt::Display for Cell<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let text = self.0;
        let mut plain_from = 0;
        for (index, byte) in text.bytes().enumerate() {
            let replacement = match byte {
                b'|' => "\\|",
                b'<' => "&lt;",
                b'>' => "&gt;",
                b'&' => "&amp;",
                b'\r' => "",
                b'\n' => "<br>",
                _ => continue,
            };
            f.write_str(&text[plain_from..index])?;
            f.write_str(replacement)?;
            plain_from = index + 1;
        }
        f.write_str(&text[plain_from..])
    }
}

pub(super) fn cell(text: &str) -> String {
    Cell(text).to_string()
}

/// Text for a list item: one line, HTML neutralised.
pub(super) fn inline(text: &str) -> String {
    cell(text).replace("<br>", " ").replace("\\|", "|")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cells_cannot_break_the_table_or_inject_html() {
        assert_eq!(
            cell("a | b\nc <script>&"),
            "a \\| b<br>c &lt;script&gt;&amp;"
        );
    }
}
