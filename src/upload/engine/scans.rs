//! The engine's walks: dropped paths (or pasted bytes) walked and checked on a blocking
//! thread, their findings handed to the queue in chunks, each walk kept a few thousand files
//! ahead of the uploads and recorded in the journal until it ends.

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use super::super::discover::Found;
use super::super::effects::{self, JournalOp};
use super::super::journal::Walk;
use super::super::protocol::Event;
use super::super::queue::Scanned;
use super::{Engine, Internal};

/// Journal operations waiting for the writer before a folder walk waits too.
const JOURNAL_BACKLOG_MAX: usize = 2048;

/// Files in line (queued, being checked or uploaded) before a folder walk waits for the
/// uploads: the queue holds this many files of a walk, not all 100,000 (the walk's journal
/// record keeps the rest safe). Far above what the uploads need to stay busy.
const IN_LINE_MAX: usize = 4096;

/// One walk of dropped paths.
pub(super) struct ScanState {
    label: String,
    found: usize,
    /// Set to stop the walk ([`Command::StopScan`]).
    stop: Arc<AtomicBool>,
    /// Its record in the journal, removed once the walk ends (a folder walk; pasted bytes and
    /// nothing else have none).
    walk: Option<String>,
    /// An earlier run's walk going again.
    again: bool,
    /// Ended by Cancel all: its findings still on the way are not queued.
    cancelled: bool,
}

/// `~/Pictures`, or `~/Pictures and 2 more`, for the scanning row.
fn scan_label(paths: &[PathBuf], pasted: Option<&str>) -> String {
    let Some(first) = paths.first() else {
        return pasted.unwrap_or("pasted image").to_owned();
    };
    let home = std::env::var_os("HOME").map(PathBuf::from);
    let shown = match home
        .as_deref()
        .and_then(|home| first.strip_prefix(home).ok())
    {
        Some(rest) if !rest.as_os_str().is_empty() => format!("~/{}", rest.display()),
        _ => first.display().to_string(),
    };
    match paths.len() {
        1 => shown,
        n => format!("{shown} and {} more", n - 1),
    }
}

impl Engine {
    /// Walks and checks `paths` (or saves pasted bytes first) on a blocking thread. Findings
    /// join the queue in chunks as the walk goes; the scan is reported at once, so the window
    /// shows it before the first file is found. A folder walk is recorded in the journal first.
    pub(super) fn scan(
        &mut self,
        paths: Vec<PathBuf>,
        pasted: Option<(String, bytes::Bytes)>,
        folder_id: Option<String>,
        force: bool,
        watched: bool,
    ) {
        self.queue.scan_started();
        let walk = (pasted.is_none() && !paths.is_empty()).then(|| Walk {
            key: uuid::Uuid::new_v4().simple().to_string(),
            paths: paths.clone(),
            folder_id: folder_id.clone(),
            force,
            watched,
        });
        if let Some(walk) = &walk {
            self.to_journal(JournalOp::WriteWalk(Box::new(walk.clone())));
        }
        let scanned = Scanned {
            found: Vec::new(),
            folder_id,
            force,
            owned: pasted.is_some(),
            watched,
            again: false,
        };
        self.start_walk(paths, pasted, scanned, walk.map(|w| w.key));
    }

    /// An earlier run's walk again (counted as a scan by the queue already). Without `force`:
    /// what that run uploaded is in the index now, and must not go twice.
    pub(super) fn walk_again(&mut self, walk: Walk) {
        let scanned = Scanned {
            found: Vec::new(),
            folder_id: walk.folder_id,
            force: false,
            owned: false,
            watched: walk.watched,
            again: true,
        };
        self.start_walk(walk.paths, None, scanned, Some(walk.key));
    }

    fn start_walk(
        &mut self,
        paths: Vec<PathBuf>,
        pasted: Option<(String, bytes::Bytes)>,
        scanned: Scanned,
        walk: Option<String>,
    ) {
        let scan = self.next_scan;
        self.next_scan += 1;
        let stop = Arc::new(AtomicBool::new(false));
        let label = scan_label(&paths, pasted.as_ref().map(|(name, _)| name.as_str()));
        self.sink.emit(Event::Scanning {
            scan,
            label: label.clone(),
            found: 0,
            done: false,
        });
        self.scans.insert(
            scan,
            ScanState {
                label,
                found: 0,
                stop: Arc::clone(&stop),
                walk,
                again: scanned.again,
                cancelled: false,
            },
        );
        let internal = self.internal_tx.clone();
        let pasted_dir = self.config.data_dir.join("pasted");
        let options = self.config.discover;
        let backlog = Arc::clone(&self.journal_backlog);
        let in_line = Arc::clone(&self.in_line);
        let unread = Arc::clone(&self.unread);
        tokio::task::spawn_blocking(move || {
            effects::scan(&paths, pasted, &pasted_dir, &options, |found| {
                // The walk may not outrun the journal (entries waiting for the writer are
                // memory) nor the uploads (files in line are memory too).
                while (backlog.load(Ordering::Relaxed) > JOURNAL_BACKLOG_MAX
                    || in_line.load(Ordering::Relaxed) + unread.load(Ordering::Relaxed)
                        > IN_LINE_MAX)
                    && !stop.load(Ordering::Relaxed)
                {
                    std::thread::sleep(Duration::from_millis(5));
                }
                let chunk = Scanned {
                    found,
                    folder_id: scanned.folder_id.clone(),
                    force: scanned.force,
                    owned: scanned.owned,
                    watched: scanned.watched,
                    again: scanned.again,
                };
                unread.fetch_add(chunk.found.len(), Ordering::Relaxed);
                internal.send(Internal::Scanned(scan, chunk)).is_ok()
                    && !stop.load(Ordering::Relaxed)
            });
            let _ = internal.send(Internal::ScanDone(scan));
        });
    }

    /// A walk's next findings join the queue (unless Cancel all ended the walk).
    pub(super) fn scanned(&mut self, scan: u64, scanned: Scanned) {
        self.unread
            .fetch_sub(scanned.found.len(), Ordering::Relaxed);
        if self.scans.get(&scan).is_some_and(|s| s.cancelled) {
            return;
        }
        let files = scanned
            .found
            .iter()
            .filter(|f| !matches!(f, Found::Skipped { .. }))
            .count();
        self.queue.discovered(scanned);
        if let Some(state) = self.scans.get_mut(&scan) {
            state.found += files;
            let event = Event::Scanning {
                scan,
                label: state.label.clone(),
                found: state.found,
                done: false,
            };
            self.sink.emit(event);
        }
    }

    /// A walk ended: its record leaves the journal and the window hears the final count.
    pub(super) fn scan_done(&mut self, scan: u64) {
        let state = self.scans.remove(&scan);
        self.queue
            .scan_finished(state.as_ref().is_some_and(|s| s.again));
        if let Some(state) = state {
            // Every file it found is in the journal by now (the writer keeps order).
            if let Some(key) = state.walk {
                self.to_journal(JournalOp::RemoveWalk(key));
            }
            self.sink.emit(Event::Scanning {
                scan,
                label: state.label,
                found: state.found,
                done: true,
            });
        }
    }

    /// Walks waiting for the uploads would queue more after Cancel all: they end too, and what
    /// they found and had not handed over yet is dropped with them.
    pub(super) fn cancel_scans(&mut self) {
        for state in self.scans.values_mut() {
            state.stop.store(true, Ordering::Relaxed);
            state.cancelled = true;
        }
    }

    /// Ends one walk (`Command::StopScan`).
    pub(super) fn stop_scan(&mut self, scan: u64) {
        if let Some(state) = self.scans.get(&scan) {
            state.stop.store(true, Ordering::Relaxed);
        }
    }

    /// Every walk under way stops (the engine is shutting down).
    pub(super) fn stop_all_scans(&self) {
        for scan in self.scans.values() {
            scan.stop.store(true, Ordering::Relaxed);
        }
    }
}
