//! Runflow Uploader: a client for Runflow's presigned asset uploads, and a local Runflow emulator.
//!
//! - [`api`]: the typed HTTP client (models, errors, retry policy).
//! - [`emulator`]: a stateful local Runflow (API + storage listeners) used by tests, benchmarks
//!   and the offline demo.
//! - [`cli`]: the command line.

pub mod api;
pub mod cli;
pub mod emulator;
