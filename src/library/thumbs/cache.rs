//! The disk cache of scaled thumbnails: one tile per asset id and size (JPEG, or PNG when it has
//! transparency), named by a hash of the id (ids are untrusted text), written atomically,
//! pruned oldest-first to a byte budget. Blocking: call from a blocking thread.

use std::collections::HashSet;
use std::fs;
use std::io::{self, Write as _};
use std::path::{Path, PathBuf};
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, SystemTime};

use image::RgbaImage;

use super::decode;

/// Largest cache file read back; anything bigger is not ours and is deleted.
const MAX_CACHE_FILE_BYTES: u64 = 64 * 1024 * 1024;
/// Temporary files older than this are leftovers of a crash and are deleted by pruning.
const STALE_TEMP_AGE: Duration = Duration::from_secs(3600);

/// The thumbnail disk cache in one directory.
#[derive(Debug)]
pub(crate) struct DiskCache {
    dir: PathBuf,
    /// Held while a file is renamed into place or an asset's files are removed, so a write that
    /// was already running cannot bring back a forgotten asset.
    write_lock: Mutex<()>,
    /// Assets forgotten since their last fetch started; their late writes are dropped.
    forgotten: Mutex<HashSet<String>>,
}

/// The cache file name stem of an asset: a hash, so any id is a safe file name.
pub(crate) fn file_stem(asset_id: &str) -> String {
    let hash = blake3::hash(asset_id.as_bytes()).to_hex();
    hash.as_str()[..32].to_owned()
}

/// The extension of cache files. Their format is read from their bytes.
const TILE_EXTENSION: &str = "tile";
/// The extension of the PNG-only tiles of earlier versions, deleted by pruning.
const LEGACY_EXTENSION: &str = ".png";

/// What a cached tile was made from. A tile from the original is kept apart, so a server
/// thumbnail that appears later is fetched rather than shadowed by it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Made {
    /// The server's thumbnail.
    FromThumbnail,
    /// The original file.
    FromOriginal,
}

/// The cache file name of an asset at a size.
pub(crate) fn file_name(asset_id: &str, size_px: u32, made: Made) -> String {
    match made {
        Made::FromThumbnail => format!("{}-{size_px}.{TILE_EXTENSION}", file_stem(asset_id)),
        Made::FromOriginal => {
            format!(
                "{}-{size_px}-original.{TILE_EXTENSION}",
                file_stem(asset_id)
            )
        }
    }
}

impl DiskCache {
    /// A cache in `dir` (created on first write).
    pub(crate) fn new(dir: PathBuf) -> Self {
        Self {
            dir,
            write_lock: Mutex::new(()),
            forgotten: Mutex::new(HashSet::new()),
        }
    }

    /// The file of an asset at a size.
    pub(crate) fn path(&self, asset_id: &str, size_px: u32, made: Made) -> PathBuf {
        self.dir.join(file_name(asset_id, size_px, made))
    }

    /// The cached thumbnail, if there is a readable one. A corrupt file is deleted (and the
    /// caller fetches again); a hit refreshes the file's age for pruning.
    pub(crate) fn load(&self, asset_id: &str, size_px: u32, made: Made) -> Option<RgbaImage> {
        let path = self.path(asset_id, size_px, made);
        match fs::metadata(&path) {
            Ok(_) => {}
            Err(e) if e.kind() == io::ErrorKind::NotFound => return None,
            Err(e) => {
                tracing::warn!(asset_id, error = %e, "thumbnail cache file unreadable");
                return None;
            }
        }
        let decoded = decode::decode_file(&path, size_px, MAX_CACHE_FILE_BYTES);
        match decoded {
            Ok(image) => {
                // Best effort: a hit is recent use, so pruning keeps it longer.
                let _ = fs::File::options()
                    .write(true)
                    .open(&path)
                    .and_then(|f| f.set_modified(SystemTime::now()));
                Some(image)
            }
            Err(e) => {
                tracing::warn!(asset_id, error = %e, "corrupt thumbnail cache file; refetching");
                let _ = fs::remove_file(&path);
                None
            }
        }
    }

    /// Allows writes for an asset again (a new fetch of it started).
    pub(crate) fn remember(&self, asset_id: &str) {
        let mut forgotten = self
            .forgotten
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if !forgotten.is_empty() {
            forgotten.remove(asset_id);
        }
    }

    /// Stores a thumbnail: written to a temporary file, then renamed into place.
    pub(crate) fn store(
        &self,
        asset_id: &str,
        size_px: u32,
        made: Made,
        image: &RgbaImage,
    ) -> io::Result<()> {
        let tile = decode::encode_tile(image).map_err(io::Error::other)?;
        fs::create_dir_all(&self.dir)?;
        let mut temp = crate::atomic::temp_in(&self.dir)?;
        temp.write_all(&tile)?;
        temp.as_file().sync_data()?;
        let _guard = self
            .write_lock
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        let forgotten = self
            .forgotten
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .contains(asset_id);
        if forgotten {
            return Ok(());
        }
        temp.persist(self.path(asset_id, size_px, made))
            .map_err(|err| err.error)?;
        Ok(())
    }

    /// Removes every cached size of an asset, and drops writes of fetches already running.
    pub(crate) fn forget(&self, asset_id: &str) -> io::Result<()> {
        let _guard = self
            .write_lock
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        self.forgotten
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(asset_id.to_owned());
        let prefix = format!("{}-", file_stem(asset_id));
        let entries = match fs::read_dir(&self.dir) {
            Ok(entries) => entries,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
            Err(e) => return Err(e),
        };
        for entry in entries.flatten() {
            if entry.file_name().to_string_lossy().starts_with(&prefix) {
                fs::remove_file(entry.path())?;
            }
        }
        Ok(())
    }

    /// Deletes leftover temporary files, then the least recently used thumbnails until the
    /// cache holds at most `budget_bytes`. Returns the bytes freed.
    pub(crate) fn prune(&self, budget_bytes: u64) -> io::Result<u64> {
        let entries = match fs::read_dir(&self.dir) {
            Ok(entries) => entries,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(0),
            Err(e) => return Err(e),
        };
        let now = SystemTime::now();
        let mut freed = 0;
        let mut files = Vec::new();
        for entry in entries.flatten() {
            let Ok(meta) = entry.metadata() else { continue };
            if !meta.is_file() {
                continue;
            }
            let modified = meta.modified().unwrap_or(SystemTime::UNIX_EPOCH);
            let name = entry.file_name().to_string_lossy().into_owned();
            if name.ends_with(".tmp") {
                let age = now.duration_since(modified).unwrap_or_default();
                if age > STALE_TEMP_AGE && fs::remove_file(entry.path()).is_ok() {
                    freed += meta.len();
                }
                continue;
            }
            if name.ends_with(LEGACY_EXTENSION) {
                if fs::remove_file(entry.path()).is_ok() {
                    freed += meta.len();
                }
            } else if Path::new(&name).extension() == Some(TILE_EXTENSION.as_ref()) {
                files.push((entry.path(), meta.len(), modified));
            }
        }
        for path in prune_plan(files, budget_bytes) {
            let size = fs::metadata(&path).map(|m| m.len()).unwrap_or(0);
            if fs::remove_file(&path).is_ok() {
                freed += size;
            }
        }
        Ok(freed)
    }
}

/// Which files to delete, oldest first, so the rest fit in `budget_bytes`.
pub(crate) fn prune_plan(
    mut files: Vec<(PathBuf, u64, SystemTime)>,
    budget_bytes: u64,
) -> Vec<PathBuf> {
    let mut total: u64 = files.iter().map(|(_, size, _)| size).sum();
    files.sort_by_key(|(_, _, modified)| *modified);
    let mut doomed = Vec::new();
    for (path, size, _) in files {
        if total <= budget_bytes {
            break;
        }
        total -= size;
        doomed.push(path);
    }
    doomed
}

#[cfg(test)]
mod tests {
    use super::*;

    const T: Made = Made::FromThumbnail;

    fn image(width: u32, height: u32) -> RgbaImage {
        RgbaImage::from_pixel(width, height, image::Rgba([1, 2, 3, 255]))
    }

    #[test]
    fn names_are_safe_and_distinct() {
        let hostile = file_name("../../etc/passwd", 128, T);
        assert!(
            !hostile.contains('/') && !hostile.contains(".."),
            "{hostile}"
        );
        assert!(
            hostile
                .chars()
                .all(|c| c.is_ascii_hexdigit() || c == '-' || c == '.' || c.is_ascii_lowercase())
        );
        assert!(hostile.ends_with("-128.tile"));
        assert_ne!(file_name("a", 128, T), file_name("A", 128, T));
        assert_ne!(file_name("a", 128, T), file_name("a", 256, T));
        assert_eq!(file_stem("a").len(), 32);
        assert_eq!(file_name("", 1, T).len(), 32 + "-1.tile".len());
    }

    #[test]
    fn prune_plan_drops_oldest_until_within_budget() {
        let t = |secs| SystemTime::UNIX_EPOCH + Duration::from_secs(secs);
        let files = vec![
            (PathBuf::from("new"), 40, t(30)),
            (PathBuf::from("old"), 40, t(10)),
            (PathBuf::from("mid"), 40, t(20)),
        ];
        assert_eq!(prune_plan(files.clone(), 120), Vec::<PathBuf>::new());
        assert_eq!(prune_plan(files.clone(), 80), vec![PathBuf::from("old")]);
        assert_eq!(
            prune_plan(files.clone(), 79),
            vec![PathBuf::from("old"), PathBuf::from("mid")]
        );
        assert_eq!(prune_plan(files, 0).len(), 3);
    }

    #[test]
    fn store_load_forget_round_trip() {
        let dir = tempfile::tempdir().unwrap();
        let cache = DiskCache::new(dir.path().join("thumbs"));
        assert_eq!(cache.load("a", 64, T), None);
        cache.store("a", 64, T, &image(8, 4)).unwrap();
        cache.store("a", 128, T, &image(8, 4)).unwrap();
        cache.store("b", 64, T, &image(2, 2)).unwrap();
        assert_eq!(cache.load("a", 64, T).unwrap().dimensions(), (8, 4));
        // A tile from the original is kept apart from the server's.
        assert_eq!(cache.load("b", 64, Made::FromOriginal), None);
        cache
            .store("a", 64, Made::FromOriginal, &image(6, 3))
            .unwrap();
        assert_eq!(
            cache
                .load("a", 64, Made::FromOriginal)
                .unwrap()
                .dimensions(),
            (6, 3)
        );
        cache.forget("a").unwrap();
        assert_eq!(cache.load("a", 64, Made::FromOriginal), None);
        assert_eq!(cache.load("a", 64, T), None);
        assert_eq!(cache.load("a", 128, T), None);
        assert!(cache.load("b", 64, T).is_some());
        // A fetch that was running when the asset was forgotten does not bring it back...
        cache.store("a", 64, T, &image(8, 4)).unwrap();
        assert_eq!(cache.load("a", 64, T), None);
        // ...but a new fetch does.
        cache.remember("a");
        cache.store("a", 64, T, &image(8, 4)).unwrap();
        assert!(cache.load("a", 64, T).is_some());
        let leftovers: Vec<_> = fs::read_dir(dir.path().join("thumbs"))
            .unwrap()
            .flatten()
            .filter(|e| e.file_name().to_string_lossy().ends_with(".tmp"))
            .collect();
        assert!(leftovers.is_empty());
    }

    #[test]
    fn opaque_tiles_are_jpeg_and_transparent_ones_keep_their_alpha() {
        let dir = tempfile::tempdir().unwrap();
        let cache = DiskCache::new(dir.path().to_path_buf());
        // A photo-like tile: every pixel different, all opaque.
        let photo = RgbaImage::from_fn(160, 120, |x, y| {
            image::Rgba([
                (x * 7 % 256) as u8,
                (y * 5 % 256) as u8,
                ((x ^ y) % 256) as u8,
                255,
            ])
        });
        cache.store("photo", 160, T, &photo).unwrap();
        let stored = fs::read(cache.path("photo", 160, T)).unwrap();
        assert!(
            stored.starts_with(&[0xFF, 0xD8]),
            "an opaque tile is a JPEG"
        );
        let back = cache.load("photo", 160, T).unwrap();
        assert_eq!(back.dimensions(), (160, 120));
        assert!(back.pixels().all(|p| p[3] == 255));
        // One translucent pixel keeps the tile lossless, alpha included.
        let mut glass = photo.clone();
        glass.put_pixel(3, 4, image::Rgba([1, 2, 3, 128]));
        cache.store("glass", 160, T, &glass).unwrap();
        assert_eq!(cache.load("glass", 160, T).unwrap(), glass);
    }

    #[test]
    fn pruning_deletes_the_png_tiles_of_earlier_versions() {
        let dir = tempfile::tempdir().unwrap();
        let cache = DiskCache::new(dir.path().to_path_buf());
        let legacy = dir.path().join(format!("{}-160.png", file_stem("a")));
        fs::write(&legacy, b"an old tile").unwrap();
        cache.store("b", 64, T, &image(8, 4)).unwrap();
        assert_eq!(cache.prune(u64::MAX).unwrap(), 11);
        assert!(!legacy.exists());
        assert!(cache.path("b", 64, T).exists(), "current tiles stay");
    }

    #[test]
    fn corrupt_files_are_deleted() {
        let dir = tempfile::tempdir().unwrap();
        let cache = DiskCache::new(dir.path().to_path_buf());
        fs::write(cache.path("a", 64, T), b"not a png").unwrap();
        assert_eq!(cache.load("a", 64, T), None);
        assert!(!cache.path("a", 64, T).exists());
    }

    #[test]
    fn prune_keeps_the_newest_within_budget() {
        let dir = tempfile::tempdir().unwrap();
        let cache = DiskCache::new(dir.path().to_path_buf());
        for (i, id) in ["a", "b", "c"].iter().enumerate() {
            cache.store(id, 64, T, &image(64, 64)).unwrap();
            let when = SystemTime::UNIX_EPOCH + Duration::from_secs(1000 + i as u64);
            fs::File::options()
                .write(true)
                .open(cache.path(id, 64, T))
                .unwrap()
                .set_modified(when)
                .unwrap();
        }
        let one = fs::metadata(cache.path("c", 64, T)).unwrap().len();
        let freed = cache.prune(one).unwrap();
        assert!(freed > 0);
        assert!(!cache.path("a", 64, T).exists());
        assert!(!cache.path("b", 64, T).exists());
        assert!(cache.path("c", 64, T).exists());
    }
}
