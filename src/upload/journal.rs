//! The crash journal: every step of every unfinished upload appended to one log per process, so
//! a process killed at any instant resumes every file exactly once.
//!
//! Layout: `root/<account key>/<process id>/journal.log`, plus `root/<account key>/account.json`
//! naming the server and account. The log holds one JSON record a line: an entry written (its
//! latest record wins), an entry removed, a walk begun or ended. A line cut short by a crash is
//! the log's end. The log is rewritten (temp file, then rename) with only its live records once
//! it has grown to several times that size, so it stays small however many files pass through;
//! one file appended to, rather than a file per entry replaced at every step, keeps a run of
//! 100,000 files from spending its time allocating and freeing inodes. Directories of the
//! layout before the log (`<entry>.json`, `<walk>.walk`) are read too, and moved into a log
//! when opened. An engine opens the directory of its own account only, so an
//! unfinished upload never resumes on another server or account; it waits there until the app
//! connects to that account again, or the user discards it.
//!
//! A folder walk is recorded too (naming the dropped paths), from before its first
//! file is queued until its last one is: the walk only stays a little ahead of the uploads (the
//! queue stays small), so a run killed mid-walk walks the paths again on the next start, and
//! the files it had queued or uploaded are recognised (the queue's paths, the uploaded index).
//!
//! The rule that prevents duplicates: a confirm is only ever sent for the session recorded as
//! `Uploaded`; on restart that session is resolved by asking for its asset instead of starting a
//! new session (see `queue.rs`).

use std::borrow::Cow;
use std::collections::HashMap;
use std::io::{BufRead as _, Write as _};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError};

use serde::{Deserialize, Serialize};

use super::protocol::ForeignUploads;
use crate::api::RunflowClient;
use crate::api::models::CurrentUser;

mod listing;
mod records;

pub use listing::{Discarded, Unfinished, discard, discard_all, list};
use records::{Contents, Legacy, LogWriter, Record, Subject, legacy_files, read_log};

/// Name of the lock file inside each process's journal directory.
const LOCK_FILE: &str = "lock";
/// The journal's directory under the data directory.
pub const JOURNAL_DIR: &str = "journal";
/// The file naming an account directory's server and account.
const ACCOUNT_FILE: &str = "account.json";
/// Prefix of directories being created or claimed; never adopted under that name.
const PRIVATE_PREFIX: char = '.';
/// The folder of the copies made to upload instead of files, in each process directory.
const COPIES_DIR: &str = "copies";
/// Each process directory's log.
const LOG_FILE: &str = "journal.log";
/// Extension of an entry's file in the layout before the log.
const LEGACY_ENTRY_EXTENSION: &str = "json";
/// Extension of a walk's file in the layout before the log.
const LEGACY_WALK_EXTENSION: &str = "walk";
/// The log is not compacted below this size.
const COMPACT_MIN_BYTES: u64 = 8 << 20;
/// The log is compacted once it is this many times the size it had after the last compaction.
const COMPACT_GROWTH: u64 = 4;
/// How far an upload got.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "step", rename_all = "snake_case")]
pub enum Step {
    /// Nothing sent yet.
    Pending,
    /// A session exists; the bytes may or may not have landed.
    Session {
        /// The session's (and future asset's) id.
        asset_id: String,
        /// Where to PUT.
        upload_url: String,
    },
    /// The bytes landed; only the confirm remains (and may already have happened).
    Uploaded {
        /// The session's (and asset's) id.
        asset_id: String,
    },
}

/// One unfinished upload.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Entry {
    /// The engine's id for the file.
    pub id: u64,
    /// The file.
    pub path: PathBuf,
    /// The asset name.
    pub name: String,
    /// Size when it was queued.
    pub size_bytes: u64,
    /// Modification time when it was queued (ns since the epoch).
    pub modified_ns: u128,
    /// MIME type.
    pub mime_type: String,
    /// Destination folder.
    pub folder_id: Option<String>,
    /// Upload even if this machine uploaded the same content before.
    pub force: bool,
    /// Content hash, once computed.
    pub hash: Option<String>,
    /// How far it got.
    pub step: Step,
    /// Delete `path` once uploaded (pasted content the app wrote itself).
    #[serde(default)]
    pub owned_file: bool,
    /// Found in a watched folder (for the history).
    #[serde(default)]
    pub watched: bool,
    /// The user (or the setting) agreed to uploading a converted copy, since Runflow does not
    /// take the file's type.
    #[serde(default)]
    pub may_convert: bool,
    /// The user agreed to uploading a smaller copy, since the file is over the limit.
    #[serde(default)]
    pub may_shrink: bool,
    /// The copy made to go instead of the file (converted or shrunk), once made: inside the
    /// journal's own directory, so it goes with the journal. The hash stays the original's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub copy: Option<Box<crate::fix::FixedCopy>>,
    /// The user cancelled the file after its confirm may have been sent: a resume only finds
    /// out whether it became an asset, and never confirms it.
    #[serde(default)]
    pub cancelled: bool,
}

impl Entry {
    /// The file that is uploaded: the copy once there is one, else the file itself.
    pub fn upload_path(&self) -> &Path {
        self.copy.as_ref().map_or(&self.path, |c| &c.path)
    }

    /// The asset's name.
    pub fn upload_name(&self) -> &str {
        self.copy.as_ref().map_or(&self.name, |c| &c.name)
    }

    /// The MIME type declared.
    pub fn upload_mime(&self) -> &str {
        self.copy.as_ref().map_or(&self.mime_type, |c| &c.mime_type)
    }

    /// The bytes sent.
    pub fn upload_size(&self) -> u64 {
        self.copy.as_ref().map_or(self.size_bytes, |c| c.size_bytes)
    }

    /// The modification time of what is uploaded when it was queued or made.
    pub fn upload_modified_ns(&self) -> u128 {
        self.copy
            .as_ref()
            .map_or(self.modified_ns, |c| c.modified_ns)
    }
}

/// The server and account a journal belongs to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccountScope {
    /// The API base URL.
    pub base_url: String,
    /// The organisation the key belongs to (`/v1/auth/me`), or `""` when it names none.
    pub org_id: String,
    /// Who that is, for messages: an email or an organisation name.
    pub label: String,
}

impl AccountScope {
    /// The server as the history records it.
    pub fn history_server(&self) -> String {
        self.base_url.trim_end_matches('/').to_owned()
    }

    /// The directory name of this account's journal: stable, short and filesystem-safe.
    pub fn key(&self) -> String {
        let hash = blake3::hash(format!("{}\n{}", self.base_url, self.org_id).as_bytes());
        format!("acct-{}", &hash.to_hex()[..16])
    }

    /// The duplicate index's scope: content uploaded to one account is not "already uploaded"
    /// for another.
    pub fn index_scope(&self) -> String {
        format!("{}#{}", self.base_url, self.org_id)
    }
}

impl AccountScope {
    /// The scope of `client`'s server and the account `user` belongs to.
    pub fn of(client: &RunflowClient, user: &CurrentUser) -> Self {
        let org = user.memberships.iter().find_map(|m| m.org.as_ref());
        let org_id = org.and_then(|o| o.id.clone()).unwrap_or_default();
        let label = user
            .email
            .clone()
            .or_else(|| org.and_then(|o| o.name.clone()))
            .unwrap_or_else(|| "an unnamed account".to_owned());
        Self {
            base_url: client.base_url().to_string(),
            org_id,
            label,
        }
    }
}

/// The journal directory of one process.
#[derive(Debug)]
pub struct Journal {
    dir: PathBuf,
    /// Held for the journal's life: a locked directory belongs to a running process.
    _lock: Option<Arc<std::fs::File>>,
    /// The log, opened for appending at the first write.
    log: Mutex<Option<LogWriter>>,
}

/// What opening a journal found.
#[derive(Debug)]
pub struct Opened {
    /// This process's journal.
    pub journal: Journal,
    /// Unfinished uploads of earlier processes of the same account, now this process's.
    pub entries: Vec<Entry>,
    /// Their walks that had not ended, now this process's too.
    pub walks: Vec<Walk>,
    /// Unfinished uploads of other accounts, left where they are.
    pub foreign: Vec<ForeignUploads>,
}

impl Step {
    /// How far along the step is, for picking the furthest of two records of one file.
    fn rank(&self) -> u8 {
        match self {
            Self::Pending => 0,
            Self::Session { .. } => 1,
            Self::Uploaded { .. } => 2,
        }
    }
}

impl Journal {
    /// Opens (creating) a plain journal in `dir`, with no locking. Files of the layout before
    /// the log are moved into it; an unreadable one is kept aside as `.corrupt`.
    pub fn open(dir: &Path) -> std::io::Result<Self> {
        std::fs::create_dir_all(dir)?;
        let journal = Self {
            dir: dir.to_path_buf(),
            _lock: None,
            log: Mutex::new(None),
        };
        let legacy = legacy_files(dir)?;
        let mut records = Vec::new();
        for (path, found) in &legacy {
            match found {
                Legacy::Entry(entry) => records.push(Record::Put(Cow::Borrowed(entry))),
                Legacy::Walk(walk) => records.push(Record::Walk(Cow::Borrowed(walk))),
                Legacy::Unreadable => {
                    tracing::warn!(path = %path.display(), "unreadable journal entry set aside");
                    let _ = std::fs::rename(path, path.with_extension("corrupt"));
                }
                Legacy::Temporary => {
                    let _ = std::fs::remove_file(path);
                }
            }
        }
        let count = records.len();
        for (n, record) in records.iter().enumerate() {
            journal.append(record, n + 1 == count)?;
        }
        for (path, found) in legacy {
            if matches!(found, Legacy::Entry(_) | Legacy::Walk(_)) {
                std::fs::remove_file(path)?;
            }
        }
        Ok(journal)
    }

    /// Opens a journal of this process's own for `scope` under `root`, and adopts the entries
    /// of every earlier process of that account that is no longer running, renumbered from 1.
    ///
    /// Two processes never work on one entry: a dead directory is claimed by renaming it to a
    /// private name (atomic, so exactly one claimant wins), and a new directory is locked before
    /// it gets the name others look for. Directories of the layout before accounts were
    /// recorded (directly under `root`) are adopted by the first account that opens.
    pub fn open_exclusive(root: &Path, scope: &AccountScope) -> std::io::Result<Opened> {
        let account_dir = root.join(scope.key());
        std::fs::create_dir_all(&account_dir)?;
        let account_file = account_dir.join(ACCOUNT_FILE);
        if !account_file.exists() {
            crate::atomic::write(
                &account_file,
                &serde_json::to_vec(scope).map_err(std::io::Error::other)?,
                true,
            )?;
        }
        let me = uuid::Uuid::new_v4().simple().to_string();
        let staging = account_dir.join(format!("{PRIVATE_PREFIX}new-{me}"));
        std::fs::create_dir(&staging)?;
        let lock = std::fs::File::create(staging.join(LOCK_FILE))?;
        lock.lock()?;
        let dir = account_dir.join(&me);
        std::fs::rename(&staging, &dir)?;
        let journal = Self {
            dir,
            _lock: Some(Arc::new(lock)),
            log: Mutex::new(None),
        };

        let mut candidates = process_dirs(&account_dir, &journal.dir)?;
        candidates.extend(legacy_dirs(root)?);
        let mut claimed = Vec::new();
        for (n, other) in candidates.into_iter().enumerate() {
            let target = account_dir.join(format!("{PRIVATE_PREFIX}claim-{me}-{n}"));
            if let Some(dir) = claim(&other, &target) {
                claimed.push(dir);
            }
        }
        let mut entries: Vec<Entry> = Vec::new();
        let mut walks: Vec<Walk> = Vec::new();
        for claimed in &claimed {
            if let Ok(earlier) = Contents::read(&claimed.dir) {
                let Contents {
                    entries: found,
                    walks: found_walks,
                } = earlier;
                entries.extend(found.into_values());
                walks.extend(found_walks.into_values());
            }
        }
        // A walk copied by a start that died before deleting its source is there twice.
        walks.sort_by(|a, b| a.key.cmp(&b.key));
        walks.dedup_by(|later, kept| later.key == kept.key);
        for walk in &walks {
            journal.write_walk(walk)?;
        }
        // Copy first, delete after: a crash in between leaves two records of a file, which the
        // de-duplication below resolves on the next start.
        entries.sort_by(|a, b| a.path.cmp(&b.path).then(b.step.rank().cmp(&a.step.rank())));
        entries.dedup_by(|later, kept| later.path == kept.path);
        entries.sort_by_key(|e| e.id);
        // Flushed where it guards something sent (a session, stored bytes); a queued file that
        // a power cut forgets was never sent, so those copies skip the flush (a start that
        // adopts thousands of them stays quick).
        for (next_id, entry) in (1..).zip(entries.iter_mut()) {
            entry.id = next_id;
            journal.write(entry, !matches!(entry.step, Step::Pending))?;
        }
        for claimed in claimed {
            let _ = std::fs::remove_dir_all(&claimed.dir);
        }
        let foreign = Self::foreign(root, &scope.key());
        Ok(Opened {
            journal,
            entries,
            walks,
            foreign,
        })
    }

    /// Forgets every unfinished upload of the account `account_key` under `root` whose process
    /// is no longer running. Returns how many were dropped.
    pub fn discard_account(root: &Path, account_key: &str) -> std::io::Result<usize> {
        let account_dir = root.join(account_key);
        let me = uuid::Uuid::new_v4().simple().to_string();
        let mut dropped = 0;
        for (n, other) in process_dirs(&account_dir, Path::new(""))?
            .into_iter()
            .enumerate()
        {
            let target = account_dir.join(format!("{PRIVATE_PREFIX}discard-{me}-{n}"));
            if let Some(claimed) = claim(&other, &target) {
                dropped += Self::open(&claimed.dir)
                    .and_then(|j| j.load())
                    .map_or(0, |e| e.len());
                std::fs::remove_dir_all(&claimed.dir)?;
            }
        }
        if std::fs::read_dir(&account_dir)?
            .filter_map(Result::ok)
            .all(|e| e.file_name() == ACCOUNT_FILE)
        {
            let _ = std::fs::remove_dir_all(&account_dir);
        }
        Ok(dropped)
    }

    fn log_path(&self) -> PathBuf {
        self.dir.join(LOG_FILE)
    }

    /// Every unfinished upload, oldest first.
    pub fn load(&self) -> std::io::Result<Vec<Entry>> {
        Ok(Contents::read(&self.dir)?.entries())
    }

    /// Records `entry`'s latest state. With `durable`, it is flushed to disk before this
    /// returns, so the step survives a power cut too.
    pub fn write(&self, entry: &Entry, durable: bool) -> std::io::Result<()> {
        self.append(&Record::Put(Cow::Borrowed(entry)), durable)
    }

    /// Records a walk before its first file is queued (flushed: the files it will queue are
    /// only as safe as this record).
    pub fn write_walk(&self, walk: &Walk) -> std::io::Result<()> {
        self.append(&Record::Walk(Cow::Borrowed(walk)), true)
    }

    /// Forgets a walk whose files are all queued (or that the user stopped).
    pub fn remove_walk(&self, key: &str) -> std::io::Result<()> {
        self.append(&Record::EndWalk(Cow::Borrowed(key)), false)
    }

    /// Removes this journal's directory if no entry or walk is left in it (on a clean
    /// shutdown).
    pub fn close_if_empty(&self) -> std::io::Result<()> {
        if Contents::read(&self.dir)?.is_empty() {
            *self.log.lock().unwrap_or_else(PoisonError::into_inner) = None;
            std::fs::remove_dir_all(&self.dir)?;
        }
        Ok(())
    }

    /// Where this process keeps the copies it uploads instead of files (converted, shrunk):
    /// inside its own directory, so a later start that adopts the directory removes the copies
    /// with it, and a copy never outlives the journal that knows of it.
    pub fn copies_dir(&self) -> PathBuf {
        self.dir.join(COPIES_DIR)
    }

    /// Forgets an upload (finished, or given up by the user).
    pub fn remove(&self, id: u64) -> std::io::Result<()> {
        self.append(&Record::Del(id), false)
    }

    /// Appends `record` to the log, compacting it when it has grown enough.
    fn append(&self, record: &Record<'_>, durable: bool) -> std::io::Result<()> {
        let mut line = serde_json::to_vec(record).map_err(std::io::Error::other)?;
        line.push(b'\n');
        let mut log = self.log.lock().unwrap_or_else(PoisonError::into_inner);
        let writer = match &mut *log {
            Some(writer) => writer,
            None => log.insert(LogWriter::open(&self.log_path())?),
        };
        writer.append(&line, durable)?;
        if writer.wants_compaction()
            && let Err(err) = self.compact(&mut log)
        {
            // The log as it is stays valid; compaction is tried again at the next record.
            tracing::warn!(%err, "could not compact the upload journal");
        }
        Ok(())
    }

    /// Rewrites the log with only its live records, in their order: to a temporary file,
    /// flushed, then renamed over the log, so a crash leaves the old log or the new one.
    fn compact(&self, log: &mut Option<LogWriter>) -> std::io::Result<()> {
        let path = self.log_path();
        let mut latest: HashMap<Subject, usize> = HashMap::new();
        read_log(&path, |number, record| {
            let (subject, live) = record.subject();
            if live {
                latest.insert(subject, number);
            } else {
                latest.remove(&subject);
            }
        })?;
        let mut keep: Vec<usize> = latest.into_values().collect();
        keep.sort_unstable();
        let dir = path.parent().unwrap_or(Path::new("."));
        let mut temp = crate::atomic::temp_in(dir)?;
        let mut out = std::io::BufWriter::new(temp.as_file_mut());
        let mut reader = std::io::BufReader::new(std::fs::File::open(&path)?);
        let mut line = Vec::new();
        let mut wanted = keep.iter().peekable();
        for number in 0.. {
            if wanted.peek().is_none() {
                break;
            }
            line.clear();
            if reader.read_until(b'\n', &mut line)? == 0 {
                break;
            }
            if wanted.next_if_eq(&&number).is_some() {
                out.write_all(&line)?;
            }
        }
        out.flush()?;
        drop(out);
        temp.as_file().sync_data()?;
        temp.persist(&path).map_err(|err| err.error)?;
        // The handle held points at the old log now: the next record goes to the new one.
        *log = None;
        *log = Some(LogWriter::open(&path)?);
        Ok(())
    }
}

/// Process directories of an account, other than `own`: public names, and private claims left
/// by a claimant that died before it finished.
fn process_dirs(account_dir: &Path, own: &Path) -> std::io::Result<Vec<PathBuf>> {
    let mut dirs = Vec::new();
    let listing = match std::fs::read_dir(account_dir) {
        Ok(listing) => listing,
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => return Ok(dirs),
        Err(err) => return Err(err),
    };
    for dirent in listing {
        let path = dirent?.path();
        let name = path.file_name().map(|n| n.to_string_lossy().into_owned());
        let Some(name) = name else { continue };
        let private_new = name.starts_with(&format!("{PRIVATE_PREFIX}new-"));
        if path == own || !path.is_dir() || private_new {
            continue;
        }
        dirs.push(path);
    }
    dirs.sort();
    Ok(dirs)
}

/// Directories of the layout before accounts were recorded: process directories right under
/// the root (they hold a lock file and no account file).
fn legacy_dirs(root: &Path) -> std::io::Result<Vec<PathBuf>> {
    let mut dirs = Vec::new();
    for dirent in std::fs::read_dir(root)? {
        let path = dirent?.path();
        let public = path
            .file_name()
            .is_some_and(|n| !n.to_string_lossy().starts_with(PRIVATE_PREFIX));
        if public && path.join(LOCK_FILE).is_file() && !path.join(ACCOUNT_FILE).exists() {
            dirs.push(path);
        }
    }
    Ok(dirs)
}

/// A dead process's directory, claimed: renamed to a private name and locked until dropped.
struct Claimed {
    dir: PathBuf,
    _lock: Option<std::fs::File>,
}

/// Claims a dead process's directory: only when its lock is free, and only by an atomic rename,
/// so of several processes starting at once exactly one gets it. The lock stays held while the
/// claimant reads it, so a claim in progress is never claimed again.
fn claim(dir: &Path, target: &Path) -> Option<Claimed> {
    let lock = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open(dir.join(LOCK_FILE))
        .ok();
    match &lock {
        // Held: a running process (or another claimant) owns it.
        Some(lock) if lock.try_lock().is_err() => return None,
        // No lock file: a directory from an older version, or one whose owner died early.
        _ => {}
    }
    std::fs::rename(dir, target).ok()?;
    Some(Claimed {
        dir: target.to_path_buf(),
        _lock: lock,
    })
}

impl Journal {
    /// Unfinished uploads of the accounts other than `own_key` under `root`.
    pub fn foreign(root: &Path, own_key: &str) -> Vec<ForeignUploads> {
        let Ok(listing) = std::fs::read_dir(root) else {
            return Vec::new();
        };
        let mut foreign = Vec::new();
        for dirent in listing.filter_map(Result::ok) {
            let account_dir = dirent.path();
            let key = dirent.file_name().to_string_lossy().into_owned();
            if key == own_key {
                continue;
            }
            let Some(scope) = std::fs::read(account_dir.join(ACCOUNT_FILE))
                .ok()
                .and_then(|bytes| serde_json::from_slice::<AccountScope>(&bytes).ok())
            else {
                continue;
            };
            // Counted without touching anything: another process may be writing there.
            let files: usize = process_dirs(&account_dir, Path::new(""))
                .unwrap_or_default()
                .iter()
                .filter_map(|dir| Contents::read(dir).ok())
                .map(|contents| contents.entries.len())
                .sum();
            if files > 0 {
                foreign.push(ForeignUploads {
                    account_key: key,
                    base_url: scope.base_url,
                    account_label: scope.label,
                    files,
                });
            }
        }
        foreign.sort_by(|a, b| a.account_key.cmp(&b.account_key));
        foreign
    }
}

/// A folder walk that had not queued all its files yet.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Walk {
    /// Names the record in its journal directory (a UUID).
    pub key: String,
    /// The dropped paths.
    pub paths: Vec<PathBuf>,
    /// Destination folder.
    pub folder_id: Option<String>,
    /// Upload even if this machine uploaded the same content before.
    pub force: bool,
    /// The paths are a watched folder's findings (for the history).
    #[serde(default)]
    pub watched: bool,
}

#[cfg(test)]
mod tests;
