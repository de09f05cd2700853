//! The HTML report (`warroom report --html`, `GET /v1/reports?format=html` or
//! `Accept: text/html`) over seeded incidents with known times: the page carries the exact
//! figures and one SVG per chart, escapes what people wrote, says "no incidents in this
//! span" for an empty span, and headless Chromium draws its charts (checked on the pixels of
//! its screenshot).

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::json;

use super::report::{at, seed};
use super::{COMMANDER, CONFIG, RESPONDER, Server};
use crate::on_both_backends;
use crate::support::{TestDb, run, stderr};

on_both_backends!(
    the_html_report_has_the_figures_and_escapes_what_people_wrote,
    chromium_draws_the_charts_of_the_html_report,
);

/// The bar colours of `src/export/report_html.rs` (each used by nothing else on the page).
const P50: [u8; 3] = [0x2f, 0x6d, 0xb5];
const P90: [u8; 3] = [0xe8, 0x89, 0x3a];
const HOUR: [u8; 3] = [0x2a, 0x9d, 0x69];
const PERSON: [u8; 3] = [0x7d, 0x4c, 0xb8];
const ACK: [u8; 3] = [0xc2, 0x3b, 0x4e];
const RTO: [u8; 3] = [0x15, 0x97, 0xa6];
const REVIEW: [u8; 3] = [0xb5, 0x8b, 0x00];

/// Six charts: MTTA, MTTM, MTTR, targets met, pages per hour, pages per person.
const CHARTS: usize = 6;

const HOSTILE_TITLE: &str = "queue <script>alert(1)</script> stuck";
const HOSTILE_ITEM: &str = "alert on <img src=x onerror=alert(2)> queue age";
const HOSTILE_PERSON: &str = "<script>alert(3)</script>";

/// The incidents of `report.rs` (same times, so the same figures), with hostile text, an
/// open action item and five pages to three people at 10:xx (×2), 11:xx, 12:xx and 13:xx UTC.
async fn seeded(db: TestDb) -> Server {
    let server = Server::start(db).await;
    let sev2_api = json!({"title": "api slow", "severity": "SEV2", "service": "api"});
    let first = seed(
        &server,
        sev2_api.clone(),
        0,
        &[("ack", 10), ("mitigate", 20), ("resolve", 30)],
    )
    .await;
    let second = seed(
        &server,
        json!({"title": HOSTILE_TITLE, "severity": "SEV2"}),
        60,
        &[("ack", 30), ("resolve", 50)],
    )
    .await;
    let third = seed(
        &server,
        json!({"title": "api down", "severity": "SEV1", "service": "api"}),
        120,
        &[("ack", 20), ("resolve", 25)],
    )
    .await;
    seed(
        &server,
        json!({"title": "api blip", "severity": "SEV1", "service": "api"}),
        180,
        &[("resolve", 10)],
    )
    .await;
    let mut drill = sev2_api;
    drill["drill"] = json!(true);
    seed(&server, drill, 200, &[("ack", 1), ("resolve", 2)]).await;
    server.clock.set(at(300));
    let done = server
        .post(
            &format!("/v1/incidents/{first}/review"),
            COMMANDER,
            &json!({"done": true}),
        )
        .await;
    assert_eq!(done.status, 200, "{}", done.text);
    let item = server
        .post(
            &format!("/v1/incidents/{second}/actions"),
            RESPONDER,
            &json!({"text": HOSTILE_ITEM, "owner": "222333444555666777", "due": "7d"}),
        )
        .await;
    assert_eq!(item.status, 201, "{}", item.text);
    // Pages as the page sender leaves them once sent (START is 10:00 UTC).
    for (number, (incident, recipient, minutes)) in [
        (first, "111111111111111111", 5),
        (first, "222222222222222222", 6),
        (second, "111111111111111111", 65),
        (third, HOSTILE_PERSON, 125),
        (third, "111111111111111111", 185),
    ]
    .into_iter()
    .enumerate()
    {
        let millis = at(minutes).as_millis();
        server
            .db
            .execute_raw(&format!(
                "INSERT INTO pages (dedup_key, action, incident_id, level, round, target, \
                 recipient_kind, recipient, state, send_after, created_at, finished_at) VALUES \
                 ('seed-{number}', 'trigger', {incident}, 1, 1, 'oncall', 'discord_user', \
                 '{recipient}', 'sent', {millis}, {millis}, {millis})"
            ))
            .await
            .expect("seed a page");
    }
    server
}

async fn html_report(server: &Server, query: &str) -> String {
    let reply = server
        .get(&format!("/v1/reports?format=html{query}"), RESPONDER)
        .await;
    assert_eq!(reply.status, 200, "{}", reply.text);
    assert_eq!(reply.content_type, "text/html; charset=utf-8");
    reply.text
}

async fn the_html_report_has_the_figures_and_escapes_what_people_wrote(db: TestDb) {
    let server = seeded(db).await;
    let page = html_report(&server, "&since=30d").await;
    assert!(page.starts_with("<!DOCTYPE html>"), "{page}");
    // Self-contained: nothing to fetch or run.
    for outside in [
        "<script", "<img", "<link", "<iframe", "href=", "@import", "url(",
    ] {
        assert!(
            !page.to_ascii_lowercase().contains(outside),
            "the page has {outside}: {page}"
        );
    }
    // The figures of report.rs, as people read them.
    // (The table keeps each duration on one line with a no-break space.)
    let plain = page.replace('\u{a0}', " ");
    for figure in [
        "4 incidents",
        "1 drill counted apart",
        // all: MTTA p50 / p90 / mean, MTTR, ack deadline and RTO rates.
        "20m 00s / 30m 00s / 20m 00s <span class=note>(n=3)</span>",
        "20m 00s / 20m 00s / 20m 00s <span class=note>(n=1)</span>",
        "25m 00s / 50m 00s / 28m 45s <span class=note>(n=4)</span>",
        "50% <span class=note>(2 met, 2 missed)</span>",
        "33% <span class=note>(1 met, 2 missed)</span>",
        // SEV1 MTTR, SEV2 MTTA.
        "10m 00s / 25m 00s / 17m 30s <span class=note>(n=2)</span>",
        "10m 00s / 30m 00s / 20m 00s <span class=note>(n=2)</span>",
        "<td>service api</td><td class=n>3</td>",
        "<td>service (none)</td><td class=n>1</td>",
        // Chart labels: bars and rates.
        ">all · ack deadline met</text>",
        ">50% (2 of 4 met)</text>",
        ">33% (1 of 3 met)</text>",
        ">25% (1 of 4 reviews)</text>",
        ">3 pages</text>",
        ">hour of day (UTC)</text>",
        "<title>2 pages between 10:00 and 10:59 UTC</title>",
        "<title>SEV2 MTTA p90: 30m 00s (of 2)</title>",
        // Reviews: 4, 1 done on time, 3 open, none overdue yet.
        "<td class=n>4</td><td class=n>1</td><td class=n>1</td><td class=n>3</td><td class=n>0</td><td class=n>25%</td>",
    ] {
        assert!(plain.contains(figure), "missing {figure}:\n{page}");
    }
    assert_eq!(page.matches("<svg").count(), CHARTS, "{page}");
    assert_eq!(page.matches("</svg>").count(), CHARTS);
    for label in [
        "aria-label=\"MTTA: time to acknowledge (p50, p90)\"",
        "aria-label=\"MTTM: time to mitigate (p50, p90)\"",
        "aria-label=\"MTTR: time to resolve (p50, p90)\"",
        "aria-label=\"Targets met: ack deadline, RTO and reviews on time\"",
        "aria-label=\"Pages to people per hour of day (UTC)\"",
        "aria-label=\"Pages per person (on-call load)\"",
    ] {
        assert!(page.contains(label), "missing {label}");
    }
    assert_eq!(
        page.matches("<svg").count(),
        page.matches("role=\"img\"").count()
    );
    // What people wrote shows as text.
    for (hostile, shown) in [
        (
            HOSTILE_TITLE,
            "queue &lt;script&gt;alert(1)&lt;/script&gt; stuck",
        ),
        (
            HOSTILE_ITEM,
            "alert on &lt;img src=x onerror=alert(2)&gt; queue age",
        ),
        (HOSTILE_PERSON, "&lt;script&gt;alert(3)&lt;/script&gt;"),
    ] {
        assert!(page.contains(shown), "{hostile} not shown as text:\n{page}");
    }

    // The same page for a browser's Accept; JSON stays the default.
    let browser = server
        .client
        .get(server.url("/v1/reports?since=30d"))
        .bearer_auth(RESPONDER)
        .header(
            "accept",
            "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8",
        )
        .send()
        .await
        .unwrap();
    assert_eq!(browser.headers()["vary"], "accept");
    assert_eq!(
        browser.headers()["content-security-policy"],
        "default-src 'none'; style-src 'unsafe-inline'"
    );
    assert_eq!(browser.text().await.unwrap(), page);
    let json = server.get("/v1/reports?since=30d", RESPONDER).await;
    assert_eq!(json.content_type, "application/json");
    assert_eq!(json.json()["incidents"], 4);
    assert_eq!(
        json.json()["open_action_items"][0]["incident_title"],
        HOSTILE_TITLE
    );
    let explicit = server
        .client
        .get(server.url("/v1/reports?format=json"))
        .bearer_auth(RESPONDER)
        .header("accept", "text/html")
        .send()
        .await
        .unwrap();
    assert_eq!(explicit.headers()["content-type"], "application/json");
    let bad = server.get("/v1/reports?format=pdf", RESPONDER).await;
    assert_eq!(bad.status, 400, "{}", bad.text);
    assert!(
        bad.error()
            .contains("`pdf` is not a report format; use json or html"),
        "{}",
        bad.text
    );

    // A span with nothing in it says so instead of drawing empty charts.
    let empty = html_report(&server, "&severity=SEV3").await;
    assert_eq!(empty.matches("<svg").count(), 0, "{empty}");
    assert!(
        empty.matches("no incidents in this span").count() >= CHARTS,
        "{empty}"
    );
    assert!(empty.contains("0 incidents"));

    // The CLI prints the same page (its own clock, so it looks back far enough).
    let config = server.db.write_config(CONFIG);
    let output = run(&config, &["report", "--since", "36500d", "--html"]);
    assert!(output.status.success(), "{}", stderr(&output));
    let cli = String::from_utf8(output.stdout).unwrap();
    assert!(cli.starts_with("<!DOCTYPE html>"));
    assert_eq!(cli.matches("<svg").count(), CHARTS);
    assert!(
        cli.replace('\u{a0}', " ")
            .contains("25m 00s / 50m 00s / 28m 45s")
    );
    let both = run(&config, &["report", "--json", "--html"]);
    assert!(!both.status.success());
    assert!(
        stderr(&both).contains("cannot be used with"),
        "{}",
        stderr(&both)
    );
    let help = run(&config, &["report", "--help"]);
    assert!(String::from_utf8_lossy(&help.stdout).contains("--html"));
}

/// A decoded screenshot: RGB rows.
struct Picture {
    width: usize,
    height: usize,
    rgb: Vec<u8>,
}

impl Picture {
    fn read(path: &Path) -> Picture {
        let file = std::io::BufReader::new(std::fs::File::open(path).unwrap());
        let mut decoder = png::Decoder::new(file);
        decoder.set_transformations(png::Transformations::normalize_to_color8());
        let mut reader = decoder.read_info().expect("Chromium's screenshot is a PNG");
        let mut buffer = vec![0; reader.output_buffer_size().expect("a PNG of sane size")];
        let info = reader.next_frame(&mut buffer).expect("a PNG frame");
        let channels = info.color_type.samples();
        assert!(channels >= 3, "a grey screenshot: {:?}", info.color_type);
        let (width, height) = (info.width as usize, info.height as usize);
        let mut rgb = Vec::with_capacity(width * height * 3);
        for row in buffer.chunks(info.line_size).take(height) {
            for pixel in row.chunks(channels).take(width) {
                rgb.extend_from_slice(&pixel[..3]);
            }
        }
        Picture { width, height, rgb }
    }

    fn pixel(&self, x: usize, y: usize) -> [u8; 3] {
        let at = (y * self.width + x) * 3;
        [self.rgb[at], self.rgb[at + 1], self.rgb[at + 2]]
    }

    /// Whether the pixel is `colour` (within a step or two of rounding).
    fn is(&self, x: usize, y: usize, colour: [u8; 3]) -> bool {
        let pixel = self.pixel(x, y);
        (0..3).all(|channel| pixel[channel].abs_diff(colour[channel]) <= 3)
    }

    /// Every pixel of `colour`, as (x, y).
    fn find(&self, colour: [u8; 3]) -> Vec<(usize, usize)> {
        (0..self.height)
            .flat_map(|y| (0..self.width).map(move |x| (x, y)))
            .filter(|(x, y)| self.is(*x, *y, colour))
            .collect()
    }

    /// Separate stretches of `colour` along row `y`.
    fn runs_across(&self, y: usize, colour: [u8; 3]) -> usize {
        runs((0..self.width).map(|x| self.is(x, y, colour)))
    }

    /// Separate stretches of `colour` down column `x`.
    fn runs_down(&self, x: usize, colour: [u8; 3]) -> usize {
        runs((0..self.height).map(|y| self.is(x, y, colour)))
    }
}

fn runs(cells: impl Iterator<Item = bool>) -> usize {
    let mut count = 0;
    let mut inside = false;
    for cell in cells {
        if cell && !inside {
            count += 1;
        }
        inside = cell;
    }
    count
}

/// Chromium, which `.ci/run` installs; its absence fails the test (this check is the only
/// one that sees the charts drawn).
const CHROMIUM: &str = "/usr/bin/chromium";

/// Runs headless Chromium on `page` and returns its screenshot.
fn screenshot(page: &Path, dir: &Path) -> Picture {
    assert!(
        Path::new(CHROMIUM).exists(),
        "{CHROMIUM} is missing: install the Debian package chromium (apt-get install chromium; \
         .ci/run does) so the HTML report's charts can be checked in a real browser"
    );
    let shot = dir.join("report.png");
    let mut child = Command::new(CHROMIUM)
        .arg("--headless")
        .arg("--no-sandbox")
        .arg("--disable-gpu")
        .arg("--hide-scrollbars")
        .arg("--force-device-scale-factor=1")
        // Its own profile, so two tests running Chromium at once do not share one.
        .arg(format!("--user-data-dir={}", dir.join("profile").display()))
        .arg(format!("--screenshot={}", shot.display()))
        .arg("--window-size=1200,2000")
        .arg(format!("file://{}", page.display()))
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|error| panic!("{CHROMIUM} does not start: {error}"));
    // A guard against a Chromium that never exits, not a measure of speed.
    let started = Instant::now();
    while child.try_wait().unwrap().is_none() {
        if started.elapsed() > Duration::from_secs(180) {
            child.kill().ok();
            panic!("{CHROMIUM} did not finish its screenshot in 3 minutes");
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let output = child.wait_with_output().unwrap();
    assert!(
        output.status.success() && shot.exists(),
        "{CHROMIUM} made no screenshot ({}): {}",
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
    Picture::read(&shot)
}

async fn chromium_draws_the_charts_of_the_html_report(db: TestDb) {
    let server = seeded(db).await;
    let page = html_report(&server, "").await;
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("report.html");
    std::fs::write(&file, &page).unwrap();
    let picture = tokio::task::spawn_blocking({
        let dir = dir.path().to_owned();
        move || screenshot(&file, &dir)
    })
    .await
    .unwrap();
    assert_eq!((picture.width, picture.height), (1200, 2000));

    // Not blank: a white page with a good deal drawn on it.
    let white = picture
        .rgb
        .chunks(3)
        .filter(|p| p.iter().all(|c| *c >= 250))
        .count();
    let pixels = picture.width * picture.height;
    assert!(
        white > pixels / 2,
        "the page is not mostly white: {white} of {pixels}"
    );
    assert!(
        pixels - white > pixels / 50,
        "the page is nearly blank: {} drawn pixels of {pixels}",
        pixels - white
    );

    // Every kind of bar is drawn.
    for (name, colour) in [
        ("p50", P50),
        ("p90", P90),
        ("pages per hour", HOUR),
        ("pages per person", PERSON),
        ("ack deadline", ACK),
        ("RTO", RTO),
        ("reviews on time", REVIEW),
    ] {
        let found = picture.find(colour).len();
        assert!(
            found > 150,
            "{name} bars: only {found} pixels of {colour:?}"
        );
    }

    // Pages per hour: one bar for each hour with pages (10, 11, 12, 13), standing on one
    // baseline, the row just above which crosses them all.
    let hours = picture.find(HOUR);
    let base = hours.iter().map(|(_, y)| *y).max().unwrap();
    assert_eq!(picture.runs_across(base - 1, HOUR), 4, "hour bars");
    let (left, right) = (
        hours.iter().map(|(x, _)| *x).min().unwrap(),
        hours.iter().map(|(x, _)| *x).max().unwrap(),
    );
    assert!(
        right - left > 100,
        "hour bars side by side: {left}..{right}"
    );

    // Pages per person: one bar for each of the three people, all starting at one axis.
    let people = picture.find(PERSON);
    let axis = people.iter().map(|(x, _)| *x).min().unwrap();
    assert_eq!(picture.runs_down(axis + 1, PERSON), 3, "person bars");

    // Latency: p50 bars on the shared baseline of the three charts, one per severity with
    // a value: MTTA SEV1 and SEV2, MTTM SEV2, MTTR SEV1 and SEV2.
    let p50 = picture.find(P50);
    let base = p50.iter().map(|(_, y)| *y).max().unwrap();
    assert_eq!(picture.runs_across(base - 1, P50), 5, "p50 bars");
    assert_eq!(picture.runs_across(base - 1, P90), 5, "p90 bars");

    // Targets: a bar for each rate above 0% — ack deadline for all (50%) and SEV2 (100%),
    // SEV1's 0% draws none; RTO for all (33%) and SEV1 (50%), SEV2's 0% draws none.
    for (name, colour) in [("ack deadline", ACK), ("RTO", RTO)] {
        let bars = picture.find(colour);
        let axis = bars.iter().map(|(x, _)| *x).min().unwrap();
        assert_eq!(picture.runs_down(axis + 1, colour), 2, "{name} bars");
    }
}
