//! `warroom bench burst`: writers that open incidents and add notes until killed, printing each
//! commit once it returned; the kill -9 test checks every printed commit survives.

use std::sync::Arc;

use crate::config::Config;
use crate::domain::{Actor, Source, SystemClock};
use crate::ops::{OpenRequest, Ops, Principal};
use crate::store;

pub async fn burst(config: Config, writers: usize, notes: usize) -> anyhow::Result<()> {
    let store = store::connect(&config.database).await?;
    let ops = Ops::new(store, Arc::new(config), Arc::new(SystemClock));
    let tasks: Vec<_> = (0..writers)
        .map(|writer| tokio::spawn(write_forever(ops.clone(), writer, notes)))
        .collect();
    for task in tasks {
        task.await??;
    }
    Ok(())
}

/// One burst writer: opens an incident, adds `notes` notes, and starts over, until killed.
async fn write_forever(ops: Ops, writer: usize, notes: usize) -> anyhow::Result<()> {
    let who = Principal::operator(Actor::cli(&format!("writer{writer}")));
    loop {
        let request = OpenRequest {
            title: format!("burst from writer {writer}"),
            severity: "SEV3".to_owned(),
            ..OpenRequest::default()
        };
        let id = ops.open(&who, Source::Cli, request).await?.incident.id;
        report_commit(id, 1);
        for note in 0..notes {
            let written = ops.add_note(&who, id, &format!("note {note}")).await?;
            report_commit(id, written.events[0].seq);
        }
    }
}

/// Printed only after the commit returned, and flushed at once, so a line on stdout is a
/// promise the kill -9 test holds warroom to.
fn report_commit(id: crate::domain::IncidentId, seq: i64) {
    use std::io::Write;
    let mut stdout = std::io::stdout().lock();
    let _ = writeln!(stdout, "committed {id} seq {seq}");
    let _ = stdout.flush();
}
