//! The I/O behind the queue's effects: file checks and hashing, the duplicate index and content
//! claims, Runflow calls, and the one journal writer. Each function does one effect and returns
//! what the queue needs to hear; none of them decides what happens next.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use tokio::sync::{OnceCell, mpsc};

use crate::api::models::{AssetType, CreateUploadRequest, PatchRequest};
use crate::api::{ApiError, RunflowClient, UploadSource};
use crate::history::{History, Source, Upload};

use super::claims::{Claim, Claims};
use super::discover::{
    DiscoverOptions, Found, discover_streaming, nanos_since_epoch, normalize_mime,
};
use super::journal::{AccountScope, Entry, Journal, Walk};
use super::protocol::UploadFailure;
use super::queue::{Answer, Finished, FoundAsset, Need, Prepared, Ticket};
use crate::api::models::MAX_UPLOAD_BYTES;
use crate::fix::FixedCopy;
use std::io::Read as _;

/// What every effect shares.
pub(super) struct Shared {
    pub client: RunflowClient,
    pub scope: AccountScope,
    /// The history, with the duplicate index.
    pub history: Mutex<History>,
    /// How the files of this engine come (the window's drops, the CLI); pastes are told apart.
    pub source: Source,
    pub claims: Claims,
    /// Runflow's supported types: `None` when it does not say (then create's 422 decides).
    pub types: OnceCell<Option<Vec<AssetType>>>,
    pub stall_timeout: Duration,
}

/// Walks and checks `paths`, or saves pasted bytes into `pasted_dir` first (blocking),
/// handing the findings to `sink` in chunks until it returns false.
pub(super) fn scan(
    paths: &[PathBuf],
    pasted: Option<(String, bytes::Bytes)>,
    pasted_dir: &Path,
    options: &DiscoverOptions,
    mut sink: impl FnMut(Vec<Found>) -> bool,
) {
    match pasted {
        Some((name, bytes)) => match save_pasted(pasted_dir, &name, &bytes) {
            Ok(path) => discover_streaming(&[path], options, sink),
            Err(err) => {
                sink(vec![Found::Rejected {
                    path: PathBuf::new(),
                    name,
                    size_bytes: Some(bytes.len() as u64),
                    reason: UploadFailure::Journal(err.to_string()),
                }]);
            }
        },
        None => discover_streaming(paths, options, sink),
    }
}

/// Pasted bytes are first written to a file of the app's own, so a crash loses nothing. Each
/// paste has a directory of its own, so the file keeps the pasted name (which the asset takes).
fn save_pasted(dir: &Path, name: &str, bytes: &[u8]) -> std::io::Result<PathBuf> {
    let dir = dir.join(uuid::Uuid::new_v4().simple().to_string());
    std::fs::create_dir_all(&dir)?;
    let path = dir.join(name);
    std::fs::write(&path, bytes)?;
    Ok(path)
}

/// Deletes the app's own copy of pasted content, and its directory once empty.
pub(super) fn delete_owned_file(path: &Path) {
    if let Err(err) = std::fs::remove_file(path)
        && err.kind() != std::io::ErrorKind::NotFound
    {
        tracing::warn!(%err, path = %path.display(), "could not delete a pasted copy");
    }
    if let Some(dir) = path.parent() {
        let _ = std::fs::remove_dir(dir);
    }
}

/// Checks the file is unchanged since it was queued, finds what copy it needs when Runflow
/// does not take it as it is (another type, a smaller size), and hashes it (BLAKE3, on a
/// blocking thread). The hash is the original's, whatever is uploaded: a file is the same file
/// however it is sent.
pub(super) async fn prepare(shared: &Shared, entry: &Entry) -> Result<Prepared, UploadFailure> {
    let unsupported = ensure_supported(shared, &entry.mime_type).await.err();
    let documented = shared.types.get().is_some_and(Option::is_none);
    check_unchanged(&entry.path, entry.size_bytes, entry.modified_ns)?;
    let path = entry.path.clone();
    let name = entry.name.clone();
    let (hash, format) = tokio::task::spawn_blocking(move || {
        let mut file = std::fs::File::open(&path)?;
        let mut head = Vec::with_capacity(8192);
        (&mut file).take(8192).read_to_end(&mut head)?;
        let format = crate::fix::format_of(&name, &head);
        let mut hasher = blake3::Hasher::new();
        hasher.update(&head);
        hasher.update_reader(file)?;
        Ok::<_, std::io::Error>((hasher.finalize().to_hex().to_string(), format))
    })
    .await
    .map_err(|e| UploadFailure::Unreadable(e.to_string()))?
    .map_err(|e| UploadFailure::Unreadable(e.to_string()))?;
    // The file may have been rewritten while it was read.
    check_unchanged(&entry.path, entry.size_bytes, entry.modified_ns)?;
    // Without Runflow's list, the image types its documentation names stand in for it.
    let convert = match format {
        Some(format) if documented => !DOCUMENTED_IMAGE_TYPES.contains(&format.mime_type),
        _ => unsupported.is_some(),
    };
    let shrink = entry.size_bytes > MAX_UPLOAD_BYTES;
    if !convert && !shrink {
        return Ok(Prepared { hash, need: None });
    }
    match format {
        Some(format) if crate::fix::can_decode(format) => Ok(Prepared {
            hash,
            need: Some(Need {
                format: format.label.to_owned(),
                convert,
                shrink,
            }),
        }),
        // An image this build cannot decode (HEIC without libheif) says why.
        Some(format) if convert => Err(UploadFailure::Fix(crate::fix::FixError::NeedsHeicBuild {
            format: format.label,
        })),
        _ => Err(unsupported.unwrap_or(UploadFailure::TooLarge {
            size_bytes: entry.size_bytes,
        })),
    }
}

/// The image types Runflow's documentation names (`runflow-api.md` 4.8), for a server that
/// offers no list.
const DOCUMENTED_IMAGE_TYPES: [&str; 4] = ["image/png", "image/jpeg", "image/gif", "image/webp"];

/// Makes the copy that goes instead of `entry`'s file, in `copies_dir` (blocking, on a thread
/// of its own), or finds the copy the entry names there intact.
pub(super) async fn make_copy(
    shared: &Shared,
    entry: &Entry,
    copies_dir: &Path,
) -> Result<FixedCopy, UploadFailure> {
    if let Some(copy) = entry.copy.as_deref()
        && check_unchanged(&copy.path, copy.size_bytes, copy.modified_ns).is_ok()
    {
        return Ok(copy.clone());
    }
    let webp = match shared.types.get().and_then(Option::as_deref) {
        Some(types) => check_supported(types, "image/webp").is_ok(),
        None => true,
    };
    let target = crate::fix::Target {
        webp,
        limit_bytes: MAX_UPLOAD_BYTES,
    };
    // Each copy has a folder of its own, so it keeps the name the asset takes.
    let dir = copies_dir.join(uuid::Uuid::new_v4().simple().to_string());
    let (path, name) = (entry.path.clone(), entry.name.clone());
    tokio::task::spawn_blocking(move || crate::fix::make_copy(&path, &name, &dir, &target))
        .await
        .map_err(|e| UploadFailure::Unreadable(e.to_string()))?
        .map_err(UploadFailure::Fix)
}

/// Checks Runflow accepts the MIME type. The list is asked for once per engine; a server that
/// does not offer it (or answers something unreadable) skips the check.
async fn ensure_supported(shared: &Shared, mime_type: &str) -> Result<(), UploadFailure> {
    let types = shared
        .types
        .get_or_init(|| shared.client.supported_types())
        .await;
    match types {
        Some(types) => check_supported(types, mime_type),
        None => Ok(()),
    }
}

/// Whether `mime_type` is in Runflow's supported list, under its own name or an alias.
pub(super) fn check_supported(types: &[AssetType], mime_type: &str) -> Result<(), UploadFailure> {
    if listed_spelling(types, mime_type).is_some() {
        return Ok(());
    }
    let supported: Vec<&str> = types
        .iter()
        .flat_map(|t| t.mime_types.iter().map(String::as_str))
        .collect();
    Err(UploadFailure::UnsupportedType {
        mime_type: mime_type.to_owned(),
        supported: supported.join(", "),
    })
}

/// How Runflow's list spells `mime_type` (canonical): the canonical name when it is listed,
/// else a listed alias of it (`audio/x-wav` for `audio/wav`).
fn listed_spelling<'a>(types: &'a [AssetType], mime_type: &str) -> Option<&'a str> {
    let listed = || types.iter().flat_map(|t| t.mime_types.iter());
    listed()
        .find(|m| m.eq_ignore_ascii_case(mime_type))
        .or_else(|| listed().find(|m| normalize_mime(&m.to_ascii_lowercase()) == mime_type))
        .map(String::as_str)
}

/// The MIME type to declare for `entry` (create and PUT must agree): its canonical name, or the
/// alias Runflow lists instead of it.
fn declared_mime(shared: &Shared, entry: &Entry) -> String {
    shared
        .types
        .get()
        .and_then(Option::as_deref)
        .and_then(|types| listed_spelling(types, entry.upload_mime()))
        .map_or_else(|| entry.upload_mime().to_owned(), str::to_owned)
}

/// Fails if the file at `path` is gone or differs from the size and modification time it had
/// when it was queued (or made).
fn check_unchanged(path: &Path, size_bytes: u64, modified_ns: u128) -> Result<(), UploadFailure> {
    let meta = match std::fs::metadata(path) {
        Ok(meta) => meta,
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => {
            return Err(UploadFailure::Missing);
        }
        Err(err) => return Err(UploadFailure::Unreadable(err.to_string())),
    };
    if meta.len() != size_bytes {
        return Err(UploadFailure::Changed(format!(
            "its size went from {size_bytes} to {} bytes",
            meta.len()
        )));
    }
    let modified = meta.modified().map_or(0, nanos_since_epoch);
    if modified != modified_ns {
        return Err(UploadFailure::Changed(
            "its modification time changed".to_owned(),
        ));
    }
    Ok(())
}

/// Claims the content across processes.
pub(super) async fn claim(shared: &Shared, hash: String) -> Result<Option<Claim>, String> {
    let claims = shared.claims.clone();
    tokio::task::spawn_blocking(move || claims.try_claim(&hash))
        .await
        .map_err(|e| e.to_string())?
        .map_err(|e| e.to_string())
}

/// The asset this content became before (from this or another process), if it still exists
/// in this account. An index record whose asset is gone is forgotten.
pub(super) async fn find_uploaded(
    shared: &Shared,
    hash: &str,
) -> Result<Option<FoundAsset>, UploadFailure> {
    let scope = shared.scope.index_scope();
    let known = {
        let history = shared
            .history
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        history.lookup(&scope, hash).unwrap_or_else(|err| {
            tracing::warn!(%err, "could not read the duplicate index");
            None
        })
    };
    let Some(asset_id) = known else {
        return Ok(None);
    };
    match shared.client.asset(&asset_id).await {
        Ok(asset) => {
            let folder_name = match asset.folder_id.as_deref() {
                Some(folder) => shared.client.folder(folder).await.ok().and_then(|f| f.name),
                None => None,
            };
            Ok(Some(FoundAsset { asset, folder_name }))
        }
        Err(ApiError::NotFound { .. }) => {
            // One short delete; short enough for an async worker.
            let history = shared
                .history
                .lock()
                .unwrap_or_else(PoisonError::into_inner);
            if let Err(err) = history.forget(&scope, hash) {
                tracing::warn!(%err, "could not update the duplicate index");
            }
            Ok(None)
        }
        Err(err) => Err(UploadFailure::Api(err)),
    }
}

/// Records a finished upload in the history, and its content in the duplicate index. A
/// failure only costs the history row and duplicate detection, so it is logged, not fatal.
pub(super) fn record(shared: &Shared, finished: Finished, batch: String) {
    let upload = Upload {
        id: 0,
        uploaded_at: time::OffsetDateTime::now_utc(),
        path: finished.path,
        name: finished.name,
        size_bytes: finished.size_bytes,
        modified_ns: i64::try_from(finished.modified_ns).ok(),
        hash: Some(finished.hash),
        asset_id: finished.asset_id,
        folder_id: finished.folder_id,
        server: shared.scope.history_server(),
        account: shared.scope.org_id.clone(),
        fixed: finished.fixed,
        source: if finished.pasted {
            Source::Paste
        } else if finished.watched {
            Source::Watch
        } else {
            shared.source
        },
        batch: Some(batch),
    };
    let result = {
        let mut history = shared
            .history
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        history.record(&shared.scope.index_scope(), &upload)
    };
    if let Err(err) = result {
        tracing::warn!(%err, "could not record the upload in the history");
    }
}

/// `POST /v1/asset-uploads`.
pub(super) async fn create(shared: &Shared, entry: &Entry) -> Answer {
    Answer::SessionCreated(
        shared
            .client
            .create_upload(&CreateUploadRequest {
                filename: entry.upload_name().to_owned(),
                mime_type: declared_mime(shared, entry),
                size_bytes: entry.upload_size(),
            })
            .await,
    )
}

/// PUTs the file, aborting when no bytes move for the stall timeout.
pub(super) async fn put(
    shared: &Shared,
    entry: &Entry,
    upload_url: &str,
    sent: Arc<AtomicU64>,
) -> Result<(), UploadFailure> {
    let unchanged = || {
        check_unchanged(
            entry.upload_path(),
            entry.upload_size(),
            entry.upload_modified_ns(),
        )
    };
    unchanged()?;
    let started = Instant::now();
    let last_move_ms = Arc::new(AtomicU64::new(0));
    let moved = Arc::clone(&last_move_ms);
    let on_progress = Arc::new(move |bytes: u64| {
        sent.store(bytes, Ordering::Relaxed);
        moved.store(elapsed_ms(started), Ordering::Relaxed);
    });
    let source = UploadSource::File(entry.upload_path().to_path_buf());
    let mime_type = declared_mime(shared, entry);
    let upload = shared.client.put_upload(
        upload_url,
        &mime_type,
        entry.upload_size(),
        &source,
        Some(on_progress),
    );
    let stall = shared.stall_timeout;
    let watchdog = async {
        let poll = (stall / 10).clamp(Duration::from_millis(50), Duration::from_secs(1));
        loop {
            tokio::time::sleep(poll).await;
            let idle_ms = elapsed_ms(started).saturating_sub(last_move_ms.load(Ordering::Relaxed));
            // While the client waits out a rate limit, nothing moves on purpose.
            if idle_ms >= stall.as_millis() as u64 && !shared.client.throttle().is_holding() {
                return;
            }
        }
    };
    tokio::select! {
        result = upload => result.map_err(|err| match err {
            ApiError::File(detail) => UploadFailure::Changed(detail),
            other => UploadFailure::Api(other),
        })?,
        () = watchdog => return Err(UploadFailure::Stalled(stall.as_secs().max(1))),
    }
    unchanged()
}

fn elapsed_ms(since: Instant) -> u64 {
    u64::try_from(since.elapsed().as_millis()).unwrap_or(u64::MAX)
}

/// Moves an asset into `folder_id`.
pub(super) async fn move_asset(
    shared: &Shared,
    asset_id: &str,
    folder_id: Option<String>,
) -> Answer {
    let patch = PatchRequest {
        folder_id: Some(folder_id),
        ..PatchRequest::default()
    };
    Answer::Moved(shared.client.update_asset(asset_id, &patch).await)
}

/// One journal operation, in the order the queue asked for them.
pub(super) enum JournalOp {
    Write {
        entry: Box<Entry>,
        durable: bool,
        ack: Option<Ticket>,
    },
    Remove(u64),
    /// A walk starts: recorded before any of its files.
    WriteWalk(Box<Walk>),
    /// A walk queued its last file (or was stopped).
    RemoveWalk(String),
    /// Tidies up on shutdown, then ends the writer.
    Close(tokio::sync::oneshot::Sender<()>),
}

/// Starts the one journal writer: a thread that applies operations strictly in order, so no
/// write of an entry can land after its removal.
/// `backlog` counts the operations sent and not applied yet (the sender adds, the writer takes
/// away), so a folder walk can wait for the writer instead of piling entries up in memory.
pub(super) fn journal_writer(
    journal: Journal,
    answers: mpsc::UnboundedSender<(Ticket, Answer)>,
    backlog: Arc<AtomicUsize>,
) -> std::sync::mpsc::Sender<JournalOp> {
    let (tx, rx) = std::sync::mpsc::channel::<JournalOp>();
    let spawned = std::thread::Builder::new()
        .name("upload-journal".into())
        .spawn(move || {
            for op in rx {
                backlog.fetch_sub(1, Ordering::Relaxed);
                match op {
                    JournalOp::Write {
                        entry,
                        durable,
                        ack,
                    } => {
                        let result = journal.write(&entry, durable).map_err(|e| e.to_string());
                        if let Err(err) = &result {
                            tracing::warn!(%err, "could not write the upload journal");
                        }
                        if let Some(ticket) = ack {
                            let _ = answers.send((ticket, Answer::JournalWritten(result)));
                        }
                    }
                    JournalOp::Remove(id) => {
                        if let Err(err) = journal.remove(id) {
                            tracing::warn!(%err, "could not remove a finished journal entry");
                        }
                    }
                    JournalOp::WriteWalk(walk) => {
                        if let Err(err) = journal.write_walk(&walk) {
                            tracing::warn!(%err, "could not record a folder walk in the journal");
                        }
                    }
                    JournalOp::RemoveWalk(key) => {
                        if let Err(err) = journal.remove_walk(&key) {
                            tracing::warn!(%err, "could not remove a finished walk's record");
                        }
                    }
                    JournalOp::Close(done) => {
                        if let Err(err) = journal.close_if_empty() {
                            tracing::warn!(%err, "could not tidy the upload journal");
                        }
                        let _ = done.send(());
                        return;
                    }
                }
            }
        });
    if let Err(err) = spawned {
        tracing::error!(%err, "could not start the journal writer");
    }
    tx
}

#[cfg(test)]
mod tests {
    use super::*;

    fn types(mimes: &[&str]) -> Vec<AssetType> {
        vec![AssetType {
            name: "audio".into(),
            mime_types: mimes.iter().map(|m| (*m).to_owned()).collect(),
        }]
    }

    #[test]
    fn a_listed_alias_is_accepted_and_declared_and_the_canonical_name_wins() {
        let alias_only = types(&["audio/x-wav"]);
        assert!(check_supported(&alias_only, "audio/wav").is_ok());
        assert_eq!(
            listed_spelling(&alias_only, "audio/wav"),
            Some("audio/x-wav")
        );
        let both = types(&["audio/x-wav", "audio/wav"]);
        assert_eq!(listed_spelling(&both, "audio/wav"), Some("audio/wav"));
        assert!(matches!(
            check_supported(&types(&["audio/mpeg"]), "audio/wav"),
            Err(UploadFailure::UnsupportedType { .. })
        ));
    }
}
