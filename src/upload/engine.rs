//! The engine task: a thin loop around the [`Queue`] state machine. It turns commands and the
//! results of finished work into queue inputs, and runs the effects the queue hands back (the
//! journal writer, Runflow calls, file checks, timers, events). It runs as one task on the
//! runtime owned by `main`.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::sync::{OnceCell, mpsc};
use tokio_util::sync::CancellationToken;

use crate::api::RunflowClient;

use super::claims::{Claim, Claims};
use super::discover::DiscoverOptions;
use super::discover::Found;
use super::effects::{self, JournalOp, Shared};
use super::index::DuplicateIndex;
use super::journal::{AccountScope, Journal, Walk};
use super::protocol::{Command, Event, FileId, FileState};
use super::queue::{Answer, CHECK_CONCURRENCY, Effect, Queue, QueueConfig, Scanned, Ticket};
use super::sink::Waker;
use super::speed::{SpeedMeter, Transfer};

/// Engine settings.
#[derive(Debug, Clone)]
pub struct EngineConfig {
    /// Journal, duplicate index, claims and pasted files live here.
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
    /// The server and account the uploads go to; `None`: asked with `/v1/auth/me` at start.
    pub account: Option<AccountScope>,
    /// How folders are walked (whether links out of a dropped folder are followed).
    pub discover: DiscoverOptions,
    /// Whether an earlier run's unfinished uploads wait for [`Command::ResumeEarlier`] (the
    /// window asks the user) instead of resuming at once (the CLI).
    pub hold_earlier: bool,
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
            account: None,
            discover: DiscoverOptions::default(),
            hold_earlier: false,
        }
    }
}

/// Files uploaded at once unless set otherwise.
pub const DEFAULT_CONCURRENCY: usize = 4;
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

/// Starts the engine on `runtime`. Unfinished uploads of its account resume at once, or with
/// `hold_earlier` when told to.
pub fn spawn(
    runtime: &tokio::runtime::Handle,
    client: RunflowClient,
    config: EngineConfig,
    waker: Waker,
) -> (EngineHandle, mpsc::UnboundedReceiver<Event>) {
    let (command_tx, command_rx) = mpsc::unbounded_channel();
    let (sink, event_rx) = Sink::channel(waker);
    runtime.spawn(async move {
        match Engine::open(client, config, sink.clone()).await {
            Ok(engine) => engine.run(command_rx).await,
            Err(err) => {
                tracing::error!(%err, "the upload engine could not start");
                sink.emit(Event::Skipped {
                    path: PathBuf::new(),
                    reason: format!("{}: {err}", super::protocol::ENGINE_DISABLED),
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

type Sink = super::sink::Sink<Event>;

/// Messages from spawned work back to the loop.
enum Internal {
    Claimed(Ticket, Result<Option<Claim>, String>),
    Timer(Ticket),
    /// The next findings of a scan.
    Scanned(u64, Scanned),
    /// A scan's walk ended.
    ScanDone(u64),
    Foreign(Vec<super::protocol::ForeignUploads>),
}

struct Engine {
    shared: Arc<Shared>,
    config: EngineConfig,
    journal_root: PathBuf,
    sink: Sink,
    queue: Queue,
    journal: std::sync::mpsc::Sender<JournalOp>,
    /// Journal operations not applied yet (see [`effects::journal_writer`]).
    journal_backlog: Arc<AtomicUsize>,
    /// [`Queue::in_line`] after each step, for the walks.
    in_line: Arc<AtomicUsize>,
    /// Findings the walks sent that this actor has not read yet: in line too, as far as a
    /// walk's bound goes (a busy actor would otherwise let a walk run thousands ahead).
    unread: Arc<AtomicUsize>,
    answers_tx: mpsc::UnboundedSender<(Ticket, Answer)>,
    answers_rx: mpsc::UnboundedReceiver<(Ticket, Answer)>,
    internal_tx: mpsc::UnboundedSender<Internal>,
    internal_rx: mpsc::UnboundedReceiver<Internal>,
    /// Running work per file, cancelled by [`Effect::Abort`].
    tokens: HashMap<FileId, CancellationToken>,
    claims: HashMap<FileId, Claim>,
    transfers: HashMap<FileId, Transfer>,
    batch_meter: SpeedMeter,
    batch_dirty: bool,
    /// Walks under way, by scan id.
    scans: HashMap<u64, ScanState>,
    next_scan: u64,
}

/// Journal operations waiting for the writer before a folder walk waits too.
const JOURNAL_BACKLOG_MAX: usize = 2048;

/// Files in line (queued, being checked or uploaded) before a folder walk waits for the
/// uploads: the queue holds this many files of a walk, not all 100,000 (the walk's journal
/// record keeps the rest safe). Far above what the uploads need to stay busy.
const IN_LINE_MAX: usize = 4096;

/// One walk of dropped paths.
struct ScanState {
    label: String,
    found: usize,
    /// Set to stop the walk ([`Command::StopScan`]).
    stop: Arc<AtomicBool>,
    /// Its record in the journal, removed once the walk ends (a folder walk; pasted bytes and
    /// nothing else have none).
    walk: Option<String>,
    /// An earlier run's walk going again.
    again: bool,
    /// Ended by Cancel all: its findings still on the way are not queued.
    cancelled: bool,
}

/// `~/Pictures`, or `~/Pictures and 2 more`, for the scanning row.
fn scan_label(paths: &[PathBuf], pasted: Option<&str>) -> String {
    let Some(first) = paths.first() else {
        return pasted.unwrap_or("pasted image").to_owned();
    };
    let home = std::env::var_os("HOME").map(PathBuf::from);
    let shown = match home
        .as_deref()
        .and_then(|home| first.strip_prefix(home).ok())
    {
        Some(rest) if !rest.as_os_str().is_empty() => format!("~/{}", rest.display()),
        _ => first.display().to_string(),
    };
    match paths.len() {
        1 => shown,
        n => format!("{shown} and {} more", n - 1),
    }
}

impl Engine {
    async fn open(client: RunflowClient, config: EngineConfig, sink: Sink) -> anyhow::Result<Self> {
        let scope = match config.account.clone() {
            Some(scope) => scope,
            None => {
                let user = client.current_user().await.map_err(|err| {
                    anyhow::anyhow!("could not tell which account the key belongs to ({err})")
                })?;
                AccountScope::of(&client, &user)
            }
        };
        let data_dir = config.data_dir.clone();
        let journal_root = data_dir.join(super::journal::JOURNAL_DIR);
        let (opened, index) = {
            let (root, scope) = (journal_root.clone(), scope.clone());
            tokio::task::spawn_blocking(move || {
                let opened = Journal::open_exclusive(&root, &scope)?;
                let index = DuplicateIndex::load(&data_dir.join("uploaded-index.jsonl"))?;
                Ok::<_, std::io::Error>((opened, index))
            })
            .await?
            .map_err(|err| {
                anyhow::anyhow!(
                    "the upload journal could not be opened ({err}); check the app's data folder"
                )
            })?
        };
        let claims = Claims::new(&config.data_dir.join("claims").join(scope.key()));
        let (answers_tx, answers_rx) = mpsc::unbounded_channel();
        let (internal_tx, internal_rx) = mpsc::unbounded_channel();
        let journal_backlog = Arc::new(AtomicUsize::new(0));
        let journal = effects::journal_writer(
            opened.journal,
            answers_tx.clone(),
            Arc::clone(&journal_backlog),
        );
        let mut queue = Queue::new(
            QueueConfig {
                concurrency: config.concurrency.clamp(1, MAX_CONCURRENCY),
                check_concurrency: CHECK_CONCURRENCY,
                max_file_attempts: config.max_file_attempts,
                file_retry_wait: config.file_retry_wait,
                hold_earlier: config.hold_earlier,
            },
            0,
        );
        queue.resume(opened.entries, opened.walks);
        if !opened.foreign.is_empty() {
            sink.emit(Event::ForeignUploads(opened.foreign));
        }
        Ok(Self {
            shared: Arc::new(Shared {
                client,
                scope,
                index: Mutex::new(index),
                claims,
                types: OnceCell::new(),
                stall_timeout: config.stall_timeout,
            }),
            config,
            journal_root,
            sink,
            queue,
            journal,
            journal_backlog,
            in_line: Arc::new(AtomicUsize::new(0)),
            unread: Arc::new(AtomicUsize::new(0)),
            answers_tx,
            answers_rx,
            internal_tx,
            internal_rx,
            tokens: HashMap::new(),
            claims: HashMap::new(),
            transfers: HashMap::new(),
            batch_meter: SpeedMeter::default(),
            batch_dirty: true,
            scans: HashMap::new(),
            next_scan: 1,
        })
    }

    async fn run(mut self, mut commands: mpsc::UnboundedReceiver<Command>) {
        let mut tick = tokio::time::interval(self.config.progress_interval);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        self.run_effects();
        loop {
            let ticking = !self.transfers.is_empty() || self.batch_dirty;
            tokio::select! {
                command = commands.recv() => match command {
                    Some(Command::Shutdown) | None => break,
                    Some(command) => self.command(command),
                },
                Some((ticket, answer)) = self.answers_rx.recv() => self.queue.answer(ticket, answer),
                Some(internal) = self.internal_rx.recv() => self.internal(internal),
                _ = tick.tick(), if ticking => self.report_progress(),
            }
            self.run_effects();
        }
        // Running work stops here; the journal keeps every unfinished file for the next start.
        for token in self.tokens.values() {
            token.cancel();
        }
        self.claims.clear();
        // Walks still going end here (their findings have nowhere to go).
        for scan in self.scans.values() {
            scan.stop.store(true, Ordering::Relaxed);
        }
        let (done_tx, done_rx) = tokio::sync::oneshot::channel();
        self.journal_backlog.fetch_add(1, Ordering::Relaxed);
        if self.journal.send(JournalOp::Close(done_tx)).is_ok() {
            let _ = done_rx.await;
        }
    }

    fn command(&mut self, command: Command) {
        match command {
            Command::Add {
                paths,
                folder_id,
                force,
            } => self.scan(paths, None, folder_id, force),
            Command::AddBytes {
                name,
                mime_type: _,
                bytes,
                folder_id,
            } => self.scan(Vec::new(), Some((name, bytes)), folder_id, false),
            Command::DiscardForeign(key) => self.discard_foreign(key),
            // Walks waiting for the uploads would queue more after the cancel: they end too,
            // and what they found and had not handed over yet is dropped with them.
            Command::CancelAll => {
                for state in self.scans.values_mut() {
                    state.stop.store(true, Ordering::Relaxed);
                    state.cancelled = true;
                }
                self.queue.command(Command::CancelAll);
                self.batch_dirty = true;
            }
            Command::StopScan(scan) => {
                if let Some(state) = self.scans.get(&scan) {
                    state.stop.store(true, Ordering::Relaxed);
                }
            }
            other => {
                self.queue.command(other);
                // Pause, resume and the earlier run's files change the totals without a file
                // changing state.
                self.batch_dirty = true;
            }
        }
    }

    fn internal(&mut self, internal: Internal) {
        if let Internal::Scanned(_, scanned) = &internal {
            self.unread
                .fetch_sub(scanned.found.len(), Ordering::Relaxed);
        }
        match internal {
            Internal::Claimed(ticket, result) => {
                let granted = match result {
                    Ok(Some(claim)) if self.queue.is_current(ticket) => {
                        self.claims.insert(ticket.id, claim);
                        Ok(true)
                    }
                    // A claim for a file that moved on is dropped (released) here.
                    Ok(Some(_)) => return,
                    Ok(None) => Ok(false),
                    Err(err) => Err(err),
                };
                self.queue.answer(ticket, Answer::Claimed(granted));
            }
            Internal::Timer(ticket) => self.queue.timer_fired(ticket),
            Internal::Scanned(scan, _) if self.scans.get(&scan).is_some_and(|s| s.cancelled) => {}
            Internal::Scanned(scan, scanned) => {
                let files = scanned
                    .found
                    .iter()
                    .filter(|f| !matches!(f, Found::Skipped { .. }))
                    .count();
                self.queue.discovered(scanned);
                if let Some(state) = self.scans.get_mut(&scan) {
                    state.found += files;
                    let event = Event::Scanning {
                        scan,
                        label: state.label.clone(),
                        found: state.found,
                        done: false,
                    };
                    self.sink.emit(event);
                }
            }
            Internal::ScanDone(scan) => {
                let state = self.scans.remove(&scan);
                self.queue
                    .scan_finished(state.as_ref().is_some_and(|s| s.again));
                if let Some(state) = state {
                    // Every file it found is in the journal by now (the writer keeps order).
                    if let Some(key) = state.walk {
                        self.to_journal(JournalOp::RemoveWalk(key));
                    }
                    self.sink.emit(Event::Scanning {
                        scan,
                        label: state.label,
                        found: state.found,
                        done: true,
                    });
                }
            }
            Internal::Foreign(foreign) => self.sink.emit(Event::ForeignUploads(foreign)),
        }
    }

    /// Walks and checks `paths` (or saves pasted bytes first) on a blocking thread. Findings
    /// join the queue in chunks as the walk goes; the scan is reported at once, so the window
    /// shows it before the first file is found. A folder walk is recorded in the journal first.
    fn scan(
        &mut self,
        paths: Vec<PathBuf>,
        pasted: Option<(String, bytes::Bytes)>,
        folder_id: Option<String>,
        force: bool,
    ) {
        self.queue.scan_started();
        let walk = (pasted.is_none() && !paths.is_empty()).then(|| Walk {
            key: uuid::Uuid::new_v4().simple().to_string(),
            paths: paths.clone(),
            folder_id: folder_id.clone(),
            force,
        });
        if let Some(walk) = &walk {
            self.to_journal(JournalOp::WriteWalk(Box::new(walk.clone())));
        }
        let scanned = Scanned {
            found: Vec::new(),
            folder_id,
            force,
            owned: pasted.is_some(),
            again: false,
        };
        self.start_walk(paths, pasted, scanned, walk.map(|w| w.key));
    }

    /// An earlier run's walk again (counted as a scan by the queue already). Without `force`:
    /// what that run uploaded is in the index now, and must not go twice.
    fn walk_again(&mut self, walk: Walk) {
        let scanned = Scanned {
            found: Vec::new(),
            folder_id: walk.folder_id,
            force: false,
            owned: false,
            again: true,
        };
        self.start_walk(walk.paths, None, scanned, Some(walk.key));
    }

    fn start_walk(
        &mut self,
        paths: Vec<PathBuf>,
        pasted: Option<(String, bytes::Bytes)>,
        scanned: Scanned,
        walk: Option<String>,
    ) {
        let scan = self.next_scan;
        self.next_scan += 1;
        let stop = Arc::new(AtomicBool::new(false));
        let label = scan_label(&paths, pasted.as_ref().map(|(name, _)| name.as_str()));
        self.sink.emit(Event::Scanning {
            scan,
            label: label.clone(),
            found: 0,
            done: false,
        });
        self.scans.insert(
            scan,
            ScanState {
                label,
                found: 0,
                stop: Arc::clone(&stop),
                walk,
                again: scanned.again,
                cancelled: false,
            },
        );
        let internal = self.internal_tx.clone();
        let pasted_dir = self.config.data_dir.join("pasted");
        let options = self.config.discover;
        let backlog = Arc::clone(&self.journal_backlog);
        let in_line = Arc::clone(&self.in_line);
        let unread = Arc::clone(&self.unread);
        tokio::task::spawn_blocking(move || {
            effects::scan(&paths, pasted, &pasted_dir, &options, |found| {
                // The walk may not outrun the journal (entries waiting for the writer are
                // memory) nor the uploads (files in line are memory too).
                while (backlog.load(Ordering::Relaxed) > JOURNAL_BACKLOG_MAX
                    || in_line.load(Ordering::Relaxed) + unread.load(Ordering::Relaxed)
                        > IN_LINE_MAX)
                    && !stop.load(Ordering::Relaxed)
                {
                    std::thread::sleep(Duration::from_millis(5));
                }
                let chunk = Scanned {
                    found,
                    folder_id: scanned.folder_id.clone(),
                    force: scanned.force,
                    owned: scanned.owned,
                    again: scanned.again,
                };
                unread.fetch_add(chunk.found.len(), Ordering::Relaxed);
                internal.send(Internal::Scanned(scan, chunk)).is_ok()
                    && !stop.load(Ordering::Relaxed)
            });
            let _ = internal.send(Internal::ScanDone(scan));
        });
    }

    fn discard_foreign(&mut self, key: String) {
        let root = self.journal_root.clone();
        let own = self.shared.scope.key();
        let internal = self.internal_tx.clone();
        tokio::task::spawn_blocking(move || {
            if let Err(err) = Journal::discard_account(&root, &key) {
                tracing::warn!(%err, "could not discard another account's uploads");
            }
            let _ = internal.send(Internal::Foreign(Journal::foreign(&root, &own)));
        });
    }

    fn run_effects(&mut self) {
        while let Some(effect) = self.queue.poll_effect() {
            self.run_effect(effect);
        }
        self.in_line.store(self.queue.in_line(), Ordering::Relaxed);
    }

    fn run_effect(&mut self, effect: Effect) {
        match effect {
            Effect::Emit(event) => self.emit(event),
            Effect::WriteJournal {
                entry,
                durable,
                ack,
            } => self.to_journal(JournalOp::Write {
                entry: Box::new(entry),
                durable,
                ack,
            }),
            Effect::RemoveJournal { id } => self.to_journal(JournalOp::Remove(id)),
            Effect::Prepare { ticket, entry } => self.spawn(ticket, true, move |s| async move {
                Answer::Prepared(effects::prepare(&s, &entry).await)
            }),
            Effect::Claim { ticket, hash } => {
                let (shared, internal) = (Arc::clone(&self.shared), self.internal_tx.clone());
                tokio::spawn(async move {
                    let result = effects::claim(&shared, hash).await;
                    let _ = internal.send(Internal::Claimed(ticket, result));
                });
            }
            Effect::Release { id } => {
                self.claims.remove(&id);
            }
            Effect::FindUploaded { ticket, hash } => {
                self.spawn(ticket, true, move |s| async move {
                    Answer::Found(effects::find_uploaded(&s, &hash).await)
                })
            }
            Effect::CreateSession { ticket, entry } => {
                self.spawn(ticket, true, move |s| async move {
                    effects::create(&s, &entry).await
                });
            }
            Effect::Put {
                ticket,
                entry,
                upload_url,
            } => {
                let transfer = self.transfers.entry(ticket.id).or_default();
                transfer.sent.store(0, Ordering::Relaxed);
                transfer.meter.reset();
                transfer.reported = None;
                transfer.size_bytes = entry.size_bytes;
                let sent = Arc::clone(&transfer.sent);
                self.spawn(ticket, true, move |s| async move {
                    Answer::PutFinished(effects::put(&s, &entry, &upload_url, sent).await)
                });
            }
            // A confirm is never cut short: its answer decides what the file became.
            Effect::Confirm {
                ticket,
                asset_id,
                folder_id,
            } => self.spawn(ticket, false, move |s| async move {
                Answer::Confirmed(
                    s.client
                        .confirm_upload(&asset_id, folder_id.as_deref())
                        .await,
                )
            }),
            Effect::GetAsset { ticket, asset_id } => {
                self.spawn(ticket, false, move |s| async move {
                    Answer::AssetChecked(s.client.asset(&asset_id).await)
                })
            }
            Effect::Move {
                ticket,
                asset_id,
                folder_id,
            } => self.spawn(ticket, false, move |s| async move {
                effects::move_asset(&s, &asset_id, folder_id).await
            }),
            // Written before the claim is released (the next effect), so another process that
            // takes the claim finds the asset in the index. One short append.
            Effect::Record {
                hash,
                size_bytes,
                asset_id,
            } => effects::record(&self.shared, &hash, size_bytes, Some(&asset_id)),
            Effect::Abort { id } => {
                if let Some(token) = self.tokens.remove(&id) {
                    token.cancel();
                }
            }
            Effect::SetTimer { ticket, wait } => {
                let internal = self.internal_tx.clone();
                tokio::spawn(async move {
                    tokio::time::sleep(wait).await;
                    let _ = internal.send(Internal::Timer(ticket));
                });
            }
            Effect::Rescan { path, folder_id } => self.scan(vec![path], None, folder_id, false),
            Effect::Walk(walk) => self.walk_again(walk),
            Effect::ForgetWalk { key } => self.to_journal(JournalOp::RemoveWalk(key)),
            Effect::DeleteOwnedFile { path } => {
                tokio::task::spawn_blocking(move || {
                    let _ = std::fs::remove_file(path);
                });
            }
        }
    }

    /// Runs one piece of work for a file; `abortable` work stops when the file is cancelled.
    fn spawn<F, Fut>(&mut self, ticket: Ticket, abortable: bool, work: F)
    where
        F: FnOnce(Arc<Shared>) -> Fut,
        Fut: Future<Output = Answer> + Send + 'static,
    {
        let shared = Arc::clone(&self.shared);
        let answers = self.answers_tx.clone();
        let token = if abortable {
            self.tokens.entry(ticket.id).or_default().clone()
        } else {
            CancellationToken::new()
        };
        let work = work(shared);
        tokio::spawn(async move {
            tokio::select! {
                biased;
                () = token.cancelled() => {}
                answer = work => {
                    let _ = answers.send((ticket, answer));
                }
            }
        });
    }

    fn to_journal(&self, op: JournalOp) {
        self.journal_backlog.fetch_add(1, Ordering::Relaxed);
        if self.journal.send(op).is_err() {
            tracing::error!("the journal writer has stopped");
        }
    }

    fn emit(&mut self, event: Event) {
        match &event {
            Event::State { id, state } if state.is_finished() => {
                // The final byte count goes out before the outcome.
                if let Some(mut transfer) = self.transfers.remove(id) {
                    if matches!(state, FileState::Done(_)) {
                        transfer.sent.store(transfer.size_bytes, Ordering::Relaxed);
                    }
                    if let Some(event) = transfer.progress(*id, Instant::now()) {
                        self.sink.emit(event);
                    }
                }
                self.tokens.remove(id);
                self.batch_dirty = true;
            }
            Event::Idle => self.emit_batch(Instant::now()),
            Event::Added { .. } | Event::State { .. } | Event::Removed(_) => {
                self.batch_dirty = true;
            }
            _ => {}
        }
        self.sink.emit(event);
    }

    fn report_progress(&mut self) {
        let now = Instant::now();
        for (id, transfer) in &mut self.transfers {
            if let Some(event) = transfer.progress(*id, now) {
                self.sink.emit(event);
            }
        }
        self.emit_batch(now);
    }

    fn emit_batch(&mut self, now: Instant) {
        let transfers = &self.transfers;
        let mut batch = self.queue.batch(|id| {
            transfers
                .get(&id)
                .map_or(0, |t| t.sent.load(Ordering::Relaxed))
        });
        if batch.active_files > 0 {
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
}
