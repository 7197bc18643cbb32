//! Small widgets more than one view draws.

use egui::{Color32, RichText, Ui};

/// The text and colour of a media type's badge.
pub(super) fn type_badge(mime_type: Option<&str>) -> (&'static str, Color32) {
    match mime_type.and_then(|m| m.split('/').next()) {
        Some("image") => ("IMG", Color32::from_rgb(70, 140, 220)),
        Some("video") => ("VID", Color32::from_rgb(160, 90, 210)),
        Some("audio") => ("AUD", Color32::from_rgb(230, 140, 40)),
        _ => ("FILE", Color32::GRAY),
    }
}

/// A small coloured badge naming the media type.
pub fn type_badge_ui(ui: &mut Ui, mime_type: Option<&str>) {
    let (label, color) = type_badge(mime_type);
    egui::Frame::new()
        .fill(color)
        .corner_radius(4.0)
        .inner_margin(egui::Margin::symmetric(6, 4))
        .show(ui, |ui| {
            ui.label(RichText::new(label).small().strong().color(Color32::WHITE));
        });
}
