//! The contract between the window and its backend: [`Command`]s in, [`Event`]s out. Nothing
//! here knows about egui; the window turns intents into commands and events into state.

use bytes::Bytes;

use crate::api::ApiKey;
use crate::api::models::{Asset, Folder};
use crate::auth::Settings;
use crate::upload;

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
    /// List the newest assets of a folder (`None` = root), one page.
    LoadRecentAssets {
        /// The folder.
        folder_id: Option<String>,
    },
    /// Read an image from the clipboard and upload it as a PNG with a generated name.
    PasteImage {
        /// Destination folder.
        folder_id: Option<String>,
    },
    /// Queue bytes the window already has (e.g. pasted text that was an image) as a PNG.
    UploadPng {
        /// File name to give the asset.
        name: String,
        /// PNG bytes.
        png: Bytes,
        /// Destination folder.
        folder_id: Option<String>,
    },
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
    /// The newest assets of a folder, or why they could not be listed.
    RecentAssets {
        /// The folder (`None` = root).
        folder_id: Option<String>,
        /// The assets, newest first.
        result: Result<Vec<Asset>, String>,
    },
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
}
