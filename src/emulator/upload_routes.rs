//! `POST /v1/asset-uploads` (presigned upload sessions) and
//! `POST /v1/asset-uploads/{id}/confirmations` (turning stored bytes into an asset).
//!
//! A session becomes at most one asset: a repeated confirm answers as `--repeat-confirm` says
//! but never records a second one.

use std::sync::Arc;

use axum::Json;
use axum::body::Body;
use axum::extract::{ConnectInfo, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse as _, Response};
use time::OffsetDateTime;
use uuid::Uuid;

use super::asset_routes::render_asset;
use super::conn::AbortHandle;
use super::errors::{ApiError, field_error};
use super::identity::ORG_ID;
use super::request::{
    Expect, PathParam, check_length, folder_ref, json_object, parse_id, typed_body,
};
use super::state::{AssetRecord, Db, ObjectMeta, Text, UploadRecord, now};
use super::thumbs;
use super::variants::{RepeatConfirm, ThumbnailPolicy};
use super::{Shared, canonical_mime};
use crate::api::models::{
    Asset, ConfirmUploadRequest, CreateUploadRequest, MAX_UPLOAD_BYTES, UploadSession,
};

const CREATE_FIELDS: &[(&str, Expect, bool)] = &[
    ("filename", Expect::Str, true),
    ("mime_type", Expect::Str, true),
    ("size_bytes", Expect::UInt, true),
];
const CONFIRM_FIELDS: &[(&str, Expect, bool)] = &[("folder_id", Expect::NullableStr, false)];

/// The storage key of an upload: the file name kept readable, minus path tricks.
pub(crate) fn upload_key(id: Uuid, filename: &str) -> String {
    let safe: String = filename
        .chars()
        .map(|c| {
            if c == '/' || c == '\\' || c.is_control() {
                '_'
            } else {
                c
            }
        })
        .collect();
    let safe = match safe.as_str() {
        "." | ".." => "_".to_owned(),
        _ => safe,
    };
    format!("uploads/{ORG_ID}/{id}/{safe}")
}

/// `image`, `video` or `audio` from a MIME type.
pub(crate) fn asset_type_of(mime_type: &str) -> String {
    mime_type
        .split('/')
        .next()
        .unwrap_or_default()
        .to_ascii_lowercase()
}

/// Validates a create request: lengths, the supported list and the 50 MiB cap.
fn validate_create(shared: &Shared, request: &CreateUploadRequest) -> Result<(), ApiError> {
    let mut errors = Vec::new();
    check_length(&mut errors, "filename", &request.filename, 500);
    check_length(&mut errors, "mime_type", &request.mime_type, 255);
    if !request.mime_type.is_empty()
        && request.mime_type.chars().count() <= 255
        && !shared.supports_mime(&request.mime_type)
    {
        errors.push(field_error(
            &["body", "mime_type"],
            format!(
                "Unsupported MIME type `{}`; see GET /v1/assets/types",
                request.mime_type
            ),
            "unsupported_mime_type",
        ));
    }
    if request.size_bytes < 1 {
        errors.push(field_error(
            &["body", "size_bytes"],
            "Input should be greater than or equal to 1",
            "greater_than_equal",
        ));
    } else if request.size_bytes > MAX_UPLOAD_BYTES {
        errors.push(field_error(
            &["body", "size_bytes"],
            format!("Input should be less than or equal to {MAX_UPLOAD_BYTES} (50 MiB)"),
            "less_than_equal",
        ));
    }
    if errors.is_empty() {
        Ok(())
    } else {
        Err(ApiError::validation(errors))
    }
}

/// `POST /v1/asset-uploads`.
pub(crate) async fn create(
    State(shared): State<Arc<Shared>>,
    headers: HeaderMap,
    body: Body,
) -> Result<(StatusCode, Json<UploadSession>), ApiError> {
    let body = json_object(&headers, body)
        .await?
        .ok_or_else(|| ApiError::invalid(&["body"], "Field required", "missing"))?;
    let request: CreateUploadRequest = typed_body(body, CREATE_FIELDS)?;
    validate_create(&shared, &request)?;

    let id = Uuid::new_v4();
    let key = upload_key(id, &request.filename);
    let created_at = now();
    shared.store.write(|db| {
        let mime_type = db.intern(&request.mime_type);
        db.uploads.insert(
            id,
            UploadRecord {
                id,
                filename: request.filename.as_str().into(),
                mime_type,
                size_bytes: request.size_bytes,
                object_key: key.as_str().into(),
                created_at,
            },
        );
        db.sessions_created += 1;
    });
    let upload_url = shared.signer.presign(
        &shared.storage_base,
        &key,
        "PUT",
        Some(&request.mime_type),
        created_at,
        shared.presign_ttl.as_secs(),
    );
    Ok((
        shared.variants.created(),
        Json(UploadSession {
            asset_id: id.to_string(),
            upload_url,
        }),
    ))
}

fn upload_not_found() -> ApiError {
    ApiError::not_found("ASSET_UPLOAD_NOT_FOUND", "Asset upload not found")
}

/// What a confirm does after its checks.
enum Step {
    /// Record a new asset from this session and stored object.
    Record(UploadRecord, ObjectMeta),
    /// The session is already confirmed and `--repeat-confirm same` answers with its asset.
    Again(AssetRecord),
}

fn already_confirmed() -> ApiError {
    ApiError::conflict(
        "ASSET_ALREADY_CONFIRMED",
        "This upload was already confirmed; GET /v1/assets/{id} returns the asset",
    )
}

/// The answer to confirming the confirmed session `id`, per `--repeat-confirm`.
fn repeated(shared: &Shared, db: &Db, id: Uuid) -> Result<Step, ApiError> {
    match shared.variants.repeat_confirm {
        RepeatConfirm::Conflict => Err(already_confirmed()),
        RepeatConfirm::NotFound => Err(upload_not_found()),
        // The asset has the session's id; once deleted there is nothing to hand back.
        RepeatConfirm::Same => db
            .assets
            .get(&id)
            .filter(|asset| asset.deleted_at.is_none())
            .cloned()
            .map(Step::Again)
            .ok_or_else(already_confirmed),
    }
}

/// The checks of a confirm, in order; returns what to do next.
fn confirmable(
    shared: &Shared,
    db: &Db,
    id: Uuid,
    folder: Option<Uuid>,
    at: OffsetDateTime,
) -> Result<Step, ApiError> {
    if db.confirmed(id) {
        return repeated(shared, db, id);
    }
    let upload = db.uploads.get(&id).ok_or_else(upload_not_found)?;
    if at - upload.created_at > shared.session_ttl {
        return Err(ApiError::not_found(
            "ASSET_UPLOAD_NOT_FOUND",
            "Asset upload not found (the session expired; create a new one)",
        ));
    }
    if let Some(folder) = folder
        && db.live_folder(folder).is_none()
    {
        return Err(ApiError::invalid(
            &["body", "folder_id"],
            "Folder not found",
            "not_found",
        ));
    }
    let object = db.objects.get(&upload.object_key).ok_or_else(|| {
        ApiError::conflict(
            "UPLOAD_NOT_FOUND",
            "No object was uploaded for this session yet; PUT the bytes to upload_url first",
        )
    })?;
    if object.size_bytes > upload.size_bytes || object.size_bytes > MAX_UPLOAD_BYTES {
        return Err(ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "UPLOAD_SIZE_MISMATCH",
            format!(
                "Stored object is {} bytes, more than the declared {} bytes",
                object.size_bytes, upload.size_bytes
            ),
        ));
    }
    Ok(Step::Record(upload.clone(), object.clone()))
}

/// Records the asset (and its thumbnail object) for a confirmable upload; the session ends.
fn record_asset(
    db: &mut Db,
    upload: UploadRecord,
    object: &ObjectMeta,
    folder: Option<Uuid>,
    thumbnail: Option<(String, ObjectMeta)>,
    at: OffsetDateTime,
) -> AssetRecord {
    let thumbnail_key = thumbnail.map(|(key, meta)| {
        let key = Text::from(key);
        db.insert_object(key.clone(), meta);
        key
    });
    // The stored type as sent, under its canonical name (`audio/x-wav` is `audio/wav`).
    let mime_type = canonical_mime(&object.content_type);
    let asset = AssetRecord {
        id: upload.id,
        folder_id: folder,
        name: upload.filename,
        r2_key: upload.object_key,
        asset_type: db.intern(&asset_type_of(&mime_type)),
        mime_type: db.intern(&mime_type),
        size_bytes: object.size_bytes,
        thumbnail_key,
        created_at: at,
        updated_at: at,
        deleted_at: None,
        deleted_by: None,
    };
    db.uploads.remove(&asset.id);
    db.assets.insert(asset.id, asset.clone());
    asset
}

/// Confirms an upload: checks, thumbnail outside the lock, then records the asset if nothing
/// changed meanwhile (a re-PUT or a concurrent confirm).
pub(crate) async fn confirm_upload(
    shared: &Arc<Shared>,
    id: Uuid,
    folder: Option<Uuid>,
) -> Result<AssetRecord, ApiError> {
    for _attempt in 0..3 {
        let at = now();
        let (upload, object) = match shared
            .store
            .read(|db| confirmable(shared, db, id, folder, at))?
        {
            Step::Record(upload, object) => (upload, object),
            Step::Again(asset) => return Ok(asset),
        };
        // With `--thumbnails none` no thumbnail is ever shown, so none is made.
        let thumbnail = if shared.thumbnails != ThumbnailPolicy::None
            && asset_type_of(&object.content_type) == "image"
        {
            thumbs::make_thumbnail(shared, id, &upload.object_key).await
        } else {
            None
        };
        let at = now();
        let recorded = shared.store.write(|db| {
            let (upload_now, object_now) = match confirmable(shared, db, id, folder, at)? {
                Step::Record(upload, object) => (upload, object),
                // A concurrent confirm recorded it meanwhile.
                Step::Again(asset) => return Ok(Some(asset)),
            };
            if object_now != object {
                return Ok(None);
            }
            Ok(Some(record_asset(
                db,
                upload_now,
                &object_now,
                folder,
                thumbnail,
                at,
            )))
        })?;
        if let Some(asset) = recorded {
            tracing::debug!(%id, name = %upload.filename, "upload confirmed");
            return Ok(asset);
        }
    }
    Err(ApiError::conflict(
        "UPLOAD_CHANGED",
        "The object kept changing while being confirmed; retry the confirmation",
    ))
}

/// Status recorded in the request log for an answer lost on purpose (nginx's "client closed").
const CUT_STATUS: u16 = 499;

/// `POST /v1/asset-uploads/{id}/confirmations`.
pub(crate) async fn confirm(
    State(shared): State<Arc<Shared>>,
    ConnectInfo(conn): ConnectInfo<AbortHandle>,
    PathParam(raw_id): PathParam,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    let request: ConfirmUploadRequest = match json_object(&headers, body).await? {
        Some(body) => typed_body(body, CONFIRM_FIELDS)?,
        None => ConfirmUploadRequest::default(),
    };
    let folder = folder_ref("folder_id", request.folder_id.as_deref())?;
    let id = parse_id(&raw_id).ok_or_else(upload_not_found)?;
    let asset = confirm_upload(&shared, id, folder).await?;
    if shared.faults.drop_this_confirm_response() {
        // Nothing has been written yet: hyper writes the head only after the handler returns,
        // and from now on every write to this connection fails, so the client sees a reset.
        conn.abort();
        tracing::info!(%id, "confirmed, then cut the connection unanswered (fault injection)");
        return Ok(StatusCode::from_u16(CUT_STATUS)
            .unwrap_or(StatusCode::BAD_REQUEST)
            .into_response());
    }
    Ok((
        shared.variants.created(),
        Json::<Asset>(render_asset(&shared, &asset, now(), false)),
    )
        .into_response())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_keep_names_but_not_paths() {
        let id = Uuid::nil();
        assert!(upload_key(id, "a b.png").ends_with("/a b.png"));
        assert!(upload_key(id, "../../etc/passwd").ends_with("/.._.._etc_passwd"));
        assert!(upload_key(id, "..").ends_with(&format!("{id}/_")));
        assert!(upload_key(id, "x\ny").ends_with("/x_y"));
    }

    #[test]
    fn asset_types_come_from_the_mime_prefix() {
        assert_eq!(asset_type_of("image/png"), "image");
        assert_eq!(asset_type_of("Video/MP4"), "video");
        assert_eq!(asset_type_of("audio/wav"), "audio");
    }
}
