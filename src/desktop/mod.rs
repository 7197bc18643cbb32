//! The desktop window's backend and its contract, free of egui.
//!
//! - [`protocol`]: [`Command`]s from the window, [`Event`]s back.
//! - `backend`: the actor task on the app's runtime that owns the key store, the settings, the
//!   connection, the upload engine and the offline demo ([`spawn`]), and dispatches commands.
//!   The work lives in modules beside it, none of which imports the actor: `connect`
//!   (finding, checking, storing and deleting the key; the demo), `target` (the client of a
//!   connection and its quick check), `engine_host` (the upload engine), `listing` (folders),
//!   `assets` (gallery pages, deleting and moving assets), `history` (the History tab's
//!   searches and exports), `clipboard` (pasting images),
//!   `options` ([`BackendOptions`] and the settings file), `launcher` (the batch's progress on
//!   the dock icon), `awake` (keeping the computer awake while uploading), `notify` (the
//!   desktop notification at a batch's end), and `sink` (the event sink they all report
//!   through).

mod assets;
mod awake;
mod backend;
mod clipboard;
mod connect;
mod engine_host;
mod history;
#[cfg(target_os = "linux")]
mod launcher;
mod listing;
mod notify;
mod options;
mod pick;
pub mod protocol;
mod sink;
mod target;
#[cfg(all(test, target_os = "linux"))]
mod test_bus;

pub use backend::{BackendHandle, Wakers, spawn};

/// The server the demo's uploads are recorded under (its emulator takes a new port at each
/// start, but keeps its data): in its journal, duplicate index and history.
pub const DEMO_SERVER: &str = "runflow-offline-demo";
pub use options::BackendOptions;
pub use protocol::{AssetPage, AssetPurpose, Command, Connection, Event, Level, Thumbnail};
