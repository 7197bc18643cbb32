//! Running the CLI against an in-process emulator, with every directory in a temp home.

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use runflow_uploader::emulator::RunningEmulator;

/// The start of a PNG file: enough for the type to be recognised.
pub const PNG_MAGIC: &[u8] = b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR";

/// An emulator and a home of temp dirs for the CLI.
pub struct Env {
    /// The emulator the CLI talks to.
    pub emu: RunningEmulator,
    /// Data, config and test files.
    pub home: tempfile::TempDir,
}

impl Env {
    /// An emulator tweaked by `adjust`, and an empty home.
    pub async fn new(adjust: impl FnOnce(&mut runflow_uploader::emulator::EmulatorConfig)) -> Self {
        Self {
            emu: crate::support::emulator(adjust).await,
            home: tempfile::tempdir().unwrap(),
        }
    }

    /// The CLI with everything pointed at the emulator and temp dirs.
    pub fn command(&self, args: &[&str]) -> Command {
        self.command_with(None, args)
    }

    /// The CLI, optionally run through a wrapper (e.g. `setpriv`).
    pub fn command_with(&self, wrapper: Option<&[&str]>, args: &[&str]) -> Command {
        let bin = env!("CARGO_BIN_EXE_runflow-uploader");
        let mut command = match wrapper {
            Some(wrapper) => {
                let mut command = Command::new(wrapper[0]);
                command.args(&wrapper[1..]).arg(bin);
                command
            }
            None => Command::new(bin),
        };
        command
            .args(args)
            .env("RUNFLOW_API_KEY", &self.emu.api_keys()[0])
            .env("RUNFLOW_BASE_URL", self.emu.api_base())
            .env("RUNFLOW_UPLOADER_DATA_DIR", self.home.path().join("data"))
            .env(
                "RUNFLOW_UPLOADER_CONFIG_DIR",
                self.home.path().join("config"),
            )
            .env("RUNFLOW_UPLOADER_CACHE_DIR", self.home.path().join("cache"))
            .env("RUNFLOW_UPLOADER_STATE_DIR", self.home.path().join("state"))
            .env("RUNFLOW_UPLOADER_KEYRING", "memory")
            .env_remove("RUST_LOG")
            .stdin(Stdio::null());
        command
    }
}

/// Runs `command` to its end off the async workers.
pub async fn run(mut command: Command) -> Output {
    tokio::task::spawn_blocking(move || command.output().unwrap())
        .await
        .unwrap()
}

/// The JSON lines the CLI printed on stdout.
pub fn json_lines(output: &Output) -> Vec<serde_json::Value> {
    String::from_utf8_lossy(&output.stdout)
        .lines()
        .map(|line| serde_json::from_str(line).unwrap_or_else(|e| panic!("{e}: {line}")))
        .collect()
}

/// Writes `count` distinct small PNG files.
pub fn write_pngs(dir: &Path, count: usize) -> Vec<PathBuf> {
    std::fs::create_dir_all(dir).unwrap();
    (0..count)
        .map(|i| {
            let path = dir.join(format!("img-{i:03}.png"));
            let mut bytes = PNG_MAGIC.to_vec();
            bytes.extend_from_slice(format!("unique body {i}").as_bytes());
            std::fs::write(&path, bytes).unwrap();
            path
        })
        .collect()
}
