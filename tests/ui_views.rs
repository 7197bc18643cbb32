//! Behaviour tests of the window's views with egui_kittest: rows react to engine events, and
//! buttons send the right commands. No backend involved.

use std::path::PathBuf;
use std::time::Duration;

use egui_kittest::Harness;
use egui_kittest::kittest::Queryable as _;
use runflow_uploader::desktop::Command as AppCommand;
use runflow_uploader::ui::{QueueState, WelcomeState, batch_header_ui, queue_ui, welcome_ui};
use runflow_uploader::upload::{BatchProgress, Command, Event, FileId, FileState, UploadFailure};

fn added(id: u64, name: &str) -> Event {
    Event::Added {
        id: FileId(id),
        path: Some(PathBuf::from(format!("/photos/{name}"))),
        name: name.to_owned(),
        size_bytes: Some(2_000_000),
        mime_type: Some("image/png".into()),
        state: FileState::Queued,
        resumed: false,
    }
}

fn queue_harness(queue: QueueState) -> Harness<'static, (QueueState, Vec<Command>)> {
    Harness::builder().with_size([900.0, 500.0]).build_ui_state(
        |ui, (queue, commands): &mut (QueueState, Vec<Command>)| {
            batch_header_ui(ui, queue, commands);
            queue_ui(ui, queue, commands);
        },
        (queue, Vec::new()),
    )
}

#[test]
fn progress_events_update_the_row() {
    let mut queue = QueueState::default();
    queue.apply(added(1, "beach.png"));
    let mut harness = queue_harness(queue);
    harness.run();
    harness.get_by_label("Queued");

    harness.state_mut().0.apply(Event::State {
        id: FileId(1),
        state: FileState::Uploading,
    });
    harness.state_mut().0.apply(Event::Progress {
        id: FileId(1),
        sent_bytes: 1_000_000,
        total_bytes: 2_000_000,
        bytes_per_sec: Some(1_048_576.0),
        eta: Some(Duration::from_secs(2)),
    });
    harness.run();
    harness.get_by_label("Uploading 50%, 1.0 MiB/s, 2 s left");

    harness.state_mut().0.apply(Event::State {
        id: FileId(1),
        state: FileState::Confirming,
    });
    harness.run();
    harness.get_by_label("Confirming");
}

#[test]
fn cancel_retry_and_remove_send_their_commands() {
    let mut queue = QueueState::default();
    queue.apply(added(1, "running.png"));
    queue.apply(Event::State {
        id: FileId(1),
        state: FileState::Uploading,
    });
    queue.apply(added(2, "empty.png"));
    queue.apply(Event::State {
        id: FileId(2),
        state: FileState::Failed(UploadFailure::Empty),
    });
    let mut harness = queue_harness(queue);
    harness.run();
    // The rejected file says why.
    harness.get_by_label_contains("Failed: The file is empty");

    harness.get_by_label("Cancel").click();
    harness.run();
    harness.get_by_label("Retry").click();
    harness.run();
    harness.get_by_label("Remove").click();
    harness.run();
    assert_eq!(
        harness.state().1,
        vec![
            Command::Cancel(FileId(1)),
            Command::Retry(FileId(2)),
            Command::Remove(FileId(2)),
        ]
    );
}

#[test]
fn a_row_runflow_cannot_take_offers_its_fix_and_a_fixed_row_says_what_went() {
    let mut queue = QueueState::default();
    let fixable = [
        (1, "IMG_0042.HEIC", true, false, "Convert and upload"),
        (2, "render.png", false, true, "Shrink to fit"),
        (3, "scan.tiff", true, true, "Convert and shrink"),
    ];
    for (id, name, convert, shrink, _) in fixable {
        queue.apply(added(id, name));
        queue.apply(Event::State {
            id: FileId(id),
            state: FileState::Failed(UploadFailure::Fixable {
                format: "HEIC".into(),
                size_bytes: 60 << 20,
                convert,
                shrink,
            }),
        });
    }
    queue.apply(added(4, "IMG_0043.HEIC"));
    queue.apply(Event::Fixed {
        id: FileId(4),
        copy: runflow_uploader::fix::FixedCopy {
            path: PathBuf::from("/copies/1/IMG_0043.jpg"),
            name: "IMG_0043.jpg".into(),
            mime_type: "image/jpeg".into(),
            size_bytes: 3_250_000,
            modified_ns: 1,
            width: 4032,
            height: 3024,
            scaled_from: None,
            from_label: "HEIC".into(),
            from_mime: "image/heic".into(),
        },
    });
    queue.apply(Event::State {
        id: FileId(4),
        state: FileState::Done(Box::default()),
    });
    queue.apply(Event::Batch(BatchProgress {
        total_files: 4,
        succeeded_files: 1,
        fixable_files: 3,
        ..BatchProgress::default()
    }));
    let mut harness = queue_harness(queue);
    harness.run();
    harness.get_by_label("1 uploaded, 0 failed, 0 cancelled, 3 to fix");
    assert!(
        harness.query_by_label("Retry all failed").is_none(),
        "a file waiting for its copy is not a failure to retry"
    );
    harness.get_by_label("Fix all (3)").click();
    harness.run();
    // Asked, not failed: the reason says what the button does, and the original stays.
    harness.get_by_label_contains("Runflow does not accept HEIC images. A JPEG, PNG or WebP copy");
    harness.get_by_label_contains("over Runflow's upload limit of 50 MiB");
    assert!(
        harness.query_by_label("Retry").is_none(),
        "the fix replaces Retry"
    );
    for (_, _, _, _, action) in fixable {
        harness.get_by_label(action).click();
        harness.run();
    }
    assert_eq!(
        harness.state().1,
        [Command::FixAll]
            .into_iter()
            .chain([1, 2, 3].map(|id| Command::Fix(FileId(id))))
            .collect::<Vec<_>>()
    );
    harness.get_by_label_contains("Uploaded as IMG_0043.jpg: converted from HEIC to JPEG");
}

#[test]
fn the_batch_header_counts_and_offers_batch_actions() {
    let mut queue = QueueState::default();
    for id in 0..120 {
        queue.apply(added(id, &format!("{id}.png")));
    }
    queue.apply(Event::Batch(BatchProgress {
        total_files: 120,
        active_files: 5,
        queued_files: 95,
        succeeded_files: 18,
        failed_files: 2,
        sent_bytes: 10 << 20,
        total_bytes: 100 << 20,
        ..BatchProgress::default()
    }));
    let mut harness = queue_harness(queue);
    // Progress bars animate while files are moving, so step rather than wait for rest.
    harness.run_steps(3);
    harness.get_by_label("Uploading 5 of 120 (95 queued)");
    harness.get_by_label("Pause").click();
    harness.run_steps(2);
    harness.get_by_label("Retry all failed").click();
    harness.run_steps(2);
    harness.get_by_label("Cancel all").click();
    harness.run_steps(2);
    harness.get_by_label("Clear finished").click();
    harness.run_steps(2);
    assert_eq!(
        harness.state().1,
        vec![
            Command::Pause,
            Command::RetryFailed,
            Command::CancelAll,
            Command::ClearFinished
        ]
    );
}

#[test]
fn five_thousand_rows_lay_out_only_what_is_visible() {
    let mut queue = QueueState::default();
    for id in 0..5000 {
        queue.apply(added(id, &format!("photo-{id:04}.png")));
    }
    let mut harness = queue_harness(queue);
    harness.run();
    harness.get_by_label("photo-0000.png");
    assert!(harness.query_by_label("photo-4999.png").is_none());
    assert!(harness.query_by_label("photo-0100.png").is_none());
}

#[test]
fn the_welcome_form_sends_the_key_only_when_there_is_one() {
    let mut harness = Harness::builder().with_size([900.0, 700.0]).build_ui_state(
        |ui, (state, commands): &mut (WelcomeState, Vec<AppCommand>)| {
            welcome_ui(ui, state, commands);
        },
        (WelcomeState::default(), Vec::new()),
    );
    harness.run();
    harness.get_by_label("Save and connect").click();
    harness.run();
    assert!(harness.state().1.is_empty(), "no key, no command");

    harness.get_by_label("API key").focus();
    harness.run();
    harness.get_by_label("API key").type_text("rf_live_abc");
    harness.run();
    assert_eq!(harness.state().0.key_input.as_str(), "rf_live_abc");
    harness.get_by_label("Save and connect").click();
    // The spinner turns while the key is checked.
    harness.run_steps(3);
    let (state, commands) = harness.state();
    assert!(state.busy);
    assert!(matches!(&commands[..], [AppCommand::SaveKey(key)] if key.expose() == "rf_live_abc"));

    harness.state_mut().0.busy = false;
    harness.state_mut().1.clear();
    harness.get_by_label("Try the offline demo").click();
    harness.run();
    assert!(matches!(&harness.state().1[..], [AppCommand::StartDemo]));
}

#[test]
fn content_in_another_folder_offers_move_here_and_a_copy() {
    let mut queue = QueueState::default();
    queue.apply(added(1, "beach.png"));
    queue.apply(Event::State {
        id: FileId(1),
        state: FileState::InOtherFolder {
            asset_id: "asset-1".into(),
            folder_id: Some("f-spring".into()),
            folder_name: Some("Spring 2026".into()),
            url: None,
        },
    });
    queue.apply(added(2, "copy.png"));
    queue.apply(Event::State {
        id: FileId(2),
        state: FileState::AlreadyUploaded {
            asset_id: "asset-9".into(),
            same_as: Some("original.png".into()),
            url: None,
        },
    });
    let mut harness = queue_harness(queue);
    harness.run();
    harness.get_by_label("Already on Runflow in Spring 2026");
    harness.get_by_label("Same content as original.png, uploaded just now");
    harness.get_by_label("Move here").click();
    harness.run();
    harness.get_by_label("Upload a copy").click();
    harness.run();
    assert_eq!(
        harness.state().1,
        vec![Command::MoveHere(FileId(1)), Command::UploadCopy(FileId(1))]
    );
}

#[test]
fn uploads_of_another_account_are_named_and_can_be_discarded() {
    let mut queue = QueueState::default();
    queue.apply(Event::ForeignUploads(vec![
        runflow_uploader::upload::ForeignUploads {
            account_key: "acct-1".into(),
            base_url: "https://api.runflow.io/".into(),
            account_label: "ana@example.com".into(),
            files: 3,
        },
    ]));
    let mut harness = queue_harness(queue);
    harness.run();
    harness.get_by_label(
        "3 unfinished uploads belong to another account (ana@example.com on \
         https://api.runflow.io/): finish them by signing in as that account, or discard them.",
    );
    harness.get_by_label("Discard").click();
    harness.run();
    assert_eq!(
        harness.state().1,
        vec![Command::DiscardForeign("acct-1".into())]
    );
}

#[test]
fn an_earlier_runs_uploads_wait_under_uploads_for_resume_or_discard() {
    let mut queue = QueueState::default();
    let mut held = added(1, "beach.png");
    if let Event::Added { resumed, .. } = &mut held {
        *resumed = true;
    }
    queue.apply(held);
    queue.apply(Event::Batch(BatchProgress {
        total_files: 2,
        held_files: 2,
        held_bytes: 4_000_000,
        ..BatchProgress::default()
    }));
    let mut harness = queue_harness(queue);
    harness.run();
    harness.get_by_label("Waiting to resume");
    harness.get_by_label("2 unfinished uploads from an earlier run (3.8 MiB)");
    harness.get_by_label("Queued (from an earlier run)");
    harness.get_by_label("Resume").click();
    harness.run();
    harness.get_by_label("Discard").click();
    harness.run();
    assert_eq!(
        harness.state().1,
        vec![Command::ResumeEarlier, Command::DiscardEarlier]
    );
}

#[test]
fn a_folder_being_walked_shows_its_count_and_can_be_stopped() {
    let mut queue = QueueState::default();
    queue.apply(Event::Scanning {
        scan: 7,
        label: "~/Pictures".into(),
        found: 0,
        done: false,
    });
    queue.apply(Event::Scanning {
        scan: 7,
        label: "~/Pictures".into(),
        found: 12_345,
        done: false,
    });
    let mut harness = queue_harness(queue);
    // The spinner keeps repainting: step instead of waiting to settle.
    harness.run_steps(2);
    harness.get_by_label("Scanning ~/Pictures: 12,345 files found");
    harness.get_by_label("Stop").click();
    harness.run_steps(2);
    assert_eq!(harness.state().1, vec![Command::StopScan(7)]);
    harness.state_mut().0.apply(Event::Scanning {
        scan: 7,
        label: "~/Pictures".into(),
        found: 12_400,
        done: true,
    });
    harness.run_steps(2);
    assert!(
        harness
            .query_by_label("Scanning ~/Pictures: 12,400 files found")
            .is_none()
    );
    assert!(harness.state().0.scans.is_empty());
}

#[test]
fn a_long_name_is_cut_short_before_the_progress_bar_and_the_buttons() {
    let long = format!(
        "{}.png",
        "a-very-long-file-name-from-a-camera-export-".repeat(4)
    );
    let mut queue = QueueState::default();
    queue.apply(added(1, &long));
    queue.apply(Event::State {
        id: FileId(1),
        state: FileState::Uploading,
    });
    queue.apply(Event::Progress {
        id: FileId(1),
        sent_bytes: 1_000_000,
        total_bytes: 2_000_000,
        bytes_per_sec: None,
        eta: None,
    });
    let mut harness = Harness::builder().with_size([520.0, 300.0]).build_ui_state(
        |ui, (queue, commands): &mut (QueueState, Vec<Command>)| {
            queue_ui(ui, queue, commands);
        },
        (queue, Vec::new()),
    );
    harness.run();
    let name = harness
        .get_by_label_contains("a-very-long-file-name")
        .rect();
    let size = harness.get_by_label("1.9 MiB").rect();
    let cancel = harness.get_by_label("Cancel").rect();
    assert!(
        name.max.x <= size.min.x,
        "{name:?} runs into the size {size:?}"
    );
    assert!(
        size.max.x < cancel.min.x - 160.0,
        "the size {size:?} runs into the progress bar before {cancel:?}"
    );
    assert!(cancel.max.x <= 520.0, "Cancel {cancel:?} is off the panel");
}
