//! Thumbnails for the gallery: fetched from storage with bounded concurrency in the gallery's
//! priority order, decoded under [`image::Limits`] off the async workers, scaled down and kept in
//! a disk cache keyed by asset id (never by URL: URLs are re-signed on every read).
//!
//! The gallery says which thumbnails it wants with [`ThumbLoader::want`]; each answer arrives as
//! a [`ThumbEvent`] through the sink given to [`ThumbLoader::new`]. Assets that cannot have a
//! preview (video, audio, other files) answer at once with [`ThumbError::NoPreview`], which the
//! window shows as a type icon rather than an error.
//!
//! Files: `loader` (the handle and its jobs), `schedule` (priority and cancellation, pure),
//! `fetch` (capped, timed downloads and the 403 refresh), `decode` (limits, panics, scaling) and
//! `cache` (the disk cache).

mod cache;
mod decode;
mod fetch;
mod loader;
mod schedule;

use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

use crate::api::models::{Asset, MAX_UPLOAD_BYTES};

pub(crate) use decode::decode_file;
pub use loader::{ThumbLoader, ThumbSink};

/// Decodes image bytes (an original or a server thumbnail) into a tile whose longest side is at
/// most `size_px`, under the decoder's limits: what the loader does on a blocking thread.
pub fn decode_thumbnail(bytes: &[u8], size_px: u32) -> Result<image::RgbaImage, ThumbError> {
    decode::decode_bytes(bytes, size_px)
}

/// How the thumbnail pipeline behaves. [`ThumbConfig::new`] gives the app's defaults.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ThumbConfig {
    /// Where scaled thumbnails are kept, e.g. `paths::cache_dir().join("thumbnails")`.
    pub cache_dir: PathBuf,
    /// Downloads (and cache reads) running at once.
    pub concurrency: usize,
    /// Image decodes running at once, each on a thread of the loader's own; each may hold up
    /// to 256 MiB.
    pub decode_concurrency: usize,
    /// Largest `thumbnail_url` download accepted.
    pub max_thumbnail_bytes: u64,
    /// Largest original (`url`) download accepted when an image has no server thumbnail.
    pub max_original_bytes: u64,
    /// Bytes all downloads together may hold at once, from the request until their decode
    /// ends: six 50 MiB originals never sit in memory together.
    pub max_bytes_in_flight: u64,
    /// Time limit of one whole download, connection to last byte.
    pub timeout: Duration,
    /// Size the disk cache is pruned to (oldest files first) when the loader starts.
    pub disk_budget_bytes: u64,
}

impl ThumbConfig {
    /// The defaults: 6 downloads and 2 decodes at once, 8 MiB thumbnails, originals up to the
    /// API's upload limit plus slack, 24 MiB in flight across all downloads (four large photos
    /// ahead of two decoders; a larger original runs alone), 30 s per download,
    /// a 256 MiB disk cache in `cache_dir`.
    pub fn new(cache_dir: PathBuf) -> Self {
        Self {
            cache_dir,
            concurrency: 6,
            decode_concurrency: 2,
            max_thumbnail_bytes: 8 * MIB,
            max_original_bytes: MAX_UPLOAD_BYTES + MIB,
            max_bytes_in_flight: 24 * MIB,
            timeout: Duration::from_secs(30),
            disk_budget_bytes: 256 * MIB,
        }
    }
}

const MIB: u64 = 1024 * 1024;

/// One thumbnail the gallery wants: an asset at a size.
#[derive(Clone, PartialEq, Eq)]
pub struct ThumbRequest {
    /// The asset; with `size_px`, the identity of the request and of its cache file.
    pub asset_id: String,
    /// Signed URL of the server's thumbnail, if it made one.
    pub thumbnail_url: Option<String>,
    /// Signed URL of the original, used for images without a server thumbnail.
    pub url: Option<String>,
    /// The asset's MIME type; decides whether a preview is possible at all.
    pub mime_type: Option<String>,
    /// The original's size as the server states it: what its download reserves of the bytes
    /// in flight before it starts.
    pub size_bytes: Option<u64>,
    /// Longest side wanted, in physical pixels. Images are never scaled up.
    pub size_px: u32,
}

impl ThumbRequest {
    /// The request for `asset` at `size_px`; `None` when the asset has no id.
    pub fn for_asset(asset: &Asset, size_px: u32) -> Option<Self> {
        let asset_id = asset.id.clone().filter(|id| !id.is_empty())?;
        Some(Self {
            asset_id,
            thumbnail_url: asset.thumbnail_url.clone(),
            url: asset.url.clone(),
            mime_type: asset.mime_type.clone(),
            size_bytes: asset.size_bytes,
            size_px,
        })
    }

    /// What identifies this request: the asset and the size.
    pub(crate) fn key(&self) -> (String, u32) {
        (self.asset_id.clone(), self.size_px)
    }
}

/// Signed URLs are credentials: `Debug` shows them without their query.
impl fmt::Debug for ThumbRequest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ThumbRequest")
            .field("asset_id", &self.asset_id)
            .field(
                "thumbnail_url",
                &self.thumbnail_url.as_deref().map(without_query),
            )
            .field("url", &self.url.as_deref().map(without_query))
            .field("mime_type", &self.mime_type)
            .field("size_bytes", &self.size_bytes)
            .field("size_px", &self.size_px)
            .finish()
    }
}

/// `url` without its query and fragment, safe to log.
pub(crate) fn without_query(url: &str) -> &str {
    url.split(['?', '#']).next().unwrap_or_default()
}

/// Where a delivered thumbnail came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ThumbSource {
    /// The server's thumbnail, from the disk cache; no network was used.
    DiskCache,
    /// The server's thumbnail, downloaded from storage.
    Server,
    /// Made from the original (downloaded, or from the disk cache): the asset had no server
    /// thumbnail, or it failed. Replaced once the asset offers a `thumbnail_url`.
    Original,
    /// Decoded from a local file that was just uploaded. Not cached.
    Local,
}

/// A decoded thumbnail, ready to become a texture.
#[derive(Clone, PartialEq, Eq)]
pub struct Thumb {
    /// Width in pixels.
    pub width: u32,
    /// Height in pixels.
    pub height: u32,
    /// Straight (unmultiplied) sRGBA8 pixels, row by row: `width * height * 4` bytes.
    pub rgba: Vec<u8>,
    /// Where it came from.
    pub source: ThumbSource,
}

impl fmt::Debug for Thumb {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Thumb")
            .field("width", &self.width)
            .field("height", &self.height)
            .field("rgba_bytes", &self.rgba.len())
            .field("source", &self.source)
            .finish()
    }
}

/// The answer to one request (or to [`ThumbLoader::decode_local`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ThumbEvent {
    /// The asset.
    pub asset_id: String,
    /// The size that was asked for; the thumbnail itself may be smaller.
    pub size_px: u32,
    /// The thumbnail, or why there is none.
    pub outcome: Result<Thumb, ThumbError>,
}

/// What kind of file an asset is, for the icon shown instead of a preview.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum FileKind {
    /// An image in a format the app cannot decode, with no server thumbnail.
    Image,
    /// `video/*`.
    Video,
    /// `audio/*`.
    Audio,
    /// Anything else.
    Other,
}

impl FileKind {
    /// The kind of a MIME type (`None` when unknown is [`FileKind::Other`]).
    pub fn of_mime(mime_type: Option<&str>) -> Self {
        let top = mime_type
            .and_then(|m| m.split('/').next())
            .map(|t| t.trim().to_ascii_lowercase());
        match top.as_deref() {
            Some("image") => Self::Image,
            Some("video") => Self::Video,
            Some("audio") => Self::Audio,
            _ => Self::Other,
        }
    }
}

/// Why an asset has no thumbnail. `Display` is a short phrase for a tooltip.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ThumbError {
    /// Not something the app previews: show an icon of `kind`, not an error.
    #[error("{}", no_preview_text(*kind))]
    NoPreview {
        /// The icon to show.
        kind: FileKind,
    },
    /// The asset has neither a thumbnail nor a download link.
    #[error("no download link for this asset")]
    NoUrl,
    /// The image's dimensions (when known) or memory needs exceed the decoder's limits.
    #[error("{}", too_large_text(*pixels))]
    TooLarge {
        /// Width and height in pixels, when the header could be read.
        pixels: Option<(u32, u32)>,
    },
    /// The download is bigger than the configured cap.
    #[error("file too large to preview (over {} MiB)", limit_bytes.div_ceil(MIB))]
    FileTooLarge {
        /// The cap that was exceeded.
        limit_bytes: u64,
    },
    /// The bytes are no image format the app knows (whatever the server called them).
    #[error("not an image the app can read")]
    NotAnImage,
    /// A known format using a variant the decoder does not support.
    #[error("image format variant not supported")]
    Unsupported,
    /// Truncated or corrupt image data.
    #[error("image is damaged or incomplete")]
    Damaged,
    /// The decoder panicked on this file.
    #[error("the image decoder failed on this file")]
    DecoderFailed,
    /// The download took longer than the configured time limit.
    #[error("download timed out")]
    TimedOut,
    /// Storage refused the link even after it was renewed (tried again later).
    #[error("storage refused the download link; trying again")]
    LinkExpired,
    /// Storage answered with an error status.
    #[error("storage answered HTTP {status}")]
    Http {
        /// The HTTP status code.
        status: u16,
    },
    /// The connection failed.
    #[error("network error: {0}")]
    Network(String),
    /// A local file could not be read.
    #[error("could not read the file: {0}")]
    ReadFile(String),
}

impl ThumbError {
    /// Whether trying again later may succeed: the network, a timeout, a refused link, or
    /// storage answering 408, 429 or 5xx. The rest is about the file and stays failed.
    pub fn is_transient(&self) -> bool {
        match self {
            Self::TimedOut | Self::Network(_) | Self::LinkExpired => true,
            Self::Http { status } => matches!(status, 408 | 429 | 500..=599),
            _ => false,
        }
    }

    /// The icon to show instead of a preview, when this is [`ThumbError::NoPreview`].
    pub fn no_preview_kind(&self) -> Option<FileKind> {
        match self {
            Self::NoPreview { kind } => Some(*kind),
            _ => None,
        }
    }
}

fn no_preview_text(kind: FileKind) -> &'static str {
    match kind {
        FileKind::Image => "no preview for this image format",
        FileKind::Video => "no preview for video files",
        FileKind::Audio => "no preview for audio files",
        FileKind::Other => "no preview for this kind of file",
    }
}

fn too_large_text(pixels: Option<(u32, u32)>) -> String {
    match pixels {
        Some((width, height)) => format!("too large to preview ({width}×{height} px)"),
        None => "too large to preview".to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_need_an_asset_id() {
        let mut asset: Asset = serde_json::from_str("{}").unwrap();
        assert_eq!(ThumbRequest::for_asset(&asset, 128), None);
        asset.id = Some(String::new());
        assert_eq!(ThumbRequest::for_asset(&asset, 128), None);
        asset.id = Some("a1".to_owned());
        asset.mime_type = Some("image/png".to_owned());
        let request = ThumbRequest::for_asset(&asset, 128).unwrap();
        assert_eq!(request.key(), ("a1".to_owned(), 128));
        assert_eq!(request.mime_type.as_deref(), Some("image/png"));
    }

    #[test]
    fn debug_hides_signatures() {
        let request = ThumbRequest {
            asset_id: "a1".to_owned(),
            thumbnail_url: Some("https://s.example/t.png?X-Amz-Signature=abc".to_owned()),
            url: Some("https://s.example/o.png?X-Amz-Signature=def#x".to_owned()),
            mime_type: None,
            size_bytes: None,
            size_px: 64,
        };
        let shown = format!("{request:?}");
        assert!(shown.contains("https://s.example/t.png"), "{shown}");
        assert!(!shown.contains("Signature"), "{shown}");
    }

    #[test]
    fn kinds_and_messages() {
        assert_eq!(FileKind::of_mime(Some("video/mp4")), FileKind::Video);
        assert_eq!(FileKind::of_mime(Some("Audio/mpeg")), FileKind::Audio);
        assert_eq!(FileKind::of_mime(Some("image/heic")), FileKind::Image);
        assert_eq!(FileKind::of_mime(Some("application/pdf")), FileKind::Other);
        assert_eq!(FileKind::of_mime(None), FileKind::Other);
        let video = ThumbError::NoPreview {
            kind: FileKind::Video,
        };
        assert_eq!(video.to_string(), "no preview for video files");
        assert_eq!(video.no_preview_kind(), Some(FileKind::Video));
        let huge = ThumbError::TooLarge {
            pixels: Some((40_000, 40_000)),
        };
        assert_eq!(huge.to_string(), "too large to preview (40000×40000 px)");
        assert_eq!(huge.no_preview_kind(), None);
        let big = ThumbError::FileTooLarge {
            limit_bytes: 8 * MIB,
        };
        assert_eq!(big.to_string(), "file too large to preview (over 8 MiB)");
    }

    #[test]
    fn only_network_and_server_trouble_is_tried_again() {
        for transient in [
            ThumbError::TimedOut,
            ThumbError::Network("reset".into()),
            ThumbError::LinkExpired,
            ThumbError::Http { status: 503 },
            ThumbError::Http { status: 429 },
        ] {
            assert!(transient.is_transient(), "{transient:?}");
        }
        for lasting in [
            ThumbError::Http { status: 404 },
            ThumbError::Damaged,
            ThumbError::NotAnImage,
            ThumbError::TooLarge { pixels: None },
            ThumbError::NoUrl,
        ] {
            assert!(!lasting.is_transient(), "{lasting:?}");
        }
    }
}
