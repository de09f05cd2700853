//! Helpers shared by the tests: logging, a raw gateway client, and an HTTP client that speaks
//! as the bot.

use std::time::Duration;

use discord_emulator::{Emulator, EmulatorConfig};
use futures::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Message as WsMessage;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream, connect_async};

/// Upper bound on every wait in these tests: long enough for a loaded 2-core machine, and
/// a hang becomes a failure that says what it waited for.
pub const WAIT: Duration = Duration::from_secs(20);

/// `TEST_LOG=debug cargo test ...` shows serenity's and the emulator's logs.
pub fn init_logs() {
    if let Ok(filter) = std::env::var("TEST_LOG") {
        let _ = tracing_subscriber::fmt()
            .with_env_filter(filter)
            .with_test_writer()
            .try_init();
    }
}

pub async fn start() -> Emulator {
    init_logs();
    Emulator::start(EmulatorConfig::for_tests()).await
}

/// A websocket client that records every text frame the emulator sent it.
pub struct RawGateway {
    ws: WebSocketStream<MaybeTlsStream<TcpStream>>,
    pub frames: Vec<String>,
}

impl RawGateway {
    pub async fn connect(emu: &Emulator) -> Self {
        let (ws, _) = connect_async(format!("{}?v=10", emu.gateway_url()))
            .await
            .expect("connect to the emulator gateway");
        Self {
            ws,
            frames: Vec::new(),
        }
    }

    /// Connects and identifies; returns the client once READY and GUILD_CREATE arrived.
    pub async fn identify(emu: &Emulator, intents: u64) -> Self {
        let mut gw = Self::connect(emu).await;
        gw.send(json!({"op": 2, "d": {
            "token": format!("Bot {}", emu.config().bot_token),
            "intents": intents,
            "properties": {"os": "linux", "browser": "test", "device": "test"},
            "shard": [0, 1],
            "compress": false,
            "large_threshold": 250,
        }}))
        .await;
        gw.next_dispatch("READY").await;
        gw.next_dispatch("GUILD_CREATE").await;
        gw
    }

    pub fn raw(&mut self) -> &mut WebSocketStream<MaybeTlsStream<TcpStream>> {
        &mut self.ws
    }

    pub async fn send(&mut self, v: Value) {
        self.ws
            .send(WsMessage::Text(v.to_string()))
            .await
            .expect("send to the emulator gateway");
    }

    /// The next text frame (close frames and errors are failures).
    pub async fn next(&mut self) -> Value {
        loop {
            let msg = tokio::time::timeout(WAIT, self.ws.next())
                .await
                .expect("a gateway frame within the wait")
                .expect("the gateway stream to stay open")
                .expect("a gateway frame, not an error");
            if let WsMessage::Text(t) = msg {
                self.frames.push(t.clone());
                return serde_json::from_str(&t).expect("gateway frames are JSON");
            }
        }
    }

    /// Reads until a frame with op `op` arrives.
    pub async fn next_op(&mut self, op: u64) -> Value {
        loop {
            let f = self.next().await;
            if f["op"] == op {
                return f;
            }
        }
    }

    /// Reads until a dispatch named `t` arrives; returns the whole frame.
    pub async fn next_dispatch(&mut self, t: &str) -> Value {
        loop {
            let f = self.next().await;
            if f["op"] == 0 && f["t"] == t {
                return f;
            }
        }
    }

    /// Reads whatever arrives within `quiet` (to collect trailing frames).
    pub async fn drain(&mut self, quiet: Duration) {
        while let Ok(Some(Ok(msg))) = tokio::time::timeout(quiet, self.ws.next()).await {
            if let WsMessage::Text(t) = msg {
                self.frames.push(t);
            }
        }
    }
}

/// REST calls as the bot, returning status and JSON body.
pub struct BotHttp {
    client: reqwest::Client,
    base: String,
    token: String,
}

impl BotHttp {
    pub fn new(emu: &Emulator) -> Self {
        let client = reqwest::Client::builder()
            .no_proxy()
            .timeout(WAIT)
            .build()
            .expect("reqwest client");
        Self {
            client,
            base: format!("{}/api/v10", emu.api_base()),
            token: emu.config().bot_token.clone(),
        }
    }

    pub async fn call(&self, method: &str, path: &str, body: Option<Value>) -> (u16, Value) {
        let method = reqwest::Method::from_bytes(method.as_bytes()).expect("method");
        let mut req = self
            .client
            .request(method, format!("{}{path}", self.base))
            .header("Authorization", format!("Bot {}", self.token));
        if let Some(b) = body {
            req = req.json(&b);
        }
        let resp = req.send().await.expect("request to the emulator");
        let status = resp.status().as_u16();
        let text = resp.text().await.expect("response body");
        (
            status,
            if text.is_empty() {
                Value::Null
            } else {
                serde_json::from_str(&text).expect("JSON response")
            },
        )
    }

    pub async fn ok(&self, method: &str, path: &str, body: Option<Value>) -> Value {
        let (status, v) = self.call(method, path, body).await;
        assert!(
            (200..300).contains(&status),
            "{method} {path} answered {status}: {v}"
        );
        v
    }

    /// A multipart request the way serenity sends files: `payload_json` + `files[n]`.
    pub async fn multipart(
        &self,
        method: &str,
        path: &str,
        payload: Value,
        files: &[(&str, &[u8])],
    ) -> (u16, Value) {
        let mut form = reqwest::multipart::Form::new();
        for (i, (name, bytes)) in files.iter().enumerate() {
            form = form.part(
                format!("files[{i}]"),
                reqwest::multipart::Part::bytes(bytes.to_vec())
                    .file_name(name.to_string())
                    .mime_str("text/plain")
                    .unwrap(),
            );
        }
        form = form.text("payload_json", payload.to_string());
        let method = reqwest::Method::from_bytes(method.as_bytes()).expect("method");
        let resp = self
            .client
            .request(method, format!("{}{path}", self.base))
            .header("Authorization", format!("Bot {}", self.token))
            .multipart(form)
            .send()
            .await
            .expect("multipart request to the emulator");
        let status = resp.status().as_u16();
        let text = resp.text().await.expect("response body");
        (
            status,
            if text.is_empty() {
                Value::Null
            } else {
                serde_json::from_str(&text).expect("JSON response")
            },
        )
    }
}

/// A slash command with a subcommand group-free tree that exercises every option kind the
/// driver supports.
pub fn incident_command() -> Value {
    json!({
        "name": "incident",
        "description": "Incident commands",
        "type": 1,
        "options": [
            {"type": 1, "name": "open", "description": "Open an incident", "options": [
                {"type": 3, "name": "title", "description": "What is broken", "required": true, "max_length": 100},
                {"type": 3, "name": "severity", "description": "How bad", "required": true, "choices": [
                    {"name": "SEV1", "value": "SEV1"}, {"name": "SEV2", "value": "SEV2"}, {"name": "SEV3", "value": "SEV3"}
                ]},
                {"type": 5, "name": "drill", "description": "Practice run"},
                {"type": 6, "name": "commander", "description": "Who leads"},
                {"type": 8, "name": "team", "description": "Who responds"},
                {"type": 7, "name": "where", "description": "Where to talk", "channel_types": [0]},
                {"type": 4, "name": "impact", "description": "Users affected", "min_value": 0, "max_value": 1000000}
            ]},
            {"type": 1, "name": "ack", "description": "Acknowledge", "options": [
                {"type": 3, "name": "incident", "description": "Which incident", "required": true, "autocomplete": true}
            ]}
        ]
    })
}

/// serenity's `Http` pointed at the emulator, the way warroom builds it.
pub fn serenity_http(emu: &Emulator) -> serenity::http::Http {
    let reqwest = reqwest::Client::builder()
        .no_proxy()
        .timeout(WAIT)
        .build()
        .expect("reqwest client");
    serenity::http::HttpBuilder::new(&emu.config().bot_token)
        .proxy(emu.api_base())
        .ratelimiter_disabled(true)
        .client(reqwest)
        .application_id(serenity::all::ApplicationId::new(
            emu.config().application_id,
        ))
        .build()
}

/// Discord's JSON error code of a failed serenity call (`None` for other failures).
pub fn discord_code(e: &serenity::Error) -> Option<isize> {
    match e {
        serenity::Error::Http(serenity::http::HttpError::UnsuccessfulRequest(r)) => {
            Some(r.error.code)
        }
        _ => None,
    }
}

/// A serenity client in its own runtime on its own thread, like a separate bot process:
/// `kill` drops the runtime at once, so its sockets close without a Close frame and nothing
/// of it runs any more (what `kill -9` does to a process).
pub struct BotProcess {
    runtime: Option<tokio::runtime::Runtime>,
    shards: std::sync::Arc<serenity::all::ShardManager>,
}

impl BotProcess {
    pub async fn start<H: serenity::all::EventHandler + 'static>(
        emu: &Emulator,
        intents: serenity::all::GatewayIntents,
        handler: H,
    ) -> BotProcess {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .expect("a runtime for the bot");
        let http = serenity_http(emu);
        let (tx, rx) = tokio::sync::oneshot::channel();
        runtime.spawn(async move {
            let mut client = serenity::client::ClientBuilder::new_with_http(http, intents)
                .event_handler(handler)
                .await
                .expect("build the serenity client");
            let _ = tx.send(client.shard_manager.clone());
            let _ = client.start().await;
        });
        let shards = tokio::time::timeout(WAIT, rx)
            .await
            .expect("the client is built within the wait")
            .expect("the client task sends its shard manager");
        BotProcess {
            runtime: Some(runtime),
            shards,
        }
    }

    /// Stops the way `kill -9` would: no Close frame, no resume, nothing more from it.
    pub fn kill(mut self) {
        if let Some(rt) = self.runtime.take() {
            rt.shutdown_background();
        }
    }

    /// Stops the way a graceful shutdown does (serenity closes with 1000).
    pub async fn stop(mut self) {
        let _ = tokio::time::timeout(WAIT, self.shards.shutdown_all()).await;
        if let Some(rt) = self.runtime.take() {
            rt.shutdown_background();
        }
    }
}

impl Drop for BotProcess {
    fn drop(&mut self) {
        if let Some(rt) = self.runtime.take() {
            rt.shutdown_background();
        }
    }
}

/// Events a test bot saw, shared with the test across runtimes.
#[derive(Clone, Default)]
pub struct Seen {
    tx: std::sync::Arc<tokio::sync::watch::Sender<Vec<String>>>,
}

impl Seen {
    pub fn new() -> Self {
        Self {
            tx: std::sync::Arc::new(tokio::sync::watch::Sender::new(Vec::new())),
        }
    }

    pub fn push(&self, what: impl Into<String>) {
        let what = what.into();
        self.tx.send_modify(|v| v.push(what));
    }

    pub fn all(&self) -> Vec<String> {
        self.tx.borrow().clone()
    }

    /// How many times exactly `what` was seen.
    pub fn count(&self, what: &str) -> usize {
        self.tx.borrow().iter().filter(|s| *s == what).count()
    }

    /// Waits until `what` was seen `n` times.
    pub async fn wait_count(&self, what: &str, n: usize) {
        let mut rx = self.tx.subscribe();
        let deadline = tokio::time::Instant::now() + WAIT;
        loop {
            if self.count(what) >= n {
                return;
            }
            if tokio::time::timeout_at(deadline, rx.changed())
                .await
                .is_err()
            {
                panic!(
                    "timed out after {WAIT:?} waiting to see {what:?} {n} time(s); saw {:?}",
                    self.all()
                );
            }
        }
    }

    /// Waits for an entry starting with `prefix`; returns it.
    pub async fn wait_prefix(&self, prefix: &str) -> String {
        let mut rx = self.tx.subscribe();
        let deadline = tokio::time::Instant::now() + WAIT;
        loop {
            if let Some(s) = self.all().into_iter().find(|s| s.starts_with(prefix)) {
                return s;
            }
            if tokio::time::timeout_at(deadline, rx.changed())
                .await
                .is_err()
            {
                panic!(
                    "timed out after {WAIT:?} waiting to see {prefix:?}…; saw {:?}",
                    self.all()
                );
            }
        }
    }
}
