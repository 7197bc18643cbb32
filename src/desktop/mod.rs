//! The desktop window's backend and its contract, free of egui.
//!
//! - [`protocol`]: [`Command`]s from the window, [`Event`]s back.
//! - [`backend`]: the actor task on the app's runtime that owns the key store, the settings, the
//!   connection, the upload engine and the offline demo ([`spawn`]). Its concerns live in
//!   private modules beside it: `connect` (finding, checking, storing and deleting the key;
//!   the demo), `target` (the client of a connection and its quick check), `engine_host` (the
//!   upload engine), `listing` (folders), `assets` (gallery pages, deleting and moving assets) and `clipboard` (pasting images).

mod assets;
pub mod backend;
mod clipboard;
mod connect;
mod engine_host;
mod listing;
pub mod protocol;
mod target;

pub use backend::{BackendHandle, BackendOptions, spawn};
pub use protocol::{AssetPage, AssetPurpose, Command, Connection, Event, Level, Thumbnail};
