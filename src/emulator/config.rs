//! The emulator's settings: the flags of `runflow-uploader emulator` (also built directly by
//! tests), the supported types they name, and the MIME aliases those types accept.

use std::net::SocketAddr;
use std::path::PathBuf;

use anyhow::Context as _;

use super::variants::{
    CreatedStatus, ErrorEnvelope, Pagination, RepeatConfirm, RetryAfter, ThumbnailPolicy,
    TypesEndpoint,
};
use crate::api::models::AssetType;

/// CLI flags of `runflow-uploader emulator`; also built directly by tests.
#[derive(clap::Args, Debug, Clone)]
pub struct EmulatorConfig {
    /// Address of the API listener (HOST:PORT; port 0 picks a free one).
    #[arg(long, value_name = "HOST:PORT", default_value = "127.0.0.1:8787")]
    pub addr: SocketAddr,
    /// Address of the storage listener; default: the API host on a free port.
    #[arg(long, value_name = "HOST:PORT")]
    pub storage_addr: Option<SocketAddr>,
    /// Accepted API key (repeatable). None given: one `rf_test_...` key is generated and printed.
    #[arg(long = "api-key", value_name = "KEY")]
    pub api_keys: Vec<String>,
    /// Directory for state and blobs; default: a fresh temporary directory removed on shutdown.
    #[arg(long, value_name = "DIR")]
    pub data_dir: Option<PathBuf>,
    // The TTLs are u32 to keep this struct small (the CLI's command enum boxes it anyway).
    /// Lifetime of presigned upload (PUT) URLs, in seconds.
    #[arg(long, value_name = "N", default_value_t = 900)]
    pub presign_ttl_secs: u32,
    /// Lifetime of signed download URLs (`url`, `thumbnail_url`), in seconds.
    #[arg(long, value_name = "N", default_value_t = 1800)]
    pub url_ttl_secs: u32,
    /// Age after which an unconfirmed upload session is gone (confirm answers 404), in seconds.
    #[arg(long, value_name = "N", default_value_t = 86_400)]
    pub upload_session_ttl_secs: u32,
    /// Append one JSON line per request (both listeners) to this file. Never logs header values
    /// or query strings.
    #[arg(long, value_name = "FILE")]
    pub request_log: Option<PathBuf>,
    /// Seed folders and sample images (only into an empty state).
    #[arg(long)]
    pub demo_data: bool,
    /// Seed of the fault-injection random streams; default: random.
    #[arg(long, value_name = "N")]
    pub seed: Option<u64>,
    /// Extra latency added to every API request, in milliseconds.
    #[arg(long, value_name = "N", default_value_t = 0)]
    pub latency_ms: u64,
    /// Fraction (0..=1) of API requests (not `/v1/health`) answered 503 before any handling.
    #[arg(long, value_name = "P", default_value_t = 0.0)]
    pub fail_rate: f64,
    /// At most this many API requests per second; the excess gets 429 `RATE_LIMITED` (with
    /// `Retry-After` unless `--retry-after off`).
    #[arg(long, value_name = "N")]
    pub rate_limit: Option<u32>,
    /// Fraction (0..=1) of storage PUTs whose connection is cut halfway through the body.
    #[arg(long, value_name = "P", default_value_t = 0.0)]
    pub drop_put_rate: f64,
    /// Fraction (0..=1) of storage PUTs that stop reading halfway through the body and hang
    /// (no bytes move) for two minutes before the connection is cut: a stalled upload.
    #[arg(long, value_name = "P", default_value_t = 0.0)]
    pub stall_put_rate: f64,
    /// Read storage PUT bodies at most this fast (bytes per second): a slow link. Storage then
    /// also keeps a small receive buffer, so the client's kernel hears of no more bytes than
    /// such a link would carry.
    #[arg(long, value_name = "N")]
    pub put_bytes_per_sec: Option<u64>,
    /// Comma-separated supported MIME types (each `image/*`, `video/*` or `audio/*`), replacing
    /// the default list.
    #[arg(long, value_name = "LIST", value_delimiter = ',')]
    pub mime_types: Vec<String>,
    /// Fraction (0..=1) of successful confirms that are applied (the asset exists) and then
    /// answered by cutting the connection before any response byte: the client cannot know the
    /// outcome. A random stream of its own, so it shifts no other fault.
    #[arg(long, value_name = "P", default_value_t = 0.0)]
    pub drop_confirm_response_rate: f64,
    /// Shape of `GET /v1/assets/types`.
    #[arg(long, value_enum, value_name = "MODE", default_value_t = TypesEndpoint::Items)]
    pub types_endpoint: TypesEndpoint,
    /// Answer to a second confirm of an already-confirmed upload; never a second asset.
    #[arg(long, value_enum, value_name = "MODE", default_value_t = RepeatConfirm::Conflict)]
    pub repeat_confirm: RepeatConfirm,
    /// Shape of every API error body (storage keeps its XML errors).
    #[arg(long, value_enum, value_name = "MODE", default_value_t = ErrorEnvelope::Flat)]
    pub error_envelope: ErrorEnvelope,
    /// Cursor fields in list answers; the cursor is passed back as `pq` in every mode.
    #[arg(long, value_enum, value_name = "MODE", default_value_t = Pagination::Both)]
    pub pagination: Pagination,
    /// Whether 429 answers carry `Retry-After` (seconds).
    #[arg(long, value_enum, value_name = "MODE", default_value_t = RetryAfter::On)]
    pub retry_after: RetryAfter,
    /// Success status of `POST /v1/asset-uploads`, the confirm and `POST /v1/asset-folders`.
    #[arg(long, value_enum, value_name = "STATUS", default_value_t = CreatedStatus::Created)]
    pub created_status: CreatedStatus,
    /// Serve both listeners over HTTPS, with a certificate from a local CA that is made on
    /// first start and kept in the data dir; every URL the API hands out is `https://`.
    #[arg(long)]
    pub tls: bool,
    /// With `--tls`: write the local CA's certificate (PEM) to this file, for clients to trust.
    #[arg(long, value_name = "FILE", requires = "tls")]
    pub tls_ca_out: Option<PathBuf>,
    /// `thumbnail_url` policy: `images` (decodable images get one), `none` (always null) or
    /// `delayed:SECS` (null until SECS after the confirm).
    #[arg(long, value_name = "POLICY", default_value = "images")]
    pub thumbnails: ThumbnailPolicy,
}

impl Default for EmulatorConfig {
    /// Loopback on free ports, a generated key, a temporary data dir and no faults.
    fn default() -> Self {
        Self {
            addr: SocketAddr::from(([127, 0, 0, 1], 0)),
            storage_addr: None,
            api_keys: Vec::new(),
            data_dir: None,
            presign_ttl_secs: 900,
            url_ttl_secs: 1800,
            upload_session_ttl_secs: 86_400,
            request_log: None,
            demo_data: false,
            seed: None,
            latency_ms: 0,
            fail_rate: 0.0,
            rate_limit: None,
            drop_put_rate: 0.0,
            stall_put_rate: 0.0,
            put_bytes_per_sec: None,
            mime_types: Vec::new(),
            drop_confirm_response_rate: 0.0,
            types_endpoint: TypesEndpoint::default(),
            repeat_confirm: RepeatConfirm::default(),
            error_envelope: ErrorEnvelope::default(),
            pagination: Pagination::default(),
            retry_after: RetryAfter::default(),
            created_status: CreatedStatus::default(),
            tls: false,
            tls_ca_out: None,
            thumbnails: ThumbnailPolicy::default(),
        }
    }
}

/// The default supported MIME types, grouped as `GET /v1/assets/types` lists them.
pub fn default_asset_types() -> Vec<AssetType> {
    let group = |name: &str, mimes: &[&str]| AssetType {
        name: name.to_owned(),
        mime_types: mimes.iter().map(|m| (*m).to_owned()).collect(),
    };
    vec![
        group(
            "image",
            &["image/webp", "image/png", "image/jpeg", "image/gif"],
        ),
        group("video", &["video/mp4", "video/webm", "video/quicktime"]),
        group("audio", &["audio/mpeg", "audio/wav"]),
    ]
}

/// Groups a `--mime-types` list by top-level type; only image, video and audio are assets.
pub(super) fn asset_types_from(mime_types: &[String]) -> anyhow::Result<Vec<AssetType>> {
    if mime_types.is_empty() {
        return Ok(default_asset_types());
    }
    let mut groups: Vec<AssetType> = ["image", "video", "audio"]
        .iter()
        .map(|name| AssetType {
            name: (*name).to_owned(),
            mime_types: Vec::new(),
        })
        .collect();
    for mime in mime_types
        .iter()
        .map(|m| m.trim())
        .filter(|m| !m.is_empty())
    {
        let (top, sub) = mime
            .split_once('/')
            .with_context(|| format!("--mime-types: `{mime}` is not a type/subtype"))?;
        let group = groups
            .iter_mut()
            .find(|g| g.name == top && !sub.is_empty())
            .with_context(|| {
                format!("--mime-types: `{mime}` is not an image/*, video/* or audio/* type")
            })?;
        if !group.mime_types.iter().any(|m| m == mime) {
            group.mime_types.push(mime.to_owned());
        }
    }
    groups.retain(|g| !g.mime_types.is_empty());
    Ok(groups)
}

/// Common alias spellings (Python's `mimetypes`, old browsers) and the type they stand for.
const MIME_ALIASES: &[(&str, &str)] = &[
    ("audio/x-wav", "audio/wav"),
    ("audio/wave", "audio/wav"),
    ("audio/vnd.wave", "audio/wav"),
    ("audio/mp3", "audio/mpeg"),
    ("audio/x-mp3", "audio/mpeg"),
    ("audio/x-mpeg", "audio/mpeg"),
    ("audio/mpeg3", "audio/mpeg"),
    ("image/jpg", "image/jpeg"),
    ("image/pjpeg", "image/jpeg"),
    ("image/x-png", "image/png"),
    ("video/x-quicktime", "video/quicktime"),
];

/// The canonical name of a MIME type: aliases map to their type (case-insensitively), any
/// other type is returned as given.
pub(crate) fn canonical_mime(mime: &str) -> String {
    let trimmed = mime.trim();
    MIME_ALIASES
        .iter()
        .find(|(alias, _)| alias.eq_ignore_ascii_case(trimmed))
        .map_or_else(
            || trimmed.to_owned(),
            |(_, canonical)| (*canonical).to_owned(),
        )
}

pub(super) fn check_rate(name: &str, rate: f64) -> anyhow::Result<()> {
    anyhow::ensure!(
        (0.0..=1.0).contains(&rate),
        "{name} must be between 0 and 1, got {rate}"
    );
    Ok(())
}
