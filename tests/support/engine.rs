//! Driving the upload engine in-process against an emulator, and reading what it said.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use runflow_uploader::api::{ApiKey, ClientConfig, RetryPolicy, RunflowClient};
use runflow_uploader::emulator::RunningEmulator;
use runflow_uploader::upload::{
    self, EngineConfig, EngineHandle, Event, FileId, FileState, UploadFailure,
};
use tokio::sync::mpsc::UnboundedReceiver;

pub const PNG_MAGIC: &[u8] = b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR";

/// A client whose retries are quick but still honour a 1 s Retry-After.
pub fn patient_client(emu: &RunningEmulator) -> RunflowClient {
    RunflowClient::new(
        ApiKey::new(emu.api_keys()[0].clone()).unwrap(),
        ClientConfig {
            base_url: emu.api_base(),
            retry: RetryPolicy {
                max_attempts: 5,
                min_delay: Duration::from_millis(10),
                max_delay: Duration::from_secs(2),
            },
            ..ClientConfig::default()
        },
    )
    .unwrap()
}

pub fn engine_config(data_dir: &Path, concurrency: usize) -> EngineConfig {
    EngineConfig {
        concurrency,
        stall_timeout: Duration::from_secs(5),
        file_retry_wait: Duration::from_millis(50),
        progress_interval: Duration::from_millis(50),
        ..EngineConfig::new(data_dir.to_path_buf())
    }
}

pub fn start(
    client: RunflowClient,
    data_dir: &Path,
    concurrency: usize,
) -> (EngineHandle, UnboundedReceiver<Event>) {
    upload::spawn(
        &tokio::runtime::Handle::current(),
        client,
        engine_config(data_dir, concurrency),
        Arc::new(|| {}),
    )
}

/// What the engine said, gathered until it went idle.
#[derive(Default)]
pub struct Outcomes {
    pub names: HashMap<FileId, String>,
    pub finals: HashMap<String, FileState>,
    pub skipped: Vec<(PathBuf, String)>,
    pub progress_seen: bool,
}

impl Outcomes {
    pub fn state(&self, name: &str) -> &FileState {
        self.finals
            .get(name)
            .unwrap_or_else(|| panic!("no outcome for {name}: {:?}", self.finals.keys()))
    }

    pub fn failure(&self, name: &str) -> &UploadFailure {
        match self.state(name) {
            FileState::Failed(reason) => reason,
            other => panic!("{name} should have failed, but is {other:?}"),
        }
    }
}

pub async fn collect_until_idle(
    events: &mut UnboundedReceiver<Event>,
    limit: Duration,
) -> Outcomes {
    collect_more(events, limit, HashMap::new()).await
}

/// Like `collect_until_idle`, for files the engine already announced (`names`).
pub async fn collect_more(
    events: &mut UnboundedReceiver<Event>,
    limit: Duration,
    names: HashMap<FileId, String>,
) -> Outcomes {
    let mut outcomes = Outcomes {
        names,
        ..Outcomes::default()
    };
    let deadline = tokio::time::Instant::now() + limit;
    loop {
        let event = tokio::time::timeout_at(deadline, events.recv())
            .await
            .expect("the engine went idle in time")
            .expect("the engine is running");
        match event {
            Event::Added {
                id, name, state, ..
            } => {
                if state.is_finished() {
                    outcomes.finals.insert(name.clone(), state);
                }
                outcomes.names.insert(id, name);
            }
            Event::State { id, state } if state.is_finished() => {
                outcomes.finals.insert(outcomes.names[&id].clone(), state);
            }
            Event::Progress { .. } => outcomes.progress_seen = true,
            Event::Skipped { path, reason } => outcomes.skipped.push((path, reason)),
            Event::Idle => return outcomes,
            _ => {}
        }
    }
}

/// Waits until `count` files were announced and returns their names.
pub async fn wait_for_added(
    events: &mut UnboundedReceiver<Event>,
    count: usize,
) -> HashMap<FileId, String> {
    let mut names = HashMap::new();
    while names.len() < count {
        if let Some(Event::Added { id, name, .. }) = events.recv().await {
            names.insert(id, name);
        }
    }
    names
}

/// Writes `count` distinct small PNG-tagged files.
pub fn write_files(dir: &Path, count: usize, size: usize) -> Vec<PathBuf> {
    std::fs::create_dir_all(dir).unwrap();
    (0..count)
        .map(|i| {
            let path = dir.join(format!("file-{i:04}.png"));
            let mut bytes = PNG_MAGIC.to_vec();
            bytes.extend((0..size).map(|j| ((i * 31 + j * 7) % 251) as u8));
            bytes.extend_from_slice(&(i as u64).to_le_bytes());
            std::fs::write(&path, bytes).unwrap();
            path
        })
        .collect()
}
