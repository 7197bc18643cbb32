//! The emulator over real HTTP on loopback, driven with plain reqwest: the three-step upload,
//! the rules around it, listing, folders, thumbnails, fault injection and the request log.

use std::time::{Duration, Instant};

use reqwest::header::{AUTHORIZATION, CONTENT_TYPE, RETRY_AFTER};
use reqwest::{Client, Method, RequestBuilder, Response, StatusCode};
use runflow_uploader::api::models::{
    Asset, AssetType, CurrentUser, ErrorBody, Folder, MAX_UPLOAD_BYTES, Page, UploadSession,
};
use runflow_uploader::emulator::{EmulatorConfig, ORG_ID, RunningEmulator, USER_ID};
use serde::de::DeserializeOwned;
use serde_json::{Value, json};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

const KEY: &str = "rf_test_emulator_http";

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

    /// An authenticated API request.
    fn api(&self, method: Method, path: &str) -> RequestBuilder {
        self.http
            .request(method, format!("{}{path}", self.emu.api_base()))
            .bearer_auth(KEY)
    }

    /// Sends an authenticated API request, with a JSON body if given.
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

    /// GETs an API path, expecting 200 and JSON of type `T`.
    async fn get<T: DeserializeOwned>(&self, path: &str) -> T {
        let response = self.send(Method::GET, path, None).await;
        assert_eq!(response.status(), StatusCode::OK, "GET {path}");
        response.json().await.expect("JSON body")
    }

    /// An unauthenticated request to any URL.
    async fn fetch(&self, url: &str) -> Response {
        self.http.get(url).send().await.expect("request")
    }

    async fn create_upload(&self, filename: &str, mime: &str, size: u64) -> UploadSession {
        let body = json!({"filename": filename, "mime_type": mime, "size_bytes": size});
        let response = self
            .send(Method::POST, "/v1/asset-uploads", Some(body))
            .await;
        assert_eq!(response.status(), StatusCode::CREATED);
        response.json().await.expect("upload session")
    }

    async fn put(&self, url: &str, mime: &str, bytes: Vec<u8>) -> Response {
        self.http
            .put(url)
            .header(CONTENT_TYPE, mime)
            .body(bytes)
            .send()
            .await
            .expect("storage PUT")
    }

    async fn confirm(&self, id: &str, body: Option<Value>) -> Response {
        let path = format!("/v1/asset-uploads/{id}/confirmations");
        self.send(Method::POST, &path, body).await
    }

    /// The whole flow; returns the confirmed asset.
    async fn upload(&self, name: &str, mime: &str, bytes: Vec<u8>, folder: Option<&str>) -> Asset {
        let session = self.create_upload(name, mime, bytes.len() as u64).await;
        let put = self.put(&session.upload_url, mime, bytes).await;
        assert_eq!(put.status(), StatusCode::OK);
        let response = self
            .confirm(&session.asset_id, Some(json!({"folder_id": folder})))
            .await;
        assert_eq!(response.status(), StatusCode::CREATED);
        response.json().await.expect("asset")
    }

    async fn folder(&self, name: &str, parent: Option<&str>) -> Folder {
        let body = json!({"name": name, "parent_id": parent});
        let response = self
            .send(Method::POST, "/v1/asset-folders", Some(body))
            .await;
        assert_eq!(response.status(), StatusCode::CREATED);
        response.json().await.expect("folder")
    }
}

/// Status and error envelope of a response.
async fn error_of(response: Response) -> (StatusCode, ErrorBody) {
    let status = response.status();
    let body = response.text().await.expect("body");
    let error = serde_json::from_str(&body)
        .unwrap_or_else(|err| panic!("not an error envelope ({err}): {body}"));
    (status, error)
}

/// Status and error code of an API response.
async fn code_of(response: Response) -> (StatusCode, String) {
    let (status, error) = error_of(response).await;
    (status, error.code)
}

/// Status and S3 error code of a storage response.
async fn xml_error_of(response: Response) -> (StatusCode, String) {
    let status = response.status();
    let body = response.text().await.expect("body");
    assert!(body.starts_with("<?xml"), "{body}");
    let code = body
        .split("<Code>")
        .nth(1)
        .and_then(|rest| rest.split("</Code>").next())
        .unwrap_or_default()
        .to_owned();
    (status, code)
}

fn png(width: u32, height: u32) -> Vec<u8> {
    let image = image::RgbImage::from_fn(width, height, |x, y| {
        image::Rgb([(x % 256) as u8, (y % 256) as u8, 128])
    });
    let mut bytes = Vec::new();
    image::DynamicImage::ImageRgb8(image)
        .write_to(
            &mut std::io::Cursor::new(&mut bytes),
            image::ImageFormat::Png,
        )
        .expect("PNG encodes");
    bytes
}

fn names(page: &Page<Asset>) -> Vec<String> {
    page.items
        .iter()
        .map(|a| a.name.clone().unwrap_or_default())
        .collect()
}

fn create_body(filename: &str, mime: &str, size: i64) -> Value {
    json!({"filename": filename, "mime_type": mime, "size_bytes": size})
}

fn urlencode(text: &str) -> String {
    url::form_urlencoded::byte_serialize(text.as_bytes()).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn full_flow_stores_real_bytes_and_serves_them_back() {
    let env = Env::start(|_| {}).await;
    let bytes: Vec<u8> = (0..200_000u32).map(|i| (i * 7 % 251) as u8).collect();
    let size = bytes.len() as u64;
    let session = env.create_upload("clip final.mp4", "video/mp4", size).await;
    assert!(uuid::Uuid::parse_str(&session.asset_id).is_ok());
    assert!(session.upload_url.starts_with(&env.emu.storage_base()));
    assert!(session.upload_url.contains("X-Amz-Signature="));
    assert!(session.upload_url.contains("/clip%20final.mp4?"));

    let put = env
        .put(&session.upload_url, "video/mp4", bytes.clone())
        .await;
    assert_eq!(put.status(), StatusCode::OK);
    assert!(put.headers().contains_key("etag"));

    // An empty body is a valid confirmation.
    let response = env.confirm(&session.asset_id, None).await;
    assert_eq!(response.status(), StatusCode::CREATED);
    let asset: Asset = response.json().await.unwrap();
    assert_eq!(asset.id.as_deref(), Some(session.asset_id.as_str()));
    assert_eq!(asset.org_id.as_deref(), Some(ORG_ID));
    assert_eq!(asset.name.as_deref(), Some("clip final.mp4"));
    assert_eq!(asset.size_bytes, Some(size));
    assert_eq!(asset.mime_type.as_deref(), Some("video/mp4"));
    assert_eq!(asset.asset_type.as_deref(), Some("video"));
    assert_eq!(asset.source_type.as_deref(), Some("upload"));
    assert_eq!((asset.source_id, asset.thumbnail_url), (None, None));
    assert_eq!(asset.created_by.as_deref(), Some(USER_ID));
    assert!(asset.r2_key.unwrap().contains(&session.asset_id));
    let created = asset.created_at.unwrap();
    assert!(created.ends_with('Z'));
    assert!(OffsetDateTime::parse(&created, &Rfc3339).is_ok());

    let download = env.fetch(&asset.url.unwrap()).await;
    assert_eq!(download.status(), StatusCode::OK);
    assert_eq!(download.headers()[CONTENT_TYPE], "video/mp4");
    assert_eq!(download.bytes().await.unwrap().as_ref(), bytes.as_slice());

    let path = format!("/v1/assets/{}?embed=created_by_user", session.asset_id);
    let fetched: Asset = env.get(&path).await;
    let user = fetched.created_by_user.expect("embedded user");
    assert_eq!(user.id.as_deref(), Some(USER_ID));
    let again = env.fetch(&fetched.url.unwrap()).await;
    assert_eq!(again.bytes().await.unwrap().len(), bytes.len());
    assert_eq!(env.emu.asset_count(), 1);
    env.emu.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn auth_requires_a_bearer_key_except_for_health() {
    let env = Env::start(|_| {}).await;
    let url = format!("{}/v1/assets", env.emu.api_base());
    let unauthorized = (StatusCode::UNAUTHORIZED, "UNAUTHORIZED".to_owned());
    assert_eq!(code_of(env.fetch(&url).await).await, unauthorized);
    let x_api_key = env.http.get(&url).header("x-api-key", KEY).send().await;
    assert_eq!(code_of(x_api_key.unwrap()).await, unauthorized);
    let wrong = env.http.get(&url).bearer_auth("rf_test_nope").send().await;
    assert_eq!(code_of(wrong.unwrap()).await, unauthorized);

    let org = |id: String| {
        env.api(Method::GET, "/v1/assets")
            .header("X-Organization-Id", id)
            .send()
    };
    let other_org = org(uuid::Uuid::new_v4().to_string()).await.unwrap();
    assert_eq!(
        code_of(other_org).await,
        (
            StatusCode::FORBIDDEN,
            "ORGANIZATION_MEMBERSHIP_REQUIRED".to_owned()
        )
    );
    let own_org = org(ORG_ID.to_owned()).await.unwrap();
    assert_eq!(own_org.status(), StatusCode::OK);

    let health = env
        .fetch(&format!("{}/v1/health", env.emu.api_base()))
        .await;
    assert_eq!(health.status(), StatusCode::OK);
    let health: Value = health.json().await.unwrap();
    assert_eq!(health, json!({"status": "ok", "ok": true}));
    let readiness = env
        .fetch(&format!("{}/v1/readiness", env.emu.api_base()))
        .await;
    assert_eq!(readiness.status(), StatusCode::OK);

    let me: CurrentUser = env.get("/v1/auth/me").await;
    let membership = &me.memberships[0];
    assert_eq!(membership.org.as_ref().unwrap().id.as_deref(), Some(ORG_ID));
    assert_eq!(membership.role_code.as_deref(), Some("owner"));
    // A key given without scopes has every asset scope Runflow's clients use.
    assert_eq!(
        membership.scopes,
        [
            "assets:create",
            "assets:read",
            "assets:edit",
            "assets:delete"
        ]
    );
    env.emu.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn create_validates_every_field_and_bad_requests_are_json() {
    let env = Env::start(|_| {}).await;
    let body = create_body;
    let max = i64::try_from(MAX_UPLOAD_BYTES).unwrap();
    let cases = [
        (body("a.png", "image/png", max + 1), "body.size_bytes"),
        (body("a.png", "image/png", 0), "body.size_bytes"),
        (body("a.png", "image/png", -5), "body.size_bytes"),
        (body("a.pdf", "application/pdf", 5), "body.mime_type"),
        (body("", "image/png", 5), "body.filename"),
        (body(&"x".repeat(501), "image/png", 5), "body.filename"),
        (
            json!({"mime_type": "image/png", "size_bytes": 5}),
            "body.filename",
        ),
    ];
    for (body, field) in cases {
        let response = env
            .send(Method::POST, "/v1/asset-uploads", Some(body.clone()))
            .await;
        let (status, error) = error_of(response).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
        assert_eq!(error.code, "VALIDATION_ERROR");
        let fields: Vec<String> = error.errors.unwrap().iter().map(|e| e.field()).collect();
        assert_eq!(fields, [field], "{body}");
    }
    let at_limit = body("a.png", "image/png", max);
    let response = env
        .send(Method::POST, "/v1/asset-uploads", Some(at_limit))
        .await;
    assert_eq!(response.status(), StatusCode::CREATED);

    let raw = |content_type: &'static str, body: &'static str| {
        env.api(Method::POST, "/v1/asset-uploads")
            .header(CONTENT_TYPE, content_type)
            .body(body)
            .send()
    };
    let malformed = raw("application/json", "{\"filename\": ").await.unwrap();
    assert_eq!(code_of(malformed).await.0, StatusCode::BAD_REQUEST);
    let not_json = raw("text/plain", "hello").await.unwrap();
    assert_eq!(code_of(not_json).await.0, StatusCode::BAD_REQUEST);
    let empty = env.send(Method::POST, "/v1/asset-uploads", None).await;
    assert_eq!(code_of(empty).await.0, StatusCode::UNPROCESSABLE_ENTITY);

    let unknown = env.send(Method::GET, "/v1/nope", None).await;
    assert_eq!(code_of(unknown).await.0, StatusCode::NOT_FOUND);
    let wrong_method = env.send(Method::PUT, "/v1/asset-uploads", None).await;
    assert_eq!(
        code_of(wrong_method).await.0,
        StatusCode::METHOD_NOT_ALLOWED
    );

    let types: Page<AssetType> = env.get("/v1/assets/types").await;
    assert_eq!(types.items.len(), 3);
    let image = types.items.iter().find(|t| t.name == "image").unwrap();
    assert!(image.mime_types.iter().any(|m| m == "image/webp"));
    let upload: Value = env.get("/v1/assets/source-types/upload").await;
    assert_eq!(upload["name"], "upload");
    let other = env
        .send(Method::GET, "/v1/assets/source-types/ftp", None)
        .await;
    assert_eq!(code_of(other).await.0, StatusCode::NOT_FOUND);
    env.emu.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn confirm_enforces_the_upload_rules() {
    let env = Env::start(|_| {}).await;
    let unknown = env.confirm(&uuid::Uuid::new_v4().to_string(), None).await;
    assert_eq!(
        code_of(unknown).await,
        (StatusCode::NOT_FOUND, "ASSET_UPLOAD_NOT_FOUND".to_owned())
    );

    let session = env.create_upload("a.wav", "audio/wav", 10).await;
    let early = env.confirm(&session.asset_id, Some(json!({}))).await;
    assert_eq!(
        code_of(early).await,
        (StatusCode::CONFLICT, "UPLOAD_NOT_FOUND".to_owned())
    );

    let put = env.put(&session.upload_url, "audio/wav", vec![1; 10]).await;
    assert_eq!(put.status(), StatusCode::OK);
    let unknown_folder = json!({"folder_id": uuid::Uuid::new_v4().to_string()});
    let bad_folder = env.confirm(&session.asset_id, Some(unknown_folder)).await;
    let (status, error) = error_of(bad_folder).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(error.errors.unwrap()[0].field(), "body.folder_id");

    let null_folder = Some(json!({"folder_id": null}));
    let first = env.confirm(&session.asset_id, null_folder).await;
    assert_eq!(first.status(), StatusCode::CREATED);
    let second = env.confirm(&session.asset_id, None).await;
    assert_eq!(
        code_of(second).await,
        (StatusCode::CONFLICT, "ASSET_ALREADY_CONFIRMED".to_owned())
    );
    // Confirmed objects are sealed.
    let late_put = env.put(&session.upload_url, "audio/wav", vec![2; 10]).await;
    assert_eq!(
        xml_error_of(late_put).await,
        (StatusCode::FORBIDDEN, "AccessDenied".to_owned())
    );

    // More bytes than declared: stored, but the confirmation refuses them.
    let session = env.create_upload("b.wav", "audio/wav", 10).await;
    let put = env.put(&session.upload_url, "audio/wav", vec![1; 11]).await;
    assert_eq!(put.status(), StatusCode::OK);
    assert_eq!(
        code_of(env.confirm(&session.asset_id, None).await).await,
        (
            StatusCode::UNPROCESSABLE_ENTITY,
            "UPLOAD_SIZE_MISMATCH".to_owned()
        )
    );
    // A repeated PUT overwrites, and the real (smaller) size is what gets recorded.
    let put = env.put(&session.upload_url, "audio/wav", vec![1; 8]).await;
    assert_eq!(put.status(), StatusCode::OK);
    let asset: Asset = env
        .confirm(&session.asset_id, None)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(asset.size_bytes, Some(8));
    assert_eq!(asset.asset_type.as_deref(), Some("audio"));
    env.emu.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn storage_checks_signature_content_type_and_auth_mechanism() {
    let env = Env::start(|_| {}).await;
    let session = env.create_upload("a.png", "image/png", 4).await;
    let url = session.upload_url.as_str();
    let mismatch = (StatusCode::FORBIDDEN, "SignatureDoesNotMatch".to_owned());
    let wrong_type = env.put(url, "image/jpeg", vec![0; 4]).await;
    assert_eq!(xml_error_of(wrong_type).await, mismatch);
    let with_auth = env
        .http
        .put(url)
        .header(CONTENT_TYPE, "image/png")
        .header(AUTHORIZATION, format!("Bearer {KEY}"))
        .body(vec![0; 4])
        .send()
        .await
        .unwrap();
    assert_eq!(
        xml_error_of(with_auth).await,
        (StatusCode::BAD_REQUEST, "InvalidArgument".to_owned())
    );
    let tampered = env
        .put(&url.replace("a.png", "b.png"), "image/png", vec![0; 4])
        .await;
    assert_eq!(xml_error_of(tampered).await, mismatch);
    let unsigned = url.split('?').next().unwrap();
    let unsigned = env.put(unsigned, "image/png", vec![0; 4]).await;
    assert_eq!(xml_error_of(unsigned).await.0, StatusCode::FORBIDDEN);
    assert_eq!(env.emu.asset_count(), 0);

    // Over 50 MiB is refused by storage from the Content-Length, before reading the body: the
    // client sees the 400 or, still sending, a broken connection. Nothing is stored either way.
    let max = usize::try_from(MAX_UPLOAD_BYTES).unwrap();
    let session = env
        .create_upload("big.mp4", "video/mp4", MAX_UPLOAD_BYTES)
        .await;
    let too_big = env
        .http
        .put(&session.upload_url)
        .header(CONTENT_TYPE, "video/mp4")
        .body(vec![0; max + 1])
        .send()
        .await;
    if let Ok(response) = too_big {
        assert_eq!(
            xml_error_of(response).await,
            (StatusCode::BAD_REQUEST, "EntityTooLarge".to_owned())
        );
    }
    assert_eq!(
        code_of(env.confirm(&session.asset_id, None).await).await,
        (StatusCode::CONFLICT, "UPLOAD_NOT_FOUND".to_owned())
    );
    // Exactly 50 MiB goes through, streamed to disk.
    let started = Instant::now();
    let put = env
        .put(&session.upload_url, "video/mp4", vec![7; max])
        .await;
    assert_eq!(put.status(), StatusCode::OK);
    assert!(
        started.elapsed() < Duration::from_secs(20),
        "{:?}",
        started.elapsed()
    );
    let asset: Asset = env
        .confirm(&session.asset_id, None)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(asset.size_bytes, Some(MAX_UPLOAD_BYTES));
    env.emu.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn presigned_urls_and_sessions_expire() {
    let env = Env::start(|c| {
        c.presign_ttl_secs = 1;
        c.url_ttl_secs = 1;
        c.upload_session_ttl_secs = 1;
    })
    .await;
    let asset = env.upload("a.wav", "audio/wav", vec![1; 16], None).await;
    let late_put = env.create_upload("b.wav", "audio/wav", 16).await;
    let late_confirm = env.create_upload("c.wav", "audio/wav", 16).await;
    let put = env
        .put(&late_confirm.upload_url, "audio/wav", vec![1; 16])
        .await;
    assert_eq!(put.status(), StatusCode::OK);
    tokio::time::sleep(Duration::from_millis(2100)).await;

    let put = env
        .put(&late_put.upload_url, "audio/wav", vec![1; 16])
        .await;
    let body = put.text().await.unwrap();
    assert!(body.contains("<Code>AccessDenied</Code>"), "{body}");
    assert!(body.contains("Request has expired"), "{body}");
    let download = env.fetch(&asset.url.unwrap()).await;
    assert_eq!(
        xml_error_of(download).await,
        (StatusCode::FORBIDDEN, "AccessDenied".to_owned())
    );
    assert_eq!(
        code_of(env.confirm(&late_confirm.asset_id, None).await).await,
        (StatusCode::NOT_FOUND, "ASSET_UPLOAD_NOT_FOUND".to_owned())
    );

    // A GET re-signs the URL.
    let fresh: Asset = env.get(&format!("/v1/assets/{}", asset.id.unwrap())).await;
    let download = env.fetch(&fresh.url.unwrap()).await;
    assert_eq!(download.status(), StatusCode::OK);
    env.emu.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pagination_walks_three_pages_stably() {
    let env = Env::start(|_| {}).await;
    for i in 0..7 {
        let name = format!("f{i}.wav");
        env.upload(&name, "audio/wav", vec![1; 10 + i], None).await;
    }
    let first: Page<Asset> = env.get("/v1/assets?limit=3").await;
    assert_eq!(first.items.len(), 3);
    assert!(first.previous.is_none() && first.prev_pq.is_none());
    assert_eq!(first.next, first.next_pq);
    // Newest first by default.
    assert_eq!(names(&first), ["f6.wav", "f5.wav", "f4.wav"]);

    // A new asset between pages does not shift later pages.
    env.upload("late.wav", "audio/wav", vec![1; 3], None).await;
    let next = first.next.unwrap();
    let second: Page<Asset> = env.get(&format!("/v1/assets?pq={next}")).await;
    assert_eq!(names(&second), ["f3.wav", "f2.wav", "f1.wav"]);
    let next = second.next_pq.clone().unwrap();
    let third: Page<Asset> = env.get(&format!("/v1/assets?pq={next}&limit=3")).await;
    assert_eq!(names(&third), ["f0.wav"]);
    assert!(third.next.is_none() && third.next_pq.is_none());

    let previous = second.previous.unwrap();
    let back: Page<Asset> = env
        .get(&format!("/v1/assets?pq={previous}&from_prev=true"))
        .await;
    assert_eq!(names(&back), ["f6.wav", "f5.wav", "f4.wav"]);

    let sorted = async |sort: &str| {
        let path = format!("/v1/assets?sort_by={sort}");
        env.get::<Page<Asset>>(&path).await
    };
    let by_size = sorted("size_bytes:desc,name:asc&limit=2").await;
    assert_eq!(names(&by_size), ["f6.wav", "f5.wav"]);
    let by_name = names(&sorted("name:asc").await);
    assert_eq!(
        (by_name[0].as_str(), by_name[7].as_str()),
        ("f0.wav", "late.wav")
    );
    let projected: Value = env.get("/v1/assets?fields=id,name&limit=1").await;
    assert_eq!(projected["items"][0].as_object().unwrap().len(), 2);

    let bad = [
        "pq=garbage",
        "pq=eyJyIjoiYXNzZXRzIn0.abcd",
        "limit=0",
        "limit=501",
        "sort_by=color:asc",
        "q=name%3A",
        "q=(a",
        "from_prev=perhaps",
    ];
    for query in bad {
        let response = env
            .send(Method::GET, &format!("/v1/assets?{query}"), None)
            .await;
        let (status, _) = error_of(response).await;
        assert!(
            status == StatusCode::BAD_REQUEST || status == StatusCode::UNPROCESSABLE_ENTITY,
            "{query}: {status}"
        );
    }
    env.emu.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn q_filters_by_folder_type_name_and_size() {
    let env = Env::start(|_| {}).await;
    let folder = env.folder("Shots", None).await.id.unwrap();
    env.upload("root.png", "image/png", png(8, 8), None).await;
    env.upload("in folder.png", "image/png", png(8, 8), Some(&folder))
        .await;
    env.upload("song.mp3", "audio/mpeg", vec![3; 2000], Some(&folder))
        .await;

    let hits = async |q: &str| {
        let path = format!("/v1/assets?sort_by=name:asc&q={}", urlencode(q));
        names(&env.get::<Page<Asset>>(&path).await)
    };
    assert_eq!(hits("folder_id:null").await, ["root.png"]);
    let in_folder = hits(&format!("folder_id:{folder}")).await;
    assert_eq!(in_folder, ["in folder.png", "song.mp3"]);
    assert_eq!(hits("asset_type:audio").await, ["song.mp3"]);
    assert_eq!(hits("name:\"in folder.png\"").await, ["in folder.png"]);
    assert!(hits("name:\"IN FOLDER.png\"").await.is_empty());
    assert_eq!(hits("size_bytes>=2000").await, ["song.mp3"]);
    let both = hits(&format!("folder_id={folder} AND asset_type=image")).await;
    assert_eq!(both, ["in folder.png"]);
    let either = hits("asset_type:audio OR folder_id:null").await;
    assert_eq!(either, ["root.png", "song.mp3"]);
    assert_eq!(hits("created_at>2020-01-01").await.len(), 3);
    assert!(hits("created_at<2020-01-01T00:00:00Z").await.is_empty());
    let path = format!("/v1/assets?q={}", urlencode("colour:red"));
    let unknown = env.send(Method::GET, &path, None).await;
    assert_eq!(code_of(unknown).await.0, StatusCode::UNPROCESSABLE_ENTITY);
    env.emu.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn delete_and_patch_assets() {
    let env = Env::start(|_| {}).await;
    let folder = env.folder("Target", None).await.id.unwrap();
    let asset = env.upload("a.wav", "audio/wav", vec![1; 10], None).await;
    let path = format!("/v1/assets/{}", asset.id.unwrap());

    let patch = |body: Value| env.send(Method::PATCH, &path, Some(body));
    let moved = patch(json!({"name": "b.wav", "folder_id": folder})).await;
    let moved: Asset = moved.json().await.unwrap();
    assert_eq!(moved.name.as_deref(), Some("b.wav"));
    assert_eq!(moved.folder_id.as_deref(), Some(folder.as_str()));
    let to_root: Asset = patch(json!({"folder_id": null}))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(
        (to_root.folder_id, to_root.name.as_deref()),
        (None, Some("b.wav"))
    );
    let unknown_folder = json!({"folder_id": uuid::Uuid::new_v4().to_string()});
    let invalid = StatusCode::UNPROCESSABLE_ENTITY;
    assert_eq!(code_of(patch(unknown_folder).await).await.0, invalid);
    assert_eq!(code_of(patch(json!({"name": ""})).await).await.0, invalid);

    let deleted = env.send(Method::DELETE, &path, None).await;
    assert_eq!(deleted.status(), StatusCode::NO_CONTENT);
    assert_eq!(
        code_of(env.send(Method::GET, &path, None).await).await,
        (StatusCode::NOT_FOUND, "ASSET_NOT_FOUND".to_owned())
    );
    let again = env.send(Method::DELETE, &path, None).await;
    assert_eq!(code_of(again).await.0, StatusCode::NOT_FOUND);
    assert!(env.get::<Page<Asset>>("/v1/assets").await.items.is_empty());
    let rename_deleted = patch(json!({"name": "c.wav"})).await;
    assert_eq!(code_of(rename_deleted).await.0, StatusCode::NOT_FOUND);
    env.emu.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn folders_are_a_tree_with_unique_sibling_names() {
    let env = Env::start(|_| {}).await;
    let parent = env.folder("Campaigns", None).await;
    assert_eq!(parent.parent_id, None);
    let parent_id = parent.id.unwrap();
    let child_id = env
        .folder("2026 Spring", Some(&parent_id))
        .await
        .id
        .unwrap();
    // Same name under another parent is fine; under the same parent it is a conflict.
    env.folder("2026 Spring", None).await;
    let create = |body: Value| env.send(Method::POST, "/v1/asset-folders", Some(body));
    let duplicate = create(json!({"name": "2026 Spring", "parent_id": parent_id})).await;
    assert_eq!(
        code_of(duplicate).await,
        (StatusCode::CONFLICT, "FOLDER_NAME_CONFLICT".to_owned())
    );
    let orphan = create(json!({"name": "x", "parent_id": uuid::Uuid::new_v4().to_string()}));
    assert_eq!(
        code_of(orphan.await).await.0,
        StatusCode::UNPROCESSABLE_ENTITY
    );

    let roots: Page<Folder> = env
        .get("/v1/asset-folders?q=parent_id:null&sort_by=name:asc")
        .await;
    let root_names: Vec<_> = roots
        .items
        .iter()
        .map(|f| f.name.clone().unwrap())
        .collect();
    assert_eq!(root_names, ["2026 Spring", "Campaigns"]);

    let patch = async |id: &str, body: Value| {
        let path = format!("/v1/asset-folders/{id}");
        env.send(Method::PATCH, &path, Some(body)).await
    };
    let cycle = patch(&parent_id, json!({"parent_id": child_id})).await;
    assert_eq!(code_of(cycle).await.0, StatusCode::UNPROCESSABLE_ENTITY);
    let clash = patch(&child_id, json!({"parent_id": null})).await;
    assert_eq!(code_of(clash).await.0, StatusCode::CONFLICT);
    let renamed: Folder = patch(&child_id, json!({"name": "Spring"}))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(renamed.name.as_deref(), Some("Spring"));

    let delete = async |id: &str| {
        let path = format!("/v1/asset-folders/{id}");
        env.send(Method::DELETE, &path, None).await
    };
    assert_eq!(
        code_of(delete(&parent_id).await).await,
        (StatusCode::CONFLICT, "FOLDER_NOT_EMPTY".to_owned())
    );
    let asset = env
        .upload("a.wav", "audio/wav", vec![1; 4], Some(&child_id))
        .await;
    assert_eq!(
        code_of(delete(&child_id).await).await.0,
        StatusCode::CONFLICT
    );
    let asset_path = format!("/v1/assets/{}", asset.id.unwrap());
    env.send(Method::DELETE, &asset_path, None).await;
    assert_eq!(delete(&child_id).await.status(), StatusCode::NO_CONTENT);
    assert_eq!(delete(&parent_id).await.status(), StatusCode::NO_CONTENT);
    let gone = env
        .send(Method::GET, &format!("/v1/asset-folders/{parent_id}"), None)
        .await;
    assert_eq!(code_of(gone).await.0, StatusCode::NOT_FOUND);
    assert_eq!(env.emu.folder_count(), 1);
    env.emu.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn thumbnails_for_decodable_images_only() {
    let env = Env::start(|_| {}).await;
    let asset = env
        .upload("wide.png", "image/png", png(1500, 700), None)
        .await;
    let thumb = env.fetch(&asset.thumbnail_url.expect("thumbnail")).await;
    assert_eq!(thumb.headers()[CONTENT_TYPE], "image/png");
    let thumb = image::load_from_memory(&thumb.bytes().await.unwrap()).unwrap();
    assert_eq!((thumb.width(), thumb.height()), (512, 239));

    let mut corrupt = png(64, 64);
    corrupt.truncate(60);
    let broken = env
        .upload("broken.png", "image/png", corrupt.clone(), None)
        .await;
    assert_eq!(broken.thumbnail_url, None);
    let download = env.fetch(&broken.url.unwrap()).await;
    assert_eq!(download.bytes().await.unwrap().as_ref(), corrupt.as_slice());
    let song = env
        .upload("song.mp3", "audio/mpeg", vec![0xff; 1000], None)
        .await;
    assert_eq!(song.thumbnail_url, None);

    // Still consistent on later reads.
    let again: Asset = env.get(&format!("/v1/assets/{}", broken.id.unwrap())).await;
    assert_eq!(again.thumbnail_url, None);
    env.emu.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fail_rate_answers_503_without_touching_state() {
    let env = Env::start(|c| {
        c.fail_rate = 1.0;
        c.seed = Some(42);
    })
    .await;
    let body = json!({"filename": "a.png", "mime_type": "image/png", "size_bytes": 5});
    let response = env
        .send(Method::POST, "/v1/asset-uploads", Some(body))
        .await;
    assert_eq!(
        code_of(response).await,
        (
            StatusCode::SERVICE_UNAVAILABLE,
            "SERVICE_UNAVAILABLE".to_owned()
        )
    );
    assert_eq!(env.emu.upload_session_count(), 0);
    let body = json!({"name": "x"});
    let folder = env
        .send(Method::POST, "/v1/asset-folders", Some(body))
        .await;
    assert_eq!(folder.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(env.emu.folder_count(), 0);
    let health = env
        .fetch(&format!("{}/v1/health", env.emu.api_base()))
        .await;
    assert_eq!(health.status(), StatusCode::OK);
    env.emu.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rate_limit_answers_429_with_retry_after() {
    let env = Env::start(|c| c.rate_limit = Some(3)).await;
    let mut statuses = Vec::new();
    let mut limited = None;
    for _ in 0..5 {
        let response = env.send(Method::GET, "/v1/assets", None).await;
        statuses.push(response.status());
        if response.status() == StatusCode::TOO_MANY_REQUESTS && limited.is_none() {
            let retry_after = response.headers()[RETRY_AFTER].to_str().unwrap();
            assert_eq!(retry_after.parse::<u64>().unwrap(), 1);
            limited = Some(error_of(response).await.1);
        }
    }
    let ok = statuses.iter().filter(|s| **s == StatusCode::OK).count();
    assert_eq!(ok, 3, "{statuses:?}");
    let error = limited.expect("a 429");
    assert_eq!(error.code, "RATE_LIMITED");
    assert!(error.message.starts_with("Rate limit exceeded: "));
    env.emu.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn latency_delays_api_calls() {
    let env = Env::start(|c| c.latency_ms = 150).await;
    let started = Instant::now();
    env.send(Method::GET, "/v1/assets", None).await;
    assert!(started.elapsed() >= Duration::from_millis(150));
    env.emu.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn request_log_has_paths_without_queries_and_no_secrets() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("requests.jsonl");
    let env = Env::start(|c| c.request_log = Some(log.clone())).await;
    let asset = env.upload("a.png", "image/png", png(4, 4), None).await;
    env.fetch(&asset.url.unwrap()).await;
    env.fetch(&format!("{}/v1/health", env.emu.api_base()))
        .await;

    let text = std::fs::read_to_string(&log).unwrap();
    assert!(!text.contains(KEY), "{text}");
    assert!(!text.contains("X-Amz") && !text.contains('?'), "{text}");
    let lines: Vec<Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 5, "{text}");
    for line in &lines {
        let mut keys: Vec<&String> = line.as_object().unwrap().keys().collect();
        keys.sort();
        let expected = [
            "authorization",
            "bytes",
            "listener",
            "method",
            "path",
            "status",
            "time",
        ];
        assert_eq!(keys, expected);
    }
    let put = lines.iter().find(|l| l["method"] == "PUT").unwrap();
    assert_eq!(put["listener"], "storage");
    assert_eq!(
        (&put["authorization"], &put["status"]),
        (&json!(false), &json!(200))
    );
    let storage_get = lines
        .iter()
        .find(|l| l["listener"] == "storage" && l["method"] == "GET")
        .unwrap();
    assert_eq!(storage_get["authorization"], false);
    // A download's line says how many bytes it fetched.
    assert_eq!(storage_get["bytes"], json!(png(4, 4).len()));
    let api: Vec<&Value> = lines.iter().filter(|l| l["listener"] == "api").collect();
    assert_eq!(api.len(), 3);
    let (health, calls): (Vec<&Value>, Vec<&Value>) =
        api.iter().partition(|l| l["path"] == "/v1/health");
    assert!(calls.iter().all(|l| l["authorization"] == true));
    assert_eq!(health[0]["authorization"], false);
    assert_eq!(
        (&api[0]["path"], &api[0]["status"]),
        (&json!("/v1/asset-uploads"), &json!(201))
    );
    env.emu.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dropped_puts_are_network_errors_and_store_nothing() {
    let env = Env::start(|c| {
        c.drop_put_rate = 1.0;
        c.seed = Some(7);
    })
    .await;
    for size in [100usize, 1_000_000] {
        let session = env.create_upload("a.mp4", "video/mp4", size as u64).await;
        let result = env
            .http
            .put(&session.upload_url)
            .header(CONTENT_TYPE, "video/mp4")
            .body(vec![5; size])
            .send()
            .await;
        assert!(result.is_err(), "size {size}: {result:?}");
        assert_eq!(
            code_of(env.confirm(&session.asset_id, None).await).await,
            (StatusCode::CONFLICT, "UPLOAD_NOT_FOUND".to_owned())
        );
    }
    env.emu.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn state_survives_a_restart_with_the_same_data_dir() {
    let dir = tempfile::tempdir().unwrap();
    let data_dir = dir.path().to_owned();
    let env = Env::start(|c| c.data_dir = Some(data_dir.clone())).await;
    let folder = env.folder("Kept", None).await.id.unwrap();
    let image = png(20, 10);
    let asset = env
        .upload("kept.png", "image/png", image.clone(), Some(&folder))
        .await;
    env.emu.shutdown().await;

    let env = Env::start(|c| c.data_dir = Some(data_dir.clone())).await;
    assert_eq!((env.emu.asset_count(), env.emu.folder_count()), (1, 1));
    let fetched: Asset = env.get(&format!("/v1/assets/{}", asset.id.unwrap())).await;
    assert_eq!(fetched.folder_id.as_deref(), Some(folder.as_str()));
    let bytes = env
        .fetch(&fetched.url.unwrap())
        .await
        .bytes()
        .await
        .unwrap();
    assert_eq!(bytes.as_ref(), image.as_slice());
    let thumb = env.fetch(&fetched.thumbnail_url.unwrap()).await;
    assert!(thumb.status().is_success());
    env.emu.shutdown().await;
    assert!(data_dir.join("state.json").is_file());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn demo_data_seeds_folders_and_images_and_generated_keys_work() {
    let config = EmulatorConfig {
        demo_data: true,
        ..EmulatorConfig::default()
    };
    let emu = RunningEmulator::start(config).await.unwrap();
    let key = emu.api_keys()[0].clone();
    assert!(key.starts_with("rf_test_"));
    let data_dir = emu.data_dir().to_owned();
    let http = Client::new();
    let response = http
        .get(format!("{}/v1/assets?limit=500", emu.api_base()))
        .bearer_auth(&key)
        .send()
        .await
        .unwrap();
    let page: Page<Asset> = response.json().await.unwrap();
    assert_eq!(page.items.len(), 12);
    assert!(page.items.iter().all(|a| a.thumbnail_url.is_some()));
    assert!(page.items.iter().any(|a| a.folder_id.is_some()));
    assert_eq!(emu.folder_count(), 4);
    let thumb_url = page.items[0].thumbnail_url.clone().unwrap();
    let thumb = http
        .get(thumb_url)
        .send()
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap();
    let thumb = image::load_from_memory(&thumb).unwrap();
    assert!(thumb.width().max(thumb.height()) <= 512);
    emu.shutdown().await;
    // The temporary data dir goes away with the emulator.
    assert!(!data_dir.exists());
}
