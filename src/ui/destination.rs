//! Where uploads go: by default the folder shown in the gallery, or a folder the user pins in
//! the top bar's picker.

use egui::Ui;

use crate::api::models::Folder;

use super::gallery::folder_chain;
use super::loadable::Loadable;

/// `Campaigns / 2026 Spring` for a folder id.
pub fn folder_path(folders: &[Folder], id: &str) -> String {
    let chain = folder_chain(folders, id);
    if chain.is_empty() {
        return "(unknown folder)".to_owned();
    }
    chain
        .into_iter()
        .map(|(_, name)| name)
        .collect::<Vec<_>>()
        .join(" / ")
}

/// A folder's display name, or "Root" for `None`.
pub fn destination_name(folders: &Loadable<Vec<Folder>>, id: Option<&str>) -> String {
    match (id, folders) {
        (None, _) => "Root".to_owned(),
        (Some(id), Loadable::Ready(folders)) => folder_path(folders, id),
        (Some(_), _) => "the chosen folder".to_owned(),
    }
}

/// The upload destination picker: "the folder shown" (follows the gallery), Root, or any
/// folder. Returns the new pin when the choice changed.
pub fn destination_picker_ui(
    ui: &mut Ui,
    folders: &Loadable<Vec<Folder>>,
    pinned: &Option<Option<String>>,
    shown: Option<&str>,
) -> Option<Option<Option<String>>> {
    let mut choice = pinned.clone();
    let following = format!("Folder shown ({})", destination_name(folders, shown));
    let text = match pinned {
        None => following.clone(),
        Some(id) => destination_name(folders, id.as_deref()),
    };
    egui::ComboBox::from_id_salt("destination")
        .selected_text(text)
        .width(240.0)
        .show_ui(ui, |ui| {
            ui.selectable_value(&mut choice, None, following)
                .on_hover_text("Uploads go to the folder the gallery shows");
            ui.separator();
            ui.selectable_value(&mut choice, Some(None), "Root");
            folder_entries_ui(ui, folders, |ui, path, id| {
                ui.selectable_value(&mut choice, Some(Some(id)), path);
            });
        })
        .response
        .on_hover_text("Folder that new uploads go to");
    (choice != *pinned).then_some(choice)
}

/// A combo box of "Root" and every folder (by path), named by the label `label_id` for screen
/// readers. Returns whether the choice changed.
pub fn folder_picker_ui(
    ui: &mut Ui,
    id_salt: &str,
    label_id: egui::Id,
    folders: &Loadable<Vec<Folder>>,
    selected: &mut Option<String>,
) -> bool {
    let before = selected.clone();
    let text = destination_name(folders, selected.as_deref());
    egui::ComboBox::from_id_salt(id_salt)
        .selected_text(text)
        .width(220.0)
        .show_ui(ui, |ui| {
            ui.selectable_value(selected, None, "Root");
            folder_entries_ui(ui, folders, |ui, path, id| {
                ui.selectable_value(selected, Some(id), path);
            });
        })
        .response
        .labelled_by(label_id);
    *selected != before
}

/// Calls `entry` for every folder, sorted by path; or says why there are none yet.
fn folder_entries_ui(
    ui: &mut Ui,
    folders: &Loadable<Vec<Folder>>,
    mut entry: impl FnMut(&mut Ui, String, String),
) {
    match folders {
        Loadable::Ready(list) => {
            let mut entries: Vec<(String, String)> = list
                .iter()
                .filter_map(|f| f.id.clone())
                .map(|id| (folder_path(list, &id), id))
                .collect();
            entries.sort();
            for (path, id) in entries {
                entry(ui, path, id);
            }
        }
        Loadable::Loading | Loadable::NotLoaded => {
            ui.weak("Loading folders...");
        }
        Loadable::Failed(message) => {
            ui.colored_label(ui.visuals().error_fg_color, message);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_name_every_level() {
        let folders = vec![
            Folder {
                id: Some("a".into()),
                name: Some("Campaigns".into()),
                ..Folder::default()
            },
            Folder {
                id: Some("b".into()),
                name: Some("2026 Spring".into()),
                parent_id: Some("a".into()),
                ..Folder::default()
            },
        ];
        assert_eq!(folder_path(&folders, "b"), "Campaigns / 2026 Spring");
        assert_eq!(folder_path(&folders, "nope"), "(unknown folder)");
        let loaded = Loadable::Ready(folders);
        assert_eq!(destination_name(&loaded, None), "Root");
    }
}
