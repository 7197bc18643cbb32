//! What every part of the backend shares: the sink its events go through, and the message for
//! a command that needs a connection.

use super::protocol::{Event, Level};

/// Sends the window its events and wakes it after each.
pub(super) type Sink = crate::upload::Sink<Event>;

/// Why a command that needs a connection did nothing.
pub(super) const NOT_CONNECTED: &str =
    "Not connected to Runflow yet: add an API key or start the offline demo first.";

impl Sink {
    /// A message for the window's toasts.
    pub(super) fn notice(&self, level: Level, message: impl Into<String>) {
        self.emit(Event::Notice {
            level,
            message: message.into(),
        });
    }
}

/// The answer to a request that needed a connection and had none.
pub(super) fn not_connected<T>() -> Result<T, String> {
    Err(NOT_CONNECTED.to_owned())
}
