//! Writes a reader or a crash sees whole or not at all: the bytes go to a temporary file in the
//! destination's folder, which is renamed into place. The temporary file is private (0600 on
//! Unix), named `.*.tmp` so the folders' cleanups know it, and deleted if the write fails.

use std::io::{self, Write as _};
use std::path::Path;

use tempfile::NamedTempFile;

/// A temporary file in `dir`, deleted on drop unless [`NamedTempFile::persist`]ed.
pub fn temp_in(dir: &Path) -> io::Result<NamedTempFile> {
    tempfile::Builder::new()
        .prefix(".")
        .suffix(".tmp")
        .tempfile_in(dir)
}

/// Replaces `path` with `bytes`; `durable` flushes them to the disk before the rename.
pub fn write(path: &Path, bytes: &[u8], durable: bool) -> io::Result<()> {
    let dir = path
        .parent()
        .filter(|dir| !dir.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let mut temp = temp_in(dir)?;
    temp.write_all(bytes)?;
    if durable {
        temp.as_file().sync_data()?;
    }
    temp.persist(path).map_err(|err| err.error)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_write_replaces_the_file_and_leaves_no_temporary_behind() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("state.json");
        write(&path, b"old", true).unwrap();
        write(&path, b"new", false).unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), b"new");
        let names: Vec<_> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names, ["state.json"]);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt as _;
            let mode = std::fs::metadata(&path).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600, "private");
        }
    }

    #[test]
    fn a_failed_write_keeps_the_old_content_and_no_temporary() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("taken");
        std::fs::create_dir(path.join("")).unwrap();
        std::fs::write(path.join("inside"), b"x").unwrap();
        // A directory that is not empty cannot be replaced by a file.
        assert!(write(&path, b"new", true).is_err());
        assert!(path.join("inside").exists());
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
    }
}
