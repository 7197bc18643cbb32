//! The duplicate index: content hash -> asset id for what this machine uploaded, per API base.
//! An append-only JSON-lines file; a torn last line (killed mid-append) is ignored.

use std::collections::{HashMap, HashSet};
use std::io::Write;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

#[derive(Debug, Serialize, Deserialize)]
struct Line {
    base: String,
    hash: String,
    /// Size of the content, so files of a size never uploaded need no hashing up front.
    #[serde(default)]
    size_bytes: Option<u64>,
    /// `None` records that the asset is gone from the server.
    asset_id: Option<String>,
}

/// What this machine uploaded before.
#[derive(Debug)]
pub struct DuplicateIndex {
    path: PathBuf,
    entries: HashMap<(String, String), String>,
    sizes: HashSet<(String, u64)>,
}

impl DuplicateIndex {
    /// Loads the index at `path` (missing = empty).
    pub fn load(path: &Path) -> std::io::Result<Self> {
        let mut index = Self {
            path: path.to_path_buf(),
            entries: HashMap::new(),
            sizes: HashSet::new(),
        };
        match std::fs::read_to_string(path) {
            Ok(text) => {
                for line in text.lines() {
                    if let Ok(line) = serde_json::from_str::<Line>(line) {
                        index.apply(line);
                    }
                }
            }
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => {}
            Err(err) => return Err(err),
        }
        Ok(index)
    }

    fn apply(&mut self, line: Line) {
        if let (Some(size), Some(_)) = (line.size_bytes, &line.asset_id) {
            self.sizes.insert((line.base.clone(), size));
        }
        let key = (line.base, line.hash);
        match line.asset_id {
            Some(id) => self.entries.insert(key, id),
            None => self.entries.remove(&key),
        };
    }

    /// Whether content of this size was ever uploaded to `base` from here. When not, the file
    /// cannot be a duplicate and need not be hashed before its upload.
    pub fn might_contain(&self, base: &str, size_bytes: u64) -> bool {
        self.sizes.contains(&(base.to_owned(), size_bytes))
    }

    /// The asset uploaded from content with `hash` to `base`, if any.
    pub fn lookup(&self, base: &str, hash: &str) -> Option<&str> {
        self.entries
            .get(&(base.to_owned(), hash.to_owned()))
            .map(String::as_str)
    }

    /// Records an upload (`Some`) or that the asset is gone (`None`).
    pub fn record(
        &mut self,
        base: &str,
        hash: &str,
        size_bytes: u64,
        asset_id: Option<&str>,
    ) -> std::io::Result<()> {
        let line = Line {
            base: base.to_owned(),
            hash: hash.to_owned(),
            size_bytes: Some(size_bytes),
            asset_id: asset_id.map(str::to_owned),
        };
        let mut text = serde_json::to_string(&line).map_err(std::io::Error::other)?;
        text.push('\n');
        if let Some(parent) = self.path.parent() {
            std::fs::create_dir_all(parent)?;
        }
        // One write of one short line with O_APPEND: a kill leaves at worst a torn last line.
        std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.path)?
            .write_all(text.as_bytes())?;
        self.apply(line);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_survive_reload_and_tombstones_forget() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("index.jsonl");
        let mut index = DuplicateIndex::load(&path).unwrap();
        index.record("http://a", "h1", 10, Some("asset-1")).unwrap();
        index.record("http://a", "h2", 20, Some("asset-2")).unwrap();
        index.record("http://a", "h2", 20, None).unwrap();
        // A torn line from a kill mid-append.
        std::fs::OpenOptions::new()
            .append(true)
            .open(&path)
            .unwrap()
            .write_all(b"{\"base\":\"http://a\",\"ha")
            .unwrap();
        let index = DuplicateIndex::load(&path).unwrap();
        assert_eq!(index.lookup("http://a", "h1"), Some("asset-1"));
        assert_eq!(index.lookup("http://a", "h2"), None);
        assert_eq!(index.lookup("http://other", "h1"), None);
        assert!(index.might_contain("http://a", 10));
        assert!(!index.might_contain("http://a", 11));
        assert!(!index.might_contain("http://other", 10));
    }
}
