//! The contract between the window and its backend: [`Command`]s in, [`Event`]s out. Nothing
//! here knows about egui; the window turns intents into commands and events into state.

use std::path::PathBuf;
use std::sync::Arc;

use crate::api::models::{Asset, Folder};
use crate::api::{ApiKey, KeyScopes};
use crate::auth::Settings;
use crate::library::ViewSpec;
use crate::library::thumbs::{ThumbEvent, ThumbRequest};
use crate::watch::{WatchSpec, WatchStatus};
use crate::{history, upload};

/// What the window asks of the backend.
#[derive(Debug)]
pub enum Command {
    /// Load the settings and the key (`RUNFLOW_API_KEY`, else the keyring) and connect, or
    /// report [`Event::NeedsKey`]. Sent once at start-up.
    Start,
    /// Start the built-in emulator with sample data and connect to it (nothing leaves the
    /// machine).
    StartDemo,
    /// Check a key with `GET /v1/auth/me`; only if it is accepted, store it in the keyring and
    /// connect with it.
    SaveKey(ApiKey),
    /// Delete the stored key and disconnect (the window goes back to the welcome screen).
    RemoveKey,
    /// Check the current connection again.
    TestConnection,
    /// Validate and store the settings, and apply them (concurrency at once; a new base URL
    /// reconnects).
    SaveSettings(Settings),
    /// List every folder (all pages).
    LoadFolders,
    /// Create a folder.
    CreateFolder {
        /// Its name.
        name: String,
        /// Its parent; `None` is the root.
        parent_id: Option<String>,
    },
    /// Rename a folder.
    RenameFolder {
        /// The folder.
        id: String,
        /// Its new name.
        name: String,
    },
    /// Delete an (empty) folder.
    DeleteFolder {
        /// The folder.
        id: String,
    },
    /// Load one page of a gallery view: the first (`cursor: None`) or the one after `cursor`.
    LoadAssets {
        /// What the view shows.
        view: ViewSpec,
        /// Where to continue; `None` is the first page.
        cursor: Option<String>,
        /// Page size.
        limit: u32,
        /// Echoed in [`Event::AssetsPage`], so pages of an older view are told apart.
        generation: u64,
    },
    /// Delete assets, a few at a time; each answers with [`Event::AssetDeleted`].
    DeleteAssets {
        /// The assets.
        ids: Vec<String>,
    },
    /// Move assets into a folder (`None` = root); each answers with [`Event::AssetMoved`].
    MoveAssets {
        /// The assets.
        ids: Vec<String>,
        /// The destination.
        folder_id: Option<String>,
    },
    /// Read an asset again for fresh signed URLs, for `purpose`.
    FetchAsset {
        /// The asset.
        id: String,
        /// What the window does with it.
        purpose: AssetPurpose,
    },
    /// Remember the gallery's view in the settings, so it survives a restart.
    SaveView(ViewSpec),
    /// The thumbnails the gallery wants now, most urgent first; others still loading are
    /// dropped.
    WantThumbnails(Vec<ThumbRequest>),
    /// Show a just-uploaded file's own pixels until the server's thumbnail arrives.
    PreviewLocalFile {
        /// The new asset.
        asset_id: String,
        /// The file that was uploaded.
        path: PathBuf,
        /// Longest side wanted, in pixels.
        size_px: u32,
    },
    /// Say on the desktop that a batch ended (the window is in the background); clicking the
    /// notification answers [`Event::RaiseWindow`] where the notification service can.
    NotifyBatchEnded {
        /// The headline, e.g. "Uploads finished".
        summary: String,
        /// The counts, e.g. "48 uploaded, 2 failed".
        body: String,
    },
    /// Read an image from the clipboard and upload it as a PNG with a generated name.
    PasteImage {
        /// Destination folder.
        folder_id: Option<String>,
    },
    /// Upload an image pasted into the window as a PNG with a generated name.
    UploadPixels {
        /// Width in pixels.
        width: usize,
        /// Height in pixels.
        height: usize,
        /// RGBA8 pixels, not premultiplied, row by row.
        rgba: Vec<u8>,
        /// Destination folder.
        folder_id: Option<String>,
    },
    /// Search the upload history (of the connection's data folder); answers
    /// [`Event::History`].
    LoadHistory {
        /// What to list.
        query: history::Query,
        /// Echoed, so answers to an older search are told apart.
        generation: u64,
    },
    /// Which local file an asset was uploaded from, if this computer uploaded it; answers
    /// [`Event::Origin`].
    LoadOrigin {
        /// The asset.
        asset_id: String,
    },
    /// Ask where to save these uploads (rfd's save dialog) and write them there as `format`.
    ExportHistory {
        /// The rows.
        uploads: Vec<history::Upload>,
        /// CSV or JSON.
        format: history::Format,
    },
    /// Open the system's file dialog (never on the window's thread) and upload what is picked.
    PickAndUpload {
        /// Pick folders instead of files.
        folders: bool,
        /// Destination folder.
        folder_id: Option<String>,
    },
    /// Open the system's folder dialog for a new watch folder into `folder_id`; answers
    /// [`Event::WatchFolderPicked`].
    PickWatchFolder {
        /// Where its files go.
        folder_id: Option<String>,
    },
    /// Watch a folder (kept in the settings).
    AddWatch(WatchSpec),
    /// Pause or resume the watch of `dir`.
    PauseWatch {
        /// The watched folder.
        dir: PathBuf,
        /// Paused, or watching again.
        paused: bool,
    },
    /// Stop watching `dir` and forget it.
    RemoveWatch(PathBuf),
    /// Passed to the upload engine.
    Upload(upload::Command),
    /// Stop the engine (unfinished uploads stay in the journal) and end the backend.
    Shutdown,
}

/// The account and server the window is connected to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Connection {
    /// The account's email.
    pub email: String,
    /// The account holder's name, when known.
    pub name: Option<String>,
    /// The organisation, when known.
    pub organization: Option<String>,
    /// The API base.
    pub base_url: String,
    /// Where the key came from, for the settings screen ("the OS keyring (Secret Service)",
    /// "the RUNFLOW_API_KEY environment variable", "the offline demo").
    pub key_source: String,
    /// Whether this is the built-in offline demo.
    pub demo: bool,
    /// What the key may do (`/v1/auth/me`); actions it may not are disabled.
    pub scopes: KeyScopes,
}

/// What a freshly read asset is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AssetPurpose {
    /// Copy its signed URL.
    CopyUrl,
    /// Open its signed URL in the browser.
    OpenInBrowser,
    /// Copy a curl command that starts a model run with it.
    CopyCurl,
}

/// One page of a gallery view.
#[derive(Debug, Clone, PartialEq)]
pub struct AssetPage {
    /// The assets, in the view's order.
    pub items: Vec<Asset>,
    /// The cursor of the next page; `None` on the last.
    pub next: Option<String>,
}

/// A thumbnail (or why there is none), shared rather than copied on its way to the window.
#[derive(Debug, Clone)]
pub struct Thumbnail(pub Arc<ThumbEvent>);

impl PartialEq for Thumbnail {
    fn eq(&self, other: &Self) -> bool {
        Arc::ptr_eq(&self.0, &other.0)
    }
}

/// How loud a message is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Level {
    /// Something finished well.
    Success,
    /// Worth knowing.
    Info,
    /// Something failed; the message says what to do.
    Error,
}

/// What the backend reports.
#[derive(Debug, Clone, PartialEq)]
pub enum Event {
    /// The settings as loaded at start-up (or as just saved).
    Settings(Settings),
    /// No key was found, or the stored one was removed: show the welcome screen. `reason` says
    /// why when something went wrong (e.g. the keyring could not be read).
    NeedsKey {
        /// What went wrong, if anything.
        reason: Option<String>,
    },
    /// A connection attempt started.
    Connecting,
    /// Connected: uploads and listings work now.
    Connected(Connection),
    /// The connection could not be made or checked. `key_rejected` is true on a 401, when the
    /// window should ask for a new key.
    ConnectionFailed {
        /// What happened and what to do.
        message: String,
        /// Whether the key itself was refused.
        key_rejected: bool,
    },
    /// [`Command::SaveKey`] refused the key (nothing was stored).
    KeyRejected {
        /// What happened and what to do.
        message: String,
    },
    /// [`Command::SaveKey`] stored the key; `backend` names where (e.g. "Secret Service").
    KeySaved {
        /// The key store used.
        backend: String,
        /// Whether the key survives a restart (false for the in-memory fallback).
        persistent: bool,
    },
    /// The stored key was deleted.
    KeyRemoved,
    /// All folders, or why they could not be listed.
    Folders(Result<Vec<Folder>, String>),
    /// A folder was created, or why not.
    FolderCreated(Result<Folder, String>),
    /// A folder was renamed, or why not.
    FolderRenamed(Result<Folder, String>),
    /// A folder was deleted, or why not.
    FolderDeleted {
        /// The folder.
        id: String,
        /// What happened.
        result: Result<(), String>,
    },
    /// A page of a gallery view, or why it could not be loaded.
    AssetsPage {
        /// The generation of [`Command::LoadAssets`].
        generation: u64,
        /// The page.
        result: Result<AssetPage, String>,
    },
    /// An asset was deleted, or why not.
    AssetDeleted {
        /// The asset.
        id: String,
        /// What happened.
        result: Result<(), String>,
    },
    /// An asset was moved (the updated record), or why not.
    AssetMoved {
        /// The asset.
        id: String,
        /// What happened.
        result: Result<Asset, String>,
    },
    /// An asset read again for [`Command::FetchAsset`].
    AssetFetched {
        /// What it is for.
        purpose: AssetPurpose,
        /// The asset, or why it could not be read.
        result: Result<Asset, String>,
    },
    /// A thumbnail is ready or failed.
    Thumbnail(Thumbnail),
    /// The upload engine was (re)started for a new connection: forget every queued row; the
    /// journal's unfinished files come again as `Added { resumed: true }`.
    EngineRestarted,
    /// From the upload engine.
    Upload(upload::Event),
    /// A message for a toast.
    Notice {
        /// How loud.
        level: Level,
        /// What happened (and what to do).
        message: String,
    },
    /// The user clicked the batch's desktop notification: bring the window to the front.
    RaiseWindow,
    /// The folder picked for a new watch.
    WatchFolderPicked {
        /// The local folder.
        dir: PathBuf,
        /// Where its files are to go.
        folder_id: Option<String>,
    },
    /// A watch folder's state and today's count.
    Watch(WatchStatus),
    /// The answer to [`Command::LoadOrigin`]: the history's newest upload of the asset, `None`
    /// when this computer did not upload it (or the history could not say).
    Origin {
        /// The asset.
        asset_id: String,
        /// Its upload.
        upload: Option<history::Upload>,
    },
    /// The answer to [`Command::LoadHistory`]: newest first, or why it could not be read.
    History {
        /// The search's generation.
        generation: u64,
        /// The uploads.
        result: Result<Vec<history::Upload>, String>,
    },
}
