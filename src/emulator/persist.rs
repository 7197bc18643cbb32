//! The state snapshot (only with an explicit `--data-dir`): `state.json`, rewritten atomically
//! (temp file + rename) after changes, at most once a second and at most a tenth of the time,
//! and once more on shutdown. A restart with the same `--data-dir` continues where the last
//! run stopped; presigned URLs and cursors from the old run are signed with its (random) key
//! and so are refused.

use std::path::Path;
use std::sync::Arc;

use tokio::sync::watch;
use tokio::task::JoinHandle;

use super::Shared;
use super::state::{Db, object_file_name};

/// Loads the snapshot, dropping objects whose file has disappeared (and, from snapshots of
/// older emulators, sessions kept after they were confirmed).
pub(crate) fn load(state_file: &Path, objects_dir: &Path) -> anyhow::Result<Db> {
    let bytes = match std::fs::read(state_file) {
        Ok(bytes) => bytes,
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => return Ok(Db::default()),
        Err(err) => return Err(err.into()),
    };
    let mut db: Db = serde_json::from_slice(&bytes).map_err(|err| {
        anyhow::anyhow!(
            "{} is not an emulator state snapshot ({err}); remove it or pick another --data-dir",
            state_file.display()
        )
    })?;
    db.objects
        .retain(|key, _| objects_dir.join(object_file_name(key)).is_file());
    let assets = &db.assets;
    db.uploads.retain(|id, _| !assets.contains_key(id));
    db.sessions_created = db
        .sessions_created
        .max((db.uploads.len() + db.assets.len()) as u64);
    let objects = std::mem::take(&mut db.objects);
    for (key, meta) in objects {
        db.insert_object(key, meta);
    }
    Ok(db)
}

/// Writes the snapshot atomically (a temporary file beside it, renamed).
fn write_snapshot(shared: &Shared) -> anyhow::Result<()> {
    let state_file = shared.store.state_file();
    let mut temp = crate::atomic::temp_in(state_file.parent().unwrap_or(Path::new(".")))?;
    let mut out = std::io::BufWriter::new(temp.as_file_mut());
    shared.store.write_snapshot(&mut out)?;
    std::io::Write::flush(&mut out)?;
    drop(out);
    temp.persist(state_file)?;
    Ok(())
}

async fn write_in_background(shared: &Arc<Shared>) {
    let shared = shared.clone();
    match tokio::task::spawn_blocking(move || write_snapshot(&shared)).await {
        Ok(Ok(())) => {}
        Ok(Err(err)) => tracing::warn!(%err, "could not write the emulator state snapshot"),
        Err(err) => tracing::warn!(%err, "emulator state snapshot task failed"),
    }
}

/// Shortest time between two snapshots.
const SNAPSHOT_INTERVAL: std::time::Duration = std::time::Duration::from_secs(1);

/// Rewrites the snapshot whenever the state changed, until `stop`; then writes a final one.
pub(crate) fn spawn_writer(shared: Arc<Shared>, mut stop: watch::Receiver<bool>) -> JoinHandle<()> {
    let mut changes = shared.store.subscribe();
    tokio::spawn(async move {
        write_in_background(&shared).await;
        loop {
            tokio::select! {
                changed = changes.changed() => {
                    if changed.is_err() {
                        break;
                    }
                    let started = std::time::Instant::now();
                    write_in_background(&shared).await;
                    // At most one snapshot a second, and never more than a tenth of the time:
                    // serialising a state of 100,000 assets on every change would slow the API
                    // it emulates (and make a big upload quadratic).
                    tokio::time::sleep(SNAPSHOT_INTERVAL.max(started.elapsed() * 10)).await;
                }
                () = async {
                    let _ = stop.wait_for(|stopped| *stopped).await;
                } => break,
            }
        }
        write_in_background(&shared).await;
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::emulator::state::{Store, object_file_name};

    #[test]
    fn a_snapshot_of_an_older_emulator_loads_sealed_sessions_as_assets() {
        let dir = tempfile::tempdir().unwrap();
        let objects = dir.path().join("objects");
        std::fs::create_dir_all(&objects).unwrap();
        let id = "6f1c3a4e-2b7d-4e8f-9a10-111213141516";
        let key = format!("uploads/org/{id}/a.png");
        // Object files lay directly in the objects directory then.
        let flat_name = object_file_name(&key).split_off(3);
        std::fs::write(objects.join(&flat_name), b"png").unwrap();
        let etag = format!("\"{}\"", "ab".repeat(32));
        // Sessions stayed after their confirm, objects named their file, no session count.
        let snapshot = serde_json::json!({
            "uploads": {id: {"id": id, "filename": "a.png", "mime_type": "image/png",
                "size_bytes": 3, "object_key": key, "created_at": "2026-01-01T00:00:00Z",
                "confirmed": true}},
            "assets": {id: {"id": id, "folder_id": null, "name": "a.png", "r2_key": key,
                "mime_type": "image/png", "size_bytes": 3, "asset_type": "image",
                "thumbnail_key": null, "created_at": "2026-01-01T00:00:00Z",
                "updated_at": "2026-01-01T00:00:00Z", "deleted_at": null, "deleted_by": null}},
            "folders": {},
            "objects": {
                key.clone(): {"content_type": "image/png", "size_bytes": 3, "etag": etag,
                    "file_name": flat_name},
                "uploads/org/gone/b.png": {"content_type": "image/png", "size_bytes": 1,
                    "etag": etag, "file_name": "missing"}
            }
        });
        let state = dir.path().join("state.json");
        std::fs::write(&state, snapshot.to_string()).unwrap();
        let store = Store::open(dir.path()).unwrap();
        assert!(
            objects.join(object_file_name(&key)).is_file(),
            "moved into its shard"
        );
        let db = store
            .read(|db| serde_json::from_str::<Db>(&serde_json::to_string(db).unwrap()))
            .unwrap();
        let id = uuid::Uuid::parse_str(id).unwrap();
        assert!(
            db.uploads.is_empty(),
            "a confirmed session is its asset now"
        );
        assert!(db.confirmed(id));
        assert_eq!(db.sessions_created, 1);
        assert_eq!(
            db.objects.len(),
            1,
            "the object whose file is gone is dropped"
        );
        assert_eq!(db.objects[key.as_str()].etag(), etag);
        // And what it writes reads back the same.
        let again: Db = serde_json::from_str(&serde_json::to_string(&db).unwrap()).unwrap();
        assert_eq!(again.objects[key.as_str()], db.objects[key.as_str()]);
    }
}
