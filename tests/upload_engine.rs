//! The upload engine against the emulator: faults, bad inputs, duplicates, pause and cancel.

#[path = "support/assets.rs"]
mod assets_support;
#[path = "support/engine.rs"]
mod engine_support;
#[path = "support/journal.rs"]
mod journal_support;
mod support;

use assets_support::all_asset_names;
use engine_support::{
    PNG_MAGIC, collect_more, collect_until_idle, engine_config, patient_client, start,
    wait_for_added, write_files,
};
use journal_support::journal_entries;

use std::collections::HashSet;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use runflow_uploader::upload::{self, Command, EngineConfig, Event, FileState, UploadFailure};

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_hundred_files_through_every_fault_end_as_exactly_two_hundred_assets() {
    let emu = support::emulator(|c| {
        c.fail_rate = 0.2;
        c.rate_limit = Some(50);
        c.drop_put_rate = 0.1;
        c.presign_ttl_secs = 2;
        c.seed = Some(42);
    })
    .await;
    let dir = tempfile::tempdir().unwrap();
    write_files(&dir.path().join("batch"), 200, 2048);
    let client = patient_client(&emu);
    let (engine, mut events) = start(client.clone(), &dir.path().join("data"), 8);
    engine.send(Command::Add {
        paths: vec![dir.path().join("batch")],
        folder_id: None,
        force: false,
    });
    let outcomes = collect_until_idle(&mut events, Duration::from_secs(240)).await;

    let failed: Vec<_> = outcomes
        .finals
        .iter()
        .filter(|(_, s)| !s.is_success())
        .collect();
    assert!(failed.is_empty(), "every file succeeds: {failed:?}");
    assert_eq!(outcomes.finals.len(), 200);

    let names = all_asset_names(&client).await;
    let unique: HashSet<&String> = names.iter().collect();
    assert_eq!(names.len(), 200, "no duplicates and nothing missing");
    assert_eq!(unique.len(), 200);
    // The journal is empty once everything is done.
    let left = journal_entries(&dir.path().join("data/journal"));
    assert_eq!(left, 0);
}

#[cfg(unix)]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_bad_input_gets_its_own_reason_while_the_rest_succeeds() {
    use std::os::unix::ffi::OsStrExt;

    let emu = support::emulator(|_| {}).await;
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("drop");
    let good = write_files(&root, 3, 100);
    std::fs::write(root.join("empty.png"), b"").unwrap();
    std::fs::File::create(root.join("huge.mp4"))
        .unwrap()
        .set_len(52_428_801)
        .unwrap();
    std::fs::write(root.join("notes.txt"), b"just some text").unwrap();
    std::fs::write(
        root.join(std::ffi::OsStr::from_bytes(b"caf\xe9.png")),
        PNG_MAGIC,
    )
    .unwrap();
    std::fs::create_dir(root.join("sub")).unwrap();
    std::os::unix::fs::symlink(&root, root.join("sub/back-to-top")).unwrap();
    std::fs::write(root.join(".DS_Store"), b"junk").unwrap();

    let (engine, mut events) = start(support::client(&emu), &dir.path().join("data"), 2);
    engine.send(Command::Add {
        paths: vec![root.clone()],
        folder_id: None,
        force: false,
    });
    let outcomes = collect_until_idle(&mut events, Duration::from_secs(60)).await;

    for path in &good {
        let name = path.file_name().unwrap().to_str().unwrap();
        assert!(outcomes.state(name).is_success(), "{name}");
    }
    assert_eq!(outcomes.failure("empty.png"), &UploadFailure::Empty);
    assert!(matches!(
        outcomes.failure("huge.mp4"),
        UploadFailure::TooLarge {
            size_bytes: 52_428_801
        }
    ));
    let text = outcomes.failure("notes.txt");
    assert!(
        matches!(text, UploadFailure::UnsupportedType { mime_type, .. } if mime_type == "text/plain"),
        "{text:?}"
    );
    assert_eq!(
        outcomes.failure("caf\u{fffd}.png"),
        &UploadFailure::NonUtf8Name
    );
    assert!(
        outcomes
            .skipped
            .iter()
            .any(|(path, reason)| path.ends_with("back-to-top") && reason.contains("loop"))
    );
    assert!(
        outcomes
            .skipped
            .iter()
            .any(|(path, _)| path.ends_with(".DS_Store"))
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn files_changed_or_deleted_after_queueing_fail_with_that_reason() {
    let emu = support::emulator(|_| {}).await;
    let dir = tempfile::tempdir().unwrap();
    let files = write_files(&dir.path().join("src"), 3, 64);
    let (engine, mut events) = start(support::client(&emu), &dir.path().join("data"), 2);
    engine.send(Command::Pause);
    engine.send(Command::Add {
        paths: files.clone(),
        folder_id: None,
        force: false,
    });
    let names = wait_for_added(&mut events, 3).await;
    // No session is created for a queued file: sessions are made just in time.
    assert_eq!(emu.upload_session_count(), 0);
    std::fs::remove_file(&files[0]).unwrap();
    std::fs::write(&files[1], b"\x89PNG\r\n\x1a\n a different, longer body").unwrap();
    engine.send(Command::Resume);
    let outcomes = collect_more(&mut events, Duration::from_secs(30), names).await;
    assert_eq!(outcomes.failure("file-0000.png"), &UploadFailure::Missing);
    assert!(matches!(
        outcomes.failure("file-0001.png"),
        UploadFailure::Changed(_)
    ));
    assert!(outcomes.state("file-0002.png").is_success());
    assert!(outcomes.progress_seen);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn content_uploaded_before_is_recognised_unless_forced_or_deleted_on_the_server() {
    let emu = support::emulator(|_| {}).await;
    let client = support::client(&emu);
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let original = write_files(&dir.path().join("a"), 1, 500).remove(0);
    let copy = dir.path().join("copy-of-it.png");
    std::fs::copy(&original, &copy).unwrap();

    let (engine, mut events) = start(client.clone(), &data, 2);
    let add = |path: &PathBuf, force: bool| Command::Add {
        paths: vec![path.clone()],
        folder_id: None,
        force,
    };
    engine.send(add(&original, false));
    let first = collect_until_idle(&mut events, Duration::from_secs(30)).await;
    let FileState::Done(asset) = first.state("file-0000.png") else {
        panic!("first upload succeeds");
    };
    let asset_id = asset.id.clone().unwrap();

    engine.send(add(&copy, false));
    let second = collect_until_idle(&mut events, Duration::from_secs(30)).await;
    let FileState::AlreadyUploaded {
        asset_id: found,
        same_as: None,
        url: Some(url),
    } = second.state("copy-of-it.png")
    else {
        panic!("{:?}", second.state("copy-of-it.png"));
    };
    assert_eq!(found, &asset_id);
    assert!(url.contains(&asset_id), "a fresh download link: {url}");

    client.delete_asset(&asset_id).await.unwrap();
    engine.send(Command::Shutdown);
    // A new engine (a new run) reads the index from disk; the deleted asset is not "already".
    let (engine, mut events) = start(client.clone(), &data, 2);
    engine.send(add(&original, false));
    let again = collect_until_idle(&mut events, Duration::from_secs(30)).await;
    assert!(matches!(again.state("file-0000.png"), FileState::Done(_)));

    engine.send(add(&copy, true));
    let forced = collect_until_idle(&mut events, Duration::from_secs(30)).await;
    assert!(matches!(forced.state("copy-of-it.png"), FileState::Done(_)));
    assert_eq!(all_asset_names(&client).await.len(), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cancel_and_retry_leave_exactly_one_asset() {
    let emu = support::emulator(|c| c.latency_ms = 150).await;
    let client = support::client(&emu);
    let dir = tempfile::tempdir().unwrap();
    let files = write_files(&dir.path().join("src"), 4, 64);
    let (engine, mut events) = start(client.clone(), &dir.path().join("data"), 1);
    engine.send(Command::Add {
        paths: files,
        folder_id: None,
        force: false,
    });
    let names = wait_for_added(&mut events, 4).await;
    // Cancel everything as soon as the first file is under way.
    loop {
        if let Some(Event::State { state, .. }) = events.recv().await
            && !matches!(state, FileState::Queued)
        {
            break;
        }
    }
    engine.send(Command::CancelAll);
    let cancelled = collect_more(&mut events, Duration::from_secs(30), names).await;
    let count = cancelled
        .finals
        .values()
        .filter(|s| **s == FileState::Cancelled)
        .count();
    assert!(
        count >= 3,
        "queued files are cancelled at once: {:?}",
        cancelled.finals
    );

    for id in cancelled.names.keys() {
        engine.send(Command::Retry(*id));
    }
    let retried = collect_more(
        &mut events,
        Duration::from_secs(30),
        cancelled.names.clone(),
    )
    .await;
    assert!(
        retried.finals.values().all(FileState::is_success),
        "{:?}",
        retried.finals
    );
    let names = all_asset_names(&client).await;
    assert_eq!(names.len(), 4, "{names:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stalled_put_is_aborted_retried_and_finally_reported() {
    let emu = support::emulator(|c| c.stall_put_rate = 1.0).await;
    let dir = tempfile::tempdir().unwrap();
    let files = write_files(&dir.path().join("src"), 1, 200_000);
    let config = EngineConfig {
        stall_timeout: Duration::from_secs(1),
        max_file_attempts: 2,
        ..engine_config(&dir.path().join("data"), 1)
    };
    let (engine, mut events) = upload::spawn(
        &tokio::runtime::Handle::current(),
        support::client(&emu),
        config,
        Arc::new(|| {}),
    );
    engine.send(Command::Add {
        paths: files,
        folder_id: None,
        force: false,
    });
    let started = tokio::time::Instant::now();
    let mut retried_for_stall = false;
    let outcome = loop {
        let event = tokio::time::timeout(Duration::from_secs(20), events.recv())
            .await
            .expect("the stall is noticed in time")
            .unwrap();
        match event {
            Event::State {
                state: FileState::Retrying { reason, .. },
                ..
            } => retried_for_stall |= reason.contains("stalled"),
            Event::State { state, .. } if state.is_finished() => break state,
            _ => {}
        }
    };
    assert!(retried_for_stall, "the first stall is retried");
    assert_eq!(outcome, FileState::Failed(UploadFailure::Stalled(1)));
    // Two attempts of about one second each, not the emulator's two-minute hang.
    assert!(started.elapsed() < Duration::from_secs(10));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cancel_stops_a_running_put_at_once_and_frees_its_slot() {
    let emu = support::emulator(|c| c.put_bytes_per_sec = Some(256 * 1024)).await;
    let dir = tempfile::tempdir().unwrap();
    let files = write_files(&dir.path().join("src"), 2, 4 * 1024 * 1024);
    let (engine, mut events) = start(support::client(&emu), &dir.path().join("data"), 1);
    engine.send(Command::Add {
        paths: files,
        folder_id: None,
        force: false,
    });
    let names = wait_for_added(&mut events, 2).await;
    // Whichever file was checked first holds the one slot: wait until its bytes move.
    let first = loop {
        if let Some(Event::Progress { id, sent_bytes, .. }) = events.recv().await
            && sent_bytes > 0
        {
            break id;
        }
    };
    let second = *names.keys().find(|id| **id != first).unwrap();
    let asked = tokio::time::Instant::now();
    engine.send(Command::Cancel(first));
    let mut cancelled_after = None;
    loop {
        match tokio::time::timeout(Duration::from_secs(10), events.recv())
            .await
            .unwrap()
            .unwrap()
        {
            Event::State {
                id,
                state: FileState::Cancelled,
            } if id == first => {
                cancelled_after = Some(asked.elapsed());
            }
            // The freed slot goes to the next file.
            Event::State {
                id,
                state: FileState::Uploading,
            } if id == second => break,
            _ => {}
        }
    }
    let cancelled_after = cancelled_after.expect("the first file was cancelled");
    assert!(
        cancelled_after < Duration::from_millis(500),
        "cancel took {cancelled_after:?}"
    );
    engine.send(Command::Cancel(second));
    assert_eq!(emu.asset_count(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dropped_folder_is_reported_and_queued_while_it_is_walked_and_can_be_stopped() {
    let emu = support::emulator(|_| {}).await;
    let dir = tempfile::tempdir().unwrap();
    let total = 6000;
    for chunk in 0..6 {
        write_files(&dir.path().join(format!("tree/{chunk}")), total / 6, 64);
    }
    let (engine, mut events) = start(support::client(&emu), &dir.path().join("data"), 2);
    engine.send(Command::Pause);
    engine.send(Command::Add {
        paths: vec![dir.path().join("tree")],
        folder_id: None,
        force: false,
    });
    // The scan is announced before anything is found.
    let first = loop {
        match events.recv().await.unwrap() {
            Event::Batch(_) => {}
            other => break other,
        }
    };
    let Event::Scanning {
        scan,
        found: 0,
        done: false,
        ..
    } = first
    else {
        panic!("the scan is the first thing reported: {first:?}");
    };
    // Files join the queue, and the count grows, before the walk ends; then it is stopped.
    let mut added_before_end = 0;
    let mut counts = Vec::new();
    let found_at_end = loop {
        match tokio::time::timeout(Duration::from_secs(30), events.recv())
            .await
            .unwrap()
            .unwrap()
        {
            Event::Added { .. } => added_before_end += 1,
            Event::Scanning {
                found, done: false, ..
            } => {
                if counts.is_empty() {
                    engine.send(Command::StopScan(scan));
                }
                counts.push(found);
            }
            Event::Scanning {
                found, done: true, ..
            } => break found,
            _ => {}
        }
    };
    assert!(
        !counts.is_empty() && counts[0] > 0,
        "a count before the end: {counts:?}"
    );
    assert!(
        added_before_end > 0,
        "files are queued while the walk goes on"
    );
    assert!(
        found_at_end < total,
        "the walk stopped early ({found_at_end} of {total} found)"
    );
    assert_eq!(added_before_end, found_at_end, "what was found is queued");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_walk_stays_a_little_ahead_of_the_uploads_and_one_cut_short_goes_again() {
    let total = 6000;
    let (emu, _dir, data, engine, mut events) = paused_drop(total).await;
    // Paused, nothing leaves the line: the walk stops a few thousand files in, and waits.
    let mut found = 0;
    loop {
        match tokio::time::timeout(Duration::from_secs(3), events.recv()).await {
            Err(_) => break,
            Ok(Some(Event::Scanning { found: n, done, .. })) => {
                assert!(!done, "the walk waits for the uploads instead of ending");
                found = n;
            }
            Ok(Some(_)) => {}
            Ok(None) => panic!("the engine stopped"),
        }
    }
    assert!(
        (4096..5000).contains(&found),
        "the walk waits with a few thousand files in line ({found} of {total} found)"
    );
    // The app quits mid-walk: the journal keeps the files in line and the walk itself.
    engine.send(Command::Shutdown);
    while events.recv().await.is_some() {}
    assert_eq!(journal_entries(&data.join("journal")), found);

    // The next start walks the folder again: each file becomes exactly one asset, and the
    // files already in line are not reported as given twice.
    let (engine, mut events) = start(support::client(&emu), &data, 4);
    let outcomes = collect_until_idle(&mut events, Duration::from_secs(240)).await;
    assert!(
        outcomes.skipped.is_empty(),
        "{:?}",
        outcomes.skipped.first()
    );
    assert_eq!(outcomes.finals.len(), total);
    assert!(
        outcomes
            .finals
            .values()
            .all(|s| matches!(s, FileState::Done(_))),
        "every file uploaded: {:?}",
        outcomes
            .finals
            .iter()
            .find(|(_, s)| !matches!(s, FileState::Done(_)))
    );
    let names = all_asset_names(&support::client(&emu)).await;
    assert_eq!(names.len(), total);
    assert_eq!(names.iter().collect::<HashSet<_>>().len(), total);
    engine.send(Command::Shutdown);
    while events.recv().await.is_some() {}
    assert!(
        !data.join("journal").exists() || journal_entries(&data.join("journal")) == 0,
        "nothing left to resume"
    );
    assert_eq!(
        journal_processes(&data.join("journal")),
        0,
        "no walk's record is left once it ended"
    );
}

/// A folder of `total` small files dropped on a paused engine: the emulator, the folder's
/// temp dir, the engine's data dir, the engine and its events.
async fn paused_drop(
    total: usize,
) -> (
    runflow_uploader::emulator::RunningEmulator,
    tempfile::TempDir,
    PathBuf,
    upload::EngineHandle,
    tokio::sync::mpsc::UnboundedReceiver<Event>,
) {
    let emu = support::emulator(|_| {}).await;
    let dir = tempfile::tempdir().unwrap();
    write_files(&dir.path().join("tree"), total, 64);
    let data = dir.path().join("data");
    let (engine, events) = start(support::client(&emu), &data, 2);
    engine.send(Command::Pause);
    engine.send(Command::Add {
        paths: vec![dir.path().join("tree")],
        folder_id: None,
        force: false,
    });
    (emu, dir, data, engine, events)
}

/// Process directories left in the journal under `root` (`root/<account>/<process>`): a
/// clean shutdown removes its own once no entry and no walk is left in it.
fn journal_processes(root: &std::path::Path) -> usize {
    let children = |dir: &std::path::Path| -> Vec<PathBuf> {
        std::fs::read_dir(dir)
            .map(|listing| listing.filter_map(Result::ok).map(|e| e.path()).collect())
            .unwrap_or_default()
    };
    children(root)
        .iter()
        .flat_map(|account| children(account))
        .filter(|process| process.is_dir())
        .count()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cancel_all_ends_a_waiting_walk_instead_of_queueing_the_rest() {
    let total = 6000;
    let (emu, _dir, data, engine, mut events) = paused_drop(total).await;
    let mut names = std::collections::HashMap::new();
    while let Ok(event) = tokio::time::timeout(Duration::from_secs(3), events.recv()).await {
        if let Event::Added { id, name, .. } = event.expect("the engine runs") {
            names.insert(id, name);
        }
    }
    let added = names.len();
    assert!(added < total, "the walk waits ({added} of {total} queued)");
    engine.send(Command::CancelAll);
    engine.send(Command::Resume);
    let outcomes = collect_more(&mut events, Duration::from_secs(60), names).await;
    assert_eq!(
        outcomes.names.len(),
        added,
        "nothing is queued after the cancel"
    );
    assert_eq!(outcomes.finals.len(), added);
    assert!(
        outcomes
            .finals
            .values()
            .all(|s| matches!(s, FileState::Cancelled))
    );
    assert!(all_asset_names(&support::client(&emu)).await.is_empty());
    engine.send(Command::Shutdown);
    while events.recv().await.is_some() {}
    assert_eq!(
        journal_processes(&data.join("journal")),
        0,
        "the walk ended: nothing is left to resume"
    );
}
