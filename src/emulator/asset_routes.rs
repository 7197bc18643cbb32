//! `/v1/assets`: list, get, rename/move, soft delete. `url` and `thumbnail_url` are signed
//! afresh on every read.

use std::sync::Arc;

use axum::Json;
use axum::body::Body;
use axum::extract::{RawQuery, State};
use axum::http::{HeaderMap, StatusCode};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;
use uuid::Uuid;

use super::Shared;
use super::errors::ApiError;
use super::identity::{ORG_ID, USER_ID, user_summary};
use super::paging;
use super::query::{FieldKind, FieldValue, Record};
use super::request::{
    Expect, PathParam, QueryParams, check_length, folder_ref, json_object, parse_id, typed_body,
};
use super::state::{AssetRecord, now};
use crate::api::models::{Asset, PatchRequest};

const EMBEDS: &[&str] = &["created_by_user"];
const PATCH_FIELDS: &[(&str, Expect, bool)] = &[
    ("name", Expect::Str, false),
    ("folder_id", Expect::NullableStr, false),
];

impl Record for AssetRecord {
    const FIELDS: &'static [(&'static str, FieldKind, bool)] = &[
        ("id", FieldKind::Id, true),
        ("folder_id", FieldKind::Id, false),
        ("name", FieldKind::Text, true),
        ("asset_type", FieldKind::Text, true),
        ("mime_type", FieldKind::Text, true),
        ("source_type", FieldKind::Text, false),
        ("size_bytes", FieldKind::Int, true),
        ("created_at", FieldKind::Time, true),
        ("updated_at", FieldKind::Time, true),
    ];

    fn id(&self) -> Uuid {
        self.id
    }

    fn field(&self, name: &str) -> FieldValue {
        match name {
            "id" => FieldValue::id(Some(self.id)),
            "folder_id" => FieldValue::id(self.folder_id),
            "name" => FieldValue::Text(self.name.to_string()),
            "asset_type" => FieldValue::Text(self.asset_type.to_string()),
            "mime_type" => FieldValue::Text(self.mime_type.to_string()),
            "source_type" => FieldValue::Text("upload".to_owned()),
            "size_bytes" => FieldValue::Int(i64::try_from(self.size_bytes).unwrap_or(i64::MAX)),
            "created_at" => FieldValue::time(self.created_at),
            "updated_at" => FieldValue::time(self.updated_at),
            _ => FieldValue::Null,
        }
    }
}

/// RFC 3339 in UTC.
pub(crate) fn rfc3339(t: OffsetDateTime) -> String {
    t.to_offset(time::UtcOffset::UTC)
        .format(&Rfc3339)
        .unwrap_or_default()
}

/// The wire asset, with freshly signed `url` and `thumbnail_url`.
pub(crate) fn render_asset(
    shared: &Shared,
    asset: &AssetRecord,
    at: OffsetDateTime,
    embed_user: bool,
) -> Asset {
    let ttl_secs = shared.url_ttl.as_secs();
    let sign = |key: &str| {
        shared
            .signer
            .presign(&shared.storage_base, key, "GET", None, at, ttl_secs)
    };
    Asset {
        id: Some(asset.id.to_string()),
        org_id: Some(ORG_ID.to_owned()),
        folder_id: asset.folder_id.map(|id| id.to_string()),
        name: Some(asset.name.to_string()),
        r2_key: Some(asset.r2_key.to_string()),
        url: Some(sign(&asset.r2_key)),
        thumbnail_url: asset
            .thumbnail_key
            .as_deref()
            .filter(|_| shared.thumbnails.shows(asset.created_at, at))
            .map(sign),
        mime_type: Some(asset.mime_type.to_string()),
        size_bytes: Some(asset.size_bytes),
        asset_type: Some(asset.asset_type.to_string()),
        source_type: Some("upload".to_owned()),
        source_id: None,
        created_by: Some(USER_ID.to_owned()),
        created_at: Some(rfc3339(asset.created_at)),
        updated_at: Some(rfc3339(asset.updated_at)),
        deleted_at: asset.deleted_at.map(rfc3339),
        deleted_by: asset.deleted_by.map(|id| id.to_string()),
        created_by_user: embed_user.then(user_summary),
    }
}

fn asset_not_found() -> ApiError {
    ApiError::not_found("ASSET_NOT_FOUND", "Asset not found")
}

fn internal(err: &serde_json::Error) -> ApiError {
    ApiError::new(
        StatusCode::INTERNAL_SERVER_ERROR,
        "INTERNAL_ERROR",
        err.to_string(),
    )
}

/// `GET /v1/assets`.
pub(crate) async fn list(
    State(shared): State<Arc<Shared>>,
    RawQuery(raw): RawQuery,
) -> Result<Json<serde_json::Value>, ApiError> {
    let params = QueryParams::parse(raw.as_deref());
    let embed_user = !params.embeds(EMBEDS)?.is_empty();
    let fields = params.list("fields");
    let at = now();
    let page = shared.store.read(|db| {
        let live = db.assets.values().filter(|a| a.deleted_at.is_none());
        paging::list("assets", &params, live, &shared.signer)
            .map(|listing| listing.into_page(|asset| render_asset(&shared, asset, at, embed_user)))
    })?;
    paging::projected_body(page, &fields, shared.variants.pagination)
}

/// `GET /v1/assets/{id}`.
pub(crate) async fn get_one(
    State(shared): State<Arc<Shared>>,
    PathParam(raw_id): PathParam,
    RawQuery(raw): RawQuery,
) -> Result<Json<serde_json::Value>, ApiError> {
    let params = QueryParams::parse(raw.as_deref());
    let embed_user = !params.embeds(EMBEDS)?.is_empty();
    let id = parse_id(&raw_id).ok_or_else(asset_not_found)?;
    let asset = shared
        .store
        .read(|db| db.live_asset(id).cloned())
        .ok_or_else(asset_not_found)?;
    let value = serde_json::to_value(render_asset(&shared, &asset, now(), embed_user))
        .map_err(|err| internal(&err))?;
    Ok(Json(paging::project(value, &params.list("fields"))?))
}

/// `DELETE /v1/assets/{id}`: soft delete.
pub(crate) async fn delete(
    State(shared): State<Arc<Shared>>,
    PathParam(raw_id): PathParam,
) -> Result<StatusCode, ApiError> {
    let id = parse_id(&raw_id).ok_or_else(asset_not_found)?;
    let at = now();
    shared.store.write(|db| {
        let asset = db
            .assets
            .get_mut(&id)
            .filter(|a| a.deleted_at.is_none())
            .ok_or_else(asset_not_found)?;
        asset.deleted_at = Some(at);
        asset.deleted_by = Uuid::parse_str(USER_ID).ok();
        asset.updated_at = at;
        Ok(StatusCode::NO_CONTENT)
    })
}

/// `PATCH /v1/assets/{id}`: `{name?, folder_id?}` (null folder = root).
pub(crate) async fn patch(
    State(shared): State<Arc<Shared>>,
    PathParam(raw_id): PathParam,
    headers: HeaderMap,
    body: Body,
) -> Result<Json<Asset>, ApiError> {
    let request: PatchRequest = match json_object(&headers, body).await? {
        Some(body) => typed_body(body, PATCH_FIELDS)?,
        None => PatchRequest::default(),
    };
    let mut errors = Vec::new();
    if let Some(name) = &request.name {
        check_length(&mut errors, "name", name, 500);
    }
    if !errors.is_empty() {
        return Err(ApiError::validation(errors));
    }
    let folder = match &request.folder_id {
        None => None,
        Some(folder) => Some(folder_ref("folder_id", folder.as_deref())?),
    };
    let id = parse_id(&raw_id).ok_or_else(asset_not_found)?;
    let at = now();
    let asset = shared.store.write(|db| {
        if db.live_asset(id).is_none() {
            return Err(asset_not_found());
        }
        if let Some(Some(folder)) = folder
            && db.live_folder(folder).is_none()
        {
            return Err(ApiError::invalid(
                &["body", "folder_id"],
                "Folder not found",
                "not_found",
            ));
        }
        let asset = db.assets.get_mut(&id).ok_or_else(asset_not_found)?;
        let mut changed = false;
        if let Some(name) = &request.name
            && **name != *asset.name
        {
            asset.name = name.as_str().into();
            changed = true;
        }
        if let Some(folder) = folder
            && folder != asset.folder_id
        {
            asset.folder_id = folder;
            changed = true;
        }
        if changed {
            asset.updated_at = at;
        }
        Ok(asset.clone())
    })?;
    Ok(Json(render_asset(&shared, &asset, at, false)))
}
