//! A scripted HTTP receiver on 127.0.0.1 for notifier tests: records every request and
//! answers what the test says (a status, a 429 with `Retry-After`, or no answer at all).

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Bytes;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};

/// One scripted answer.
#[derive(Clone, Debug)]
pub enum Reply {
    /// This status with this body.
    Status(u16, &'static str),
    /// 429 with this `Retry-After` value.
    TooMany(String),
    /// Accept the request and never answer.
    Hang,
}

/// A request as the receiver saw it.
#[derive(Clone, Debug)]
pub struct Received {
    pub method: Method,
    /// Path and query, as sent (percent-encoding kept).
    pub uri: String,
    pub headers: HeaderMap,
    pub body: Bytes,
}

impl Received {
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).expect("the body is JSON")
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|value| value.to_str().ok())
    }
}

#[derive(Default)]
struct State {
    script: VecDeque<Reply>,
    received: Vec<Received>,
    /// How long each answer waits after its request is recorded (zero: none).
    delay: Duration,
}

/// A running receiver. Answers 202 once its script runs out.
pub struct Receiver {
    pub addr: SocketAddr,
    state: Arc<Mutex<State>>,
}

impl Receiver {
    pub async fn start(script: Vec<Reply>) -> Receiver {
        let state = Arc::new(Mutex::new(State {
            script: script.into(),
            received: Vec::new(),
            delay: Duration::ZERO,
        }));
        let shared = state.clone();
        let app = axum::Router::new().fallback(
            move |method: Method, uri: Uri, headers: HeaderMap, body: Bytes| {
                let state = shared.clone();
                async move { answer(state, method, uri, headers, body).await }
            },
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind a port on 127.0.0.1");
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move {
            axum::serve(listener, app).await.ok();
        });
        Receiver { addr, state }
    }

    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub fn received(&self) -> Vec<Received> {
        self.state.lock().unwrap().received.clone()
    }

    /// Makes every later answer wait `delay` after its request is recorded, so deliveries
    /// stay in flight that long (a crash test kills the sender while many are).
    pub fn delay_answers(&self, delay: Duration) {
        self.state.lock().unwrap().delay = delay;
    }
}

async fn answer(
    state: Arc<Mutex<State>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let (reply, delay) = {
        let mut state = state.lock().unwrap();
        state.received.push(Received {
            method,
            uri: uri
                .path_and_query()
                .map(ToString::to_string)
                .unwrap_or_default(),
            headers,
            body,
        });
        (state.script.pop_front(), state.delay)
    };
    if !delay.is_zero() {
        tokio::time::sleep(delay).await;
    }
    match reply.unwrap_or(Reply::Status(202, r#"{"status":"success"}"#)) {
        Reply::Status(status, body) => {
            (StatusCode::from_u16(status).unwrap(), body.to_owned()).into_response()
        }
        Reply::TooMany(retry_after) => (
            StatusCode::TOO_MANY_REQUESTS,
            [("retry-after", retry_after.as_str())],
            "slow down",
        )
            .into_response(),
        Reply::Hang => std::future::pending().await,
    }
}
