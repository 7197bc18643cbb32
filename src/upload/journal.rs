//! The crash journal: one small JSON file per unfinished upload, replaced atomically at every
//! step, so a process killed at any instant resumes every file exactly once.
//!
//! The rule that prevents duplicates: a confirm is only ever sent for the session recorded as
//! `Uploaded`; on restart that confirm is repeated (a 409 "already confirmed" then resolves to
//! the existing asset) instead of starting a new session.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde::{Deserialize, Serialize};

/// Name of the lock file inside each process's journal directory.
const LOCK_FILE: &str = "lock";

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
}

/// The journal directory.
#[derive(Debug, Clone)]
pub struct Journal {
    dir: PathBuf,
    /// Held for the journal's life: a locked directory belongs to a running process.
    _lock: Option<Arc<std::fs::File>>,
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
    /// Opens (creating) a plain journal in `dir`, with no locking.
    pub fn open(dir: &Path) -> std::io::Result<Self> {
        std::fs::create_dir_all(dir)?;
        Ok(Self {
            dir: dir.to_path_buf(),
            _lock: None,
        })
    }

    /// Opens a journal of this process's own under `root` and adopts the entries of every
    /// earlier process that is no longer running (its directory lock is free), renumbered from
    /// `first_id`. Two processes never work on the same entry, so two app instances (say the
    /// window and the CLI) cannot upload one file twice.
    pub fn open_exclusive(root: &Path) -> std::io::Result<(Self, Vec<Entry>)> {
        std::fs::create_dir_all(root)?;
        let dir = root.join(uuid::Uuid::new_v4().simple().to_string());
        std::fs::create_dir_all(&dir)?;
        let lock = std::fs::File::create(dir.join(LOCK_FILE))?;
        lock.lock()?;
        let journal = Self {
            dir,
            _lock: Some(Arc::new(lock)),
        };

        let mut adopted: Vec<(PathBuf, Vec<Entry>)> = Vec::new();
        for dirent in std::fs::read_dir(root)? {
            let other = dirent?.path();
            if other == journal.dir || !other.is_dir() {
                continue;
            }
            // A directory that is locked belongs to a running process; one that vanishes
            // meanwhile was just closed by its owner.
            let Ok(other_lock) = std::fs::File::create(other.join(LOCK_FILE)) else {
                continue;
            };
            if other_lock.try_lock().is_err() {
                continue;
            }
            let Ok(entries) = Self::open(&other).and_then(|j| j.load()) else {
                continue;
            };
            adopted.push((other, entries));
        }
        // Copy first, delete after: a crash in between leaves two records of a file, which the
        // de-duplication below resolves on the next start.
        let mut entries: Vec<Entry> = adopted.iter().flat_map(|(_, e)| e.clone()).collect();
        entries.sort_by(|a, b| a.path.cmp(&b.path).then(b.step.rank().cmp(&a.step.rank())));
        entries.dedup_by(|later, kept| later.path == kept.path);
        entries.sort_by_key(|e| e.id);
        for (next_id, entry) in (1..).zip(entries.iter_mut()) {
            entry.id = next_id;
            journal.write(entry, true)?;
        }
        for (other, _) in adopted {
            let _ = std::fs::remove_dir_all(&other);
        }
        Ok((journal, entries))
    }

    fn entry_path(&self, id: u64) -> PathBuf {
        self.dir.join(format!("{id:016}.json"))
    }

    /// Every unfinished upload, oldest first. Leftover temp files from a write that was cut
    /// short are removed; an unreadable entry is kept aside as `.corrupt` and skipped.
    pub fn load(&self) -> std::io::Result<Vec<Entry>> {
        let mut entries = Vec::new();
        for dirent in std::fs::read_dir(&self.dir)? {
            let path = dirent?.path();
            match path.extension().and_then(|e| e.to_str()) {
                _ if path.file_name().is_some_and(|n| n == LOCK_FILE) => {}
                Some("tmp") => {
                    let _ = std::fs::remove_file(&path);
                }
                Some("json") => match std::fs::read(&path)
                    .ok()
                    .and_then(|bytes| serde_json::from_slice::<Entry>(&bytes).ok())
                {
                    Some(entry) => entries.push(entry),
                    None => {
                        tracing::warn!(path = %path.display(), "unreadable journal entry set aside");
                        let _ = std::fs::rename(&path, path.with_extension("corrupt"));
                    }
                },
                _ => {}
            }
        }
        entries.sort_by_key(|e| e.id);
        Ok(entries)
    }

    /// Writes `entry` atomically (temp file, then rename). With `durable`, the data is flushed
    /// to disk first, so the step survives a power cut too.
    pub fn write(&self, entry: &Entry, durable: bool) -> std::io::Result<()> {
        let path = self.entry_path(entry.id);
        let tmp = path.with_extension("tmp");
        let bytes = serde_json::to_vec(entry).map_err(std::io::Error::other)?;
        let mut file = std::fs::File::create(&tmp)?;
        file.write_all(&bytes)?;
        if durable {
            file.sync_data()?;
        }
        drop(file);
        std::fs::rename(&tmp, &path)
    }

    /// Removes this journal's directory if no entry is left in it (on a clean shutdown).
    pub fn close_if_empty(&self) -> std::io::Result<()> {
        if self.load()?.is_empty() {
            std::fs::remove_dir_all(&self.dir)?;
        }
        Ok(())
    }

    /// Forgets an upload (finished, or given up by the user).
    pub fn remove(&self, id: u64) -> std::io::Result<()> {
        match std::fs::remove_file(self.entry_path(id)) {
            Err(err) if err.kind() != std::io::ErrorKind::NotFound => Err(err),
            _ => Ok(()),
        }
    }
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
        let (live, none) = Journal::open_exclusive(root.path()).unwrap();
        assert!(none.is_empty());
        live.write(&entry(7, Step::Pending), false).unwrap();

        // A second process sees nothing to adopt while the first holds its lock.
        let (second, adopted) = Journal::open_exclusive(root.path()).unwrap();
        assert!(adopted.is_empty());
        drop(second);

        // Once the first is gone (its lock released), the next start adopts its entry once,
        // keeping the furthest record when a file appears twice.
        let dead_dir = live.dir.clone();
        drop(live);
        let dup = Journal {
            dir: dead_dir.clone(),
            _lock: None,
        };
        let mut uploaded = entry(
            9,
            Step::Uploaded {
                asset_id: "a".into(),
            },
        );
        uploaded.path = entry(7, Step::Pending).path;
        dup.write(&uploaded, false).unwrap();
        let (third, adopted) = Journal::open_exclusive(root.path()).unwrap();
        assert_eq!(adopted.len(), 1);
        assert_eq!(
            adopted[0].step,
            Step::Uploaded {
                asset_id: "a".into()
            }
        );
        assert_eq!(adopted[0].id, 1);
        assert!(!dead_dir.exists());
        assert_eq!(third.load().unwrap().len(), 1);
    }

    #[test]
    fn torn_writes_and_garbage_are_survived() {
        let dir = tempfile::tempdir().unwrap();
        let journal = Journal::open(dir.path()).unwrap();
        journal.write(&entry(1, Step::Pending), false).unwrap();
        std::fs::write(dir.path().join("0000000000000002.tmp"), b"{\"id\":").unwrap();
        std::fs::write(dir.path().join("0000000000000003.json"), b"not json").unwrap();
        let loaded = journal.load().unwrap();
        assert_eq!(loaded.len(), 1);
        assert!(!dir.path().join("0000000000000002.tmp").exists());
        assert!(dir.path().join("0000000000000003.corrupt").exists());
    }
}
