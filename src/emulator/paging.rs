//! List mechanics shared by `GET /v1/assets` and `GET /v1/asset-folders`: `sort_by`, `limit`,
//! `fields`, and keyset cursors (`pq`, `from_prev`).
//!
//! A cursor is `base64url(JSON).hex(HMAC)`: it names a position in the total order (the sort
//! key values plus the id) and remembers the filter, sort and page size it was issued for, so
//! `pq` alone continues a listing. Keyset positions stay correct when items are inserted or
//! deleted between pages. Anything not issued by this emulator run is a 400 `INVALID_CURSOR`.
//!
//! [`page_body`] writes the cursor fields `--pagination` asks for; `pq` reads every spelling's
//! cursor (they are the same token).

use std::cmp::Ordering;

use axum::Json;
use axum::http::StatusCode;
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use uuid::Uuid;

use super::errors::ApiError;
use super::query::{self, FieldValue, Record};
use super::request::QueryParams;
use super::signing::Signer;
use super::variants::Pagination;
use crate::api::models::Page;

/// Default page size.
pub(crate) const DEFAULT_LIMIT: usize = 50;
/// Largest page size.
pub(crate) const MAX_LIMIT: usize = 500;
/// Default order of every list.
const DEFAULT_SORT: &str = "created_at:desc";

/// One `field:asc|desc` of `sort_by`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct SortKey {
    pub field: &'static str,
    pub desc: bool,
}

/// Parses `sort_by` against a record type's sortable fields.
pub(crate) fn parse_sort<R: Record>(spec: &str) -> Result<Vec<SortKey>, String> {
    let mut keys: Vec<SortKey> = Vec::new();
    for part in spec.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let (name, direction) = part.split_once(':').unwrap_or((part, "asc"));
        let desc = match direction.trim().to_ascii_lowercase().as_str() {
            "asc" => false,
            "desc" => true,
            other => return Err(format!("sort direction must be asc or desc, got `{other}`")),
        };
        let name = name.trim();
        let field = R::FIELDS
            .iter()
            .find(|(field, _, sortable)| *sortable && *field == name)
            .map(|(field, _, _)| *field)
            .ok_or_else(|| {
                let sortable: Vec<&str> = R::FIELDS
                    .iter()
                    .filter(|(_, _, sortable)| *sortable)
                    .map(|(field, _, _)| *field)
                    .collect();
                format!("cannot sort by `{name}`; sortable: {}", sortable.join(", "))
            })?;
        if keys.iter().any(|k| k.field == field) {
            return Err(format!("`{field}` appears twice in sort_by"));
        }
        keys.push(SortKey { field, desc });
    }
    if keys.is_empty() {
        return Err("sort_by is empty".to_owned());
    }
    Ok(keys)
}

fn canonical_sort(keys: &[SortKey]) -> String {
    keys.iter()
        .map(|k| format!("{}:{}", k.field, if k.desc { "desc" } else { "asc" }))
        .collect::<Vec<_>>()
        .join(",")
}

/// The total order of a listing: the sort keys, then the id.
pub(crate) fn compare<R: Record>(a: &R, b: &R, keys: &[SortKey]) -> Ordering {
    for key in keys {
        let ord = a.field(key.field).cmp(&b.field(key.field));
        let ord = if key.desc { ord.reverse() } else { ord };
        if ord != Ordering::Equal {
            return ord;
        }
    }
    a.id().cmp(&b.id())
}

/// A place in the total order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct Position {
    /// Sort key values of the item at the boundary.
    k: Vec<FieldValue>,
    id: Uuid,
    /// Whether the boundary item itself belongs to the page being asked for.
    incl: bool,
}

impl Position {
    fn of<R: Record>(record: &R, keys: &[SortKey], incl: bool) -> Self {
        Self {
            k: keys.iter().map(|key| record.field(key.field)).collect(),
            id: record.id(),
            incl,
        }
    }

    /// Where `record` lies relative to this position.
    fn compare<R: Record>(&self, record: &R, keys: &[SortKey]) -> Ordering {
        for (key, boundary) in keys.iter().zip(&self.k) {
            let ord = record.field(key.field).cmp(boundary);
            let ord = if key.desc { ord.reverse() } else { ord };
            if ord != Ordering::Equal {
                return ord;
            }
        }
        record.id().cmp(&self.id)
    }
}

/// What a cursor carries.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct Cursor {
    /// Which list it belongs to.
    r: String,
    q: Option<String>,
    s: String,
    l: usize,
    /// `None`: an end of the list (the start, or with `back` the end).
    at: Option<Position>,
    /// Walk backwards from `at`.
    back: bool,
}

const CURSOR_DOMAIN: &str = "list-cursor";

fn encode_cursor(cursor: &Cursor, signer: &Signer) -> String {
    let json = serde_json::to_vec(cursor).unwrap_or_default();
    let signature = signer.sign_token(CURSOR_DOMAIN, &json);
    format!("{}.{signature}", URL_SAFE_NO_PAD.encode(&json))
}

fn decode_cursor(token: &str, signer: &Signer) -> Option<Cursor> {
    let (payload, signature) = token.trim().split_once('.')?;
    let json = URL_SAFE_NO_PAD.decode(payload).ok()?;
    if !signer.verify_token(CURSOR_DOMAIN, &json, signature) {
        return None;
    }
    serde_json::from_slice(&json).ok()
}

fn invalid_cursor(why: &str) -> ApiError {
    ApiError::bad_request(format!("Invalid pagination cursor (pq): {why}"))
        .with_code("INVALID_CURSOR")
}

/// One page of a listing, with its cursors.
pub(crate) struct Listing<'a, R> {
    pub items: Vec<&'a R>,
    pub first: String,
    pub next: Option<String>,
    pub previous: Option<String>,
}

impl<R> Listing<'_, R> {
    /// The wire page, with both cursor spellings.
    pub fn into_page<T>(self, render: impl FnMut(&R) -> T) -> Page<T> {
        Page {
            items: self.items.into_iter().map(render).collect(),
            first: Some(self.first),
            next_pq: self.next.clone(),
            prev_pq: self.previous.clone(),
            next: self.next,
            previous: self.previous,
        }
    }
}

/// Filters, sorts and slices `records` as the list parameters say.
pub(crate) fn list<'a, R: Record>(
    resource: &str,
    params: &QueryParams,
    records: impl Iterator<Item = &'a R>,
    signer: &Signer,
) -> Result<Listing<'a, R>, ApiError> {
    let cursor = match params.get("pq") {
        None => None,
        Some(token) => {
            let cursor =
                decode_cursor(token, signer).ok_or_else(|| invalid_cursor("not issued here"))?;
            if cursor.r != resource {
                return Err(invalid_cursor("issued for another list"));
            }
            Some(cursor)
        }
    };
    let q = params.get("q").map(str::to_owned);
    let sort_param = params.get("sort_by");
    if let Some(cursor) = &cursor
        && q.is_some()
        && q != cursor.q
    {
        return Err(invalid_cursor("issued for a different q"));
    }
    let q = q.or_else(|| cursor.as_ref().and_then(|c| c.q.clone()));
    let sort_spec = sort_param
        .map(str::to_owned)
        .or_else(|| cursor.as_ref().map(|c| c.s.clone()))
        .unwrap_or_else(|| DEFAULT_SORT.to_owned());
    let keys = parse_sort::<R>(&sort_spec)
        .map_err(|msg| ApiError::invalid(&["query", "sort_by"], msg, "value_error"))?;
    let sort = canonical_sort(&keys);
    if let Some(cursor) = &cursor
        && cursor.s != sort
    {
        return Err(invalid_cursor("issued for a different sort_by"));
    }
    let limit = match params.get("limit") {
        Some(raw) => raw
            .parse::<usize>()
            .ok()
            .filter(|n| (1..=MAX_LIMIT).contains(n))
            .ok_or_else(|| {
                ApiError::invalid(
                    &["query", "limit"],
                    format!("limit must be an integer from 1 to {MAX_LIMIT}"),
                    "value_error",
                )
            })?,
        None => cursor.as_ref().map_or(DEFAULT_LIMIT, |c| c.l),
    }
    .clamp(1, MAX_LIMIT);
    let filter = query::compile::<R>(q.as_deref()).map_err(|msg| {
        ApiError::invalid(
            &["query", "q"],
            format!("Invalid filter: {msg}"),
            "value_error",
        )
    })?;
    let from_prev = params.flag("from_prev")?;

    let position = cursor.as_ref().and_then(|c| c.at.clone());
    if let Some(position) = &position
        && position.k.len() != keys.len()
    {
        return Err(invalid_cursor("does not match sort_by"));
    }
    let back = from_prev || cursor.as_ref().is_some_and(|c| c.back);

    let mut matching: Vec<&R> = records.filter(|r| filter.matches(*r)).collect();
    matching.sort_by(|a, b| compare(*a, *b, &keys));

    let (start, end) = match (&position, back) {
        (None, false) => (0, limit.min(matching.len())),
        (None, true) => (matching.len().saturating_sub(limit), matching.len()),
        (Some(p), false) => {
            let start = matching.partition_point(|r| match p.compare(*r, &keys) {
                Ordering::Less => true,
                Ordering::Equal => !p.incl,
                Ordering::Greater => false,
            });
            (start, (start + limit).min(matching.len()))
        }
        (Some(p), true) => {
            let end = matching.partition_point(|r| match p.compare(*r, &keys) {
                Ordering::Less => true,
                Ordering::Equal => p.incl,
                Ordering::Greater => false,
            });
            (end.saturating_sub(limit), end)
        }
    };
    let items: Vec<&R> = matching[start..end].to_vec();

    let token = |at: Option<Position>, back: bool| {
        encode_cursor(
            &Cursor {
                r: resource.to_owned(),
                q: q.clone(),
                s: sort.clone(),
                l: limit,
                at,
                back,
            },
            signer,
        )
    };
    let (next_at, previous_at) = match (items.first(), items.last()) {
        (Some(first), Some(last)) => (
            Position::of(*last, &keys, false),
            Position::of(*first, &keys, false),
        ),
        // An empty page: both neighbours are on the other side of the requested position.
        _ => match &position {
            Some(p) => {
                let flipped = Position {
                    incl: !p.incl,
                    ..p.clone()
                };
                (flipped.clone(), flipped)
            }
            None => {
                return Ok(Listing {
                    items,
                    first: token(None, false),
                    next: None,
                    previous: None,
                });
            }
        },
    };
    Ok(Listing {
        first: token(None, false),
        next: (end < matching.len()).then(|| token(Some(next_at), false)),
        previous: (start > 0).then(|| token(Some(previous_at), true)),
        items,
    })
}

/// A list answer whose items are projected to `fields` (the `fields` query parameter).
pub(crate) fn projected_body<T: Serialize>(
    page: Page<T>,
    fields: &[String],
    mode: Pagination,
) -> Result<Json<Value>, ApiError> {
    let items = page
        .items
        .iter()
        .map(|item| {
            let value = serde_json::to_value(item).map_err(|err| {
                ApiError::new(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "INTERNAL_ERROR",
                    err.to_string(),
                )
            })?;
            project(value, fields)
        })
        .collect::<Result<Vec<_>, ApiError>>()?;
    page_body(
        Page {
            items,
            first: page.first,
            next: page.next,
            previous: page.previous,
            next_pq: page.next_pq,
            prev_pq: page.prev_pq,
        },
        mode,
    )
}

/// The wire form of a list answer: `items` and the cursor fields of `mode` (`null` on the ends).
pub(crate) fn page_body<T: Serialize>(
    page: Page<T>,
    mode: Pagination,
) -> Result<Json<Value>, ApiError> {
    let items = serde_json::to_value(page.items).map_err(|err| {
        ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "INTERNAL_ERROR",
            err.to_string(),
        )
    })?;
    let cursor = |token: Option<String>| token.map_or(Value::Null, Value::String);
    let mut body = Map::new();
    body.insert("items".to_owned(), items);
    if mode != Pagination::NextPq {
        body.insert("first".to_owned(), cursor(page.first));
        body.insert("next".to_owned(), cursor(page.next));
        body.insert("previous".to_owned(), cursor(page.previous));
    }
    if mode != Pagination::Next {
        body.insert("next_pq".to_owned(), cursor(page.next_pq));
        body.insert("prev_pq".to_owned(), cursor(page.prev_pq));
    }
    Ok(Json(Value::Object(body)))
}

/// Applies a `fields` projection to a serialised item; unknown names are a 422.
pub(crate) fn project(
    value: serde_json::Value,
    fields: &[String],
) -> Result<serde_json::Value, ApiError> {
    if fields.is_empty() {
        return Ok(value);
    }
    let serde_json::Value::Object(mut map) = value else {
        return Ok(value);
    };
    if let Some(unknown) = fields.iter().find(|f| !map.contains_key(f.as_str())) {
        return Err(ApiError::invalid(
            &["query", "fields"],
            format!("Unknown field `{unknown}`"),
            "value_error",
        ));
    }
    map.retain(|key, _| fields.iter().any(|f| f == key));
    Ok(serde_json::Value::Object(map))
}

#[cfg(test)]
mod tests;
