//! What goes into the queue and comes out of it: the [`Effect`]s it asks for, the [`Answer`]s
//! that come back, the [`Ticket`] naming each piece of work, and its settings.

use std::path::PathBuf;
use std::time::Duration;

use crate::api::ApiError;
use crate::api::models::{Asset, UploadSession};

use super::super::discover::Found;
use super::super::journal::{Entry, Walk};
use super::super::protocol::{Event, FileId, UploadFailure};

/// Names one piece of work for one file; an answer whose ticket is not the file's current one
/// is stale (the file was cancelled or restarted meanwhile) and is ignored.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(in crate::upload) struct Ticket {
    pub id: FileId,
    pub epoch: u64,
}

/// A finished upload, for the history and the duplicate index.
#[derive(Debug, Clone, PartialEq)]
pub(in crate::upload) struct Finished {
    /// The content's hash.
    pub hash: String,
    pub size_bytes: u64,
    pub asset_id: String,
    /// The file, its asset's name and folder.
    pub path: PathBuf,
    pub name: String,
    pub folder_id: Option<String>,
    /// The file's modification time when it was queued (ns since the epoch).
    pub modified_ns: u128,
    /// Content the app saved itself from a paste.
    pub pasted: bool,
    /// Found in a watched folder.
    pub watched: bool,
    /// The copy that was uploaded instead (converted, shrunk), described.
    pub fixed: Option<String>,
}

/// What the engine must do.
#[derive(Debug, Clone, PartialEq)]
pub(in crate::upload) enum Effect {
    /// Tell the window or the CLI.
    Emit(Event),
    /// Write the entry (through the one journal writer, in order). With `ack`, answer
    /// [`Answer::JournalWritten`] once it is on disk.
    WriteJournal {
        entry: Entry,
        durable: bool,
        ack: Option<Ticket>,
    },
    /// Remove the entry (after every write queued before it).
    RemoveJournal { id: u64 },
    /// Check the file is unchanged and supported (or what copy it needs), and hash it:
    /// [`Answer::Prepared`].
    Prepare { ticket: Ticket, entry: Entry },
    /// Make the copy that goes instead of the file (or find the one the entry names intact):
    /// [`Answer::CopyMade`].
    MakeCopy { ticket: Ticket, entry: Entry },
    /// Claim the content across processes: [`Answer::Claimed`].
    Claim { ticket: Ticket, hash: String },
    /// Let go of the content claim of this file.
    Release { id: FileId },
    /// Look the content up in the duplicate index and ask Runflow whether that asset still
    /// exists: [`Answer::Found`].
    FindUploaded { ticket: Ticket, hash: String },
    /// `POST /v1/asset-uploads`: [`Answer::SessionCreated`].
    CreateSession { ticket: Ticket, entry: Entry },
    /// `PUT` the bytes: [`Answer::PutFinished`]. Aborted by [`Effect::Abort`].
    Put {
        ticket: Ticket,
        entry: Entry,
        upload_url: String,
    },
    /// Confirm: [`Answer::Confirmed`]. Never aborted.
    Confirm {
        ticket: Ticket,
        asset_id: String,
        folder_id: Option<String>,
    },
    /// `GET /v1/assets/{id}`: [`Answer::AssetChecked`].
    GetAsset { ticket: Ticket, asset_id: String },
    /// Move an asset into a folder: [`Answer::Moved`].
    Move {
        ticket: Ticket,
        asset_id: String,
        folder_id: Option<String>,
    },
    /// Record a finished upload in the history and its content in the duplicate index.
    Record(Finished),
    /// Stop the running work of this file at once.
    Abort { id: FileId },
    /// Answer [`Queue::timer_fired`] with `ticket` after `wait`.
    SetTimer { ticket: Ticket, wait: Duration },
    /// Check the path again from scratch (a rejected file was retried).
    Rescan {
        path: PathBuf,
        folder_id: Option<String>,
    },
    /// Delete a file the app wrote itself (pasted content, a copy made to upload), and its
    /// folder once empty: it is uploaded, or no longer needed.
    DeleteOwnedFile { path: PathBuf },
    /// Walk an earlier run's unfinished walk again (its record stays until the walk ends).
    Walk(Walk),
    /// Forget an earlier run's unfinished walk (the user discarded the earlier run).
    ForgetWalk { key: String },
}

/// The result of an effect.
#[derive(Debug, Clone, PartialEq)]
pub(in crate::upload) enum Answer {
    JournalWritten(Result<(), String>),
    /// The content hash and what copy the file needs, or why the file cannot go.
    Prepared(Result<Prepared, UploadFailure>),
    /// The copy to upload instead of the file.
    CopyMade(Result<crate::fix::FixedCopy, UploadFailure>),
    /// Whether the claim was granted (`Err`: the claim could not even be tried).
    Claimed(Result<bool, String>),
    /// The asset this content became before, if it still exists.
    Found(Result<Option<FoundAsset>, UploadFailure>),
    SessionCreated(Result<UploadSession, ApiError>),
    PutFinished(Result<(), UploadFailure>),
    Confirmed(Result<Asset, ApiError>),
    AssetChecked(Result<Asset, ApiError>),
    Moved(Result<Asset, ApiError>),
}

/// A file checked: its content's hash, and the copy it needs when Runflow cannot take it as it
/// is.
#[derive(Debug, Clone, PartialEq)]
pub(in crate::upload) struct Prepared {
    pub hash: String,
    pub need: Option<Need>,
}

/// What a file needs to be uploadable: a copy in another type, a smaller one, or both.
#[derive(Debug, Clone, PartialEq)]
pub(in crate::upload) struct Need {
    /// Its format, e.g. `HEIC`.
    pub format: String,
    /// Runflow does not take its type.
    pub convert: bool,
    /// It is over the upload limit.
    pub shrink: bool,
}

/// Content found on Runflow, with the name of its folder when it is not the root.
#[derive(Debug, Clone, PartialEq)]
pub(in crate::upload) struct FoundAsset {
    pub asset: Asset,
    pub folder_name: Option<String>,
}

/// What one scan found, and what the files are for.
#[derive(Debug, Clone, PartialEq)]
pub(in crate::upload) struct Scanned {
    pub found: Vec<Found>,
    pub folder_id: Option<String>,
    pub force: bool,
    /// The files are the app's own copies (pasted content), deleted once uploaded.
    pub owned: bool,
    /// Found in a watched folder.
    pub watched: bool,
    /// An earlier run's walk again: a file still in the queue from that run is expected, not
    /// reported as given twice.
    pub again: bool,
}

/// Queue settings.
#[derive(Debug, Clone)]
pub(in crate::upload) struct QueueConfig {
    /// Files uploading at once.
    pub concurrency: usize,
    /// Files being checked at once.
    pub check_concurrency: usize,
    pub max_file_attempts: u32,
    pub file_retry_wait: Duration,
    /// Files of an earlier run wait for [`Command::ResumeEarlier`] (or
    /// [`Command::DiscardEarlier`]) instead of starting at once.
    pub hold_earlier: bool,
    /// Images of types Runflow does not take are converted without asking.
    pub auto_convert: bool,
    /// Images over the limit are shrunk without asking (the CLI's `--fit`).
    pub auto_shrink: bool,
}
