//! The API's error responses: the flat `{code, message, errors}` envelope, or with
//! `--error-envelope nested` the same inside `{"error": ...}`.

use std::sync::Arc;

use axum::Json;
use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use super::Shared;
use super::variants::ErrorEnvelope;
use crate::api::models::{ErrorBody, FieldError};

/// An API error, rendered as the documented envelope.
#[derive(Debug, Clone)]
pub(crate) struct ApiError {
    pub status: StatusCode,
    pub code: &'static str,
    pub message: String,
    pub errors: Option<Vec<FieldError>>,
    /// Seconds for a `Retry-After` header (429 only).
    pub retry_after_secs: Option<u64>,
}

impl ApiError {
    /// An error with a status, stable code and message.
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        Self {
            status,
            code,
            message: message.into(),
            errors: None,
            retry_after_secs: None,
        }
    }

    /// 400 `BAD_REQUEST`.
    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "BAD_REQUEST", message)
    }

    /// 404 with a resource-specific code.
    pub fn not_found(code: &'static str, message: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, code, message)
    }

    /// 409 with a specific code.
    pub fn conflict(code: &'static str, message: impl Into<String>) -> Self {
        Self::new(StatusCode::CONFLICT, code, message)
    }

    /// 422 `VALIDATION_ERROR` listing field problems.
    pub fn validation(errors: Vec<FieldError>) -> Self {
        let message = match errors.as_slice() {
            [one] => format!("Validation failed: {}: {}", one.field(), one.msg),
            many => format!("Validation failed for {} fields", many.len()),
        };
        Self {
            errors: Some(errors),
            ..Self::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "VALIDATION_ERROR",
                message,
            )
        }
    }

    /// 422 `VALIDATION_ERROR` for one field.
    pub fn invalid(loc: &[&str], msg: impl Into<String>, kind: &str) -> Self {
        Self::validation(vec![field_error(loc, msg, kind)])
    }

    /// The same error with another code.
    pub fn with_code(mut self, code: &'static str) -> Self {
        self.code = code;
        self
    }

    /// 401 `UNAUTHORIZED`.
    pub fn unauthorized(message: impl Into<String>) -> Self {
        Self::new(StatusCode::UNAUTHORIZED, "UNAUTHORIZED", message)
    }
}

/// One `{loc, msg, type}` entry.
pub(crate) fn field_error(loc: &[&str], msg: impl Into<String>, kind: &str) -> FieldError {
    FieldError {
        loc: loc
            .iter()
            .map(|part| serde_json::Value::String((*part).to_owned()))
            .collect(),
        msg: msg.into(),
        kind: kind.to_owned(),
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = ErrorBody {
            code: self.code.to_owned(),
            message: self.message,
            errors: self.errors,
        };
        let mut response = (self.status, Json(body.clone())).into_response();
        // Kept for `error_envelope`, which re-renders the body without parsing it back.
        response.extensions_mut().insert(RenderedError(body));
        if let Some(secs) = self.retry_after_secs {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(secs));
        }
        if self.status == StatusCode::UNAUTHORIZED {
            response
                .headers_mut()
                .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        response
    }
}

/// The body an [`ApiError`] response was rendered from.
#[derive(Debug, Clone)]
struct RenderedError(ErrorBody);

/// API middleware: with `--error-envelope nested`, wraps every error body in `{"error": ...}`.
/// Sits outside the fault layer, so injected 429s and 503s are wrapped too.
pub(crate) async fn error_envelope(
    State(shared): State<Arc<Shared>>,
    request: Request,
    next: Next,
) -> Response {
    let mut response = next.run(request).await;
    if shared.variants.error_envelope != ErrorEnvelope::Nested {
        return response;
    }
    let Some(RenderedError(body)) = response.extensions_mut().remove::<RenderedError>() else {
        return response;
    };
    let (mut parts, _) = response.into_parts();
    parts.headers.remove(header::CONTENT_LENGTH);
    let nested = NestedErrorBody { error: body };
    match serde_json::to_vec(&nested) {
        Ok(bytes) => Response::from_parts(parts, Body::from(bytes)),
        Err(err) => {
            tracing::warn!(%err, "could not render a nested error body");
            Response::from_parts(parts, Body::empty())
        }
    }
}

/// `{"error": {code, message, errors}}`.
#[derive(serde::Serialize)]
struct NestedErrorBody {
    error: ErrorBody,
}

/// Unknown route.
pub(crate) async fn route_not_found() -> ApiError {
    ApiError::not_found("NOT_FOUND", "No such endpoint")
}

/// Known route, wrong method.
pub(crate) async fn method_not_allowed() -> ApiError {
    ApiError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        "METHOD_NOT_ALLOWED",
        "Method not allowed for this endpoint",
    )
}
