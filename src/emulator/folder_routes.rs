//! `/v1/asset-folders`: a tree of folders with names unique among siblings; no cascading
//! deletes (a folder holding live assets or folders answers 409).

use std::sync::Arc;

use axum::Json;
use axum::body::Body;
use axum::extract::{RawQuery, State};
use axum::http::{HeaderMap, StatusCode};
use uuid::Uuid;

use super::Shared;
use super::asset_routes::rfc3339;
use super::errors::ApiError;
use super::identity::{ORG_ID, USER_ID};
use super::paging;
use super::query::{FieldKind, FieldValue, Record};
use super::request::{
    Expect, PathParam, QueryParams, check_length, folder_ref, json_object, parse_id, typed_body,
};
use super::state::{Db, FolderRecord, now};
use crate::api::models::{CreateFolderRequest, Folder, PatchRequest};

const CREATE_FIELDS: &[(&str, Expect, bool)] = &[
    ("name", Expect::Str, true),
    ("parent_id", Expect::NullableStr, false),
];
const PATCH_FIELDS: &[(&str, Expect, bool)] = &[
    ("name", Expect::Str, false),
    ("parent_id", Expect::NullableStr, false),
];
const MAX_NAME_CHARS: usize = 255;

impl Record for FolderRecord {
    const FIELDS: &'static [(&'static str, FieldKind, bool)] = &[
        ("id", FieldKind::Id, true),
        ("parent_id", FieldKind::Id, false),
        ("name", FieldKind::Text, true),
        ("created_at", FieldKind::Time, true),
        ("updated_at", FieldKind::Time, true),
    ];

    fn id(&self) -> Uuid {
        self.id
    }

    fn field(&self, name: &str) -> FieldValue {
        match name {
            "id" => FieldValue::id(Some(self.id)),
            "parent_id" => FieldValue::id(self.parent_id),
            "name" => FieldValue::Text(self.name.clone()),
            "created_at" => FieldValue::time(self.created_at),
            "updated_at" => FieldValue::time(self.updated_at),
            _ => FieldValue::Null,
        }
    }
}

/// The wire folder.
pub(crate) fn render_folder(folder: &FolderRecord) -> Folder {
    Folder {
        id: Some(folder.id.to_string()),
        org_id: Some(ORG_ID.to_owned()),
        parent_id: folder.parent_id.map(|id| id.to_string()),
        name: Some(folder.name.clone()),
        created_by: Some(USER_ID.to_owned()),
        created_at: Some(rfc3339(folder.created_at)),
        updated_at: Some(rfc3339(folder.updated_at)),
        deleted_at: folder.deleted_at.map(rfc3339),
    }
}

fn folder_not_found() -> ApiError {
    ApiError::not_found("FOLDER_NOT_FOUND", "Folder not found")
}

fn name_conflict(name: &str) -> ApiError {
    ApiError::conflict(
        "FOLDER_NAME_CONFLICT",
        format!("A folder named `{name}` already exists there"),
    )
}

fn parent_not_found() -> ApiError {
    ApiError::invalid(
        &["body", "parent_id"],
        "Parent folder not found",
        "not_found",
    )
}

/// Inserts a folder after the checks; shared with the demo seeder.
pub(crate) fn insert_folder(
    db: &mut Db,
    name: &str,
    parent: Option<Uuid>,
) -> Result<FolderRecord, ApiError> {
    if let Some(parent) = parent
        && db.live_folder(parent).is_none()
    {
        return Err(parent_not_found());
    }
    if db.folder_name_taken(parent, name, None) {
        return Err(name_conflict(name));
    }
    let at = now();
    let folder = FolderRecord {
        id: Uuid::new_v4(),
        parent_id: parent,
        name: name.to_owned(),
        created_at: at,
        updated_at: at,
        deleted_at: None,
    };
    db.folders.insert(folder.id, folder.clone());
    Ok(folder)
}

/// `GET /v1/asset-folders`.
pub(crate) async fn list(
    State(shared): State<Arc<Shared>>,
    RawQuery(raw): RawQuery,
) -> Result<Json<serde_json::Value>, ApiError> {
    let params = QueryParams::parse(raw.as_deref());
    let fields = params.list("fields");
    let page = shared.store.read(|db| {
        let live = db.folders.values().filter(|f| f.deleted_at.is_none());
        paging::list("asset-folders", &params, live, &shared.signer)
            .map(|listing| listing.into_page(render_folder))
    })?;
    paging::projected_body(page, &fields, shared.variants.pagination)
}

/// `POST /v1/asset-folders`.
pub(crate) async fn create(
    State(shared): State<Arc<Shared>>,
    headers: HeaderMap,
    body: Body,
) -> Result<(StatusCode, Json<Folder>), ApiError> {
    let body = json_object(&headers, body)
        .await?
        .ok_or_else(|| ApiError::invalid(&["body"], "Field required", "missing"))?;
    let request: CreateFolderRequest = typed_body(body, CREATE_FIELDS)?;
    let mut errors = Vec::new();
    check_length(&mut errors, "name", &request.name, MAX_NAME_CHARS);
    if !errors.is_empty() {
        return Err(ApiError::validation(errors));
    }
    let parent = folder_ref("parent_id", request.parent_id.as_deref())?;
    let folder = shared
        .store
        .write(|db| insert_folder(db, &request.name, parent))?;
    Ok((shared.variants.created(), Json(render_folder(&folder))))
}

/// `GET /v1/asset-folders/{id}`.
pub(crate) async fn get_one(
    State(shared): State<Arc<Shared>>,
    PathParam(raw_id): PathParam,
) -> Result<Json<Folder>, ApiError> {
    let id = parse_id(&raw_id).ok_or_else(folder_not_found)?;
    shared
        .store
        .read(|db| db.live_folder(id).map(render_folder))
        .map(Json)
        .ok_or_else(folder_not_found)
}

/// `PATCH /v1/asset-folders/{id}`: `{name?, parent_id?}`; moving into itself or a descendant is
/// a 422.
pub(crate) async fn patch(
    State(shared): State<Arc<Shared>>,
    PathParam(raw_id): PathParam,
    headers: HeaderMap,
    body: Body,
) -> Result<Json<Folder>, ApiError> {
    let request: PatchRequest = match json_object(&headers, body).await? {
        Some(body) => typed_body(body, PATCH_FIELDS)?,
        None => PatchRequest::default(),
    };
    let mut errors = Vec::new();
    if let Some(name) = &request.name {
        check_length(&mut errors, "name", name, MAX_NAME_CHARS);
    }
    if !errors.is_empty() {
        return Err(ApiError::validation(errors));
    }
    let new_parent = match &request.parent_id {
        None => None,
        Some(parent) => Some(folder_ref("parent_id", parent.as_deref())?),
    };
    let id = parse_id(&raw_id).ok_or_else(folder_not_found)?;
    let at = now();
    let folder = shared.store.write(|db| {
        let current = db.live_folder(id).ok_or_else(folder_not_found)?.clone();
        let parent = new_parent.unwrap_or(current.parent_id);
        if let Some(parent) = parent {
            if db.live_folder(parent).is_none() {
                return Err(parent_not_found());
            }
            if db.is_same_or_descendant(parent, id) {
                return Err(ApiError::invalid(
                    &["body", "parent_id"],
                    "A folder cannot be moved into itself or one of its descendants",
                    "cycle",
                ));
            }
        }
        let name = request.name.clone().unwrap_or_else(|| current.name.clone());
        if db.folder_name_taken(parent, &name, Some(id)) {
            return Err(name_conflict(&name));
        }
        let folder = db.folders.get_mut(&id).ok_or_else(folder_not_found)?;
        if folder.name != name || folder.parent_id != parent {
            folder.name = name;
            folder.parent_id = parent;
            folder.updated_at = at;
        }
        Ok(folder.clone())
    })?;
    Ok(Json(render_folder(&folder)))
}

/// `DELETE /v1/asset-folders/{id}`: only empty folders.
pub(crate) async fn delete(
    State(shared): State<Arc<Shared>>,
    PathParam(raw_id): PathParam,
) -> Result<StatusCode, ApiError> {
    let id = parse_id(&raw_id).ok_or_else(folder_not_found)?;
    let at = now();
    shared.store.write(|db| {
        db.live_folder(id).ok_or_else(folder_not_found)?;
        if db.folder_has_children(id) {
            return Err(ApiError::conflict(
                "FOLDER_NOT_EMPTY",
                "The folder still holds assets or folders; move or delete them first",
            ));
        }
        let folder = db.folders.get_mut(&id).ok_or_else(folder_not_found)?;
        folder.deleted_at = Some(at);
        folder.updated_at = at;
        Ok(StatusCode::NO_CONTENT)
    })
}
