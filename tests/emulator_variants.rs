//! The emulator's answer variants over real HTTP on loopback: each switch and value, what goes
//! over the wire (status, body shape, headers), and that the defaults are unchanged.

use std::collections::HashSet;
use std::time::Duration;

use clap::{CommandFactory as _, Parser};
use reqwest::header::{CONTENT_TYPE, RETRY_AFTER};
use reqwest::{Client, Method, RequestBuilder, Response, StatusCode};
use runflow_uploader::emulator::{
    CreatedStatus, EmulatorConfig, ErrorEnvelope, Pagination, RepeatConfirm, RetryAfter,
    RunningEmulator, TypesEndpoint, default_asset_types,
};
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

const KEY: &str = "rf_test_emulator_variants";
const PNG: &[u8] = b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR";

struct Env {
    emu: RunningEmulator,
    http: Client,
}

impl Env {
    async fn start(adjust: impl FnOnce(&mut EmulatorConfig)) -> Env {
        let mut config = EmulatorConfig {
            api_keys: vec![KEY.to_owned()],
            ..EmulatorConfig::default()
        };
        adjust(&mut config);
        let emu = RunningEmulator::start(config)
            .await
            .expect("emulator starts");
        Env {
            emu,
            http: Client::new(),
        }
    }

    fn api(&self, method: Method, path: &str) -> RequestBuilder {
        self.http
            .request(method, format!("{}{path}", self.emu.api_base()))
            .bearer_auth(KEY)
    }

    async fn send(&self, method: Method, path: &str, body: Option<Value>) -> Response {
        let request = self.api(method, path);
        match body {
            Some(body) => request.json(&body),
            None => request,
        }
        .send()
        .await
        .expect("API request")
    }

    /// Status and JSON body of an API call.
    async fn call(&self, method: Method, path: &str, body: Option<Value>) -> (StatusCode, Value) {
        json_of(self.send(method, path, body).await).await
    }

    /// Creates a session and PUTs `bytes`; returns the session id.
    async fn stage(&self, name: &str, bytes: &[u8]) -> String {
        let body = json!({"filename": name, "mime_type": "image/png", "size_bytes": bytes.len()});
        let (status, session) = self
            .call(Method::POST, "/v1/asset-uploads", Some(body))
            .await;
        assert!(status.is_success(), "{status} {session}");
        let put = self
            .http
            .put(session["upload_url"].as_str().expect("upload_url"))
            .header(CONTENT_TYPE, "image/png")
            .body(bytes.to_vec())
            .send()
            .await
            .expect("storage PUT");
        assert_eq!(put.status(), StatusCode::OK);
        session["asset_id"].as_str().expect("asset_id").to_owned()
    }

    async fn confirm(&self, id: &str) -> Response {
        let path = format!("/v1/asset-uploads/{id}/confirmations");
        self.send(Method::POST, &path, Some(json!({"folder_id": null})))
            .await
    }

    /// The whole flow, expecting `status` from the confirm; returns the asset.
    async fn upload(&self, name: &str, status: StatusCode) -> Value {
        let id = self.stage(name, &png_bytes(name)).await;
        let (got, asset) = json_of(self.confirm(&id).await).await;
        assert_eq!(got, status, "{asset}");
        asset
    }

    /// Every asset, walking `next` or `next_pq` (whichever is there) with `pq`.
    async fn all_assets(&self) -> Vec<Value> {
        let mut items = Vec::new();
        let mut path = "/v1/assets?limit=2".to_owned();
        for _ in 0..100 {
            let (status, page) = self.call(Method::GET, &path, None).await;
            assert_eq!(status, StatusCode::OK, "{page}");
            items.extend(page["items"].as_array().expect("items").iter().cloned());
            match next_cursor(&page) {
                Some(cursor) => path = format!("/v1/assets?pq={}", urlencode(&cursor)),
                None => return items,
            }
        }
        panic!("the listing does not end");
    }
}

fn png_bytes(name: &str) -> Vec<u8> {
    let mut bytes = PNG.to_vec();
    bytes.extend_from_slice(name.as_bytes());
    bytes
}

async fn json_of(response: Response) -> (StatusCode, Value) {
    let status = response.status();
    let text = response.text().await.expect("body");
    let value = serde_json::from_str(&text).unwrap_or_else(|err| panic!("{err}: {text}"));
    (status, value)
}

fn next_cursor(page: &Value) -> Option<String> {
    ["next", "next_pq"]
        .iter()
        .find_map(|key| page.get(*key).and_then(Value::as_str).map(str::to_owned))
}

fn keys(value: &Value) -> Vec<String> {
    let mut keys: Vec<String> = value
        .as_object()
        .expect("an object")
        .keys()
        .cloned()
        .collect();
    keys.sort();
    keys
}

fn urlencode(text: &str) -> String {
    url::form_urlencoded::byte_serialize(text.as_bytes()).collect()
}

/// The flat envelope's code, asserting the shape.
fn flat_code(body: &Value) -> String {
    assert_eq!(keys(body), ["code", "errors", "message"], "{body}");
    body["code"].as_str().expect("code").to_owned()
}

/// The nested envelope's code, asserting the shape.
fn nested_code(body: &Value) -> String {
    assert_eq!(keys(body), ["error"], "{body}");
    flat_code(&body["error"])
}

const BOTH_KEYS: [&str; 6] = ["first", "items", "next", "next_pq", "prev_pq", "previous"];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn defaults_are_unchanged() {
    let env = Env::start(|_| {}).await;
    let (status, types) = env.call(Method::GET, "/v1/assets/types", None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(keys(&types), BOTH_KEYS);
    assert_eq!(types["items"], json!(default_asset_types()));

    let asset = env.upload("a.png", StatusCode::CREATED).await;
    let id = asset["id"].as_str().unwrap();
    let (status, again) = json_of(env.confirm(id).await).await;
    assert_eq!(status, StatusCode::CONFLICT);
    assert_eq!(flat_code(&again), "ASSET_ALREADY_CONFIRMED");

    let (status, page) = env.call(Method::GET, "/v1/assets", None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(keys(&page), BOTH_KEYS);
    let (status, folder) = env
        .call(
            Method::POST,
            "/v1/asset-folders",
            Some(json!({"name": "f"})),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{folder}");
    let (status, unknown) = env.call(Method::GET, "/v1/nope", None).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(flat_code(&unknown), "NOT_FOUND");
    assert_eq!(env.emu.asset_count(), 1);
    env.emu.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn types_endpoint_items_is_a_list_page() {
    let env = Env::start(|c| c.types_endpoint = TypesEndpoint::Items).await;
    let (status, types) = env.call(Method::GET, "/v1/assets/types", None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(types["items"], json!(default_asset_types()));
    assert_eq!(
        (&types["next"], &types["next_pq"]),
        (&Value::Null, &Value::Null)
    );
    env.emu.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn types_endpoint_array_is_a_bare_array_and_creates_still_check_mime() {
    let env = Env::start(|c| c.types_endpoint = TypesEndpoint::Array).await;
    let (status, types) = env.call(Method::GET, "/v1/assets/types", None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(types, json!(default_asset_types()));
    assert!(
        types
            .as_array()
            .unwrap()
            .iter()
            .all(|t| keys(t) == ["mime_types", "name"])
    );
    let body = json!({"filename": "a.pdf", "mime_type": "application/pdf", "size_bytes": 3});
    let (status, error) = env
        .call(Method::POST, "/v1/asset-uploads", Some(body))
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(flat_code(&error), "VALIDATION_ERROR");
    env.emu.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn types_endpoint_missing_is_the_unknown_route_404_and_creates_still_check_mime() {
    let env = Env::start(|c| {
        c.types_endpoint = TypesEndpoint::Missing;
        c.mime_types = vec!["image/png".to_owned()];
    })
    .await;
    let types = env.call(Method::GET, "/v1/assets/types", None).await;
    let unknown = env.call(Method::GET, "/v1/no-such-route", None).await;
    assert_eq!(types.0, StatusCode::NOT_FOUND);
    assert_eq!(flat_code(&types.1), "NOT_FOUND");
    assert_eq!(types, unknown);
    // Without a key too, and for any method, exactly like an unknown route.
    let anonymous = env
        .http
        .get(format!("{}/v1/assets/types", env.emu.api_base()))
        .send()
        .await
        .unwrap();
    assert_eq!(json_of(anonymous).await, unknown);
    let post = env.call(Method::POST, "/v1/assets/types", None).await;
    assert_eq!(post, unknown);

    let body = json!({"filename": "a.gif", "mime_type": "image/gif", "size_bytes": 3});
    let (status, error) = env
        .call(Method::POST, "/v1/asset-uploads", Some(body))
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(error["errors"][0]["loc"], json!(["body", "mime_type"]));
    env.upload("ok.png", StatusCode::CREATED).await;
    env.emu.shutdown().await;
}

/// Uploads one file, confirms it twice more; returns both repeat answers.
async fn confirm_three_times(env: &Env) -> (Value, Vec<(StatusCode, Value)>) {
    let asset = env.upload("once.png", StatusCode::CREATED).await;
    let id = asset["id"].as_str().unwrap().to_owned();
    let mut answers = Vec::new();
    for _ in 0..2 {
        answers.push(json_of(env.confirm(&id).await).await);
    }
    assert_eq!(env.emu.asset_count(), 1, "never a second asset");
    let listed = env.all_assets().await;
    assert_eq!(listed.len(), 1, "{listed:?}");
    assert_eq!(listed[0]["id"], asset["id"]);
    (asset, answers)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn repeat_confirm_conflict_answers_409() {
    let env = Env::start(|c| c.repeat_confirm = RepeatConfirm::Conflict).await;
    let (_, answers) = confirm_three_times(&env).await;
    for (status, body) in answers {
        assert_eq!(status, StatusCode::CONFLICT);
        assert_eq!(flat_code(&body), "ASSET_ALREADY_CONFIRMED");
    }
    env.emu.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn repeat_confirm_not_found_forgets_the_session() {
    let env = Env::start(|c| c.repeat_confirm = RepeatConfirm::NotFound).await;
    let (asset, answers) = confirm_three_times(&env).await;
    for (status, body) in answers {
        assert_eq!(status, StatusCode::NOT_FOUND);
        assert_eq!(flat_code(&body), "ASSET_UPLOAD_NOT_FOUND");
    }
    // The asset itself is still there.
    let path = format!("/v1/assets/{}", asset["id"].as_str().unwrap());
    assert_eq!(env.call(Method::GET, &path, None).await.0, StatusCode::OK);
    env.emu.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn repeat_confirm_same_answers_the_same_asset_until_it_is_deleted() {
    let env = Env::start(|c| c.repeat_confirm = RepeatConfirm::Same).await;
    let (asset, answers) = confirm_three_times(&env).await;
    for (status, body) in answers {
        assert_eq!(status, StatusCode::CREATED);
        assert_eq!(body["id"], asset["id"]);
        assert_eq!(body["name"], "once.png");
        assert_eq!(body["size_bytes"], asset["size_bytes"]);
    }
    let id = asset["id"].as_str().unwrap();
    let deleted = env
        .send(Method::DELETE, &format!("/v1/assets/{id}"), None)
        .await;
    assert_eq!(deleted.status(), StatusCode::NO_CONTENT);
    let (status, body) = json_of(env.confirm(id).await).await;
    assert_eq!(status, StatusCode::CONFLICT);
    assert_eq!(flat_code(&body), "ASSET_ALREADY_CONFIRMED");
    assert_eq!(env.emu.asset_count(), 0);
    env.emu.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_confirms_make_one_asset_in_every_repeat_mode() {
    for mode in [
        RepeatConfirm::Conflict,
        RepeatConfirm::NotFound,
        RepeatConfirm::Same,
    ] {
        let env = Env::start(|c| c.repeat_confirm = mode).await;
        let id = env.stage("race.png", &png_bytes("race")).await;
        let answers = futures_util::future::join_all((0..6).map(|_| env.confirm(&id))).await;
        let ok = answers.iter().filter(|r| r.status().is_success()).count();
        match mode {
            RepeatConfirm::Same => assert_eq!(ok, 6, "{mode:?}"),
            _ => assert_eq!(ok, 1, "{mode:?}"),
        }
        assert_eq!(env.emu.asset_count(), 1, "{mode:?}");
        env.emu.shutdown().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn error_envelope_flat_is_the_documented_form() {
    let env = Env::start(|c| c.error_envelope = ErrorEnvelope::Flat).await;
    let (status, body) = env
        .call(
            Method::POST,
            "/v1/asset-uploads",
            Some(json!({"filename": ""})),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(flat_code(&body), "VALIDATION_ERROR");
    assert!(body["errors"].as_array().is_some_and(|e| !e.is_empty()));
    env.emu.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn error_envelope_nested_wraps_every_api_error_but_not_storage() {
    let env = Env::start(|c| {
        c.error_envelope = ErrorEnvelope::Nested;
        c.rate_limit = Some(8);
    })
    .await;
    let base = env.emu.api_base();
    // 401, 404 (route and resource), 405, 400, 422 with field errors.
    let anonymous = env
        .http
        .get(format!("{base}/v1/assets"))
        .send()
        .await
        .unwrap();
    let (status, body) = json_of(anonymous).await;
    assert_eq!(
        (status, nested_code(&body)),
        (StatusCode::UNAUTHORIZED, "UNAUTHORIZED".into())
    );
    let (status, body) = env.call(Method::GET, "/v1/nope", None).await;
    assert_eq!(
        (status, nested_code(&body)),
        (StatusCode::NOT_FOUND, "NOT_FOUND".into())
    );
    let missing = format!("/v1/assets/{}", uuid::Uuid::new_v4());
    let (status, body) = env.call(Method::GET, &missing, None).await;
    assert_eq!(
        (status, nested_code(&body)),
        (StatusCode::NOT_FOUND, "ASSET_NOT_FOUND".into())
    );
    let (status, body) = env.call(Method::PUT, "/v1/assets", None).await;
    assert_eq!(
        (status, nested_code(&body)),
        (StatusCode::METHOD_NOT_ALLOWED, "METHOD_NOT_ALLOWED".into())
    );
    let malformed = env
        .api(Method::POST, "/v1/asset-uploads")
        .header(CONTENT_TYPE, "application/json")
        .body("{nope")
        .send()
        .await
        .unwrap();
    let (status, body) = json_of(malformed).await;
    assert_eq!(
        (status, nested_code(&body)),
        (StatusCode::BAD_REQUEST, "BAD_REQUEST".into())
    );
    let (status, body) = env
        .call(
            Method::POST,
            "/v1/asset-uploads",
            Some(json!({"filename": "a.png"})),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(nested_code(&body), "VALIDATION_ERROR");
    assert!(body["error"]["errors"][0]["loc"].is_array(), "{body}");
    // Confirm before the bytes landed: 409.
    let create = json!({"filename": "a.png", "mime_type": "image/png", "size_bytes": 4});
    let (status, session) = env
        .call(Method::POST, "/v1/asset-uploads", Some(create))
        .await;
    assert_eq!(status, StatusCode::CREATED, "{session}");
    let (status, body) = json_of(env.confirm(session["asset_id"].as_str().unwrap()).await).await;
    assert_eq!(
        (status, nested_code(&body)),
        (StatusCode::CONFLICT, "UPLOAD_NOT_FOUND".into())
    );
    // The injected 429 too.
    let mut limited = None;
    for _ in 0..20 {
        let response = env.send(Method::GET, "/v1/assets", None).await;
        if response.status() == StatusCode::TOO_MANY_REQUESTS {
            limited = Some(json_of(response).await.1);
            break;
        }
    }
    assert_eq!(nested_code(&limited.expect("a 429")), "RATE_LIMITED");
    // Successes are untouched, and storage keeps S3's XML.
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let (status, page) = env.call(Method::GET, "/v1/assets", None).await;
    assert_eq!(status, StatusCode::OK);
    assert!(page["items"].is_array());
    let storage = env
        .http
        .get(format!("{}/no/such/key", env.emu.storage_base()))
        .send()
        .await
        .unwrap();
    assert!(storage.status().is_client_error());
    assert!(storage.text().await.unwrap().starts_with("<?xml"));
    env.emu.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn error_envelope_nested_wraps_injected_503s() {
    let env = Env::start(|c| {
        c.error_envelope = ErrorEnvelope::Nested;
        c.fail_rate = 1.0;
        c.seed = Some(3);
    })
    .await;
    let (status, body) = env.call(Method::GET, "/v1/assets", None).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(nested_code(&body), "SERVICE_UNAVAILABLE");
    env.emu.shutdown().await;
}

/// Uploads five assets and makes two folders, then walks both lists two at a time with only
/// `pq`; checks every page's keys and that every item is seen once.
async fn walk_lists(env: &Env, expected_keys: &[&str]) {
    for i in 0..5 {
        env.upload(&format!("p{i}.png"), StatusCode::CREATED).await;
    }
    for name in ["f1", "f2", "f3"] {
        let (status, _) = env
            .call(
                Method::POST,
                "/v1/asset-folders",
                Some(json!({"name": name})),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED);
    }
    for (list, count) in [("/v1/assets", 5usize), ("/v1/asset-folders", 3)] {
        let mut seen = HashSet::new();
        let mut path = format!("{list}?limit=2");
        let mut pages = 0;
        loop {
            let (status, page) = env.call(Method::GET, &path, None).await;
            assert_eq!(status, StatusCode::OK, "{page}");
            assert_eq!(keys(&page), expected_keys, "{list}");
            pages += 1;
            for item in page["items"].as_array().unwrap() {
                assert!(seen.insert(item["id"].as_str().unwrap().to_owned()));
            }
            match next_cursor(&page) {
                Some(cursor) => path = format!("{list}?pq={}", urlencode(&cursor)),
                None => break,
            }
        }
        assert_eq!((seen.len(), pages), (count, count.div_ceil(2)), "{list}");
    }
    let (_, types) = env.call(Method::GET, "/v1/assets/types", None).await;
    assert_eq!(keys(&types), expected_keys);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pagination_both_carries_both_spellings() {
    let env = Env::start(|c| c.pagination = Pagination::Both).await;
    walk_lists(&env, &BOTH_KEYS).await;
    let (_, page) = env.call(Method::GET, "/v1/assets?limit=2", None).await;
    assert_eq!(page["next"], page["next_pq"]);
    env.emu.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pagination_next_carries_only_the_openapi_spelling() {
    let env = Env::start(|c| c.pagination = Pagination::Next).await;
    walk_lists(&env, &["first", "items", "next", "previous"]).await;
    // `previous` walks back with `pq` alone.
    let (_, first) = env.call(Method::GET, "/v1/assets?limit=2", None).await;
    let next = first["next"].as_str().unwrap();
    let (_, second) = env
        .call(
            Method::GET,
            &format!("/v1/assets?pq={}", urlencode(next)),
            None,
        )
        .await;
    let previous = second["previous"].as_str().unwrap();
    let (_, back) = env
        .call(
            Method::GET,
            &format!("/v1/assets?pq={}", urlencode(previous)),
            None,
        )
        .await;
    assert_eq!(back["items"], first["items"]);
    env.emu.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pagination_next_pq_carries_only_the_prose_spelling() {
    let env = Env::start(|c| c.pagination = Pagination::NextPq).await;
    walk_lists(&env, &["items", "next_pq", "prev_pq"]).await;
    let (_, first) = env.call(Method::GET, "/v1/assets?limit=2", None).await;
    let next = first["next_pq"].as_str().unwrap();
    let (_, second) = env
        .call(
            Method::GET,
            &format!("/v1/assets?pq={}", urlencode(next)),
            None,
        )
        .await;
    let previous = second["prev_pq"].as_str().unwrap();
    let (_, back) = env
        .call(
            Method::GET,
            &format!("/v1/assets?pq={}", urlencode(previous)),
            None,
        )
        .await;
    assert_eq!(back["items"], first["items"]);
    env.emu.shutdown().await;
}

/// The first 429 of a burst.
async fn first_429(env: &Env) -> Response {
    for _ in 0..20 {
        let response = env.send(Method::GET, "/v1/assets", None).await;
        if response.status() == StatusCode::TOO_MANY_REQUESTS {
            return response;
        }
    }
    panic!("no 429");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retry_after_on_by_default_sends_the_header_on_429() {
    assert_eq!(EmulatorConfig::default().retry_after, RetryAfter::On);
    let env = Env::start(|c| c.rate_limit = Some(2)).await;
    let response = first_429(&env).await;
    let secs: u64 = response.headers()[RETRY_AFTER]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert_eq!(secs, 1);
    assert_eq!(flat_code(&json_of(response).await.1), "RATE_LIMITED");
    env.emu.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retry_after_off_sends_no_rate_limit_headers() {
    let env = Env::start(|c| {
        c.rate_limit = Some(2);
        c.retry_after = RetryAfter::Off;
    })
    .await;
    let response = first_429(&env).await;
    assert!(!response.headers().contains_key(RETRY_AFTER));
    assert!(
        !response
            .headers()
            .keys()
            .any(|name| name.as_str().starts_with("x-ratelimit")),
        "{:?}",
        response.headers()
    );
    let (_, body) = json_of(response).await;
    assert_eq!(flat_code(&body), "RATE_LIMITED");
    assert!(
        body["message"]
            .as_str()
            .unwrap()
            .starts_with("Rate limit exceeded: ")
    );
    env.emu.shutdown().await;
}

/// Status of create, confirm and folder create.
async fn creating_statuses(env: &Env) -> [StatusCode; 3] {
    let body = json!({"filename": "s.png", "mime_type": "image/png", "size_bytes": PNG.len()});
    let (create, session) = env
        .call(Method::POST, "/v1/asset-uploads", Some(body))
        .await;
    assert!(session["asset_id"].is_string() && session["upload_url"].is_string());
    let put = env
        .http
        .put(session["upload_url"].as_str().unwrap())
        .header(CONTENT_TYPE, "image/png")
        .body(PNG.to_vec())
        .send()
        .await
        .unwrap();
    assert_eq!(put.status(), StatusCode::OK);
    let (confirm, asset) = json_of(env.confirm(session["asset_id"].as_str().unwrap()).await).await;
    assert_eq!(asset["id"], session["asset_id"]);
    let (folder, body) = env
        .call(
            Method::POST,
            "/v1/asset-folders",
            Some(json!({"name": "s"})),
        )
        .await;
    assert!(body["id"].is_string());
    [create, confirm, folder]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn created_status_201_is_the_guide() {
    let env = Env::start(|c| c.created_status = CreatedStatus::Created).await;
    assert_eq!(creating_statuses(&env).await, [StatusCode::CREATED; 3]);
    env.emu.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn created_status_200_applies_to_create_confirm_folder_and_a_same_repeat() {
    let env = Env::start(|c| {
        c.created_status = CreatedStatus::Ok;
        c.repeat_confirm = RepeatConfirm::Same;
    })
    .await;
    assert_eq!(creating_statuses(&env).await, [StatusCode::OK; 3]);
    let asset = env.upload("again.png", StatusCode::OK).await;
    let (status, again) = json_of(env.confirm(asset["id"].as_str().unwrap()).await).await;
    assert_eq!((status, &again["id"]), (StatusCode::OK, &asset["id"]));
    env.emu.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dropped_confirm_answers_are_network_errors_after_the_asset_exists() {
    let env = Env::start(|c| {
        c.drop_confirm_response_rate = 1.0;
        c.seed = Some(11);
        c.repeat_confirm = RepeatConfirm::Same;
    })
    .await;
    let id = env.stage("lost.png", &png_bytes("lost")).await;
    let path = format!("/v1/asset-uploads/{id}/confirmations");
    let result = env
        .api(Method::POST, &path)
        .json(&json!({"folder_id": null}))
        .send()
        .await;
    let err = result.expect_err("a network error, not a status");
    assert!(err.status().is_none() && !err.is_timeout(), "{err:?}");
    assert_eq!(env.emu.asset_count(), 1, "the confirm was applied");
    let (status, asset) = env
        .call(Method::GET, &format!("/v1/assets/{id}"), None)
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(asset["name"], "lost.png");

    // A retry (here answered `same`) loses its answer too, and still makes no second asset.
    let retry = env
        .api(Method::POST, &path)
        .json(&json!({"folder_id": null}))
        .send()
        .await;
    assert!(retry.is_err(), "{retry:?}");
    assert_eq!(env.emu.asset_count(), 1);
    assert_eq!(env.all_assets().await.len(), 1);

    // On the wire: not one byte of a response before the connection ends.
    let id = env.stage("raw.png", &png_bytes("raw")).await;
    let addr = env.emu.api_base().trim_start_matches("http://").to_owned();
    let mut stream = tokio::net::TcpStream::connect(&addr).await.unwrap();
    let request = format!(
        "POST /v1/asset-uploads/{id}/confirmations HTTP/1.1\r\nHost: {addr}\r\n\
         Authorization: Bearer {KEY}\r\nContent-Type: application/json\r\n\
         Content-Length: 2\r\n\r\n{{}}"
    );
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut received = Vec::new();
    let read = tokio::time::timeout(Duration::from_secs(10), stream.read_to_end(&mut received))
        .await
        .expect("the server ends the connection");
    assert!(
        received.is_empty(),
        "{:?}",
        String::from_utf8_lossy(&received)
    );
    if let Err(err) = read {
        assert_eq!(err.kind(), std::io::ErrorKind::ConnectionReset, "{err}");
    }
    assert_eq!(env.emu.asset_count(), 2);
    env.emu.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn drop_confirm_rate_is_seeded_and_only_loses_answers() {
    let outcomes = |seed| async move {
        let env = Env::start(|c| {
            c.drop_confirm_response_rate = 0.5;
            c.seed = Some(seed);
        })
        .await;
        let mut dropped = Vec::new();
        for i in 0..16 {
            let id = env
                .stage(&format!("r{i}.png"), &png_bytes(&format!("r{i}")))
                .await;
            let path = format!("/v1/asset-uploads/{id}/confirmations");
            let result = env.api(Method::POST, &path).json(&json!({})).send().await;
            match &result {
                Ok(response) => assert_eq!(response.status(), StatusCode::CREATED),
                Err(err) => assert!(err.status().is_none(), "{err:?}"),
            }
            dropped.push(result.is_err());
        }
        // Dropped or not, every confirm made its asset.
        assert_eq!(env.emu.asset_count(), 16);
        env.emu.shutdown().await;
        dropped
    };
    let a = outcomes(5).await;
    let b = outcomes(5).await;
    assert_eq!(a, b, "same seed, same losses");
    assert!(a.iter().any(|x| *x) && a.iter().any(|x| !*x), "{a:?}");
}

#[derive(Parser)]
struct Cli {
    #[command(flatten)]
    emulator: EmulatorConfig,
}

#[test]
fn the_switches_parse_and_are_in_the_help() {
    let cli = Cli::try_parse_from([
        "emulator",
        "--types-endpoint",
        "missing",
        "--repeat-confirm",
        "not-found",
        "--error-envelope",
        "nested",
        "--pagination",
        "next-pq",
        "--retry-after",
        "off",
        "--created-status",
        "200",
        "--drop-confirm-response-rate",
        "0.25",
    ])
    .unwrap();
    let c = cli.emulator;
    assert_eq!(c.types_endpoint, TypesEndpoint::Missing);
    assert_eq!(c.repeat_confirm, RepeatConfirm::NotFound);
    assert_eq!(c.error_envelope, ErrorEnvelope::Nested);
    assert_eq!(c.pagination, Pagination::NextPq);
    assert_eq!(c.retry_after, RetryAfter::Off);
    assert_eq!(c.created_status, CreatedStatus::Ok);
    assert!((c.drop_confirm_response_rate - 0.25).abs() < f64::EPSILON);

    let defaults = Cli::try_parse_from(["emulator"]).unwrap().emulator;
    let default = EmulatorConfig::default();
    assert_eq!(
        (
            defaults.types_endpoint,
            defaults.repeat_confirm,
            defaults.error_envelope,
            defaults.pagination,
            defaults.retry_after,
            defaults.created_status,
        ),
        (
            default.types_endpoint,
            default.repeat_confirm,
            default.error_envelope,
            default.pagination,
            default.retry_after,
            default.created_status,
        )
    );
    assert_eq!(defaults.drop_confirm_response_rate, 0.0);
    assert!(Cli::try_parse_from(["emulator", "--created-status", "204"]).is_err());

    let help = Cli::command().render_long_help().to_string();
    for text in [
        "--types-endpoint",
        "items",
        "array",
        "missing",
        "--repeat-confirm",
        "conflict",
        "not-found",
        "same",
        "--error-envelope",
        "flat",
        "nested",
        "--pagination",
        "next-pq",
        "--retry-after",
        "--created-status",
        "201",
        "200",
        "--drop-confirm-response-rate",
    ] {
        assert!(help.contains(text), "{text} missing:\n{help}");
    }
}
