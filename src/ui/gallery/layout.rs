//! The grid's geometry and what passes between its parts: card and picture sizes, the drag
//! payload of assets dropped on a folder, and the probe the benchmark reads.

use egui::{Vec2, vec2};

/// A card's size, in points.
pub const CARD_SIZE: Vec2 = vec2(168.0, 172.0);
/// The picture area inside a card, in points.
pub const THUMB_SIZE: Vec2 = vec2(152.0, 114.0);
/// Assets being dragged onto a folder.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DraggedAssets(pub Vec<String>);

/// What the grid showed in its last frame, for the benchmark's scripted scroll (see
/// [`crate::timeline`]).
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct GridProbe {
    /// Cards on screen.
    pub cards: usize,
    /// Of those, the ones whose tile is still loading, and the ones whose tile failed.
    pub loading: usize,
    pub failed: usize,
    /// The scroll offset, the largest it can be now, and the height in view.
    pub offset: f32,
    pub max_offset: f32,
    pub viewport: f32,
}

/// Longest side, in pixels, of the thumbnails drawn in `size` points.
pub fn thumb_px(ctx: &egui::Context, size: Vec2) -> u32 {
    (size.x.max(size.y) * ctx.pixels_per_point()).round() as u32
}
