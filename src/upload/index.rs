//! The duplicate index: content hash -> asset id for what this machine uploaded, per scope (an
//! API base and account; older lines carry the base alone). An append-only JSON-lines file
//! shared by every process: a torn last line (killed mid-append) is ignored, and
//! [`DuplicateIndex::refresh`] reads what other processes appended since.

use std::collections::HashMap;
use std::io::{Read as _, Seek as _, SeekFrom, Write};
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

/// A content hash (BLAKE3, kept as its 32 bytes rather than 64 hex digits).
type Digest = [u8; 32];

fn digest(hex_hash: &str) -> Option<Digest> {
    let mut digest = [0; 32];
    hex::decode_to_slice(hex_hash, &mut digest).ok()?;
    Some(digest)
}

/// What this machine uploaded before, compactly: a 100,000-file batch adds about 100 bytes per
/// file (a scope number, the hash's bytes and the asset id).
#[derive(Debug)]
pub struct DuplicateIndex {
    path: PathBuf,
    /// Scopes by their text, numbered in order of appearance.
    scopes: HashMap<String, u32>,
    entries: HashMap<(u32, Digest), Box<str>>,
    /// How far the file has been read; complete lines only.
    read_bytes: u64,
}

impl DuplicateIndex {
    /// Loads the index at `path` (missing = empty).
    pub fn load(path: &Path) -> std::io::Result<Self> {
        let mut index = Self {
            path: path.to_path_buf(),
            scopes: HashMap::new(),
            entries: HashMap::new(),
            read_bytes: 0,
        };
        index.refresh()?;
        Ok(index)
    }

    /// Reads the lines appended since the last read (by this process or another).
    pub fn refresh(&mut self) -> std::io::Result<()> {
        let mut file = match std::fs::File::open(&self.path) {
            Ok(file) => file,
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => return Ok(()),
            Err(err) => return Err(err),
        };
        file.seek(SeekFrom::Start(self.read_bytes))?;
        let mut bytes = Vec::new();
        file.read_to_end(&mut bytes)?;
        // Only whole lines: a line being appended right now is read next time.
        let Some(end) = bytes.iter().rposition(|b| *b == b'\n') else {
            return Ok(());
        };
        for line in bytes[..end].split(|b| *b == b'\n') {
            if let Ok(line) = serde_json::from_slice::<Line>(line) {
                self.apply(line);
            }
        }
        self.read_bytes += end as u64 + 1;
        Ok(())
    }

    /// Applies a line; one whose hash is not a BLAKE3 hex digest is passed over.
    fn apply(&mut self, line: Line) {
        let Some(digest) = digest(&line.hash) else {
            return;
        };
        let next = u32::try_from(self.scopes.len()).unwrap_or(u32::MAX);
        let scope = *self.scopes.entry(line.base).or_insert(next);
        match line.asset_id {
            Some(id) => self.entries.insert((scope, digest), id.into()),
            None => self.entries.remove(&(scope, digest)),
        };
    }

    /// The asset uploaded from content with `hash` to `scope`, if any. A scope `base#org` also
    /// finds lines written before accounts were recorded (`base` alone); the caller checks
    /// such an asset exists in this account before trusting it.
    pub fn lookup(&self, scope: &str, hash: &str) -> Option<&str> {
        let digest = digest(hash)?;
        let legacy = scope.split_once('#').map(|(base, _)| base);
        std::iter::once(scope)
            .chain(legacy)
            .filter_map(|scope| self.scopes.get(scope))
            .find_map(|scope| self.entries.get(&(*scope, digest)))
            .map(AsRef::as_ref)
    }

    /// Records an upload (`Some`) or that the asset is gone (`None`).
    pub fn record(
        &mut self,
        base: &str,
        hash: &str,
        size_bytes: u64,
        asset_id: Option<&str>,
    ) -> std::io::Result<()> {
        if digest(hash).is_none() {
            return Err(std::io::Error::new(
                std::io::ErrorKind::InvalidInput,
                format!("{hash:?} is not a content hash"),
            ));
        }
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
fn test_hash(name: &str) -> String {
    blake3::hash(name.as_bytes()).to_hex().to_string()
}

#[cfg(test)]
mod shared_tests {
    use super::{test_hash, *};

    #[test]
    fn another_process_appends_are_seen_after_refresh_and_legacy_lines_are_found() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("index.jsonl");
        let mut mine = DuplicateIndex::load(&path).unwrap();
        let mut theirs = DuplicateIndex::load(&path).unwrap();
        theirs
            .record("http://a#org", &test_hash("h1"), 10, Some("asset-1"))
            .unwrap();
        theirs
            .record("http://a", &test_hash("h0"), 5, Some("asset-0"))
            .unwrap();
        assert_eq!(mine.lookup("http://a#org", &test_hash("h1")), None);
        mine.refresh().unwrap();
        assert_eq!(
            mine.lookup("http://a#org", &test_hash("h1")),
            Some("asset-1")
        );
        assert_eq!(mine.lookup("http://a#other", &test_hash("h1")), None);
        assert_eq!(
            mine.lookup("http://a#org", &test_hash("h0")),
            Some("asset-0")
        );
    }
}

#[cfg(test)]
mod tests {
    use super::{test_hash, *};

    #[test]
    fn lines_without_a_content_hash_are_passed_over() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("index.jsonl");
        std::fs::write(
            &path,
            format!(
                "{{\"base\":\"http://a\",\"hash\":\"not-hex\",\"asset_id\":\"x\"}}\n\
                 {{\"base\":\"http://a\",\"hash\":\"{}\",\"asset_id\":\"y\"}}\n",
                test_hash("h1")
            ),
        )
        .unwrap();
        let mut index = DuplicateIndex::load(&path).unwrap();
        assert_eq!(index.lookup("http://a", "not-hex"), None);
        assert_eq!(index.lookup("http://a", &test_hash("h1")), Some("y"));
        assert!(index.record("http://a", "not-hex", 1, Some("z")).is_err());
    }

    #[test]
    fn records_survive_reload_and_tombstones_forget() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("index.jsonl");
        let mut index = DuplicateIndex::load(&path).unwrap();
        index
            .record("http://a", &test_hash("h1"), 10, Some("asset-1"))
            .unwrap();
        index
            .record("http://a", &test_hash("h2"), 20, Some("asset-2"))
            .unwrap();
        index
            .record("http://a", &test_hash("h2"), 20, None)
            .unwrap();
        // A torn line from a kill mid-append.
        std::fs::OpenOptions::new()
            .append(true)
            .open(&path)
            .unwrap()
            .write_all(b"{\"base\":\"http://a\",\"ha")
            .unwrap();
        let index = DuplicateIndex::load(&path).unwrap();
        assert_eq!(index.lookup("http://a", &test_hash("h1")), Some("asset-1"));
        assert_eq!(index.lookup("http://a", &test_hash("h2")), None);
        assert_eq!(index.lookup("http://other", &test_hash("h1")), None);
    }
}
