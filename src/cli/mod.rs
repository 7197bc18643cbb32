//! The command line: argument parsing and the subcommands.
//!
//! Every subcommand but `emulator`, `journal` and `history` (local) talks to Runflow with the key from `RUNFLOW_API_KEY` or the
//! OS keyring, and the base URL from `RUNFLOW_BASE_URL`, the settings, or the default.

mod account;
mod assets;
mod context;
mod exit;
mod folders;
mod history;
mod journal;
mod json;
mod upload;

pub use exit::Exit;

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
    /// Watch a folder and upload its new and changed files until stopped (Ctrl-C, SIGTERM).
    Watch(upload::watch::WatchArgs),
    /// List, show and delete assets.
    #[command(subcommand)]
    Assets(assets::AssetsCommand),
    /// List, create, rename and delete asset folders.
    #[command(subcommand)]
    Folders(folders::FoldersCommand),
    /// Show or forget the unfinished uploads left by earlier runs.
    #[command(subcommand)]
    Journal(journal::JournalCommand),
    /// List what this machine uploaded, newest first (as a table, JSON lines or CSV).
    History(history::HistoryArgs),
    /// Check an API key and store it in the OS keyring.
    Login(account::LoginArgs),
    /// Remove the stored API key from the OS keyring.
    Logout(JsonArgs),
    /// Show which account the API key belongs to.
    Whoami(JsonArgs),
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

/// When the window was asked for with FILEs whose first is no existing path but looks like a
/// mistyped subcommand (`uplaod`), the message to print instead of opening the window; the
/// caller exits with [`Exit::Usage`]. The suggestion is clap's.
pub fn unknown_command(files: &[PathBuf]) -> Option<String> {
    use clap::CommandFactory as _;
    use clap::error::{ContextKind, ContextValue, ErrorKind};

    let first = files.first()?;
    if first.exists() {
        return None;
    }
    let word = first.to_str()?;
    // Only the subcommands: a word that is none of them is then an unknown subcommand, and
    // clap says which one it resembles.
    let probe = clap::Command::new("runflow-uploader")
        .subcommands(Cli::command().get_subcommands().cloned())
        .disable_help_subcommand(true);
    let err = probe
        .try_get_matches_from(["runflow-uploader", word])
        .err()
        .filter(|e| e.kind() == ErrorKind::InvalidSubcommand)?;
    let suggestion = match err.get(ContextKind::SuggestedSubcommand) {
        Some(ContextValue::String(s)) => Some(s.clone()),
        // Sorted by confidence, the best last.
        Some(ContextValue::Strings(list)) => list.last().cloned(),
        _ => None,
    };
    let word = context::sanitize(word);
    match suggestion {
        Some(suggestion) => Some(format!(
            "unknown command '{word}'; did you mean '{suggestion}'? (`runflow-uploader --help` \
             lists the commands)"
        )),
        // A word like a file name (`photo.png`, `shots/a.png`) goes to the window, which says
        // the file is missing; a bare word is a command nobody has.
        None if !word.contains(['.', '/', '\\']) => Some(format!(
            "unknown command '{word}', and there is no file of that name; \
             `runflow-uploader --help` lists the commands"
        )),
        None => None,
    }
}

/// Runs a parsed subcommand to completion and returns the process exit code (see [`Exit`]).
pub async fn run(command: Command) -> ExitCode {
    let json = command.wants_json();
    let result = match command {
        Command::Upload(args) => upload::run(args).await,
        Command::Watch(args) => upload::watch::run(args).await,
        Command::Assets(command) => assets::run(command).await,
        Command::Folders(command) => folders::run(command).await,
        Command::Journal(command) => journal::run(command).await,
        Command::History(args) => history::run(args).await,
        Command::Login(args) => account::login(args).await,
        Command::Logout(args) => account::logout(args).await,
        Command::Whoami(args) => account::whoami(args).await,
        Command::Emulator(config) => emulator::run_until_shutdown(*config)
            .await
            .map(|()| Exit::Success),
    };
    let exit = result.unwrap_or_else(|err| {
        let exit = Exit::of_error(&err);
        report_error(&err, json.then_some(exit));
        exit
    });
    exit.into()
}

impl Command {
    /// Whether the output was asked for as JSON (errors then also go to stdout, as JSON).
    fn wants_json(&self) -> bool {
        match self {
            Command::Upload(args) => args.json,
            Command::Watch(args) => args.json,
            Command::Assets(command) => command.wants_json(),
            Command::Folders(command) => command.wants_json(),
            Command::Journal(command) => command.wants_json(),
            Command::History(args) => args.json,
            Command::Login(args) => args.json,
            Command::Logout(args) | Command::Whoami(args) => args.json,
            Command::Emulator(_) => false,
        }
    }
}

/// `--json` for the subcommands that take nothing else.
#[derive(clap::Args, Debug)]
pub struct JsonArgs {
    /// Print the result as one JSON object (see docs/cli-json.md).
    #[arg(long)]
    pub json: bool,
}

/// What a command that failed as a whole prints with `--json`.
#[derive(Debug, serde::Serialize)]
struct ErrorRecord {
    reason: &'static str,
    error: String,
    exit_code: u8,
}

/// Prints an error and its causes to stderr, the way a user reads it; with `--json` also one
/// `error` record on stdout, so a script reading stdout learns why nothing came.
fn report_error(err: &anyhow::Error, json: Option<Exit>) {
    use std::io::Write as _;
    {
        let mut stderr = std::io::stderr().lock();
        let _ = writeln!(stderr, "error: {}", context::sanitize(&err.to_string()));
        for cause in err.chain().skip(1) {
            let _ = writeln!(
                stderr,
                "  caused by: {}",
                context::sanitize(&cause.to_string())
            );
        }
    }
    if let Some(exit) = json {
        let record = ErrorRecord {
            reason: exit.reason(err),
            error: format!("{err:#}"),
            exit_code: exit.code(),
        };
        let mut out = std::io::stdout().lock();
        let written = json::write_record(&mut out, "error", &record);
        let _ = context::finish_output(&mut out, written);
    }
}
