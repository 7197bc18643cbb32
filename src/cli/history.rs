//! `history`: what this machine uploaded (from the window and `upload`), newest first, from the
//! history database. Offline: the history is local.

use std::io;

use anyhow::Context as _;
use serde::Serialize;
use time::OffsetDateTime;
use time::macros::format_description;

use super::context::{Align, Table, finish_output, sanitize};
use super::exit::Exit;
use super::json::{self, JsonPath};
use crate::history::{self, History, Query, Upload};
use crate::paths;
use crate::upload::human_bytes;

/// `history`'s options.
#[derive(clap::Args, Debug)]
pub struct HistoryArgs {
    /// Only uploads from this day (YYYY-MM-DD, UTC) or time (RFC 3339) on.
    #[arg(long, value_name = "DATE", value_parser = history::parse_since)]
    since: Option<OffsetDateTime>,
    /// Only uploads up to the end of this day (YYYY-MM-DD, UTC) or before this time (RFC 3339).
    #[arg(long, value_name = "DATE", value_parser = history::parse_until)]
    until: Option<OffsetDateTime>,
    /// Only files whose name contains this text (any case).
    #[arg(long, value_name = "TEXT", default_value = "")]
    search: String,
    /// Only the uploads of this batch (the `batch` of `--json`: the files one run or one
    /// window batch uploaded together).
    #[arg(long, value_name = "ID")]
    batch: Option<String>,
    /// At most this many uploads (the newest).
    #[arg(long, value_name = "N")]
    limit: Option<usize>,
    /// Print one JSON object per upload (see docs/cli-json.md).
    #[arg(long, conflicts_with = "csv")]
    pub json: bool,
    /// Print CSV with a header row: the receipt of local files and their assets.
    #[arg(long)]
    csv: bool,
}

/// `history --json`: one upload.
#[derive(Debug, Serialize)]
struct UploadRecord<'a> {
    #[serde(with = "time::serde::rfc3339")]
    uploaded_at: OffsetDateTime,
    #[serde(flatten)]
    path: JsonPath,
    name: &'a str,
    size_bytes: u64,
    hash: Option<&'a str>,
    asset_id: &'a str,
    folder_id: Option<&'a str>,
    server: &'a str,
    account: &'a str,
    source: history::Source,
    batch: Option<&'a str>,
    /// The copy uploaded instead of the file (converted, shrunk), described.
    fixed: Option<&'a str>,
}

/// Lists the history.
pub async fn run(args: HistoryArgs) -> anyhow::Result<Exit> {
    let query = Query {
        name: args.search.clone(),
        since: args.since,
        until: args.until,
        batch: args.batch.clone(),
        limit: args.limit,
    };
    let data_dir = paths::data_dir();
    let found = tokio::task::spawn_blocking(move || {
        let history = History::open(&data_dir).with_context(|| {
            format!(
                "could not open the upload history in {}; check the app's data folder",
                data_dir.display()
            )
        })?;
        history
            .search(&query)
            .context("could not read the upload history")
    })
    .await
    .context("reading the upload history did not finish")??;
    let mut out = io::stdout().lock();
    let written = if args.json {
        found
            .iter()
            .try_for_each(|upload| json::write_record(&mut out, "upload", &record(upload)))
    } else if args.csv {
        history::export(&found, history::Format::Csv, &mut out)
    } else {
        table(&found, &mut out)
    };
    finish_output(&mut out, written)?;
    Ok(Exit::Success)
}

fn record(upload: &Upload) -> UploadRecord<'_> {
    UploadRecord {
        uploaded_at: upload.uploaded_at,
        path: JsonPath::of(&upload.path),
        name: &upload.name,
        size_bytes: upload.size_bytes,
        hash: upload.hash.as_deref(),
        asset_id: &upload.asset_id,
        folder_id: upload.folder_id.as_deref(),
        server: upload.server.trim_end_matches('/'),
        account: &upload.account,
        source: upload.source,
        batch: upload.batch.as_deref(),
        fixed: upload.fixed.as_deref(),
    }
}

fn table(found: &[Upload], out: &mut impl io::Write) -> io::Result<()> {
    if found.is_empty() {
        return writeln!(out, "No uploads recorded (for these filters).");
    }
    let mut table = Table::new(&[
        ("UPLOADED", Align::Left),
        ("SIZE", Align::Right),
        ("ASSET", Align::Left),
        ("FROM", Align::Left),
        ("PATH", Align::Left),
    ]);
    let when = format_description!("[year]-[month]-[day] [hour]:[minute]Z");
    for upload in found {
        table.row([
            upload.uploaded_at.format(&when).unwrap_or_default(),
            human_bytes(upload.size_bytes),
            sanitize(&upload.asset_id),
            upload.source.label().to_owned(),
            sanitize(&upload.path.display().to_string()),
        ]);
    }
    table.write(out)?;
    let uploads = if found.len() == 1 {
        "upload"
    } else {
        "uploads"
    };
    writeln!(
        out,
        "{} {uploads}. --json or --csv prints every field (asset ids, hashes, folders).",
        found.len()
    )
}
