//! The PUT to storage: the bytes streamed to the presigned link with no credentials, their
//! progress read from the kernel's acknowledged bytes, on a pool of clients whose one
//! connection can be watched.

use super::*;

/// A client with at most one connection, and that connection's addresses.
#[derive(Debug, Clone)]
pub(super) struct Tracked {
    http: reqwest::Client,
    slot: ConnectionSlot,
}

/// Tracked clients kept between PUTs (one per upload slot is enough).
const TRACKED_CLIENTS_KEPT: usize = 16;

/// A tracked client lent to one PUT; it goes back to the pool when the PUT ends (or is
/// dropped).
struct Lent {
    pool: Arc<Mutex<Vec<Tracked>>>,
    tracked: Tracked,
}

impl Drop for Lent {
    fn drop(&mut self) {
        let mut pool = self.pool.lock().unwrap_or_else(PoisonError::into_inner);
        if pool.len() < TRACKED_CLIENTS_KEPT {
            pool.push(self.tracked.clone());
        }
    }
}

impl RunflowClient {
    /// A client for one big PUT whose acknowledged bytes are read: a kept one, or a new one.
    fn lend_tracked(&self) -> Result<Lent, ApiError> {
        let kept = self
            .tracked
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .pop();
        let tracked = match kept {
            Some(tracked) => tracked,
            None => {
                let slot = ConnectionSlot::default();
                let http = self
                    .http_builder()
                    .connect_timeout(self.config.connect_timeout)
                    .pool_max_idle_per_host(1)
                    .connector_layer(RecordConnection(slot.clone()))
                    .build()
                    .map_err(|e| ApiError::Network(e.to_string()))?;
                Tracked { http, slot }
            }
        };
        Ok(Lent {
            pool: Arc::clone(&self.tracked),
            tracked,
        })
    }

    /// `PUT {upload_url}`: streams the bytes to storage with the declared `Content-Type` and
    /// exact `Content-Length`, and no credentials. `on_progress` hears the bytes sent so far.
    ///
    /// Retries network errors and 5xx; a 403 means the URL expired or was refused and is final
    /// (create a new session).
    pub async fn put_upload(
        &self,
        upload_url: &str,
        mime_type: &str,
        size_bytes: u64,
        source: &UploadSource,
        on_progress: Option<ProgressFn>,
    ) -> Result<(), ApiError> {
        let url = parse_storage_url(upload_url)?;
        self.config
            .retry
            .run(
                || {
                    self.put_once(
                        url.clone(),
                        mime_type,
                        size_bytes,
                        source,
                        on_progress.clone(),
                    )
                },
                |err, wait| self.note_retry("upload PUT", err, wait),
            )
            .await
    }

    async fn put_once(
        &self,
        url: Url,
        mime_type: &str,
        size_bytes: u64,
        source: &UploadSource,
        on_progress: Option<ProgressFn>,
    ) -> Result<(), ApiError> {
        self.throttle.wait().await;
        if let Some(progress) = &on_progress {
            progress(0);
        }
        // Bytes handed to hyper, and for a big body a connection of its own to read the
        // acknowledged ones from.
        let handed = Arc::new(AtomicU64::new(0));
        let acked_on = match &on_progress {
            Some(_) if size_bytes >= ACKED_PROGRESS_MIN_BYTES => Some(self.lend_tracked()?),
            _ => None,
        };
        let report_writes = if acked_on.is_some() {
            None
        } else {
            on_progress.clone()
        };
        let body = match source {
            UploadSource::Bytes(bytes) => {
                if bytes.len() as u64 != size_bytes {
                    return Err(ApiError::File(format!(
                        "{} bytes in memory but {size_bytes} declared",
                        bytes.len()
                    )));
                }
                let chunks: Vec<Result<Bytes, std::io::Error>> = bytes
                    .chunks(256 * 1024)
                    .map(|c| Ok(bytes.slice_ref(c)))
                    .collect();
                progress_body(
                    futures_util::stream::iter(chunks),
                    Arc::clone(&handed),
                    report_writes,
                )
            }
            UploadSource::File(path) => {
                let file = tokio::fs::File::open(path)
                    .await
                    .map_err(|e| ApiError::File(format!("{}: {e}", path.display())))?;
                let stream = exact_length(
                    tokio_util::io::ReaderStream::with_capacity(file, 256 * 1024),
                    size_bytes,
                );
                progress_body(stream, Arc::clone(&handed), report_writes)
            }
        };
        let http = acked_on
            .as_ref()
            .map_or(&self.http, |lent| &lent.tracked.http);
        // A kept connection has acknowledged earlier requests' bytes: count from here.
        let start = acked_on.as_ref().and_then(|lent| {
            let endpoints = lent.tracked.slot.get()?;
            Some((endpoints, acked::bytes_acked(endpoints)?))
        });
        let send = http
            .put(url)
            .header(CONTENT_TYPE, mime_type)
            .header(CONTENT_LENGTH, size_bytes)
            .body(body)
            .send();
        let response = match (acked_on.as_ref(), on_progress) {
            (Some(lent), Some(progress)) => {
                let report = report_acked(&lent.tracked.slot, start, &handed, &progress);
                tokio::select! {
                    response = send => response,
                    never = report => match never {},
                }
            }
            _ => send.await,
        }
        .map_err(put_error)?;
        let status = response.status();
        if status.is_success() {
            return Ok(());
        }
        let body = read_capped(response, 64 * 1024).await.unwrap_or_default();
        Err(ApiError::from_storage_response(status, &body))
    }
}

/// A problem with the local file behind a PUT body, as opposed to the network.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
struct LocalFileError(String);

/// Tells a failed local read (final: the file is the problem) from a network failure
/// (retryable) when a PUT's body stream breaks.
fn put_error(err: reqwest::Error) -> ApiError {
    let mut source = std::error::Error::source(&err);
    while let Some(cause) = source {
        if let Some(local) = cause.downcast_ref::<LocalFileError>() {
            return ApiError::File(local.0.clone());
        }
        if let Some(io) = cause.downcast_ref::<std::io::Error>()
            && let Some(local) = io
                .get_ref()
                .and_then(|e| e.downcast_ref::<LocalFileError>())
        {
            return ApiError::File(local.0.clone());
        }
        source = cause.source();
    }
    ApiError::from(err)
}

/// Wraps a byte stream into a request body that counts the bytes it hands over in `handed`,
/// and reports them to `on_progress` when given.
fn progress_body<S>(
    stream: S,
    handed: Arc<AtomicU64>,
    on_progress: Option<ProgressFn>,
) -> reqwest::Body
where
    S: futures_util::Stream<Item = Result<Bytes, std::io::Error>> + Send + Sync + 'static,
{
    reqwest::Body::wrap_stream(stream.inspect_ok(move |chunk| {
        let sent = handed.fetch_add(chunk.len() as u64, Ordering::Relaxed) + chunk.len() as u64;
        if let Some(progress) = &on_progress {
            progress(sent);
        }
    }))
}

/// Reports, whenever it changes, how much of the body the server acknowledged on the
/// connection in `slot`: never more than was handed over, and the handed count itself where
/// the system cannot tell. Runs until dropped.
/// `start` is the connection the client had before this PUT, with what it had acknowledged
/// then; a new connection counts from zero. The callback also hears of bytes handed over
/// while the acknowledged count stands still, so a stall watchdog sees that data moves.
async fn report_acked(
    slot: &ConnectionSlot,
    start: Option<(acked::Endpoints, u64)>,
    handed: &AtomicU64,
    progress: &ProgressFn,
) -> std::convert::Infallible {
    let (mut reported, mut last_handed) = (0, 0);
    loop {
        tokio::time::sleep(ACKED_PROGRESS_INTERVAL).await;
        let handed = handed.load(Ordering::Relaxed);
        let received = slot
            .get()
            .and_then(|endpoints| {
                let before = start.filter(|(e, _)| *e == endpoints).map_or(0, |(_, n)| n);
                Some(acked::bytes_acked(endpoints)?.saturating_sub(before))
            })
            .map_or(handed, |acked| acked.min(handed));
        if received != reported || handed != last_handed {
            reported = received;
            last_handed = handed;
            progress(received);
        }
    }
}

/// Yields exactly `expected` bytes, failing if the file turns out shorter or longer (it changed
/// after its size was taken), so storage never receives a body that disagrees with the
/// `Content-Length` we declared.
pub(super) fn exact_length<S>(
    stream: S,
    expected: u64,
) -> impl futures_util::Stream<Item = Result<Bytes, std::io::Error>> + Send + Sync + 'static
where
    S: futures_util::Stream<Item = Result<Bytes, std::io::Error>> + Send + Sync + 'static,
{
    let changed = move |what: &str| {
        std::io::Error::other(LocalFileError(format!(
            "the file {what} while it was being uploaded ({expected} bytes expected)"
        )))
    };
    // `None` marks the end of the file, where a short read is detected.
    let end = futures_util::stream::once(futures_util::future::ready(None));
    stream.map(Some).chain(end).scan(0_u64, move |seen, item| {
        let next = match item {
            Some(Ok(chunk)) => {
                *seen += chunk.len() as u64;
                Some(if *seen > expected {
                    Err(changed("grew"))
                } else {
                    Ok(chunk)
                })
            }
            Some(Err(e)) => Some(Err(e)),
            None if *seen < expected => Some(Err(changed("shrank"))),
            None => None,
        };
        futures_util::future::ready(next)
    })
}
