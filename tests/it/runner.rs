//! Approved commands: the catalog's rules (each with a bad file), the shipped catalog, binding,
//! real processes through the runner, a hostile-input suite, and the CLI and SIGHUP reload.

mod catalog;
mod cli;
mod exec;
pub(crate) mod hostile;

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::time::Duration;

use warroom::config::Environment;
use warroom::runner::{
    Catalog, CatalogError, Progress, RunError, RunOptions, RunOutcome, Runner, RunnerSettings,
};

use crate::support::{WAIT, eventually, repo_root};

/// The bot roles the shipped config knows.
pub fn known_roles() -> BTreeSet<String> {
    ["admin", "dba", "incident_commander", "responder"]
        .map(str::to_owned)
        .into()
}

/// A catalog folder holding `files` (name, text).
pub fn catalog_dir(files: &[(&str, &str)]) -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("a temporary folder");
    for (name, text) in files {
        std::fs::write(dir.path().join(name), text).expect("write a catalog file");
    }
    dir
}

pub fn load(dir: &Path) -> Result<Catalog, CatalogError> {
    Catalog::load(dir, &known_roles())
}

/// `/usr/bin/python3`, which the argv-printing fixture runs with.
pub const PYTHON: &str = "/usr/bin/python3";

pub fn print_argv_script() -> PathBuf {
    repo_root().join("tests/fixtures/print_argv.py")
}

/// Values for `bind`, from pairs.
pub fn values(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(key, value)| ((*key).to_owned(), (*value).to_owned()))
        .collect()
}

/// Runner settings for tests: no redaction unless asked, a roomy cap, short graces.
pub fn settings() -> RunnerSettings {
    RunnerSettings {
        redact: Vec::new(),
        output_cap_bytes: 65_536,
        output_file_max_bytes: 1 << 20,
        kill_grace: Duration::from_millis(500),
        shutdown_grace: Duration::from_millis(500),
    }
}

pub fn runner() -> Runner {
    Runner::new(settings(), Environment::default())
}

/// Runs `invocation` and returns the outcome with every progress event.
pub async fn run_collecting(
    runner: &Runner,
    invocation: &warroom::runner::Invocation,
    options: RunOptions,
) -> (Result<RunOutcome, RunError>, Vec<Progress>) {
    let mut events = Vec::new();
    let outcome = runner
        .run(invocation, options, &mut |event| events.push(event))
        .await;
    (outcome, events)
}

/// Whether `pid` is a live process (a zombie waiting to be reaped counts as dead: it runs
/// nothing and holds nothing).
pub fn is_alive(pid: i32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Err(_) => false,
        Ok(stat) => {
            let state = stat
                .rsplit_once(')')
                .and_then(|(_, rest)| rest.split_whitespace().next())
                .unwrap_or("X");
            !matches!(state, "Z" | "X")
        }
    }
}

/// Waits until `pid` is gone (a kill takes effect asynchronously); fails if it stays.
pub async fn gone_eventually(pid: i32) {
    eventually(format!("process {pid} to be gone"), WAIT, async || {
        !is_alive(pid)
    })
    .await;
}
