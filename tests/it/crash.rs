//! `kill -9` in the middle of a burst of writes: no partial incident, no lost committed event.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};
use std::process::Stdio;

use warroom::domain::{EventKind, IncidentId};
use warroom::store::IncidentFilter;

use crate::support::{TestDb, warroom};

/// Commits to see before each kill: enough that several writers are mid-transaction.
const COMMITS_BEFORE_KILL: usize = 400;
const KILLS: usize = 3;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_mid_burst_loses_nothing_committed_and_leaves_nothing_partial() {
    let db = TestDb::sqlite();
    let config = db.write_config("");
    // Every `committed INC-x seq n` line any burst printed before it died.
    let mut promised: Vec<(IncidentId, i64)> = Vec::new();
    for _ in 0..KILLS {
        let mut child = warroom(&config)
            .args(["bench", "burst", "--writers", "4"])
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
        let mut seen = 0;
        while seen < COMMITS_BEFORE_KILL {
            let line = lines.next().expect("the burst stopped early").unwrap();
            promised.push(parse(&line));
            seen += 1;
        }
        child.kill().unwrap(); // SIGKILL: no chance to finish a transaction or flush anything
        // What was printed before the kill is a promise too.
        for line in lines {
            promised.push(parse(&line.unwrap()));
        }
        child.wait().unwrap();
    }

    let store = db.store().await;
    let incidents = store
        .list_incidents(&IncidentFilter::default())
        .await
        .unwrap();
    let mut stored: BTreeMap<IncidentId, Vec<i64>> = BTreeMap::new();
    for incident in &incidents {
        let events = store.timeline_page(incident.id, 0, 10_000).await.unwrap();
        assert_eq!(
            events.first().map(|event| event.kind),
            Some(EventKind::Opened),
            "{} has no opened event",
            incident.id
        );
        let seqs: Vec<i64> = events.iter().map(|event| event.seq).collect();
        assert_eq!(
            seqs,
            (1..=incident.last_seq).collect::<Vec<_>>(),
            "{} has a gap or a partial write",
            incident.id
        );
        stored.insert(incident.id, seqs);
    }
    for (id, seq) in &promised {
        assert!(
            stored.get(id).is_some_and(|seqs| seqs.contains(seq)),
            "committed {id} seq {seq} was printed but is not in the database"
        );
    }
    assert!(promised.len() >= KILLS * COMMITS_BEFORE_KILL);
    assert_eq!(db.sqlite_integrity().await, "ok");
}

fn parse(line: &str) -> (IncidentId, i64) {
    let rest = line
        .strip_prefix("committed ")
        .unwrap_or_else(|| panic!("unexpected line {line:?}"));
    let (id, seq) = rest.split_once(" seq ").unwrap();
    (id.parse().unwrap(), seq.parse().unwrap())
}
