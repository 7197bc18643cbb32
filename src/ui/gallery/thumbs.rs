//! Thumbnails as textures: what each card shows (loading, ready, failed, or a type icon), a
//! least-recently-used budget so scrolling through 10,000 assets keeps memory flat, and the list
//! of wanted thumbnails sent to the backend when it changes.

use std::collections::HashMap;

use egui::{ColorImage, TextureHandle, TextureOptions};

use crate::api::models::Asset;
use crate::library::thumbs::{FileKind, ThumbEvent, ThumbRequest, ThumbSource};

/// Texture memory kept for thumbnails, in bytes (about 1,500 cards at 1x).
pub const TEXTURE_BUDGET_BYTES: usize = 96 * 1024 * 1024;

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
    wanted: Vec<ThumbRequest>,
    sent: Vec<(String, u32)>,
}

impl Default for ThumbCache {
    fn default() -> Self {
        Self::with_budget(TEXTURE_BUDGET_BYTES)
    }
}

impl ThumbCache {
    /// A cache that keeps at most `budget_bytes` of textures.
    pub fn with_budget(budget_bytes: usize) -> Self {
        Self {
            entries: HashMap::new(),
            frame: 0,
            used_bytes: 0,
            budget_bytes,
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
            self.entries
                .get(&(id.clone(), size_px))
                .is_some_and(|e| !matches!(e.state, ThumbState::Loading))
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

    /// Ends a frame: drops the least recently used textures over budget (never one shown this
    /// frame) and entries no longer wanted that are still loading, and returns the wanted list
    /// when it changed since it was last sent.
    pub fn end_frame(&mut self) -> Option<Vec<ThumbRequest>> {
        let frame = self.frame;
        self.entries
            .retain(|_, e| !(matches!(e.state, ThumbState::Loading) && e.last_used < frame));
        if self.used_bytes > self.budget_bytes {
            let mut ready: Vec<((String, u32), u64)> = self
                .entries
                .iter()
                .filter(|(_, e)| e.bytes > 0 && e.last_used < frame)
                .map(|(k, e)| (k.clone(), e.last_used))
                .collect();
            ready.sort_by_key(|(_, used)| *used);
            for (key, _) in ready {
                if self.used_bytes <= self.budget_bytes {
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
