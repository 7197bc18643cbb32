//! The client's error type: one variant per way a Runflow call can fail, each with a message
//! that says what happened and what to do.

use std::time::Duration;

use reqwest::StatusCode;

use super::models::{ErrorBody, FieldError};
use super::scopes::Scope;

/// Everything a Runflow call can fail with.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ApiError {
    /// 401: the key is missing, wrong or revoked.
    #[error(
        "Runflow rejected the API key ({message}). Check the key, or create a new one in the \
         Runflow dashboard under Settings > API Keys."
    )]
    Unauthorized {
        /// The server's message.
        message: String,
    },

    /// 403 from the API: the key lacks a scope, or the organisation is wrong.
    #[error("{}", forbidden_message(code, message, *scope))]
    Forbidden {
        /// Stable error code, e.g. `PERMISSION_DENIED`.
        code: String,
        /// The server's message.
        message: String,
        /// On a `PERMISSION_DENIED`, the scope the call needs (see [`Scope::for_call`]).
        scope: Option<Scope>,
    },

    /// 404: the asset, folder or upload does not exist (or was deleted).
    #[error("Not found on Runflow: {message}. It may have been deleted, or the id may be wrong.")]
    NotFound {
        /// Stable error code, e.g. `ASSET_NOT_FOUND`.
        code: String,
        /// The server's message.
        message: String,
    },

    /// 409: a duplicate create, a second confirm, or a race with another change.
    #[error("Runflow reported a conflict: {message} ({code}).")]
    Conflict {
        /// Stable error code, e.g. `ASSET_ALREADY_CONFIRMED`.
        code: String,
        /// The server's message.
        message: String,
    },

    /// 422 (or 400): the request was refused as invalid.
    #[error("Runflow rejected the request: {message}{}", fields_suffix(.fields))]
    Validation {
        /// Stable error code, e.g. `VALIDATION_ERROR`.
        code: String,
        /// The server's message.
        message: String,
        /// Per-field details, when the server sent them.
        fields: Vec<FieldError>,
    },

    /// 429: too many requests.
    #[error(
        "Runflow is rate limiting this key ({message}). The app slows down and retries; if it \
         keeps happening, upload fewer files at once."
    )]
    RateLimited {
        /// How long the server asked us to wait, when it said.
        retry_after: Option<Duration>,
        /// The server's message.
        message: String,
    },

    /// 5xx: the service is failing or unavailable.
    #[error(
        "Runflow is having trouble (HTTP {status}: {message}). Try again in a minute; if it \
         persists, check Runflow's status."
    )]
    Server {
        /// The HTTP status.
        status: u16,
        /// The server's message.
        message: String,
    },

    /// Any other HTTP status.
    #[error("Runflow answered HTTP {status}: {message} ({code}).")]
    Http {
        /// The HTTP status.
        status: u16,
        /// Stable error code, if any.
        code: String,
        /// The server's message.
        message: String,
    },

    /// 403 from storage on the PUT: the presigned URL expired or was refused.
    #[error(
        "The upload link expired or was refused by storage ({detail}). Start the upload again \
         to get a fresh link."
    )]
    PresignedUrlRefused {
        /// Storage's error code and message.
        detail: String,
    },

    /// Storage refused the PUT with another status.
    #[error("Storage refused the upload (HTTP {status}: {detail}).")]
    Storage {
        /// The HTTP status.
        status: u16,
        /// Storage's error code and message.
        detail: String,
    },

    /// The connection failed or broke before an answer came: see
    /// [`ApiError::is_connection_failure`].
    #[error(
        "Could not reach Runflow ({0}). Check your internet connection; the app retries on its \
         own."
    )]
    Network(String),

    /// The server's TLS certificate is not trusted: a private CA (corporate TLS inspection, the
    /// emulator's `--tls`) that is not among the trusted roots. Not a connection failure:
    /// retrying cannot help, trusting the CA does.
    #[error(
        "The server at {host} presented a TLS certificate this computer does not trust \
         ({problem}). If your network inspects TLS traffic, or this is a local Runflow emulator \
         started with --tls, trust its CA: set RUNFLOW_CA_CERT to its certificate file (PEM), \
         or choose it in Settings > Advanced > Extra CA certificate."
    )]
    UntrustedCertificate {
        /// The host whose certificate was refused.
        host: String,
        /// What is wrong with the certificate.
        problem: String,
    },

    /// An extra CA certificate file (`RUNFLOW_CA_CERT`, Settings > Advanced) is unusable.
    #[error(
        "Could not use the extra CA certificate {path}: {problem}. Point RUNFLOW_CA_CERT (or \
         Settings > Advanced > Extra CA certificate) at a PEM file with the CA's certificate."
    )]
    CaCertificate {
        /// The file.
        path: String,
        /// Why it can't be used.
        problem: String,
    },

    /// The request took too long.
    #[error("Runflow did not answer in time. Check your connection; the app retries on its own.")]
    Timeout,

    /// The server's answer could not be understood.
    #[error(
        "Runflow sent a response the app could not understand ({0}). Try again; if it \
         persists, the app may need an update."
    )]
    MalformedResponse(String),

    /// The configured base URL or a returned URL is not usable.
    #[error("{0}")]
    InvalidUrl(String),

    /// Reading the local file failed.
    #[error("Could not read the file: {0}")]
    File(String),
}

fn forbidden_message(code: &str, message: &str, scope: Option<Scope>) -> String {
    match scope {
        Some(scope) if code == "PERMISSION_DENIED" => format!(
            "{}. Use a key with that scope: create one in the Runflow dashboard under Settings > \
             API Keys, or ask an admin of the organisation. (Runflow said: {message})",
            scope.denied_message()
        ),
        _ => format!(
            "Runflow refused the request: {message} ({code}). Use a key with access to this \
             organisation and the assets scopes."
        ),
    }
}

fn fields_suffix(fields: &[FieldError]) -> String {
    if fields.is_empty() {
        return String::new();
    }
    let details: Vec<String> = fields
        .iter()
        .map(|f| format!("{}: {}", f.field(), f.msg))
        .collect();
    format!(" ({})", details.join("; "))
}

impl ApiError {
    /// Whether retrying the same request may succeed: 5xx, 429, network errors and timeouts.
    pub fn is_retryable(&self) -> bool {
        matches!(
            self,
            Self::RateLimited { .. } | Self::Server { .. } | Self::Network(_) | Self::Timeout
        )
    }

    /// The server's requested wait, on a 429 that carried `Retry-After`.
    pub fn retry_after(&self) -> Option<Duration> {
        match self {
            Self::RateLimited { retry_after, .. } => *retry_after,
            _ => None,
        }
    }

    /// The stable error code from the server's envelope, if there was one.
    pub fn code(&self) -> Option<&str> {
        match self {
            Self::Forbidden { code, .. }
            | Self::NotFound { code, .. }
            | Self::Conflict { code, .. }
            | Self::Validation { code, .. }
            | Self::Http { code, .. } => Some(code),
            _ => None,
        }
    }

    /// Maps a failed API response to an error.
    pub(crate) fn from_api_response(
        status: StatusCode,
        retry_after: Option<&str>,
        body: &[u8],
    ) -> Self {
        let parsed = parse_error_body(body);
        let code = parsed.code.clone();
        let message = parsed.message.clone();
        match status.as_u16() {
            401 => Self::Unauthorized { message },
            403 => Self::Forbidden {
                code,
                message,
                scope: None,
            },
            404 => Self::NotFound { code, message },
            409 => Self::Conflict { code, message },
            400 | 422 => Self::Validation {
                code,
                message,
                fields: parsed.errors.unwrap_or_default(),
            },
            429 => Self::RateLimited {
                retry_after: retry_after.and_then(parse_retry_after),
                message,
            },
            s @ 500..=599 => Self::Server { status: s, message },
            s => Self::Http {
                status: s,
                code,
                message,
            },
        }
    }

    /// Names the scope a refused call needs, so a `PERMISSION_DENIED` says what the key can't
    /// do whatever words the server used.
    pub(crate) fn for_call(self, method: &reqwest::Method, path: &str) -> Self {
        match self {
            Self::Forbidden {
                code,
                message,
                scope: None,
            } if code == "PERMISSION_DENIED" => Self::Forbidden {
                scope: Scope::for_call(method, path),
                code,
                message,
            },
            other => other,
        }
    }

    /// The scope a refused call needed, on a 403 `PERMISSION_DENIED` of a scoped call.
    pub fn missing_scope(&self) -> Option<Scope> {
        match self {
            Self::Forbidden { scope, .. } => *scope,
            _ => None,
        }
    }

    /// Maps a failed storage PUT/GET response (S3-style XML body) to an error.
    pub(crate) fn from_storage_response(status: StatusCode, body: &[u8]) -> Self {
        let detail = storage_error_detail(body);
        match status.as_u16() {
            403 => Self::PresignedUrlRefused { detail },
            429 => Self::RateLimited {
                retry_after: None,
                message: detail,
            },
            s @ 500..=599 => Self::Server {
                status: s,
                message: detail,
            },
            s => Self::Storage { status: s, detail },
        }
    }
}

impl From<reqwest::Error> for ApiError {
    fn from(err: reqwest::Error) -> Self {
        // The host alone is no secret; it says whose certificate was refused.
        let host = err
            .url()
            .and_then(|url| {
                url.host_str().map(|host| match url.port() {
                    Some(port) => format!("{host}:{port}"),
                    None => host.to_owned(),
                })
            })
            .unwrap_or_else(|| "the server".to_owned());
        // The URL may be a presigned one whose query is a credential: it never goes into a
        // message or a log.
        let err = err.without_url();
        if let Some(problem) = super::http::certificate_problem(&err) {
            return Self::UntrustedCertificate { host, problem };
        }
        // Connecting comes first: a connect timeout is a failure to reach the host, like a
        // refused connection, not a slow answer.
        if err.is_connect() {
            Self::Network(error_chain(&err))
        } else if err.is_timeout() {
            Self::Timeout
        } else if err.is_decode() {
            Self::MalformedResponse(error_chain(&err))
        } else if err.is_redirect() {
            Self::MalformedResponse(format!(
                "it redirected the app in circles: {}",
                error_chain(&err)
            ))
        } else if err.is_builder() {
            Self::InvalidUrl(format!(
                "The request could not be built: {}",
                error_chain(&err)
            ))
        } else {
            // What is left broke on an open connection (reset, closed before the answer).
            Self::Network(error_chain(&err))
        }
    }
}

impl ApiError {
    /// Maps a failure while reading an answer's body. The client asks for no compression, so
    /// such a failure is the connection breaking (or the time running out), never a decoding
    /// problem, although reqwest labels it as one.
    pub(crate) fn from_body_error(err: reqwest::Error) -> Self {
        let err = err.without_url();
        if err.is_timeout() {
            Self::Timeout
        } else {
            Self::Network(format!(
                "the connection broke while the answer was read: {}",
                error_chain(&err)
            ))
        }
    }

    /// Whether the request never got an HTTP answer because connecting failed (refused, DNS,
    /// TLS, connect timeout) or the connection broke (reset, closed early), as opposed to an
    /// HTTP status, a slow answer ([`ApiError::Timeout`]) or a local problem. This is what
    /// "offline" looks like.
    pub fn is_connection_failure(&self) -> bool {
        matches!(self, Self::Network(_))
    }
}

/// Joins an error with its sources, which is where reqwest keeps the useful part.
fn error_chain(err: &dyn std::error::Error) -> String {
    let mut text = err.to_string();
    let mut source = err.source();
    while let Some(cause) = source {
        let cause_text = cause.to_string();
        if !text.contains(&cause_text) {
            text.push_str(": ");
            text.push_str(&cause_text);
        }
        source = cause.source();
    }
    text
}

/// Parses the error envelope: flat `{code,message,errors}` first, nested
/// `{error:{code,message}}` second, raw text last.
pub fn parse_error_body(body: &[u8]) -> ErrorBody {
    if let Ok(value) = serde_json::from_slice::<serde_json::Value>(body) {
        if let Ok(flat) = serde_json::from_value::<ErrorBody>(value.clone()) {
            return flat;
        }
        if let Some(nested) = value.get("error") {
            let field = |name: &str| {
                nested
                    .get(name)
                    .and_then(serde_json::Value::as_str)
                    .map(str::to_owned)
            };
            if let Some(message) = field("message").or_else(|| nested.as_str().map(str::to_owned)) {
                return ErrorBody {
                    code: field("code").unwrap_or_else(|| "UNKNOWN".to_owned()),
                    message,
                    errors: None,
                };
            }
        }
        if let Some(message) = value.get("message").and_then(serde_json::Value::as_str) {
            return ErrorBody {
                code: value
                    .get("code")
                    .and_then(serde_json::Value::as_str)
                    .unwrap_or("UNKNOWN")
                    .to_owned(),
                message: message.to_owned(),
                errors: None,
            };
        }
    }
    ErrorBody {
        code: "UNKNOWN".to_owned(),
        message: raw_snippet(body),
        errors: None,
    }
}

/// A short, printable excerpt of a non-JSON body.
fn raw_snippet(body: &[u8]) -> String {
    const MAX_CHARS: usize = 200;
    let text = String::from_utf8_lossy(body);
    let text = text.trim();
    if text.is_empty() {
        return "no details given".to_owned();
    }
    let mut snippet: String = text.chars().take(MAX_CHARS).collect();
    if text.chars().count() > MAX_CHARS {
        snippet.push('…');
    }
    snippet
}

/// Pulls `<Code>` and `<Message>` out of an S3-style XML error.
fn storage_error_detail(body: &[u8]) -> String {
    let text = String::from_utf8_lossy(body);
    let tag = |name: &str| {
        let open = format!("<{name}>");
        let close = format!("</{name}>");
        let start = text.find(&open)? + open.len();
        let end = text[start..].find(&close)? + start;
        Some(text[start..end].trim().to_owned())
    };
    match (tag("Code"), tag("Message")) {
        (Some(code), Some(message)) => format!("{code}: {message}"),
        (Some(code), None) => code,
        _ => raw_snippet(body),
    }
}

/// Reads `Retry-After` in its delta-seconds form (the HTTP-date form is ignored, as the docs'
/// sample client does).
pub fn parse_retry_after(value: &str) -> Option<Duration> {
    let secs: f64 = value.trim().parse().ok()?;
    (secs.is_finite() && secs >= 0.0).then(|| Duration::from_secs_f64(secs.min(3600.0)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flat_envelope_is_read_first() {
        let body = br#"{"code":"VALIDATION_ERROR","message":"bad size","errors":[{"loc":["body","size_bytes"],"msg":"too large","type":"value_error"}]}"#;
        let err = ApiError::from_api_response(StatusCode::UNPROCESSABLE_ENTITY, None, body);
        let ApiError::Validation { code, fields, .. } = &err else {
            panic!("expected validation, got {err:?}");
        };
        assert_eq!(code, "VALIDATION_ERROR");
        assert_eq!(fields[0].field(), "body.size_bytes");
        assert!(err.to_string().contains("body.size_bytes: too large"));
    }

    #[test]
    fn nested_envelope_is_the_fallback() {
        let body =
            br#"{"error":{"code":"PERMISSION_DENIED","message":"missing scope assets:write"}}"#;
        let err = ApiError::from_api_response(StatusCode::FORBIDDEN, None, body);
        assert_eq!(err.code(), Some("PERMISSION_DENIED"));
        assert!(err.to_string().contains("missing scope assets:write"));
    }

    #[test]
    fn raw_text_is_the_last_resort() {
        let err = ApiError::from_api_response(
            StatusCode::BAD_GATEWAY,
            None,
            b"<html>502 Bad Gateway</html>",
        );
        assert!(matches!(err, ApiError::Server { status: 502, .. }));
        assert!(err.to_string().contains("502 Bad Gateway"));
        assert!(err.is_retryable());
        let empty = parse_error_body(b"");
        assert_eq!(empty.message, "no details given");
    }

    #[test]
    fn long_raw_bodies_are_cut() {
        let body = "x".repeat(10_000);
        let parsed = parse_error_body(body.as_bytes());
        assert!(parsed.message.chars().count() <= 201);
    }

    #[test]
    fn statuses_map_to_variants_and_retryability() {
        let cases = [
            (401, false, "Unauthorized"),
            (403, false, "Forbidden"),
            (404, false, "NotFound"),
            (409, false, "Conflict"),
            (422, false, "Validation"),
            (400, false, "Validation"),
            (402, false, "Http"),
            (429, true, "RateLimited"),
            (500, true, "Server"),
            (503, true, "Server"),
        ];
        for (status, retryable, variant) in cases {
            let status = StatusCode::from_u16(status).unwrap();
            let err = ApiError::from_api_response(status, None, b"{}");
            assert_eq!(err.is_retryable(), retryable, "{status}");
            assert!(format!("{err:?}").starts_with(variant), "{status}: {err:?}");
        }
    }

    #[test]
    fn retry_after_is_read_from_429_only() {
        let err = ApiError::from_api_response(
            StatusCode::TOO_MANY_REQUESTS,
            Some("3"),
            br#"{"code":"RATE_LIMITED","message":"Rate limit exceeded: 5/s"}"#,
        );
        assert_eq!(err.retry_after(), Some(Duration::from_secs(3)));
        assert_eq!(parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT"), None);
        assert_eq!(parse_retry_after("-1"), None);
        assert_eq!(parse_retry_after("0.5"), Some(Duration::from_millis(500)));
    }

    #[test]
    fn permission_denied_names_the_missing_scope() {
        let body = br#"{"code":"PERMISSION_DENIED","message":"Missing scope"}"#;
        let err = ApiError::from_api_response(StatusCode::FORBIDDEN, None, body)
            .for_call(&reqwest::Method::DELETE, "/v1/assets/abc");
        assert_eq!(err.missing_scope(), Some(Scope::AssetsDelete));
        let text = err.to_string();
        assert!(
            text.starts_with("This key can't delete assets (needs assets:delete)."),
            "{text}"
        );
        let other = br#"{"code":"ORGANIZATION_MEMBERSHIP_REQUIRED","message":"Not a member"}"#;
        let err = ApiError::from_api_response(StatusCode::FORBIDDEN, None, other)
            .for_call(&reqwest::Method::DELETE, "/v1/assets/abc");
        assert_eq!(err.missing_scope(), None);
        assert!(err.to_string().contains("Not a member"));
    }

    #[test]
    fn storage_xml_errors_are_read() {
        let body = br#"<?xml version="1.0"?><Error><Code>AccessDenied</Code><Message>Request has expired</Message></Error>"#;
        let err = ApiError::from_storage_response(StatusCode::FORBIDDEN, body);
        assert!(matches!(err, ApiError::PresignedUrlRefused { .. }));
        assert!(
            err.to_string()
                .contains("AccessDenied: Request has expired")
        );
        assert!(!err.is_retryable());
    }
}
