//! The engine loop: owns the queue, starts workers as slots free up, turns their updates into
//! events, and keeps the journal in step. It runs as one task on the runtime owned by `main`.

use std::collections::{BTreeMap, VecDeque};
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::sync::{OnceCell, mpsc};
use tokio_util::sync::CancellationToken;

use crate::api::RunflowClient;

use super::discover::{Found, discover};
use super::index::DuplicateIndex;
use super::journal::{Entry, Journal, Step};
use super::protocol::{BatchProgress, Command, Event, FileId, FileState, UploadFailure};
use super::speed::SpeedMeter;
use super::worker::{self, Outcome, Shared, Update, Work};

/// Called after every event is sent, to wake whoever reads them (e.g. `request_repaint`).
pub type Waker = Arc<dyn Fn() + Send + Sync>;

/// Engine settings.
#[derive(Debug, Clone)]
pub struct EngineConfig {
    /// Journal, duplicate index and pasted files live here.
    pub data_dir: PathBuf,
    /// Files uploaded at once, 1..=16.
    pub concurrency: usize,
    /// A PUT with no bytes moving for this long is aborted and retried.
    pub stall_timeout: Duration,
    /// Tries per file for transient failures (the client already retries each call).
    pub max_file_attempts: u32,
    /// Wait before the first whole-file retry; doubles each time.
    pub file_retry_wait: Duration,
    /// How often progress is reported.
    pub progress_interval: Duration,
}

impl EngineConfig {
    /// Defaults with the journal in `data_dir`.
    pub fn new(data_dir: PathBuf) -> Self {
        Self {
            data_dir,
            concurrency: DEFAULT_CONCURRENCY,
            stall_timeout: Duration::from_secs(30),
            max_file_attempts: 3,
            file_retry_wait: Duration::from_secs(2),
            progress_interval: Duration::from_millis(250),
        }
    }
}

/// Files uploaded at once unless set otherwise.
pub const DEFAULT_CONCURRENCY: usize = 4;
/// Longest wait between two whole-file retries.
const MAX_FILE_RETRY_WAIT: Duration = Duration::from_secs(60);

/// Most files uploaded at once.
pub const MAX_CONCURRENCY: usize = 16;

/// Sends commands to a running engine.
#[derive(Debug, Clone)]
pub struct EngineHandle {
    commands: mpsc::UnboundedSender<Command>,
}

impl EngineHandle {
    /// Sends a command; `false` when the engine has stopped.
    pub fn send(&self, command: Command) -> bool {
        self.commands.send(command).is_ok()
    }
}

/// Starts the engine on `runtime`. Unfinished uploads from the journal resume at once.
pub fn spawn(
    runtime: &tokio::runtime::Handle,
    client: RunflowClient,
    config: EngineConfig,
    waker: Waker,
) -> (EngineHandle, mpsc::UnboundedReceiver<Event>) {
    let (command_tx, command_rx) = mpsc::unbounded_channel();
    let (event_tx, event_rx) = mpsc::unbounded_channel();
    let sink = Sink {
        events: event_tx,
        waker,
    };
    runtime.spawn(async move {
        match Engine::open(client, config, sink.clone()).await {
            Ok(engine) => engine.run(command_rx).await,
            Err(err) => {
                tracing::error!(%err, "the upload engine could not open its journal");
                sink.emit(Event::Skipped {
                    path: PathBuf::new(),
                    reason: format!(
                        "The upload journal could not be opened ({err}); uploads are disabled. \
                         Check the app's data folder."
                    ),
                });
            }
        }
    });
    (
        EngineHandle {
            commands: command_tx,
        },
        event_rx,
    )
}

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
}

struct Job {
    name: String,
    path: Option<PathBuf>,
    size_bytes: Option<u64>,
    /// `None` for files rejected before they were queued.
    entry: Option<Entry>,
    state: FileState,
    sent: Arc<AtomicU64>,
    reported_sent: u64,
    meter: SpeedMeter,
    cancel: Option<CancellationToken>,
    attempts: u32,
}

/// Internal messages to the loop.
enum Internal {
    Discovered(Vec<Discovery>),
    Requeue(FileId),
}

/// What a scan found: a file now in the journal, or a rejection or skip to report.
enum Discovery {
    Queued(Entry),
    Reported(Found),
}

struct Engine {
    shared: Arc<Shared>,
    config: EngineConfig,
    sink: Sink,
    jobs: BTreeMap<FileId, Job>,
    queue: VecDeque<FileId>,
    running: usize,
    paused: bool,
    concurrency: usize,
    scanning: usize,
    retry_timers: usize,
    next_id: Arc<AtomicU64>,
    internal_tx: mpsc::UnboundedSender<Internal>,
    internal_rx: mpsc::UnboundedReceiver<Internal>,
    updates_tx: mpsc::UnboundedSender<Update>,
    updates_rx: mpsc::UnboundedReceiver<Update>,
    batch_meter: SpeedMeter,
    batch_dirty: bool,
    idle: bool,
}

impl Engine {
    async fn open(
        client: RunflowClient,
        config: EngineConfig,
        sink: Sink,
    ) -> std::io::Result<Self> {
        let data_dir = config.data_dir.clone();
        let (journal, index, entries) = tokio::task::spawn_blocking(move || {
            let (journal, entries) = Journal::open_exclusive(&data_dir.join("journal"))?;
            let index = DuplicateIndex::load(&data_dir.join("uploaded-index.jsonl"))?;
            Ok::<_, std::io::Error>((journal, index, entries))
        })
        .await
        .map_err(std::io::Error::other)??;
        let (internal_tx, internal_rx) = mpsc::unbounded_channel();
        let (updates_tx, updates_rx) = mpsc::unbounded_channel();
        let next_id = entries.last().map_or(1, |e| e.id + 1);
        let concurrency = config.concurrency.clamp(1, MAX_CONCURRENCY);
        let mut engine = Self {
            shared: Arc::new(Shared {
                client,
                journal,
                index: Arc::new(Mutex::new(index)),
                types: OnceCell::new(),
                stall_timeout: config.stall_timeout,
            }),
            config,
            sink,
            jobs: BTreeMap::new(),
            queue: VecDeque::new(),
            running: 0,
            paused: false,
            concurrency,
            scanning: 0,
            retry_timers: 0,
            next_id: Arc::new(AtomicU64::new(next_id)),
            internal_tx,
            internal_rx,
            updates_tx,
            updates_rx,
            batch_meter: SpeedMeter::default(),
            batch_dirty: false,
            idle: true,
        };
        for entry in entries {
            engine.queue_entry(entry, true);
        }
        Ok(engine)
    }

    async fn run(mut self, mut commands: mpsc::UnboundedReceiver<Command>) {
        let mut tick = tokio::time::interval(self.config.progress_interval);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        self.schedule();
        loop {
            let ticking = self.running > 0 || self.batch_dirty;
            tokio::select! {
                command = commands.recv() => match command {
                    Some(Command::Shutdown) | None => break,
                    Some(command) => self.handle_command(command),
                },
                Some(internal) = self.internal_rx.recv() => self.handle_internal(internal),
                Some(update) = self.updates_rx.recv() => self.handle_update(update),
                _ = tick.tick(), if ticking => self.report_progress(),
            }
            self.schedule();
            self.check_idle();
        }
        // Running files stop here; their journal entries stay, so the next start resumes them.
        for job in self.jobs.values() {
            if let Some(cancel) = &job.cancel {
                cancel.cancel();
            }
        }
        let journal = self.shared.journal.clone();
        let closed = tokio::task::spawn_blocking(move || journal.close_if_empty()).await;
        if let Ok(Err(err)) = closed {
            tracing::warn!(%err, "could not tidy the upload journal");
        }
    }

    fn handle_command(&mut self, command: Command) {
        match command {
            Command::Add {
                paths,
                folder_id,
                force,
            } => self.scan(paths, folder_id, force, false),
            Command::AddBytes {
                name,
                mime_type: _,
                bytes,
                folder_id,
            } => self.add_bytes(name, bytes, folder_id),
            Command::Cancel(id) => self.cancel(id),
            Command::CancelAll => {
                for id in self.ids_where(|state| !state.is_finished()) {
                    self.cancel(id);
                }
            }
            Command::Retry(id) => self.retry(id),
            Command::RetryFailed => {
                for id in self.ids_where(|state| matches!(state, FileState::Failed(_))) {
                    self.retry(id);
                }
            }
            Command::Remove(id) => self.remove(id),
            Command::ClearFinished => {
                for id in self.ids_where(FileState::is_success) {
                    self.remove(id);
                }
            }
            Command::Pause => {
                self.paused = true;
                self.batch_dirty = true;
            }
            Command::Resume => {
                self.paused = false;
                self.batch_dirty = true;
            }
            Command::SetConcurrency(n) => self.concurrency = n.clamp(1, MAX_CONCURRENCY),
            Command::Shutdown => {}
        }
    }

    fn handle_internal(&mut self, internal: Internal) {
        match internal {
            Internal::Discovered(found) => {
                self.scanning = self.scanning.saturating_sub(1);
                for discovery in found {
                    self.add_discovery(discovery);
                }
            }
            Internal::Requeue(id) => {
                self.retry_timers = self.retry_timers.saturating_sub(1);
                if let Some(job) = self.jobs.get(&id)
                    && matches!(job.state, FileState::Retrying { .. })
                {
                    self.set_state(id, FileState::Queued);
                    self.queue.push_back(id);
                }
            }
        }
    }

    fn handle_update(&mut self, update: Update) {
        match update {
            Update::State(id, state) => {
                if self
                    .jobs
                    .get(&id)
                    .is_some_and(|job| !job.state.is_finished())
                {
                    self.set_state(id, state);
                }
            }
            Update::Entry(entry) => {
                if let Some(job) = self.jobs.get_mut(&FileId(entry.id)) {
                    job.entry = Some(entry);
                }
            }
            Update::Finished(id, outcome) => self.finish(id, outcome),
        }
    }

    /// Walks and checks `paths` on a blocking thread, writing a journal entry for each file
    /// before it can start.
    fn scan(&mut self, paths: Vec<PathBuf>, folder_id: Option<String>, force: bool, owned: bool) {
        self.scanning += 1;
        self.idle = false;
        let journal = self.shared.journal.clone();
        let next_id = Arc::clone(&self.next_id);
        let internal = self.internal_tx.clone();
        tokio::task::spawn_blocking(move || {
            let found = discover(&paths)
                .into_iter()
                .map(|found| match found {
                    Found::File(file) => {
                        let entry = Entry {
                            id: next_id.fetch_add(1, Ordering::Relaxed),
                            path: file.path,
                            name: file.name,
                            size_bytes: file.size_bytes,
                            modified_ns: file.modified_ns,
                            mime_type: file.mime_type,
                            folder_id: folder_id.clone(),
                            force,
                            hash: None,
                            step: Step::Pending,
                            owned_file: owned,
                        };
                        match journal.write(&entry, false) {
                            Ok(()) => Discovery::Queued(entry),
                            Err(err) => Discovery::Reported(Found::Rejected {
                                path: entry.path,
                                name: entry.name,
                                size_bytes: Some(entry.size_bytes),
                                reason: UploadFailure::Journal(err.to_string()),
                            }),
                        }
                    }
                    other => Discovery::Reported(other),
                })
                .collect();
            let _ = internal.send(Internal::Discovered(found));
        });
    }

    /// Pasted bytes are first written to a file of the app's own, so a crash loses nothing.
    fn add_bytes(&mut self, name: String, bytes: bytes::Bytes, folder_id: Option<String>) {
        let dir = self.config.data_dir.join("pasted");
        let file_name = format!("{}-{name}", uuid::Uuid::new_v4().simple());
        match std::fs::create_dir_all(&dir)
            .and_then(|()| std::fs::write(dir.join(&file_name), &bytes))
        {
            Ok(()) => self.scan(vec![dir.join(file_name)], folder_id, false, true),
            Err(err) => {
                let id = self.allocate_id();
                self.insert_job(
                    id,
                    Job::rejected(name, None, Some(bytes.len() as u64)),
                    FileState::Failed(UploadFailure::Journal(err.to_string())),
                    false,
                );
            }
        }
    }

    fn add_discovery(&mut self, discovery: Discovery) {
        match discovery {
            Discovery::Queued(entry) => {
                let duplicate = self.jobs.values().any(|job| {
                    !job.state.is_finished() && job.path.as_deref() == Some(entry.path.as_path())
                });
                if duplicate {
                    let _ = self.shared.journal.remove(entry.id);
                    self.sink.emit(Event::Skipped {
                        path: entry.path,
                        reason: "already in the upload queue".to_owned(),
                    });
                    return;
                }
                // With the supported list already known, reject at once instead of in a slot.
                if let Some(types) = self.shared.types.get()
                    && let Err(reason) = worker::check_supported(types, &entry.mime_type)
                {
                    let _ = self.shared.journal.remove(entry.id);
                    let id = FileId(entry.id);
                    let job = Job::rejected(entry.name, Some(entry.path), Some(entry.size_bytes));
                    self.insert_job(id, job, FileState::Failed(reason), false);
                    return;
                }
                self.queue_entry(entry, false);
            }
            Discovery::Reported(Found::Rejected {
                path,
                name,
                size_bytes,
                reason,
            }) => {
                let id = self.allocate_id();
                let job = Job::rejected(name, Some(path), size_bytes);
                self.insert_job(id, job, FileState::Failed(reason), false);
            }
            Discovery::Reported(Found::Skipped { path, reason }) => {
                self.sink.emit(Event::Skipped { path, reason });
            }
            // Files become `Queued` entries in `scan`; a bare one is never reported.
            Discovery::Reported(Found::File(_)) => {}
        }
    }

    fn queue_entry(&mut self, entry: Entry, resumed: bool) {
        let id = FileId(entry.id);
        let job = Job {
            name: entry.name.clone(),
            path: Some(entry.path.clone()),
            size_bytes: Some(entry.size_bytes),
            entry: Some(entry),
            state: FileState::Queued,
            sent: Arc::default(),
            reported_sent: 0,
            meter: SpeedMeter::default(),
            cancel: None,
            attempts: 0,
        };
        self.insert_job(id, job, FileState::Queued, resumed);
        self.queue.push_back(id);
    }

    fn insert_job(&mut self, id: FileId, mut job: Job, state: FileState, resumed: bool) {
        job.state = state.clone();
        self.sink.emit(Event::Added {
            id,
            path: job.path.clone(),
            name: job.name.clone(),
            size_bytes: job.size_bytes,
            mime_type: job.entry.as_ref().map(|e| e.mime_type.clone()),
            state,
            resumed,
        });
        self.jobs.insert(id, job);
        self.batch_dirty = true;
        self.idle = false;
    }

    fn allocate_id(&self) -> FileId {
        FileId(self.next_id.fetch_add(1, Ordering::Relaxed))
    }

    /// Starts queued files while slots are free.
    fn schedule(&mut self) {
        while !self.paused && self.running < self.concurrency {
            let Some(id) = self.queue.pop_front() else {
                break;
            };
            let Some(job) = self.jobs.get_mut(&id) else {
                continue;
            };
            let (FileState::Queued, Some(entry)) = (&job.state, &job.entry) else {
                continue;
            };
            let cancel = CancellationToken::new();
            job.cancel = Some(cancel.clone());
            job.sent.store(0, Ordering::Relaxed);
            job.reported_sent = 0;
            job.meter.reset();
            let work = Work {
                entry: entry.clone(),
                hash_task: None,
                sent: Arc::clone(&job.sent),
                cancel,
                updates: self.updates_tx.clone(),
            };
            self.running += 1;
            tokio::spawn(worker::run(Arc::clone(&self.shared), work));
        }
    }

    fn finish(&mut self, id: FileId, outcome: Outcome) {
        self.running = self.running.saturating_sub(1);
        let Some(job) = self.jobs.get_mut(&id) else {
            return;
        };
        job.cancel = None;
        if let Some(size) = job.size_bytes
            && matches!(outcome, Outcome::Done(_))
        {
            job.sent.store(size, Ordering::Relaxed);
        }
        let state = match outcome {
            Outcome::Done(asset) => FileState::Done(asset),
            Outcome::AlreadyUploaded(asset_id) => FileState::AlreadyUploaded { asset_id },
            Outcome::Cancelled => FileState::Cancelled,
            Outcome::Failed(failure)
                if failure.is_transient() && job.attempts + 1 < self.config.max_file_attempts =>
            {
                job.attempts += 1;
                let wait = (self.config.file_retry_wait * 2_u32.pow(job.attempts.min(16) - 1))
                    .min(MAX_FILE_RETRY_WAIT);
                let internal = self.internal_tx.clone();
                self.retry_timers += 1;
                tokio::spawn(async move {
                    tokio::time::sleep(wait).await;
                    let _ = internal.send(Internal::Requeue(id));
                });
                FileState::Retrying {
                    reason: failure.to_string(),
                    wait,
                }
            }
            Outcome::Failed(failure) => FileState::Failed(failure),
        };
        self.settle_journal(id, &state);
        self.set_state(id, state);
    }

    /// Drops the journal entry of a file that needs no more work. Transient failures keep
    /// theirs, so the next start tries again and nothing is lost.
    fn settle_journal(&self, id: FileId, state: &FileState) {
        let Some(entry) = self.jobs.get(&id).and_then(|job| job.entry.as_ref()) else {
            return;
        };
        let forget = match state {
            FileState::Done(_) | FileState::AlreadyUploaded { .. } | FileState::Cancelled => true,
            FileState::Failed(failure) => !failure.is_transient(),
            _ => false,
        };
        if forget {
            if let Err(err) = self.shared.journal.remove(entry.id) {
                tracing::warn!(%err, "could not remove a finished journal entry");
            }
            if entry.owned_file && state.is_success() {
                let _ = std::fs::remove_file(&entry.path);
            }
        }
    }

    fn cancel(&mut self, id: FileId) {
        let Some(job) = self.jobs.get(&id) else {
            return;
        };
        if job.state.is_finished() {
            return;
        }
        if let Some(cancel) = &job.cancel {
            // The worker stops at once and reports `Cancelled` (or `Done`, if the confirm was
            // already under way).
            cancel.cancel();
            return;
        }
        self.queue.retain(|queued| *queued != id);
        self.settle_journal(id, &FileState::Cancelled);
        self.set_state(id, FileState::Cancelled);
    }

    fn retry(&mut self, id: FileId) {
        let Some(job) = self.jobs.get_mut(&id) else {
            return;
        };
        if !matches!(job.state, FileState::Failed(_) | FileState::Cancelled) {
            return;
        }
        let Some(entry) = job.entry.clone() else {
            // Rejected before queueing: check the path again (it may have been fixed).
            if let Some(path) = job.path.clone() {
                self.jobs.remove(&id);
                self.sink.emit(Event::Removed(id));
                self.scan(vec![path], None, false, false);
            }
            return;
        };
        job.attempts = 0;
        if let Err(err) = self.shared.journal.write(&entry, false) {
            self.set_state(
                id,
                FileState::Failed(UploadFailure::Journal(err.to_string())),
            );
            return;
        }
        self.set_state(id, FileState::Queued);
        self.queue.push_back(id);
    }

    fn remove(&mut self, id: FileId) {
        if self
            .jobs
            .get(&id)
            .is_some_and(|job| !job.state.is_finished())
        {
            self.cancel(id);
        }
        if self
            .jobs
            .get(&id)
            .is_some_and(|job| job.state.is_finished())
        {
            self.jobs.remove(&id);
            self.sink.emit(Event::Removed(id));
            self.batch_dirty = true;
        }
    }

    /// Ids of the files whose state matches.
    fn ids_where(&self, matches: impl Fn(&FileState) -> bool) -> Vec<FileId> {
        self.jobs
            .iter()
            .filter(|(_, job)| matches(&job.state))
            .map(|(id, _)| *id)
            .collect()
    }

    fn set_state(&mut self, id: FileId, state: FileState) {
        let Some(job) = self.jobs.get_mut(&id) else {
            return;
        };
        if job.state == state {
            return;
        }
        if state.is_finished() {
            // The final byte count goes out before the outcome.
            Self::report_file_progress(&self.sink, id, job, Instant::now());
        }
        job.state = state.clone();
        self.batch_dirty = true;
        self.sink.emit(Event::State { id, state });
    }

    fn report_progress(&mut self) {
        let now = Instant::now();
        for (id, job) in &mut self.jobs {
            if job.cancel.is_some() {
                Self::report_file_progress(&self.sink, *id, job, now);
            }
        }
        self.emit_batch(now);
    }

    fn report_file_progress(sink: &Sink, id: FileId, job: &mut Job, now: Instant) {
        let sent = job.sent.load(Ordering::Relaxed);
        let total = job.size_bytes.unwrap_or(0);
        job.meter.update(now, sent);
        if sent == job.reported_sent {
            return;
        }
        job.reported_sent = sent;
        sink.emit(Event::Progress {
            id,
            sent_bytes: sent,
            total_bytes: total,
            bytes_per_sec: job.meter.bytes_per_sec(now),
            eta: job.meter.eta(now, total.saturating_sub(sent)),
        });
    }

    fn emit_batch(&mut self, now: Instant) {
        let mut batch = BatchProgress {
            total_files: self.jobs.len(),
            paused: self.paused,
            ..BatchProgress::default()
        };
        for job in self.jobs.values() {
            let size = job.size_bytes.unwrap_or(0);
            match &job.state {
                FileState::Done(_) | FileState::AlreadyUploaded { .. } => {
                    batch.succeeded_files += 1;
                    batch.sent_bytes += size;
                    batch.total_bytes += size;
                }
                FileState::Failed(_) => batch.failed_files += 1,
                FileState::Cancelled => batch.cancelled_files += 1,
                FileState::Queued | FileState::Retrying { .. } => {
                    batch.queued_files += 1;
                    batch.total_bytes += size;
                }
                _ => {
                    batch.active_files += 1;
                    batch.sent_bytes += job.sent.load(Ordering::Relaxed).min(size);
                    batch.total_bytes += size;
                }
            }
        }
        if self.running > 0 {
            self.batch_meter.update(now, batch.sent_bytes);
            batch.bytes_per_sec = self.batch_meter.bytes_per_sec(now);
            batch.eta = self
                .batch_meter
                .eta(now, batch.total_bytes.saturating_sub(batch.sent_bytes));
        } else {
            self.batch_meter.reset();
        }
        self.batch_dirty = false;
        self.sink.emit(Event::Batch(batch));
    }

    fn check_idle(&mut self) {
        let idle = self.queue.is_empty()
            && self.running == 0
            && self.scanning == 0
            && self.retry_timers == 0;
        if idle && !self.idle {
            self.emit_batch(Instant::now());
            self.sink.emit(Event::Idle);
        }
        self.idle = idle;
    }
}

impl Job {
    fn rejected(name: String, path: Option<PathBuf>, size_bytes: Option<u64>) -> Self {
        Self {
            name,
            path,
            size_bytes,
            entry: None,
            state: FileState::Queued,
            sent: Arc::default(),
            reported_sent: 0,
            meter: SpeedMeter::default(),
            cancel: None,
            attempts: 0,
        }
    }
}
