//! Upload progress counts the bytes storage acknowledged, not the bytes handed to the socket:
//! measured against the emulator's slow link (`--put-bytes-per-sec`).

mod support;

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use runflow_uploader::upload::{self, Command, EngineConfig, Event, FileId, FileState};

const PNG_MAGIC: &[u8] = b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR";

const LINK_BYTES_PER_SEC: u64 = 2_000_000;

fn write_png_tagged(path: &Path, size: usize) {
    let mut bytes = PNG_MAGIC.to_vec();
    bytes.extend((0..size - PNG_MAGIC.len()).map(|i| (i * 7 % 251) as u8));
    std::fs::write(path, bytes).unwrap();
}

/// What the engine said about one file's upload, with when it said it.
#[derive(Default)]
struct Timeline {
    /// (time, bytes sent, speed) of every progress event.
    progress: Vec<(Instant, u64, Option<f64>)>,
    /// When the file left `Uploading`: storage had answered the PUT.
    stored: Option<Instant>,
    done: bool,
}

async fn upload_one(size: usize) -> Timeline {
    upload_files(&[size]).await.remove(0)
}

/// Uploads files of these sizes one at a time (one upload slot), in order.
async fn upload_files(sizes: &[usize]) -> Vec<Timeline> {
    let emu = support::emulator(|c| c.put_bytes_per_sec = Some(LINK_BYTES_PER_SEC)).await;
    let dir = tempfile::tempdir().unwrap();
    let files: Vec<_> = sizes
        .iter()
        .enumerate()
        .map(|(i, size)| {
            let file = dir.path().join(format!("slow-{i}.png"));
            write_png_tagged(&file, *size + i);
            file
        })
        .collect();
    let config = EngineConfig {
        concurrency: 1,
        progress_interval: Duration::from_millis(50),
        ..EngineConfig::new(dir.path().join("data"))
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
    let mut timelines: BTreeMap<FileId, Timeline> = BTreeMap::new();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(120);
    loop {
        let event = tokio::time::timeout_at(deadline, events.recv())
            .await
            .expect("the upload ends in time")
            .expect("the engine runs");
        match event {
            Event::Progress {
                id,
                sent_bytes,
                bytes_per_sec,
                ..
            } => timelines.entry(id).or_default().progress.push((
                Instant::now(),
                sent_bytes,
                bytes_per_sec,
            )),
            Event::State { id, state } => {
                let timeline = timelines.entry(id).or_default();
                if !matches!(state, FileState::Uploading) && !timeline.progress.is_empty() {
                    timeline.stored.get_or_insert_with(Instant::now);
                }
                if state.is_finished() {
                    timeline.done = matches!(state, FileState::Done(_));
                }
            }
            Event::Idle => return timelines.into_values().collect(),
            _ => {}
        }
    }
}

/// Asserts `timeline`'s file of `size` bytes did not look full more than 0.5 s before storage
/// answered, and that its bar moved on the way.
fn assert_not_full_early(timeline: &Timeline, size: usize) {
    assert!(timeline.done, "the file uploads");
    let stored = timeline.stored.expect("the PUT was answered");
    let full = timeline
        .progress
        .iter()
        .find(|(_, sent, _)| *sent >= size as u64)
        .map(|(t, _, _)| *t);
    if let Some(full) = full {
        let early = stored.saturating_duration_since(full);
        assert!(
            early <= Duration::from_millis(500),
            "100 % was shown {early:?} before storage answered"
        );
    }
    let halfway = timeline
        .progress
        .iter()
        .filter(|(_, sent, _)| *sent > 0 && *sent < size as u64)
        .count();
    assert!(halfway >= 10, "only {halfway} progress steps below 100 %");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_reported_speed_is_the_links_speed() {
    // 16 MB take 8 s on a 2 MB/s link.
    let timeline = upload_one(16_000_000).await;
    assert!(timeline.done, "the file uploads");
    let (start, _, _) = timeline.progress[0];
    // What the bar said from 3 s on (the median, so one late wake-up of a busy test machine
    // does not decide).
    let mut speeds: Vec<f64> = timeline
        .progress
        .iter()
        .filter(|(t, _, _)| *t >= start + Duration::from_secs(3))
        .filter_map(|(_, _, speed)| *speed)
        .collect();
    assert!(
        speeds.len() >= 10,
        "speeds are reported after 3 s: {speeds:?}"
    );
    speeds.sort_by(f64::total_cmp);
    let speed = speeds[speeds.len() / 2];
    let link = LINK_BYTES_PER_SEC as f64;
    assert!(
        (speed - link).abs() <= 0.2 * link,
        "after 3 s the speed is {speed:.0} B/s, more than 20 % off the link's {link} B/s: \
         {speeds:?}"
    );
    // Nor did the count ever run ahead of what the link could have carried (plus the small
    // buffers either end keeps).
    for (t, sent, _) in &timeline.progress {
        let carried = t.duration_since(start).as_secs_f64() * link;
        assert!(
            (*sent as f64) <= carried + 512.0 * 1024.0,
            "{sent} bytes reported after {:?}, the link carries {carried:.0}",
            t.duration_since(start)
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_five_mib_file_is_not_full_long_before_storage_answers() {
    let size = 5 * 1024 * 1024;
    assert_not_full_early(&upload_one(size).await, size);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_kept_connection_counts_the_next_file_from_zero() {
    // The second PUT reuses the first one's connection, which acknowledged 3 MiB already.
    let size = 3 * 1024 * 1024;
    let timelines = upload_files(&[size, size]).await;
    assert_eq!(timelines.len(), 2);
    for timeline in &timelines {
        assert_not_full_early(timeline, size);
    }
}
