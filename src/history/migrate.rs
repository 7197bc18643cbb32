//! The duplicate index of earlier versions, `uploaded-index.jsonl`: one JSON line per upload
//! (or forgotten asset), appended by every process. Read into the database once, then renamed
//! to `uploaded-index.jsonl.migrated` (kept, for going back to an older version by hand).

use std::path::Path;

use rusqlite::{Connection, TransactionBehavior, params};
use serde::Deserialize;

use super::digest;

/// The old file's name in the data folder.
pub(super) const JSONL_INDEX: &str = "uploaded-index.jsonl";

#[derive(Debug, Deserialize)]
struct Line {
    base: String,
    hash: String,
    #[serde(default)]
    size_bytes: Option<u64>,
    /// `None` recorded that the asset was gone from the server.
    asset_id: Option<String>,
}

/// Imports `data_dir`'s JSON-lines index, if there is one, in one transaction. Lines that are
/// not whole (a kill mid-append) or hold no content hash are passed over; later lines win, as
/// they did when the file was read. Two processes starting at once both import the same lines,
/// which changes nothing.
pub(super) fn jsonl_index(db: &mut Connection, data_dir: &Path) -> rusqlite::Result<()> {
    let path = data_dir.join(JSONL_INDEX);
    let text = match std::fs::read(&path) {
        Ok(text) => text,
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(err) => return Err(rusqlite::Error::ToSqlConversionFailure(Box::new(err))),
    };
    let tx = db.transaction_with_behavior(TransactionBehavior::Immediate)?;
    let mut imported = 0usize;
    for line in text.split(|b| *b == b'\n') {
        let Ok(line) = serde_json::from_slice::<Line>(line) else {
            continue;
        };
        let Some(hash) = digest(&line.hash) else {
            continue;
        };
        match line.asset_id {
            Some(asset_id) => tx.execute(
                "INSERT OR REPLACE INTO content (scope, hash, size_bytes, asset_id)
                 VALUES (?1, ?2, ?3, ?4)",
                params![
                    line.base,
                    hash,
                    line.size_bytes.map(super::sql_int),
                    asset_id
                ],
            )?,
            None => tx.execute(
                "DELETE FROM content WHERE scope = ?1 AND hash = ?2",
                params![line.base, hash],
            )?,
        };
        imported += 1;
    }
    tx.commit()?;
    let done = path.with_extension("jsonl.migrated");
    if let Err(err) = std::fs::rename(&path, &done) {
        // Imported again next time, which changes nothing.
        tracing::warn!(%err, "the old duplicate index was imported but could not be renamed");
    } else {
        tracing::info!(
            imported,
            "the duplicate index moved into the history database"
        );
    }
    Ok(())
}
