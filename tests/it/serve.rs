//! `warroom run`: health and readiness answer, and SIGTERM stops it cleanly with exit 0.

use std::io::Read;
use std::process::Stdio;

use crate::support::{TestDb, WAIT, eventually, free_port, warroom};

#[tokio::test]
async fn run_answers_health_and_readiness_and_exits_0_on_sigterm() {
    let db = TestDb::sqlite();
    let config = db.write_config("");
    let port = free_port();
    let mut child = warroom(&config)
        .arg("run")
        .env("WARROOM__HTTP__LISTEN", format!("127.0.0.1:{port}"))
        .env("WARROOM_LOG", "info")
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let client = reqwest::Client::builder().no_proxy().build().unwrap();
    let base = format!("http://127.0.0.1:{port}");
    let health = eventually("warroom run to answer", WAIT, async || {
        client
            .get(format!("{base}/healthz"))
            .send()
            .await
            .map_err(|error| error.to_string())
    })
    .await;
    assert_eq!(health.status(), 200);
    let ready = client.get(format!("{base}/readyz")).send().await.unwrap();
    assert_eq!(ready.status(), 200);
    let body: serde_json::Value = ready.json().await.unwrap();
    assert_eq!(body["database"], "ok");
    assert_eq!(body["discord"], "disabled");

    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(child.id() as i32),
        nix::sys::signal::Signal::SIGTERM,
    )
    .unwrap();
    let status = child.wait().unwrap();
    assert_eq!(status.code(), Some(0), "exit status on SIGTERM");
    let mut log = String::new();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut log)
        .unwrap();
    assert!(log.contains("Discord is disabled"), "{log}");
    assert!(log.contains("SIGTERM received"), "{log}");
}
