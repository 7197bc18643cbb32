//! The crash journal: one small JSON file per unfinished upload, replaced atomically at every
//! step, so a process killed at any instant resumes every file exactly once.
//!
//! The rule that prevents duplicates: a confirm is only ever sent for the session recorded as
//! `Uploaded`; on restart that confirm is repeated (a 409 "already confirmed" then resolves to
//! the existing asset) instead of starting a new session.

use std::io::Write;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

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
}

impl Journal {
    /// Opens (creating) the journal in `dir`.
    pub fn open(dir: &Path) -> std::io::Result<Self> {
        std::fs::create_dir_all(dir)?;
        Ok(Self {
            dir: dir.to_path_buf(),
        })
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
