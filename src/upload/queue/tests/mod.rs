//! The queue against a simulated Runflow, journal and index: unit tests of single transitions,
//! and a property test that drives random sequences of faults, lost answers, cancels and
//! restarts and checks the invariants.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::PathBuf;
use std::time::Duration;

use proptest::prelude::*;

use super::*;
use crate::api::ApiError;
use crate::api::models::{Asset, UploadSession};
use crate::upload::Command;
use crate::upload::discover::{Found, LocalFile};
use crate::upload::journal::Step;
use crate::upload::protocol::UploadFailure;

/// How the simulated server and network answer one piece of work.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Fault {
    /// Everything works.
    None,
    /// The request never arrives (a network error before it was applied).
    Refused,
    /// The request is applied, then the answer is lost.
    LostAnswer,
    /// 503 without doing anything.
    Unavailable,
}

/// What a repeated confirm answers on this simulated server.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Repeat {
    Conflict,
    NotFound,
    Same,
}

#[derive(Debug, Default)]
struct Session {
    file: u64,
    landed: bool,
    confirmed: bool,
}

/// The world around the queue.
struct Sim {
    queue: Queue,
    /// The journal on disk, by entry id, as the writer applied it.
    journal: BTreeMap<u64, Entry>,
    /// Index: hash -> asset id.
    index: HashMap<String, String>,
    sessions: HashMap<String, Session>,
    /// Assets: id -> (file it came from, folder).
    assets: HashMap<String, (u64, Option<String>)>,
    claims: HashMap<String, FileId>,
    pending: Vec<(Ticket, Effect)>,
    timers: Vec<Ticket>,
    /// File contents by path (index into `contents`).
    contents: HashMap<PathBuf, String>,
    /// The files that were ever told apart by path: path -> stable file number.
    files: HashMap<PathBuf, u64>,
    repeat: Repeat,
    next_session: u64,
    /// Entry ids whose cancel was acknowledged, and not retried since.
    cancelled: HashSet<FileId>,
    /// States seen last, per file id of the current queue.
    states: HashMap<FileId, FileState>,
    /// Each file's path, from its `Added` event.
    paths: HashMap<FileId, PathBuf>,
    /// The app's own copies (pasted content) deleted, in order.
    deleted: Vec<PathBuf>,
    /// The copies made to upload instead of files (`*.heic` files need one) that are on disk.
    copies: HashSet<PathBuf>,
    next_copy: u64,
    /// Whether the queue converts without asking (kept across restarts).
    auto_convert: bool,
}

fn config() -> QueueConfig {
    QueueConfig {
        concurrency: 3,
        check_concurrency: 2,
        max_file_attempts: 3,
        file_retry_wait: Duration::from_secs(1),
        hold_earlier: false,
        auto_convert: false,
        auto_shrink: false,
    }
}

fn local(path: &str, hash: &str) -> LocalFile {
    LocalFile {
        path: PathBuf::from(path),
        name: path.trim_start_matches('/').to_owned(),
        size_bytes: 10 + hash.len() as u64,
        modified_ns: 1,
        mime_type: "image/png".into(),
        file_key: None,
    }
}

impl Sim {
    fn new(repeat: Repeat) -> Self {
        Self {
            queue: Queue::new(config(), 0),
            journal: BTreeMap::new(),
            index: HashMap::new(),
            sessions: HashMap::new(),
            assets: HashMap::new(),
            claims: HashMap::new(),
            pending: Vec::new(),
            timers: Vec::new(),
            contents: HashMap::new(),
            files: HashMap::new(),
            repeat,
            next_session: 0,
            cancelled: HashSet::new(),
            states: HashMap::new(),
            paths: HashMap::new(),
            deleted: Vec::new(),
            copies: HashSet::new(),
            next_copy: 0,
            auto_convert: false,
        }
    }

    /// A file the simulated Runflow does not take as it is: a HEIC image.
    fn needs_copy(path: &std::path::Path) -> bool {
        path.extension().is_some_and(|e| e == "heic")
    }

    /// Adds files `(path, content)`, all for `folder`.
    fn add(&mut self, files: &[(&str, &str)], folder: Option<&str>) {
        self.add_as(files, folder, false);
    }

    /// Adds files as [`Sim::add`] does; `owned`: the app's own copies (pasted content).
    fn add_as(&mut self, files: &[(&str, &str)], folder: Option<&str>, owned: bool) {
        let mut found = Vec::new();
        for (path, content) in files {
            self.contents
                .insert(PathBuf::from(path), (*content).to_owned());
            let n = self.files.len() as u64;
            self.files.entry(PathBuf::from(path)).or_insert(n);
            found.push(Found::File(local(path, content)));
        }
        self.queue.scan_started();
        self.queue.discovered(Scanned {
            found,
            folder_id: folder.map(str::to_owned),
            force: false,
            owned,
            watched: false,
            again: false,
        });
        self.queue.scan_finished(false);
        self.drain_effects();
    }

    fn file_of(&self, entry: &Entry) -> u64 {
        self.files[&entry.path]
    }

    /// Takes the queue's effects: journal writes are applied at once (the writer is in order),
    /// work is parked until answered.
    fn drain_effects(&mut self) {
        while let Some(effect) = self.queue.poll_effect() {
            match effect {
                Effect::Emit(Event::State { id, state }) => {
                    if state == FileState::Cancelled {
                        self.cancelled.insert(id);
                    }
                    self.states.insert(id, state);
                }
                Effect::Emit(Event::Added {
                    id, state, path, ..
                }) => {
                    self.states.insert(id, state);
                    if let Some(path) = path {
                        self.paths.insert(id, path);
                    }
                }
                Effect::Emit(_) => {}
                Effect::WriteJournal { entry, ack, .. } => {
                    self.journal.insert(entry.id, entry);
                    if let Some(ticket) = ack {
                        self.pending
                            .push((ticket, Effect::RemoveJournal { id: u64::MAX }));
                    }
                }
                Effect::RemoveJournal { id } => {
                    self.journal.remove(&id);
                }
                Effect::Release { id } => self.claims.retain(|_, holder| *holder != id),
                Effect::Record(Finished { hash, asset_id, .. }) => {
                    self.index.insert(hash, asset_id);
                }
                Effect::SetTimer { ticket, .. } => self.timers.push(ticket),
                Effect::Abort { id } => self.pending.retain(|(t, e)| {
                    // Abortable work stops; a confirm or a check keeps going.
                    t.id != id || matches!(e, Effect::Confirm { .. } | Effect::GetAsset { .. })
                }),
                Effect::DeleteOwnedFile { path } => {
                    self.copies.remove(&path);
                    self.deleted.push(path);
                }
                Effect::Put {
                    ticket,
                    entry,
                    upload_url,
                } => {
                    if Self::needs_copy(&entry.path) {
                        let copy = entry.copy.as_ref().expect("a HEIC file goes as its copy");
                        assert!(
                            self.copies.contains(&copy.path),
                            "the copy {} is sent, but it is not there",
                            copy.path.display()
                        );
                        assert!(entry.upload_name().ends_with(".jpg"));
                    }
                    self.pending.push((
                        ticket,
                        Effect::Put {
                            ticket,
                            entry,
                            upload_url,
                        },
                    ));
                }
                Effect::Rescan { .. } | Effect::Walk(_) | Effect::ForgetWalk { .. } => {}
                Effect::Confirm {
                    ticket,
                    ref asset_id,
                    ..
                } => {
                    assert!(
                        !self.cancelled.contains(&ticket.id),
                        "a confirm was sent after the cancel was acknowledged"
                    );
                    if let Some(file) = self.sessions.get(asset_id).map(|s| s.file) {
                        let others: Vec<&String> = self
                            .sessions
                            .iter()
                            .filter(|(id, s)| s.file == file && s.confirmed && *id != asset_id)
                            .map(|(id, _)| id)
                            .collect();
                        assert!(
                            others.is_empty(),
                            "a confirm of {asset_id} while {others:?} of the same file is an asset"
                        );
                    }
                    self.pending.push((ticket, effect));
                }
                other => {
                    let ticket = ticket_of(&other);
                    self.pending.push((ticket, other));
                }
            }
        }
    }

    /// Answers parked work number `k` with `fault`.
    fn answer(&mut self, k: usize, fault: Fault) {
        if self.pending.is_empty() {
            return;
        }
        let (ticket, effect) = self.pending.remove(k % self.pending.len());
        let network = || ApiError::Network("connection reset".into());
        let unavailable = || ApiError::Server {
            status: 503,
            message: "unavailable".into(),
        };
        let answer = match effect {
            // A journal acknowledgement.
            Effect::RemoveJournal { .. } => Answer::JournalWritten(Ok(())),
            Effect::Prepare { entry, .. } => Answer::Prepared(Ok(Prepared {
                hash: self.contents[&entry.path].clone(),
                need: Self::needs_copy(&entry.path).then(|| Need {
                    format: "HEIC".into(),
                    convert: true,
                    shrink: false,
                }),
            })),
            Effect::MakeCopy { entry, .. } => match fault {
                Fault::Refused | Fault::Unavailable => {
                    Answer::CopyMade(Err(UploadFailure::Unreadable("disk full".into())))
                }
                _ => match entry.copy.filter(|c| self.copies.contains(&c.path)) {
                    Some(intact) => Answer::CopyMade(Ok(*intact)),
                    None => {
                        self.next_copy += 1;
                        let stem = entry.name.trim_end_matches(".heic");
                        let path = PathBuf::from(format!("/copies/{}/{stem}.jpg", self.next_copy));
                        self.copies.insert(path.clone());
                        Answer::CopyMade(Ok(crate::fix::FixedCopy {
                            path,
                            name: format!("{stem}.jpg"),
                            mime_type: "image/jpeg".into(),
                            size_bytes: 7,
                            modified_ns: u128::from(self.next_copy),
                            width: 4,
                            height: 3,
                            scaled_from: None,
                            from_label: "HEIC".into(),
                            from_mime: "image/heic".into(),
                        }))
                    }
                },
            },
            Effect::Claim { hash, .. } => {
                let holder = *self.claims.entry(hash).or_insert(ticket.id);
                Answer::Claimed(Ok(holder == ticket.id))
            }
            Effect::FindUploaded { hash, .. } => match fault {
                Fault::None | Fault::LostAnswer => {
                    let found = self
                        .index
                        .get(&hash)
                        .and_then(|id| self.assets.get(id).map(|a| (id, a)))
                        .map(|(id, (_, folder))| FoundAsset {
                            asset: asset(id, folder.clone()),
                            folder_name: None,
                        });
                    Answer::Found(Ok(found))
                }
                _ => Answer::Found(Err(UploadFailure::Api(unavailable()))),
            },
            Effect::CreateSession { entry, .. } => {
                let id = format!("s{}", self.next_session);
                self.next_session += 1;
                let applied = matches!(fault, Fault::None | Fault::LostAnswer);
                if applied {
                    let file = self.file_of(&entry);
                    self.sessions.insert(
                        id.clone(),
                        Session {
                            file,
                            ..Session::default()
                        },
                    );
                }
                Answer::SessionCreated(match fault {
                    Fault::None => Ok(UploadSession {
                        asset_id: id.clone(),
                        upload_url: format!("https://storage/{id}"),
                    }),
                    Fault::Unavailable => Err(unavailable()),
                    _ => Err(network()),
                })
            }
            Effect::Put { upload_url, .. } => {
                let id = upload_url.trim_start_matches("https://storage/").to_owned();
                let applied = matches!(fault, Fault::None | Fault::LostAnswer);
                if applied && let Some(session) = self.sessions.get_mut(&id) {
                    session.landed = true;
                }
                Answer::PutFinished(match fault {
                    Fault::None => Ok(()),
                    Fault::Unavailable => Err(UploadFailure::Api(ApiError::PresignedUrlRefused {
                        detail: "expired".into(),
                    })),
                    _ => Err(UploadFailure::Api(network())),
                })
            }
            Effect::Confirm {
                asset_id,
                folder_id,
                ..
            } => {
                let result = if matches!(fault, Fault::Refused | Fault::Unavailable) {
                    Err(if fault == Fault::Refused {
                        network()
                    } else {
                        unavailable()
                    })
                } else {
                    match self.sessions.get_mut(&asset_id) {
                        None => Err(ApiError::NotFound {
                            code: "ASSET_UPLOAD_NOT_FOUND".into(),
                            message: "gone".into(),
                        }),
                        Some(session) if session.confirmed => match self.repeat {
                            Repeat::Conflict => Err(ApiError::Conflict {
                                code: "SOMETHING_ELSE".into(),
                                message: "again".into(),
                            }),
                            Repeat::NotFound => Err(ApiError::NotFound {
                                code: "ASSET_UPLOAD_NOT_FOUND".into(),
                                message: "forgotten".into(),
                            }),
                            Repeat::Same => Ok(asset(&asset_id, folder_id.clone())),
                        },
                        Some(session) if !session.landed => Err(ApiError::Conflict {
                            code: "UPLOAD_NOT_FOUND".into(),
                            message: "no bytes".into(),
                        }),
                        Some(session) => {
                            session.confirmed = true;
                            let file = session.file;
                            self.assets
                                .insert(asset_id.clone(), (file, folder_id.clone()));
                            Ok(asset(&asset_id, folder_id.clone()))
                        }
                    }
                };
                Answer::Confirmed(match (fault, result) {
                    (Fault::LostAnswer, _) => Err(network()),
                    (_, result) => result,
                })
            }
            Effect::GetAsset { asset_id, .. } => Answer::AssetChecked(match fault {
                Fault::Refused | Fault::Unavailable => Err(network()),
                _ => match self.assets.get(&asset_id) {
                    Some((_, folder)) => Ok(asset(&asset_id, folder.clone())),
                    None => Err(ApiError::NotFound {
                        code: "ASSET_NOT_FOUND".into(),
                        message: "no such asset".into(),
                    }),
                },
            }),
            Effect::Move {
                asset_id,
                folder_id,
                ..
            } => {
                if let Some(a) = self.assets.get_mut(&asset_id) {
                    a.1 = folder_id.clone();
                }
                Answer::Moved(Ok(asset(&asset_id, folder_id)))
            }
            other => panic!("not parked work: {other:?}"),
        };
        self.queue.answer(ticket, answer);
        self.drain_effects();
    }

    fn fire_timer(&mut self, k: usize) {
        if self.timers.is_empty() {
            return;
        }
        let ticket = self.timers.remove(k % self.timers.len());
        self.queue.timer_fired(ticket);
        self.drain_effects();
    }

    fn command(&mut self, command: Command) {
        if let Command::Retry(id) | Command::UploadCopy(id) = &command {
            self.cancelled.remove(id);
        }
        self.queue.command(command);
        self.drain_effects();
    }

    /// The process dies: work in flight is lost (a confirm may or may not have been applied),
    /// claims die with it, and a new queue resumes from the journal.
    fn restart(&mut self, apply_in_flight: bool) {
        self.restart_with(apply_in_flight, false);
    }

    /// [`Sim::restart`], with the earlier run's files held for the user when `hold`.
    fn restart_with(&mut self, apply_in_flight: bool, hold: bool) {
        for (ticket, effect) in std::mem::take(&mut self.pending) {
            if apply_in_flight && matches!(effect, Effect::Confirm { .. }) {
                self.pending.push((ticket, effect));
                self.answer(0, Fault::LostAnswer);
            }
        }
        self.pending.clear();
        self.timers.clear();
        self.claims.clear();
        // The next start adopts the dead process's directory and deletes it, copies and all.
        self.copies.clear();
        self.states.clear();
        // A cancel stays acknowledged across a restart: the resumed entry may only be checked.
        self.cancelled = self
            .journal
            .values()
            .filter(|e| e.cancelled)
            .map(|e| FileId(e.id))
            .collect();
        let config = QueueConfig {
            hold_earlier: hold,
            auto_convert: self.auto_convert,
            ..config()
        };
        self.queue = Queue::new(config, 0);
        self.queue
            .resume(self.journal.values().cloned().collect(), Vec::new());
        self.drain_effects();
    }

    /// Runs everything to its end without faults.
    fn settle(&mut self) {
        for _ in 0..1_000_000 {
            if !self.pending.is_empty() {
                self.answer(0, Fault::None);
            } else if !self.timers.is_empty() {
                self.fire_timer(0);
            } else {
                return;
            }
        }
        panic!("the queue never settled");
    }

    fn assets_of(&self, file: u64) -> usize {
        self.assets.values().filter(|(f, _)| *f == file).count()
    }

    /// The last state the queue reported for the file at `path` (in this run).
    fn final_state(&self, path: &str) -> &FileState {
        let id = self
            .paths
            .iter()
            .filter(|(id, p)| {
                p.as_path() == std::path::Path::new(path) && self.states.contains_key(id)
            })
            .map(|(id, _)| *id)
            .max()
            .unwrap_or_else(|| panic!("no file {path}"));
        &self.states[&id]
    }
}

fn asset(id: &str, folder: Option<String>) -> Asset {
    Asset {
        id: Some(id.to_owned()),
        folder_id: folder,
        ..Asset::default()
    }
}

fn ticket_of(effect: &Effect) -> Ticket {
    match effect {
        Effect::Prepare { ticket, .. }
        | Effect::MakeCopy { ticket, .. }
        | Effect::Claim { ticket, .. }
        | Effect::FindUploaded { ticket, .. }
        | Effect::CreateSession { ticket, .. }
        | Effect::Put { ticket, .. }
        | Effect::Confirm { ticket, .. }
        | Effect::GetAsset { ticket, .. }
        | Effect::Move { ticket, .. } => *ticket,
        other => panic!("no ticket: {other:?}"),
    }
}

mod fixes;
mod properties;
mod steps;
