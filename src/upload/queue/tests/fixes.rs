//! Files Runflow takes only as a copy (converted, shrunk): consent, the copy's life, and the
//! original's identity.

use super::*;

/// Effects of the kind `pick` still waiting for an answer.
fn parked(sim: &Sim, pick: fn(&Effect) -> bool) -> usize {
    sim.pending.iter().filter(|(_, e)| pick(e)).count()
}

#[test]
fn a_file_that_needs_converting_asks_first_and_goes_as_its_copy_once_agreed() {
    let mut sim = Sim::new(Repeat::Conflict);
    sim.add(&[("/IMG_0042.heic", "H")], None);
    sim.settle();
    let FileState::Failed(failure) = sim.final_state("/IMG_0042.heic").clone() else {
        panic!("not asked: {:?}", sim.final_state("/IMG_0042.heic"));
    };
    assert_eq!(
        failure.fix(),
        Some(crate::upload::protocol::FixOffer {
            convert: true,
            shrink: false
        })
    );
    assert!(failure.to_string().contains("HEIC"), "{failure}");
    assert!(sim.copies.is_empty(), "no copy is made without consent");
    assert!(sim.sessions.is_empty());
    assert!(sim.journal.is_empty());

    sim.command(Command::Fix(FileId(1)));
    sim.settle();
    assert!(matches!(
        sim.final_state("/IMG_0042.heic"),
        FileState::Done(_)
    ));
    assert_eq!(sim.assets.len(), 1);
    assert!(sim.copies.is_empty(), "the copy is deleted once uploaded");
    assert_eq!(sim.deleted, [PathBuf::from("/copies/1/IMG_0042.jpg")]);
    assert_eq!(
        sim.index.keys().collect::<Vec<_>>(),
        ["H"],
        "the original's content is what the index knows"
    );
}

#[test]
fn a_converted_upload_is_already_uploaded_the_next_time_and_is_not_converted_again() {
    let mut sim = Sim::new(Repeat::Conflict);
    sim.auto_convert = true;
    sim.command(Command::SetAutoConvert(true));
    sim.add(&[("/IMG_0042.heic", "H")], None);
    sim.settle();
    assert!(matches!(
        sim.final_state("/IMG_0042.heic"),
        FileState::Done(_)
    ));
    let made = sim.next_copy;
    sim.add(&[("/again/IMG_0042.heic", "H")], None);
    sim.settle();
    assert!(matches!(
        sim.final_state("/again/IMG_0042.heic"),
        FileState::AlreadyUploaded { .. }
    ));
    assert_eq!(sim.next_copy, made, "no second copy is made");
    assert_eq!(sim.assets.len(), 1);
}

#[test]
fn a_copy_lost_with_a_crash_is_made_again_and_its_old_session_never_confirmed() {
    let mut sim = Sim::new(Repeat::Conflict);
    sim.auto_convert = true;
    sim.command(Command::SetAutoConvert(true));
    sim.add(&[("/scan.heic", "S")], None);
    // Prepare, claim, find, copy, journal, create, journal: the PUT is next.
    for _ in 0..7 {
        sim.answer(0, Fault::None);
    }
    assert_eq!(parked(&sim, |e| matches!(e, Effect::Put { .. })), 1);
    let first = sim.journal.values().next().cloned().unwrap();
    assert!(matches!(first.step, Step::Session { .. }));
    assert!(first.copy.is_some(), "the journal names the copy");
    // Killed: the next start deletes the dead process's directory, the copy with it.
    sim.restart(false);
    sim.settle();
    assert!(matches!(sim.final_state("/scan.heic"), FileState::Done(_)));
    assert_eq!(sim.next_copy, 2, "the copy was made again");
    assert_eq!(sim.sessions.len(), 2, "the old session is left unconfirmed");
    assert_eq!(sim.assets.len(), 1);
    assert!(sim.copies.is_empty());
    assert!(sim.journal.is_empty());
}

#[test]
fn a_copy_made_for_a_file_cancelled_meanwhile_is_deleted() {
    let mut sim = Sim::new(Repeat::Conflict);
    sim.auto_convert = true;
    sim.command(Command::SetAutoConvert(true));
    sim.add(&[("/scan.heic", "S")], None);
    // Prepare, claim, find: the copy is being made.
    for _ in 0..3 {
        sim.answer(0, Fault::None);
    }
    assert_eq!(parked(&sim, |e| matches!(e, Effect::MakeCopy { .. })), 1);
    sim.command(Command::Cancel(FileId(1)));
    // The copy is not abortable work: it lands after the cancel, and nobody wants it.
    sim.answer(0, Fault::None);
    sim.settle();
    assert_eq!(sim.final_state("/scan.heic"), &FileState::Cancelled);
    assert!(sim.copies.is_empty(), "the late copy is deleted");
    assert!(sim.sessions.is_empty());
}

#[test]
fn a_file_that_fails_for_good_drops_its_copy_and_a_retry_makes_a_new_one() {
    let mut sim = Sim::new(Repeat::Conflict);
    sim.auto_convert = true;
    sim.command(Command::SetAutoConvert(true));
    sim.add(&[("/scan.heic", "S")], None);
    for _ in 0..4 {
        sim.answer(0, Fault::None);
    }
    assert_eq!(sim.copies.len(), 1);
    // The session is refused for good (a 422).
    let (ticket, _) = sim.pending.remove(
        sim.pending
            .iter()
            .position(|(_, e)| matches!(e, Effect::RemoveJournal { .. }))
            .unwrap(),
    );
    sim.queue.answer(ticket, Answer::JournalWritten(Ok(())));
    sim.drain_effects();
    let (ticket, _) = sim.pending.remove(0);
    sim.queue.answer(
        ticket,
        Answer::SessionCreated(Err(ApiError::Validation {
            code: "INVALID".into(),
            message: "no".into(),
            fields: Vec::new(),
        })),
    );
    sim.drain_effects();
    assert!(matches!(
        sim.final_state("/scan.heic"),
        FileState::Failed(_)
    ));
    assert!(sim.copies.is_empty(), "a final failure deletes the copy");
    sim.command(Command::Retry(FileId(1)));
    sim.settle();
    assert!(matches!(sim.final_state("/scan.heic"), FileState::Done(_)));
    assert_eq!(sim.next_copy, 2);
    assert!(sim.copies.is_empty());
}

#[test]
fn retry_all_failed_leaves_files_that_need_a_copy_and_fix_all_uploads_them() {
    let mut sim = Sim::new(Repeat::Conflict);
    sim.add(&[("/a.heic", "A"), ("/b.heic", "B"), ("/c.png", "C")], None);
    sim.settle();
    let batch = sim.queue.batch(|_| 0);
    assert_eq!(
        (
            batch.succeeded_files,
            batch.failed_files,
            batch.fixable_files
        ),
        (1, 0, 2),
        "a file waiting for consent is counted apart from the failed ones"
    );
    sim.command(Command::RetryFailed);
    sim.settle();
    assert!(
        sim.copies.is_empty() && sim.next_copy == 0,
        "a retry is no consent"
    );
    assert_eq!(sim.queue.batch(|_| 0).fixable_files, 2);

    sim.command(Command::FixAll);
    sim.settle();
    for path in ["/a.heic", "/b.heic"] {
        assert!(
            matches!(sim.final_state(path), FileState::Done(_)),
            "{path}"
        );
    }
    let batch = sim.queue.batch(|_| 0);
    assert_eq!((batch.succeeded_files, batch.fixable_files), (3, 0));
    assert_eq!(sim.assets.len(), 3);
    assert!(sim.copies.is_empty());
}

/// Found by the property test (its case is kept in `proptest-regressions/`): a HEIC cancelled
/// after its copy's bytes were stored, which deletes the copy, then retried. The retry confirms
/// the old session; when that session is gone, the fresh one must first make the copy again,
/// not send the deleted one (or the original).
#[test]
fn a_copy_deleted_by_a_cancel_is_made_again_before_a_fresh_session() {
    let mut sim = Sim::new(Repeat::Conflict);
    sim.auto_convert = true;
    sim.command(Command::SetAutoConvert(true));
    let files = [
        ("/a.png", "A"),
        ("/b.png", "B"),
        ("/c.png", "C"),
        ("/d.png", "D"),
        ("/e.png", "A"),
        ("/f.png", "F"),
        ("/g.heic", "G"),
        ("/h.heic", "F"),
    ];
    sim.add(&files, None);
    sim.command(Command::CancelAll);
    sim.command(Command::Retry(FileId(8)));
    for _ in 0..8 {
        sim.answer(0, Fault::None);
    }
    sim.command(Command::CancelAll);
    sim.command(Command::ResumeEarlier);
    sim.command(Command::Retry(FileId(8)));
    sim.command(Command::Resume);
    for fault in [
        Fault::None,
        Fault::None,
        Fault::None,
        Fault::Unavailable,
        Fault::LostAnswer,
        Fault::Refused,
    ] {
        sim.answer(0, fault);
    }
    sim.settle();
    assert!(matches!(sim.final_state("/h.heic"), FileState::Done(_)));
    assert_eq!(sim.assets_of(7), 1);
    assert_eq!(sim.next_copy, 2, "the deleted copy was made again");
    assert!(sim.copies.is_empty());
}
