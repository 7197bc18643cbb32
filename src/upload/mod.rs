//! The upload engine: validates, deduplicates and uploads files through Runflow's three steps,
//! with bounded concurrency, retries, cancel, and a crash journal. Driven by [`Command`]s,
//! reporting [`Event`]s; it knows nothing of egui or terminals.
//!
//! Layout: `queue` is the state machine (no I/O); `engine` runs it and `effects` does its I/O;
//! `sink` sends its events; `journal` and `claims` are the files shared across runs and
//! processes, with [`crate::history`] (the history and the duplicate index); `discover` turns
//! dropped paths into files.

mod claims;
mod discover;
mod effects;
mod engine;
mod journal;
mod protocol;
mod queue;
mod sink;
mod speed;

pub use discover::{
    DiscoverOptions, Found, LocalFile, detect_mime, discover, discover_with, is_junk_or_hidden,
    nanos_since_epoch,
};
pub use engine::{DEFAULT_CONCURRENCY, EngineConfig, EngineHandle, MAX_CONCURRENCY, spawn};
pub use journal::{
    AccountScope, Discarded, Entry as JournalEntry, JOURNAL_DIR, Step as JournalStep, Unfinished,
    discard, discard_all, list as list_journal,
};
pub use protocol::{
    ALREADY_QUEUED, BatchProgress, Command, ENGINE_DISABLED, Event, FileId, FileState,
    ForeignUploads, UploadFailure, files, files_found, grouped, human_bytes, sanitize, skip_code,
};
pub use sink::{Sink, Waker};
pub use speed::SpeedMeter;
