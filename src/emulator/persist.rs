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
use super::state::Db;

/// Loads the snapshot, dropping objects whose file has disappeared.
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
        .retain(|_, meta| objects_dir.join(&meta.file_name).is_file());
    Ok(db)
}

/// Writes the snapshot atomically.
fn write_snapshot(shared: &Shared) -> anyhow::Result<()> {
    let tmp = shared.store.temp_path();
    let mut out = std::io::BufWriter::new(std::fs::File::create(&tmp)?);
    shared.store.write_snapshot(&mut out)?;
    std::io::Write::flush(&mut out)?;
    drop(out);
    std::fs::rename(&tmp, shared.store.state_file())?;
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
