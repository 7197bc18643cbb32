//! Watch folders: local folders whose new and changed files upload on their own, for the
//! window (Settings > Watch folders) and `runflow-uploader watch`.
//!
//! A [`Watcher`] runs on a thread of its own and hands what it finds to whoever drives the
//! upload engine ([`WatchEvent::Found`], sent as [`crate::upload::Command::AddWatched`]), so
//! watched files go through the same engine, journal and duplicate index as dropped ones.
//!
//! - A file is taken once its writes have settled: it has not changed for [`SETTLE`] (its
//!   modification time is that old, or its size and time stayed the same that long).
//!   `notify-debouncer-full` gathers the file system's events first.
//! - Subfolders are watched too, with the walks' junk rules (hidden and system entries), and
//!   the names writers give unfinished files (`.part`, `.crdownload`, `~`) are passed over.
//! - When a watch starts (the app opens, the watch is resumed, its folder comes back), one walk
//!   compares the folder with the history: a file uploaded at its current size and
//!   modification time is not sent again. The engine's content hash still catches a file
//!   whose time changed but whose content did not.
//! - A folder that disappears (an unmounted disk) pauses its watch with the reason; it starts
//!   again when the folder is back.
//! - Files Runflow can never take (empty, or not media) are passed over quietly: a watched
//!   folder often holds sidecars and notes. Other problems (too large, unreadable) reach the
//!   engine, which says so like for a drop.

mod folder;

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::mpsc as std_mpsc;
use std::time::{Duration, Instant};

use notify_debouncer_full::DebounceEventResult;
use serde::{Deserialize, Serialize};
use tokio::sync::mpsc::UnboundedSender;

use crate::history::History;
use crate::upload::AccountScope;
use folder::Folder;

/// A file counts as written once it has not changed for this long.
pub const SETTLE: Duration = Duration::from_secs(2);
/// How often unsettled files and the folders' presence are looked at.
const TICK: Duration = Duration::from_millis(250);

/// One watched folder, as the settings keep it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WatchSpec {
    /// The local folder.
    pub dir: PathBuf,
    /// The Runflow folder its files go to; `None` is the root.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub folder_id: Option<String>,
    /// Paused by the user.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub paused: bool,
}

/// What a watch is doing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WatchState {
    /// New and changed files upload.
    Watching,
    /// Paused by the user.
    Paused,
    /// The folder is not there (an unmounted disk, a removed folder); the watch starts again
    /// when it is back.
    Missing,
    /// Watching failed, for this reason; tried again every few seconds.
    Failed(String),
}

impl WatchState {
    /// For people: `Watching`, `Paused: the folder is not there...`.
    pub fn describe(&self) -> String {
        match self {
            Self::Watching => "Watching".to_owned(),
            Self::Paused => "Paused".to_owned(),
            Self::Missing => "Paused: the folder is not there (a disk unmounted, or the folder \
                              moved). Watching starts again when it is back."
                .to_owned(),
            Self::Failed(reason) => format!("Not watching: {reason}"),
        }
    }

    /// A short code for JSON: `watching`, `paused`, `missing`, `failed`.
    pub fn code(&self) -> &'static str {
        match self {
            Self::Watching => "watching",
            Self::Paused => "paused",
            Self::Missing => "missing",
            Self::Failed(_) => "failed",
        }
    }
}

/// A watch's state and today's uploads (UTC days, like the history).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WatchStatus {
    /// The watched folder, as in its [`WatchSpec`].
    pub dir: PathBuf,
    pub state: WatchState,
    /// Files from this folder uploaded today.
    pub today: u64,
    /// The name of the last of them.
    pub last_file: Option<String>,
}

/// What a [`Watcher`] reports.
#[derive(Debug, Clone, PartialEq)]
pub enum WatchEvent {
    /// A watch's state or counts changed.
    Status(WatchStatus),
    /// Settled files (or new subfolders) to upload.
    Found {
        /// The watched folder they are in.
        dir: PathBuf,
        /// Where they go.
        folder_id: Option<String>,
        paths: Vec<PathBuf>,
    },
}

/// Whose uploads the watches compare with: the history in `data_dir`, for `server`'s
/// `account` (as the engine records them).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HistoryScope {
    pub data_dir: PathBuf,
    pub server: String,
    pub account: String,
}

impl HistoryScope {
    /// The history in `data_dir`, for the engine of `account`.
    pub fn of(data_dir: PathBuf, account: &AccountScope) -> Self {
        Self {
            data_dir,
            server: account.history_server(),
            account: account.org_id.clone(),
        }
    }
}

enum Message {
    Set(Vec<WatchSpec>),
    Changed(PathBuf, DebounceEventResult),
    Stop,
}

/// The watches; they stop when it is dropped.
#[derive(Debug)]
pub struct Watcher {
    control: std_mpsc::Sender<Message>,
}

impl Watcher {
    /// Starts watching `specs` on a thread of its own; reports go to `events`.
    pub fn spawn(
        scope: HistoryScope,
        specs: Vec<WatchSpec>,
        events: UnboundedSender<WatchEvent>,
    ) -> Self {
        let (control, inbox) = std_mpsc::channel();
        let _ = control.send(Message::Set(specs));
        let own = control.clone();
        let started = std::thread::Builder::new()
            .name("watch folders".to_owned())
            .spawn(move || Service::new(scope, own, events).run(&inbox));
        if let Err(err) = started {
            tracing::error!(%err, "the watch folders could not start");
        }
        Self { control }
    }

    /// Watches `specs` from now on (new ones start, removed ones stop, paused ones pause).
    pub fn set(&self, specs: Vec<WatchSpec>) {
        let _ = self.control.send(Message::Set(specs));
    }
}

impl Drop for Watcher {
    fn drop(&mut self) {
        let _ = self.control.send(Message::Stop);
    }
}

/// What every watch uses.
struct Context {
    scope: HistoryScope,
    /// The history, or why it could not be opened.
    history: Result<History, String>,
    /// For the debouncers' callbacks.
    own: std_mpsc::Sender<Message>,
}

/// The watcher thread's state.
struct Service {
    context: Context,
    events: UnboundedSender<WatchEvent>,
    folders: HashMap<PathBuf, Folder>,
}

impl Service {
    fn new(
        scope: HistoryScope,
        own: std_mpsc::Sender<Message>,
        events: UnboundedSender<WatchEvent>,
    ) -> Self {
        let history = History::open(&scope.data_dir).map_err(|err| {
            tracing::error!(%err, "the watch folders could not open the upload history");
            format!("the upload history could not be opened ({err})")
        });
        Self {
            context: Context {
                scope,
                history,
                own,
            },
            events,
            folders: HashMap::new(),
        }
    }

    fn run(mut self, inbox: &std_mpsc::Receiver<Message>) {
        let mut next_tick = Instant::now();
        loop {
            match inbox.recv_timeout(next_tick.saturating_duration_since(Instant::now())) {
                Ok(Message::Set(specs)) => self.set(specs),
                Ok(Message::Changed(dir, result)) => {
                    if let Some(folder) = self.folders.get_mut(&dir) {
                        folder.changed(result, &self.context);
                    }
                }
                Ok(Message::Stop) | Err(std_mpsc::RecvTimeoutError::Disconnected) => break,
                Err(std_mpsc::RecvTimeoutError::Timeout) => {}
            }
            if Instant::now() >= next_tick {
                self.tick();
                next_tick = Instant::now() + TICK;
            }
        }
        tracing::debug!("the watch folders stopped");
    }

    fn set(&mut self, specs: Vec<WatchSpec>) {
        self.folders
            .retain(|dir, _| specs.iter().any(|spec| &spec.dir == dir));
        for spec in specs {
            match self.folders.get_mut(&spec.dir) {
                Some(folder) => folder.respec(spec, &self.context),
                None => {
                    let folder = Folder::new(spec, &self.context);
                    self.folders.insert(folder.spec.dir.clone(), folder);
                }
            }
        }
        self.tick();
    }

    fn tick(&mut self) {
        for folder in self.folders.values_mut() {
            let found = folder.tick(&self.context);
            if !found.is_empty() {
                let _ = self.events.send(WatchEvent::Found {
                    dir: folder.spec.dir.clone(),
                    folder_id: folder.spec.folder_id.clone(),
                    paths: found,
                });
            }
            if let Some(status) = folder.status_change() {
                let _ = self.events.send(WatchEvent::Status(status));
            }
        }
    }
}

#[cfg(test)]
mod tests;
