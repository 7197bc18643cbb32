//! The engine task: a thin loop around the [`Queue`] state machine. It turns commands and the
//! results of finished work into queue inputs, and runs the effects the queue hands back (the
//! journal writer, Runflow calls, file checks, timers, events). It runs as one task on the
//! runtime owned by `main`.

mod scans;

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::sync::{OnceCell, mpsc};
use tokio_util::sync::CancellationToken;

use crate::api::RunflowClient;
use crate::history::{History, Source};

use super::claims::{Claim, Claims};
use super::discover::DiscoverOptions;
use super::effects::{self, JournalOp, Shared};
use super::journal::{AccountScope, Journal};
use super::protocol::{Command, Event, FileId, FileState};
use super::queue::{Answer, CHECK_CONCURRENCY, Effect, Queue, QueueConfig, Scanned, Ticket};
use super::sink::Waker;
use super::speed::{SpeedMeter, Transfer};
use scans::ScanState;

/// Engine settings.
#[derive(Debug, Clone)]
pub struct EngineConfig {
    /// Journal, history (with the duplicate index), claims and pasted files live here.
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
    /// How its files come, for the history (pastes are told apart on their own).
    pub source: Source,
    /// Images of types Runflow does not take are converted without asking (the setting,
    /// `--convert`); [`Command::SetAutoConvert`] changes it.
    pub auto_convert: bool,
    /// Images over the limit are shrunk to fit without asking (`--fit`).
    pub auto_shrink: bool,
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
            source: Source::Drop,
            auto_convert: false,
            auto_shrink: false,
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
    /// Where the copies uploaded instead of files are made ([`Journal::copies_dir`]).
    copies_dir: PathBuf,
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
    /// The history's name of the batch running: the files recorded until the queue is idle.
    history_batch: Option<String>,
    /// Walks under way, by scan id.
    scans: HashMap<u64, ScanState>,
    next_scan: u64,
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
        let (opened, history) = {
            let (root, scope) = (journal_root.clone(), scope.clone());
            tokio::task::spawn_blocking(move || {
                let opened = Journal::open_exclusive(&root, &scope)?;
                let history = History::open(&data_dir).map_err(std::io::Error::other)?;
                Ok::<_, std::io::Error>((opened, history))
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
        let copies_dir = opened.journal.copies_dir();
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
                auto_convert: config.auto_convert,
                auto_shrink: config.auto_shrink,
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
                history: Mutex::new(history),
                source: config.source,
                claims,
                types: OnceCell::new(),
                stall_timeout: config.stall_timeout,
            }),
            config,
            journal_root,
            copies_dir,
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
            history_batch: None,
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
        self.stop_all_scans();
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
            } => self.scan(paths, None, folder_id, force, false),
            Command::AddWatched { paths, folder_id } => {
                self.scan(paths, None, folder_id, false, true)
            }
            Command::AddBytes {
                name,
                mime_type: _,
                bytes,
                folder_id,
            } => self.scan(Vec::new(), Some((name, bytes)), folder_id, false, false),
            Command::DiscardForeign(key) => self.discard_foreign(key),
            Command::CancelAll => {
                self.cancel_scans();
                self.queue.command(Command::CancelAll);
                self.batch_dirty = true;
            }
            Command::StopScan(scan) => self.stop_scan(scan),
            other => {
                self.queue.command(other);
                // Pause, resume and the earlier run's files change the totals without a file
                // changing state.
                self.batch_dirty = true;
            }
        }
    }

    fn internal(&mut self, internal: Internal) {
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
            Internal::Scanned(scan, scanned) => self.scanned(scan, scanned),
            Internal::ScanDone(scan) => self.scan_done(scan),
            Internal::Foreign(foreign) => self.sink.emit(Event::ForeignUploads(foreign)),
        }
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
            Effect::MakeCopy { ticket, entry } => {
                let dir = self.copies_dir.clone();
                // Not abortable: a cancel's stale answer still names the copy, which the queue
                // then deletes.
                self.spawn(ticket, false, move |s| async move {
                    Answer::CopyMade(effects::make_copy(&s, &entry, &dir).await)
                });
            }
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
                transfer.size_bytes = entry.upload_size();
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
            // takes the claim finds the asset in the index. One short transaction.
            Effect::Record(finished) => {
                let batch = self
                    .history_batch
                    .get_or_insert_with(|| uuid::Uuid::new_v4().to_string())
                    .clone();
                effects::record(&self.shared, finished, batch);
            }
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
            Effect::Rescan { path, folder_id } => {
                self.scan(vec![path], None, folder_id, false, false)
            }
            Effect::Walk(walk) => self.walk_again(walk),
            Effect::ForgetWalk { key } => self.to_journal(JournalOp::RemoveWalk(key)),
            Effect::DeleteOwnedFile { path } => {
                tokio::task::spawn_blocking(move || effects::delete_owned_file(&path));
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
            Event::Idle => {
                self.history_batch = None;
                self.emit_batch(Instant::now());
            }
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
