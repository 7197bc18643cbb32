//! The upload engine: validates, deduplicates and uploads files through Runflow's three steps,
//! with bounded concurrency, retries, cancel, and a crash journal. Driven by [`Command`]s,
//! reporting [`Event`]s; it knows nothing of egui or terminals.

mod discover;
mod engine;
mod index;
mod journal;
mod protocol;
mod speed;
mod worker;

pub use discover::{DiscoverOptions, Found, LocalFile, detect_mime, discover, discover_with};
pub use engine::{DEFAULT_CONCURRENCY, EngineConfig, EngineHandle, MAX_CONCURRENCY, Waker, spawn};
pub use protocol::{BatchProgress, Command, Event, FileId, FileState, UploadFailure, human_bytes};
pub use speed::SpeedMeter;
