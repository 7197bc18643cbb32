//! Which API key and which base URL to use: environment first, then the keyring or the
//! settings, then (for the base URL) the default.

use std::fmt;
use std::path::PathBuf;

use url::Url;

use super::keystore::{KeyStore, KeyStoreError};
use super::settings::{Settings, SettingsError};
use crate::api::{self, ApiError, ApiKey};

/// Environment variable holding an API key; when set and non-empty it wins over the keyring.
pub const API_KEY_ENV: &str = "RUNFLOW_API_KEY";
/// Environment variable holding the API base URL; wins over the settings.
pub const BASE_URL_ENV: &str = "RUNFLOW_BASE_URL";

/// Where the API key in use came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeySource {
    /// The `RUNFLOW_API_KEY` environment variable.
    Env,
    /// The key store; carries its [`KeyStore::backend_name`].
    Keyring {
        /// Name of the backend, e.g. `Secret Service`.
        backend: &'static str,
    },
}

impl fmt::Display for KeySource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Env => write!(f, "the {API_KEY_ENV} environment variable"),
            Self::Keyring { backend } => write!(f, "the keyring ({backend})"),
        }
    }
}

/// Where the base URL in use came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BaseUrlSource {
    /// The `RUNFLOW_BASE_URL` environment variable.
    Env,
    /// `base_url` in the settings file at this path.
    Settings(PathBuf),
    /// [`api::DEFAULT_BASE_URL`].
    Default,
}

impl fmt::Display for BaseUrlSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Env => write!(f, "the {BASE_URL_ENV} environment variable"),
            Self::Settings(path) => write!(f, "base_url in {}", path.display()),
            Self::Default => f.write_str("the default"),
        }
    }
}

/// Finding the key or the base URL failed.
#[derive(Debug, thiserror::Error)]
pub enum ResolveError {
    /// Neither the environment nor the key store has a key.
    #[error(
        "no API key found ({API_KEY_ENV} is not set and the keyring, {backend}, holds none); run \
         `runflow-uploader login` or set {API_KEY_ENV}; create a key in the Runflow dashboard \
         under Settings > API Keys"
    )]
    NoApiKey {
        /// Name of the key store's backend.
        backend: &'static str,
    },

    /// The key store failed.
    #[error(transparent)]
    KeyStore(#[from] KeyStoreError),

    /// The settings could not be read.
    #[error(transparent)]
    Settings(#[from] SettingsError),

    /// The base URL is not usable.
    #[error("the Runflow base URL from {origin} is not usable: {error}")]
    BadBaseUrl {
        /// Where the bad value came from.
        origin: BaseUrlSource,
        /// Why it is refused.
        error: ApiError,
    },
}

/// `RUNFLOW_API_KEY` as a key, when set and non-blank.
pub fn env_api_key() -> Option<ApiKey> {
    std::env::var(API_KEY_ENV).ok().and_then(ApiKey::new)
}

/// Finds the API key: `RUNFLOW_API_KEY` when set and non-blank, else the key store opened with
/// [`KeyStore::open`].
pub async fn resolve_api_key() -> Result<(ApiKey, KeySource), ResolveError> {
    if let Some(key) = env_api_key() {
        return Ok((key, KeySource::Env));
    }
    let store = KeyStore::open().await?;
    resolve_api_key_with(None, &store).await
}

/// Finds the API key from an explicit environment value and key store (for tests and the UI,
/// which keeps its own store).
pub async fn resolve_api_key_with(
    env_key: Option<ApiKey>,
    store: &KeyStore,
) -> Result<(ApiKey, KeySource), ResolveError> {
    if let Some(key) = env_key {
        return Ok((key, KeySource::Env));
    }
    match store.load().await? {
        Some(key) => Ok((
            key,
            KeySource::Keyring {
                backend: store.backend_name(),
            },
        )),
        None => Err(ResolveError::NoApiKey {
            backend: store.backend_name(),
        }),
    }
}

/// Finds and validates the base URL: `RUNFLOW_BASE_URL`, else `settings.base_url` (read from
/// [`Settings::default_path`]), else [`api::DEFAULT_BASE_URL`].
pub fn resolve_base_url(settings: &Settings) -> Result<(Url, BaseUrlSource), ResolveError> {
    let env = std::env::var(BASE_URL_ENV).ok();
    resolve_base_url_with(env.as_deref(), settings, Settings::default_path())
}

/// Like [`resolve_base_url`] with an explicit environment value and settings path. Blank values
/// count as unset.
pub fn resolve_base_url_with(
    env_value: Option<&str>,
    settings: &Settings,
    settings_path: PathBuf,
) -> Result<(Url, BaseUrlSource), ResolveError> {
    let nonblank = |v: &&str| !v.trim().is_empty();
    let (raw, origin) = if let Some(value) = env_value.filter(nonblank) {
        (value, BaseUrlSource::Env)
    } else if let Some(value) = settings.base_url.as_deref().filter(nonblank) {
        (value, BaseUrlSource::Settings(settings_path))
    } else {
        (api::DEFAULT_BASE_URL, BaseUrlSource::Default)
    };
    match api::parse_base_url(raw) {
        Ok(url) => Ok((url, origin)),
        Err(error) => Err(ResolveError::BadBaseUrl { origin, error }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings_with(base_url: Option<&str>) -> Settings {
        Settings {
            base_url: base_url.map(str::to_owned),
            ..Settings::default()
        }
    }

    #[test]
    fn base_url_prefers_env_then_settings_then_default() {
        let path = PathBuf::from("/tmp/settings.json");
        let settings = settings_with(Some("http://127.0.0.1:9000"));

        let (url, origin) =
            resolve_base_url_with(Some("http://localhost:8787"), &settings, path.clone()).unwrap();
        assert_eq!(url.as_str(), "http://localhost:8787/");
        assert_eq!(origin, BaseUrlSource::Env);

        let (url, origin) = resolve_base_url_with(Some("  "), &settings, path.clone()).unwrap();
        assert_eq!(url.as_str(), "http://127.0.0.1:9000/");
        assert_eq!(origin, BaseUrlSource::Settings(path.clone()));

        let (url, origin) =
            resolve_base_url_with(None, &Settings::default(), path.clone()).unwrap();
        assert_eq!(url.as_str(), "https://api.runflow.io/");
        assert_eq!(origin, BaseUrlSource::Default);
    }

    #[test]
    fn bad_base_urls_name_their_source() {
        let path = PathBuf::from("/cfg/settings.json");
        let err = resolve_base_url_with(Some("http://example.com"), &Settings::default(), path)
            .unwrap_err()
            .to_string();
        assert!(err.contains("RUNFLOW_BASE_URL"), "{err}");
        assert!(err.contains("only https://"), "{err}");

        let path = PathBuf::from("/cfg/settings.json");
        let err = resolve_base_url_with(None, &settings_with(Some("ftp://x")), path)
            .unwrap_err()
            .to_string();
        assert!(err.contains("base_url in /cfg/settings.json"), "{err}");
    }

    #[tokio::test]
    async fn key_prefers_env_then_store_and_explains_when_missing() {
        let store = KeyStore::memory(format!("resolve-{}", uuid::Uuid::new_v4()));
        let err = resolve_api_key_with(None, &store).await.unwrap_err();
        let text = err.to_string();
        assert!(text.contains("runflow-uploader login"), "{text}");
        assert!(text.contains("RUNFLOW_API_KEY"), "{text}");
        assert!(text.contains("Settings > API Keys"), "{text}");

        let stored = ApiKey::new("rf_stored").unwrap();
        store.save(&stored).await.unwrap();
        let (key, source) = resolve_api_key_with(None, &store).await.unwrap();
        assert_eq!(key, stored);
        assert!(matches!(source, KeySource::Keyring { .. }));

        let env = ApiKey::new("rf_env").unwrap();
        let (key, source) = resolve_api_key_with(Some(env.clone()), &store)
            .await
            .unwrap();
        assert_eq!((key, source), (env, KeySource::Env));
    }
}
