//! What the user asks of files: cancel, retry, upload a copy, move here, remove.

use super::super::protocol::{Command, Event, FileId, FileState};
use super::{Effect, Phase, Queue, Slot};

impl Queue {
    /// A command from the window or the CLI (`Add`, `AddWatched`, `AddBytes`, `StopScan`,
    /// `DiscardForeign` and `Shutdown` are the engine's: they need files and tasks).
    pub fn command(&mut self, command: Command) {
        match command {
            Command::Cancel(id) => self.cancel(id),
            Command::CancelAll => {
                for id in self.ids_where(|s| !s.is_finished()) {
                    self.cancel(id);
                }
            }
            Command::Retry(id) => self.retry(id, false),
            Command::RetryFailed => {
                // A file that needs a copy would only be asked about again.
                let failed = |s: &FileState| matches!(s, FileState::Failed(f) if f.fix().is_none());
                for id in self.ids_where(failed) {
                    self.retry(id, false);
                }
            }
            Command::FixAll => {
                let fixable =
                    |s: &FileState| matches!(s, FileState::Failed(f) if f.fix().is_some());
                for id in self.ids_where(fixable) {
                    self.fix(id);
                }
            }
            Command::UploadCopy(id) => self.retry(id, true),
            Command::Fix(id) => self.fix(id),
            Command::SetAutoConvert(on) => self.config.auto_convert = on,
            Command::MoveHere(id) => self.move_here(id),
            Command::Remove(id) => self.remove(id),
            Command::ClearFinished => self.forget_successes(),
            Command::ResumeEarlier => self.resume_earlier(),
            Command::DiscardEarlier => self.discard_earlier(),
            Command::Pause => self.paused = true,
            Command::Resume => self.paused = false,
            Command::SetConcurrency(n) => self.config.concurrency = n.max(1),
            Command::Add { .. }
            | Command::AddWatched { .. }
            | Command::AddBytes { .. }
            | Command::DiscardForeign(_)
            | Command::StopScan(_)
            | Command::Shutdown => {}
        }
        self.schedule();
    }

    pub(super) fn cancel(&mut self, id: FileId) {
        let Some(job) = self.jobs.get_mut(&id) else {
            return;
        };
        if job.state.is_finished() {
            return;
        }
        if job.confirm_maybe_sent {
            // The answer (or, for a file that waits, a check) decides what is reported.
            job.cancel_requested = true;
            match job.phase {
                Phase::Confirming | Phase::Verifying => {}
                _ => {
                    // The check goes ahead of the line: it settles what the user sees.
                    if job.slot == Slot::None {
                        job.slot = Slot::Check;
                        self.checking += 1;
                    }
                    job.epoch += 1;
                    self.effects.push_back(Effect::Abort { id });
                    self.verify(id);
                }
            }
            return;
        }
        self.effects.push_back(Effect::Abort { id });
        // Left in `ready`: the scheduler passes over files that are not queued.
        self.finish(id, FileState::Cancelled);
    }

    /// Agrees to the copy a file's failure offers, and queues it again.
    fn fix(&mut self, id: FileId) {
        let Some(job) = self.jobs.get_mut(&id) else {
            return;
        };
        let FileState::Failed(failure) = &job.state else {
            return;
        };
        let (Some(offer), Some(entry)) = (failure.fix(), job.entry.as_mut()) else {
            return;
        };
        entry.may_convert |= offer.convert;
        entry.may_shrink |= offer.shrink;
        self.retry(id, false);
    }

    pub(super) fn retry(&mut self, id: FileId, force: bool) {
        let Some(job) = self.jobs.get_mut(&id) else {
            return;
        };
        let retryable = matches!(
            job.state,
            FileState::Failed(_) | FileState::Cancelled | FileState::InOtherFolder { .. }
        );
        if !retryable {
            return;
        }
        let Some(entry) = job.entry.as_mut() else {
            // Rejected before queueing: check the path again (it may have been fixed).
            if let Some(path) = job.path.clone() {
                self.jobs.remove(&id);
                self.emit(Event::Removed(id));
                self.effects.push_back(Effect::Rescan {
                    path,
                    folder_id: None,
                });
            }
            return;
        };
        entry.force |= force;
        entry.cancelled = false;
        let entry = entry.clone();
        self.reopen(id);
        self.effects.push_back(Effect::WriteJournal {
            entry,
            durable: false,
            ack: None,
        });
        self.set_state(id, FileState::Queued);
        self.ready.push_back(id);
    }

    /// Makes a finished file live again (a retry, or a move that takes a slot).
    pub(super) fn reopen(&mut self, id: FileId) {
        let Some(job) = self.jobs.get_mut(&id) else {
            return;
        };
        job.attempts = 0;
        job.sessions = 0;
        job.cancel_requested = false;
        job.prepared = false;
        job.copy_ready = false;
        job.epoch += 1;
        job.shift(Phase::Idle, &mut self.awaiting);
        if let Some(path) = job.path.clone() {
            self.active_paths.insert(path, id);
        }
        self.idle = false;
    }

    pub(super) fn remove(&mut self, id: FileId) {
        if self.forget_success(id) {
            return;
        }
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
            if self.jobs.get(&id).is_some_and(|job| !job.journal_kept) {
                self.delete_owned_file(id);
            }
            self.jobs.remove(&id);
            self.emit(Event::Removed(id));
        }
    }
}
