//! The driver API's error type: every failure says what was asked or awaited.

use std::fmt;
use std::time::Duration;

/// Why a driver call failed. `Debug` prints the same sentence as `Display`, so an `unwrap()`
/// in a test reads as the reason.
#[derive(thiserror::Error)]
pub enum Error {
    /// A wait ran out of time.
    #[error("timed out after {after:?} waiting for {awaited}")]
    Timeout { awaited: String, after: Duration },
    /// The test referred to something the emulator does not have (a channel, message, command).
    #[error("{0}")]
    NotFound(String),
    /// A command line or click that a Discord client would not let a user send.
    #[error("{0}")]
    Invalid(String),
    /// The bot is not connected to the gateway, so nothing can be delivered to it.
    #[error("{0}")]
    NotConnected(String),
    /// The emulator was shut down.
    #[error("the emulator was shut down while waiting for {0}")]
    ShutDown(String),
}

impl fmt::Debug for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;
