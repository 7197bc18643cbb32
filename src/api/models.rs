//! Wire types of the Runflow API (`runflow-api.md` sections 2-4).
//!
//! The client side is lenient: every Asset field is optional, unknown fields are ignored and ids
//! are opaque strings, so a newer server never breaks an older app. The emulator serialises the
//! same types, filling every field it knows.

use serde::{Deserialize, Serialize};

/// Largest file the asset-upload API accepts: 50 MiB.
pub const MAX_UPLOAD_BYTES: u64 = 52_428_800;

/// `POST /v1/asset-uploads` request body.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CreateUploadRequest {
    /// Original file name, 1..=500 characters.
    pub filename: String,
    /// Declared MIME type; the PUT must send it as `Content-Type`.
    pub mime_type: String,
    /// Exact byte size of the file, 1..=[`MAX_UPLOAD_BYTES`].
    pub size_bytes: u64,
}

/// `POST /v1/asset-uploads` response: where to PUT the bytes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UploadSession {
    /// Id of the upload, and of the asset once confirmed.
    pub asset_id: String,
    /// Presigned storage URL, used verbatim and without credentials.
    pub upload_url: String,
}

/// `POST /v1/asset-uploads/{id}/confirmations` request body.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConfirmUploadRequest {
    /// Folder to file the asset under; `None` is the root.
    pub folder_id: Option<String>,
}

/// An asset record (section 3). Every property is nullable in the spec.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct Asset {
    /// Asset id (the upload's `asset_id`).
    pub id: Option<String>,
    /// Owning organisation.
    pub org_id: Option<String>,
    /// Folder holding the asset; `None` is the root.
    pub folder_id: Option<String>,
    /// Original file name.
    pub name: Option<String>,
    /// Storage object key.
    pub r2_key: Option<String>,
    /// Short-lived signed download URL, re-signed on every read.
    pub url: Option<String>,
    /// Short-lived signed preview URL, if the server made one.
    pub thumbnail_url: Option<String>,
    /// MIME type as stored.
    pub mime_type: Option<String>,
    /// Size as stored.
    pub size_bytes: Option<u64>,
    /// `image`, `video` or `audio`.
    pub asset_type: Option<String>,
    /// Where the asset came from (`upload` for presigned uploads).
    pub source_type: Option<String>,
    /// Id in the source system.
    pub source_id: Option<String>,
    /// User who created the asset.
    pub created_by: Option<String>,
    /// RFC 3339 creation time.
    pub created_at: Option<String>,
    /// RFC 3339 last update time.
    pub updated_at: Option<String>,
    /// RFC 3339 soft-delete time.
    pub deleted_at: Option<String>,
    /// User who deleted the asset.
    pub deleted_by: Option<String>,
    /// Only with `embed=created_by_user`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub created_by_user: Option<UserSummary>,
}

/// The short user record embedded in assets.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct UserSummary {
    /// User id.
    pub id: Option<String>,
    /// Email address.
    pub email: Option<String>,
    /// Given name.
    pub first_name: Option<String>,
    /// Family name.
    pub last_name: Option<String>,
    /// Avatar image URL.
    pub avatar_url: Option<String>,
}

/// An asset folder (section 4.9).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct Folder {
    /// Folder id.
    pub id: Option<String>,
    /// Owning organisation.
    pub org_id: Option<String>,
    /// Parent folder; `None` is the root.
    pub parent_id: Option<String>,
    /// Display name, unique among siblings.
    pub name: Option<String>,
    /// User who created the folder.
    pub created_by: Option<String>,
    /// RFC 3339 creation time.
    pub created_at: Option<String>,
    /// RFC 3339 last update time.
    pub updated_at: Option<String>,
    /// RFC 3339 soft-delete time.
    pub deleted_at: Option<String>,
}

/// `POST /v1/asset-folders` request body.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CreateFolderRequest {
    /// Folder name, 1..=255 characters.
    pub name: String,
    /// Parent folder; `None` is the root.
    pub parent_id: Option<String>,
}

/// `PATCH` body for assets and folders: only the fields present are changed.
///
/// `Some(None)` in a `folder_id`/`parent_id` means "move to the root", which is why those are
/// double options.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PatchRequest {
    /// New name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// New folder of an asset.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        with = "double_option"
    )]
    pub folder_id: Option<Option<String>>,
    /// New parent of a folder.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        with = "double_option"
    )]
    pub parent_id: Option<Option<String>>,
}

/// One entry of `GET /v1/assets/types`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct AssetType {
    /// `image`, `video` or `audio`.
    pub name: String,
    /// MIME types accepted for this asset type.
    pub mime_types: Vec<String>,
}

/// `GET /v1/assets/types` in any shape it plausibly comes in (its shape is undocumented): a bare
/// array, or a page `{items: [...]}` (which may have a next page); each entry a type record or
/// a bare MIME type string.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(untagged)]
pub enum AssetTypeList {
    /// `[...]`.
    Bare(Vec<AssetTypeEntry>),
    /// `{items: [...], next: ...}`.
    Page(Page<AssetTypeEntry>),
}

/// One entry of an [`AssetTypeList`].
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(untagged)]
pub enum AssetTypeEntry {
    /// `"image/png"`.
    Mime(String),
    /// `{name, mime_types}`.
    Type(AssetType),
}

impl AssetTypeList {
    /// The cursor of the next page, for a page that has one.
    pub fn next_cursor(&self) -> Option<&str> {
        match self {
            Self::Bare(_) => None,
            Self::Page(page) => page.next_cursor(),
        }
    }

    /// The types listed. Bare MIME strings are grouped by their prefix (`image/png` is an
    /// `image`), after the records in the order met.
    pub fn into_types(self) -> Vec<AssetType> {
        let entries = match self {
            Self::Bare(entries) => entries,
            Self::Page(page) => page.items,
        };
        let mut types = Vec::new();
        let mut loose: Vec<AssetType> = Vec::new();
        for entry in entries {
            match entry {
                AssetTypeEntry::Type(record) => types.push(record),
                AssetTypeEntry::Mime(mime) => {
                    let name = mime.split('/').next().unwrap_or_default().to_owned();
                    match loose.iter_mut().find(|t| t.name == name) {
                        Some(group) => group.mime_types.push(mime),
                        None => loose.push(AssetType {
                            name,
                            mime_types: vec![mime],
                        }),
                    }
                }
            }
        }
        types.extend(loose);
        types
    }
}

/// A page of a list endpoint. Reads both documented cursor spellings.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(bound(deserialize = "T: Deserialize<'de>"))]
pub struct Page<T> {
    /// The items of this page.
    #[serde(default = "Vec::new")]
    pub items: Vec<T>,
    /// Cursor of the first page.
    #[serde(default)]
    pub first: Option<String>,
    /// Cursor of the next page (OpenAPI spelling).
    #[serde(default)]
    pub next: Option<String>,
    /// Cursor of the previous page (OpenAPI spelling).
    #[serde(default)]
    pub previous: Option<String>,
    /// Cursor of the next page (prose spelling).
    #[serde(default)]
    pub next_pq: Option<String>,
    /// Cursor of the previous page (prose spelling).
    #[serde(default)]
    pub prev_pq: Option<String>,
}

impl<T> Page<T> {
    /// The cursor to pass as `pq` for the next page; `None` on the last page.
    pub fn next_cursor(&self) -> Option<&str> {
        [&self.next, &self.next_pq]
            .into_iter()
            .flatten()
            .map(String::as_str)
            .find(|cursor| !cursor.is_empty())
    }

    /// The cursor to pass as `pq` with `from_prev=true` for the previous page.
    pub fn previous_cursor(&self) -> Option<&str> {
        [&self.previous, &self.prev_pq]
            .into_iter()
            .flatten()
            .map(String::as_str)
            .find(|cursor| !cursor.is_empty())
    }
}

/// `GET /v1/auth/me` response (only what the app shows).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct CurrentUser {
    /// User id.
    pub id: Option<String>,
    /// Email address.
    pub email: Option<String>,
    /// Given name.
    pub first_name: Option<String>,
    /// Family name.
    pub last_name: Option<String>,
    /// Organisations the user belongs to.
    pub memberships: Vec<Membership>,
}

/// One organisation membership of the current user.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct Membership {
    /// The organisation.
    pub org: Option<Organization>,
    /// Role in the organisation.
    pub role_code: Option<String>,
    /// Scopes the key carries, `resource:action`.
    pub scopes: Vec<String>,
}

/// An organisation.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct Organization {
    /// Organisation id.
    pub id: Option<String>,
    /// Display name.
    pub name: Option<String>,
    /// URL slug.
    pub slug: Option<String>,
    /// Billing plan.
    pub plan_code: Option<String>,
}

/// `GET /v1/health` response; both documented spellings.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct Health {
    /// `"ok"` when healthy.
    pub status: Option<String>,
    /// `true` when healthy.
    pub ok: Option<bool>,
}

impl Health {
    /// Whether either spelling reports a healthy service.
    pub fn is_ok(&self) -> bool {
        self.ok == Some(true) || self.status.as_deref() == Some("ok")
    }
}

/// The documented error envelope: flat `{code, message, errors}`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorBody {
    /// Stable machine-readable code, e.g. `UNAUTHORIZED`.
    pub code: String,
    /// Human-readable message (may change).
    pub message: String,
    /// Field details on validation errors.
    #[serde(default)]
    pub errors: Option<Vec<FieldError>>,
}

/// One field problem of a validation error (`{loc, msg, type}`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct FieldError {
    /// Path to the field, e.g. `["body", "size_bytes"]`.
    pub loc: Vec<serde_json::Value>,
    /// What is wrong with it.
    pub msg: String,
    /// Machine-readable kind.
    #[serde(rename = "type")]
    pub kind: String,
}

impl FieldError {
    /// The field path as `body.size_bytes`.
    pub fn field(&self) -> String {
        self.loc
            .iter()
            .map(|part| match part {
                serde_json::Value::String(s) => s.clone(),
                other => other.to_string(),
            })
            .collect::<Vec<_>>()
            .join(".")
    }
}

/// Serde helper for `Option<Option<T>>`: absent = `None`, `null` = `Some(None)`.
mod double_option {
    use serde::{Deserialize, Deserializer, Serialize, Serializer};

    pub fn serialize<S, T>(value: &Option<Option<T>>, serializer: S) -> Result<S::Ok, S::Error>
    where
        S: Serializer,
        T: Serialize,
    {
        match value {
            Some(inner) => inner.serialize(serializer),
            None => serializer.serialize_none(),
        }
    }

    pub fn deserialize<'de, D, T>(deserializer: D) -> Result<Option<Option<T>>, D::Error>
    where
        D: Deserializer<'de>,
        T: Deserialize<'de>,
    {
        Option::<T>::deserialize(deserializer).map(Some)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn asset_tolerates_nulls_missing_and_unknown_fields() {
        let asset: Asset = serde_json::from_str(
            r#"{"id":"01J0ABC","name":null,"size_bytes":12,"brand_new_field":{"x":1}}"#,
        )
        .unwrap();
        assert_eq!(asset.id.as_deref(), Some("01J0ABC"));
        assert_eq!(asset.name, None);
        assert_eq!(asset.size_bytes, Some(12));
        assert_eq!(asset.thumbnail_url, None);
    }

    #[test]
    fn page_reads_either_cursor_spelling() {
        let openapi: Page<Asset> =
            serde_json::from_str(r#"{"items":[{"id":"a"}],"next":"c1"}"#).unwrap();
        assert_eq!(openapi.next_cursor(), Some("c1"));
        let prose: Page<Asset> =
            serde_json::from_str(r#"{"items":[],"next":null,"next_pq":"c2","prev_pq":"p"}"#)
                .unwrap();
        assert_eq!(prose.next_cursor(), Some("c2"));
        assert_eq!(prose.previous_cursor(), Some("p"));
        let last: Page<Asset> = serde_json::from_str(r#"{"items":[]}"#).unwrap();
        assert_eq!(last.next_cursor(), None);
    }

    #[test]
    fn asset_type_lists_come_in_several_shapes() {
        let parse = |json: &str| {
            serde_json::from_str::<AssetTypeList>(json)
                .map(AssetTypeList::into_types)
                .map_err(|e| e.to_string())
        };
        let image = AssetType {
            name: "image".into(),
            mime_types: vec!["image/png".into()],
        };
        let record = r#"{"name":"image","mime_types":["image/png"]}"#;
        assert_eq!(
            parse(&format!(r#"{{"items":[{record}],"next":null}}"#)),
            Ok(vec![image.clone()])
        );
        assert_eq!(parse(&format!("[{record}]")), Ok(vec![image.clone()]));
        assert_eq!(
            parse(r#"["image/png","video/mp4","image/webp"]"#).unwrap(),
            vec![
                AssetType {
                    name: "image".into(),
                    mime_types: vec!["image/png".into(), "image/webp".into()],
                },
                AssetType {
                    name: "video".into(),
                    mime_types: vec!["video/mp4".into()],
                },
            ]
        );
        assert_eq!(parse("[]"), Ok(vec![]));
        assert_eq!(parse(r#"{"items":[]}"#), Ok(vec![]));
        assert!(parse(r#""image/png""#).is_err());
        assert!(parse("42").is_err());
        let paged: AssetTypeList =
            serde_json::from_str(&format!(r#"{{"items":[{record}],"next_pq":"c2"}}"#)).unwrap();
        assert_eq!(paged.next_cursor(), Some("c2"));
    }

    #[test]
    fn patch_distinguishes_absent_from_null() {
        let move_to_root = PatchRequest {
            folder_id: Some(None),
            ..PatchRequest::default()
        };
        assert_eq!(
            serde_json::to_string(&move_to_root).unwrap(),
            r#"{"folder_id":null}"#
        );
        let rename = PatchRequest {
            name: Some("x".into()),
            ..PatchRequest::default()
        };
        assert_eq!(serde_json::to_string(&rename).unwrap(), r#"{"name":"x"}"#);
        let parsed: PatchRequest = serde_json::from_str(r#"{"parent_id":null}"#).unwrap();
        assert_eq!(parsed.parent_id, Some(None));
        assert_eq!(parsed.folder_id, None);
    }

    #[test]
    fn health_accepts_both_spellings() {
        let a: Health = serde_json::from_str(r#"{"status":"ok"}"#).unwrap();
        let b: Health = serde_json::from_str(r#"{"ok":true}"#).unwrap();
        let c: Health = serde_json::from_str(r#"{"status":"degraded","ok":false}"#).unwrap();
        assert!(a.is_ok() && b.is_ok() && !c.is_ok());
    }

    #[test]
    fn field_error_path_is_dotted() {
        let e: FieldError =
            serde_json::from_str(r#"{"loc":["body","items",3],"msg":"bad","type":"x"}"#).unwrap();
        assert_eq!(e.field(), "body.items.3");
    }
}
