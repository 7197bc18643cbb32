//! One file's trip through the queue: each answer moves it to its next step (see the module
//! documentation of `queue` for the rules that keep it exactly-once).

use crate::api::ApiError;
use crate::api::models::{Asset, UploadSession};

use super::super::journal::Step;
use super::super::protocol::{FileId, FileState, UploadFailure};
use super::CLAIM_RETRY_WAIT;
use super::{Effect, Finished, FoundAsset, MAX_SESSIONS, Need, Next, Phase, Prepared, Queue, Slot};
use crate::fix::FixedCopy;
use crate::upload::protocol::Event;

impl Queue {
    /// The first step of a trip (or of a resumed one).
    pub(super) fn start(&mut self, id: FileId) {
        let Some(job) = self.jobs.get_mut(&id) else {
            return;
        };
        if job.cancel_requested && job.confirm_maybe_sent {
            // Cancelled in an earlier run after its confirm may have gone out: only find out.
            return self.verify(id);
        }
        // Each trip checks its copy again (it may have been deleted meanwhile).
        job.copy_ready = false;
        if job.prepared {
            return self.after_prepare(id);
        }
        let Some(entry) = job.entry.clone() else {
            return;
        };
        let ticket = self.ticket(id);
        self.set_phase(id, Phase::Preparing);
        self.set_state(id, FileState::Hashing);
        self.effects.push_back(Effect::Prepare { ticket, entry });
    }

    pub(super) fn prepared(&mut self, id: FileId, result: Result<Prepared, UploadFailure>) {
        let Prepared { hash, need } = match result {
            Ok(prepared) => prepared,
            Err(failure) => return self.fail(id, failure),
        };
        let Some(job) = self.jobs.get_mut(&id) else {
            return;
        };
        let Some(entry) = job.entry.as_mut() else {
            return;
        };
        job.prepared = true;
        if need.is_none()
            && let Some(old) = entry.copy.take()
        {
            // Runflow takes the file as it is now: the copy is not needed, and a session made
            // for it is never confirmed.
            if matches!(entry.step, Step::Session { .. }) {
                entry.step = Step::Pending;
            }
            job.size_bytes = Some(entry.size_bytes);
            self.effects
                .push_back(Effect::DeleteOwnedFile { path: old.path });
        }
        let Some(job) = self.jobs.get_mut(&id) else {
            return;
        };
        let Some(entry) = job.entry.as_mut() else {
            return;
        };
        job.need = need;
        let changed = entry.hash.as_deref().is_some_and(|known| known != hash);
        if changed && !matches!(entry.step, Step::Pending) {
            // A resumed file whose content is not what was sent: the old session is left
            // unconfirmed, which never becomes an asset.
            entry.step = Step::Pending;
            job.confirm_maybe_sent = false;
        }
        entry.hash = Some(hash);
        self.after_prepare(id);
    }

    /// Reserve the content in this batch, then across processes.
    pub(super) fn after_prepare(&mut self, id: FileId) {
        let Some(entry) = self.entry(id) else {
            return;
        };
        let Some(hash) = entry.hash.clone() else {
            return;
        };
        if entry.force {
            return self.proceed(id);
        }
        match self.reserved.get(&hash) {
            Some(holder) if *holder != id => {
                let holder = *holder;
                // Waits without a slot; the holder's outcome decides.
                self.release_slot(id);
                self.set_phase(id, Phase::WaitingFor(holder));
                self.waiters.entry(holder).or_default().push(id);
                self.set_state(id, FileState::Queued);
                return;
            }
            _ => {
                self.reserved.insert(hash, id);
                if let Some(job) = self.jobs.get_mut(&id) {
                    job.reserved = true;
                }
            }
        }
        self.claim(id);
    }

    pub(super) fn claim(&mut self, id: FileId) {
        let Some(hash) = self.entry(id).and_then(|e| e.hash) else {
            return;
        };
        if self.jobs.get(&id).is_some_and(|job| job.claimed) {
            return self.find(id);
        }
        let ticket = self.ticket(id);
        self.set_phase(id, Phase::Claiming);
        self.effects.push_back(Effect::Claim { ticket, hash });
    }

    pub(super) fn claimed(&mut self, id: FileId, result: Result<bool, String>) {
        match result {
            Ok(true) => {
                if let Some(job) = self.jobs.get_mut(&id) {
                    job.claimed = true;
                }
                self.find(id);
            }
            Ok(false) => {
                // Another process is uploading this content: ask again shortly.
                let ticket = self.ticket(id);
                self.set_phase(id, Phase::Sleeping);
                self.effects.push_back(Effect::SetTimer {
                    ticket,
                    wait: CLAIM_RETRY_WAIT,
                });
            }
            // Without claims, the index alone guards against duplicates.
            Err(err) => {
                tracing::warn!(%err, "could not claim content; going on without a claim");
                self.find(id);
            }
        }
    }

    pub(super) fn find(&mut self, id: FileId) {
        let Some(hash) = self.entry(id).and_then(|e| e.hash) else {
            return;
        };
        let ticket = self.ticket(id);
        self.set_phase(id, Phase::Finding);
        self.effects
            .push_back(Effect::FindUploaded { ticket, hash });
    }

    pub(super) fn found(&mut self, id: FileId, result: Result<Option<FoundAsset>, UploadFailure>) {
        let Some(entry) = self.entry(id) else {
            return;
        };
        match result {
            Err(failure) => self.fail(id, failure),
            Ok(Some(found)) => {
                let asset_id = found.asset.id.clone().unwrap_or_default();
                // A resumed upload that a previous run finished: it is this very asset.
                let own = match &entry.step {
                    Step::Session { asset_id: a, .. } | Step::Uploaded { asset_id: a } => {
                        *a == asset_id
                    }
                    Step::Pending => false,
                };
                if own {
                    return self.done(id, found.asset);
                }
                if found.asset.folder_id == entry.folder_id {
                    self.finish(
                        id,
                        FileState::AlreadyUploaded {
                            asset_id,
                            same_as: None,
                            url: found.asset.url,
                        },
                    );
                } else {
                    self.finish(
                        id,
                        FileState::InOtherFolder {
                            asset_id,
                            folder_id: found.asset.folder_id,
                            folder_name: found.folder_name,
                            url: found.asset.url,
                        },
                    );
                }
            }
            Ok(None) => self.proceed(id),
        }
    }

    /// The network part, from wherever the journal says the file got to; with an upload slot
    /// (a file holding a check slot gives it up and waits for one).
    pub(super) fn proceed(&mut self, id: FileId) {
        let Some(job) = self.jobs.get(&id) else {
            return;
        };
        // The copy matters until the bytes are stored; a confirm needs no file.
        let sends_bytes = job
            .entry
            .as_ref()
            .is_some_and(|e| matches!(e.step, Step::Pending | Step::Session { .. }));
        if sends_bytes
            && let Some(need) = job.need.clone()
            && !self.consents(id, &need)
        {
            return self.fail(
                id,
                UploadFailure::Fixable {
                    format: need.format,
                    size_bytes: job.size_bytes.unwrap_or_default(),
                    convert: need.convert,
                    shrink: need.shrink,
                },
            );
        }
        if job.slot != Slot::Upload {
            self.release_slot(id);
            self.set_phase(id, Phase::AwaitingUpload);
            self.set_state(id, FileState::Queued);
            self.upload_ready.push_back(id);
            return;
        }
        let Some(entry) = job.entry.clone() else {
            return;
        };
        if sends_bytes && job.need.is_some() && !job.copy_ready {
            return self.make_copy(id, entry);
        }
        match entry.step {
            Step::Pending => self.create(id),
            Step::Session { upload_url, .. } => self.put(id, upload_url),
            Step::Uploaded { .. } if job.confirm_maybe_sent => self.verify(id),
            Step::Uploaded { asset_id } => self.confirm(id, asset_id),
        }
    }

    /// Whether the file may go as a copy of the kind it needs: agreed to for this file, or by
    /// the settings.
    fn consents(&self, id: FileId, need: &Need) -> bool {
        let Some(entry) = self.jobs.get(&id).and_then(|job| job.entry.as_ref()) else {
            return false;
        };
        (!need.convert || entry.may_convert || self.config.auto_convert)
            && (!need.shrink || entry.may_shrink || self.config.auto_shrink)
    }

    fn make_copy(&mut self, id: FileId, entry: super::super::journal::Entry) {
        let ticket = self.ticket(id);
        self.set_phase(id, Phase::Copying);
        self.set_state(id, FileState::Converting);
        self.effects.push_back(Effect::MakeCopy { ticket, entry });
    }

    pub(super) fn copy_made(&mut self, id: FileId, result: Result<FixedCopy, UploadFailure>) {
        let copy = match result {
            Ok(copy) => copy,
            Err(failure) => return self.fail(id, failure),
        };
        let Some(job) = self.jobs.get_mut(&id) else {
            return;
        };
        let Some(entry) = job.entry.as_mut() else {
            return;
        };
        job.copy_ready = true;
        if entry.copy.as_deref() == Some(&copy) {
            // The journal's copy, intact: on from where it got.
            return self.proceed(id);
        }
        if let Some(old) = entry.copy.replace(Box::new(copy.clone()))
            && old.path != copy.path
        {
            self.effects
                .push_back(Effect::DeleteOwnedFile { path: old.path });
        }
        job.size_bytes = Some(copy.size_bytes);
        // A session's bytes came from another copy (or none): it is never confirmed.
        let step = match &entry.step {
            Step::Session { .. } => Step::Pending,
            other => other.clone(),
        };
        self.emit(Event::Fixed { id, copy });
        self.advance(id, step, false, Next::Proceed);
    }

    pub(super) fn create(&mut self, id: FileId) {
        let Some(entry) = self.entry(id) else {
            return;
        };
        let ticket = self.ticket(id);
        self.set_phase(id, Phase::Creating);
        self.set_state(id, FileState::CreatingSession);
        self.effects
            .push_back(Effect::CreateSession { ticket, entry });
    }

    pub(super) fn session_created(&mut self, id: FileId, result: Result<UploadSession, ApiError>) {
        let session = match result {
            Ok(session) => session,
            Err(err) => return self.fail(id, UploadFailure::Api(err)),
        };
        // Losing this step to a power cut only costs a fresh session, so it is not flushed.
        self.advance(
            id,
            Step::Session {
                asset_id: session.asset_id,
                upload_url: session.upload_url,
            },
            false,
            Next::Put,
        );
    }

    /// Records `step` and continues with `next` once it is written.
    pub(super) fn advance(&mut self, id: FileId, step: Step, durable: bool, next: Next) {
        let ticket = self.ticket(id);
        let Some(job) = self.jobs.get_mut(&id) else {
            return;
        };
        let Some(entry) = job.entry.as_mut() else {
            return;
        };
        entry.step = step;
        let entry = entry.clone();
        job.phase = Phase::Writing(next);
        self.effects.push_back(Effect::WriteJournal {
            entry,
            durable,
            ack: Some(ticket),
        });
    }

    pub(super) fn journal_written(&mut self, id: FileId, result: Result<(), String>) {
        if let Err(err) = result {
            return self.fail(id, UploadFailure::Journal(err));
        }
        let Some(job) = self.jobs.get(&id) else {
            return;
        };
        let Phase::Writing(next) = job.phase.clone() else {
            return;
        };
        let Some(entry) = job.entry.clone() else {
            return;
        };
        match (next, entry.step) {
            (Next::Put, Step::Session { upload_url, .. }) => self.put(id, upload_url),
            (Next::Confirm, Step::Uploaded { asset_id }) => self.confirm(id, asset_id),
            (Next::Proceed, _) => self.proceed(id),
            _ => {}
        }
    }

    pub(super) fn put(&mut self, id: FileId, upload_url: String) {
        let Some(entry) = self.entry(id) else {
            return;
        };
        let ticket = self.ticket(id);
        self.set_phase(id, Phase::Putting);
        self.set_state(id, FileState::Uploading);
        self.effects.push_back(Effect::Put {
            ticket,
            entry,
            upload_url,
        });
    }

    pub(super) fn put_finished(&mut self, id: FileId, result: Result<(), UploadFailure>) {
        let Some(Step::Session { asset_id, .. }) = self.entry(id).map(|e| e.step) else {
            return;
        };
        match result {
            // The confirm is guarded by this step, so it is flushed.
            Ok(()) => self.advance(id, Step::Uploaded { asset_id }, true, Next::Confirm),
            Err(UploadFailure::Api(err)) if needs_new_link(&err) => self.fresh_session(id, err),
            Err(failure) => self.fail(id, failure),
        }
    }

    /// The journaled session cannot take the bytes (or is not an asset): start a new one, as
    /// long as the old one cannot be confirmed by anyone.
    pub(super) fn fresh_session(&mut self, id: FileId, err: ApiError) {
        let Some(job) = self.jobs.get_mut(&id) else {
            return;
        };
        job.sessions += 1;
        job.confirm_maybe_sent = false;
        job.confirms_sent = 0;
        if job.sessions >= MAX_SESSIONS {
            return self.fail(id, UploadFailure::Api(err));
        }
        // Through `proceed`: a file that goes as a copy needs it on disk before a new session.
        self.advance(id, Step::Pending, false, Next::Proceed);
    }

    pub(super) fn confirm(&mut self, id: FileId, asset_id: String) {
        let Some(job) = self.jobs.get_mut(&id) else {
            return;
        };
        if job.cancel_requested {
            // Cancelled while the step was being written: the confirm is never sent.
            return self.cancelled_before_confirm(id);
        }
        job.confirm_maybe_sent = true;
        job.confirms_sent += 1;
        job.phase = Phase::Confirming;
        let folder_id = job.entry.as_ref().and_then(|e| e.folder_id.clone());
        let ticket = self.ticket(id);
        self.set_state(id, FileState::Confirming);
        self.effects.push_back(Effect::Confirm {
            ticket,
            asset_id,
            folder_id,
        });
    }

    pub(super) fn confirmed(&mut self, id: FileId, result: Result<Asset, ApiError>) {
        match result {
            Ok(asset) => self.done(id, asset),
            // Refusals that no repeat changes; the session is not an asset.
            Err(err @ ApiError::Validation { .. }) => self.fail(id, UploadFailure::Api(err)),
            // Anything else (a lost answer, 404, any 409, 5xx): the asset decides.
            Err(_) => self.verify(id),
        }
    }

    /// Asks Runflow whether the journaled session became an asset.
    pub(super) fn verify(&mut self, id: FileId) {
        let Some(Step::Uploaded { asset_id } | Step::Session { asset_id, .. }) =
            self.entry(id).map(|e| e.step)
        else {
            return self.proceed(id);
        };
        let ticket = self.ticket(id);
        self.set_phase(id, Phase::Verifying);
        self.set_state(id, FileState::Confirming);
        self.effects
            .push_back(Effect::GetAsset { ticket, asset_id });
    }

    pub(super) fn asset_checked(&mut self, id: FileId, result: Result<Asset, ApiError>) {
        let Some(job) = self.jobs.get(&id) else {
            return;
        };
        let cancel_requested = job.cancel_requested;
        // One more confirm of this session after a 404 is safe (it has this id or none) and
        // costs no bytes; after two, the session itself is taken to be gone.
        let unconfirmed = job.confirms_sent < 2;
        let step = job.entry.as_ref().map(|e| e.step.clone());
        let expected = job.entry.as_ref().map(|e| e.upload_size());
        match result {
            // The session's asset, but not these bytes (storage kept something else): say so
            // rather than call it uploaded; the asset is left for the user to judge.
            Ok(asset)
                if asset
                    .size_bytes
                    .zip(expected)
                    .is_some_and(|(held, sent)| held != sent) =>
            {
                let held = asset.size_bytes.unwrap_or_default();
                let sent = expected.unwrap_or_default();
                let asset_id = asset.id.unwrap_or_default();
                self.fail(
                    id,
                    UploadFailure::Changed(format!(
                        "Runflow's asset {asset_id} holds {held} bytes, the file {sent}; delete \
                         that asset in the library and upload the file again"
                    )),
                );
            }
            Ok(asset) => self.done(id, asset),
            Err(ApiError::NotFound { .. }) if cancel_requested => self.cancelled_before_confirm(id),
            // A resumed upload whose confirm may never have gone out: confirming this session
            // cannot make a second asset, and costs no bytes.
            Err(ApiError::NotFound { .. })
                if unconfirmed && matches!(step, Some(Step::Uploaded { .. })) =>
            {
                if let Some(Step::Uploaded { asset_id }) = step {
                    self.confirm(id, asset_id);
                }
            }
            // Not an asset, so nobody can make it one: a fresh session is safe.
            Err(err @ ApiError::NotFound { .. }) => self.fresh_session(id, err),
            // Unknown: ask again later (a cancelled file too: it is reported as cancelled only
            // once it is known not to be an asset). The journal keeps `Uploaded` meanwhile.
            Err(err) => self.fail(id, UploadFailure::Api(err)),
        }
    }

    pub(super) fn move_here(&mut self, id: FileId) {
        let Some(job) = self.jobs.get(&id) else {
            return;
        };
        let FileState::InOtherFolder { asset_id, .. } = job.state.clone() else {
            return;
        };
        let folder_id = job.entry.as_ref().and_then(|e| e.folder_id.clone());
        self.reopen(id);
        let ticket = self.ticket(id);
        self.set_phase(id, Phase::Moving);
        self.set_state(id, FileState::Confirming);
        self.effects.push_back(Effect::Move {
            ticket,
            asset_id,
            folder_id,
        });
    }

    pub(super) fn moved(&mut self, id: FileId, result: Result<Asset, ApiError>) {
        let state = match result {
            Ok(asset) => FileState::Done(Box::new(asset)),
            Err(err) => FileState::Failed(UploadFailure::Api(err)),
        };
        self.finish(id, state);
    }

    pub(super) fn done(&mut self, id: FileId, asset: Asset) {
        let Some(entry) = self.entry(id) else {
            return;
        };
        if let (Some(hash), Some(asset_id)) = (entry.hash.clone(), asset.id.clone()) {
            self.effects.push_back(Effect::Record(Finished {
                hash,
                size_bytes: entry.size_bytes,
                asset_id,
                path: entry.path.clone(),
                name: entry.upload_name().to_owned(),
                folder_id: asset.folder_id.clone().or_else(|| entry.folder_id.clone()),
                modified_ns: entry.modified_ns,
                pasted: entry.owned_file,
                watched: entry.watched,
                fixed: entry.copy.as_deref().map(FixedCopy::describe),
            }));
        }
        self.finish(id, FileState::Done(Box::new(asset)));
    }
}

/// Whether a PUT failure means the link itself is no good: refused (expired) or its storage
/// does not answer at all (after the client's own retries).
fn needs_new_link(err: &ApiError) -> bool {
    matches!(err, ApiError::PresignedUrlRefused { .. }) || err.is_connection_failure()
}
