//! The History tab: search by name and dates, one row per upload with Show in gallery, Copy ID,
//! Copy URL and Upload again, and the export of the ticked (or all shown) rows as CSV or JSON.

use egui::{RichText, Ui};
use time::macros::format_description;

use super::state::{HISTORY_ROWS, HistoryState};
use crate::desktop::{AssetPurpose, Command};
use crate::history::{Format, Source, Upload};
use crate::library::ViewSpec;
use crate::ui::Loadable;
use crate::upload::{self, human_bytes, sanitize};

/// What a row asks of the window beyond a command.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HistoryIntent {
    /// Open this view in the gallery.
    ShowInGallery(ViewSpec),
    /// Copy an asset id.
    CopyId(String),
}

/// What a row asks for.
enum RowAsk {
    /// Of the window.
    Window(HistoryIntent),
    /// List only this batch: its id, and when for people.
    OnlyBatch((String, String)),
}

/// Draws the tab. `server` is what the connection's uploads are recorded under (its API base,
/// or the demo's name): rows of another server cannot be shown or fetched.
pub fn history_ui(
    ui: &mut Ui,
    state: &mut HistoryState,
    server: Option<&str>,
    out: &mut Vec<Command>,
) -> Option<HistoryIntent> {
    let now = ui.input(|i| i.time);
    let search = ui
        .horizontal(|ui| {
            let label = ui.label("Name");
            ui.add(
                egui::TextEdit::singleline(&mut state.search)
                    .hint_text("part of a file name")
                    .desired_width(f32::INFINITY),
            )
            .labelled_by(label.id)
        })
        .inner;
    ui.horizontal(|ui| {
        let from = ui.label("From");
        let since = ui
            .add(
                egui::TextEdit::singleline(&mut state.since)
                    .hint_text("YYYY-MM-DD")
                    .desired_width(96.0),
            )
            .labelled_by(from.id);
        let to = ui.label("to");
        let until = ui
            .add(
                egui::TextEdit::singleline(&mut state.until)
                    .hint_text("YYYY-MM-DD")
                    .desired_width(96.0),
            )
            .labelled_by(to.id);
        if search.changed() || since.changed() || until.changed() {
            state.edited(now);
        }
        ui.weak("UTC");
    });
    let mut all_batches = false;
    if let Some((_, when)) = &state.batch {
        ui.horizontal(|ui| {
            ui.label(format!("Only the batch of {when}"));
            all_batches = ui.small_button("Show all").clicked();
        });
    }
    if all_batches {
        state.batch = None;
        out.extend(state.reload());
    }
    if let Err(problem) = state.query() {
        ui.colored_label(ui.visuals().error_fg_color, problem);
    }
    ui.separator();

    let rows = match &state.rows {
        Loadable::NotLoaded | Loadable::Loading => {
            ui.horizontal(|ui| {
                ui.spinner();
                ui.label("Reading the history...");
            });
            return None;
        }
        Loadable::Failed(message) => {
            ui.colored_label(ui.visuals().error_fg_color, message);
            return None;
        }
        Loadable::Ready(_) => state.shown().len(),
    };
    if rows == 0 {
        let filtered = !state.search.trim().is_empty()
            || !state.since.trim().is_empty()
            || !state.until.trim().is_empty();
        ui.label(if filtered {
            "No upload matches the search."
        } else {
            "Nothing uploaded yet. Every file you upload is listed here, with the asset it became."
        });
        return None;
    }
    export_bar_ui(ui, state, rows, out);
    ui.separator();

    let mut intent = None;
    let row_height = ui.spacing().interact_size.y * 3.0 + ui.spacing().item_spacing.y * 4.0;
    egui::ScrollArea::vertical()
        .auto_shrink([false, false])
        .show_rows(ui, row_height, rows, |ui, range| {
            for index in range {
                let upload = state.shown()[index].clone();
                let mut ticked = state.selected.contains(&upload.id);
                let same_server = server.is_some_and(|s| s.trim_end_matches('/') == upload.server);
                // Every row as tall as `show_rows` was told.
                let size = egui::vec2(ui.available_width(), row_height);
                let layout = egui::Layout::top_down(egui::Align::Min);
                let asked = ui
                    .allocate_ui_with_layout(size, layout, |ui| {
                        ui.set_min_height(row_height);
                        row_ui(ui, &upload, &mut ticked, same_server, out)
                    })
                    .inner;
                match asked {
                    Some(RowAsk::OnlyBatch(batch)) => {
                        state.batch = Some(batch);
                        out.extend(state.reload());
                    }
                    Some(RowAsk::Window(asked)) => intent = Some(asked),
                    None => {}
                }
                if ticked {
                    state.selected.insert(upload.id);
                } else {
                    state.selected.remove(&upload.id);
                }
            }
        });
    if state.more() {
        ui.weak(format!(
            "The newest {HISTORY_ROWS} are shown: narrow the search or the dates to see older \
             ones, or use `runflow-uploader history`."
        ));
    }
    intent
}

fn export_bar_ui(ui: &mut Ui, state: &mut HistoryState, rows: usize, out: &mut Vec<Command>) {
    ui.horizontal(|ui| {
        let ticked = state.selected.len();
        if ticked == 0 {
            ui.label(upload::files(rows).replace("file", "upload"));
            if ui.small_button("Select all").clicked() {
                state.selected = state.shown().iter().map(|row| row.id).collect();
            }
        } else {
            ui.label(format!("{ticked} selected"));
            if ui.small_button("Clear").clicked() {
                state.selected.clear();
            }
        }
    });
    ui.horizontal(|ui| {
        let label = ui.label("As");
        egui::ComboBox::from_id_salt("history-format")
            .width(64.0)
            .selected_text(match state.format {
                Format::Csv => "CSV",
                Format::Json => "JSON",
            })
            .show_ui(ui, |ui| {
                ui.selectable_value(&mut state.format, Format::Csv, "CSV");
                ui.selectable_value(&mut state.format, Format::Json, "JSON");
            })
            .response
            .labelled_by(label.id);
        let label = match state.selected.len() {
            0 => "Export all shown...".to_owned(),
            n => format!("Export {n} selected..."),
        };
        if ui
            .button(label)
            .on_hover_text("Local file -> asset id, with size, hash, folder, server and time")
            .clicked()
        {
            out.push(state.export());
        }
    });
}

/// One upload: a tick box, the name, when, size and how it came, and its buttons.
fn row_ui(
    ui: &mut Ui,
    upload: &Upload,
    ticked: &mut bool,
    same_server: bool,
    out: &mut Vec<Command>,
) -> Option<RowAsk> {
    let mut intent = None;
    ui.horizontal(|ui| {
        ui.checkbox(ticked, RichText::new(sanitize(&upload.name)).strong())
            .on_hover_text(sanitize(&upload.path.display().to_string()));
    });
    let when = upload
        .uploaded_at
        .format(format_description!(
            "[year]-[month]-[day] [hour]:[minute] UTC"
        ))
        .unwrap_or_default();
    ui.horizontal(|ui| {
        ui.weak(format!(
            "{when} · {} · {}",
            human_bytes(upload.size_bytes),
            upload.source.label()
        ));
        if let Some(batch) = &upload.batch
            && ui
                .link(RichText::new("its batch").small())
                .on_hover_text("List only the files uploaded with this one, to export them")
                .clicked()
        {
            intent = Some(RowAsk::OnlyBatch((batch.clone(), when.clone())));
        }
    });
    if let Some(from) = upload.fixed_from() {
        ui.label(RichText::new(sanitize(&from)).small().weak());
    }
    ui.horizontal(|ui| {
        let elsewhere = format!(
            "Uploaded to {}, not the server connected now",
            upload.server
        );
        let show = ui
            .add_enabled(same_server, egui::Button::new("Show").small())
            .on_hover_text("Show it in the gallery")
            .on_disabled_hover_text(&elsewhere);
        if show.clicked() {
            intent = Some(RowAsk::Window(HistoryIntent::ShowInGallery(ViewSpec {
                folder_id: upload.folder_id.clone(),
                search: upload.name.clone(),
                ..ViewSpec::default()
            })));
        }
        if ui.small_button("Copy ID").clicked() {
            intent = Some(RowAsk::Window(HistoryIntent::CopyId(
                upload.asset_id.clone(),
            )));
        }
        let copy_url = ui
            .add_enabled(same_server, egui::Button::new("Copy URL").small())
            .on_hover_text("A fresh download link (it expires after a while)")
            .on_disabled_hover_text(&elsewhere);
        if copy_url.clicked() {
            out.push(Command::FetchAsset {
                id: upload.asset_id.clone(),
                purpose: AssetPurpose::CopyUrl,
            });
        }
        // A pasted image lived in a file of the app's own, deleted once it was uploaded.
        let pasted = upload.source == Source::Paste;
        let again = ui
            .add_enabled(
                same_server && !pasted,
                egui::Button::new("Upload again").small(),
            )
            .on_hover_text("Upload the local file again, as a new asset in the same folder")
            .on_disabled_hover_text(if pasted {
                "A pasted image is not kept on this computer once it is uploaded"
            } else {
                &elsewhere
            });
        if again.clicked() {
            out.push(Command::Upload(upload::Command::Add {
                paths: vec![upload.path.clone()],
                folder_id: upload.folder_id.clone(),
                force: true,
            }));
        }
    });
    intent
}
