//! Entry point: parses the command line, sets up logging and owns the tokio runtime. Without a
//! subcommand it opens the desktop window (or hands its files to the one already open); with
//! one it runs the command line.
//!
//! On Windows this stays a console program so that `runflow-uploader upload ...` prints to the
//! terminal it was started from. Shortcuts and file associations start the window through
//! `runflow-uploader-gui.exe` instead (`src/bin/runflow-uploader-gui.rs`), a tiny GUI-subsystem
//! launcher that runs this binary without a console window: no `unsafe`, no console flashing.

// Test code (unit tests via clippy.toml, and tests/) may unwrap; shipped code may not.
#![deny(clippy::unwrap_used)]

use std::io::Write as _;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::Parser;
use runflow_uploader::cli::{self, Cli};
use runflow_uploader::desktop::BackendOptions;
use runflow_uploader::instance::{self, Claim};
use runflow_uploader::logging;
use runflow_uploader::ui::{self, AppOptions};

fn main() -> ExitCode {
    runflow_uploader::allocator::return_large_blocks();
    let cli = Cli::parse();
    // Dropped at the end of `main`, after the window and the runtime, so the file gets every line.
    let _log_guard = logging::init(cli.log_mode(), cli.verbose);
    if let Ok(key) = std::env::var("RUNFLOW_API_KEY") {
        logging::add_secret(&key);
    }
    tracing::info!(version = env!("CARGO_PKG_VERSION"), "starting");

    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .thread_name("runflow-worker")
        .build()
    {
        Ok(runtime) => runtime,
        Err(err) => {
            tracing::error!(%err, "could not start the async runtime");
            return ExitCode::FAILURE;
        }
    };
    match cli.command {
        Some(command) => runtime.block_on(cli::run(command)),
        None => {
            if let Some(message) = cli::unknown_command(&cli.files) {
                let _ = writeln!(std::io::stderr().lock(), "error: {message}");
                return cli::Exit::Usage.into();
            }
            window(&runtime, cli.demo, &cli.files)
        }
    }
}

/// Opens the window with `files` queued, unless a window is open already: then it gets them.
fn window(runtime: &tokio::runtime::Runtime, demo: bool, files: &[PathBuf]) -> ExitCode {
    let files = instance::absolutize(files);
    let (open_files, inbox) = tokio::sync::mpsc::unbounded_channel();
    match runtime.block_on(instance::claim(&instance::socket_dir(), &files)) {
        Ok(Claim::Handed) => {
            tracing::info!(count = files.len(), "handed files to the open window");
            let message = match files.len() {
                0 => "Runflow Uploader is already open; it was brought to the front.".to_owned(),
                1 => "Runflow Uploader is already open; it now uploads the file.".to_owned(),
                n => format!("Runflow Uploader is already open; it now uploads the {n} files."),
            };
            let _ = writeln!(std::io::stderr().lock(), "{message}");
            return ExitCode::SUCCESS;
        }
        Ok(Claim::Primary(listener)) => {
            runtime.spawn(listener.serve(open_files.clone()));
        }
        Err(err) => {
            // Better two windows than none.
            tracing::warn!(%err, "single-instance check failed; opening a window anyway");
        }
    }
    if !files.is_empty() {
        let _ = open_files.send(files);
    }
    drop(open_files);

    if !has_display() {
        let _ = writeln!(
            std::io::stderr().lock(),
            "error: no display: run a subcommand (see --help) or start it from your desktop"
        );
        return ExitCode::FAILURE;
    }
    let (drag_and_drop, _) = ui::display_backend();
    let options = AppOptions {
        demo,
        backend: BackendOptions::from_env(),
        drag_and_drop,
        open_files: Some(inbox),
    };
    // The window runs on this (main) thread; the runtime's workers do all the I/O.
    match ui::run(runtime.handle().clone(), options) {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            // Once on stderr; the log file gets it at info (stderr shows warnings).
            tracing::info!(%err, "the window failed");
            let _ = writeln!(std::io::stderr().lock(), "error: the window failed: {err}");
            ExitCode::FAILURE
        }
    }
}

/// Whether a window can open here: on Linux and the BSDs an X11 or Wayland display must be
/// named; elsewhere there always is one.
fn has_display() -> bool {
    if cfg!(any(target_os = "macos", target_os = "windows")) {
        return true;
    }
    ["DISPLAY", "WAYLAND_DISPLAY"]
        .iter()
        .any(|name| std::env::var_os(name).is_some_and(|v| !v.is_empty()))
}
