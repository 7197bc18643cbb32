//! One gallery card, painted directly rather than built from widgets (cheap enough for every
//! frame of a fast scroll), and the pictures that stand in for a thumbnail: loading, failed,
//! and the type icons of video, audio and other files.

use egui::{Align2, Color32, FontId, Rect, Role, Sense, Stroke, Ui, Vec2, WidgetInfo, pos2, vec2};

use crate::api::models::Asset;
use crate::library::thumbs::FileKind;
use crate::upload::human_bytes;

use super::super::widgets::type_badge;
use super::layout::{CARD_SIZE, THUMB_SIZE};
use super::thumbs::ThumbState;

const CARD_PADDING: f32 = 8.0;

/// One card, painted directly (cheap enough for thousands of frames while scrolling).
pub struct Card<'a> {
    /// The asset.
    pub asset: &'a Asset,
    /// Its picture.
    pub thumb: &'a ThumbState,
    /// Whether it is selected.
    pub selected: bool,
    /// Whether a delete or move of it is in flight.
    pub busy: bool,
    /// The last delete or move error.
    pub error: Option<&'a str>,
}

impl Card<'_> {
    /// Draws the card; the response carries its clicks, drags and accessible name.
    pub fn ui(&self, ui: &mut Ui) -> egui::Response {
        let name = self.asset.name.as_deref().unwrap_or("(unnamed)");
        let (rect, response) = ui.allocate_exact_size(CARD_SIZE, Sense::click_and_drag());
        response.widget_info(|| WidgetInfo::selected(Role::Button, true, self.selected, name));
        if ui.is_rect_visible(rect) {
            self.paint(ui, rect, name, response.hovered());
        }
        let mut tooltip = name.to_owned();
        if let ThumbState::Failed(reason) = self.thumb {
            tooltip.push_str(&format!("\nPreview failed: {reason}"));
        }
        if let Some(error) = self.error {
            tooltip.push_str(&format!("\n{error}"));
        }
        response.on_hover_text(tooltip)
    }

    fn paint(&self, ui: &Ui, rect: Rect, name: &str, hovered: bool) {
        let visuals = ui.visuals();
        let painter = ui.painter();
        let (fill, stroke) = if self.selected {
            (
                visuals.selection.bg_fill.gamma_multiply(0.35),
                visuals.selection.stroke,
            )
        } else if hovered {
            (visuals.faint_bg_color, visuals.widgets.hovered.bg_stroke)
        } else {
            (visuals.faint_bg_color, Stroke::NONE)
        };
        let stroke = if self.error.is_some() {
            Stroke::new(2.0, visuals.error_fg_color)
        } else {
            stroke
        };
        painter.rect(rect, 8.0, fill, stroke, egui::StrokeKind::Inside);
        let picture = Rect::from_min_size(rect.min + Vec2::splat(CARD_PADDING), THUMB_SIZE);
        paint_thumb(ui, picture, self.thumb, self.asset.mime_type.as_deref());

        let (badge, color) = type_badge(self.asset.mime_type.as_deref());
        let badge_galley =
            painter.layout_no_wrap(badge.to_owned(), FontId::proportional(10.0), Color32::WHITE);
        let badge_rect = Rect::from_min_size(
            picture.min + vec2(4.0, 4.0),
            badge_galley.size() + vec2(8.0, 4.0),
        );
        painter.rect_filled(badge_rect, 3.0, color);
        painter.galley(
            badge_rect.min + vec2(4.0, 2.0),
            badge_galley,
            Color32::WHITE,
        );

        let text_width = rect.width() - 2.0 * CARD_PADDING;
        let mut job = egui::text::LayoutJob::single_section(
            name.to_owned(),
            egui::TextFormat::simple(FontId::proportional(13.0), visuals.strong_text_color()),
        );
        job.wrap = egui::text::TextWrapping::truncate_at_width(text_width);
        let name_galley = ui.fonts_mut(|f| f.layout_job(job));
        let name_pos = pos2(rect.min.x + CARD_PADDING, picture.max.y + 6.0);
        painter.galley(name_pos, name_galley, visuals.strong_text_color());

        let meta = meta_text(self.asset);
        painter.text(
            pos2(rect.min.x + CARD_PADDING, name_pos.y + 20.0),
            Align2::LEFT_TOP,
            meta,
            FontId::proportional(11.0),
            visuals.weak_text_color(),
        );
        if self.busy {
            painter.rect_filled(rect, 8.0, Color32::from_black_alpha(110));
            painter.text(
                rect.center(),
                Align2::CENTER_CENTER,
                "Working...",
                FontId::proportional(14.0),
                Color32::WHITE,
            );
        }
    }
}

/// "1.2 MiB · 2026-11-24".
fn meta_text(asset: &Asset) -> String {
    let size = asset.size_bytes.map(human_bytes).unwrap_or_default();
    let date = asset
        .created_at
        .as_deref()
        .map(|t| t.get(..10).unwrap_or(t))
        .unwrap_or_default();
    match (size.is_empty(), date.is_empty()) {
        (false, false) => format!("{size} - {date}"),
        _ => format!("{size}{date}"),
    }
}

/// Paints a thumbnail (fitted, centred) or what stands in for it.
pub fn paint_thumb(ui: &Ui, rect: Rect, thumb: &ThumbState, mime_type: Option<&str>) {
    let visuals = ui.visuals();
    let painter = ui.painter();
    let backdrop = visuals.extreme_bg_color;
    painter.rect_filled(rect, 6.0, backdrop);
    let weak = visuals.weak_text_color();
    let caption = |text: &str| {
        painter.text(
            rect.center_bottom() - vec2(0.0, 14.0),
            Align2::CENTER_CENTER,
            text,
            FontId::proportional(11.0),
            weak,
        );
    };
    match thumb {
        ThumbState::Ready { texture, .. } => {
            let size = texture.size_vec2();
            let scale = (rect.width() / size.x).min(rect.height() / size.y).min(1.0);
            let fitted = Rect::from_center_size(rect.center(), size * scale);
            painter.image(
                texture.id(),
                fitted,
                Rect::from_min_max(pos2(0.0, 0.0), pos2(1.0, 1.0)),
                Color32::WHITE,
            );
        }
        ThumbState::Loading => {
            paint_picture_icon(
                painter,
                rect.center() - vec2(0.0, 8.0),
                weak.gamma_multiply(0.5),
            );
            caption("Loading preview");
        }
        ThumbState::Icon(kind) => {
            let kind = match kind {
                FileKind::Other => FileKind::of_mime(mime_type),
                other => *other,
            };
            paint_kind_icon(painter, rect.center() - vec2(0.0, 8.0), kind, weak);
            caption(match kind {
                FileKind::Video => "Video",
                FileKind::Audio => "Audio",
                FileKind::Image => "Image (no preview)",
                FileKind::Other => "File",
            });
        }
        ThumbState::Failed(_) => {
            let color = visuals.error_fg_color;
            paint_picture_icon(painter, rect.center() - vec2(0.0, 8.0), color);
            let center = rect.center() - vec2(0.0, 8.0);
            painter.line_segment(
                [center + vec2(-20.0, -16.0), center + vec2(20.0, 16.0)],
                Stroke::new(2.5, color),
            );
            caption("Preview failed");
        }
    }
}

/// A framed landscape: the universal "picture" glyph.
fn paint_picture_icon(painter: &egui::Painter, center: egui::Pos2, color: Color32) {
    let frame = Rect::from_center_size(center, vec2(44.0, 34.0));
    painter.rect_stroke(
        frame,
        4.0,
        Stroke::new(2.0, color),
        egui::StrokeKind::Inside,
    );
    painter.add(egui::Shape::convex_polygon(
        vec![
            frame.left_bottom() + vec2(4.0, -4.0),
            frame.center() + vec2(-4.0, -2.0),
            frame.right_bottom() + vec2(-4.0, -4.0),
        ],
        color,
        Stroke::NONE,
    ));
    painter.circle_filled(frame.right_top() + vec2(-10.0, 9.0), 4.0, color);
}

fn paint_kind_icon(painter: &egui::Painter, center: egui::Pos2, kind: FileKind, color: Color32) {
    match kind {
        FileKind::Video => {
            painter.circle_stroke(center, 20.0, Stroke::new(2.0, color));
            painter.add(egui::Shape::convex_polygon(
                vec![
                    center + vec2(-6.0, -10.0),
                    center + vec2(11.0, 0.0),
                    center + vec2(-6.0, 10.0),
                ],
                color,
                Stroke::NONE,
            ));
        }
        FileKind::Audio => {
            for (i, height) in [10.0_f32, 22.0, 32.0, 18.0, 26.0, 12.0].iter().enumerate() {
                let x = center.x - 17.5 + i as f32 * 7.0;
                painter.line_segment(
                    [
                        pos2(x, center.y - height / 2.0),
                        pos2(x, center.y + height / 2.0),
                    ],
                    Stroke::new(4.0, color),
                );
            }
        }
        FileKind::Image => paint_picture_icon(painter, center, color),
        FileKind::Other => {
            let page = Rect::from_center_size(center, vec2(30.0, 38.0));
            painter.rect_stroke(page, 3.0, Stroke::new(2.0, color), egui::StrokeKind::Inside);
            for i in 0..3 {
                let y = page.top() + 12.0 + i as f32 * 7.0;
                painter.line_segment(
                    [pos2(page.left() + 6.0, y), pos2(page.right() - 6.0, y)],
                    Stroke::new(1.5, color),
                );
            }
        }
    }
}
