//! A hostile storage server on loopback for the thumbnail pipeline tests: good images, huge and
//! broken ones, text posing as PNG, stalls, trickles and oversized bodies. It records every path
//! asked for, which response bodies were dropped before their end (the client went away), and
//! how many slow requests it held at once.

use std::convert::Infallible;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::http::{StatusCode, Uri, header};
use axum::response::Response;
use bytes::Bytes;

/// The running server.
pub struct ThumbServer {
    /// `http://127.0.0.1:PORT`.
    pub base: String,
    log: Arc<Mutex<Log>>,
    task: tokio::task::JoinHandle<()>,
}

#[derive(Default)]
struct Log {
    hits: Vec<String>,
    dropped: Vec<String>,
    /// `/slow-png` requests being answered now, and the most there were at once.
    slow_now: usize,
    slow_most: usize,
}

impl Drop for ThumbServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl ThumbServer {
    /// Starts the server on a free loopback port.
    pub async fn start() -> Self {
        let log = Arc::new(Mutex::new(Log::default()));
        let shared = Arc::clone(&log);
        let app = Router::new().fallback(move |uri: Uri| serve(uri, Arc::clone(&shared)));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let task = tokio::spawn(async move {
            axum::serve(listener, app).await.unwrap();
        });
        Self { base, log, task }
    }

    /// A signed-looking URL of `path` (the query must never matter to the pipeline).
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}?X-Amz-Signature=secret", self.base)
    }

    /// The paths asked for, in order.
    pub fn hits(&self) -> Vec<String> {
        self.log.lock().unwrap().hits.clone()
    }

    /// How often `path` was asked for.
    pub fn hit_count(&self, path: &str) -> usize {
        self.hits().iter().filter(|p| *p == path).count()
    }

    /// The most `/slow-png` requests that were being answered at once.
    pub fn most_slow_at_once(&self) -> usize {
        self.log.lock().unwrap().slow_most
    }

    /// Whether the body of a response to `path` was dropped before its end.
    pub fn was_dropped(&self, path: &str) -> bool {
        self.log.lock().unwrap().dropped.iter().any(|p| p == path)
    }
}

/// A PNG of `width`×`height` with a gradient.
pub fn png(width: u32, height: u32) -> Vec<u8> {
    let image = image::RgbaImage::from_fn(width, height, |x, y| {
        image::Rgba([(x % 256) as u8, (y % 256) as u8, 90, 255])
    });
    let mut out = std::io::Cursor::new(Vec::new());
    image.write_to(&mut out, image::ImageFormat::Png).unwrap();
    out.into_inner()
}

/// A valid PNG whose header claims `width`×`height` (its pixel data is a 1×1 image's).
pub fn png_claiming(width: u32, height: u32) -> Vec<u8> {
    let mut bytes = png(1, 1);
    assert_eq!(&bytes[12..16], b"IHDR");
    bytes[16..20].copy_from_slice(&width.to_be_bytes());
    bytes[20..24].copy_from_slice(&height.to_be_bytes());
    let crc = crc32(&bytes[12..29]);
    bytes[29..33].copy_from_slice(&crc.to_be_bytes());
    bytes
}

/// A JPEG cut off after `keep` of its bytes.
pub fn truncated_jpeg(keep: f64) -> Vec<u8> {
    let image = image::RgbImage::from_fn(256, 256, |x, y| {
        image::Rgb([(x % 256) as u8, (y % 256) as u8, ((x * y) % 256) as u8])
    });
    let mut out = std::io::Cursor::new(Vec::new());
    image.write_to(&mut out, image::ImageFormat::Jpeg).unwrap();
    let bytes = out.into_inner();
    let keep = (bytes.len() as f64 * keep) as usize;
    bytes[..keep].to_vec()
}

/// The CRC-32 of PNG chunks (ISO 3309, reflected, polynomial 0xEDB88320).
fn crc32(data: &[u8]) -> u32 {
    let mut crc = 0xFFFF_FFFF_u32;
    for &byte in data {
        crc ^= u32::from(byte);
        for _ in 0..8 {
            let mask = (crc & 1).wrapping_neg();
            crc = (crc >> 1) ^ (0xEDB8_8320 & mask);
        }
    }
    !crc
}

/// Records a body dropped before its end.
struct DropFlag {
    path: String,
    log: Arc<Mutex<Log>>,
}

impl Drop for DropFlag {
    fn drop(&mut self) {
        self.log.lock().unwrap().dropped.push(self.path.clone());
    }
}

fn image_response(bytes: Vec<u8>, content_type: &str) -> Response {
    Response::builder()
        .header(header::CONTENT_TYPE, content_type)
        .header(header::CONTENT_LENGTH, bytes.len())
        .body(Body::from(bytes))
        .unwrap()
}

/// A body sending one byte every `every`, forever, flagging when it is dropped.
fn trickle(flag: DropFlag, every: Duration) -> Response {
    let stream = futures_util::stream::unfold(flag, move |flag| async move {
        tokio::time::sleep(every).await;
        Some((Ok::<_, Infallible>(Bytes::from_static(b"\x89")), flag))
    });
    Response::builder()
        .header(header::CONTENT_TYPE, "image/png")
        .body(Body::from_stream(stream))
        .unwrap()
}

async fn serve(uri: Uri, log: Arc<Mutex<Log>>) -> Response {
    let path = uri.path().to_owned();
    log.lock().unwrap().hits.push(path.clone());
    let parts: Vec<&str> = path.trim_start_matches('/').split('/').collect();
    match parts.as_slice() {
        // /png/{w}/{h}/{name}: a good image; the name only tells requests apart.
        ["png", w, h, ..] => {
            image_response(png(w.parse().unwrap(), h.parse().unwrap()), "image/png")
        }
        // /slow-png/{ms}/{name}: a good 40×40 image after a delay.
        ["slow-png", ms, ..] => {
            {
                let mut log = log.lock().unwrap();
                log.slow_now += 1;
                log.slow_most = log.slow_most.max(log.slow_now);
            }
            tokio::time::sleep(Duration::from_millis(ms.parse().unwrap())).await;
            log.lock().unwrap().slow_now -= 1;
            image_response(png(40, 40), "image/png")
        }
        ["huge.png"] => image_response(png_claiming(60_000, 60_000), "image/png"),
        ["truncated.jpg"] => image_response(truncated_jpeg(0.5), "image/jpeg"),
        ["text.png"] => image_response(b"just some text, not pixels\n".to_vec(), "image/png"),
        // Headers, then no byte at all.
        ["stall", ..] => {
            let flag = DropFlag { path, log };
            trickle(flag, Duration::from_secs(3600))
        }
        // Headers, then a byte every 50 ms.
        ["trickle", ..] => trickle(DropFlag { path, log }, Duration::from_millis(50)),
        ["big-length"] => image_response(vec![0x89; 1024 * 1024], "image/png"),
        ["big-chunked"] => {
            let chunks = (0..16).map(|_| Ok::<_, Infallible>(Bytes::from(vec![0x89; 64 * 1024])));
            Response::builder()
                .header(header::CONTENT_TYPE, "image/png")
                .body(Body::from_stream(futures_util::stream::iter(chunks)))
                .unwrap()
        }
        ["status", code] => Response::builder()
            .status(StatusCode::from_u16(code.parse().unwrap()).unwrap())
            .body(Body::from("refused"))
            .unwrap(),
        _ => Response::builder()
            .status(StatusCode::NOT_FOUND)
            .body(Body::empty())
            .unwrap(),
    }
}
