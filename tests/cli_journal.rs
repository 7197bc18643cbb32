//! `journal list|discard`: the unfinished uploads a killed run left, with their server and
//! account, shown, forgotten one by one or all; and journal files only their owner can read.

#[path = "support/cli.rs"]
mod cli_support;
mod support;

use std::process::Stdio;
use std::time::{Duration, Instant};

use cli_support::{Env, json_lines, run, write_pngs};

/// Starts an upload of `files` PNGs and kills it (SIGKILL) once `assets` are on the server.
async fn killed_batch(env: &Env, files: usize, assets: usize) -> String {
    let dir = env.home.path().join("batch");
    write_pngs(&dir, files);
    let dir_arg = dir.to_str().unwrap().to_owned();
    let mut child = env
        .command(&["upload", &dir_arg, "--concurrency", "2"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    while env.emu.asset_count() < assets && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    child.kill().unwrap();
    child.wait().unwrap();
    dir_arg
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unfinished_uploads_are_listed_with_their_account_and_can_be_discarded() {
    const FILES: usize = 12;
    let env = Env::new(|c| c.latency_ms = 25).await;
    let dir = killed_batch(&env, FILES, 2).await;
    assert!(env.emu.asset_count() < FILES, "killed before the end");

    // Offline: the journal is local, no key needed.
    let mut list = env.command(&["journal", "list", "--json"]);
    list.env_remove("RUNFLOW_API_KEY");
    let output = run(list).await;
    assert_eq!(output.status.code(), Some(0));
    let entries = json_lines(&output);
    assert!(
        !entries.is_empty(),
        "the killed run left unfinished uploads"
    );
    for entry in &entries {
        assert_eq!(entry["schema"], 1);
        assert_eq!(entry["type"], "journal_entry");
        assert_eq!(entry["server"], env.emu.api_base().trim_end_matches('/'));
        assert!(entry["account"].as_str().unwrap().contains('@'), "{entry}");
        assert!(entry["path"].as_str().unwrap().starts_with(&dir), "{entry}");
        assert!(
            ["pending", "session", "uploaded"].contains(&entry["step"].as_str().unwrap()),
            "{entry}"
        );
    }
    let table = run(env.command(&["journal", "list"])).await;
    let text = String::from_utf8_lossy(&table.stdout);
    assert!(text.starts_with("ID "), "{text}");
    assert!(
        text.contains(&env.emu.api_base().trim_end_matches('/').to_string()),
        "{text}"
    );
    assert!(text.contains("journal discard"), "{text}");

    // Journal files hold presigned links: only their owner may read them.
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        let mut checked = 0;
        let root = env.home.path().join("data/journal");
        for account in std::fs::read_dir(&root).unwrap().filter_map(Result::ok) {
            for process in std::fs::read_dir(account.path())
                .into_iter()
                .flatten()
                .flatten()
            {
                for file in std::fs::read_dir(process.path())
                    .into_iter()
                    .flatten()
                    .flatten()
                {
                    if file.path().extension().is_some_and(|e| e == "log") {
                        let mode = file.metadata().unwrap().permissions().mode();
                        assert_eq!(mode & 0o777, 0o600, "{}", file.path().display());
                        checked += 1;
                    }
                }
            }
        }
        assert!(checked > 0);
    }

    // One by one, by id; an unknown id is a usage error.
    let first = entries[0]["id"].as_str().unwrap().to_owned();
    let output = run(env.command(&["journal", "discard", &first])).await;
    assert_eq!(
        output.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let after = json_lines(&run(env.command(&["journal", "list", "--json"])).await);
    assert_eq!(after.len(), entries.len() - 1);
    assert!(after.iter().all(|e| e["id"] != first.as_str()));
    let output = run(env.command(&["journal", "discard", &first])).await;
    assert_eq!(output.status.code(), Some(2));

    // All of them: the next upload resumes nothing and uploads the rest afresh.
    let output = run(env.command(&["journal", "discard", "--all"])).await;
    assert_eq!(output.status.code(), Some(0));
    let output = run(env.command(&["journal", "list"])).await;
    assert_eq!(
        String::from_utf8_lossy(&output.stdout).trim(),
        "No unfinished uploads."
    );
    let again = run(env.command(&["upload", &dir, "--json"])).await;
    let lines = json_lines(&again);
    let assets = support::client(&env.emu)
        .list_assets(&runflow_uploader::api::ListQuery {
            limit: Some(500),
            ..Default::default()
        })
        .await
        .unwrap();
    assert!(assets.items.len() >= FILES, "every file is on Runflow");
    let summary = lines.last().unwrap();
    assert_eq!(summary["counts"]["resumed"], 0, "{summary}");
    assert_eq!(summary["files"], FILES, "{summary}");
}
