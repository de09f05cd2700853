//! The gateway: websocket connections, sessions with sequence numbers and replay buffers,
//! dispatch delivery filtered by intents, and the scripted faults.
//!
//! One bot, one shard. A *session* (made by Identify) outlives its connections: dispatches
//! produced while no connection is live are buffered and replayed on Resume, as Discord does.

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;

use axum::extract::ws::{CloseFrame, Message as WsMessage, WebSocket};
use futures::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio::sync::mpsc;

use crate::config::intents;
use crate::json;
use crate::state::{Shared, State};

/// Dispatches kept per session for replay. Discord keeps a bounded backlog too; a Resume from
/// before the oldest kept dispatch is answered with op 9 (not resumable).
pub const REPLAY_BUFFER_LIMIT: usize = 50_000;

/// Entries kept in the inspection logs (dispatches, control frames, REST requests), so a long benchmark does
/// not grow memory without bound.
pub const LOG_LIMIT: usize = 100_000;

/// How long a connection the emulator closed waits for the client to go away before the
/// emulator drops it (a client that never answers must not keep the task alive).
const CLOSE_GRACE: std::time::Duration = std::time::Duration::from_secs(5);

/// Close codes after which Discord does not let the session be resumed
/// (docs: topics/opcodes-and-status-codes, "Gateway Close Event Codes").
const SESSION_ENDING_CLOSE_CODES: &[u16] = &[4004, 4007, 4009, 4010, 4011, 4012, 4013, 4014];

/// What a connection's task is told to do.
#[derive(Debug)]
pub(crate) enum Outbound {
    Text(Arc<str>),
    /// Send a Close frame, then keep reading until the client goes away.
    Close(u16, String),
    /// Drop the TCP connection without a Close frame.
    Drop,
}

/// What happened to one dispatch.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Delivery {
    /// Written to the live connection.
    Sent,
    /// No live connection: kept in the session's replay buffer for a Resume.
    Buffered,
    /// Sent again during a Resume.
    Replayed,
    /// The session's intents do not include the one this event needs; Discord does not send it.
    FilteredByIntents,
    /// No session exists (the bot never identified, or its session was invalidated).
    NoSession,
}

/// One dispatch the emulator produced, for inspection.
#[derive(Clone, Debug)]
pub struct DispatchRecord {
    pub event: String,
    pub seq: Option<u64>,
    /// The exact frame text (`{"op":0,"s":..,"t":..,"d":..}`), or the unsent payload.
    pub frame: String,
    pub delivery: Delivery,
    pub session_id: Option<String>,
}

/// A snapshot of the gateway for tests.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct GatewayStats {
    pub identifies: u32,
    pub resumes: u32,
    /// Resumes refused with op 9 because the session was unknown, invalid or too old.
    pub resumes_refused: u32,
    pub heartbeats: u32,
    pub heartbeat_acks_dropped: u32,
    /// A session exists and its live connection got READY or RESUMED.
    pub connected: bool,
    pub session_id: Option<String>,
    /// The current session's last sequence number.
    pub seq: u64,
    /// Intents of the current session's Identify.
    pub intents: Option<u64>,
    /// Close codes the client sent.
    pub client_close_codes: Vec<u16>,
    pub open_connections: usize,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
enum AckDrops {
    #[default]
    None,
    Next(u32),
    All,
}

#[derive(Debug)]
struct Session {
    id: String,
    seq: u64,
    /// (seq, event name, frame): what a Resume replays.
    buffer: VecDeque<(u64, String, Arc<str>)>,
    intents: u64,
    /// The connection dispatches go to, once it got READY or RESUMED.
    live: Option<u64>,
    invalid: bool,
}

#[derive(Debug)]
struct Conn {
    tx: mpsc::UnboundedSender<Outbound>,
}

/// Which dispatches need which intent, and whether the message content in them is gated by
/// MESSAGE_CONTENT.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct Gate {
    /// 0 means always sent (READY, INTERACTION_CREATE...).
    pub intent: u64,
    /// Blank `content`/`embeds`/`attachments`/`components` unless the session has
    /// MESSAGE_CONTENT (guild messages not from the bot and not mentioning it).
    pub content_gated: bool,
}

#[derive(Debug, Default)]
pub(crate) struct Gateway {
    sessions: HashMap<String, Session>,
    /// The session new dispatches go to.
    current: Option<String>,
    conns: HashMap<u64, Conn>,
    next_conn: u64,
    next_session: u64,
    ack_drops: AckDrops,
    stats: GatewayStats,
    pub log: VecDeque<DispatchRecord>,
    /// Control frames sent (Hello, ACKs, op 7, op 9), for conformance tests.
    pub control_frames: VecDeque<String>,
    pub last_identify: Option<Value>,
}

impl Gateway {
    pub(crate) fn stats(&self) -> GatewayStats {
        let mut s = self.stats.clone();
        let session = self.current.as_ref().and_then(|id| self.sessions.get(id));
        s.connected = session.is_some_and(|s| s.live.is_some_and(|c| self.conns.contains_key(&c)));
        s.session_id = session.map(|s| s.id.clone());
        s.seq = session.map(|s| s.seq).unwrap_or(0);
        s.intents = session.map(|s| s.intents);
        s.open_connections = self.conns.len();
        s
    }

    pub(crate) fn has_session(&self) -> bool {
        self.current.is_some()
    }

    fn current_mut(&mut self) -> Option<&mut Session> {
        let id = self.current.as_ref()?;
        self.sessions.get_mut(id)
    }

    fn send(&mut self, conn: u64, out: Outbound) {
        if let Some(c) = self.conns.get(&conn) {
            let _ = c.tx.send(out);
        }
    }

    fn send_control(&mut self, conn: u64, frame: Value) {
        let text: Arc<str> = frame.to_string().into();
        push_capped(&mut self.control_frames, text.to_string());
        self.send(conn, Outbound::Text(text));
    }

    /// Sends a dispatch to the current session (or buffers it, or drops it as Discord would).
    pub(crate) fn dispatch(&mut self, name: &str, mut d: Value, gate: Gate) -> Delivery {
        let Some(session) = self.current_mut() else {
            let frame = json!({"op": 0, "t": name, "d": d}).to_string();
            self.log(name, None, frame, Delivery::NoSession, None);
            return Delivery::NoSession;
        };
        if gate.intent != 0 && session.intents & gate.intent == 0 {
            let sid = Some(session.id.clone());
            let frame = json!({"op": 0, "t": name, "d": d}).to_string();
            self.log(name, None, frame, Delivery::FilteredByIntents, sid);
            return Delivery::FilteredByIntents;
        }
        if gate.content_gated && session.intents & intents::MESSAGE_CONTENT == 0 {
            blank_content(&mut d);
        }
        session.seq += 1;
        let seq = session.seq;
        let frame: Arc<str> = json!({"op": 0, "s": seq, "t": name, "d": d})
            .to_string()
            .into();
        session
            .buffer
            .push_back((seq, name.to_string(), frame.clone()));
        if session.buffer.len() > REPLAY_BUFFER_LIMIT {
            session.buffer.pop_front();
        }
        let live = session.live;
        let sid = Some(session.id.clone());
        let delivery = match live {
            Some(conn) if self.conns.contains_key(&conn) => {
                self.send(conn, Outbound::Text(frame.clone()));
                Delivery::Sent
            }
            _ => Delivery::Buffered,
        };
        self.log(name, Some(seq), frame.to_string(), delivery, sid);
        delivery
    }

    fn log(
        &mut self,
        name: &str,
        seq: Option<u64>,
        frame: String,
        delivery: Delivery,
        session_id: Option<String>,
    ) {
        push_capped(
            &mut self.log,
            DispatchRecord {
                event: name.to_string(),
                seq,
                frame,
                delivery,
                session_id,
            },
        );
    }

    /// The live connection of the current session, detached so that later dispatches are
    /// buffered for the Resume the fault provokes.
    fn take_live(&mut self) -> Option<u64> {
        let session = self.current_mut()?;
        session.live.take()
    }

    pub(crate) fn fault_reconnect(&mut self) -> Result<(), String> {
        let conn = self
            .take_live()
            .ok_or("no live gateway connection to send op 7 Reconnect to")?;
        self.send_control(conn, json!({"op": 7, "d": null}));
        Ok(())
    }

    pub(crate) fn fault_invalid_session(&mut self, resumable: bool) -> Result<(), String> {
        let conn = self
            .take_live()
            .ok_or("no live gateway connection to send op 9 Invalid Session to")?;
        if !resumable {
            self.invalidate_current();
        }
        self.send_control(conn, json!({"op": 9, "d": resumable}));
        Ok(())
    }

    pub(crate) fn fault_close(&mut self, code: u16, reason: &str) -> Result<(), String> {
        let conn = self
            .take_live()
            .ok_or("no live gateway connection to close")?;
        if SESSION_ENDING_CLOSE_CODES.contains(&code) {
            self.invalidate_current();
        }
        self.send(conn, Outbound::Close(code, reason.to_string()));
        Ok(())
    }

    pub(crate) fn fault_drop_connection(&mut self) -> Result<(), String> {
        let conn = self
            .take_live()
            .ok_or("no live gateway connection to drop")?;
        self.send(conn, Outbound::Drop);
        Ok(())
    }

    pub(crate) fn drop_heartbeat_acks(&mut self, next: Option<u32>) {
        self.ack_drops = match next {
            Some(0) => AckDrops::None,
            Some(n) => AckDrops::Next(n),
            None => AckDrops::All,
        };
    }

    fn invalidate_current(&mut self) {
        if let Some(id) = self.current.take()
            && let Some(s) = self.sessions.get_mut(&id)
        {
            s.invalid = true;
            s.live = None;
            s.buffer.clear();
        }
    }

    /// Drops every connection (emulator shutdown).
    pub(crate) fn drop_all(&mut self) {
        for c in self.conns.values() {
            let _ = c.tx.send(Outbound::Drop);
        }
    }

    fn closed(&mut self, conn: u64, client_close: Option<u16>) {
        self.conns.remove(&conn);
        if let Some(code) = client_close {
            self.stats.client_close_codes.push(code);
        }
        for s in self.sessions.values_mut() {
            if s.live == Some(conn) {
                s.live = None;
            }
        }
    }
}

pub(crate) fn push_capped<T>(log: &mut VecDeque<T>, item: T) {
    log.push_back(item);
    if log.len() > LOG_LIMIT {
        log.pop_front();
    }
}

/// What Discord sends without MESSAGE_CONTENT: the fields exist but are empty.
fn blank_content(d: &mut Value) {
    if let Some(obj) = d.as_object_mut() {
        if obj.contains_key("content") {
            obj.insert("content".into(), json!(""));
        }
        for key in ["embeds", "attachments", "components"] {
            if obj.contains_key(key) {
                obj.insert(key.into(), json!([]));
            }
        }
    }
}

fn token_ok(shared: &Shared, token: Option<&str>) -> bool {
    let token = token.unwrap_or_default();
    token.strip_prefix("Bot ").unwrap_or(token) == shared.config.bot_token
}

/// Handles one text frame from the client.
fn on_client_text(shared: &Shared, st: &mut State, conn: u64, text: &str) {
    let Ok(payload) = serde_json::from_str::<Value>(text) else {
        st.gateway.send(
            conn,
            Outbound::Close(4002, "Error while decoding payload.".into()),
        );
        return;
    };
    match payload.get("op").and_then(Value::as_u64) {
        Some(1) => {
            st.gateway.stats.heartbeats += 1;
            let drop_it = match st.gateway.ack_drops {
                AckDrops::None => false,
                AckDrops::All => true,
                AckDrops::Next(n) => {
                    st.gateway.ack_drops = if n > 1 {
                        AckDrops::Next(n - 1)
                    } else {
                        AckDrops::None
                    };
                    true
                }
            };
            if drop_it {
                st.gateway.stats.heartbeat_acks_dropped += 1;
            } else {
                st.gateway.send_control(conn, json!({"op": 11}));
            }
        }
        Some(2) => identify(shared, st, conn, &payload["d"]),
        Some(6) => resume(shared, st, conn, &payload["d"]),
        // Presence updates, voice state, member requests: accepted and ignored.
        Some(3 | 4 | 8 | 31) => {}
        _ => st
            .gateway
            .send(conn, Outbound::Close(4001, "Unknown opcode.".into())),
    }
}

fn identify(shared: &Shared, st: &mut State, conn: u64, d: &Value) {
    st.gateway.last_identify = Some(d.clone());
    if !token_ok(shared, d.get("token").and_then(Value::as_str)) {
        st.gateway
            .send(conn, Outbound::Close(4004, "Authentication failed.".into()));
        return;
    }
    let requested = d.get("intents").and_then(Value::as_u64).unwrap_or(0);
    if requested & intents::PRIVILEGED & !shared.config.allowed_privileged_intents != 0 {
        st.gateway
            .send(conn, Outbound::Close(4014, "Disallowed intent(s).".into()));
        return;
    }
    let gw = &mut st.gateway;
    gw.stats.identifies += 1;
    gw.next_session += 1;
    let id = format!("emulator-session-{}", gw.next_session);
    if let Some(old) = gw.current.take()
        && let Some(s) = gw.sessions.get_mut(&old)
    {
        s.live = None;
    }
    gw.sessions.insert(
        id.clone(),
        Session {
            id: id.clone(),
            seq: 0,
            buffer: VecDeque::new(),
            intents: requested,
            live: Some(conn),
            invalid: false,
        },
    );
    gw.current = Some(id.clone());
    let cfg = &shared.config;
    let ready = json!({
        "v": 10,
        "user": {
            "id": cfg.bot_user_id.to_string(),
            "username": cfg.bot_name,
            "global_name": null,
            "discriminator": "0",
            "avatar": null,
            "bot": true,
            "verified": true,
            "mfa_enabled": false,
            "flags": 0,
        },
        "guilds": [{"id": cfg.guild_id.to_string(), "unavailable": true}],
        "session_id": id,
        "resume_gateway_url": shared.ws_url,
        "shard": [0, 1],
        "application": {"id": cfg.application_id.to_string(), "flags": 0},
        "private_channels": [],
        "presences": [],
        "relationships": [],
        "user_settings": {},
    });
    st.gateway.dispatch("READY", ready, Gate::default());
    let guild = json::guild_create(&st.world);
    st.gateway.dispatch("GUILD_CREATE", guild, Gate::default());
}

fn resume(shared: &Shared, st: &mut State, conn: u64, d: &Value) {
    if !token_ok(shared, d.get("token").and_then(Value::as_str)) {
        st.gateway
            .send(conn, Outbound::Close(4004, "Authentication failed.".into()));
        return;
    }
    let session_id = d
        .get("session_id")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string();
    let client_seq = d.get("seq").and_then(Value::as_u64).unwrap_or(0);
    let gw = &mut st.gateway;
    let resumable = gw.sessions.get(&session_id).is_some_and(|s| {
        let oldest = s
            .buffer
            .front()
            .map(|(seq, _, _)| *seq)
            .unwrap_or(s.seq + 1);
        !s.invalid && client_seq <= s.seq && oldest <= client_seq + 1
    });
    if !resumable {
        gw.stats.resumes_refused += 1;
        gw.send_control(conn, json!({"op": 9, "d": false}));
        return;
    }
    gw.stats.resumes += 1;
    // A resumed session becomes the current one; any other live connection is superseded.
    if let Some(prev) = gw.current.replace(session_id.clone())
        && prev != session_id
        && let Some(s) = gw.sessions.get_mut(&prev)
    {
        s.live = None;
    }
    let session = gw.sessions.get_mut(&session_id).expect("checked above");
    session.live = Some(conn);
    let replay: Vec<(u64, String, Arc<str>)> = session
        .buffer
        .iter()
        .filter(|(seq, name, _)| *seq > client_seq && name != "RESUMED")
        .cloned()
        .collect();
    for (seq, name, frame) in replay {
        gw.send(conn, Outbound::Text(frame.clone()));
        gw.log(
            &name,
            Some(seq),
            frame.to_string(),
            Delivery::Replayed,
            Some(session_id.clone()),
        );
    }
    // `"d":{}` matters: serenity decodes `"d":null` as an unknown event and never leaves the
    // Resuming stage.
    gw.dispatch("RESUMED", json!({}), Gate::default());
}

/// Runs one websocket connection until either side ends it.
pub(crate) async fn serve_socket(shared: Arc<Shared>, socket: WebSocket) {
    let (mut sink, mut stream) = socket.split();
    let (tx, mut rx) = mpsc::unbounded_channel();
    let hello = json!({"op": 10, "d": {"heartbeat_interval": shared.config.heartbeat_interval.as_millis() as u64}, "s": null, "t": null});
    let conn = shared.with(|st| {
        let gw = &mut st.gateway;
        gw.next_conn += 1;
        let conn = gw.next_conn;
        gw.conns.insert(conn, Conn { tx });
        // Hello goes out at once, even to a client about to Resume; serenity ignores it while
        // resuming.
        gw.send_control(conn, hello);
        conn
    });
    let mut client_close = None;
    let mut closing_since: Option<tokio::time::Instant> = None;
    loop {
        let grace_over = async {
            match closing_since {
                Some(t) => tokio::time::sleep_until(t + CLOSE_GRACE).await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            () = grace_over => break,
            out = rx.recv() => match out {
                Some(Outbound::Text(text)) => {
                    if sink.send(WsMessage::Text(text.as_ref().into())).await.is_err() {
                        break;
                    }
                },
                Some(Outbound::Close(code, reason)) => {
                    let frame = CloseFrame { code, reason: reason.into() };
                    if sink.send(WsMessage::Close(Some(frame))).await.is_err() {
                        break;
                    }
                    closing_since = Some(tokio::time::Instant::now());
                    // The connection is no longer anyone's live one; keep reading so the
                    // client's Close (if it sends one) is answered, until it goes away.
                    shared.with(|st| {
                        for s in st.gateway.sessions.values_mut() {
                            if s.live == Some(conn) {
                                s.live = None;
                            }
                        }
                    });
                },
                Some(Outbound::Drop) | None => break,
            },
            incoming = stream.next() => match incoming {
                Some(Ok(WsMessage::Text(text))) => {
                    let shared2 = shared.clone();
                    shared.with(|st| on_client_text(&shared2, st, conn, text.as_str()));
                },
                Some(Ok(WsMessage::Close(frame))) => {
                    client_close = Some(frame.map(|f| f.code).unwrap_or(1005));
                    // tungstenite queues the Close reply; it is flushed by the next poll,
                    // after which the stream ends.
                    let _ = sink.flush().await;
                },
                Some(Ok(_)) => {},
                Some(Err(_)) | None => break,
            },
        }
    }
    shared.with(|st| st.gateway.closed(conn, client_close));
}
