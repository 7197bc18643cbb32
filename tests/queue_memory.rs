//! What the upload engine holds per file, measured: every allocation of this test process is
//! counted (the emulator runs as a separate process, so its assets do not count). A folder of
//! 10,000 files is dropped while paused (the walk queues a few thousand, then waits), then
//! uploaded.

#[path = "support/journal.rs"]
mod journal_support;

use std::alloc::System;
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::Duration;

use cap::Cap;
use runflow_uploader::api::{ApiKey, ClientConfig, RunflowClient};
use runflow_uploader::upload::{self, Command as EngineCommand, EngineConfig, Event};

#[global_allocator]
static ALLOCATOR: Cap<System> = Cap::new(System, usize::MAX);

const FILES: usize = 10_000;
/// The budget per file, queued or finished.
const PER_FILE_BUDGET: usize = 1024;

struct Emulator(Child, String);

impl Drop for Emulator {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn emulator() -> Emulator {
    let mut child = Command::new(env!("CARGO_BIN_EXE_runflow-uploader"))
        .args(["emulator", "--addr", "127.0.0.1:0", "--api-key", "rf_mem"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let base = loop {
        let line = lines
            .next()
            .expect("the emulator says where it listens")
            .unwrap();
        if let Some(at) = line.find("http://") {
            break line[at..].split_whitespace().next().unwrap().to_owned();
        }
    };
    // Keep reading so the emulator never blocks on a full pipe.
    std::thread::spawn(move || for _ in lines {});
    Emulator(child, base)
}

fn write_files(dir: &Path) {
    for i in 0..FILES {
        let sub = dir.join(format!("d{:02}", i / 1000));
        std::fs::create_dir_all(&sub).unwrap();
        let mut bytes = b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR".to_vec();
        bytes.extend_from_slice(format!("file {i}").as_bytes());
        std::fs::write(
            sub.join(format!("photo-from-the-archive-{i:06}.png")),
            bytes,
        )
        .unwrap();
    }
}

async fn until(
    events: &mut tokio::sync::mpsc::UnboundedReceiver<Event>,
    mut done: impl FnMut(&Event) -> bool,
) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(300);
    loop {
        let event = tokio::time::timeout_at(deadline, events.recv())
            .await
            .expect("in time")
            .expect("the engine runs");
        if done(&event) {
            return;
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_file_costs_the_engine_under_a_kibibyte_queued_or_finished() {
    let emu = emulator();
    let dir = tempfile::tempdir().unwrap();
    write_files(&dir.path().join("archive"));
    let client = RunflowClient::new(
        ApiKey::new("rf_mem".to_owned()).unwrap(),
        ClientConfig {
            base_url: emu.1.clone(),
            ..ClientConfig::default()
        },
    )
    .unwrap();
    let config = EngineConfig {
        concurrency: 8,
        ..EngineConfig::new(dir.path().join("data"))
    };
    let (engine, mut events) = upload::spawn(
        &tokio::runtime::Handle::current(),
        client,
        config,
        Arc::new(|| {}),
    );
    // The engine has started (account, journal, index) before the baseline is taken.
    engine.send(EngineCommand::Pause);
    until(&mut events, |e| matches!(e, Event::Batch(_))).await;
    let baseline = ALLOCATOR.allocated();

    engine.send(EngineCommand::Add {
        paths: vec![dir.path().join("archive")],
        folder_id: None,
        force: false,
    });
    // Paused, the walk queues a few thousand files and waits for the uploads.
    let mut added = 0;
    while let Ok(event) = tokio::time::timeout(Duration::from_secs(3), events.recv()).await {
        if matches!(event.expect("the engine runs"), Event::Added { .. }) {
            added += 1;
        }
    }
    assert!(
        (1000..FILES).contains(&added),
        "the walk waits with part of the folder queued ({added} of {FILES})"
    );
    // Let the journal writer catch up (every file journaled), so its backlog is not counted.
    let journal = dir.path().join("data/journal");
    while journal_support::journal_entries(&journal) < added {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    let queued = ALLOCATOR.allocated().saturating_sub(baseline) / added;

    engine.send(EngineCommand::Resume);
    until(&mut events, |e| matches!(e, Event::Idle)).await;
    tokio::time::sleep(Duration::from_secs(1)).await;
    let finished = ALLOCATOR.allocated().saturating_sub(baseline) / FILES;
    eprintln!("engine memory per file: {queued} B queued, {finished} B finished");
    assert!(
        queued < PER_FILE_BUDGET,
        "{queued} B per queued file (budget {PER_FILE_BUDGET} B)"
    );
    assert!(
        finished < PER_FILE_BUDGET,
        "{finished} B per finished file (budget {PER_FILE_BUDGET} B)"
    );
}
