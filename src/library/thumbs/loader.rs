//! [`ThumbLoader`]: the handle the desktop backend holds. Each wanted thumbnail is one job on
//! the runtime: disk cache, else download, then decode on one of the loader's own
//! `decode_concurrency` threads, then the answer through the sink.
//!
//! Decodes get threads of their own rather than the runtime's blocking pool: a decode's
//! buffers are large and short-lived, and the allocator keeps what each thread freed in that
//! thread's arena. Two long-lived threads reuse two arenas; the blocking pool's dozens of
//! threads would each keep one.

use std::collections::{HashMap, VecDeque};
use std::path::PathBuf;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use image::RgbaImage;
use tokio::runtime::{Handle, Runtime};
use tokio::sync::Semaphore;
use tokio::task::{AbortHandle, JoinHandle};

use super::cache::{DiskCache, Made};
use super::decode;
use super::fetch::{self, Fetcher};
use super::schedule::{Key, Schedule};
use super::{Thumb, ThumbConfig, ThumbError, ThumbEvent, ThumbRequest, ThumbSource};
use crate::api::RunflowClient;

/// Where answers go; called from runtime threads, so it should only queue and wake the UI.
pub type ThumbSink = Arc<dyn Fn(ThumbEvent) + Send + Sync>;

/// Loads gallery thumbnails in the background. Cheap to clone; clones share one queue.
#[derive(Clone)]
pub struct ThumbLoader {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for ThumbLoader {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let state = self.inner.state();
        f.debug_struct("ThumbLoader")
            .field("cache_dir", &self.inner.config.cache_dir)
            .field("running", &state.schedule.running_count())
            .field("queued", &state.schedule.queued_count())
            .finish()
    }
}

/// A scaled image and where it came from.
type Scaled = (RgbaImage, ThumbSource);
/// A scaled image, or why there is none.
type Produced = Result<Scaled, ThumbError>;

struct Inner {
    runtime: Handle,
    config: ThumbConfig,
    /// `Err` when no HTTP client could be built: every download then fails with it.
    fetcher: Result<Fetcher, ThumbError>,
    cache: Arc<DiskCache>,
    decodes: Arc<Semaphore>,
    decode_threads: DecodeThreads,
    sink: ThumbSink,
    state: Mutex<State>,
}

#[derive(Default)]
struct State {
    schedule: Schedule<AbortHandle>,
    /// Running [`ThumbLoader::decode_local`] jobs by asset id, with their job number.
    locals: HashMap<String, (u64, AbortHandle)>,
    next_local: u64,
    /// Just-uploaded local files not decoded yet, by asset id: decoded once their card is
    /// wanted, so a 50,000-file upload decodes only what is on screen.
    local_files: HashMap<String, (PathBuf, u32)>,
    /// Their ids, oldest first, to keep at most [`LOCAL_FILES_KEPT`].
    local_order: VecDeque<String>,
}

/// Just-uploaded files remembered for a local preview; older ones use the server's thumbnail.
const LOCAL_FILES_KEPT: usize = 4096;

impl ThumbLoader {
    /// A loader spawning on `runtime`. `client` renews expired storage links (`None`: a 403 is
    /// final). Prunes the disk cache to its budget in the background.
    pub fn new(
        runtime: &Handle,
        client: Option<RunflowClient>,
        config: ThumbConfig,
        sink: ThumbSink,
    ) -> Self {
        let fetcher = Fetcher::new(
            client,
            config.timeout,
            config.max_thumbnail_bytes,
            config.max_original_bytes,
            config.max_bytes_in_flight,
        );
        if let Err(e) = &fetcher {
            tracing::error!(error = %e, "no HTTP client for thumbnails");
        }
        let cache = Arc::new(DiskCache::new(config.cache_dir.clone()));
        let pruned = Arc::clone(&cache);
        let budget_bytes = config.disk_budget_bytes;
        runtime.spawn_blocking(move || match pruned.prune(budget_bytes) {
            Ok(0) => {}
            Ok(freed_bytes) => tracing::debug!(freed_bytes, "thumbnail cache pruned"),
            Err(e) => tracing::warn!(error = %e, "could not prune the thumbnail cache"),
        });
        Self {
            inner: Arc::new(Inner {
                runtime: runtime.clone(),
                decodes: Arc::new(Semaphore::new(config.decode_concurrency.max(1))),
                decode_threads: DecodeThreads::new(config.decode_concurrency.max(1)),
                config,
                fetcher,
                cache,
                sink,
                state: Mutex::new(State::default()),
            }),
        }
    }

    /// The complete set of thumbnails wanted now, most urgent first. Queued or running requests
    /// not in the set are cancelled without an answer; answered ones that stay in the set are
    /// not answered again (leave the set and come back to be answered again). Cheap: call it
    /// whenever the visible range changes.
    pub fn want(&self, requests: Vec<ThumbRequest>) {
        let (cancelled, locals) = {
            let mut state = self.inner.state();
            // Wanted cards of just-uploaded files get their local preview now.
            let locals: Vec<(String, PathBuf, u32)> = requests
                .iter()
                .filter_map(|r| {
                    let (path, size_px) = state.local_files.remove(&r.asset_id)?;
                    Some((r.asset_id.clone(), path, size_px))
                })
                .collect();
            (state.schedule.want(requests), locals)
        };
        for handle in cancelled {
            handle.abort();
        }
        for (asset_id, path, size_px) in locals {
            self.decode_local_now(asset_id, path, size_px);
        }
        Inner::pump(&self.inner);
    }

    /// Remembers a just-uploaded local file: it is decoded (answered with
    /// [`ThumbSource::Local`], not cached) once [`ThumbLoader::want`] asks for its asset, which
    /// [`ThumbLoader::forget`] cancels. A file that cannot be decoded (gone, too large) is not
    /// answered at all: the card waits for the server's tile. Only the newest
    /// [`LOCAL_FILES_KEPT`] are remembered.
    pub fn decode_local(&self, asset_id: String, path: PathBuf, size_px: u32) {
        let mut state = self.inner.state();
        if state
            .local_files
            .insert(asset_id.clone(), (path, size_px))
            .is_none()
        {
            state.local_order.push_back(asset_id);
        }
        while state.local_order.len() > LOCAL_FILES_KEPT {
            if let Some(old) = state.local_order.pop_front() {
                state.local_files.remove(&old);
            }
        }
        // Ids whose file was decoded (or forgotten) linger in the order; drop them in bulk.
        if state.local_order.len() > 2 * state.local_files.len() + 64 {
            let State {
                local_files,
                local_order,
                ..
            } = &mut *state;
            local_order.retain(|id| local_files.contains_key(id));
        }
    }

    fn decode_local_now(&self, asset_id: String, path: PathBuf, size_px: u32) {
        let inner = Arc::clone(&self.inner);
        let mut state = self.inner.state();
        state.next_local += 1;
        let job = state.next_local;
        let id = asset_id.clone();
        let task = self.inner.runtime.spawn(async move {
            let max_bytes = inner.config.max_original_bytes;
            let outcome = inner
                .decode_blocking(move || decode::decode_file(&path, size_px, max_bytes))
                .await;
            let current = {
                let mut state = inner.state();
                let current = state.locals.get(&asset_id).is_some_and(|(j, _)| *j == job);
                if current {
                    state.locals.remove(&asset_id);
                }
                current
            };
            // A local preview that fails is no answer: the server's tile is on its way.
            match outcome {
                Ok(image) if current => {
                    inner.deliver(asset_id, size_px, Ok((image, ThumbSource::Local)));
                }
                Ok(_) => {}
                Err(e) => tracing::debug!(asset_id, error = %e, "no local preview"),
            }
        });
        if let Some((_, previous)) = state.locals.insert(id, (job, task.abort_handle())) {
            previous.abort();
        }
    }

    /// Forgets a deleted asset: cancels its jobs and removes its disk-cache files.
    pub fn forget(&self, asset_id: &str) {
        let cancelled = {
            let mut state = self.inner.state();
            let mut cancelled = state.schedule.forget(asset_id);
            cancelled.extend(state.locals.remove(asset_id).map(|(_, handle)| handle));
            state.local_files.remove(asset_id);
            cancelled
        };
        for handle in cancelled {
            handle.abort();
        }
        let cache = Arc::clone(&self.inner.cache);
        let asset_id = asset_id.to_owned();
        self.inner.runtime.spawn_blocking(move || {
            if let Err(e) = cache.forget(&asset_id) {
                tracing::warn!(asset_id, error = %e, "could not remove cached thumbnails");
            }
        });
        Inner::pump(&self.inner);
    }

    /// The cache file of an asset's server thumbnail at a size (it may not exist).
    pub fn cache_path(&self, asset_id: &str, size_px: u32) -> PathBuf {
        self.inner
            .cache
            .path(asset_id, size_px, Made::FromThumbnail)
    }

    /// The cache file of an asset's tile made from its original at a size (it may not exist).
    pub fn original_cache_path(&self, asset_id: &str, size_px: u32) -> PathBuf {
        self.inner.cache.path(asset_id, size_px, Made::FromOriginal)
    }
}

impl Inner {
    fn state(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Starts queued jobs while there are free slots.
    fn pump(this: &Arc<Self>) {
        let mut state = this.state();
        let limit = this.config.concurrency.max(1);
        // Spawned under the lock, so a job cannot finish before it is recorded as running.
        while let Some((job, request)) = state.schedule.next(limit) {
            let key = request.key();
            let inner = Arc::clone(this);
            let task_key = key.clone();
            let task = this.runtime.spawn(async move {
                let outcome = inner.produce(&request).await;
                inner.finish(&task_key, job, outcome);
            });
            state.schedule.started(key, job, task.abort_handle());
        }
    }

    /// Records a finished job, answers if it is still wanted, and starts the next.
    fn finish(self: &Arc<Self>, key: &Key, job: u64, outcome: Produced) {
        let current = self.state().schedule.finish(key, job);
        if current {
            let (asset_id, size_px) = key.clone();
            self.deliver(asset_id, size_px, outcome);
        }
        Self::pump(self);
    }

    /// Calls the sink.
    fn deliver(&self, asset_id: String, size_px: u32, outcome: Produced) {
        if let Err(e) = &outcome {
            tracing::debug!(asset_id, size_px, error = %e, "no thumbnail");
        }
        let outcome = outcome.map(|(image, source)| Thumb {
            width: image.width(),
            height: image.height(),
            rgba: image.into_raw(),
            source,
        });
        (self.sink)(ThumbEvent {
            asset_id,
            size_px,
            outcome,
        });
    }

    /// One request's thumbnail: no-preview types at once, else the disk cache, else a download.
    /// A server thumbnail that fails for good (gone, damaged) gives way to the original.
    async fn produce(self: &Arc<Self>, request: &ThumbRequest) -> Produced {
        if let Err(e @ ThumbError::NoPreview { .. }) = fetch::plan(request) {
            return Err(e);
        }
        let has_thumbnail = request
            .thumbnail_url
            .as_ref()
            .is_some_and(|u| !u.is_empty());
        if let Some(hit) = self.cached(request, has_thumbnail).await {
            return Ok(hit);
        }
        match self.download_and_decode(request).await {
            Err(e) if has_thumbnail && !e.is_transient() && request.url.is_some() => {
                let original = ThumbRequest {
                    thumbnail_url: None,
                    ..request.clone()
                };
                if fetch::plan(&original).is_err() {
                    return Err(e);
                }
                tracing::debug!(
                    asset_id = request.asset_id,
                    error = %e,
                    "server thumbnail failed; using the original"
                );
                self.download_and_decode(&original).await
            }
            other => other,
        }
    }

    /// The disk cache's tile: the server's thumbnail, or, while the asset offers none, the one
    /// made from the original.
    async fn cached(&self, request: &ThumbRequest, has_thumbnail: bool) -> Option<Scaled> {
        let (asset_id, size_px) = request.key();
        let cache = Arc::clone(&self.cache);
        tokio::task::spawn_blocking(move || {
            cache.remember(&asset_id);
            if let Some(image) = cache.load(&asset_id, size_px, Made::FromThumbnail) {
                return Some((image, ThumbSource::DiskCache));
            }
            if has_thumbnail {
                return None;
            }
            cache
                .load(&asset_id, size_px, Made::FromOriginal)
                .map(|image| (image, ThumbSource::Original))
        })
        .await
        .ok()
        .flatten()
    }

    /// Downloads, decodes and caches the tile.
    async fn download_and_decode(self: &Arc<Self>, request: &ThumbRequest) -> Produced {
        let fetched = match &self.fetcher {
            Ok(fetcher) => fetcher.fetch(request).await?,
            Err(e) => return Err(e.clone()),
        };
        let original = fetched.original;
        let size_px = request.size_px;
        // The bytes, and their share of the budget in flight, live until the decode ends.
        let image = self
            .decode_blocking(move || decode::decode_bytes(&fetched.bytes, size_px))
            .await?;
        let (made, source) = if original {
            (Made::FromOriginal, ThumbSource::Original)
        } else {
            (Made::FromThumbnail, ThumbSource::Server)
        };
        let cache = Arc::clone(&self.cache);
        let stored = image.clone();
        let asset_id = request.asset_id.clone();
        // Written in the background: the answer need not wait for the disk.
        tokio::task::spawn_blocking(move || {
            if let Err(e) = cache.store(&asset_id, size_px, made, &stored) {
                tracing::warn!(asset_id, error = %e, "could not cache a thumbnail");
            }
        });
        Ok((image, source))
    }

    /// Runs `decode` on a decode thread once a decode slot is free.
    async fn decode_blocking(
        &self,
        decode: impl FnOnce() -> Result<RgbaImage, ThumbError> + Send + 'static,
    ) -> Result<RgbaImage, ThumbError> {
        let Ok(permit) = Arc::clone(&self.decodes).acquire_owned().await else {
            return Err(ThumbError::DecoderFailed);
        };
        // The permit moves into the closure: an aborted job still holds its slot until the
        // decode it started has ended, so decodes stay bounded.
        self.decode_threads
            .spawn(move || {
                let _permit = permit;
                decode()
            })
            .await
            .unwrap_or(Err(ThumbError::DecoderFailed))
    }
}

/// The decode threads: the blocking pool of a runtime of their own, which runs nothing else
/// and keeps its threads.
struct DecodeThreads(Option<Runtime>);

impl DecodeThreads {
    fn new(threads: usize) -> Self {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .max_blocking_threads(threads)
            .thread_keep_alive(Duration::from_secs(24 * 60 * 60))
            .thread_name("thumb-decode")
            .build();
        if let Err(e) = &runtime {
            tracing::warn!(error = %e, "no decode threads; decoding on the shared blocking pool");
        }
        Self(runtime.ok())
    }

    fn spawn<R: Send + 'static>(&self, work: impl FnOnce() -> R + Send + 'static) -> JoinHandle<R> {
        match &self.0 {
            Some(runtime) => runtime.spawn_blocking(work),
            None => tokio::task::spawn_blocking(work),
        }
    }
}

impl Drop for DecodeThreads {
    fn drop(&mut self) {
        // The loader may be dropped on a runtime thread, where blocking on the threads'
        // shutdown is not allowed: a decode still running finishes on its own.
        if let Some(runtime) = self.0.take() {
            runtime.shutdown_background();
        }
    }
}
