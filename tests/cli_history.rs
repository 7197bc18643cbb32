//! `history`: what `upload` sent is listed newest first, as a table, JSON lines or CSV, found by
//! name and date, offline; and an upload of content recorded in the history is skipped.

#[path = "support/cli.rs"]
mod cli_support;
mod support;

use cli_support::{Env, json_lines, run, write_pngs};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn uploads_are_listed_searched_and_exported_offline() {
    let env = Env::new(|_| {}).await;
    let dir = env.home.path().join("shots");
    let files = write_pngs(&dir, 3);
    let dir_arg = dir.to_str().unwrap();
    let uploaded = run(env.command(&["upload", dir_arg, "--json"])).await;
    assert_eq!(uploaded.status.code(), Some(0));
    let asset_of: std::collections::HashMap<String, String> = json_lines(&uploaded)
        .iter()
        .filter(|line| line["type"] == "file")
        .map(|line| {
            (
                line["path"].as_str().unwrap().to_owned(),
                line["asset_id"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    assert_eq!(asset_of.len(), 3);

    // Offline: the history is local, no key needed.
    let history = |args: &[&str]| {
        let mut command = env.command(&[&["history"], args].concat());
        command.env_remove("RUNFLOW_API_KEY");
        command
    };
    let listed = run(history(&["--json"])).await;
    assert_eq!(listed.status.code(), Some(0));
    let rows = json_lines(&listed);
    assert_eq!(rows.len(), 3);
    let server = env.emu.api_base().trim_end_matches('/').to_owned();
    for row in &rows {
        assert_eq!(row["schema"], 1);
        assert_eq!(row["type"], "upload");
        assert_eq!(row["source"], "cli");
        assert_eq!(row["server"], server.as_str());
        assert_eq!(
            row["asset_id"].as_str(),
            asset_of
                .get(row["path"].as_str().unwrap())
                .map(String::as_str),
            "{row}"
        );
        assert_eq!(row["hash"].as_str().unwrap().len(), 64);
        assert!(row["size_bytes"].as_u64().unwrap() > 0);
        assert!(row["uploaded_at"].as_str().unwrap().ends_with('Z'));
    }

    // Each row names the asset Runflow has for the file.
    let client = support::client(&env.emu);
    for row in &rows {
        let asset = client
            .asset(row["asset_id"].as_str().unwrap())
            .await
            .unwrap();
        assert_eq!(asset.name.as_deref(), row["name"].as_str());
    }

    // One run is one batch, found by its id.
    let batch = rows[0]["batch"].as_str().unwrap().to_owned();
    assert!(rows.iter().all(|row| row["batch"] == batch.as_str()));
    let of_batch = json_lines(&run(history(&["--json", "--batch", &batch])).await);
    assert_eq!(of_batch.len(), 3);
    assert!(json_lines(&run(history(&["--json", "--batch", "other"])).await).is_empty());

    // By name, any case, and by date.
    let name = files[1].file_name().unwrap().to_str().unwrap();
    let found = json_lines(&run(history(&["--json", "--search", &name.to_uppercase()])).await);
    assert_eq!(found.len(), 1);
    assert_eq!(found[0]["name"], name);
    let future = run(history(&["--since", "2999-01-01"])).await;
    assert_eq!(future.status.code(), Some(0));
    assert!(String::from_utf8_lossy(&future.stdout).contains("No uploads recorded"));
    let bad = run(history(&["--since", "yesterday"])).await;
    assert_eq!(bad.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&bad.stderr).contains("2026-12-01"));

    // The receipt: CSV with a header row, one row per upload.
    let csv = run(history(&["--csv"])).await;
    let csv = String::from_utf8(csv.stdout).unwrap();
    let mut lines = csv.lines();
    assert!(
        lines
            .next()
            .unwrap()
            .starts_with("uploaded_at,path,name,size_bytes,hash,asset_id")
    );
    assert_eq!(lines.count(), 3);
    for (path, asset) in &asset_of {
        assert!(
            csv.contains(&format!("{path},")) && csv.contains(asset.as_str()),
            "{csv}"
        );
    }

    // The table for people.
    let table = String::from_utf8(run(history(&[])).await.stdout).unwrap();
    assert!(table.starts_with("UPLOADED"), "{table}");
    assert!(
        table.contains("command line") && table.contains("3 uploads."),
        "{table}"
    );

    // The duplicate index lives in the same database: the same files again upload nothing.
    let again = run(env.command(&["upload", dir_arg, "--json"])).await;
    assert_eq!(again.status.code(), Some(0));
    assert!(
        json_lines(&again)
            .iter()
            .filter(|line| line["type"] == "file")
            .all(|line| line["status"] == "already_uploaded")
    );
    assert_eq!(json_lines(&run(history(&["--json"])).await).len(), 3);
    assert!(env.home.path().join("data/history.sqlite3").exists());
}
