//! `journal list` and `journal discard`: every account's unfinished uploads, read and
//! discarded without a running engine.

use super::*;

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
