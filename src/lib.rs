//! Runflow Uploader: a client for Runflow's presigned asset uploads, and a local Runflow emulator.
//!
//! - [`api`]: the typed HTTP client (models, errors, retry policy).
//! - [`upload`]: the upload engine (queue, workers, journal, duplicate index).
//! - [`auth`]: the API key in the OS keyring, and settings.
//! - [`history`]: what this machine uploaded (SQLite), with the duplicate index.
//! - [`library`]: the asset library's backend (views, thumbnails).
//! - [`emulator`]: a stateful local Runflow (API + storage listeners) used by tests, benchmarks
//!   and the offline demo.
//! - [`cli`]: the command line.
//! - [`logging`]: log outputs (rotating file, stderr) and the redaction of secrets in them.
//! - [`instance`]: one window at a time; later launches hand their files over.
//! - [`diagnostics`]: the "Copy diagnostics" report.
//! - [`fix`]: the upload copy of an image Runflow would refuse (converted, or shrunk to fit).

// Test code (unit tests via clippy.toml, and tests/) may unwrap; shipped code may not.
#![deny(clippy::unwrap_used)]

pub mod allocator;
pub mod api;
pub mod atomic;
pub mod auth;
pub mod cli;
pub mod desktop;
pub mod diagnostics;
pub mod emulator;
pub mod fix;
pub mod history;
pub mod instance;
pub mod library;
pub mod logging;
pub mod paths;
pub mod timeline;
pub mod ui;
pub mod upload;
pub mod watch;
