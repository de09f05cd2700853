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
