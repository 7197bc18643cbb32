//! What the window knows of things that arrive from the backend: a list on its way, and the
//! connection. Shared by the state and every view that shows them.

use crate::desktop::Connection;

/// Something loaded in the background.
#[derive(Debug, Clone, PartialEq, Default)]
pub enum Loadable<T> {
    /// Not asked for yet.
    #[default]
    NotLoaded,
    /// On its way.
    Loading,
    /// Here.
    Ready(T),
    /// Could not be loaded, and why.
    Failed(String),
}

/// The connection as the status line shows it.
#[derive(Debug, Clone, PartialEq, Default)]
pub enum ConnectionStatus {
    /// Nothing tried yet.
    #[default]
    Unknown,
    /// Connecting.
    Connecting,
    /// Connected.
    Connected(Connection),
    /// Not connected, and why.
    Failed {
        /// What happened and what to do.
        message: String,
    },
}
