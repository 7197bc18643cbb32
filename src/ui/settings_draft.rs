//! The settings dialog's working copy: what the fields hold while the dialog is open, and the
//! settings they make once saved.

use crate::api::parse_base_url;
use crate::auth::{Settings, Theme};
use crate::upload::{self, MAX_CONCURRENCY};

use super::typed_key::TypedKey;

/// The dialog's working copy of the settings.
#[derive(Debug, Clone, PartialEq)]
pub struct SettingsDraft {
    /// API base URL (empty = default).
    pub base_url: String,
    /// Files at once.
    pub concurrency: usize,
    /// Colour theme.
    pub theme: Theme,
    /// Default destination folder.
    pub default_folder_id: Option<String>,
    /// Keep the computer awake while uploading.
    pub keep_awake: bool,
    /// Notify when a batch ends in the background.
    pub notify_when_done: bool,
    /// Convert images of types Runflow does not take without asking.
    pub convert_automatically: bool,
    /// Extra CA certificate file (empty = none).
    pub ca_cert_file: String,
    /// A replacement key being typed.
    pub new_key: TypedKey,
    /// Show the replacement key in clear.
    pub show_key: bool,
    /// Why the last save or key change failed.
    pub error: Option<String>,
    /// "Remove key" was clicked once and awaits confirmation.
    pub confirm_remove: bool,
    /// Where the files of the next watch folder added go (`None` = root).
    pub watch_folder_id: Option<String>,
}

impl SettingsDraft {
    /// A draft of `settings`.
    pub fn new(settings: &Settings) -> Self {
        Self {
            base_url: settings.base_url.clone().unwrap_or_default(),
            concurrency: settings
                .concurrency
                .unwrap_or(upload::DEFAULT_CONCURRENCY)
                .clamp(1, MAX_CONCURRENCY),
            theme: settings.theme,
            default_folder_id: settings.default_folder_id.clone(),
            keep_awake: settings.keeps_awake(),
            notify_when_done: settings.notifies_when_done(),
            convert_automatically: settings.convert_automatically,
            ca_cert_file: settings
                .ca_cert_file
                .as_ref()
                .map(|p| p.display().to_string())
                .unwrap_or_default(),
            new_key: TypedKey::default(),
            show_key: false,
            error: None,
            confirm_remove: false,
            watch_folder_id: settings.default_folder_id.clone(),
        }
    }

    /// The settings to save, or why the draft is invalid.
    pub fn to_settings(&self, current: &Settings) -> Result<Settings, String> {
        let base_url = match self.base_url.trim() {
            "" => None,
            raw => Some(
                parse_base_url(raw)
                    .map_err(|e| e.to_string())?
                    .as_str()
                    .trim_end_matches('/')
                    .to_owned(),
            ),
        };
        // Whether the file is a usable certificate is checked when the settings are saved,
        // off the UI thread.
        let ca_cert_file = match self.ca_cert_file.trim() {
            "" => None,
            raw => Some(std::path::PathBuf::from(raw)),
        };
        Ok(Settings {
            base_url,
            ca_cert_file,
            concurrency: Some(self.concurrency),
            theme: self.theme,
            default_folder_id: self.default_folder_id.clone(),
            keep_awake: Some(self.keep_awake),
            notify_when_done: Some(self.notify_when_done),
            convert_automatically: self.convert_automatically,
            ..current.clone()
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn drafts_validate_the_base_url() {
        let current = Settings::default();
        let mut draft = SettingsDraft::new(&current);
        assert_eq!(draft.to_settings(&current).unwrap().base_url, None);
        draft.base_url = "http://api.example.com".into();
        assert!(draft.to_settings(&current).unwrap_err().contains("https"));
        draft.base_url = "http://127.0.0.1:8787/".into();
        assert_eq!(
            draft.to_settings(&current).unwrap().base_url.as_deref(),
            Some("http://127.0.0.1:8787")
        );
    }

    #[test]
    fn a_typed_key_never_shows_in_debug_output() {
        let mut draft = SettingsDraft::new(&Settings::default());
        draft.new_key = "rf_live_typed_secret".into();
        assert!(!format!("{draft:?}").contains("typed_secret"));
        let welcome = super::super::welcome::WelcomeState {
            key_input: "rf_live_typed_secret".into(),
            ..Default::default()
        };
        assert!(!format!("{welcome:?}").contains("typed_secret"));
    }

    #[test]
    fn keep_awake_and_notifications_are_on_until_turned_off() {
        let current = Settings::default();
        let mut draft = SettingsDraft::new(&current);
        assert!(draft.keep_awake && draft.notify_when_done);
        draft.keep_awake = false;
        let saved = draft.to_settings(&current).unwrap();
        assert!(!saved.keeps_awake());
        assert!(saved.notifies_when_done());
        assert!(!SettingsDraft::new(&saved).keep_awake);
    }

    #[test]
    fn drafts_keep_the_ca_file() {
        let current = Settings {
            ca_cert_file: Some("/etc/ca.pem".into()),
            ..Settings::default()
        };
        let mut draft = SettingsDraft::new(&current);
        assert_eq!(draft.ca_cert_file, "/etc/ca.pem");
        draft.ca_cert_file = "  ".into();
        assert_eq!(draft.to_settings(&current).unwrap().ca_cert_file, None);
        draft.ca_cert_file = " /tmp/other.pem ".into();
        assert_eq!(
            draft.to_settings(&current).unwrap().ca_cert_file,
            Some("/tmp/other.pem".into())
        );
    }
}
