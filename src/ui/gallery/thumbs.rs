//! Thumbnails as textures: what each card shows (loading, ready, failed, or a type icon), a
//! least-recently-used budget so scrolling through 10,000 assets keeps memory flat, and the list
//! of wanted thumbnails sent to the backend when it changes.
//!
//! Tiles recover: a transient failure (network, timeout, 5xx, 429, a refused link) is asked
//! for again with backoff while its card is shown, a new view or a reload (F5, a reconnect)
//! forgets every failure, and a tile made from the original gives way to the server's
//! thumbnail once the asset offers one.

use std::collections::HashMap;

use egui::{ColorImage, TextureHandle, TextureOptions};

use crate::api::models::Asset;
use crate::library::thumbs::{FileKind, ThumbEvent, ThumbRequest, ThumbSource};

/// Texture memory kept for thumbnails, in bytes: about 500 cards at 1x, a dozen full screens
/// of a maximized window. The renderer keeps its own copy of every texture (a software GL
/// driver in process memory), so each MiB here costs about two; scrolling back further than
/// this reads tiles from the disk cache, which takes milliseconds.
pub const TEXTURE_BUDGET_BYTES: usize = 32 * 1024 * 1024;
/// Thumbnails kept in any state, however small: every texture costs the renderer a fixed
/// amount besides its pixels, so 100,000 tiny thumbnails that passed over the screen must not
/// all stay.
pub const MAX_ENTRIES: usize = 2048;

/// What a card shows in its picture area.
#[derive(Clone)]
pub enum ThumbState {
    /// Asked for, not here yet.
    Loading,
    /// Here. `provisional` when it is the local file's decode, shown until the server's
    /// thumbnail arrives.
    Ready {
        /// The texture.
        texture: TextureHandle,
        /// Whether a better one is still wanted.
        provisional: bool,
    },
    /// Not a previewable file: show an icon of this kind.
    Icon(FileKind),
    /// Failed, and why (for the tooltip).
    Failed(String),
}

struct Entry {
    state: ThumbState,
    bytes: usize,
    last_used: u64,
    /// What would replace a ready tile.
    upgrade: Upgrade,
    /// Transient failures in a row, and when to ask again (`None`: not after a failure).
    failures: u32,
    retry_at: Option<f64>,
}

impl Entry {
    fn loading() -> Self {
        Self {
            state: ThumbState::Loading,
            bytes: 0,
            last_used: 0,
            upgrade: Upgrade::Never,
            failures: 0,
            retry_at: None,
        }
    }

    /// Whether the backend should be asked for this entry's asset now.
    fn wanted(&self, asset: &Asset, now: f64) -> bool {
        if self.retry_at.is_some_and(|at| now < at) {
            return false;
        }
        match &self.state {
            ThumbState::Loading => true,
            ThumbState::Failed(_) => self.retry_at.is_some(),
            ThumbState::Ready { .. } => self.upgrade.possible(asset),
            ThumbState::Icon(_) => false,
        }
    }
}

/// What may replace a ready tile.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Upgrade {
    /// Nothing: it is the server's thumbnail, or the best there will be.
    Never,
    /// The server's tile (this one is the local file's).
    Always,
    /// The server's thumbnail, once the asset has one (this one is made from the original).
    WhenThumbnailAppears,
}

impl Upgrade {
    fn of(source: ThumbSource) -> Self {
        match source {
            ThumbSource::Local => Self::Always,
            ThumbSource::Original => Self::WhenThumbnailAppears,
            ThumbSource::Server | ThumbSource::DiskCache => Self::Never,
        }
    }

    fn possible(self, asset: &Asset) -> bool {
        match self {
            Self::Never => false,
            Self::Always => true,
            Self::WhenThumbnailAppears => {
                asset.thumbnail_url.as_ref().is_some_and(|u| !u.is_empty())
            }
        }
    }
}

/// How long to wait before asking again after `failures` transient failures in a row:
/// 1, 2, 4, 8, 16, then 30 seconds.
pub fn retry_delay_secs(failures: u32) -> f64 {
    f64::from(1u32 << failures.saturating_sub(1).min(5)).min(30.0)
}

/// Thumbnail textures by asset id and size.
pub struct ThumbCache {
    entries: HashMap<(String, u32), Entry>,
    frame: u64,
    used_bytes: usize,
    budget_bytes: usize,
    max_entries: usize,
    wanted: Vec<ThumbRequest>,
    sent: Vec<(String, u32)>,
    /// The time of the frame being drawn, and the gallery view's generation.
    now: f64,
    generation: u64,
}

impl Default for ThumbCache {
    fn default() -> Self {
        Self::with_limits(TEXTURE_BUDGET_BYTES, MAX_ENTRIES)
    }
}

impl ThumbCache {
    /// A cache that keeps at most `budget_bytes` of textures and `max_entries` thumbnails.
    pub fn with_limits(budget_bytes: usize, max_entries: usize) -> Self {
        Self {
            entries: HashMap::new(),
            frame: 0,
            used_bytes: 0,
            budget_bytes,
            max_entries,
            wanted: Vec::new(),
            sent: Vec::new(),
            now: 0.0,
            generation: 0,
        }
    }

    /// Starts a frame at `now` for the gallery view of `generation`: a new view or a reload
    /// forgets every failure, so its tiles are asked for again.
    pub fn begin_frame(&mut self, now: f64, generation: u64) {
        self.now = now;
        if generation != self.generation {
            self.generation = generation;
            self.entries
                .retain(|_, e| !matches!(e.state, ThumbState::Failed(_)));
            for entry in self.entries.values_mut() {
                entry.failures = 0;
                entry.retry_at = None;
            }
        }
    }

    /// When a failed tile shown lately is due to be asked for again (to wake the window then).
    pub fn next_retry(&self) -> Option<f64> {
        let recent = self.frame.saturating_sub(1);
        self.entries
            .values()
            .filter(|e| e.last_used >= recent)
            .filter_map(|e| e.retry_at)
            .min_by(f64::total_cmp)
    }

    /// What to show for `asset` at `size_px`; asks for it (in call order, so call for visible
    /// cards first) when it is not here yet, due to be tried again, or could be better.
    pub fn show(&mut self, asset: &Asset, size_px: u32) -> ThumbState {
        let Some(id) = asset.id.clone() else {
            return ThumbState::Failed("the asset has no id".to_owned());
        };
        let now = self.now;
        let entry = self
            .entries
            .entry((id, size_px))
            .or_insert_with(Entry::loading);
        entry.last_used = self.frame;
        let wanted = entry.wanted(asset, now);
        if wanted && entry.retry_at.take().is_some() && matches!(entry.state, ThumbState::Failed(_))
        {
            // Due again: the card shows it loading while it is retried.
            entry.state = ThumbState::Loading;
        }
        let state = match &entry.state {
            ThumbState::Ready { texture, .. } => ThumbState::Ready {
                texture: texture.clone(),
                provisional: entry.upgrade.possible(asset),
            },
            other => other.clone(),
        };
        if wanted && let Some(request) = ThumbRequest::for_asset(asset, size_px) {
            self.wanted.push(request);
        }
        state
    }

    /// Asks for `asset` at `size_px` without showing it (the rows just below the visible ones).
    pub fn prefetch(&mut self, asset: &Asset, size_px: u32) {
        let wanted = asset.id.as_ref().is_none_or(|id| {
            self.entries
                .get(&(id.clone(), size_px))
                .is_none_or(|e| e.wanted(asset, self.now))
        });
        if wanted && let Some(request) = ThumbRequest::for_asset(asset, size_px) {
            self.wanted.push(request);
        }
    }

    /// A thumbnail arrived: turns it into a texture (needs the context, so it runs in `logic`).
    pub fn apply(&mut self, ctx: &egui::Context, event: &ThumbEvent) {
        let key = (event.asset_id.clone(), event.size_px);
        let previous = self.entries.remove(&key);
        if let Some(previous) = &previous {
            self.used_bytes -= previous.bytes;
        }
        let last_used = previous.as_ref().map_or(self.frame, |e| e.last_used);
        let mut entry = match &event.outcome {
            Ok(thumb) => {
                let image = ColorImage::from_rgba_unmultiplied(
                    [thumb.width as usize, thumb.height as usize],
                    &thumb.rgba,
                );
                let texture = ctx.load_texture(
                    format!("thumb-{}-{}", event.asset_id, event.size_px),
                    image,
                    TextureOptions::LINEAR,
                );
                Entry {
                    state: ThumbState::Ready {
                        texture,
                        provisional: false,
                    },
                    bytes: thumb.rgba.len(),
                    upgrade: Upgrade::of(thumb.source),
                    ..Entry::loading()
                }
            }
            Err(err) => {
                let failures = previous.as_ref().map_or(0, |e| e.failures) + 1;
                let retry_at = err
                    .is_transient()
                    .then(|| self.now + retry_delay_secs(failures));
                match previous {
                    // A tile already shown stays; the better one is asked for again later,
                    // or (a lasting failure) no more.
                    Some(
                        previous @ Entry {
                            state: ThumbState::Ready { .. },
                            ..
                        },
                    ) => Entry {
                        upgrade: if retry_at.is_some() {
                            previous.upgrade
                        } else {
                            Upgrade::Never
                        },
                        failures,
                        retry_at,
                        ..previous
                    },
                    _ => Entry {
                        state: match err.no_preview_kind() {
                            Some(kind) => ThumbState::Icon(kind),
                            None => ThumbState::Failed(err.to_string()),
                        },
                        failures,
                        retry_at,
                        ..Entry::loading()
                    },
                }
            }
        };
        entry.last_used = last_used;
        self.used_bytes += entry.bytes;
        self.entries.insert(key, entry);
    }

    /// Forgets an asset's thumbnails (it was deleted).
    pub fn forget(&mut self, asset_id: &str) {
        let used = &mut self.used_bytes;
        self.entries.retain(|(id, _), entry| {
            let keep = id != asset_id;
            if !keep {
                *used -= entry.bytes;
            }
            keep
        });
    }

    /// Ends a frame: once over either budget (bytes or thumbnails), drops the least recently
    /// used thumbnails (never one shown this frame) down to seven eighths of it, forgets loading
    /// entries no longer shown, and returns the wanted list when it changed since it was last
    /// sent.
    pub fn end_frame(&mut self) -> Option<Vec<ThumbRequest>> {
        let frame = self.frame;
        self.entries
            .retain(|_, e| !(matches!(e.state, ThumbState::Loading) && e.last_used < frame));
        if self.used_bytes > self.budget_bytes || self.entries.len() > self.max_entries {
            // Down to low-water marks, so the sort runs every few dozen frames while
            // scrolling rather than on each one.
            let low_bytes = self.budget_bytes - self.budget_bytes / 8;
            let low_entries = self.max_entries - self.max_entries / 8;
            let mut held: Vec<((String, u32), u64)> = self
                .entries
                .iter()
                .filter(|(_, e)| e.last_used < frame)
                .map(|(k, e)| (k.clone(), e.last_used))
                .collect();
            held.sort_unstable_by_key(|(_, used)| *used);
            for (key, _) in held {
                if self.used_bytes <= low_bytes && self.entries.len() <= low_entries {
                    break;
                }
                if let Some(entry) = self.entries.remove(&key) {
                    self.used_bytes -= entry.bytes;
                }
            }
        }
        self.frame += 1;
        let wanted = std::mem::take(&mut self.wanted);
        let keys: Vec<(String, u32)> = wanted
            .iter()
            .map(|r| (r.asset_id.clone(), r.size_px))
            .collect();
        if keys == self.sent {
            return None;
        }
        self.sent = keys;
        Some(wanted)
    }

    /// What is held for `asset_id` at `size_px`, if anything (for tests).
    pub fn state_of(&self, asset_id: &str, size_px: u32) -> Option<ThumbState> {
        self.entries
            .get(&(asset_id.to_owned(), size_px))
            .map(|e| e.state.clone())
    }

    /// Texture bytes held.
    pub fn used_bytes(&self) -> usize {
        self.used_bytes
    }

    /// Number of thumbnails held in any state.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether nothing is held.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::library::thumbs::{Thumb, ThumbError};

    fn asset(id: &str) -> Asset {
        Asset {
            id: Some(id.into()),
            mime_type: Some("image/png".into()),
            url: Some("http://127.0.0.1/x".into()),
            ..Asset::default()
        }
    }

    fn ready(id: &str) -> ThumbEvent {
        ThumbEvent {
            asset_id: id.into(),
            size_px: 10,
            outcome: Ok(Thumb {
                width: 10,
                height: 10,
                rgba: vec![255; 400],
                source: ThumbSource::Server,
            }),
        }
    }

    #[test]
    fn wanted_lists_are_sent_once_and_textures_stay_within_budget() {
        let ctx = egui::Context::default();
        // Room for two 400-byte thumbnails.
        let mut cache = ThumbCache::with_limits(800, 100);
        for id in ["a", "b", "c"] {
            assert!(matches!(cache.show(&asset(id), 10), ThumbState::Loading));
        }
        let wanted = cache.end_frame().unwrap();
        assert_eq!(wanted.len(), 3);
        for id in ["a", "b", "c"] {
            cache.show(&asset(id), 10);
        }
        assert!(
            cache.end_frame().is_none(),
            "an unchanged list is not sent again"
        );

        for id in ["a", "b", "c"] {
            cache.apply(&ctx, &ready(id));
        }
        // Only "c" is on screen now: the others are evicted to fit the budget.
        assert!(matches!(
            cache.show(&asset("c"), 10),
            ThumbState::Ready { .. }
        ));
        cache.end_frame();
        assert!(cache.used_bytes() <= 800);
        assert!(matches!(
            cache.state_of("c", 10),
            Some(ThumbState::Ready { .. })
        ));
        assert!(cache.state_of("a", 10).is_none());
    }

    fn failed(id: &str, error: ThumbError) -> ThumbEvent {
        ThumbEvent {
            asset_id: id.into(),
            size_px: 10,
            outcome: Err(error),
        }
    }

    /// The ids asked for at the end of a frame where `ids` were shown (`None`: unchanged).
    fn frame(cache: &mut ThumbCache, now: f64, ids: &[&str]) -> Option<Vec<String>> {
        cache.begin_frame(now, 0);
        for id in ids {
            cache.show(&asset(id), 10);
        }
        cache
            .end_frame()
            .map(|wanted| wanted.into_iter().map(|r| r.asset_id).collect())
    }

    #[test]
    fn transient_failures_are_tried_again_with_backoff_while_shown() {
        let ctx = egui::Context::default();
        let mut cache = ThumbCache::default();
        assert_eq!(frame(&mut cache, 0.0, &["t"]), Some(vec!["t".to_owned()]));
        cache.apply(&ctx, &failed("t", ThumbError::Http { status: 503 }));
        assert_eq!(
            frame(&mut cache, 0.5, &["t"]),
            Some(vec![]),
            "not before 1 s"
        );
        assert!(matches!(
            cache.state_of("t", 10),
            Some(ThumbState::Failed(_))
        ));
        assert_eq!(cache.next_retry(), Some(1.0), "the window wakes then");
        assert_eq!(frame(&mut cache, 1.0, &["t"]), Some(vec!["t".to_owned()]));
        assert!(matches!(cache.state_of("t", 10), Some(ThumbState::Loading)));
        // The second failure waits twice as long.
        cache.apply(&ctx, &failed("t", ThumbError::TimedOut));
        assert_eq!(frame(&mut cache, 2.5, &["t"]), Some(vec![]));
        assert_eq!(frame(&mut cache, 3.0, &["t"]), Some(vec!["t".to_owned()]));
        cache.apply(&ctx, &ready("t"));
        assert!(matches!(
            cache.state_of("t", 10),
            Some(ThumbState::Ready { .. })
        ));
        assert_eq!(cache.next_retry(), None);
        assert_eq!(retry_delay_secs(1), 1.0);
        assert_eq!(retry_delay_secs(5), 16.0);
        assert_eq!(retry_delay_secs(40), 30.0);
    }

    #[test]
    fn a_reload_forgets_failures_and_lasting_ones_wait_for_it() {
        let ctx = egui::Context::default();
        let mut cache = ThumbCache::default();
        frame(&mut cache, 0.0, &["d"]);
        cache.apply(&ctx, &failed("d", ThumbError::Damaged));
        assert_eq!(frame(&mut cache, 100.0, &["d"]), Some(vec![]));
        assert_eq!(frame(&mut cache, 200.0, &["d"]), None, "never asked again");
        assert_eq!(cache.next_retry(), None);
        // F5, a reconnect or another view: a new generation.
        cache.begin_frame(201.0, 1);
        assert!(cache.state_of("d", 10).is_none());
        assert!(matches!(cache.show(&asset("d"), 10), ThumbState::Loading));
        assert_eq!(
            cache.end_frame().map(|w| w.len()),
            Some(1),
            "asked for again"
        );
    }

    #[test]
    fn a_tile_from_the_original_gives_way_to_a_later_server_thumbnail() {
        let ctx = egui::Context::default();
        let mut cache = ThumbCache::default();
        let mut event = ready("o");
        if let Ok(thumb) = &mut event.outcome {
            thumb.source = ThumbSource::Original;
        }
        cache.apply(&ctx, &event);
        assert!(matches!(
            cache.show(&asset("o"), 10),
            ThumbState::Ready {
                provisional: false,
                ..
            }
        ));
        assert!(
            cache.end_frame().is_none_or(|w| w.is_empty()),
            "nothing better to ask for"
        );
        let mut with_thumbnail = asset("o");
        with_thumbnail.thumbnail_url = Some("http://127.0.0.1/t".into());
        assert!(matches!(
            cache.show(&with_thumbnail, 10),
            ThumbState::Ready {
                provisional: true,
                ..
            }
        ));
        let wanted = cache.end_frame().unwrap();
        assert_eq!(
            wanted[0].thumbnail_url.as_deref(),
            Some("http://127.0.0.1/t")
        );
        cache.apply(&ctx, &ready("o"));
        assert!(matches!(
            cache.show(&with_thumbnail, 10),
            ThumbState::Ready {
                provisional: false,
                ..
            }
        ));
    }

    #[test]
    fn tiny_thumbnails_are_capped_by_count_not_only_by_bytes() {
        let ctx = egui::Context::default();
        // 4x4 thumbnails: 3,000 of them are 192 KB, far within the byte budget.
        let mut cache = ThumbCache::with_limits(TEXTURE_BUDGET_BYTES, 1000);
        for i in 0..3000 {
            let mut event = ready(&format!("a{i}"));
            if let Ok(thumb) = &mut event.outcome {
                (thumb.width, thumb.height, thumb.rgba) = (4, 4, vec![255; 64]);
            }
            cache.apply(&ctx, &event);
            if i % 100 == 99 {
                cache.end_frame();
            }
        }
        cache.show(&asset("a2999"), 10);
        cache.end_frame();
        assert!(cache.len() <= 1000, "{} thumbnails held", cache.len());
        assert!(
            matches!(cache.state_of("a2999", 10), Some(ThumbState::Ready { .. })),
            "the newest stays"
        );
        assert!(cache.state_of("a0", 10).is_none(), "the oldest left");
    }

    #[test]
    fn failures_explain_themselves_and_a_local_preview_outlives_one() {
        let ctx = egui::Context::default();
        let mut cache = ThumbCache::default();
        cache.apply(
            &ctx,
            &ThumbEvent {
                asset_id: "v".into(),
                size_px: 10,
                outcome: Err(ThumbError::NoPreview {
                    kind: FileKind::Video,
                }),
            },
        );
        assert!(matches!(
            cache.state_of("v", 10),
            Some(ThumbState::Icon(FileKind::Video))
        ));
        cache.apply(
            &ctx,
            &ThumbEvent {
                asset_id: "x".into(),
                size_px: 10,
                outcome: Err(ThumbError::NotAnImage),
            },
        );
        assert!(
            matches!(cache.state_of("x", 10), Some(ThumbState::Failed(reason)) if reason.contains("not an image"))
        );

        let mut local = ready("l");
        if let Ok(thumb) = &mut local.outcome {
            thumb.source = ThumbSource::Local;
        }
        cache.apply(&ctx, &local);
        assert!(matches!(
            cache.show(&asset("l"), 10),
            ThumbState::Ready {
                provisional: true,
                ..
            }
        ));
        assert_eq!(
            cache.end_frame().map(|w| w.len()),
            Some(1),
            "the server's is still wanted"
        );
        // A lasting failure of the server's: the local preview stays, for good.
        cache.apply(
            &ctx,
            &ThumbEvent {
                asset_id: "l".into(),
                size_px: 10,
                outcome: Err(ThumbError::Damaged),
            },
        );
        assert!(matches!(
            cache.show(&asset("l"), 10),
            ThumbState::Ready {
                provisional: false,
                ..
            }
        ));
        assert_eq!(cache.end_frame().map(|w| w.len()), Some(0));
        // A passing failure of the server's keeps the local tile and asks again later, once.
        let mut local = ready("l");
        if let Ok(thumb) = &mut local.outcome {
            thumb.source = ThumbSource::Local;
        }
        cache.apply(&ctx, &local);
        cache.apply(
            &ctx,
            &ThumbEvent {
                asset_id: "l".into(),
                size_px: 10,
                outcome: Err(ThumbError::TimedOut),
            },
        );
        cache.begin_frame(0.5, 0);
        cache.show(&asset("l"), 10);
        assert_eq!(cache.end_frame().map(|w| w.len()), None, "not yet");
        assert_eq!(cache.next_retry(), Some(1.0));
        cache.begin_frame(1.0, 0);
        cache.show(&asset("l"), 10);
        assert_eq!(cache.end_frame().map(|w| w.len()), Some(1), "asked again");
        assert_eq!(
            cache.next_retry(),
            None,
            "no wake-ups while it is asked for"
        );
        cache.forget("l");
        assert!(cache.state_of("l", 10).is_none());
    }
}
