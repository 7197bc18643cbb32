//! Thumbnails as textures: what each card shows (loading, ready, failed, or a type icon), a
//! least-recently-used budget so scrolling through 10,000 assets keeps memory flat, and the list
//! of wanted thumbnails sent to the backend when it changes.

use std::collections::HashMap;

use egui::{ColorImage, TextureHandle, TextureOptions};

use crate::api::models::Asset;
use crate::library::thumbs::{FileKind, ThumbEvent, ThumbRequest, ThumbSource};

/// Texture memory kept for thumbnails, in bytes (about 1,500 cards at 1x).
pub const TEXTURE_BUDGET_BYTES: usize = 96 * 1024 * 1024;
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
        }
    }

    /// What to show for `asset` at `size_px`; asks for it (in call order, so call for visible
    /// cards first) when it is not here yet or only provisional.
    pub fn show(&mut self, asset: &Asset, size_px: u32) -> ThumbState {
        let Some(id) = asset.id.clone() else {
            return ThumbState::Failed("the asset has no id".to_owned());
        };
        let key = (id, size_px);
        let entry = self.entries.entry(key).or_insert_with(|| Entry {
            state: ThumbState::Loading,
            bytes: 0,
            last_used: 0,
        });
        entry.last_used = self.frame;
        let state = entry.state.clone();
        if matches!(
            state,
            ThumbState::Loading
                | ThumbState::Ready {
                    provisional: true,
                    ..
                }
        ) {
            self.prefetch(asset, size_px);
        }
        state
    }

    /// Asks for `asset` at `size_px` without showing it (the rows just below the visible ones).
    pub fn prefetch(&mut self, asset: &Asset, size_px: u32) {
        let loaded = asset.id.as_ref().is_some_and(|id| {
            self.entries.get(&(id.clone(), size_px)).is_some_and(|e| {
                !matches!(
                    e.state,
                    ThumbState::Loading
                        | ThumbState::Ready {
                            provisional: true,
                            ..
                        }
                )
            })
        });
        if !loaded && let Some(request) = ThumbRequest::for_asset(asset, size_px) {
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
        let (state, bytes) = match &event.outcome {
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
                let state = ThumbState::Ready {
                    texture,
                    provisional: thumb.source == ThumbSource::Local,
                };
                (state, thumb.rgba.len())
            }
            // A local preview beats a failed server thumbnail; keep it for good.
            Err(_)
                if matches!(
                    previous.as_ref().map(|e| &e.state),
                    Some(ThumbState::Ready { .. })
                ) =>
            {
                let Some(Entry {
                    state: ThumbState::Ready { texture, .. },
                    bytes,
                    ..
                }) = previous
                else {
                    return;
                };
                let state = ThumbState::Ready {
                    texture,
                    provisional: false,
                };
                (state, bytes)
            }
            Err(err) => match err.no_preview_kind() {
                Some(kind) => (ThumbState::Icon(kind), 0),
                None => (ThumbState::Failed(err.to_string()), 0),
            },
        };
        self.used_bytes += bytes;
        self.entries.insert(
            key,
            Entry {
                state,
                bytes,
                last_used,
            },
        );
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
        cache.apply(
            &ctx,
            &ThumbEvent {
                asset_id: "l".into(),
                size_px: 10,
                outcome: Err(ThumbError::TimedOut),
            },
        );
        assert!(matches!(
            cache.state_of("l", 10),
            Some(ThumbState::Ready {
                provisional: false,
                ..
            })
        ));
        cache.forget("l");
        assert!(cache.state_of("l", 10).is_none());
    }
}
