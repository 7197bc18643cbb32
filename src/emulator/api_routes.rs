//! The API listener: routing, bearer auth, and the small reference endpoints (health, readiness,
//! asset types, source types, current user).

use std::sync::Arc;

use axum::extract::{Request, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::middleware::{Next, from_fn_with_state};
use axum::response::{IntoResponse, Response};
use axum::routing::{any, get, post};
use axum::{Extension, Json, Router};
use serde_json::json;

use super::errors::{ApiError, error_envelope, method_not_allowed, route_not_found};
use super::identity::{self, ORG_ID};
use super::request::PathParam;
use super::request_log::{LogLayer, log_requests};
use super::scopes::KeyGrant;
use super::variants::TypesEndpoint;
use super::{Shared, asset_routes, faults, folder_routes, paging, upload_routes};
use crate::api::models::{Health, Page};

/// Builds the API router.
pub(crate) fn router(shared: Arc<Shared>) -> Router {
    let mut authed = Router::new()
        .route("/v1/asset-uploads", post(upload_routes::create))
        .route(
            "/v1/asset-uploads/{id}/confirmations",
            post(upload_routes::confirm),
        )
        .route("/v1/assets", get(asset_routes::list))
        .route("/v1/assets/source-types/{name}", get(source_type))
        .route(
            "/v1/assets/{id}",
            get(asset_routes::get_one)
                .patch(asset_routes::patch)
                .delete(asset_routes::delete),
        )
        .route(
            "/v1/asset-folders",
            get(folder_routes::list).post(folder_routes::create),
        )
        .route(
            "/v1/asset-folders/{id}",
            get(folder_routes::get_one)
                .patch(folder_routes::patch)
                .delete(folder_routes::delete),
        )
        .route("/v1/auth/me", get(current_user));
    let mut open = Router::new()
        .route("/v1/health", get(health))
        .route("/v1/readiness", get(readiness));
    if shared.variants.types_endpoint == TypesEndpoint::Missing {
        // Exactly what an unknown route gets: no auth check, any method, 404 `NOT_FOUND` (and
        // not `/v1/assets/{id}` with the id `types`).
        open = open.route("/v1/assets/types", any(route_not_found));
    } else {
        authed = authed.route("/v1/assets/types", get(asset_types));
    }
    let authed = authed.route_layer(from_fn_with_state(shared.clone(), authenticate));
    open.merge(authed)
        .fallback(route_not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(from_fn_with_state(shared.clone(), faults::api_faults))
        .layer(from_fn_with_state(shared.clone(), error_envelope))
        .layer(from_fn_with_state(
            LogLayer {
                shared: shared.clone(),
                listener: "api",
            },
            log_requests,
        ))
        .with_state(shared)
}

/// The bearer token of a request, if it has a well-formed `Authorization: Bearer` header.
fn bearer(headers: &HeaderMap) -> Option<&str> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.trim().split_once(' ')?;
    scheme.eq_ignore_ascii_case("bearer").then(|| token.trim())
}

/// Constant-time equality, so key checks don't leak how much of a key matched.
fn same_secret(a: &str, b: &str) -> bool {
    a.len() == b.len()
        && a.bytes()
            .zip(b.bytes())
            .fold(0u8, |acc, (x, y)| acc | (x ^ y))
            == 0
}

/// Requires a known bearer key; checks `X-Organization-Id` against the emulator's org and the
/// key's scopes against the route's; hands the key's grant to the handler.
async fn authenticate(State(shared): State<Arc<Shared>>, request: Request, next: Next) -> Response {
    let headers = request.headers();
    let Some(token) = bearer(headers) else {
        let message = if headers.contains_key("x-api-key") {
            "Send the API key as `Authorization: Bearer <key>`; x-api-key is not accepted"
        } else {
            "Missing bearer token"
        };
        return ApiError::unauthorized(message).into_response();
    };
    // Check every key (no early exit) to keep timing independent of which key matched.
    let grant = shared.keys.iter().fold(None, |found, grant| {
        let matched = same_secret(&grant.key, token);
        found.or(matched.then_some(grant))
    });
    let Some(grant) = grant.cloned() else {
        return ApiError::unauthorized("Invalid API key").into_response();
    };
    if let Some(org) = headers.get("x-organization-id") {
        let org = org.to_str().unwrap_or_default().trim();
        if !org.is_empty() && !org.eq_ignore_ascii_case(ORG_ID) {
            return ApiError::new(
                StatusCode::FORBIDDEN,
                "ORGANIZATION_MEMBERSHIP_REQUIRED",
                "The API key's user is not a member of that organization",
            )
            .into_response();
        }
    }
    if let Err(denied) = grant.check(request.method(), request.uri().path()) {
        return denied.into_response();
    }
    let mut request = request;
    request.extensions_mut().insert(grant);
    next.run(request).await
}

async fn health() -> Json<Health> {
    Json(Health {
        status: Some("ok".to_owned()),
        ok: Some(true),
    })
}

async fn readiness() -> Json<serde_json::Value> {
    Json(json!({"status": "ok", "checks": {"database": "ok", "redis": "ok"}}))
}

/// `GET /v1/assets/types`: a one-page list, or with `--types-endpoint array` a bare array.
async fn asset_types(State(shared): State<Arc<Shared>>) -> Result<Response, ApiError> {
    if shared.variants.types_endpoint == TypesEndpoint::Array {
        return Ok(Json(shared.asset_types.clone()).into_response());
    }
    let page = Page {
        items: shared.asset_types.clone(),
        first: None,
        next: None,
        previous: None,
        next_pq: None,
        prev_pq: None,
    };
    Ok(paging::page_body(page, shared.variants.pagination)?.into_response())
}

async fn source_type(PathParam(name): PathParam) -> Result<Json<serde_json::Value>, ApiError> {
    if name != "upload" {
        return Err(ApiError::not_found(
            "ASSET_SOURCE_TYPE_NOT_FOUND",
            format!("No asset source type named `{name}`"),
        ));
    }
    Ok(Json(json!({
        "name": "upload",
        "description": "Uploaded through a presigned upload session",
    })))
}

async fn current_user(
    Extension(grant): Extension<KeyGrant>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let mut user = serde_json::to_value(identity::current_user(&grant.scopes)).map_err(|err| {
        ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "INTERNAL",
            err.to_string(),
        )
    })?;
    // Profile fields the wire model doesn't carry (runflow-api.md section 1).
    if let Some(map) = user.as_object_mut() {
        map.insert("avatar_url".into(), serde_json::Value::Null);
        map.insert("timezone".into(), json!("UTC"));
        map.insert("locale_code".into(), json!("en"));
        map.insert("email_verified_at".into(), json!("2026-01-01T00:00:00Z"));
    }
    Ok(Json(user))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bearer_parsing() {
        let mut headers = HeaderMap::new();
        assert_eq!(bearer(&headers), None);
        headers.insert(header::AUTHORIZATION, "Bearer  rf_test_x ".parse().unwrap());
        assert_eq!(bearer(&headers), Some("rf_test_x"));
        headers.insert(header::AUTHORIZATION, "bearer k".parse().unwrap());
        assert_eq!(bearer(&headers), Some("k"));
        headers.insert(header::AUTHORIZATION, "Basic abc".parse().unwrap());
        assert_eq!(bearer(&headers), None);
        assert!(same_secret("abc", "abc"));
        assert!(!same_secret("abc", "abd"));
        assert!(!same_secret("abc", "abcd"));
    }
}
