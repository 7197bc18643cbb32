//! Counting what an engine journal still holds.

/// Unfinished uploads recorded in an engine journal: every `.json` entry in the process
/// directories of every account under `root` (`root/<account>/<process>/<entry>.json`).
pub fn journal_entries(root: &std::path::Path) -> usize {
    walkdir::WalkDir::new(root)
        .min_depth(3)
        .max_depth(3)
        .into_iter()
        .filter_map(Result::ok)
        .filter(|f| f.path().extension().is_some_and(|e| e == "json"))
        .count()
}
