//! The thumbnail pipeline over real HTTP on loopback: a hostile storage server (huge, broken,
//! mislabelled, stalled and oversized files), cancellation and priority, the disk cache, local
//! files, and the emulator's thumbnails with an expired link renewed through the API.

#[path = "support/thumbs_server.rs"]
mod thumbs_server;

#[path = "support/memory.rs"]
mod memory;
#[path = "support/request_log.rs"]
mod request_log;
#[path = "support/seed.rs"]
mod seed;
mod support;

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use request_log::{LoggedRequest, read_request_log};
use runflow_uploader::api::RunflowClient;
use runflow_uploader::emulator::ThumbnailPolicy;
use runflow_uploader::library::thumbs::{
    FileKind, ThumbConfig, ThumbError, ThumbEvent, ThumbLoader, ThumbRequest, ThumbSource,
};
use seed::upload_bytes;
use thumbs_server::{ThumbServer, png};
use tokio::sync::mpsc;

/// How long any single answer may take in these tests.
const PATIENCE: Duration = Duration::from_secs(10);

/// A loader with a temporary cache and a channel for its answers.
struct Harness {
    loader: ThumbLoader,
    events: mpsc::UnboundedReceiver<ThumbEvent>,
    cache_dir: PathBuf,
    _dir: tempfile::TempDir,
}

impl Harness {
    fn new(adjust: impl FnOnce(&mut ThumbConfig)) -> Self {
        Self::with_client(None, adjust)
    }

    fn with_client(client: Option<RunflowClient>, adjust: impl FnOnce(&mut ThumbConfig)) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let cache_dir = dir.path().join("thumbnails");
        Self::on_cache(dir, cache_dir, client, adjust)
    }

    fn on_cache(
        dir: tempfile::TempDir,
        cache_dir: PathBuf,
        client: Option<RunflowClient>,
        adjust: impl FnOnce(&mut ThumbConfig),
    ) -> Self {
        let mut config = ThumbConfig::new(cache_dir.clone());
        config.timeout = Duration::from_secs(5);
        adjust(&mut config);
        let (tx, events) = mpsc::unbounded_channel();
        let sink = Arc::new(move |event: ThumbEvent| {
            let _ = tx.send(event);
        });
        let loader = ThumbLoader::new(&tokio::runtime::Handle::current(), client, config, sink);
        Self {
            loader,
            events,
            cache_dir,
            _dir: dir,
        }
    }

    /// The next answer, whichever it is.
    async fn next(&mut self) -> ThumbEvent {
        tokio::time::timeout(PATIENCE, self.events.recv())
            .await
            .expect("an answer in time")
            .expect("the loader is alive")
    }

    /// The next `n` answers, by asset id.
    async fn answers(&mut self, n: usize) -> HashMap<String, ThumbEvent> {
        let mut answers = HashMap::new();
        for _ in 0..n {
            let event = self.next().await;
            assert!(
                answers.insert(event.asset_id.clone(), event).is_none(),
                "one answer per asset"
            );
        }
        answers
    }

    /// Asserts nothing more arrives within `window`.
    async fn assert_quiet(&mut self, window: Duration) {
        if let Ok(Some(event)) = tokio::time::timeout(window, self.events.recv()).await {
            panic!("unexpected answer: {event:?}");
        }
    }
}

fn request(id: &str, thumbnail_url: Option<String>, mime: &str, size_px: u32) -> ThumbRequest {
    ThumbRequest {
        asset_id: id.to_owned(),
        thumbnail_url,
        url: None,
        mime_type: Some(mime.to_owned()),
        size_bytes: None,
        size_px,
    }
}

/// A request for a path of `server` as the server's thumbnail.
fn thumb(server: &ThumbServer, id: &str, path: &str) -> ThumbRequest {
    request(id, Some(server.url(path)), "image/png", 64)
}

fn failure(event: &ThumbEvent) -> &ThumbError {
    event.outcome.as_ref().expect_err("a failed answer")
}

/// Polls `condition` until it holds, or fails after [`PATIENCE`].
async fn eventually(what: &str, condition: impl Fn() -> bool) {
    let deadline = Instant::now() + PATIENCE;
    while !condition() {
        assert!(Instant::now() < deadline, "timed out waiting until {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_png_is_scaled_then_served_from_the_disk_cache() {
    let server = ThumbServer::start().await;
    let mut harness = Harness::new(|_| {});
    let wide = thumb(&server, "wide", "/png/300/150/wide");
    let small = thumb(&server, "small", "/png/30/15/small");
    harness.loader.want(vec![wide.clone(), small.clone()]);
    let answers = harness.answers(2).await;

    let thumb = answers["wide"].outcome.as_ref().unwrap();
    assert_eq!((thumb.width, thumb.height), (64, 32));
    assert_eq!(thumb.rgba.len(), 64 * 32 * 4);
    assert_eq!(thumb.source, ThumbSource::Server);
    assert_eq!(thumb.rgba[3], 255, "straight alpha, opaque");
    let small_thumb = answers["small"].outcome.as_ref().unwrap();
    assert_eq!(
        (small_thumb.width, small_thumb.height),
        (30, 15),
        "never upscaled"
    );
    assert_eq!(answers["wide"].size_px, 64);

    // The same set again is not answered again.
    harness.loader.want(vec![wide.clone(), small.clone()]);
    harness.assert_quiet(Duration::from_millis(200)).await;

    // Asked again after leaving the set: from disk, without the network.
    let cache_file = harness.loader.cache_path("wide", 64);
    eventually("the cache file is written", || cache_file.exists()).await;
    harness.loader.want(Vec::new());
    harness.loader.want(vec![wide.clone()]);
    let again = harness.next().await;
    let again = again.outcome.unwrap();
    assert_eq!(again.source, ThumbSource::DiskCache);
    assert_eq!((again.width, again.height), (64, 32));
    // An opaque tile is kept as a JPEG: close to what was shown, not bit for bit.
    let mean_error = again
        .rgba
        .iter()
        .zip(&thumb.rgba)
        .map(|(a, b)| f64::from(a.abs_diff(*b)))
        .sum::<f64>()
        / thumb.rgba.len() as f64;
    assert!(mean_error < 4.0, "mean error {mean_error}");
    assert!(again.rgba.chunks(4).all(|p| p[3] == 255), "still opaque");
    assert_eq!(server.hit_count("/png/300/150/wide"), 1);

    // A new loader on the same cache, with a re-signed URL, still hits the cache.
    let Harness {
        _dir, cache_dir, ..
    } = harness;
    let mut restarted = Harness::on_cache(_dir, cache_dir, None, |_| {});
    let mut resigned = wide.clone();
    resigned.thumbnail_url = Some(format!(
        "{}&X-Amz-Date=later",
        server.url("/png/300/150/wide")
    ));
    restarted.loader.want(vec![resigned]);
    assert_eq!(
        restarted.next().await.outcome.unwrap().source,
        ThumbSource::DiskCache
    );
    assert_eq!(server.hit_count("/png/300/150/wide"), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_corrupt_cache_file_is_replaced() {
    let server = ThumbServer::start().await;
    let mut harness = Harness::new(|_| {});
    let path = harness.loader.cache_path("a", 64);
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(&path, b"\x89PNG\r\n\x1a\n garbage").unwrap();
    harness
        .loader
        .want(vec![thumb(&server, "a", "/png/80/80/a")]);
    let answer = harness.next().await.outcome.unwrap();
    assert_eq!(answer.source, ThumbSource::Server);
    assert_eq!(server.hit_count("/png/80/80/a"), 1);
    eventually("a good file replaces the corrupt one", || {
        image::ImageReader::open(&path)
            .and_then(|r| r.with_guessed_format())
            .is_ok_and(|r| r.decode().is_ok_and(|i| i.width() == 64))
    })
    .await;
}

/// Peak resident memory of this process, in bytes (Linux only).
fn peak_rss_bytes() -> Option<u64> {
    memory::status_kib("VmHWM").map(|kib| kib * 1024)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_decompression_bomb_fails_fast_and_small() {
    let server = ThumbServer::start().await;
    let mut harness = Harness::new(|_| {});
    let before = peak_rss_bytes();
    let started = Instant::now();
    harness
        .loader
        .want(vec![thumb(&server, "bomb", "/huge.png")]);
    let event = harness.next().await;
    assert!(started.elapsed() < Duration::from_secs(3), "fails quickly");
    let error = failure(&event);
    assert_eq!(
        *error,
        ThumbError::TooLarge {
            pixels: Some((60_000, 60_000))
        }
    );
    assert_eq!(error.to_string(), "too large to preview (60000×60000 px)");
    if let (Some(before), Some(after)) = (before, peak_rss_bytes()) {
        // 60000×60000 RGBA would be 14 GB. The kernel's RSS counters are
        // approximate per CPU, so the reported peak can read a little lower
        // later: compare without assuming it only grows.
        let grew = after.saturating_sub(before);
        assert!(grew < 256 * 1024 * 1024, "peak grew by {grew}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn broken_and_mislabelled_files_fail_with_a_reason() {
    let server = ThumbServer::start().await;
    let mut harness = Harness::new(|_| {});
    harness.loader.want(vec![
        thumb(&server, "cut", "/truncated.jpg"),
        thumb(&server, "text", "/text.png"),
        thumb(&server, "gone", "/status/404"),
    ]);
    let answers = harness.answers(3).await;
    assert_eq!(*failure(&answers["cut"]), ThumbError::Damaged);
    let text = failure(&answers["text"]);
    assert_eq!(*text, ThumbError::NotAnImage);
    assert_eq!(text.to_string(), "not an image the app can read");
    assert_eq!(*failure(&answers["gone"]), ThumbError::Http { status: 404 });
    // Failures are not cached.
    assert!(!harness.loader.cache_path("text", 64).exists());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stalled_download_times_out_without_holding_up_others() {
    let server = ThumbServer::start().await;
    let mut harness = Harness::new(|c| c.timeout = Duration::from_millis(800));
    let started = Instant::now();
    harness.loader.want(vec![
        thumb(&server, "stalled", "/stall/a"),
        thumb(&server, "fast", "/png/50/50/fast"),
    ]);
    let first = harness.next().await;
    assert_eq!(first.asset_id, "fast", "the fast one is not held up");
    assert!(first.outcome.is_ok());
    let second = harness.next().await;
    assert_eq!(second.asset_id, "stalled");
    assert_eq!(*failure(&second), ThumbError::TimedOut);
    assert_eq!(failure(&second).to_string(), "download timed out");
    let elapsed = started.elapsed();
    assert!(
        elapsed >= Duration::from_millis(700) && elapsed < Duration::from_secs(4),
        "{elapsed:?}"
    );
    eventually("the stalled response is abandoned", || {
        server.was_dropped("/stall/a")
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oversized_downloads_are_refused() {
    let server = ThumbServer::start().await;
    let mut harness = Harness::new(|c| c.max_thumbnail_bytes = 256 * 1024);
    harness.loader.want(vec![
        thumb(&server, "declared", "/big-length"),
        thumb(&server, "chunked", "/big-chunked"),
    ]);
    let answers = harness.answers(2).await;
    let too_large = ThumbError::FileTooLarge {
        limit_bytes: 256 * 1024,
    };
    assert_eq!(*failure(&answers["declared"]), too_large);
    assert_eq!(*failure(&answers["chunked"]), too_large);
    assert_eq!(
        too_large.to_string(),
        "file too large to preview (over 1 MiB)"
    );

    // The original of an image without a server thumbnail has its own cap.
    let mut harness = Harness::new(|c| c.max_original_bytes = 100);
    let mut original = request("orig", None, "image/png", 64);
    original.url = Some(server.url("/png/64/64/orig"));
    harness.loader.want(vec![original]);
    assert_eq!(
        *failure(&harness.next().await),
        ThumbError::FileTooLarge { limit_bytes: 100 }
    );
}

/// A loader with `budget` bytes in flight, asked for three originals of a stated 600 KiB that
/// `server` answers after 300 ms each.
fn three_slow_originals(server: &ThumbServer, budget: u64) -> Harness {
    let harness = Harness::new(|c| c.max_bytes_in_flight = budget);
    let wanted = (0..3)
        .map(|n| {
            let mut original = request(&format!("o{n}"), None, "image/png", 40);
            original.url = Some(server.url(&format!("/slow-png/300/{n}")));
            original.size_bytes = Some(600 * 1024);
            original
        })
        .collect();
    harness.loader.want(wanted);
    harness
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn originals_wait_for_their_share_of_the_bytes_in_flight() {
    // Three 600 KiB originals fit a 64 MiB budget together...
    let server = ThumbServer::start().await;
    let mut roomy = three_slow_originals(&server, 64 << 20);
    assert!(roomy.answers(3).await.values().all(|e| e.outcome.is_ok()));
    assert_eq!(server.most_slow_at_once(), 3);
    // ...and a 1 MiB one only one by one: the next is asked for once the bytes before it are
    // decoded.
    let server = ThumbServer::start().await;
    let mut tight = three_slow_originals(&server, 1 << 20);
    assert!(tight.answers(3).await.values().all(|e| e.outcome.is_ok()));
    assert_eq!(server.most_slow_at_once(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn images_without_a_server_thumbnail_use_their_original() {
    let server = ThumbServer::start().await;
    let mut harness = Harness::new(|_| {});
    let mut original = request("orig", None, "image/png", 100);
    original.url = Some(server.url("/png/400/200/orig"));
    harness.loader.want(vec![original]);
    let thumb = harness.next().await.outcome.unwrap();
    assert_eq!((thumb.width, thumb.height), (100, 50));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn requests_leaving_the_set_are_cancelled() {
    let server = ThumbServer::start().await;
    let mut harness = Harness::new(|c| c.timeout = Duration::from_secs(3));
    let gone = thumb(&server, "gone", "/trickle/gone");
    let kept = thumb(&server, "kept", "/slow-png/300/kept");
    harness.loader.want(vec![gone, kept.clone()]);
    eventually("both downloads started", || server.hits().len() == 2).await;
    harness.loader.want(vec![kept]);
    eventually("the server sees the dropped request", || {
        server.was_dropped("/trickle/gone")
    })
    .await;
    let answer = harness.next().await;
    assert_eq!(answer.asset_id, "kept");
    assert!(answer.outcome.is_ok());
    harness.assert_quiet(Duration::from_millis(300)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn work_follows_the_latest_priority_order() {
    let server = ThumbServer::start().await;
    let mut harness = Harness::new(|c| c.concurrency = 1);
    let blocker = thumb(&server, "blocker", "/trickle/blocker");
    let a = thumb(&server, "a", "/png/20/20/a");
    let b = thumb(&server, "b", "/png/20/20/b");
    let c = thumb(&server, "c", "/png/20/20/c");
    harness
        .loader
        .want(vec![blocker.clone(), a.clone(), b.clone(), c.clone()]);
    eventually("the blocker runs", || {
        server.hit_count("/trickle/blocker") == 1
    })
    .await;
    // Scrolled: c is most urgent now, the blocker is off screen.
    harness.loader.want(vec![c.clone(), b.clone(), a.clone()]);
    let order: Vec<String> = [
        harness.next().await,
        harness.next().await,
        harness.next().await,
    ]
    .into_iter()
    .map(|e| e.asset_id)
    .collect();
    assert_eq!(order, ["c", "b", "a"]);
    assert_eq!(
        server.hits(),
        [
            "/trickle/blocker",
            "/png/20/20/c",
            "/png/20/20/b",
            "/png/20/20/a"
        ]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_request_in_flight_is_not_duplicated() {
    let server = ThumbServer::start().await;
    let mut harness = Harness::new(|_| {});
    let slow = thumb(&server, "slow", "/slow-png/300/slow");
    harness.loader.want(vec![slow.clone(), slow.clone()]);
    harness.loader.want(vec![slow.clone()]);
    harness.loader.want(vec![slow]);
    assert!(harness.next().await.outcome.is_ok());
    harness.assert_quiet(Duration::from_millis(200)).await;
    assert_eq!(server.hit_count("/slow-png/300/slow"), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn video_and_audio_get_a_type_icon_without_network() {
    let server = ThumbServer::start().await;
    let mut harness = Harness::new(|_| {});
    let mut video = request("video", None, "video/mp4", 64);
    video.url = Some(server.url("/clip.mp4"));
    let mut audio = request("audio", None, "audio/mpeg", 64);
    audio.url = Some(server.url("/song.mp3"));
    harness.loader.want(vec![video, audio]);
    let answers = harness.answers(2).await;
    let video = failure(&answers["video"]);
    assert_eq!(video.no_preview_kind(), Some(FileKind::Video));
    assert_eq!(video.to_string(), "no preview for video files");
    assert_eq!(
        failure(&answers["audio"]).no_preview_kind(),
        Some(FileKind::Audio)
    );
    assert!(server.hits().is_empty(), "no network: {:?}", server.hits());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forget_removes_the_cached_files() {
    let server = ThumbServer::start().await;
    let mut harness = Harness::new(|_| {});
    harness.loader.want(vec![
        thumb(&server, "doomed", "/png/90/90/doomed"),
        thumb(&server, "kept", "/png/90/90/kept"),
    ]);
    harness.answers(2).await;
    let doomed = harness.loader.cache_path("doomed", 64);
    let kept = harness.loader.cache_path("kept", 64);
    eventually("both are cached", || doomed.exists() && kept.exists()).await;
    assert!(doomed.starts_with(&harness.cache_dir));
    harness.loader.forget("doomed");
    eventually("the forgotten asset's file is gone", || !doomed.exists()).await;
    assert!(kept.exists());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_local_file_is_decoded_once_its_card_is_wanted_and_not_cached() {
    let mut harness = Harness::new(|_| {});
    let dir = tempfile::tempdir().unwrap();
    let image_path = dir.path().join("photo.png");
    std::fs::write(&image_path, png(500, 250)).unwrap();
    let text_path = dir.path().join("notes.png");
    std::fs::write(&text_path, "not pixels").unwrap();
    let missing = dir.path().join("missing.png");
    harness
        .loader
        .decode_local("new".to_owned(), image_path, 128);
    harness
        .loader
        .decode_local("text".to_owned(), text_path, 128);
    harness
        .loader
        .decode_local("missing".to_owned(), missing, 128);
    // Nothing is decoded while no card shows these assets.
    assert!(
        tokio::time::timeout(Duration::from_millis(300), harness.next())
            .await
            .is_err(),
        "a local file is decoded before its card is wanted"
    );

    // "new" has no server URLs: its local decode answers (and the server side `NoUrl`). The
    // local files of "text" and "missing" cannot be decoded: that is no answer, and their
    // originals on the server make their tiles.
    let server = ThumbServer::start().await;
    let mut requests = vec![request("new", None, "image/png", 128)];
    for id in ["text", "missing"] {
        let mut with_original = request(id, None, "image/png", 128);
        with_original.url = Some(server.url(&format!("/png/400/200/{id}")));
        requests.push(with_original);
    }
    harness.loader.want(requests);
    let mut answers = HashMap::new();
    while answers.len() < 3 {
        let event = harness.next().await;
        match &event.outcome {
            Err(ThumbError::NoUrl) if event.asset_id == "new" => {}
            _ => {
                assert!(
                    answers
                        .insert(event.asset_id.clone(), event.outcome)
                        .is_none(),
                    "one answer per asset"
                );
            }
        }
    }
    let thumb = answers["new"].as_ref().unwrap();
    assert_eq!(
        (thumb.width, thumb.height, thumb.source),
        (128, 64, ThumbSource::Local)
    );
    assert!(!harness.loader.cache_path("new", 128).exists());
    for id in ["text", "missing"] {
        let thumb = answers[id].as_ref().expect("the original's tile");
        assert_eq!((thumb.width, thumb.source), (128, ThumbSource::Original));
    }
    harness.assert_quiet(Duration::from_millis(300)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_broken_server_thumbnail_gives_way_to_the_original_and_a_later_one_replaces_it() {
    let server = ThumbServer::start().await;
    let mut harness = Harness::new(|_| {});
    // The server's thumbnail is gone (404): the tile is made from the original, and cached
    // apart from server thumbnails.
    let mut broken = request("b", Some(server.url("/status/404")), "image/png", 100);
    broken.url = Some(server.url("/png/400/200/b"));
    harness.loader.want(vec![broken.clone()]);
    let thumb = harness.next().await.outcome.unwrap();
    assert_eq!((thumb.width, thumb.source), (100, ThumbSource::Original));
    eventually("the tile is cached", || {
        harness.loader.original_cache_path("b", 100).exists()
    })
    .await;
    assert!(!harness.loader.cache_path("b", 100).exists());

    // Without a thumbnail_url, the next visit reads the original's tile from the disk.
    harness.loader.want(vec![]);
    let mut no_thumbnail = broken.clone();
    no_thumbnail.thumbnail_url = None;
    harness.loader.want(vec![no_thumbnail]);
    let again = harness.next().await.outcome.unwrap();
    assert_eq!(again.source, ThumbSource::Original);

    // A thumbnail_url that appears later is fetched, not shadowed by the cached tile.
    harness.loader.want(vec![]);
    let mut later = broken;
    later.thumbnail_url = Some(server.url("/png/64/32/b-thumb"));
    harness.loader.want(vec![later]);
    let thumb = harness.next().await.outcome.unwrap();
    assert_eq!(
        (thumb.width, thumb.height, thumb.source),
        (64, 32, ThumbSource::Server)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn emulator_thumbnails_survive_an_expired_link() {
    let logs = tempfile::tempdir().unwrap();
    let log_path = logs.path().join("requests.jsonl");
    let emulator = support::emulator(|c| {
        c.url_ttl_secs = 1;
        c.request_log = Some(log_path.clone());
    })
    .await;
    let client = support::client(&emulator);
    let image_id = upload_bytes(&client, "wide.png", "image/png", png(1200, 600), None)
        .await
        .id
        .unwrap();
    let video_id = upload_bytes(&client, "clip.mp4", "video/mp4", vec![0; 64], None)
        .await
        .id
        .unwrap();
    let image = client.asset(&image_id).await.unwrap();
    let video = client.asset(&video_id).await.unwrap();
    assert!(image.thumbnail_url.is_some());
    assert!(video.thumbnail_url.is_none());

    // Let the signatures expire (set-up, not an assertion).
    tokio::time::sleep(Duration::from_millis(2200)).await;
    let stale = ThumbRequest::for_asset(&image, 256).unwrap();

    // Without a client an expired link is final.
    let mut offline = Harness::new(|_| {});
    offline.loader.want(vec![stale.clone()]);
    assert_eq!(*failure(&offline.next().await), ThumbError::LinkExpired);

    let mut harness = Harness::with_client(Some(client.clone()), |_| {});
    harness
        .loader
        .want(vec![stale, ThumbRequest::for_asset(&video, 256).unwrap()]);
    let answers = harness.answers(2).await;
    let thumb = answers[&image_id].outcome.as_ref().unwrap();
    assert_eq!((thumb.width, thumb.height), (256, 128));
    assert_eq!(thumb.source, ThumbSource::Server);
    assert_eq!(
        failure(&answers[&video_id]).no_preview_kind(),
        Some(FileKind::Video)
    );

    let log = read_request_log(&log_path);
    let storage_gets: Vec<&LoggedRequest> = log
        .iter()
        .filter(|r| r.listener == "storage" && r.method == "GET")
        .collect();
    assert!(
        storage_gets.iter().all(|r| !r.authorization),
        "no key to storage"
    );
    let statuses: Vec<u16> = storage_gets.iter().map(|r| r.status).collect();
    assert_eq!(
        statuses,
        [403, 403, 200],
        "offline, then renewed: {storage_gets:?}"
    );
    assert!(storage_gets.iter().all(|r| r.path.contains("thumbnails/")));
    let renewals = log
        .iter()
        .filter(|r| r.method == "GET" && r.path == format!("/v1/assets/{image_id}"))
        .count();
    assert_eq!(renewals, 2, "one read above, one renewal");
    emulator.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_visit_shows_every_tile_from_the_disk_cache_without_network() {
    for policy in [ThumbnailPolicy::Images, ThumbnailPolicy::None] {
        let logs = tempfile::tempdir().unwrap();
        let log_path = logs.path().join("requests.jsonl");
        let emulator = support::emulator(|c| {
            c.thumbnails = policy;
            c.request_log = Some(log_path.clone());
        })
        .await;
        let client = support::client(&emulator);
        let mut assets = Vec::new();
        for (n, (w, h)) in [(640, 480), (300, 900), (1200, 600)]
            .into_iter()
            .enumerate()
        {
            let name = format!("photo-{n}.png");
            let id = upload_bytes(&client, &name, "image/png", png(w, h), None)
                .await
                .id
                .unwrap();
            assets.push(client.asset(&id).await.unwrap());
        }
        assert_eq!(
            assets.iter().all(|a| a.thumbnail_url.is_some()),
            policy == ThumbnailPolicy::Images
        );
        let wanted: Vec<ThumbRequest> = assets
            .iter()
            .map(|a| ThumbRequest::for_asset(a, 160).unwrap())
            .collect();

        // The first visit downloads.
        let cache = tempfile::tempdir().unwrap();
        let cache_dir = cache.path().join("thumbnails");
        let mut first = Harness::on_cache(
            tempfile::tempdir().unwrap(),
            cache_dir.clone(),
            Some(client.clone()),
            |_| {},
        );
        first.loader.want(wanted.clone());
        let cold = first.answers(3).await;
        let made_here = match policy {
            ThumbnailPolicy::None => ThumbSource::Original,
            _ => ThumbSource::Server,
        };
        assert!(
            cold.values()
                .all(|e| e.outcome.as_ref().unwrap().source == made_here),
            "{policy:?}: {cold:?}"
        );
        let storage_gets = |log: &[LoggedRequest]| {
            log.iter()
                .filter(|r| r.listener == "storage" && r.method == "GET")
                .count()
        };
        // The tiles are written to the disk in the background.
        eventually("the tiles are on disk", || {
            std::fs::read_dir(&cache_dir).is_ok_and(|listing| {
                listing
                    .filter_map(Result::ok)
                    .filter(|e| {
                        let name = e.file_name().to_string_lossy().into_owned();
                        name.ends_with(".tile") && !name.starts_with('.')
                    })
                    .count()
                    >= 3
            })
        })
        .await;
        let before = read_request_log(&log_path);
        assert_eq!(storage_gets(&before), 3, "{policy:?}");
        drop(first);

        // A second visit (a new loader, as after a restart) asks nothing of anyone.
        let mut second = Harness::on_cache(
            tempfile::tempdir().unwrap(),
            cache_dir.clone(),
            Some(client.clone()),
            |_| {},
        );
        second.loader.want(wanted);
        let warm = second.answers(3).await;
        for (id, event) in &warm {
            let thumb = event.outcome.as_ref().unwrap();
            let cold_thumb = cold[id].outcome.as_ref().unwrap();
            assert_eq!(
                (thumb.width, thumb.height),
                (cold_thumb.width, cold_thumb.height)
            );
            let expected = match policy {
                ThumbnailPolicy::None => ThumbSource::Original,
                _ => ThumbSource::DiskCache,
            };
            assert_eq!(thumb.source, expected, "{policy:?}");
        }
        let after = read_request_log(&log_path);
        assert_eq!(after.len(), before.len(), "{policy:?}: no request at all");
        emulator.shutdown().await;
    }
}
