//! Settings > Watch folders: each watch's row (folder, destination, state, today's count and
//! last file, Pause/Resume, Remove) and "Add watch folder...". Changes apply at once, without
//! the dialog's Save.

use std::collections::BTreeMap;
use std::path::PathBuf;

use egui::{RichText, Ui};

use crate::api::models::Folder;
use crate::desktop::Command;
use crate::watch::{SETTLE, WatchSpec, WatchState, WatchStatus};

use super::destination::{destination_name, folder_picker_ui};
use super::loadable::Loadable;
use super::settings_draft::SettingsDraft;

/// The section's body.
pub fn watch_folders_ui(
    ui: &mut Ui,
    draft: &mut SettingsDraft,
    watched: &[WatchSpec],
    statuses: &BTreeMap<PathBuf, WatchStatus>,
    folders: &Loadable<Vec<Folder>>,
    commands: &mut Vec<Command>,
) {
    ui.label(RichText::new("Watch folders").strong());
    ui.weak(format!(
        "New and changed files in these folders upload on their own once they have not \
         changed for {} seconds, subfolders included. Changes here apply at once.",
        SETTLE.as_secs()
    ));
    // A long list scrolls, so the dialog still fits the screen.
    egui::ScrollArea::vertical()
        .id_salt("watch-folders")
        .max_height(300.0)
        .auto_shrink([false, true])
        .show(ui, |ui| {
            for spec in watched {
                watch_row_ui(ui, spec, statuses.get(&spec.dir), folders, commands);
            }
        });
    ui.horizontal(|ui| {
        if ui
            .button("Add watch folder...")
            .on_hover_text("Pick a local folder to watch")
            .clicked()
        {
            commands.push(Command::PickWatchFolder {
                folder_id: draft.watch_folder_id.clone(),
            });
        }
        let label = ui.label("into");
        folder_picker_ui(
            ui,
            "watch-folder",
            label.id,
            folders,
            &mut draft.watch_folder_id,
        );
    });
}

fn watch_row_ui(
    ui: &mut Ui,
    spec: &WatchSpec,
    status: Option<&WatchStatus>,
    folders: &Loadable<Vec<Folder>>,
    commands: &mut Vec<Command>,
) {
    egui::Frame::group(ui.style()).show(ui, |ui| {
        ui.set_width(ui.available_width());
        ui.horizontal(|ui| {
            ui.label(RichText::new(spec.dir.display().to_string()).monospace())
                .on_hover_text("The local folder");
            ui.weak("into");
            ui.label(destination_name(folders, spec.folder_id.as_deref()))
                .on_hover_text("The Runflow folder its files go to");
        });
        ui.horizontal(|ui| {
            let (text, color) = match status {
                None if spec.paused => ("Paused".to_owned(), ui.visuals().weak_text_color()),
                None => (
                    "Not connected: watching starts once the app is connected.".to_owned(),
                    ui.visuals().weak_text_color(),
                ),
                Some(status) => {
                    let color = match status.state {
                        WatchState::Watching => ui.visuals().text_color(),
                        WatchState::Paused => ui.visuals().weak_text_color(),
                        WatchState::Missing => ui.visuals().warn_fg_color,
                        WatchState::Failed(_) => ui.visuals().error_fg_color,
                    };
                    (status.state.describe(), color)
                }
            };
            ui.add(egui::Label::new(RichText::new(text).color(color)).wrap());
        });
        ui.horizontal(|ui| {
            if let Some(status) = status {
                ui.weak(today_text(status));
            }
            ui.with_layout(egui::Layout::right_to_left(egui::Align::Center), |ui| {
                if ui
                    .button("Remove")
                    .on_hover_text("Stop watching this folder (its uploads stay)")
                    .clicked()
                {
                    commands.push(Command::RemoveWatch(spec.dir.clone()));
                }
                let (label, hover) = if spec.paused {
                    ("Resume", "Watch again; what came meanwhile uploads")
                } else {
                    ("Pause", "Stop watching for now")
                };
                if ui.button(label).on_hover_text(hover).clicked() {
                    commands.push(Command::PauseWatch {
                        dir: spec.dir.clone(),
                        paused: !spec.paused,
                    });
                }
            });
        });
    });
}

/// `3 uploaded today, the last shot.png`, or `Nothing uploaded today`.
fn today_text(status: &WatchStatus) -> String {
    match (status.today, &status.last_file) {
        (0, _) => "Nothing uploaded today".to_owned(),
        (1, Some(last)) => format!("1 uploaded today: {last}"),
        (n, Some(last)) => format!("{n} uploaded today, the last {last}"),
        (n, None) => format!("{n} uploaded today"),
    }
}
