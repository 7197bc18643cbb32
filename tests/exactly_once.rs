//! Exactly one asset per file, through the CLI, in the ways real use breaks it: killed runs
//! resumed on another account, processes racing over one journal or one batch, identical
//! content, content already in another folder.

#[path = "support/assets.rs"]
mod assets_support;
#[path = "support/cli.rs"]
mod cli_support;
#[path = "support/journal.rs"]
mod journal_support;
mod support;

use assets_support::all_asset_names;
use cli_support::{Env, PNG_MAGIC, json_lines, run, write_pngs};
use journal_support::journal_entries;

use std::collections::HashSet;
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

use runflow_uploader::api::ListQuery;

fn assert_one_each(names: &[String], expected: usize) {
    let unique: HashSet<&String> = names.iter().collect();
    assert_eq!(unique.len(), names.len(), "duplicates: {names:?}");
    assert_eq!(names.len(), expected, "{names:?}");
}

/// Waits for a spawned CLI run and asserts it exited 0.
async fn wait_ok(child: Child) {
    let output = tokio::task::spawn_blocking(move || child.wait_with_output().unwrap())
        .await
        .unwrap();
    assert_eq!(
        output.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
}

/// Kills an upload (-9) once `assets` assets exist on `env`'s emulator, and waits for the
/// requests it had sent to settle.
async fn kill_after(env: &Env, child: &mut Child, assets: usize) {
    let deadline = Instant::now() + Duration::from_secs(60);
    while env.emu.asset_count() < assets && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    child.kill().unwrap();
    child.wait().unwrap();
    // A request the emulator took before the kill still finishes there (a confirm with its
    // 25 ms latency): the count is read once it has settled.
    let mut seen = env.emu.asset_count();
    loop {
        tokio::time::sleep(Duration::from_millis(300)).await;
        let now = env.emu.asset_count();
        if now == seen {
            break;
        }
        seen = now;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unfinished_uploads_wait_for_their_own_account_and_finish_there_once() {
    const FILES: usize = 30;
    let env = Env::new(|c| c.latency_ms = 25).await;
    let other = support::emulator(|_| {}).await;
    let batch = env.home.path().join("batch");
    write_pngs(&batch, FILES);
    let batch_arg = batch.to_str().unwrap().to_owned();

    let mut child = env
        .command(&["upload", &batch_arg, "--concurrency", "4"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    kill_after(&env, &mut child, 5).await;
    let first_run = env.emu.asset_count();
    assert!(first_run < FILES, "killed before the end");
    assert!(journal_entries(&env.home.path().join("data/journal")) > 0);

    // Another server, another key, unrelated files: none of the first run's files go there.
    let unrelated = env.home.path().join("unrelated");
    std::fs::create_dir_all(&unrelated).unwrap();
    let mut bytes = PNG_MAGIC.to_vec();
    bytes.extend_from_slice(b"something else entirely");
    std::fs::write(unrelated.join("other.png"), bytes).unwrap();
    let output = run({
        let mut c = env.command(&["upload", unrelated.to_str().unwrap()]);
        c.env("RUNFLOW_API_KEY", &other.api_keys()[0])
            .env("RUNFLOW_BASE_URL", other.api_base());
        c
    })
    .await;
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(0), "{stderr}");
    assert!(
        stderr.contains("belong to another account"),
        "the waiting uploads are mentioned: {stderr}"
    );
    assert_eq!(
        all_asset_names(&support::client(&other)).await,
        vec!["other.png".to_owned()]
    );
    assert_eq!(
        env.emu.asset_count(),
        first_run,
        "the first server was not touched"
    );

    // Back on the first account: everything finishes, once.
    let output = run(env.command(&["upload", &batch_arg])).await;
    assert_eq!(
        output.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert_one_each(&all_asset_names(&support::client(&env.emu)).await, FILES);
    assert_eq!(journal_entries(&env.home.path().join("data/journal")), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_processes_started_at_once_over_one_dead_journal_finish_each_file_once() {
    const FILES: usize = 30;
    let env = Env::new(|c| c.latency_ms = 25).await;
    let batch = env.home.path().join("batch");
    write_pngs(&batch, FILES);
    let mut child = env
        .command(&["upload", batch.to_str().unwrap(), "--concurrency", "4"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    kill_after(&env, &mut child, 4).await;

    // Three runs at once, each with a file of its own; between them they adopt the dead run's
    // journal exactly once.
    let mut children = Vec::new();
    for i in 0..3 {
        let own = env.home.path().join(format!("own-{i}"));
        std::fs::create_dir_all(&own).unwrap();
        let mut bytes = PNG_MAGIC.to_vec();
        bytes.extend_from_slice(format!("own file {i}").as_bytes());
        std::fs::write(own.join(format!("own-{i}.png")), bytes).unwrap();
        children.push(
            env.command(&["upload", own.to_str().unwrap()])
                .stdout(Stdio::null())
                .stderr(Stdio::piped())
                .spawn()
                .unwrap(),
        );
    }
    for child in children {
        wait_ok(child).await;
    }
    assert_one_each(
        &all_asset_names(&support::client(&env.emu)).await,
        FILES + 3,
    );
    assert_eq!(journal_entries(&env.home.path().join("data/journal")), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_runs_at_once_over_the_same_files_make_one_asset_per_file() {
    const FILES: usize = 32;
    let env = Env::new(|c| c.latency_ms = 10).await;
    let batch = env.home.path().join("batch");
    write_pngs(&batch, FILES);
    let arg = batch.to_str().unwrap().to_owned();
    let spawn = || {
        env.command(&["upload", &arg, "--json"])
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap()
    };
    let (a, b) = (spawn(), spawn());
    for child in [a, b] {
        wait_ok(child).await;
    }
    assert_one_each(&all_asset_names(&support::client(&env.emu)).await, FILES);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn identical_content_at_the_default_concurrency_is_one_asset() {
    let env = Env::new(|_| {}).await;
    let dir = env.home.path().join("copies");
    std::fs::create_dir_all(&dir).unwrap();
    let mut bytes = PNG_MAGIC.to_vec();
    bytes.extend_from_slice(b"the same picture three times");
    for name in ["a.png", "b.png", "c.png"] {
        std::fs::write(dir.join(name), &bytes).unwrap();
    }
    let output = run(env.command(&["upload", dir.to_str().unwrap(), "--json"])).await;
    let lines = json_lines(&output);
    assert_eq!(output.status.code(), Some(0), "{lines:?}");
    assert_eq!(env.emu.asset_count(), 1);
    let statuses: Vec<&str> = lines.iter().filter_map(|l| l["status"].as_str()).collect();
    assert_eq!(statuses.iter().filter(|s| **s == "uploaded").count(), 1);
    assert_eq!(
        statuses
            .iter()
            .filter(|s| **s == "already_uploaded")
            .count(),
        2,
        "{lines:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn content_in_another_folder_is_reported_there_and_force_uploads_a_copy() {
    let env = Env::new(|_| {}).await;
    let client = support::client(&env.emu);
    let spring = client.create_folder("Spring 2026", None).await.unwrap();
    let summer = client.create_folder("Summer 2026", None).await.unwrap();
    let (spring, summer) = (spring.id.unwrap(), summer.id.unwrap());
    let dir = env.home.path().join("pics");
    write_pngs(&dir, 1);
    let file = dir.join("img-000.png");
    let file = file.to_str().unwrap();

    let first = run(env.command(&["upload", file, "--folder", &spring])).await;
    assert_eq!(first.status.code(), Some(0));

    let again = run(env.command(&["upload", file, "--folder", &summer, "--json"])).await;
    let lines = json_lines(&again);
    assert_eq!(again.status.code(), Some(1), "not a success: {lines:?}");
    let line = &lines[0];
    assert_eq!(line["status"], "in_other_folder", "{line}");
    let error = line["error"].as_str().unwrap();
    assert!(error.contains("Spring 2026"), "{error}");
    assert!(error.contains("--force"), "{error}");
    assert_eq!(env.emu.asset_count(), 1);

    let forced = run(env.command(&["upload", file, "--folder", &summer, "--force"])).await;
    assert_eq!(forced.status.code(), Some(0));
    assert_eq!(env.emu.asset_count(), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_file_named_many_ways_or_inside_overlapping_folders_is_one_asset() {
    let env = Env::new(|_| {}).await;
    let home = env.home.path();
    let pictures = home.join("Pictures");
    write_pngs(&pictures.join("2024"), 3);
    std::fs::create_dir_all(home.join("x")).unwrap();
    let mut bytes = PNG_MAGIC.to_vec();
    bytes.extend_from_slice(b"a file given four ways");
    std::fs::write(home.join("a.png"), bytes).unwrap();
    let absolute = home.join("a.png");
    let output = run({
        let mut c = env.command(&[
            "upload",
            "Pictures",
            "Pictures/2024",
            "a.png",
            "./a.png",
            "x/../a.png",
            absolute.to_str().unwrap(),
            "--json",
        ]);
        c.current_dir(home);
        c
    })
    .await;
    let lines = json_lines(&output);
    assert_eq!(output.status.code(), Some(0), "{lines:?}");
    assert_eq!(env.emu.asset_count(), 4, "{lines:?}");
    let reported = lines.iter().filter(|l| l["status"] == "uploaded").count();
    assert_eq!(reported, 4, "each file is reported once: {lines:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_resume_from_another_directory_finishes_the_files_it_was_given() {
    const FILES: usize = 20;
    let env = Env::new(|c| c.latency_ms = 25).await;
    let (one, two) = (env.home.path().join("one"), env.home.path().join("two"));
    write_pngs(&one.join("batch"), FILES);
    // The same names under another directory, with other content.
    std::fs::create_dir_all(two.join("batch")).unwrap();
    for i in 0..FILES {
        let mut bytes = PNG_MAGIC.to_vec();
        bytes.extend_from_slice(format!("another, longer body for number {i}").as_bytes());
        std::fs::write(two.join(format!("batch/img-{i:03}.png")), bytes).unwrap();
    }
    let mut child = env
        .command(&["upload", "batch", "--concurrency", "2"])
        .current_dir(&one)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    kill_after(&env, &mut child, 3).await;

    let output = run({
        let mut c = env.command(&["upload", "batch"]);
        c.current_dir(&two);
        c
    })
    .await;
    assert_eq!(
        output.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    // Every file of both directories, each once: the resumed ones from `one`, not `two`.
    let page = support::client(&env.emu)
        .list_assets(&ListQuery {
            limit: Some(500),
            ..ListQuery::default()
        })
        .await
        .unwrap();
    let mut sizes: Vec<(String, u64)> = page
        .items
        .iter()
        .map(|a| (a.name.clone().unwrap(), a.size_bytes.unwrap()))
        .collect();
    sizes.sort();
    let before = sizes.len();
    sizes.dedup();
    assert_eq!(before, sizes.len(), "no file uploaded twice");
    assert_eq!(sizes.len(), 2 * FILES, "{sizes:?}");
}

#[cfg(unix)]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_walk_never_leaves_the_folder_it_was_given() {
    let env = Env::new(|_| {}).await;
    let home = env.home.path();
    write_pngs(&home.join("outside"), 2);
    let chosen = home.join("chosen");
    std::fs::create_dir_all(&chosen).unwrap();
    let mut bytes = PNG_MAGIC.to_vec();
    bytes.extend_from_slice(b"the one file of the chosen folder");
    std::fs::write(chosen.join("mine.png"), bytes).unwrap();
    std::os::unix::fs::symlink(home, chosen.join("up")).unwrap();
    std::os::unix::fs::symlink(home.join("outside"), chosen.join("elsewhere")).unwrap();
    let output = run(env.command(&["upload", chosen.to_str().unwrap(), "--json"])).await;
    let lines = json_lines(&output);
    assert_eq!(output.status.code(), Some(0), "{lines:?}");
    assert_eq!(
        env.emu.asset_count(),
        1,
        "only the chosen folder's file: {lines:?}"
    );
    let skipped: Vec<&serde_json::Value> =
        lines.iter().filter(|l| l["status"] == "skipped").collect();
    assert!(
        skipped.iter().any(|l| l["error"]
            .as_str()
            .is_some_and(|e| e.contains("outside the folder"))),
        "{skipped:?}"
    );

    // Asked to follow, the outside folder's files come too.
    let followed = run(env.command(&[
        "upload",
        chosen.to_str().unwrap(),
        "--follow-links",
        "--json",
    ]))
    .await;
    assert_eq!(followed.status.code(), Some(0));
    assert_eq!(env.emu.asset_count(), 3);
}
