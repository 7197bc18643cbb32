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

/// Texture memory kept for thumbnails, in bytes: about 250 cards at 1x, half a dozen full
/// screens of a maximized window. The renderer keeps its own copy of every texture (a software
/// GL driver in process memory), so each MiB here costs about two; scrolling back further than
/// this reads tiles from the disk cache, which takes milliseconds.
pub const TEXTURE_BUDGET_BYTES: usize = 16 * 1024 * 1024;
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
mod tests;
