//! The window's backend: one actor task on the app's runtime that owns the key store, the
//! settings, the connection, the upload engine and the offline demo. The window sends
//! [`Command`]s through a [`BackendHandle`] and drains [`Event`]s; every event sent is followed
//! by a call to the waker (the window passes `ctx.request_repaint`).
//!
//! Anything slow (keyring calls, network checks, starting the demo server, reading the
//! clipboard) runs in a spawned task, so the actor keeps answering. Commands that change the
//! connection run one at a time: those arriving while one is in flight wait in a queue.

use std::collections::{HashSet, VecDeque};
use std::future::pending;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use tokio::sync::mpsc;
use tokio::task::{JoinHandle, JoinSet};

use super::protocol::{Command, Connection, Event, Level};
use crate::api::models::{CurrentUser, Folder};
use crate::api::{self, ApiError, ApiKey, ClientConfig, Filter, ListQuery, RunflowClient};
use crate::auth::{self, KeySource, KeyStore, ResolveError, Settings};
use crate::emulator::{EmulatorConfig, RunningEmulator};
use crate::paths;
use crate::upload::{self, EngineConfig, EngineHandle, Waker};

/// How long a stopping upload engine may take to release its journal.
const ENGINE_STOP_TIMEOUT: Duration = Duration::from_secs(3);
/// How long the demo server may take to stop.
const EMULATOR_STOP_TIMEOUT: Duration = Duration::from_secs(3);
/// Folders per page when listing them all (the API's maximum).
const FOLDER_PAGE_LIMIT: u32 = 500;
/// A guard against a server whose cursors never end.
const MAX_FOLDER_PAGES: usize = 200;
/// Assets shown as "recent" for a folder.
const RECENT_ASSETS_LIMIT: u32 = 100;
/// [`Connection::key_source`] of the demo.
const DEMO_KEY_SOURCE: &str = "the offline demo";
/// [`Connection::key_source`] of a key that works but could not be stored.
const UNSAVED_KEY_SOURCE: &str = "the key you entered (not saved)";
/// Why a command that needs a connection did nothing.
const NOT_CONNECTED: &str =
    "Not connected to Runflow yet: add an API key or start the offline demo first.";

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
            env_api_key: auth::env_api_key(),
            env_base_url: std::env::var(auth::BASE_URL_ENV).ok(),
            keystore: None,
            concurrency_override: None,
        }
    }

    fn engine_dir(&self, demo: bool) -> PathBuf {
        if demo {
            self.data_dir.join("demo")
        } else {
            self.data_dir.clone()
        }
    }
}

/// Sends [`Command`]s to the backend. Cheap to clone.
#[derive(Debug, Clone)]
pub struct BackendHandle {
    commands: mpsc::UnboundedSender<Command>,
}

impl BackendHandle {
    /// Sends a command; `false` when the backend has ended.
    pub fn send(&self, command: Command) -> bool {
        self.commands.send(command).is_ok()
    }
}

/// Starts the backend on `runtime`. Send [`Command::Start`] first. The event channel closes
/// once the backend has ended, after [`Command::Shutdown`] or when every handle is dropped.
pub fn spawn(
    runtime: &tokio::runtime::Handle,
    mut options: BackendOptions,
    waker: Waker,
) -> (BackendHandle, mpsc::UnboundedReceiver<Event>) {
    let (command_tx, command_rx) = mpsc::unbounded_channel();
    let (event_tx, event_rx) = mpsc::unbounded_channel();
    let actor = Actor {
        store: options.keystore.take(),
        options,
        sink: Sink {
            events: event_tx,
            waker,
        },
        settings: Settings::default(),
        target: None,
        engine: None,
        stopping: Vec::new(),
        emulator: None,
        busy: None,
        queued: VecDeque::new(),
        tasks: JoinSet::new(),
    };
    runtime.spawn(actor.run(command_rx));
    (
        BackendHandle {
            commands: command_tx,
        },
        event_rx,
    )
}

/// Sends events and wakes the window after each.
#[derive(Clone)]
struct Sink {
    events: mpsc::UnboundedSender<Event>,
    waker: Waker,
}

impl Sink {
    fn emit(&self, event: Event) {
        if self.events.send(event).is_ok() {
            (self.waker)();
        }
    }

    fn notice(&self, level: Level, message: impl Into<String>) {
        self.emit(Event::Notice {
            level,
            message: message.into(),
        });
    }
}

/// A client together with what the window shows about it.
#[derive(Clone)]
struct Target {
    client: RunflowClient,
    /// Kept to rebuild the client when the base URL changes. Never shown or logged.
    key: ApiKey,
    key_source: String,
    demo: bool,
}

impl Target {
    fn new(key: ApiKey, key_source: String, demo: bool, base_url: &str) -> Result<Self, ApiError> {
        let client = RunflowClient::new(
            key.clone(),
            ClientConfig {
                base_url: base_url.to_owned(),
                ..ClientConfig::default()
            },
        )?;
        Ok(Self {
            client,
            key,
            key_source,
            demo,
        })
    }

    fn connection(&self, user: &CurrentUser) -> Connection {
        let name = [&user.first_name, &user.last_name]
            .into_iter()
            .flatten()
            .map(|part| part.trim())
            .filter(|part| !part.is_empty())
            .collect::<Vec<_>>()
            .join(" ");
        Connection {
            email: user.email.clone().unwrap_or_default(),
            name: (!name.is_empty()).then_some(name),
            organization: user
                .memberships
                .iter()
                .find_map(|m| m.org.as_ref().and_then(|org| org.name.clone())),
            base_url: self
                .client
                .base_url()
                .as_str()
                .trim_end_matches('/')
                .to_owned(),
            key_source: self.key_source.clone(),
            demo: self.demo,
        }
    }
}

/// A running upload engine.
struct Engine {
    handle: EngineHandle,
    events: mpsc::UnboundedReceiver<upload::Event>,
}

/// What a finished connection task hands back to the actor.
#[derive(Default)]
struct Done {
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

struct Actor {
    options: BackendOptions,
    sink: Sink,
    settings: Settings,
    store: Option<KeyStore>,
    /// The client in use, or the last one tried (so `TestConnection` can try again).
    target: Option<Target>,
    engine: Option<Engine>,
    /// Engines told to shut down, until their event channel closes.
    stopping: Vec<JoinHandle<()>>,
    /// The demo server, kept while the demo may be used again.
    emulator: Option<RunningEmulator>,
    /// The connection task in flight, if any.
    busy: Option<JoinHandle<Done>>,
    /// Connection commands that arrived while `busy`.
    queued: VecDeque<Command>,
    /// Listing, folder and paste tasks; aborted at shutdown so the event channel closes.
    tasks: JoinSet<()>,
}

impl Actor {
    async fn run(mut self, mut commands: mpsc::UnboundedReceiver<Command>) {
        loop {
            tokio::select! {
                command = commands.recv() => match command {
                    None | Some(Command::Shutdown) => break,
                    Some(command) => self.handle(command).await,
                },
                done = busy_done(&mut self.busy) => {
                    self.busy = None;
                    self.finish(done).await;
                    while self.busy.is_none()
                        && let Some(command) = self.queued.pop_front()
                    {
                        self.handle(command).await;
                    }
                }
                event = engine_event(&mut self.engine) => match event {
                    Some(event) => self.sink.emit(Event::Upload(event)),
                    None => {
                        self.engine = None;
                        self.sink.notice(
                            Level::Error,
                            "The upload engine stopped. Use Test connection to start it again.",
                        );
                    }
                },
                Some(_) = self.tasks.join_next(), if !self.tasks.is_empty() => {}
            }
        }
        // Refuse further commands at once, then wind down.
        drop(commands);
        self.shutdown().await;
    }

    async fn handle(&mut self, command: Command) {
        let changes_connection = matches!(
            command,
            Command::Start
                | Command::StartDemo
                | Command::SaveKey(_)
                | Command::RemoveKey
                | Command::TestConnection
                | Command::SaveSettings(_)
        );
        if changes_connection && self.busy.is_some() {
            self.queued.push_back(command);
            return;
        }
        match command {
            Command::Start => self.start().await,
            Command::StartDemo => self.start_demo(),
            Command::SaveKey(key) => self.save_key(key),
            Command::RemoveKey => self.remove_key(),
            Command::TestConnection => self.test_connection(),
            Command::SaveSettings(settings) => self.save_settings(settings).await,
            Command::LoadFolders => self.load_folders(),
            Command::CreateFolder { name, parent_id } => self.create_folder(name, parent_id),
            Command::LoadRecentAssets { folder_id } => self.load_recent_assets(folder_id),
            Command::PasteImage { folder_id } => self.paste_image(folder_id),
            Command::UploadPng {
                name,
                png,
                folder_id,
            } => self.add_bytes(name, png, folder_id),
            Command::Upload(upload::Command::Shutdown) => {
                tracing::debug!("ignored an engine shutdown from the window; the backend owns it");
            }
            Command::Upload(command) => self.forward(command),
            Command::Shutdown => {}
        }
    }

    // Connection commands.

    async fn start(&mut self) {
        let path = self.options.settings_path.clone();
        self.settings = match read_settings(path).await {
            Ok(settings) => settings,
            Err(err) => {
                self.sink.notice(
                    Level::Error,
                    format!("{err} The app uses the default settings for now."),
                );
                Settings::default()
            }
        };
        self.sink.emit(Event::Settings(self.settings.clone()));
        if self.options.demo {
            self.start_demo();
        } else {
            self.resolve_and_connect();
        }
    }

    /// Finds the key (`RUNFLOW_API_KEY`, else the keyring) and connects, or asks for a key.
    fn resolve_and_connect(&mut self) {
        let sink = self.sink.clone();
        let env_key = self.options.env_api_key.clone();
        let store = self.store.clone();
        let base_url = self.base_url();
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
            let target = base_url.and_then(|base_url| {
                Target::new(key, source.to_string(), false, &base_url).map_err(|e| e.to_string())
            });
            let target = match target {
                Ok(target) => target,
                Err(message) => {
                    sink.emit(Event::ConnectionFailed {
                        message,
                        key_rejected: false,
                    });
                    return Done {
                        store,
                        ..Done::default()
                    };
                }
            };
            let result = target.client.current_user().await;
            Done {
                store,
                emulator: None,
                outcome: Outcome::checked(target, result, true),
            }
        }));
    }

    fn start_demo(&mut self) {
        self.stop_engine();
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
                            sink.emit(Event::ConnectionFailed {
                                message: format!(
                                    "The offline demo could not start: {err:#}. If this keeps \
                                     happening, delete {} and try again.",
                                    server_dir.display()
                                ),
                                key_rejected: false,
                            });
                            return Done::default();
                        }
                    }
                }
            };
            let outcome = match target {
                Ok(target) => {
                    let result = target.client.current_user().await;
                    Outcome::checked(target, result, true)
                }
                Err(err) => {
                    sink.emit(Event::ConnectionFailed {
                        message: format!("The offline demo could not start: {err}"),
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
    fn save_key(&mut self, key: ApiKey) {
        let sink = self.sink.clone();
        let store = self.store.clone();
        let base_url = self.base_url();
        let env_key_set = self.options.env_api_key.is_some();
        self.busy = Some(tokio::spawn(async move {
            let target = base_url.and_then(|base_url| {
                Target::new(key, String::new(), false, &base_url).map_err(|e| e.to_string())
            });
            let mut target = match target {
                Ok(target) => target,
                Err(message) => {
                    sink.emit(Event::KeyRejected { message });
                    return Done::default();
                }
            };
            let user = match target.client.current_user().await {
                Ok(user) => user,
                Err(err) => {
                    sink.emit(Event::KeyRejected {
                        message: err.to_string(),
                    });
                    return Done::default();
                }
            };
            let store = open_store(store).await;
            let saved = match &store {
                Ok(store) => store
                    .save(&target.key)
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

    fn remove_key(&mut self) {
        let sink = self.sink.clone();
        let store = self.store.clone();
        self.busy = Some(tokio::spawn(async move {
            let store = match open_store(store).await {
                Ok(store) => store,
                Err(err) => {
                    sink.notice(
                        Level::Error,
                        format!("The stored key could not be removed: {err}"),
                    );
                    return Done::default();
                }
            };
            let outcome = match store.delete().await {
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
                store: Some(store),
                emulator: None,
                outcome,
            }
        }));
    }

    fn test_connection(&mut self) {
        let Some(target) = self.target.clone() else {
            self.sink.notice(Level::Info, NOT_CONNECTED);
            return;
        };
        // Without an engine this is a fresh connection attempt; with one, only a check.
        let restart = self.engine.is_none();
        self.check(target, restart);
    }

    /// Checks `target` with `GET /v1/auth/me` in a task.
    fn check(&mut self, target: Target, restart: bool) {
        if restart {
            self.sink.emit(Event::Connecting);
        }
        self.busy = Some(tokio::spawn(async move {
            let result = target.client.current_user().await;
            Done {
                outcome: Outcome::checked(target, result, restart),
                ..Done::default()
            }
        }));
    }

    async fn save_settings(&mut self, settings: Settings) {
        if let Some(raw) = settings
            .base_url
            .as_deref()
            .filter(|v| !v.trim().is_empty())
            && let Err(err) = api::parse_base_url(raw)
        {
            self.sink
                .notice(Level::Error, format!("The settings were not saved: {err}"));
            return;
        }
        if let Some(concurrency) = settings.concurrency
            && !(1..=upload::MAX_CONCURRENCY).contains(&concurrency)
        {
            self.sink.notice(
                Level::Error,
                format!(
                    "The settings were not saved: files uploaded at once must be between 1 and \
                     {}.",
                    upload::MAX_CONCURRENCY
                ),
            );
            return;
        }
        let old_base_url = self.base_url();
        let path = self.options.settings_path.clone();
        let to_save = settings.clone();
        let saved = tokio::task::spawn_blocking(move || to_save.save_to(&path))
            .await
            .map_err(|e| auth::SettingsError::Task(e.to_string()))
            .and_then(|result| result);
        if let Err(err) = saved {
            self.sink.notice(Level::Error, err.to_string());
            return;
        }
        if settings.concurrency.is_some() {
            self.options.concurrency_override = None;
        }
        self.settings = settings;
        self.sink.emit(Event::Settings(self.settings.clone()));
        self.sink.notice(Level::Success, "Settings saved.");
        if let Some(engine) = &self.engine {
            engine
                .handle
                .send(upload::Command::SetConcurrency(self.concurrency()));
        }
        if self.base_url() == old_base_url {
            return;
        }
        match self.target.clone() {
            // The demo has its own server; the new URL applies to the next real connection.
            Some(target) if target.demo => {}
            Some(target) => match self.base_url() {
                Ok(base_url) => {
                    match Target::new(target.key, target.key_source, false, &base_url) {
                        Ok(target) => {
                            self.stop_engine();
                            self.check(target, true);
                        }
                        Err(err) => self.sink.notice(Level::Error, err.to_string()),
                    }
                }
                Err(message) => self.sink.notice(Level::Error, message),
            },
            None => self.resolve_and_connect(),
        }
    }

    /// Applies the result of a connection task.
    async fn finish(&mut self, done: Result<Done, tokio::task::JoinError>) {
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
                self.stop_engine();
                self.settle_engines().await;
                self.target = None;
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
        let mut message = err.to_string();
        if key_rejected && target.key_source == KeySource::Env.to_string() {
            message.push_str(&format!(
                " The key comes from the {} environment variable: set it to a valid key, or \
                 unset it to use a saved one.",
                auth::API_KEY_ENV
            ));
        }
        tracing::warn!(%err, "the connection check failed");
        self.target = Some(target);
        self.sink.emit(Event::ConnectionFailed {
            message,
            key_rejected,
        });
    }

    /// Connected with `target`: (re)start the engine when needed and tell the window.
    async fn install(&mut self, target: Target, user: &CurrentUser, restart: bool) {
        let connection = target.connection(user);
        tracing::info!(base_url = %connection.base_url, demo = target.demo, "connected");
        if restart || self.engine.is_none() {
            self.stop_engine();
            self.settle_engines().await;
            let config = EngineConfig {
                concurrency: self.concurrency(),
                ..EngineConfig::new(self.options.engine_dir(target.demo))
            };
            let (handle, events) = upload::spawn(
                &tokio::runtime::Handle::current(),
                target.client.clone(),
                config,
                // The actor wakes on the channel; the window is woken as events are forwarded.
                Arc::new(|| {}),
            );
            self.engine = Some(Engine { handle, events });
            self.sink.emit(Event::EngineRestarted);
        }
        let demo = target.demo;
        self.target = Some(target);
        self.sink.emit(Event::Connected(connection));
        if !demo && let Some(emulator) = self.emulator.take() {
            self.tasks.spawn(async move {
                let _ = tokio::time::timeout(EMULATOR_STOP_TIMEOUT, emulator.shutdown()).await;
            });
        }
    }

    // Commands that need a connection; each runs in its own task.

    fn client(&self) -> Option<RunflowClient> {
        self.target.as_ref().map(|target| target.client.clone())
    }

    fn load_folders(&mut self) {
        let Some(client) = self.client() else {
            self.sink
                .emit(Event::Folders(Err(NOT_CONNECTED.to_owned())));
            return;
        };
        let sink = self.sink.clone();
        self.tasks.spawn(async move {
            let result = all_folders(&client).await.map_err(|e| e.to_string());
            sink.emit(Event::Folders(result));
        });
    }

    fn create_folder(&mut self, name: String, parent_id: Option<String>) {
        let Some(client) = self.client() else {
            self.sink
                .emit(Event::FolderCreated(Err(NOT_CONNECTED.to_owned())));
            return;
        };
        let name = name.trim().to_owned();
        if name.is_empty() {
            self.sink.emit(Event::FolderCreated(Err(
                "Give the folder a name.".to_owned()
            )));
            return;
        }
        let sink = self.sink.clone();
        self.tasks.spawn(async move {
            let result = client
                .create_folder(&name, parent_id.as_deref())
                .await
                .map_err(|err| match err {
                    ApiError::Conflict { .. } => {
                        "A folder with that name already exists here.".to_owned()
                    }
                    other => other.to_string(),
                });
            sink.emit(Event::FolderCreated(result));
        });
    }

    fn load_recent_assets(&mut self, folder_id: Option<String>) {
        let Some(client) = self.client() else {
            self.sink.emit(Event::RecentAssets {
                folder_id,
                result: Err(NOT_CONNECTED.to_owned()),
            });
            return;
        };
        let sink = self.sink.clone();
        self.tasks.spawn(async move {
            let query = ListQuery {
                q: Filter::new()
                    .eq_or_null("folder_id", folder_id.as_deref())
                    .build(),
                limit: Some(RECENT_ASSETS_LIMIT),
                sort_by: Some("created_at:desc".to_owned()),
                ..ListQuery::default()
            };
            let result = client
                .list_assets(&query)
                .await
                .map(|page| page.items)
                .map_err(|e| e.to_string());
            sink.emit(Event::RecentAssets { folder_id, result });
        });
    }

    fn engine_or_notice(&self) -> Option<EngineHandle> {
        let handle = self.engine.as_ref().map(|engine| engine.handle.clone());
        if handle.is_none() {
            self.sink.notice(Level::Info, NOT_CONNECTED);
        }
        handle
    }

    fn paste_image(&mut self, folder_id: Option<String>) {
        let Some(engine) = self.engine_or_notice() else {
            return;
        };
        let sink = self.sink.clone();
        self.tasks.spawn(async move {
            // The clipboard talks to the display server and blocks; encoding is CPU work.
            let png = tokio::task::spawn_blocking(clipboard_png)
                .await
                .unwrap_or_else(|err| Err(PasteError::Failed(err.to_string())));
            match png {
                Ok(png) => {
                    let command = upload::Command::AddBytes {
                        name: pasted_name(),
                        mime_type: "image/png".to_owned(),
                        bytes: png,
                        folder_id,
                    };
                    if !engine.send(command) {
                        sink.notice(Level::Error, ENGINE_GONE);
                    }
                }
                Err(err @ PasteError::NoImage) => sink.notice(Level::Info, err.to_string()),
                Err(err) => sink.notice(Level::Error, err.to_string()),
            }
        });
    }

    fn add_bytes(&mut self, name: String, png: Bytes, folder_id: Option<String>) {
        self.forward(upload::Command::AddBytes {
            name,
            mime_type: "image/png".to_owned(),
            bytes: png,
            folder_id,
        });
    }

    fn forward(&mut self, command: upload::Command) {
        if let Some(engine) = self.engine_or_notice()
            && !engine.send(command)
        {
            self.sink.notice(Level::Error, ENGINE_GONE);
        }
    }

    // Helpers.

    /// The effective API base: `RUNFLOW_BASE_URL`, the settings, the default.
    fn base_url(&self) -> Result<String, String> {
        auth::resolve_base_url_with(
            self.options.env_base_url.as_deref(),
            &self.settings,
            self.options.settings_path.clone(),
        )
        .map(|(url, _)| url.to_string())
        .map_err(|e| e.to_string())
    }

    fn concurrency(&self) -> usize {
        self.options
            .concurrency_override
            .or(self.settings.concurrency)
            .unwrap_or(upload::DEFAULT_CONCURRENCY)
            .clamp(1, upload::MAX_CONCURRENCY)
    }

    /// Tells the engine to stop; [`Actor::settle_engines`] waits until it has.
    fn stop_engine(&mut self) {
        let Some(Engine { handle, mut events }) = self.engine.take() else {
            return;
        };
        handle.send(upload::Command::Shutdown);
        // The channel closes once the engine has released its journal. Its last events belong
        // to a connection the window is forgetting, so they are dropped.
        self.stopping.push(tokio::spawn(async move {
            let _ = tokio::time::timeout(ENGINE_STOP_TIMEOUT, async {
                while events.recv().await.is_some() {}
            })
            .await;
        }));
    }

    async fn settle_engines(&mut self) {
        for stopping in self.stopping.drain(..) {
            let _ = stopping.await;
        }
    }

    async fn shutdown(mut self) {
        if let Some(busy) = self.busy.take() {
            busy.abort();
            let _ = busy.await;
        }
        self.stop_engine();
        self.settle_engines().await;
        self.tasks.shutdown().await;
        if let Some(emulator) = self.emulator.take() {
            let _ = tokio::time::timeout(EMULATOR_STOP_TIMEOUT, emulator.shutdown()).await;
        }
        tracing::debug!("the desktop backend stopped");
    }
}

const ENGINE_GONE: &str =
    "The upload engine is not running. Use Test connection to start it again.";

async fn busy_done(busy: &mut Option<JoinHandle<Done>>) -> Result<Done, tokio::task::JoinError> {
    match busy {
        Some(task) => task.await,
        None => pending().await,
    }
}

async fn engine_event(engine: &mut Option<Engine>) -> Option<upload::Event> {
    match engine {
        Some(engine) => engine.events.recv().await,
        None => pending().await,
    }
}

async fn open_store(store: Option<KeyStore>) -> Result<KeyStore, auth::KeyStoreError> {
    match store {
        Some(store) => Ok(store),
        None => KeyStore::open().await,
    }
}

async fn read_settings(path: PathBuf) -> Result<Settings, auth::SettingsError> {
    tokio::task::spawn_blocking(move || Settings::load_from(&path))
        .await
        .map_err(|e| auth::SettingsError::Task(e.to_string()))?
}

fn demo_target(emulator: &RunningEmulator) -> Result<Target, String> {
    let key = emulator
        .api_keys()
        .first()
        .cloned()
        .and_then(ApiKey::new)
        .ok_or_else(|| "the demo server has no API key".to_owned())?;
    Target::new(key, DEMO_KEY_SOURCE.to_owned(), true, &emulator.api_base())
        .map_err(|e| e.to_string())
}

/// Every folder, following cursors.
async fn all_folders(client: &RunflowClient) -> Result<Vec<Folder>, ApiError> {
    let query = ListQuery {
        limit: Some(FOLDER_PAGE_LIMIT),
        ..ListQuery::default()
    };
    let mut folders = Vec::new();
    let mut seen = HashSet::new();
    let mut page = client.list_folders(&query).await?;
    for _ in 0..MAX_FOLDER_PAGES {
        let next = page.next_cursor().map(str::to_owned);
        folders.extend(page.items);
        match next {
            Some(cursor) if seen.insert(cursor.clone()) => {
                page = client.list_folders(&query.at_cursor(&cursor)).await?;
            }
            _ => break,
        }
    }
    Ok(folders)
}

/// Reading the clipboard image failed.
#[derive(Debug, thiserror::Error)]
enum PasteError {
    #[error("The clipboard holds no image to paste.")]
    NoImage,
    #[error(
        "The clipboard cannot be used here ({0}). Save the image to a file and add that instead."
    )]
    Unavailable(String),
    #[error("The clipboard image could not be read ({0}). Copy it again and retry.")]
    Failed(String),
}

/// Reads the clipboard image and encodes it as PNG. Blocking.
fn clipboard_png() -> Result<Bytes, PasteError> {
    let mut clipboard =
        arboard::Clipboard::new().map_err(|e| PasteError::Unavailable(e.to_string()))?;
    let image = clipboard.get_image().map_err(|err| match err {
        arboard::Error::ContentNotAvailable => PasteError::NoImage,
        arboard::Error::ClipboardNotSupported => PasteError::Unavailable(err.to_string()),
        other => PasteError::Failed(other.to_string()),
    })?;
    encode_png(image.width, image.height, image.bytes.into_owned())
}

/// Encodes RGBA8 pixels as PNG.
fn encode_png(width: usize, height: usize, rgba: Vec<u8>) -> Result<Bytes, PasteError> {
    let size = u32::try_from(width).ok().zip(u32::try_from(height).ok());
    let image = size
        .and_then(|(w, h)| image::RgbaImage::from_raw(w, h, rgba))
        .ok_or_else(|| {
            PasteError::Failed(format!(
                "a {width}x{height} image with the wrong pixel data"
            ))
        })?;
    let mut png = std::io::Cursor::new(Vec::new());
    image
        .write_to(&mut png, image::ImageFormat::Png)
        .map_err(|e| PasteError::Failed(e.to_string()))?;
    Ok(Bytes::from(png.into_inner()))
}

/// `pasted-YYYYMMDD-HHMMSS.png` in UTC.
fn pasted_name() -> String {
    let format =
        time::macros::format_description!("pasted-[year][month][day]-[hour][minute][second].png");
    time::OffsetDateTime::now_utc()
        .format(format)
        .unwrap_or_else(|_| "pasted.png".to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pasted_names_carry_the_time() {
        let name = pasted_name();
        assert!(name.starts_with("pasted-"), "{name}");
        assert!(name.ends_with(".png"), "{name}");
        assert_eq!(name.len(), "pasted-20260101-120000.png".len(), "{name}");
    }

    #[test]
    fn clipboard_pixels_become_a_png() {
        let png = encode_png(2, 1, vec![255, 0, 0, 255, 0, 0, 255, 128]).unwrap();
        assert!(png.starts_with(b"\x89PNG\r\n\x1a\n"));
        let decoded = image::load_from_memory(&png).unwrap().to_rgba8();
        assert_eq!(decoded.dimensions(), (2, 1));
        assert_eq!(decoded.get_pixel(1, 0).0, [0, 0, 255, 128]);

        let err = encode_png(3, 3, vec![0; 4]).unwrap_err();
        assert!(err.to_string().contains("3x3"), "{err}");
    }

    #[test]
    fn connection_names_the_account() {
        let target = Target::new(
            ApiKey::new("rf_test").unwrap(),
            "the offline demo".to_owned(),
            true,
            "http://127.0.0.1:1",
        )
        .unwrap();
        let user: CurrentUser = serde_json::from_value(serde_json::json!({
            "email": "ada@example.com",
            "first_name": "Ada",
            "last_name": " ",
            "memberships": [{"org": null}, {"org": {"name": "Analytical"}}],
        }))
        .unwrap();
        let connection = target.connection(&user);
        assert_eq!(connection.email, "ada@example.com");
        assert_eq!(connection.name.as_deref(), Some("Ada"));
        assert_eq!(connection.organization.as_deref(), Some("Analytical"));
        assert_eq!(connection.base_url, "http://127.0.0.1:1");
        assert!(connection.demo);
    }
}
