//! `watch`: a real folder on a real file system, the real binary and the emulator. New files
//! upload once, a file written slowly only after it settles, SIGTERM stops it cleanly, and a
//! restart uploads what came meanwhile and nothing again.

#[path = "support/assets.rs"]
mod assets_support;
#[path = "support/cli.rs"]
mod cli_support;
mod support;

use std::io::{BufRead as _, BufReader, Write as _};
use std::path::Path;
use std::process::{Child, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use cli_support::{Env, PNG_MAGIC, json_lines, run, write_pngs};

/// A running `watch --json` and its stdout records.
struct Watching {
    child: Child,
    records: mpsc::Receiver<serde_json::Value>,
}

impl Watching {
    fn start(env: &Env, dir: &Path) -> Self {
        let mut child = env
            .command(&["watch", dir.to_str().unwrap(), "--json"])
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap();
        let stdout = child.stdout.take().unwrap();
        let (tx, records) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                let record = serde_json::from_str(&line).unwrap_or_else(|e| panic!("{e}: {line}"));
                if tx.send(record).is_err() {
                    break;
                }
            }
        });
        Self { child, records }
    }

    /// The next record within `wait`.
    fn next(&self, wait: Duration) -> Option<serde_json::Value> {
        self.records.recv_timeout(wait).ok()
    }

    /// The `file` records that come until `count` have, within 20 s.
    fn files(&self, count: usize) -> Vec<serde_json::Value> {
        let deadline = Instant::now() + Duration::from_secs(20);
        let mut files = Vec::new();
        while files.len() < count {
            let left = deadline.saturating_duration_since(Instant::now());
            let record = self.next(left).unwrap_or_else(|| {
                panic!("{} of {count} files within 20 s: {files:?}", files.len())
            });
            if record["type"] == "file" {
                files.push(record);
            }
        }
        files
    }

    /// Every `file` record within `wait`.
    fn more_files(&self, wait: Duration) -> Vec<serde_json::Value> {
        let deadline = Instant::now() + wait;
        let mut files = Vec::new();
        while let Some(record) = self.next(deadline.saturating_duration_since(Instant::now())) {
            if record["type"] == "file" {
                files.push(record);
            }
        }
        files
    }

    /// SIGTERM, as a service manager stops it; returns its exit code and last records.
    fn terminate(mut self) -> (Option<i32>, Vec<serde_json::Value>) {
        let pid = self.child.id().to_string();
        let killed = std::process::Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .unwrap();
        assert!(killed.success());
        let status = self.child.wait().unwrap();
        (status.code(), self.records.try_iter().collect())
    }
}

fn names(files: &[serde_json::Value]) -> Vec<String> {
    let mut names: Vec<String> = files
        .iter()
        .map(|f| f["name"].as_str().unwrap().to_owned())
        .collect();
    names.sort();
    names
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn watch_uploads_each_file_once_settled_and_catches_up_after_a_restart() {
    let env = Env::new(|_| {}).await;
    let dir = env.home.path().join("renders");
    write_pngs(&dir, 2);

    let watching = Watching::start(&env, &dir);
    let first = watching
        .next(Duration::from_secs(20))
        .expect("a first record");
    assert_eq!(first["type"], "watch", "{first}");
    assert_eq!(first["state"], "watching", "{first}");
    // What was there before the watch started is found by its first walk.
    let files = watching.files(2);
    assert_eq!(names(&files), ["img-000.png", "img-001.png"]);
    assert!(files.iter().all(|f| f["status"] == "uploaded"), "{files:?}");

    // Written slowly: 2.4 s of writes, never a pause of 2 s. One upload, of the whole file.
    let path = dir.join("slow.png");
    let mut file = std::fs::File::create(&path).unwrap();
    file.write_all(PNG_MAGIC).unwrap();
    for n in 0..4 {
        std::thread::sleep(Duration::from_millis(600));
        file.write_all(format!("part {n} ").as_bytes()).unwrap();
        assert!(
            watching.more_files(Duration::ZERO).is_empty(),
            "uploaded while written"
        );
    }
    drop(file);
    let slow = watching.files(1);
    assert_eq!(slow[0]["name"], "slow.png");
    assert_eq!(slow[0]["status"], "uploaded");
    assert_eq!(
        slow[0]["size_bytes"].as_u64(),
        Some(std::fs::metadata(&path).unwrap().len())
    );
    assert!(watching.more_files(Duration::from_secs(4)).is_empty());

    let (code, last) = watching.terminate();
    assert_eq!(code, Some(0), "SIGTERM is how a watch ends: {last:?}");
    let summary = last
        .iter()
        .find(|r| r["type"] == "summary")
        .expect("a summary");
    assert_eq!(summary["counts"]["uploaded"], 3, "{summary}");

    // While it is not running: one new file, the others untouched.
    write_pngs(&env.home.path().join("more"), 3);
    std::fs::rename(
        env.home.path().join("more/img-002.png"),
        dir.join("while-stopped.png"),
    )
    .unwrap();
    let watching = Watching::start(&env, &dir);
    let files = watching.files(1);
    assert_eq!(names(&files), ["while-stopped.png"]);
    assert_eq!(files[0]["status"], "uploaded");
    // What was uploaded before is not sent again (not even to be found already uploaded).
    assert!(watching.more_files(Duration::from_secs(4)).is_empty());
    let (code, _) = watching.terminate();
    assert_eq!(code, Some(0));

    // One asset per file on Runflow, and the history says they came from a watch.
    let mut on_runflow = assets_support::all_asset_names(&support::client(&env.emu)).await;
    on_runflow.sort();
    assert_eq!(
        on_runflow,
        [
            "img-000.png",
            "img-001.png",
            "slow.png",
            "while-stopped.png"
        ]
    );
    let history = run(env.command(&["history", "--json"])).await;
    let rows = json_lines(&history);
    assert_eq!(rows.len(), 4);
    assert!(rows.iter().all(|row| row["source"] == "watch"), "{rows:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn watch_refuses_what_is_not_a_folder() {
    let env = Env::new(|_| {}).await;
    let file = write_pngs(env.home.path(), 1).remove(0);
    for target in [file, env.home.path().join("missing")] {
        let out = run(env.command(&["watch", target.to_str().unwrap()])).await;
        assert_eq!(out.status.code(), Some(2));
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(
            stderr.contains("is not a folder; give the folder to watch"),
            "{stderr}"
        );
    }
}
