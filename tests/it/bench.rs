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

on_both_backends!(alert_to_page_pages_every_alert_once);
