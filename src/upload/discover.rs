//! Turning dropped paths into uploadable files: walking folders, skipping junk, and the checks
//! that need no network (size, readability, name, MIME type by content and extension).
//!
//! A file has one identity however it is reached: paths are made canonical (absolute, links
//! resolved), and on unix the (device, inode) pair also merges hard links. So overlapping
//! arguments, `./a.png` next to `a.png`, or a link beside its target make one upload, not
//! several. A walk stays inside the folder it was given: links back up are loops, and links
//! out of it are reported rather than followed unless [`DiscoverOptions`] says otherwise.
//!
//! Findings stream out in chunks ([`discover_streaming`]), so a folder of 100,000 files starts
//! uploading while it is still being walked. Each file is looked at once: the work is linear
//! in the number of entries.
//!
//! Everything here does blocking file I/O; the engine runs it on a blocking thread.

use std::collections::{HashMap, HashSet};
use std::ffi::{OsStr, OsString};
use std::fs::{File, Metadata};
use std::io::Read;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use crate::api::models::MAX_UPLOAD_BYTES;

use super::protocol::UploadFailure;

/// A file that passed the local checks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LocalFile {
    /// Where it is: absolute, with symbolic links resolved, so one file has one path.
    pub path: PathBuf,
    /// Its file name, which becomes the asset name: the name it was given or found under (a
    /// link's own name when it was only reached through a link).
    pub name: String,
    /// Its size when checked.
    pub size_bytes: u64,
    /// Its modification time when checked (nanoseconds since the epoch), to notice changes.
    pub modified_ns: u128,
    /// MIME type from its content, else its extension.
    pub mime_type: String,
    /// (device, inode) on unix, which hard links share; `None` where the platform has no such
    /// identity, and the canonical path stands in.
    pub file_key: Option<(u64, u64)>,
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

/// How [`discover_with`] treats what it meets.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DiscoverOptions {
    /// Follow symbolic links that point outside the folder being walked. Off by default: such
    /// links are reported as skipped, so dropping a folder never uploads files from elsewhere.
    pub follow_outside_links: bool,
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

/// [`discover_with`] with the default options.
pub fn discover(paths: &[PathBuf]) -> Vec<Found> {
    discover_with(paths, &DiscoverOptions::default())
}

/// Findings are handed over once this many are gathered...
const CHUNK_ENTRIES: usize = 256;
/// ...or once this long has passed since the last hand-over, whichever comes first.
const CHUNK_INTERVAL: std::time::Duration = std::time::Duration::from_millis(50);

/// Expands `paths`: files are checked, folders are walked recursively. Each distinct file is
/// reported once, however many arguments, links or hard links lead to it; a file reached again
/// is merged silently. Inside folders, hidden and system entries are skipped and reported,
/// links back to a folder being walked are reported as loops, and links leading out of the
/// given folder are reported unless `options` says to follow them. A path given directly is
/// always checked, hidden or a link or not.
pub fn discover_with(paths: &[PathBuf], options: &DiscoverOptions) -> Vec<Found> {
    let mut all = Vec::new();
    discover_streaming(paths, options, |chunk| {
        all.extend(chunk);
        true
    });
    all
}

/// [`discover_with`], handing the findings to `sink` in chunks as the walk goes (every
/// [`CHUNK_ENTRIES`] findings or [`CHUNK_INTERVAL`], and once at the end). The walk stops when
/// `sink` returns false. Files reached only through a link come in the last chunk, since the
/// walk may still meet them under their own name.
pub fn discover_streaming(
    paths: &[PathBuf],
    options: &DiscoverOptions,
    sink: impl FnMut(Vec<Found>) -> bool,
) {
    walk_counting(paths, options, sink);
}

/// [`discover_streaming`], returning the steps it took (an entry listed or looked at, a file
/// checked, a chunk handed over): what the linearity test counts instead of timing.
fn walk_counting(
    paths: &[PathBuf],
    options: &DiscoverOptions,
    sink: impl FnMut(Vec<Found>) -> bool,
) -> u64 {
    let mut discovery = Discovery {
        options: *options,
        found: Vec::new(),
        via_link: Vec::new(),
        files: HashMap::new(),
        dirs: HashSet::new(),
        sink: Box::new(sink),
        flushed_at: std::time::Instant::now(),
        stopped: false,
        work: 0,
    };
    for path in paths {
        if discovery.stopped {
            return discovery.work;
        }
        discovery.argument(path);
    }
    let mut rest = std::mem::take(&mut discovery.found);
    rest.append(&mut discovery.via_link);
    discovery.work += rest.len() as u64;
    if !discovery.stopped {
        (discovery.sink)(rest);
    }
    discovery.work
}

/// What makes two paths the same file or folder.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
enum Identity {
    /// Device and inode.
    Key(u64, u64),
    /// The canonical path, where there is no key (or nothing exists to have one).
    Path(PathBuf),
}

impl Identity {
    fn of(canonical: &Path, meta: &Metadata) -> Self {
        match file_key(meta) {
            Some((device, inode)) => Self::Key(device, inode),
            None => Self::Path(canonical.to_path_buf()),
        }
    }
}

/// (device, inode) of a file.
#[cfg(unix)]
fn file_key(meta: &Metadata) -> Option<(u64, u64)> {
    use std::os::unix::fs::MetadataExt;
    Some((meta.dev(), meta.ino()))
}

/// No stable file identity is available here; the canonical path stands in.
#[cfg(not(unix))]
fn file_key(_meta: &Metadata) -> Option<(u64, u64)> {
    None
}

/// An entry waiting to be looked at during a walk.
struct Pending {
    /// The path as the walk reached it (through followed links), for reports.
    shown: PathBuf,
    /// The canonical folder holding the entry.
    real_parent: PathBuf,
    /// The entry's name in that folder.
    name: OsString,
}

/// Where a file already met was put.
#[derive(Debug, Clone, Copy)]
enum Seen {
    /// Handed over, or waiting in `found`: final.
    Final,
    /// In `via_link` at this index: reached under a link's name, which its own name replaces
    /// if the walk meets it directly.
    ViaLink(usize),
}

/// One call's state: what was found, and what was already seen, so every lookup is O(1).
struct Discovery<'a> {
    options: DiscoverOptions,
    /// Findings not handed over yet.
    found: Vec<Found>,
    /// Files reached under a link's name, kept to the end.
    via_link: Vec<Found>,
    /// Files already met (checked or rejected).
    files: HashMap<Identity, Seen>,
    /// Folders already walked, or being walked.
    dirs: HashSet<Identity>,
    sink: Box<dyn FnMut(Vec<Found>) -> bool + 'a>,
    flushed_at: std::time::Instant,
    /// The sink said stop.
    stopped: bool,
    /// Steps taken (see [`walk_counting`]).
    work: u64,
}

impl Discovery<'_> {
    /// Hands `found` over when a chunk is full or due.
    fn maybe_flush(&mut self) {
        if self.found.is_empty() || self.stopped {
            return;
        }
        if self.found.len() >= CHUNK_ENTRIES || self.flushed_at.elapsed() >= CHUNK_INTERVAL {
            let chunk = std::mem::take(&mut self.found);
            self.work += chunk.len() as u64;
            self.stopped = !(self.sink)(chunk);
            self.flushed_at = std::time::Instant::now();
        }
    }

    /// One path from the caller.
    fn argument(&mut self, path: &Path) {
        let (canonical, meta) =
            match std::fs::canonicalize(path).and_then(|c| std::fs::metadata(&c).map(|m| (c, m))) {
                Ok(found) => found,
                Err(err) => {
                    // Nothing there to canonicalise: the spelling given is all there is.
                    let absolute = std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf());
                    if self.files.contains_key(&Identity::Path(absolute.clone())) {
                        return;
                    }
                    self.files.insert(Identity::Path(absolute), Seen::Final);
                    self.found.push(rejected(path, None, io_failure(&err)));
                    return;
                }
            };
        if meta.is_dir() {
            self.walk(&canonical, &meta);
        } else {
            let name = path
                .file_name()
                .or_else(|| canonical.file_name())
                .unwrap_or(canonical.as_os_str());
            self.file(&canonical, name, &meta);
        }
    }

    /// A file at `canonical`, reached under `name`.
    fn file(&mut self, canonical: &Path, name: &OsStr, meta: &Metadata) {
        self.work += 1;
        let identity = Identity::of(canonical, meta);
        let own_name = canonical.file_name() == Some(name);
        if let Some(&seen) = self.files.get(&identity) {
            // Reached before through a link: the file's own name wins over the link's, so the
            // asset name does not depend on which route the walk took first.
            if let Seen::ViaLink(index) = seen
                && own_name
                && matches!(&self.via_link[index], Found::File(existing) if existing.path == canonical)
            {
                self.via_link[index] = check_named(canonical, name, meta);
                self.files.insert(identity, Seen::Final);
            }
            return;
        }
        let found = check_named(canonical, name, meta);
        if own_name {
            self.files.insert(identity, Seen::Final);
            self.found.push(found);
            self.maybe_flush();
        } else {
            self.files
                .insert(identity, Seen::ViaLink(self.via_link.len()));
            self.via_link.push(found);
        }
    }

    /// Walks the folder `root` (canonical), depth first in name order.
    fn walk(&mut self, root: &Path, meta: &Metadata) {
        if !self.dirs.insert(Identity::of(root, meta)) {
            // Already walked as part of an earlier argument.
            return;
        }
        let mut stack = Vec::new();
        self.list(root, root, &mut stack);
        while let Some(entry) = stack.pop() {
            if self.stopped {
                return;
            }
            self.entry(root, entry, &mut stack);
        }
    }

    /// Queues the entries of the folder `real` (shown as `shown`), so they pop in name order.
    fn list(&mut self, shown: &Path, real: &Path, stack: &mut Vec<Pending>) {
        let entries = match std::fs::read_dir(real) {
            Ok(entries) => entries,
            Err(err) => {
                self.skip(shown, format!("could not be listed: {err}"));
                return;
            }
        };
        let mut names: Vec<OsString> = Vec::new();
        for entry in entries {
            self.work += 1;
            match entry {
                Ok(entry) => names.push(entry.file_name()),
                Err(err) => self.skip(shown, format!("could not be listed fully: {err}")),
            }
        }
        names.sort_unstable();
        stack.extend(names.into_iter().rev().map(|name| Pending {
            shown: shown.join(&name),
            real_parent: real.to_path_buf(),
            name,
        }));
    }

    fn entry(&mut self, root: &Path, entry: Pending, stack: &mut Vec<Pending>) {
        self.work += 1;
        let name = entry.name.to_string_lossy();
        if is_junk_or_hidden(&name) {
            let reason = if JUNK_NAMES.contains(&name.as_ref()) || name.starts_with("._") {
                "system file, not media"
            } else {
                "hidden entry inside a dropped folder"
            };
            self.skip(&entry.shown, reason.to_owned());
            return;
        }
        let real = entry.real_parent.join(&entry.name);
        let link_meta = match std::fs::symlink_metadata(&real) {
            Ok(meta) => meta,
            Err(err) => {
                self.reject_once(&entry.shown, &real, io_failure(&err));
                return;
            }
        };
        if !link_meta.file_type().is_symlink() {
            if link_meta.is_dir() {
                if self.dirs.insert(Identity::of(&real, &link_meta)) {
                    self.list(&entry.shown, &real, stack);
                }
            } else {
                self.file(&real, &entry.name, &link_meta);
            }
            return;
        }
        let (target, meta) = match std::fs::canonicalize(&real)
            .and_then(|t| std::fs::metadata(&t).map(|m| (t, m)))
        {
            Ok(resolved) => resolved,
            Err(err) => {
                let to = std::fs::read_link(&real)
                    .map_or_else(|_| "?".to_owned(), |t| t.display().to_string());
                self.skip(
                    &entry.shown,
                    format!("broken symbolic link to {to} ({err}); skipped"),
                );
                return;
            }
        };
        // A link to a folder that holds this one, or holds the root, leads back here.
        if meta.is_dir() && (entry.real_parent.starts_with(&target) || root.starts_with(&target)) {
            self.skip(
                &entry.shown,
                format!(
                    "symbolic link loop back to {}; skipped to avoid walking forever",
                    target.display()
                ),
            );
            return;
        }
        if !target.starts_with(root) && !self.options.follow_outside_links {
            self.skip(
                &entry.shown,
                format!(
                    "symbolic link points outside the folder you chose: {}; skipped",
                    target.display()
                ),
            );
            return;
        }
        if meta.is_dir() {
            // A folder reached a second time (a link to a folder walked anyway) is merged.
            if self.dirs.insert(Identity::of(&target, &meta)) {
                self.list(&entry.shown, &target, stack);
            }
        } else {
            self.file(&target, &entry.name, &meta);
        }
    }

    /// Rejects an entry that vanished or cannot be read, once per path.
    fn reject_once(&mut self, shown: &Path, real: &Path, reason: UploadFailure) {
        let identity = Identity::Path(real.to_path_buf());
        if self.files.contains_key(&identity) {
            return;
        }
        self.files.insert(identity, Seen::Final);
        self.found.push(rejected(shown, None, reason));
    }

    fn skip(&mut self, path: &Path, reason: String) {
        self.found.push(Found::Skipped {
            path: path.to_path_buf(),
            reason,
        });
    }
}

fn io_failure(err: &std::io::Error) -> UploadFailure {
    if err.kind() == std::io::ErrorKind::NotFound {
        UploadFailure::Missing
    } else {
        UploadFailure::Unreadable(err.to_string())
    }
}

/// A name that walks pass over: hidden (a leading dot) or left by an operating system.
pub fn is_junk_or_hidden(name: &str) -> bool {
    name.starts_with('.') || JUNK_NAMES.contains(&name)
}

/// Checks one file: regular, named in UTF-8, 1..=50 MiB, readable, with a known MIME type.
/// `canonical` is where it is, `meta` its metadata and `name` what it will be called.
fn check_named(canonical: &Path, name: &OsStr, meta: &Metadata) -> Found {
    let path = canonical;
    let reject = |size_bytes, reason| Found::Rejected {
        path: path.to_path_buf(),
        name: name.to_string_lossy().into_owned(),
        size_bytes,
        reason,
    };
    if !meta.is_file() {
        return reject(None, UploadFailure::NotAFile);
    }
    let size = meta.len();
    let Some(name) = name.to_str() else {
        return reject(Some(size), UploadFailure::NonUtf8Name);
    };
    if size == 0 {
        return reject(Some(size), UploadFailure::Empty);
    }
    let head = match read_head(path) {
        Ok(head) => head,
        Err(err) => return reject(Some(size), UploadFailure::Unreadable(err.to_string())),
    };
    // An image that a smaller copy can stand in for goes on: the queue offers the copy.
    if size > MAX_UPLOAD_BYTES && !shrinkable(name, &head) {
        return reject(Some(size), UploadFailure::TooLarge { size_bytes: size });
    }
    if let Some(format) = not_an_image(name, &head) {
        return reject(Some(size), UploadFailure::NotAnImage { format });
    }
    Found::File(LocalFile {
        path: path.to_path_buf(),
        name: name.to_owned(),
        size_bytes: size,
        modified_ns: meta.modified().map_or(0, nanos_since_epoch),
        mime_type: detect_mime(name, &head),
        file_key: file_key(meta),
    })
}

/// Whether an image over the limit can be shrunk: one this build decodes, and not a GIF, whose
/// animation a still copy would lose.
fn shrinkable(name: &str, head: &[u8]) -> bool {
    crate::fix::format_of(name, head)
        .is_some_and(|format| format.mime_type != "image/gif" && crate::fix::can_decode(format))
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

/// Image formats whose content can be recognised, by the MIME type their extension names, and
/// how to call them in a message.
const RECOGNISABLE_IMAGES: [(&str, &str); 10] = [
    ("image/png", "PNG"),
    ("image/jpeg", "JPEG"),
    ("image/gif", "GIF"),
    ("image/webp", "WebP"),
    ("image/bmp", "BMP"),
    ("image/tiff", "TIFF"),
    ("image/avif", "AVIF"),
    ("image/heic", "HEIC"),
    ("image/heif", "HEIF"),
    ("image/jxl", "JPEG XL"),
];

/// A file named as an image (`.png`, `.jpg`, ...) whose content is no image format at all:
/// the format its name promises. Runflow's thumbnailer could not use it either, so it is
/// refused before upload. Content of another image format than the name says is fine (its
/// type comes from the content); video and audio keep the fallback to the extension.
pub fn not_an_image(name: &str, head: &[u8]) -> Option<String> {
    let named = mime_guess::from_path(name).first()?;
    let (_, format) = RECOGNISABLE_IMAGES
        .iter()
        .find(|(mime, _)| *mime == normalize_mime(named.essence_str()))?;
    (!infer::is_image(head)).then(|| (*format).to_owned())
}

/// The MIME type of a file: from its content when recognisable, else from its extension, else
/// `application/octet-stream`. Spellings are normalised to the ones Runflow lists.
pub fn detect_mime(name: &str, head: &[u8]) -> String {
    // infer calls every HEIF image/heif; the brands tell HEIC (iPhone photos) and AVIF apart.
    let heif = crate::fix::format_of(name, head).filter(|format| format.is_heif());
    let sniffed = heif
        .map(|format| format.mime_type.to_owned())
        .or_else(|| infer::get(head).map(|kind| kind.mime_type().to_owned()));
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

/// The canonical spelling of a MIME type (`image/jpg` is `image/jpeg`).
pub(super) fn normalize_mime(mime: &str) -> String {
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
mod tests;
