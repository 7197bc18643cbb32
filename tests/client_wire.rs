//! The client against a hand-rolled local server that misbehaves on purpose: what the PUT puts on
//! the wire, and how malformed, oversized and nested-envelope answers turn into clear errors.

#[path = "support/ports.rs"]
mod ports_support;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::{get, put};
use bytes::Bytes;
use runflow_uploader::api::{
    ApiError, ApiKey, ClientConfig, MAX_RESPONSE_BYTES, RetryPolicy, RunflowClient, UploadSource,
};

/// Serves `router` on a free loopback port and returns its base URL.
async fn serve(router: Router) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, router).await });
    format!("http://{addr}")
}

fn client_for(base: &str) -> RunflowClient {
    RunflowClient::new(
        ApiKey::new("rf_live_secret_value").unwrap(),
        ClientConfig {
            base_url: base.to_owned(),
            retry: RetryPolicy {
                max_attempts: 5,
                min_delay: Duration::from_millis(5),
                max_delay: Duration::from_millis(50),
            },
            ..ClientConfig::default()
        },
    )
    .unwrap()
}

#[tokio::test]
async fn put_sends_exact_headers_and_no_credentials() {
    let seen: Arc<Mutex<Option<(HeaderMap, usize)>>> = Arc::default();
    let record = Arc::clone(&seen);
    let router = Router::new().route(
        "/bucket/object",
        put(move |headers: HeaderMap, body: Bytes| async move {
            *record.lock().unwrap() = Some((headers, body.len()));
            StatusCode::OK
        }),
    );
    let base = serve(router).await;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("clip.webm");
    std::fs::write(&path, vec![42_u8; 700_000]).unwrap();

    client_for(&base)
        .put_upload(
            &format!("{base}/bucket/object?X-Amz-Signature=abc"),
            "video/webm",
            700_000,
            &UploadSource::File(path),
            None,
        )
        .await
        .unwrap();

    let (headers, received) = seen.lock().unwrap().take().unwrap();
    assert_eq!(received, 700_000);
    assert_eq!(headers["content-type"], "video/webm");
    assert_eq!(headers["content-length"], "700000");
    assert!(headers.get("transfer-encoding").is_none());
    assert!(headers.get("authorization").is_none());
    assert!(headers.get("x-api-key").is_none());
    for (name, value) in &headers {
        let value = value.to_str().unwrap_or_default();
        assert!(
            !value.contains("rf_live_secret_value"),
            "the key leaked in {name}"
        );
    }
}

#[tokio::test]
async fn malformed_json_is_a_clear_error() {
    let router = Router::new().route("/v1/assets/{id}", get(|| async { "{\"id\": [not json" }));
    let base = serve(router).await;
    let err = client_for(&base).asset("a1").await.unwrap_err();
    assert!(matches!(err, ApiError::MalformedResponse(_)), "{err:?}");
    assert!(err.to_string().contains("could not understand"), "{err}");
}

#[tokio::test]
async fn wrong_shape_json_is_a_clear_error() {
    let router = Router::new().route("/v1/assets", get(|| async { "{\"items\": 42}" }));
    let base = serve(router).await;
    let err = client_for(&base)
        .list_assets(&Default::default())
        .await
        .unwrap_err();
    assert!(matches!(err, ApiError::MalformedResponse(_)), "{err:?}");
}

#[tokio::test]
async fn oversized_answers_are_refused_without_reading_them_whole() {
    let huge = Bytes::from(vec![b' '; MAX_RESPONSE_BYTES + 1]);
    let with_length = huge.clone();
    let router = Router::new()
        .route("/v1/assets/{id}", get(move || async move { with_length }))
        .route(
            "/v1/auth/me",
            get(move || async move {
                // Chunked, so the size is only found out while reading.
                let chunks =
                    (0..17).map(|_| Ok::<_, std::io::Error>(Bytes::from(vec![b' '; 1 << 20])));
                Body::from_stream(futures_util::stream::iter(chunks))
            }),
        );
    let base = serve(router).await;
    let client = client_for(&base);
    let declared = client.asset("a1").await.unwrap_err();
    assert!(
        matches!(declared, ApiError::MalformedResponse(_)),
        "{declared:?}"
    );
    let streamed = client.current_user().await.unwrap_err();
    assert!(
        matches!(streamed, ApiError::MalformedResponse(_)),
        "{streamed:?}"
    );
}

#[tokio::test]
async fn nested_error_envelopes_and_html_errors_are_understood() {
    let router = Router::new()
        .route(
            "/v1/assets/{id}",
            get(|| async {
                (
                    StatusCode::FORBIDDEN,
                    r#"{"error":{"code":"PERMISSION_DENIED","message":"missing scope assets:read"}}"#,
                )
            }),
        )
        .route(
            "/v1/health",
            get(|| async { (StatusCode::BAD_GATEWAY, "<html><h1>502 Bad Gateway</h1></html>") }),
        );
    let base = serve(router).await;
    let client = client_for(&base);
    let forbidden = client.asset("a1").await.unwrap_err();
    assert_eq!(forbidden.code(), Some("PERMISSION_DENIED"));
    assert!(forbidden.to_string().contains("missing scope assets:read"));
    let bad_gateway = client.health().await.unwrap_err();
    assert!(matches!(bad_gateway, ApiError::Server { status: 502, .. }));
    assert!(bad_gateway.to_string().contains("502 Bad Gateway"));
}

#[tokio::test]
async fn a_missing_endpoint_reads_as_unsupported() {
    let base = serve(Router::new()).await;
    let err = client_for(&base)
        .update_asset("a1", &Default::default())
        .await
        .unwrap_err();
    assert!(err.is_unsupported(), "{err:?}");
}

#[tokio::test]
async fn plain_http_to_a_remote_host_is_refused_before_any_request() {
    let err = RunflowClient::new(
        ApiKey::new("k").unwrap(),
        ClientConfig {
            base_url: "http://api.runflow.io".to_owned(),
            ..ClientConfig::default()
        },
    )
    .unwrap_err();
    assert!(matches!(err, ApiError::InvalidUrl(_)));
    let local = client_for("http://127.0.0.1:9");
    let put = local
        .put_upload(
            "http://storage.example.com/x",
            "image/png",
            1,
            &UploadSource::Bytes(Bytes::from_static(b"x")),
            None,
        )
        .await
        .unwrap_err();
    assert!(matches!(put, ApiError::InvalidUrl(_)), "{put:?}");
}

#[tokio::test]
async fn connection_refused_is_a_network_error_after_retries() {
    // A bound loopback port that never listens: every connection is refused.
    let closed = ports_support::RefusedPort::new();
    let err = client_for(&closed.base_url()).health().await.unwrap_err();
    assert!(matches!(err, ApiError::Network(_)), "{err:?}");
    assert!(err.is_retryable());
}

#[tokio::test]
async fn network_errors_never_repeat_a_presigned_url() {
    let closed = ports_support::RefusedPort::new();
    let url = format!(
        "{}/bucket/o?X-Amz-Signature=deadbeefsecret",
        closed.base_url()
    );
    let err = client_for(&closed.base_url())
        .put_upload(
            &url,
            "image/png",
            1,
            &UploadSource::Bytes(Bytes::from_static(b"x")),
            None,
        )
        .await
        .unwrap_err();
    assert!(matches!(err, ApiError::Network(_)), "{err:?}");
    assert!(!err.to_string().contains("deadbeefsecret"), "{err}");
    assert!(!format!("{err:?}").contains("deadbeefsecret"), "{err:?}");
}
