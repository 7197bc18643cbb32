//! The client behind a real CONNECT proxy: the CLI uploads to the https emulator through a
//! local tinyproxy (Debian's `tinyproxy`, started here on a free loopback port), trusting the
//! emulator's CA through `RUNFLOW_CA_CERT`. API calls and storage PUTs both go through the
//! proxy; `NO_PROXY` bypasses it; a dead proxy is not silently bypassed.
//!
//! Without tinyproxy installed the test has nothing to run against and passes; `.ci/run`
//! installs it and sets `RUNFLOW_REQUIRE_PROXY_TEST=1`, which turns that into a failure.

#[path = "support/cli.rs"]
mod cli_support;
mod support;

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use cli_support::{Env, json_lines, run, write_pngs};
use runflow_uploader::api::ApiError;

/// A tinyproxy process, killed when dropped.
struct Tinyproxy {
    child: Child,
    port: u16,
    log: PathBuf,
}

impl Drop for Tinyproxy {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// The tinyproxy binary, if installed.
fn tinyproxy_binary() -> Option<PathBuf> {
    [
        "/usr/bin/tinyproxy",
        "/usr/sbin/tinyproxy",
        "/usr/local/bin/tinyproxy",
    ]
    .iter()
    .map(PathBuf::from)
    .find(|p| p.exists())
}

/// Starts tinyproxy in the foreground on a free loopback port, logging requests to `dir`.
fn start_tinyproxy(binary: &Path, dir: &Path) -> Tinyproxy {
    let port = free_port();
    let log = dir.join("tinyproxy.log");
    let config = dir.join("tinyproxy.conf");
    // No ConnectPort lines: CONNECT is allowed to any port (the emulator's are random).
    std::fs::write(
        &config,
        format!(
            "Port {port}\nListen 127.0.0.1\nTimeout 60\nMaxClients 50\nAllow 127.0.0.1\n\
             LogFile \"{}\"\nLogLevel Info\n",
            log.display()
        ),
    )
    .unwrap();
    let child = Command::new(binary)
        .arg("-d")
        .arg("-c")
        .arg(&config)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("tinyproxy starts");
    let proxy = Tinyproxy { child, port, log };
    let deadline = Instant::now() + Duration::from_secs(10);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(
            Instant::now() < deadline,
            "tinyproxy did not listen on {port}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    proxy
}

fn port_of(base: &str) -> String {
    base.rsplit(':').next().unwrap().to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_cli_uploads_through_a_connect_proxy_to_the_https_emulator() {
    let Some(binary) = tinyproxy_binary() else {
        assert!(
            std::env::var_os("RUNFLOW_REQUIRE_PROXY_TEST").is_none(),
            "RUNFLOW_REQUIRE_PROXY_TEST is set but tinyproxy is not installed"
        );
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let ca_file = dir.path().join("ca.pem");
    let data = dir.path().join("emu");
    let env = Env::new(|config| {
        config.data_dir = Some(data.clone());
        config.tls = true;
        config.tls_ca_out = Some(ca_file.clone());
    })
    .await;
    let proxy = start_tinyproxy(&binary, dir.path());
    let files = write_pngs(&env.home.path().join("pics"), 3);
    let upload = |proxy_url: &str, no_proxy: Option<&str>| {
        let mut command = env.command(&["upload", "--json"]);
        command
            .args(&files)
            .env("RUNFLOW_CA_CERT", &ca_file)
            .env("HTTPS_PROXY", proxy_url)
            .env_remove("https_proxy")
            .env_remove("ALL_PROXY")
            .env_remove("all_proxy")
            .env_remove("no_proxy");
        match no_proxy {
            Some(list) => command.env("NO_PROXY", list),
            None => command.env_remove("NO_PROXY"),
        };
        command
    };

    // A proxy that does not answer is used, not bypassed: nothing reaches the emulator.
    let dead = format!("http://127.0.0.1:{}", free_port());
    let output = run(upload(&dead, None)).await;
    assert!(!output.status.success(), "{output:?}");
    assert_eq!(env.emu.asset_count(), 0);

    // Through tinyproxy: every call is a CONNECT tunnel to one of the two listeners.
    let live = format!("http://127.0.0.1:{}", proxy.port);
    let output = run(upload(&live, None)).await;
    assert!(output.status.success(), "{output:?}");
    let done = json_lines(&output)
        .iter()
        .filter(|line| line["status"] == "uploaded")
        .count();
    assert_eq!(done, 3, "{output:?}");
    assert_eq!(env.emu.asset_count(), 3);
    let log = std::fs::read_to_string(&proxy.log).unwrap_or_default();
    for (what, base) in [
        ("API", env.emu.api_base()),
        ("storage", env.emu.storage_base()),
    ] {
        let tunnel = format!("CONNECT 127.0.0.1:{}", port_of(&base));
        assert!(
            log.contains(&tunnel),
            "no {what} tunnel ({tunnel}) in the proxy log:\n{log}"
        );
    }

    // NO_PROXY sends loopback past a dead proxy; the files are already uploaded.
    let output = run(upload(&dead, Some("127.0.0.1"))).await;
    assert!(output.status.success(), "{output:?}");
    assert_eq!(env.emu.asset_count(), 3);

    // The CA is what made the tunnels trusted: without it the same server is refused.
    let untrusted = support::client(&env.emu).health().await;
    assert!(
        matches!(untrusted, Err(ApiError::UntrustedCertificate { .. })),
        "{untrusted:?}"
    );
}
