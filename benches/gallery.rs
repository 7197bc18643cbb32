//! Benchmark: the gallery grid scrolled from the first to the last of 10,000 assets, with a
//! thumbnail delivered for every card it asks for.
//!
//! Targets (product issue): median CPU time per frame while scrolling under 2 ms in release, and
//! peak memory after scrolling through all 10,000 with thumbnails under 300 MiB.
//!
//! What one frame is, and what is timed: the app's own per-frame CPU work, driven through a bare
//! `egui::Context` the way eframe drives it (no kittest: its harness always builds the AccessKit
//! tree, which the app only does while assistive technology is listening):
//! 1. "logic": the pages and thumbnails that arrived become state and textures
//!    (`GalleryState::apply_page`, `ThumbCache::apply`);
//! 2. the UI pass: `gallery_ui` in a `CentralPanel`, then `ThumbCache::end_frame`;
//! 3. tessellation of the frame's shapes into meshes (`Context::tessellate`).
//!
//! Not timed: making the synthetic pages and RGBA thumbnails (the backend's work), and handing
//! the texture deltas to the stand-in renderer below (GPU upload is the driver's work).
//!
//! The backend is simulated as instant: a page asked for by the grid's footer arrives on the
//! next frame, and so does every thumbnail in a changed wanted list. That is the most texture
//! churn the window can see, so it is the worst case for both time and memory.
//!
//! Textures: egui keeps only metadata of a texture; its pixels travel in the frame's
//! `TexturesDelta` to the renderer (glow), which uploads them. With a software GL driver
//! (llvmpipe, the CI machine, many VMs) those uploaded textures live in the process's own
//! memory. The stand-in renderer here therefore keeps every set texture's pixels until egui
//! frees it, so peak RSS includes them as it would there.
//!
//! Run: `bench/gallery.sh` (or `cargo bench --bench gallery`). Optional environment:
//! `GALLERY_WIDTH`, `GALLERY_HEIGHT` (central panel size in points, default 1100 x 720),
//! `GALLERY_PPP` (pixels per point, default 1), `GALLERY_FRAMES_CSV` (a file to write each
//! frame's times to, to see where the slow ones are). Without `--bench` (as `cargo test
//! --all-targets` runs it) it does a short smoke run of 600 assets; otherwise a missed target
//! exits 1.
#![expect(clippy::print_stdout, reason = "a benchmark prints its numbers")]

use std::collections::HashMap;
use std::time::{Duration, Instant};

use egui::epaint::{ImageData, TextureId};
use egui::{
    CentralPanel, Context, Event, IdSalt, MouseWheelSource, MouseWheelUnit, Pos2, RawInput, Rect,
    TouchPhase, Vec2, ViewportId, ViewportInfo, pos2, vec2,
};
use runflow_uploader::api::models::Asset;
use runflow_uploader::desktop::{AssetPage, Command};
use runflow_uploader::library::ViewSpec;
use runflow_uploader::library::thumbs::{Thumb, ThumbEvent, ThumbRequest, ThumbSource};
use runflow_uploader::ui::Loadable;
use runflow_uploader::ui::gallery::thumbs::TEXTURE_BUDGET_BYTES;
use runflow_uploader::ui::gallery::{CARD_SIZE, THUMB_SIZE};
use runflow_uploader::ui::gallery::{GalleryState, Paging, ThumbCache, gallery_ui};

/// Assets in the folder.
const ASSETS: usize = 10_000;
/// Assets in the smoke run (`cargo test --all-targets`).
const SMOKE_ASSETS: usize = 600;
/// Median frame CPU time wanted, in milliseconds.
const TARGET_MEDIAN_MS: f64 = 2.0;
/// Peak resident memory wanted, in MiB.
const TARGET_PEAK_MIB: f64 = 300.0;
/// Frames before the first scroll (fonts, first page, first thumbnails); not in the statistics.
const WARM_UP_FRAMES: usize = 10;
/// Frames with no further scroll progress after which the end is reached.
const STALLED_FRAMES: usize = 5;
/// Simulated frame interval (60 Hz).
const FRAME_DT: f32 = 1.0 / 60.0;

/// The per-frame times of one phase, in seconds.
#[derive(Default)]
struct Samples(Vec<f64>);

impl Samples {
    fn push(&mut self, duration: Duration) {
        self.0.push(duration.as_secs_f64());
    }

    /// The `q` quantile (nearest rank) in milliseconds.
    fn quantile_ms(&self, q: f64) -> f64 {
        let mut sorted = self.0.clone();
        sorted.sort_by(f64::total_cmp);
        if sorted.is_empty() {
            return 0.0;
        }
        let rank = ((q * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len());
        sorted[rank - 1] * 1000.0
    }

    fn total(&self) -> f64 {
        self.0.iter().sum()
    }
}

/// Stands in for the GPU renderer: keeps each texture's pixels from its `set` to its `free`.
#[derive(Default)]
struct TextureStore {
    textures: HashMap<TextureId, ImageData>,
    peak_bytes: usize,
}

impl TextureStore {
    fn apply(&mut self, delta: &mut egui::TexturesDelta) {
        for (id, deltas) in delta.set.drain() {
            for image in deltas {
                // Patches (the font atlas growing) update a texture already held.
                if image.pos.is_none() {
                    self.textures.insert(id, image.image);
                }
            }
        }
        for id in delta.free.drain() {
            self.textures.remove(&id);
        }
        self.peak_bytes = self.peak_bytes.max(self.bytes());
    }

    fn bytes(&self) -> usize {
        self.textures
            .values()
            .map(|image| image.size()[0] * image.size()[1] * 4)
            .sum()
    }
}

/// Screen and scroll settings.
struct Setup {
    assets: usize,
    size: Vec2,
    pixels_per_point: f32,
}

impl Setup {
    fn from_env(smoke: bool) -> Self {
        let number = |name: &str, default: f32| {
            std::env::var(name)
                .ok()
                .and_then(|v| v.parse::<f32>().ok())
                .unwrap_or(default)
        };
        Self {
            assets: if smoke { SMOKE_ASSETS } else { ASSETS },
            size: vec2(
                number("GALLERY_WIDTH", 1100.0),
                number("GALLERY_HEIGHT", 720.0),
            ),
            pixels_per_point: number("GALLERY_PPP", 1.0),
        }
    }

    fn raw_input(&self, frame: usize, events: Vec<Event>) -> RawInput {
        let mut input = RawInput {
            screen_rect: Some(Rect::from_min_size(Pos2::ZERO, self.size)),
            time: Some(frame as f64 * f64::from(FRAME_DT)),
            predicted_dt: FRAME_DT,
            events,
            ..RawInput::default()
        };
        input.viewports.insert(
            ViewportId::ROOT,
            ViewportInfo {
                native_pixels_per_point: Some(self.pixels_per_point),
                focused: Some(true),
                ..ViewportInfo::default()
            },
        );
        input
    }
}

/// One page of the synthetic folder, as the backend would answer `LoadAssets`.
fn page(cursor: Option<&str>, page_size: usize, total: usize) -> AssetPage {
    let start = cursor.and_then(|c| c.parse::<usize>().ok()).unwrap_or(0);
    let end = (start + page_size).min(total);
    let items = (start..end).map(asset).collect();
    AssetPage {
        items,
        next: (end < total).then(|| end.to_string()),
    }
}

fn asset(index: usize) -> Asset {
    let day = 1 + index % 28;
    Asset {
        id: Some(format!("asset-{index:05}")),
        org_id: Some("org-bench".to_owned()),
        name: Some(format!("photo-{index:05}.png")),
        url: Some(format!(
            "https://storage.example/assets/{index:05}.png?X-Amz-Signature=0123456789abcdef"
        )),
        thumbnail_url: Some(format!(
            "https://storage.example/thumbs/{index:05}.png?X-Amz-Signature=0123456789abcdef"
        )),
        mime_type: Some("image/png".to_owned()),
        size_bytes: Some(200_000 + (index as u64 * 7_919) % 5_000_000),
        asset_type: Some("image".to_owned()),
        created_at: Some(format!("2026-11-{day:02}T10:{:02}:00Z", index % 60)),
        ..Asset::default()
    }
}

/// A decoded thumbnail for `request`: what the backend delivers.
fn thumbnail(request: &ThumbRequest, pixels_per_point: f32) -> ThumbEvent {
    let width = (THUMB_SIZE.x * pixels_per_point).round() as u32;
    let height = (THUMB_SIZE.y * pixels_per_point).round() as u32;
    let shade = request.asset_id.bytes().fold(0_u8, u8::wrapping_add) | 1;
    ThumbEvent {
        asset_id: request.asset_id.clone(),
        size_px: request.size_px,
        outcome: Ok(Thumb {
            width,
            height,
            // Opaque, like a decoded photo.
            rgba: [shade, shade / 2, 255 - shade, 255].repeat((width * height) as usize),
            source: ThumbSource::Server,
        }),
    }
}

/// `VmHWM` and `VmRSS` of this process, in MiB.
fn memory_mib() -> (f64, f64) {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let field = |name: &str| {
        status
            .lines()
            .find_map(|line| line.strip_prefix(name))
            .and_then(|rest| {
                rest.trim()
                    .trim_end_matches("kB")
                    .trim()
                    .parse::<f64>()
                    .ok()
            })
            .map_or(f64::NAN, |kib| kib / 1024.0)
    };
    (field("VmHWM:"), field("VmRSS:"))
}

/// This thread's CPU time so far (`/proc/thread-self/schedstat`, nanoseconds on CPU), if known.
/// The kernel updates it at scheduler ticks, so only a whole run's sum is meaningful.
fn thread_cpu() -> Option<Duration> {
    let text = std::fs::read_to_string("/proc/thread-self/schedstat").ok()?;
    let nanos = text.split_whitespace().next()?.parse::<u64>().ok()?;
    Some(Duration::from_nanos(nanos))
}

fn verdict(met: bool) -> &'static str {
    if met { "PASS" } else { "FAIL" }
}

fn main() {
    let smoke = !std::env::args().any(|a| a == "--bench");
    let setup = Setup::from_env(smoke);
    let ctx = Context::default();
    let mut gallery = GalleryState::default();
    let mut thumbs = ThumbCache::default();
    let folders = Loadable::Ready(Vec::new());
    let mut store = TextureStore::default();
    let page_size = gallery.page_size as usize;

    // What the backend owes the window next frame.
    let mut page_due: Option<Option<String>> = None;
    let mut thumbs_due: Vec<ThumbRequest> = Vec::new();
    let take_commands = |commands: Vec<Command>, page_due: &mut Option<Option<String>>| {
        for command in commands {
            if let Command::LoadAssets { cursor, .. } = command {
                *page_due = Some(cursor);
            }
        }
    };
    take_commands(gallery.open(ViewSpec::default()), &mut page_due);

    let (hwm_before_mib, _) = memory_mib();
    let load = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    let pointer = pos2(setup.size.x * 0.5, setup.size.y * 0.6);
    let mut scroll_id = None;
    let mut columns = 0;
    // One grid row (a card and the vertical item spacing), scrolled per frame.
    let mut row_height = CARD_SIZE.y;

    let (mut total, mut logic, mut pass, mut tessellate) = (
        Samples::default(),
        Samples::default(),
        Samples::default(),
        Samples::default(),
    );
    let mut delivered = 0_usize;
    let mut pages = 0_usize;
    let mut csv = String::from("frame,page,thumbnails,logic_ms,pass_ms,tessellate_ms\n");
    let mut furthest_asset = 0_usize;
    let mut last_offset = -1.0_f32;
    let mut stalled = 0_usize;
    let mut cpu_scrolling = Duration::ZERO;
    let started = Instant::now();

    for frame in 0.. {
        // The backend's answers, made before the clock starts.
        let page_arrives = page_due.is_some();
        let page = page_due
            .take()
            .map(|cursor| page(cursor.as_deref(), page_size, setup.assets));
        let events: Vec<ThumbEvent> = thumbs_due
            .drain(..)
            .map(|r| thumbnail(&r, setup.pixels_per_point))
            .collect();
        let scrolling = frame >= WARM_UP_FRAMES;
        let input_events = if frame == 0 {
            vec![Event::PointerMoved(pointer)]
        } else if scrolling {
            vec![Event::MouseWheel {
                unit: MouseWheelUnit::Point,
                delta: vec2(0.0, -row_height),
                phase: if frame == WARM_UP_FRAMES {
                    TouchPhase::Start
                } else {
                    TouchPhase::Move
                },
                source: MouseWheelSource::Trackpad,
                modifiers: egui::Modifiers::NONE,
            }]
        } else {
            Vec::new()
        };
        let input = setup.raw_input(frame, input_events);
        let mut out = Vec::new();

        let cpu_start = thread_cpu();
        let start = Instant::now();
        if let Some(page) = page {
            pages += 1;
            gallery.apply_page(gallery.generation, Ok(page));
        }
        for event in &events {
            thumbs.apply(&ctx, event);
        }
        let logic_done = Instant::now();
        let mut output = ctx.run_ui(input, |ui| {
            CentralPanel::default().show(ui, |ui| {
                scroll_id.get_or_insert_with(|| ui.make_persistent_id(IdSalt::new("gallery-grid")));
                let spacing = ui.spacing().item_spacing;
                row_height = CARD_SIZE.y + spacing.y;
                columns = ((ui.available_width() + spacing.x) / (CARD_SIZE.x + spacing.x)).floor()
                    as usize;
                gallery_ui(ui, &mut gallery, &mut thumbs, &folders, &mut out);
            });
        });
        let wanted = thumbs.end_frame();
        let pass_done = Instant::now();
        let primitives =
            ctx.tessellate(std::mem::take(&mut output.shapes), output.pixels_per_point);
        let end = Instant::now();
        let cpu_end = thread_cpu();
        drop(primitives);
        let thumbnail_count = events.len();
        drop(events);

        store.apply(&mut output.textures_delta);
        take_commands(out, &mut page_due);
        if let Some(wanted) = wanted {
            for request in &wanted {
                let index = request
                    .asset_id
                    .strip_prefix("asset-")
                    .and_then(|n| n.parse::<usize>().ok())
                    .unwrap_or(0);
                furthest_asset = furthest_asset.max(index);
            }
            delivered += wanted.len();
            thumbs_due = wanted;
        }

        if !scrolling {
            continue;
        }
        total.push(end - start);
        let ms = |d: Duration| d.as_secs_f64() * 1000.0;
        csv.push_str(&format!(
            "{frame},{},{thumbnail_count},{:.4},{:.4},{:.4}\n",
            u8::from(page_arrives),
            ms(logic_done - start),
            ms(pass_done - logic_done),
            ms(end - pass_done),
        ));
        logic.push(logic_done - start);
        pass.push(pass_done - logic_done);
        tessellate.push(end - pass_done);
        if let (Some(a), Some(b)) = (cpu_start, cpu_end) {
            cpu_scrolling += b.saturating_sub(a);
        }

        let offset = scroll_id
            .and_then(|id| egui::scroll_area::State::load(&ctx, id))
            .map(|s| s.clamped_offset().y)
            .expect("the gallery's scroll area keeps its state under `gallery-grid`");
        let all_loaded = gallery.paging == Paging::Idle { next: None };
        if all_loaded && offset <= last_offset + 0.5 {
            stalled += 1;
        } else {
            stalled = 0;
        }
        last_offset = last_offset.max(offset);
        if stalled >= STALLED_FRAMES {
            break;
        }
    }
    let wall = started.elapsed();
    if let Ok(path) = std::env::var("GALLERY_FRAMES_CSV")
        && let Err(err) = std::fs::write(&path, &csv)
    {
        println!("could not write {path}: {err}");
    }
    let (hwm_mib, rss_mib) = memory_mib();

    let frames = total.0.len();
    let median = total.quantile_ms(0.5);
    let rows = gallery.items.len().div_ceil(columns.max(1));
    let mib = |bytes: usize| bytes as f64 / (1024.0 * 1024.0);
    let mean_cpu_ms = cpu_scrolling.as_secs_f64() * 1000.0 / frames.max(1) as f64;
    let mean_wall_ms = total.total() * 1000.0 / frames.max(1) as f64;
    println!(
        "gallery benchmark{}: {} assets in {} pages of {page_size} (each page applied when the \
         grid's footer asked for it), {columns} columns x {rows} rows, central panel {} x {} \
         points at {} px/pt, scrolled {row_height} points (one row) per frame",
        if smoke {
            " (smoke run; `cargo bench` for the real one)"
        } else {
            ""
        },
        gallery.items.len(),
        pages,
        setup.size.x,
        setup.size.y,
        setup.pixels_per_point,
    );
    println!(
        "frames: {frames} while scrolling ({WARM_UP_FRAMES} warm-up frames not counted), \
         last scroll offset {last_offset:.0} points, furthest thumbnail asked for: asset \
         {furthest_asset}, thumbnails delivered: {delivered}, run {:.1} s, load average at \
         start: {}",
        wall.as_secs_f64(),
        load.split_whitespace()
            .take(3)
            .collect::<Vec<_>>()
            .join(" "),
    );
    println!(
        "frame time (logic + UI pass + tessellation, wall clock): median {median:.3} ms, p95 \
         {:.3} ms, max {:.3} ms, mean {mean_wall_ms:.3} ms; thread CPU time, mean over the \
         run: {mean_cpu_ms:.3} ms",
        total.quantile_ms(0.95),
        total.quantile_ms(1.0),
    );
    for (name, samples) in [
        ("logic (pages, thumbnails to textures)", &logic),
        ("UI pass (gallery_ui, end_frame)", &pass),
        ("tessellation", &tessellate),
    ] {
        println!(
            "  {name}: median {:.3} ms, p95 {:.3} ms, max {:.3} ms",
            samples.quantile_ms(0.5),
            samples.quantile_ms(0.95),
            samples.quantile_ms(1.0),
        );
    }
    println!(
        "thumbnail cache: {} entries, {:.1} MiB of textures held (budget {:.0} MiB); stand-in \
         renderer: {} textures, {:.1} MiB now, {:.1} MiB at most",
        thumbs.len(),
        mib(thumbs.used_bytes()),
        mib(TEXTURE_BUDGET_BYTES),
        store.textures.len(),
        mib(store.bytes()),
        mib(store.peak_bytes),
    );
    println!(
        "memory: peak RSS (VmHWM) {hwm_mib:.1} MiB, RSS now {rss_mib:.1} MiB, peak before the \
         first frame {hwm_before_mib:.1} MiB"
    );
    println!(
        "targets: median frame {median:.2} ms (< {TARGET_MEDIAN_MS} ms: {}); peak RSS \
         {hwm_mib:.0} MiB (< {TARGET_PEAK_MIB} MiB: {})",
        verdict(median < TARGET_MEDIAN_MS),
        verdict(hwm_mib < TARGET_PEAK_MIB),
    );
    // A missed target fails the real run; the unoptimised smoke run only checks it runs.
    let met = median < TARGET_MEDIAN_MS && hwm_mib < TARGET_PEAK_MIB;
    if smoke {
        return;
    }
    if !met {
        std::process::exit(1);
    }
}
