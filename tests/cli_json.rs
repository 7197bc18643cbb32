//! The `--json` contract of every subcommand (docs/cli-json.md), held to golden files in
//! `tests/golden/`. Ids, URLs, times, ports and temp paths are replaced by placeholders before
//! the comparison; `file` records are sorted by path (files end in any order).
//!
//! After an intended change of the output, `UPDATE_GOLDEN=1 cargo test --test cli_json`
//! rewrites the files; review the diff like code.

#[path = "support/cli.rs"]
mod cli_support;
mod support;

use std::path::{Path, PathBuf};

use cli_support::{Env, PNG_MAGIC, run, write_pngs};
use regex::Regex;
use serde_json::Value;

/// Replaces what differs between runs with placeholders.
fn normalize(value: &mut Value, home: &str) {
    let uuid = Regex::new(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}").unwrap();
    let time = Regex::new(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d").unwrap();
    match value {
        Value::String(text) => {
            if text.starts_with("http://") || text.starts_with("https://") {
                *text = "<url>".to_owned();
            } else if uuid.is_match(text) {
                *text = uuid.replace_all(text, "<uuid>").into_owned();
            } else if time.is_match(text) {
                *text = "<time>".to_owned();
            } else if text.contains(home) {
                *text = text.replace(home, "<home>");
            }
        }
        Value::Array(items) => items.iter_mut().for_each(|v| normalize(v, home)),
        Value::Object(map) => {
            for (key, v) in map.iter_mut() {
                // Prose may name ports and paths; its wording is not the contract (`reason` is),
                // but whether it is there is.
                if key == "error" && v.is_string() {
                    *v = Value::String("<prose>".to_owned());
                } else if key == "path_bytes" && v.is_string() {
                    // Base64 of a temp path: decode, normalise, keep it readable.
                    use base64::Engine as _;
                    let bytes = base64::engine::general_purpose::STANDARD
                        .decode(v.as_str().unwrap())
                        .unwrap();
                    let text = String::from_utf8_lossy(&bytes).replace(home, "<home>");
                    *v = Value::String(format!("<base64 of {text}>"));
                } else {
                    normalize(v, home);
                }
            }
        }
        _ => {}
    }
}

/// The normalised JSON lines of `stdout`, `file` records sorted by path.
fn records(stdout: &[u8], home: &Path) -> Vec<Value> {
    let home = home.to_str().unwrap();
    let mut lines: Vec<Value> = String::from_utf8_lossy(stdout)
        .lines()
        .map(|line| serde_json::from_str(line).unwrap_or_else(|e| panic!("{e}: {line}")))
        .collect();
    for line in &mut lines {
        assert_eq!(line["schema"], 1, "{line}");
        assert!(line["type"].is_string(), "{line}");
        normalize(line, home);
    }
    lines.sort_by_key(|l| {
        let rank = if l["type"] == "summary" { 1 } else { 0 };
        (rank, l["path"].as_str().unwrap_or("").to_owned())
    });
    lines
}

/// Compares `lines` with `tests/golden/<name>.jsonl` (or rewrites it with `UPDATE_GOLDEN=1`).
#[track_caller]
fn golden(name: &str, lines: &[Value]) {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/golden")
        .join(format!("{name}.jsonl"));
    let mut text = String::new();
    for line in lines {
        text.push_str(&serde_json::to_string(line).unwrap());
        text.push('\n');
    }
    if std::env::var_os("UPDATE_GOLDEN").is_some() {
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, &text).unwrap();
        return;
    }
    let expected = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("{}: {e} (UPDATE_GOLDEN=1 creates it)", path.display()));
    assert_eq!(
        text,
        expected,
        "{} differs (UPDATE_GOLDEN=1 rewrites it after an intended change)",
        path.display()
    );
}

#[cfg(unix)]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn upload_json_matches_the_golden_files() {
    use std::os::unix::ffi::OsStrExt as _;

    let env = Env::new(|_| {}).await;
    let home = env.home.path();
    let dir = home.join("drop");
    write_pngs(&dir, 2);
    std::fs::write(dir.join("empty.png"), b"").unwrap();
    std::fs::write(dir.join(".DS_Store"), b"junk").unwrap();
    std::fs::write(dir.join("random.png"), b"random bytes, named as a picture").unwrap();
    let big = std::fs::File::create(dir.join("big.png")).unwrap();
    big.set_len(52_428_801).unwrap();
    drop(big);
    let odd = dir.join(std::ffi::OsStr::from_bytes(b"caf\xe9.png"));
    std::fs::write(&odd, PNG_MAGIC).unwrap();
    let dir_arg = dir.to_str().unwrap();

    let first = run(env.command(&["upload", dir_arg, "--json"])).await;
    assert_eq!(first.status.code(), Some(1));
    golden("upload_first", &records(&first.stdout, home));

    // Again: the two good files are there; their URLs come from a GET.
    std::fs::remove_file(dir.join("empty.png")).unwrap();
    std::fs::remove_file(dir.join("big.png")).unwrap();
    std::fs::remove_file(dir.join("random.png")).unwrap();
    std::fs::remove_file(&odd).unwrap();
    let again = run(env.command(&["upload", dir_arg, "--json"])).await;
    assert_eq!(again.status.code(), Some(0));
    let lines = records(&again.stdout, home);
    for line in lines
        .iter()
        .filter(|l| l["type"] == "file" && l["status"] != "skipped")
    {
        assert_eq!(line["status"], "already_uploaded", "{line}");
        assert_eq!(
            line["url"], "<url>",
            "already uploaded files have a URL: {line}"
        );
    }
    golden("upload_again", &lines);

    // Asked for a folder, the same content is already elsewhere.
    let folder = support::client(&env.emu)
        .create_folder("Spring", None)
        .await
        .unwrap()
        .id
        .unwrap();
    let one = dir.join("img-000.png");
    let elsewhere = run(env.command(&[
        "upload",
        one.to_str().unwrap(),
        "--folder",
        &folder,
        "--json",
    ]))
    .await;
    assert_eq!(elsewhere.status.code(), Some(1));
    golden("upload_in_other_folder", &records(&elsewhere.stdout, home));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn assets_folders_and_account_json_match_the_golden_files() {
    let env = Env::new(|_| {}).await;
    let home = env.home.path();
    let dir = home.join("one");
    let files = write_pngs(&dir, 1);
    let uploaded = run(env.command(&["upload", files[0].to_str().unwrap(), "--json"])).await;
    assert_eq!(uploaded.status.code(), Some(0));
    let id = cli_support::json_lines(&uploaded)[0]["asset_id"]
        .as_str()
        .unwrap()
        .to_owned();

    let mut all = Vec::new();
    let mut step = |name: &str, output: std::process::Output, code: i32| {
        assert_eq!(
            output.status.code(),
            Some(code),
            "{name}: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        all.push(Value::String(format!("# {name}")));
        all.extend(records(&output.stdout, home));
    };
    step(
        "assets list",
        run(env.command(&["assets", "list", "--json"])).await,
        0,
    );
    step(
        "assets get",
        run(env.command(&["assets", "get", &id, "--json"])).await,
        0,
    );
    let created = run(env.command(&["folders", "create", "Spring", "--json"])).await;
    let folder = serde_json::from_slice::<Value>(&created.stdout).unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    step("folders create", created, 0);
    step(
        "folders rename",
        run(env.command(&["folders", "rename", &folder, "Summer", "--json"])).await,
        0,
    );
    step(
        "folders list",
        run(env.command(&["folders", "list", "--json"])).await,
        0,
    );
    step(
        "folders delete",
        run(env.command(&["folders", "delete", &folder, "--json"])).await,
        0,
    );
    step(
        "assets delete (one twice, one unknown)",
        run(env.command(&[
            "assets",
            "delete",
            &id,
            &id,
            "00000000-0000-4000-8000-000000000000",
            "--json",
        ]))
        .await,
        1,
    );
    step("whoami", run(env.command(&["whoami", "--json"])).await, 0);
    step("logout", run(env.command(&["logout", "--json"])).await, 0);
    let mut bad_key = env.command(&["assets", "list", "--json"]);
    bad_key.env("RUNFLOW_API_KEY", "rf_live_not_a_real_key");
    step("error (rejected key)", run(bad_key).await, 3);
    step(
        "error (unknown folder)",
        run(env.command(&["assets", "list", "--folder", "no-such-folder", "--json"])).await,
        2,
    );
    golden("other_commands", &all);
}
