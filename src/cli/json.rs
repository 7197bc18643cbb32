//! The `--json` contract (docs/cli-json.md): one JSON object per line on stdout, each with the
//! schema version and a `type`, one status enum for files and summaries, stable `reason` codes
//! next to the prose, and paths that map back to their file even when they are not UTF-8.

use std::io::{self, Write};
use std::path::Path;

use serde::Serialize;

use crate::api::ApiError;
use crate::upload::UploadFailure;

/// The version of the JSON output. It changes only when a field is removed or changes meaning;
/// new fields and new `reason` codes may appear within a version.
pub(crate) const SCHEMA_VERSION: u32 = 1;

/// One line of `--json` output: `{"schema":1,"type":"...", ...body}`.
#[derive(Debug, Serialize)]
struct Record<'a, T: Serialize> {
    schema: u32,
    #[serde(rename = "type")]
    kind: &'a str,
    #[serde(flatten)]
    body: &'a T,
}

/// Writes `body` as one line of type `kind`.
pub(crate) fn write_record(
    out: &mut impl Write,
    kind: &str,
    body: &impl Serialize,
) -> io::Result<()> {
    serde_json::to_writer(
        &mut *out,
        &Record {
            schema: SCHEMA_VERSION,
            kind,
            body,
        },
    )?;
    out.write_all(b"\n")
}

/// What happened to one file of `upload`; the summary counts files by the same names.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum Status {
    /// Uploaded by this run: a new asset.
    Uploaded,
    /// Uploaded by this run, finishing an upload an earlier run had started (from the journal).
    Resumed,
    /// The same content was uploaded before and is in the folder asked for.
    AlreadyUploaded,
    /// The same content is already on Runflow, in another folder.
    InOtherFolder,
    /// Not uploaded; `reason` says why.
    Failed,
    /// Passed over on purpose (system files, links that lead out or in a loop).
    Skipped,
    /// Stopped before it was uploaded (Ctrl-C: `reason` is `interrupted`).
    Cancelled,
}

impl Status {
    /// Every status, in the order the summary lists them.
    pub(crate) const ALL: [Status; 7] = [
        Status::Uploaded,
        Status::Resumed,
        Status::AlreadyUploaded,
        Status::InOtherFolder,
        Status::Failed,
        Status::Skipped,
        Status::Cancelled,
    ];

    /// The JSON name, also used in human lines.
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Status::Uploaded => "uploaded",
            Status::Resumed => "resumed",
            Status::AlreadyUploaded => "already_uploaded",
            Status::InOtherFolder => "in_other_folder",
            Status::Failed => "failed",
            Status::Skipped => "skipped",
            Status::Cancelled => "cancelled",
        }
    }
}

/// A path as JSON: `path` is always there (lossy when the name is not UTF-8); `path_bytes` holds
/// the exact bytes, base64, only then (otherwise `null`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub(crate) struct JsonPath {
    /// The path as text; invalid UTF-8 becomes U+FFFD.
    pub(crate) path: String,
    /// The path's bytes in standard base64, when `path` is lossy.
    pub(crate) path_bytes: Option<String>,
}

impl JsonPath {
    /// The JSON form of `path`.
    pub(crate) fn of(path: &Path) -> Self {
        match path.to_str() {
            Some(text) => Self {
                path: text.to_owned(),
                path_bytes: None,
            },
            None => Self {
                path: path.to_string_lossy().into_owned(),
                path_bytes: Some(raw_bytes_base64(path)),
            },
        }
    }
}

#[cfg(unix)]
fn raw_bytes_base64(path: &Path) -> String {
    use base64::Engine as _;
    use std::os::unix::ffi::OsStrExt as _;
    base64::engine::general_purpose::STANDARD.encode(path.as_os_str().as_bytes())
}

#[cfg(not(unix))]
fn raw_bytes_base64(path: &Path) -> String {
    // Windows paths are UTF-16; not valid Unicode only with lone surrogates. WTF-8 bytes keep
    // them exact.
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD.encode(path.as_os_str().as_encoded_bytes())
}

/// The stable code of why a file was not uploaded.
pub(crate) fn failure_reason(failure: &UploadFailure) -> &'static str {
    match failure {
        UploadFailure::Empty => "empty",
        UploadFailure::TooLarge { .. } => "too_large",
        UploadFailure::NotAFile => "not_a_file",
        UploadFailure::Unreadable(_) => "unreadable",
        UploadFailure::NonUtf8Name => "non_utf8_name",
        UploadFailure::UnsupportedType { .. } => "unsupported_type",
        // The codes of what is wrong; the record's `fix` says what `--convert`/`--fit` would do.
        UploadFailure::Fixable { convert: true, .. } => "unsupported_type",
        UploadFailure::Fixable { .. } => "too_large",
        UploadFailure::Fix(_) => "conversion_failed",
        UploadFailure::NotAnImage { .. } => "not_an_image",
        UploadFailure::Changed(_) => "changed_during_upload",
        UploadFailure::Missing => "missing",
        UploadFailure::Stalled(_) => "stalled",
        UploadFailure::Journal(_) => "journal",
        UploadFailure::Api(err) => api_reason(err),
    }
}

/// The stable code of a failed Runflow call.
pub(crate) fn api_reason(err: &ApiError) -> &'static str {
    match err {
        ApiError::Unauthorized { .. } => "auth",
        ApiError::Forbidden { .. } => "permission",
        ApiError::NotFound { .. } => "not_found",
        ApiError::Conflict { .. } => "conflict",
        ApiError::Validation { .. } => "rejected",
        ApiError::RateLimited { .. } => "rate_limited",
        ApiError::Server { .. } | ApiError::Http { .. } => "server",
        ApiError::PresignedUrlRefused { .. } | ApiError::Storage { .. } => "storage",
        ApiError::Network(_) => "network",
        ApiError::Timeout => "timeout",
        ApiError::MalformedResponse(_) => "bad_response",
        ApiError::InvalidUrl(_) => "invalid_url",
        ApiError::File(_) => "unreadable",
        ApiError::UntrustedCertificate { .. } => "untrusted_certificate",
        ApiError::CaCertificate { .. } => "ca_certificate",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_carry_schema_and_type_first() {
        let mut out = Vec::new();
        write_record(&mut out, "file", &serde_json::json!({"status": "uploaded"})).unwrap();
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "{\"schema\":1,\"type\":\"file\",\"status\":\"uploaded\"}\n"
        );
    }

    #[test]
    fn status_names_match_their_json() {
        for status in Status::ALL {
            assert_eq!(
                serde_json::to_value(status).unwrap(),
                serde_json::Value::String(status.as_str().to_owned())
            );
        }
    }

    #[cfg(unix)]
    #[test]
    fn non_utf8_paths_keep_their_bytes() {
        use base64::Engine as _;
        use std::os::unix::ffi::OsStrExt as _;
        let raw = b"/tmp/\xff\xfe.png";
        let path = Path::new(std::ffi::OsStr::from_bytes(raw));
        let json = JsonPath::of(path);
        assert_eq!(json.path, "/tmp/\u{fffd}\u{fffd}.png");
        let decoded = base64::engine::general_purpose::STANDARD
            .decode(json.path_bytes.unwrap())
            .unwrap();
        assert_eq!(decoded, raw);
        assert_eq!(JsonPath::of(Path::new("/a/b.png")).path_bytes, None);
    }

    #[test]
    fn api_failures_have_codes() {
        assert_eq!(
            failure_reason(&UploadFailure::Api(ApiError::Unauthorized {
                message: String::new()
            })),
            "auth"
        );
        assert_eq!(api_reason(&ApiError::Network("x".into())), "network");
        assert_eq!(
            failure_reason(&UploadFailure::TooLarge { size_bytes: 1 }),
            "too_large"
        );
    }
}
