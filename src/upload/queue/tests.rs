//! The queue against a simulated Runflow, journal and index: unit tests of single transitions,
//! and a property test that drives random sequences of faults, lost answers, cancels and
//! restarts and checks the invariants.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::PathBuf;
use std::time::Duration;

use proptest::prelude::*;

use super::*;
use crate::upload::Command;
use crate::upload::discover::LocalFile;

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
}

fn config() -> QueueConfig {
    QueueConfig {
        concurrency: 3,
        check_concurrency: 2,
        max_file_attempts: 3,
        file_retry_wait: Duration::from_secs(1),
        hold_earlier: false,
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
        }
    }

    /// Adds files `(path, content)`, all for `folder`.
    fn add(&mut self, files: &[(&str, &str)], folder: Option<&str>) {
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
            owned: false,
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
                Effect::Record { hash, asset_id, .. } => {
                    self.index.insert(hash, asset_id);
                }
                Effect::SetTimer { ticket, .. } => self.timers.push(ticket),
                Effect::Abort { id } => self.pending.retain(|(t, e)| {
                    // Abortable work stops; a confirm or a check keeps going.
                    t.id != id || matches!(e, Effect::Confirm { .. } | Effect::GetAsset { .. })
                }),
                Effect::Rescan { .. }
                | Effect::DeleteOwnedFile { .. }
                | Effect::Walk(_)
                | Effect::ForgetWalk { .. } => {}
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
            Effect::Prepare { entry, .. } => {
                Answer::Prepared(Ok(self.contents[&entry.path].clone()))
            }
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

#[test]
fn a_file_goes_through_every_step_and_leaves_no_journal() {
    let mut sim = Sim::new(Repeat::Conflict);
    sim.add(&[("/a.png", "A")], None);
    assert_eq!(sim.journal.len(), 1, "queued files are journaled first");
    sim.settle();
    assert!(matches!(sim.final_state("/a.png"), FileState::Done(_)));
    assert_eq!(sim.assets.len(), 1);
    assert!(sim.journal.is_empty());
    assert!(sim.queue.is_idle());
}

#[test]
fn a_lost_confirm_answered_not_found_on_repeat_is_resolved_by_the_asset() {
    for repeat in [Repeat::Conflict, Repeat::NotFound, Repeat::Same] {
        let mut sim = Sim::new(repeat);
        sim.add(&[("/a.png", "A")], None);
        // Prepare, claim, find, create, journal, put, journal.
        for _ in 0..7 {
            sim.answer(0, Fault::None);
        }
        assert!(matches!(sim.pending[0].1, Effect::Confirm { .. }));
        sim.answer(0, Fault::LostAnswer);
        sim.settle();
        assert!(matches!(sim.final_state("/a.png"), FileState::Done(_)));
        assert_eq!(sim.assets.len(), 1, "{repeat:?}: one asset");
        assert_eq!(sim.sessions.len(), 1, "{repeat:?}: no second session");
    }
}

#[test]
fn an_unknown_confirm_outcome_is_never_followed_by_a_new_session_until_checked() {
    let mut sim = Sim::new(Repeat::NotFound);
    sim.add(&[("/a.png", "A")], None);
    for _ in 0..7 {
        sim.answer(0, Fault::None);
    }
    // The confirm never arrived, and the check fails too: the file retries later, asking
    // again, and the journal keeps the session.
    sim.answer(0, Fault::Refused);
    assert!(matches!(sim.pending[0].1, Effect::GetAsset { .. }));
    sim.answer(0, Fault::Refused);
    assert!(matches!(
        sim.journal.values().next().map(|e| &e.step),
        Some(Step::Uploaded { .. })
    ));
    sim.settle();
    assert!(matches!(sim.final_state("/a.png"), FileState::Done(_)));
    assert_eq!(sim.sessions.len(), 1);
}

#[test]
fn a_cancel_before_the_confirm_means_no_confirm_ever() {
    let mut sim = Sim::new(Repeat::Conflict);
    sim.add(&[("/a.png", "A")], None);
    for _ in 0..6 {
        sim.answer(0, Fault::None);
    }
    // The durable `Uploaded` write is in flight; the user cancels.
    let id = FileId(1);
    sim.command(Command::Cancel(id));
    assert_eq!(sim.queue.state(id), Some(&FileState::Cancelled));
    sim.settle();
    assert!(sim.assets.is_empty());
    assert!(sim.journal.is_empty(), "the cancelled entry is gone");
}

#[test]
fn a_cancel_during_the_confirm_reports_what_happened() {
    let mut sim = Sim::new(Repeat::Conflict);
    sim.add(&[("/a.png", "A")], None);
    for _ in 0..7 {
        sim.answer(0, Fault::None);
    }
    let id = FileId(1);
    sim.command(Command::Cancel(id));
    assert_eq!(sim.queue.state(id), Some(&FileState::Confirming));
    sim.settle();
    assert!(matches!(sim.states.get(&id), Some(FileState::Done(_))));
}

#[test]
fn a_cancelled_upload_whose_confirm_may_have_gone_out_is_checked_after_a_restart() {
    let mut sim = Sim::new(Repeat::Conflict);
    sim.add(&[("/a.png", "A")], None);
    for _ in 0..7 {
        sim.answer(0, Fault::None);
    }
    sim.answer(0, Fault::LostAnswer);
    // The check is in flight; the user cancels, then the app dies.
    sim.command(Command::Cancel(FileId(1)));
    sim.restart(false);
    sim.settle();
    assert!(matches!(sim.final_state("/a.png"), FileState::Done(_)));
    assert_eq!(sim.assets.len(), 1);
    assert!(sim.journal.is_empty());
}

#[test]
fn an_earlier_runs_files_wait_for_the_user_when_held() {
    let mut sim = Sim::new(Repeat::Conflict);
    sim.add(&[("/a.png", "A"), ("/b.png", "B")], None);
    sim.restart_with(false, true);
    assert!(sim.pending.is_empty(), "nothing starts: {:?}", sim.pending);
    assert!(sim.queue.is_idle(), "held files are not work in progress");
    let batch = sim.queue.batch(|_| 0);
    assert_eq!((batch.held_files, batch.queued_files), (2, 0));
    assert_eq!(
        batch.held_bytes,
        sim.journal.values().map(|e| e.size_bytes).sum::<u64>()
    );
    // New files do not wait for them.
    sim.add(&[("/c.png", "C")], None);
    sim.settle();
    assert!(matches!(sim.final_state("/c.png"), FileState::Done(_)));
    assert!(matches!(sim.final_state("/a.png"), FileState::Queued));
    sim.command(Command::ResumeEarlier);
    sim.settle();
    assert!(matches!(sim.final_state("/a.png"), FileState::Done(_)));
    assert!(matches!(sim.final_state("/b.png"), FileState::Done(_)));
    assert_eq!(sim.assets.len(), 3);
    assert_eq!(sim.queue.batch(|_| 0).held_files, 0);
    assert!(sim.journal.is_empty());
}

#[test]
fn discarding_an_earlier_runs_files_forgets_them_and_their_journal() {
    let mut sim = Sim::new(Repeat::Conflict);
    sim.add(&[("/a.png", "A"), ("/b.png", "B")], None);
    sim.restart_with(false, true);
    sim.command(Command::DiscardEarlier);
    sim.settle();
    assert!(sim.queue.jobs.is_empty(), "{:?}", sim.queue.jobs.keys());
    assert!(sim.journal.is_empty());
    assert!(sim.assets.is_empty());
    assert!(sim.queue.is_idle());
    assert_eq!(sim.queue.batch(|_| 0).held_files, 0);
}

#[test]
fn checks_do_not_run_far_ahead_of_the_uploads() {
    let mut sim = Sim::new(Repeat::Conflict);
    let files: Vec<(String, String)> = (0..500)
        .map(|i| (format!("/f{i}.png"), format!("content {i}")))
        .collect();
    let refs: Vec<(&str, &str)> = files
        .iter()
        .map(|(p, c)| (p.as_str(), c.as_str()))
        .collect();
    sim.add(&refs, None);
    // Every check is answered, no upload ever is.
    loop {
        let check = sim.pending.iter().position(|(_, effect)| {
            matches!(
                effect,
                Effect::Prepare { .. } | Effect::Claim { .. } | Effect::FindUploaded { .. }
            )
        });
        let Some(k) = check else { break };
        sim.answer(k, Fault::None);
    }
    let bound = sim.queue.lookahead() + config().concurrency + config().check_concurrency;
    assert!(
        sim.claims.len() <= bound,
        "{} files hold a claim while at most {bound} can be on their way",
        sim.claims.len()
    );
    // And the rest still gets through.
    sim.settle();
    assert_eq!(sim.assets.len(), 500);
    assert_eq!(sim.queue.awaiting, 0);
}

/// The queue's work for `n` files, half of them sharing content with another, through to the
/// end and a clear.
fn work_for(n: usize) -> u64 {
    let mut sim = Sim::new(Repeat::Conflict);
    let files: Vec<(String, String)> = (0..n)
        .map(|i| (format!("/f{i}.png"), format!("content {}", i / 2)))
        .collect();
    let refs: Vec<(&str, &str)> = files
        .iter()
        .map(|(p, c)| (p.as_str(), c.as_str()))
        .collect();
    sim.add(&refs, None);
    sim.settle();
    sim.command(Command::RetryFailed);
    sim.command(Command::ClearFinished);
    assert!(sim.queue.is_idle());
    sim.queue.work()
}

#[test]
fn queue_work_grows_linearly_with_the_files() {
    let (small, big) = (work_for(1000), work_for(4000));
    assert!(
        big <= small * 4 + small / 10,
        "4x the files took {big} steps against {small}: not linear"
    );
}

#[test]
fn identical_content_in_one_batch_becomes_one_asset() {
    let mut sim = Sim::new(Repeat::Conflict);
    sim.add(&[("/a.png", "X"), ("/b.png", "X"), ("/c.png", "X")], None);
    sim.settle();
    assert_eq!(sim.assets.len(), 1);
    let same: Vec<&FileState> = ["/a.png", "/b.png", "/c.png"]
        .iter()
        .map(|p| sim.final_state(p))
        .collect();
    assert_eq!(
        same.iter()
            .filter(|s| matches!(s, FileState::Done(_)))
            .count(),
        1
    );
    assert_eq!(
        same.iter()
            .filter(|s| matches!(
                s,
                FileState::AlreadyUploaded {
                    same_as: Some(_),
                    ..
                }
            ))
            .count(),
        2
    );
}

#[test]
fn content_already_in_another_folder_is_reported_with_that_folder() {
    let mut sim = Sim::new(Repeat::Conflict);
    sim.add(&[("/a.png", "X")], Some("spring"));
    sim.settle();
    sim.add(&[("/copy.png", "X")], Some("summer"));
    sim.settle();
    let state = sim.final_state("/copy.png").clone();
    let FileState::InOtherFolder { folder_id, .. } = state else {
        panic!("{state:?}");
    };
    assert_eq!(folder_id.as_deref(), Some("spring"));
    let id = FileId(2);
    sim.command(Command::MoveHere(id));
    sim.settle();
    assert!(matches!(sim.states.get(&id), Some(FileState::Done(_))));
    assert_eq!(sim.assets.len(), 1);
    assert_eq!(
        sim.assets.values().next().unwrap().1.as_deref(),
        Some("summer")
    );
}

#[test]
fn an_expired_link_gets_a_fresh_session_and_a_dead_one_gives_up() {
    let mut sim = Sim::new(Repeat::Conflict);
    sim.add(&[("/a.png", "A")], None);
    for _ in 0..5 {
        sim.answer(0, Fault::None);
    }
    assert!(matches!(sim.pending[0].1, Effect::Put { .. }));
    // A refused link (Unavailable is the 403 here): a new session.
    sim.answer(0, Fault::Unavailable);
    sim.settle();
    assert!(matches!(sim.final_state("/a.png"), FileState::Done(_)));
    assert_eq!(sim.sessions.len(), 2);
    assert_eq!(sim.assets.len(), 1);
}

#[test]
fn the_same_path_is_queued_once() {
    let mut sim = Sim::new(Repeat::Conflict);
    sim.add(&[("/a.png", "A")], None);
    sim.add(&[("/a.png", "A")], None);
    assert_eq!(sim.queue.jobs.len(), 1);
    assert_eq!(sim.journal.len(), 1);
}

#[test]
fn content_claimed_by_another_process_waits_then_is_found_there() {
    let mut sim = Sim::new(Repeat::Conflict);
    // Another process holds the claim on this content.
    sim.claims.insert("A".into(), FileId(999));
    sim.add(&[("/a.png", "A")], None);
    sim.answer(0, Fault::None); // prepared
    sim.answer(0, Fault::None); // claim refused
    assert_eq!(sim.timers.len(), 1, "asks again later");
    // The other process finishes: its asset is in the shared index, and it lets go.
    sim.assets.insert("theirs".into(), (99, None));
    sim.index.insert("A".into(), "theirs".into());
    sim.claims.clear();
    sim.settle();
    assert_eq!(
        sim.final_state("/a.png"),
        &FileState::AlreadyUploaded {
            asset_id: "theirs".into(),
            same_as: None,
            url: None,
        }
    );
    assert!(sim.sessions.is_empty());
}

#[test]
fn transient_failures_retry_after_a_wait_and_refusals_are_final() {
    let mut sim = Sim::new(Repeat::Conflict);
    sim.add(&[("/a.png", "A")], None);
    for _ in 0..3 {
        sim.answer(0, Fault::None);
    }
    // Create answered 503: a retry after a wait, not a failure.
    sim.answer(0, Fault::Unavailable);
    assert!(matches!(
        sim.states.get(&FileId(1)),
        Some(FileState::Retrying { .. })
    ));
    sim.settle();
    assert!(matches!(sim.final_state("/a.png"), FileState::Done(_)));

    // A confirm refused as invalid is final, and the session is not an asset.
    let mut sim = Sim::new(Repeat::Conflict);
    sim.add(&[("/b.png", "B")], None);
    for _ in 0..7 {
        sim.answer(0, Fault::None);
    }
    let (ticket, _) = sim.pending.remove(0);
    sim.queue.answer(
        ticket,
        Answer::Confirmed(Err(ApiError::Validation {
            code: "UPLOAD_SIZE_MISMATCH".into(),
            message: "too big".into(),
            fields: Vec::new(),
        })),
    );
    sim.drain_effects();
    assert!(matches!(sim.final_state("/b.png"), FileState::Failed(_)));
    assert!(sim.journal.is_empty());
}

#[test]
fn a_resumed_session_puts_to_its_link_and_a_changed_file_starts_over() {
    let mut sim = Sim::new(Repeat::Conflict);
    sim.add(&[("/a.png", "A"), ("/b.png", "B")], None);
    // Both get as far as their sessions, then the app dies.
    for _ in 0..10 {
        sim.answer(0, Fault::None);
        if sim
            .journal
            .values()
            .all(|e| matches!(e.step, Step::Session { .. }))
        {
            break;
        }
    }
    assert!(
        sim.journal
            .values()
            .all(|e| matches!(e.step, Step::Session { .. }))
    );
    // b.png changed meanwhile: its old session is left unconfirmed.
    sim.contents.insert(PathBuf::from("/b.png"), "B2".into());
    sim.restart(false);
    sim.settle();
    assert!(matches!(sim.final_state("/a.png"), FileState::Done(_)));
    assert!(matches!(sim.final_state("/b.png"), FileState::Done(_)));
    assert_eq!(sim.assets.len(), 2);
    assert_eq!(
        sim.sessions.len(),
        3,
        "a fresh session for the changed file only"
    );
}

#[test]
fn a_checked_asset_of_another_size_is_not_called_uploaded() {
    let mut sim = Sim::new(Repeat::Conflict);
    sim.add(&[("/a.png", "A")], None);
    for _ in 0..7 {
        sim.answer(0, Fault::None);
    }
    sim.answer(0, Fault::LostAnswer);
    let (ticket, Effect::GetAsset { asset_id, .. }) = sim.pending.remove(0) else {
        panic!("the asset is checked");
    };
    let mut held = asset(&asset_id, None);
    held.size_bytes = Some(3);
    sim.queue.answer(ticket, Answer::AssetChecked(Ok(held)));
    sim.drain_effects();
    let FileState::Failed(UploadFailure::Changed(reason)) = sim.final_state("/a.png") else {
        panic!("{:?}", sim.final_state("/a.png"));
    };
    assert!(reason.contains("holds 3 bytes"), "{reason}");
}

#[derive(Debug, Clone)]
enum Step_ {
    Answer(usize, Fault),
    Timer(usize),
    Cancel(u64),
    CancelAll,
    Retry(u64),
    /// Whether answers in flight land, and whether the new queue holds the earlier files.
    Restart(bool, bool),
    ResumeEarlier,
    DiscardEarlier,
    Pause,
    Resume,
}

fn fault() -> impl Strategy<Value = Fault> {
    prop_oneof![
        6 => Just(Fault::None),
        1 => Just(Fault::Refused),
        1 => Just(Fault::LostAnswer),
        1 => Just(Fault::Unavailable),
    ]
}

fn step() -> impl Strategy<Value = Step_> {
    prop_oneof![
        20 => (0..8_usize, fault()).prop_map(|(k, f)| Step_::Answer(k, f)),
        3 => (0..4_usize).prop_map(Step_::Timer),
        1 => (1..7_u64).prop_map(Step_::Cancel),
        1 => Just(Step_::CancelAll),
        1 => (1..7_u64).prop_map(Step_::Retry),
        1 => (any::<bool>(), any::<bool>()).prop_map(|(apply, hold)| Step_::Restart(apply, hold)),
        1 => Just(Step_::ResumeEarlier),
        1 => Just(Step_::DiscardEarlier),
        1 => Just(Step_::Pause),
        1 => Just(Step_::Resume),
    ]
}

fn repeat() -> impl Strategy<Value = Repeat> {
    prop_oneof![
        Just(Repeat::Conflict),
        Just(Repeat::NotFound),
        Just(Repeat::Same)
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 1000, ..ProptestConfig::default() })]

    /// Whatever happens: never two live confirmed sessions for one file (checked as effects go
    /// out), never a confirm after an acknowledged cancel (likewise), and once things settle,
    /// every file is finished, at most one asset per file, `Done` files have exactly one, and
    /// cancelled ones none.
    #[test]
    fn random_faults_cancels_and_restarts_keep_every_file_exactly_once(
        steps in proptest::collection::vec(step(), 0..120),
        repeat in repeat(),
    ) {
        let mut sim = Sim::new(repeat);
        let files = [
            ("/a.png", "A"), ("/b.png", "B"), ("/c.png", "C"),
            ("/d.png", "D"), ("/e.png", "A"), ("/f.png", "F"),
        ];
        sim.add(&files, None);
        for step in steps {
            match step {
                Step_::Answer(k, f) => sim.answer(k, f),
                Step_::Timer(k) => sim.fire_timer(k),
                Step_::Cancel(id) => sim.command(Command::Cancel(FileId(id))),
                Step_::CancelAll => sim.command(Command::CancelAll),
                Step_::Retry(id) => sim.command(Command::Retry(FileId(id))),
                Step_::Restart(apply, hold) => sim.restart_with(apply, hold),
                Step_::ResumeEarlier => sim.command(Command::ResumeEarlier),
                Step_::DiscardEarlier => sim.command(Command::DiscardEarlier),
                Step_::Pause => sim.command(Command::Pause),
                Step_::Resume => sim.command(Command::Resume),
            }
        }
        sim.command(Command::ResumeEarlier);
        sim.command(Command::Resume);
        sim.settle();
        prop_assert_eq!(sim.queue.awaiting, 0, "no file is left waiting for an upload slot");
        for n in 0..files.len() as u64 {
            prop_assert!(sim.assets_of(n) <= 1, "file {n} has {} assets", sim.assets_of(n));
        }
        for (id, state) in &sim.states {
            prop_assert!(state.is_finished(), "{id} ended {:?}", state);
            let n = sim.files[&sim.paths[id]];
            match state {
                FileState::Done(_) => prop_assert_eq!(sim.assets_of(n), 1),
                FileState::Cancelled => prop_assert_eq!(sim.assets_of(n), 0, "cancelled {}", id),
                _ => {}
            }
        }
        // Whatever the journal still holds is a file that is not finished well.
        for entry in sim.journal.values() {
            let done = sim.states.get(&FileId(entry.id)).is_some_and(FileState::is_success);
            prop_assert!(!done, "a finished file left its journal entry: {entry:?}");
        }
    }
}

fn walk(key: &str) -> Walk {
    Walk {
        key: key.into(),
        paths: vec![PathBuf::from("/photos")],
        folder_id: None,
        force: false,
    }
}

fn walk_effects(queue: &mut Queue) -> Vec<Effect> {
    std::iter::from_fn(|| queue.poll_effect())
        .filter(|e| matches!(e, Effect::Walk(_) | Effect::ForgetWalk { .. }))
        .collect()
}

#[test]
fn an_earlier_runs_walk_goes_again_and_counts_as_a_scan_until_it_ends() {
    let mut queue = Queue::new(config(), 0);
    let earlier = |id: u64, path: &str| Entry {
        id,
        path: PathBuf::from(path),
        name: path.rsplit('/').next().unwrap().into(),
        size_bytes: 3,
        modified_ns: 1,
        mime_type: "image/png".into(),
        folder_id: None,
        force: false,
        hash: None,
        step: Step::Pending,
        owned_file: false,
        cancelled: false,
    };
    queue.resume(
        vec![earlier(1, "/photos/a.png"), earlier(2, "/photos/b.png")],
        vec![walk("w1")],
    );
    assert!(!queue.is_idle(), "the walk is work in progress");
    assert!(matches!(&walk_effects(&mut queue)[..], [Effect::Walk(w)] if w.key == "w1"));
    // b.png finished (and left the line) before the walk came back to it.
    queue.active_paths.remove(&PathBuf::from("/photos/b.png"));
    // The earlier run's files, found again, are the ones resumed, not new or "given twice".
    queue.discovered(Scanned {
        found: vec![
            Found::File(local("/photos/a.png", "A")),
            Found::File(local("/photos/b.png", "B")),
            Found::File(local("/photos/c.png", "C")),
        ],
        folder_id: None,
        force: false,
        owned: false,
        again: true,
    });
    let effects: Vec<Effect> = std::iter::from_fn(|| queue.poll_effect()).collect();
    assert!(
        !effects
            .iter()
            .any(|e| matches!(e, Effect::Emit(Event::Skipped { .. }))),
        "{effects:?}"
    );
    let added: Vec<&str> = effects
        .iter()
        .filter_map(|e| match e {
            Effect::Emit(Event::Added { name, .. }) => Some(name.as_str()),
            _ => None,
        })
        .collect();
    assert_eq!(added, ["photos/c.png"]);
    queue.scan_finished(true);
    assert!(
        queue.earlier_paths.is_empty(),
        "forgotten once the walk ended"
    );
}

#[test]
fn a_held_walk_waits_for_resume_or_is_forgotten_on_discard() {
    let held = QueueConfig {
        hold_earlier: true,
        ..config()
    };
    let mut queue = Queue::new(held.clone(), 0);
    queue.resume(Vec::new(), vec![walk("w1"), walk("w2")]);
    assert!(walk_effects(&mut queue).is_empty());
    assert!(queue.is_idle(), "a held walk waits on purpose");
    assert_eq!(queue.batch(|_| 0).held_walks, 2);
    queue.command(Command::ResumeEarlier);
    assert_eq!(walk_effects(&mut queue).len(), 2);
    assert!(!queue.is_idle());
    assert_eq!(queue.batch(|_| 0).held_walks, 0);

    let mut queue = Queue::new(held, 0);
    queue.resume(Vec::new(), vec![walk("w1")]);
    queue.command(Command::DiscardEarlier);
    assert!(matches!(&walk_effects(&mut queue)[..], [Effect::ForgetWalk { key }] if key == "w1"));
    assert!(queue.is_idle());
    assert_eq!(queue.batch(|_| 0).held_walks, 0);
}
