//! Several gateway sessions of one bot (one per running bot process, as Discord allows): list
//! them, aim faults at one, script lost and duplicated dispatches, and wait for a session to
//! connect, go away or end.

use std::time::Duration;

use crate::emulator::Emulator;
use crate::error::{Error, Result};
use crate::gateway::{DispatchRecord, SessionInfo, SessionState};

/// A handle on one gateway session (see [`Emulator::sessions`]). Its methods act on that
/// session only; the fault methods of [`Emulator`] act on the current one.
#[derive(Clone)]
pub struct GatewaySession {
    emu: Emulator,
    id: String,
}

impl Emulator {
    /// Every session since the emulator started, in Identify order, over ones included.
    pub fn sessions(&self) -> Vec<SessionInfo> {
        self.shared.read(|st| st.gateway.sessions())
    }

    /// The sessions with a live connection, in Identify order.
    pub fn live_sessions(&self) -> Vec<GatewaySession> {
        self.sessions()
            .into_iter()
            .filter(SessionInfo::is_connected)
            .map(|s| self.session_handle(s.id))
            .collect()
    }

    /// A handle on the session with this id (`READY.session_id`).
    pub fn session(&self, id: &str) -> Option<GatewaySession> {
        self.sessions()
            .into_iter()
            .find(|s| s.id == id)
            .map(|s| self.session_handle(s.id))
    }

    /// The current session: the one most recently identified or resumed that is not over
    /// (the one [`Emulator::reconnect`] and the other fault methods act on).
    pub fn current_session(&self) -> Option<GatewaySession> {
        let id = self.gateway_stats().session_id?;
        Some(self.session_handle(id))
    }

    fn session_handle(&self, id: String) -> GatewaySession {
        GatewaySession {
            emu: self.clone(),
            id,
        }
    }

    /// Waits until the list of sessions satisfies `pred`.
    pub async fn wait_sessions(
        &self,
        awaited: &str,
        timeout: Duration,
        pred: impl Fn(&[SessionInfo]) -> bool,
    ) -> Result<Vec<SessionInfo>> {
        self.shared
            .wait_until(
                || awaited.to_string(),
                timeout,
                |st| {
                    let list = st.gateway.sessions();
                    pred(&list).then_some(list)
                },
            )
            .await
    }

    /// Waits until at least `n` sessions are connected at once; returns them in Identify order.
    pub async fn wait_live_sessions(
        &self,
        n: usize,
        timeout: Duration,
    ) -> Result<Vec<GatewaySession>> {
        self.wait_sessions(
            &format!("{n} connected gateway session(s)"),
            timeout,
            |list| list.iter().filter(|s| s.is_connected()).count() >= n,
        )
        .await?;
        Ok(self.live_sessions())
    }

    /// [`GatewaySession::drop_next_dispatches`] on the current session.
    pub fn drop_next_dispatches(&self, n: u32) -> Result<()> {
        self.arm(|gw| gw.arm_drop(None, n, None))
    }

    /// [`GatewaySession::duplicate_on_resume`] on the current session.
    pub fn duplicate_on_resume(&self, n: usize) -> Result<()> {
        self.arm(|gw| gw.arm_duplicates(None, n))
    }

    fn arm(
        &self,
        f: impl FnOnce(&mut crate::gateway::Gateway) -> std::result::Result<(), String>,
    ) -> Result<()> {
        self.shared
            .with(|st| f(&mut st.gateway))
            .map_err(Error::NotConnected)
    }
}

impl GatewaySession {
    /// The session id (what serenity got in READY and sends in Resume).
    pub fn id(&self) -> &str {
        &self.id
    }

    /// Where the session stands now, with its counters.
    pub fn info(&self) -> SessionInfo {
        self.emu
            .sessions()
            .into_iter()
            .find(|s| s.id == self.id)
            .expect("sessions are never forgotten")
    }

    pub fn is_connected(&self) -> bool {
        self.info().is_connected()
    }

    fn fault(
        &self,
        f: impl FnOnce(&mut crate::gateway::Gateway, &str) -> std::result::Result<(), String>,
    ) -> Result<()> {
        self.emu
            .shared
            .with(|st| f(&mut st.gateway, &self.id))
            .map_err(Error::NotConnected)
    }

    /// Sends op 7 Reconnect to this session's connection.
    pub fn reconnect(&self) -> Result<()> {
        self.fault(|gw, id| gw.fault_reconnect(Some(id)))
    }

    /// Sends op 9; not resumable ends the session.
    pub fn invalid_session(&self, resumable: bool) -> Result<()> {
        self.fault(|gw, id| gw.fault_invalid_session(Some(id), resumable))
    }

    /// Closes this session's connection with `code` (4004, 4007, 4009-4014 end the session).
    pub fn close(&self, code: u16) -> Result<()> {
        self.fault(|gw, id| gw.fault_close(Some(id), code, "closed by the emulator"))
    }

    /// Drops this session's TCP connection without a Close frame.
    pub fn drop_connection(&self) -> Result<()> {
        self.fault(|gw, id| gw.fault_drop_connection(Some(id)))
    }

    /// Loses the next `n` dispatches of this session for good, whether it is connected or
    /// waiting for a Resume: they are not sent, not kept for replay and get no sequence
    /// number (as when Discord's buffer for a session ran over). READY and RESUMED are never
    /// taken. Other sessions still get them. 0 disarms.
    pub fn drop_next_dispatches(&self, n: u32) -> Result<()> {
        self.fault(|gw, id| gw.arm_drop(Some(id), n, None))
    }

    /// Like [`Self::drop_next_dispatches`], counting only dispatches named `event`
    /// (e.g. `"MESSAGE_CREATE"`); others pass.
    pub fn drop_next(&self, event: &str, n: u32) -> Result<()> {
        self.fault(|gw, id| gw.arm_drop(Some(id), n, Some(event)))
    }

    /// On this session's next Resume, sends its last `n` dispatches that the client had
    /// already received again (same sequence numbers) before replaying what it missed, so a
    /// test can prove the bot acts once per event. READY and RESUMED are not repeated.
    pub fn duplicate_on_resume(&self, n: usize) -> Result<()> {
        self.fault(|gw, id| gw.arm_duplicates(Some(id), n))
    }

    /// Every dispatch record of this session.
    pub fn dispatches(&self) -> Vec<DispatchRecord> {
        self.emu.shared.read(|st| {
            st.gateway
                .log
                .iter()
                .filter(|d| d.session_id.as_deref() == Some(self.id.as_str()))
                .cloned()
                .collect()
        })
    }

    /// Waits for a dispatch of this session that reached its client (sent, replayed or
    /// duplicated) and satisfies `pred`.
    pub async fn wait_delivered(
        &self,
        awaited: &str,
        timeout: Duration,
        pred: impl Fn(&DispatchRecord) -> bool,
    ) -> Result<DispatchRecord> {
        use crate::gateway::Delivery::*;
        let id = self.id.clone();
        self.emu
            .shared
            .wait_until(
                || format!("{awaited} delivered to gateway session {id}"),
                timeout,
                |st| {
                    st.gateway
                        .log
                        .iter()
                        .filter(|d| d.session_id.as_deref() == Some(id.as_str()))
                        .filter(|d| matches!(d.delivery, Sent | Replayed | Duplicated))
                        .find(|d| pred(d))
                        .cloned()
                },
            )
            .await
    }

    /// Waits until the session is in `state`.
    pub async fn wait_state(&self, state: SessionState, timeout: Duration) -> Result<SessionInfo> {
        let id = self.id.clone();
        self.emu
            .shared
            .wait_until(
                || format!("gateway session {id} to be {state:?}"),
                timeout,
                |st| {
                    st.gateway
                        .sessions()
                        .into_iter()
                        .find(|s| s.id == id && s.state == state)
                },
            )
            .await
    }

    /// Waits until its connection is gone (a killed process, a dropped socket); the session
    /// itself may still be resumed.
    pub async fn wait_disconnected(&self, timeout: Duration) -> Result<SessionInfo> {
        let id = self.id.clone();
        self.emu
            .shared
            .wait_until(
                || format!("gateway session {id} to lose its connection"),
                timeout,
                |st| {
                    st.gateway
                        .sessions()
                        .into_iter()
                        .find(|s| s.id == id && !s.is_connected())
                },
            )
            .await
    }

    pub async fn wait_connected(&self, timeout: Duration) -> Result<SessionInfo> {
        self.wait_state(SessionState::Connected, timeout).await
    }

    pub async fn wait_ended(&self, timeout: Duration) -> Result<SessionInfo> {
        self.wait_state(SessionState::Ended, timeout).await
    }
}
