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
    /// Id of the destination folder (default: the root, or the settings' default folder).
    #[arg(long, value_name = "ID")]
    folder: Option<String>,
    /// Files uploaded at once, 1-16 (default 4, or the settings' value).
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u16).range(1..=16))]
    concurrency: Option<u16>,
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

struct FileInfo {
    name: String,
    path: Option<PathBuf>,
    size_bytes: Option<u64>,
    mime_type: Option<String>,
    resumed: bool,
    retries: u32,
    bar: Option<ProgressBar>,
}

enum Output {
    Json,
    Plain,
    Bars {
        multi: MultiProgress,
        total: ProgressBar,
        /// "scanning photos: 12,345 files found", while folders are walked.
        scanning: Option<String>,
    },
}

/// The run's fixed facts, for records and log lines.
struct Run {
    server: String,
    account: String,
    max_attempts: u32,
}

/// Uploads the paths; see [`Tally::exit`] for the exit code.
pub async fn run(args: UploadArgs) -> anyhow::Result<Exit> {
    let connection = context::connect().await?;
    // One quick call first, so a bad key is one clear error instead of one per file.
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
        discover: upload::DiscoverOptions {
            follow_outside_links: args.follow_links,
        },
        ..EngineConfig::new(paths::data_dir())
    };
    let facts = Run {
        server: account.base_url.trim_end_matches('/').to_owned(),
        account: account.label.clone(),
        max_attempts: config.max_file_attempts,
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
    engine.send(Command::Shutdown);
    // The engine tidies its journal before it ends; its event channel closes then. Files that
    // finish meanwhile (a confirm already under way) are reported as what they became.
    let drain = async {
        while let Some(event) = events.recv().await {
            if matches!(event, Event::State { ref state, .. } if state.is_finished()) {
                let result = output
                    .handle(&facts, &event, &mut files, &mut tally, &mut stdout)
                    .await;
                context::finish_output(&mut stdout, result)?;
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
        let result = output.cancelled(&facts, file, &mut tally, &mut stdout);
        context::finish_output(&mut stdout, result)?;
    }
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

fn bar_style(template: &str) -> ProgressStyle {
    ProgressStyle::with_template(template)
        .unwrap_or_else(|_| ProgressStyle::default_bar())
        .progress_chars("=> ")
}

/// The first sentence of a failure's prose: what happened, without the advice (which belongs
/// to the final failure, not to each retry).
fn first_sentence(text: &str) -> &str {
    text.find(". ")
        .map_or(text.trim_end_matches('.'), |end| &text[..end])
}

/// `path` as seen from the current directory when it lies below it (`photos/a.png`), for
/// human lines that fit a terminal; JSON keeps the full path.
fn relative_to_cwd(path: &str) -> String {
    std::env::current_dir()
        .ok()
        .and_then(|cwd| {
            Path::new(path)
                .strip_prefix(cwd)
                .ok()
                .map(Path::to_path_buf)
        })
        .filter(|relative| !relative.as_os_str().is_empty())
        .map_or_else(
            || path.to_owned(),
            |relative| relative.display().to_string(),
        )
}

/// The last component of `path`, for names of skipped entries.
fn file_name(path: &Path) -> String {
    path.file_name().map_or_else(
        || path.display().to_string(),
        |n| n.to_string_lossy().into_owned(),
    )
}

impl Output {
    async fn handle(
        &mut self,
        run: &Run,
        event: &Event,
        files: &mut HashMap<FileId, FileInfo>,
        tally: &mut Tally,
        out: &mut impl Write,
    ) -> std::io::Result<()> {
        match event {
            Event::Added {
                id,
                path,
                name,
                size_bytes,
                mime_type,
                state,
                resumed,
            } => {
                files.insert(
                    *id,
                    FileInfo {
                        name: name.clone(),
                        path: path.clone(),
                        size_bytes: *size_bytes,
                        mime_type: mime_type.clone(),
                        resumed: *resumed,
                        retries: 0,
                        bar: None,
                    },
                );
                if *resumed {
                    self.note(&format!("resuming {} from an earlier run", sanitize(name)));
                }
                if state.is_finished() {
                    self.finished(*id, state, files, tally, out).await?;
                }
            }
            Event::Skipped { path, reason } => {
                let code = upload::skip_code(reason);
                // The same file given again (or resumed and given again) is still one file,
                // counted once by its own outcome.
                if code == "already_queued" {
                    tracing::debug!(path = %path.display(), "already in the queue");
                    return Ok(());
                }
                tally.counts.add(Status::Skipped);
                tracing::info!(
                    path = %sanitize(&path.display().to_string()),
                    status = "skipped",
                    reason = code,
                    detail = %reason,
                    "file finished"
                );
                match self {
                    Output::Json => json::write_record(
                        out,
                        "file",
                        &FileRecord {
                            path: JsonPath::of(path),
                            name: file_name(path),
                            status: Status::Skipped,
                            reason: Some(code),
                            error: Some(reason.clone()),
                            asset_id: None,
                            url: None,
                            folder_id: None,
                            folder_name: None,
                            same_as: None,
                            size_bytes: None,
                            mime_type: None,
                        },
                    )?,
                    _ => self.note(&format!(
                        "skipped {}: {}",
                        sanitize(&path.display().to_string()),
                        sanitize(reason)
                    )),
                }
            }
            Event::State { id, state } if state.is_finished() => {
                self.finished(*id, state, files, tally, out).await?;
            }
            Event::State { id, state } => self.active(run, *id, state, files),
            Event::Progress { id, sent_bytes, .. } => {
                if let Some(bar) = files.get(id).and_then(|f| f.bar.as_ref()) {
                    bar.set_position(*sent_bytes);
                }
            }
            Event::Batch(batch) => {
                if let Output::Bars {
                    total, scanning, ..
                } = self
                    && batch.total_bytes > 0
                {
                    if total.length().is_none() {
                        total.set_style(bar_style(
                            "{spinner} {msg} [{wide_bar}] {bytes}/{total_bytes} \
                             {binary_bytes_per_sec} {eta}",
                        ));
                    }
                    total.set_length(batch.total_bytes);
                    total.set_position(batch.sent_bytes.min(batch.total_bytes));
                    let mut message = format!(
                        "{}/{} files",
                        batch.succeeded_files
                            + batch.failed_files
                            + batch.elsewhere_files
                            + batch.cancelled_files,
                        batch.total_files
                    );
                    if scanning.is_some() {
                        message.push_str(", scanning");
                    }
                    total.set_message(message);
                }
            }
            Event::Scanning {
                label, found, done, ..
            } => {
                if let Output::Bars {
                    total, scanning, ..
                } = self
                {
                    let text = format!(
                        "scanning {}: {}",
                        sanitize(label),
                        upload::files_found(*found)
                    );
                    *scanning = (!done).then(|| text.clone());
                    // While there are no totals yet, the spinner says what is happening.
                    if total.length().is_none() {
                        total.set_message(text);
                    }
                }
            }
            Event::ForeignUploads(_) | Event::Removed(_) | Event::Idle => {}
        }
        Ok(())
    }

    /// A file is being worked on: a retry gets its line; on a terminal the file gets a bar.
    fn active(
        &mut self,
        run: &Run,
        id: FileId,
        state: &FileState,
        files: &mut HashMap<FileId, FileInfo>,
    ) {
        let Some(file) = files.get_mut(&id) else {
            return;
        };
        if let FileState::Retrying { reason, wait } = state {
            file.retries += 1;
            let line = format!(
                "retrying {} ({}; attempt {} of {}, in {} s)",
                sanitize(&file.name),
                sanitize(first_sentence(reason)),
                file.retries + 1,
                run.max_attempts,
                wait.as_secs().max(1)
            );
            tracing::info!(file = %sanitize(&file.name), detail = %reason, "{line}");
            self.note(&line);
        }
        let Output::Bars { multi, .. } = self else {
            return;
        };
        let bar = file.bar.get_or_insert_with(|| {
            let bar = multi.add(ProgressBar::new(file.size_bytes.unwrap_or(0)));
            bar.set_style(bar_style(
                "  {msg:32!} [{wide_bar}] {bytes:>10}/{total_bytes:<10}",
            ));
            bar
        });
        let name = sanitize(&file.name);
        let label = match state {
            FileState::Uploading => name,
            other => format!("{name} ({})", other.label()),
        };
        bar.set_message(label);
    }

    /// Reports a file that reached its end.
    async fn finished(
        &mut self,
        id: FileId,
        state: &FileState,
        files: &mut HashMap<FileId, FileInfo>,
        tally: &mut Tally,
        out: &mut impl Write,
    ) -> std::io::Result<()> {
        let Some(file) = files.remove(&id) else {
            return Ok(());
        };
        if let Some(bar) = &file.bar {
            bar.finish_and_clear();
        }
        let mut record = self.record(&file, Status::Cancelled);
        match state {
            FileState::Done(asset) => {
                record.status = if file.resumed {
                    Status::Resumed
                } else {
                    Status::Uploaded
                };
                record.asset_id.clone_from(&asset.id);
                record.url.clone_from(&asset.url);
                record.folder_id.clone_from(&asset.folder_id);
            }
            FileState::AlreadyUploaded {
                asset_id,
                same_as,
                url,
            } => {
                record.status = Status::AlreadyUploaded;
                record.asset_id = Some(asset_id.clone());
                record.same_as.clone_from(same_as);
                record.url.clone_from(url);
            }
            FileState::InOtherFolder {
                asset_id,
                folder_id,
                folder_name,
                url,
            } => {
                let place = match (folder_name, folder_id) {
                    (Some(name), _) => format!("in the folder \"{}\"", sanitize(name)),
                    (None, Some(id)) => format!("in the folder {}", sanitize(id)),
                    (None, None) => "in the root folder".to_owned(),
                };
                record.status = Status::InOtherFolder;
                record.reason = Some("in_other_folder");
                record.error = Some(format!(
                    "already on Runflow {place}, not in the folder asked for; move it there, or \
                     run again with --force to upload a copy"
                ));
                record.asset_id = Some(asset_id.clone());
                record.folder_name.clone_from(folder_name);
                record.url.clone_from(url);
                record.folder_id.clone_from(folder_id);
            }
            FileState::Failed(failure) => {
                record.status = Status::Failed;
                let code = json::failure_reason(failure);
                tally.failure_reasons.push(code);
                record.reason = Some(code);
                record.error = Some(failure.to_string());
            }
            _ => {
                record.reason = Some("cancelled");
            }
        }
        self.report(record, tally, out)
    }

    /// A file the interrupt stopped.
    fn cancelled(
        &mut self,
        _run: &Run,
        file: FileInfo,
        tally: &mut Tally,
        out: &mut impl Write,
    ) -> std::io::Result<()> {
        if let Some(bar) = &file.bar {
            bar.finish_and_clear();
        }
        let mut record = self.record(&file, Status::Cancelled);
        record.reason = Some("interrupted");
        record.error = Some(
            "interrupted before it was uploaded; it resumes the next time you run `upload`"
                .to_owned(),
        );
        self.report(record, tally, out)
    }

    /// A record with what is known of `file`.
    fn record(&self, file: &FileInfo, status: Status) -> FileRecord {
        let path = file.path.as_deref().map_or_else(
            || JsonPath {
                path: file.name.clone(),
                path_bytes: None,
            },
            JsonPath::of,
        );
        FileRecord {
            path,
            name: file.name.clone(),
            status,
            reason: None,
            error: None,
            asset_id: None,
            url: None,
            folder_id: None,
            folder_name: None,
            same_as: None,
            size_bytes: file.size_bytes,
            mime_type: file.mime_type.clone(),
        }
    }

    /// Counts, logs and prints one file's outcome.
    fn report(
        &mut self,
        record: FileRecord,
        tally: &mut Tally,
        out: &mut impl Write,
    ) -> std::io::Result<()> {
        tally.counts.add(record.status);
        let path = sanitize(&record.path.path);
        tracing::info!(
            path = %path,
            status = record.status.as_str(),
            asset_id = record.asset_id.as_deref().unwrap_or("-"),
            reason = record.reason.unwrap_or("-"),
            "file finished"
        );
        if let Output::Json = self {
            return json::write_record(out, "file", &record);
        }
        let id = record.asset_id.as_deref().map(sanitize).unwrap_or_default();
        let error = record.error.as_deref().map(sanitize).unwrap_or_default();
        let path = sanitize(&relative_to_cwd(&record.path.path));
        let line = match record.status {
            Status::Uploaded => format!("uploaded  {path} -> {id}"),
            Status::Resumed => {
                format!("resumed   {path} -> {id} (finished an upload an earlier run started)")
            }
            Status::AlreadyUploaded => {
                format!("already   {path} -> {id} (uploaded before; --force to upload again)")
            }
            Status::InOtherFolder => format!("elsewhere {path} -> {id}: {error}"),
            Status::Failed => format!("failed    {path}: {error}"),
            Status::Cancelled if record.reason == Some("interrupted") => {
                format!("cancelled {path} (interrupted; resumes on the next run)")
            }
            Status::Cancelled | Status::Skipped => format!("cancelled {path}"),
        };
        self.line(out, &line)
    }

    /// A result line on stdout (above the bars on a terminal).
    fn line(&self, out: &mut impl Write, line: &str) -> std::io::Result<()> {
        match self {
            Output::Bars { multi, .. } => multi.suspend(|| writeln!(out, "{line}")),
            _ => writeln!(out, "{line}"),
        }
    }

    /// A side note on stderr (already sanitised by the caller).
    fn note(&self, line: &str) {
        match self {
            Output::Bars { multi, .. } => multi.suspend(|| context::warn(line)),
            _ => context::warn(line),
        }
    }

    fn summary(
        &self,
        run: &Run,
        counts: &Counts,
        interrupted: bool,
        exit: Exit,
        out: &mut impl Write,
    ) -> std::io::Result<()> {
        let line = summary_line(counts);
        tracing::info!(
            server = %run.server,
            account = %run.account,
            files = counts.total(),
            interrupted,
            exit_code = exit.code(),
            "upload finished: {line}"
        );
        if let Output::Json = self {
            return json::write_record(
                out,
                "summary",
                &SummaryRecord {
                    files: counts.total(),
                    counts,
                    interrupted,
                    exit_code: exit.code(),
                    server: &run.server,
                    account: &run.account,
                },
            );
        }
        writeln!(out, "{line}")
    }
}

/// `3 uploaded, 0 already uploaded, 1 failed`, plus the other statuses that occurred.
fn summary_line(counts: &Counts) -> String {
    let mut line = format!(
        "{} uploaded, {} already uploaded, {} failed",
        counts.uploaded, counts.already_uploaded, counts.failed
    );
    let extras = [
        (counts.resumed, "resumed from an earlier run"),
        (counts.in_other_folder, "already in another folder"),
        (counts.cancelled, "cancelled"),
        (counts.skipped, "skipped"),
    ];
    for (count, what) in extras {
        if count > 0 {
            line.push_str(&format!(", {count} {what}"));
        }
    }
    line
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tally(counts: Counts, reasons: &[&'static str]) -> Tally {
        Tally {
            counts,
            failure_reasons: reasons.to_vec(),
        }
    }

    #[test]
    fn exit_codes_follow_what_happened() {
        let ok = Counts {
            uploaded: 2,
            already_uploaded: 1,
            ..Counts::default()
        };
        assert_eq!(tally(ok.clone(), &[]).exit(), Exit::Success);
        let some_failed = Counts { failed: 1, ..ok };
        assert_eq!(tally(some_failed, &["too_large"]).exit(), Exit::Failed);
        let refused = Counts {
            failed: 2,
            ..Counts::default()
        };
        assert_eq!(
            tally(refused.clone(), &["auth", "permission"]).exit(),
            Exit::Auth
        );
        assert_eq!(
            tally(refused.clone(), &["network", "server"]).exit(),
            Exit::Unreachable
        );
        assert_eq!(
            tally(refused, &["network", "too_large"]).exit(),
            Exit::Failed
        );
    }

    #[test]
    fn summaries_add_up_and_name_every_status_that_occurred() {
        let counts = Counts {
            uploaded: 1,
            resumed: 2,
            cancelled: 3,
            ..Counts::default()
        };
        assert_eq!(counts.total(), 6);
        assert_eq!(
            summary_line(&counts),
            "1 uploaded, 0 already uploaded, 0 failed, 2 resumed from an earlier run, 3 cancelled"
        );
        let json = serde_json::to_value(&counts).unwrap();
        let keys: Vec<&str> = json
            .as_object()
            .unwrap()
            .keys()
            .map(String::as_str)
            .collect();
        let mut names: Vec<&str> = Status::ALL.iter().map(|s| s.as_str()).collect();
        names.sort_unstable();
        let mut keys = keys;
        keys.sort_unstable();
        assert_eq!(keys, names, "the summary counts by the status names");
    }

    #[test]
    fn retry_lines_keep_what_happened_and_drop_the_advice() {
        assert_eq!(
            first_sentence(
                "Runflow is having trouble (HTTP 503: busy). Try again in a minute; if it \
                 persists, check Runflow's status."
            ),
            "Runflow is having trouble (HTTP 503: busy)"
        );
        assert_eq!(first_sentence("Timed out."), "Timed out");
    }
}
