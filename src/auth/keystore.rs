//! The API key in the OS keyring (Secret Service on Linux, Keychain on macOS, Credential Manager
//! on Windows), with an in-memory fallback for machines that have none.
//!
//! Keyring calls block (they talk D-Bus or a system API and may wait for an unlock prompt), so
//! every call runs on tokio's blocking pool and never on an async worker or the UI thread.

use std::collections::HashMap;
use std::fmt;
use std::sync::{LazyLock, Mutex, PoisonError};
use std::time::Duration;

use crate::api::ApiKey;

/// Service name of the keyring entry.
pub const SERVICE: &str = "runflow-uploader";
/// Account (user) name of the keyring entry holding the API key.
pub const DEFAULT_ACCOUNT: &str = "api-key";
/// Chooses the backend: `auto` (default: the OS keyring when reachable, else in-memory), `os`
/// (the OS keyring or an error) or `memory` (never touch the OS keyring; tests use this).
pub const BACKEND_ENV: &str = "RUNFLOW_UPLOADER_KEYRING";
/// Overrides the keyring account name, so tests against a real keyring never touch the user's
/// own key.
pub const ACCOUNT_ENV: &str = "RUNFLOW_UPLOADER_KEYRING_ACCOUNT";

/// How long the check for a reachable OS keyring may take before the in-memory store is used.
/// A missing Secret Service fails in milliseconds; this only bounds a bus that never answers.
const PROBE_TIMEOUT: Duration = Duration::from_secs(3);

/// Name of the OS keyring on this platform.
#[cfg(target_os = "linux")]
const OS_BACKEND_NAME: &str = "Secret Service";
#[cfg(target_os = "macos")]
const OS_BACKEND_NAME: &str = "macOS Keychain";
#[cfg(windows)]
const OS_BACKEND_NAME: &str = "Windows Credential Manager";
#[cfg(not(any(target_os = "linux", target_os = "macos", windows)))]
const OS_BACKEND_NAME: &str = "OS keyring (not supported on this platform)";

const MEMORY_FALLBACK_NAME: &str =
    "in-memory (no OS keyring available; the key lasts only while the app runs)";
const MEMORY_CHOSEN_NAME: &str =
    "in-memory (chosen by RUNFLOW_UPLOADER_KEYRING=memory; the key lasts only while the app runs)";

/// The in-memory store, shared by every [`KeyStore`] of the process and keyed by account.
static MEMORY: LazyLock<Mutex<HashMap<String, ApiKey>>> = LazyLock::new(Mutex::default);

/// Which backend [`KeyStore::open_with`] should use.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum BackendChoice {
    /// The OS keyring when it answers, else the in-memory store (with a logged warning and a
    /// [`KeyStore::fallback_reason`]).
    #[default]
    Auto,
    /// The OS keyring; opening fails when it is not reachable.
    Os,
    /// The in-memory store only.
    Memory,
}

impl BackendChoice {
    /// Parses `auto`, `os` or `memory` (case-insensitive; empty means `auto`).
    pub fn parse(value: &str) -> Result<Self, KeyStoreError> {
        match value.trim().to_ascii_lowercase().as_str() {
            "" | "auto" => Ok(Self::Auto),
            "os" => Ok(Self::Os),
            "memory" => Ok(Self::Memory),
            _ => Err(KeyStoreError::InvalidChoice(value.to_owned())),
        }
    }

    /// The choice from [`BACKEND_ENV`], `Auto` when unset.
    pub fn from_env() -> Result<Self, KeyStoreError> {
        std::env::var(BACKEND_ENV).map_or(Ok(Self::Auto), |value| Self::parse(&value))
    }
}

/// The backend a [`KeyStore`] ended up with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BackendKind {
    /// The OS keyring: the key survives restarts.
    Os,
    /// The process-wide in-memory store: the key is gone when the app exits.
    Memory,
}

/// What a keyring call was doing when it failed, for messages.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyOperation {
    /// Reading the key.
    Load,
    /// Storing the key.
    Save,
    /// Removing the key.
    Delete,
}

impl fmt::Display for KeyOperation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Load => "read",
            Self::Save => "store",
            Self::Delete => "remove",
        })
    }
}

/// Everything the key store can fail with; each message says what to do.
#[derive(Debug, thiserror::Error)]
pub enum KeyStoreError {
    /// [`BACKEND_ENV`] holds an unknown value.
    #[error(
        "RUNFLOW_UPLOADER_KEYRING is \"{0}\", which is not a keyring backend; set it to auto, os \
         or memory, or unset it"
    )]
    InvalidChoice(String),

    /// The OS keyring was required but is not reachable.
    #[error(
        "the OS keyring ({backend}) is not available: {reason}. Start or unlock your keyring \
         (on Linux a Secret Service such as gnome-keyring or KWallet), or set RUNFLOW_API_KEY \
         instead"
    )]
    Unavailable {
        /// Name of the OS keyring.
        backend: &'static str,
        /// Why it could not be used.
        reason: String,
    },

    /// The keyring refused access, usually because it is locked.
    #[error(
        "the OS keyring ({backend}) refused to {operation} the API key ({detail}). It may be \
         locked: unlock it (for example by logging in to your desktop session) and try again, \
         or set RUNFLOW_API_KEY instead"
    )]
    Locked {
        /// Name of the OS keyring.
        backend: &'static str,
        /// What was being done.
        operation: KeyOperation,
        /// The keyring's own message.
        detail: String,
    },

    /// More than one keyring item matches the entry.
    #[error(
        "several items in the OS keyring ({backend}) match service \"runflow-uploader\", \
         account \"{account}\"; delete them with your keyring manager (e.g. Seahorse or \
         Keychain Access) and run `runflow-uploader login` again"
    )]
    Ambiguous {
        /// Name of the OS keyring.
        backend: &'static str,
        /// The entry's account name.
        account: String,
    },

    /// The stored secret is not UTF-8.
    #[error(
        "the API key stored in the OS keyring ({backend}) is not valid text; run \
         `runflow-uploader login` to store it again"
    )]
    BadEncoding {
        /// Name of the OS keyring.
        backend: &'static str,
    },

    /// Any other keyring failure.
    #[error(
        "the OS keyring ({backend}) could not {operation} the API key: {detail}. Try again; if \
         it keeps failing, set RUNFLOW_API_KEY instead"
    )]
    Platform {
        /// Name of the OS keyring.
        backend: &'static str,
        /// What was being done.
        operation: KeyOperation,
        /// The keyring's own message.
        detail: String,
    },

    /// The blocking task running the keyring call panicked or was cancelled.
    #[error("the keyring call did not finish ({0}); try again")]
    Task(String),
}

/// Where the API key is kept: the OS keyring or, without one, memory.
///
/// Cheap to clone. All methods that touch the keyring are async and run the blocking call on
/// tokio's blocking pool.
#[derive(Debug, Clone)]
pub struct KeyStore {
    kind: BackendKind,
    account: String,
    fallback_reason: Option<String>,
    chosen_memory: bool,
}

impl KeyStore {
    /// Opens the store chosen by [`BACKEND_ENV`] (default `auto`) for the account from
    /// [`ACCOUNT_ENV`] (default [`DEFAULT_ACCOUNT`]).
    pub async fn open() -> Result<Self, KeyStoreError> {
        let account = std::env::var(ACCOUNT_ENV)
            .ok()
            .filter(|a| !a.trim().is_empty())
            .unwrap_or_else(|| DEFAULT_ACCOUNT.to_owned());
        Self::open_with(BackendChoice::from_env()?, account).await
    }

    /// Opens a store for `account` with an explicit backend choice. With [`BackendChoice::Auto`]
    /// the OS keyring is probed (a quick read of the entry) and used whenever it answers, even
    /// if locked; only an unreachable keyring selects the in-memory store.
    pub async fn open_with(
        choice: BackendChoice,
        account: impl Into<String>,
    ) -> Result<Self, KeyStoreError> {
        let account = account.into();
        match choice {
            BackendChoice::Memory => Ok(Self {
                chosen_memory: true,
                ..Self::memory(account)
            }),
            BackendChoice::Os => match probe_os(&account).await {
                Ok(()) => Ok(Self::os(account)),
                Err(reason) => Err(KeyStoreError::Unavailable {
                    backend: OS_BACKEND_NAME,
                    reason,
                }),
            },
            BackendChoice::Auto => match probe_os(&account).await {
                Ok(()) => Ok(Self::os(account)),
                Err(reason) => {
                    tracing::warn!(
                        %reason,
                        "no OS keyring is reachable; the API key is kept in memory only"
                    );
                    Ok(Self {
                        fallback_reason: Some(reason),
                        ..Self::memory(account)
                    })
                }
            },
        }
    }

    /// An in-memory store for `account`, shared by the whole process. Nothing is persisted.
    pub fn memory(account: impl Into<String>) -> Self {
        Self {
            kind: BackendKind::Memory,
            account: account.into(),
            fallback_reason: None,
            chosen_memory: false,
        }
    }

    fn os(account: String) -> Self {
        Self {
            kind: BackendKind::Os,
            account,
            fallback_reason: None,
            chosen_memory: false,
        }
    }

    /// Which backend is active.
    pub fn kind(&self) -> BackendKind {
        self.kind
    }

    /// Whether the key survives a restart of the app.
    pub fn is_persistent(&self) -> bool {
        self.kind == BackendKind::Os
    }

    /// A name for the active backend to show the user, e.g. `Secret Service` or
    /// `in-memory (no OS keyring available; the key lasts only while the app runs)`.
    pub fn backend_name(&self) -> &'static str {
        match self.kind {
            BackendKind::Os => OS_BACKEND_NAME,
            BackendKind::Memory if self.chosen_memory => MEMORY_CHOSEN_NAME,
            BackendKind::Memory => MEMORY_FALLBACK_NAME,
        }
    }

    /// Why the OS keyring is not used, when `auto` fell back to memory.
    pub fn fallback_reason(&self) -> Option<&str> {
        self.fallback_reason.as_deref()
    }

    /// The keyring account name of the entry.
    pub fn account(&self) -> &str {
        &self.account
    }

    /// Reads the stored key; `None` when there is none.
    pub async fn load(&self) -> Result<Option<ApiKey>, KeyStoreError> {
        match self.kind {
            BackendKind::Memory => Ok(memory_map().get(&self.account).cloned()),
            BackendKind::Os => {
                let account = self.account.clone();
                let secret = blocking(move || os::load(&account)).await??;
                let key = secret.and_then(ApiKey::new);
                Ok(key)
            }
        }
    }

    /// Stores `key`, replacing any previous one.
    pub async fn save(&self, key: &ApiKey) -> Result<(), KeyStoreError> {
        match self.kind {
            BackendKind::Memory => {
                memory_map().insert(self.account.clone(), key.clone());
                Ok(())
            }
            BackendKind::Os => {
                let account = self.account.clone();
                let key = key.clone();
                blocking(move || os::save(&account, &key)).await?
            }
        }
    }

    /// Removes the stored key. Returns whether there was one; a missing key is not an error.
    pub async fn delete(&self) -> Result<bool, KeyStoreError> {
        match self.kind {
            BackendKind::Memory => Ok(memory_map().remove(&self.account).is_some()),
            BackendKind::Os => {
                let account = self.account.clone();
                blocking(move || os::delete(&account)).await?
            }
        }
    }
}

fn memory_map() -> std::sync::MutexGuard<'static, HashMap<String, ApiKey>> {
    // A panic while holding the lock cannot leave a HashMap half-updated in a way that matters
    // here, so a poisoned lock is simply taken over.
    MEMORY.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Runs a blocking keyring call on tokio's blocking pool.
async fn blocking<T: Send + 'static>(
    call: impl FnOnce() -> T + Send + 'static,
) -> Result<T, KeyStoreError> {
    tokio::task::spawn_blocking(call)
        .await
        .map_err(|e| KeyStoreError::Task(e.to_string()))
}

/// Checks that the OS keyring answers, within [`PROBE_TIMEOUT`]. `Err` carries the reason.
async fn probe_os(account: &str) -> Result<(), String> {
    let account = account.to_owned();
    match tokio::time::timeout(PROBE_TIMEOUT, blocking(move || os::probe(&account))).await {
        Ok(Ok(result)) => result,
        Ok(Err(task)) => Err(task.to_string()),
        Err(_) => Err(format!(
            "the keyring did not answer within {} s",
            PROBE_TIMEOUT.as_secs()
        )),
    }
}

#[cfg(any(target_os = "linux", target_os = "macos", windows))]
mod os {
    //! The real OS keyring through `keyring-core` and the platform's store: the Secret Service
    //! over zbus (the D-Bus stack accesskit brings too), Keychain Services, or the Windows
    //! Credential Manager. Every function here blocks.

    use std::sync::Arc;

    use keyring_core::api::CredentialStore;
    use keyring_core::{Entry, Error};

    use super::{KeyOperation, KeyStoreError, OS_BACKEND_NAME, SERVICE};
    use crate::api::ApiKey;

    /// The platform's store, opened for each call: a keyring that starts (or restarts) after
    /// the app is found then, not cached away as missing.
    fn platform_store() -> keyring_core::Result<Arc<CredentialStore>> {
        #[cfg(target_os = "linux")]
        let store: Arc<CredentialStore> = zbus_secret_service_keyring_store::Store::new()?;
        #[cfg(target_os = "macos")]
        let store: Arc<CredentialStore> = apple_native_keyring_store::keychain::Store::new()?;
        #[cfg(windows)]
        let store: Arc<CredentialStore> = windows_native_keyring_store::Store::new()?;
        Ok(store)
    }

    fn open(account: &str) -> keyring_core::Result<Entry> {
        Entry::new_in_store(&platform_store()?, SERVICE, account)
    }

    fn entry(account: &str, operation: KeyOperation) -> Result<Entry, KeyStoreError> {
        open(account).map_err(|e| map_error(e, account, operation))
    }

    /// Reads the entry once. Any answer from the keyring, including "no such entry", "locked"
    /// or "ambiguous", proves it is reachable; only a platform failure (no D-Bus session, no
    /// Secret Service provider) means it is not.
    pub(super) fn probe(account: &str) -> Result<(), String> {
        let entry = open(account).map_err(|e| e.to_string())?;
        match entry.get_password() {
            Ok(_) | Err(Error::NoEntry | Error::Ambiguous(_) | Error::NoStorageAccess(_)) => Ok(()),
            Err(Error::BadEncoding(_)) => Ok(()),
            Err(other) => Err(other.to_string()),
        }
    }

    pub(super) fn load(account: &str) -> Result<Option<String>, KeyStoreError> {
        match entry(account, KeyOperation::Load)?.get_password() {
            Ok(secret) => Ok(Some(secret)),
            Err(Error::NoEntry) => Ok(None),
            Err(err) => Err(map_error(err, account, KeyOperation::Load)),
        }
    }

    pub(super) fn save(account: &str, key: &ApiKey) -> Result<(), KeyStoreError> {
        entry(account, KeyOperation::Save)?
            .set_password(key.expose())
            .map_err(|e| map_error(e, account, KeyOperation::Save))
    }

    pub(super) fn delete(account: &str) -> Result<bool, KeyStoreError> {
        match entry(account, KeyOperation::Delete)?.delete_credential() {
            Ok(()) => Ok(true),
            Err(Error::NoEntry) => Ok(false),
            Err(err) => Err(map_error(err, account, KeyOperation::Delete)),
        }
    }

    fn map_error(err: Error, account: &str, operation: KeyOperation) -> KeyStoreError {
        let backend = OS_BACKEND_NAME;
        match err {
            Error::NoStorageAccess(detail) => KeyStoreError::Locked {
                backend,
                operation,
                detail: detail.to_string(),
            },
            Error::Ambiguous(_) => KeyStoreError::Ambiguous {
                backend,
                account: account.to_owned(),
            },
            Error::BadEncoding(_) => KeyStoreError::BadEncoding { backend },
            Error::PlatformFailure(detail) if is_locked(&detail.to_string()) => {
                KeyStoreError::Locked {
                    backend,
                    operation,
                    detail: detail.to_string(),
                }
            }
            other => KeyStoreError::Platform {
                backend,
                operation,
                detail: other.to_string(),
            },
        }
    }

    /// gnome-keyring answers a write to a locked collection with a D-Bus `IsLocked` error,
    /// which the keyring crate reports as a platform failure.
    fn is_locked(detail: &str) -> bool {
        detail.contains("IsLocked") || detail.contains("locked collection")
    }
}

#[cfg(not(any(target_os = "linux", target_os = "macos", windows)))]
mod os {
    //! No OS keyring on this platform: every call reports it unavailable.

    use super::{KeyOperation, KeyStoreError, OS_BACKEND_NAME};
    use crate::api::ApiKey;

    const REASON: &str = "this platform has no supported OS keyring";

    pub(super) fn probe(_account: &str) -> Result<(), String> {
        Err(REASON.to_owned())
    }

    fn unsupported(operation: KeyOperation) -> KeyStoreError {
        KeyStoreError::Platform {
            backend: OS_BACKEND_NAME,
            operation,
            detail: REASON.to_owned(),
        }
    }

    pub(super) fn load(_account: &str) -> Result<Option<String>, KeyStoreError> {
        Err(unsupported(KeyOperation::Load))
    }

    pub(super) fn save(_account: &str, _key: &ApiKey) -> Result<(), KeyStoreError> {
        Err(unsupported(KeyOperation::Save))
    }

    pub(super) fn delete(_account: &str) -> Result<bool, KeyStoreError> {
        Err(unsupported(KeyOperation::Delete))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backend_choices_parse() {
        assert_eq!(BackendChoice::parse("").unwrap(), BackendChoice::Auto);
        assert_eq!(BackendChoice::parse("AUTO").unwrap(), BackendChoice::Auto);
        assert_eq!(BackendChoice::parse(" os ").unwrap(), BackendChoice::Os);
        assert_eq!(
            BackendChoice::parse("memory").unwrap(),
            BackendChoice::Memory
        );
        let err = BackendChoice::parse("file").unwrap_err();
        assert!(err.to_string().contains("auto, os or memory"), "{err}");
    }

    #[tokio::test]
    async fn memory_store_round_trips_and_is_shared_per_account() {
        let account = format!("unit-{}", uuid::Uuid::new_v4());
        let store = KeyStore::open_with(BackendChoice::Memory, account.clone())
            .await
            .unwrap();
        assert_eq!(store.kind(), BackendKind::Memory);
        assert!(!store.is_persistent());
        assert!(store.backend_name().contains("in-memory"));
        assert_eq!(store.load().await.unwrap(), None);

        let key = ApiKey::new("rf_test_memory").unwrap();
        store.save(&key).await.unwrap();
        // A second store for the same account sees the key; another account does not.
        assert_eq!(
            KeyStore::memory(account.clone()).load().await.unwrap(),
            Some(key)
        );
        assert_eq!(KeyStore::memory("other").load().await.unwrap(), None);

        assert!(store.delete().await.unwrap());
        assert!(!store.delete().await.unwrap());
        assert_eq!(store.load().await.unwrap(), None);
    }

    #[test]
    fn messages_say_what_to_do() {
        let err = KeyStoreError::Locked {
            backend: "Secret Service",
            operation: KeyOperation::Save,
            detail: "Cannot create an item in a locked collection".into(),
        };
        let text = err.to_string();
        assert!(text.contains("refused to store the API key"), "{text}");
        assert!(text.contains("RUNFLOW_API_KEY"), "{text}");
    }
}
