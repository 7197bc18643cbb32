//! `folders list|create|rename|delete`.

use std::collections::HashSet;
use std::io::{self, Write as _};

use anyhow::bail;

use serde::Serialize;

use super::context::{self, Align, Connection, Table, finish_output, format_time, or_dash};
use super::exit::Exit;
use super::json;
use crate::api::models::{Folder, PatchRequest};
use crate::api::{ApiError, Filter, ListQuery};

/// Page size used to walk all folders.
const PAGE_SIZE: u32 = 500;

/// The folder subcommands.
#[derive(clap::Subcommand, Debug)]
pub enum FoldersCommand {
    /// List folders (all of them, or the children of --parent) as a table, or JSON Lines with
    /// --json.
    #[command(
        after_help = "With --json, each folder is printed as one JSON object on its own \
        line (JSON Lines): `schema`, `\"type\":\"folder\"` and the API's field names; see \
        docs/cli-json.md."
    )]
    List {
        /// Only the direct children of the folder with this id; `root` for top-level folders.
        #[arg(long, value_name = "ID")]
        parent: Option<String>,
        /// Print one JSON object per line (JSON Lines) instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Create a folder.
    Create {
        /// The folder name (unique among its siblings).
        name: String,
        /// Create it inside the folder with this id; omitted or `root`: at the top level.
        #[arg(long, value_name = "ID")]
        parent: Option<String>,
        /// Print the new folder as one JSON object instead of a sentence.
        #[arg(long)]
        json: bool,
    },
    /// Rename a folder.
    Rename {
        /// The folder id.
        id: String,
        /// The new name.
        name: String,
        /// Print the renamed folder as one JSON object instead of a sentence.
        #[arg(long)]
        json: bool,
    },
    /// Delete an empty folder.
    Delete {
        /// The folder id.
        id: String,
        /// Print the result as one JSON object instead of a sentence.
        #[arg(long)]
        json: bool,
    },
}

impl FoldersCommand {
    /// Whether `--json` was given.
    pub(crate) fn wants_json(&self) -> bool {
        match self {
            Self::List { json, .. }
            | Self::Create { json, .. }
            | Self::Rename { json, .. }
            | Self::Delete { json, .. } => *json,
        }
    }
}

/// `folders delete --json`.
#[derive(Debug, Serialize)]
struct DeleteRecord<'a> {
    id: &'a str,
    status: &'static str,
}

/// Runs a folder subcommand.
pub async fn run(command: FoldersCommand) -> anyhow::Result<Exit> {
    let connection = context::connect().await?;
    match command {
        FoldersCommand::List { parent, json } => {
            context::check_folder(&connection, parent.as_deref()).await?;
            list(&connection, parent.as_deref(), json).await
        }
        FoldersCommand::Create { name, parent, json } => {
            let folder = connection
                .client
                .create_folder(&name, parent.as_deref().filter(|p| *p != "root"))
                .await
                .map_err(|err| {
                    connection.explain(
                        err,
                        &format!("create folder \"{}\"", context::sanitize(&name)),
                    )
                })?;
            let mut out = io::stdout().lock();
            let written = if json {
                json::write_record(&mut out, "folder", &folder)
            } else {
                writeln!(
                    out,
                    "Created folder \"{}\" with id {}",
                    context::sanitize(folder.name.as_deref().unwrap_or(&name)),
                    or_dash(folder.id.as_deref())
                )
            };
            finish_output(&mut out, written)
        }
        FoldersCommand::Rename { id, name, json } => {
            let patch = PatchRequest {
                name: Some(name.clone()),
                ..PatchRequest::default()
            };
            let folder = connection
                .client
                .update_folder(&id, &patch)
                .await
                .map_err(|err| connection.explain(err, &format!("rename folder {id}")))?;
            let mut out = io::stdout().lock();
            let written = if json {
                json::write_record(&mut out, "folder", &folder)
            } else {
                writeln!(
                    out,
                    "Renamed folder {} to \"{}\"",
                    context::sanitize(&id),
                    context::sanitize(folder.name.as_deref().unwrap_or(&name))
                )
            };
            finish_output(&mut out, written)
        }
        FoldersCommand::Delete { id, json } => {
            match connection.client.delete_folder(&id).await {
                Ok(()) => {}
                Err(err @ ApiError::Conflict { .. }) => {
                    return Err(anyhow::Error::new(err).context(format!(
                        "could not delete folder {id}: it is not empty. Move or delete its \
                         assets and subfolders first (`runflow-uploader assets list --folder \
                         {id}`, `runflow-uploader folders list --parent {id}`)"
                    )));
                }
                Err(err) => return Err(connection.explain(err, &format!("delete folder {id}"))),
            }
            let mut out = io::stdout().lock();
            let written = if json {
                json::write_record(
                    &mut out,
                    "delete",
                    &DeleteRecord {
                        id: &id,
                        status: "deleted",
                    },
                )
            } else {
                writeln!(out, "Deleted folder {}", context::sanitize(&id))
            };
            finish_output(&mut out, written)
        }
    }?;
    Ok(Exit::Success)
}

/// Lists every folder (or the children of `parent`), following cursors.
async fn list(connection: &Connection, parent: Option<&str>, json: bool) -> anyhow::Result<()> {
    let filter = match parent {
        Some(parent) => Filter::new().eq_or_null("parent_id", (parent != "root").then_some(parent)),
        None => Filter::new(),
    };
    let mut query = ListQuery {
        q: filter.build(),
        limit: Some(PAGE_SIZE),
        ..ListQuery::default()
    };
    let mut folders: Vec<Folder> = Vec::new();
    let mut seen_cursors = HashSet::new();
    loop {
        let page = connection
            .client
            .list_folders(&query)
            .await
            .map_err(|err| connection.explain(err, "list folders"))?;
        folders.extend(page.items.iter().cloned());
        let Some(cursor) = page.next_cursor() else {
            break;
        };
        if !seen_cursors.insert(cursor.to_owned()) {
            bail!(
                "Runflow returned the same page cursor twice while listing folders; stopped to \
                 avoid an endless loop. Try again"
            );
        }
        query = query.at_cursor(cursor);
    }

    let mut out = io::stdout().lock();
    let written = if json {
        folders
            .iter()
            .try_for_each(|folder| json::write_record(&mut out, "folder", folder))
    } else if folders.is_empty() {
        writeln!(out, "No folders found.")
    } else {
        let mut table = Table::new(&[
            ("ID", Align::Left),
            ("NAME", Align::Left),
            ("PARENT", Align::Left),
            ("CREATED", Align::Left),
        ]);
        for folder in &folders {
            table.row([
                or_dash(folder.id.as_deref()),
                or_dash(folder.name.as_deref()),
                folder
                    .parent_id
                    .clone()
                    .unwrap_or_else(|| "root".to_owned()),
                format_time(folder.created_at.as_deref()),
            ]);
        }
        table.write(&mut out)
    };
    finish_output(&mut out, written)
}
