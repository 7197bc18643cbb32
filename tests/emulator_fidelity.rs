//! The emulator as Runflow's own clients see it, on the wire: the `field.op:value` filter form
//! next to the documented one, CORS on storage (none on the API), key scopes on every endpoint
//! (and the client's and CLI's words for a missing one), the `--thumbnails` policies and MIME
//! aliases.

#[path = "support/cli.rs"]
mod cli_support;
mod support;

use std::time::Duration;

use reqwest::header::{
    ACCESS_CONTROL_ALLOW_HEADERS, ACCESS_CONTROL_ALLOW_METHODS, ACCESS_CONTROL_ALLOW_ORIGIN,
    ACCESS_CONTROL_REQUEST_HEADERS, ACCESS_CONTROL_REQUEST_METHOD, CONTENT_TYPE, ORIGIN,
};
use reqwest::{Client, Method, StatusCode};
use runflow_uploader::api::models::{Asset, CurrentUser, ErrorBody, Page, UploadSession};
use runflow_uploader::api::{ApiError, ApiKey, ClientConfig, KeyScopes, RunflowClient, Scope};
use runflow_uploader::emulator::{RunningEmulator, ThumbnailPolicy};
use serde_json::{Value, json};

use cli_support::{json_lines, run, write_pngs};

/// A small real PNG.
fn png_bytes(seed: u8) -> Vec<u8> {
    png_sized(4, 4, seed)
}

/// A real PNG of `width` x `height` with a gradient (so bigger images are bigger files).
fn png_sized(width: u32, height: u32, seed: u8) -> Vec<u8> {
    let image = image::RgbImage::from_fn(width, height, |x, y| {
        image::Rgb([(x * 13) as u8, (y * 7) as u8, seed])
    });
    let mut out = Vec::new();
    image::DynamicImage::ImageRgb8(image)
        .write_to(&mut std::io::Cursor::new(&mut out), image::ImageFormat::Png)
        .unwrap();
    out
}

/// Wire-level access to an emulator with one key.
struct Wire<'a> {
    emu: &'a RunningEmulator,
    key: String,
    http: Client,
}

impl<'a> Wire<'a> {
    fn new(emu: &'a RunningEmulator, key: &str) -> Self {
        Self {
            emu,
            key: key.to_owned(),
            http: Client::new(),
        }
    }

    async fn send(&self, method: Method, path: &str, body: Option<Value>) -> reqwest::Response {
        let request = self
            .http
            .request(method, format!("{}{path}", self.emu.api_base()))
            .bearer_auth(&self.key);
        match body {
            Some(body) => request.json(&body),
            None => request,
        }
        .send()
        .await
        .unwrap()
    }

    /// Create, PUT and confirm; returns the confirmed asset.
    async fn upload(&self, name: &str, mime: &str, bytes: Vec<u8>) -> Asset {
        let body = json!({"filename": name, "mime_type": mime, "size_bytes": bytes.len()});
        let created = self
            .send(Method::POST, "/v1/asset-uploads", Some(body))
            .await;
        assert_eq!(
            created.status(),
            StatusCode::CREATED,
            "create {name} ({mime})"
        );
        let session: UploadSession = created.json().await.unwrap();
        let put = self
            .http
            .put(&session.upload_url)
            .header(CONTENT_TYPE, mime)
            .body(bytes)
            .send()
            .await
            .unwrap();
        assert!(put.status().is_success(), "PUT {name}: {}", put.status());
        let path = format!("/v1/asset-uploads/{}/confirmations", session.asset_id);
        let confirmed = self.send(Method::POST, &path, Some(json!({}))).await;
        assert_eq!(confirmed.status(), StatusCode::CREATED, "confirm {name}");
        confirmed.json().await.unwrap()
    }

    /// `GET /v1/assets` with a query.
    fn list_url(&self, query: &[(&str, &str)]) -> url::Url {
        let mut url = url::Url::parse(&format!("{}/v1/assets", self.emu.api_base())).unwrap();
        url.query_pairs_mut().extend_pairs(query);
        url
    }

    /// The names `GET /v1/assets?q=...` lists, sorted by name.
    async fn names(&self, q: &str) -> Vec<String> {
        let response = self
            .http
            .get(self.list_url(&[("q", q), ("sort_by", "name:asc")]))
            .bearer_auth(&self.key)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::OK, "q={q}");
        let page: Page<Asset> = response.json().await.unwrap();
        page.items.into_iter().filter_map(|a| a.name).collect()
    }

    /// The 422 message for a filter.
    async fn refused_filter(&self, q: &str) -> String {
        let response = self
            .http
            .get(self.list_url(&[("q", q)]))
            .bearer_auth(&self.key)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::UNPROCESSABLE_ENTITY, "q={q}");
        let body: ErrorBody = response.json().await.unwrap();
        assert_eq!(body.code, "VALIDATION_ERROR");
        format!(
            "{} {}",
            body.message,
            body.errors
                .unwrap_or_default()
                .iter()
                .map(|e| e.msg.clone())
                .collect::<Vec<_>>()
                .join(" ")
        )
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn filters_accept_runflow_s_field_op_value_form_and_the_documented_one() {
    let emu = support::emulator(|_| {}).await;
    let wire = Wire::new(&emu, &emu.api_keys()[0]);
    let small = wire.upload("a.png", "image/png", png_sized(1, 1, 1)).await;
    let medium = wire
        .upload("b b.png", "image/png", png_sized(12, 12, 2))
        .await;
    assert!(medium.size_bytes > small.size_bytes);
    wire.upload("c.wav", "audio/wav", b"RIFF....WAVEfmt ".repeat(40))
        .await;
    let small_size = small.size_bytes.unwrap();

    let cases: Vec<(String, Vec<&str>)> = vec![
        ("name.eq:'a.png'".into(), vec!["a.png"]),
        ("name.EQ:'a.png'".into(), vec!["a.png"]),
        ("name.Eq:\"b b.png\"".into(), vec!["b b.png"]),
        ("name.ne:'a.png'".into(), vec!["b b.png", "c.wav"]),
        ("asset_type.eq:'audio'".into(), vec!["c.wav"]),
        (
            format!("size_bytes.gt:{small_size}"),
            vec!["b b.png", "c.wav"],
        ),
        (format!("size_bytes.lte:{small_size}"), vec!["a.png"]),
        (
            "folder_id.eq:null".into(),
            vec!["a.png", "b b.png", "c.wav"],
        ),
        ("folder_id.ne:null".into(), vec![]),
        (
            "name.eq:'a.png' OR asset_type.EQ:'audio'".into(),
            vec!["a.png", "c.wav"],
        ),
        (
            "asset_type.eq:'image' AND NOT name.eq:'a.png'".into(),
            vec!["b b.png"],
        ),
        // The documented forms keep working.
        ("name:a.png".into(), vec!["a.png"]),
        ("name:\"b b.png\"".into(), vec!["b b.png"]),
        (
            "asset_type:image AND created_at>2026-01-01".into(),
            vec!["a.png", "b b.png"],
        ),
        (
            format!("size_bytes>{small_size} AND NOT name=c.wav"),
            vec!["b b.png"],
        ),
    ];
    for (q, expected) in cases {
        assert_eq!(wire.names(&q).await, expected, "q={q}");
    }

    for (q, problem) in [
        ("name.like:'a'", "unknown operator `.like`"),
        ("name.eq='a.png'", "expected `:` after `name.eq`"),
        ("name.eq:'a.png", "unterminated string"),
        ("slug.eq:'my-flow'", "unknown field `slug`"),
        ("folder_id.gt:null", "only equality"),
    ] {
        let message = wire.refused_filter(q).await;
        assert!(message.contains(problem), "q={q}: {message}");
    }
    emu.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn storage_answers_cors_preflights_and_the_api_sends_no_cors_headers() {
    let emu = support::emulator(|_| {}).await;
    let wire = Wire::new(&emu, &emu.api_keys()[0]);
    let body = json!({"filename": "page.png", "mime_type": "image/png", "size_bytes": 67});
    let session: UploadSession = wire
        .send(Method::POST, "/v1/asset-uploads", Some(body))
        .await
        .json()
        .await
        .unwrap();
    let http = Client::new();

    let preflight = |method: &str| {
        http.request(Method::OPTIONS, &session.upload_url)
            .header(ORIGIN, "https://app.example.com")
            .header(ACCESS_CONTROL_REQUEST_METHOD, method)
            .header(ACCESS_CONTROL_REQUEST_HEADERS, "content-type")
            .send()
    };
    let answer = preflight("PUT").await.unwrap();
    assert_eq!(answer.status(), StatusCode::NO_CONTENT);
    let header = |response: &reqwest::Response, name| {
        response
            .headers()
            .get(name)
            .map(|v| v.to_str().unwrap().to_owned())
    };
    assert_eq!(
        header(&answer, ACCESS_CONTROL_ALLOW_ORIGIN).as_deref(),
        Some("*")
    );
    let methods = header(&answer, ACCESS_CONTROL_ALLOW_METHODS).unwrap();
    assert!(
        methods.contains("PUT") && methods.contains("GET"),
        "{methods}"
    );
    assert_eq!(
        header(&answer, ACCESS_CONTROL_ALLOW_HEADERS).as_deref(),
        Some("content-type")
    );
    assert_eq!(
        preflight("GET").await.unwrap().status(),
        StatusCode::NO_CONTENT
    );
    assert_eq!(
        preflight("DELETE").await.unwrap().status(),
        StatusCode::FORBIDDEN
    );
    let no_origin = http
        .request(Method::OPTIONS, &session.upload_url)
        .send()
        .await
        .unwrap();
    assert_eq!(no_origin.status(), StatusCode::BAD_REQUEST);

    // The PUT and GET answers carry the origin header too.
    let bytes = png_bytes(3);
    let body = json!({"filename": "page.png", "mime_type": "image/png", "size_bytes": bytes.len()});
    let session: UploadSession = wire
        .send(Method::POST, "/v1/asset-uploads", Some(body))
        .await
        .json()
        .await
        .unwrap();
    let put = http
        .put(&session.upload_url)
        .header(ORIGIN, "https://app.example.com")
        .header(CONTENT_TYPE, "image/png")
        .body(bytes)
        .send()
        .await
        .unwrap();
    assert_eq!(put.status(), StatusCode::OK);
    assert_eq!(
        header(&put, ACCESS_CONTROL_ALLOW_ORIGIN).as_deref(),
        Some("*")
    );
    let path = format!("/v1/asset-uploads/{}/confirmations", session.asset_id);
    let asset: Asset = wire
        .send(Method::POST, &path, None)
        .await
        .json()
        .await
        .unwrap();
    let get = http
        .get(asset.url.unwrap())
        .header(ORIGIN, "https://app.example.com")
        .send()
        .await
        .unwrap();
    assert_eq!(get.status(), StatusCode::OK);
    assert_eq!(
        header(&get, ACCESS_CONTROL_ALLOW_ORIGIN).as_deref(),
        Some("*")
    );

    // The API: no CORS at all, preflight or not.
    for method in [Method::OPTIONS, Method::GET] {
        let response = http
            .request(method.clone(), format!("{}/v1/assets", emu.api_base()))
            .header(ORIGIN, "https://app.example.com")
            .header(ACCESS_CONTROL_REQUEST_METHOD, "GET")
            .bearer_auth(&emu.api_keys()[0])
            .send()
            .await
            .unwrap();
        let cors: Vec<_> = response
            .headers()
            .keys()
            .filter(|name| name.as_str().starts_with("access-control-"))
            .collect();
        assert!(cors.is_empty(), "{method}: {cors:?}");
    }
    emu.shutdown().await;
}

/// The status of each scoped call for `key`, in a fixed order.
async fn statuses(wire: &Wire<'_>, asset_id: &str, folder_id: &str) -> Vec<u16> {
    let create = json!({"filename": "x.png", "mime_type": "image/png", "size_bytes": 3});
    let calls = [
        (Method::POST, "/v1/asset-uploads".to_owned(), Some(create)),
        (
            Method::POST,
            "/v1/asset-uploads/00000000-0000-4000-8000-000000000000/confirmations".to_owned(),
            Some(json!({})),
        ),
        (Method::GET, "/v1/assets".to_owned(), None),
        (Method::GET, format!("/v1/assets/{asset_id}"), None),
        (Method::GET, "/v1/asset-folders".to_owned(), None),
        (
            Method::PATCH,
            format!("/v1/assets/{asset_id}"),
            Some(json!({"name": "renamed.png"})),
        ),
        (
            Method::POST,
            "/v1/asset-folders".to_owned(),
            Some(json!({"name": format!("f-{}", wire.key)})),
        ),
        (
            Method::PATCH,
            format!("/v1/asset-folders/{folder_id}"),
            Some(json!({"name": format!("g-{}", wire.key)})),
        ),
        (Method::DELETE, format!("/v1/assets/{asset_id}"), None),
        (Method::GET, "/v1/auth/me".to_owned(), None),
        (Method::GET, "/v1/assets/types".to_owned(), None),
    ];
    let mut out = Vec::new();
    for (method, path, body) in calls {
        out.push(wire.send(method, &path, body).await.status().as_u16());
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_endpoint_needs_its_scope() {
    let emu = support::emulator(|config| {
        config.api_keys = vec![
            "full".into(),
            "reader=assets:read".into(),
            "creator=assets:create".into(),
            "editor=assets:edit".into(),
            "deleter=assets:delete".into(),
            "nothing=".into(),
        ];
    })
    .await;
    let full = Wire::new(&emu, "full");
    // Forbidden scoped calls are answered 403 before anything is looked up, so an unknown
    // upload id still shows whether the scope was there (404) or not (403).
    let expect: [(&str, [u16; 11]); 5] = [
        (
            "reader",
            [403, 403, 200, 200, 200, 403, 403, 403, 403, 200, 200],
        ),
        (
            "creator",
            [201, 404, 403, 403, 403, 403, 403, 403, 403, 200, 200],
        ),
        (
            "editor",
            [403, 403, 403, 403, 403, 200, 201, 200, 403, 200, 200],
        ),
        (
            "deleter",
            [403, 403, 403, 403, 403, 403, 403, 403, 204, 200, 200],
        ),
        (
            "nothing",
            [403, 403, 403, 403, 403, 403, 403, 403, 403, 200, 200],
        ),
    ];
    for (key, expected) in expect {
        let asset = full.upload("s.png", "image/png", png_bytes(9)).await;
        let folder: Value = full
            .send(
                Method::POST,
                "/v1/asset-folders",
                Some(json!({"name": format!("folder for {key}")})),
            )
            .await
            .json()
            .await
            .unwrap();
        let wire = Wire::new(&emu, key);
        let got = statuses(
            &wire,
            asset.id.as_deref().unwrap(),
            folder["id"].as_str().unwrap(),
        )
        .await;
        assert_eq!(got, expected, "{key}");
    }

    // The 403 names the scope; /v1/auth/me reports each key's scopes.
    let denied = Wire::new(&emu, "reader")
        .send(
            Method::DELETE,
            "/v1/assets/00000000-0000-4000-8000-000000000000",
            None,
        )
        .await;
    assert_eq!(denied.status(), StatusCode::FORBIDDEN);
    let body: ErrorBody = denied.json().await.unwrap();
    assert_eq!(body.code, "PERMISSION_DENIED");
    assert!(body.message.contains("assets:delete"), "{}", body.message);
    for (key, scopes) in [
        (
            "full",
            vec![
                "assets:create",
                "assets:read",
                "assets:edit",
                "assets:delete",
            ],
        ),
        ("reader", vec!["assets:read"]),
        ("nothing", vec![]),
    ] {
        let me: CurrentUser = Wire::new(&emu, key)
            .send(Method::GET, "/v1/auth/me", None)
            .await
            .json()
            .await
            .unwrap();
        assert_eq!(me.memberships[0].scopes, scopes, "{key}");
    }
    emu.shutdown().await;
}

fn client_with_key(emu: &RunningEmulator, key: &str) -> RunflowClient {
    RunflowClient::new(
        ApiKey::new(key).unwrap(),
        ClientConfig {
            base_url: emu.api_base(),
            retry: support::fast_retry(),
            ..ClientConfig::default()
        },
    )
    .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_client_and_the_cli_name_a_missing_scope() {
    let env = cli_support::Env::new(|config| {
        config.api_keys = vec!["full".into(), "reader=assets:read".into()];
        // support::client uses the first key.
    })
    .await;
    let full = Wire::new(&env.emu, "full");
    let asset = full.upload("keep.png", "image/png", png_bytes(5)).await;
    let id = asset.id.unwrap();

    let reader = client_with_key(&env.emu, "reader");
    let scopes = KeyScopes::of_user(&reader.current_user().await.unwrap());
    assert!(scopes.allows(Scope::AssetsRead));
    assert_eq!(
        scopes.denial(Scope::AssetsDelete).as_deref(),
        Some("This key can't delete assets (needs assets:delete)")
    );
    let err = reader.delete_asset(&id).await.unwrap_err();
    assert_eq!(err.missing_scope(), Some(Scope::AssetsDelete), "{err:?}");
    assert!(
        err.to_string()
            .starts_with("This key can't delete assets (needs assets:delete)."),
        "{err}"
    );
    assert!(!err.is_retryable());
    let err = reader.create_folder("nope", None).await.unwrap_err();
    assert_eq!(err.missing_scope(), Some(Scope::AssetsEdit), "{err:?}");
    assert!(matches!(err, ApiError::Forbidden { .. }));

    let mut command = env.command(&["assets", "delete", &id]);
    command.env("RUNFLOW_API_KEY", "reader");
    let output = run(command).await;
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("This key can't delete assets (needs assets:delete)"),
        "{stderr}"
    );
    assert_eq!(env.emu.asset_count(), 1, "nothing was deleted");
    support::client(&env.emu)
        .asset(&id)
        .await
        .expect("the asset is still there");

    // An upload with a key that may not create assets fails with the same words.
    let files = write_pngs(&env.home.path().join("pics"), 1);
    let mut command = env.command(&["upload", "--json"]);
    command.args(&files).env("RUNFLOW_API_KEY", "reader");
    let output = run(command).await;
    assert!(!output.status.success());
    let said = format!(
        "{:?} {}",
        json_lines(&output),
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(
        said.contains("This key can't upload assets (needs assets:create)"),
        "{said}"
    );
    assert_eq!(env.emu.asset_count(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn thumbnail_policies() {
    // images (the default): a PNG gets one, audio does not.
    let emu = support::emulator(|_| {}).await;
    let wire = Wire::new(&emu, &emu.api_keys()[0]);
    let png = wire.upload("t.png", "image/png", png_bytes(1)).await;
    assert!(png.thumbnail_url.is_some());
    let wav = wire.upload("t.wav", "audio/wav", b"RIFF".repeat(10)).await;
    assert_eq!(wav.thumbnail_url, None);
    emu.shutdown().await;

    // none: null everywhere (confirm, get, list), as seen in Runflow's SDK tests.
    let emu = support::emulator(|c| c.thumbnails = ThumbnailPolicy::None).await;
    let wire = Wire::new(&emu, &emu.api_keys()[0]);
    let png = wire.upload("n.png", "image/png", png_bytes(2)).await;
    assert_eq!(png.thumbnail_url, None);
    assert!(png.url.is_some());
    let id = png.id.unwrap();
    let got: Asset = wire
        .send(Method::GET, &format!("/v1/assets/{id}"), None)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(got.thumbnail_url, None);
    let page: Page<Asset> = wire
        .send(Method::GET, "/v1/assets", None)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(page.items[0].thumbnail_url, None);
    emu.shutdown().await;

    // delayed: null until SECS after the confirm, then a working URL.
    let emu = support::emulator(|c| c.thumbnails = ThumbnailPolicy::Delayed { secs: 1 }).await;
    let wire = Wire::new(&emu, &emu.api_keys()[0]);
    let png = wire.upload("d.png", "image/png", png_bytes(3)).await;
    assert_eq!(png.thumbnail_url, None, "not yet at confirm");
    let id = png.id.unwrap();
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let got: Asset = wire
        .send(Method::GET, &format!("/v1/assets/{id}"), None)
        .await
        .json()
        .await
        .unwrap();
    let thumbnail_url = got
        .thumbnail_url
        .expect("the thumbnail shows after a second");
    let thumb = Client::new().get(thumbnail_url).send().await.unwrap();
    assert_eq!(thumb.status(), StatusCode::OK);
    assert_eq!(
        thumb.headers().get(CONTENT_TYPE).unwrap().to_str().unwrap(),
        "image/png"
    );
    emu.shutdown().await;

    // The flag's spellings.
    for (raw, policy) in [
        ("images", ThumbnailPolicy::Images),
        ("none", ThumbnailPolicy::None),
        ("delayed:30", ThumbnailPolicy::Delayed { secs: 30 }),
    ] {
        assert_eq!(raw.parse::<ThumbnailPolicy>(), Ok(policy));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mime_aliases_are_accepted_as_their_canonical_type() {
    let emu = support::emulator(|_| {}).await;
    let wire = Wire::new(&emu, &emu.api_keys()[0]);
    for (alias, canonical, kind) in [
        ("audio/x-wav", "audio/wav", "audio"),
        ("image/jpg", "image/jpeg", "image"),
        ("audio/mp3", "audio/mpeg", "audio"),
    ] {
        let asset = wire
            .upload("alias.bin", alias, b"some bytes".to_vec())
            .await;
        assert_eq!(asset.mime_type.as_deref(), Some(canonical), "{alias}");
        assert_eq!(asset.asset_type.as_deref(), Some(kind), "{alias}");
    }
    let refused = wire
        .send(
            Method::POST,
            "/v1/asset-uploads",
            Some(json!({"filename": "x", "mime_type": "audio/x-unknown", "size_bytes": 3})),
        )
        .await;
    assert_eq!(refused.status(), StatusCode::UNPROCESSABLE_ENTITY);
    emu.shutdown().await;
}
