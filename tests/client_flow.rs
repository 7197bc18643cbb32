//! The API client against the emulator on loopback: the guide's three steps, its troubleshooting
//! table, retries, pagination, folders and delete.

#[path = "support/request_log.rs"]
mod request_log;
mod support;

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use bytes::Bytes;
use request_log::read_request_log;
use runflow_uploader::api::models::{CreateUploadRequest, MAX_UPLOAD_BYTES, PatchRequest};
use runflow_uploader::api::{ApiError, Filter, ListQuery, UploadSource};
use runflow_uploader::api::{ApiKey, ClientConfig, RunflowClient};
use runflow_uploader::emulator::RunningEmulator;
use support::{client, emulator, fast_retry};

/// A client for `emulator` with any key.
fn client_with_key(emulator: &RunningEmulator, key: &str) -> RunflowClient {
    RunflowClient::new(
        ApiKey::new(key).expect("a non-empty key"),
        ClientConfig {
            base_url: emulator.api_base(),
            retry: fast_retry(),
            ..ClientConfig::default()
        },
    )
    .expect("a valid client")
}

fn png_bytes(width: u32, height: u32) -> Vec<u8> {
    let image = image::RgbImage::from_fn(width, height, |x, y| {
        image::Rgb([(x % 256) as u8, (y % 256) as u8, 128])
    });
    let mut out = std::io::Cursor::new(Vec::new());
    image
        .write_to(&mut out, image::ImageFormat::Png)
        .expect("encode png");
    out.into_inner()
}

fn upload_request(name: &str, mime: &str, size: u64) -> CreateUploadRequest {
    CreateUploadRequest {
        filename: name.to_owned(),
        mime_type: mime.to_owned(),
        size_bytes: size,
    }
}

/// Runs the three steps for in-memory bytes and returns the asset id.
async fn upload_bytes(
    client: &runflow_uploader::api::RunflowClient,
    name: &str,
    mime: &str,
    bytes: Vec<u8>,
    folder: Option<&str>,
) -> String {
    let size = bytes.len() as u64;
    let session = client
        .create_upload(&upload_request(name, mime, size))
        .await
        .expect("create");
    client
        .put_upload(
            &session.upload_url,
            mime,
            size,
            &UploadSource::Bytes(Bytes::from(bytes)),
            None,
        )
        .await
        .expect("put");
    let asset = client
        .confirm_upload(&session.asset_id, folder)
        .await
        .expect("confirm");
    asset.id.expect("asset id")
}

#[tokio::test]
async fn three_step_upload_streams_a_file_and_creates_a_usable_asset() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("requests.jsonl");
    let emu = emulator(|c| c.request_log = Some(log.clone())).await;
    let client = client(&emu);

    let bytes = png_bytes(900, 600);
    let path = dir.path().join("perfume-bottle.png");
    std::fs::write(&path, &bytes).unwrap();
    let size = bytes.len() as u64;

    let session = client
        .create_upload(&upload_request("perfume-bottle.png", "image/png", size))
        .await
        .unwrap();
    assert!(!session.asset_id.is_empty());

    let last_progress = Arc::new(AtomicU64::new(0));
    let progress = Arc::clone(&last_progress);
    client
        .put_upload(
            &session.upload_url,
            "image/png",
            size,
            &UploadSource::File(path),
            Some(Arc::new(move |sent| progress.store(sent, Ordering::SeqCst))),
        )
        .await
        .unwrap();
    assert_eq!(last_progress.load(Ordering::SeqCst), size);

    let asset = client
        .confirm_upload(&session.asset_id, None)
        .await
        .unwrap();
    assert_eq!(asset.id.as_deref(), Some(session.asset_id.as_str()));
    assert_eq!(asset.name.as_deref(), Some("perfume-bottle.png"));
    assert_eq!(asset.size_bytes, Some(size));
    assert_eq!(asset.mime_type.as_deref(), Some("image/png"));
    assert_eq!(asset.asset_type.as_deref(), Some("image"));
    assert_eq!(asset.folder_id, None);

    // The guide's "verify it worked": GET the asset, then download it through its signed URL.
    let fetched = client.asset(&session.asset_id).await.unwrap();
    let download = reqwest::get(fetched.url.expect("signed url"))
        .await
        .unwrap();
    assert!(download.status().is_success());
    assert_eq!(download.bytes().await.unwrap().as_ref(), bytes.as_slice());

    // The thumbnail is a real, smaller image.
    let thumb_url = fetched.thumbnail_url.expect("images get a thumbnail");
    let thumb = reqwest::get(thumb_url)
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap();
    let thumb = image::load_from_memory(&thumb).unwrap();
    assert!(thumb.width().max(thumb.height()) <= 512);

    // The PUT went to storage with no credential; every API call carried the key.
    let requests = read_request_log(&log);
    let puts: Vec<_> = requests.iter().filter(|r| r.method == "PUT").collect();
    assert_eq!(puts.len(), 1);
    assert!(
        puts.iter()
            .all(|r| r.listener == "storage" && !r.authorization)
    );
    assert!(
        requests
            .iter()
            .filter(|r| r.listener == "api")
            .all(|r| r.authorization)
    );
}

#[tokio::test]
async fn expired_presigned_url_is_a_clear_final_error() {
    let emu = emulator(|c| c.presign_ttl_secs = 1).await;
    let client = client(&emu);
    let session = client
        .create_upload(&upload_request("late.png", "image/png", 3))
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(2100)).await;
    let err = client
        .put_upload(
            &session.upload_url,
            "image/png",
            3,
            &UploadSource::Bytes(Bytes::from_static(b"abc")),
            None,
        )
        .await
        .unwrap_err();
    assert!(
        matches!(err, ApiError::PresignedUrlRefused { .. }),
        "{err:?}"
    );
    assert!(err.to_string().contains("expired"), "{err}");
    assert!(!err.is_retryable());
}

#[tokio::test]
async fn create_rejects_oversized_files_and_unsupported_types_with_field_details() {
    let emu = emulator(|_| {}).await;
    let client = client(&emu);

    let too_big = client
        .create_upload(&upload_request(
            "huge.mp4",
            "video/mp4",
            MAX_UPLOAD_BYTES + 1,
        ))
        .await
        .unwrap_err();
    let ApiError::Validation { fields, .. } = &too_big else {
        panic!("expected a validation error, got {too_big:?}");
    };
    assert!(fields.iter().any(|f| f.field().ends_with("size_bytes")));

    let at_cap = client
        .create_upload(&upload_request("cap.mp4", "video/mp4", MAX_UPLOAD_BYTES))
        .await;
    assert!(at_cap.is_ok(), "exactly 50 MiB is allowed: {at_cap:?}");

    let bad_type = client
        .create_upload(&upload_request("notes.exe", "application/x-msdownload", 10))
        .await
        .unwrap_err();
    let ApiError::Validation { fields, .. } = &bad_type else {
        panic!("expected a validation error, got {bad_type:?}");
    };
    assert!(fields.iter().any(|f| f.field().ends_with("mime_type")));
}

#[tokio::test]
async fn wrong_key_is_unauthorized_and_not_retried() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("requests.jsonl");
    let emu = emulator(|c| c.request_log = Some(log.clone())).await;
    let err = client_with_key(&emu, "rf_live_wrong")
        .current_user()
        .await
        .unwrap_err();
    assert!(matches!(err, ApiError::Unauthorized { .. }), "{err:?}");
    assert!(err.to_string().contains("Settings > API Keys"));
    let me_calls = read_request_log(&log)
        .into_iter()
        .filter(|r| r.path == "/v1/auth/me")
        .count();
    assert_eq!(me_calls, 1, "a 401 is never retried");

    let me = client(&emu).current_user().await.unwrap();
    assert!(me.email.is_some());
    assert!(client(&emu).health().await.unwrap().is_ok());
}

#[tokio::test]
async fn server_errors_and_rate_limits_are_retried_until_they_succeed() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("requests.jsonl");
    let emu = emulator(|c| {
        c.request_log = Some(log.clone());
        c.fail_rate = 0.4;
        c.seed = Some(7);
    })
    .await;
    let client = client(&emu);
    for i in 0..10 {
        upload_bytes(
            &client,
            &format!("f{i}.png"),
            "image/png",
            vec![1; 10],
            None,
        )
        .await;
    }
    let requests = read_request_log(&log);
    let unavailable = requests.iter().filter(|r| r.status == 503).count();
    assert!(unavailable > 0, "the fault flag produced 503s");
    let page = client
        .list_assets(&ListQuery {
            limit: Some(100),
            ..ListQuery::default()
        })
        .await
        .unwrap();
    assert_eq!(
        page.items.len(),
        10,
        "every upload became exactly one asset"
    );
}

#[tokio::test]
async fn rate_limited_calls_wait_and_then_succeed() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("requests.jsonl");
    let emu = emulator(|c| {
        c.request_log = Some(log.clone());
        c.rate_limit = Some(3);
    })
    .await;
    // Retry-After (whole seconds) is honoured up to the policy's cap, so the cap must allow it.
    let client = runflow_uploader::api::RunflowClient::new(
        runflow_uploader::api::ApiKey::new(emu.api_keys()[0].clone()).unwrap(),
        runflow_uploader::api::ClientConfig {
            base_url: emu.api_base(),
            retry: runflow_uploader::api::RetryPolicy {
                max_attempts: 5,
                min_delay: Duration::from_millis(5),
                max_delay: Duration::from_secs(2),
            },
            ..Default::default()
        },
    )
    .unwrap();
    for _ in 0..8 {
        client.asset_types().await.unwrap();
    }
    let limited = read_request_log(&log)
        .iter()
        .filter(|r| r.status == 429)
        .count();
    assert!(limited > 0, "the rate limit was hit and retried through");
}

#[tokio::test]
async fn not_found_is_final_and_delete_is_permanent() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("requests.jsonl");
    let emu = emulator(|c| c.request_log = Some(log.clone())).await;
    let client = client(&emu);
    let id = upload_bytes(&client, "gone.png", "image/png", vec![7; 32], None).await;

    client.delete_asset(&id).await.unwrap();
    let err = client.asset(&id).await.unwrap_err();
    assert!(matches!(err, ApiError::NotFound { .. }), "{err:?}");
    assert!(!err.is_unsupported());
    let again = client.delete_asset(&id).await.unwrap_err();
    assert!(matches!(again, ApiError::NotFound { .. }), "{again:?}");

    let gets = read_request_log(&log)
        .into_iter()
        .filter(|r| r.method == "GET" && r.path == format!("/v1/assets/{id}"))
        .count();
    assert_eq!(gets, 1, "a 404 is never retried");
}

#[tokio::test]
async fn pagination_walks_every_page_exactly_once() {
    let emu = emulator(|_| {}).await;
    let client = client(&emu);
    let mut uploaded = Vec::new();
    for i in 0..7 {
        uploaded
            .push(upload_bytes(&client, &format!("p{i}.png"), "image/png", vec![i; 8], None).await);
    }
    let mut query = ListQuery {
        limit: Some(3),
        sort_by: Some("name:asc".to_owned()),
        ..ListQuery::default()
    };
    let mut seen = Vec::new();
    let mut pages = 0;
    loop {
        let page = client.list_assets(&query).await.unwrap();
        pages += 1;
        seen.extend(page.items.iter().map(|a| a.name.clone().unwrap()));
        match page.next_cursor() {
            Some(cursor) => query = query.at_cursor(cursor),
            None => break,
        }
    }
    assert_eq!(pages, 3);
    let expected: Vec<String> = (0..7).map(|i| format!("p{i}.png")).collect();
    assert_eq!(seen, expected);
}

#[tokio::test]
async fn filters_narrow_by_folder_type_and_name() {
    let emu = emulator(|_| {}).await;
    let client = client(&emu);
    let folder = client.create_folder("Campaign \"A\"", None).await.unwrap();
    let folder_id = folder.id.clone().unwrap();
    upload_bytes(&client, "root.png", "image/png", vec![1; 8], None).await;
    upload_bytes(
        &client,
        "in folder.png",
        "image/png",
        vec![2; 8],
        Some(&folder_id),
    )
    .await;
    upload_bytes(
        &client,
        "song.mp3",
        "audio/mpeg",
        vec![3; 8],
        Some(&folder_id),
    )
    .await;

    let names =
        |page: runflow_uploader::api::models::Page<runflow_uploader::api::models::Asset>| {
            let mut names: Vec<String> = page.items.into_iter().filter_map(|a| a.name).collect();
            names.sort();
            names
        };
    let list = |q: Filter| ListQuery {
        q: q.build(),
        ..ListQuery::default()
    };

    let root = client
        .list_assets(&list(Filter::new().eq_or_null("folder_id", None)))
        .await
        .unwrap();
    assert_eq!(names(root), vec!["root.png"]);
    let in_folder = client
        .list_assets(&list(Filter::new().eq("folder_id", &folder_id)))
        .await
        .unwrap();
    assert_eq!(names(in_folder), vec!["in folder.png", "song.mp3"]);
    let audio = client
        .list_assets(&list(Filter::new().eq("asset_type", "audio")))
        .await
        .unwrap();
    assert_eq!(names(audio), vec!["song.mp3"]);
    let by_name = client
        .list_assets(&list(Filter::new().eq("name", "in folder.png")))
        .await
        .unwrap();
    assert_eq!(names(by_name), vec!["in folder.png"]);

    // Audio gets no thumbnail.
    let song = client
        .list_assets(&list(Filter::new().eq("name", "song.mp3")))
        .await
        .unwrap();
    assert_eq!(song.items[0].thumbnail_url, None);
}

#[tokio::test]
async fn folders_can_be_created_renamed_moved_into_and_deleted_when_empty() {
    let emu = emulator(|_| {}).await;
    let client = client(&emu);
    let parent = client.create_folder("Shots", None).await.unwrap();
    let parent_id = parent.id.unwrap();
    let child = client
        .create_folder("Spring", Some(&parent_id))
        .await
        .unwrap();
    let child_id = child.id.unwrap();

    let dup = client.create_folder("Shots", None).await.unwrap_err();
    assert!(matches!(dup, ApiError::Conflict { .. }), "{dup:?}");

    let renamed = client
        .update_folder(
            &child_id,
            &PatchRequest {
                name: Some("Summer".to_owned()),
                ..PatchRequest::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(renamed.name.as_deref(), Some("Summer"));

    let children = client
        .list_folders(&ListQuery {
            q: Filter::new().eq("parent_id", &parent_id).build(),
            ..ListQuery::default()
        })
        .await
        .unwrap();
    assert_eq!(children.items.len(), 1);

    let id = upload_bytes(&client, "a.png", "image/png", vec![1; 4], None).await;
    let moved = client
        .update_asset(
            &id,
            &PatchRequest {
                folder_id: Some(Some(child_id.clone())),
                ..PatchRequest::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(moved.folder_id.as_deref(), Some(child_id.as_str()));

    let refused = client.delete_folder(&child_id).await.unwrap_err();
    assert!(matches!(refused, ApiError::Conflict { .. }), "{refused:?}");
    let refused_parent = client.delete_folder(&parent_id).await.unwrap_err();
    assert!(matches!(refused_parent, ApiError::Conflict { .. }));

    client.delete_asset(&id).await.unwrap();
    client.delete_folder(&child_id).await.unwrap();
    client.delete_folder(&parent_id).await.unwrap();
    let gone = client.folder(&parent_id).await.unwrap_err();
    assert!(matches!(gone, ApiError::NotFound { .. }));
}

#[tokio::test]
async fn confirm_rules_surface_as_typed_errors() {
    let emu = emulator(|_| {}).await;
    let client = client(&emu);
    let session = client
        .create_upload(&upload_request("early.png", "image/png", 4))
        .await
        .unwrap();

    let early = client
        .confirm_upload(&session.asset_id, None)
        .await
        .unwrap_err();
    assert!(matches!(early, ApiError::Conflict { .. }), "{early:?}");

    client
        .put_upload(
            &session.upload_url,
            "image/png",
            4,
            &UploadSource::Bytes(Bytes::from_static(b"abcd")),
            None,
        )
        .await
        .unwrap();
    client
        .confirm_upload(&session.asset_id, None)
        .await
        .unwrap();
    let twice = client
        .confirm_upload(&session.asset_id, None)
        .await
        .unwrap_err();
    assert_eq!(twice.code(), Some("ASSET_ALREADY_CONFIRMED"));

    let unknown = client
        .confirm_upload("00000000-0000-4000-8000-000000000000", None)
        .await
        .unwrap_err();
    assert!(matches!(unknown, ApiError::NotFound { .. }), "{unknown:?}");
}

#[tokio::test]
async fn a_put_whose_file_changed_size_fails_instead_of_lying_about_length() {
    let emu = emulator(|_| {}).await;
    let client = client(&emu);
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("shrinking.png");
    std::fs::write(&path, b"12345").unwrap();
    let session = client
        .create_upload(&upload_request("shrinking.png", "image/png", 10))
        .await
        .unwrap();
    let err = client
        .put_upload(
            &session.upload_url,
            "image/png",
            10,
            &UploadSource::File(path),
            None,
        )
        .await
        .unwrap_err();
    assert!(err.to_string().contains("shrank"), "{err}");
}
