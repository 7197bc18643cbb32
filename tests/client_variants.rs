//! The client against hand-rolled servers answering the undocumented endpoints in every
//! plausible shape, and losing answers on purpose: the type list is only ever a hint, and a
//! folder create, rename or delete whose answer was lost is not reported as a conflict.

#[path = "support/ports.rs"]
mod ports_support;

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Body;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use bytes::Bytes;
use runflow_uploader::api::models::{AssetType, CreateFolderRequest, Folder, PatchRequest};
use runflow_uploader::api::{ApiError, ApiKey, ClientConfig, RetryPolicy, RunflowClient};
use serde_json::json;

/// Serves `router` on a free loopback port and returns its base URL.
async fn serve(router: Router) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, router).await });
    format!("http://{addr}")
}

const ATTEMPTS: usize = 4;

fn client_for(base: &str) -> RunflowClient {
    RunflowClient::new(
        ApiKey::new("rf_live_test").unwrap(),
        ClientConfig {
            base_url: base.to_owned(),
            retry: RetryPolicy {
                max_attempts: ATTEMPTS,
                min_delay: Duration::from_millis(5),
                max_delay: Duration::from_millis(20),
            },
            request_timeout: Duration::from_millis(500),
            ..ClientConfig::default()
        },
    )
    .unwrap()
}

/// A server whose `GET /v1/assets/types` answers `status` with `body`, counting the calls.
async fn types_server(status: u16, body: &'static str) -> (String, Arc<AtomicUsize>) {
    let calls = Arc::new(AtomicUsize::new(0));
    let counter = Arc::clone(&calls);
    let router = Router::new().route(
        "/v1/assets/types",
        get(move || async move {
            counter.fetch_add(1, Ordering::SeqCst);
            (
                StatusCode::from_u16(status).unwrap(),
                [("content-type", "application/json")],
                body,
            )
        }),
    );
    (serve(router).await, calls)
}

fn png_type() -> AssetType {
    AssetType {
        name: "image".into(),
        mime_types: vec!["image/png".into()],
    }
}

#[tokio::test]
async fn types_are_read_from_a_page() {
    let (base, _) = types_server(
        200,
        r#"{"items":[{"name":"image","mime_types":["image/png"]}],"first":null,"next":null}"#,
    )
    .await;
    let client = client_for(&base);
    assert_eq!(client.supported_types().await, Some(vec![png_type()]));
    assert_eq!(client.asset_types().await.unwrap(), vec![png_type()]);
}

#[tokio::test]
async fn types_are_read_from_a_bare_array() {
    let (base, _) = types_server(200, r#"[{"name":"image","mime_types":["image/png"]}]"#).await;
    assert_eq!(
        client_for(&base).supported_types().await,
        Some(vec![png_type()])
    );
    let (base, _) = types_server(200, r#"["image/png"]"#).await;
    assert_eq!(
        client_for(&base).supported_types().await,
        Some(vec![png_type()])
    );
}

#[tokio::test]
async fn types_are_read_from_every_page() {
    let router = Router::new().route(
        "/v1/assets/types",
        get(|Query(query): Query<HashMap<String, String>>| async move {
            match query.get("pq").map(String::as_str) {
                None => Json(json!({
                    "items": [{"name": "image", "mime_types": ["image/png"]}],
                    "next": "page2"
                })),
                Some(_) => Json(json!({
                    "items": [{"name": "video", "mime_types": ["video/mp4"]}],
                    "next": null
                })),
            }
        }),
    );
    let base = serve(router).await;
    let types = client_for(&base).supported_types().await.unwrap();
    let names: Vec<&str> = types.iter().map(|t| t.name.as_str()).collect();
    assert_eq!(names, vec!["image", "video"]);
}

#[tokio::test]
async fn a_missing_types_endpoint_is_no_list() {
    // An unknown route: axum answers 404 with no body.
    let base = serve(Router::new()).await;
    assert_eq!(client_for(&base).supported_types().await, None);
    let (base, calls) =
        types_server(404, r#"{"code":"NOT_FOUND","message":"no such route"}"#).await;
    assert_eq!(client_for(&base).supported_types().await, None);
    assert_eq!(calls.load(Ordering::SeqCst), 1, "a 404 is not retried");
}

#[tokio::test]
async fn a_types_endpoint_refusing_get_is_no_list() {
    // The path exists for another method only: axum answers 405.
    let router = Router::new().route("/v1/assets/types", post(|| async { "{}" }));
    let base = serve(router).await;
    assert_eq!(client_for(&base).supported_types().await, None);
    let (base, _) = types_server(501, r#"{"code":"NOT_IMPLEMENTED","message":"later"}"#).await;
    assert_eq!(client_for(&base).supported_types().await, None);
}

#[tokio::test]
async fn an_unreadable_type_list_is_no_list() {
    for garbage in [
        "<html>hello</html>",
        r#"{"items": 42}"#,
        r#""image/png""#,
        r#"[{"name":"image","mime_types":"image/png"}]"#,
        "",
    ] {
        let (base, _) = types_server(200, garbage).await;
        assert_eq!(client_for(&base).supported_types().await, None, "{garbage}");
    }
}

#[tokio::test]
async fn an_empty_type_list_is_no_list() {
    for empty in [
        r#"{"items":[]}"#,
        "[]",
        "{}",
        r#"[{"name":"image","mime_types":[]}]"#,
        r#"{"items":[{"name":"image"}]}"#,
    ] {
        let (base, _) = types_server(200, empty).await;
        assert_eq!(client_for(&base).supported_types().await, None, "{empty}");
    }
}

#[tokio::test]
async fn a_failing_types_endpoint_is_no_list_after_the_retries() {
    let (base, calls) = types_server(500, r#"{"code":"INTERNAL","message":"boom"}"#).await;
    assert_eq!(client_for(&base).supported_types().await, None);
    assert_eq!(calls.load(Ordering::SeqCst), ATTEMPTS);
    let (base, _) = types_server(401, r#"{"code":"UNAUTHORIZED","message":"bad key"}"#).await;
    assert_eq!(client_for(&base).supported_types().await, None);
    assert_eq!(
        client_for("http://127.0.0.1:9").supported_types().await,
        None
    );
}

/// What the folder server does to the next mutation (create, rename or delete).
#[derive(Debug, Clone, Copy)]
enum Fault {
    /// Applies it, then answers 503.
    ApplyThen503,
    /// Applies it, then answers too late.
    ApplyThenStall,
    /// Applies it, then breaks the connection in the middle of the answer.
    ApplyThenBreak,
    /// Answers 503 without applying it.
    Refuse503,
    /// Answers 429 without applying it.
    Refuse429,
}

#[derive(Default)]
struct FolderServer {
    folders: Vec<Folder>,
    faults: VecDeque<Fault>,
    /// `METHOD path?query` of every request.
    log: Vec<String>,
}

type Shared = Arc<Mutex<FolderServer>>;

fn folder(id: &str, name: &str, parent_id: Option<&str>) -> Folder {
    Folder {
        id: Some(id.to_owned()),
        name: Some(name.to_owned()),
        parent_id: parent_id.map(str::to_owned),
        ..Folder::default()
    }
}

fn conflict() -> Response {
    (
        StatusCode::CONFLICT,
        Json(json!({"code": "FOLDER_NAME_TAKEN", "message": "a sibling has that name"})),
    )
        .into_response()
}

fn not_found() -> Response {
    (
        StatusCode::NOT_FOUND,
        Json(json!({"code": "FOLDER_NOT_FOUND", "message": "no such folder"})),
    )
        .into_response()
}

/// The answer to an applied mutation, spoilt by `fault`.
async fn answer(fault: Option<Fault>, status: StatusCode, body: serde_json::Value) -> Response {
    match fault {
        Some(Fault::ApplyThen503) => StatusCode::SERVICE_UNAVAILABLE.into_response(),
        Some(Fault::ApplyThenStall) => {
            tokio::time::sleep(Duration::from_secs(3)).await;
            (status, Json(body)).into_response()
        }
        Some(Fault::ApplyThenBreak) => {
            let chunks: Vec<Result<Bytes, std::io::Error>> = vec![
                Ok(Bytes::from_static(b"{\"id\":")),
                Err(std::io::Error::other("cut off")),
            ];
            Response::builder()
                .status(status)
                .header("content-type", "application/json")
                .body(Body::from_stream(futures_util::stream::iter(chunks)))
                .unwrap()
        }
        _ => (status, Json(body)).into_response(),
    }
}

/// A fault that refuses the request outright, if `fault` is one.
fn refusal(fault: Option<Fault>) -> Option<Response> {
    match fault {
        Some(Fault::Refuse503) => Some(StatusCode::SERVICE_UNAVAILABLE.into_response()),
        Some(Fault::Refuse429) => Some(
            (
                StatusCode::TOO_MANY_REQUESTS,
                Json(json!({"code": "RATE_LIMITED", "message": "Rate limit exceeded"})),
            )
                .into_response(),
        ),
        _ => None,
    }
}

async fn create_folder(
    State(shared): State<Shared>,
    Json(body): Json<CreateFolderRequest>,
) -> Response {
    let (fault, created) = {
        let mut server = shared.lock().unwrap();
        server.log.push("POST /v1/asset-folders".to_owned());
        let fault = server.faults.pop_front();
        if let Some(refused) = refusal(fault) {
            return refused;
        }
        let taken = server.folders.iter().any(|f| {
            f.parent_id == body.parent_id
                && f.name
                    .as_deref()
                    .is_some_and(|name| name.eq_ignore_ascii_case(&body.name))
        });
        if taken {
            return conflict();
        }
        let id = format!("f{}", server.folders.len() + 1);
        let created = folder(&id, &body.name, body.parent_id.as_deref());
        server.folders.push(created.clone());
        (fault, created)
    };
    answer(fault, StatusCode::CREATED, json!(created)).await
}

/// `GET /v1/asset-folders` with `q=parent_id:<id>|null`, one folder per page.
async fn list_folders(
    State(shared): State<Shared>,
    Query(query): Query<HashMap<String, String>>,
) -> Response {
    let mut server = shared.lock().unwrap();
    let mut line = "GET /v1/asset-folders".to_owned();
    if let Some(q) = query.get("q") {
        line.push_str(&format!("?q={q}"));
    }
    server.log.push(line);
    let parent = query
        .get("q")
        .and_then(|q| q.strip_prefix("parent_id:"))
        .map(|p| (p != "null").then(|| p.to_owned()));
    let matching: Vec<&Folder> = server
        .folders
        .iter()
        .filter(|f| parent.as_ref().is_none_or(|p| f.parent_id == *p))
        .collect();
    let start: usize = query.get("pq").and_then(|pq| pq.parse().ok()).unwrap_or(0);
    let next = (start + 1 < matching.len()).then(|| (start + 1).to_string());
    Json(json!({"items": matching.get(start).into_iter().collect::<Vec<_>>(), "next": next}))
        .into_response()
}

async fn get_folder(State(shared): State<Shared>, Path(id): Path<String>) -> Response {
    let mut server = shared.lock().unwrap();
    server.log.push(format!("GET /v1/asset-folders/{id}"));
    match server.folders.iter().find(|f| f.id.as_deref() == Some(&id)) {
        Some(found) => Json(json!(found)).into_response(),
        None => not_found(),
    }
}

async fn update_folder(
    State(shared): State<Shared>,
    Path(id): Path<String>,
    Json(patch): Json<PatchRequest>,
) -> Response {
    let (fault, updated) = {
        let mut server = shared.lock().unwrap();
        server.log.push(format!("PATCH /v1/asset-folders/{id}"));
        let fault = server.faults.pop_front();
        if let Some(refused) = refusal(fault) {
            return refused;
        }
        let Some(index) = server
            .folders
            .iter()
            .position(|f| f.id.as_deref() == Some(&id))
        else {
            return not_found();
        };
        let mut updated = server.folders[index].clone();
        if let Some(name) = &patch.name {
            updated.name = Some(name.clone());
        }
        if let Some(parent) = &patch.parent_id {
            updated.parent_id = parent.clone();
        }
        // A plain server: the name is taken by any folder there, this one included.
        let taken = server
            .folders
            .iter()
            .any(|f| f.parent_id == updated.parent_id && f.name == updated.name);
        if taken {
            return conflict();
        }
        server.folders[index] = updated.clone();
        (fault, updated)
    };
    answer(fault, StatusCode::OK, json!(updated)).await
}

async fn delete_folder(State(shared): State<Shared>, Path(id): Path<String>) -> Response {
    let fault = {
        let mut server = shared.lock().unwrap();
        server.log.push(format!("DELETE /v1/asset-folders/{id}"));
        let fault = server.faults.pop_front();
        if let Some(refused) = refusal(fault) {
            return refused;
        }
        let before = server.folders.len();
        server.folders.retain(|f| f.id.as_deref() != Some(&id));
        if server.folders.len() == before {
            return not_found();
        }
        fault
    };
    match fault {
        None => StatusCode::NO_CONTENT.into_response(),
        some => answer(some, StatusCode::NO_CONTENT, json!(null)).await,
    }
}

/// A folder server holding `folders`, with `faults` for the next mutations.
async fn folder_server(folders: Vec<Folder>, faults: &[Fault]) -> (RunflowClient, Shared) {
    let shared: Shared = Arc::new(Mutex::new(FolderServer {
        folders,
        faults: faults.iter().copied().collect(),
        log: Vec::new(),
    }));
    let router = Router::new()
        .route("/v1/asset-folders", get(list_folders).post(create_folder))
        .route(
            "/v1/asset-folders/{id}",
            get(get_folder).patch(update_folder).delete(delete_folder),
        )
        .with_state(Arc::clone(&shared));
    let base = serve(router).await;
    (client_for(&base), shared)
}

fn log(shared: &Shared) -> Vec<String> {
    shared.lock().unwrap().log.clone()
}

#[tokio::test]
async fn a_create_whose_answer_was_lost_returns_the_folder() {
    for fault in [
        Fault::ApplyThen503,
        Fault::ApplyThenStall,
        Fault::ApplyThenBreak,
    ] {
        let (client, shared) = folder_server(Vec::new(), &[fault]).await;
        let created = client.create_folder("Shots", None).await;
        let created = created.unwrap_or_else(|err| panic!("{fault:?}: {err:?}"));
        assert_eq!(created.id.as_deref(), Some("f1"), "{fault:?}");
        assert_eq!(created.name.as_deref(), Some("Shots"));
        assert_eq!(shared.lock().unwrap().folders.len(), 1, "made once");
        assert_eq!(
            log(&shared),
            vec![
                "POST /v1/asset-folders",
                "POST /v1/asset-folders",
                "GET /v1/asset-folders?q=parent_id:null",
            ],
            "{fault:?}"
        );
    }
}

#[tokio::test]
async fn a_lost_create_is_found_on_a_later_page_under_its_parent() {
    let existing = vec![
        folder("p", "Parent", None),
        folder("a", "Another", Some("p")),
        folder("b", "Shots copy", Some("p")),
        folder("c", "Shots", None),
    ];
    let (client, shared) = folder_server(existing, &[Fault::ApplyThen503]).await;
    let created = client.create_folder("Shots", Some("p")).await.unwrap();
    assert_eq!(created.id.as_deref(), Some("f5"));
    assert_eq!(created.parent_id.as_deref(), Some("p"));
    let lists = log(&shared)
        .iter()
        .filter(|line| line.as_str() == "GET /v1/asset-folders?q=parent_id:p")
        .count();
    assert_eq!(lists, 3, "one folder per page: {:?}", log(&shared));
}

#[tokio::test]
async fn a_conflict_on_the_first_attempt_stays_a_conflict() {
    let (client, shared) = folder_server(vec![folder("c", "Shots", None)], &[]).await;
    let err = client.create_folder("Shots", None).await.unwrap_err();
    assert!(matches!(err, ApiError::Conflict { .. }), "{err:?}");
    assert_eq!(log(&shared), vec!["POST /v1/asset-folders"]);
}

#[tokio::test]
async fn a_conflict_after_attempts_that_applied_nothing_stays_a_conflict() {
    // 429, then 409: a rate limit applies nothing, so the conflict is real; nothing is looked up.
    let (client, shared) =
        folder_server(vec![folder("c", "Shots", None)], &[Fault::Refuse429]).await;
    let err = client.create_folder("Shots", None).await.unwrap_err();
    assert!(matches!(err, ApiError::Conflict { .. }), "{err:?}");
    assert_eq!(
        log(&shared),
        vec!["POST /v1/asset-folders", "POST /v1/asset-folders"]
    );

    // 503, then 409: the 503 may have applied, so the folder is looked up; but the one there
    // is "shots" (this server compares names ignoring case), not "Shots": still a conflict.
    let (client, shared) =
        folder_server(vec![folder("c", "shots", None)], &[Fault::Refuse503]).await;
    let err = client.create_folder("Shots", None).await.unwrap_err();
    assert!(matches!(err, ApiError::Conflict { .. }), "{err:?}");
    assert_eq!(
        log(&shared).last().map(String::as_str),
        Some("GET /v1/asset-folders?q=parent_id:null")
    );
}

#[tokio::test]
async fn a_rename_whose_answer_was_lost_returns_the_folder() {
    for fault in [Fault::ApplyThen503, Fault::ApplyThenBreak] {
        let (client, shared) = folder_server(vec![folder("f1", "Old", None)], &[fault]).await;
        let patch = PatchRequest {
            name: Some("New".into()),
            ..PatchRequest::default()
        };
        let renamed = client.update_folder("f1", &patch).await;
        let renamed = renamed.unwrap_or_else(|err| panic!("{fault:?}: {err:?}"));
        assert_eq!(renamed.name.as_deref(), Some("New"));
        assert_eq!(
            log(&shared),
            vec![
                "PATCH /v1/asset-folders/f1",
                "PATCH /v1/asset-folders/f1",
                "GET /v1/asset-folders/f1",
            ]
        );
    }
}

#[tokio::test]
async fn a_rename_conflict_is_kept_when_the_folder_is_not_as_asked() {
    // First attempt: a real conflict.
    let existing = vec![folder("f1", "Old", None), folder("f2", "New", None)];
    let (client, _) = folder_server(existing.clone(), &[]).await;
    let patch = PatchRequest {
        name: Some("New".into()),
        ..PatchRequest::default()
    };
    let err = client.update_folder("f1", &patch).await.unwrap_err();
    assert!(matches!(err, ApiError::Conflict { .. }), "{err:?}");

    // After a 503 that applied nothing, the 409 is about the sibling: f1 is still "Old".
    let (client, shared) = folder_server(existing, &[Fault::Refuse503]).await;
    let err = client.update_folder("f1", &patch).await.unwrap_err();
    assert!(matches!(err, ApiError::Conflict { .. }), "{err:?}");
    assert_eq!(log(&shared).last().unwrap(), "GET /v1/asset-folders/f1");
}

#[tokio::test]
async fn a_delete_whose_answer_was_lost_is_done() {
    let (client, shared) =
        folder_server(vec![folder("f1", "Old", None)], &[Fault::ApplyThen503]).await;
    client.delete_folder("f1").await.unwrap();
    assert_eq!(
        log(&shared),
        vec!["DELETE /v1/asset-folders/f1", "DELETE /v1/asset-folders/f1"]
    );
    // Nothing to delete on the first attempt: not found, as before.
    let err = client.delete_folder("f1").await.unwrap_err();
    assert!(matches!(err, ApiError::NotFound { .. }), "{err:?}");
}

#[tokio::test]
async fn connection_failures_are_told_from_answers() {
    let closed = ports_support::RefusedPort::new();
    let refused = client_for(&closed.base_url()).health().await.unwrap_err();
    assert!(refused.is_connection_failure(), "{refused:?}");

    // Plain http is only allowed to loopback, so the unresolvable name uses https.
    let dns = RunflowClient::new(
        ApiKey::new("rf_live_test").unwrap(),
        ClientConfig {
            base_url: "https://does-not-exist.invalid".to_owned(),
            retry: RetryPolicy::NEVER,
            connect_timeout: Duration::from_secs(3),
            ..ClientConfig::default()
        },
    )
    .unwrap()
    .health()
    .await
    .unwrap_err();
    assert!(dns.is_connection_failure(), "{dns:?}");

    let (client, _) = folder_server(Vec::new(), &[Fault::ApplyThenBreak]).await;
    let broken = RunflowClient::new(
        ApiKey::new("rf_live_test").unwrap(),
        ClientConfig {
            base_url: client.base_url().as_str().trim_end_matches('/').to_owned(),
            retry: RetryPolicy::NEVER,
            ..ClientConfig::default()
        },
    )
    .unwrap()
    .create_folder("Shots", None)
    .await
    .unwrap_err();
    assert!(broken.is_connection_failure(), "{broken:?}");
    assert!(broken.is_retryable());

    let (base, _) = types_server(503, r#"{"code":"UNAVAILABLE","message":"busy"}"#).await;
    let busy = client_for(&base).asset_types().await.unwrap_err();
    assert!(!busy.is_connection_failure(), "{busy:?}");

    let (client, _) = folder_server(Vec::new(), &[Fault::ApplyThenStall]).await;
    let slow = RunflowClient::new(
        ApiKey::new("rf_live_test").unwrap(),
        ClientConfig {
            base_url: client.base_url().as_str().trim_end_matches('/').to_owned(),
            retry: RetryPolicy::NEVER,
            request_timeout: Duration::from_millis(200),
            ..ClientConfig::default()
        },
    )
    .unwrap()
    .create_folder("Shots", None)
    .await
    .unwrap_err();
    assert!(matches!(slow, ApiError::Timeout), "{slow:?}");
    assert!(!slow.is_connection_failure());
}
