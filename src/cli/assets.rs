//! `assets list|get|delete`.

use std::collections::HashSet;
use std::io::{self, Write as _};

use anyhow::bail;
use serde::Serialize;

use super::context::{self, Align, Connection, Table, finish_output, format_time, or_dash};
use super::exit::Exit;
use super::json;
use crate::api::models::Asset;
use crate::api::{Filter, ListQuery};
use crate::upload::human_bytes;

/// Largest page the API serves.
const MAX_PAGE_SIZE: u32 = 500;

/// The asset subcommands.
#[derive(clap::Subcommand, Debug)]
pub enum AssetsCommand {
    /// List assets, newest first, as a table (or JSON Lines with --json).
    #[command(
        after_help = "With --json, each asset is printed as one JSON object on its own \
        line (JSON Lines): `schema`, `\"type\":\"asset\"` and the API's field names; see \
        docs/cli-json.md.\n\n\
        Examples:\n  runflow-uploader assets list --folder root --type image\n  \
        runflow-uploader assets list --search 'cat.png' --json\n  \
        runflow-uploader assets list --all --json | jq -r .id"
    )]
    List {
        /// Only assets in the folder with this id; `root` for assets in no folder.
        #[arg(long, value_name = "ID")]
        folder: Option<String>,
        /// Only assets of this type.
        #[arg(long = "type", value_enum, value_name = "TYPE")]
        asset_type: Option<AssetKind>,
        /// Only assets named exactly TEXT. Runflow's filter compares the whole name and is
        /// case-sensitive: `cat.png` finds neither `Cat.png` nor `my-cat.png`.
        #[arg(long, value_name = "TEXT")]
        search: Option<String>,
        /// Show at most N assets.
        #[arg(long, value_name = "N", default_value_t = 50,
              value_parser = clap::value_parser!(u32).range(1..), conflicts_with = "all")]
        limit: u32,
        /// Show every asset, following the pages to the end.
        #[arg(long)]
        all: bool,
        /// Print one JSON object per line (JSON Lines) instead of a table.
        #[arg(long)]
        json: bool,
        /// Assets per request (tests use small pages to exercise the cursors).
        #[arg(long, hide = true, default_value_t = MAX_PAGE_SIZE,
              value_parser = clap::value_parser!(u32).range(1..=i64::from(MAX_PAGE_SIZE)))]
        page_size: u32,
    },
    /// Show one asset, including a fresh download URL.
    Get {
        /// The asset id.
        id: String,
        /// Print the asset as one JSON object instead of text.
        #[arg(long)]
        json: bool,
    },
    /// Delete assets. Each id is reported; a failure does not stop the others, and the exit
    /// code is 1 if any failed (3 if the key may not delete). An id given twice is deleted once.
    Delete {
        /// The asset ids.
        #[arg(required = true, value_name = "ID")]
        ids: Vec<String>,
        /// Print one JSON object per id, then a summary (see docs/cli-json.md).
        #[arg(long)]
        json: bool,
    },
}

/// The asset types `--type` accepts.
#[derive(clap::ValueEnum, Debug, Clone, Copy, PartialEq, Eq)]
pub enum AssetKind {
    /// Images (`image/*`).
    Image,
    /// Videos (`video/*`).
    Video,
    /// Audio (`audio/*`).
    Audio,
}

impl AssetKind {
    /// The API's `asset_type` value.
    fn as_str(self) -> &'static str {
        match self {
            Self::Image => "image",
            Self::Video => "video",
            Self::Audio => "audio",
        }
    }
}

impl AssetsCommand {
    /// Whether `--json` was given.
    pub(crate) fn wants_json(&self) -> bool {
        match self {
            Self::List { json, .. } | Self::Get { json, .. } | Self::Delete { json, .. } => *json,
        }
    }
}

/// Runs an asset subcommand.
pub async fn run(command: AssetsCommand) -> anyhow::Result<Exit> {
    let connection = context::connect().await?;
    match command {
        AssetsCommand::List {
            folder,
            asset_type,
            search,
            limit,
            all,
            json,
            page_size,
        } => {
            context::check_folder(&connection, folder.as_deref()).await?;
            let query = ListQuery {
                q: list_filter(folder.as_deref(), asset_type, search.as_deref()).build(),
                ..ListQuery::default()
            };
            list(&connection, query, (!all).then_some(limit), page_size, json).await?;
            Ok(Exit::Success)
        }
        AssetsCommand::Get { id, json } => {
            get(&connection, &id, json).await?;
            Ok(Exit::Success)
        }
        AssetsCommand::Delete { ids, json } => delete(&connection, &ids, json).await,
    }
}

/// The `q` filter of `assets list`.
fn list_filter(folder: Option<&str>, kind: Option<AssetKind>, name: Option<&str>) -> Filter {
    let mut filter = Filter::new();
    if let Some(folder) = folder {
        filter = filter.eq_or_null("folder_id", (folder != "root").then_some(folder));
    }
    if let Some(kind) = kind {
        filter = filter.eq("asset_type", kind.as_str());
    }
    if let Some(name) = name {
        filter = filter.eq("name", name);
    }
    filter
}

/// Lists up to `limit` assets (all when `None`) in pages of `page_size`, following cursors.
async fn list(
    connection: &Connection,
    mut query: ListQuery,
    limit: Option<u32>,
    page_size: u32,
    json: bool,
) -> anyhow::Result<()> {
    let mut remaining = limit;
    let mut seen_cursors = HashSet::new();
    let mut table = asset_table();
    let mut more = false;
    loop {
        query.limit = Some(remaining.map_or(page_size, |r| r.min(page_size)));
        let page = connection
            .client
            .list_assets(&query)
            .await
            .map_err(|err| connection.explain(err, "list assets"))?;
        let take = remaining.map_or(page.items.len(), |r| r as usize);
        more |= page.items.len() > take;
        let shown = &page.items[..take.min(page.items.len())];
        remaining = remaining.map(|r| r.saturating_sub(shown.len() as u32));
        if json {
            let mut out = io::stdout().lock();
            let written = shown
                .iter()
                .try_for_each(|asset| json::write_record(&mut out, "asset", asset));
            if let Err(err) = written {
                // A closed pipe (`| head`) ends the listing quietly; anything else is an error.
                return finish_output(&mut out, Err(err));
            }
            finish_output(&mut out, Ok(()))?;
        } else {
            for asset in shown {
                table.row(asset_row(asset));
            }
        }
        let Some(cursor) = page.next_cursor() else {
            break;
        };
        if remaining == Some(0) {
            more = true;
            break;
        }
        if !seen_cursors.insert(cursor.to_owned()) {
            bail!(
                "Runflow returned the same page cursor twice while listing assets; stopped to \
                 avoid an endless loop. Try again, or narrow the list with --folder or --type"
            );
        }
        query = query.at_cursor(cursor);
    }
    if !json {
        let mut out = io::stdout().lock();
        let written = if table.is_empty() {
            writeln!(out, "No assets found.")
        } else {
            table.write(&mut out)
        };
        finish_output(&mut out, written)?;
    }
    if more && let Some(limit) = limit {
        context::warn(format_args!(
            "showing the first {limit} asset{}; there are more. Use --limit N or --all to see \
             them.",
            if limit == 1 { "" } else { "s" }
        ));
    }
    Ok(())
}

fn asset_table() -> Table {
    Table::new(&[
        ("ID", Align::Left),
        ("NAME", Align::Left),
        ("TYPE", Align::Left),
        ("SIZE", Align::Right),
        ("CREATED", Align::Left),
    ])
}

fn asset_row(asset: &Asset) -> [String; 5] {
    [
        or_dash(asset.id.as_deref()),
        or_dash(asset.name.as_deref()),
        or_dash(asset.asset_type.as_deref()),
        asset.size_bytes.map_or_else(|| "-".to_owned(), human_bytes),
        format_time(asset.created_at.as_deref()),
    ]
}

async fn get(connection: &Connection, id: &str, json: bool) -> anyhow::Result<()> {
    let asset = connection
        .client
        .asset(id)
        .await
        .map_err(|err| connection.explain(err, &format!("get asset {id}")))?;
    let mut out = io::stdout().lock();
    let written = if json {
        json::write_record(&mut out, "asset", &asset)
    } else {
        let size = asset.size_bytes.map_or_else(
            || "-".to_owned(),
            |bytes| format!("{} ({bytes} bytes)", human_bytes(bytes)),
        );
        let rows = [
            ("ID", or_dash(asset.id.as_deref())),
            ("Name", or_dash(asset.name.as_deref())),
            ("Type", or_dash(asset.asset_type.as_deref())),
            ("MIME type", or_dash(asset.mime_type.as_deref())),
            ("Size", size),
            (
                "Folder",
                asset.folder_id.clone().unwrap_or_else(|| "root".to_owned()),
            ),
            ("Created", format_time(asset.created_at.as_deref())),
            ("Updated", format_time(asset.updated_at.as_deref())),
            ("URL", or_dash(asset.url.as_deref())),
            ("Thumbnail", or_dash(asset.thumbnail_url.as_deref())),
        ];
        rows.iter().try_for_each(|(label, value)| {
            writeln!(
                out,
                "{:<11}{}",
                format!("{label}:"),
                context::sanitize(value)
            )
        })
    };
    finish_output(&mut out, written)
}

/// `assets delete --json`: one line per id.
#[derive(Debug, Serialize)]
struct DeleteRecord<'a> {
    id: &'a str,
    /// `deleted` or `failed`.
    status: &'static str,
    reason: Option<&'static str>,
    error: Option<String>,
}

/// The summary of `assets delete --json`.
#[derive(Debug, Serialize)]
struct DeleteSummary {
    ids: usize,
    counts: DeleteCounts,
    exit_code: u8,
}

#[derive(Debug, Serialize)]
struct DeleteCounts {
    deleted: usize,
    failed: usize,
}

async fn delete(connection: &Connection, ids: &[String], json: bool) -> anyhow::Result<Exit> {
    // The same id twice is one asset: deleting it a second time could only fail.
    let mut seen = HashSet::new();
    let ids: Vec<&String> = ids.iter().filter(|id| seen.insert(id.as_str())).collect();
    let mut failures: Vec<Exit> = Vec::new();
    for id in &ids {
        let outcome = connection.client.delete_asset(id).await;
        let mut out = io::stdout().lock();
        let written = match outcome {
            Ok(()) if json => json::write_record(
                &mut out,
                "delete",
                &DeleteRecord {
                    id,
                    status: "deleted",
                    reason: None,
                    error: None,
                },
            ),
            Ok(()) => writeln!(out, "Deleted {}", context::sanitize(id)),
            Err(err) => {
                failures.push(Exit::of_api_error(&err));
                let reason = json::api_reason(&err);
                let err = connection.explain(err, &format!("delete asset {id}"));
                let _ = writeln!(
                    io::stderr().lock(),
                    "error: {}",
                    context::sanitize(&format!("{err:#}"))
                );
                if json {
                    json::write_record(
                        &mut out,
                        "delete",
                        &DeleteRecord {
                            id,
                            status: "failed",
                            reason: Some(reason),
                            error: Some(format!("{err:#}")),
                        },
                    )
                } else {
                    Ok(())
                }
            }
        };
        finish_output(&mut out, written)?;
    }
    let exit = delete_exit(ids.len(), &failures);
    if json {
        let mut out = io::stdout().lock();
        let written = json::write_record(
            &mut out,
            "summary",
            &DeleteSummary {
                ids: ids.len(),
                counts: DeleteCounts {
                    deleted: ids.len() - failures.len(),
                    failed: failures.len(),
                },
                exit_code: exit.code(),
            },
        );
        finish_output(&mut out, written)?;
    }
    if !failures.is_empty() {
        context::warn(format_args!(
            "{} of {} asset{} could not be deleted (see the errors above)",
            failures.len(),
            ids.len(),
            if ids.len() == 1 { "" } else { "s" }
        ));
    }
    Ok(exit)
}

/// 0 when all went, 1 when some failed; when every delete failed for the same reason of the
/// key (3) or of the connection (4), that code.
fn delete_exit(total: usize, failures: &[Exit]) -> Exit {
    match failures.first() {
        None => Exit::Success,
        Some(&first)
            if failures.len() == total
                && matches!(first, Exit::Auth | Exit::Unreachable)
                && failures.iter().all(|f| *f == first) =>
        {
            first
        }
        Some(_) => Exit::Failed,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delete_exit_codes() {
        assert_eq!(delete_exit(2, &[]), Exit::Success);
        assert_eq!(delete_exit(2, &[Exit::Failed]), Exit::Failed);
        assert_eq!(delete_exit(2, &[Exit::Auth, Exit::Auth]), Exit::Auth);
        assert_eq!(
            delete_exit(2, &[Exit::Auth, Exit::Unreachable]),
            Exit::Failed
        );
        assert_eq!(delete_exit(1, &[Exit::Unreachable]), Exit::Unreachable);
    }

    #[test]
    fn list_filters_combine_folder_type_and_exact_name() {
        assert_eq!(list_filter(None, None, None).build(), None);
        assert_eq!(
            list_filter(Some("root"), Some(AssetKind::Image), None).build(),
            Some("folder_id:null AND asset_type:image".to_owned())
        );
        assert_eq!(
            list_filter(Some("f-1"), None, Some("my cat.png")).build(),
            Some(r#"folder_id:f-1 AND name:"my cat.png""#.to_owned())
        );
    }
}
