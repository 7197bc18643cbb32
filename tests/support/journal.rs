//! Counting what an engine journal still holds.

use std::path::Path;

/// Unfinished uploads recorded in the engine journal under `root`, of every account and
/// process, as `journal list` counts them.
pub fn journal_entries(root: &Path) -> usize {
    runflow_uploader::upload::list_journal(root).len()
}
