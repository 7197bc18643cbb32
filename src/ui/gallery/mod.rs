//! The asset library: a virtualized, infinitely scrolling grid of thumbnail cards for the
//! folder shown, with search, type filter and sort; the folder tree; the details panel; and
//! multi-select with move and delete.
//!
//! - [`state`]: pages, selection, deletes and moves in flight (pure).
//! - [`thumbs`]: thumbnail textures under a memory budget, and what to ask the backend for.
//! - [`grid`]: the toolbar and the virtualized grid.
//! - [`layout`]: card sizes, the drag payload and the benchmark's probe, shared by the views.
//! - [`card`]: one card and the pictures standing in for a thumbnail.
//! - [`folders`]: the folder tree, the "Move to..." menu and the folder dialogs.
//! - [`details`]: the selected asset's panel.

pub mod card;
pub mod details;
pub mod folders;
pub mod grid;
pub mod layout;
pub mod state;
pub mod thumbs;

pub use card::Card;
pub use details::{curl_snippet, details_ui};
pub use folders::{FolderDialog, folder_chain, folder_dialog_ui, folder_tree_ui, move_menu_ui};
pub use grid::{GalleryIntent, gallery_ui};
pub use layout::{CARD_SIZE, DraggedAssets, GridProbe, THUMB_SIZE, thumb_px};
pub use state::{GalleryState, PAGE_SIZE, Paging, Selection};
pub use thumbs::{ThumbCache, ThumbState};

use crate::desktop::Command;

/// The delete confirmation, while it is open; returns the delete command once confirmed.
pub fn confirm_delete_ui(ctx: &egui::Context, gallery: &mut GalleryState) -> Option<Command> {
    let count = gallery.confirm_delete.as_ref()?.len();
    let mut confirmed = false;
    let mut cancelled = false;
    let modal = egui::Modal::new(egui::Id::unique("confirm-delete")).show(ctx, |ui| {
        let what = if count == 1 {
            let name = gallery
                .confirm_delete
                .as_ref()
                .and_then(|ids| ids.first())
                .and_then(|id| gallery.asset(id))
                .and_then(|a| a.name.clone())
                .unwrap_or_else(|| "this asset".to_owned());
            format!("Delete \"{name}\"?")
        } else {
            format!("Delete {count} assets?")
        };
        ui.heading(what);
        ui.label("They are removed from Runflow for good. This cannot be undone.");
        ui.add_space(8.0);
        ui.horizontal(|ui| {
            let label = if count == 1 {
                "Delete".to_owned()
            } else {
                format!("Delete {count} assets")
            };
            let delete = ui.add(
                egui::Button::new(egui::RichText::new(label).color(egui::Color32::WHITE))
                    .fill(egui::Color32::from_rgb(190, 45, 45)),
            );
            if delete.clicked() || ui.input(|i| i.key_pressed(egui::Key::Enter)) {
                confirmed = true;
            }
            if ui.button("Cancel").clicked() {
                cancelled = true;
            }
        });
    });
    if confirmed {
        return gallery.delete_confirmed();
    }
    if cancelled || modal.should_close() {
        gallery.confirm_delete = None;
    }
    None
}
