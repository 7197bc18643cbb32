//! The API key and the settings.
//!
//! - [`KeyStore`]: the key in the OS keyring (Secret Service, macOS Keychain, Windows Credential
//!   Manager), or in memory where no keyring is reachable. Every call runs on tokio's blocking
//!   pool. `RUNFLOW_UPLOADER_KEYRING=auto|os|memory` picks the backend ([`BACKEND_ENV`]).
//! - [`resolve_api_key`]: `RUNFLOW_API_KEY` first, then the keyring; [`KeySource`] says which.
//! - [`Settings`]: `settings.json` in the config dir (never the key), and
//!   [`resolve_base_url`]: `RUNFLOW_BASE_URL`, then the settings, then the default.

mod keystore;
mod resolve;
mod settings;

pub use keystore::{
    ACCOUNT_ENV, BACKEND_ENV, BackendChoice, BackendKind, DEFAULT_ACCOUNT, KeyOperation, KeyStore,
    KeyStoreError, SERVICE,
};
pub use resolve::{
    API_KEY_ENV, BASE_URL_ENV, BaseUrlSource, KeySource, ResolveError, env_api_key,
    resolve_api_key, resolve_api_key_with, resolve_base_url, resolve_base_url_with,
};
pub use settings::{SETTINGS_FILE, Settings, SettingsError, Theme};
