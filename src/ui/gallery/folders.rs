//! The folder tree beside the gallery (browse, drop cards to move them, create, rename,
//! delete), the "Move to..." menu, and the folder dialogs.

use std::collections::HashMap;

use egui::{Key, RichText, Ui};

use crate::api::models::Folder;
use crate::desktop::Command;

use super::super::loadable::Loadable;
use super::layout::DraggedAssets;
use super::state::GalleryState;

/// A folder dialog that is open.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FolderDialog {
    /// Create a folder inside `parent_id`.
    New {
        /// Where (`None` = root).
        parent_id: Option<String>,
        /// The name typed so far.
        name: String,
    },
    /// Rename folder `id`.
    Rename {
        /// The folder.
        id: String,
        /// The name typed so far.
        name: String,
    },
    /// Confirm deleting folder `id`.
    Delete {
        /// The folder.
        id: String,
        /// Its name, for the question.
        name: String,
    },
}

/// `(id, name)` from the top-level folder down to `id`, following parents (a cycle in bad data
/// ends the walk).
pub fn folder_chain(folders: &[Folder], id: &str) -> Vec<(String, String)> {
    let by_id: HashMap<&str, &Folder> = folders
        .iter()
        .filter_map(|f| f.id.as_deref().map(|fid| (fid, f)))
        .collect();
    let mut chain = Vec::new();
    let mut current = Some(id);
    while let Some(fid) = current
        && chain.len() < 32
    {
        let Some(folder) = by_id.get(fid) else {
            break;
        };
        chain.push((fid.to_owned(), folder_name(folder)));
        current = folder.parent_id.as_deref();
    }
    chain.reverse();
    chain
}

fn folder_name(folder: &Folder) -> String {
    folder
        .name
        .clone()
        .unwrap_or_else(|| "(unnamed)".to_owned())
}

/// Folders by parent, each list sorted by name.
fn children_by_parent(folders: &[Folder]) -> HashMap<Option<&str>, Vec<&Folder>> {
    let mut children: HashMap<Option<&str>, Vec<&Folder>> = HashMap::new();
    for folder in folders.iter().filter(|f| f.id.is_some()) {
        children
            .entry(folder.parent_id.as_deref())
            .or_default()
            .push(folder);
    }
    for list in children.values_mut() {
        list.sort_by_key(|f| f.name.clone().unwrap_or_default().to_lowercase());
    }
    children
}

/// The folder tree. Clicking a folder shows it; dropping cards on one moves them there.
pub fn folder_tree_ui(
    ui: &mut Ui,
    gallery: &mut GalleryState,
    folders: &Loadable<Vec<Folder>>,
    dialog: &mut Option<FolderDialog>,
    out: &mut Vec<Command>,
) {
    let cannot_edit = gallery.cannot_edit_folders();
    ui.horizontal(|ui| {
        ui.label(RichText::new("Folders").strong());
        ui.with_layout(egui::Layout::right_to_left(egui::Align::Center), |ui| {
            if ui
                .add_enabled(cannot_edit.is_none(), egui::Button::new("New...").small())
                .on_hover_text("New folder inside the folder shown")
                .on_disabled_hover_text(cannot_edit.clone().unwrap_or_default())
                .clicked()
            {
                *dialog = Some(FolderDialog::New {
                    parent_id: gallery.view.folder_id.clone(),
                    name: String::new(),
                });
            }
        });
    });
    ui.separator();
    egui::ScrollArea::vertical()
        .id_salt("folder-tree")
        .auto_shrink([false, false])
        .show(ui, |ui| {
            let mut tree = Tree {
                gallery,
                dialog,
                out,
                children: HashMap::new(),
            };
            tree.row_ui(ui, None, "Root");
            match folders {
                Loadable::Ready(list) => {
                    tree.children = children_by_parent(list);
                    tree.children_ui(ui, None, 1);
                }
                Loadable::Loading => {
                    ui.weak("Loading folders...");
                }
                Loadable::NotLoaded => {
                    ui.weak("Connect to see your folders.");
                }
                Loadable::Failed(message) => {
                    ui.colored_label(ui.visuals().error_fg_color, message);
                    if ui.button("Try again").clicked() {
                        tree.out.push(Command::LoadFolders);
                    }
                }
            }
        });
}

struct Tree<'a> {
    gallery: &'a mut GalleryState,
    dialog: &'a mut Option<FolderDialog>,
    out: &'a mut Vec<Command>,
    children: HashMap<Option<&'a str>, Vec<&'a Folder>>,
}

impl<'a> Tree<'a> {
    fn children_ui(&mut self, ui: &mut Ui, parent: Option<&'a str>, depth: usize) {
        // The depth bound guards against a cycle in bad data.
        if depth > 32 {
            return;
        }
        let Some(list) = self.children.get(&parent).cloned() else {
            return;
        };
        for folder in list {
            let Some(id) = folder.id.as_deref() else {
                continue;
            };
            let name = folder_name(folder);
            if self.children.contains_key(&Some(id)) {
                let state = egui::collapsing_header::CollapsingState::load_with_default_open(
                    ui.ctx(),
                    ui.make_persistent_id(("folder", id)),
                    false,
                );
                state
                    .show_header(ui, |ui| self.row_ui(ui, Some(id), &name))
                    .body(|ui| self.children_ui(ui, Some(id), depth + 1));
            } else {
                ui.horizontal(|ui| {
                    // Line up with folders that have a toggle.
                    ui.add_space(ui.spacing().indent);
                    self.row_ui(ui, Some(id), &name);
                });
            }
        }
    }

    fn row_ui(&mut self, ui: &mut Ui, id: Option<&str>, name: &str) {
        let current = self.gallery.view.folder_id.as_deref() == id;
        let response = ui.selectable_label(current, name);
        if let Some(payload) = response.dnd_hover_payload::<DraggedAssets>() {
            ui.painter().rect_stroke(
                response.rect.expand(2.0),
                4.0,
                ui.visuals().selection.stroke,
                egui::StrokeKind::Outside,
            );
            response.clone().on_hover_text(format!(
                "Move {} {} here",
                payload.0.len(),
                if payload.0.len() == 1 {
                    "asset"
                } else {
                    "assets"
                }
            ));
        }
        if let Some(payload) = response.dnd_release_payload::<DraggedAssets>() {
            let folder_id = id.map(str::to_owned);
            if folder_id != self.gallery.view.folder_id {
                self.out
                    .extend(self.gallery.move_to(payload.0.clone(), folder_id, name));
            }
        }
        if response.clicked() && !current {
            self.out
                .extend(self.gallery.open_folder(id.map(str::to_owned)));
        }
        let cannot_edit = self.gallery.cannot_edit_folders();
        let editable = cannot_edit.is_none();
        let why = cannot_edit.unwrap_or_default();
        response.context_menu(|ui| {
            if ui
                .add_enabled(editable, egui::Button::new("New folder inside..."))
                .on_disabled_hover_text(&why)
                .clicked()
            {
                *self.dialog = Some(FolderDialog::New {
                    parent_id: id.map(str::to_owned),
                    name: String::new(),
                });
            }
            if let Some(id) = id {
                if ui
                    .add_enabled(editable, egui::Button::new("Rename..."))
                    .on_disabled_hover_text(&why)
                    .clicked()
                {
                    *self.dialog = Some(FolderDialog::Rename {
                        id: id.to_owned(),
                        name: name.to_owned(),
                    });
                }
                if ui
                    .add_enabled(editable, egui::Button::new("Delete..."))
                    .on_disabled_hover_text(&why)
                    .clicked()
                {
                    *self.dialog = Some(FolderDialog::Delete {
                        id: id.to_owned(),
                        name: name.to_owned(),
                    });
                }
            }
        });
    }
}

/// A "Move to..." menu of Root and every folder but `current`; returns the chosen destination.
pub fn move_menu_ui(
    ui: &mut Ui,
    label: &str,
    folders: &Loadable<Vec<Folder>>,
    current: &Option<String>,
) -> Option<Option<String>> {
    let mut chosen = None;
    ui.menu_button(label, |ui| {
        if current.is_some() && ui.button("Root").clicked() {
            chosen = Some(None);
        }
        match folders {
            Loadable::Ready(list) => {
                let mut entries: Vec<(String, String)> = list
                    .iter()
                    .filter_map(|f| f.id.clone())
                    .filter(|id| Some(id) != current.as_ref())
                    .map(|id| {
                        let path: Vec<String> = folder_chain(list, &id)
                            .into_iter()
                            .map(|(_, n)| n)
                            .collect();
                        (path.join(" / "), id)
                    })
                    .collect();
                entries.sort();
                egui::ScrollArea::vertical()
                    .max_height(320.0)
                    .show(ui, |ui| {
                        for (path, id) in entries {
                            if ui.button(path).clicked() {
                                chosen = Some(Some(id));
                            }
                        }
                    });
            }
            _ => {
                ui.weak("Folders are still loading...");
            }
        }
    });
    chosen
}

/// The open folder dialog, if any; returns the command it ends with.
pub fn folder_dialog_ui(
    ctx: &egui::Context,
    dialog: &mut Option<FolderDialog>,
    folders: &Loadable<Vec<Folder>>,
) -> Option<Command> {
    let mut current = dialog.take()?;
    let mut command = None;
    let mut keep = true;
    let modal = egui::Modal::new(egui::Id::unique("folder-dialog")).show(ctx, |ui| {
        let parent_name = |parent: &Option<String>| match (parent, folders) {
            (None, _) => "Root".to_owned(),
            (Some(id), Loadable::Ready(list)) => folder_chain(list, id)
                .into_iter()
                .map(|(_, n)| n)
                .collect::<Vec<_>>()
                .join(" / "),
            (Some(_), _) => "the folder shown".to_owned(),
        };
        match &mut current {
            FolderDialog::New { parent_id, name } => {
                ui.heading("New folder");
                ui.label(format!("Inside {}", parent_name(parent_id)));
                if let Some(entered) = name_field_ui(ui, name, "Create", &mut keep) {
                    command = Some(Command::CreateFolder {
                        name: entered,
                        parent_id: parent_id.clone(),
                    });
                }
            }
            FolderDialog::Rename { id, name } => {
                ui.heading("Rename folder");
                if let Some(entered) = name_field_ui(ui, name, "Rename", &mut keep) {
                    command = Some(Command::RenameFolder {
                        id: id.clone(),
                        name: entered,
                    });
                }
            }
            FolderDialog::Delete { id, name } => {
                ui.heading(format!("Delete the folder \"{name}\"?"));
                ui.label("Runflow only deletes empty folders. This cannot be undone.");
                ui.add_space(6.0);
                ui.horizontal(|ui| {
                    if ui.button("Delete folder").clicked() {
                        command = Some(Command::DeleteFolder { id: id.clone() });
                        keep = false;
                    }
                    if ui.button("Cancel").clicked() {
                        keep = false;
                    }
                });
            }
        }
    });
    if command.is_some() {
        keep = false;
    }
    if keep && !modal.should_close() {
        *dialog = Some(current);
    }
    command
}

/// A name field with a confirm and a Cancel button; returns the trimmed name when confirmed.
fn name_field_ui(ui: &mut Ui, name: &mut String, confirm: &str, keep: &mut bool) -> Option<String> {
    let label = ui.label("Name");
    let field = ui.text_edit_singleline(name).labelled_by(label.id);
    field.request_focus();
    let entered = field.lost_focus() && ui.input(|i| i.key_pressed(Key::Enter));
    let mut result = None;
    ui.horizontal(|ui| {
        let valid = !name.trim().is_empty();
        if (ui.add_enabled(valid, egui::Button::new(confirm)).clicked() || entered) && valid {
            result = Some(name.trim().to_owned());
        }
        if ui.button("Cancel").clicked() {
            *keep = false;
        }
    });
    result
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
    fn chains_follow_parents_and_survive_cycles() {
        let folders = vec![
            folder("a", "Campaigns", None),
            folder("b", "2026 Spring", Some("a")),
            folder("x", "Loop", Some("y")),
            folder("y", "Back", Some("x")),
        ];
        let names = |id| -> Vec<String> {
            folder_chain(&folders, id)
                .into_iter()
                .map(|(_, n)| n)
                .collect()
        };
        assert_eq!(names("b"), ["Campaigns", "2026 Spring"]);
        assert!(names("nope").is_empty());
        assert!(names("x").len() <= 32);
        let children = children_by_parent(&folders);
        assert_eq!(children[&None].len(), 1);
        assert_eq!(children[&Some("a")][0].name.as_deref(), Some("2026 Spring"));
    }
}
