//! `runflow-uploader upload`: drives the upload engine from a terminal, with progress bars on a
//! terminal, plain lines otherwise, or the JSON records of docs/cli-json.md with `--json`.
//! Every file's outcome and the summary also go to the daily log, with the server and account.

use std::collections::{HashMap, HashSet};
use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};
use serde::Serialize;

use crate::auth::Settings;
use crate::paths;
use crate::upload::{self, Command, EngineConfig, Event, FileId, FileState, MAX_CONCURRENCY};

use super::context::{self, sanitize};
use super::exit::Exit;
use super::json::{self, JsonPath, Status};

mod output;
pub mod watch;

use output::{FileInfo, Output, bar_style};
#[cfg(test)]
use output::{first_sentence, summary_line};

/// Arguments of `upload`.
#[derive(clap::Args, Debug)]
#[command(
    after_help = "Exit codes: 0 every file uploaded or already there; 1 some files \
    failed, were already in another folder, or were cancelled; 2 usage (including a --folder \
    that does not exist); 3 the key is missing, rejected or may not upload; 4 Runflow could not \
    be reached and nothing was uploaded; 130 interrupted (unfinished files resume on the next \
    run). With --json, stdout carries one JSON object per file and a summary (docs/cli-json.md)."
)]
pub struct UploadArgs {
    /// Files and folders to upload; folders are walked recursively.
    #[arg(required = true, value_name = "PATH")]
    paths: Vec<PathBuf>,
    #[command(flatten)]
    engine: EngineArgs,
    /// Print one JSON object per file on stdout, then a summary (schema in docs/cli-json.md).
    #[arg(long)]
    pub(crate) json: bool,
    /// Upload files even when this machine already uploaded the same content (also when that
    /// content sits in another folder: a copy is uploaded).
    #[arg(long)]
    force: bool,
    /// Follow symbolic links that point outside the folders given (by default they are
    /// reported and skipped).
    #[arg(long)]
    follow_links: bool,
    /// Forget the unfinished uploads of other servers or accounts left by earlier runs,
    /// instead of keeping them for when you sign in there again.
    #[arg(long)]
    discard_other_accounts: bool,
}

/// Where the files go and how many at once: `upload`'s and `watch`'s.
#[derive(clap::Args, Debug)]
struct EngineArgs {
    /// Id of the destination folder (default: the root, or the settings' default folder).
    #[arg(long, value_name = "ID")]
    folder: Option<String>,
    /// Files uploaded at once, 1-16 (default 4, or the settings' value).
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u16).range(1..=16))]
    concurrency: Option<u16>,
    /// Upload a JPEG, PNG or WebP copy of images Runflow does not take (HEIC, TIFF, BMP, AVIF,
    /// ...); the originals are never changed (also on when the settings convert
    /// automatically).
    #[arg(long)]
    convert: bool,
    /// Upload a smaller copy of images over 50 MiB: re-encoded, and scaled down only when that
    /// is not enough; the originals are never changed.
    #[arg(long)]
    fit: bool,
}

/// One file's result: a `file` record with `--json`.
#[derive(Debug, Serialize)]
struct FileRecord {
    #[serde(flatten)]
    path: JsonPath,
    name: String,
    status: Status,
    reason: Option<&'static str>,
    error: Option<String>,
    asset_id: Option<String>,
    url: Option<String>,
    folder_id: Option<String>,
    folder_name: Option<String>,
    same_as: Option<String>,
    size_bytes: Option<u64>,
    mime_type: Option<String>,
    /// What a failure's copy would be (`convert`, `fit`, `convert_and_fit`): the flags
    /// `--convert` and `--fit` upload such files.
    fix: Option<&'static str>,
    /// The file, when a copy went instead of it (converted, shrunk to fit).
    converted_from: Option<Converted>,
    /// The copy that went instead of the file: the asset has its name, type and size.
    converted_to: Option<Converted>,
}

/// One side of a conversion in a `file` record.
#[derive(Debug, Serialize)]
struct Converted {
    name: String,
    mime_type: Option<String>,
    size_bytes: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    width: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    height: Option<u32>,
    /// What was done, for people: "converted from HEIC to JPEG, 4032×3024, 3.1 MiB".
    #[serde(skip_serializing_if = "Option::is_none")]
    description: Option<String>,
}

/// Files per status, in the order of [`Status::ALL`].
#[derive(Debug, Default, Clone, Serialize)]
struct Counts {
    uploaded: usize,
    resumed: usize,
    already_uploaded: usize,
    in_other_folder: usize,
    failed: usize,
    skipped: usize,
    cancelled: usize,
}

impl Counts {
    fn add(&mut self, status: Status) {
        *self.slot(status) += 1;
    }

    fn get(&self, status: Status) -> usize {
        match status {
            Status::Uploaded => self.uploaded,
            Status::Resumed => self.resumed,
            Status::AlreadyUploaded => self.already_uploaded,
            Status::InOtherFolder => self.in_other_folder,
            Status::Failed => self.failed,
            Status::Skipped => self.skipped,
            Status::Cancelled => self.cancelled,
        }
    }

    fn slot(&mut self, status: Status) -> &mut usize {
        match status {
            Status::Uploaded => &mut self.uploaded,
            Status::Resumed => &mut self.resumed,
            Status::AlreadyUploaded => &mut self.already_uploaded,
            Status::InOtherFolder => &mut self.in_other_folder,
            Status::Failed => &mut self.failed,
            Status::Skipped => &mut self.skipped,
            Status::Cancelled => &mut self.cancelled,
        }
    }

    fn total(&self) -> usize {
        Status::ALL.iter().map(|s| self.get(*s)).sum()
    }
}

/// The last record of `upload --json`.
#[derive(Debug, Serialize)]
struct SummaryRecord<'a> {
    files: usize,
    counts: &'a Counts,
    interrupted: bool,
    exit_code: u8,
    server: &'a str,
    account: &'a str,
}

/// What the run has seen so far.
#[derive(Debug, Default)]
struct Tally {
    counts: Counts,
    /// The `reason` codes of the failed files.
    failure_reasons: Vec<&'static str>,
}

impl Tally {
    /// The exit code of a run that was not interrupted: 0 when every file ended well; when
    /// nothing was uploaded and every failure was the key's (3) or the connection's (4), that
    /// code; 1 otherwise.
    fn exit(&self) -> Exit {
        let c = &self.counts;
        if c.failed + c.in_other_folder + c.cancelled == 0 {
            return Exit::Success;
        }
        let nothing_done = c.uploaded + c.resumed + c.already_uploaded + c.in_other_folder == 0;
        let all = |codes: &[&str]| {
            c.cancelled == 0
                && !self.failure_reasons.is_empty()
                && self.failure_reasons.iter().all(|r| codes.contains(r))
        };
        if nothing_done && all(&["auth", "permission"]) {
            Exit::Auth
        } else if nothing_done && all(&["network", "timeout", "server", "rate_limited"]) {
            Exit::Unreachable
        } else {
            Exit::Failed
        }
    }
}

/// The run's fixed facts, for records and log lines.
struct Run {
    server: String,
    account: String,
    max_attempts: u32,
}

/// A connection checked, and the engine's settings for it.
struct Start {
    connection: context::Connection,
    account: upload::AccountScope,
    folder_id: Option<String>,
    config: EngineConfig,
    facts: Run,
}

/// Checks the key (one clear error instead of one per file) and the destination folder (`ID`,
/// else the settings' default), and sets the engine up for `source`.
async fn start(args: &EngineArgs, source: crate::history::Source) -> anyhow::Result<Start> {
    let connection = context::connect().await?;
    let user = connection
        .client
        .current_user()
        .await
        .map_err(|err| connection.explain(err, "check the API key"))?;
    let settings = Settings::load().await?;
    let concurrency = args
        .concurrency
        .map(usize::from)
        .or(settings.concurrency)
        .unwrap_or(upload::DEFAULT_CONCURRENCY)
        .clamp(1, MAX_CONCURRENCY);
    let folder_id = args.folder.clone().or(settings.default_folder_id.clone());
    // An unknown folder is one error before anything is sent, not a failure per file.
    let folder = context::check_folder(&connection, folder_id.as_deref()).await?;
    let folder_id = folder.as_ref().and_then(|f| f.id.clone());
    let account = upload::AccountScope::of(&connection.client, &user);
    let config = EngineConfig {
        concurrency,
        account: Some(account.clone()),
        source,
        auto_convert: args.convert || settings.convert_automatically,
        auto_shrink: args.fit,
        ..EngineConfig::new(paths::data_dir())
    };
    let facts = Run {
        server: account.history_server(),
        account: account.label.clone(),
        max_attempts: config.max_file_attempts,
    };
    Ok(Start {
        connection,
        account,
        folder_id,
        config,
        facts,
    })
}

/// Uploads the paths; see [`Tally::exit`] for the exit code.
pub async fn run(args: UploadArgs) -> anyhow::Result<Exit> {
    let Start {
        connection,
        folder_id,
        mut config,
        facts,
        ..
    } = start(&args.engine, crate::history::Source::Cli).await?;
    config.discover = upload::DiscoverOptions {
        follow_outside_links: args.follow_links,
    };
    tracing::info!(
        server = %facts.server,
        account = %facts.account,
        folder = folder_id.as_deref().unwrap_or("root"),
        paths = args.paths.len(),
        "upload started"
    );
    let (engine, mut events) = upload::spawn(
        &tokio::runtime::Handle::current(),
        connection.client.clone(),
        config,
        Arc::new(|| {}),
    );
    engine.send(Command::Add {
        paths: args.paths.clone(),
        folder_id,
        force: args.force,
    });

    let mut output = if args.json {
        Output::Json
    } else if std::io::stderr().is_terminal() {
        let multi = MultiProgress::with_draw_target(ProgressDrawTarget::stderr());
        let total = multi.add(ProgressBar::new_spinner());
        // Until the first totals arrive there is nothing to measure: a spinner, not a bar
        // that looks full at 0 B of 0 B.
        total.set_style(bar_style("{spinner} {msg}"));
        total.set_message("looking at the files...");
        total.enable_steady_tick(Duration::from_millis(120));
        Output::Bars {
            multi,
            total,
            scanning: None,
        }
    } else {
        Output::Plain
    };
    let mut files: HashMap<FileId, FileInfo> = HashMap::new();
    let mut tally = Tally::default();
    let mut timeline = crate::timeline::Timeline::from_env();
    let mut discarded = HashSet::new();
    let mut stdout = std::io::stdout().lock();

    let interrupted = loop {
        let event = tokio::select! {
            event = events.recv() => event,
            _ = tokio::signal::ctrl_c() => break true,
        };
        let Some(event) = event else { break false };
        if let Some(timeline) = &mut timeline {
            timeline.upload_event(&event);
        }
        if matches!(event, Event::Idle) {
            break false;
        }
        if let Event::Skipped { path, reason } = &event
            && path.as_os_str().is_empty()
            && reason.starts_with(upload::ENGINE_DISABLED)
        {
            anyhow::bail!("{reason}");
        }
        if let Event::ForeignUploads(foreign) = &event {
            for account in foreign {
                if !args.discard_other_accounts {
                    output.note(&format!(
                        "{} (`runflow-uploader upload --discard-other-accounts ...` discards \
                         them)",
                        sanitize(&account.to_string())
                    ));
                } else if discarded.insert(account.account_key.clone()) {
                    output.note(&sanitize(&format!(
                        "discarding {} unfinished upload(s) of {} on {}",
                        account.files, account.account_label, account.base_url
                    )));
                    engine.send(Command::DiscardForeign(account.account_key.clone()));
                }
            }
            continue;
        }
        let result = output
            .handle(&facts, &event, &mut files, &mut tally, &mut stdout)
            .await;
        context::finish_output(&mut stdout, result)?;
    };
    wind_down(
        &engine,
        &mut events,
        &mut output,
        &facts,
        &mut files,
        &mut tally,
        &mut stdout,
    )
    .await?;
    if let Output::Bars { total, .. } = &output {
        total.finish_and_clear();
    }

    let exit = if interrupted {
        Exit::Interrupted
    } else {
        tally.exit()
    };
    if tally.counts.total() == 0 && !interrupted {
        output.note(&format!(
            "nothing to upload: no files found in {}",
            args.paths
                .iter()
                .map(|p| sanitize(&p.display().to_string()))
                .collect::<Vec<_>>()
                .join(", ")
        ));
    }
    let result = output.summary(&facts, &tally.counts, interrupted, exit, &mut stdout);
    context::finish_output(&mut stdout, result)?;
    if interrupted {
        output.note(
            "interrupted; unfinished files stay in the upload journal and resume the next time \
             you run `runflow-uploader upload` (`runflow-uploader journal list` shows them)",
        );
    }
    Ok(exit)
}

/// Stops the engine and reports what finished meanwhile (a confirm already under way) as what
/// it became; what is left was stopped by the interrupt: cancelled, and still in the journal.
async fn wind_down(
    engine: &upload::EngineHandle,
    events: &mut tokio::sync::mpsc::UnboundedReceiver<Event>,
    output: &mut Output,
    facts: &Run,
    files: &mut HashMap<FileId, FileInfo>,
    tally: &mut Tally,
    stdout: &mut impl Write,
) -> anyhow::Result<()> {
    engine.send(Command::Shutdown);
    // The engine tidies its journal before it ends; its event channel closes then. Files that
    // finish meanwhile (a confirm already under way) are reported as what they became.
    let drain = async {
        while let Some(event) = events.recv().await {
            if matches!(event, Event::State { ref state, .. } if state.is_finished()) {
                let result = output.handle(facts, &event, files, tally, stdout).await;
                context::finish_output(stdout, result)?;
            }
        }
        anyhow::Ok(())
    };
    if let Ok(result) = tokio::time::timeout(Duration::from_secs(3), drain).await {
        result?;
    }
    // What is left was stopped by the interrupt: cancelled, and still in the journal.
    let mut left: Vec<(FileId, FileInfo)> = files.drain().collect();
    left.sort_by_key(|(id, _)| *id);
    for (_, file) in left {
        let result = output.cancelled(facts, file, tally, stdout);
        context::finish_output(stdout, result)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests;
