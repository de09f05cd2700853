//! Where this process stands with the Discord gateway, as `/readyz` and `/metrics` report it.

/// The name of the Discord gateway's lease (see `ops::lease`).
pub const GATEWAY_LEASE: &str = "discord-gateway";

/// This process's part in holding the Discord gateway (one process of those sharing a
/// database holds it; see `ops::lease`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum GatewayState {
    /// No token configured: warroom runs without Discord, and that is not a readiness failure.
    Disabled,
    /// Another process holds the gateway (named when known); this one serves HTTP, runs the
    /// escalation engine, and takes over when that lease lapses.
    Standby { holder: Option<String> },
    /// This process holds the lease and is connecting.
    Connecting,
    /// This process holds the lease and the gateway is connected.
    Connected,
}

impl GatewayState {
    pub fn as_str(&self) -> &'static str {
        match self {
            GatewayState::Disabled => "disabled",
            GatewayState::Standby { .. } => "standby",
            GatewayState::Connecting => "connecting",
            GatewayState::Connected => "connected",
        }
    }

    /// Whether this process is ready as far as Discord goes: a standby is (another process
    /// holds the gateway), a holder still connecting is not.
    pub fn is_ready(&self) -> bool {
        !matches!(self, GatewayState::Connecting)
    }
}
