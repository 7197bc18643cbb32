//! `runflow-uploader watch DIR`: the window's watch folders without a window, for servers and
//! NAS boxes. New and changed files in DIR (and its subfolders) upload once they have settled,
//! each logged as a line (or a `file` record with `--json`), until Ctrl-C or SIGTERM. Files
//! added while it was not running are found at start, against the upload history.

use tokio::sync::mpsc::unbounded_channel;

use super::*;
use crate::cli::exit::UsageError;
use crate::history::Source;
use crate::watch::{HistoryScope, SETTLE, WatchEvent, WatchSpec, WatchState, WatchStatus, Watcher};

/// Arguments of `watch`.
#[derive(clap::Args, Debug)]
#[command(
    after_help = "Runs until Ctrl-C or SIGTERM, then exits 0 (unfinished files resume on the \
    next run). Exit codes otherwise: 2 usage (DIR is not a folder, a --folder that does not \
    exist); 3 the key is missing or rejected; 4 Runflow could not be reached at start. With \
    --json, stdout carries a `watch` record at each change of state and a `file` record per \
    file (docs/cli-json.md)."
)]
pub struct WatchArgs {
    /// The folder to watch; its subfolders are watched too.
    #[arg(value_name = "DIR")]
    dir: PathBuf,
    #[command(flatten)]
    engine: EngineArgs,
    /// Print JSON records on stdout instead of lines (docs/cli-json.md).
    #[arg(long)]
    pub(crate) json: bool,
}

/// A change of the watch's state: a `watch` record with `--json`.
#[derive(Debug, Serialize)]
struct WatchRecord {
    #[serde(flatten)]
    path: JsonPath,
    state: &'static str,
    detail: String,
    uploaded_today: u64,
}

/// Watches until stopped; see [`WatchArgs`] for the exit codes.
pub async fn run(args: WatchArgs) -> anyhow::Result<Exit> {
    if !args.dir.is_dir() {
        return Err(UsageError(format!(
            "{} is not a folder; give the folder to watch",
            sanitize(&args.dir.display().to_string())
        ))
        .into());
    }
    let Start {
        connection,
        account,
        folder_id,
        config,
        facts,
    } = start(&args.engine, Source::Watch).await?;
    tracing::info!(
        server = %facts.server,
        account = %facts.account,
        folder = folder_id.as_deref().unwrap_or("root"),
        dir = %args.dir.display(),
        "watch started"
    );
    let (engine, mut events) = upload::spawn(
        &tokio::runtime::Handle::current(),
        connection.client.clone(),
        config,
        Arc::new(|| {}),
    );
    let (watch_tx, mut watch_rx) = unbounded_channel();
    let watcher = Watcher::spawn(
        HistoryScope::of(paths::data_dir(), &account),
        vec![WatchSpec {
            dir: args.dir.clone(),
            folder_id,
            paused: false,
        }],
        watch_tx,
    );

    let mut output = if args.json {
        Output::Json
    } else {
        Output::Plain
    };
    let mut files: HashMap<FileId, FileInfo> = HashMap::new();
    let mut tally = Tally::default();
    let mut stdout = std::io::stdout().lock();
    let mut state: Option<WatchState> = None;
    let stopped = stop_signal();
    tokio::pin!(stopped);

    loop {
        tokio::select! {
            event = events.recv() => {
                let Some(event) = event else {
                    anyhow::bail!("the upload engine stopped");
                };
                match &event {
                    // Finished files are reported; the queue forgets them, so a watch that runs
                    // for months does not grow.
                    Event::Idle => {
                        engine.send(Command::ClearFinished);
                    }
                    Event::Skipped { path, reason }
                        if path.as_os_str().is_empty()
                            && reason.starts_with(upload::ENGINE_DISABLED) =>
                    {
                        anyhow::bail!("{reason}");
                    }
                    Event::ForeignUploads(_) => {}
                    _ => {
                        let result = output
                            .handle(&facts, &event, &mut files, &mut tally, &mut stdout)
                            .await;
                        context::finish_output(&mut stdout, result)?;
                    }
                }
            }
            Some(report) = watch_rx.recv() => match report {
                WatchEvent::Found { paths, folder_id, .. } => {
                    engine.send(Command::AddWatched { paths, folder_id });
                }
                WatchEvent::Status(status) => {
                    if state.as_ref() != Some(&status.state) {
                        state = Some(status.state.clone());
                        let result = report_state(&output, &status, &mut stdout);
                        context::finish_output(&mut stdout, result)?;
                    }
                }
            },
            () = &mut stopped => break,
        }
    }
    drop(watcher);
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
    let result = output.summary(&facts, &tally.counts, true, Exit::Success, &mut stdout);
    context::finish_output(&mut stdout, result)?;
    Ok(Exit::Success)
}

/// A change of state: a note on stderr, or a `watch` record.
fn report_state(
    output: &Output,
    status: &WatchStatus,
    out: &mut impl Write,
) -> std::io::Result<()> {
    let dir = sanitize(&status.dir.display().to_string());
    tracing::info!(dir = %dir, state = status.state.code(), "watch state");
    if let Output::Json = output {
        return json::write_record(
            out,
            "watch",
            &WatchRecord {
                path: JsonPath::of(&status.dir),
                state: status.state.code(),
                detail: status.state.describe(),
                uploaded_today: status.today,
            },
        );
    }
    match &status.state {
        // News, not a warning.
        WatchState::Watching => writeln!(
            std::io::stderr().lock(),
            "watching {dir}: new and changed files upload once unchanged for {} s; Ctrl-C stops",
            SETTLE.as_secs()
        ),
        other => {
            output.note(&format!("{dir}: {}", sanitize(&other.describe())));
            Ok(())
        }
    }
}

/// Ctrl-C, or SIGTERM where there is one (a service manager's stop).
async fn stop_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        match signal(SignalKind::terminate()) {
            Ok(mut terminate) => {
                tokio::select! {
                    _ = tokio::signal::ctrl_c() => {}
                    _ = terminate.recv() => {}
                }
            }
            Err(err) => {
                tracing::warn!(%err, "SIGTERM cannot be caught; only Ctrl-C stops the watch");
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    let _ = tokio::signal::ctrl_c().await;
}
