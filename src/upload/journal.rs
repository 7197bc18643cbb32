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

/// Name of the lock file inside each process's journal directory.
const LOCK_FILE: &str = "lock";
/// The journal's directory under the data directory.
pub const JOURNAL_DIR: &str = "journal";
/// The file naming an account directory's server and account.
const ACCOUNT_FILE: &str = "account.json";
/// Prefix of directories being created or claimed; never adopted under that name.
const PRIVATE_PREFIX: char = '.';
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
    /// The user cancelled the file after its confirm may have been sent: a resume only finds
    /// out whether it became an asset, and never confirms it.
    #[serde(default)]
    pub cancelled: bool,
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

/// One line of the log.
#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
enum Record<'a> {
    /// An entry's latest state.
    Put(Cow<'a, Entry>),
    /// An entry is finished or given up.
    Del(u64),
    /// A walk begins.
    Walk(Cow<'a, Walk>),
    /// A walk ended.
    EndWalk(Cow<'a, str>),
}

/// What a record is about: later records about the same thing replace it.
#[derive(Debug, PartialEq, Eq, Hash)]
enum Subject {
    Entry(u64),
    Walk(String),
}

impl Record<'_> {
    /// What the record is about, and whether it keeps it (a write) or ends it (a removal).
    fn subject(&self) -> (Subject, bool) {
        match self {
            Self::Put(entry) => (Subject::Entry(entry.id), true),
            Self::Del(id) => (Subject::Entry(*id), false),
            Self::Walk(walk) => (Subject::Walk(walk.key.clone()), true),
            Self::EndWalk(key) => (Subject::Walk(key.to_string()), false),
        }
    }
}

/// The log open for appending.
#[derive(Debug)]
struct LogWriter {
    file: std::fs::File,
    /// Its length: everything up to here is whole records.
    len: u64,
    /// Its length after it was opened or last compacted.
    compacted: u64,
}

impl LogWriter {
    /// Opens (creating) the log at `path` for appending. A record cut short at its end (a
    /// process killed mid-write) is cut off, so the next record starts on a line of its own.
    fn open(path: &Path) -> std::io::Result<Self> {
        let file = private_file(path, true)?;
        let mut whole = 0;
        let mut reader = std::io::BufReader::new(&file);
        let mut line = Vec::new();
        loop {
            line.clear();
            let read = reader.read_until(b'\n', &mut line)?;
            if read == 0 || line.last() != Some(&b'\n') {
                break;
            }
            whole += read as u64;
        }
        if whole < file.metadata()?.len() {
            file.set_len(whole)?;
        }
        Ok(Self {
            file,
            len: whole,
            compacted: whole,
        })
    }

    /// Appends `line` (a whole record with its newline). A failed write is cut off again.
    fn append(&mut self, line: &[u8], durable: bool) -> std::io::Result<()> {
        let written = self.file.write_all(line).and_then(|()| {
            if durable {
                self.file.sync_data()
            } else {
                Ok(())
            }
        });
        match written {
            Ok(()) => {
                self.len += line.len() as u64;
                Ok(())
            }
            Err(err) => {
                let _ = self.file.set_len(self.len);
                Err(err)
            }
        }
    }

    fn wants_compaction(&self) -> bool {
        self.len > COMPACT_MIN_BYTES.max(self.compacted.saturating_mul(COMPACT_GROWTH))
    }
}

/// Reads the log at `path` in order, handing each record to `each` with its line number. The
/// log ends at its first line without a newline (a write cut short); an unreadable line is
/// skipped. A missing log is an empty one.
fn read_log(path: &Path, mut each: impl FnMut(usize, Record<'static>)) -> std::io::Result<()> {
    let file = match std::fs::File::open(path) {
        Ok(file) => file,
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(err) => return Err(err),
    };
    let mut reader = std::io::BufReader::new(file);
    let mut line = Vec::new();
    for number in 0.. {
        line.clear();
        if reader.read_until(b'\n', &mut line)? == 0 || line.last() != Some(&b'\n') {
            break;
        }
        match serde_json::from_slice::<Record<'static>>(&line) {
            Ok(record) => each(number, record),
            Err(err) => {
                tracing::warn!(path = %path.display(), line = number + 1, %err, "unreadable journal record skipped");
            }
        }
    }
    Ok(())
}

/// What a process directory holds.
#[derive(Debug, Default)]
struct Contents {
    entries: HashMap<u64, Entry>,
    walks: HashMap<String, Walk>,
}

impl Contents {
    /// Reads `dir` without changing anything: the files of the layout before the log, then the
    /// log over them.
    fn read(dir: &Path) -> std::io::Result<Self> {
        let mut contents = Self::default();
        for (path, legacy) in legacy_files(dir)? {
            match legacy {
                Legacy::Entry(entry) => {
                    contents.entries.insert(entry.id, entry);
                }
                Legacy::Walk(walk) => {
                    contents.walks.insert(walk.key.clone(), walk);
                }
                Legacy::Unreadable => {
                    tracing::warn!(path = %path.display(), "unreadable journal file skipped");
                }
                Legacy::Temporary => {}
            }
        }
        read_log(&dir.join(LOG_FILE), |_, record| match record {
            Record::Put(entry) => {
                contents.entries.insert(entry.id, entry.into_owned());
            }
            Record::Del(id) => {
                contents.entries.remove(&id);
            }
            Record::Walk(walk) => {
                let walk = walk.into_owned();
                contents.walks.insert(walk.key.clone(), walk);
            }
            Record::EndWalk(key) => {
                contents.walks.remove(key.as_ref());
            }
        })?;
        Ok(contents)
    }

    fn is_empty(&self) -> bool {
        self.entries.is_empty() && self.walks.is_empty()
    }

    /// The entries, oldest first.
    fn entries(self) -> Vec<Entry> {
        let mut entries: Vec<Entry> = self.entries.into_values().collect();
        entries.sort_by_key(|e| e.id);
        entries
    }
}

/// A file of the layout before the log, read.
enum Legacy {
    Entry(Entry),
    Walk(Walk),
    Unreadable,
    /// A temporary file a write left behind.
    Temporary,
}

/// The files of the layout before the log in `dir`.
fn legacy_files(dir: &Path) -> std::io::Result<Vec<(PathBuf, Legacy)>> {
    let mut found = Vec::new();
    for dirent in std::fs::read_dir(dir)? {
        let path = dirent?.path();
        let read = |path: &Path| std::fs::read(path).ok();
        let legacy = match path.extension().and_then(|e| e.to_str()) {
            Some("tmp") => Legacy::Temporary,
            Some(LEGACY_ENTRY_EXTENSION) => read(&path)
                .and_then(|bytes| serde_json::from_slice(&bytes).ok())
                .map_or(Legacy::Unreadable, Legacy::Entry),
            Some(LEGACY_WALK_EXTENSION) => read(&path)
                .and_then(|bytes| serde_json::from_slice(&bytes).ok())
                .map_or(Legacy::Unreadable, Legacy::Walk),
            _ => continue,
        };
        found.push((path, legacy));
    }
    Ok(found)
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
            write_atomic(
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
        let tmp = path.with_extension("log.tmp");
        let copied = (|| {
            let mut out = std::io::BufWriter::new(private_file(&tmp, false)?);
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
            out.into_inner()
                .map_err(std::io::IntoInnerError::into_error)?
                .sync_data()?;
            std::fs::rename(&tmp, &path)
        })();
        if copied.is_err() {
            let _ = std::fs::remove_file(&tmp);
            return copied;
        }
        // The handle held points at the old log now: the next record goes to the new one.
        *log = None;
        *log = Some(LogWriter::open(&path)?);
        Ok(())
    }
}

/// Writes `bytes` to `path` through a temporary file and a rename, so a reader sees the old or
/// the new content, never a mix. A failed write removes its temporary file.
fn write_atomic(path: &Path, bytes: &[u8], durable: bool) -> std::io::Result<()> {
    // A temp name of this write's own: two processes starting at once both write an account's
    // `account.json`, and one's rename must not take the other's half-written file.
    let tmp = path.with_extension(format!("{}.tmp", uuid::Uuid::new_v4().simple()));
    let written = (|| {
        let mut file = private_file(&tmp, false)?;
        file.write_all(bytes)?;
        if durable {
            file.sync_data()?;
        }
        drop(file);
        std::fs::rename(&tmp, path)
    })();
    if written.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    written
}

/// Opens a file only its owner may read, creating it: for appending (and reading), or
/// truncated for writing. Journal entries hold presigned upload links, which are credentials
/// for as long as they last.
fn private_file(path: &Path, append: bool) -> std::io::Result<std::fs::File> {
    let mut options = std::fs::OpenOptions::new();
    if append {
        options.read(true).append(true).create(true);
    } else {
        options.write(true).create(true).truncate(true);
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt as _;
        options.mode(0o600);
    }
    let file = options.open(path)?;
    // A file that existed keeps the mode it was created with; make sure.
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        file.set_permissions(std::fs::Permissions::from_mode(0o600))?;
    }
    Ok(file)
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
}

/// An unfinished upload found in the journal, as `journal list` shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unfinished {
    /// Names it for [`discard`]: `<process>-<entry id>`, unique under the journal root.
    pub id: String,
    /// The journal's key for its account (as in [`ForeignUploads::account_key`]).
    pub account_key: String,
    /// The API base it is for (empty for journals from before accounts were recorded).
    pub base_url: String,
    /// Who it is for, as far as known.
    pub account_label: String,
    /// The entry itself.
    pub entry: Entry,
}

/// Every unfinished upload under the journal `root`, of every account and process, read without
/// touching anything (a running process may be writing there). Sorted by account, then id.
pub fn list(root: &Path) -> Vec<Unfinished> {
    let mut found = Vec::new();
    let Ok(listing) = std::fs::read_dir(root) else {
        return found;
    };
    for dirent in listing.filter_map(Result::ok) {
        let account_dir = dirent.path();
        let key = dirent.file_name().to_string_lossy().into_owned();
        if key.starts_with(PRIVATE_PREFIX) || !account_dir.is_dir() {
            continue;
        }
        let scope = std::fs::read(account_dir.join(ACCOUNT_FILE))
            .ok()
            .and_then(|bytes| serde_json::from_slice::<AccountScope>(&bytes).ok());
        // A journal of the layout before accounts: a process directory right under the root.
        let process_dirs = if scope.is_none() && account_dir.join(LOCK_FILE).is_file() {
            vec![account_dir.clone()]
        } else {
            process_dirs(&account_dir, Path::new("")).unwrap_or_default()
        };
        for dir in process_dirs {
            let process = dir
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default();
            let Ok(contents) = Contents::read(&dir) else {
                continue;
            };
            for entry in contents.entries() {
                found.push(Unfinished {
                    id: format!("{}-{}", short_process(&process), entry.id),
                    account_key: key.clone(),
                    base_url: scope
                        .as_ref()
                        .map(|s| s.base_url.clone())
                        .unwrap_or_default(),
                    account_label: scope
                        .as_ref()
                        .map_or_else(|| "an unknown account".to_owned(), |s| s.label.clone()),
                    entry,
                });
            }
        }
    }
    found.sort_by(|a, b| {
        (a.account_key.as_str(), a.id.as_str(), a.entry.id).cmp(&(
            b.account_key.as_str(),
            b.id.as_str(),
            b.entry.id,
        ))
    });
    found
}

/// The part of a process directory's name that [`Unfinished::id`] shows: enough to tell
/// processes apart, short enough to type.
fn short_process(name: &str) -> &str {
    let name = name.trim_start_matches(PRIVATE_PREFIX);
    name.get(..8).unwrap_or(name)
}

/// What [`discard`] did with one id.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Discarded {
    /// The entry is gone.
    Removed,
    /// No unfinished upload has this id.
    NotFound,
    /// A running process owns it (the window, another `upload`): stop that first.
    InUse,
}

/// Forgets the unfinished upload `id` (from [`list`]). Its process directory is claimed the way
/// a starting engine claims it (an atomic rename, with the lock held), so an entry a running
/// process owns is never touched, then given its name back.
pub fn discard(root: &Path, id: &str) -> std::io::Result<Discarded> {
    let Some(found) = list(root).into_iter().find(|u| u.id == id) else {
        return Ok(Discarded::NotFound);
    };
    let account_dir = root.join(&found.account_key);
    let legacy = !account_dir.join(ACCOUNT_FILE).exists() && account_dir.join(LOCK_FILE).is_file();
    let process_dir = if legacy {
        account_dir.clone()
    } else {
        process_dirs(&account_dir, Path::new(""))?
            .into_iter()
            .find(|dir| {
                dir.file_name().is_some_and(|n| {
                    id.starts_with(&format!("{}-", short_process(&n.to_string_lossy())))
                })
            })
            .ok_or_else(|| std::io::Error::from(std::io::ErrorKind::NotFound))?
    };
    let parent = process_dir.parent().unwrap_or(root).to_path_buf();
    let me = uuid::Uuid::new_v4().simple().to_string();
    let target = parent.join(format!("{PRIVATE_PREFIX}discard-{me}"));
    let Some(claimed) = claim(&process_dir, &target) else {
        return Ok(Discarded::InUse);
    };
    let journal = Journal::open(&claimed.dir)?;
    journal.remove(found.entry.id)?;
    if Contents::read(&claimed.dir)?.is_empty() {
        std::fs::remove_dir_all(&claimed.dir)?;
    } else {
        std::fs::rename(&claimed.dir, &process_dir)?;
    }
    Ok(Discarded::Removed)
}

/// Forgets every unfinished upload under `root` that no running process owns. Returns how many.
pub fn discard_all(root: &Path) -> std::io::Result<usize> {
    let mut keys: Vec<String> = list(root).into_iter().map(|u| u.account_key).collect();
    keys.dedup();
    let mut dropped = 0;
    for key in keys {
        let account_dir = root.join(&key);
        if !account_dir.join(ACCOUNT_FILE).exists() && account_dir.join(LOCK_FILE).is_file() {
            let me = uuid::Uuid::new_v4().simple().to_string();
            let target = root.join(format!("{PRIVATE_PREFIX}discard-{me}"));
            if let Some(claimed) = claim(&account_dir, &target) {
                dropped += Journal::open(&claimed.dir)?.load()?.len();
                std::fs::remove_dir_all(&claimed.dir)?;
            }
            continue;
        }
        dropped += Journal::discard_account(root, &key)?;
    }
    Ok(dropped)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(id: u64, step: Step) -> Entry {
        Entry {
            id,
            path: PathBuf::from(format!("/tmp/{id}.png")),
            name: format!("{id}.png"),
            size_bytes: 10,
            modified_ns: 1_700_000_000_000_000_000,
            mime_type: "image/png".into(),
            folder_id: None,
            force: false,
            hash: None,
            step,
            owned_file: false,
            cancelled: false,
        }
    }

    /// The walks recorded in `journal`.
    fn walks(journal: &Journal) -> Vec<Walk> {
        let mut walks: Vec<Walk> = Contents::read(&journal.dir)
            .unwrap()
            .walks
            .into_values()
            .collect();
        walks.sort_by(|a, b| a.key.cmp(&b.key));
        walks
    }

    fn scope(org: &str) -> AccountScope {
        AccountScope {
            base_url: "http://127.0.0.1:1/".into(),
            org_id: org.into(),
            label: format!("{org}@example.com"),
        }
    }

    #[test]
    fn entries_round_trip_and_are_replaced_in_place() {
        let dir = tempfile::tempdir().unwrap();
        let journal = Journal::open(dir.path()).unwrap();
        journal.write(&entry(2, Step::Pending), false).unwrap();
        journal.write(&entry(1, Step::Pending), true).unwrap();
        let uploaded = entry(
            2,
            Step::Uploaded {
                asset_id: "a2".into(),
            },
        );
        journal.write(&uploaded, true).unwrap();
        let loaded = journal.load().unwrap();
        assert_eq!(loaded.len(), 2);
        assert_eq!(loaded[0].id, 1);
        assert_eq!(loaded[1], uploaded);
        journal.remove(1).unwrap();
        journal.remove(1).unwrap();
        assert_eq!(journal.load().unwrap().len(), 1);
    }

    #[test]
    fn a_live_journal_is_left_alone_and_a_dead_one_is_adopted_once() {
        let root = tempfile::tempdir().unwrap();
        let live = Journal::open_exclusive(root.path(), &scope("org-a")).unwrap();
        assert!(live.entries.is_empty());
        let live = live.journal;
        live.write(&entry(7, Step::Pending), false).unwrap();

        // A second process sees nothing to adopt while the first holds its lock.
        let second = Journal::open_exclusive(root.path(), &scope("org-a")).unwrap();
        assert!(second.entries.is_empty());
        drop(second);

        // Once the first is gone (its lock released), the next start adopts its entry once,
        // keeping the furthest record when a file appears twice.
        let dead_dir = live.dir.clone();
        drop(live);
        let dup = Journal::open(&dead_dir).unwrap();
        let mut uploaded = entry(
            9,
            Step::Uploaded {
                asset_id: "a".into(),
            },
        );
        uploaded.path = entry(7, Step::Pending).path;
        dup.write(&uploaded, false).unwrap();
        let third = Journal::open_exclusive(root.path(), &scope("org-a")).unwrap();
        assert_eq!(third.entries.len(), 1);
        assert_eq!(
            third.entries[0].step,
            Step::Uploaded {
                asset_id: "a".into()
            }
        );
        assert_eq!(third.entries[0].id, 1);
        assert!(!dead_dir.exists());
        assert_eq!(third.journal.load().unwrap().len(), 1);
    }

    #[test]
    fn an_unfinished_walk_is_adopted_once_and_keeps_its_directory() {
        let root = tempfile::tempdir().unwrap();
        let first = Journal::open_exclusive(root.path(), &scope("org-a"))
            .unwrap()
            .journal;
        let walk = |key: &str| Walk {
            key: key.into(),
            paths: vec![PathBuf::from("/photos"), PathBuf::from("/more photos")],
            folder_id: Some("f1".into()),
            force: true,
        };
        first.write_walk(&walk("w1")).unwrap();
        first.write_walk(&walk("w2")).unwrap();
        first.remove_walk("w2").unwrap();
        first.remove_walk("never-written").unwrap();
        // A walk alone keeps the directory on a clean shutdown: its files are still to queue.
        first.close_if_empty().unwrap();
        let dead_dir = first.dir.clone();
        assert!(dead_dir.exists());
        // A start that died between copying and deleting left a second copy.
        let copy_dir = root.path().join(scope("org-a").key()).join("deadbeef");
        let copy = Journal::open(&copy_dir).unwrap();
        copy.write_walk(&walk("w1")).unwrap();
        std::fs::write(copy_dir.join("torn.walk"), b"{\"key\": ").unwrap();
        drop(first);

        let next = Journal::open_exclusive(root.path(), &scope("org-a")).unwrap();
        assert_eq!(next.walks, vec![walk("w1")]);
        assert_eq!(walks(&next.journal), vec![walk("w1")]);
        assert!(!dead_dir.exists() && !copy_dir.exists());
        // Another account never sees it.
        let other = Journal::open_exclusive(root.path(), &scope("org-b")).unwrap();
        assert!(other.walks.is_empty());
    }

    #[test]
    fn another_accounts_entries_wait_for_it_and_can_be_discarded() {
        let root = tempfile::tempdir().unwrap();
        let a = Journal::open_exclusive(root.path(), &scope("org-a")).unwrap();
        a.journal.write(&entry(1, Step::Pending), false).unwrap();
        a.journal.write(&entry(2, Step::Pending), false).unwrap();
        drop(a);

        // Another account on the same machine adopts nothing, and is told what waits.
        let b = Journal::open_exclusive(root.path(), &scope("org-b")).unwrap();
        assert!(b.entries.is_empty());
        assert_eq!(b.foreign.len(), 1);
        assert_eq!(b.foreign[0].files, 2);
        assert_eq!(b.foreign[0].account_label, "org-a@example.com");
        let key = b.foreign[0].account_key.clone();
        drop(b);

        // Back on the first account, both resume.
        let a = Journal::open_exclusive(root.path(), &scope("org-a")).unwrap();
        assert_eq!(a.entries.len(), 2);
        assert!(a.foreign.is_empty());
        drop(a);

        assert_eq!(Journal::discard_account(root.path(), &key).unwrap(), 2);
        let b = Journal::open_exclusive(root.path(), &scope("org-b")).unwrap();
        assert!(b.foreign.is_empty());
    }

    #[test]
    fn concurrent_takeovers_adopt_each_entry_exactly_once() {
        let root = tempfile::tempdir().unwrap();
        // Four processes that all die at once, 25 entries each.
        let dead: Vec<Journal> = (0..4_u64)
            .map(|batch| {
                let opened = Journal::open_exclusive(root.path(), &scope("org-a")).unwrap();
                for i in 0..25 {
                    let mut e = entry(i + 1, Step::Pending);
                    e.path = PathBuf::from(format!("/tmp/{batch}-{i}.png"));
                    opened.journal.write(&e, false).unwrap();
                }
                opened.journal
            })
            .collect();
        drop(dead);
        let root_path = root.path().to_path_buf();
        let opened: Vec<(Journal, Vec<Entry>)> = std::thread::scope(|s| {
            let handles: Vec<_> = (0..3)
                .map(|_| {
                    let root = root_path.clone();
                    s.spawn(move || {
                        let opened = Journal::open_exclusive(&root, &scope("org-a")).unwrap();
                        (opened.journal, opened.entries)
                    })
                })
                .collect();
            handles.into_iter().map(|h| h.join().unwrap()).collect()
        });
        let mut paths: Vec<PathBuf> = opened
            .iter()
            .flat_map(|(_, entries)| entries.iter().map(|e| e.path.clone()))
            .collect();
        let total = paths.len();
        paths.sort();
        paths.dedup();
        assert_eq!(total, 100, "every entry adopted");
        assert_eq!(paths.len(), 100, "no entry adopted twice");
    }

    #[test]
    fn a_claim_left_by_a_dead_claimant_is_claimed_again() {
        let root = tempfile::tempdir().unwrap();
        let account = root.path().join(scope("org-a").key());
        let stale = account.join(".claim-deadbeef-0");
        std::fs::create_dir_all(&stale).unwrap();
        std::fs::File::create(stale.join(LOCK_FILE)).unwrap();
        Journal::open(&stale)
            .unwrap()
            .write(&entry(4, Step::Pending), true)
            .unwrap();
        let opened = Journal::open_exclusive(root.path(), &scope("org-a")).unwrap();
        assert_eq!(opened.entries.len(), 1);
        assert!(!stale.exists());
    }

    #[cfg(unix)]
    #[test]
    fn entries_are_readable_by_their_owner_only() {
        use std::os::unix::fs::PermissionsExt as _;
        let dir = tempfile::tempdir().unwrap();
        let journal = Journal::open(dir.path()).unwrap();
        journal.write(&entry(1, Step::Pending), false).unwrap();
        let mode = std::fs::metadata(dir.path().join(LOG_FILE))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
    }

    #[test]
    fn unfinished_uploads_are_listed_and_discarded_one_by_one_or_all() {
        let root = tempfile::tempdir().unwrap();
        let a = Journal::open_exclusive(root.path(), &scope("org-a")).unwrap();
        a.journal.write(&entry(1, Step::Pending), false).unwrap();
        a.journal.write(&entry(2, Step::Pending), false).unwrap();
        let b = Journal::open_exclusive(root.path(), &scope("org-b")).unwrap();
        b.journal.write(&entry(1, Step::Pending), false).unwrap();

        let listed = list(root.path());
        assert_eq!(listed.len(), 3, "{listed:?}");
        assert!(listed.iter().all(|u| u.base_url == "http://127.0.0.1:1/"));
        // Running processes own their entries: nothing is taken from them.
        assert_eq!(
            discard(root.path(), &listed[0].id).unwrap(),
            Discarded::InUse
        );
        assert_eq!(discard_all(root.path()).unwrap(), 0);
        drop(a);
        drop(b);

        let first = listed
            .iter()
            .find(|u| u.account_label == "org-a@example.com" && u.entry.id == 1)
            .unwrap();
        assert_eq!(discard(root.path(), &first.id).unwrap(), Discarded::Removed);
        assert_eq!(
            discard(root.path(), &first.id).unwrap(),
            Discarded::NotFound
        );
        assert_eq!(list(root.path()).len(), 2);
        assert_eq!(discard_all(root.path()).unwrap(), 2);
        assert!(list(root.path()).is_empty());
    }

    #[test]
    fn torn_writes_and_garbage_are_survived() {
        let dir = tempfile::tempdir().unwrap();
        let journal = Journal::open(dir.path()).unwrap();
        journal.write(&entry(1, Step::Pending), false).unwrap();
        drop(journal);
        // A line that is not a record, then a record cut short by a crash.
        let log = dir.path().join(LOG_FILE);
        let mut bytes = std::fs::read(&log).unwrap();
        bytes.extend_from_slice(b"not json\n{\"put\":{\"id\":");
        std::fs::write(&log, bytes).unwrap();
        let journal = Journal::open(dir.path()).unwrap();
        assert_eq!(journal.load().unwrap().len(), 1);
        // The next record starts on a line of its own: the torn one is cut off.
        journal.write(&entry(2, Step::Pending), false).unwrap();
        let ids: Vec<u64> = journal.load().unwrap().iter().map(|e| e.id).collect();
        assert_eq!(ids, [1, 2]);
        assert!(std::fs::read(&log).unwrap().ends_with(b"}}\n"));
    }

    #[test]
    fn a_directory_of_the_layout_before_the_log_is_read_and_moved_into_it() {
        let dir = tempfile::tempdir().unwrap();
        let uploaded = entry(
            3,
            Step::Uploaded {
                asset_id: "a3".into(),
            },
        );
        let walk = Walk {
            key: "w1".into(),
            paths: vec![PathBuf::from("/photos")],
            folder_id: None,
            force: false,
        };
        let file = |name: &str| dir.path().join(name);
        std::fs::write(
            file("0000000000000003.json"),
            serde_json::to_vec(&uploaded).unwrap(),
        )
        .unwrap();
        std::fs::write(file("w1.walk"), serde_json::to_vec(&walk).unwrap()).unwrap();
        std::fs::write(file("0000000000000002.tmp"), b"{\"id\":").unwrap();
        std::fs::write(file("0000000000000004.json"), b"not json").unwrap();

        // Read as it is, without touching it (a process of the older version may run).
        let listed = Contents::read(dir.path()).unwrap();
        assert_eq!(listed.entries.len(), 1);
        assert!(file("0000000000000003.json").exists());

        let journal = Journal::open(dir.path()).unwrap();
        assert_eq!(journal.load().unwrap(), vec![uploaded]);
        assert_eq!(walks(&journal), vec![walk]);
        assert!(!file("0000000000000003.json").exists());
        assert!(!file("w1.walk").exists());
        assert!(!file("0000000000000002.tmp").exists());
        assert!(file("0000000000000004.corrupt").exists());
        journal.remove(3).unwrap();
        assert!(journal.load().unwrap().is_empty());
    }

    #[test]
    fn the_log_is_compacted_to_its_live_records_and_keeps_their_order() {
        let dir = tempfile::tempdir().unwrap();
        let journal = Journal::open(dir.path()).unwrap();
        let log = dir.path().join(LOG_FILE);
        let walk = Walk {
            key: "w1".into(),
            paths: vec![PathBuf::from("/photos")],
            folder_id: None,
            force: false,
        };
        journal.write_walk(&walk).unwrap();
        // Ten files stay in line while many pass through, every one written three times.
        for id in 1..=10 {
            journal.write(&entry(id, Step::Pending), false).unwrap();
        }
        let mut largest = 0;
        for id in 11..40_000 {
            journal.write(&entry(id, Step::Pending), false).unwrap();
            let session = Step::Session {
                asset_id: format!("a{id}"),
                upload_url: format!("https://storage.example/{id}?signature=0123456789abcdef"),
            };
            journal.write(&entry(id, session), false).unwrap();
            journal.remove(id).unwrap();
            largest = largest.max(std::fs::metadata(&log).unwrap().len());
        }
        let mut uploaded = entry(
            5,
            Step::Uploaded {
                asset_id: "a5".into(),
            },
        );
        uploaded.cancelled = true;
        journal.write(&uploaded, true).unwrap();

        assert!(
            largest <= COMPACT_MIN_BYTES + 4096,
            "the log stays bounded ({largest} bytes)"
        );
        let loaded = journal.load().unwrap();
        assert_eq!(
            loaded.iter().map(|e| e.id).collect::<Vec<_>>(),
            (1..=10).collect::<Vec<_>>()
        );
        assert_eq!(loaded[4], uploaded);
        assert_eq!(walks(&journal), vec![walk]);
        assert!(!dir.path().join("journal.log.tmp").exists());
        // Appends after a compaction land in the new log.
        journal.remove(1).unwrap();
        assert_eq!(journal.load().unwrap().len(), 9);
    }
}
