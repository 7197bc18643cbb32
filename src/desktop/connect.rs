//! Connecting: finding the key, checking it, starting the offline demo, storing or deleting the
//! key. Each runs as the actor's one task in flight and hands back a [`Done`]; applying it
//! (`Actor::finish`) installs a checked connection and (re)starts the upload engine for it.

use std::time::Duration;

use tokio::task::JoinError;

use super::backend::{Actor, NOT_CONNECTED};
use super::protocol::{Event, Level};
use super::target::{Target, check_failed_message, key_not_saved_message};
use crate::api::models::CurrentUser;
use crate::api::{ApiError, ApiKey};
use crate::auth::{self, KeySource, KeyStore, ResolveError};
use crate::emulator::{EmulatorConfig, RunningEmulator};
use crate::upload::{AccountScope, EngineConfig};

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
    store: Option<KeyStore>,
    /// A demo server the task started, to keep.
    emulator: Option<RunningEmulator>,
    outcome: Outcome,
}

#[derive(Default)]
enum Outcome {
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
struct Check {
    target: Target,
    result: Result<CurrentUser, ApiError>,
    restart: bool,
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
async fn check(target: Target, restart: bool) -> Outcome {
    let result = target.check().await;
    Outcome::checked(target, result, restart)
}

impl Actor {
    /// Finds the key (`RUNFLOW_API_KEY`, else the keyring) and connects, or asks for a key.
    pub(super) fn resolve_and_connect(&mut self) {
        let sink = self.sink.clone();
        let env_key = self.options.env_api_key.clone();
        let store = self.store.clone();
        let base_url = self.base_url();
        let ca_cert_file = self.settings.ca_cert_file.clone();
        self.busy = Some(tokio::spawn(async move {
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
            let outcome = match base_url
                .and_then(|url| Target::new(key, source.to_string(), false, &url, ca_cert_file))
            {
                Ok(target) => check(target, true).await,
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
        }));
    }

    pub(super) fn start_demo(&mut self) {
        self.engine.stop();
        self.sink.emit(Event::Connecting);
        let sink = self.sink.clone();
        let running = self.emulator.as_ref().map(demo_target);
        let server_dir = self.options.data_dir.join("demo-server");
        self.busy = Some(tokio::spawn(async move {
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
                Ok(target) => check(target, true).await,
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
        }));
    }

    /// Checks the key first; only an accepted key is stored and connected with.
    pub(super) fn save_key(&mut self, key: ApiKey) {
        let sink = self.sink.clone();
        let store = self.store.clone();
        let base_url = self.base_url();
        let ca_cert_file = self.settings.ca_cert_file.clone();
        let env_key_set = self.options.env_api_key.is_some();
        self.busy = Some(tokio::spawn(async move {
            let mut target = match base_url
                .and_then(|url| Target::new(key, String::new(), false, &url, ca_cert_file))
            {
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
                            "The key works, but it could not be saved: {err}. It is used until \
                             the app closes."
                        ),
                    );
                    UNSAVED_KEY_SOURCE.to_owned()
                }
            };
            if env_key_set {
                sink.notice(
                    Level::Info,
                    format!(
                        "{} is set, so the app uses it instead of the saved key the next time \
                         it starts.",
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
        }));
    }

    pub(super) fn remove_key(&mut self) {
        let sink = self.sink.clone();
        let store = self.store.clone();
        self.busy = Some(tokio::spawn(async move {
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
        }));
    }

    pub(super) fn test_connection(&mut self) {
        let Some(target) = self.target.clone() else {
            self.sink.notice(Level::Info, NOT_CONNECTED);
            return;
        };
        // Without an engine this is a fresh connection attempt; with one, only a check.
        let restart = !self.engine.is_running();
        self.check(target, restart);
    }

    /// Checks `target` with `GET /v1/auth/me` in a task.
    pub(super) fn check(&mut self, target: Target, restart: bool) {
        if restart {
            self.sink.emit(Event::Connecting);
        }
        self.busy = Some(tokio::spawn(async move {
            Done {
                outcome: check(target, restart).await,
                ..Done::default()
            }
        }));
    }

    /// Applies the result of a connection task.
    pub(super) async fn finish(&mut self, done: Result<Done, JoinError>) {
        let done = done.unwrap_or_else(|err| {
            tracing::error!(%err, "a backend task failed");
            self.sink.notice(
                Level::Error,
                format!("Something went wrong inside the app ({err}). Try again."),
            );
            Done::default()
        });
        if let Some(store) = done.store {
            self.store = Some(store);
        }
        if let Some(emulator) = done.emulator {
            self.emulator = Some(emulator);
        }
        match done.outcome {
            Outcome::Nothing => {}
            Outcome::Checked(check) => match *check {
                Check {
                    target,
                    result: Ok(user),
                    restart,
                } => self.install(target, &user, restart).await,
                Check {
                    target,
                    result: Err(err),
                    ..
                } => self.connection_failed(target, &err),
            },
            Outcome::KeyRemoved => {
                self.engine.stop_and_wait().await;
                self.target = None;
                self.thumbs = None;
                self.sink.emit(Event::NeedsKey { reason: None });
                if self.options.env_api_key.is_some() {
                    self.sink.notice(
                        Level::Info,
                        format!(
                            "{} is still set, so the app uses that key the next time it \
                             starts; unset it to sign out completely.",
                            auth::API_KEY_ENV
                        ),
                    );
                }
            }
        }
    }

    /// The check failed: keep `target` so `TestConnection` can try again, and say why.
    fn connection_failed(&mut self, target: Target, err: &ApiError) {
        let key_rejected = matches!(err, ApiError::Unauthorized { .. });
        let mut message = check_failed_message(err);
        if key_rejected && target.key_source == KeySource::Env.to_string() {
            message.push_str(&format!(
                " The key comes from the {} environment variable: set it to a valid key, or \
                 unset it to use a saved one.",
                auth::API_KEY_ENV
            ));
        }
        tracing::warn!(%err, "the connection check failed");
        self.target = Some(target);
        self.thumbs = None;
        self.sink.emit(Event::ConnectionFailed {
            message,
            key_rejected,
        });
    }

    /// Connected with `target`: (re)start the engine when needed and tell the window.
    async fn install(&mut self, target: Target, user: &CurrentUser, restart: bool) {
        let connection = target.connection(user);
        tracing::info!(base_url = %connection.base_url, demo = target.demo, "connected");
        if restart || !self.engine.is_running() {
            let config = EngineConfig {
                concurrency: self.concurrency(),
                account: Some(AccountScope::of(&target.client, user)),
                // An earlier run's unfinished uploads wait under Uploads for Resume or Discard.
                hold_earlier: true,
                ..EngineConfig::new(self.options.engine_dir(target.demo))
            };
            self.engine.restart(target.client.clone(), config).await;
            self.sink.emit(Event::EngineRestarted);
        }
        let demo = target.demo;
        self.target = Some(target);
        self.thumbs = None;
        self.sink.emit(Event::Connected(connection));
        if !demo && let Some(emulator) = self.emulator.take() {
            self.tasks.spawn(stop_emulator(emulator));
        }
    }
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

fn demo_target(emulator: &RunningEmulator) -> Result<Target, String> {
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
