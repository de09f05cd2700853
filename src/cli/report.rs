//! `warroom report [--since 30d] [--service S] [--severity S] [--json|--html]`: MTTA / MTTM /
//! MTTR and the rest of `ops::report`, printed for people, as the JSON of `GET /v1/reports`,
//! or as its self-contained HTML page with SVG charts (`export::report_html`).

use std::io::Write;

use clap::Args;
use serde_json::Value;

use crate::ops::{Ops, Principal, ReportQuery};

#[derive(Debug, Args)]
pub struct ReportArgs {
    /// How far back: 30d (default), 12h, 2w
    #[arg(long, value_name = "SPAN")]
    pub since: Option<String>,
    /// Only this service's incidents
    #[arg(long)]
    pub service: Option<String>,
    /// Only this severity's incidents
    #[arg(long)]
    pub severity: Option<String>,
    /// The JSON of `GET /v1/reports` (schema warroom.report/v1)
    #[arg(long, conflicts_with = "html")]
    pub json: bool,
    /// One self-contained HTML page with SVG charts (no scripts, nothing fetched), as
    /// `GET /v1/reports?format=html` gives: `warroom report --html > report.html`
    #[arg(long)]
    pub html: bool,
}

pub(super) async fn report(
    ops: &Ops,
    who: &Principal,
    args: ReportArgs,
    out: &mut impl Write,
) -> anyhow::Result<()> {
    let query = ReportQuery {
        since: args.since,
        service: args.service,
        severity: args.severity,
    };
    let report = ops.report(who, &query).await?;
    if args.json {
        serde_json::to_writer_pretty(&mut *out, &report)?;
        writeln!(out)?;
        return Ok(());
    }
    if args.html {
        let page = crate::export::report_html(&report).map_err(anyhow::Error::msg)?;
        out.write_all(page.as_bytes())?;
        return Ok(());
    }
    writeln!(
        out,
        "{} incidents since {} ({} drills not counted)",
        report["incidents"], report["since"], report["drills"]
    )?;
    let line = |name: &str, group: &Value| {
        let spread = |key: &str| {
            let stat = &group[key];
            format!(
                "p50 {} p90 {} mean {}",
                seconds(&stat["p50_seconds"]),
                seconds(&stat["p90_seconds"]),
                seconds(&stat["mean_seconds"])
            )
        };
        format!(
            "{name}: {} incidents · MTTA {} · MTTM {} · MTTR {} · ack deadline met {} · RTO met {}",
            group["count"],
            spread("time_to_acknowledge"),
            spread("time_to_mitigate"),
            spread("time_to_resolve"),
            rate(&group["ack_deadline"]["rate"]),
            rate(&group["rto"]["rate"]),
        )
    };
    writeln!(out, "{}", line("all", &report["overall"]))?;
    for section in ["by_severity", "by_service"] {
        if let Some(groups) = report[section].as_object() {
            for (name, group) in groups {
                writeln!(out, "{}", line(name, group))?;
            }
        }
    }
    let reviews = &report["reviews"];
    writeln!(
        out,
        "reviews: {} · done {} · on time {} · overdue {}",
        reviews["total"], reviews["done"], reviews["done_on_time"], reviews["overdue"]
    )?;
    if let Some(people) = report["pages"]["per_person"].as_object() {
        for (person, count) in people {
            writeln!(out, "pages to {person}: {count}")?;
        }
    }
    for item in report["open_action_items"].as_array().into_iter().flatten() {
        writeln!(
            out,
            "open action item {}: {} (owner {}, due {}{})",
            item["item"].as_str().unwrap_or_default(),
            item["text"].as_str().unwrap_or_default(),
            item["owner"]["name"].as_str().unwrap_or_default(),
            item["due_at"].as_str().unwrap_or_default(),
            if item["overdue"] == true {
                ", overdue"
            } else {
                ""
            }
        )?;
    }
    Ok(())
}

fn seconds(value: &Value) -> String {
    value.as_f64().map_or_else(
        || "–".to_owned(),
        |seconds| crate::domain::format_duration(std::time::Duration::from_secs_f64(seconds)),
    )
}

fn rate(value: &Value) -> String {
    value
        .as_f64()
        .map_or_else(|| "–".to_owned(), |rate| format!("{:.0}%", rate * 100.0))
}
