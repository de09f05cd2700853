//! Paging that reaches people outside Discord, and comes back: email through a real SMTP
//! receiver (Python's aiosmtpd) with its one-click acknowledgement link followed by a real
//! HTTP client, PagerDuty V3 and Opsgenie webhooks signed as their docs say, paging without
//! Discord over REST and the CLI, and calendar feeds read by Python's `icalendar` parser.
//!
//! The rig is the real thing in-process on a controlled clock: the use cases on a
//! `ManualClock`, the escalation engine driven by `Engine::tick`, and warroom's HTTP router
//! served on a port of 127.0.0.1 (which `[http] public_url` names, so links point at it).

mod email;
mod email_updates;
mod feeds;
mod page;
mod sync;

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::Arc;
use std::time::Duration;

use tokio::io::AsyncBufReadExt;
use warroom::config::{Config, Environment};
use warroom::domain::GatewayState;
use warroom::domain::{EventKind, IncidentId, ManualClock, Source, Timestamp};
use warroom::escalation::{Engine, Pagers};
use warroom::http::AppState;
use warroom::notify::{self, VirtualTimer};
use warroom::ops::{OpenRequest, Ops};

use crate::support::{TestDb, WAIT, eventually, operator};

/// The secret that signs links in these tests (32+ characters, as warroom requires).
pub const ACK_SECRET: &str = "test-ack-secret-0123456789abcdef0123";

pub const MINUTE: Duration = Duration::from_secs(60);

/// Whether `python3` can import `module`. Outside CI a missing one skips the test (said on
/// stderr); under `CI=true` it fails it, since `.ci/run` installs it.
pub fn python_has(module: &str) -> bool {
    let found = std::process::Command::new("python3")
        .args(["-c", &format!("import {module}")])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|status| status.success());
    if !found {
        assert!(
            std::env::var("CI").is_err(),
            "python3 with the `{module}` module is needed (.ci/run installs it with pip)"
        );
        eprintln!("python3 with `{module}` is missing (pip install {module}): skipping this test");
    }
    found
}

fn here() -> PathBuf {
    crate::support::repo_root().join("tests/it/reach")
}

/// A real SMTP server on 127.0.0.1 (aiosmtpd), keeping every message it accepts.
pub struct SmtpSink {
    pub port: u16,
    dir: tempfile::TempDir,
    _child: tokio::process::Child,
}

impl SmtpSink {
    /// Starts one that accepts everything, or refuses every recipient with `refuse` (an SMTP
    /// reply such as `550 5.1.1 ...`). `None` when Python or aiosmtpd is missing outside CI.
    pub async fn start(refuse: Option<&str>) -> Option<SmtpSink> {
        if !python_has("aiosmtpd") {
            return None;
        }
        let dir = tempfile::tempdir().unwrap();
        let mut command = tokio::process::Command::new("python3");
        command
            .arg(here().join("smtp_sink.py"))
            .arg("--dir")
            .arg(dir.path())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .kill_on_drop(true);
        if let Some(refuse) = refuse {
            command.arg("--refuse").arg(refuse);
        }
        let mut child = command.spawn().expect("start the SMTP sink");
        let stdout = child.stdout.take().unwrap();
        let mut lines = tokio::io::BufReader::new(stdout).lines();
        let port = tokio::time::timeout(WAIT, lines.next_line())
            .await
            .expect("the SMTP sink says its port")
            .unwrap()
            .expect("a port line")
            .trim()
            .parse()
            .expect("a port number");
        Some(SmtpSink {
            port,
            dir,
            _child: child,
        })
    }

    /// The messages received so far, in order.
    pub fn messages(&self) -> Vec<serde_json::Value> {
        let mut paths: Vec<PathBuf> = std::fs::read_dir(self.dir.path())
            .unwrap()
            .map(|entry| entry.unwrap().path())
            .filter(|path| path.extension().is_some_and(|ext| ext == "json"))
            .collect();
        paths.sort();
        paths
            .iter()
            .map(|path| serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap())
            .collect()
    }
}

/// A database, the use cases on a manual clock, an engine, and warroom's HTTP router on a
/// port that `[http] public_url` names.
pub struct Rig {
    pub db: TestDb,
    pub ops: Ops,
    pub clock: Arc<ManualClock>,
    pub engine: Engine,
    /// `http://127.0.0.1:PORT`.
    pub base: String,
    pub client: reqwest::Client,
    server: tokio::task::JoinHandle<()>,
}

impl Drop for Rig {
    fn drop(&mut self) {
        self.server.abort();
    }
}

impl Rig {
    /// `toml` appended to the shipped config; `env` beside the link settings.
    pub async fn start(db: TestDb, toml: &str, env: &[(&str, &str)], start: Timestamp) -> Rig {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let environment = Environment::from_pairs(
            [
                ("WARROOM__HTTP__PUBLIC_URL", base.as_str()),
                ("WARROOM_ACK_SECRET", ACK_SECRET),
            ]
            .into_iter()
            .chain(env.iter().copied()),
        );
        let config = Config::load(&db.write_config(toml), &environment)
            .unwrap_or_else(|error| panic!("{error}"));
        let clock = Arc::new(ManualClock::new(start));
        let store = warroom::store::connect(&config.database).await.unwrap();
        let ops = Ops::new(store, Arc::new(config.clone()), clock.clone());
        let (notifiers, not_ready) = notify::build_all(
            &config.notifiers,
            &notify::http_client(),
            Arc::new(VirtualTimer::new(start)),
        );
        let engine = Engine::new(ops.clone(), Arc::new(Pagers::new(notifiers, not_ready)));
        let (_gateway, gateway) = tokio::sync::watch::channel(GatewayState::Disabled);
        let router = warroom::http::router(Arc::new(AppState {
            ops: ops.clone(),
            gateway,
            instance: "reach-test".to_owned(),
        }));
        let server = tokio::spawn(async move {
            axum::serve(listener, router).await.ok();
        });
        Rig {
            db,
            ops,
            clock,
            engine,
            base,
            client: reqwest::Client::builder()
                .no_proxy()
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .unwrap(),
            server,
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    pub async fn open(&self, title: &str) -> IncidentId {
        self.ops
            .open(
                &operator("alice"),
                Source::Cli,
                OpenRequest {
                    title: title.to_owned(),
                    severity: "SEV2".to_owned(),
                    ..Default::default()
                },
            )
            .await
            .unwrap()
            .incident
            .id
    }

    pub async fn advance(&self, by: Duration) {
        self.clock.advance(by);
        self.engine.tick().await.unwrap();
    }

    /// `(kind, text)` of every event of `id`, in order.
    pub async fn events(&self, id: IncidentId) -> Vec<(EventKind, String)> {
        self.ops
            .store()
            .timeline_page(id, 0, 1_000)
            .await
            .unwrap()
            .into_iter()
            .map(|event| (event.kind, event.text))
            .collect()
    }

    pub async fn texts_of(&self, id: IncidentId, kind: EventKind) -> Vec<String> {
        self.events(id)
            .await
            .into_iter()
            .filter(|(found, _)| *found == kind)
            .map(|(_, text)| text)
            .collect()
    }
}

/// Waits until the sink holds `count` messages and returns them.
pub async fn wait_for_mail(sink: &SmtpSink, count: usize) -> Vec<serde_json::Value> {
    eventually(format!("{count} emails"), WAIT, async || {
        let messages = sink.messages();
        (messages.len() >= count).then_some(messages)
    })
    .await
}

/// The first `http...` link after `marker` in `text`.
pub fn link_after(text: &str, marker: &str) -> String {
    let rest = &text[text
        .find(marker)
        .unwrap_or_else(|| panic!("{marker:?} in {text}"))..];
    let start = rest.find("http").expect("a link");
    rest[start..]
        .split(|c: char| c.is_whitespace() || c == '"' || c == '<')
        .next()
        .unwrap()
        .to_owned()
}

/// Runs a Python program with `args`; its stdout.
pub fn python(program: &str, args: &[&Path]) -> String {
    let output = std::process::Command::new("python3")
        .arg("-c")
        .arg(program)
        .args(args)
        .output()
        .expect("run python3");
    assert!(
        output.status.success(),
        "python failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout).unwrap()
}
