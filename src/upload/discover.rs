//! Turning dropped paths into uploadable files: walking folders, skipping junk, and the checks
//! that need no network (size, readability, name, MIME type by content and extension).
//!
//! Everything here does blocking file I/O; the engine runs it on a blocking thread.

use std::fs::File;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use crate::api::models::MAX_UPLOAD_BYTES;

use super::protocol::UploadFailure;

/// A file that passed the local checks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LocalFile {
    /// Where it is.
    pub path: PathBuf,
    /// Its file name, which becomes the asset name.
    pub name: String,
    /// Its size when checked.
    pub size_bytes: u64,
    /// Its modification time when checked (nanoseconds since the epoch), to notice changes.
    pub modified_ns: u128,
    /// MIME type from its content, else its extension.
    pub mime_type: String,
}

/// What one dropped path, or one entry inside a dropped folder, turned out to be.
#[derive(Debug, Clone, PartialEq)]
pub enum Found {
    /// A file to upload.
    File(LocalFile),
    /// A file that cannot be uploaded, and why.
    Rejected {
        /// Where it is.
        path: PathBuf,
        /// Its name, lossily decoded for display.
        name: String,
        /// Its size, if it could be read.
        size_bytes: Option<u64>,
        /// Why not.
        reason: UploadFailure,
    },
    /// An entry passed over on purpose.
    Skipped {
        /// Where it is.
        path: PathBuf,
        /// Why.
        reason: String,
    },
}

/// Names that operating systems and tools leave in folders; never anyone's media.
const JUNK_NAMES: [&str; 9] = [
    ".DS_Store",
    "Thumbs.db",
    "ehthumbs.db",
    "desktop.ini",
    ".localized",
    "__MACOSX",
    ".Spotlight-V100",
    ".Trashes",
    ".fseventsd",
];

/// Expands `paths`: files are checked, folders are walked recursively (following symlinks,
/// with loops detected and reported). Hidden and system entries inside folders are skipped and
/// reported; a path given directly is always checked, hidden or not.
pub fn discover(paths: &[PathBuf]) -> Vec<Found> {
    let mut found = Vec::new();
    for path in paths {
        match std::fs::metadata(path) {
            Ok(meta) if meta.is_dir() => walk_folder(path, &mut found),
            Ok(_) => found.push(check_file(path)),
            Err(err) => found.push(rejected(
                path,
                None,
                if err.kind() == std::io::ErrorKind::NotFound {
                    UploadFailure::Missing
                } else {
                    UploadFailure::Unreadable(err.to_string())
                },
            )),
        }
    }
    found
}

fn walk_folder(root: &Path, found: &mut Vec<Found>) {
    let walker = walkdir::WalkDir::new(root)
        .follow_links(true)
        .sort_by_file_name()
        .into_iter()
        .filter_entry(|entry| {
            entry.depth() == 0 || !is_junk_or_hidden(entry.file_name().to_string_lossy().as_ref())
        });
    // `filter_entry` drops junk silently; list it separately so every skip is reported.
    report_junk(root, found);
    for entry in walker {
        match entry {
            Ok(entry) if entry.file_type().is_dir() => {
                if entry.depth() > 0 {
                    report_junk(entry.path(), found);
                }
            }
            Ok(entry) => found.push(check_file(entry.path())),
            Err(err) => {
                let path = err
                    .path()
                    .map_or_else(|| root.to_path_buf(), Path::to_path_buf);
                let reason = if let Some(ancestor) = err.loop_ancestor() {
                    format!(
                        "symbolic link loop back to {}; skipped to avoid walking forever",
                        ancestor.display()
                    )
                } else {
                    format!("could not be listed: {err}")
                };
                found.push(Found::Skipped { path, reason });
            }
        }
    }
}

/// Reports the junk and hidden entries directly inside `dir`.
fn report_junk(dir: &Path, found: &mut Vec<Found>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    let mut junk: Vec<PathBuf> = entries
        .filter_map(Result::ok)
        .filter(|e| is_junk_or_hidden(e.file_name().to_string_lossy().as_ref()))
        .map(|e| e.path())
        .collect();
    junk.sort();
    for path in junk {
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let reason = if JUNK_NAMES.contains(&name.as_str()) || name.starts_with("._") {
            "system file, not media".to_owned()
        } else {
            "hidden entry inside a dropped folder".to_owned()
        };
        found.push(Found::Skipped { path, reason });
    }
}

fn is_junk_or_hidden(name: &str) -> bool {
    name.starts_with('.') || JUNK_NAMES.contains(&name)
}

/// Checks one file: regular, named in UTF-8, 1..=50 MiB, readable, with a known MIME type.
pub fn check_file(path: &Path) -> Found {
    let meta = match std::fs::metadata(path) {
        Ok(meta) => meta,
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => {
            return rejected(path, None, UploadFailure::Missing);
        }
        Err(err) => return rejected(path, None, UploadFailure::Unreadable(err.to_string())),
    };
    if !meta.is_file() {
        return rejected(path, None, UploadFailure::NotAFile);
    }
    let size = meta.len();
    let Some(name) = path.file_name().and_then(|n| n.to_str()) else {
        return rejected(path, Some(size), UploadFailure::NonUtf8Name);
    };
    if size == 0 {
        return rejected(path, Some(size), UploadFailure::Empty);
    }
    if size > MAX_UPLOAD_BYTES {
        return rejected(
            path,
            Some(size),
            UploadFailure::TooLarge { size_bytes: size },
        );
    }
    let head = match read_head(path) {
        Ok(head) => head,
        Err(err) => return rejected(path, Some(size), UploadFailure::Unreadable(err.to_string())),
    };
    Found::File(LocalFile {
        path: path.to_path_buf(),
        name: name.to_owned(),
        size_bytes: size,
        modified_ns: meta.modified().map_or(0, nanos_since_epoch),
        mime_type: detect_mime(name, &head),
    })
}

fn rejected(path: &Path, size_bytes: Option<u64>, reason: UploadFailure) -> Found {
    Found::Rejected {
        path: path.to_path_buf(),
        name: display_name(path),
        size_bytes,
        reason,
    }
}

/// The file name for display, lossily decoded.
pub fn display_name(path: &Path) -> String {
    path.file_name()
        .unwrap_or(path.as_os_str())
        .to_string_lossy()
        .into_owned()
}

/// Nanoseconds since the Unix epoch, for comparing modification times.
pub fn nanos_since_epoch(time: SystemTime) -> u128 {
    time.duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos())
}

fn read_head(path: &Path) -> std::io::Result<Vec<u8>> {
    let mut head = Vec::with_capacity(8192);
    File::open(path)?.take(8192).read_to_end(&mut head)?;
    Ok(head)
}

/// The MIME type of a file: from its content when recognisable, else from its extension, else
/// `application/octet-stream`. Spellings are normalised to the ones Runflow lists.
pub fn detect_mime(name: &str, head: &[u8]) -> String {
    let sniffed = infer::get(head).map(|kind| kind.mime_type().to_owned());
    let guessed = || {
        mime_guess::from_path(name)
            .first()
            .map(|m| m.essence_str().to_owned())
    };
    let mime = sniffed
        .or_else(guessed)
        .unwrap_or_else(|| "application/octet-stream".to_owned());
    normalize_mime(&mime)
}

fn normalize_mime(mime: &str) -> String {
    match mime {
        "audio/x-wav" | "audio/wave" | "audio/vnd.wave" => "audio/wav",
        "audio/mp3" | "audio/x-mpeg" => "audio/mpeg",
        "image/jpg" | "image/pjpeg" => "image/jpeg",
        "video/x-quicktime" => "video/quicktime",
        other => other,
    }
    .to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    const PNG_MAGIC: &[u8] = b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR";

    #[test]
    fn content_wins_over_extension_and_spellings_are_normalised() {
        assert_eq!(detect_mime("photo.mp4", PNG_MAGIC), "image/png");
        assert_eq!(detect_mime("song.mp3", b"ID3\x03\0\0\0"), "audio/mpeg");
        assert_eq!(detect_mime("a.wav", b"RIFF\x24\0\0\0WAVEfmt "), "audio/wav");
        assert_eq!(detect_mime("notes.txt", b"hello"), "text/plain");
        assert_eq!(detect_mime("blob", b"\x01\x02"), "application/octet-stream");
        assert_eq!(detect_mime("x.jpg", b""), "image/jpeg");
    }

    #[test]
    fn local_checks_give_specific_reasons() {
        let dir = tempfile::tempdir().unwrap();
        let empty = dir.path().join("empty.png");
        std::fs::write(&empty, b"").unwrap();
        let ok = dir.path().join("ok.png");
        std::fs::write(&ok, PNG_MAGIC).unwrap();
        let big = dir.path().join("big.mp4");
        File::create(&big)
            .unwrap()
            .set_len(MAX_UPLOAD_BYTES + 1)
            .unwrap();
        let exact = dir.path().join("exact.mp4");
        File::create(&exact)
            .unwrap()
            .set_len(MAX_UPLOAD_BYTES)
            .unwrap();

        assert!(matches!(
            check_file(&empty),
            Found::Rejected {
                reason: UploadFailure::Empty,
                ..
            }
        ));
        assert!(matches!(
            check_file(&big),
            Found::Rejected {
                reason: UploadFailure::TooLarge { .. },
                ..
            }
        ));
        assert!(matches!(check_file(&exact), Found::File(_)));
        let Found::File(file) = check_file(&ok) else {
            panic!("ok.png is fine");
        };
        assert_eq!(file.mime_type, "image/png");
        assert_eq!(file.size_bytes, PNG_MAGIC.len() as u64);
        assert!(matches!(
            check_file(&dir.path().join("nope.png")),
            Found::Rejected {
                reason: UploadFailure::Missing,
                ..
            }
        ));
    }

    #[cfg(unix)]
    #[test]
    fn non_utf8_names_are_rejected() {
        use std::os::unix::ffi::OsStrExt;
        let dir = tempfile::tempdir().unwrap();
        let path = dir
            .path()
            .join(std::ffi::OsStr::from_bytes(b"bad\xffname.png"));
        std::fs::write(&path, PNG_MAGIC).unwrap();
        assert!(matches!(
            check_file(&path),
            Found::Rejected {
                reason: UploadFailure::NonUtf8Name,
                ..
            }
        ));
    }

    #[cfg(unix)]
    #[test]
    fn folders_are_walked_with_junk_and_loops_reported() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("drop");
        std::fs::create_dir_all(root.join("nested/deeper")).unwrap();
        std::fs::create_dir_all(root.join(".git")).unwrap();
        std::fs::write(root.join(".git/config"), b"x").unwrap();
        std::fs::write(root.join("a.png"), PNG_MAGIC).unwrap();
        std::fs::write(root.join(".DS_Store"), b"junk").unwrap();
        std::fs::write(root.join("nested/b.png"), PNG_MAGIC).unwrap();
        std::fs::write(root.join("nested/deeper/c.png"), PNG_MAGIC).unwrap();
        std::os::unix::fs::symlink(&root, root.join("nested/loop")).unwrap();

        let found = discover(std::slice::from_ref(&root));
        let mut files: Vec<String> = found
            .iter()
            .filter_map(|f| match f {
                Found::File(file) => Some(file.name.clone()),
                _ => None,
            })
            .collect();
        files.sort();
        assert_eq!(files, vec!["a.png", "b.png", "c.png"]);
        let skipped: Vec<(String, String)> = found
            .iter()
            .filter_map(|f| match f {
                Found::Skipped { path, reason } => Some((display_name(path), reason.clone())),
                _ => None,
            })
            .collect();
        assert!(
            skipped
                .iter()
                .any(|(n, r)| n == ".DS_Store" && r.contains("system"))
        );
        assert!(
            skipped
                .iter()
                .any(|(n, r)| n == ".git" && r.contains("hidden"))
        );
        assert!(
            skipped
                .iter()
                .any(|(n, r)| n == "loop" && r.contains("loop"))
        );
    }
}
