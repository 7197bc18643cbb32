//! The real binary against an in-process emulator: `login`, `logout`, `whoami`, `folders` and
//! `assets`, their messages, exit codes and `--json` output.
//!
//! Each run gets a cleared environment, temporary config/data dirs and
//! `RUNFLOW_UPLOADER_KEYRING=memory`, so nothing depends on (or touches) the machine's keyring;
//! one test exercises the real OS keyring through the CLI when it is reachable (and must, with
//! `RUNFLOW_REQUIRE_REAL_KEYRING=1`).

use std::path::Path;
use std::process::{Output, Stdio};
use std::time::{Duration, Instant};

use bytes::Bytes;
use runflow_uploader::api::models::CreateUploadRequest;
use runflow_uploader::api::{ApiKey, ClientConfig, RetryPolicy, RunflowClient, UploadSource};
use runflow_uploader::auth::{BackendChoice, KeyStore};
use runflow_uploader::emulator::{EmulatorConfig, RunningEmulator, USER_EMAIL};
use serde_json::Value;
use tokio::io::AsyncWriteExt as _;

const KEY: &str = "rf_test_cli_account_key";
const WRONG_KEY: &str = "rf_test_wrong_secret_value";
const BIN: &str = env!("CARGO_BIN_EXE_runflow-uploader");

/// An emulator plus temporary app dirs.
struct Harness {
    emulator: RunningEmulator,
    dirs: tempfile::TempDir,
}

/// What a run of the binary did.
struct Run {
    code: Option<i32>,
    stdout: String,
    stderr: String,
}

impl Run {
    fn from(output: Output) -> Self {
        Self {
            code: output.status.code(),
            stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
        }
    }

    #[track_caller]
    fn ok(self) -> Self {
        assert_eq!(
            self.code,
            Some(0),
            "expected success\nstdout:\n{}\nstderr:\n{}",
            self.stdout,
            self.stderr
        );
        self
    }

    /// Asserts the exit code (the README's table: 1 failed, 2 usage, 3 key, 4 unreachable).
    #[track_caller]
    fn exits(self, code: i32) -> Self {
        assert_eq!(
            self.code,
            Some(code),
            "expected exit code {code}\nstdout:\n{}\nstderr:\n{}",
            self.stdout,
            self.stderr
        );
        self
    }

    fn json_lines(&self) -> Vec<Value> {
        self.stdout
            .lines()
            .map(|line| serde_json::from_str(line).unwrap_or_else(|e| panic!("{e}: {line}")))
            .collect()
    }
}

impl Harness {
    async fn start() -> Self {
        let emulator = RunningEmulator::start(EmulatorConfig {
            api_keys: vec![KEY.to_owned()],
            ..EmulatorConfig::default()
        })
        .await
        .expect("the emulator starts");
        Self {
            emulator,
            dirs: tempfile::tempdir().expect("a temp dir"),
        }
    }

    fn config_dir(&self) -> std::path::PathBuf {
        self.dirs.path().join("config")
    }

    /// The binary with a clean environment pointed at the emulator; `key` becomes
    /// `RUNFLOW_API_KEY` when given.
    fn command(&self, key: Option<&str>) -> tokio::process::Command {
        let mut command = tokio::process::Command::new(BIN);
        command
            .env_clear()
            .env("RUNFLOW_BASE_URL", self.emulator.api_base())
            .env("RUNFLOW_UPLOADER_CONFIG_DIR", self.config_dir())
            .env("RUNFLOW_UPLOADER_DATA_DIR", self.dirs.path().join("data"))
            .env("RUNFLOW_UPLOADER_CACHE_DIR", self.dirs.path().join("cache"))
            .env("RUNFLOW_UPLOADER_STATE_DIR", self.dirs.path().join("state"))
            .env("RUNFLOW_UPLOADER_KEYRING", "memory")
            .stdin(Stdio::null())
            .kill_on_drop(true);
        if let Some(key) = key {
            command.env("RUNFLOW_API_KEY", key);
        }
        command
    }

    async fn run(&self, key: Option<&str>, args: &[&str]) -> Run {
        exec(self.command(key), args, None).await
    }

    fn client(&self) -> RunflowClient {
        RunflowClient::new(
            ApiKey::new(KEY).expect("a key"),
            ClientConfig {
                base_url: self.emulator.api_base(),
                retry: RetryPolicy::NEVER,
                ..ClientConfig::default()
            },
        )
        .expect("a client")
    }

    /// Uploads a small PNG with the three API calls and returns the asset id.
    async fn upload_png(&self, name: &str, folder: Option<&str>) -> String {
        let client = self.client();
        let bytes = png_bytes();
        let size = bytes.len() as u64;
        let session = client
            .create_upload(&CreateUploadRequest {
                filename: name.to_owned(),
                mime_type: "image/png".to_owned(),
                size_bytes: size,
            })
            .await
            .expect("create upload");
        client
            .put_upload(
                &session.upload_url,
                "image/png",
                size,
                &UploadSource::Bytes(Bytes::from(bytes)),
                None,
            )
            .await
            .expect("put upload");
        let asset = client
            .confirm_upload(&session.asset_id, folder)
            .await
            .expect("confirm upload");
        asset.id.expect("an asset id")
    }
}

async fn exec(mut command: tokio::process::Command, args: &[&str], stdin: Option<&str>) -> Run {
    command
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    if stdin.is_some() {
        command.stdin(Stdio::piped());
    }
    let mut child = command.spawn().expect("the binary starts");
    if let Some(input) = stdin {
        let mut pipe = child.stdin.take().expect("a stdin pipe");
        pipe.write_all(input.as_bytes()).await.expect("write stdin");
        drop(pipe);
    }
    let output = tokio::time::timeout(Duration::from_secs(60), child.wait_with_output())
        .await
        .expect("the binary finishes within a minute")
        .expect("the binary's output");
    Run::from(output)
}

fn png_bytes() -> Vec<u8> {
    let image = image::RgbImage::from_fn(4, 3, |x, y| image::Rgb([x as u8 * 60, y as u8 * 80, 90]));
    let mut out = std::io::Cursor::new(Vec::new());
    image
        .write_to(&mut out, image::ImageFormat::Png)
        .expect("encode a png");
    out.into_inner()
}

fn ids(lines: &[Value]) -> Vec<String> {
    lines
        .iter()
        .map(|v| v["id"].as_str().expect("each object has an id").to_owned())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn whoami_shows_the_account_and_where_key_and_url_came_from() {
    let h = Harness::start().await;
    let run = h.run(Some(KEY), &["whoami"]).await.ok();
    assert!(run.stdout.contains(USER_EMAIL), "{}", run.stdout);
    assert!(run.stdout.contains("Demo User"), "{}", run.stdout);
    assert!(run.stdout.contains("Runflow Emulator"), "{}", run.stdout);
    assert!(run.stdout.contains("RUNFLOW_API_KEY"), "{}", run.stdout);
    assert!(
        run.stdout.contains(&h.emulator.api_base()),
        "{}",
        run.stdout
    );
    assert!(run.stdout.contains("RUNFLOW_BASE_URL"), "{}", run.stdout);
    assert!(!run.stdout.contains(KEY), "the key is never printed");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wrong_key_fails_with_what_to_do_and_without_echoing_the_key() {
    let h = Harness::start().await;
    let run = h.run(Some(WRONG_KEY), &["whoami"]).await.exits(3);
    assert!(run.stderr.starts_with("error: "), "{}", run.stderr);
    assert!(run.stderr.contains("API key"), "{}", run.stderr);
    assert!(run.stderr.contains("rejected"), "{}", run.stderr);
    assert!(run.stderr.contains("RUNFLOW_API_KEY"), "{}", run.stderr);
    assert!(run.stderr.contains("Settings > API Keys"), "{}", run.stderr);
    assert!(!run.stderr.contains(WRONG_KEY), "{}", run.stderr);

    // Other commands explain a rejected key the same way.
    let run = h.run(Some(WRONG_KEY), &["assets", "list"]).await.exits(3);
    assert!(
        run.stderr.contains("could not list assets"),
        "{}",
        run.stderr
    );
    assert!(run.stderr.contains("rejected"), "{}", run.stderr);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_key_at_all_says_to_log_in() {
    let h = Harness::start().await;
    for args in [&["whoami"][..], &["folders", "list"], &["assets", "list"]] {
        let run = h.run(None, args).await.exits(3);
        assert!(run.stderr.contains("no API key found"), "{}", run.stderr);
        assert!(
            run.stderr.contains("runflow-uploader login"),
            "{}",
            run.stderr
        );
        assert!(run.stderr.contains("RUNFLOW_API_KEY"), "{}", run.stderr);
        assert!(run.stderr.contains("Settings > API Keys"), "{}", run.stderr);
    }
    // A blank RUNFLOW_API_KEY counts as unset.
    let run = h.run(Some("  "), &["whoami"]).await.exits(3);
    assert!(
        run.stderr.contains("runflow-uploader login"),
        "{}",
        run.stderr
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn login_checks_the_key_before_storing_it() {
    let h = Harness::start().await;

    let run = exec(
        h.command(None),
        &["login", "--key-stdin"],
        Some(&format!("{WRONG_KEY}\n")),
    )
    .await
    .exits(3);
    assert!(run.stderr.contains("nothing was stored"), "{}", run.stderr);
    assert!(run.stderr.contains("Settings > API Keys"), "{}", run.stderr);
    assert!(!run.stderr.contains(WRONG_KEY), "{}", run.stderr);

    // Stdin that is not a terminal is read even without --key-stdin. Without an OS keyring
    // the key cannot be kept for the next command: `login` says so and fails, so that
    // `login && upload` does not go on as if it had worked.
    let run = exec(h.command(None), &["login"], Some(&format!("\n  {KEY}  \n")))
        .await
        .exits(1);
    assert!(
        run.stderr.contains(&format!(
            "Runflow accepted the key for {USER_EMAIL}, but it was not stored"
        )),
        "{}",
        run.stderr
    );
    assert!(run.stderr.contains("RUNFLOW_API_KEY"), "{}", run.stderr);
    assert!(!run.stdout.contains("in-memory"), "{}", run.stdout);
    assert!(!run.stdout.contains(KEY) && !run.stderr.contains(KEY));

    let run = exec(h.command(None), &["login", "--key-stdin"], Some("\n"))
        .await
        .exits(1);
    assert!(
        run.stderr.contains("no API key was given"),
        "{}",
        run.stderr
    );

    let run = h.run(None, &["logout"]).await.ok();
    assert!(run.stdout.contains("nothing to remove"), "{}", run.stdout);
    let run = h.run(Some(KEY), &["logout"]).await.ok();
    assert!(
        run.stderr.contains("RUNFLOW_API_KEY is still set"),
        "{}",
        run.stderr
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn folders_create_list_rename_delete() {
    let h = Harness::start().await;
    let created = h
        .run(Some(KEY), &["folders", "create", "Campaign", "--json"])
        .await
        .ok();
    let parent = created.json_lines()[0]["id"].as_str().unwrap().to_owned();
    let run = h
        .run(
            Some(KEY),
            &["folders", "create", "Shots", "--parent", &parent],
        )
        .await
        .ok();
    assert!(
        run.stdout.starts_with("Created folder \"Shots\" with id "),
        "{}",
        run.stdout
    );
    let child = run.stdout.trim().rsplit(' ').next().unwrap().to_owned();
    assert_eq!(h.emulator.folder_count(), 2);

    let table = h.run(Some(KEY), &["folders", "list"]).await.ok();
    let lines: Vec<&str> = table.stdout.lines().collect();
    assert!(lines[0].starts_with("ID"), "{}", table.stdout);
    assert!(
        lines[0].contains("NAME") && lines[0].contains("PARENT"),
        "{}",
        table.stdout
    );
    assert_eq!(lines.len(), 3, "{}", table.stdout);
    assert!(table.stdout.contains("Campaign") && table.stdout.contains("Shots"));

    let top = h
        .run(
            Some(KEY),
            &["folders", "list", "--parent", "root", "--json"],
        )
        .await
        .ok();
    assert_eq!(ids(&top.json_lines()), vec![parent.clone()]);
    let children = h
        .run(
            Some(KEY),
            &["folders", "list", "--parent", &parent, "--json"],
        )
        .await
        .ok();
    let children = children.json_lines();
    assert_eq!(ids(&children), vec![child.clone()]);
    assert_eq!(children[0]["parent_id"], parent.as_str());

    h.run(Some(KEY), &["folders", "rename", &child, "Final shots"])
        .await
        .ok();
    let children = h
        .run(
            Some(KEY),
            &["folders", "list", "--parent", &parent, "--json"],
        )
        .await
        .ok();
    assert_eq!(children.json_lines()[0]["name"], "Final shots");

    // A folder with a subfolder cannot be deleted; the message says what to do.
    let refused = h
        .run(Some(KEY), &["folders", "delete", &parent])
        .await
        .exits(1);
    assert!(refused.stderr.contains("not empty"), "{}", refused.stderr);
    assert!(
        refused.stderr.contains("subfolders first"),
        "{}",
        refused.stderr
    );
    assert_eq!(h.emulator.folder_count(), 2);

    h.run(Some(KEY), &["folders", "delete", &child]).await.ok();
    let run = h.run(Some(KEY), &["folders", "delete", &parent]).await.ok();
    assert!(run.stdout.contains("Deleted folder"), "{}", run.stdout);
    assert_eq!(h.emulator.folder_count(), 0);
    let empty = h.run(Some(KEY), &["folders", "list"]).await.ok();
    assert_eq!(empty.stdout.trim(), "No folders found.");

    let missing = h
        .run(Some(KEY), &["folders", "delete", &parent])
        .await
        .exits(1);
    assert!(
        missing.stderr.contains("could not delete folder"),
        "{}",
        missing.stderr
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn assets_list_get_delete() {
    let h = Harness::start().await;
    let folder = h
        .client()
        .create_folder("Products", None)
        .await
        .unwrap()
        .id
        .unwrap();
    let a = h.upload_png("alpha.png", None).await;
    let b = h.upload_png("Beta shot.png", None).await;
    let c = h.upload_png("gamma.png", Some(&folder)).await;

    // The table: a header and one aligned row per asset, sizes for people.
    let table = h.run(Some(KEY), &["assets", "list"]).await.ok();
    let lines: Vec<&str> = table.stdout.lines().collect();
    assert_eq!(lines.len(), 4, "{}", table.stdout);
    for column in ["ID", "NAME", "TYPE", "SIZE", "CREATED"] {
        assert!(lines[0].contains(column), "{}", table.stdout);
    }
    let name_at = lines[0].find("NAME").unwrap();
    assert!(lines[1..].iter().all(|l| l[name_at - 2..name_at] == *"  "));
    assert!(table.stdout.contains("Beta shot.png") && table.stdout.contains(" B "));

    // JSON Lines with the API's fields.
    let all = h.run(Some(KEY), &["assets", "list", "--json"]).await.ok();
    let all = all.json_lines();
    let mut listed = ids(&all);
    listed.sort();
    let mut expected = vec![a.clone(), b.clone(), c.clone()];
    expected.sort();
    assert_eq!(listed, expected);
    assert!(all.iter().all(|v| v["mime_type"] == "image/png"));

    // Filters: folder, root, type, exact and case-sensitive name.
    let run = h
        .run(
            Some(KEY),
            &["assets", "list", "--folder", &folder, "--json"],
        )
        .await
        .ok();
    assert_eq!(ids(&run.json_lines()), vec![c.clone()]);
    let run = h
        .run(Some(KEY), &["assets", "list", "--folder", "root", "--json"])
        .await
        .ok();
    assert_eq!(run.json_lines().len(), 2);
    let run = h
        .run(Some(KEY), &["assets", "list", "--type", "video", "--json"])
        .await
        .ok();
    assert!(run.stdout.is_empty(), "{}", run.stdout);
    let run = h
        .run(
            Some(KEY),
            &[
                "assets",
                "list",
                "--type",
                "image",
                "--search",
                "Beta shot.png",
                "--json",
            ],
        )
        .await
        .ok();
    assert_eq!(ids(&run.json_lines()), vec![b.clone()]);
    let run = h
        .run(Some(KEY), &["assets", "list", "--search", "beta shot.png"])
        .await
        .ok();
    assert_eq!(run.stdout.trim(), "No assets found.");

    // --limit stops early and says there is more; pages are followed through their cursors.
    let run = h
        .run(
            Some(KEY),
            &[
                "assets",
                "list",
                "--limit",
                "2",
                "--page-size",
                "1",
                "--json",
            ],
        )
        .await
        .ok();
    assert_eq!(run.json_lines().len(), 2);
    assert!(run.stderr.contains("--all"), "{}", run.stderr);
    let run = h
        .run(
            Some(KEY),
            &["assets", "list", "--all", "--page-size", "1", "--json"],
        )
        .await
        .ok();
    let mut paged = ids(&run.json_lines());
    paged.sort();
    assert_eq!(paged, expected);
    assert!(run.stderr.is_empty(), "{}", run.stderr);
    let run = h
        .run(Some(KEY), &["assets", "list", "--all", "--limit", "3"])
        .await;
    assert_eq!(
        run.code,
        Some(2),
        "clap refuses --all with --limit: {}",
        run.stderr
    );

    // get: text and JSON.
    let run = h.run(Some(KEY), &["assets", "get", &a]).await.ok();
    assert!(run.stdout.contains("alpha.png"), "{}", run.stdout);
    assert!(run.stdout.contains("image/png"), "{}", run.stdout);
    assert!(run.stdout.contains("Folder:    root"), "{}", run.stdout);
    let run = h
        .run(Some(KEY), &["assets", "get", &c, "--json"])
        .await
        .ok();
    let asset = &run.json_lines()[0];
    assert_eq!(asset["id"], c.as_str());
    assert_eq!(asset["folder_id"], folder.as_str());
    assert!(asset["url"].as_str().unwrap().starts_with("http"));

    // delete: every id is tried; one failure makes the exit code 1.
    let bogus = "00000000-0000-4000-8000-000000000000";
    let run = h
        .run(Some(KEY), &["assets", "delete", &a, bogus, &b])
        .await
        .exits(1);
    assert!(
        run.stdout.contains(&format!("Deleted {a}")),
        "{}",
        run.stdout
    );
    assert!(
        run.stdout.contains(&format!("Deleted {b}")),
        "{}",
        run.stdout
    );
    assert!(run.stderr.contains(bogus), "{}", run.stderr);
    assert!(
        run.stderr.contains("1 of 3 assets could not be deleted"),
        "{}",
        run.stderr
    );
    assert_eq!(h.emulator.asset_count(), 1);
    let run = h.run(Some(KEY), &["assets", "get", &a]).await.exits(1);
    assert!(run.stderr.contains("Not found"), "{}", run.stderr);
    h.run(Some(KEY), &["assets", "delete", &c]).await.ok();
    assert_eq!(h.emulator.asset_count(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn plain_http_to_a_remote_host_is_refused() {
    let h = Harness::start().await;
    let mut command = h.command(Some(KEY));
    command.env("RUNFLOW_BASE_URL", "http://api.example.com");
    let run = exec(command, &["assets", "list"], None).await.exits(2);
    assert!(run.stderr.contains("RUNFLOW_BASE_URL"), "{}", run.stderr);
    assert!(run.stderr.contains("only https://"), "{}", run.stderr);

    // The same check names the settings file when the bad value comes from there.
    let settings = h.config_dir().join("settings.json");
    write_settings(&settings, r#"{"base_url":"http://10.1.2.3:8787"}"#);
    let mut command = h.command(Some(KEY));
    command.env_remove("RUNFLOW_BASE_URL");
    let run = exec(command, &["whoami"], None).await.exits(2);
    assert!(
        run.stderr.contains(&settings.display().to_string()),
        "{}",
        run.stderr
    );
    assert!(run.stderr.contains("only https://"), "{}", run.stderr);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_base_url_can_come_from_the_settings() {
    let h = Harness::start().await;
    let settings = h.config_dir().join("settings.json");
    write_settings(
        &settings,
        &format!(
            r#"{{"base_url":"{}","theme":"dark"}}"#,
            h.emulator.api_base()
        ),
    );
    let mut command = h.command(Some(KEY));
    command.env_remove("RUNFLOW_BASE_URL");
    let run = exec(command, &["whoami"], None).await.ok();
    assert!(run.stdout.contains("settings.json"), "{}", run.stdout);
    assert!(run.stdout.contains(USER_EMAIL), "{}", run.stdout);

    write_settings(&settings, "{oops");
    let run = h.run(Some(KEY), &["whoami"]).await.exits(1);
    assert!(run.stderr.contains("is not valid"), "{}", run.stderr);
    assert!(run.stderr.contains("delete it"), "{}", run.stderr);
}

fn write_settings(path: &Path, json: &str) {
    std::fs::create_dir_all(path.parent().expect("a parent dir")).expect("create the config dir");
    std::fs::write(path, json).expect("write the settings");
}

/// With no D-Bus session at all, `auto` falls back to memory at once and says so.
#[cfg(target_os = "linux")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_missing_secret_service_is_detected_quickly() {
    let h = Harness::start().await;
    let mut command = h.command(None);
    command
        .env("RUNFLOW_UPLOADER_KEYRING", "auto")
        .env(
            "DBUS_SESSION_BUS_ADDRESS",
            "unix:path=/nonexistent/runflow-test-bus",
        )
        .env("XDG_RUNTIME_DIR", h.dirs.path());
    let started = Instant::now();
    let run = exec(command, &["whoami"], None).await.exits(3);
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "took {:?}",
        started.elapsed()
    );
    assert!(run.stderr.contains("no API key found"), "{}", run.stderr);
    assert!(
        run.stderr.contains("no OS keyring available"),
        "{}",
        run.stderr
    );

    let mut command = h.command(None);
    command
        .env("RUNFLOW_UPLOADER_KEYRING", "os")
        .env(
            "DBUS_SESSION_BUS_ADDRESS",
            "unix:path=/nonexistent/runflow-test-bus",
        )
        .env("XDG_RUNTIME_DIR", h.dirs.path());
    let run = exec(command, &["logout"], None).await.exits(3);
    assert!(run.stderr.contains("not available"), "{}", run.stderr);

    let mut command = h.command(None);
    command.env("RUNFLOW_UPLOADER_KEYRING", "floppy");
    let run = exec(command, &["logout"], None).await.exits(2);
    assert!(run.stderr.contains("auto, os or memory"), "{}", run.stderr);
}

/// `login`, `whoami`, `logout` through the real OS keyring, on a throwaway account.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn login_whoami_logout_through_the_os_keyring() {
    let account = format!("test-cli-{}", uuid::Uuid::new_v4().simple());
    if let Err(err) = KeyStore::open_with(BackendChoice::Os, account.clone()).await {
        assert!(
            std::env::var("RUNFLOW_REQUIRE_REAL_KEYRING").as_deref() != Ok("1"),
            "RUNFLOW_REQUIRE_REAL_KEYRING=1 but the OS keyring is not reachable: {err}"
        );
        eprintln!("skipped: no OS keyring ({err})");
        return;
    }
    let h = Harness::start().await;
    let os_command = || {
        let mut command = h.command(None);
        command
            .env("RUNFLOW_UPLOADER_KEYRING", "os")
            .env("RUNFLOW_UPLOADER_KEYRING_ACCOUNT", &account);
        for name in ["DBUS_SESSION_BUS_ADDRESS", "XDG_RUNTIME_DIR", "HOME"] {
            if let Some(value) = std::env::var_os(name) {
                command.env(name, value);
            }
        }
        command
    };

    let run = exec(os_command(), &["login", "--key-stdin"], Some(KEY))
        .await
        .ok();
    assert!(run.stdout.contains("Logged in as"), "{}", run.stdout);
    assert!(!run.stdout.contains("in-memory"), "{}", run.stdout);
    let run = exec(os_command(), &["whoami"], None).await.ok();
    assert!(run.stdout.contains(USER_EMAIL), "{}", run.stdout);
    assert!(run.stdout.contains("the keyring ("), "{}", run.stdout);

    let run = exec(os_command(), &["logout"], None).await.ok();
    assert!(run.stdout.contains("Removed the API key"), "{}", run.stdout);
    let run = exec(os_command(), &["whoami"], None).await.exits(3);
    assert!(
        run.stderr.contains("runflow-uploader login"),
        "{}",
        run.stderr
    );
}
