//! The upload queue's state, fed by engine events: a row per file, the walks under way, the
//! batch totals, and successes folded into a count once there are many.

use std::collections::{HashMap, VecDeque};
use std::path::PathBuf;
use std::time::Duration;

use crate::upload::{BatchProgress, Event, FileId, FileState, ForeignUploads};

/// One file in the queue.
#[derive(Debug, Clone, PartialEq)]
pub struct Row {
    /// Engine id.
    pub id: FileId,
    /// File name (asset name).
    pub name: String,
    /// Where it is on disk.
    pub path: Option<PathBuf>,
    /// Size, when known.
    pub size_bytes: Option<u64>,
    /// Detected MIME type.
    pub mime_type: Option<String>,
    /// Where it is in its life.
    pub state: FileState,
    /// Bytes sent.
    pub sent_bytes: u64,
    /// Smoothed speed.
    pub bytes_per_sec: Option<f64>,
    /// Time left.
    pub eta: Option<Duration>,
    /// Resumed from an earlier run.
    pub resumed: bool,
    /// The copy that goes instead of the file (converted, shrunk): its name, and what was done.
    pub copy: Option<(String, String)>,
}

/// Everything the queue view shows.
#[derive(Debug, Default)]
pub struct QueueState {
    rows: Vec<Row>,
    index: HashMap<FileId, usize>,
    /// Totals from the engine.
    pub batch: BatchProgress,
    /// Unfinished uploads of other accounts, waiting in the journal.
    pub foreign: Vec<ForeignUploads>,
    /// Dropped folders being walked.
    pub scans: Vec<ScanRow>,
    /// Successes still shown as rows, oldest first; beyond [`DONE_ROWS_SHOWN`] the oldest fold
    /// into `folded`.
    done_order: VecDeque<FileId>,
    /// Successes folded into one summary line ("48,211 uploaded").
    pub folded: usize,
    /// Whether rows were removed since the index was rebuilt.
    dirty: bool,
}

/// A walk of dropped folders under way: "Scanning ~/Pictures: 12,345 files found".
#[derive(Debug, Clone, PartialEq)]
pub struct ScanRow {
    /// The engine's scan id.
    pub scan: u64,
    /// What is walked.
    pub label: String,
    /// Files found so far.
    pub found: usize,
}

/// Successes kept as rows; older ones fold into a count, so a 100,000-file drop keeps the list
/// (and its memory) light.
pub(super) const DONE_ROWS_SHOWN: usize = 1000;
/// Successes folded at once, so the list is rebuilt once per this many, not once per file.
pub(super) const FOLD_BATCH: usize = 1024;

/// What a finished upload means for the rest of the window.
#[derive(Debug, Clone, PartialEq)]
pub enum Finished {
    /// A new asset exists (for the library view), uploaded from this file (`None` for pasted
    /// bytes).
    Uploaded(Box<crate::api::models::Asset>, Option<PathBuf>),
    /// The engine went idle: a batch ended.
    BatchEnded {
        /// Files uploaded or already there.
        succeeded: usize,
        /// Files that failed.
        failed: usize,
        /// Files whose content is already in another folder.
        elsewhere: usize,
        /// Files Runflow takes only as a converted or smaller copy, waiting for the user.
        fixable: usize,
    },
}

impl QueueState {
    /// Applies one engine event; returns what finished, if anything.
    pub fn apply(&mut self, event: Event) -> Option<Finished> {
        match event {
            Event::Added {
                id,
                path,
                name,
                size_bytes,
                mime_type,
                state,
                resumed,
            } => {
                self.compact();
                self.index.insert(id, self.rows.len());
                self.rows.push(Row {
                    id,
                    name,
                    path,
                    size_bytes,
                    mime_type,
                    state,
                    sent_bytes: 0,
                    bytes_per_sec: None,
                    eta: None,
                    resumed,
                    copy: None,
                });
            }
            Event::State { id, state } => {
                let row = self.row_mut(id)?;
                if matches!(state, FileState::Queued) {
                    row.sent_bytes = 0;
                    row.bytes_per_sec = None;
                    row.eta = None;
                }
                if state.is_finished() {
                    row.bytes_per_sec = None;
                    row.eta = None;
                }
                row.state = state.clone();
                let path = row.path.clone();
                if state.is_success() {
                    self.done_order.push_back(id);
                    self.fold();
                }
                if let FileState::Done(asset) = state {
                    return Some(Finished::Uploaded(asset, path));
                }
            }
            Event::Progress {
                id,
                sent_bytes,
                bytes_per_sec,
                eta,
                ..
            } => {
                let row = self.row_mut(id)?;
                row.sent_bytes = sent_bytes;
                row.bytes_per_sec = bytes_per_sec;
                row.eta = eta;
            }
            Event::Fixed { id, copy } => {
                let row = self.row_mut(id)?;
                // Progress counts the copy's bytes.
                row.size_bytes = Some(copy.size_bytes);
                row.copy = Some((copy.name.clone(), copy.describe()));
            }
            Event::Batch(batch) => self.batch = batch,
            Event::Removed(id) => {
                if let Some(index) = self.index.remove(&id) {
                    // Tombstone now, compact once later: clearing thousands of rows stays linear.
                    self.rows[index].id = FileId(u64::MAX);
                    self.dirty = true;
                }
            }
            Event::Idle => {
                return Some(Finished::BatchEnded {
                    succeeded: self.batch.succeeded_files,
                    failed: self.batch.failed_files,
                    elsewhere: self.batch.elsewhere_files,
                    fixable: self.batch.fixable_files,
                });
            }
            Event::ForeignUploads(foreign) => self.foreign = foreign,
            Event::Scanning {
                scan,
                label,
                found,
                done,
            } => {
                let at = self.scans.iter().position(|row| row.scan == scan);
                match (at, done) {
                    (Some(at), true) => {
                        self.scans.remove(at);
                    }
                    (Some(at), false) => self.scans[at].found = found,
                    (None, false) => self.scans.push(ScanRow { scan, label, found }),
                    (None, true) => {}
                }
            }
            Event::Skipped { .. } => {}
        }
        None
    }

    /// Folds the oldest successes into [`QueueState::folded`] once enough have gathered.
    fn fold(&mut self) {
        if self.done_order.len() < DONE_ROWS_SHOWN + FOLD_BATCH {
            return;
        }
        while self.done_order.len() > DONE_ROWS_SHOWN {
            let Some(id) = self.done_order.pop_front() else {
                break;
            };
            // A row removed meanwhile is simply gone.
            if let Some(index) = self.index.remove(&id) {
                self.rows[index].id = FileId(u64::MAX);
                self.dirty = true;
                self.folded += 1;
            }
        }
    }

    /// Forgets every row (the engine was restarted for a new connection).
    pub fn clear(&mut self) {
        *self = Self::default();
    }

    fn row_mut(&mut self, id: FileId) -> Option<&mut Row> {
        let index = *self.index.get(&id)?;
        self.rows.get_mut(index)
    }

    /// Drops removed rows and rebuilds the index, once, when needed.
    fn compact(&mut self) {
        if !self.dirty {
            return;
        }
        self.rows.retain(|row| row.id != FileId(u64::MAX));
        self.index = self
            .rows
            .iter()
            .enumerate()
            .map(|(i, row)| (row.id, i))
            .collect();
        self.dirty = false;
    }

    /// The rows in the order they were added.
    pub fn rows(&mut self) -> &[Row] {
        self.compact();
        &self.rows
    }

    /// One row.
    pub fn row(&self, id: FileId) -> Option<&Row> {
        self.index.get(&id).and_then(|i| self.rows.get(*i))
    }

    /// Whether the queue has no rows.
    pub fn is_empty(&self) -> bool {
        self.index.is_empty()
    }

    /// Whether anything is moving (so progress bars may animate).
    pub fn is_busy(&self) -> bool {
        self.batch.active_files > 0 && !self.batch.paused
    }
}
