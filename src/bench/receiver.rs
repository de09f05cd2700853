//! The webhook receiver of the benches that time pages (B3, B6): a local HTTP server that
//! records when each trigger arrived, by a key the bench takes from the body.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use axum::Json;
use axum::http::StatusCode;
use serde_json::Value;

/// Arrival times of trigger deliveries, by key.
pub(crate) struct Arrivals<K, T>(Arc<Mutex<BTreeMap<K, Vec<T>>>>);

impl<K, T> Clone for Arrivals<K, T> {
    fn clone(&self) -> Self {
        Arrivals(self.0.clone())
    }
}

impl<K, T> Default for Arrivals<K, T> {
    fn default() -> Self {
        Arrivals(Arc::default())
    }
}

impl<K: Ord + Clone, T: Clone> Arrivals<K, T> {
    /// How many keys were seen.
    pub(crate) fn distinct(&self) -> usize {
        self.0.lock().map(|seen| seen.len()).unwrap_or(0)
    }

    pub(crate) fn snapshot(&self) -> BTreeMap<K, Vec<T>> {
        self.0.lock().map(|seen| seen.clone()).unwrap_or_default()
    }
}

/// Starts the receiver on a free port of 127.0.0.1: its URL. A delivery whose `event` is
/// `trigger` and whose body `key` finds a key in is recorded at `now()`; every delivery is
/// answered 202 at once, as a paging API's load balancer would (and without Nagle's delay).
pub(crate) async fn start<K, T>(
    arrivals: Arrivals<K, T>,
    key: fn(&Value) -> Option<K>,
    now: fn() -> T,
) -> anyhow::Result<String>
where
    K: Ord + Send + 'static,
    T: Send + 'static,
{
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let url = format!("http://{}/", listener.local_addr()?);
    let receive = move |Json(body): Json<Value>| async move {
        let at = now();
        if body["event"] == "trigger"
            && let Some(key) = key(&body)
            && let Ok(mut seen) = arrivals.0.lock()
        {
            seen.entry(key).or_default().push(at);
        }
        StatusCode::ACCEPTED
    };
    let app = axum::Router::new().route("/", axum::routing::post(receive));
    let listener = axum::serve::ListenerExt::tap_io(listener, |tcp| {
        let _ = tcp.set_nodelay(true);
    });
    tokio::spawn(async move { axum::serve(listener, app).await });
    Ok(url)
}
