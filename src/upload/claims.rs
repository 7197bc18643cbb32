//! Content claims shared by every uploader process of one account on this machine: a file's
//! content hash is claimed before its upload session is created and released when the file is
//! finished, so two processes (a cron job and a manual run, the window and the CLI) never upload
//! the same content at once. The second waits, then finds the first one's asset in the index.
//!
//! A claim is an advisory lock (`flock`) on `dir/<hash>.lock`. The lock dies with its process,
//! so a crash never leaves content claimed.

use std::fs::File;
use std::path::{Path, PathBuf};

/// Where the claims of one account live.
#[derive(Debug, Clone)]
pub struct Claims {
    dir: PathBuf,
}

/// A held claim; dropping it releases the content.
#[derive(Debug)]
pub struct Claim {
    path: PathBuf,
    file: Option<File>,
}

impl Claims {
    /// Claims under `dir` (created when needed).
    pub fn new(dir: &Path) -> Self {
        Self {
            dir: dir.to_path_buf(),
        }
    }

    /// Claims `hash`; `None` while another process (or another claim in this one) holds it.
    pub fn try_claim(&self, hash: &str) -> std::io::Result<Option<Claim>> {
        std::fs::create_dir_all(&self.dir)?;
        let path = self.dir.join(format!("{hash}.lock"));
        loop {
            let file = std::fs::OpenOptions::new()
                .create(true)
                .truncate(false)
                .write(true)
                .open(&path)?;
            match file.try_lock() {
                Ok(()) => {}
                Err(std::fs::TryLockError::WouldBlock) => return Ok(None),
                Err(std::fs::TryLockError::Error(err)) => return Err(err),
            }
            // The holder before us may have removed the file between our open and our lock;
            // then the lock is on a name nobody else sees, so take the current file instead.
            if same_file(&file, &path) {
                return Ok(Some(Claim {
                    path,
                    file: Some(file),
                }));
            }
        }
    }
}

#[cfg(unix)]
fn same_file(file: &File, path: &Path) -> bool {
    use std::os::unix::fs::MetadataExt as _;
    match (file.metadata(), std::fs::metadata(path)) {
        (Ok(held), Ok(named)) => held.dev() == named.dev() && held.ino() == named.ino(),
        _ => false,
    }
}

#[cfg(not(unix))]
fn same_file(_file: &File, path: &Path) -> bool {
    path.exists()
}

impl Drop for Claim {
    fn drop(&mut self) {
        // Remove the name while still holding the lock, so the next claimant locks a fresh
        // file; on platforms where an open file cannot be removed, it simply stays.
        let _ = std::fs::remove_file(&self.path);
        drop(self.file.take());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_claim_is_exclusive_until_dropped_and_leaves_no_file() {
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
        assert!(
            claims.try_claim("def").unwrap().is_some(),
            "other content is free"
        );
        drop(first);
        let again = claims.try_claim("abc").unwrap();
        assert!(again.is_some(), "released content can be claimed again");
        drop(again);
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
    }
}
