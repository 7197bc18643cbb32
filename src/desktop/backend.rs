//! The window's backend: one actor task on the app's runtime that owns the key store, the
//! settings, the connection, the upload engine and the offline demo. The window sends
//! [`Command`]s through a [`BackendHandle`] and drains [`Event`]s; every event sent is followed
//! by a call to the waker (the window passes `ctx.request_repaint`).
//!
//! Anything slow (keyring calls, network checks, starting the demo server, reading the
//! clipboard) runs in a spawned task, so the actor keeps answering. Commands that change the
//! connection run one at a time: those arriving while one is in flight wait in a queue.
//!
//! This file holds the actor's loop, its queue and the settings. The connection tasks are in
//! `connect.rs` (with the client they produce in `target.rs`), the upload engine in
//! `engine_host.rs`, folder and asset listings in `listing.rs`, and pasting in `clipboard.rs`.

use std::collections::VecDeque;
use std::future::{Future, pending};
use std::path::PathBuf;
use std::sync::Arc;

use tokio::sync::mpsc;
use tokio::task::{JoinError, JoinHandle, JoinSet};

use super::connect::{Done, stop_emulator};
use super::engine_host::EngineHost;
use super::protocol::Thumbnail;
use super::protocol::{Command, Event, Level};
use super::target::Target;
use super::{assets, clipboard, listing};
use crate::api::{self, ApiKey, RunflowClient};
use crate::auth::{self, KeyStore, Settings, SettingsError};
use crate::emulator::RunningEmulator;
use crate::library::ViewSpec;
use crate::library::thumbs::{ThumbConfig, ThumbEvent, ThumbLoader};
use crate::paths;
use crate::upload::{self, Waker};

/// Why a command that needs a connection did nothing.
pub(super) const NOT_CONNECTED: &str =
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
        engine: EngineHost::default(),
        emulator: None,
        thumbs: None,
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
pub(super) struct Sink {
    events: mpsc::UnboundedSender<Event>,
    waker: Waker,
}

impl Sink {
    pub(super) fn emit(&self, event: Event) {
        if self.events.send(event).is_ok() {
            (self.waker)();
        }
    }

    pub(super) fn notice(&self, level: Level, message: impl Into<String>) {
        self.emit(Event::Notice {
            level,
            message: message.into(),
        });
    }
}

/// The backend's state. Its methods are spread over the `desktop` modules by concern.
pub(super) struct Actor {
    pub(super) options: BackendOptions,
    pub(super) sink: Sink,
    pub(super) settings: Settings,
    pub(super) store: Option<KeyStore>,
    /// The connection in use, or the last one tried (so `TestConnection` can try again).
    pub(super) target: Option<Target>,
    pub(super) engine: EngineHost,
    /// The demo server, kept while the demo may be used again.
    pub(super) emulator: Option<RunningEmulator>,
    /// Thumbnails of the current connection; dropped when it changes.
    pub(super) thumbs: Option<ThumbLoader>,
    /// The connection task in flight, if any.
    pub(super) busy: Option<JoinHandle<Done>>,
    /// Connection commands that arrived while `busy`.
    queued: VecDeque<Command>,
    /// Listing, folder, paste and cleanup tasks; aborted at shutdown so the event channel
    /// closes.
    pub(super) tasks: JoinSet<()>,
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
                event = self.engine.next_event() => match event {
                    Some(event) => self.sink.emit(Event::Upload(event)),
                    None => self.sink.notice(
                        Level::Error,
                        "The upload engine stopped. Use Test connection to start it again.",
                    ),
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
            Command::LoadFolders => {
                self.with_client(Event::Folders(not_connected()), listing::folders)
            }
            Command::CreateFolder { name, parent_id } => self
                .with_client(Event::FolderCreated(not_connected()), move |client| {
                    listing::create_folder(client, name, parent_id)
                }),
            Command::RenameFolder { id, name } => self
                .with_client(Event::FolderRenamed(not_connected()), move |client| {
                    listing::rename_folder(client, id, name)
                }),
            Command::DeleteFolder { id } => self.with_client(
                Event::FolderDeleted {
                    id: id.clone(),
                    result: not_connected(),
                },
                move |client| listing::delete_folder(client, id),
            ),
            Command::LoadAssets {
                view,
                cursor,
                limit,
                generation,
            } => self.with_client(
                Event::AssetsPage {
                    generation,
                    result: not_connected(),
                },
                move |client| assets::page(client, view, cursor, limit, generation),
            ),
            Command::DeleteAssets { ids } => match &self.target {
                Some(target) => {
                    let client = target.client.clone();
                    let thumbs = self.thumbs.clone();
                    let work = assets::delete_many(client, self.sink.clone(), thumbs, ids);
                    self.tasks.spawn(work);
                }
                None => self.sink.notice(Level::Error, NOT_CONNECTED),
            },
            Command::MoveAssets { ids, folder_id } => match &self.target {
                Some(target) => {
                    let client = target.client.clone();
                    let work = assets::move_many(client, self.sink.clone(), ids, folder_id);
                    self.tasks.spawn(work);
                }
                None => self.sink.notice(Level::Error, NOT_CONNECTED),
            },
            Command::FetchAsset { id, purpose } => self.with_client(
                Event::AssetFetched {
                    purpose,
                    result: not_connected(),
                },
                move |client| assets::fetch(client, id, purpose),
            ),
            Command::SaveView(view) => self.save_view(view),
            Command::WantThumbnails(requests) => {
                if let Some(thumbs) = self.thumbnails() {
                    thumbs.want(requests);
                }
            }
            Command::PreviewLocalFile {
                asset_id,
                path,
                size_px,
            } => {
                if let Some(thumbs) = self.thumbnails() {
                    thumbs.decode_local(asset_id, path, size_px);
                }
            }
            Command::PasteImage { folder_id } => {
                if let Some(engine) = self.engine.handle_or_notice(&self.sink) {
                    let sink = self.sink.clone();
                    self.tasks.spawn(clipboard::paste(engine, sink, folder_id));
                }
            }
            Command::UploadPng {
                name,
                png,
                folder_id,
            } => self
                .engine
                .forward(&self.sink, clipboard::png_upload(name, png, folder_id)),
            Command::Upload(upload::Command::Shutdown) => {
                tracing::debug!("ignored an engine shutdown from the window; the backend owns it");
            }
            Command::Upload(command) => self.engine.forward(&self.sink, command),
            Command::Shutdown => {}
        }
    }

    /// The thumbnail loader of the current connection, started on first use.
    fn thumbnails(&mut self) -> Option<&ThumbLoader> {
        let target = self.target.as_ref()?;
        if self.thumbs.is_none() {
            let sink = self.sink.clone();
            let deliver = Arc::new(move |event: ThumbEvent| {
                sink.emit(Event::Thumbnail(Thumbnail(Arc::new(event))));
            });
            let config = ThumbConfig::new(self.options.cache_dir.join("thumbnails"));
            self.thumbs = Some(ThumbLoader::new(
                &tokio::runtime::Handle::current(),
                Some(target.client.clone()),
                config,
                deliver,
            ));
        }
        self.thumbs.as_ref()
    }

    /// Keeps the gallery's view in the settings file (in the background; a failure is only
    /// logged, as the view is a convenience). Not in the demo.
    fn save_view(&mut self, view: ViewSpec) {
        // The demo's folders are not the account's: its views are not kept.
        let demo = self.target.as_ref().is_some_and(|t| t.demo);
        if demo || self.settings.library_view == view {
            return;
        }
        self.settings.library_view = view;
        let path = self.options.settings_path.clone();
        let settings = self.settings.clone();
        self.tasks.spawn(async move {
            if let Err(err) = settings_file(move || settings.save_to(&path)).await {
                tracing::warn!(%err, "could not remember the gallery's view");
            }
        });
    }

    /// Runs `request` with the connection's client in a task and sends its answer; without a
    /// client, sends `offline` at once.
    fn with_client<F, Fut>(&mut self, offline: Event, request: F)
    where
        F: FnOnce(RunflowClient) -> Fut,
        Fut: Future<Output = Event> + Send + 'static,
    {
        let Some(target) = &self.target else {
            self.sink.emit(offline);
            return;
        };
        let answer = request(target.client.clone());
        let sink = self.sink.clone();
        self.tasks.spawn(async move { sink.emit(answer.await) });
    }

    async fn start(&mut self) {
        let path = self.options.settings_path.clone();
        self.settings = match settings_file(move || Settings::load_from(&path)).await {
            Ok(settings) => settings,
            Err(err) => {
                self.sink.notice(
                    Level::Error,
                    format!("{err}. The app uses the default settings for now."),
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

    async fn save_settings(&mut self, settings: Settings) {
        // The gallery's view is the backend's to keep (the dialog's copy may be older).
        let settings = Settings {
            library_view: self.settings.library_view.clone(),
            ..settings
        };
        if let Some(problem) = settings_problem(&settings) {
            self.sink.notice(
                Level::Error,
                format!("The settings were not saved: {problem}"),
            );
            return;
        }
        if let Some(file) = settings
            .ca_cert_file
            .clone()
            .filter(|file| self.settings.ca_cert_file.as_ref() != Some(file))
        {
            let checked = tokio::task::spawn_blocking(move || api::check_ca_cert_file(&file))
                .await
                .map_err(|e| e.to_string())
                .and_then(|result| result.map_err(|e| e.to_string()));
            if let Err(problem) = checked {
                self.sink.notice(
                    Level::Error,
                    format!("The settings were not saved: {problem}"),
                );
                return;
            }
        }
        let old_endpoint = (self.base_url(), self.settings.ca_cert_file.clone());
        let path = self.options.settings_path.clone();
        let to_save = settings.clone();
        if let Err(err) = settings_file(move || to_save.save_to(&path)).await {
            self.sink
                .notice(Level::Error, format!("The settings were not saved: {err}."));
            return;
        }
        if settings.concurrency.is_some() {
            self.options.concurrency_override = None;
        }
        self.settings = settings;
        self.sink.emit(Event::Settings(self.settings.clone()));
        self.sink.notice(Level::Success, "Settings saved.");
        self.engine.set_concurrency(self.concurrency());
        if (self.base_url(), self.settings.ca_cert_file.clone()) == old_endpoint {
            return;
        }
        match self.target.clone() {
            // The demo has its own server; the new URL applies to the next real connection.
            Some(target) if target.demo => {}
            Some(target) => match self
                .base_url()
                .and_then(|url| target.moved_to(&url, self.settings.ca_cert_file.clone()))
            {
                Ok(target) => {
                    self.engine.stop();
                    self.check(target, true);
                }
                Err(message) => self.sink.notice(Level::Error, message),
            },
            None => self.resolve_and_connect(),
        }
    }

    /// The effective API base: `RUNFLOW_BASE_URL`, the settings, the default.
    pub(super) fn base_url(&self) -> Result<String, String> {
        auth::resolve_base_url_with(
            self.options.env_base_url.as_deref(),
            &self.settings,
            self.options.settings_path.clone(),
        )
        .map(|(url, _)| url.to_string())
        .map_err(|e| e.to_string())
    }

    pub(super) fn concurrency(&self) -> usize {
        self.options
            .concurrency_override
            .or(self.settings.concurrency)
            .unwrap_or(upload::DEFAULT_CONCURRENCY)
            .clamp(1, upload::MAX_CONCURRENCY)
    }

    async fn shutdown(mut self) {
        if let Some(busy) = self.busy.take() {
            busy.abort();
            let _ = busy.await;
        }
        self.engine.stop_and_wait().await;
        self.tasks.shutdown().await;
        if let Some(emulator) = self.emulator.take() {
            stop_emulator(emulator).await;
        }
        tracing::debug!("the desktop backend stopped");
    }
}

async fn busy_done(busy: &mut Option<JoinHandle<Done>>) -> Result<Done, JoinError> {
    match busy {
        Some(task) => task.await,
        None => pending().await,
    }
}

fn not_connected<T>() -> Result<T, String> {
    Err(NOT_CONNECTED.to_owned())
}

/// Why `settings` cannot be saved, if anything.
fn settings_problem(settings: &Settings) -> Option<String> {
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
async fn settings_file<T: Send + 'static>(
    work: impl FnOnce() -> Result<T, SettingsError> + Send + 'static,
) -> Result<T, SettingsError> {
    tokio::task::spawn_blocking(work)
        .await
        .map_err(|e| SettingsError::Task(e.to_string()))?
}
