//! Everything the window shows, and how backend events change it. Pure: no I/O, no egui calls,
//! so every transition is unit-testable.

use std::collections::BTreeMap;
use std::path::PathBuf;

use crate::api::models::Folder;
use crate::auth::Settings;
use crate::desktop::{AssetPurpose, Command, Event, Level};
use crate::upload::{files, grouped, human_bytes};
use crate::watch::{WatchSpec, WatchStatus};

use super::gallery::{FolderDialog, GalleryState, curl_snippet};
use super::history::HistoryState;
use super::loadable::{ConnectionStatus, Loadable};
use super::queue::{Finished, QueueState};
use super::settings_draft::SettingsDraft;
use super::toasts::Toasts;
use super::welcome::WelcomeState;

/// Which screen is up.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Screen {
    /// Looking for a key and connecting.
    Starting,
    /// First run (or after the key was removed or refused): ask for a key or offer the demo.
    Welcome,
    /// The drop zone and the queue.
    Main,
}

/// What the right-hand panel shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SidePanel {
    /// The drop zone and the upload queue.
    #[default]
    Uploads,
    /// The selected asset's details.
    Details,
    /// What this machine uploaded.
    History,
}

/// Something only the window can do (it needs the egui context), asked for by an event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Effect {
    /// Put text on the clipboard, then say `notice`.
    Copy {
        /// The text.
        text: String,
        /// What was copied, for a toast.
        notice: String,
    },
    /// Open a link in the browser.
    OpenUrl(String),
    /// Bring the window to the front (its batch notification was clicked).
    Raise,
}

/// The whole window's state.
#[derive(Debug)]
pub struct AppState {
    /// The screen up.
    pub screen: Screen,
    /// The connection.
    pub connection: ConnectionStatus,
    /// The settings as last loaded or saved.
    pub settings: Settings,
    /// The upload queue.
    pub queue: QueueState,
    /// Every folder, for the tree, the destination picker and "Move to...".
    pub folders: Loadable<Vec<Folder>>,
    /// A destination the user pinned for uploads (`Some(None)` = root); `None` follows the
    /// folder shown in the gallery.
    pub pinned_destination: Option<Option<String>>,
    /// The asset library.
    pub gallery: GalleryState,
    /// The History tab.
    pub history: HistoryState,
    /// What the right-hand panel shows.
    pub side_panel: SidePanel,
    /// Longest side of a card's thumbnail in pixels (set by the view), for local previews.
    pub thumb_px: u32,
    /// Clipboard and browser work for the window.
    pub effects: Vec<Effect>,
    /// Messages in the corner.
    pub toasts: Toasts,
    /// The welcome screen's form.
    pub welcome: WelcomeState,
    /// The settings dialog, while open.
    pub settings_dialog: Option<SettingsDraft>,
    /// The folder dialog (new, rename, delete), while open.
    pub folder_dialog: Option<FolderDialog>,
    /// Whether files can be dropped on the window (not on native Wayland).
    pub drag_and_drop: bool,
    /// Whether the window is unfocused or minimized, so a batch's end is told on the desktop.
    pub in_background: bool,
    /// What each watch folder is doing, by folder (while an engine runs).
    pub watches: BTreeMap<PathBuf, WatchStatus>,
}

impl AppState {
    /// The state at start-up.
    pub fn new(drag_and_drop: bool) -> Self {
        Self {
            screen: Screen::Starting,
            connection: ConnectionStatus::Unknown,
            settings: Settings::default(),
            queue: QueueState::default(),
            folders: Loadable::NotLoaded,
            pinned_destination: None,
            gallery: GalleryState::default(),
            history: HistoryState::default(),
            side_panel: SidePanel::Uploads,
            thumb_px: 160,
            effects: Vec::new(),
            toasts: Toasts::default(),
            welcome: WelcomeState::default(),
            settings_dialog: None,
            folder_dialog: None,
            in_background: false,
            watches: BTreeMap::new(),
            drag_and_drop,
        }
    }

    /// Whether the built-in demo is connected.
    pub fn is_demo(&self) -> bool {
        matches!(&self.connection, ConnectionStatus::Connected(c) if c.demo)
    }

    /// Where new uploads go (`None` = root): the pinned folder, else the folder shown.
    pub fn destination(&self) -> Option<String> {
        match &self.pinned_destination {
            Some(pinned) => pinned.clone(),
            None => self.gallery.view.folder_id.clone(),
        }
    }

    /// Applies a backend event at time `now` (seconds); returns commands to send in response.
    pub fn apply(&mut self, event: Event, now: f64) -> Vec<Command> {
        let mut follow_up = Vec::new();
        match event {
            Event::Settings(settings) => {
                if self.gallery.paging == super::gallery::Paging::NotLoaded {
                    // Start-up: the gallery opens where it was left.
                    self.gallery.view = settings.library_view.clone();
                    self.gallery.search_draft = settings.library_view.search.clone();
                }
                if settings.default_folder_id != self.settings.default_folder_id {
                    self.pinned_destination = settings.default_folder_id.clone().map(Some);
                }
                self.settings = settings;
            }
            Event::NeedsKey { reason } => {
                self.screen = Screen::Welcome;
                self.connection = ConnectionStatus::Unknown;
                self.welcome.busy = false;
                self.welcome.error = reason;
                self.settings_dialog = None;
            }
            Event::Connecting => self.connection = ConnectionStatus::Connecting,
            Event::Connected(connection) => {
                let first = !matches!(self.connection, ConnectionStatus::Connected(_));
                if first {
                    let who = match &connection.organization {
                        Some(org) => format!("{} ({org})", connection.email),
                        None => connection.email.clone(),
                    };
                    let text = if connection.demo {
                        "Offline demo started: uploads go to a local Runflow on this computer."
                            .to_owned()
                    } else {
                        format!("Connected as {who}.")
                    };
                    self.toasts.push(Level::Success, text, now);
                    self.folders = Loadable::Loading;
                    follow_up.push(Command::LoadFolders);
                    let view = self.gallery.view.clone();
                    follow_up.extend(self.gallery.open(view));
                    // The demo keeps a history of its own.
                    self.history.rows = Loadable::NotLoaded;
                    if self.side_panel == SidePanel::History {
                        follow_up.extend(self.history.reload());
                    }
                }
                self.gallery.scopes = connection.scopes.clone();
                self.connection = ConnectionStatus::Connected(connection);
                self.screen = Screen::Main;
                self.welcome = WelcomeState::default();
            }
            Event::ConnectionFailed {
                message,
                key_rejected,
            } => {
                if key_rejected {
                    self.screen = Screen::Welcome;
                    self.welcome.busy = false;
                    self.welcome.error = Some(message.clone());
                } else if self.screen == Screen::Starting {
                    self.screen = Screen::Main;
                }
                self.toasts.push(Level::Error, message.clone(), now);
                self.connection = ConnectionStatus::Failed { message };
            }
            Event::KeyRejected { message } => {
                self.welcome.busy = false;
                self.welcome.error = Some(message.clone());
                if let Some(draft) = &mut self.settings_dialog {
                    draft.error = Some(message);
                }
            }
            Event::KeySaved {
                backend,
                persistent,
            } => {
                let (level, text) = if persistent {
                    (Level::Info, format!("The API key is stored in {backend}."))
                } else {
                    (
                        Level::Error,
                        format!(
                            "No OS keyring is available, so the key is kept in memory only \
                             ({backend}); you will be asked again next time."
                        ),
                    )
                };
                self.toasts.push(level, text, now);
                if let Some(draft) = &mut self.settings_dialog {
                    draft.new_key.clear();
                    draft.error = None;
                }
            }
            Event::KeyRemoved => {
                self.toasts.push(
                    Level::Info,
                    "The API key was removed from this computer.",
                    now,
                );
            }
            Event::Folders(result) => match result {
                Ok(folders) => {
                    let exists = |id: &Option<String>| {
                        id.as_ref()
                            .is_none_or(|id| folders.iter().any(|f| f.id.as_ref() == Some(id)))
                    };
                    // A folder remembered from another account (or deleted elsewhere) is
                    // gone: show the root instead of an error.
                    if !exists(&self.gallery.view.folder_id) {
                        let view = crate::library::ViewSpec {
                            folder_id: None,
                            search: String::new(),
                            ..self.gallery.view.clone()
                        };
                        follow_up.extend(self.gallery.open(view));
                    }
                    if let Some(pinned) = &self.pinned_destination
                        && !exists(pinned)
                    {
                        self.pinned_destination = None;
                    }
                    self.folders = Loadable::Ready(folders);
                }
                Err(message) => self.folders = Loadable::Failed(message),
            },
            Event::FolderCreated(result) => match result {
                Ok(folder) => {
                    let name = folder.name.clone().unwrap_or_default();
                    self.toasts
                        .push(Level::Success, format!("Folder \"{name}\" created."), now);
                    if let Loadable::Ready(folders) = &mut self.folders {
                        folders.push(folder.clone());
                    }
                    let view = crate::library::ViewSpec {
                        folder_id: folder.id.clone(),
                        ..self.gallery.view.clone()
                    };
                    follow_up.extend(self.gallery.open(view));
                }
                Err(message) => self.toasts.push(Level::Error, message, now),
            },
            Event::FolderRenamed(result) => match result {
                Ok(folder) => {
                    if let Loadable::Ready(folders) = &mut self.folders
                        && let Some(slot) = folders.iter_mut().find(|f| f.id == folder.id)
                    {
                        *slot = folder.clone();
                    }
                    let name = folder.name.unwrap_or_default();
                    self.toasts.push(
                        Level::Success,
                        format!("Folder renamed to \"{name}\"."),
                        now,
                    );
                }
                Err(message) => self.toasts.push(Level::Error, message, now),
            },
            Event::FolderDeleted { id, result } => match result {
                Ok(()) => {
                    let mut parent = None;
                    if let Loadable::Ready(folders) = &mut self.folders {
                        parent = folders
                            .iter()
                            .find(|f| f.id.as_deref() == Some(id.as_str()))
                            .and_then(|f| f.parent_id.clone());
                        folders.retain(|f| f.id.as_deref() != Some(id.as_str()));
                    }
                    if self.pinned_destination == Some(Some(id.clone())) {
                        self.pinned_destination = None;
                    }
                    if self.gallery.view.folder_id.as_deref() == Some(id.as_str()) {
                        let view = crate::library::ViewSpec {
                            folder_id: parent,
                            ..self.gallery.view.clone()
                        };
                        follow_up.extend(self.gallery.open(view));
                    }
                    self.toasts.push(Level::Success, "Folder deleted.", now);
                }
                Err(message) => self.toasts.push(Level::Error, message, now),
            },
            Event::AssetsPage { generation, result } => {
                self.gallery.apply_page(generation, result);
            }
            Event::AssetDeleted { id, result } => {
                if let Some((level, text)) = self.gallery.apply_deleted(&id, result) {
                    self.toasts.push(level, text, now);
                }
            }
            Event::AssetMoved { id, result } => {
                if let Some((level, text)) = self.gallery.apply_moved(&id, result) {
                    self.toasts.push(level, text, now);
                }
            }
            Event::AssetFetched { purpose, result } => match result {
                Ok(asset) => self.effects.push(self.asset_effect(purpose, &asset)),
                Err(message) => self.toasts.push(Level::Error, message, now),
            },
            // Textures need the egui context: the window handles thumbnails before `apply`.
            Event::Thumbnail(_) => {}
            Event::EngineRestarted => {
                self.queue.clear();
                self.watches.clear();
            }
            Event::Watch(status) => {
                self.watches.insert(status.dir.clone(), status);
            }
            Event::WatchFolderPicked { dir, folder_id } => {
                follow_up.push(Command::AddWatch(WatchSpec {
                    dir,
                    folder_id,
                    paused: false,
                }));
            }
            Event::Upload(event) => {
                if matches!(event, crate::upload::Event::Added { .. }) {
                    self.side_panel = SidePanel::Uploads;
                }
                self.upload_event(event, now, &mut follow_up);
            }
            Event::Notice { level, message } => self.toasts.push(level, message, now),
            Event::RaiseWindow => self.effects.push(Effect::Raise),
            Event::History { generation, result } => self.history.apply(generation, result),
            Event::Origin { asset_id, upload } => {
                self.gallery.origins.insert(asset_id, upload);
            }
        }
        follow_up
    }

    fn upload_event(
        &mut self,
        event: crate::upload::Event,
        now: f64,
        follow_up: &mut Vec<Command>,
    ) {
        match self.queue.apply(event) {
            Some(Finished::Uploaded(asset, path)) => {
                let asset_id = asset.id.clone();
                let image = asset
                    .mime_type
                    .as_deref()
                    .is_some_and(|m| m.starts_with("image/"));
                if self.gallery.insert_uploaded(*asset, now)
                    && image
                    && let (Some(asset_id), Some(path)) = (asset_id, path)
                {
                    follow_up.push(Command::PreviewLocalFile {
                        asset_id,
                        path,
                        size_px: self.thumb_px,
                    });
                }
            }
            Some(Finished::BatchEnded {
                succeeded,
                failed,
                elsewhere,
                fixable,
            }) => {
                if self.gallery.missed_uploads > 0 {
                    // More uploads than the view takes one by one: show it as Runflow has it.
                    follow_up.extend(self.gallery.reload(false));
                }
                let bytes = human_bytes(self.queue.batch.sent_bytes);
                let (level, text) = batch_ended_text(succeeded, failed, elsewhere, fixable, &bytes);
                self.toasts.push(level, text, now);
                if self.side_panel == SidePanel::History {
                    follow_up.extend(self.history.reload());
                }
                if self.in_background && self.settings.notifies_when_done() {
                    follow_up.extend(batch_notification(succeeded, failed, elsewhere, fixable));
                }
            }
            None => {}
        }
    }

    fn asset_effect(&self, purpose: AssetPurpose, asset: &crate::api::models::Asset) -> Effect {
        let url = asset.url.clone().unwrap_or_default();
        match purpose {
            AssetPurpose::CopyUrl => Effect::Copy {
                text: url,
                notice: "Copied a fresh download link (it expires after a while).".to_owned(),
            },
            AssetPurpose::OpenInBrowser => Effect::OpenUrl(url),
            AssetPurpose::CopyCurl => {
                let base_url = match &self.connection {
                    ConnectionStatus::Connected(c) => c.base_url.clone(),
                    _ => "https://api.runflow.io".to_owned(),
                };
                Effect::Copy {
                    text: curl_snippet(&base_url, asset),
                    notice: "Copied a curl command that starts a run with this asset.".to_owned(),
                }
            }
        }
    }
}

/// The desktop notification at the end of a batch, e.g. "Uploads finished with errors" and
/// "48 uploaded, 2 failed"; none when nothing was uploaded or failed (all cancelled).
fn batch_notification(
    succeeded: usize,
    failed: usize,
    elsewhere: usize,
    fixable: usize,
) -> Option<Command> {
    let mut counts = Vec::new();
    if succeeded > 0 {
        counts.push(format!("{} uploaded", grouped(succeeded)));
    }
    if failed > 0 {
        counts.push(format!("{} failed", grouped(failed)));
    }
    if elsewhere > 0 {
        counts.push(format!("{} already in another folder", grouped(elsewhere)));
    }
    if fixable > 0 {
        counts.push(format!("{} to fix", grouped(fixable)));
    }
    if counts.is_empty() {
        return None;
    }
    let summary = if failed > 0 {
        "Uploads finished with errors"
    } else {
        "Uploads finished"
    };
    Some(Command::NotifyBatchEnded {
        summary: summary.to_owned(),
        body: counts.join(", "),
    })
}

/// The toast at the end of a batch.
fn batch_ended_text(
    succeeded: usize,
    failed: usize,
    elsewhere: usize,
    fixable: usize,
    bytes: &str,
) -> (Level, String) {
    let uploaded = files(succeeded);
    if fixable > 0 {
        let level = if failed > 0 {
            Level::Error
        } else {
            Level::Info
        };
        let failed = if failed > 0 {
            format!(", {failed} failed")
        } else {
            String::new()
        };
        return (
            level,
            format!(
                "{uploaded} uploaded{failed}; Runflow takes {} only as a converted or smaller \
                 copy: choose it in the list, or Fix all.",
                files(fixable)
            ),
        );
    }
    match (failed, elsewhere) {
        (0, 0) if succeeded == 1 => (Level::Success, format!("The file is on Runflow ({bytes}).")),
        (0, 0) => (
            Level::Success,
            format!("All {uploaded} are on Runflow ({bytes})."),
        ),
        (0, _) => (
            Level::Info,
            format!(
                "{uploaded} uploaded; {} already on Runflow in another folder: choose Move \
                 here or Upload a copy in the list.",
                files(elsewhere)
            ),
        ),
        _ => (
            Level::Error,
            format!("{uploaded} uploaded, {failed} failed; see the reasons in the list."),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::models::Asset;
    use crate::desktop::Connection;

    fn connection(demo: bool) -> Connection {
        Connection {
            email: "a@b.c".into(),
            name: None,
            organization: Some("Org".into()),
            base_url: "http://127.0.0.1:1".into(),
            key_source: "test".into(),
            demo,
            scopes: crate::api::KeyScopes::unknown(),
        }
    }

    #[test]
    fn the_end_of_a_batch_counts_in_words_that_agree() {
        let text = |s, f, e| batch_ended_text(s, f, e, 0, "2.0 KiB").1;
        assert_eq!(
            batch_ended_text(2, 1, 0, 3, "2.0 KiB"),
            (
                Level::Error,
                "2 files uploaded, 1 failed; Runflow takes 3 files only as a converted or smaller \
                 copy: choose it in the list, or Fix all."
                    .to_owned()
            )
        );
        assert_eq!(text(1, 0, 0), "The file is on Runflow (2.0 KiB).");
        assert_eq!(
            text(1200, 0, 0),
            "All 1,200 files are on Runflow (2.0 KiB)."
        );
        assert!(text(1, 0, 1).starts_with("1 file uploaded; 1 file already on Runflow"));
        assert_eq!(
            text(2, 1, 0),
            "2 files uploaded, 1 failed; see the reasons in the list."
        );
    }

    #[test]
    fn connecting_loads_folders_and_recent_assets_once() {
        let mut state = AppState::new(true);
        assert_eq!(state.screen, Screen::Starting);
        let follow = state.apply(Event::Connected(connection(false)), 0.0);
        assert_eq!(state.screen, Screen::Main);
        assert!(matches!(follow[0], Command::LoadFolders));
        assert!(matches!(
            follow[1],
            Command::LoadAssets { cursor: None, .. }
        ));
        assert_eq!(state.toasts.items()[0].text, "Connected as a@b.c (Org).");
        let again = state.apply(Event::Connected(connection(false)), 1.0);
        assert!(again.is_empty());
    }

    #[test]
    fn a_rejected_key_goes_back_to_the_welcome_screen_with_the_reason() {
        let mut state = AppState::new(true);
        state.apply(Event::Connected(connection(false)), 0.0);
        state.apply(
            Event::ConnectionFailed {
                message: "Runflow rejected the API key".into(),
                key_rejected: true,
            },
            1.0,
        );
        assert_eq!(state.screen, Screen::Welcome);
        assert_eq!(
            state.welcome.error.as_deref(),
            Some("Runflow rejected the API key")
        );
    }

    #[test]
    fn finished_uploads_join_the_gallery_with_a_local_preview() {
        let mut state = AppState::new(true);
        state.apply(Event::Connected(connection(false)), 0.0);
        let generation = state.gallery.generation;
        state.apply(
            Event::AssetsPage {
                generation,
                result: Ok(crate::desktop::AssetPage {
                    items: Vec::new(),
                    next: None,
                }),
            },
            0.0,
        );
        let asset = Asset {
            id: Some("x".into()),
            mime_type: Some("image/png".into()),
            folder_id: None,
            ..Asset::default()
        };
        state.apply(
            Event::Upload(crate::upload::Event::Added {
                id: crate::upload::FileId(1),
                path: Some("/tmp/a.png".into()),
                name: "a.png".into(),
                size_bytes: Some(1),
                mime_type: None,
                state: crate::upload::FileState::Queued,
                resumed: false,
            }),
            0.0,
        );
        let follow = state.apply(
            Event::Upload(crate::upload::Event::State {
                id: crate::upload::FileId(1),
                state: crate::upload::FileState::Done(Box::new(asset.clone())),
            }),
            0.0,
        );
        // It joins the gallery with the batch of uploads that finished with it.
        state
            .gallery
            .tick(crate::ui::gallery::state::ARRIVAL_BATCH_SECS);
        assert_eq!(state.gallery.items, vec![asset]);
        assert!(matches!(
            &follow[..],
            [Command::PreviewLocalFile { asset_id, .. }] if asset_id == "x"
        ));
    }

    /// A batch of `succeeded` and `failed` files ends.
    fn end_batch(state: &mut AppState, succeeded: usize, failed: usize) -> Vec<Command> {
        state.apply(
            Event::Upload(crate::upload::Event::Batch(crate::upload::BatchProgress {
                succeeded_files: succeeded,
                failed_files: failed,
                ..Default::default()
            })),
            0.0,
        );
        state.apply(Event::Upload(crate::upload::Event::Idle), 0.0)
    }

    #[test]
    fn a_batch_that_ends_in_the_background_is_notified_unless_turned_off() {
        let mut state = AppState::new(true);
        assert!(
            end_batch(&mut state, 48, 2).is_empty(),
            "the window is in front"
        );

        state.in_background = true;
        let follow = end_batch(&mut state, 48, 2);
        assert!(matches!(
            &follow[..],
            [Command::NotifyBatchEnded { summary, body }]
                if summary == "Uploads finished with errors" && body == "48 uploaded, 2 failed"
        ));
        let follow = end_batch(&mut state, 1_200, 0);
        assert!(matches!(
            &follow[..],
            [Command::NotifyBatchEnded { summary, body }]
                if summary == "Uploads finished" && body == "1,200 uploaded"
        ));
        assert!(end_batch(&mut state, 0, 0).is_empty(), "all cancelled");

        state.settings.notify_when_done = Some(false);
        assert!(end_batch(&mut state, 48, 2).is_empty(), "turned off");
    }

    #[test]
    fn a_clicked_notification_raises_the_window() {
        let mut state = AppState::new(true);
        state.apply(Event::RaiseWindow, 0.0);
        assert!(matches!(&state.effects[..], [Effect::Raise]));
    }

    #[test]
    fn a_remembered_folder_that_is_gone_falls_back_to_the_root() {
        let mut state = AppState::new(true);
        let mut settings = Settings::default();
        settings.library_view.folder_id = Some("gone".into());
        settings.default_folder_id = Some("gone-too".into());
        state.apply(Event::Settings(settings), 0.0);
        state.apply(Event::Connected(connection(false)), 0.0);
        assert_eq!(state.gallery.view.folder_id.as_deref(), Some("gone"));
        let follow = state.apply(Event::Folders(Ok(Vec::new())), 0.0);
        assert_eq!(state.gallery.view.folder_id, None);
        assert!(matches!(&follow[0], Command::LoadAssets { view, .. } if view.folder_id.is_none()));
        assert_eq!(state.pinned_destination, None);
        assert_eq!(state.destination(), None);
    }

    #[test]
    fn the_destination_follows_the_folder_shown_unless_pinned() {
        let mut state = AppState::new(true);
        state.gallery.open(crate::library::ViewSpec {
            folder_id: Some("f".into()),
            ..Default::default()
        });
        assert_eq!(state.destination().as_deref(), Some("f"));
        state.pinned_destination = Some(None);
        assert_eq!(state.destination(), None);
    }

    #[test]
    fn a_fetched_asset_becomes_a_clipboard_or_browser_effect() {
        let mut state = AppState::new(true);
        let asset = Asset {
            id: Some("x".into()),
            url: Some("https://s.example/x".into()),
            ..Asset::default()
        };
        for purpose in [AssetPurpose::CopyUrl, AssetPurpose::OpenInBrowser] {
            state.apply(
                Event::AssetFetched {
                    purpose,
                    result: Ok(asset.clone()),
                },
                0.0,
            );
        }
        assert!(
            matches!(&state.effects[0], Effect::Copy { text, .. } if text == "https://s.example/x")
        );
        assert_eq!(
            state.effects[1],
            Effect::OpenUrl("https://s.example/x".into())
        );
    }
}
