//! The log's records, its writer and reader, and the files of the layout before the log.

use super::*;

/// One line of the log.
#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub(super) enum Record<'a> {
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
pub(super) enum Subject {
    Entry(u64),
    Walk(String),
}

impl Record<'_> {
    /// What the record is about, and whether it keeps it (a write) or ends it (a removal).
    pub(super) fn subject(&self) -> (Subject, bool) {
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
pub(super) struct LogWriter {
    file: std::fs::File,
    /// Its length: everything up to here is whole records.
    len: u64,
    /// Its length after it was opened or last compacted.
    compacted: u64,
}

impl LogWriter {
    /// Opens (creating) the log at `path` for appending. A record cut short at its end (a
    /// process killed mid-write) is cut off, so the next record starts on a line of its own.
    pub(super) fn open(path: &Path) -> std::io::Result<Self> {
        let file = private_log(path)?;
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
    pub(super) fn append(&mut self, line: &[u8], durable: bool) -> std::io::Result<()> {
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

    pub(super) fn wants_compaction(&self) -> bool {
        self.len > COMPACT_MIN_BYTES.max(self.compacted.saturating_mul(COMPACT_GROWTH))
    }
}

/// Reads the log at `path` in order, handing each record to `each` with its line number. The
/// log ends at its first line without a newline (a write cut short); an unreadable line is
/// skipped. A missing log is an empty one.
pub(super) fn read_log(
    path: &Path,
    mut each: impl FnMut(usize, Record<'static>),
) -> std::io::Result<()> {
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
pub(super) struct Contents {
    pub(super) entries: HashMap<u64, Entry>,
    pub(super) walks: HashMap<String, Walk>,
}

impl Contents {
    /// Reads `dir` without changing anything: the files of the layout before the log, then the
    /// log over them.
    pub(super) fn read(dir: &Path) -> std::io::Result<Self> {
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

    pub(super) fn is_empty(&self) -> bool {
        self.entries.is_empty() && self.walks.is_empty()
    }

    /// The entries, oldest first.
    pub(super) fn entries(self) -> Vec<Entry> {
        let mut entries: Vec<Entry> = self.entries.into_values().collect();
        entries.sort_by_key(|e| e.id);
        entries
    }
}

/// A file of the layout before the log, read.
pub(super) enum Legacy {
    Entry(Entry),
    Walk(Walk),
    Unreadable,
    /// A temporary file a write left behind.
    Temporary,
}

/// The files of the layout before the log in `dir`.
pub(super) fn legacy_files(dir: &Path) -> std::io::Result<Vec<(PathBuf, Legacy)>> {
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

/// Opens a file only its owner may read, for appending (and reading), creating it. Journal
/// entries hold presigned upload links, which are credentials for as long as they last (the
/// log's rewrites are private too: [`crate::atomic`]).
fn private_log(path: &Path) -> std::io::Result<std::fs::File> {
    let mut options = std::fs::OpenOptions::new();
    options.read(true).append(true).create(true);
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
