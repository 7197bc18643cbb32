//! Connecting: finding the key, checking it, starting the offline demo, storing or deleting the
//! key. Each is an async function that reports to the window through the sink and hands back
//! a [`Done`]. The actor runs one at a time as its task in flight, then applies the `Done`
//! (`Actor::finish`): it keeps what the task opened, installs a checked connection and
//! (re)starts the upload engine for it.

use std::path::PathBuf;
use std::time::Duration;

use super::protocol::{Event, Level};
use super::sink::Sink;
use super::target::{Target, check_failed_message, key_not_saved_message};
use crate::api::models::CurrentUser;
use crate::api::{ApiError, ApiKey};
use crate::auth::{self, KeySource, KeyStore, ResolveError};
use crate::emulator::{EmulatorConfig, RunningEmulator};

/// How long the demo server may take to stop.
const EMULATOR_STOP_TIMEOUT: Duration = Duration::from_secs(3);
/// [`Connection::key_source`](super::Connection::key_source) of the demo.
const DEMO_KEY_SOURCE: &str = "the offline demo";
/// [`Connection::key_source`](super::Connection::key_source) of a key that works but could not
/// be stored.
const UNSAVED_KEY_SOURCE: &str = "the key you entered (not saved)";

/// What a finished connection task hands back to the actor.
#[derive(Default)]
pub(super) struct Done {
    /// A key store the task opened, to keep.
    pub(super) store: Option<KeyStore>,
    /// A demo server the task started, to keep.
    pub(super) emulator: Option<RunningEmulator>,
    pub(super) outcome: Outcome,
}

#[derive(Default)]
pub(super) enum Outcome {
    /// Nothing changes (the task already reported).
    #[default]
    Nothing,
    /// `GET /v1/auth/me` was tried.
    Checked(Box<Check>),
    /// The stored key was deleted: disconnect.
    KeyRemoved,
}

/// A connection check: `GET /v1/auth/me` was tried with `target`. `restart` asks for a fresh
/// engine even when one is running.
pub(super) struct Check {
    pub(super) target: Target,
    pub(super) result: Result<CurrentUser, ApiError>,
    pub(super) restart: bool,
}

impl Outcome {
    fn checked(target: Target, result: Result<CurrentUser, ApiError>, restart: bool) -> Self {
        Self::Checked(Box::new(Check {
            target,
            result,
            restart,
        }))
    }
}

/// Checks `target` and says what to do with the answer.
async fn checked(target: Target, restart: bool) -> Outcome {
    let result = target.check().await;
    Outcome::checked(target, result, restart)
}

/// Where a real connection goes: the effective API base (or why it is not usable) and the
/// extra CA certificate to trust.
pub(super) struct Endpoint {
    pub(super) base_url: Result<String, String>,
    pub(super) ca_cert_file: Option<PathBuf>,
}

impl Endpoint {
    fn target(self, key: ApiKey, key_source: String) -> Result<Target, String> {
        let ca_cert_file = self.ca_cert_file;
        self.base_url
            .and_then(|url| Target::new(key, key_source, false, &url, ca_cert_file))
    }
}

/// Finds the key (`env_key` from `RUNFLOW_API_KEY`, else the keyring) and checks it, or asks
/// for a key.
pub(super) async fn resolve(
    sink: Sink,
    env_key: Option<ApiKey>,
    store: Option<KeyStore>,
    endpoint: Endpoint,
) -> Done {
    let (key, source, store) = match env_key {
        Some(key) => (key, KeySource::Env, store),
        None => {
            let store = match open_store(store).await {
                Ok(store) => store,
                Err(err) => {
                    sink.emit(Event::NeedsKey {
                        reason: Some(err.to_string()),
                    });
                    return Done::default();
                }
            };
            match auth::resolve_api_key_with(None, &store).await {
                Ok((key, source)) => (key, source, Some(store)),
                Err(err) => {
                    let reason = match err {
                        ResolveError::NoApiKey { .. } => None,
                        other => Some(other.to_string()),
                    };
                    sink.emit(Event::NeedsKey { reason });
                    return Done {
                        store: Some(store),
                        ..Done::default()
                    };
                }
            }
        }
    };
    sink.emit(Event::Connecting);
    let outcome = match endpoint.target(key, source.to_string()) {
        Ok(target) => checked(target, true).await,
        Err(message) => {
            sink.emit(Event::ConnectionFailed {
                message,
                key_rejected: false,
            });
            Outcome::Nothing
        }
    };
    Done {
        store,
        emulator: None,
        outcome,
    }
}

/// Starts the demo server (or uses `running`, the one kept from before) and checks it.
pub(super) async fn demo(
    sink: Sink,
    running: Option<Result<Target, String>>,
    server_dir: PathBuf,
) -> Done {
    let (target, emulator) = match running {
        Some(target) => (target, None),
        None => {
            let config = EmulatorConfig {
                demo_data: true,
                data_dir: Some(server_dir.clone()),
                ..EmulatorConfig::default()
            };
            match RunningEmulator::start(config).await {
                Ok(emulator) => (demo_target(&emulator), Some(emulator)),
                Err(err) => {
                    let why = format!(
                        "{err:#}. If this keeps happening, delete {} and try again.",
                        server_dir.display()
                    );
                    (Err(why), None)
                }
            }
        }
    };
    let outcome = match target {
        Ok(target) => checked(target, true).await,
        Err(why) => {
            sink.emit(Event::ConnectionFailed {
                message: format!("The offline demo could not start: {why}"),
                key_rejected: false,
            });
            Outcome::Nothing
        }
    };
    Done {
        store: None,
        emulator,
        outcome,
    }
}

/// Checks `key` first; only an accepted key is stored and connected with. `env_key_set` says
/// `RUNFLOW_API_KEY` will win over it at the next start.
pub(super) async fn save_key(
    sink: Sink,
    key: ApiKey,
    store: Option<KeyStore>,
    endpoint: Endpoint,
    env_key_set: bool,
) -> Done {
    let mut target = match endpoint.target(key, String::new()) {
        Ok(target) => target,
        Err(message) => {
            sink.emit(Event::KeyRejected { message });
            return Done::default();
        }
    };
    let user = match target.check().await {
        Ok(user) => user,
        Err(err) => {
            sink.emit(Event::KeyRejected {
                message: key_not_saved_message(&err),
            });
            return Done::default();
        }
    };
    let store = open_store(store).await;
    let saved = match &store {
        Ok(store) => store
            .save(target.key())
            .await
            .map(|()| store)
            .map_err(|e| e.to_string()),
        Err(err) => Err(err.to_string()),
    };
    target.key_source = match saved {
        Ok(store) => {
            sink.emit(Event::KeySaved {
                backend: store.backend_name().to_owned(),
                persistent: store.is_persistent(),
            });
            KeySource::Keyring {
                backend: store.backend_name(),
            }
            .to_string()
        }
        Err(err) => {
            sink.notice(
                Level::Error,
                format!(
                    "The key works, but it could not be saved: {err}. It is used until the app \
                     closes."
                ),
            );
            UNSAVED_KEY_SOURCE.to_owned()
        }
    };
    if env_key_set {
        sink.notice(
            Level::Info,
            format!(
                "{} is set, so the app uses it instead of the saved key the next time it starts.",
                auth::API_KEY_ENV
            ),
        );
    }
    sink.emit(Event::Connecting);
    Done {
        store: store.ok(),
        emulator: None,
        outcome: Outcome::checked(target, Ok(user), true),
    }
}

/// Deletes the stored key.
pub(super) async fn remove_key(sink: Sink, store: Option<KeyStore>) -> Done {
    let store = open_store(store).await;
    let deleted = match &store {
        Ok(store) => store.delete().await.map_err(|e| e.to_string()),
        Err(err) => Err(err.to_string()),
    };
    let outcome = match deleted {
        Ok(_) => {
            sink.emit(Event::KeyRemoved);
            Outcome::KeyRemoved
        }
        Err(err) => {
            sink.notice(
                Level::Error,
                format!("The stored key could not be removed: {err}"),
            );
            Outcome::Nothing
        }
    };
    Done {
        store: store.ok(),
        emulator: None,
        outcome,
    }
}

/// Checks `target` with `GET /v1/auth/me`.
pub(super) async fn check(target: Target, restart: bool) -> Done {
    Done {
        outcome: checked(target, restart).await,
        ..Done::default()
    }
}

/// The check failed: the message for the window, and whether the key itself was refused.
pub(super) fn failure(target: &Target, err: &ApiError) -> (String, bool) {
    let key_rejected = matches!(err, ApiError::Unauthorized { .. });
    let mut message = check_failed_message(err);
    if key_rejected && target.key_source == KeySource::Env.to_string() {
        message.push_str(&format!(
            " The key comes from the {} environment variable: set it to a valid key, or unset \
             it to use a saved one.",
            auth::API_KEY_ENV
        ));
    }
    (message, key_rejected)
}

/// Stops the demo server, giving up after [`EMULATOR_STOP_TIMEOUT`].
pub(super) async fn stop_emulator(emulator: RunningEmulator) {
    let _ = tokio::time::timeout(EMULATOR_STOP_TIMEOUT, emulator.shutdown()).await;
}

async fn open_store(store: Option<KeyStore>) -> Result<KeyStore, auth::KeyStoreError> {
    match store {
        Some(store) => Ok(store),
        None => KeyStore::open().await,
    }
}

pub(super) fn demo_target(emulator: &RunningEmulator) -> Result<Target, String> {
    let key = emulator
        .api_keys()
        .first()
        .cloned()
        .and_then(ApiKey::new)
        .ok_or_else(|| "the demo server has no API key".to_owned())?;
    // The demo serves plain http on loopback: no CA to trust.
    Target::new(
        key,
        DEMO_KEY_SOURCE.to_owned(),
        true,
        &emulator.api_base(),
        None,
    )
}
