//! CORS on the storage origin, as R2 answers with a permissive bucket rule (`AllowedOrigins:
//! ["*"]`, `AllowedMethods: [GET, HEAD, PUT]`, `AllowedHeaders: ["*"]`, `ExposeHeaders:
//! ["ETag"]`, `MaxAgeSeconds: 3600`): browsers PUT to `upload_url` with a non-simple
//! `Content-Type`, which needs a preflight. The API listener sends no CORS headers, as
//! Runflow's API does not.

use axum::extract::Request;
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse as _, Response};

/// Methods a preflight may ask for.
const ALLOWED_METHODS: [Method; 3] = [Method::GET, Method::HEAD, Method::PUT];
/// How long a browser may cache a preflight, in seconds.
const MAX_AGE_SECS: u32 = 3600;

/// Storage middleware: every answer (errors included, so a page can read them) carries
/// `Access-Control-Allow-Origin: *` and exposes `ETag`.
pub(crate) async fn allow_origin(request: Request, next: Next) -> Response {
    let mut response = next.run(request).await;
    let headers = response.headers_mut();
    headers.insert(
        header::ACCESS_CONTROL_ALLOW_ORIGIN,
        HeaderValue::from_static("*"),
    );
    if !headers.contains_key(header::ACCESS_CONTROL_ALLOW_METHODS) {
        headers.insert(
            header::ACCESS_CONTROL_EXPOSE_HEADERS,
            HeaderValue::from_static("ETag"),
        );
    }
    response
}

fn refused(status: StatusCode, message: &str) -> Response {
    let body = format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n\
         <Error><Code>AccessForbidden</Code><Message>{message}</Message></Error>"
    );
    (
        status,
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/xml"),
        )],
        body,
    )
        .into_response()
}

/// `OPTIONS` on any object: the preflight. Needs `Origin` and `Access-Control-Request-Method`
/// (400 without, like S3); a method other than GET, HEAD or PUT is refused with 403. Any
/// requested headers are allowed (echoed back). No signature is needed: browsers send none.
pub(crate) async fn preflight(headers: HeaderMap) -> Response {
    let value = |name: header::HeaderName| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::trim)
            .filter(|v| !v.is_empty())
    };
    let (Some(_origin), Some(method)) = (
        value(header::ORIGIN),
        value(header::ACCESS_CONTROL_REQUEST_METHOD),
    ) else {
        return refused(
            StatusCode::BAD_REQUEST,
            "Insufficient information. Origin request header needed.",
        );
    };
    if !ALLOWED_METHODS.iter().any(|m| m.as_str() == method) {
        return refused(
            StatusCode::FORBIDDEN,
            "CORSResponse: This CORS request is not allowed.",
        );
    }
    let mut response = StatusCode::NO_CONTENT.into_response();
    let out = response.headers_mut();
    out.insert(
        header::ACCESS_CONTROL_ALLOW_METHODS,
        HeaderValue::from_static("GET, HEAD, PUT"),
    );
    if let Some(requested) = headers.get(header::ACCESS_CONTROL_REQUEST_HEADERS) {
        out.insert(header::ACCESS_CONTROL_ALLOW_HEADERS, requested.clone());
    }
    out.insert(
        header::ACCESS_CONTROL_MAX_AGE,
        HeaderValue::from(MAX_AGE_SECS),
    );
    out.insert(
        header::VARY,
        HeaderValue::from_static(
            "Origin, Access-Control-Request-Method, Access-Control-Request-Headers",
        ),
    );
    response
}
