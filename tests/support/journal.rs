//! Counting what an engine journal still holds.

/// Unfinished uploads recorded in an engine journal (every process's directory under `root`).
pub fn journal_entries(root: &std::path::Path) -> usize {
    let Ok(dirs) = std::fs::read_dir(root) else {
        return 0;
    };
    dirs.filter_map(Result::ok)
        .filter_map(|dir| std::fs::read_dir(dir.path()).ok())
        .flatten()
        .filter_map(Result::ok)
        .filter(|f| f.path().extension().is_some_and(|e| e == "json"))
        .count()
}
