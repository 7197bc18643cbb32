//! How a file's trip ends: a retry after a wait or a final failure, a cancel, and the
//! settling of its journal entry, slot, reservation and claim, which also tells the files of
//! this batch waiting for the same content what became of it.

use crate::api::ApiError;

use super::super::journal::Step;
use super::super::protocol::{FileId, FileState, UploadFailure};
use super::{Effect, MAX_FILE_RETRY_WAIT, Phase, Queue, Slot};

impl Queue {
    /// A failure: transient ones are tried again after a wait, others are final.
    pub(super) fn fail(&mut self, id: FileId, failure: UploadFailure) {
        let Some(job) = self.jobs.get_mut(&id) else {
            return;
        };
        if failure.is_transient() && job.attempts + 1 < self.config.max_file_attempts {
            job.attempts += 1;
            let wait = (self.config.file_retry_wait * 2_u32.pow(job.attempts.min(16) - 1))
                .min(MAX_FILE_RETRY_WAIT);
            let reason = failure.to_string();
            let confirm_maybe_sent = job.confirm_maybe_sent;
            self.release_slot(id);
            // While its confirm may have made an asset, the content stays reserved: a copy
            // waiting for it must not upload it a second time.
            if !confirm_maybe_sent {
                self.release_content(id, None);
            }
            let ticket = self.ticket(id);
            self.set_phase(id, Phase::Sleeping);
            self.set_state(id, FileState::Retrying { reason, wait });
            self.effects.push_back(Effect::SetTimer { ticket, wait });
            return;
        }
        self.finish(id, FileState::Failed(failure));
    }

    /// The user cancelled and no confirm went out: drop the entry.
    pub(super) fn cancelled_before_confirm(&mut self, id: FileId) {
        if let Some(job) = self.jobs.get_mut(&id) {
            job.confirm_maybe_sent = false;
        }
        self.finish(id, FileState::Cancelled);
    }

    /// Ends a file's trip in `state`: journal, slot, reservation and claim are settled.
    pub(super) fn finish(&mut self, id: FileId, state: FileState) {
        let Some(job) = self.jobs.get_mut(&id) else {
            return;
        };
        job.epoch += 1;
        job.shift(Phase::Idle, &mut self.awaiting);
        if let Some(entry) = job.entry.as_mut() {
            let keep = match &state {
                FileState::Failed(failure) => keeps_journal(failure, &entry.step),
                // Cancelled while the asset's existence is unknown: the next start only checks.
                FileState::Cancelled => job.confirm_maybe_sent,
                _ => false,
            };
            job.journal_kept = keep;
            if keep {
                entry.cancelled = job.cancel_requested;
                let entry = entry.clone();
                self.effects.push_back(Effect::WriteJournal {
                    entry,
                    durable: true,
                    ack: None,
                });
            } else {
                self.effects
                    .push_back(Effect::RemoveJournal { id: entry.id });
                // A retry makes the copy again (and the entry must not name it meanwhile).
                if let Some(copy) = entry.copy.take() {
                    let path = copy.path;
                    self.effects.push_back(Effect::DeleteOwnedFile { path });
                }
            }
        }
        if let Some(path) = self.jobs.get(&id).and_then(|job| job.path.clone())
            && self.active_paths.get(&path) == Some(&id)
        {
            self.active_paths.remove(&path);
        }
        if state.is_success() {
            self.delete_owned_file(id);
        }
        self.release_slot(id);
        self.release_content(id, Some(&state));
        self.set_state(id, state);
    }

    /// Deletes the app's own copy of a file (pasted content) once nothing needs it: its content
    /// is on Runflow, or its row is removed and the journal no longer holds it.
    pub(super) fn delete_owned_file(&mut self, id: FileId) {
        if let Some(entry) = self.jobs.get(&id).and_then(|job| job.entry.as_ref())
            && entry.owned_file
        {
            let path = entry.path.clone();
            self.effects.push_back(Effect::DeleteOwnedFile { path });
        }
    }

    pub(super) fn release_slot(&mut self, id: FileId) {
        let Some(job) = self.jobs.get_mut(&id) else {
            return;
        };
        match std::mem::replace(&mut job.slot, Slot::None) {
            Slot::Check => self.checking -= 1,
            Slot::Upload => self.uploading -= 1,
            Slot::None => {}
        }
    }

    /// Gives up the file's content reservation and claim. Files of this batch waiting for the
    /// same content learn the outcome: the asset, or their turn.
    pub(super) fn release_content(&mut self, id: FileId, outcome: Option<&FileState>) {
        let Some(job) = self.jobs.get_mut(&id) else {
            return;
        };
        if job.claimed {
            job.claimed = false;
            self.effects.push_back(Effect::Release { id });
        }
        if !job.reserved {
            return;
        }
        job.reserved = false;
        let holder_name = job.name.clone();
        let holder_folder = job.entry.as_ref().and_then(|e| e.folder_id.clone());
        if let Some(hash) = job.entry.as_ref().and_then(|e| e.hash.clone()) {
            self.reserved.remove(&hash);
        }
        let asset = match outcome {
            Some(FileState::Done(asset)) => asset
                .id
                .clone()
                .map(|a| (a, asset.folder_id.clone(), asset.url.clone())),
            Some(FileState::AlreadyUploaded { asset_id, url, .. }) => {
                Some((asset_id.clone(), holder_folder, url.clone()))
            }
            _ => None,
        };
        // Those still waiting for this file (a waiter may have been cancelled meanwhile).
        let waiters: Vec<FileId> = self
            .waiters
            .remove(&id)
            .unwrap_or_default()
            .into_iter()
            .filter(|w| {
                self.step();
                self.jobs
                    .get(w)
                    .is_some_and(|j| j.phase == Phase::WaitingFor(id))
            })
            .collect();
        for waiter in waiters {
            self.set_phase(waiter, Phase::Idle);
            let folder = self.entry(waiter).and_then(|e| e.folder_id);
            match &asset {
                Some((asset_id, asset_folder, url)) if *asset_folder == folder => self.finish(
                    waiter,
                    FileState::AlreadyUploaded {
                        asset_id: asset_id.clone(),
                        same_as: Some(holder_name.clone()),
                        url: url.clone(),
                    },
                ),
                Some((asset_id, asset_folder, url)) => self.finish(
                    waiter,
                    FileState::InOtherFolder {
                        asset_id: asset_id.clone(),
                        folder_id: asset_folder.clone(),
                        folder_name: None,
                        url: url.clone(),
                    },
                ),
                // Failed, cancelled or retrying: the waiter goes on its own, first in line (a
                // failure may be the holder's file's own, such as a change while uploading).
                None => {
                    self.set_state(waiter, FileState::Queued);
                    self.ready.push_front(waiter);
                }
            }
        }
    }
}

/// Whether a failed file keeps its journal entry, so the next start tries again.
fn keeps_journal(failure: &UploadFailure, step: &Step) -> bool {
    let auth = matches!(
        failure,
        UploadFailure::Api(ApiError::Unauthorized { .. } | ApiError::Forbidden { .. })
    );
    failure.is_transient() || (auth && matches!(step, Step::Uploaded { .. }))
}
