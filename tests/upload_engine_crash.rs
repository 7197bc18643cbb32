//! The engine when things go wrong around it: cancels racing journal writes and confirms, then a
//! restart; a data folder that fills up.

#[path = "support/assets.rs"]
mod assets_support;
#[path = "support/engine.rs"]
mod engine_support;
mod support;

use assets_support::all_asset_names;
use engine_support::{
    Outcomes, collect_more, collect_until_idle, patient_client, start, wait_for_added, write_files,
};

use std::collections::HashSet;
use std::time::Duration;

use runflow_uploader::upload::{Command, Event, FileState, UploadFailure};

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn cancel_all_at_concurrency_16_then_restart_makes_no_cancelled_file_an_asset() {
    let emu = support::emulator(|c| c.latency_ms = 40).await;
    let client = patient_client(&emu);
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    write_files(&dir.path().join("batch"), 64, 4096);
    let (engine, mut events) = start(client.clone(), &data, 16);
    engine.send(Command::Add {
        paths: vec![dir.path().join("batch")],
        folder_id: None,
        force: false,
    });
    let names = wait_for_added(&mut events, 64).await;
    // Cancel once some files are confirming and others are mid-way.
    loop {
        if let Some(Event::State {
            state: FileState::Confirming,
            ..
        }) = events.recv().await
        {
            break;
        }
    }
    engine.send(Command::CancelAll);
    let first: Outcomes = collect_more(&mut events, Duration::from_secs(60), names).await;
    engine.send(Command::Shutdown);
    while events.recv().await.is_some() {}

    let cancelled: HashSet<&String> = first
        .finals
        .iter()
        .filter(|(_, s)| **s == FileState::Cancelled)
        .map(|(n, _)| n)
        .collect();
    let done: HashSet<&String> = first
        .finals
        .iter()
        .filter(|(_, s)| matches!(s, FileState::Done(_)))
        .map(|(n, _)| n)
        .collect();
    assert!(!cancelled.is_empty(), "the cancel came in time for some");
    assert_eq!(cancelled.len() + done.len(), 64, "{:?}", first.finals);

    // A new run on the same data resumes nothing that was cancelled.
    let (engine, mut events) = start(client.clone(), &data, 16);
    engine.send(Command::Add {
        paths: Vec::new(),
        folder_id: None,
        force: false,
    });
    let second = collect_until_idle(&mut events, Duration::from_secs(30)).await;
    assert!(
        second.finals.is_empty(),
        "nothing resumed: {:?}",
        second.finals
    );
    let assets: HashSet<String> = all_asset_names(&client).await.into_iter().collect();
    assert_eq!(
        assets.len(),
        done.len(),
        "every confirmed file, and only those"
    );
    for name in &cancelled {
        assert!(
            !assets.contains(*name),
            "{name} was cancelled but is an asset"
        );
    }
}

/// Mounts a tmpfs of `size_kib` at `dir` (root only: CI runs as root).
#[cfg(target_os = "linux")]
fn mount_small_tmpfs(dir: &std::path::Path, size_kib: u64) -> Option<impl Drop> {
    struct Unmount(std::path::PathBuf);
    impl Drop for Unmount {
        fn drop(&mut self) {
            let _ = std::process::Command::new("umount").arg(&self.0).status();
        }
    }
    std::fs::create_dir_all(dir).unwrap();
    let status = std::process::Command::new("mount")
        .args(["-t", "tmpfs", "-o", &format!("size={size_kib}k"), "tmpfs"])
        .arg(dir)
        .status()
        .ok()?;
    status.success().then(|| Unmount(dir.to_path_buf()))
}

#[cfg(target_os = "linux")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_data_folder_is_a_clear_error_and_loses_nothing() {
    let emu = support::emulator(|_| {}).await;
    let client = support::client(&emu);
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    // Room for the journal and the history database (SQLite, with its write-ahead log).
    let Some(_mounted) = mount_small_tmpfs(&data, 512) else {
        assert!(
            std::env::var_os("CI").is_none(),
            "CI runs as root and must be able to mount a tmpfs"
        );
        eprintln!("skipped: mounting a tmpfs needs root");
        return;
    };
    write_files(&dir.path().join("batch"), 5, 1024);
    let (engine, mut events) = start(client.clone(), &data, 2);
    // Fill the data folder once the engine has opened its journal.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let filler = data.join("filler");
    let _ = std::fs::write(&filler, vec![0_u8; 512 * 1024]);
    engine.send(Command::Add {
        paths: vec![dir.path().join("batch")],
        folder_id: None,
        force: false,
    });
    let full = collect_until_idle(&mut events, Duration::from_secs(30)).await;
    assert_eq!(full.finals.len(), 5);
    for name in full.finals.keys() {
        let failure = full.failure(name);
        assert!(
            matches!(failure, UploadFailure::Journal(_)),
            "{name}: {failure:?}"
        );
        let text = failure.to_string();
        assert!(text.contains("No space left"), "{text}");
        assert!(text.contains("free disk space"), "{text}");
    }
    assert_eq!(
        emu.asset_count(),
        0,
        "nothing is uploaded without a journal"
    );

    // Space again: a retry uploads every file once.
    std::fs::remove_file(&filler).unwrap();
    engine.send(Command::RetryFailed);
    let retried = collect_more(&mut events, Duration::from_secs(30), full.names.clone()).await;
    for name in full.finals.keys() {
        assert!(retried.state(name).is_success(), "{name}");
    }
    assert_eq!(all_asset_names(&client).await.len(), 5);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_journaled_link_whose_storage_is_gone_gets_a_fresh_session() {
    let state = tempfile::tempdir().unwrap();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let addr: std::net::SocketAddr = ([127, 0, 0, 1], port).into();
    let slow = support::emulator(|c| {
        c.addr = addr;
        c.data_dir = Some(state.path().to_path_buf());
        c.put_bytes_per_sec = Some(16 * 1024);
    })
    .await;
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let files = write_files(&dir.path().join("src"), 1, 256 * 1024);
    let (engine, mut events) = start(support::client(&slow), &data, 1);
    engine.send(Command::Add {
        paths: files,
        folder_id: None,
        force: false,
    });
    // Stop while the bytes are moving: the journal keeps the session and its link.
    loop {
        if let Some(Event::Progress { sent_bytes, .. }) = events.recv().await
            && sent_bytes > 0
        {
            break;
        }
    }
    engine.send(Command::Shutdown);
    while events.recv().await.is_some() {}
    slow.shutdown().await;

    // The same API again, but its storage now listens elsewhere: the old link is refused.
    let moved = support::emulator(|c| {
        c.addr = addr;
        c.data_dir = Some(state.path().to_path_buf());
    })
    .await;
    let client = support::client(&moved);
    let (engine, mut events) = start(client.clone(), &data, 1);
    engine.send(Command::Add {
        paths: Vec::new(),
        folder_id: None,
        force: false,
    });
    let resumed = collect_until_idle(&mut events, Duration::from_secs(30)).await;
    assert!(
        resumed.finals.values().all(FileState::is_success) && resumed.finals.len() == 1,
        "{:?}",
        resumed.finals
    );
    assert_eq!(all_asset_names(&client).await.len(), 1);
}
