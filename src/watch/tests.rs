//! The watches on a real file system (inotify on Linux): settling, junk, the walk against the
//! history at start, pausing, and a folder that goes away and comes back.

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant, SystemTime};

use tokio::sync::mpsc::{UnboundedReceiver, unbounded_channel};

use super::*;
use crate::history::{Source, Upload};

const SERVER: &str = "http://127.0.0.1:9";
const ACCOUNT: &str = "org";

/// PNG content (the signature is what the checks look at), distinct per `seed`.
fn png(seed: &str) -> Vec<u8> {
    let mut bytes = b"\x89PNG\r\n\x1a\n".to_vec();
    bytes.extend_from_slice(seed.as_bytes());
    bytes
}

fn write(path: &Path, content: &[u8]) {
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, content).unwrap();
}

/// Sets the modification time `ago` in the past (a file written before the watch started).
fn age(path: &Path, ago: Duration) {
    let file = std::fs::File::options().write(true).open(path).unwrap();
    file.set_modified(SystemTime::now() - ago).unwrap();
}

struct Rig {
    _data: tempfile::TempDir,
    events: UnboundedReceiver<WatchEvent>,
    /// Events received while waiting for another kind, not looked at yet.
    backlog: std::collections::VecDeque<WatchEvent>,
    watcher: Watcher,
}

impl Rig {
    fn start(specs: Vec<WatchSpec>) -> Self {
        let data = tempfile::tempdir().unwrap();
        Self::start_in(data, specs)
    }

    fn start_in(data: tempfile::TempDir, specs: Vec<WatchSpec>) -> Self {
        let (tx, events) = unbounded_channel();
        let watcher = Watcher::spawn(
            HistoryScope {
                data_dir: data.path().to_path_buf(),
                server: SERVER.to_owned(),
                account: ACCOUNT.to_owned(),
            },
            specs,
            tx,
        );
        Self {
            _data: data,
            events,
            backlog: std::collections::VecDeque::new(),
            watcher,
        }
    }

    /// Every event within `wait`.
    async fn collect(&mut self, wait: Duration) -> Vec<WatchEvent> {
        let deadline = Instant::now() + wait;
        let mut all: Vec<WatchEvent> = self.backlog.drain(..).collect();
        while let Ok(Some(event)) =
            tokio::time::timeout_at(deadline.into(), self.events.recv()).await
        {
            all.push(event);
        }
        all
    }

    /// Waits (up to 10 s) for an event `accept` takes, and returns it; the others stay for
    /// later calls.
    async fn until<T>(
        &mut self,
        what: &str,
        mut accept: impl FnMut(&WatchEvent) -> Option<T>,
    ) -> T {
        if let Some(at) = self.backlog.iter().position(|e| accept(e).is_some()) {
            let event = self.backlog.remove(at).unwrap();
            return accept(&event).unwrap();
        }
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            match tokio::time::timeout_at(deadline.into(), self.events.recv()).await {
                Ok(Some(event)) => match accept(&event) {
                    Some(found) => return found,
                    None => self.backlog.push_back(event),
                },
                _ => panic!("no {what} within 10 s"),
            }
        }
    }

    async fn state(&mut self, want: WatchState) {
        let what = format!("{want:?}");
        self.until(&what, |event| {
            matches!(event, WatchEvent::Status(s) if s.state == want).then_some(())
        })
        .await;
    }

    async fn found(&mut self) -> Vec<PathBuf> {
        self.until("files", |event| match event {
            WatchEvent::Found { paths, .. } => Some(paths.clone()),
            WatchEvent::Status(_) => None,
        })
        .await
    }
}

fn found_in(events: &[WatchEvent]) -> Vec<PathBuf> {
    events
        .iter()
        .filter_map(|event| match event {
            WatchEvent::Found { paths, .. } => Some(paths.clone()),
            WatchEvent::Status(_) => None,
        })
        .flatten()
        .collect()
}

fn spec(dir: &Path) -> WatchSpec {
    WatchSpec {
        dir: dir.to_path_buf(),
        folder_id: Some("f1".to_owned()),
        paused: false,
    }
}

fn canonical(path: &Path) -> PathBuf {
    std::fs::canonicalize(path).unwrap()
}

#[tokio::test]
async fn a_file_written_slowly_is_found_once_after_its_writes_settle() {
    let dir = tempfile::tempdir().unwrap();
    let mut rig = Rig::start(vec![spec(dir.path())]);
    rig.state(WatchState::Watching).await;

    let path = dir.path().join("render.png");
    let mut file = std::fs::File::create(&path).unwrap();
    file.write_all(&png("start")).unwrap();
    // Four more writes, 0.6 s apart: 2.4 s of writing, never a 2 s pause.
    let writing = Instant::now();
    for n in 0..4 {
        tokio::time::sleep(Duration::from_millis(600)).await;
        file.write_all(format!("chunk {n}").as_bytes()).unwrap();
        let early = found_in(&rig.collect(Duration::ZERO).await);
        assert!(early.is_empty(), "found while written: {early:?}");
    }
    drop(file);
    let paths = rig.found().await;
    assert!(
        writing.elapsed() >= Duration::from_millis(2400) + SETTLE,
        "found {:?} after the last write",
        writing.elapsed()
    );
    assert_eq!(paths, [canonical(&path)]);
    // Settled and sent: nothing more comes of it.
    let again = found_in(&rig.collect(Duration::from_secs(4)).await);
    assert!(again.is_empty(), "{again:?}");
}

#[tokio::test]
async fn subfolders_follow_and_junk_unfinished_and_non_media_files_are_passed_over() {
    let dir = tempfile::tempdir().unwrap();
    let mut rig = Rig::start(vec![spec(dir.path())]);
    rig.state(WatchState::Watching).await;

    write(&dir.path().join(".hidden.png"), &png("h"));
    write(&dir.path().join("video.mp4.part"), &png("p"));
    write(&dir.path().join("download.png.crdownload"), &png("c"));
    write(&dir.path().join("notes.txt"), b"not media");
    write(&dir.path().join(".cache/inside.png"), &png("i"));
    write(&dir.path().join("Thumbs.db"), b"x");
    write(&dir.path().join("shots/day 1/a.png"), &png("a"));
    // A folder moved in whole brings its files without events of their own.
    let outside = tempfile::tempdir().unwrap();
    write(&outside.path().join("batch/b.png"), &png("b"));
    std::fs::rename(outside.path().join("batch"), dir.path().join("batch")).unwrap();

    let mut found = found_in(&rig.collect(Duration::from_secs(6)).await);
    found.sort();
    assert_eq!(
        found,
        [
            canonical(&dir.path().join("batch/b.png")),
            canonical(&dir.path().join("shots/day 1/a.png")),
        ]
    );
}

#[tokio::test]
async fn the_walk_at_start_passes_over_files_the_history_has_as_they_are() {
    let dir = tempfile::tempdir().unwrap();
    for name in ["same.png", "touched.png", "new.png"] {
        write(&dir.path().join(name), &png(name));
        age(&dir.path().join(name), Duration::from_secs(60));
    }
    let data = tempfile::tempdir().unwrap();
    {
        let mut history = crate::history::History::open(data.path()).unwrap();
        for name in ["same.png", "touched.png"] {
            let path = canonical(&dir.path().join(name));
            let meta = std::fs::metadata(&path).unwrap();
            let row = Upload {
                id: 0,
                uploaded_at: time::OffsetDateTime::now_utc(),
                path,
                name: name.to_owned(),
                size_bytes: meta.len(),
                modified_ns: i64::try_from(crate::upload::nanos_since_epoch(
                    meta.modified().unwrap(),
                ))
                .ok(),
                hash: None,
                asset_id: format!("asset-{name}"),
                folder_id: Some("f1".to_owned()),
                server: SERVER.to_owned(),
                account: ACCOUNT.to_owned(),
                source: Source::Watch,
                batch: None,
                fixed: None,
            };
            history.record("scope", &row).unwrap();
        }
    }
    // Changed since it was uploaded (its time, at least): the engine's hash decides.
    age(&dir.path().join("touched.png"), Duration::from_secs(30));

    let mut rig = Rig::start_in(data, vec![spec(dir.path())]);
    let mut found = rig.found().await;
    found.sort();
    assert_eq!(
        found,
        [
            canonical(&dir.path().join("new.png")),
            canonical(&dir.path().join("touched.png")),
        ]
    );
    let status = rig
        .until("counts", |event| match event {
            WatchEvent::Status(s) if s.today == 2 => Some(s.clone()),
            _ => None,
        })
        .await;
    assert_eq!(status.state, WatchState::Watching);
    assert!(status.last_file.is_some());
    assert!(found_in(&rig.collect(Duration::from_secs(1)).await).is_empty());
}

#[tokio::test]
async fn a_folder_that_goes_away_pauses_its_watch_and_catches_up_when_it_is_back() {
    let parent = tempfile::tempdir().unwrap();
    let dir = parent.path().join("disk");
    write(&dir.join("before.png"), &png("before"));
    age(&dir.join("before.png"), Duration::from_secs(60));
    let mut rig = Rig::start(vec![spec(&dir)]);
    assert_eq!(rig.found().await, [canonical(&dir.join("before.png"))]);
    rig.state(WatchState::Watching).await;

    // "Unmounted": the folder is not there.
    let away = parent.path().join("away");
    std::fs::rename(&dir, &away).unwrap();
    rig.state(WatchState::Missing).await;
    assert!(
        WatchState::Missing
            .describe()
            .contains("starts again when it is back")
    );
    write(&away.join("while away.png"), &png("away"));
    age(&away.join("while away.png"), Duration::from_secs(10));

    std::fs::rename(&away, &dir).unwrap();
    rig.state(WatchState::Watching).await;
    // What came meanwhile is found; what was sent before is not sent again.
    assert_eq!(rig.found().await, [canonical(&dir.join("while away.png"))]);
    assert!(found_in(&rig.collect(Duration::from_secs(3)).await).is_empty());
}

#[tokio::test]
async fn a_paused_watch_finds_nothing_until_it_is_resumed() {
    let dir = tempfile::tempdir().unwrap();
    let mut paused = spec(dir.path());
    paused.paused = true;
    let mut rig = Rig::start(vec![paused.clone()]);
    rig.state(WatchState::Paused).await;
    write(&dir.path().join("a.png"), &png("a"));
    assert!(found_in(&rig.collect(Duration::from_secs(4)).await).is_empty());

    rig.watcher.set(vec![WatchSpec {
        paused: false,
        ..paused.clone()
    }]);
    rig.state(WatchState::Watching).await;
    assert_eq!(rig.found().await, [canonical(&dir.path().join("a.png"))]);

    // Removed: no more reports of it.
    rig.watcher.set(Vec::new());
    write(&dir.path().join("b.png"), &png("b"));
    assert!(found_in(&rig.collect(Duration::from_secs(4)).await).is_empty());
}

#[test]
fn a_missing_folder_at_start_is_missing_not_failed() {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let parent = tempfile::tempdir().unwrap();
        let mut rig = Rig::start(vec![spec(&parent.path().join("not yet"))]);
        rig.state(WatchState::Missing).await;
        std::fs::create_dir(parent.path().join("not yet")).unwrap();
        rig.state(WatchState::Watching).await;
    });
}
