//! The contract between the engine and whoever drives it (the window or the CLI): commands in,
//! events out. Nothing here knows about egui or terminals.

use std::path::PathBuf;
use std::time::Duration;

use crate::api::ApiError;
use crate::api::models::{Asset, MAX_UPLOAD_BYTES};

/// Identifies one file in the engine for its whole life (stable across restarts via the journal).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct FileId(pub u64);

impl std::fmt::Display for FileId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "#{}", self.0)
    }
}

/// What the engine is asked to do.
#[derive(Debug, Clone, PartialEq)]
pub enum Command {
    /// Queue files and folders (folders recursively) for `folder_id` (`None` = root).
    Add {
        /// Files and folders to upload.
        paths: Vec<PathBuf>,
        /// Destination folder.
        folder_id: Option<String>,
        /// Upload even files this machine already uploaded.
        force: bool,
    },
    /// Queue what a watched folder found: files that are new or changed since they were last
    /// uploaded (never forced; the history is the same as [`Command::Add`]'s but for its source).
    AddWatched {
        /// Files (or new subfolders) in the watched folder.
        paths: Vec<PathBuf>,
        /// The folder the watch maps to.
        folder_id: Option<String>,
    },
    /// Queue bytes from memory (e.g. a pasted image) under `name`.
    AddBytes {
        /// File name to give the asset.
        name: String,
        /// MIME type of the bytes.
        mime_type: String,
        /// The content.
        bytes: bytes::Bytes,
        /// Destination folder.
        folder_id: Option<String>,
    },
    /// Stop one file (a running PUT is aborted at once).
    Cancel(FileId),
    /// Stop every file that is not finished.
    CancelAll,
    /// Queue a failed or cancelled file again.
    Retry(FileId),
    /// Queue every failed file again.
    RetryFailed,
    /// A file Runflow cannot take as it is ([`UploadFailure::Fixable`]): make the copy it
    /// offers (converted, shrunk to fit) and upload that instead. The original never changes.
    Fix(FileId),
    /// [`Command::Fix`] for every file that offers a copy.
    FixAll,
    /// Convert images of types Runflow does not take without asking first (the setting,
    /// `--convert`).
    SetAutoConvert(bool),
    /// A file whose content is already on Runflow in another folder: move that asset into the
    /// folder this file was meant for.
    MoveHere(FileId),
    /// A file whose content is already on Runflow in another folder: upload it again as a copy.
    UploadCopy(FileId),
    /// Forget the unfinished uploads that belong to another server or account (by
    /// [`ForeignUploads::account_key`]).
    DiscardForeign(String),
    /// Start the unfinished uploads of an earlier run, which wait when the engine was started
    /// with `hold_earlier` (see [`BatchProgress::held_files`]).
    ResumeEarlier,
    /// Cancel and forget the unfinished uploads of an earlier run that wait.
    DiscardEarlier,
    /// Stop walking the folders of a scan ([`Event::Scanning`]); what it found so far stays
    /// queued.
    StopScan(u64),
    /// Forget a finished, failed or cancelled file.
    Remove(FileId),
    /// Forget every finished file (done or already uploaded).
    ClearFinished,
    /// Start no new files; running ones finish.
    Pause,
    /// Start files again.
    Resume,
    /// Files uploaded at once, 1..=16.
    SetConcurrency(usize),
    /// Stop everything and end the engine task. Unfinished files stay in the journal.
    Shutdown,
}

/// Where a file is in its life.
#[derive(Debug, Clone, PartialEq)]
pub enum FileState {
    /// Waiting for a free slot.
    Queued,
    /// Reading the file to recognise duplicates.
    Hashing,
    /// Making the copy that goes instead of the file (converted, or shrunk to fit).
    Converting,
    /// Asking Runflow for an upload URL.
    CreatingSession,
    /// Sending bytes.
    Uploading,
    /// All bytes sent; Runflow is turning them into an asset.
    Confirming,
    /// A step failed and will be tried again after `wait`.
    Retrying {
        /// Why the last try failed.
        reason: String,
        /// How long until the next try.
        wait: Duration,
    },
    /// Uploaded: this is the asset.
    Done(Box<Asset>),
    /// This machine uploaded the same content before (or another file of this batch has it)
    /// and the asset still exists, in the folder asked for.
    AlreadyUploaded {
        /// The existing asset.
        asset_id: String,
        /// The file of this batch with the same content, when it was uploaded just now.
        same_as: Option<String>,
        /// The asset's signed download URL, fresh from Runflow (it expires after a while).
        url: Option<String>,
    },
    /// The same content is already on Runflow, but in another folder than the one asked for.
    /// [`Command::MoveHere`] moves it; [`Command::UploadCopy`] uploads a copy.
    InOtherFolder {
        /// The existing asset.
        asset_id: String,
        /// Its folder (`None` = the root).
        folder_id: Option<String>,
        /// That folder's name, when it could be looked up.
        folder_name: Option<String>,
        /// The asset's signed download URL, fresh from Runflow.
        url: Option<String>,
    },
    /// Could not be uploaded, for this reason.
    Failed(UploadFailure),
    /// Stopped by the user.
    Cancelled,
}

impl FileState {
    /// Whether the file needs no more work (done, already uploaded, failed or cancelled).
    pub fn is_finished(&self) -> bool {
        matches!(
            self,
            Self::Done(_)
                | Self::AlreadyUploaded { .. }
                | Self::InOtherFolder { .. }
                | Self::Failed(_)
                | Self::Cancelled
        )
    }

    /// Whether the file ended well (uploaded now or before).
    pub fn is_success(&self) -> bool {
        matches!(self, Self::Done(_) | Self::AlreadyUploaded { .. })
    }

    /// A short label for lists and logs.
    pub fn label(&self) -> &'static str {
        match self {
            Self::Queued => "queued",
            Self::Hashing => "checking",
            Self::Converting => "converting",
            Self::CreatingSession => "starting",
            Self::Uploading => "uploading",
            Self::Confirming => "confirming",
            Self::Retrying { .. } => "retrying",
            Self::Done(_) => "done",
            Self::AlreadyUploaded { .. } => "already uploaded",
            Self::InOtherFolder { .. } => "in another folder",
            Self::Failed(_) => "failed",
            Self::Cancelled => "cancelled",
        }
    }
}

/// Why a file was not uploaded. Each says what happened and what to do.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum UploadFailure {
    /// The file has no bytes.
    #[error("The file is empty (0 bytes); Runflow needs at least 1 byte.")]
    Empty,
    /// The file is over the 50 MiB cap.
    #[error(
        "The file is {} ({size_bytes} bytes), over Runflow's upload limit of 50 MiB \
         ({MAX_UPLOAD_BYTES} bytes). Host larger media at a public URL and pass that URL to \
         the run instead.",
        human_bytes_over_limit(*size_bytes)
    )]
    TooLarge {
        /// The file's size.
        size_bytes: u64,
    },
    /// Not a regular file (a device, a socket, ...).
    #[error("This is not a regular file, so it cannot be uploaded.")]
    NotAFile,
    /// The file could not be opened or read.
    #[error("The file could not be read ({0}). Check that it exists and that you may read it.")]
    Unreadable(String),
    /// The name is not valid UTF-8, which Runflow's JSON API cannot carry.
    #[error(
        "The file name is not valid text (UTF-8), so Runflow cannot store it. Rename the file \
         and add it again."
    )]
    NonUtf8Name,
    /// The content is of a type Runflow does not accept.
    #[error(
        "Runflow does not accept {mime_type} files. Supported types: {supported}. Convert the \
         file to one of them."
    )]
    UnsupportedType {
        /// The detected MIME type.
        mime_type: String,
        /// What Runflow accepts, comma separated.
        supported: String,
    },
    /// Named as an image (`.png`, ...) but its content is no image format.
    #[error(
        "The content is not a {format} image; the file may be damaged. Runflow could not show \
         or use it either: open it in an image viewer, and save it again or replace it."
    )]
    NotAnImage {
        /// The format the file name promises, e.g. `PNG`.
        format: String,
    },
    /// Runflow cannot take the image as it is, but a copy made here can go instead: converted
    /// to a type it takes, or shrunk to fit its limit ([`Command::Fix`]).
    #[error("{}", fixable_text(format, *size_bytes, *convert, *shrink))]
    Fixable {
        /// The image's format, e.g. `HEIC`.
        format: String,
        /// Its size.
        size_bytes: u64,
        /// Its type is not one Runflow takes.
        convert: bool,
        /// It is over the upload limit.
        shrink: bool,
    },
    /// The copy that was to go instead of the file could not be made.
    #[error("{0}")]
    Fix(crate::fix::FixError),
    /// The file changed while it was being uploaded.
    #[error(
        "The file changed while it was being uploaded ({0}). Wait until whatever is writing it \
         has finished, then retry."
    )]
    Changed(String),
    /// The file disappeared before or during the upload.
    #[error(
        "The file was not found: it may have been moved or deleted. Check the path and add it again."
    )]
    Missing,
    /// PUT made no progress for too long.
    #[error("The upload stalled: no bytes moved for {0} seconds. Check your connection and retry.")]
    Stalled(u64),
    /// The upload journal could not be written, so the upload cannot be made crash-safe.
    #[error(
        "Could not record progress in the upload journal ({0}). Check free disk space and \
         permissions of the app's data folder, then retry."
    )]
    Journal(String),
    /// Runflow refused or failed, after retries where retrying made sense.
    #[error("{0}")]
    Api(ApiError),
}

impl UploadFailure {
    /// The copy that would make the file uploadable, when there is one.
    pub fn fix(&self) -> Option<FixOffer> {
        match self {
            Self::Fixable {
                convert, shrink, ..
            } => Some(FixOffer {
                convert: *convert,
                shrink: *shrink,
            }),
            _ => None,
        }
    }

    /// Whether trying the whole file again later may succeed (network trouble, server errors).
    pub fn is_transient(&self) -> bool {
        match self {
            Self::Api(err) => err.is_retryable() || matches!(err, ApiError::Timeout),
            Self::Stalled(_) => true,
            _ => false,
        }
    }
}

/// What [`Command::Fix`] does to a file: convert it, shrink it, or both.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FixOffer {
    /// Into a type Runflow takes.
    pub convert: bool,
    /// Under the upload limit.
    pub shrink: bool,
}

impl FixOffer {
    /// The button that makes the copy.
    pub fn action(self) -> &'static str {
        match (self.convert, self.shrink) {
            (true, true) => "Convert and shrink",
            (true, false) => "Convert and upload",
            _ => "Shrink to fit",
        }
    }
}

fn fixable_text(format: &str, size_bytes: u64, convert: bool, shrink: bool) -> String {
    // Said the same in the window (beside the row's button) and on the command line (before
    // the flag to add), so it names neither.
    let keeps = "the original stays as it is";
    match (convert, shrink) {
        (true, true) => format!(
            "Runflow does not accept {format} images, and this one is {}, over its upload \
             limit of 50 MiB. A smaller JPEG, PNG or WebP copy can go instead; {keeps}.",
            human_bytes(size_bytes)
        ),
        (true, false) => format!(
            "Runflow does not accept {format} images. A JPEG, PNG or WebP copy can go instead; \
             {keeps}."
        ),
        _ => format!(
            "The image is {} ({size_bytes} bytes), over Runflow's upload limit of 50 MiB \
             ({MAX_UPLOAD_BYTES} bytes). A smaller copy can go instead (re-encoded, and scaled \
             down only if that is not enough); {keeps}.",
            human_bytes(size_bytes)
        ),
    }
}

/// Everything the engine reports. Progress may be throttled; every other event is delivered.
#[derive(Debug, Clone, PartialEq)]
pub enum Event {
    /// A file joined the queue (or was rejected at once: then `state` is `Failed`).
    Added {
        /// Its id.
        id: FileId,
        /// Where it is on disk (`None` for bytes from memory).
        path: Option<PathBuf>,
        /// The asset name it will get.
        name: String,
        /// Its size, when known.
        size_bytes: Option<u64>,
        /// Its detected MIME type, when known.
        mime_type: Option<String>,
        /// `Queued`, or `Failed` with the reason it was rejected.
        state: FileState,
        /// Whether it was resumed from the journal of an earlier run.
        resumed: bool,
    },
    /// Dropped paths being walked: reported as the scan starts (`found` 0), as files are found
    /// (files join the queue meanwhile, in chunks), and when it ends (`done`).
    Scanning {
        /// Which scan ([`Command::StopScan`] stops it).
        scan: u64,
        /// What is walked, for people: `~/Pictures`, or `~/Pictures and 2 more`.
        label: String,
        /// Files found so far (uploadable or not).
        found: usize,
        /// The walk ended (or was stopped).
        done: bool,
    },
    /// A path inside an added folder was passed over on purpose (system junk, a symlink loop,
    /// an entry that could not be listed).
    Skipped {
        /// The entry.
        path: PathBuf,
        /// Why.
        reason: String,
    },
    /// A file moved to a new state.
    State {
        /// Which file.
        id: FileId,
        /// Its new state.
        state: FileState,
    },
    /// A copy was made to go instead of the file (converted, or shrunk to fit); the asset takes
    /// the copy's name.
    Fixed {
        /// Which file.
        id: FileId,
        /// The copy.
        copy: crate::fix::FixedCopy,
    },
    /// Bytes sent so far for one file.
    Progress {
        /// Which file.
        id: FileId,
        /// Bytes sent.
        sent_bytes: u64,
        /// The file's size.
        total_bytes: u64,
        /// Smoothed speed, once stable.
        bytes_per_sec: Option<f64>,
        /// Time left, once stable; never zero while bytes remain.
        eta: Option<Duration>,
    },
    /// Totals for everything in the engine.
    Batch(BatchProgress),
    /// A file was forgotten (removed or cleared).
    Removed(FileId),
    /// Unfinished uploads from an earlier run belong to another server or account; they wait
    /// until the app connects there again, or are discarded.
    ForeignUploads(Vec<ForeignUploads>),
    /// No file is queued or running and no folder is being scanned.
    Idle,
}

/// The reason of the [`Event::Skipped`] for a file that is already in the queue (the same file
/// given twice, or resumed from the journal and given again): it is still one file.
pub const ALREADY_QUEUED: &str = "already in the upload queue";

/// The start of the reason of the [`Event::Skipped`] (with an empty path) sent when the engine
/// could not start at all.
pub const ENGINE_DISABLED: &str = "Uploads are disabled";

/// A stable code for the reason of an [`Event::Skipped`], for scripts (`upload --json`):
/// `system_file`, `hidden`, `broken_link`, `link_loop`, `outside_link`, `already_queued`,
/// `engine_disabled`, or `skipped` for anything else.
pub fn skip_code(reason: &str) -> &'static str {
    const CODES: [(&str, &str); 7] = [
        ("system file", "system_file"),
        ("hidden entry", "hidden"),
        ("broken symbolic link", "broken_link"),
        ("symbolic link loop", "link_loop"),
        ("symbolic link points outside", "outside_link"),
        (ALREADY_QUEUED, "already_queued"),
        (ENGINE_DISABLED, "engine_disabled"),
    ];
    CODES
        .iter()
        .find(|(start, _)| reason.starts_with(start))
        .map_or("skipped", |(_, code)| code)
}

/// Unfinished uploads of one other server or account, left in the journal.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ForeignUploads {
    /// The journal's key for that account (pass it to [`Command::DiscardForeign`]).
    pub account_key: String,
    /// The API base they were for.
    pub base_url: String,
    /// Who they were for (an email or an organisation name), as far as known.
    pub account_label: String,
    /// How many files.
    pub files: usize,
}

impl std::fmt::Display for ForeignUploads {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let files = if self.files == 1 {
            "1 unfinished upload belongs".to_owned()
        } else {
            format!("{} unfinished uploads belong", self.files)
        };
        write!(
            f,
            "{files} to another account ({} on {}): finish them by signing in as that account, \
             or discard them.",
            self.account_label, self.base_url
        )
    }
}

/// Totals over every file the engine knows.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct BatchProgress {
    /// Files known to the engine.
    pub total_files: usize,
    /// Files uploading right now.
    pub active_files: usize,
    /// Files waiting for a slot.
    pub queued_files: usize,
    /// Unfinished files of an earlier run, waiting for [`Command::ResumeEarlier`] or
    /// [`Command::DiscardEarlier`] (counted nowhere else).
    pub held_files: usize,
    /// Their bytes.
    pub held_bytes: u64,
    /// Folder walks of an earlier run that had not queued all their files, waiting with them.
    pub held_walks: usize,
    /// Files done or already uploaded.
    pub succeeded_files: usize,
    /// Files that failed (not counting the fixable ones).
    pub failed_files: usize,
    /// Files Runflow cannot take as they are, waiting for [`Command::Fix`] (or
    /// [`Command::FixAll`]): a converted or smaller copy would go.
    pub fixable_files: usize,
    /// Files whose content is already on Runflow in another folder (waiting for "Move here"
    /// or "Upload a copy").
    pub elsewhere_files: usize,
    /// Files cancelled.
    pub cancelled_files: usize,
    /// Bytes sent over all unfinished and finished files.
    pub sent_bytes: u64,
    /// Bytes of all files that are not failed or cancelled.
    pub total_bytes: u64,
    /// Smoothed speed, once stable.
    pub bytes_per_sec: Option<f64>,
    /// Time left, once stable.
    pub eta: Option<Duration>,
    /// Whether the queue is paused.
    pub paused: bool,
}

impl BatchProgress {
    /// Files that are through, however they ended (done, failed, waiting for a fix or a
    /// choice about another folder, cancelled).
    pub fn finished_files(&self) -> usize {
        self.succeeded_files
            + self.failed_files
            + self.fixable_files
            + self.elsewhere_files
            + self.cancelled_files
    }
}

/// "12,345 files found" ("1 file found"), for the scanning row and the CLI's spinner.
pub fn files_found(n: usize) -> String {
    format!("{} found", files(n))
}

/// "12,345 files", "1 file".
pub fn files(n: usize) -> String {
    let files = if n == 1 { "file" } else { "files" };
    format!("{} {files}", grouped(n))
}

/// `12,345`.
pub fn grouped(n: usize) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// Text for a terminal or a shell comment: control characters (newlines, escapes) become `?`.
pub fn sanitize(text: &str) -> String {
    text.chars()
        .map(|c| if c.is_control() { '?' } else { c })
        .collect()
}

/// `12.3 MiB` style sizes for messages.
pub fn human_bytes(bytes: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut value = bytes as f64;
    let mut unit = 0;
    while value >= 1024.0 && unit < UNITS.len() - 1 {
        value /= 1024.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{bytes} B")
    } else {
        format!("{value:.1} {}", UNITS[unit])
    }
}

/// A size over the upload limit for messages: rounded up, with as many decimals as it takes
/// not to read as the limit itself (52,428,801 bytes is `50.1 MiB`, never `50.0 MiB`).
fn human_bytes_over_limit(bytes: u64) -> String {
    const MIB: f64 = 1024.0 * 1024.0;
    let mib = bytes as f64 / MIB;
    let limit = MAX_UPLOAD_BYTES as f64 / MIB;
    for decimals in 1..=6_i32 {
        let scale = 10_f64.powi(decimals);
        let shown = (mib * scale).ceil() / scale;
        if shown > limit {
            return format!("{shown:.prec$} MiB", prec = decimals as usize);
        }
    }
    format!("{mib:.6} MiB")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn too_large_names_the_limit_the_size_and_the_way_out() {
        let text = UploadFailure::TooLarge {
            size_bytes: MAX_UPLOAD_BYTES + 1,
        }
        .to_string();
        assert!(text.contains("52428801 bytes"), "{text}");
        assert!(text.starts_with("The file is 50.1 MiB"), "{text}");
        assert_eq!(human_bytes_over_limit(60 * 1024 * 1024), "60.0 MiB");
        assert_eq!(human_bytes_over_limit(MAX_UPLOAD_BYTES + 1), "50.1 MiB");
        assert!(text.contains("50 MiB"), "{text}");
        assert!(text.contains("public URL"), "{text}");
    }

    #[test]
    fn skip_reasons_have_codes() {
        assert_eq!(skip_code("system file, not media"), "system_file");
        assert_eq!(skip_code("hidden entry inside a dropped folder"), "hidden");
        assert_eq!(
            skip_code("broken symbolic link to x (gone); skipped"),
            "broken_link"
        );
        assert_eq!(
            skip_code("symbolic link loop back to /a; skipped"),
            "link_loop"
        );
        assert_eq!(
            skip_code("symbolic link points outside the folder you chose: /b; skipped"),
            "outside_link"
        );
        assert_eq!(skip_code(ALREADY_QUEUED), "already_queued");
        assert_eq!(
            skip_code("Uploads are disabled: no disk"),
            "engine_disabled"
        );
        assert_eq!(skip_code("something new"), "skipped");
    }

    #[test]
    fn human_bytes_picks_a_readable_unit() {
        assert_eq!(human_bytes(12), "12 B");
        assert_eq!(human_bytes(1536), "1.5 KiB");
        assert_eq!(human_bytes(MAX_UPLOAD_BYTES), "50.0 MiB");
        assert_eq!(human_bytes(0), "0 B");
        assert_eq!(human_bytes(1023), "1023 B");
        assert_eq!(human_bytes(3 * 1024 * 1024 * 1024), "3.0 GiB");
    }

    #[test]
    fn finished_and_success_states() {
        assert!(FileState::Cancelled.is_finished());
        assert!(!FileState::Cancelled.is_success());
        assert!(
            FileState::AlreadyUploaded {
                asset_id: "a".into(),
                same_as: None,
                url: None,
            }
            .is_success()
        );
        assert!(!FileState::Confirming.is_finished());
    }
}
