//! Everything the window shows, and how backend events change it. Pure: no I/O, no egui calls,
//! so every transition is unit-testable.

use crate::api::models::{Asset, Folder};
use crate::auth::Settings;
use crate::desktop::{Command, Connection, Event, Level};
use crate::upload::human_bytes;

use super::queue::{Finished, QueueState};
use super::settings::SettingsDraft;
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

/// Something loaded in the background.
#[derive(Debug, Clone, PartialEq, Default)]
pub enum Loadable<T> {
    /// Not asked for yet.
    #[default]
    NotLoaded,
    /// On its way.
    Loading,
    /// Here.
    Ready(T),
    /// Could not be loaded, and why.
    Failed(String),
}

/// The connection as the status line shows it.
#[derive(Debug, Clone, PartialEq, Default)]
pub enum ConnectionStatus {
    /// Nothing tried yet.
    #[default]
    Unknown,
    /// Connecting.
    Connecting,
    /// Connected.
    Connected(Connection),
    /// Not connected, and why.
    Failed {
        /// What happened and what to do.
        message: String,
    },
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
    /// Every folder, for the destination picker.
    pub folders: Loadable<Vec<Folder>>,
    /// Where new uploads go (`None` = root).
    pub destination: Option<String>,
    /// The newest assets in the destination.
    pub recent: Loadable<Vec<Asset>>,
    /// Messages in the corner.
    pub toasts: Toasts,
    /// The welcome screen's form.
    pub welcome: WelcomeState,
    /// The settings dialog, while open.
    pub settings_dialog: Option<SettingsDraft>,
    /// The "new folder" dialog's name, while open.
    pub new_folder: Option<String>,
    /// Whether files can be dropped on the window (not on native Wayland).
    pub drag_and_drop: bool,
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
            destination: None,
            recent: Loadable::NotLoaded,
            toasts: Toasts::default(),
            welcome: WelcomeState::default(),
            settings_dialog: None,
            new_folder: None,
            drag_and_drop,
        }
    }

    /// Whether the built-in demo is connected.
    pub fn is_demo(&self) -> bool {
        matches!(&self.connection, ConnectionStatus::Connected(c) if c.demo)
    }

    /// Applies a backend event at time `now` (seconds); returns commands to send in response.
    pub fn apply(&mut self, event: Event, now: f64) -> Vec<Command> {
        let mut follow_up = Vec::new();
        match event {
            Event::Settings(settings) => {
                if self.destination.is_none() {
                    self.destination = settings.default_folder_id.clone();
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
                    self.recent = Loadable::Loading;
                    follow_up.push(Command::LoadFolders);
                    follow_up.push(Command::LoadRecentAssets {
                        folder_id: self.destination.clone(),
                    });
                }
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
            Event::Folders(result) => {
                self.folders = match result {
                    Ok(folders) => Loadable::Ready(folders),
                    Err(message) => Loadable::Failed(message),
                };
            }
            Event::FolderCreated(result) => match result {
                Ok(folder) => {
                    self.toasts.push(
                        Level::Success,
                        format!(
                            "Folder \"{}\" created; new uploads go there.",
                            folder.name.clone().unwrap_or_default()
                        ),
                        now,
                    );
                    if let Loadable::Ready(folders) = &mut self.folders {
                        folders.push(folder.clone());
                    }
                    self.destination = folder.id.clone();
                    self.recent = Loadable::Ready(Vec::new());
                }
                Err(message) => self.toasts.push(Level::Error, message, now),
            },
            Event::RecentAssets { folder_id, result } => {
                if folder_id == self.destination {
                    self.recent = match result {
                        Ok(assets) => Loadable::Ready(assets),
                        Err(message) => Loadable::Failed(message),
                    };
                }
            }
            Event::EngineRestarted => self.queue.clear(),
            Event::Upload(event) => match self.queue.apply(event) {
                Some(Finished::Uploaded(asset)) => {
                    if let Loadable::Ready(recent) = &mut self.recent
                        && asset.folder_id == self.destination
                    {
                        recent.insert(0, *asset);
                    }
                }
                Some(Finished::BatchEnded { succeeded, failed }) => {
                    let bytes = human_bytes(self.queue.batch.sent_bytes);
                    let (level, text) = if failed == 0 {
                        (
                            Level::Success,
                            format!("All {succeeded} files are on Runflow ({bytes})."),
                        )
                    } else {
                        (
                            Level::Error,
                            format!(
                                "{succeeded} files uploaded, {failed} failed; see the reasons \
                                 in the list."
                            ),
                        )
                    };
                    self.toasts.push(level, text, now);
                }
                None => {}
            },
            Event::Notice { level, message } => self.toasts.push(level, message, now),
        }
        follow_up
    }

    /// Switches the destination folder; returns the command that loads its assets.
    pub fn set_destination(&mut self, folder_id: Option<String>) -> Command {
        self.destination = folder_id.clone();
        self.recent = Loadable::Loading;
        Command::LoadRecentAssets { folder_id }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn connection(demo: bool) -> Connection {
        Connection {
            email: "a@b.c".into(),
            name: None,
            organization: Some("Org".into()),
            base_url: "http://127.0.0.1:1".into(),
            key_source: "test".into(),
            demo,
        }
    }

    #[test]
    fn connecting_loads_folders_and_recent_assets_once() {
        let mut state = AppState::new(true);
        assert_eq!(state.screen, Screen::Starting);
        let follow = state.apply(Event::Connected(connection(false)), 0.0);
        assert_eq!(state.screen, Screen::Main);
        assert_eq!(follow.len(), 2);
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
    fn finished_uploads_join_the_recent_list_of_their_folder() {
        let mut state = AppState::new(true);
        state.recent = Loadable::Ready(Vec::new());
        let asset = Asset {
            id: Some("x".into()),
            folder_id: None,
            ..Asset::default()
        };
        state.apply(
            Event::Upload(crate::upload::Event::Added {
                id: crate::upload::FileId(1),
                path: None,
                name: "a.png".into(),
                size_bytes: Some(1),
                mime_type: None,
                state: crate::upload::FileState::Queued,
                resumed: false,
            }),
            0.0,
        );
        state.apply(
            Event::Upload(crate::upload::Event::State {
                id: crate::upload::FileId(1),
                state: crate::upload::FileState::Done(Box::new(asset.clone())),
            }),
            0.0,
        );
        assert_eq!(state.recent, Loadable::Ready(vec![asset]));
    }
}
