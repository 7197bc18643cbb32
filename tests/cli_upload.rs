//! `runflow-uploader upload` as a user runs it: JSON output, exit codes, per-file reasons, and a
//! process killed mid-batch that finishes on the next run with exactly one asset per file, and
//! the progress bars on an 80-column terminal (tmux).

#[path = "support/cli.rs"]
mod cli_support;
#[path = "support/journal.rs"]
mod journal_support;
mod support;

use cli_support::{Env, PNG_MAGIC, json_lines, run, write_pngs};
use journal_support::journal_entries;

use std::collections::HashSet;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use regex::Regex;

/// Whether the tests run as root.
fn is_root() -> bool {
    #[cfg(unix)]
    {
        use std::os::unix::fs::MetadataExt;
        std::fs::metadata("/proc/self").is_ok_and(|m| m.uid() == 0)
    }
    #[cfg(not(unix))]
    false
}

#[cfg(unix)]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn json_output_reports_each_file_and_the_exit_code_reflects_failures() {
    use std::os::unix::fs::PermissionsExt;

    let env = Env::new(|_| {}).await;
    let dir = env.home.path().join("drop");
    write_pngs(&dir, 3);
    std::fs::write(dir.join("empty.png"), b"").unwrap();
    let locked = dir.join("locked.png");
    std::fs::write(&locked, PNG_MAGIC).unwrap();
    std::fs::set_permissions(&locked, std::fs::Permissions::from_mode(0o000)).unwrap();
    let dir_arg = dir.to_str().unwrap();

    // Root reads anything; dropping the DAC capabilities makes the locked file really
    // unreadable, as it is for any normal user.
    let wrapper: &[&str] = &["setpriv", "--bounding-set=-dac_override,-dac_read_search"];
    let output =
        run(env.command_with(is_root().then_some(wrapper), &["upload", dir_arg, "--json"])).await;
    let lines = json_lines(&output);
    assert_eq!(output.status.code(), Some(1), "{lines:?}");
    let by_name = |name: &str| {
        lines
            .iter()
            .find(|l| l["name"] == name)
            .unwrap_or_else(|| panic!("{name} missing from {lines:?}"))
    };
    for i in 0..3 {
        let line = by_name(&format!("img-{i:03}.png"));
        assert_eq!(line["status"], "uploaded");
        assert!(line["asset_id"].is_string());
        assert!(line["url"].is_string());
    }
    assert_eq!(by_name("empty.png")["status"], "failed");
    assert!(
        by_name("empty.png")["error"]
            .as_str()
            .unwrap()
            .contains("empty")
    );
    let locked_line = by_name("locked.png");
    assert_eq!(locked_line["status"], "failed");
    assert!(
        locked_line["error"]
            .as_str()
            .unwrap()
            .contains("could not be read"),
        "{locked_line}"
    );
    let summary = lines.last().unwrap();
    assert_eq!(summary["type"], "summary");
    assert_eq!(summary["counts"]["uploaded"], 3);
    assert_eq!(summary["counts"]["failed"], 2);

    // The same folder again: the good files are already there, and say so.
    std::fs::remove_file(dir.join("empty.png")).unwrap();
    std::fs::remove_file(&locked).unwrap();
    let again = run(env.command(&["upload", dir_arg])).await;
    let stdout = String::from_utf8_lossy(&again.stdout);
    assert_eq!(again.status.code(), Some(0), "{stdout}");
    let already = stdout.lines().filter(|l| l.starts_with("already ")).count();
    assert_eq!(already, 3, "{stdout}");
    assert!(
        stdout.contains("0 uploaded, 3 already uploaded, 0 failed"),
        "{stdout}"
    );
    assert_eq!(env.emu.asset_count(), 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bad_key_is_one_clear_error_not_one_per_file() {
    let env = Env::new(|_| {}).await;
    let dir = env.home.path().join("drop");
    write_pngs(&dir, 5);
    let output = run({
        let mut c = env.command(&["upload", dir.to_str().unwrap()]);
        c.env("RUNFLOW_API_KEY", "rf_live_not_a_real_key");
        c
    })
    .await;
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(3), "{stderr}");
    assert!(stderr.contains("API key"), "{stderr}");
    assert_eq!(stderr.matches("error:").count(), 1, "{stderr}");
    assert_eq!(env.emu.upload_session_count(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_batch_killed_mid_way_finishes_on_the_next_run_with_one_asset_per_file() {
    const FILES: usize = 40;
    let env = Env::new(|c| c.latency_ms = 25).await;
    let dir = env.home.path().join("batch");
    write_pngs(&dir, FILES);
    let dir_arg = dir.to_str().unwrap().to_owned();

    // Kill the upload three times at different points of the batch.
    for kill_after_assets in [3, 12, 25] {
        let mut child = env
            .command(&["upload", &dir_arg, "--concurrency", "6", "--json"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let deadline = Instant::now() + Duration::from_secs(60);
        while env.emu.asset_count() < kill_after_assets && Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        child.kill().unwrap();
        child.wait().unwrap();
        assert!(env.emu.asset_count() < FILES, "killed before the end");
    }
    let journal = env.home.path().join("data/journal");
    assert!(
        journal_entries(&journal) > 0,
        "the journal holds the unfinished files"
    );

    let output = run(env.command(&["upload", &dir_arg, "--json"])).await;
    let lines = json_lines(&output);
    assert_eq!(output.status.code(), Some(0), "{lines:?}");

    let client = support::client(&env.emu);
    let page = client
        .list_assets(&runflow_uploader::api::ListQuery {
            limit: Some(500),
            ..Default::default()
        })
        .await
        .unwrap();
    let names: Vec<String> = page.items.into_iter().filter_map(|a| a.name).collect();
    let unique: HashSet<&String> = names.iter().collect();
    assert_eq!(names.len(), FILES, "exactly one asset per file: {names:?}");
    assert_eq!(unique.len(), FILES);
    assert_eq!(journal_entries(&journal), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_scheduled_upload_leaves_a_trace_and_stderr_stays_quiet() {
    const FILES: usize = 4;
    // Every fifth API call fails once: the client retries them on its own.
    let env = Env::new(|c| {
        c.fail_rate = 0.2;
        c.seed = Some(7);
    })
    .await;
    let dir = env.home.path().join("cron");
    write_pngs(&dir, FILES);
    std::fs::write(dir.join("empty.png"), b"").unwrap();
    let name = "evil\u{1b}[31mred\n.png";
    std::fs::write(dir.join(name), PNG_MAGIC).unwrap();
    let output = run(env.command(&["upload", dir.to_str().unwrap()])).await;
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "{stdout}\n{stderr}");

    // Human lines never carry control characters from names.
    assert!(!stdout.contains('\u{1b}'), "{stdout:?}");
    assert!(stdout.contains("evil?[31mred?.png"), "{stdout}");
    // At default verbosity: no per-request retry lines, no timestamps or module paths.
    assert!(!stderr.contains("runflow_uploader::"), "{stderr}");
    assert!(!stderr.contains("call failed; retrying"), "{stderr}");
    for line in stderr.lines() {
        assert!(
            line.starts_with("warning: ") || line.starts_with("error: "),
            "a plain line: {line:?}"
        );
    }

    // The daily log: server and account, one line per file, the summary; never the key.
    let logs = env.home.path().join("state/logs");
    let log: String = std::fs::read_dir(&logs)
        .unwrap()
        .filter_map(Result::ok)
        .map(|e| std::fs::read_to_string(e.path()).unwrap())
        .collect();
    let server = env.emu.api_base();
    let server = server.trim_end_matches('/');
    assert!(log.contains("upload started"), "{log}");
    assert!(log.contains(&format!("server={server}")), "{log}");
    assert!(log.contains("account="), "{log}");
    assert_eq!(
        log.matches("file finished").count(),
        FILES + 2,
        "one line per file: {log}"
    );
    assert!(log.contains("status=\"uploaded\""), "{log}");
    assert!(log.contains("reason=\"empty\""), "{log}");
    assert!(log.contains("upload finished: 5 uploaded"), "{log}");
    assert!(log.contains("exit_code=1"), "{log}");
    assert!(
        !log.contains(&env.emu.api_keys()[0]),
        "the key is never logged"
    );
    assert!(
        !log.contains('\u{1b}'),
        "names are sanitised in the log too"
    );
}

// The CLI's progress on a real terminal: tmux, 80 columns, against the emulator's 2 MB/s link.
// Every screen row must be one whole line of the layout (bars never wrap), no frame shows a
// full bar before the bytes are there, and the speed shown is the link's.

const LINK_BYTES_PER_SEC: u64 = 2_000_000;

fn tmux(socket: &str) -> Command {
    let mut command = Command::new("tmux");
    command.args(["-L", socket]);
    command
}

/// The pane with its scrollback (`-S -`): tmux writes its "Pane is dead" note after a line feed
/// on the bottom row, which scrolls the screen's first row into the history.
fn capture(socket: &str) -> String {
    let out = tmux(socket)
        .args(["capture-pane", "-p", "-S", "-", "-t", "tty"])
        .output()
        .expect("tmux runs (apt-get install tmux)");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn pane_dead(socket: &str) -> bool {
    let out = tmux(socket)
        .args(["display-message", "-p", "-t", "tty", "#{pane_dead}"])
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stdout).trim() == "1"
}

/// `1.62 MiB` in bytes.
fn bytes_of(number: &str, unit: &str) -> f64 {
    let n: f64 = number.parse().unwrap();
    n * match unit {
        "B" => 1.0,
        "KiB" => 1024.0,
        "MiB" => 1024.0 * 1024.0,
        "GiB" => 1024.0 * 1024.0 * 1024.0,
        other => panic!("unit {other}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn progress_fits_80_columns_and_tells_the_truth() {
    let env = Env::new(|c| c.put_bytes_per_sec = Some(LINK_BYTES_PER_SEC)).await;
    let files = env.home.path().join("files");
    std::fs::create_dir_all(&files).unwrap();
    for (seed, name) in ["first-clip-with-a-long-name.mp4", "second.mp4"]
        .into_iter()
        .enumerate()
    {
        let mut bytes = b"\0\0\0\x18ftypmp42\0\0\0\0mp42isom".to_vec();
        bytes.extend((0..5_000_000_usize).map(|i| ((i + seed) * 13 % 251) as u8));
        std::fs::write(files.join(name), bytes).unwrap();
    }
    let conf = env.home.path().join("tmux.conf");
    std::fs::write(&conf, "set -g remain-on-exit on\nset -g status off\n").unwrap();
    let socket = format!("runflow-tty-{}", std::process::id());
    let home = env.home.path().to_str().unwrap().to_owned();
    let wrapper = [
        "tmux",
        "-L",
        &socket,
        "-f",
        conf.to_str().unwrap(),
        "new-session",
        "-d",
        "-s",
        "tty",
        "-x",
        "80",
        "-y",
        "24",
        "-c",
        &home,
    ];
    let status = env
        .command_with(Some(&wrapper), &["upload", "files", "--concurrency", "1"])
        .status()
        .expect("tmux starts");
    assert!(status.success());

    let started = Instant::now();
    let mut frames = Vec::new();
    while !pane_dead(&socket) {
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "the upload ends"
        );
        frames.push((started.elapsed(), capture(&socket)));
        std::thread::sleep(Duration::from_millis(50));
    }
    frames.push((started.elapsed(), capture(&socket)));
    let _ = tmux(&socket).arg("kill-server").status();

    let spinner_only =
        Regex::new(r"^\S (looking at the files\.\.\.|scanning files: [\d,]+ files? found)$")
            .unwrap();
    let total = Regex::new(
        r"^\S \d+/\d+ files(?:, scanning)? \[([=> ]+)\] ([\d.]+) (\S+)/([\d.]+) (\S+) ([\d.]+) (\S+)/s \S+$",
    )
    .unwrap();
    let file = Regex::new(r"^  \S.{0,31} \[([=> ]+)\] +([\d.]+) (\S+)/([\d.]+) (\S+)$").unwrap();
    // Result lines are log lines: a long one may wrap, the bars may not.
    let record = Regex::new(r"^uploaded  files/\S+\.mp4 -> [0-9a-f-]+$").unwrap();
    let record_rest = Regex::new(r"^[0-9a-f-]+$").unwrap();
    let summary = Regex::new(r"^2 uploaded, 0 already uploaded, 0 failed$").unwrap();
    // tmux's own note once the command ended (remain-on-exit).
    let dead = Regex::new(r"^Pane is dead").unwrap();
    let mut bars_seen = 0;
    let mut first_bar: Option<Duration> = None;
    for (at, frame) in &frames {
        let mut after_record = false;
        for row in frame.lines().map(str::trim_end).filter(|r| !r.is_empty()) {
            let wrapped_record = after_record && record_rest.is_match(row);
            after_record = record.is_match(row) && row.chars().count() == 80;
            if wrapped_record {
                continue;
            }
            let bar = total.captures(row).or_else(|| file.captures(row));
            if let Some(bar) = bar {
                bars_seen += 1;
                let shown = bytes_of(&bar[2], &bar[3]);
                let of = bytes_of(&bar[4], &bar[5]);
                let full = !bar[1].contains(['>', ' ']);
                assert!(
                    !full || (shown == of && of > 0.0),
                    "a full bar at {shown}/{of} bytes:\n{frame}"
                );
                if total.is_match(row) {
                    let first = *first_bar.get_or_insert(*at);
                    let speed = bytes_of(&bar[6], &bar[7]);
                    if *at >= first + Duration::from_millis(1500) {
                        assert!(
                            speed <= 1.25 * LINK_BYTES_PER_SEC as f64,
                            "{speed:.0} B/s shown on a {LINK_BYTES_PER_SEC} B/s link:\n{frame}"
                        );
                    }
                }
                continue;
            }
            assert!(
                [&spinner_only, &record, &summary, &dead]
                    .iter()
                    .any(|pattern| pattern.is_match(row)),
                "a row that is not one whole line of the layout (wrapped?): {row:?}\n{frame}"
            );
        }
    }
    assert!(bars_seen > 10, "progress bars were drawn: {frames:?}");
    let last = &frames.last().unwrap().1;
    assert!(
        last.lines().any(|row| summary.is_match(row.trim_end())),
        "the summary is shown at the end:\n{last}"
    );
}
