//! Reading requests without axum's plain-text rejections: path ids, JSON bodies (with per-field
//! `{loc, msg, type}` errors) and query strings all fail as the JSON envelope.

use axum::body::Body;
use axum::extract::{FromRequestParts, Path};
use axum::http::request::Parts;
use axum::http::{HeaderMap, StatusCode, header};
use serde::de::DeserializeOwned;
use serde_json::{Map, Value};
use uuid::Uuid;

use super::errors::{ApiError, field_error};
use crate::api::models::FieldError;

/// Largest JSON body the API reads.
const MAX_JSON_BODY_BYTES: usize = 1024 * 1024;

/// The single `{id}`-style path parameter, as text.
pub(crate) struct PathParam(pub String);

impl<S: Send + Sync> FromRequestParts<S> for PathParam {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        Path::<String>::from_request_parts(parts, state)
            .await
            .map(|Path(value)| Self(value))
            .map_err(|rejection| ApiError::bad_request(format!("Bad path: {rejection}")))
    }
}

/// Parses an id; ids are UUIDs, anything else names nothing.
pub(crate) fn parse_id(raw: &str) -> Option<Uuid> {
    Uuid::parse_str(raw).ok()
}

/// Reads a JSON object body. `Ok(None)` for an empty body (optional bodies).
pub(crate) async fn json_object(
    headers: &HeaderMap,
    body: Body,
) -> Result<Option<Map<String, Value>>, ApiError> {
    let bytes = axum::body::to_bytes(body, MAX_JSON_BODY_BYTES)
        .await
        .map_err(|_| {
            ApiError::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                "PAYLOAD_TOO_LARGE",
                format!("Request body larger than {MAX_JSON_BODY_BYTES} bytes"),
            )
        })?;
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Ok(None);
    }
    if let Some(content_type) = headers.get(header::CONTENT_TYPE) {
        let content_type = content_type
            .to_str()
            .unwrap_or_default()
            .to_ascii_lowercase();
        let essence = content_type.split(';').next().unwrap_or_default().trim();
        if essence != "application/json" && !essence.ends_with("+json") {
            return Err(ApiError::bad_request(format!(
                "Content-Type must be application/json, got `{essence}`"
            )));
        }
    }
    let value: Value = serde_json::from_slice(&bytes)
        .map_err(|err| ApiError::bad_request(format!("Malformed JSON body: {err}")))?;
    match value {
        Value::Object(map) => Ok(Some(map)),
        _ => Err(ApiError::invalid(
            &["body"],
            "Input should be a JSON object",
            "model_type",
        )),
    }
}

/// The JSON type a body field must have.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Expect {
    /// A string.
    Str,
    /// A string or `null`.
    NullableStr,
    /// A non-negative integer.
    UInt,
}

/// Checks presence and JSON types of body fields, then deserialises the wire model.
pub(crate) fn typed_body<T: DeserializeOwned>(
    body: Map<String, Value>,
    fields: &[(&str, Expect, bool)],
) -> Result<T, ApiError> {
    let mut errors: Vec<FieldError> = Vec::new();
    for &(name, expect, required) in fields {
        let loc = ["body", name];
        match (body.get(name), expect) {
            (None, _) if required => {
                errors.push(field_error(&loc, "Field required", "missing"));
            }
            (None, _) | (Some(Value::String(_)), Expect::Str | Expect::NullableStr) => {}
            (Some(Value::Null), Expect::NullableStr) => {}
            (Some(Value::Number(n)), Expect::UInt) if n.is_u64() => {}
            (Some(Value::Number(n)), Expect::UInt) if n.is_i64() => {
                errors.push(field_error(
                    &loc,
                    "Input should be greater than or equal to 1",
                    "greater_than_equal",
                ));
            }
            (Some(_), Expect::UInt) => {
                errors.push(field_error(
                    &loc,
                    "Input should be a valid integer",
                    "int_type",
                ));
            }
            (Some(_), Expect::Str | Expect::NullableStr) => {
                errors.push(field_error(
                    &loc,
                    "Input should be a valid string",
                    "string_type",
                ));
            }
        }
    }
    if !errors.is_empty() {
        return Err(ApiError::validation(errors));
    }
    serde_json::from_value(Value::Object(body))
        .map_err(|err| ApiError::invalid(&["body"], err.to_string(), "value_error"))
}

/// Checks a string's length in characters.
pub(crate) fn check_length(
    errors: &mut Vec<FieldError>,
    field: &str,
    value: &str,
    max_chars: usize,
) {
    let chars = value.chars().count();
    if chars == 0 {
        errors.push(field_error(
            &["body", field],
            "String should have at least 1 character",
            "string_too_short",
        ));
    } else if chars > max_chars {
        errors.push(field_error(
            &["body", field],
            format!("String should have at most {max_chars} characters"),
            "string_too_long",
        ));
    }
}

/// Parses an optional folder reference from a body field: `Ok(None)` is the root.
pub(crate) fn folder_ref(field: &str, value: Option<&str>) -> Result<Option<Uuid>, ApiError> {
    match value {
        None => Ok(None),
        Some(raw) => parse_id(raw).map(Some).ok_or_else(|| {
            ApiError::invalid(
                &["body", field],
                "Input should be a valid UUID",
                "uuid_parsing",
            )
        }),
    }
}

/// Decoded query parameters in order.
pub(crate) struct QueryParams(Vec<(String, String)>);

impl QueryParams {
    /// Parses `a=1&b=2` (percent and `+` decoding).
    pub fn parse(raw: Option<&str>) -> Self {
        Self(
            url::form_urlencoded::parse(raw.unwrap_or_default().as_bytes())
                .map(|(k, v)| (k.into_owned(), v.into_owned()))
                .collect(),
        )
    }

    /// The last value of a parameter (empty values count as absent).
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .rev()
            .find(|(k, v)| k == name && !v.is_empty())
            .map(|(_, v)| v.as_str())
    }

    /// A comma list parameter, trimmed, empty entries dropped.
    pub fn list(&self, name: &str) -> Vec<String> {
        self.get(name)
            .map(|v| {
                v.split(',')
                    .map(str::trim)
                    .filter(|s| !s.is_empty())
                    .map(str::to_owned)
                    .collect()
            })
            .unwrap_or_default()
    }

    /// A boolean parameter (`true/false/1/0`); anything else is a 422.
    pub fn flag(&self, name: &str) -> Result<bool, ApiError> {
        match self.get(name).map(str::to_ascii_lowercase).as_deref() {
            None | Some("false" | "0" | "no") => Ok(false),
            Some("true" | "1" | "yes") => Ok(true),
            Some(_) => Err(ApiError::invalid(
                &["query", name],
                "Input should be a valid boolean",
                "bool_parsing",
            )),
        }
    }

    /// The `embed` list, checked against what the endpoint supports.
    pub fn embeds(&self, supported: &[&str]) -> Result<Vec<String>, ApiError> {
        let embeds = self.list("embed");
        match embeds.iter().find(|e| !supported.contains(&e.as_str())) {
            Some(unknown) => Err(ApiError::invalid(
                &["query", "embed"],
                format!(
                    "Unknown embed `{unknown}`; supported: {}",
                    supported.join(", ")
                ),
                "enum",
            )),
            None => Ok(embeds),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::models::CreateUploadRequest;

    const CREATE: &[(&str, Expect, bool)] = &[
        ("filename", Expect::Str, true),
        ("mime_type", Expect::Str, true),
        ("size_bytes", Expect::UInt, true),
    ];

    fn body(json: &str) -> Map<String, Value> {
        match serde_json::from_str(json).unwrap() {
            Value::Object(map) => map,
            _ => unreachable!(),
        }
    }

    #[test]
    fn typed_body_reports_each_bad_field() {
        let err =
            typed_body::<CreateUploadRequest>(body(r#"{"filename": 3, "size_bytes": -1}"#), CREATE)
                .unwrap_err();
        let fields: Vec<String> = err.errors.unwrap().iter().map(|e| e.field()).collect();
        assert_eq!(
            fields,
            ["body.filename", "body.mime_type", "body.size_bytes"]
        );
        let ok: CreateUploadRequest = typed_body(
            body(r#"{"filename":"a.png","mime_type":"image/png","size_bytes":3,"x":1}"#),
            CREATE,
        )
        .unwrap();
        assert_eq!(ok.size_bytes, 3);
    }

    #[test]
    fn query_params_decode_and_validate() {
        let q = QueryParams::parse(Some("q=name%3A%22a+b%22&limit=5&limit=&from_prev=maybe"));
        assert_eq!(q.get("q"), Some("name:\"a b\""));
        assert_eq!(q.get("limit"), Some("5"));
        assert!(q.flag("from_prev").is_err());
        assert!(!q.flag("missing").unwrap());
    }
}
