//! The command line: argument parsing and the subcommands.
//!
//! Every subcommand but `emulator` talks to Runflow with the key from `RUNFLOW_API_KEY` or the
//! OS keyring, and the base URL from `RUNFLOW_BASE_URL`, the settings, or the default.

mod account;
mod assets;
mod context;
mod folders;
mod upload;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

use crate::emulator::{self, EmulatorConfig};

/// Runflow Uploader: upload media to Runflow and keep it tidy.
#[derive(Debug, Parser)]
#[command(
    name = "runflow-uploader",
    version,
    about,
    after_help = "Without a subcommand, the desktop window opens and queues FILEs for upload \
                  (a window already open gets them instead).\n\
                  Logs: stderr (-v, RUST_LOG) and, except for `emulator`, daily files in the \
                  state dir. NO_COLOR turns colour off."
)]
pub struct Cli {
    /// Log more (-v: info, -vv: debug, -vvv: trace). `RUST_LOG` overrides.
    #[arg(short, long, action = clap::ArgAction::Count, global = true)]
    pub verbose: u8,

    /// Open the window straight in the offline demo (a local Runflow with sample data).
    #[arg(long)]
    pub demo: bool,

    /// Files and folders to queue for upload in the window.
    #[arg(value_name = "FILE")]
    pub files: Vec<PathBuf>,

    /// What to do; none opens the desktop window.
    #[command(subcommand)]
    pub command: Option<Command>,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Upload files and folders (recursively) to Runflow.
    Upload(upload::UploadArgs),
    /// List, show and delete assets.
    #[command(subcommand)]
    Assets(assets::AssetsCommand),
    /// List, create, rename and delete asset folders.
    #[command(subcommand)]
    Folders(folders::FoldersCommand),
    /// Check an API key and store it in the OS keyring.
    Login(account::LoginArgs),
    /// Remove the stored API key from the OS keyring.
    Logout,
    /// Show which account the API key belongs to.
    Whoami,
    /// Run a local Runflow emulator (API and storage) for tests, benchmarks and demos.
    Emulator(Box<EmulatorConfig>),
}

impl Cli {
    /// The stderr log filter for `-v` flags, used when `RUST_LOG` is not set.
    pub fn default_log_filter(&self) -> &'static str {
        crate::logging::stderr_level(self.verbose)
    }

    /// Where this run's logs go.
    pub fn log_mode(&self) -> crate::logging::Mode {
        use crate::logging::Mode;
        match self.command {
            None => Mode::Window,
            Some(Command::Emulator(_)) => Mode::Emulator,
            Some(_) => Mode::Cli,
        }
    }
}

/// Runs a parsed subcommand to completion and returns the process exit code.
pub async fn run(command: Command) -> ExitCode {
    let result = match command {
        Command::Upload(args) => upload::run(args).await,
        Command::Assets(command) => assets::run(command).await.map(|()| ExitCode::SUCCESS),
        Command::Folders(command) => folders::run(command).await.map(|()| ExitCode::SUCCESS),
        Command::Login(args) => account::login(args).await.map(|()| ExitCode::SUCCESS),
        Command::Logout => account::logout().await.map(|()| ExitCode::SUCCESS),
        Command::Whoami => account::whoami().await.map(|()| ExitCode::SUCCESS),
        Command::Emulator(config) => emulator::run_until_shutdown(*config)
            .await
            .map(|()| ExitCode::SUCCESS),
    };
    result.unwrap_or_else(|err| {
        report_error(&err);
        ExitCode::FAILURE
    })
}

/// Prints an error and its causes to stderr, the way a user reads it.
fn report_error(err: &anyhow::Error) {
    use std::io::Write as _;
    let mut stderr = std::io::stderr().lock();
    let _ = writeln!(stderr, "error: {err}");
    for cause in err.chain().skip(1) {
        let _ = writeln!(stderr, "  caused by: {cause}");
    }
}
