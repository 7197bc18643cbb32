//! How the backend is set up, and the settings file's checks and I/O, which the actor uses
//! when it starts and when the window saves the settings.

use std::path::PathBuf;

use crate::api::{self, ApiKey};
use crate::auth::{self, KeyStore, Settings, SettingsError};
use crate::paths;
use crate::upload;

/// How the backend is set up. [`BackendOptions::from_env`] is what the app uses; tests fill the
/// fields themselves so nothing depends on process-wide environment variables.
#[derive(Debug, Clone)]
pub struct BackendOptions {
    /// Start straight in the offline demo, whatever key is stored.
    pub demo: bool,
    /// The upload journal and duplicate index. The demo keeps its own journal in `demo/` and
    /// its server state in `demo-server/` inside it, so demo uploads never mix with real ones.
    pub data_dir: PathBuf,
    /// The settings file.
    pub settings_path: PathBuf,
    /// Disposable caches (thumbnails).
    pub cache_dir: PathBuf,
    /// The value of `RUNFLOW_API_KEY`, which wins over the keyring.
    pub env_api_key: Option<ApiKey>,
    /// The value of `RUNFLOW_BASE_URL`, which wins over the settings.
    pub env_base_url: Option<String>,
    /// The key store; `None` opens [`KeyStore::open`] when it is first needed.
    pub keystore: Option<KeyStore>,
    /// Files uploaded at once, over the settings (e.g. from the command line) until the user
    /// saves a value in the settings.
    pub concurrency_override: Option<usize>,
}

impl BackendOptions {
    /// The app's defaults: [`paths::data_dir`], [`Settings::default_path`], `RUNFLOW_API_KEY`
    /// and `RUNFLOW_BASE_URL` read now, the key store opened on first use.
    pub fn from_env() -> Self {
        Self {
            demo: false,
            data_dir: paths::data_dir(),
            settings_path: Settings::default_path(),
            cache_dir: paths::cache_dir(),
            env_api_key: auth::env_api_key(),
            env_base_url: std::env::var(auth::BASE_URL_ENV).ok(),
            keystore: None,
            concurrency_override: None,
        }
    }

    pub(super) fn engine_dir(&self, demo: bool) -> PathBuf {
        if demo {
            self.data_dir.join("demo")
        } else {
            self.data_dir.clone()
        }
    }
}

/// Why `settings` cannot be saved, if anything.
pub(super) fn settings_problem(settings: &Settings) -> Option<String> {
    if let Some(raw) = settings
        .base_url
        .as_deref()
        .filter(|v| !v.trim().is_empty())
        && let Err(err) = api::parse_base_url(raw)
    {
        return Some(err.to_string());
    }
    if let Some(concurrency) = settings.concurrency
        && !(1..=upload::MAX_CONCURRENCY).contains(&concurrency)
    {
        return Some(format!(
            "files uploaded at once must be between 1 and {}.",
            upload::MAX_CONCURRENCY
        ));
    }
    None
}

/// Reads or writes the settings file on the blocking pool.
pub(super) async fn settings_file<T: Send + 'static>(
    work: impl FnOnce() -> Result<T, SettingsError> + Send + 'static,
) -> Result<T, SettingsError> {
    tokio::task::spawn_blocking(work)
        .await
        .map_err(|e| SettingsError::Task(e.to_string()))?
}
