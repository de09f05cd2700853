//! The HTML report (`warroom report --html`, `GET /v1/reports` as `text/html`): the JSON of
//! `ops::report` (`warroom.report/v1`) drawn as one self-contained page — inline CSS, inline
//! SVG bar charts, no scripts, fonts or anything fetched from elsewhere — so it can be mailed,
//! attached to a review or opened from disk. Every text that people wrote (action items,
//! names, services) goes through [`Escaped`].

use std::fmt::Write as _;

use serde::Deserialize;
use serde_json::Value;

use super::html::Escaped;
use crate::domain::{Timestamp, format_duration};
use crate::ops::{Group, Rate, Spread};

/// Bar colours, each used by one kind of bar and nowhere else on the page (no text, border
/// or background has them), so a screenshot shows where the bars are drawn.
pub const P50_COLOUR: &str = "#2f6db5";
pub const P90_COLOUR: &str = "#e8893a";
pub const HOUR_COLOUR: &str = "#2a9d69";
pub const PERSON_COLOUR: &str = "#7d4cb8";
pub const ACK_COLOUR: &str = "#c23b4e";
pub const RTO_COLOUR: &str = "#1597a6";
pub const REVIEW_COLOUR: &str = "#b58b00";

/// People the on-call load chart names at most; the rest are counted in a line below it, so
/// a span with hundreds of responders still gives a readable chart.
const PEOPLE_SHOWN: usize = 30;

/// What every empty chart says instead of drawing nothing.
pub const NO_INCIDENTS: &str = "no incidents in this span";

const STYLE: &str = "body{font-family:system-ui,-apple-system,Segoe UI,sans-serif;max-width:1100px;margin:1.5em auto;padding:0 1em;color:#222}\
h1{margin:.2em 0}h2{margin:1.2em 0 .4em;font-size:1.2em}p{margin:.3em 0}\
table{border-collapse:collapse;width:100%;margin:.5em 0 1em;font-size:.9em}th,td{border:1px solid #ddd;padding:3px 6px;text-align:left;vertical-align:top}\
th{background:#f4f4f4}td.n{text-align:right;white-space:nowrap}td.r{text-align:right}td.text{white-space:pre-wrap;word-break:break-word}\
.note{color:#666}.empty{color:#666;font-style:italic;border:1px dashed #ccc;padding:1em;text-align:center}\
.overdue{color:#a00;font-weight:bold}.grid{display:grid;grid-template-columns:repeat(3,1fr);gap:1em}\
figure{margin:0}figcaption{font-weight:bold;margin:.2em 0}\
figure.chart>figcaption{font-size:1.2em;margin:1.2em 0 .4em}svg{display:block;max-width:100%}";

/// The report's JSON, as this page reads it.
#[derive(Deserialize)]
struct Report {
    since: Timestamp,
    until: Timestamp,
    filters: Filters,
    incidents: usize,
    drills: usize,
    overall: Group,
    by_severity: Vec<(String, Group)>,
    by_service: Vec<(String, Group)>,
    pages: Pages,
    reviews: Reviews,
    open_action_items: Vec<Item>,
}

#[derive(Deserialize)]
struct Filters {
    service: Option<String>,
    severity: Option<String>,
}

#[derive(Deserialize)]
struct Pages {
    per_person: Vec<(String, usize)>,
    per_hour_utc: Vec<usize>,
}

#[derive(Deserialize)]
struct Reviews {
    total: usize,
    done: usize,
    done_on_time: usize,
    open: usize,
    overdue: usize,
    on_time_rate: Option<f64>,
}

#[derive(Deserialize)]
struct Item {
    item: String,
    #[serde(default)]
    incident_title: Option<String>,
    text: String,
    owner: crate::domain::Actor,
    due_at: Timestamp,
    overdue: bool,
}

/// Maps of the JSON (`{"SEV1": {...}}`) read as ordered lists of pairs, as the report wrote
/// them.
fn pairs<T: serde::de::DeserializeOwned>(value: &Value) -> Result<Vec<(String, T)>, String> {
    let Some(map) = value.as_object() else {
        return Err("expected an object".to_owned());
    };
    map.iter()
        .map(|(key, value)| {
            T::deserialize(value)
                .map(|parsed| (key.clone(), parsed))
                .map_err(|error| format!("{key}: {error}"))
        })
        .collect()
}

impl Report {
    fn read(json: &Value) -> Result<Report, String> {
        // serde reads a JSON object as a list of pairs only through a map; do those by hand.
        let mut plain = json.clone();
        for key in ["by_severity", "by_service"] {
            plain[key] = Value::Array(Vec::new());
        }
        plain["pages"]["per_person"] = Value::Array(Vec::new());
        let mut report: Report =
            serde_json::from_value(plain).map_err(|error| error.to_string())?;
        report.by_severity = pairs(&json["by_severity"])?;
        report.by_service = pairs(&json["by_service"])?;
        report.pages.per_person = pairs(&json["pages"]["per_person"])?;
        Ok(report)
    }
}

/// The page for `report` (the JSON of `Ops::report`). Fails only when `report` is not that
/// JSON, which is a bug, not bad input.
pub fn report_html(report: &Value) -> Result<String, String> {
    let report = Report::read(report)
        .map_err(|error| format!("the report is not warroom.report/v1 JSON: {error}"))?;
    let mut page = String::with_capacity(32 * 1024);
    render(&mut page, &report);
    Ok(page)
}

fn render(out: &mut String, report: &Report) {
    let span = format!("{} to {}", report.since.human(), report.until.human());
    let _ = write!(
        out,
        "<!DOCTYPE html>\n<html lang=en><head><meta charset=utf-8><meta name=viewport content=\"width=device-width,initial-scale=1\">\
         <title>warroom report: {span}</title><style>{STYLE}</style></head><body>\n<h1>Incident report</h1>\n"
    );
    let mut filters = String::new();
    if let Some(severity) = &report.filters.severity {
        let _ = write!(filters, " · severity {}", Escaped(severity));
    }
    if let Some(service) = &report.filters.service {
        let _ = write!(filters, " · service {}", Escaped(service));
    }
    let _ = writeln!(
        out,
        "<p class=note>Incidents opened from {span}{filters}. All times are UTC; p50 and p90 are nearest-rank percentiles.</p>"
    );
    let _ = writeln!(
        out,
        "<p><strong id=incidents>{} incident{}</strong> · <span id=drills>{} drill{} counted apart</span> (drills are left out of every figure below)</p>",
        report.incidents,
        plural(report.incidents),
        report.drills,
        plural(report.drills)
    );

    out.push_str(
        "<h2>Time to acknowledge, mitigate and resolve, by severity</h2>\n<div class=grid>\n",
    );
    let measures: [(&str, &str, &str, Pick); 3] = [
        ("MTTA", "acknowledge", "acknowledged", |group| {
            &group.time_to_acknowledge
        }),
        ("MTTM", "mitigate", "mitigated", |group| {
            &group.time_to_mitigate
        }),
        ("MTTR", "resolve", "resolved", |group| {
            &group.time_to_resolve
        }),
    ];
    for (name, step, verb, pick) in measures {
        let caption = format!("{name}: time to {step} (p50, p90)");
        let chart = if report.incidents == 0 {
            None
        } else if report
            .by_severity
            .iter()
            .all(|(_, group)| pick(group).n == 0)
        {
            Some(Err(format!("none {verb} in this span")))
        } else {
            Some(Ok(latency_chart(name, &caption, &report.by_severity, pick)))
        };
        figure(out, "", &caption, chart);
    }
    out.push_str("</div>\n");

    let caption = "Targets met: ack deadline, RTO and reviews on time";
    let chart = (report.incidents > 0).then(|| Ok(rates_chart(caption, report)));
    figure(out, " class=chart", caption, chart);

    let caption = "Pages to people per hour of day (UTC)";
    let total_pages: usize = report.pages.per_hour_utc.iter().sum();
    let chart = (report.incidents > 0).then(|| {
        if total_pages == 0 {
            Err("no pages to people in this span".to_owned())
        } else {
            Ok(hours_chart(caption, &report.pages.per_hour_utc))
        }
    });
    figure(out, " class=chart", caption, chart);

    let caption = "Pages per person (on-call load)";
    let chart = (report.incidents > 0).then(|| {
        if report.pages.per_person.is_empty() {
            Err("no pages to people in this span".to_owned())
        } else {
            Ok(people_chart(caption, &report.pages.per_person))
        }
    });
    figure(out, " class=chart", caption, chart);

    figures_table(out, report);
    reviews_table(out, &report.reviews);
    items_table(out, &report.open_action_items);
    out.push_str("</body></html>\n");
}

/// Which spread of a group a latency chart draws.
type Pick = fn(&Group) -> &Spread;

fn plural(count: usize) -> &'static str {
    if count == 1 { "" } else { "s" }
}

/// A chart with its caption, or what stands in for it: [`NO_INCIDENTS`] when the span has
/// none (`None`), or why there is nothing to draw (`Err`).
fn figure(out: &mut String, class: &str, caption: &str, chart: Option<Result<String, String>>) {
    let _ = write!(
        out,
        "<figure{class}><figcaption>{}</figcaption>",
        Escaped(caption)
    );
    match chart {
        Some(Ok(svg)) => out.push_str(&svg),
        Some(Err(why)) => {
            let _ = write!(out, "<p class=empty>{}</p>", Escaped(&why));
        }
        None => {
            let _ = write!(out, "<p class=empty>{NO_INCIDENTS}</p>");
        }
    }
    out.push_str("</figure>\n");
}

/// Durations in few characters, for axis ticks and bar labels: `20m`, `1h 5m`, `45s`.
fn short_duration(seconds: f64) -> String {
    let total = seconds.round() as u64;
    let (days, hours, minutes, secs) = (
        total / 86_400,
        total % 86_400 / 3_600,
        total % 3_600 / 60,
        total % 60,
    );
    let two = |big: u64, big_unit: &str, small: u64, small_unit: &str| {
        if small == 0 {
            format!("{big}{big_unit}")
        } else {
            format!("{big}{big_unit} {small}{small_unit}")
        }
    };
    if days > 0 {
        two(days, "d", hours, "h")
    } else if hours > 0 {
        two(hours, "h", minutes, "m")
    } else if minutes > 0 {
        two(minutes, "m", secs, "s")
    } else {
        format!("{secs}s")
    }
}

fn long_duration(seconds: Option<f64>) -> String {
    seconds.map_or_else(
        || "–".to_owned(),
        |seconds| format_duration(std::time::Duration::from_secs_f64(seconds.max(0.0))),
    )
}

fn percent(rate: Option<f64>) -> String {
    rate.map_or_else(|| "–".to_owned(), |rate| format!("{:.0}%", rate * 100.0))
}

/// The top of a value axis and its tick step: at most five steps, on round values.
fn axis(most: f64, steps: &[f64]) -> (f64, f64) {
    let most = most.max(f64::MIN_POSITIVE);
    let step = steps
        .iter()
        .copied()
        .find(|step| most / step <= 5.0)
        .unwrap_or_else(|| {
            let last = *steps.last().unwrap_or(&1.0);
            last * (most / last / 5.0).ceil()
        });
    (step * (most / step).ceil(), step)
}

const DURATION_STEPS: &[f64] = &[
    1.0, 2.0, 5.0, 10.0, 15.0, 30.0, 60.0, 120.0, 300.0, 600.0, 900.0, 1800.0, 3600.0, 7200.0,
    10800.0, 21600.0, 43200.0, 86400.0, 172800.0, 604800.0,
];
const COUNT_STEPS: &[f64] = &[
    1.0, 2.0, 5.0, 10.0, 20.0, 50.0, 100.0, 200.0, 500.0, 1000.0, 2000.0, 5000.0, 10000.0,
];

/// One bar of a vertical chart: its colour, height in value units, and what its tooltip and
/// label say.
struct Bar {
    colour: &'static str,
    value: f64,
    label: String,
    tooltip: String,
}

/// What a vertical bar chart draws: groups of bars over categories.
struct Columns<'a> {
    aria: &'a str,
    width: f64,
    height: f64,
    /// Per category: its name under the axis and its bars.
    groups: Vec<(String, Vec<Bar>)>,
    tick: fn(f64) -> String,
    steps: &'a [f64],
    x_title: &'a str,
    y_title: &'a str,
    legend: &'a [(&'a str, &'static str)],
    /// Whether bars carry their value above them (off when they are too narrow).
    labels: bool,
}

const LEFT: f64 = 52.0;
const RIGHT: f64 = 8.0;
const TOP: f64 = 30.0;
const BOTTOM: f64 = 40.0;

fn open_svg(svg: &mut String, width: f64, height: f64, aria: &str) {
    let _ = write!(
        svg,
        r##"<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} {height}" width="{width}" role="img" aria-label="{aria}"><title>{aria}</title>"##,
        aria = Escaped(aria)
    );
}

fn columns(chart: Columns<'_>) -> String {
    let Columns {
        aria,
        width,
        height,
        groups,
        tick,
        steps,
        x_title,
        y_title,
        legend,
        labels,
    } = chart;
    let most = groups
        .iter()
        .flat_map(|(_, bars)| bars.iter().map(|bar| bar.value))
        .fold(0.0, f64::max);
    let (top, step) = axis(most, steps);
    let plot_height = height - TOP - BOTTOM;
    let plot_width = width - LEFT - RIGHT;
    let y = |value: f64| TOP + plot_height * (1.0 - value / top);
    let mut svg = String::new();
    open_svg(&mut svg, width, height, aria);
    // The value axis: gridlines and ticks.
    let mut value = 0.0;
    while value <= top + step / 2.0 {
        let _ = write!(
            svg,
            r##"<line x1="{LEFT}" y1="{y:.1}" x2="{x2:.1}" y2="{y:.1}" stroke="#e3e3e3"/><text x="{tx:.1}" y="{ty:.1}" font-size="11" fill="#444" text-anchor="end">{label}</text>"##,
            y = y(value),
            x2 = width - RIGHT,
            tx = LEFT - 4.0,
            ty = y(value) + 4.0,
            label = Escaped(&tick(value)),
        );
        value += step;
    }
    let _ = write!(
        svg,
        r##"<text x="4" y="12" font-size="11" fill="#444">{}</text>"##,
        Escaped(y_title)
    );
    let mut legend_x = width - RIGHT;
    for (name, colour) in legend.iter().rev() {
        let text_width = 7.0 * name.chars().count() as f64;
        legend_x -= text_width;
        let _ = write!(
            svg,
            r##"<text x="{legend_x:.1}" y="12" font-size="11" fill="#444">{}</text><rect x="{:.1}" y="3" width="10" height="10" fill="{colour}"/>"##,
            Escaped(name),
            legend_x - 14.0
        );
        legend_x -= 24.0;
    }
    let slot = plot_width / groups.len().max(1) as f64;
    for (index, (name, bars)) in groups.iter().enumerate() {
        let left = LEFT + slot * index as f64;
        let inner = slot * 0.8;
        let bar_width = inner / bars.len().max(1) as f64;
        for (number, bar) in bars.iter().enumerate() {
            let x = left + slot * 0.1 + bar_width * number as f64;
            let bar_top = y(bar.value);
            let _ = write!(
                svg,
                r##"<rect x="{x:.1}" y="{bar_top:.1}" width="{w:.1}" height="{h:.1}" fill="{colour}"><title>{tooltip}</title></rect>"##,
                w = (bar_width - 2.0).max(1.0),
                h = (TOP + plot_height - bar_top).max(0.0),
                colour = bar.colour,
                tooltip = Escaped(&bar.tooltip),
            );
            if labels && bar.value > 0.0 {
                let _ = write!(
                    svg,
                    r##"<text x="{:.1}" y="{:.1}" font-size="10" fill="#333" text-anchor="middle">{}</text>"##,
                    x + (bar_width - 2.0) / 2.0,
                    bar_top - 3.0,
                    Escaped(&bar.label)
                );
            }
        }
        let _ = write!(
            svg,
            r##"<text x="{:.1}" y="{:.1}" font-size="11" fill="#333" text-anchor="middle">{}</text>"##,
            left + slot / 2.0,
            TOP + plot_height + 14.0,
            Escaped(name)
        );
    }
    let _ = write!(
        svg,
        r##"<line x1="{LEFT}" y1="{b:.1}" x2="{x2:.1}" y2="{b:.1}" stroke="#888"/><text x="{cx:.1}" y="{ty:.1}" font-size="11" fill="#444" text-anchor="middle">{}</text></svg>"##,
        Escaped(x_title),
        b = TOP + plot_height,
        x2 = width - RIGHT,
        cx = LEFT + plot_width / 2.0,
        ty = height - 6.0,
    );
    svg
}

fn latency_chart(name: &str, caption: &str, by_severity: &[(String, Group)], pick: Pick) -> String {
    let groups = by_severity
        .iter()
        .map(|(severity, group)| {
            let spread = pick(group);
            let bar = |colour, quantile: &str, value: Option<f64>| Bar {
                colour,
                value: value.unwrap_or(0.0),
                label: value.map(short_duration).unwrap_or_default(),
                tooltip: format!(
                    "{severity} {name} {quantile}: {} (of {})",
                    long_duration(value),
                    spread.n
                ),
            };
            (
                format!("{severity} (n={})", spread.n),
                vec![
                    bar(P50_COLOUR, "p50", spread.p50_seconds),
                    bar(P90_COLOUR, "p90", spread.p90_seconds),
                ],
            )
        })
        .collect();
    columns(Columns {
        aria: caption,
        width: 360.0,
        height: 240.0,
        groups,
        tick: short_duration,
        steps: DURATION_STEPS,
        x_title: "severity",
        y_title: "time after opening",
        legend: &[("p50", P50_COLOUR), ("p90", P90_COLOUR)],
        labels: true,
    })
}

fn count_tick(value: f64) -> String {
    format!("{value:.0}")
}

fn hours_chart(caption: &str, per_hour: &[usize]) -> String {
    let groups = per_hour
        .iter()
        .enumerate()
        .map(|(hour, count)| {
            (
                format!("{hour:02}"),
                vec![Bar {
                    colour: HOUR_COLOUR,
                    value: *count as f64,
                    label: count.to_string(),
                    tooltip: format!(
                        "{count} page{} between {hour:02}:00 and {hour:02}:59 UTC",
                        plural(*count)
                    ),
                }],
            )
        })
        .collect();
    columns(Columns {
        aria: caption,
        width: 1060.0,
        height: 220.0,
        groups,
        tick: count_tick,
        steps: COUNT_STEPS,
        x_title: "hour of day (UTC)",
        y_title: "pages",
        legend: &[],
        labels: true,
    })
}

/// One row of a horizontal bar chart.
struct Row {
    name: String,
    colour: &'static str,
    /// From 0 to the chart's top; none draws no bar.
    value: Option<f64>,
    label: String,
}

fn rows_chart(
    aria: &str,
    rows: &[Row],
    top: f64,
    x_title: &str,
    tick: fn(f64) -> String,
    step: f64,
) -> String {
    const NAME_WIDTH: f64 = 240.0;
    const ROW: f64 = 24.0;
    const WIDTH: f64 = 1060.0;
    const LABEL_ROOM: f64 = 150.0;
    // No legend or value title above the rows: a small margin is enough.
    const TOP: f64 = 6.0;
    let height = TOP + ROW * rows.len() as f64 + BOTTOM;
    let plot_width = WIDTH - NAME_WIDTH - LABEL_ROOM;
    let x = |value: f64| NAME_WIDTH + plot_width * (value / top).clamp(0.0, 1.0);
    let bottom = TOP + ROW * rows.len() as f64;
    let mut svg = String::new();
    open_svg(&mut svg, WIDTH, height, aria);
    let mut value = 0.0;
    while value <= top + step / 2.0 {
        let _ = write!(
            svg,
            r##"<line x1="{x:.1}" y1="{TOP}" x2="{x:.1}" y2="{bottom:.1}" stroke="#e3e3e3"/><text x="{x:.1}" y="{ty:.1}" font-size="11" fill="#444" text-anchor="middle">{label}</text>"##,
            x = x(value),
            ty = bottom + 14.0,
            label = Escaped(&tick(value)),
        );
        value += step;
    }
    for (index, row) in rows.iter().enumerate() {
        let row_top = TOP + ROW * index as f64;
        let _ = write!(
            svg,
            r##"<text x="{:.1}" y="{:.1}" font-size="12" fill="#333" text-anchor="end">{}</text>"##,
            NAME_WIDTH - 6.0,
            row_top + ROW / 2.0 + 4.0,
            Escaped(&row.name)
        );
        let end = match row.value {
            Some(value) => {
                let end = x(value);
                let _ = write!(
                    svg,
                    r##"<rect x="{NAME_WIDTH}" y="{:.1}" width="{:.1}" height="{:.1}" fill="{}"><title>{}: {}</title></rect>"##,
                    row_top + 4.0,
                    (end - NAME_WIDTH).max(0.0),
                    ROW - 8.0,
                    row.colour,
                    Escaped(&row.name),
                    Escaped(&row.label)
                );
                end
            }
            None => NAME_WIDTH,
        };
        let _ = write!(
            svg,
            r##"<text x="{:.1}" y="{:.1}" font-size="12" fill="#333">{}</text>"##,
            end + 6.0,
            row_top + ROW / 2.0 + 4.0,
            Escaped(&row.label)
        );
    }
    let _ = write!(
        svg,
        r##"<line x1="{NAME_WIDTH}" y1="{TOP}" x2="{NAME_WIDTH}" y2="{bottom:.1}" stroke="#888"/><text x="{:.1}" y="{:.1}" font-size="11" fill="#444" text-anchor="middle">{}</text></svg>"##,
        NAME_WIDTH + plot_width / 2.0,
        height - 6.0,
        Escaped(x_title)
    );
    svg
}

fn rate_row(name: String, colour: &'static str, rate: &Rate) -> Row {
    let decided = rate.met + rate.missed;
    Row {
        name,
        colour,
        value: rate.rate,
        label: match rate.rate {
            Some(value) => format!("{} ({} of {decided} met)", percent(Some(value)), rate.met),
            None => "nothing decided yet".to_owned(),
        },
    }
}

fn rates_chart(caption: &str, report: &Report) -> String {
    let mut rows = Vec::new();
    let groups = std::iter::once(("all", &report.overall)).chain(
        report
            .by_severity
            .iter()
            .map(|(name, group)| (name.as_str(), group)),
    );
    for (name, group) in groups {
        rows.push(rate_row(
            format!("{name} · ack deadline met"),
            ACK_COLOUR,
            &group.ack_deadline,
        ));
        rows.push(rate_row(
            format!("{name} · RTO met"),
            RTO_COLOUR,
            &group.rto,
        ));
    }
    let reviews = &report.reviews;
    rows.push(Row {
        name: "reviews done on time".to_owned(),
        colour: REVIEW_COLOUR,
        value: reviews.on_time_rate,
        label: match reviews.on_time_rate {
            Some(rate) => format!(
                "{} ({} of {} reviews)",
                percent(Some(rate)),
                reviews.done_on_time,
                reviews.total
            ),
            None => "no reviews yet".to_owned(),
        },
    });
    rows_chart(
        caption,
        &rows,
        1.0,
        "share met",
        |value| percent(Some(value)),
        0.25,
    )
}

fn people_chart(caption: &str, per_person: &[(String, usize)]) -> String {
    let mut people: Vec<&(String, usize)> = per_person.iter().collect();
    people.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    let hidden = people.len().saturating_sub(PEOPLE_SHOWN);
    people.truncate(PEOPLE_SHOWN);
    let most = people.first().map_or(1, |(_, count)| *count) as f64;
    let (top, step) = axis(most, COUNT_STEPS);
    let rows: Vec<Row> = people
        .iter()
        .map(|(person, count)| Row {
            name: person.clone(),
            colour: PERSON_COLOUR,
            value: Some(*count as f64),
            label: format!("{count} page{}", plural(*count)),
        })
        .collect();
    let mut svg = rows_chart(caption, &rows, top, "pages", count_tick, step);
    if hidden > 0 {
        let _ = write!(
            svg,
            "<p class=note>and {hidden} more {} with fewer pages</p>",
            if hidden == 1 { "person" } else { "people" }
        );
    }
    svg
}

fn figures_table(out: &mut String, report: &Report) {
    out.push_str("<h2>Figures</h2>\n");
    if report.incidents == 0 {
        let _ = writeln!(out, "<p class=empty>{NO_INCIDENTS}</p>");
        return;
    }
    out.push_str(
        "<table id=figures><tr><th>group</th><th>incidents</th><th>MTTA p50 / p90 / mean</th>\
         <th>MTTM p50 / p90 / mean</th><th>MTTR p50 / p90 / mean</th><th>ack deadline met</th><th>RTO met</th></tr>\n",
    );
    // Each duration kept on one line (a no-break space inside it), so narrow cells wrap
    // between durations, not within one.
    let one_line = |seconds: Option<f64>| long_duration(seconds).replace(' ', "\u{a0}");
    let spread = |spread: &Spread| {
        format!(
            "{} / {} / {} <span class=note>(n={})</span>",
            one_line(spread.p50_seconds),
            one_line(spread.p90_seconds),
            one_line(spread.mean_seconds),
            spread.n
        )
    };
    let rate = |rate: &Rate| {
        format!(
            "{} <span class=note>({} met, {} missed)</span>",
            percent(rate.rate),
            rate.met,
            rate.missed
        )
    };
    let rows = std::iter::once(("all".to_owned(), &report.overall))
        .chain(
            report
                .by_severity
                .iter()
                .map(|(name, group)| (format!("severity {name}"), group)),
        )
        .chain(
            report
                .by_service
                .iter()
                .map(|(name, group)| (format!("service {name}"), group)),
        );
    for (name, group) in rows {
        let _ = writeln!(
            out,
            "<tr><td>{}</td><td class=n>{}</td><td class=r>{}</td><td class=r>{}</td><td class=r>{}</td><td class=r>{}</td><td class=r>{}</td></tr>",
            Escaped(&name),
            group.count,
            spread(&group.time_to_acknowledge),
            spread(&group.time_to_mitigate),
            spread(&group.time_to_resolve),
            rate(&group.ack_deadline),
            rate(&group.rto),
        );
    }
    out.push_str("</table>\n");
}

fn reviews_table(out: &mut String, reviews: &Reviews) {
    let _ = writeln!(
        out,
        "<h2>Reviews</h2>\n<table id=reviews><tr><th>reviews</th><th>done</th><th>done on time</th><th>open</th><th>overdue</th><th>on time</th></tr>\
         <tr><td class=n>{}</td><td class=n>{}</td><td class=n>{}</td><td class=n>{}</td><td class=n>{}</td><td class=n>{}</td></tr></table>",
        reviews.total,
        reviews.done,
        reviews.done_on_time,
        reviews.open,
        reviews.overdue,
        percent(reviews.on_time_rate)
    );
}

fn items_table(out: &mut String, items: &[Item]) {
    out.push_str("<h2>Open action items</h2>\n");
    if items.is_empty() {
        out.push_str("<p class=note>none open</p>\n");
        return;
    }
    out.push_str(
        "<table id=items><tr><th>item</th><th>incident</th><th>action</th><th>owner</th><th>due</th></tr>\n",
    );
    for item in items {
        let _ = writeln!(
            out,
            "<tr><td>{}</td><td class=text>{}</td><td class=text>{}</td><td>{}</td><td{}>{}{}</td></tr>",
            Escaped(&item.item),
            Escaped(item.incident_title.as_deref().unwrap_or("")),
            Escaped(&item.text),
            Escaped(&item.owner.to_string()),
            if item.overdue { " class=overdue" } else { "" },
            item.due_at.human(),
            if item.overdue { " (overdue)" } else { "" },
        );
    }
    out.push_str("</table>\n");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn axes_end_on_round_values() {
        assert_eq!(axis(1800.0, DURATION_STEPS), (1800.0, 600.0));
        assert_eq!(axis(3000.0, DURATION_STEPS), (3000.0, 600.0));
        assert_eq!(axis(3100.0, DURATION_STEPS), (3600.0, 900.0));
        assert_eq!(axis(3.0, COUNT_STEPS), (3.0, 1.0));
        assert_eq!(axis(7.0, COUNT_STEPS), (8.0, 2.0));
        assert_eq!(axis(0.0, COUNT_STEPS).1, 1.0);
    }

    #[test]
    fn short_durations_drop_zero_parts() {
        assert_eq!(short_duration(1200.0), "20m");
        assert_eq!(short_duration(1500.0), "25m");
        assert_eq!(short_duration(3900.0), "1h 5m");
        assert_eq!(short_duration(45.0), "45s");
        assert_eq!(short_duration(90_000.0), "1d 1h");
    }
}
