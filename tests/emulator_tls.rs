//! The emulator's `--tls` mode: a local CA kept in the data dir, https URLs everywhere, the
//! client trusting the CA through `ClientConfig::ca_cert_files` / `RUNFLOW_CA_CERT`, and a
//! clear refusal of a certificate the client does not trust.

#[path = "support/cli.rs"]
mod cli_support;
mod support;

use std::io::BufRead as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use bytes::Bytes;
use runflow_uploader::api::models::CreateUploadRequest;
use runflow_uploader::api::{ApiError, ApiKey, ClientConfig, RunflowClient, UploadSource};
use runflow_uploader::emulator::{EmulatorConfig, RunningEmulator, USER_EMAIL};

use cli_support::{json_lines, run, write_pngs};
use support::fast_retry;

/// A small real PNG (so the emulator makes a thumbnail).
fn png_bytes() -> Vec<u8> {
    let image = image::RgbImage::from_pixel(8, 6, image::Rgb([200, 30, 60]));
    let mut out = Vec::new();
    image::DynamicImage::ImageRgb8(image)
        .write_to(&mut std::io::Cursor::new(&mut out), image::ImageFormat::Png)
        .unwrap();
    out
}

/// `--tls` on `data_dir`, writing the CA to `ca_out` if given.
fn tls(config: &mut EmulatorConfig, data_dir: &Path, ca_out: Option<PathBuf>) {
    config.data_dir = Some(data_dir.to_owned());
    config.tls = true;
    config.tls_ca_out = ca_out;
}

async fn tls_emulator(data_dir: &Path, ca_out: Option<PathBuf>) -> RunningEmulator {
    support::emulator(|config| tls(config, data_dir, ca_out)).await
}

fn client(emu: &RunningEmulator, ca_cert_files: Vec<PathBuf>) -> RunflowClient {
    RunflowClient::new(
        ApiKey::new(emu.api_keys()[0].clone()).unwrap(),
        ClientConfig {
            base_url: emu.api_base(),
            retry: fast_retry(),
            ca_cert_files,
            ..ClientConfig::default()
        },
    )
    .expect("a client")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_client_uploads_over_https_with_the_private_ca() {
    let dir = tempfile::tempdir().unwrap();
    let ca_file = dir.path().join("ca.pem");
    let emu = tls_emulator(&dir.path().join("emu"), Some(ca_file.clone())).await;
    assert!(emu.api_base().starts_with("https://127.0.0.1:"));
    assert!(emu.storage_base().starts_with("https://127.0.0.1:"));
    let written = std::fs::read_to_string(&ca_file).unwrap();
    assert_eq!(Some(written.as_str()), emu.ca_cert_pem());

    let client = client(&emu, vec![ca_file.clone()]);
    let user = client.current_user().await.expect("/v1/auth/me over https");
    assert_eq!(user.email.as_deref(), Some(USER_EMAIL));

    let bytes = png_bytes();
    let session = client
        .create_upload(&CreateUploadRequest {
            filename: "tls.png".into(),
            mime_type: "image/png".into(),
            size_bytes: bytes.len() as u64,
        })
        .await
        .unwrap();
    assert!(
        session.upload_url.starts_with("https://"),
        "{}",
        session.upload_url
    );
    client
        .put_upload(
            &session.upload_url,
            "image/png",
            bytes.len() as u64,
            &UploadSource::Bytes(Bytes::from(bytes.clone())),
            None,
        )
        .await
        .expect("PUT over https");
    let asset = client
        .confirm_upload(&session.asset_id, None)
        .await
        .unwrap();
    let url = asset.url.clone().unwrap();
    let thumbnail_url = asset.thumbnail_url.clone().expect("a PNG gets a thumbnail");
    assert!(url.starts_with("https://"), "{url}");
    assert!(thumbnail_url.starts_with("https://"), "{thumbnail_url}");
    let again = client.asset(&session.asset_id).await.unwrap();
    assert!(again.url.unwrap().starts_with("https://"));

    // Any client trusting the CA can download the signed URLs.
    let ca = reqwest::Certificate::from_pem(written.as_bytes()).unwrap();
    let http = reqwest::Client::builder()
        .tls_certs_merge([ca])
        .build()
        .unwrap();
    let downloaded = http.get(&url).send().await.unwrap();
    assert_eq!(downloaded.status(), 200);
    assert_eq!(downloaded.bytes().await.unwrap(), bytes);
    let thumb = http.get(&thumbnail_url).send().await.unwrap();
    assert_eq!(thumb.status(), 200);
    emu.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_untrusted_certificate_is_refused_with_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let emu = tls_emulator(dir.path(), None).await;
    let port = emu.api_base().rsplit(':').next().unwrap().to_owned();
    // The default configuration: the system's roots only (RUNFLOW_CA_CERT is not set here).
    let err = support::client(&emu).current_user().await.unwrap_err();
    let ApiError::UntrustedCertificate { host, problem } = &err else {
        panic!("expected an untrusted-certificate error, got {err:?}");
    };
    assert_eq!(host, &format!("127.0.0.1:{port}"));
    assert!(problem.contains("does not trust"), "{problem}");
    let message = err.to_string();
    assert!(message.contains("127.0.0.1"), "{message}");
    assert!(message.contains("RUNFLOW_CA_CERT"), "{message}");
    assert!(message.contains("Extra CA certificate"), "{message}");
    assert!(!message.contains("internet connection"), "{message}");
    assert!(!err.is_connection_failure());
    assert!(
        !err.is_retryable(),
        "trusting the CA helps, retrying does not"
    );

    // A CA file that is not a certificate is refused when the client is built.
    let junk = dir.path().join("junk.pem");
    std::fs::write(&junk, "hello").unwrap();
    let refused = RunflowClient::new(
        ApiKey::new(emu.api_keys()[0].clone()).unwrap(),
        ClientConfig {
            base_url: emu.api_base(),
            ca_cert_files: vec![junk],
            ..ClientConfig::default()
        },
    )
    .expect_err("a junk CA file is an error");
    assert!(
        matches!(refused, ApiError::CaCertificate { .. }),
        "{refused:?}"
    );
    assert!(refused.to_string().contains("junk.pem"), "{refused}");
    emu.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_ca_is_kept_in_the_data_dir_across_restarts() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("emu");
    let ca_file = dir.path().join("ca.pem");
    let first = tls_emulator(&data, Some(ca_file.clone())).await;
    let first_pem = first.ca_cert_pem().unwrap().to_owned();
    assert!(data.join("tls").join("ca-cert.pem").exists());
    first.shutdown().await;

    // The CA file saved by the first run is trusted by the second run's new certificate.
    let second = tls_emulator(&data, None).await;
    assert_eq!(second.ca_cert_pem(), Some(first_pem.as_str()));
    client(&second, vec![ca_file])
        .health()
        .await
        .expect("the first run's CA file still works");
    second.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn curl_trusts_the_emulator_with_cacert() {
    if Command::new("curl").arg("--version").output().is_err() {
        return; // .ci/run installs curl; elsewhere this check is optional.
    }
    let dir = tempfile::tempdir().unwrap();
    let ca_file = dir.path().join("ca.pem");
    let emu = tls_emulator(&dir.path().join("emu"), Some(ca_file.clone())).await;
    let curl = |ca: Option<&Path>| {
        let mut command = Command::new("curl");
        command.args(["-sS", "-o", "/dev/null", "-w", "%{http_code}"]);
        if let Some(ca) = ca {
            command.arg("--cacert").arg(ca);
        }
        command
            .arg(format!("{}/v1/health", emu.api_base()))
            .env_remove("HTTPS_PROXY")
            .env_remove("https_proxy")
            .env_remove("ALL_PROXY");
        command
    };
    let output = run(curl(Some(&ca_file))).await;
    assert_eq!(String::from_utf8_lossy(&output.stdout), "200", "{output:?}");
    let output = run(curl(None)).await;
    assert!(
        !output.status.success(),
        "curl must refuse the CA it was not given"
    );
    emu.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_emulator_command_prints_https_urls_and_the_ca() {
    let dir = tempfile::tempdir().unwrap();
    let ca_file = dir.path().join("out-ca.pem");
    let mut child = Command::new(env!("CARGO_BIN_EXE_runflow-uploader"))
        .args([
            "emulator",
            "--addr",
            "127.0.0.1:0",
            "--api-key",
            "k",
            "--tls",
        ])
        .arg("--data-dir")
        .arg(dir.path().join("emu"))
        .arg("--tls-ca-out")
        .arg(&ca_file)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let lines = tokio::task::spawn_blocking(move || {
        let mut lines = Vec::new();
        for line in std::io::BufReader::new(stdout).lines() {
            let line = line.unwrap();
            let ready = line.contains("listening on");
            lines.push(line);
            if ready {
                break;
            }
        }
        lines
    })
    .await
    .unwrap();
    let _ = child.kill();
    let _ = child.wait();
    let ca_line = lines
        .iter()
        .find_map(|l| l.strip_prefix("ca certificate: "))
        .unwrap_or_else(|| panic!("no CA line in {lines:?}"));
    assert!(ca_line.ends_with("ca-cert.pem"), "{ca_line}");
    let ready = lines.last().unwrap();
    assert!(
        ready.starts_with("runflow emulator listening on https://127.0.0.1:")
            && ready.contains("(storage https://127.0.0.1:"),
        "{ready}"
    );
    assert_eq!(
        std::fs::read_to_string(&ca_file).unwrap(),
        std::fs::read_to_string(ca_line).unwrap()
    );

    // --tls-ca-out without --tls is refused by the command line.
    let output = Command::new(env!("CARGO_BIN_EXE_runflow-uploader"))
        .args(["emulator", "--tls-ca-out", "x.pem"])
        .output()
        .unwrap();
    assert!(!output.status.success());
    assert!(String::from_utf8_lossy(&output.stderr).contains("--tls"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_cli_uploads_to_the_https_emulator_with_runflow_ca_cert() {
    let dir = tempfile::tempdir().unwrap();
    let ca_file = dir.path().join("ca.pem");
    let data = dir.path().join("emu");
    let env = cli_support::Env::new(|config| tls(config, &data, Some(ca_file.clone()))).await;
    let files = write_pngs(&env.home.path().join("pics"), 2);
    let upload = |ca: Option<&Path>| {
        let mut command = env.command(&["upload", "--json"]);
        command.args(&files);
        for var in ["HTTPS_PROXY", "https_proxy", "ALL_PROXY", "all_proxy"] {
            command.env_remove(var);
        }
        match ca {
            Some(ca) => command.env("RUNFLOW_CA_CERT", ca),
            None => command.env_remove("RUNFLOW_CA_CERT"),
        };
        command
    };

    let refused = run(upload(None)).await;
    assert!(!refused.status.success());
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&refused.stdout),
        String::from_utf8_lossy(&refused.stderr)
    );
    assert!(text.contains("RUNFLOW_CA_CERT"), "{text}");
    assert!(!text.contains("internet connection"), "{text}");
    assert_eq!(env.emu.asset_count(), 0);

    let output = run(upload(Some(&ca_file))).await;
    assert!(output.status.success(), "{output:?}");
    let uploaded = json_lines(&output)
        .iter()
        .filter(|line| line["status"] == "uploaded")
        .count();
    assert_eq!(uploaded, 2, "{output:?}");
    assert_eq!(env.emu.asset_count(), 2);
}
