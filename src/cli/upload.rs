//! `runflow-uploader upload`: drives the upload engine from a terminal, with progress bars on a
//! terminal, plain lines otherwise, or one JSON object per file with `--json`.

use std::collections::HashMap;
use std::io::{IsTerminal, Write};
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};
use serde::Serialize;

use crate::auth::Settings;
use crate::paths;
use crate::upload::{self, Command, EngineConfig, Event, FileId, FileState, MAX_CONCURRENCY};

use super::context;

/// Arguments of `upload`.
#[derive(clap::Args, Debug)]
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
    /// Print one JSON object per file on stdout (path, status, asset_id, url, error), then a
    /// summary object.
    #[arg(long)]
    json: bool,
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

/// One file's result, as printed with `--json`.
#[derive(Debug, Serialize)]
struct FileReport<'a> {
    path: String,
    name: &'a str,
    status: &'static str,
    size_bytes: Option<u64>,
    asset_id: Option<&'a str>,
    url: Option<&'a str>,
    error: Option<String>,
}

#[derive(Debug, Default, Serialize)]
struct Summary {
    uploaded: usize,
    already_uploaded: usize,
    in_other_folder: usize,
    failed: usize,
    cancelled: usize,
    skipped: usize,
}

struct FileInfo {
    name: String,
    path: Option<PathBuf>,
    size_bytes: Option<u64>,
    bar: Option<ProgressBar>,
}

enum Output {
    Json,
    Plain,
    Bars {
        multi: MultiProgress,
        total: ProgressBar,
    },
}

/// Uploads the paths and returns 0 only when every file was uploaded or already there.
pub async fn run(args: UploadArgs) -> anyhow::Result<ExitCode> {
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
    let config = EngineConfig {
        concurrency,
        account: Some(upload::AccountScope::of(&connection.client, &user)),
        discover: upload::DiscoverOptions {
            follow_outside_links: args.follow_links,
        },
        ..EngineConfig::new(paths::data_dir())
    };
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
        let total = multi.add(ProgressBar::new(0));
        total.set_style(bar_style(
            "{spinner} {msg} [{bar:30}] {bytes}/{total_bytes} {binary_bytes_per_sec} ETA {eta}",
        ));
        total.enable_steady_tick(Duration::from_millis(120));
        Output::Bars { multi, total }
    } else {
        Output::Plain
    };
    let mut files: HashMap<FileId, FileInfo> = HashMap::new();
    let mut summary = Summary::default();
    let mut discarded = std::collections::HashSet::new();
    let mut stdout = std::io::stdout().lock();

    let interrupted = loop {
        let event = tokio::select! {
            event = events.recv() => event,
            _ = tokio::signal::ctrl_c() => break true,
        };
        let Some(event) = event else { break false };
        if matches!(event, Event::Idle) {
            break false;
        }
        if let Event::ForeignUploads(foreign) = &event {
            for account in foreign {
                if !args.discard_other_accounts {
                    output.note(&format!(
                        "{account} (`runflow-uploader upload --discard-other-accounts ...` \
                         discards them)"
                    ));
                } else if discarded.insert(account.account_key.clone()) {
                    output.note(&format!(
                        "discarding {} unfinished upload(s) of {} on {}",
                        account.files, account.account_label, account.base_url
                    ));
                    engine.send(Command::DiscardForeign(account.account_key.clone()));
                }
            }
            continue;
        }
        let result = output.handle(&event, &mut files, &mut summary, &mut stdout);
        context::finish_output(&mut stdout, result)?;
    };
    engine.send(Command::Shutdown);
    // The engine tidies its journal before it ends; its event channel closes then.
    let _ = tokio::time::timeout(Duration::from_secs(3), async {
        while events.recv().await.is_some() {}
    })
    .await;
    if let Output::Bars { total, .. } = &output {
        total.finish_and_clear();
    }

    let result = output.summary(&summary, &mut stdout);
    context::finish_output(&mut stdout, result)?;
    if interrupted {
        anyhow::bail!(
            "interrupted; unfinished files stay in the upload journal and resume the next time \
             you run `runflow-uploader upload`"
        );
    }
    Ok(
        if summary.failed + summary.cancelled + summary.in_other_folder == 0 {
            ExitCode::SUCCESS
        } else {
            ExitCode::FAILURE
        },
    )
}

fn bar_style(template: &str) -> ProgressStyle {
    ProgressStyle::with_template(template)
        .unwrap_or_else(|_| ProgressStyle::default_bar())
        .progress_chars("=> ")
}

impl Output {
    fn handle(
        &mut self,
        event: &Event,
        files: &mut HashMap<FileId, FileInfo>,
        summary: &mut Summary,
        out: &mut impl Write,
    ) -> std::io::Result<()> {
        match event {
            Event::Added {
                id,
                path,
                name,
                size_bytes,
                state,
                resumed,
                ..
            } => {
                files.insert(
                    *id,
                    FileInfo {
                        name: name.clone(),
                        path: path.clone(),
                        size_bytes: *size_bytes,
                        bar: None,
                    },
                );
                if *resumed {
                    self.note(&format!("resuming {name} from an earlier run"));
                }
                if state.is_finished() {
                    self.finished(*id, state, files, summary, out)?;
                }
            }
            Event::Skipped { path, reason } => {
                summary.skipped += 1;
                let path = path.display().to_string();
                match self {
                    Output::Json => context::write_json_line(
                        out,
                        &FileReport {
                            name: "",
                            path,
                            status: "skipped",
                            size_bytes: None,
                            asset_id: None,
                            url: None,
                            error: Some(reason.clone()),
                        },
                    )?,
                    _ => self.note(&format!("skipped {path}: {reason}")),
                }
            }
            Event::State { id, state } if state.is_finished() => {
                self.finished(*id, state, files, summary, out)?;
            }
            Event::State { id, state } => self.active(*id, state, files),
            Event::Progress { id, sent_bytes, .. } => {
                if let Some(bar) = files.get(id).and_then(|f| f.bar.as_ref()) {
                    bar.set_position(*sent_bytes);
                }
            }
            Event::Batch(batch) => {
                if let Output::Bars { total, .. } = self {
                    total.set_length(batch.total_bytes);
                    total.set_position(batch.sent_bytes);
                    total.set_message(format!(
                        "{} of {} files",
                        batch.succeeded_files
                            + batch.failed_files
                            + batch.elsewhere_files
                            + batch.cancelled_files,
                        batch.total_files
                    ));
                }
            }
            Event::ForeignUploads(_) | Event::Removed(_) | Event::Idle => {}
        }
        Ok(())
    }

    /// A file is being worked on: show (or update) its bar.
    fn active(&mut self, id: FileId, state: &FileState, files: &mut HashMap<FileId, FileInfo>) {
        let Output::Bars { multi, .. } = self else {
            if let FileState::Retrying { reason, wait } = state
                && let Some(file) = files.get(&id)
            {
                self.note(&format!(
                    "retrying {} in {} s: {reason}",
                    file.name,
                    wait.as_secs().max(1)
                ));
            }
            return;
        };
        let Some(file) = files.get_mut(&id) else {
            return;
        };
        let bar = file.bar.get_or_insert_with(|| {
            let bar = multi.add(ProgressBar::new(file.size_bytes.unwrap_or(0)));
            bar.set_style(bar_style("  {msg:40!} [{bar:20}] {bytes}/{total_bytes}"));
            bar
        });
        let label = match state {
            FileState::Uploading => file.name.clone(),
            other => format!("{} ({})", file.name, other.label()),
        };
        bar.set_message(label);
    }

    fn finished(
        &mut self,
        id: FileId,
        state: &FileState,
        files: &mut HashMap<FileId, FileInfo>,
        summary: &mut Summary,
        out: &mut impl Write,
    ) -> std::io::Result<()> {
        let Some(file) = files.remove(&id) else {
            return Ok(());
        };
        if let Some(bar) = &file.bar {
            bar.finish_and_clear();
        }
        let (status, asset_id, url, error) = match state {
            FileState::Done(asset) => {
                summary.uploaded += 1;
                ("done", asset.id.as_deref(), asset.url.as_deref(), None)
            }
            FileState::AlreadyUploaded { asset_id, .. } => {
                summary.already_uploaded += 1;
                ("already_uploaded", Some(asset_id.as_str()), None, None)
            }
            FileState::InOtherFolder {
                asset_id,
                folder_id,
                folder_name,
            } => {
                summary.in_other_folder += 1;
                let place = match (folder_name, folder_id) {
                    (Some(name), _) => format!("in the folder \"{name}\""),
                    (None, Some(id)) => format!("in the folder {id}"),
                    (None, None) => "in the root folder".to_owned(),
                };
                (
                    "in_other_folder",
                    Some(asset_id.as_str()),
                    None,
                    Some(format!(
                        "already on Runflow {place}, not in the folder asked for; move it \
                         there, or run again with --force to upload a copy"
                    )),
                )
            }
            FileState::Failed(reason) => {
                summary.failed += 1;
                ("failed", None, None, Some(reason.to_string()))
            }
            _ => {
                summary.cancelled += 1;
                ("cancelled", None, None, None)
            }
        };
        let path = file
            .path
            .as_ref()
            .map_or_else(|| file.name.clone(), |p| p.display().to_string());
        match self {
            Output::Json => context::write_json_line(
                out,
                &FileReport {
                    path,
                    name: &file.name,
                    status,
                    size_bytes: file.size_bytes,
                    asset_id,
                    url,
                    error,
                },
            ),
            Output::Plain | Output::Bars { .. } => {
                let line = match (status, asset_id, error) {
                    ("in_other_folder", Some(id), Some(error)) => {
                        format!("elsewhere {path} -> {id}: {error}")
                    }
                    (_, _, Some(error)) => format!("failed    {path}: {error}"),
                    ("done", Some(id), _) => format!("uploaded  {path} -> {id}"),
                    ("already_uploaded", Some(id), _) => {
                        format!(
                            "already   {path} -> {id} (uploaded before; --force to upload again)"
                        )
                    }
                    _ => format!("{status:<9} {path}"),
                };
                self.line(out, &line)
            }
        }
    }

    /// A result line on stdout (above the bars on a terminal).
    fn line(&self, out: &mut impl Write, line: &str) -> std::io::Result<()> {
        match self {
            Output::Bars { multi, .. } => multi.suspend(|| writeln!(out, "{line}")),
            _ => writeln!(out, "{line}"),
        }
    }

    /// A side note on stderr.
    fn note(&self, line: &str) {
        match self {
            Output::Bars { multi, .. } => multi.suspend(|| context::warn(line)),
            _ => context::warn(line),
        }
    }

    fn summary(&self, summary: &Summary, out: &mut impl Write) -> std::io::Result<()> {
        if let Output::Json = self {
            return context::write_json_line(out, &serde_json::json!({ "summary": summary }));
        }
        let mut line = format!(
            "{} uploaded, {} already uploaded, {} failed",
            summary.uploaded, summary.already_uploaded, summary.failed
        );
        if summary.in_other_folder > 0 {
            line.push_str(&format!(
                ", {} already in another folder",
                summary.in_other_folder
            ));
        }
        if summary.cancelled > 0 {
            line.push_str(&format!(", {} cancelled", summary.cancelled));
        }
        if summary.skipped > 0 {
            line.push_str(&format!(", {} skipped", summary.skipped));
        }
        writeln!(out, "{line}")
    }
}
