//! Files joining the queue: an earlier run's entries and walks from the journal, a scan's
//! findings, and files rejected before they could be queued.

use std::path::PathBuf;

use super::super::discover::{Found, LocalFile};
use super::super::journal::{Entry, Step, Walk};
use super::super::protocol::{Event, FileId, FileState, UploadFailure};
use super::{Effect, Job, Queue, Scanned};

impl Queue {
    /// Files of an earlier run, from the journal.
    pub fn resume(&mut self, entries: Vec<Entry>, walks: Vec<Walk>) {
        if !walks.is_empty() {
            self.earlier_paths
                .extend(entries.iter().map(|e| e.path.clone()));
        }
        if self.config.hold_earlier {
            self.held_walks.extend(walks);
        } else {
            self.walk_again(walks);
        }
        for entry in entries {
            self.next_id = self.next_id.max(entry.id + 1);
            let confirm_maybe_sent = matches!(entry.step, Step::Uploaded { .. });
            let cancelled = entry.cancelled;
            let id = self.insert_entry(entry, true);
            let hold = self.config.hold_earlier && !cancelled;
            if let Some(job) = self.jobs.get_mut(&id) {
                job.confirm_maybe_sent = confirm_maybe_sent;
                job.cancel_requested = cancelled;
                job.held = hold;
            }
            if hold {
                self.held += 1;
                self.held_ids.push(id);
            } else {
                self.ready.push_back(id);
            }
        }
        self.schedule();
    }

    /// Earlier runs' walks go again; each counts as a scan from now, so the queue is not idle
    /// before the engine starts it.
    fn walk_again(&mut self, walks: Vec<Walk>) {
        for walk in walks {
            self.scan_started();
            self.walks_again += 1;
            self.effects.push_back(Effect::Walk(walk));
        }
    }

    /// The earlier runs' files join the line.
    pub(super) fn resume_earlier(&mut self) {
        let walks = std::mem::take(&mut self.held_walks);
        self.walk_again(walks);
        for id in std::mem::take(&mut self.held_ids) {
            if let Some(job) = self.jobs.get_mut(&id)
                && job.held
            {
                job.held = false;
                self.ready.push_back(id);
            }
        }
        self.held = 0;
    }

    /// The earlier runs' files are cancelled and forgotten (a confirm that may have been sent
    /// is checked first, and the file then shows what it became).
    pub(super) fn discard_earlier(&mut self) {
        for walk in std::mem::take(&mut self.held_walks) {
            self.effects.push_back(Effect::ForgetWalk { key: walk.key });
        }
        for id in std::mem::take(&mut self.held_ids) {
            if let Some(job) = self.jobs.get_mut(&id)
                && job.held
            {
                job.held = false;
                self.held -= 1;
                self.remove(id);
            }
        }
    }

    /// A scan started; the queue is not idle until it reports.
    pub fn scan_started(&mut self) {
        self.scanning += 1;
        self.idle = false;
    }

    /// A scan ended (its findings came before, in [`Queue::discovered`]).
    pub fn scan_finished(&mut self, again: bool) {
        self.scanning = self.scanning.saturating_sub(1);
        if again {
            self.walks_again = self.walks_again.saturating_sub(1);
            if self.walks_again == 0 {
                self.earlier_paths = std::collections::HashSet::new();
            }
        }
        self.schedule();
    }

    /// A scan's next findings. Each file gets its journal entry (written before any later step
    /// of it, by the one writer) and joins the line.
    pub fn discovered(&mut self, mut scanned: Scanned) {
        let found = std::mem::take(&mut scanned.found);
        for found in found {
            self.step();
            match found {
                Found::File(file) => {
                    if scanned.again
                        && (self.earlier_paths.contains(&file.path)
                            || self.active_paths.contains_key(&file.path))
                    {
                        continue;
                    }
                    if self.active_paths.contains_key(&file.path) {
                        self.emit(Event::Skipped {
                            path: file.path,
                            reason: crate::upload::ALREADY_QUEUED.to_owned(),
                        });
                        continue;
                    }
                    let entry = self.new_entry(file, &scanned);
                    self.effects.push_back(Effect::WriteJournal {
                        entry: entry.clone(),
                        durable: false,
                        ack: None,
                    });
                    let id = self.insert_entry(entry, false);
                    self.ready.push_back(id);
                }
                Found::Rejected {
                    path,
                    name,
                    size_bytes,
                    reason,
                } => self.insert_rejected(name, Some(path), size_bytes, reason),
                Found::Skipped { path, reason } => self.emit(Event::Skipped { path, reason }),
            }
        }
        self.schedule();
    }

    fn new_entry(&mut self, file: LocalFile, scanned: &Scanned) -> Entry {
        Entry {
            id: self.allocate_id(),
            path: file.path,
            name: file.name,
            size_bytes: file.size_bytes,
            modified_ns: file.modified_ns,
            mime_type: file.mime_type,
            folder_id: scanned.folder_id.clone(),
            force: scanned.force,
            hash: None,
            step: Step::Pending,
            owned_file: scanned.owned,
            watched: scanned.watched,
            may_convert: false,
            may_shrink: false,
            copy: None,
            cancelled: false,
        }
    }

    /// A file that could not even be queued (e.g. pasted bytes that could not be saved).
    pub fn insert_rejected(
        &mut self,
        name: String,
        path: Option<PathBuf>,
        size_bytes: Option<u64>,
        reason: UploadFailure,
    ) {
        let id = FileId(self.allocate_id());
        let job = Job::new(name, path, size_bytes, None, false);
        self.insert(id, job, FileState::Failed(reason));
    }

    fn insert_entry(&mut self, entry: Entry, resumed: bool) -> FileId {
        let id = FileId(entry.id);
        let job = Job::new(
            entry.name.clone(),
            Some(entry.path.clone()),
            Some(entry.size_bytes),
            Some(entry),
            resumed,
        );
        if let Some(path) = job.path.clone() {
            self.active_paths.insert(path, id);
        }
        self.insert(id, job, FileState::Queued);
        id
    }

    fn insert(&mut self, id: FileId, mut job: Job, state: FileState) {
        if !state.is_finished() {
            self.unfinished += 1;
        }
        job.state = state.clone();
        let event = Event::Added {
            id,
            path: job.path.clone(),
            name: job.name.clone(),
            size_bytes: job.size_bytes,
            mime_type: job.entry.as_ref().map(|e| e.mime_type.clone()),
            state,
            resumed: job.resumed,
        };
        self.emit(event);
        self.jobs.insert(id, Box::new(job));
        self.idle = false;
    }
}
