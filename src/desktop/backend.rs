//! The window's backend: one actor task on the app's runtime that owns the key store, the
//! settings, the connection, the upload engine and the offline demo. The window sends
//! [`Command`]s through a [`BackendHandle`] and drains [`Event`]s; every event sent is followed
//! by a call to the waker (the window passes `ctx.request_repaint`).
//!
//! Anything slow (keyring calls, network checks, starting the demo server, reading the
//! clipboard) runs in a spawned task, so the actor keeps answering. Commands that change the
//! connection run one at a time: those arriving while one is in flight wait in a queue.
//!
//! This file holds the actor's state, its loop, its queue and its dispatch: it starts the work
//! and applies what comes back. The connection tasks are in `connect.rs` (with the client they
//! produce in `target.rs`), the upload engine in `engine_host.rs`, folder and asset listings in
//! `listing.rs` and `assets.rs`, pasting in `clipboard.rs`, and the options and settings file
//! in `options.rs`.

use std::collections::VecDeque;
use std::future::{Future, pending};
use std::sync::Arc;

use tokio::sync::mpsc;
use tokio::task::{JoinError, JoinHandle, JoinSet};

use super::connect::{self, Check, Done, Endpoint, Outcome, stop_emulator};
use super::engine_host::{EngineHost, Next};
use super::notify::Notifier;
use super::options::{BackendOptions, settings_file, settings_problem};
use super::protocol::{Command, Event, Level, Thumbnail};
use super::sink::{NOT_CONNECTED, Sink, not_connected};
use super::target::Target;
use super::{assets, clipboard, history, listing, pick};
use crate::api::models::CurrentUser;
use crate::api::{self, ApiKey, RunflowClient};
use crate::auth::{self, KeyStore, Settings};
use crate::emulator::RunningEmulator;
use crate::library::ViewSpec;
use crate::library::thumbs::{ThumbConfig, ThumbEvent, ThumbLoader};
use crate::upload::{self, AccountScope, EngineConfig, Waker};
use crate::watch::{HistoryScope, WatchSpec};

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

/// How the backend wakes the window after an event: `now` for most, `soon` for thumbnails.
/// A screen of tiles lands within a second; painted as each lands, the frames would take CPU
/// (a whole frame each, and under software GL a lot of it) from the decodes still to come.
pub struct Wakers {
    /// A repaint at once (the window's `request_repaint`).
    pub now: Waker,
    /// A repaint within a moment, which the tiles landing meanwhile share.
    pub soon: Waker,
}

/// Starts the backend on `runtime`. Send [`Command::Start`] first. The event channel closes
/// once the backend has ended, after [`Command::Shutdown`] or when every handle is dropped.
pub fn spawn(
    runtime: &tokio::runtime::Handle,
    mut options: BackendOptions,
    wakers: Wakers,
) -> (BackendHandle, mpsc::UnboundedReceiver<Event>) {
    let (command_tx, command_rx) = mpsc::unbounded_channel();
    let (sink, event_rx) = Sink::channel(wakers.now);
    let tile_sink = sink.with_waker(wakers.soon);
    let actor = Actor {
        store: options.keystore.take(),
        options,
        sink,
        tile_sink,
        settings: Settings::default(),
        target: None,
        engine: EngineHost::new(runtime),
        notifier: Notifier::default(),
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

/// The backend's state and its dispatch; the work itself is in the `desktop` modules beside it.
struct Actor {
    options: BackendOptions,
    sink: Sink,
    /// The same channel, for thumbnails ([`Wakers::soon`]).
    tile_sink: Sink,
    settings: Settings,
    store: Option<KeyStore>,
    /// The connection in use, or the last one tried (so `TestConnection` can try again).
    target: Option<Target>,
    engine: EngineHost,
    /// The desktop notification at a batch's end.
    notifier: Notifier,
    /// The demo server, kept while the demo may be used again.
    emulator: Option<RunningEmulator>,
    /// Thumbnails of the current connection; dropped when it changes.
    thumbs: Option<ThumbLoader>,
    /// The connection task in flight, if any.
    busy: Option<JoinHandle<Done>>,
    /// Connection commands that arrived while `busy`.
    queued: VecDeque<Command>,
    /// Listing, folder, paste and cleanup tasks; aborted at shutdown so the event channel
    /// closes.
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
                next = self.engine.next(&self.sink) => match next {
                    Next::Upload(Some(event)) => self.sink.emit(Event::Upload(event)),
                    Next::Upload(None) => self.sink.notice(
                        Level::Error,
                        "The upload engine stopped. Use Test connection to start it again.",
                    ),
                    Next::Watch(status) => self.sink.emit(Event::Watch(status)),
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
            Command::NotifyBatchEnded { summary, body } => {
                let sink = self.sink.clone();
                self.notifier
                    .show(summary, body, move || sink.emit(Event::RaiseWindow));
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
                    self.tasks.spawn(clipboard::upload_png(
                        engine,
                        sink,
                        folder_id,
                        clipboard::clipboard_png,
                    ));
                }
            }
            Command::UploadPixels {
                width,
                height,
                rgba,
                folder_id,
            } => {
                if let Some(engine) = self.engine.handle_or_notice(&self.sink) {
                    let sink = self.sink.clone();
                    let encode = move || clipboard::encode_png(width, height, rgba);
                    self.tasks
                        .spawn(clipboard::upload_png(engine, sink, folder_id, encode));
                }
            }
            Command::LoadHistory { query, generation } => {
                let data_dir = self.history_dir();
                let work = history::load(data_dir, query, generation, self.sink.clone());
                self.tasks.spawn(work);
            }
            Command::LoadOrigin { asset_id } => {
                let work = history::origin(self.history_dir(), asset_id, self.sink.clone());
                self.tasks.spawn(work);
            }
            Command::ExportHistory { uploads, format } => {
                let work = history::export(uploads, format, self.sink.clone());
                self.tasks.spawn(work);
            }
            Command::PickAndUpload { folders, folder_id } => {
                if let Some(engine) = self.engine.handle_or_notice(&self.sink) {
                    let sink = self.sink.clone();
                    self.tasks
                        .spawn(pick::pick_and_upload(engine, sink, folders, folder_id));
                }
            }
            Command::PickWatchFolder { folder_id } => {
                self.tasks
                    .spawn(pick::pick_watch_folder(self.sink.clone(), folder_id));
            }
            Command::AddWatch(spec) => self.add_watch(spec),
            Command::PauseWatch { dir, paused } => self.change_watches(|watches| {
                for watch in watches.iter_mut().filter(|w| w.dir == dir) {
                    watch.paused = paused;
                }
            }),
            Command::RemoveWatch(dir) => {
                self.change_watches(|watches| watches.retain(|w| w.dir != dir));
            }
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
            let sink = self.tile_sink.clone();
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

    /// Watches `spec.dir` too, unless it is no folder or overlaps a watched one.
    fn add_watch(&mut self, spec: WatchSpec) {
        if !spec.dir.is_dir() {
            self.sink.notice(
                Level::Error,
                format!(
                    "{} is not a folder, so it cannot be watched.",
                    spec.dir.display()
                ),
            );
            return;
        }
        let overlap = self
            .settings
            .watch_folders
            .iter()
            .find(|w| w.dir.starts_with(&spec.dir) || spec.dir.starts_with(&w.dir));
        if let Some(watched) = overlap {
            let message = if watched.dir == spec.dir {
                format!("{} is watched already.", spec.dir.display())
            } else {
                format!(
                    "{} overlaps the watched folder {}: its files would be found twice. \
                     Remove that watch first, or pick another folder.",
                    spec.dir.display(),
                    watched.dir.display()
                )
            };
            self.sink.notice(Level::Error, message);
            return;
        }
        self.change_watches(|watches| watches.push(spec));
    }

    /// Changes the watch folders: kept in the settings file (in the background; a failure is
    /// told), shown, and applied at once.
    fn change_watches(&mut self, change: impl FnOnce(&mut Vec<WatchSpec>)) {
        change(&mut self.settings.watch_folders);
        self.engine.set_watches(self.settings.watch_folders.clone());
        self.sink.emit(Event::Settings(self.settings.clone()));
        let path = self.options.settings_path.clone();
        let settings = self.settings.clone();
        let sink = self.sink.clone();
        self.tasks.spawn(async move {
            if let Err(err) = settings_file(move || settings.save_to(&path)).await {
                sink.notice(
                    Level::Error,
                    format!(
                        "The watch folders were not saved: {err}. They apply until the app closes."
                    ),
                );
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
        self.engine.set_keep_awake(self.settings.keeps_awake());
        self.sink.emit(Event::Settings(self.settings.clone()));
        if self.options.demo {
            self.start_demo();
        } else {
            self.resolve_and_connect();
        }
    }

    async fn save_settings(&mut self, settings: Settings) {
        // The gallery's view and the watch folders are the backend's to keep (the dialog's
        // copy may be older).
        let settings = Settings {
            library_view: self.settings.library_view.clone(),
            watch_folders: self.settings.watch_folders.clone(),
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
        self.engine.set_keep_awake(self.settings.keeps_awake());
        self.engine.set_watches(self.settings.watch_folders.clone());
        self.sink.emit(Event::Settings(self.settings.clone()));
        self.sink.notice(Level::Success, "Settings saved.");
        self.engine.set_concurrency(self.concurrency());
        self.engine
            .set_auto_convert(self.settings.convert_automatically);
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
    fn base_url(&self) -> Result<String, String> {
        auth::resolve_base_url_with(
            self.options.env_base_url.as_deref(),
            &self.settings,
            self.options.settings_path.clone(),
        )
        .map(|(url, _)| url.to_string())
        .map_err(|e| e.to_string())
    }

    /// Where the engine of the current connection keeps its history (the demo has its own).
    fn history_dir(&self) -> std::path::PathBuf {
        let demo = self.target.as_ref().is_some_and(|target| target.demo);
        self.options.engine_dir(demo)
    }

    fn concurrency(&self) -> usize {
        self.options
            .concurrency_override
            .or(self.settings.concurrency)
            .unwrap_or(upload::DEFAULT_CONCURRENCY)
            .clamp(1, upload::MAX_CONCURRENCY)
    }

    /// Where a real connection goes now.
    fn endpoint(&self) -> Endpoint {
        Endpoint {
            base_url: self.base_url(),
            ca_cert_file: self.settings.ca_cert_file.clone(),
        }
    }

    /// Runs `task` as the connection task in flight.
    fn connect(&mut self, task: impl Future<Output = Done> + Send + 'static) {
        self.busy = Some(tokio::spawn(task));
    }

    /// Finds the key (`RUNFLOW_API_KEY`, else the keyring) and connects, or asks for a key.
    fn resolve_and_connect(&mut self) {
        let env_key = self.options.env_api_key.clone();
        self.connect(connect::resolve(
            self.sink.clone(),
            env_key,
            self.store.clone(),
            self.endpoint(),
        ));
    }

    fn start_demo(&mut self) {
        self.engine.stop();
        self.sink.emit(Event::Connecting);
        let running = self.emulator.as_ref().map(connect::demo_target);
        let server_dir = self.options.data_dir.join("demo-server");
        self.connect(connect::demo(self.sink.clone(), running, server_dir));
    }

    fn save_key(&mut self, key: ApiKey) {
        let env_key_set = self.options.env_api_key.is_some();
        self.connect(connect::save_key(
            self.sink.clone(),
            key,
            self.store.clone(),
            self.endpoint(),
            env_key_set,
        ));
    }

    fn remove_key(&mut self) {
        self.connect(connect::remove_key(self.sink.clone(), self.store.clone()));
    }

    fn test_connection(&mut self) {
        let Some(target) = self.target.clone() else {
            self.sink.notice(Level::Info, NOT_CONNECTED);
            return;
        };
        // Without an engine this is a fresh connection attempt; with one, only a check.
        let restart = !self.engine.is_running();
        self.check(target, restart);
    }

    /// Checks `target` with `GET /v1/auth/me` in a task.
    fn check(&mut self, target: Target, restart: bool) {
        if restart {
            self.sink.emit(Event::Connecting);
        }
        self.connect(connect::check(target, restart));
    }

    /// Applies the result of a connection task.
    async fn finish(&mut self, done: Result<Done, JoinError>) {
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
                } => {
                    // Keep `target` so `TestConnection` can try again, and say why.
                    tracing::warn!(%err, "the connection check failed");
                    let (message, key_rejected) = connect::failure(&target, &err);
                    self.target = Some(target);
                    self.thumbs = None;
                    self.sink.emit(Event::ConnectionFailed {
                        message,
                        key_rejected,
                    });
                }
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

    /// Connected with `target`: (re)start the engine when needed and tell the window.
    async fn install(&mut self, target: Target, user: &CurrentUser, restart: bool) {
        let connection = target.connection(user);
        tracing::info!(base_url = %connection.base_url, demo = target.demo, "connected");
        if restart || !self.engine.is_running() {
            let mut account = AccountScope::of(&target.client, user);
            if target.demo {
                // The demo's server takes a new port at each start, but keeps its data and its
                // one account: its journal and duplicate index must be the same at every start.
                account.base_url = super::DEMO_SERVER.to_owned();
            }
            let scope = HistoryScope::of(self.options.engine_dir(target.demo), &account);
            let config = EngineConfig {
                concurrency: self.concurrency(),
                account: Some(account),
                // An earlier run's unfinished uploads wait under Uploads for Resume or Discard.
                hold_earlier: true,
                auto_convert: self.settings.convert_automatically,
                ..EngineConfig::new(self.options.engine_dir(target.demo))
            };
            let watches = self.settings.watch_folders.clone();
            self.engine
                .restart(target.client.clone(), config, scope, watches)
                .await;
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
