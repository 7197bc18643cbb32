//! The exit-code table of the README ("Exit codes"), one test per row, through the real binary
//! against the emulator.

#[path = "support/ports.rs"]
mod ports_support;

#[path = "support/cli.rs"]
mod cli_support;
mod support;

use std::process::Stdio;
use std::time::{Duration, Instant};

use cli_support::{Env, json_lines, run, write_pngs};

fn stderr(output: &std::process::Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn exit_0_when_everything_was_done() {
    let env = Env::new(|_| {}).await;
    let files = write_pngs(&env.home.path().join("a"), 2);
    let output = run(env.command(&["upload", files[0].to_str().unwrap()])).await;
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    let listed = support::client(&env.emu)
        .list_assets(&runflow_uploader::api::ListQuery::default())
        .await
        .unwrap();
    assert_eq!(listed.items.len(), 1);
    for args in [&["assets", "list"][..], &["folders", "list"], &["whoami"]] {
        let output = run(env.command(args)).await;
        assert_eq!(
            output.status.code(),
            Some(0),
            "{args:?}: {}",
            stderr(&output)
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn exit_1_when_some_files_failed() {
    let env = Env::new(|_| {}).await;
    let dir = env.home.path().join("a");
    write_pngs(&dir, 1);
    std::fs::write(dir.join("empty.png"), b"").unwrap();
    let output = run(env.command(&["upload", dir.to_str().unwrap()])).await;
    assert_eq!(output.status.code(), Some(1), "{}", stderr(&output));
    assert_eq!(env.emu.asset_count(), 1, "the good file was uploaded");
    // The other subcommands: a missing asset.
    let output = run(env.command(&["assets", "get", "00000000-0000-4000-8000-000000000000"])).await;
    assert_eq!(output.status.code(), Some(1), "{}", stderr(&output));
    assert!(!stderr(&output).contains("refresh"), "{}", stderr(&output));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn exit_2_for_usage_errors() {
    let env = Env::new(|_| {}).await;
    let files = write_pngs(&env.home.path().join("a"), 1);
    let file = files[0].to_str().unwrap();

    // A mistyped subcommand: clap's suggestion, and no window.
    let output = run(env.command(&["uplaod", file])).await;
    assert_eq!(output.status.code(), Some(2));
    let text = stderr(&output);
    assert!(
        text.contains("unknown command 'uplaod'; did you mean 'upload'?"),
        "{text}"
    );
    assert_eq!(text.lines().count(), 1, "{text}");
    let output = run(env.command(&["frobnicate"])).await;
    assert_eq!(output.status.code(), Some(2), "{}", stderr(&output));
    assert!(stderr(&output).contains("unknown command 'frobnicate'"));

    let output = run(env.command(&["upload", file, "--no-such-flag"])).await;
    assert_eq!(output.status.code(), Some(2));

    // An unknown folder is checked once, before anything is sent.
    let output = run(env.command(&["upload", file, "--folder", "no-such-folder"])).await;
    assert_eq!(output.status.code(), Some(2), "{}", stderr(&output));
    let text = stderr(&output);
    assert!(text.contains("no folder with id no-such-folder"), "{text}");
    assert_eq!(text.matches("error:").count(), 1, "{text}");
    assert_eq!(env.emu.upload_session_count(), 0);
    let output = run(env.command(&["assets", "list", "--folder", "no-such-folder"])).await;
    assert_eq!(output.status.code(), Some(2), "{}", stderr(&output));
    assert!(!String::from_utf8_lossy(&output.stdout).contains("No assets found"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn exit_3_for_a_missing_or_rejected_key() {
    let env = Env::new(|_| {}).await;
    let files = write_pngs(&env.home.path().join("a"), 1);
    let file = files[0].to_str().unwrap();
    for args in [&["upload", file][..], &["whoami"], &["assets", "list"]] {
        let mut command = env.command(args);
        command.env("RUNFLOW_API_KEY", "rf_live_not_a_real_key");
        let output = run(command).await;
        assert_eq!(
            output.status.code(),
            Some(3),
            "{args:?}: {}",
            stderr(&output)
        );
    }
    // No key at all, and an empty one, which is said as such.
    let mut command = env.command(&["whoami"]);
    command.env_remove("RUNFLOW_API_KEY");
    let output = run(command).await;
    assert_eq!(output.status.code(), Some(3), "{}", stderr(&output));
    let mut command = env.command(&["whoami"]);
    command.env("RUNFLOW_API_KEY", "");
    let output = run(command).await;
    assert_eq!(output.status.code(), Some(3), "{}", stderr(&output));
    assert!(
        stderr(&output).contains("RUNFLOW_API_KEY is set but empty"),
        "{}",
        stderr(&output)
    );
    assert_eq!(env.emu.upload_session_count(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn exit_4_when_runflow_cannot_be_reached() {
    let env = Env::new(|_| {}).await;
    let files = write_pngs(&env.home.path().join("a"), 1);
    // A port that is bound and never listens: every connection is refused.
    let closed = ports_support::RefusedPort::new();
    let base = closed.base_url();
    let started = Instant::now();
    let (upload, whoami) = tokio::join!(
        run({
            let mut c = env.command(&["upload", files[0].to_str().unwrap(), "--json"]);
            c.env("RUNFLOW_BASE_URL", &base);
            c
        }),
        run({
            let mut c = env.command(&["whoami"]);
            c.env("RUNFLOW_BASE_URL", &base);
            c
        }),
    );
    assert_eq!(upload.status.code(), Some(4), "{}", stderr(&upload));
    assert_eq!(whoami.status.code(), Some(4), "{}", stderr(&whoami));
    let lines = json_lines(&upload);
    assert_eq!(lines.len(), 1, "{lines:?}");
    assert_eq!(lines[0]["type"], "error");
    assert_eq!(lines[0]["reason"], "network");
    assert_eq!(lines[0]["exit_code"], 4);
    // The documented retries (5 tries, 1 s doubling) happen first, quietly.
    assert!(started.elapsed() > Duration::from_secs(5));
    assert!(
        !stderr(&whoami).contains("runflow_uploader::api"),
        "per-request retries are behind -v: {}",
        stderr(&whoami)
    );
}

#[cfg(unix)]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn exit_130_when_interrupted_and_the_rerun_counts_resumed_files_once() {
    const FILES: usize = 6;
    // A slow link: every file is still on its way when the interrupt comes.
    let env = Env::new(|c| c.put_bytes_per_sec = Some(2_000)).await;
    let dir = env.home.path().join("slow");
    let paths = write_pngs(&dir, FILES);
    for path in &paths {
        // 8 KiB each: several seconds per file at 2 kB/s.
        let mut bytes = std::fs::read(path).unwrap();
        bytes.resize(8 * 1024, b'x');
        std::fs::write(path, bytes).unwrap();
    }
    let dir_arg = dir.to_str().unwrap().to_owned();
    let child = env
        .command(&["upload", &dir_arg, "--json", "--concurrency", "2"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    while env.emu.upload_session_count() < 2 && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(env.emu.upload_session_count() >= 2, "uploads started");
    let status = std::process::Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let output = tokio::task::spawn_blocking(move || child.wait_with_output().unwrap())
        .await
        .unwrap();
    assert_eq!(output.status.code(), Some(130), "{}", stderr(&output));
    let lines = json_lines(&output);
    let summary = lines.last().unwrap();
    assert_eq!(summary["type"], "summary");
    assert_eq!(summary["interrupted"], true);
    assert_eq!(summary["exit_code"], 130);
    assert_eq!(summary["files"], FILES, "every file is counted: {lines:?}");
    let cancelled = summary["counts"]["cancelled"].as_u64().unwrap();
    assert!(cancelled > 0, "{summary}");
    let interrupted = lines
        .iter()
        .filter(|l| l["status"] == "cancelled" && l["reason"] == "interrupted")
        .count() as u64;
    assert_eq!(interrupted, cancelled, "{lines:?}");

    // The rerun finishes them: those the first run had started are `resumed`, none is also
    // `skipped`, and the counts add up to the files.
    let again = run(env.command(&["upload", &dir_arg, "--json"])).await;
    assert_eq!(again.status.code(), Some(0), "{}", stderr(&again));
    let lines = json_lines(&again);
    let summary = lines.last().unwrap();
    assert_eq!(summary["counts"]["skipped"], 0, "{lines:?}");
    assert!(
        summary["counts"]["resumed"].as_u64().unwrap() > 0,
        "{summary}"
    );
    let done = summary["counts"]["uploaded"].as_u64().unwrap()
        + summary["counts"]["resumed"].as_u64().unwrap()
        + summary["counts"]["already_uploaded"].as_u64().unwrap();
    assert_eq!(done, FILES as u64, "{summary}");
    assert_eq!(summary["files"], FILES);
    assert_eq!(env.emu.asset_count(), FILES);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_window_without_a_display_says_so_once() {
    let env = Env::new(|_| {}).await;
    let mut command = env.command(&[]);
    command
        .env_remove("DISPLAY")
        .env_remove("WAYLAND_DISPLAY")
        .env(
            "RUNFLOW_UPLOADER_INSTANCE_DIR",
            env.home.path().join("instance"),
        );
    let output = run(command).await;
    assert_eq!(output.status.code(), Some(1));
    assert_eq!(
        stderr(&output),
        "error: no display: run a subcommand (see --help) or start it from your desktop\n"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_empty_folder_says_nothing_was_found() {
    let env = Env::new(|_| {}).await;
    let empty = env.home.path().join("empty");
    std::fs::create_dir_all(&empty).unwrap();
    let output = run(env.command(&["upload", empty.to_str().unwrap()])).await;
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    assert!(
        stderr(&output).contains("nothing to upload: no files found in"),
        "{}",
        stderr(&output)
    );
}
