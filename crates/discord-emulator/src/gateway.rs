//! The gateway: websocket connections, sessions with sequence numbers and replay buffers,
//! dispatch delivery filtered by intents, and the scripted faults.
//!
//! One bot, one shard, any number of sessions at once: Discord lets a bot token identify
//! several times with the same shard and sends every dispatch to each session (that is how a
//! bot run twice answers everything twice). Each *session* (made by Identify) has its own
//! sequence numbers and replay buffer and outlives its connections: dispatches produced while
//! it has no live connection are buffered and replayed on Resume, until the session is over
//! (invalidated, closed by the client with 1000/1001, or not resumed within the resume window).

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::extract::ws::{CloseFrame, Message as WsMessage, WebSocket};
use chrono::{DateTime, Utc};
use futures::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio::sync::mpsc;

use crate::clock::Clock;
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
const CLOSE_GRACE: Duration = Duration::from_secs(5);

/// Close codes after which Discord does not let the session be resumed
/// (docs: topics/opcodes-and-status-codes, "Gateway Close Event Codes").
const SESSION_ENDING_CLOSE_CODES: &[u16] = &[4004, 4007, 4009, 4010, 4011, 4012, 4013, 4014];

/// A client that closes with one of these is logging off: Discord invalidates the session
/// (docs: events/gateway, "Disconnecting"). serenity's `shutdown_all` closes with 1000.
const CLIENT_GOODBYE_CLOSE_CODES: &[u16] = &[1000, 1001];

/// Dispatches a drop fault never takes: without them a client cannot finish identifying or
/// resuming, which is a different fault (see `invalid_session`).
const PROTOCOL_EVENTS: &[&str] = &["READY", "RESUMED"];

/// Identify's `large_threshold` when absent, and its allowed range (docs: events/gateway-events,
/// "Identify").
const LARGE_THRESHOLD_DEFAULT: u64 = 50;
const LARGE_THRESHOLD_RANGE: std::ops::RangeInclusive<u64> = 50..=250;

/// What a connection's task is told to do.
#[derive(Debug)]
pub(crate) enum Outbound {
    Text(Arc<str>),
    /// Send a Close frame, then keep reading until the client goes away.
    Close(u16, String),
    /// Drop the TCP connection without a Close frame.
    Drop,
}

/// What happened to one dispatch for one session.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Delivery {
    /// Written to the session's live connection.
    Sent,
    /// The session had no live connection: kept in its replay buffer for a Resume.
    Buffered,
    /// Sent again during a Resume (the client had not received it).
    Replayed,
    /// Sent again during a Resume although the client had already received it (a scripted
    /// duplicate, see [`crate::GatewaySession::duplicate_on_resume`]).
    Duplicated,
    /// Lost for good by a scripted fault: not sent, not buffered, no sequence number (see
    /// [`crate::GatewaySession::drop_next_dispatches`]).
    Dropped,
    /// The session's intents do not include the one this event needs; Discord does not send it.
    FilteredByIntents,
    /// No session exists (the bot never identified, or every session is over).
    NoSession,
}

impl Delivery {
    /// Whether the client got (or will get on a Resume) this frame.
    pub fn reaches_client(self) -> bool {
        matches!(
            self,
            Delivery::Sent | Delivery::Buffered | Delivery::Replayed | Delivery::Duplicated
        )
    }
}

/// One dispatch for one session (or for none), for inspection. A dispatch produced while two
/// sessions exist has two records, each with its session's sequence number.
#[derive(Clone, Debug)]
pub struct DispatchRecord {
    pub event: String,
    pub seq: Option<u64>,
    /// The exact frame text (`{"op":0,"s":..,"t":..,"d":..}`), or the unsent payload.
    pub frame: String,
    pub delivery: Delivery,
    pub session_id: Option<String>,
}

/// A snapshot of the gateway for tests. The session fields describe the *current* session:
/// the one most recently identified or resumed that is not over. [`crate::Emulator::sessions`]
/// describes each session.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct GatewayStats {
    pub identifies: u32,
    pub resumes: u32,
    /// Resumes refused with op 9 because the session was unknown, over or too old.
    pub resumes_refused: u32,
    pub heartbeats: u32,
    pub heartbeat_acks_dropped: u32,
    /// At least one session has a live connection that got READY or RESUMED.
    pub connected: bool,
    pub session_id: Option<String>,
    /// The current session's last sequence number.
    pub seq: u64,
    /// Intents of the current session's Identify.
    pub intents: Option<u64>,
    /// Close codes the client sent (any connection).
    pub client_close_codes: Vec<u16>,
    pub open_connections: usize,
    /// Sessions that are not over (connected, or disconnected but resumable).
    pub sessions: usize,
    /// Sessions with a live connection.
    pub live_sessions: usize,
}

/// Where a session stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SessionState {
    /// Its live connection got READY or RESUMED; dispatches are written to it.
    Connected,
    /// Its connection went away; dispatches are buffered until a Resume or the end of the
    /// resume window.
    Disconnected,
    /// Invalidated, closed by the client with 1000/1001, or not resumed in time: nothing is
    /// delivered to it any more and a Resume is refused.
    Ended,
}

/// One gateway session, for tests (see [`crate::Emulator::sessions`]).
#[derive(Clone, Debug, PartialEq)]
pub struct SessionInfo {
    pub id: String,
    pub state: SessionState,
    /// The last sequence number handed out to this session.
    pub seq: u64,
    pub intents: u64,
    /// The sequence number the client sent in its last heartbeat (what it has seen).
    pub heartbeat_seq: Option<u64>,
    /// On the emulator's clock.
    pub identified_at: DateTime<Utc>,
    pub resumes: u32,
    pub heartbeats: u32,
    /// Dispatches written to a live connection.
    pub sent: u64,
    /// Dispatches kept for a Resume because no connection was live.
    pub buffered: u64,
    pub replayed: u64,
    pub duplicated: u64,
    pub dropped: u64,
    pub filtered_by_intents: u64,
    /// Why it is over (`Some` exactly when `state` is `Ended`).
    pub ended_because: Option<String>,
    /// Close codes its client sent.
    pub client_close_codes: Vec<u16>,
}

impl SessionInfo {
    pub fn is_connected(&self) -> bool {
        self.state == SessionState::Connected
    }

    pub fn is_over(&self) -> bool {
        self.state == SessionState::Ended
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
enum AckDrops {
    #[default]
    None,
    Next(u32),
    All,
}

/// An armed "lose the next N dispatches" fault.
#[derive(Debug)]
struct DropFault {
    remaining: u32,
    /// Only dispatches with this event name count (and are lost); `None`: any.
    event: Option<String>,
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
    ended: Option<String>,
    /// Bumped on Identify and Resume: the highest stamp among live sessions is "current".
    active_stamp: u64,
    identified_at: DateTime<Utc>,
    /// When its connection went away (the resume window counts from here).
    disconnected_at: Option<Instant>,
    drop: Option<DropFault>,
    duplicate_on_resume: usize,
    heartbeat_seq: Option<u64>,
    resumes: u32,
    heartbeats: u32,
    sent: u64,
    buffered: u64,
    replayed: u64,
    duplicated: u64,
    dropped: u64,
    filtered: u64,
    client_close_codes: Vec<u16>,
}

#[derive(Debug)]
struct Conn {
    tx: mpsc::UnboundedSender<Outbound>,
    /// The session this connection identified or resumed.
    session: Option<String>,
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

impl Gate {
    pub(crate) fn intent(intent: u64) -> Self {
        Self {
            intent,
            content_gated: false,
        }
    }
}

#[derive(Debug, Default)]
pub(crate) struct Gateway {
    /// Every session ever identified, in Identify order (over ones keep their counters).
    sessions: Vec<Session>,
    conns: HashMap<u64, Conn>,
    next_conn: u64,
    next_session: u64,
    next_stamp: u64,
    ack_drops: AckDrops,
    stats: GatewayStats,
    pub log: VecDeque<DispatchRecord>,
    /// Control frames sent (Hello, ACKs, op 7, op 9), for conformance tests.
    pub control_frames: VecDeque<String>,
    pub last_identify: Option<Value>,
    clock: Clock,
    resume_window: Duration,
}

impl Gateway {
    pub(crate) fn configure(&mut self, clock: Clock, resume_window: Duration) {
        self.clock = clock;
        self.resume_window = resume_window;
    }

    /// Whether the session is over, counting a resume window that ran out but was not yet
    /// noticed (reads cannot mark it).
    fn over(&self, s: &Session, now: Instant) -> bool {
        s.ended.is_some()
            || (s.live.is_none()
                && s.disconnected_at
                    .is_some_and(|t| now.saturating_duration_since(t) > self.resume_window))
    }

    fn state_of(&self, s: &Session, now: Instant) -> SessionState {
        if self.over(s, now) {
            SessionState::Ended
        } else if s.live.is_some_and(|c| self.conns.contains_key(&c)) {
            SessionState::Connected
        } else {
            SessionState::Disconnected
        }
    }

    /// Ends every session whose resume window ran out.
    fn expire(&mut self) {
        let now = self.clock.now();
        let window = self.resume_window;
        for s in &mut self.sessions {
            if s.ended.is_none()
                && s.live.is_none()
                && s.disconnected_at
                    .is_some_and(|t| now.saturating_duration_since(t) > window)
            {
                end(
                    s,
                    format!("not resumed within the resume window ({window:?})"),
                );
            }
        }
    }

    /// The index of the current session: the most recently identified or resumed one that is
    /// not over.
    fn current_index(&self) -> Option<usize> {
        let now = self.clock.now();
        self.sessions
            .iter()
            .enumerate()
            .filter(|(_, s)| !self.over(s, now))
            .max_by_key(|(_, s)| s.active_stamp)
            .map(|(i, _)| i)
    }

    fn index_of(&self, id: &str) -> Option<usize> {
        self.sessions.iter().position(|s| s.id == id)
    }

    pub(crate) fn stats(&self) -> GatewayStats {
        let now = self.clock.now();
        let mut st = self.stats.clone();
        let current = self.current_index().map(|i| &self.sessions[i]);
        st.connected = self
            .sessions
            .iter()
            .any(|s| self.state_of(s, now) == SessionState::Connected);
        st.session_id = current.map(|s| s.id.clone());
        st.seq = current.map(|s| s.seq).unwrap_or(0);
        st.intents = current.map(|s| s.intents);
        st.open_connections = self.conns.len();
        st.sessions = self.sessions.iter().filter(|s| !self.over(s, now)).count();
        st.live_sessions = self
            .sessions
            .iter()
            .filter(|s| self.state_of(s, now) == SessionState::Connected)
            .count();
        st
    }

    pub(crate) fn sessions(&self) -> Vec<SessionInfo> {
        let now = self.clock.now();
        self.sessions
            .iter()
            .map(|s| {
                let state = self.state_of(s, now);
                SessionInfo {
                    id: s.id.clone(),
                    state,
                    seq: s.seq,
                    intents: s.intents,
                    heartbeat_seq: s.heartbeat_seq,
                    identified_at: s.identified_at,
                    resumes: s.resumes,
                    heartbeats: s.heartbeats,
                    sent: s.sent,
                    buffered: s.buffered,
                    replayed: s.replayed,
                    duplicated: s.duplicated,
                    dropped: s.dropped,
                    filtered_by_intents: s.filtered,
                    ended_because: match state {
                        SessionState::Ended => Some(s.ended.clone().unwrap_or_else(|| {
                            format!(
                                "not resumed within the resume window ({:?})",
                                self.resume_window
                            )
                        })),
                        _ => None,
                    },
                    client_close_codes: s.client_close_codes.clone(),
                }
            })
            .collect()
    }

    /// Whether some session can receive dispatches (now or on its Resume).
    pub(crate) fn has_session(&self) -> bool {
        self.current_index().is_some()
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

    /// Sends a dispatch to every session that is not over (each gets it under its intents,
    /// or buffers it, or loses it to an armed fault); with no session, it goes nowhere, as
    /// with Discord. Returns the best delivery any session got.
    pub(crate) fn dispatch(&mut self, name: &str, d: Value, gate: Gate) -> Delivery {
        self.expire();
        let targets: Vec<usize> = (0..self.sessions.len())
            .filter(|i| self.sessions[*i].ended.is_none())
            .collect();
        if targets.is_empty() {
            let frame = unsequenced(name, &d.to_string());
            self.log(name, None, frame, Delivery::NoSession, None);
            return Delivery::NoSession;
        }
        let full = d.to_string();
        let mut blanked: Option<String> = None;
        let mut best = Delivery::NoSession;
        for idx in targets {
            let s = &mut self.sessions[idx];
            let sid = Some(s.id.clone());
            if gate.intent != 0 && s.intents & gate.intent == 0 {
                s.filtered += 1;
                let frame = unsequenced(name, &full);
                self.log(name, None, frame, Delivery::FilteredByIntents, sid);
                best = better(best, Delivery::FilteredByIntents);
                continue;
            }
            if take_drop(s, name) {
                s.dropped += 1;
                let frame = unsequenced(name, &full);
                self.log(name, None, frame, Delivery::Dropped, sid);
                best = better(best, Delivery::Dropped);
                continue;
            }
            let text = if gate.content_gated && s.intents & intents::MESSAGE_CONTENT == 0 {
                blanked.get_or_insert_with(|| {
                    let mut b = d.clone();
                    blank_content(&mut b);
                    b.to_string()
                })
            } else {
                &full
            };
            let text = text.clone();
            let delivery = self.deliver(idx, name, &text);
            best = better(best, delivery);
        }
        best
    }

    /// Gives one session the next sequence number for this dispatch, buffers it, and writes it
    /// to the session's live connection if there is one.
    fn deliver(&mut self, idx: usize, name: &str, d: &str) -> Delivery {
        let s = &mut self.sessions[idx];
        s.seq += 1;
        let seq = s.seq;
        let frame: Arc<str> = format!(r#"{{"op":0,"s":{seq},"t":"{name}","d":{d}}}"#).into();
        s.buffer.push_back((seq, name.to_string(), frame.clone()));
        if s.buffer.len() > REPLAY_BUFFER_LIMIT {
            s.buffer.pop_front();
        }
        let sid = Some(s.id.clone());
        let delivery = match s.live {
            Some(conn) if self.conns.contains_key(&conn) => {
                s.sent += 1;
                Delivery::Sent
            }
            _ => {
                s.buffered += 1;
                Delivery::Buffered
            }
        };
        if delivery == Delivery::Sent
            && let Some(conn) = s.live
        {
            self.send(conn, Outbound::Text(frame.clone()));
        }
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

    /// The session a fault is aimed at: the named one, or the current one.
    fn target(&mut self, session: Option<&str>) -> Result<usize, String> {
        self.expire();
        match session {
            Some(id) => match self.index_of(id) {
                Some(i) if self.sessions[i].ended.is_none() => Ok(i),
                Some(_) => Err(format!("gateway session {id} is over")),
                None => Err(format!("there is no gateway session {id}")),
            },
            None => self
                .current_index()
                .ok_or_else(|| "the bot has no gateway session".to_string()),
        }
    }

    /// Detaches a session's live connection, so that later dispatches are buffered for the
    /// Resume the fault provokes.
    fn take_live(&mut self, session: Option<&str>, what: &str) -> Result<(usize, u64), String> {
        let idx = self.target(session)?;
        let now = self.clock.now();
        let s = &mut self.sessions[idx];
        let conn = s
            .live
            .take()
            .ok_or_else(|| format!("gateway session {} has no live connection {what}", s.id))?;
        s.disconnected_at = Some(now);
        Ok((idx, conn))
    }

    pub(crate) fn fault_reconnect(&mut self, session: Option<&str>) -> Result<(), String> {
        let (_, conn) = self.take_live(session, "to send op 7 Reconnect to")?;
        self.send_control(conn, json!({"op": 7, "d": null}));
        Ok(())
    }

    pub(crate) fn fault_invalid_session(
        &mut self,
        session: Option<&str>,
        resumable: bool,
    ) -> Result<(), String> {
        let (idx, conn) = self.take_live(session, "to send op 9 Invalid Session to")?;
        if !resumable {
            end(
                &mut self.sessions[idx],
                "invalidated by op 9 (not resumable)".into(),
            );
        }
        self.send_control(conn, json!({"op": 9, "d": resumable}));
        Ok(())
    }

    pub(crate) fn fault_close(
        &mut self,
        session: Option<&str>,
        code: u16,
        reason: &str,
    ) -> Result<(), String> {
        let (idx, conn) = self.take_live(session, "to close")?;
        if SESSION_ENDING_CLOSE_CODES.contains(&code) {
            end(
                &mut self.sessions[idx],
                format!("closed by the emulator with {code}"),
            );
        }
        self.send(conn, Outbound::Close(code, reason.to_string()));
        Ok(())
    }

    pub(crate) fn fault_drop_connection(&mut self, session: Option<&str>) -> Result<(), String> {
        let (_, conn) = self.take_live(session, "to drop")?;
        self.send(conn, Outbound::Drop);
        Ok(())
    }

    /// Loses the next `n` dispatches (of `event`, or any but READY/RESUMED) of a session.
    pub(crate) fn arm_drop(
        &mut self,
        session: Option<&str>,
        n: u32,
        event: Option<&str>,
    ) -> Result<(), String> {
        let idx = self.target(session)?;
        self.sessions[idx].drop = (n > 0).then(|| DropFault {
            remaining: n,
            event: event.map(str::to_string),
        });
        Ok(())
    }

    /// On the session's next Resume, sends its last `n` already-received dispatches again.
    pub(crate) fn arm_duplicates(&mut self, session: Option<&str>, n: usize) -> Result<(), String> {
        let idx = self.target(session)?;
        self.sessions[idx].duplicate_on_resume = n;
        Ok(())
    }

    pub(crate) fn drop_heartbeat_acks(&mut self, next: Option<u32>) {
        self.ack_drops = match next {
            Some(0) => AckDrops::None,
            Some(n) => AckDrops::Next(n),
            None => AckDrops::All,
        };
    }

    /// Drops every connection (emulator shutdown).
    pub(crate) fn drop_all(&mut self) {
        for c in self.conns.values() {
            let _ = c.tx.send(Outbound::Drop);
        }
    }

    /// The connection no longer carries dispatches for any session (the emulator closed it).
    fn detach(&mut self, conn: u64) {
        let now = self.clock.now();
        for s in &mut self.sessions {
            if s.live == Some(conn) {
                s.live = None;
                s.disconnected_at = Some(now);
            }
        }
    }

    fn closed(&mut self, conn: u64, client_close: Option<u16>) {
        let owner = self.conns.remove(&conn).and_then(|c| c.session);
        if let Some(code) = client_close {
            self.stats.client_close_codes.push(code);
        }
        let now = self.clock.now();
        for s in &mut self.sessions {
            let was_live = s.live == Some(conn);
            let mine = was_live || (s.live.is_none() && owner.as_deref() == Some(s.id.as_str()));
            if was_live {
                s.live = None;
                s.disconnected_at = Some(now);
            }
            if !mine {
                continue;
            }
            if let Some(code) = client_close {
                s.client_close_codes.push(code);
                if CLIENT_GOODBYE_CLOSE_CODES.contains(&code) && s.ended.is_none() {
                    end(s, format!("the client closed the connection with {code}"));
                }
            }
        }
    }
}

/// Marks a session over: nothing more is delivered to it, its buffer goes.
fn end(s: &mut Session, why: String) {
    if s.ended.is_none() {
        s.ended = Some(why);
    }
    s.live = None;
    s.buffer.clear();
    s.buffer.shrink_to_fit();
}

/// Whether an armed drop fault takes this dispatch.
fn take_drop(s: &mut Session, name: &str) -> bool {
    if PROTOCOL_EVENTS.contains(&name) {
        return false;
    }
    let Some(fault) = &mut s.drop else {
        return false;
    };
    if fault.event.as_deref().is_some_and(|e| e != name) {
        return false;
    }
    fault.remaining -= 1;
    if fault.remaining == 0 {
        s.drop = None;
    }
    true
}

/// The better of two deliveries, for `dispatch`'s summary.
fn better(a: Delivery, b: Delivery) -> Delivery {
    let rank = |d: Delivery| match d {
        Delivery::Sent => 5,
        Delivery::Buffered => 4,
        Delivery::Replayed | Delivery::Duplicated => 3,
        Delivery::Dropped => 2,
        Delivery::FilteredByIntents => 1,
        Delivery::NoSession => 0,
    };
    if rank(b) > rank(a) { b } else { a }
}

fn unsequenced(name: &str, d: &str) -> String {
    format!(r#"{{"op":0,"t":"{name}","d":{d}}}"#)
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
        Some(1) => heartbeat(st, conn, payload.get("d").and_then(Value::as_u64)),
        Some(2) => identify(shared, st, conn, &payload["d"]),
        Some(6) => resume(shared, st, conn, &payload["d"]),
        // Presence updates, voice state, member requests: accepted and ignored.
        Some(3 | 4 | 8 | 31) => {}
        _ => st
            .gateway
            .send(conn, Outbound::Close(4001, "Unknown opcode.".into())),
    }
}

fn heartbeat(st: &mut State, conn: u64, seq: Option<u64>) {
    let gw = &mut st.gateway;
    gw.stats.heartbeats += 1;
    let owner = gw.conns.get(&conn).and_then(|c| c.session.clone());
    if let Some(i) = owner.and_then(|id| gw.index_of(&id)) {
        gw.sessions[i].heartbeats += 1;
        gw.sessions[i].heartbeat_seq = seq;
    }
    let drop_it = match gw.ack_drops {
        AckDrops::None => false,
        AckDrops::All => true,
        AckDrops::Next(n) => {
            gw.ack_drops = if n > 1 {
                AckDrops::Next(n - 1)
            } else {
                AckDrops::None
            };
            true
        }
    };
    if drop_it {
        gw.stats.heartbeat_acks_dropped += 1;
    } else {
        gw.send_control(conn, json!({"op": 11}));
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
    let large_threshold = d
        .get("large_threshold")
        .and_then(Value::as_u64)
        .unwrap_or(LARGE_THRESHOLD_DEFAULT)
        .clamp(*LARGE_THRESHOLD_RANGE.start(), *LARGE_THRESHOLD_RANGE.end());
    let gw = &mut st.gateway;
    gw.expire();
    gw.stats.identifies += 1;
    gw.next_session += 1;
    gw.next_stamp += 1;
    let id = format!("emulator-session-{}", gw.next_session);
    gw.sessions.push(Session {
        id: id.clone(),
        seq: 0,
        buffer: VecDeque::new(),
        intents: requested,
        live: Some(conn),
        ended: None,
        active_stamp: gw.next_stamp,
        identified_at: shared.clock.utc(),
        disconnected_at: None,
        drop: None,
        duplicate_on_resume: 0,
        heartbeat_seq: None,
        resumes: 0,
        heartbeats: 0,
        sent: 0,
        buffered: 0,
        replayed: 0,
        duplicated: 0,
        dropped: 0,
        filtered: 0,
        client_close_codes: Vec::new(),
    });
    if let Some(c) = gw.conns.get_mut(&conn) {
        c.session = Some(id.clone());
    }
    let idx = gw.sessions.len() - 1;
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
    st.gateway.deliver(idx, "READY", &ready.to_string());
    let guild = json::guild_create_for(
        &st.world,
        requested,
        large_threshold,
        cfg.guild_create_members,
    );
    st.gateway.deliver(idx, "GUILD_CREATE", &guild.to_string());
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
    gw.expire();
    let idx = gw.index_of(&session_id).filter(|i| {
        let s = &gw.sessions[*i];
        let oldest = s
            .buffer
            .front()
            .map(|(seq, _, _)| *seq)
            .unwrap_or(s.seq + 1);
        s.ended.is_none() && client_seq <= s.seq && oldest <= client_seq + 1
    });
    let Some(idx) = idx else {
        gw.stats.resumes_refused += 1;
        gw.send_control(conn, json!({"op": 9, "d": false}));
        return;
    };
    gw.stats.resumes += 1;
    gw.next_stamp += 1;
    let stamp = gw.next_stamp;
    if let Some(c) = gw.conns.get_mut(&conn) {
        c.session = Some(session_id.clone());
    }
    let s = &mut gw.sessions[idx];
    s.resumes += 1;
    s.live = Some(conn);
    s.disconnected_at = None;
    s.active_stamp = stamp;
    let dupes = std::mem::take(&mut s.duplicate_on_resume);
    let already: Vec<(u64, String, Arc<str>)> = s
        .buffer
        .iter()
        .filter(|(seq, name, _)| *seq <= client_seq && !PROTOCOL_EVENTS.contains(&name.as_str()))
        .cloned()
        .collect();
    let duplicates = already[already.len().saturating_sub(dupes)..].to_vec();
    let replay: Vec<(u64, String, Arc<str>)> = s
        .buffer
        .iter()
        .filter(|(seq, name, _)| *seq > client_seq && name != "RESUMED")
        .cloned()
        .collect();
    s.duplicated += duplicates.len() as u64;
    s.replayed += replay.len() as u64;
    let sid = Some(session_id.clone());
    for (kind, list) in [
        (Delivery::Duplicated, duplicates),
        (Delivery::Replayed, replay),
    ] {
        for (seq, name, frame) in list {
            gw.send(conn, Outbound::Text(frame.clone()));
            gw.log(&name, Some(seq), frame.to_string(), kind, sid.clone());
        }
    }
    // `"d":{}` matters: serenity decodes `"d":null` as an unknown event and never leaves the
    // Resuming stage.
    gw.deliver(idx, "RESUMED", "{}");
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
        gw.conns.insert(conn, Conn { tx, session: None });
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
                    shared.with(|st| st.gateway.detach(conn));
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
