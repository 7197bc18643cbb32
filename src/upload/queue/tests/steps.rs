//! One file's way through the queue, step by step, against the simulated server.

use super::*;

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

#[test]
fn a_pasted_copy_is_deleted_once_its_content_is_on_runflow_however_it_got_there() {
    let mut sim = Sim::new(Repeat::Conflict);
    // The same image pasted twice, then once more after the first two are done.
    sim.add_as(
        &[("/pasted/1/a.png", "A"), ("/pasted/2/a.png", "A")],
        None,
        true,
    );
    sim.settle();
    sim.add_as(&[("/pasted/3/a.png", "A")], None, true);
    sim.settle();
    assert_eq!(sim.assets.len(), 1);
    assert!(matches!(
        sim.final_state("/pasted/2/a.png"),
        FileState::AlreadyUploaded { .. }
    ));
    assert!(matches!(
        sim.final_state("/pasted/3/a.png"),
        FileState::AlreadyUploaded { .. }
    ));
    let mut deleted = sim.deleted.clone();
    deleted.sort();
    assert_eq!(
        deleted,
        ["/pasted/1/a.png", "/pasted/2/a.png", "/pasted/3/a.png"].map(PathBuf::from)
    );
}

#[test]
fn a_file_of_the_users_own_is_never_deleted() {
    let mut sim = Sim::new(Repeat::Conflict);
    sim.add(&[("/a.png", "A"), ("/b.png", "A")], None);
    sim.settle();
    assert!(sim.deleted.is_empty());
}

#[test]
fn a_pasted_copy_stays_for_retry_until_its_row_is_removed() {
    let mut sim = Sim::new(Repeat::Conflict);
    sim.add_as(&[("/pasted/1/a.png", "A")], None, true);
    let id = FileId(1);
    sim.command(Command::Cancel(id));
    sim.settle();
    assert_eq!(sim.queue.state(id), Some(&FileState::Cancelled));
    assert!(sim.deleted.is_empty(), "Retry still needs the copy");
    sim.command(Command::Remove(id));
    assert_eq!(sim.deleted, [PathBuf::from("/pasted/1/a.png")]);
}
