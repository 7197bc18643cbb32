use std::path::PathBuf;

use super::state::{DONE_ROWS_SHOWN, FOLD_BATCH};
use super::*;
use crate::upload::UploadFailure;
use crate::upload::{Event, FileId};

fn added(id: u64, name: &str) -> Event {
    Event::Added {
        id: FileId(id),
        path: Some(PathBuf::from(format!("/tmp/{name}"))),
        name: name.to_owned(),
        size_bytes: Some(1000),
        mime_type: Some("image/png".into()),
        state: FileState::Queued,
        resumed: false,
    }
}

#[test]
fn the_earlier_run_banner_names_its_files_and_the_folders_left_to_walk() {
    assert_eq!(
        earlier_run_text(1, 2048, 0),
        "1 unfinished upload from an earlier run (2.0 KiB)"
    );
    assert_eq!(
        earlier_run_text(3, 2048, 1),
        "3 unfinished uploads from an earlier run (2.0 KiB), and 1 folder to finish \
         looking through"
    );
    assert_eq!(
        earlier_run_text(0, 0, 2),
        "2 folders from an earlier run to finish looking through"
    );
}

#[test]
fn events_drive_rows_through_their_life() {
    let mut queue = QueueState::default();
    queue.apply(added(1, "a.png"));
    queue.apply(added(2, "b.png"));
    queue.apply(Event::State {
        id: FileId(1),
        state: FileState::Uploading,
    });
    queue.apply(Event::Progress {
        id: FileId(1),
        sent_bytes: 500,
        total_bytes: 1000,
        bytes_per_sec: Some(2048.0),
        eta: Some(Duration::from_secs(3)),
    });
    let row = queue.row(FileId(1)).unwrap();
    assert_eq!(state_text(row).0, "Uploading 50%, 2.0 KiB/s, 3 s left");
    let finished = queue.apply(Event::State {
        id: FileId(1),
        state: FileState::Done(Box::default()),
    });
    assert!(matches!(finished, Some(Finished::Uploaded(_, Some(_)))));
    queue.apply(Event::State {
        id: FileId(2),
        state: FileState::Failed(UploadFailure::Empty),
    });
    assert!(
        state_text(queue.row(FileId(2)).unwrap())
            .0
            .starts_with("Failed: The file is empty")
    );
}

#[test]
fn removing_many_rows_keeps_the_rest_addressable() {
    let mut queue = QueueState::default();
    for id in 0..100 {
        queue.apply(added(id, &format!("{id}.png")));
    }
    for id in (0..100).step_by(2) {
        queue.apply(Event::Removed(FileId(id)));
    }
    queue.apply(added(100, "late.png"));
    assert_eq!(queue.rows().len(), 51);
    assert_eq!(queue.row(FileId(99)).unwrap().name, "99.png");
    assert_eq!(queue.row(FileId(100)).unwrap().name, "late.png");
    assert!(queue.row(FileId(98)).is_none());
}

#[test]
fn old_successes_fold_into_a_count_and_failures_stay() {
    let mut queue = QueueState::default();
    let total = DONE_ROWS_SHOWN + FOLD_BATCH + 500;
    for id in 0..total as u64 {
        queue.apply(added(id, &format!("{id}.png")));
    }
    queue.apply(Event::State {
        id: FileId(0),
        state: FileState::Failed(UploadFailure::Empty),
    });
    for id in 1..total as u64 {
        queue.apply(Event::State {
            id: FileId(id),
            state: FileState::AlreadyUploaded {
                asset_id: format!("a{id}"),
                same_as: None,
                url: None,
            },
        });
    }
    let shown = queue.rows().len();
    assert!(
        (DONE_ROWS_SHOWN + 1..=DONE_ROWS_SHOWN + FOLD_BATCH + 1).contains(&shown),
        "{shown} rows shown"
    );
    assert_eq!(
        queue.folded + shown,
        total,
        "every file is a row or counted"
    );
    assert!(
        matches!(queue.row(FileId(0)).unwrap().state, FileState::Failed(_)),
        "a failure is never folded"
    );
    assert!(
        queue.row(FileId(1)).is_none(),
        "the oldest success is folded"
    );
    assert!(
        queue.row(FileId(total as u64 - 1)).is_some(),
        "the newest stays"
    );
}

#[test]
fn durations_read_naturally_and_never_say_zero() {
    assert_eq!(human_duration(Duration::ZERO), "1 s");
    assert_eq!(human_duration(Duration::from_secs(125)), "2 min 5 s");
    assert_eq!(human_duration(Duration::from_secs(3900)), "1 h 5 min");
}
