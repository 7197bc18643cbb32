//! Where the app keeps its files, following the XDG base directories on Linux (and the platform
//! conventions elsewhere). Each can be overridden by an environment variable, which tests use.

use std::path::PathBuf;

use directories::ProjectDirs;

/// Overrides the data dir (upload journal, duplicate index).
pub const DATA_DIR_ENV: &str = "RUNFLOW_UPLOADER_DATA_DIR";
/// Overrides the config dir (settings).
pub const CONFIG_DIR_ENV: &str = "RUNFLOW_UPLOADER_CONFIG_DIR";
/// Overrides the cache dir (thumbnails).
pub const CACHE_DIR_ENV: &str = "RUNFLOW_UPLOADER_CACHE_DIR";
/// Overrides the state dir (logs).
pub const STATE_DIR_ENV: &str = "RUNFLOW_UPLOADER_STATE_DIR";

fn project_dirs() -> Option<ProjectDirs> {
    ProjectDirs::from("io", "Runflow", "runflow-uploader")
}

fn resolve(env: &str, pick: impl FnOnce(&ProjectDirs) -> PathBuf) -> PathBuf {
    if let Some(dir) = std::env::var_os(env).filter(|v| !v.is_empty()) {
        return PathBuf::from(dir);
    }
    project_dirs().map_or_else(
        // No home directory at all (a bare service account): fall back to the temp dir so the
        // app still runs, rather than refusing to start.
        || std::env::temp_dir().join("runflow-uploader"),
        |dirs| pick(&dirs),
    )
}

/// Durable app data: the upload journal and the duplicate index.
pub fn data_dir() -> PathBuf {
    resolve(DATA_DIR_ENV, |d| d.data_dir().to_path_buf())
}

/// Settings.
pub fn config_dir() -> PathBuf {
    resolve(CONFIG_DIR_ENV, |d| d.config_dir().to_path_buf())
}

/// Disposable caches such as thumbnails.
pub fn cache_dir() -> PathBuf {
    resolve(CACHE_DIR_ENV, |d| d.cache_dir().to_path_buf())
}

/// Logs and other state worth keeping but not backing up.
pub fn state_dir() -> PathBuf {
    resolve(STATE_DIR_ENV, |d| {
        d.state_dir().map_or_else(
            || d.data_local_dir().join("state"),
            std::path::Path::to_path_buf,
        )
    })
}
