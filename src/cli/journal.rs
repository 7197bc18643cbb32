//! `journal list|discard`: the unfinished uploads earlier runs left (of every server and
//! account), and forgetting them.

use std::io::{self, Write as _};

use anyhow::Context as _;
use serde::Serialize;

use super::context::{self, Align, Table, finish_output, sanitize};
use super::exit::{Exit, UsageError};
use super::json::{self, JsonPath};
use crate::paths;
use crate::upload::{self, Discarded, JournalStep, Unfinished};

/// The journal subcommands.
#[derive(clap::Subcommand, Debug)]
pub enum JournalCommand {
    /// Show the unfinished uploads: they resume with the next `upload` of their account (or
    /// the window's next start).
    List {
        /// Print one JSON object per upload (see docs/cli-json.md).
        #[arg(long)]
        json: bool,
    },
    /// Forget unfinished uploads, by the ID `journal list` shows, or all of them. Uploads a
    /// running window or `upload` is working on are left alone.
    Discard {
        /// The IDs to forget.
        #[arg(
            value_name = "ID",
            required_unless_present = "all",
            conflicts_with = "all"
        )]
        ids: Vec<String>,
        /// Forget every unfinished upload of every server and account.
        #[arg(long)]
        all: bool,
    },
}

impl JournalCommand {
    /// Whether `--json` was given.
    pub(crate) fn wants_json(&self) -> bool {
        matches!(self, Self::List { json: true })
    }
}

/// `journal list --json`: one unfinished upload.
#[derive(Debug, Serialize)]
struct EntryRecord<'a> {
    id: &'a str,
    #[serde(flatten)]
    path: JsonPath,
    name: &'a str,
    size_bytes: u64,
    step: &'static str,
    folder_id: Option<&'a str>,
    server: &'a str,
    account: &'a str,
    account_key: &'a str,
}

fn step_name(step: &JournalStep) -> &'static str {
    match step {
        JournalStep::Pending => "pending",
        JournalStep::Session { .. } => "session",
        JournalStep::Uploaded { .. } => "uploaded",
    }
}

/// What a step means, for people.
fn step_label(step: &JournalStep) -> &'static str {
    match step {
        JournalStep::Pending => "queued",
        JournalStep::Session { .. } => "sending",
        JournalStep::Uploaded { .. } => "sent, to confirm",
    }
}

/// Runs a journal subcommand. Works offline: the journal is local.
pub async fn run(command: JournalCommand) -> anyhow::Result<Exit> {
    let root = paths::data_dir().join(upload::JOURNAL_DIR);
    match command {
        JournalCommand::List { json } => {
            let found = tokio::task::spawn_blocking(move || upload::list_journal(&root))
                .await
                .context("reading the upload journal did not finish")?;
            list(&found, json)?;
            Ok(Exit::Success)
        }
        JournalCommand::Discard { ids, all } => {
            tokio::task::spawn_blocking(move || discard(&root, &ids, all))
                .await
                .context("discarding from the upload journal did not finish")?
        }
    }
}

fn list(found: &[Unfinished], json: bool) -> anyhow::Result<()> {
    let mut out = io::stdout().lock();
    let written = if json {
        found.iter().try_for_each(|u| {
            json::write_record(
                &mut out,
                "journal_entry",
                &EntryRecord {
                    id: &u.id,
                    path: JsonPath::of(&u.entry.path),
                    name: &u.entry.name,
                    size_bytes: u.entry.size_bytes,
                    step: step_name(&u.entry.step),
                    folder_id: u.entry.folder_id.as_deref(),
                    server: u.base_url.trim_end_matches('/'),
                    account: &u.account_label,
                    account_key: &u.account_key,
                },
            )
        })
    } else if found.is_empty() {
        writeln!(out, "No unfinished uploads.")
    } else {
        let mut table = Table::new(&[
            ("ID", Align::Left),
            ("STEP", Align::Left),
            ("SIZE", Align::Right),
            ("ACCOUNT", Align::Left),
            ("PATH", Align::Left),
        ]);
        for u in found {
            let account = if u.base_url.is_empty() {
                u.account_label.clone()
            } else {
                format!(
                    "{} on {}",
                    u.account_label,
                    u.base_url.trim_end_matches('/')
                )
            };
            table.row([
                u.id.clone(),
                step_label(&u.entry.step).to_owned(),
                upload::human_bytes(u.entry.size_bytes),
                account,
                u.entry.path.display().to_string(),
            ]);
        }
        table.write(&mut out).and_then(|()| {
            writeln!(
                out,
                "{} unfinished upload{}: `runflow-uploader upload` resumes those of its account; \
                 `runflow-uploader journal discard ID` (or --all) forgets them.",
                found.len(),
                if found.len() == 1 { "" } else { "s" }
            )
        })
    };
    finish_output(&mut out, written)
}

fn discard(root: &std::path::Path, ids: &[String], all: bool) -> anyhow::Result<Exit> {
    let mut out = io::stdout().lock();
    if all {
        let dropped = upload::discard_all(root).context("could not discard the journal")?;
        let left = upload::list_journal(root).len();
        let written = writeln!(
            out,
            "Discarded {dropped} unfinished upload{}.",
            if dropped == 1 { "" } else { "s" }
        );
        finish_output(&mut out, written)?;
        if left > 0 {
            context::warn(format_args!(
                "{left} unfinished upload{} belong to a window or `upload` that is running; \
                 stop it first",
                if left == 1 { "" } else { "s" }
            ));
            return Ok(Exit::Failed);
        }
        return Ok(Exit::Success);
    }
    let mut failed = 0;
    let mut unknown = 0;
    for id in ids {
        match upload::discard(root, id)
            .with_context(|| format!("could not discard {}", sanitize(id)))?
        {
            Discarded::Removed => {
                let written = writeln!(out, "Discarded {}", sanitize(id));
                finish_output(&mut out, written)?;
            }
            Discarded::NotFound => {
                unknown += 1;
                context::warn(format_args!(
                    "no unfinished upload has the id {}; `runflow-uploader journal list` shows \
                     them",
                    sanitize(id)
                ));
            }
            Discarded::InUse => {
                failed += 1;
                context::warn(format_args!(
                    "{} belongs to a window or `upload` that is running; stop it first",
                    sanitize(id)
                ));
            }
        }
    }
    if unknown == ids.len() {
        return Err(UsageError(format!(
            "no unfinished upload has the id{} given",
            if ids.len() == 1 { "" } else { "s" }
        ))
        .into());
    }
    Ok(if failed + unknown > 0 {
        Exit::Failed
    } else {
        Exit::Success
    })
}
