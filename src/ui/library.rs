//! Folders and the newest assets of the destination folder: the destination picker in the top
//! bar and the "In this folder" panel that shows finished uploads arriving.

use std::collections::HashMap;

use egui::{RichText, Ui};

use crate::api::models::{Asset, Folder};
use crate::upload::human_bytes;

use super::queue::type_badge_ui;
use super::state::Loadable;

/// `Campaigns / 2026 Spring` for a folder id, following parents.
pub fn folder_path(folders: &[Folder], id: &str) -> String {
    let by_id: HashMap<&str, &Folder> = folders
        .iter()
        .filter_map(|f| f.id.as_deref().map(|fid| (fid, f)))
        .collect();
    let mut parts = Vec::new();
    let mut current = Some(id);
    // The depth bound guards against a cycle in bad data.
    while let Some(fid) = current
        && parts.len() < 32
    {
        let Some(folder) = by_id.get(fid) else {
            break;
        };
        parts.push(
            folder
                .name
                .clone()
                .unwrap_or_else(|| "(unnamed)".to_owned()),
        );
        current = folder.parent_id.as_deref();
    }
    if parts.is_empty() {
        return "(unknown folder)".to_owned();
    }
    parts.reverse();
    parts.join(" / ")
}

/// A folder's display name, or "Root" for `None`.
pub fn destination_name(folders: &Loadable<Vec<Folder>>, id: Option<&str>) -> String {
    match (id, folders) {
        (None, _) => "Root".to_owned(),
        (Some(id), Loadable::Ready(folders)) => folder_path(folders, id),
        (Some(_), _) => "the chosen folder".to_owned(),
    }
}

/// A combo box of "Root" and every folder (by path). Returns whether the choice changed.
pub fn folder_picker_ui(
    ui: &mut Ui,
    id_salt: &str,
    folders: &Loadable<Vec<Folder>>,
    selected: &mut Option<String>,
) -> bool {
    let before = selected.clone();
    let text = destination_name(folders, selected.as_deref());
    let response = egui::ComboBox::from_id_salt(id_salt)
        .selected_text(text)
        .width(220.0)
        .show_ui(ui, |ui| {
            ui.selectable_value(selected, None, "Root");
            match folders {
                Loadable::Ready(list) => {
                    let mut entries: Vec<(String, String)> = list
                        .iter()
                        .filter_map(|f| f.id.clone())
                        .map(|id| (folder_path(list, &id), id))
                        .collect();
                    entries.sort();
                    for (path, id) in entries {
                        ui.selectable_value(selected, Some(id), path);
                    }
                }
                Loadable::Loading | Loadable::NotLoaded => {
                    ui.weak("Loading folders...");
                }
                Loadable::Failed(message) => {
                    ui.colored_label(ui.visuals().error_fg_color, message);
                }
            }
        });
    response
        .response
        .on_hover_text("Folder that new uploads go to");
    *selected != before
}

/// What the recent-assets panel asks for.
#[derive(Debug, PartialEq, Eq)]
pub enum RecentIntent {
    /// Load the list again.
    Refresh,
}

/// The newest assets of the destination folder.
pub fn recent_ui(ui: &mut Ui, title: &str, recent: &Loadable<Vec<Asset>>) -> Option<RecentIntent> {
    let mut intent = None;
    ui.horizontal(|ui| {
        ui.label(RichText::new(title).strong());
        if ui.small_button("Refresh").clicked() {
            intent = Some(RecentIntent::Refresh);
        }
    });
    ui.separator();
    match recent {
        Loadable::NotLoaded => {
            ui.weak("Connect to see your assets.");
        }
        Loadable::Loading => {
            ui.horizontal(|ui| {
                ui.spinner();
                ui.weak("Loading assets...");
            });
        }
        Loadable::Failed(message) => {
            ui.colored_label(ui.visuals().error_fg_color, message);
            if ui.button("Try again").clicked() {
                intent = Some(RecentIntent::Refresh);
            }
        }
        Loadable::Ready(assets) if assets.is_empty() => {
            ui.weak("No assets in this folder yet. Drop some files to start.");
        }
        Loadable::Ready(assets) => {
            egui::ScrollArea::vertical()
                .id_salt("recent-assets")
                .auto_shrink([false, false])
                .show_rows(ui, 40.0, assets.len(), |ui, range| {
                    for asset in &assets[range] {
                        asset_row_ui(ui, asset);
                    }
                });
        }
    }
    intent
}

fn asset_row_ui(ui: &mut Ui, asset: &Asset) {
    ui.horizontal(|ui| {
        ui.set_height(34.0);
        type_badge_ui(ui, asset.mime_type.as_deref());
        ui.vertical(|ui| {
            ui.add(
                egui::Label::new(asset.name.clone().unwrap_or_else(|| "(unnamed)".into()))
                    .truncate(),
            );
            let size = asset.size_bytes.map(human_bytes).unwrap_or_default();
            let created = asset
                .created_at
                .as_deref()
                .map(|t| t.get(..16).unwrap_or(t).replace('T', " "))
                .unwrap_or_default();
            ui.weak(RichText::new(format!("{size}  {created}")).small());
        });
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    fn folder(id: &str, name: &str, parent: Option<&str>) -> Folder {
        Folder {
            id: Some(id.into()),
            name: Some(name.into()),
            parent_id: parent.map(str::to_owned),
            ..Folder::default()
        }
    }

    #[test]
    fn paths_follow_parents_and_survive_cycles() {
        let folders = vec![
            folder("a", "Campaigns", None),
            folder("b", "2026 Spring", Some("a")),
            folder("x", "Loop", Some("y")),
            folder("y", "Back", Some("x")),
        ];
        assert_eq!(folder_path(&folders, "b"), "Campaigns / 2026 Spring");
        assert_eq!(folder_path(&folders, "nope"), "(unknown folder)");
        assert!(folder_path(&folders, "x").len() < 400);
    }
}
