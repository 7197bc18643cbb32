//! Counting what an engine journal still holds.

use std::path::{Path, PathBuf};

/// Unfinished uploads recorded in an engine journal: every `.json` entry in the process
/// directories of every account under `root` (`root/<account>/<process>/<entry>.json`).
pub fn journal_entries(root: &Path) -> usize {
    let children = |dir: &Path| -> Vec<PathBuf> {
        std::fs::read_dir(dir)
            .map(|listing| listing.filter_map(Result::ok).map(|e| e.path()).collect())
            .unwrap_or_default()
    };
    children(root)
        .iter()
        .flat_map(|account| children(account))
        .flat_map(|process| children(&process))
        .filter(|file| file.extension().is_some_and(|e| e == "json"))
        .count()
}
