//! One watched folder: its file system watch, the files waiting to settle, and what it sent.

use std::collections::{BTreeMap, HashMap};
use std::path::{Component, Path, PathBuf};
use std::time::{Duration, Instant, SystemTime};

use notify_debouncer_full::notify::event::{AccessKind, AccessMode, EventKind, ModifyKind};
use notify_debouncer_full::notify::{self, RecommendedWatcher, RecursiveMode};
use notify_debouncer_full::{DebounceEventResult, Debouncer, RecommendedCache, new_debouncer};
use time::{OffsetDateTime, Time};

use crate::upload::{Found, UploadFailure, discover, is_junk_or_hidden, nanos_since_epoch};

use super::{Context, Message, SETTLE, WatchSpec, WatchState, WatchStatus};

/// How often a watched folder is checked to be there (and a missing one to be back).
const PRESENCE_EVERY: Duration = Duration::from_secs(1);
/// How often today's count is read from the history.
const COUNTS_EVERY: Duration = Duration::from_secs(2);
/// How soon a watch that failed is tried again.
const RETRY_EVERY: Duration = Duration::from_secs(5);
/// How long a file sent to the engine is remembered as sent at its size and time (the history
/// knows it by then, or the engine still has it in line and says so).
const SENT_FOR: Duration = Duration::from_secs(600);

/// Name endings of files still being written by their program: browsers' downloads, editors'
/// backups.
const PARTIAL_SUFFIXES: [&str; 6] = [".part", ".partial", ".crdownload", ".download", ".tmp", "~"];

/// A file's size and modification time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Look {
    size: u64,
    modified_ns: u128,
}

impl Look {
    fn of(meta: &std::fs::Metadata) -> Self {
        Self {
            size: meta.len(),
            modified_ns: meta.modified().map_or(0, nanos_since_epoch),
        }
    }

    /// Not modified for [`SETTLE`], by its own modification time.
    fn is_old(self) -> bool {
        let now = nanos_since_epoch(SystemTime::now());
        // A time in the future (another machine's clock) is never old.
        now.saturating_sub(self.modified_ns) >= SETTLE.as_nanos()
    }
}

/// A file seen changing, until it settles.
struct Waiting {
    look: Look,
    /// When it was last seen to change.
    since: Instant,
}

pub(super) struct Folder {
    pub(super) spec: WatchSpec,
    /// The folder with links resolved, as the engine records its files' paths.
    root: PathBuf,
    state: WatchState,
    debouncer: Option<Debouncer<RecommendedWatcher, RecommendedCache>>,
    waiting: HashMap<PathBuf, Waiting>,
    /// Settled files to send at the next tick (walks of a folder and of its new subfolder may
    /// both find a file).
    ready: BTreeMap<PathBuf, Look>,
    sent: HashMap<PathBuf, (Look, Instant)>,
    today: (u64, Option<String>),
    reported: Option<WatchStatus>,
    last_presence: Instant,
    last_counts: Option<Instant>,
    last_start: Instant,
}

impl Folder {
    pub(super) fn new(spec: WatchSpec, context: &Context) -> Self {
        let now = Instant::now();
        let mut folder = Self {
            root: spec.dir.clone(),
            spec,
            state: WatchState::Paused,
            debouncer: None,
            waiting: HashMap::new(),
            ready: BTreeMap::new(),
            sent: HashMap::new(),
            today: (0, None),
            reported: None,
            last_presence: now,
            last_counts: None,
            last_start: now,
        };
        if !folder.spec.paused {
            folder.start(context);
        }
        folder
    }

    /// The settings changed this watch (its destination, paused or not).
    pub(super) fn respec(&mut self, spec: WatchSpec, context: &Context) {
        let was_paused = self.spec.paused;
        self.spec = spec;
        match (was_paused, self.spec.paused) {
            (false, true) => self.stop(WatchState::Paused),
            (true, false) => self.start(context),
            _ => {}
        }
    }

    fn stop(&mut self, state: WatchState) {
        self.debouncer = None;
        self.waiting.clear();
        self.ready.clear();
        self.state = state;
    }

    /// Watches the folder, and walks it once against the history.
    fn start(&mut self, context: &Context) {
        self.last_start = Instant::now();
        self.stop(WatchState::Missing);
        if let Err(reason) = &context.history {
            self.state = WatchState::Failed(reason.clone());
            return;
        }
        match std::fs::canonicalize(&self.spec.dir) {
            Ok(root) if root.is_dir() => self.root = root,
            Ok(_) => {
                self.state = WatchState::Failed("this is a file, not a folder".to_owned());
                return;
            }
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => return,
            Err(err) => {
                self.state = WatchState::Failed(format!("the folder cannot be read ({err})"));
                return;
            }
        }
        let own = context.own.clone();
        let key = self.spec.dir.clone();
        let watching = new_debouncer(SETTLE, None, move |result: DebounceEventResult| {
            let _ = own.send(Message::Changed(key.clone(), result));
        })
        .and_then(|mut debouncer| {
            debouncer.watch(&self.root, RecursiveMode::Recursive)?;
            Ok(debouncer)
        });
        match watching {
            Ok(debouncer) => self.debouncer = Some(debouncer),
            Err(err) => {
                tracing::info!(%err, dir = %self.spec.dir.display(), "could not watch a folder");
                self.state = WatchState::Failed(watch_error(&err));
                return;
            }
        }
        self.state = WatchState::Watching;
        tracing::info!(dir = %self.spec.dir.display(), "watching a folder");
        let root = self.root.clone();
        self.take(discover(&[root]), false, context);
    }

    /// Files a walk found: known ones are passed over, settled ones are ready, the others wait.
    /// `settled`: they were seen not to change for [`SETTLE`] already.
    fn take(&mut self, found: Vec<Found>, settled: bool, context: &Context) {
        let now = Instant::now();
        for found in found {
            match found {
                Found::File(file) => {
                    // A link out of the watched folder is not the folder's.
                    if !file.path.starts_with(&self.root) {
                        continue;
                    }
                    if !is_media(&file.mime_type) {
                        tracing::debug!(path = %file.path.display(), mime = %file.mime_type, "a watched file that is no media");
                        continue;
                    }
                    let look = Look {
                        size: file.size_bytes,
                        modified_ns: file.modified_ns,
                    };
                    if self.known(&file.path, look, context) {
                        continue;
                    }
                    if settled || look.is_old() {
                        self.ready.insert(file.path, look);
                    } else {
                        self.waiting.insert(file.path, Waiting { look, since: now });
                    }
                }
                Found::Rejected {
                    path,
                    reason: UploadFailure::Empty | UploadFailure::UnsupportedType { .. },
                    ..
                } => tracing::debug!(path = %path.display(), "a watched file that is no media"),
                Found::Rejected {
                    path, size_bytes, ..
                } => {
                    // The engine says what is wrong with it, once per size.
                    let look = Look {
                        size: size_bytes.unwrap_or(0),
                        modified_ns: 0,
                    };
                    if self.sent.get(&path).is_none_or(|(sent, _)| *sent != look) {
                        self.ready.insert(path, look);
                    }
                }
                Found::Skipped { .. } => {}
            }
        }
    }

    /// Sent already at this size and time, or uploaded so (by the history).
    fn known(&self, path: &Path, look: Look, context: &Context) -> bool {
        if self.sent.get(path).is_some_and(|(sent, _)| *sent == look) {
            return true;
        }
        let Ok(history) = &context.history else {
            return false;
        };
        let scope = &context.scope;
        history
            .knows_file(
                &scope.server,
                &scope.account,
                path,
                look.size,
                look.modified_ns,
            )
            .unwrap_or_else(|err| {
                tracing::warn!(%err, "could not look a watched file up in the history");
                false
            })
    }

    /// The file system's (debounced) events.
    pub(super) fn changed(&mut self, result: DebounceEventResult, context: &Context) {
        if self.state != WatchState::Watching {
            return;
        }
        match result {
            Ok(events) => {
                for event in events {
                    if is_a_write(&event.kind) {
                        for path in &event.paths {
                            self.noticed(path, context);
                        }
                    }
                }
            }
            Err(errors) => {
                for err in errors {
                    tracing::warn!(%err, dir = %self.spec.dir.display(), "a folder watch reported an error");
                    if matches!(err.kind, notify::ErrorKind::MaxFilesWatch) {
                        self.stop(WatchState::Failed(watch_error(&err)));
                    }
                }
            }
        }
    }

    /// `path` was created or written.
    fn noticed(&mut self, path: &Path, context: &Context) {
        if !self.accepts(path) {
            return;
        }
        let Ok(meta) = std::fs::metadata(path) else {
            return;
        };
        if meta.is_dir() {
            // A folder moved or copied in: its files come with it, without events of their own.
            self.take(discover(&[path.to_path_buf()]), false, context);
        } else if meta.is_file() {
            let look = Look::of(&meta);
            if self.known(path, look, context) {
                return;
            }
            let now = Instant::now();
            let waiting = self
                .waiting
                .entry(path.to_path_buf())
                .or_insert(Waiting { look, since: now });
            if waiting.look != look {
                *waiting = Waiting { look, since: now };
            }
        }
    }

    /// Whether `path` is below the folder and neither junk, hidden nor unfinished.
    fn accepts(&self, path: &Path) -> bool {
        let Ok(relative) = path.strip_prefix(&self.root) else {
            return false;
        };
        let names: Vec<_> = relative
            .components()
            .filter_map(|c| match c {
                Component::Normal(name) => Some(name.to_string_lossy()),
                _ => None,
            })
            .collect();
        let Some(last) = names.last() else {
            return false;
        };
        !names.iter().any(|name| is_junk_or_hidden(name))
            && !last.starts_with("~$")
            && !PARTIAL_SUFFIXES.iter().any(|suffix| last.ends_with(suffix))
    }

    /// Checks the folder is there, settles waiting files and refreshes today's count; returns
    /// the files to upload.
    pub(super) fn tick(&mut self, context: &Context) -> Vec<PathBuf> {
        let now = Instant::now();
        if now.duration_since(self.last_presence) >= PRESENCE_EVERY {
            self.last_presence = now;
            match &self.state {
                WatchState::Watching if !self.spec.dir.is_dir() => {
                    tracing::info!(dir = %self.spec.dir.display(), "a watched folder is gone");
                    self.stop(WatchState::Missing);
                }
                WatchState::Missing if self.spec.dir.is_dir() => self.start(context),
                WatchState::Failed(_) if now.duration_since(self.last_start) >= RETRY_EVERY => {
                    self.start(context);
                }
                _ => {}
            }
        }
        self.settle(now, context);
        if self
            .last_counts
            .is_none_or(|last| now.duration_since(last) >= COUNTS_EVERY)
        {
            self.last_counts = Some(now);
            self.count_today(context);
            self.sent
                .retain(|_, (_, at)| now.duration_since(*at) < SENT_FOR);
        }
        let ready = std::mem::take(&mut self.ready);
        ready
            .into_iter()
            .map(|(path, look)| {
                self.sent.insert(path.clone(), (look, now));
                path
            })
            .collect()
    }

    /// Waiting files that have not changed for [`SETTLE`] become ready (after the walk's
    /// checks); gone ones are forgotten.
    fn settle(&mut self, now: Instant, context: &Context) {
        let mut settled = Vec::new();
        self.waiting
            .retain(|path, waiting| match std::fs::metadata(path) {
                Err(_) => false,
                Ok(meta) => {
                    let look = Look::of(&meta);
                    if look != waiting.look {
                        *waiting = Waiting { look, since: now };
                        true
                    } else if look.is_old() || now.duration_since(waiting.since) >= SETTLE {
                        settled.push(path.clone());
                        false
                    } else {
                        true
                    }
                }
            });
        if !settled.is_empty() {
            self.take(discover(&settled), true, context);
        }
    }

    fn count_today(&mut self, context: &Context) {
        let Ok(history) = &context.history else {
            return;
        };
        let midnight = OffsetDateTime::now_utc().replace_time(Time::MIDNIGHT);
        let scope = &context.scope;
        match history.watched_since(&scope.server, &scope.account, &self.root, midnight) {
            Ok(today) => self.today = today,
            Err(err) => tracing::warn!(%err, "could not count a watched folder's uploads"),
        }
    }

    /// The status, when it changed since it was last reported.
    pub(super) fn status_change(&mut self) -> Option<WatchStatus> {
        let status = WatchStatus {
            dir: self.spec.dir.clone(),
            state: self.state.clone(),
            today: self.today.0,
            last_file: self.today.1.clone(),
        };
        if self.reported.as_ref() == Some(&status) {
            return None;
        }
        self.reported = Some(status.clone());
        Some(status)
    }
}

/// Images, video and audio: what Runflow takes (the engine checks the exact list).
fn is_media(mime_type: &str) -> bool {
    ["image/", "video/", "audio/"]
        .iter()
        .any(|kind| mime_type.starts_with(kind))
}

/// Events that may leave a file with new content: created, written, closed after writing,
/// renamed into place. Reads and attribute changes are not.
fn is_a_write(kind: &EventKind) -> bool {
    matches!(
        kind,
        EventKind::Any
            | EventKind::Create(_)
            | EventKind::Modify(
                ModifyKind::Any | ModifyKind::Data(_) | ModifyKind::Name(_) | ModifyKind::Other
            )
            | EventKind::Access(AccessKind::Close(AccessMode::Write))
    )
}

/// Why a folder could not be watched, and what to do.
fn watch_error(err: &notify::Error) -> String {
    match &err.kind {
        notify::ErrorKind::MaxFilesWatch => "the system's limit of watched folders is reached; \
             raise it (sysctl fs.inotify.max_user_watches) and the watch starts again"
            .to_owned(),
        notify::ErrorKind::Io(io) if io.kind() == std::io::ErrorKind::PermissionDenied => {
            "permission denied; check that you may read the folder".to_owned()
        }
        _ => format!("the folder cannot be watched ({err})"),
    }
}
