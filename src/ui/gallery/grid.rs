//! The gallery grid: a toolbar (breadcrumbs, search, type, sort, refresh, selection actions)
//! over a virtualized grid of cards that loads the next page as it is scrolled to.

use egui::{
    Align, Color32, FontId, Key, KeyboardShortcut, Layout, Modifiers, Rect, RichText, Ui, vec2,
};

use crate::api::models::Folder;
use crate::desktop::Command;
use crate::library::{KindFilter, SortOrder, ViewSpec};

use super::super::destination::destination_name;
use super::super::loadable::Loadable;
use super::card::Card;
use super::folders::{folder_chain, move_menu_ui};
use super::layout::{CARD_SIZE, DraggedAssets, GridProbe, THUMB_SIZE, thumb_px};
use super::state::{GalleryState, Paging};
use super::thumbs::{ThumbCache, ThumbState};

/// Rows below the visible ones whose thumbnails are asked for in advance.
const PREFETCH_ROWS: usize = 2;

/// What the gallery asks of the window beyond backend commands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GalleryIntent {
    /// Show the details panel (an asset was double-clicked or "Details" chosen).
    ShowDetails,
}

/// The toolbar and the grid.
pub fn gallery_ui(
    ui: &mut Ui,
    state: &mut GalleryState,
    thumbs: &mut ThumbCache,
    folders: &Loadable<Vec<Folder>>,
    out: &mut Vec<Command>,
) -> Option<GalleryIntent> {
    let mut intent = None;
    state.probe = GridProbe::default();
    toolbar_ui(ui, state, folders, out);
    shortcuts(ui, state, out);
    ui.separator();
    if state.items.is_empty() {
        empty_ui(ui, state, out);
    } else {
        grid_ui(ui, state, thumbs, folders, out, &mut intent);
    }
    intent
}

fn toolbar_ui(
    ui: &mut Ui,
    state: &mut GalleryState,
    folders: &Loadable<Vec<Folder>>,
    out: &mut Vec<Command>,
) {
    ui.horizontal(|ui| {
        let mut go_to = None;
        let chain = match (folders, &state.view.folder_id) {
            (Loadable::Ready(list), Some(id)) => folder_chain(list, id),
            _ => Vec::new(),
        };
        let at_root = state.view.folder_id.is_none();
        if ui
            .selectable_label(at_root, RichText::new("Root").strong())
            .on_hover_text("Assets outside any folder")
            .clicked()
            && !at_root
        {
            go_to = Some(None);
        }
        for (index, (id, name)) in chain.iter().enumerate() {
            ui.weak(">");
            let current = index + 1 == chain.len();
            if ui
                .selectable_label(current, RichText::new(name).strong())
                .clicked()
                && !current
            {
                go_to = Some(Some(id.clone()));
            }
        }
        if let Some(folder_id) = go_to {
            out.extend(state.open_folder(folder_id));
        }
        ui.with_layout(Layout::right_to_left(Align::Center), |ui| {
            if ui
                .button("Refresh")
                .on_hover_text("Load the list again (F5)")
                .clicked()
            {
                out.extend(state.reload(false));
            }
        });
    });
    // Wrapping, so the selection's actions never widen the panel past the window.
    ui.horizontal_wrapped(|ui| {
        let mut draft = state.search_draft.clone();
        let search = ui.add(
            egui::TextEdit::singleline(&mut draft)
                .hint_text("Search names")
                .desired_width(150.0),
        );
        let search = search.on_hover_text(
            "Assets whose name starts with this text (the first letter in either case)",
        );
        let now = ui.input(|i| i.time);
        if search.changed() {
            state.edit_search(draft, now);
        }
        if !state.search_draft.is_empty() && ui.small_button("Clear search").clicked() {
            state.edit_search(String::new(), now - 1.0);
        }
        let mut view = state.view.clone();
        choice_ui(
            ui,
            "Show",
            &mut view.kind,
            &KindFilter::ALL,
            KindFilter::label,
        );
        choice_ui(
            ui,
            "Sort",
            &mut view.sort,
            &SortOrder::ALL,
            SortOrder::label,
        );
        if view.kind != state.view.kind || view.sort != state.view.sort {
            out.extend(state.open(ViewSpec {
                search: state.search_draft.trim().to_owned(),
                ..view
            }));
        }
    });
    if !state.selection.is_empty() {
        ui.horizontal_wrapped(|ui| selection_actions_ui(ui, state, folders, out));
    }
}

/// A labelled combo box over `choices`.
fn choice_ui<T: Copy + PartialEq>(
    ui: &mut Ui,
    label: &str,
    value: &mut T,
    choices: &[T],
    text: fn(T) -> &'static str,
) {
    let label = ui.weak(label);
    egui::ComboBox::from_id_salt(label.id)
        .selected_text(text(*value))
        .show_ui(ui, |ui| {
            for &choice in choices {
                ui.selectable_value(value, choice, text(choice));
            }
        })
        .response
        .labelled_by(label.id);
}

fn selection_actions_ui(
    ui: &mut Ui,
    state: &mut GalleryState,
    folders: &Loadable<Vec<Folder>>,
    out: &mut Vec<Command>,
) {
    let count = state.selection.len();
    ui.label(format!("{count} selected"));
    // The selection in grid order is only worked out on a click: it walks every loaded card.
    if let Some(reason) = state.cannot_move() {
        ui.add_enabled(false, egui::Button::new("Move to..."))
            .on_disabled_hover_text(reason);
    } else if let Some(folder_id) = move_menu_ui(ui, "Move to...", folders, &state.view.folder_id) {
        let name = destination_name(folders, folder_id.as_deref());
        let selected = state.selection.ordered(&state.items);
        out.extend(state.move_to(selected, folder_id, &name));
    }
    let cannot_delete = state.cannot_delete();
    if ui
        .add_enabled(cannot_delete.is_none(), egui::Button::new("Delete..."))
        .on_hover_text("Delete the selected assets (Delete key)")
        .on_disabled_hover_text(cannot_delete.unwrap_or_default())
        .clicked()
    {
        state.ask_delete(state.selection.ordered(&state.items));
    }
    if ui
        .small_button("Clear selection")
        .on_hover_text("Esc")
        .clicked()
    {
        state.selection.clear();
    }
}

fn shortcuts(ui: &mut Ui, state: &mut GalleryState, out: &mut Vec<Command>) {
    let refresh = KeyboardShortcut::new(Modifiers::NONE, Key::F5);
    if ui.input_mut(|i| i.consume_shortcut(&refresh)) {
        out.extend(state.reload(false));
    }
    // Text fields and open dialogs keep their own keys.
    let typing = ui.ctx().text_edit_focused();
    if typing || state.confirm_delete.is_some() {
        return;
    }
    let select_all = KeyboardShortcut::new(Modifiers::COMMAND, Key::A);
    if ui.input_mut(|i| i.consume_shortcut(&select_all)) {
        state.selection.select_all(&state.items);
    }
    if ui.input_mut(|i| i.consume_key(Modifiers::NONE, Key::Escape)) {
        state.selection.clear();
    }
    if ui.input_mut(|i| i.consume_key(Modifiers::NONE, Key::Delete)) && !state.selection.is_empty()
    {
        state.ask_delete(state.selection.ordered(&state.items));
    }
}

fn empty_ui(ui: &mut Ui, state: &mut GalleryState, out: &mut Vec<Command>) {
    ui.add_space(40.0);
    ui.vertical_centered(|ui| match &state.paging {
        Paging::NotLoaded => {
            ui.weak("Connect to see your assets.");
        }
        Paging::Loading => {
            ui.spinner();
            ui.weak("Loading assets...");
        }
        Paging::Failed(message) => {
            ui.colored_label(ui.visuals().error_fg_color, message);
            if ui.button("Try again").clicked() {
                out.extend(state.retry());
            }
        }
        Paging::Idle { .. } => {
            let narrowed = !state.view.search.is_empty() || state.view.kind != KindFilter::All;
            if narrowed {
                ui.label(RichText::new("No assets match").size(16.0));
                ui.weak(match state.view.search.as_str() {
                    "" => format!(
                        "No {} in this folder.",
                        state.view.kind.label().to_lowercase()
                    ),
                    search => format!(
                        "No {} named \"{search}...\" in this folder.",
                        state.view.kind.label().to_lowercase()
                    ),
                });
                if ui.button("Show everything").clicked() {
                    out.extend(state.open(ViewSpec {
                        folder_id: state.view.folder_id.clone(),
                        sort: state.view.sort,
                        ..ViewSpec::default()
                    }));
                }
            } else if state.search_pending() {
                ui.spinner();
            } else {
                ui.label(RichText::new("This folder is empty").size(16.0));
                ui.weak("Drop files on the window to upload them here.");
            }
        }
    });
}

fn grid_ui(
    ui: &mut Ui,
    state: &mut GalleryState,
    thumbs: &mut ThumbCache,
    folders: &Loadable<Vec<Folder>>,
    out: &mut Vec<Command>,
    intent: &mut Option<GalleryIntent>,
) {
    let spacing = ui.spacing().item_spacing;
    let columns =
        (((ui.available_width() + spacing.x) / (CARD_SIZE.x + spacing.x)).floor() as usize).max(1);
    let rows = state.items.len().div_ceil(columns);
    let size_px = thumb_px(ui.ctx(), THUMB_SIZE);
    let mut probe = GridProbe::default();
    let mut area = egui::ScrollArea::vertical()
        .id_salt("gallery-grid")
        .auto_shrink([false, false]);
    if let Some(offset) = state.scroll_to.take() {
        area = area.vertical_scroll_offset(offset);
    }
    let output = area.show_rows(ui, CARD_SIZE.y, rows + 1, |ui, range| {
        for row in range.clone() {
            if row == rows {
                footer_ui(ui, state, out);
                continue;
            }
            ui.horizontal(|ui| {
                let end = ((row + 1) * columns).min(state.items.len());
                for index in row * columns..end {
                    let tile =
                        card_row_item(ui, state, thumbs, folders, index, size_px, out, intent);
                    probe.cards += 1;
                    match tile {
                        Some(ThumbState::Loading) => probe.loading += 1,
                        Some(ThumbState::Failed(_)) => probe.failed += 1,
                        _ => {}
                    }
                }
            });
        }
        let len = state.items.len();
        let ahead =
            (range.end * columns).min(len)..((range.end + PREFETCH_ROWS) * columns).min(len);
        for asset in &state.items[ahead] {
            thumbs.prefetch(asset, size_px);
        }
    });
    probe.offset = output.state.clamped_offset().y;
    probe.viewport = output.inner_rect.height();
    probe.max_offset = (output.content_size.y - probe.viewport).max(0.0);
    state.probe = probe;
    dragged_label_ui(ui.ctx());
}

#[expect(
    clippy::too_many_arguments,
    reason = "one card needs the whole gallery's context; bundling it would only rename it"
)]
fn card_row_item(
    ui: &mut Ui,
    state: &mut GalleryState,
    thumbs: &mut ThumbCache,
    folders: &Loadable<Vec<Folder>>,
    index: usize,
    size_px: u32,
    out: &mut Vec<Command>,
    intent: &mut Option<GalleryIntent>,
) -> Option<ThumbState> {
    let asset = &state.items[index];
    let id = asset.id.clone()?;
    let thumb = thumbs.show(asset, size_px);
    let card = Card {
        asset,
        thumb: &thumb,
        selected: state.selection.contains(&id),
        busy: state.busy.contains(&id),
        error: state.errors.get(&id).map(String::as_str),
    };
    let response = card.ui(ui);
    if response.drag_started() {
        let ids = if state.selection.contains(&id) {
            state.selection.ordered(&state.items)
        } else {
            vec![id.clone()]
        };
        response.dnd_set_drag_payload(DraggedAssets(ids));
    }
    if response.clicked() {
        let modifiers = ui.input(|i| i.modifiers);
        state
            .selection
            .click(&state.items, &id, modifiers.command, modifiers.shift);
        state.details = Some(id.clone());
    }
    if response.double_clicked() {
        state.details = Some(id.clone());
        *intent = Some(GalleryIntent::ShowDetails);
    }
    response.context_menu(|ui| {
        if !state.selection.contains(&id) {
            state.selection.click(&state.items, &id, false, false);
        }
        let selected = state.selection.ordered(&state.items);
        if ui.button("Details").clicked() {
            state.details = Some(id.clone());
            *intent = Some(GalleryIntent::ShowDetails);
        }
        let label = if selected.len() > 1 {
            format!("Move {} assets to...", selected.len())
        } else {
            "Move to...".to_owned()
        };
        if let Some(folder_id) = move_menu_ui(ui, &label, folders, &state.view.folder_id) {
            let name = destination_name(folders, folder_id.as_deref());
            out.extend(state.move_to(selected.clone(), folder_id, &name));
        }
        let label = if selected.len() > 1 {
            format!("Delete {} assets...", selected.len())
        } else {
            "Delete...".to_owned()
        };
        if ui.button(label).clicked() {
            state.ask_delete(selected);
        }
    });
    Some(thumb)
}

fn footer_ui(ui: &mut Ui, state: &mut GalleryState, out: &mut Vec<Command>) {
    ui.horizontal(|ui| {
        ui.set_min_height(CARD_SIZE.y * 0.5);
        match &state.paging {
            Paging::Idle { next: Some(_) } => {
                // The footer is on screen: time for the next page.
                out.extend(state.load_more());
                ui.spinner();
                ui.weak("Loading more...");
            }
            Paging::Loading => {
                ui.spinner();
                ui.weak("Loading more...");
            }
            Paging::Failed(message) => {
                ui.colored_label(
                    ui.visuals().error_fg_color,
                    format!("The next page could not be loaded: {message}"),
                );
                if ui.button("Retry").clicked() {
                    out.extend(state.retry());
                }
            }
            Paging::Idle { next: None } | Paging::NotLoaded => {
                let count = state.items.len();
                ui.weak(format!(
                    "{count} {} - all loaded",
                    if count == 1 { "asset" } else { "assets" }
                ));
            }
        }
    });
}

/// A label following the pointer while cards are dragged.
fn dragged_label_ui(ctx: &egui::Context) {
    let Some(payload) = egui::DragAndDrop::payload::<DraggedAssets>(ctx) else {
        return;
    };
    let Some(pointer) = ctx.pointer_latest_pos() else {
        return;
    };
    let count = payload.0.len();
    let text = if count == 1 {
        "Move 1 asset to a folder".to_owned()
    } else {
        format!("Move {count} assets to a folder")
    };
    let painter = ctx.layer_painter(egui::LayerId::new(
        egui::Order::Tooltip,
        egui::Id::unique("dragged-assets"),
    ));
    let galley = painter.layout_no_wrap(text, FontId::proportional(13.0), Color32::WHITE);
    let rect = Rect::from_min_size(pointer + vec2(14.0, 10.0), galley.size() + vec2(12.0, 8.0));
    painter.rect_filled(rect, 6.0, Color32::from_rgb(40, 110, 200));
    painter.galley(rect.min + vec2(6.0, 4.0), galley, Color32::WHITE);
}
