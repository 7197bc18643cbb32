//! Downloading a thumbnail's source bytes from storage: which URL (the server's thumbnail, else
//! the original of a decodable image), a size cap checked before and while reading, a budget of
//! bytes in flight across all downloads, a time limit over the whole download, and one link
//! renewal through the API after a 403.
//!
//! Storage URLs carry their own signature: this client has no default headers and never sends
//! the API key. Signed URLs are never logged.

use std::sync::Arc;
use std::time::Duration;

use reqwest::StatusCode;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use url::Url;

use super::{FileKind, ThumbError, ThumbRequest};
use crate::api::{self, RunflowClient};

/// MIME types the app decodes itself (the `image` features it is built with).
const DECODABLE_MIME_TYPES: [&str; 5] = [
    "image/png",
    "image/jpeg",
    "image/jpg",
    "image/gif",
    "image/webp",
];
/// Longest wait for a TCP (and TLS) connection.
const MAX_CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// What a server thumbnail reserves of the bytes in flight before its size is known.
const THUMBNAIL_RESERVATION_BYTES: u64 = 256 * 1024;
/// The unit the budget of bytes in flight is counted in.
const BUDGET_UNIT_BYTES: u64 = 1024;

/// Which download makes a request's thumbnail.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Source {
    /// The server's thumbnail.
    Thumbnail(String),
    /// The original file, scaled down here.
    Original(String),
}

/// Picks the download for `request`. A server thumbnail is used whatever the asset's type;
/// without one, only images the app can decode (or of unknown type) fetch their original.
pub(crate) fn plan(request: &ThumbRequest) -> Result<Source, ThumbError> {
    if let Some(url) = request.thumbnail_url.as_ref().filter(|u| !u.is_empty()) {
        return Ok(Source::Thumbnail(url.clone()));
    }
    let mime = request.mime_type.as_deref().map(|m| {
        m.split(';')
            .next()
            .unwrap_or_default()
            .trim()
            .to_ascii_lowercase()
    });
    if let Some(mime) = mime.as_deref().filter(|m| !m.is_empty()) {
        let kind = FileKind::of_mime(Some(mime));
        if kind != FileKind::Image || !DECODABLE_MIME_TYPES.contains(&mime) {
            return Err(ThumbError::NoPreview { kind });
        }
    }
    match request.url.as_ref().filter(|u| !u.is_empty()) {
        Some(url) => Ok(Source::Original(url.clone())),
        None => Err(ThumbError::NoUrl),
    }
}

/// Why one download attempt failed.
#[derive(Debug)]
enum Attempt {
    /// 403: the signature expired (or was refused); renewing the link may help.
    Forbidden,
    /// Anything else: final.
    Failed(ThumbError),
}

/// Downloads source bytes from storage.
#[derive(Debug, Clone)]
pub(crate) struct Fetcher {
    http: reqwest::Client,
    api: Option<RunflowClient>,
    timeout: Duration,
    max_thumbnail_bytes: u64,
    max_original_bytes: u64,
    /// The bytes in flight, in [`BUDGET_UNIT_BYTES`]: a download holds its share from before
    /// its request until its bytes are dropped.
    in_flight: Arc<Semaphore>,
    budget_units: u64,
}

/// Downloaded source bytes.
#[derive(Debug)]
pub(crate) struct Fetched {
    pub(crate) bytes: Vec<u8>,
    /// They are the original, not the server's thumbnail.
    pub(crate) original: bool,
    /// Their share of the bytes in flight, given back when this is dropped.
    pub(crate) _reserved: Option<OwnedSemaphorePermit>,
}

impl Fetcher {
    /// A fetcher with its own connection pool; `api` renews expired links. All its downloads
    /// together hold at most `max_bytes_in_flight` (a single larger one runs alone).
    pub(crate) fn new(
        api: Option<RunflowClient>,
        timeout: Duration,
        max_thumbnail_bytes: u64,
        max_original_bytes: u64,
        max_bytes_in_flight: u64,
    ) -> Result<Self, ThumbError> {
        // The API client's roots and proxies, so a private CA trusted for the API (and storage)
        // is trusted here too; without one, those of `RUNFLOW_CA_CERT`.
        let builder = match &api {
            Some(api) => api.http_builder(),
            None => {
                api::standalone_http_builder().map_err(|e| ThumbError::Network(e.to_string()))?
            }
        };
        let http = builder
            .connect_timeout(timeout.min(MAX_CONNECT_TIMEOUT))
            .build()
            .map_err(|e| ThumbError::Network(e.without_url().to_string()))?;
        let budget_units = max_bytes_in_flight
            .div_ceil(BUDGET_UNIT_BYTES)
            .clamp(1, Semaphore::MAX_PERMITS as u64);
        Ok(Self {
            http,
            api,
            timeout,
            max_thumbnail_bytes,
            max_original_bytes,
            in_flight: Arc::new(Semaphore::new(
                usize::try_from(budget_units).unwrap_or(Semaphore::MAX_PERMITS),
            )),
            budget_units,
        })
    }

    /// The budget's units `bytes` take (all of them, for more than the budget).
    fn units(&self, bytes: u64) -> u64 {
        bytes
            .div_ceil(BUDGET_UNIT_BYTES)
            .clamp(1, self.budget_units)
    }

    /// Makes `reserved` cover `bytes`, waiting until they may be in flight. What it held is
    /// given back first, so two downloads that both need more never wait for each other.
    async fn reserve(
        &self,
        reserved: &mut Option<OwnedSemaphorePermit>,
        bytes: u64,
    ) -> Result<(), ThumbError> {
        let units = self.units(bytes);
        if reserved
            .as_ref()
            .is_some_and(|held| held.num_permits() as u64 >= units)
        {
            return Ok(());
        }
        *reserved = None;
        let permit = Arc::clone(&self.in_flight)
            .acquire_many_owned(u32::try_from(units).unwrap_or(u32::MAX))
            .await
            // The semaphore is never closed.
            .map_err(|_| ThumbError::Network("the download budget is gone".to_owned()))?;
        *reserved = Some(permit);
        Ok(())
    }

    /// The bytes of `request`'s thumbnail source, and whether they are the original. A missing
    /// link or a 403 renews the links once through the API (when there is a client), then tries
    /// again. The download waits for its share of the bytes in flight first: an original's
    /// stated size, a thumbnail's nominal one, grown once its length is known.
    pub(crate) async fn fetch(&self, request: &ThumbRequest) -> Result<Fetched, ThumbError> {
        let mut request = request.clone();
        let mut renewed = false;
        loop {
            let source = match plan(&request) {
                Err(ThumbError::NoUrl) if !renewed && self.api.is_some() => {
                    request = self.renew(&request).await?;
                    renewed = true;
                    continue;
                }
                other => other?,
            };
            let (url, cap, original, expected) = match &source {
                Source::Thumbnail(url) => (
                    url,
                    self.max_thumbnail_bytes,
                    false,
                    THUMBNAIL_RESERVATION_BYTES,
                ),
                Source::Original(url) => (
                    url,
                    self.max_original_bytes,
                    true,
                    request.size_bytes.unwrap_or(self.max_original_bytes),
                ),
            };
            let mut reserved = None;
            self.reserve(&mut reserved, expected.min(cap)).await?;
            match self.download(url, cap, &mut reserved).await {
                Ok(bytes) => {
                    return Ok(Fetched {
                        bytes,
                        original,
                        _reserved: reserved,
                    });
                }
                Err(Attempt::Failed(e)) => return Err(e),
                Err(Attempt::Forbidden) if renewed || self.api.is_none() => {
                    return Err(ThumbError::LinkExpired);
                }
                Err(Attempt::Forbidden) => {
                    tracing::debug!(
                        asset_id = request.asset_id,
                        "storage answered 403; renewing"
                    );
                    request = self.renew(&request).await?;
                    renewed = true;
                }
            }
        }
    }

    /// `request` with the freshly signed links of `GET /v1/assets/{id}`.
    async fn renew(&self, request: &ThumbRequest) -> Result<ThumbRequest, ThumbError> {
        let Some(api) = &self.api else {
            return Err(ThumbError::LinkExpired);
        };
        let asset = api
            .asset(&request.asset_id)
            .await
            .map_err(|e| ThumbError::Network(format!("could not renew the download link: {e}")))?;
        Ok(ThumbRequest {
            asset_id: request.asset_id.clone(),
            thumbnail_url: asset.thumbnail_url,
            url: asset.url,
            mime_type: asset.mime_type.or_else(|| request.mime_type.clone()),
            size_bytes: asset.size_bytes.or(request.size_bytes),
            size_px: request.size_px,
        })
    }

    /// One GET of at most `cap` bytes within the time limit, `reserved` grown to its length.
    async fn download(
        &self,
        url: &str,
        cap: u64,
        reserved: &mut Option<OwnedSemaphorePermit>,
    ) -> Result<Vec<u8>, Attempt> {
        let url = Url::parse(url)
            .ok()
            .filter(|u| matches!(u.scheme(), "http" | "https"))
            .ok_or_else(|| Attempt::Failed(ThumbError::Network("invalid download link".into())))?;
        match tokio::time::timeout(self.timeout, self.download_capped(url, cap, reserved)).await {
            Ok(result) => result,
            Err(_) => Err(Attempt::Failed(ThumbError::TimedOut)),
        }
    }

    async fn download_capped(
        &self,
        url: Url,
        cap: u64,
        reserved: &mut Option<OwnedSemaphorePermit>,
    ) -> Result<Vec<u8>, Attempt> {
        let failed = |e: reqwest::Error| Attempt::Failed(network_error(e));
        let mut response = self.http.get(url).send().await.map_err(failed)?;
        let status = response.status();
        if status == StatusCode::FORBIDDEN {
            return Err(Attempt::Forbidden);
        }
        if !status.is_success() {
            return Err(Attempt::Failed(ThumbError::Http {
                status: status.as_u16(),
            }));
        }
        let too_large = || Attempt::Failed(ThumbError::FileTooLarge { limit_bytes: cap });
        let declared = response.content_length();
        if declared.is_some_and(|len| len > cap) {
            return Err(too_large());
        }
        self.reserve(reserved, declared.unwrap_or(cap))
            .await
            .map_err(Attempt::Failed)?;
        let mut body = CappedBuffer::new(cap, declared);
        while let Some(chunk) = response.chunk().await.map_err(failed)? {
            if !body.push(&chunk) {
                return Err(too_large());
            }
        }
        Ok(body.into_inner())
    }
}

/// A byte buffer that refuses to grow past its cap, allocation included.
#[derive(Debug)]
pub(crate) struct CappedBuffer {
    bytes: Vec<u8>,
    cap: usize,
}

impl CappedBuffer {
    /// An empty buffer for at most `cap` bytes, sized for `expected` bytes when known.
    pub(crate) fn new(cap: u64, expected: Option<u64>) -> Self {
        let cap = usize::try_from(cap).unwrap_or(usize::MAX);
        let expected = expected
            .and_then(|e| usize::try_from(e).ok())
            .unwrap_or(64 * 1024);
        Self {
            bytes: Vec::with_capacity(expected.min(cap)),
            cap,
        }
    }

    /// Appends `chunk`; `false` (and nothing appended) when it would pass the cap.
    pub(crate) fn push(&mut self, chunk: &[u8]) -> bool {
        let needed = self.bytes.len().saturating_add(chunk.len());
        if needed > self.cap {
            return false;
        }
        if needed > self.bytes.capacity() {
            let grown = needed
                .max(self.bytes.capacity().saturating_mul(2))
                .min(self.cap);
            self.bytes.reserve_exact(grown - self.bytes.len());
        }
        self.bytes.extend_from_slice(chunk);
        true
    }

    /// The bytes.
    pub(crate) fn into_inner(self) -> Vec<u8> {
        self.bytes
    }
}

/// A network error without the request URL (its query is a credential).
fn network_error(err: reqwest::Error) -> ThumbError {
    if err.is_timeout() {
        return ThumbError::TimedOut;
    }
    if let Some(problem) = api::certificate_problem(&err) {
        return ThumbError::Network(format!(
            "storage's TLS certificate is not trusted ({problem}); set RUNFLOW_CA_CERT or \
             Settings > Advanced > Extra CA certificate to its CA"
        ));
    }
    if err.is_connect() {
        return ThumbError::Network("could not connect to storage".to_owned());
    }
    let err = err.without_url();
    // The innermost cause says most ("connection reset by peer").
    let mut cause: &dyn std::error::Error = &err;
    while let Some(next) = cause.source() {
        cause = next;
    }
    ThumbError::Network(cause.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(thumb: Option<&str>, url: Option<&str>, mime: Option<&str>) -> ThumbRequest {
        ThumbRequest {
            asset_id: "a".to_owned(),
            thumbnail_url: thumb.map(str::to_owned),
            url: url.map(str::to_owned),
            mime_type: mime.map(str::to_owned),
            size_bytes: None,
            size_px: 64,
        }
    }

    #[test]
    fn plans_prefer_the_server_thumbnail() {
        let t = Some("http://s/t?sig");
        let o = Some("http://s/o?sig");
        let thumb = Source::Thumbnail("http://s/t?sig".to_owned());
        let original = Source::Original("http://s/o?sig".to_owned());
        assert_eq!(plan(&request(t, o, Some("image/png"))), Ok(thumb.clone()));
        assert_eq!(plan(&request(t, o, Some("video/mp4"))), Ok(thumb));
        assert_eq!(
            plan(&request(None, o, Some("image/png"))),
            Ok(original.clone())
        );
        assert_eq!(
            plan(&request(None, o, Some("IMAGE/JPEG; q=1"))),
            Ok(original.clone())
        );
        assert_eq!(plan(&request(None, o, None)), Ok(original));
        assert_eq!(
            plan(&request(None, None, Some("image/png"))),
            Err(ThumbError::NoUrl)
        );
    }

    #[test]
    fn plans_refuse_what_cannot_be_previewed_without_network() {
        let o = Some("http://s/o?sig");
        let no_preview = |kind| Err(ThumbError::NoPreview { kind });
        assert_eq!(
            plan(&request(None, o, Some("video/mp4"))),
            no_preview(FileKind::Video)
        );
        assert_eq!(
            plan(&request(None, o, Some("audio/mpeg"))),
            no_preview(FileKind::Audio)
        );
        assert_eq!(
            plan(&request(None, o, Some("application/pdf"))),
            no_preview(FileKind::Other)
        );
        assert_eq!(
            plan(&request(None, o, Some("image/heic"))),
            no_preview(FileKind::Image)
        );
    }

    #[test]
    fn capped_buffer_never_passes_its_cap() {
        let mut buffer = CappedBuffer::new(10, None);
        assert!(buffer.bytes.capacity() <= 10);
        assert!(buffer.push(b"12345"));
        assert!(buffer.push(b"67890"));
        assert!(!buffer.push(b"x"));
        assert!(buffer.bytes.capacity() <= 10);
        assert_eq!(buffer.into_inner(), b"1234567890");
        let mut grows = CappedBuffer::new(1 << 20, Some(4));
        for _ in 0..1000 {
            assert!(grows.push(&[0; 1000]));
        }
        assert!(grows.bytes.capacity() <= 1 << 20);
        assert!(!grows.push(&[0; 50_000]));
    }
}
