//! One file's trip: check -> hash -> (already uploaded?) -> session -> PUT -> confirm.
//!
//! Every step is written to the journal before the next one starts, and the confirm is never
//! cut short, so neither a crash nor a cancel can leave an asset nobody knows about.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use tokio::sync::{OnceCell, mpsc};
use tokio_util::sync::CancellationToken;

use crate::api::models::{Asset, AssetType, CreateUploadRequest};
use crate::api::{ApiError, RunflowClient, UploadSource};

use super::discover::nanos_since_epoch;
use super::index::DuplicateIndex;
use super::journal::{Entry, Journal, Step};
use super::protocol::{FileId, FileState, UploadFailure};

/// What every worker shares.
pub(super) struct Shared {
    pub client: RunflowClient,
    pub journal: Journal,
    pub index: Arc<Mutex<DuplicateIndex>>,
    pub types: OnceCell<Vec<AssetType>>,
    pub stall_timeout: Duration,
}

/// How a file's trip ended.
#[derive(Debug)]
pub(super) enum Outcome {
    Done(Box<Asset>),
    AlreadyUploaded(String),
    Failed(UploadFailure),
    Cancelled,
}

/// Messages from workers to the engine loop.
pub(super) enum Update {
    State(FileId, FileState),
    /// The journal entry moved on (already written to disk).
    Entry(Entry),
    Finished(FileId, Outcome),
}

/// One running file.
pub(super) struct Work {
    pub entry: Entry,
    /// The content hash being computed alongside the upload, when it was not needed before.
    pub hash_task: Option<tokio::task::JoinHandle<Result<String, UploadFailure>>>,
    pub sent: Arc<AtomicU64>,
    pub cancel: CancellationToken,
    pub updates: mpsc::UnboundedSender<Update>,
}

/// How many times a file may need a fresh session (expired URL, bytes lost) before giving up.
const MAX_SESSIONS: u32 = 4;

/// Runs one file to its end and reports the outcome.
pub(super) async fn run(shared: Arc<Shared>, mut work: Work) {
    let id = FileId(work.entry.id);
    let outcome = trip(&shared, &mut work).await;
    let _ = work.updates.send(Update::Finished(id, outcome));
}

async fn trip(shared: &Shared, work: &mut Work) -> Outcome {
    let mut sessions = 0;
    loop {
        // Everything up to the confirm may be dropped at once on cancel.
        let cancel = work.cancel.clone();
        let prepared = tokio::select! {
            biased;
            () = cancel.cancelled() => return Outcome::Cancelled,
            prepared = prepare(shared, work) => prepared,
        };
        let asset_id = match prepared {
            Ok(Prepared::AlreadyUploaded(asset_id)) => return Outcome::AlreadyUploaded(asset_id),
            Ok(Prepared::Uploaded(asset_id)) => asset_id,
            Err(failure) => return Outcome::Failed(failure),
        };
        if work.cancel.is_cancelled() {
            return Outcome::Cancelled;
        }
        set_state(work, FileState::Confirming);
        match confirm(shared, work, &asset_id).await {
            Ok(asset) => {
                remember(shared, work, &asset).await;
                return Outcome::Done(Box::new(asset));
            }
            Err(ConfirmError::Redo) if sessions + 1 < MAX_SESSIONS => {
                sessions += 1;
                work.entry.step = Step::Pending;
                if let Err(failure) = persist(shared, work, false).await {
                    return Outcome::Failed(failure);
                }
            }
            Err(ConfirmError::Redo) => {
                return Outcome::Failed(UploadFailure::Api(ApiError::Conflict {
                    code: "UPLOAD_NOT_FOUND".into(),
                    message: "storage lost the bytes several times in a row".into(),
                }));
            }
            // The step stays `Uploaded`: a retry, or the next start, confirms only.
            Err(ConfirmError::Failed(err)) => return Outcome::Failed(UploadFailure::Api(err)),
        }
    }
}

enum Prepared {
    AlreadyUploaded(String),
    Uploaded(String),
}

async fn prepare(shared: &Shared, work: &mut Work) -> Result<Prepared, UploadFailure> {
    ensure_supported(shared, &work.entry.mime_type).await?;
    check_unchanged(&work.entry)?;
    if work.entry.hash.is_none() {
        if work.entry.force || !maybe_seen(shared, &work.entry) {
            // Content of a size never uploaded from here cannot be a duplicate: hash it while
            // the bytes travel instead of before, so the upload starts at once.
            let entry = work.entry.clone();
            work.hash_task = Some(tokio::spawn(async move { hash_file(&entry).await }));
        } else {
            set_state(work, FileState::Hashing);
            work.entry.hash = Some(hash_file(&work.entry).await?);
            persist(shared, work, false).await?;
        }
    }
    if !work.entry.force
        && work.entry.step == Step::Pending
        && let Some(asset_id) = already_uploaded(shared, work).await?
    {
        return Ok(Prepared::AlreadyUploaded(asset_id));
    }
    let mut refused = 0;
    loop {
        match work.entry.step.clone() {
            Step::Pending => {
                set_state(work, FileState::CreatingSession);
                let session = shared
                    .client
                    .create_upload(&CreateUploadRequest {
                        filename: work.entry.name.clone(),
                        mime_type: work.entry.mime_type.clone(),
                        size_bytes: work.entry.size_bytes,
                    })
                    .await
                    .map_err(UploadFailure::Api)?;
                work.entry.step = Step::Session {
                    asset_id: session.asset_id,
                    upload_url: session.upload_url,
                };
                // Losing this step to a power cut only costs a fresh session, so it is not
                // flushed; `Uploaded` below is, because it guards the confirm.
                persist(shared, work, false).await?;
            }
            Step::Session {
                asset_id,
                upload_url,
            } => {
                set_state(work, FileState::Uploading);
                check_unchanged(&work.entry)?;
                match put(shared, work, &upload_url).await {
                    Ok(()) => {
                        check_unchanged(&work.entry)?;
                        work.entry.step = Step::Uploaded { asset_id };
                        persist(shared, work, true).await?;
                    }
                    // Expired or refused URL: a fresh session gets a fresh one.
                    Err(UploadFailure::Api(ApiError::PresignedUrlRefused { .. }))
                        if refused + 1 < MAX_SESSIONS =>
                    {
                        refused += 1;
                        work.entry.step = Step::Pending;
                        persist(shared, work, false).await?;
                    }
                    Err(failure) => return Err(failure),
                }
            }
            Step::Uploaded { asset_id } => return Ok(Prepared::Uploaded(asset_id)),
        }
    }
}

enum ConfirmError {
    /// The bytes must be sent again with a new session (storage lost them, or the session
    /// expired before it was confirmed).
    Redo,
    /// Runflow kept failing or refused.
    Failed(ApiError),
}

/// Confirms; a 409 "already confirmed" (a confirm whose answer was lost, or a resumed one)
/// resolves to the existing asset.
async fn confirm(shared: &Shared, work: &Work, asset_id: &str) -> Result<Asset, ConfirmError> {
    let folder = work.entry.folder_id.as_deref();
    match shared.client.confirm_upload(asset_id, folder).await {
        Ok(asset) => Ok(asset),
        Err(ApiError::Conflict { code, .. }) if code == "ASSET_ALREADY_CONFIRMED" => shared
            .client
            .asset(asset_id)
            .await
            .map_err(ConfirmError::Failed),
        Err(ApiError::Conflict { code, .. }) if code == "UPLOAD_NOT_FOUND" => {
            Err(ConfirmError::Redo)
        }
        Err(ApiError::NotFound { .. }) => Err(ConfirmError::Redo),
        Err(err) => Err(ConfirmError::Failed(err)),
    }
}

/// PUTs the file, aborting when no bytes move for the stall timeout.
async fn put(shared: &Shared, work: &Work, upload_url: &str) -> Result<(), UploadFailure> {
    let started = Instant::now();
    let last_move_ms = Arc::new(AtomicU64::new(0));
    let sent = Arc::clone(&work.sent);
    let moved = Arc::clone(&last_move_ms);
    let on_progress = Arc::new(move |bytes: u64| {
        sent.store(bytes, Ordering::Relaxed);
        moved.store(elapsed_ms(started), Ordering::Relaxed);
    });
    let source = UploadSource::File(work.entry.path.clone());
    let upload = shared.client.put_upload(
        upload_url,
        &work.entry.mime_type,
        work.entry.size_bytes,
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
        }),
        () = watchdog => Err(UploadFailure::Stalled(stall.as_secs().max(1))),
    }
}

fn elapsed_ms(since: Instant) -> u64 {
    u64::try_from(since.elapsed().as_millis()).unwrap_or(u64::MAX)
}

/// Checks Runflow accepts the MIME type (the list is fetched once per engine).
async fn ensure_supported(shared: &Shared, mime_type: &str) -> Result<(), UploadFailure> {
    let types = shared
        .types
        .get_or_try_init(|| shared.client.asset_types())
        .await
        .map_err(UploadFailure::Api)?;
    check_supported(types, mime_type)
}

/// Whether `mime_type` is in Runflow's supported list.
pub(super) fn check_supported(types: &[AssetType], mime_type: &str) -> Result<(), UploadFailure> {
    if types.iter().any(|t| {
        t.mime_types
            .iter()
            .any(|m| m.eq_ignore_ascii_case(mime_type))
    }) {
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

/// Fails if the file is gone or differs (size, modification time) from when it was queued.
fn check_unchanged(entry: &Entry) -> Result<(), UploadFailure> {
    let meta = match std::fs::metadata(&entry.path) {
        Ok(meta) => meta,
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => {
            return Err(UploadFailure::Missing);
        }
        Err(err) => return Err(UploadFailure::Unreadable(err.to_string())),
    };
    if meta.len() != entry.size_bytes {
        return Err(UploadFailure::Changed(format!(
            "its size went from {} to {} bytes",
            entry.size_bytes,
            meta.len()
        )));
    }
    let modified = meta.modified().map_or(0, nanos_since_epoch);
    if modified != entry.modified_ns {
        return Err(UploadFailure::Changed(
            "its modification time changed".to_owned(),
        ));
    }
    Ok(())
}

/// BLAKE3 of the file, on a blocking thread.
async fn hash_file(entry: &Entry) -> Result<String, UploadFailure> {
    let path = entry.path.clone();
    tokio::task::spawn_blocking(move || -> std::io::Result<String> {
        let mut hasher = blake3::Hasher::new();
        hasher.update_reader(std::fs::File::open(&path)?)?;
        Ok(hasher.finalize().to_hex().to_string())
    })
    .await
    .map_err(|e| UploadFailure::Unreadable(e.to_string()))?
    .map_err(|e| UploadFailure::Unreadable(e.to_string()))
}

/// The asset this machine uploaded from the same content, if it still exists on the server.
async fn already_uploaded(shared: &Shared, work: &Work) -> Result<Option<String>, UploadFailure> {
    let Some(hash) = work.entry.hash.as_deref() else {
        return Ok(None);
    };
    let base = shared.client.base_url().to_string();
    let known = shared
        .index
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .lookup(&base, hash)
        .map(str::to_owned);
    let Some(asset_id) = known else {
        return Ok(None);
    };
    match shared.client.asset(&asset_id).await {
        Ok(_) => Ok(Some(asset_id)),
        Err(ApiError::NotFound { .. }) => {
            record_index(shared, &base, hash, work.entry.size_bytes, None).await;
            Ok(None)
        }
        Err(err) => Err(UploadFailure::Api(err)),
    }
}

/// Whether the duplicate index knows content of this file's size.
fn maybe_seen(shared: &Shared, entry: &Entry) -> bool {
    let base = shared.client.base_url().to_string();
    shared
        .index
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .might_contain(&base, entry.size_bytes)
}

/// Records a finished upload in the duplicate index.
async fn remember(shared: &Shared, work: &mut Work, asset: &Asset) {
    let hash = match (work.entry.hash.clone(), work.hash_task.take()) {
        (Some(hash), _) => Ok(hash),
        (None, Some(task)) => task
            .await
            .unwrap_or_else(|e| Err(UploadFailure::Unreadable(e.to_string()))),
        (None, None) => hash_file(&work.entry).await,
    };
    match (hash, asset.id.as_deref()) {
        (Ok(hash), Some(id)) => {
            let base = shared.client.base_url().to_string();
            record_index(shared, &base, &hash, work.entry.size_bytes, Some(id)).await;
        }
        (Err(err), _) => tracing::warn!(%err, "could not hash an uploaded file for the index"),
        (Ok(_), None) => {}
    }
}

async fn record_index(
    shared: &Shared,
    base: &str,
    hash: &str,
    size_bytes: u64,
    asset_id: Option<&str>,
) {
    // A short append; a failure only costs duplicate detection, so it is logged, not fatal.
    let index = Arc::clone(&shared.index);
    let (base, hash, asset_id) = (
        base.to_owned(),
        hash.to_owned(),
        asset_id.map(str::to_owned),
    );
    let result = tokio::task::spawn_blocking(move || {
        index.lock().unwrap_or_else(PoisonError::into_inner).record(
            &base,
            &hash,
            size_bytes,
            asset_id.as_deref(),
        )
    })
    .await;
    if let Ok(Err(err)) = result {
        tracing::warn!(%err, "could not update the duplicate index");
    }
}

/// Writes the entry to the journal and tells the engine.
async fn persist(shared: &Shared, work: &Work, durable: bool) -> Result<(), UploadFailure> {
    let journal = shared.journal.clone();
    let entry = work.entry.clone();
    tokio::task::spawn_blocking(move || journal.write(&entry, durable))
        .await
        .map_err(|e| UploadFailure::Journal(e.to_string()))?
        .map_err(|e| UploadFailure::Journal(e.to_string()))?;
    let _ = work.updates.send(Update::Entry(work.entry.clone()));
    Ok(())
}

fn set_state(work: &Work, state: FileState) {
    let _ = work
        .updates
        .send(Update::State(FileId(work.entry.id), state));
}
