//! Brief runs of benchmarks whose results can be checked: not how fast (the benchmarks
//! themselves say that), but that what they measure happened.

use crate::on_both_backends;
use crate::support::{Backend, TestDb, warroom};

/// B6 with a few alerts: every alert group posted to `warroom run` reaches the bench's
/// receiver as a page, once.
async fn alert_to_page_pages_every_alert_once(db: TestDb) {
    let config = db.write_config("");
    let mut command = warroom(&config);
    command.args(["bench", "alert-to-page", "--rate", "8", "--seconds", "1"]);
    if db.backend == Backend::Postgres {
        command.args(["--database-url", &db.url]);
    }
    let output = command.output().expect("the warroom binary runs");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "bench alert-to-page failed: {}\n{stdout}{}",
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
    let last = stdout.lines().last().unwrap_or_default();
    assert!(
        last.contains("8 of 8 alerts paged (pages received twice: 0)"),
        "not every alert was paged once: {last}"
    );
    assert!(
        last.contains("p50 ") && last.contains("p99 ") && last.contains(" ms"),
        "the last line gives no percentiles: {last}"
    );
}

/// B9 with a few incidents: the seeded database is what the report then counts (every
/// incident and drill, checked by the bench against each run's JSON), and the last line
/// gives the figures.
async fn report_bench_runs_the_report_over_what_it_seeded(db: TestDb) {
    let config = db.write_config("");
    let mut command = warroom(&config);
    command.args([
        "bench",
        "report",
        "--incidents",
        "30",
        "--events",
        "1500",
        "--runs",
        "2",
    ]);
    if db.backend == Backend::Postgres {
        command.args(["--database-url", &db.url]);
    }
    let output = command.output().expect("the warroom binary runs");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "bench report failed: {}\n{stdout}{}",
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
    let seeded = stdout
        .lines()
        .find(|line| line.starts_with("seeded "))
        .unwrap_or_default();
    assert!(
        seeded.starts_with("seeded 30 incidents (") && seeded.contains(" 1500 events, "),
        "the bench did not seed 30 incidents with 1,500 events: {seeded}"
    );
    let runs: Vec<&str> = stdout
        .lines()
        .filter(|line| line.starts_with("run "))
        .collect();
    assert_eq!(runs.len(), 2, "not two measured runs:\n{stdout}");
    assert!(
        runs.iter().all(|run| run.contains("exit status: 0")),
        "a report run failed:\n{stdout}"
    );
    let last = stdout.lines().last().unwrap_or_default();
    let figure = |before: &str, after: &str| -> f64 {
        last.split_once(before)
            .and_then(|(_, rest)| rest.split_once(after))
            .and_then(|(number, _)| number.trim().parse().ok())
            .unwrap_or_else(|| panic!("no `{before}…{after}` in the last line: {last}"))
    };
    assert!(
        last.starts_with("report: "),
        "the last line is not the summary: {last}"
    );
    assert!(figure("p50 ", " ms") > 0.0 && figure("max ", " ms") >= figure("p50 ", " ms"));
    assert!(figure("peak RSS ", " MiB") > 0.0, "no peak RSS: {last}");
}

on_both_backends!(
    alert_to_page_pages_every_alert_once,
    report_bench_runs_the_report_over_what_it_seeded
);
