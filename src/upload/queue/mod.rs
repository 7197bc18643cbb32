//! The upload queue as a state machine without I/O: every file's state, its journal record, its
//! content reservation and its retry counters are plain data. Commands and the answers of the
//! work it asked for come in; [`Effect`]s (journal writes, network calls, timers, events for the
//! window) go out through [`Queue::poll_effect`]. No tokio, no files, no clock: the engine
//! (`engine.rs`) runs the effects and feeds their results back.
//!
//! One file's trip: prepare (unchanged? hash) -> reserve the content (in this batch, then across
//! processes) -> already on Runflow? -> session -> journal -> PUT -> journal (durable) ->
//! confirm. The steps up to "already on Runflow?" hold one of [`CHECK_CONCURRENCY`] check slots;
//! the rest holds one of the (fewer) upload slots, so files uploaded before are recognised
//! without waiting behind transfers. The rules that keep it exactly-once:
//! - A confirm is only sent for the session recorded as `Uploaded`.
//! - Once a confirm may have been sent (this run or an earlier one), a new session is only
//!   created after `GET /v1/assets/{id}` answered 404 for the old one: the asset decides, never
//!   an error code.
//! - A cancel acknowledged before the confirm was sent means no confirm is sent, ever; a cancel
//!   that arrives later waits for the answer and reports what really happened.
//! - Results of work started before a cancel or a restart of the file carry an older ticket and
//!   are ignored.

mod commands;
mod intake;
mod interface;
mod settle;
#[cfg(test)]
mod tests;
mod trip;

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::path::PathBuf;
use std::time::Duration;

use super::journal::{Entry, Walk};
use super::protocol::{BatchProgress, Event, FileId, FileState};

pub(super) use interface::{
    Answer, Effect, Finished, FoundAsset, Need, Prepared, QueueConfig, Scanned, Ticket,
};

/// How many fresh sessions one file may need (expired links, lost bytes) before giving up.
pub(super) const MAX_SESSIONS: u32 = 4;
/// Wait before asking again for content another process is uploading.
pub(super) const CLAIM_RETRY_WAIT: Duration = Duration::from_millis(300);
/// Files checked at once (hashed, looked up in the index, asked about on Runflow) while others
/// upload: content uploaded before is recognised quickly, without waiting for upload slots.
pub(super) const CHECK_CONCURRENCY: usize = 32;
/// Longest wait between two whole-file retries.
const MAX_FILE_RETRY_WAIT: Duration = Duration::from_secs(60);

/// Where a file's trip is; `Idle` means nothing runs for it.
#[derive(Debug, Clone, PartialEq)]
enum Phase {
    Idle,
    Preparing,
    /// Making the copy that goes instead of the file.
    Copying,
    Claiming,
    Finding,
    Creating,
    /// Waiting for a journal write before the next step.
    Writing(Next),
    Putting,
    Confirming,
    Verifying,
    Moving,
    /// Another file of this batch is uploading the same content.
    WaitingFor(FileId),
    /// Checked; waiting for an upload slot.
    AwaitingUpload,
    /// A timer is set (claim held elsewhere, or a whole-file retry).
    Sleeping,
}

/// The two pools of work: checks (local, and reads on Runflow) and uploads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Slot {
    None,
    Check,
    Upload,
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Next {
    Put,
    Confirm,
    /// On with the network part, wherever the journal says the file got to.
    Proceed,
}

#[derive(Debug)]
struct Job {
    name: String,
    path: Option<PathBuf>,
    size_bytes: Option<u64>,
    /// `None` for files rejected before they were queued.
    entry: Option<Entry>,
    state: FileState,
    phase: Phase,
    epoch: u64,
    /// The slot it holds.
    slot: Slot,
    attempts: u32,
    sessions: u32,
    /// Checked and hashed in this run.
    prepared: bool,
    /// The copy the file needs to be uploadable, as the check found.
    need: Option<Need>,
    /// The entry's copy was made or found intact in this trip.
    copy_ready: bool,
    /// Reserved its content hash in this batch.
    reserved: bool,
    /// Holds the cross-process claim.
    claimed: bool,
    /// A confirm of the journaled session may have reached Runflow (sent now, or in an earlier
    /// run that recorded `Uploaded`).
    confirm_maybe_sent: bool,
    /// Confirms sent in this run for the journaled session.
    confirms_sent: u32,
    /// The user cancelled while a confirm was possible; the answer decides what is reported.
    cancel_requested: bool,
    resumed: bool,
    /// An earlier run's file, waiting for the user to resume or discard it.
    held: bool,
    /// Finished with its entry kept in the journal, so the next start takes it up again.
    journal_kept: bool,
}

/// Every file the engine knows, and what to do next.
#[derive(Debug)]
pub(super) struct Queue {
    config: QueueConfig,
    /// Every file that is not a success (boxed: the map's nodes stay small).
    jobs: BTreeMap<FileId, Box<Job>>,
    /// Files uploaded or already there, with their sizes: all the queue keeps of them, so a
    /// 100,000-file batch costs a few bytes per finished file.
    succeeded: BTreeMap<FileId, u64>,
    succeeded_bytes: u64,
    /// Files waiting for a check slot.
    ready: VecDeque<FileId>,
    /// Checked files waiting for an upload slot (stale ids are passed over).
    upload_ready: VecDeque<FileId>,
    /// Files in [`Phase::AwaitingUpload`]: checks stop running ahead once this many wait, so
    /// a 100,000-file drop does not hold 100,000 claims (open lock files) and hashes at once.
    awaiting: usize,
    checking: usize,
    uploading: usize,
    paused: bool,
    scanning: usize,
    /// Content being uploaded by a file of this batch.
    reserved: HashMap<String, FileId>,
    /// Unfinished files by path, so one file is queued once.
    active_paths: HashMap<PathBuf, FileId>,
    /// Files waiting for another file of the batch with the same content, by that file.
    waiters: HashMap<FileId, Vec<FileId>>,
    /// How many files are not finished (kept, so no step scans every file).
    unfinished: usize,
    /// Earlier runs' files waiting for the user (a subset of `unfinished`, in `held_ids`).
    held: usize,
    held_ids: Vec<FileId>,
    /// Earlier runs' walks waiting for the user, with `held_ids`.
    held_walks: Vec<Walk>,
    /// Earlier runs' walks going again.
    walks_again: usize,
    /// The paths of the earlier runs' files, while their walks go again: found again, such a
    /// file is the one already resumed (perhaps uploaded since), not a new one.
    earlier_paths: std::collections::HashSet<PathBuf>,
    next_id: u64,
    idle: bool,
    effects: VecDeque<Effect>,
    /// Steps taken over collections (a scheduler pop, a file of a scan, a job looked at by a
    /// command): what the linearity tests count instead of timing.
    work: std::cell::Cell<u64>,
}

impl Queue {
    /// An empty queue; ids start after `last_id`.
    pub fn new(config: QueueConfig, last_id: u64) -> Self {
        Self {
            config: QueueConfig {
                concurrency: config.concurrency.max(1),
                check_concurrency: config.check_concurrency.max(1),
                ..config
            },
            jobs: BTreeMap::new(),
            succeeded: BTreeMap::new(),
            succeeded_bytes: 0,
            ready: VecDeque::new(),
            upload_ready: VecDeque::new(),
            awaiting: 0,
            checking: 0,
            uploading: 0,
            paused: false,
            scanning: 0,
            reserved: HashMap::new(),
            active_paths: HashMap::new(),
            waiters: HashMap::new(),
            unfinished: 0,
            held: 0,
            held_ids: Vec::new(),
            held_walks: Vec::new(),
            walks_again: 0,
            earlier_paths: std::collections::HashSet::new(),
            next_id: last_id + 1,
            idle: true,
            effects: VecDeque::new(),
            work: std::cell::Cell::new(0),
        }
    }

    /// The next thing the engine must do.
    pub fn poll_effect(&mut self) -> Option<Effect> {
        let effect = self.effects.pop_front();
        if effect.is_none() {
            // A big drop queues an effect per file at once; that room is not kept for good.
            self.effects.shrink_to(64);
            if self.active_paths.is_empty() {
                self.active_paths.shrink_to(64);
            }
            if self.ready.is_empty() {
                self.ready.shrink_to(64);
            }
        }
        effect
    }

    /// Takes a fresh id (for files the queue has not seen, such as a scan's).
    pub fn allocate_id(&mut self) -> u64 {
        let id = self.next_id;
        self.next_id += 1;
        id
    }

    /// A timer set with [`Effect::SetTimer`] went off.
    pub fn timer_fired(&mut self, ticket: Ticket) {
        if !self.is_current(ticket) {
            return;
        }
        let Some(job) = self.jobs.get_mut(&ticket.id) else {
            return;
        };
        if job.phase != Phase::Sleeping {
            return;
        }
        job.phase = Phase::Idle;
        if job.slot != Slot::None {
            // A claim held elsewhere: ask again, keeping the slot.
            self.claim(ticket.id);
        } else {
            // A whole-file retry: back in line.
            self.set_state(ticket.id, FileState::Queued);
            self.ready.push_back(ticket.id);
        }
        self.schedule();
    }

    /// The result of an effect.
    pub fn answer(&mut self, ticket: Ticket, answer: Answer) {
        if !self.is_current(ticket) {
            // A copy made for a trip that ended meanwhile (cancelled, restarted) is not needed,
            // unless the entry names it.
            if let Answer::CopyMade(Ok(copy)) = answer
                && self.entry(ticket.id).and_then(|e| e.copy).as_deref() != Some(&copy)
            {
                self.effects
                    .push_back(Effect::DeleteOwnedFile { path: copy.path });
            }
            return;
        }
        let id = ticket.id;
        match answer {
            Answer::JournalWritten(result) => self.journal_written(id, result),
            Answer::Prepared(result) => self.prepared(id, result),
            Answer::CopyMade(result) => self.copy_made(id, result),
            Answer::Claimed(result) => self.claimed(id, result),
            Answer::Found(result) => self.found(id, result),
            Answer::SessionCreated(result) => self.session_created(id, result),
            Answer::PutFinished(result) => self.put_finished(id, result),
            Answer::Confirmed(result) => self.confirmed(id, result),
            Answer::AssetChecked(result) => self.asset_checked(id, result),
            Answer::Moved(result) => self.moved(id, result),
        }
        self.schedule();
    }

    /// Whether `ticket` is the file's current one (its answer would be heard).
    pub fn is_current(&self, ticket: Ticket) -> bool {
        self.jobs
            .get(&ticket.id)
            .is_some_and(|job| job.epoch == ticket.epoch && !job.state.is_finished())
    }

    fn ticket(&self, id: FileId) -> Ticket {
        Ticket {
            id,
            epoch: self.jobs.get(&id).map_or(0, |job| job.epoch),
        }
    }

    fn entry(&self, id: FileId) -> Option<Entry> {
        self.jobs.get(&id).and_then(|job| job.entry.clone())
    }

    fn set_phase(&mut self, id: FileId, phase: Phase) {
        if let Some(job) = self.jobs.get_mut(&id) {
            job.shift(phase, &mut self.awaiting);
        }
    }

    /// Checked files that may wait for an upload slot before checks pause: enough to keep
    /// every upload slot fed.
    fn lookahead(&self) -> usize {
        (self.config.concurrency * 2).max(16)
    }

    /// Starts work while slots are free: uploads for checked files first, then checks.
    fn schedule(&mut self) {
        let mut progressed = true;
        while progressed && !self.paused {
            progressed = false;
            while self.uploading < self.config.concurrency {
                let Some(id) = self.upload_ready.pop_front() else {
                    break;
                };
                self.step();
                let Some(job) = self.jobs.get_mut(&id) else {
                    continue;
                };
                if job.phase != Phase::AwaitingUpload || job.slot != Slot::None {
                    continue;
                }
                job.slot = Slot::Upload;
                job.shift(Phase::Idle, &mut self.awaiting);
                self.uploading += 1;
                progressed = true;
                self.proceed(id);
            }
            while self.checking < self.config.check_concurrency && self.awaiting < self.lookahead()
            {
                let Some(id) = self.ready.pop_front() else {
                    break;
                };
                self.step();
                let Some(job) = self.jobs.get_mut(&id) else {
                    continue;
                };
                if job.state != FileState::Queued
                    || job.slot != Slot::None
                    || job.phase != Phase::Idle
                    || job.entry.is_none()
                {
                    continue;
                }
                job.slot = Slot::Check;
                job.epoch += 1;
                self.checking += 1;
                progressed = true;
                self.start(id);
            }
        }
        self.check_idle();
    }

    fn ids_where(&self, matches: impl Fn(&FileState) -> bool) -> Vec<FileId> {
        self.jobs
            .iter()
            .inspect(|_| self.step())
            .filter(|(_, job)| matches(&job.state))
            .map(|(id, _)| *id)
            .collect()
    }

    /// Counts one step of work.
    fn step(&self) {
        self.work.set(self.work.get() + 1);
    }

    /// Steps counted so far (see [`Queue::work`]).
    #[cfg(test)]
    pub fn work(&self) -> u64 {
        self.work.get()
    }

    fn set_state(&mut self, id: FileId, state: FileState) {
        let Some(job) = self.jobs.get_mut(&id) else {
            return;
        };
        if job.state == state {
            return;
        }
        if job.held && state.is_finished() {
            job.held = false;
            self.held -= 1;
        }
        match (job.state.is_finished(), state.is_finished()) {
            (false, true) => self.unfinished -= 1,
            (true, false) => self.unfinished += 1,
            _ => {}
        }
        if state.is_success() {
            // Its journal entry is gone, and a success is never retried: the queue keeps only
            // its size, for the totals.
            let size = job.size_bytes.unwrap_or(0);
            self.jobs.remove(&id);
            self.succeeded.insert(id, size);
            self.succeeded_bytes += size;
        } else {
            job.state = state.clone();
        }
        self.emit(Event::State { id, state });
    }

    /// Forgets a success (`Remove`, `ClearFinished`); false if `id` is none.
    pub(super) fn forget_success(&mut self, id: FileId) -> bool {
        let Some(size) = self.succeeded.remove(&id) else {
            return false;
        };
        self.succeeded_bytes -= size;
        self.emit(Event::Removed(id));
        true
    }

    /// Forgets every success.
    pub(super) fn forget_successes(&mut self) {
        for id in std::mem::take(&mut self.succeeded).into_keys() {
            self.emit(Event::Removed(id));
        }
        self.succeeded_bytes = 0;
    }

    fn emit(&mut self, event: Event) {
        self.effects.push_back(Effect::Emit(event));
    }

    fn check_idle(&mut self) {
        let idle = self.is_idle();
        if idle && !self.idle {
            self.emit(Event::Idle);
        }
        self.idle = idle;
    }

    /// Files not finished that are not held for the user: what a walk waits on before it
    /// queues more.
    pub fn in_line(&self) -> usize {
        self.unfinished - self.held
    }

    /// Nothing queued, running, waiting or being scanned (earlier runs' files waiting for the
    /// user do not count: they wait on purpose).
    pub fn is_idle(&self) -> bool {
        self.scanning == 0
            && self.checking == 0
            && self.uploading == 0
            && self.unfinished == self.held
    }

    /// A file's state.
    #[cfg(test)]
    pub fn state(&self, id: FileId) -> Option<&FileState> {
        self.jobs.get(&id).map(|job| &job.state)
    }

    /// Totals, with `sent(id)` the bytes sent of a file uploading now (speeds are the engine's).
    pub fn batch(&self, sent: impl Fn(FileId) -> u64) -> BatchProgress {
        let mut batch = BatchProgress {
            total_files: self.jobs.len() + self.succeeded.len(),
            succeeded_files: self.succeeded.len(),
            sent_bytes: self.succeeded_bytes,
            total_bytes: self.succeeded_bytes,
            paused: self.paused,
            held_walks: self.held_walks.len(),
            ..BatchProgress::default()
        };
        for (id, job) in &self.jobs {
            self.step();
            let size = job.size_bytes.unwrap_or(0);
            if job.held {
                batch.held_files += 1;
                batch.held_bytes += size;
                continue;
            }
            match &job.state {
                FileState::Failed(failure) if failure.fix().is_some() => batch.fixable_files += 1,
                FileState::Failed(_) => batch.failed_files += 1,
                FileState::InOtherFolder { .. } => batch.elsewhere_files += 1,
                FileState::Cancelled => batch.cancelled_files += 1,
                FileState::Queued | FileState::Retrying { .. } => {
                    batch.queued_files += 1;
                    batch.total_bytes += size;
                }
                _ => {
                    batch.active_files += 1;
                    batch.sent_bytes += sent(*id).min(size);
                    batch.total_bytes += size;
                }
            }
        }
        batch
    }
}

impl Job {
    /// Moves to `phase`, keeping the count of files awaiting an upload slot.
    fn shift(&mut self, phase: Phase, awaiting: &mut usize) {
        if self.phase == Phase::AwaitingUpload {
            *awaiting -= 1;
        }
        if phase == Phase::AwaitingUpload {
            *awaiting += 1;
        }
        self.phase = phase;
    }

    fn new(
        name: String,
        path: Option<PathBuf>,
        size_bytes: Option<u64>,
        entry: Option<Entry>,
        resumed: bool,
    ) -> Self {
        Self {
            name,
            path,
            size_bytes,
            entry,
            state: FileState::Queued,
            phase: Phase::Idle,
            epoch: 0,
            slot: Slot::None,
            attempts: 0,
            sessions: 0,
            prepared: false,
            need: None,
            copy_ready: false,
            reserved: false,
            claimed: false,
            confirm_maybe_sent: false,
            confirms_sent: 0,
            cancel_requested: false,
            resumed,
            held: false,
            journal_kept: false,
        }
    }
}
