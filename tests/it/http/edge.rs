//! The HTTP edge against slow and oversized clients, over real loopback sockets: a flood of
//! slow clients beyond the open-files limit cannot keep `/healthz` from answering, a slow
//! client is closed after `header_read_timeout`, a slow body gets 408 and a declared body
//! over the limit gets 413 before a byte of it is sent.

use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use super::{CONFIG, Server};
use crate::support::{TestDb, WAIT, eventually, free_port};

/// The open-files limit the flooded warroom runs under; the flood is twice that, so a server
/// that holds every connection it accepts runs out of descriptors.
const FILES: u32 = 128;
const FLOOD: usize = 2 * FILES as usize;
/// How long one flooding client tries to connect before it gives up.
const CONNECT_PATIENCE: Duration = Duration::from_secs(2);
/// Rounds of the flood: after each, `/healthz` must answer again.
const ROUNDS: usize = 3;

/// A client that opens a request and never finishes its headers.
async fn slow_client(address: &str) -> Option<TcpStream> {
    let mut stream = TcpStream::connect(address).await.ok()?;
    stream
        .write_all(b"GET /healthz HTTP/1.1\r\nHost: warroom\r\nX-Slow: ")
        .await
        .ok()?;
    Some(stream)
}

/// `/healthz` on a fresh connection (no pooled one to lean on).
async fn healthz(base: &str) -> Result<(), String> {
    let client = reqwest::Client::builder()
        .no_proxy()
        .pool_max_idle_per_host(0)
        .timeout(Duration::from_secs(3))
        .build()
        .unwrap();
    let response = client
        .get(format!("{base}/healthz"))
        .send()
        .await
        .map_err(|error| error.to_string())?;
    match response.status().as_u16() {
        200 => Ok(()),
        status => Err(format!("status {status}")),
    }
}

// Fails on the main of issue 12: `axum::serve` holds every slow connection, runs out of
// descriptors (`accept error: Too many open files`) and never takes `/healthz` again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flood_of_slow_clients_cannot_keep_healthz_from_answering() {
    let db = TestDb::sqlite();
    let config = db.write_config("");
    let port = free_port();
    let address = format!("127.0.0.1:{port}");
    let base = format!("http://{address}");
    // The real binary under a low open-files limit (prlimit from util-linux sets it).
    let mut child = Killed(
        std::process::Command::new("prlimit")
            .arg(format!("--nofile={FILES}:{FILES}"))
            .arg("--")
            .arg(env!("CARGO_BIN_EXE_warroom"))
            .arg("--config")
            .arg(&config)
            .arg("run")
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("WARROOM__HTTP__LISTEN", &address)
            .env("WARROOM_LOG", "error")
            .spawn()
            .expect("start warroom run under prlimit"),
    );
    eventually("warroom to answer /healthz", WAIT, async || {
        assert!(child.0.try_wait().unwrap().is_none(), "warroom exited");
        healthz(&base).await
    })
    .await;
    let mut flood = Vec::new();
    for round in 0..ROUNDS {
        // All at once, each given up after a while: a server that stopped accepting lets
        // the kernel's accept queue fill, and then connecting hangs.
        let round_of = futures::future::join_all(
            (0..FLOOD).map(|_| tokio::time::timeout(CONNECT_PATIENCE, slow_client(&address))),
        )
        .await;
        flood.extend(round_of.into_iter().flatten().flatten());
        eventually(
            format!("/healthz to answer during round {round} of the flood"),
            WAIT,
            async || healthz(&base).await,
        )
        .await;
    }
    drop(flood);
}

/// A child process killed when the test ends, also when it fails (else it would keep the
/// test's output pipes open).
struct Killed(std::process::Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

// Fails on the main of issue 12: no header timeout, the slow client is held forever.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_that_never_finishes_its_headers_is_closed() {
    let server = Server::start_with_env(
        TestDb::sqlite(),
        CONFIG,
        vec![("WARROOM__HTTP__HEADER_READ_TIMEOUT".into(), "1s".into())],
    )
    .await;
    let address = server.base.trim_start_matches("http://").to_owned();
    let mut stream = slow_client(&address).await.expect("connect");
    let mut buffer = [0u8; 1024];
    // Closed by the server: the read ends (EOF or reset) instead of waiting forever.
    let ended = tokio::time::timeout(WAIT, stream.read(&mut buffer)).await;
    assert!(
        ended.is_ok(),
        "the slow client was still connected after {WAIT:?}"
    );
    server.stop().await;
}

/// Sends `head` (and `body`) on a fresh connection and returns the whole answer (the head
/// asks the server to close the connection after it).
async fn raw_request(address: &str, head: &str, body: &[u8]) -> String {
    let mut stream = TcpStream::connect(address).await.expect("connect");
    stream.write_all(head.as_bytes()).await.unwrap();
    stream.write_all(body).await.unwrap();
    let mut answer = Vec::new();
    let read = tokio::time::timeout(WAIT, stream.read_to_end(&mut answer)).await;
    assert!(read.is_ok(), "no answer within {WAIT:?}");
    String::from_utf8_lossy(&answer).into_owned()
}

// Both fail on the main of issue 12: the server waits for the declared body forever.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oversized_and_slow_bodies_are_refused_without_waiting_for_them() {
    let server = Server::start_with_env(
        TestDb::sqlite(),
        CONFIG,
        vec![("WARROOM__HTTP__BODY_READ_TIMEOUT".into(), "1s".into())],
    )
    .await;
    let address = server.base.trim_start_matches("http://").to_owned();
    let huge = raw_request(
        &address,
        "POST /v1/alerts/alertmanager HTTP/1.1\r\nHost: warroom\r\nConnection: close\r\nContent-Type: application/json\r\nContent-Length: 50000000\r\n\r\n",
        b"",
    )
    .await;
    assert!(huge.starts_with("HTTP/1.1 413"), "{huge}");
    assert!(huge.contains("larger than 1024 KiB"), "{huge}");
    let slow = raw_request(
        &address,
        "POST /v1/alerts/alertmanager HTTP/1.1\r\nHost: warroom\r\nConnection: close\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n",
        b"{\"version\":",
    )
    .await;
    assert!(slow.starts_with("HTTP/1.1 408"), "{slow}");
    assert!(slow.contains("body_read_timeout"), "{slow}");
    server.stop().await;
}
