//! Answer variants: switches that make the emulator answer the way another plausible reading of
//! the reference's gaps would (`runflow-api.md` section 5), so the client can be tested against
//! each. Every default is the `[rec]` behaviour.

use axum::http::StatusCode;
use time::OffsetDateTime;

use super::EmulatorConfig;

/// Shape of `GET /v1/assets/types` (`--types-endpoint`, gap 15).
#[derive(clap::ValueEnum, Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum TypesEndpoint {
    /// A list page: `{items: [{name, mime_types}], first, next, previous}` (and the cursor
    /// aliases `--pagination` asks for).
    #[default]
    Items,
    /// A bare JSON array of the same `{name, mime_types}` records.
    Array,
    /// No such endpoint: the router's unknown-route 404 `NOT_FOUND`. Creates still enforce the
    /// MIME list (422).
    Missing,
}

/// Answer to a second confirm of an already-confirmed upload (`--repeat-confirm`, gap 8).
/// None of them creates a second asset.
#[derive(clap::ValueEnum, Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum RepeatConfirm {
    /// 409 `ASSET_ALREADY_CONFIRMED`.
    #[default]
    Conflict,
    /// 404 `ASSET_UPLOAD_NOT_FOUND`: the session is forgotten once confirmed.
    NotFound,
    /// The success status (`--created-status`) and the same asset again; 409 as with
    /// `conflict` once that asset is deleted.
    Same,
}

/// API error body shape (`--error-envelope`, gap 17). Storage keeps its XML errors.
#[derive(clap::ValueEnum, Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ErrorEnvelope {
    /// `{code, message, errors}`.
    #[default]
    Flat,
    /// `{"error": {code, message, errors}}`.
    Nested,
}

/// Cursor fields of list answers (`--pagination`, gap 2). `pq` takes the cursor in every mode.
#[derive(clap::ValueEnum, Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Pagination {
    /// `first`, `next`, `previous` and the aliases `next_pq`, `prev_pq`.
    #[default]
    Both,
    /// Only `first`, `next`, `previous` (the OpenAPI schema).
    Next,
    /// Only `next_pq`, `prev_pq` (the prose page).
    NextPq,
}

/// Whether 429 answers carry `Retry-After` (`--retry-after`, gap 1).
#[derive(clap::ValueEnum, Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum RetryAfter {
    /// `Retry-After: <seconds>` on every 429.
    #[default]
    On,
    /// No rate-limit headers at all (version B of the rate-limit page).
    Off,
}

/// Success status of the creating calls (`--created-status`, gap 4).
#[derive(clap::ValueEnum, Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum CreatedStatus {
    /// 201 Created (the guide).
    #[default]
    #[value(name = "201")]
    Created,
    /// 200 OK (FastAPI's default "Successful Response").
    #[value(name = "200")]
    Ok,
}

impl CreatedStatus {
    /// The HTTP status.
    pub fn status(self) -> StatusCode {
        match self {
            Self::Created => StatusCode::CREATED,
            Self::Ok => StatusCode::OK,
        }
    }
}

/// Which assets get a `thumbnail_url` (`--thumbnails`, gap 12).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ThumbnailPolicy {
    /// Decodable images get a signed thumbnail URL; video, audio and undecodable images null.
    #[default]
    Images,
    /// `thumbnail_url` is null for every asset, as observed for a PNG in Runflow's SDK tests.
    None,
    /// Null until this many seconds after the confirm, then as `Images`: server-side
    /// processing that finishes later.
    Delayed {
        /// Seconds from the confirm (the asset's `created_at`) until the thumbnail shows.
        secs: u32,
    },
}

impl ThumbnailPolicy {
    /// Whether an asset created at `created_at` shows its thumbnail (if it has one) at `at`.
    pub fn shows(self, created_at: OffsetDateTime, at: OffsetDateTime) -> bool {
        match self {
            Self::Images => true,
            Self::None => false,
            Self::Delayed { secs } => at - created_at >= time::Duration::seconds(i64::from(secs)),
        }
    }
}

impl std::str::FromStr for ThumbnailPolicy {
    type Err = String;

    /// `images`, `none` or `delayed:SECS`.
    fn from_str(raw: &str) -> Result<Self, Self::Err> {
        match raw.trim() {
            "images" => Ok(Self::Images),
            "none" => Ok(Self::None),
            other => {
                let secs = other.strip_prefix("delayed:").ok_or_else(|| {
                    format!("`{other}` is not `images`, `none` or `delayed:SECS`")
                })?;
                secs.trim()
                    .parse::<u32>()
                    .map(|secs| Self::Delayed { secs })
                    .map_err(|_| {
                        format!("`delayed:{secs}`: SECS must be a whole number of seconds")
                    })
            }
        }
    }
}

impl std::fmt::Display for ThumbnailPolicy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Images => f.write_str("images"),
            Self::None => f.write_str("none"),
            Self::Delayed { secs } => write!(f, "delayed:{secs}"),
        }
    }
}

/// The answer variants in force, shared by the handlers.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Variants {
    pub types_endpoint: TypesEndpoint,
    pub repeat_confirm: RepeatConfirm,
    pub error_envelope: ErrorEnvelope,
    pub pagination: Pagination,
    pub retry_after: RetryAfter,
    pub created_status: CreatedStatus,
}

impl Variants {
    /// The variants the CLI settings ask for.
    pub fn from_config(config: &EmulatorConfig) -> Self {
        Self {
            types_endpoint: config.types_endpoint,
            repeat_confirm: config.repeat_confirm,
            error_envelope: config.error_envelope,
            pagination: config.pagination,
            retry_after: config.retry_after,
            created_status: config.created_status,
        }
    }

    /// Success status of create, confirm and folder create.
    pub fn created(&self) -> StatusCode {
        self.created_status.status()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn thumbnail_policies_parse_and_apply() {
        assert_eq!("images".parse(), Ok(ThumbnailPolicy::Images));
        assert_eq!("none".parse(), Ok(ThumbnailPolicy::None));
        assert_eq!(
            "delayed:5".parse(),
            Ok(ThumbnailPolicy::Delayed { secs: 5 })
        );
        assert!("delayed:".parse::<ThumbnailPolicy>().is_err());
        assert!("delayed:-1".parse::<ThumbnailPolicy>().is_err());
        assert!("some".parse::<ThumbnailPolicy>().is_err());
        assert_eq!(
            ThumbnailPolicy::Delayed { secs: 7 }.to_string(),
            "delayed:7"
        );

        let created = time::macros::datetime!(2026-04-02 10:00 UTC);
        let later = |secs| created + time::Duration::seconds(secs);
        let delayed = ThumbnailPolicy::Delayed { secs: 5 };
        assert!(!delayed.shows(created, later(4)));
        assert!(delayed.shows(created, later(5)));
        assert!(ThumbnailPolicy::Images.shows(created, created));
        assert!(!ThumbnailPolicy::None.shows(created, later(9999)));
    }
}
