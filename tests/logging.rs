//! Nothing logged ever contains the API key or a presigned URL's signature: real flows at
//! `trace` (the CLI against the emulator: a batch upload over a throttled link, a refused key,
//! checking stderr and the log file; the client refused for an expired URL, in process).

mod support;

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use regex::Regex;
use runflow_uploader::api::UploadSource;
use runflow_uploader::api::models::CreateUploadRequest;
use runflow_uploader::emulator::RunningEmulator;
use runflow_uploader::logging;
use sha2::Digest as _;

const PNG_MAGIC: &[u8] = b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR";

fn cli(emu: &RunningEmulator, home: &Path, key: &str, args: &[&str]) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_runflow-uploader"));
    command
        .args(args)
        .env("RUNFLOW_API_KEY", key)
        .env("RUNFLOW_BASE_URL", emu.api_base())
        .env("RUNFLOW_UPLOADER_DATA_DIR", home.join("data"))
        .env("RUNFLOW_UPLOADER_CONFIG_DIR", home.join("config"))
        .env("RUNFLOW_UPLOADER_STATE_DIR", home.join("state"))
        .env("RUNFLOW_UPLOADER_KEYRING", "memory")
        .env("RUST_LOG", "trace")
        .env("NO_COLOR", "1")
        .stdin(Stdio::null());
    command
}

async fn run(mut command: Command) -> Output {
    tokio::task::spawn_blocking(move || command.output().unwrap())
        .await
        .unwrap()
}

fn write_pngs(dir: &Path, count: usize, size: usize) -> Vec<PathBuf> {
    std::fs::create_dir_all(dir).unwrap();
    (0..count)
        .map(|i| {
            let path = dir.join(format!("pic-{i}.png"));
            let mut bytes = PNG_MAGIC.to_vec();
            bytes.resize(size, u8::try_from(i % 251).unwrap());
            std::fs::write(&path, bytes).unwrap();
            path
        })
        .collect()
}

fn log_files(home: &Path) -> String {
    let dir = home.join("state/logs");
    let mut text = String::new();
    for entry in std::fs::read_dir(&dir).unwrap() {
        text.push_str(&std::fs::read_to_string(entry.unwrap().path()).unwrap());
    }
    text
}

/// Fails if `text` holds `key`, an unmasked signature parameter, or a 64-hex value (a SigV4
/// signature's shape) that is not the hash of one of `files`.
fn assert_clean(what: &str, text: &str, key: &str, files: &[PathBuf]) {
    assert!(!text.contains(key), "{what} contains the API key");
    let param = Regex::new(r"(?i)(x-amz-signature|signature|sig)=([^&\s\x22'<>\\]*)").unwrap();
    for found in param.captures_iter(text) {
        assert_eq!(&found[2], "<redacted>", "{what} shows {}", &found[0]);
    }
    let mut hashes: Vec<String> = Vec::new();
    for file in files {
        let bytes = std::fs::read(file).unwrap();
        hashes.push(blake3::hash(&bytes).to_hex().to_string());
        hashes.push(hex::encode(sha2::Sha256::digest(&bytes)));
    }
    let hex64 = Regex::new(r"\b[0-9a-f]{64}\b").unwrap();
    for found in hex64.find_iter(text) {
        assert!(
            hashes.iter().any(|h| h == found.as_str()),
            "{what} holds an unexplained 64-hex value {}",
            found.as_str()
        );
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn cli_uploads_at_trace_log_no_signatures_and_no_key() {
    let emu = support::emulator(|c| c.put_bytes_per_sec = Some(512 * 1024)).await;
    let home = tempfile::tempdir().unwrap();
    let files = write_pngs(&home.path().join("in"), 6, 200 * 1024);
    let key = emu.api_keys()[0].clone();
    let out = run(cli(
        &emu,
        home.path(),
        &key,
        &[
            "upload",
            "--concurrency",
            "2",
            home.path().join("in").to_str().unwrap(),
        ],
    ))
    .await;
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(stderr.contains("TRACE"), "trace logging was on:\n{stderr}");
    let file_log = log_files(home.path());
    assert!(
        file_log.contains("TRACE"),
        "the file got the trace lines too"
    );
    assert!(!stderr.contains('\u{1b}'), "NO_COLOR is respected");
    assert_clean("stderr", &stderr, &key, &files);
    assert_clean("the log file", &file_log, &key, &files);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_refused_key_is_never_logged() {
    let emu = support::emulator(|_| {}).await;
    let home = tempfile::tempdir().unwrap();
    let files = write_pngs(&home.path().join("in"), 1, 1024);
    let wrong = "rf_wrong_but_secret_0123456789";
    for args in [vec!["whoami"], vec!["upload", files[0].to_str().unwrap()]] {
        let out = run(cli(&emu, home.path(), wrong, &args)).await;
        assert!(!out.status.success(), "{args:?} must fail with a bad key");
        let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
        assert!(stderr.contains("TRACE"), "{stderr}");
        assert!(
            stderr.contains("rejected"),
            "the refusal is visible:\n{stderr}"
        );
        assert_clean("stderr", &stderr, wrong, &files);
        // The key's tail must not leak either (a partial mask is still a leak).
        assert!(!stderr.contains("0123456789"), "{stderr}");
    }
    assert_clean("the log file", &log_files(home.path()), wrong, &files);
}

/// An in-memory log sink for the in-process test.
#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl std::io::Write for Captured {
    fn write(&mut self, data: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(data);
        Ok(data.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[tokio::test]
async fn an_expired_url_refusal_is_logged_without_its_signature() {
    let emu = support::emulator(|c| c.presign_ttl_secs = 1).await;
    let client = support::client(&emu);
    let sink = Captured::default();
    let writer = sink.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::TRACE)
        .with_ansi(false)
        .with_writer(logging::Redacting::new(move || writer.clone(), false))
        .finish();
    // The test runs on one thread, so the client's tasks log through this subscriber too.
    let _guard = tracing::subscriber::set_default(subscriber);

    let session = client
        .create_upload(&CreateUploadRequest {
            filename: "late.png".to_owned(),
            mime_type: "image/png".to_owned(),
            size_bytes: 3,
        })
        .await
        .unwrap();
    let signature = url::Url::parse(&session.upload_url)
        .unwrap()
        .query_pairs()
        .find(|(k, _)| k == "X-Amz-Signature")
        .map(|(_, v)| v.into_owned())
        .unwrap();
    tokio::time::sleep(Duration::from_millis(2100)).await;
    let err = client
        .put_upload(
            &session.upload_url,
            "image/png",
            3,
            &UploadSource::Bytes(Bytes::from_static(b"abc")),
            None,
        )
        .await
        .unwrap_err();
    tracing::error!(%err, "upload refused");
    // Even a careless log of the whole URL is masked.
    tracing::debug!(url = %session.upload_url, "careless");

    let text = String::from_utf8(sink.0.lock().unwrap().clone()).unwrap();
    assert!(text.contains("upload refused"), "{text}");
    assert!(text.contains("X-Amz-Signature=<redacted>"), "{text}");
    assert!(!text.contains(&signature), "the signature leaked:\n{text}");
    assert!(
        !text.contains(&emu.api_keys()[0]),
        "the key leaked:\n{text}"
    );
}
