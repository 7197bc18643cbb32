//! `runflow-uploader upload` as a user runs it: JSON output, exit codes, per-file reasons, and a
//! process killed mid-batch that finishes on the next run with exactly one asset per file.

#[path = "support/cli.rs"]
mod cli_support;
#[path = "support/journal.rs"]
mod journal_support;
mod support;

use cli_support::{Env, PNG_MAGIC, json_lines, run, write_pngs};
use journal_support::journal_entries;

use std::collections::HashSet;
use std::process::Stdio;
use std::time::{Duration, Instant};

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
