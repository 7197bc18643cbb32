//! Content claims shared by every uploader process of one account on this machine: a file's
//! content hash is claimed before its upload session is created and released when the file is
//! finished, so two processes (a cron job and a manual run, the window and the CLI) never upload
//! the same content at once. The second waits, then finds the first one's asset in the index.
//!
//! A claim is an advisory lock (`flock`) on one of [`BUCKETS`] files, `dir/<bucket>.lock`,
//! chosen by the hash. The lock dies with its process, so a crash never leaves content
//! claimed. Within a process the hashes held in each bucket are counted, and the bucket is
//! unlocked when its last one is released. The files are made once and never removed, so a
//! claim costs no file creation: 100,000 uploads touch at most [`BUCKETS`] files. The price is
//! that two processes uploading different content in the same bucket at the same moment take
//! turns; with a few uploads in flight per process that is rare, and costs one retry.

use std::collections::{HashMap, HashSet};
use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError};

/// How many lock files the claims of one account are spread over.
pub const BUCKETS: u16 = 4096;

/// Where the claims of one account live, and what this process holds there.
#[derive(Debug, Clone)]
pub struct Claims {
    dir: PathBuf,
    held: Arc<Mutex<HashMap<u16, Bucket>>>,
}

/// A bucket this process has locked, with the hashes it holds there.
#[derive(Debug)]
struct Bucket {
    _lock: File,
    hashes: HashSet<String>,
}

/// A held claim; dropping it releases the content.
#[derive(Debug)]
pub struct Claim {
    claims: Claims,
    bucket: u16,
    hash: String,
}

/// The bucket a content hash is claimed in.
fn bucket_of(hash: &str) -> u16 {
    let digest = blake3::hash(hash.as_bytes());
    let [a, b, ..] = *digest.as_bytes();
    u16::from_le_bytes([a, b]) % BUCKETS
}

impl Claims {
    /// Claims under `dir` (created when needed).
    pub fn new(dir: &Path) -> Self {
        Self {
            dir: dir.to_path_buf(),
            held: Arc::default(),
        }
    }

    /// Claims `hash`; `None` while another claim in this process holds it, or another process
    /// holds its bucket.
    pub fn try_claim(&self, hash: &str) -> std::io::Result<Option<Claim>> {
        let bucket = bucket_of(hash);
        let mut held = self.held.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(locked) = held.get_mut(&bucket) {
            return Ok(locked
                .hashes
                .insert(hash.to_owned())
                .then(|| self.claim(bucket, hash)));
        }
        std::fs::create_dir_all(&self.dir)?;
        let lock = std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(self.dir.join(format!("{bucket:03x}.lock")))?;
        match lock.try_lock() {
            Ok(()) => {}
            Err(std::fs::TryLockError::WouldBlock) => return Ok(None),
            Err(std::fs::TryLockError::Error(err)) => return Err(err),
        }
        held.insert(
            bucket,
            Bucket {
                _lock: lock,
                hashes: HashSet::from([hash.to_owned()]),
            },
        );
        Ok(Some(self.claim(bucket, hash)))
    }

    fn claim(&self, bucket: u16, hash: &str) -> Claim {
        Claim {
            claims: self.clone(),
            bucket,
            hash: hash.to_owned(),
        }
    }
}

impl Drop for Claim {
    fn drop(&mut self) {
        let mut held = self
            .claims
            .held
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if let Some(locked) = held.get_mut(&self.bucket) {
            locked.hashes.remove(&self.hash);
            if locked.hashes.is_empty() {
                // Closing the file unlocks the bucket for other processes.
                held.remove(&self.bucket);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A hash other than `hash` that falls in the same bucket.
    fn neighbour_of(hash: &str) -> String {
        (0..)
            .map(|n| format!("other-{n}"))
            .find(|other| bucket_of(other) == bucket_of(hash))
            .unwrap()
    }

    #[test]
    fn a_claim_is_exclusive_until_dropped() {
        let dir = tempfile::tempdir().unwrap();
        let claims = Claims::new(dir.path());
        let first = claims
            .try_claim("abc")
            .unwrap()
            .expect("free content is claimed");
        assert!(
            claims.try_claim("abc").unwrap().is_none(),
            "held content waits"
        );
        let neighbour = claims.try_claim(&neighbour_of("abc")).unwrap();
        assert!(
            neighbour.is_some(),
            "other content in the same bucket is free within the process"
        );
        drop(first);
        drop(neighbour);
        let again = claims.try_claim("abc").unwrap();
        assert!(again.is_some(), "released content can be claimed again");
    }

    #[test]
    fn another_process_waits_for_the_bucket_until_its_last_claim_is_released() {
        let dir = tempfile::tempdir().unwrap();
        // Two `Claims` stand for two processes: their locks are separate open files.
        let ours = Claims::new(dir.path());
        let theirs = Claims::new(dir.path());
        let first = ours.try_claim("abc").unwrap().unwrap();
        let second = ours.try_claim(&neighbour_of("abc")).unwrap().unwrap();
        assert!(theirs.try_claim("abc").unwrap().is_none());
        drop(first);
        assert!(
            theirs.try_claim("abc").unwrap().is_none(),
            "the bucket stays locked while we hold any of its content"
        );
        drop(second);
        let taken = theirs.try_claim("abc").unwrap();
        assert!(taken.is_some());
        assert!(
            ours.try_claim("abc").unwrap().is_none(),
            "and now it is theirs"
        );
    }

    #[test]
    fn many_claims_touch_a_bounded_number_of_files() {
        let dir = tempfile::tempdir().unwrap();
        let claims = Claims::new(dir.path());
        for n in 0..10_000 {
            drop(claims.try_claim(&format!("content-{n}")).unwrap().unwrap());
        }
        let files = std::fs::read_dir(dir.path()).unwrap().count();
        assert!(files <= usize::from(BUCKETS), "{files} lock files");
    }
}
