//! User settings in `settings.json` under [`paths::config_dir`]. The API key is never stored
//! here: it lives in the OS keyring (see [`super::KeyStore`]).

use std::path::{Path, PathBuf};

use serde::{Deserialize, Deserializer, Serialize};

use crate::library::ViewSpec;
use crate::paths;

fn is_default_view(view: &ViewSpec) -> bool {
    *view == ViewSpec::default()
}

/// File name of the settings inside the config dir.
pub const SETTINGS_FILE: &str = "settings.json";

/// The colour theme of the desktop app.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Theme {
    /// Follow the operating system.
    #[default]
    System,
    /// Always light.
    Light,
    /// Always dark.
    Dark,
}

impl<'de> Deserialize<'de> for Theme {
    /// Reads `system`, `light` or `dark`; anything else (a theme of a newer version, a typo) is
    /// `System`, so one odd value never makes the whole file unreadable.
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let value = Option::<serde_json::Value>::deserialize(deserializer)?;
        Ok(match value.as_ref().and_then(serde_json::Value::as_str) {
            Some("light") => Self::Light,
            Some("dark") => Self::Dark,
            _ => Self::System,
        })
    }
}

/// The user's settings. Every field is optional in the file; fields this version does not know
/// are kept in [`Settings::extra`] and written back unchanged, so an older app never erases what
/// a newer one saved.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Settings {
    /// API base URL, e.g. `https://api.runflow.io`; `RUNFLOW_BASE_URL` overrides it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub base_url: Option<String>,
    /// How many files to upload at once.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub concurrency: Option<usize>,
    /// The colour theme.
    pub theme: Theme,
    /// Folder new uploads go to; `None` is the root.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub default_folder_id: Option<String>,
    /// A CA certificate (PEM) to trust on top of the system's, for TLS inspection or the
    /// emulator's `--tls`; `RUNFLOW_CA_CERT` adds more.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ca_cert_file: Option<PathBuf>,
    /// The gallery's last view (folder, search, type filter, sort), restored at start-up.
    #[serde(skip_serializing_if = "is_default_view")]
    pub library_view: ViewSpec,
    /// Whether the computer is kept from sleeping while files upload; `None` is yes.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub keep_awake: Option<bool>,
    /// Whether a batch that ends while the window is in the background says so in a desktop
    /// notification; `None` is yes.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub notify_when_done: Option<bool>,
    /// Whether images of types Runflow does not take (HEIC, TIFF, ...) are converted and
    /// uploaded without asking; off unless turned on.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub convert_automatically: bool,
    /// Folders whose new and changed files upload on their own (Settings > Watch folders).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub watch_folders: Vec<crate::watch::WatchSpec>,
    /// Fields this version does not know, preserved on save.
    #[serde(flatten)]
    pub extra: serde_json::Map<String, serde_json::Value>,
}

/// Reading or writing the settings file failed.
#[derive(Debug, thiserror::Error)]
pub enum SettingsError {
    /// The file exists but could not be read.
    #[error("could not read the settings file {}: {source}. Check its permissions", path.display())]
    Read {
        /// The settings file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The file is not valid settings JSON.
    #[error(
        "the settings file {} is not valid ({source}). Fix it, or delete it to start again from \
         the defaults",
        path.display()
    )]
    Parse {
        /// The settings file.
        path: PathBuf,
        /// The JSON error.
        source: serde_json::Error,
    },
    /// The file could not be written.
    #[error(
        "could not save the settings to {}: {source}. Check that the directory is writable and \
         the disk is not full",
        path.display()
    )]
    Write {
        /// The settings file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The blocking task reading or writing the file did not finish.
    #[error("the settings file task did not finish ({0}); try again")]
    Task(String),
}

impl Settings {
    /// Whether uploads keep the computer awake (on unless turned off).
    pub fn keeps_awake(&self) -> bool {
        self.keep_awake.unwrap_or(true)
    }

    /// Whether a batch's end is notified on the desktop (on unless turned off).
    pub fn notifies_when_done(&self) -> bool {
        self.notify_when_done.unwrap_or(true)
    }

    /// Where the settings live: `settings.json` in [`paths::config_dir`].
    pub fn default_path() -> PathBuf {
        paths::config_dir().join(SETTINGS_FILE)
    }

    /// Reads the settings from [`Settings::default_path`] on the blocking pool; a missing file
    /// gives the defaults.
    pub async fn load() -> Result<Self, SettingsError> {
        let path = Self::default_path();
        tokio::task::spawn_blocking(move || Self::load_from(&path))
            .await
            .map_err(|e| SettingsError::Task(e.to_string()))?
    }

    /// Writes the settings to [`Settings::default_path`] on the blocking pool, atomically.
    pub async fn save(&self) -> Result<(), SettingsError> {
        let path = Self::default_path();
        let settings = self.clone();
        tokio::task::spawn_blocking(move || settings.save_to(&path))
            .await
            .map_err(|e| SettingsError::Task(e.to_string()))?
    }

    /// Reads settings from `path` (blocking); a missing or empty file gives the defaults.
    pub fn load_from(path: &Path) -> Result<Self, SettingsError> {
        let text = match std::fs::read_to_string(path) {
            Ok(text) => text,
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => return Ok(Self::default()),
            Err(source) => {
                return Err(SettingsError::Read {
                    path: path.to_owned(),
                    source,
                });
            }
        };
        if text.trim().is_empty() {
            return Ok(Self::default());
        }
        serde_json::from_str(&text).map_err(|source| SettingsError::Parse {
            path: path.to_owned(),
            source,
        })
    }

    /// Writes settings to `path` (blocking) atomically ([`crate::atomic::write`], durable), so
    /// a crash never leaves a half-written file.
    pub fn save_to(&self, path: &Path) -> Result<(), SettingsError> {
        let write_error = |source| SettingsError::Write {
            path: path.to_owned(),
            source,
        };
        let dir = path.parent().unwrap_or_else(|| Path::new("."));
        std::fs::create_dir_all(dir).map_err(write_error)?;
        let mut json =
            serde_json::to_vec_pretty(self).map_err(|e| write_error(std::io::Error::other(e)))?;
        json.push(b'\n');
        crate::atomic::write(path, &json, true).map_err(write_error)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn missing_or_empty_file_gives_defaults() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(SETTINGS_FILE);
        assert_eq!(Settings::load_from(&path).unwrap(), Settings::default());
        std::fs::write(&path, "  \n").unwrap();
        assert_eq!(Settings::load_from(&path).unwrap(), Settings::default());
    }

    #[test]
    fn save_then_load_round_trips_and_keeps_unknown_fields() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("nested").join(SETTINGS_FILE);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(
            &path,
            r#"{"base_url":"http://127.0.0.1:8787","theme":"solarized","window":{"w":800}}"#,
        )
        .unwrap();
        let mut settings = Settings::load_from(&path).unwrap();
        assert_eq!(settings.base_url.as_deref(), Some("http://127.0.0.1:8787"));
        assert_eq!(settings.theme, Theme::System, "unknown themes fall back");
        assert_eq!(settings.extra["window"]["w"], 800);

        settings.concurrency = Some(4);
        settings.theme = Theme::Dark;
        settings.ca_cert_file = Some(PathBuf::from("/etc/ssl/private-ca.pem"));
        settings.save_to(&path).unwrap();
        let again = Settings::load_from(&path).unwrap();
        assert_eq!(again, settings);
        assert_eq!(again.extra["window"]["w"], 800);

        // Only the settings file is left: the temporary file was renamed away.
        let names: Vec<_> = std::fs::read_dir(path.parent().unwrap())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names, vec![std::ffi::OsString::from(SETTINGS_FILE)]);
    }

    #[test]
    fn broken_file_names_the_path_and_the_fix() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(SETTINGS_FILE);
        std::fs::write(&path, "{not json").unwrap();
        let err = Settings::load_from(&path).unwrap_err().to_string();
        assert!(err.contains(&path.display().to_string()), "{err}");
        assert!(err.contains("delete it"), "{err}");
    }

    #[test]
    fn settings_have_no_place_for_the_key() {
        let json = serde_json::to_string(&Settings::default()).unwrap();
        assert_eq!(json, r#"{"theme":"system"}"#);
    }
}
