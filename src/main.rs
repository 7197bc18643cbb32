//! Entry point: parses the command line, sets up logging and owns the tokio runtime. Without a
//! subcommand it opens the desktop window; with one it runs the command line.

// Test code (unit tests via clippy.toml, and tests/) may unwrap; shipped code may not.
#![deny(clippy::unwrap_used)]

use std::process::ExitCode;

use clap::Parser;
use runflow_uploader::cli::{self, Cli};
use runflow_uploader::desktop::BackendOptions;
use runflow_uploader::ui::{self, AppOptions};
use tracing_subscriber::EnvFilter;

fn main() -> ExitCode {
    let cli = Cli::parse();
    let filter = EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| EnvFilter::new(cli.default_log_filter()));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .init();

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
            let (drag_and_drop, _) = ui::display_backend();
            let options = AppOptions {
                demo: cli.demo,
                backend: BackendOptions::from_env(),
                drag_and_drop,
                open_files: None,
            };
            // The window runs on this (main) thread; the runtime's workers do all the I/O.
            match ui::run(runtime.handle().clone(), options) {
                Ok(()) => ExitCode::SUCCESS,
                Err(err) => {
                    tracing::error!(%err, "the window failed");
                    use std::io::Write as _;
                    let _ = writeln!(std::io::stderr(), "error: {err}");
                    ExitCode::FAILURE
                }
            }
        }
    }
}
