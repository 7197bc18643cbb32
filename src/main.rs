//! Entry point: parses the command line, sets up logging and owns the tokio runtime.

// Test code (unit tests via clippy.toml, and tests/) may unwrap; shipped code may not.
#![deny(clippy::unwrap_used)]

use std::process::ExitCode;

use clap::Parser;
use runflow_uploader::cli::{self, Cli};
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
    runtime.block_on(cli::run(cli))
}
