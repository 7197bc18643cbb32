//! The desktop window's backend and its contract, free of egui.
//!
//! - [`protocol`]: [`Command`]s from the window, [`Event`]s back.
//! - [`backend`]: the actor task on the app's runtime that owns the key store, the settings, the
//!   connection, the upload engine and the offline demo ([`spawn`]).

pub mod backend;
pub mod protocol;

pub use backend::{BackendHandle, BackendOptions, spawn};
pub use protocol::{Command, Connection, Event, Level};
