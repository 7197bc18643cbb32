//! `--request-log FILE`: one JSON line per request on either listener,
//! `{"time", "listener", "method", "path", "status", "authorization", "bytes"}`. The path never
//! includes the query string (presigned URLs carry signatures there) and no header value is ever
//! written; `authorization` only says whether the header was present. `bytes` is the answer's
//! declared length (`Content-Length`, absent for a streamed answer): what a download fetched,
//! unless the client went away before its end.

use std::fs::File;
use std::io::Write as _;
use std::path::Path;
use std::sync::{Arc, Mutex, PoisonError};

use axum::extract::{Request, State};
use axum::http::header;
use axum::middleware::Next;
use axum::response::Response;
use serde::Serialize;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use super::Shared;

/// The open log file.
pub(crate) struct RequestLog {
    file: Mutex<File>,
}

#[derive(Serialize)]
struct Line<'a> {
    time: String,
    listener: &'a str,
    method: &'a str,
    path: &'a str,
    status: u16,
    authorization: bool,
    bytes: Option<u64>,
}

impl RequestLog {
    /// Opens (appends to) the log file.
    pub fn open(path: &Path) -> std::io::Result<Self> {
        let file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)?;
        Ok(Self {
            file: Mutex::new(file),
        })
    }

    fn write(&self, line: &Line<'_>) {
        let Ok(mut json) = serde_json::to_vec(line) else {
            return;
        };
        json.push(b'\n');
        let mut file = self.file.lock().unwrap_or_else(PoisonError::into_inner);
        // One write per line and a flush, so readers see whole lines right after the response.
        if let Err(err) = file.write_all(&json).and_then(|()| file.flush()) {
            tracing::warn!(%err, "could not write the request log");
        }
    }
}

/// Which listener a log layer sits on.
#[derive(Clone)]
pub(crate) struct LogLayer {
    pub shared: Arc<Shared>,
    pub listener: &'static str,
}

/// Middleware writing one line per request once the response status is known.
pub(crate) async fn log_requests(
    State(layer): State<LogLayer>,
    request: Request,
    next: Next,
) -> Response {
    let Some(log) = &layer.shared.request_log else {
        return next.run(request).await;
    };
    let method = request.method().to_string();
    let path = request.uri().path().to_owned();
    let authorization = request.headers().contains_key(header::AUTHORIZATION);
    let response = next.run(request).await;
    log.write(&Line {
        time: OffsetDateTime::now_utc()
            .format(&Rfc3339)
            .unwrap_or_default(),
        listener: layer.listener,
        method: &method,
        path: &path,
        status: response.status().as_u16(),
        authorization,
        bytes: response
            .headers()
            .get(header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok()?.parse().ok()),
    });
    response
}
