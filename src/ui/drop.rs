//! Getting files in: the drop zone, the overlay while files hover, and turning pasted text into
//! paths.

use std::path::PathBuf;

use egui::{Align, Align2, Color32, Layout, RichText, Ui};

use super::destination::destination_name;
use super::loadable::ConnectionStatus;
use super::state::AppState;

/// Things the views ask for that need the runtime (native dialogs, clipboard).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Intent {
    /// The native "open files" dialog.
    PickFiles,
    /// The native "open folder" dialog.
    PickFolder,
    /// An image from the clipboard.
    PasteImage,
}

/// The call to action: a large zone when the queue is empty, a strip above it otherwise.
pub(super) fn drop_zone_ui(
    ui: &mut Ui,
    large: bool,
    drag_and_drop: bool,
    destination: &str,
    cannot_upload: Option<&str>,
    intents: &mut Vec<Intent>,
) {
    let height = if large {
        ui.available_height().clamp(160.0, 420.0)
    } else {
        64.0
    };
    let stroke = egui::Stroke::new(2.0, ui.visuals().weak_text_color().gamma_multiply(0.6));
    egui::Frame::new()
        .stroke(stroke)
        .corner_radius(12.0)
        .inner_margin(12.0)
        .show(ui, |ui| {
            ui.set_min_height(height - 24.0);
            ui.set_width(ui.available_width());
            let headline = if drag_and_drop {
                "Drop files or folders here"
            } else {
                "Add files or folders to upload"
            };
            let enabled = cannot_upload.is_none();
            let why = cannot_upload.unwrap_or_default();
            let mut buttons = |ui: &mut Ui| {
                for (label, intent) in [
                    ("Add files...", Intent::PickFiles),
                    ("Add folder...", Intent::PickFolder),
                    ("Paste image", Intent::PasteImage),
                ] {
                    if ui
                        .add_enabled(enabled, egui::Button::new(label))
                        .on_disabled_hover_text(why)
                        .clicked()
                    {
                        intents.push(intent);
                    }
                }
            };
            if large {
                ui.with_layout(Layout::top_down(Align::Center), |ui| {
                    ui.add_space(height * 0.2);
                    ui.label(RichText::new(headline).size(22.0));
                    match cannot_upload {
                        Some(why) => ui.colored_label(ui.visuals().warn_fg_color, why),
                        None => ui.weak(format!("They upload to {destination}.")),
                    };
                    ui.add_space(10.0);
                    centered_row(ui, "drop-buttons", buttons);
                    ui.add_space(6.0);
                    ui.weak("Ctrl+O picks files; Ctrl+V pastes an image. Up to 50 MiB per file.");
                });
            } else {
                ui.horizontal(|ui| {
                    ui.label(RichText::new(headline).size(16.0));
                    ui.add_space(12.0);
                    buttons(ui);
                });
            }
        });
}

/// A row of widgets centred horizontally. egui lays out in one pass, so the row's width is
/// remembered from the previous frame (and the pass redone when it changes).
pub(super) fn centered_row(ui: &mut Ui, salt: &str, add: impl FnOnce(&mut Ui)) {
    let id = ui.scope_id().with(salt);
    let remembered: Option<f32> = ui.data(|d| d.get_temp(id));
    let available = ui.available_width();
    ui.horizontal(|ui| {
        ui.add_space(((available - remembered.unwrap_or(0.0)) / 2.0).max(0.0));
        let start = ui.cursor().min.x;
        add(ui);
        let used = ui.min_rect().max.x - start;
        if remembered.is_none_or(|w| (w - used).abs() > 0.5) {
            ui.data_mut(|d| d.insert_temp(id, used));
            ui.ctx().request_discard("centring a row");
        }
    });
}

/// Covers the window while files hover over it.
pub(super) fn drop_overlay_ui(ctx: &egui::Context, state: &AppState) {
    let hovering = ctx.input(|i| !i.raw.hovered_files.is_empty());
    if !hovering {
        return;
    }
    let rect = ctx.content_rect();
    let painter = ctx.layer_painter(egui::LayerId::new(
        egui::Order::Foreground,
        egui::Id::unique("drop-overlay"),
    ));
    painter.rect_filled(rect, 0.0, Color32::from_black_alpha(170));
    let destination = destination_name(&state.folders, state.destination().as_deref());
    let text = if matches!(state.connection, ConnectionStatus::Connected(_)) {
        format!("Drop to upload to {destination}")
    } else {
        "Connect first, then drop files".to_owned()
    };
    painter.text(
        rect.center(),
        Align2::CENTER_CENTER,
        text,
        egui::FontId::proportional(28.0),
        Color32::WHITE,
    );
}

/// Paths in pasted text: one per line, plain or as `file://` URIs (`file://localhost/` too);
/// only existing ones.
pub fn pasted_paths(text: &str) -> Vec<PathBuf> {
    text.lines()
        .map(str::trim)
        .filter(|line| !line.is_empty() && !line.starts_with('#'))
        .filter_map(|line| {
            let path = if line.starts_with("file:") {
                url::Url::parse(line).ok()?.to_file_path().ok()?
            } else {
                PathBuf::from(line)
            };
            path.exists().then_some(path)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pasted_text_yields_existing_paths_in_either_form() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("a b+c.png");
        std::fs::write(&file, b"x").unwrap();
        let uri = format!("file://{}", file.display().to_string().replace(' ', "%20"));
        let localhost = uri.replacen("file://", "file://localhost", 1);
        let text = format!(
            "{}\n{uri}\n{localhost}\n/definitely/not/here.png\n",
            file.display()
        );
        assert_eq!(pasted_paths(&text), vec![file.clone(), file.clone(), file]);
        assert!(pasted_paths("hello world").is_empty());
    }

    #[test]
    fn a_key_that_cannot_upload_disables_the_zone_and_says_why() {
        use egui_kittest::kittest::Queryable as _;

        let why = "This key can't upload assets (needs assets:create)";
        let mut harness = egui_kittest::Harness::new_ui_state(
            |ui, intents: &mut Vec<Intent>| {
                drop_zone_ui(ui, true, true, "Root", Some(why), intents);
            },
            Vec::new(),
        );
        harness.run();
        harness.get_by_label(why);
        harness.get_by_label("Add files...").click();
        harness.run();
        assert!(harness.state().is_empty(), "a disabled button does nothing");

        let mut harness = egui_kittest::Harness::new_ui_state(
            |ui, intents: &mut Vec<Intent>| {
                drop_zone_ui(ui, true, true, "Root", None, intents);
            },
            Vec::new(),
        );
        harness.run();
        harness.get_by_label("Add files...").click();
        harness.run();
        assert_eq!(harness.state(), &vec![Intent::PickFiles]);
    }
}
