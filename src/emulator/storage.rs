//! The storage origin (a second port, so a different origin from the API): presigned PUTs of
//! upload bytes and presigned GETs of objects and thumbnails, with S3-style XML errors.
//!
//! A PUT streams to a temporary file through a blocking writer thread (hashing on the way for the
//! `ETag`) and is renamed into place only once complete, so an interrupted upload never leaves a
//! committed object. It may be repeated until the upload is confirmed; then the object is sealed.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::{ConnectInfo, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, Uri, header};
use axum::middleware::from_fn_with_state;
use axum::response::{IntoResponse, Response};
use axum::routing::put;
use futures_util::StreamExt as _;
use sha2::{Digest as _, Sha256};
use tokio::sync::mpsc;
use uuid::Uuid;

use super::Shared;
use super::conn::AbortHandle;
use super::cors;
use super::request_log::{LogLayer, log_requests};
use super::signing::SignatureError;
use super::state::{ObjectMeta, object_file_name};
use crate::api::models::MAX_UPLOAD_BYTES;

/// Size of the PUT writer's buffer: large sequential writes keep a 50 MiB PUT near disk speed.
const WRITE_BUFFER_BYTES: usize = 1024 * 1024;
/// Chunk size when streaming an object back.
const READ_CHUNK_BYTES: usize = 256 * 1024;
/// Status recorded in the request log for a connection cut on purpose (nginx's "client closed").
const CUT_STATUS: u16 = 499;

/// Builds the storage router.
pub(crate) fn router(shared: Arc<Shared>) -> Router {
    Router::new()
        .route(
            "/{*key}",
            put(put_object).get(get_object).options(cors::preflight),
        )
        .fallback(|| async {
            s3_error(
                StatusCode::NOT_FOUND,
                "NoSuchKey",
                "The specified key does not exist.",
            )
        })
        .method_not_allowed_fallback(|| async {
            s3_error(
                StatusCode::METHOD_NOT_ALLOWED,
                "MethodNotAllowed",
                "The specified method is not allowed against this resource.",
            )
        })
        .layer(axum::middleware::from_fn(cors::allow_origin))
        .layer(from_fn_with_state(
            LogLayer {
                shared: shared.clone(),
                listener: "storage",
            },
            log_requests,
        ))
        .with_state(shared)
}

fn xml_escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// An S3-style XML error response.
fn s3_error(status: StatusCode, code: &str, message: &str) -> Response {
    let body = format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n\
         <Error><Code>{code}</Code><Message>{}</Message></Error>",
        xml_escape(message)
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

fn signature_error(err: &SignatureError) -> Response {
    let message = err.to_string();
    match err {
        SignatureError::Missing(_) | SignatureError::Expired => {
            s3_error(StatusCode::FORBIDDEN, "AccessDenied", &message)
        }
        SignatureError::Malformed(_) => s3_error(
            StatusCode::BAD_REQUEST,
            "AuthorizationQueryParametersError",
            &message,
        ),
        SignatureError::Mismatch => {
            s3_error(StatusCode::FORBIDDEN, "SignatureDoesNotMatch", &message)
        }
    }
}

fn too_large() -> Response {
    s3_error(
        StatusCode::BAD_REQUEST,
        "EntityTooLarge",
        &format!(
            "Your proposed upload exceeds the maximum allowed size of {MAX_UPLOAD_BYTES} bytes"
        ),
    )
}

/// The upload session id in an upload key `uploads/{org}/{id}/{name}`.
fn upload_id_of(key: &str) -> Option<Uuid> {
    let mut parts = key.split('/');
    match (parts.next(), parts.next(), parts.next()) {
        (Some("uploads"), Some(_), Some(id)) => Uuid::parse_str(id).ok(),
        _ => None,
    }
}

/// Why the key's upload no longer accepts bytes, as the response; `None` if it does.
fn refusal(shared: &Shared, id: Uuid, key: &str) -> Option<Response> {
    shared
        .store
        .read(|db| match (db.uploads.get(&id), db.assets.get(&id)) {
            (Some(upload), _) if *upload.object_key == *key => None,
            (None, Some(asset)) if *asset.r2_key == *key => Some(sealed()),
            _ => Some(no_such_upload()),
        })
}

fn sealed() -> Response {
    s3_error(
        StatusCode::FORBIDDEN,
        "AccessDenied",
        "The upload is confirmed; its object can no longer be written.",
    )
}

fn no_such_upload() -> Response {
    s3_error(
        StatusCode::NOT_FOUND,
        "NoSuchUpload",
        "The specified upload does not exist.",
    )
}

/// What the PUT writer ends with: the size and SHA-256 of the bytes written.
type Written = tokio::task::JoinHandle<std::io::Result<(u64, [u8; 32])>>;

/// Writes chunks to `path` on a blocking thread, hashing them.
fn spawn_writer(path: PathBuf) -> (mpsc::Sender<Bytes>, Written) {
    let (tx, mut rx) = mpsc::channel::<Bytes>(16);
    let task = tokio::task::spawn_blocking(move || {
        use std::io::Write as _;
        let file = std::fs::File::create(&path)?;
        let mut writer = std::io::BufWriter::with_capacity(WRITE_BUFFER_BYTES, file);
        let mut hasher = Sha256::new();
        let mut size = 0u64;
        while let Some(chunk) = rx.blocking_recv() {
            hasher.update(&chunk);
            writer.write_all(&chunk)?;
            size += chunk.len() as u64;
        }
        writer.flush()?;
        Ok((size, hasher.finalize().into()))
    });
    (tx, task)
}

/// Reads about half of a PUT body (or 64 KiB when its length is unknown); returns the bytes read.
async fn read_about_half(body: Body, content_length: Option<u64>) -> u64 {
    let half = content_length.map_or(64 * 1024, |len| len / 2).max(1);
    let mut stream = body.into_data_stream();
    let mut seen = 0u64;
    while seen < half {
        match stream.next().await {
            Some(Ok(chunk)) => seen += chunk.len() as u64,
            _ => break,
        }
    }
    seen
}

/// Reads about half the body, then cuts the connection (`--drop-put-rate`).
async fn cut_midway(body: Body, content_length: Option<u64>, conn: &AbortHandle) -> Response {
    let seen = read_about_half(body, content_length).await;
    conn.abort();
    tracing::info!(seen, "cut a storage PUT midway (fault injection)");
    let status = StatusCode::from_u16(CUT_STATUS).unwrap_or(StatusCode::BAD_REQUEST);
    s3_error(status, "ConnectionCut", "Connection cut by fault injection")
}

/// How long a stalled PUT hangs before its connection is cut (`--stall-put-rate`).
const STALL_HOLD: Duration = Duration::from_secs(120);

/// Reads about half the body, then stops reading and answers nothing until [`STALL_HOLD`] has
/// passed, then cuts the connection (`--stall-put-rate`).
async fn stall_midway(body: Body, content_length: Option<u64>, conn: &AbortHandle) -> Response {
    let seen = read_about_half(body, content_length).await;
    tracing::info!(seen, "stalling a storage PUT (fault injection)");
    tokio::time::sleep(STALL_HOLD).await;
    conn.abort();
    let status = StatusCode::from_u16(CUT_STATUS).unwrap_or(StatusCode::BAD_REQUEST);
    s3_error(status, "ConnectionCut", "Connection cut by fault injection")
}

async fn put_object(
    State(shared): State<Arc<Shared>>,
    ConnectInfo(conn): ConnectInfo<AbortHandle>,
    uri: Uri,
    headers: HeaderMap,
    body: Body,
) -> Response {
    if headers.contains_key(header::AUTHORIZATION) {
        return s3_error(
            StatusCode::BAD_REQUEST,
            "InvalidArgument",
            "Only one auth mechanism allowed; only the X-Amz-Algorithm query parameter, \
             Signature query string parameter or the Authorization header should be specified",
        );
    }
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .map(str::trim);
    let now = super::state::now();
    let grant = match shared.signer.verify(
        "PUT",
        uri.path(),
        uri.query().unwrap_or_default(),
        content_type,
        now,
    ) {
        Ok(grant) => grant,
        Err(err) => return signature_error(&err),
    };
    let key = grant.key;
    let Some(upload_id) = upload_id_of(&key) else {
        return no_such_upload();
    };
    if let Some(response) = refusal(&shared, upload_id, &key) {
        return response;
    }
    let content_length = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if content_length.is_some_and(|len| len > MAX_UPLOAD_BYTES) {
        return too_large();
    }
    if shared.faults.drop_this_put() {
        return cut_midway(body, content_length, &conn).await;
    }
    if shared.faults.stall_this_put() {
        return stall_midway(body, content_length, &conn).await;
    }

    let temp = shared.store.temp_path();
    let (tx, writer) = spawn_writer(temp.clone());
    let mut stream = body.into_data_stream();
    let mut received = 0u64;
    let mut failure: Option<Response> = None;
    let started = std::time::Instant::now();
    while let Some(chunk) = stream.next().await {
        match chunk {
            Ok(chunk) => {
                received += chunk.len() as u64;
                if let Some(pause) = shared.faults.put_pause(started, received) {
                    tokio::time::sleep(pause).await;
                }
                if received > MAX_UPLOAD_BYTES {
                    failure = Some(too_large());
                    break;
                }
                if tx.send(chunk).await.is_err() {
                    break;
                }
            }
            Err(err) => {
                tracing::debug!(%err, "storage PUT body ended early");
                failure = Some(s3_error(
                    StatusCode::BAD_REQUEST,
                    "IncompleteBody",
                    "You did not provide the number of bytes specified by the Content-Length \
                     HTTP header.",
                ));
                break;
            }
        }
    }
    drop(tx);
    let written = writer.await;
    let discard = |response: Response| {
        let _ = std::fs::remove_file(&temp);
        response
    };
    if let Some(response) = failure {
        return discard(response);
    }
    let (size_bytes, sha256) = match written {
        Ok(Ok(done)) => done,
        Ok(Err(err)) => {
            tracing::warn!(%err, "storage PUT could not write");
            return discard(s3_error(
                StatusCode::INTERNAL_SERVER_ERROR,
                "InternalError",
                "Could not store the object.",
            ));
        }
        Err(err) => {
            tracing::warn!(%err, "storage PUT writer failed");
            return discard(s3_error(
                StatusCode::INTERNAL_SERVER_ERROR,
                "InternalError",
                "Could not store the object.",
            ));
        }
    };

    // Commit under the state lock, so a confirm sees either the old object or the new one.
    let file_name = object_file_name(&key);
    let target = shared.store.object_path(&file_name);
    let meta = ObjectMeta {
        content_type: content_type.unwrap_or("application/octet-stream").into(),
        size_bytes,
        sha256,
    };
    let etag = meta.etag();
    let committed = shared.store.write(|db| {
        // Still open (a confirm ends the session), and the key is its object's.
        let open = db.uploads.get(&upload_id).map(|u| u.object_key.clone());
        let Some(key) = open.filter(|open| **open == *key) else {
            return Ok(false);
        };
        std::fs::rename(&temp, &target)?;
        db.insert_object(key, meta);
        Ok::<bool, std::io::Error>(true)
    });
    match committed {
        Ok(true) => {
            let mut response = StatusCode::OK.into_response();
            if let Ok(value) = HeaderValue::from_str(&etag) {
                response.headers_mut().insert(header::ETAG, value);
            }
            response
        }
        Ok(false) => discard(sealed()),
        Err(err) => {
            tracing::warn!(%err, "storage PUT could not commit");
            discard(s3_error(
                StatusCode::INTERNAL_SERVER_ERROR,
                "InternalError",
                "Could not store the object.",
            ))
        }
    }
}

async fn get_object(State(shared): State<Arc<Shared>>, uri: Uri, headers: HeaderMap) -> Response {
    if headers.contains_key(header::AUTHORIZATION) {
        return s3_error(
            StatusCode::BAD_REQUEST,
            "InvalidArgument",
            "Only one auth mechanism allowed; only the X-Amz-Algorithm query parameter, \
             Signature query string parameter or the Authorization header should be specified",
        );
    }
    // HEAD is answered with a GET signature too (axum runs this handler and strips the body).
    let grant = match shared.signer.verify(
        "GET",
        uri.path(),
        uri.query().unwrap_or_default(),
        None,
        super::state::now(),
    ) {
        Ok(grant) => grant,
        Err(err) => return signature_error(&err),
    };
    let Some(meta) = shared
        .store
        .read(|db| db.objects.get(grant.key.as_str()).cloned())
    else {
        return s3_error(
            StatusCode::NOT_FOUND,
            "NoSuchKey",
            "The specified key does not exist.",
        );
    };
    let file = match tokio::fs::File::open(shared.store.object_path(&object_file_name(&grant.key)))
        .await
    {
        Ok(file) => file,
        Err(_) => {
            return s3_error(
                StatusCode::NOT_FOUND,
                "NoSuchKey",
                "The specified key does not exist.",
            );
        }
    };
    let body = Body::from_stream(tokio_util::io::ReaderStream::with_capacity(
        file,
        READ_CHUNK_BYTES,
    ));
    let mut response = body.into_response();
    let headers = response.headers_mut();
    if let Ok(value) = HeaderValue::from_str(&meta.content_type) {
        headers.insert(header::CONTENT_TYPE, value);
    }
    headers.insert(header::CONTENT_LENGTH, HeaderValue::from(meta.size_bytes));
    if let Ok(value) = HeaderValue::from_str(&meta.etag()) {
        headers.insert(header::ETAG, value);
    }
    headers.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("private, max-age=300"),
    );
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn upload_ids_come_from_upload_keys_only() {
        let id = Uuid::new_v4();
        assert_eq!(upload_id_of(&format!("uploads/org/{id}/a.png")), Some(id));
        assert_eq!(upload_id_of(&format!("thumbnails/org/{id}.png")), None);
        assert_eq!(upload_id_of("uploads/org/not-a-uuid/a.png"), None);
    }

    #[test]
    fn xml_errors_escape_messages() {
        assert_eq!(xml_escape("a<b & \"c\">"), "a&lt;b &amp; &quot;c&quot;&gt;");
    }
}
