//! The gallery's state and how backend events change it: the view, the loaded pages, the
//! selection, deletes and moves in flight. Pure: no I/O, no egui calls.

use std::collections::{HashMap, HashSet};

use crate::api::models::Asset;
use crate::api::{KeyScopes, Scope};
use crate::desktop::{AssetPage, Command, Level};
use crate::library::ViewSpec;

use super::layout::GridProbe;

/// Assets per page.
pub const PAGE_SIZE: u32 = 100;
/// Quiet time after the last keystroke before a search is sent, in seconds.
pub const SEARCH_DEBOUNCE_SECS: f64 = 0.3;

/// Where paging stands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Paging {
    /// Nothing asked yet (not connected).
    NotLoaded,
    /// A page is on its way.
    Loading,
    /// Pages loaded; `next` continues, `None` means every page is here.
    Idle {
        /// The cursor of the next page.
        next: Option<String>,
    },
    /// The last page request failed, and why. Retrying asks for the same page again.
    Failed(String),
}

/// Which assets are selected, and the anchor Shift-click extends from.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Selection {
    ids: HashSet<String>,
    anchor: Option<String>,
}

impl Selection {
    /// Whether `id` is selected.
    pub fn contains(&self, id: &str) -> bool {
        self.ids.contains(id)
    }

    /// How many are selected.
    pub fn len(&self) -> usize {
        self.ids.len()
    }

    /// Whether nothing is selected.
    pub fn is_empty(&self) -> bool {
        self.ids.is_empty()
    }

    /// The selected ids in the order of `items`.
    pub fn ordered(&self, items: &[Asset]) -> Vec<String> {
        items
            .iter()
            .filter_map(|a| a.id.clone())
            .filter(|id| self.ids.contains(id))
            .collect()
    }

    /// A click on `id`: alone selects just it; Ctrl/Cmd toggles it; Shift selects the range
    /// from the anchor (adding to the selection with Ctrl/Cmd too).
    pub fn click(&mut self, items: &[Asset], id: &str, command: bool, shift: bool) {
        let position = |wanted: &str| items.iter().position(|a| a.id.as_deref() == Some(wanted));
        if shift
            && let Some(anchor) = self.anchor.clone()
            && let (Some(from), Some(to)) = (position(&anchor), position(id))
        {
            if !command {
                self.ids.clear();
            }
            let (low, high) = (from.min(to), from.max(to));
            self.ids
                .extend(items[low..=high].iter().filter_map(|a| a.id.clone()));
            return;
        }
        if command {
            if !self.ids.remove(id) {
                self.ids.insert(id.to_owned());
            }
        } else {
            self.ids.clear();
            self.ids.insert(id.to_owned());
        }
        self.anchor = Some(id.to_owned());
    }

    /// Selects every loaded asset.
    pub fn select_all(&mut self, items: &[Asset]) {
        self.ids = items.iter().filter_map(|a| a.id.clone()).collect();
    }

    /// Selects nothing.
    pub fn clear(&mut self) {
        self.ids.clear();
        self.anchor = None;
    }

    /// Unselects `id` (it left the view).
    pub fn remove(&mut self, id: &str) {
        self.ids.remove(id);
        if self.anchor.as_deref() == Some(id) {
            self.anchor = None;
        }
    }
}

/// Uploads that finish within this long join the gallery together (a few times a second).
pub const ARRIVAL_BATCH_SECS: f64 = 0.25;
/// Uploads that join a loaded view one by one; past this many, the oldest of them leave it and
/// the view is loaded again from Runflow when the batch ends, so 100,000 uploads do not mean
/// 100,000 assets in memory.
pub const ARRIVALS_KEPT: usize = 2000;

/// The gallery.
#[derive(Debug)]
pub struct GalleryState {
    /// What is shown.
    pub view: ViewSpec,
    /// The search box's text (the view's search follows it after a pause).
    pub search_draft: String,
    search_edited_at: Option<f64>,
    /// The loaded assets, in the view's order.
    pub items: Vec<Asset>,
    ids: HashSet<String>,
    /// Just-uploaded assets waiting to join the top of `items` (oldest first), and since when:
    /// they join in batches, so a flood of uploads is not one insert at the front per file.
    arriving: Vec<Asset>,
    arriving_since: Option<f64>,
    /// Uploads at the top of `items` that joined since the view was loaded (at most
    /// [`ARRIVALS_KEPT`]: the oldest of a flood leave, and the view is loaded again when the
    /// batch ends).
    arrived: usize,
    /// Uploads that left the view that way.
    pub missed_uploads: usize,
    /// Where paging stands.
    pub paging: Paging,
    /// The cursor of the page being loaded (to retry it).
    loading_cursor: Option<String>,
    /// Bumped on every new view, so late pages of an old one are ignored.
    pub generation: u64,
    /// Assets per page.
    pub page_size: u32,
    /// The selection.
    pub selection: Selection,
    /// The asset the details panel shows.
    pub details: Option<String>,
    /// Which local file assets came from, as the history says (`None`: not from this
    /// computer), for the details panel; an id asked for and not answered yet is absent.
    pub origins: HashMap<String, Option<crate::history::Upload>>,
    /// Assets whose origin was asked for.
    pub origins_asked: HashSet<String>,
    /// Assets waiting for the user to confirm their deletion.
    pub confirm_delete: Option<Vec<String>>,
    /// Deletes and moves in flight.
    pub busy: HashSet<String>,
    /// The last error of an asset's delete or move, shown on its card.
    pub errors: HashMap<String, String>,
    /// The delete or move batch in flight, for its closing message.
    batch: Option<Batch>,
    /// What the connection's key may do: deletes and moves it may not are disabled.
    pub scopes: KeyScopes,
    /// What the grid showed in the last frame.
    pub probe: GridProbe,
    /// A scroll offset for the grid's next frame (the benchmark's scripted scroll).
    pub scroll_to: Option<f32>,
}

#[derive(Debug)]
struct Batch {
    verb: String,
    done: usize,
    failed: Vec<(String, String)>,
}

impl Default for GalleryState {
    fn default() -> Self {
        Self {
            view: ViewSpec::default(),
            search_draft: String::new(),
            search_edited_at: None,
            items: Vec::new(),
            ids: HashSet::new(),
            arriving: Vec::new(),
            arriving_since: None,
            arrived: 0,
            missed_uploads: 0,
            paging: Paging::NotLoaded,
            loading_cursor: None,
            generation: 0,
            page_size: PAGE_SIZE,
            selection: Selection::default(),
            details: None,
            origins: HashMap::new(),
            origins_asked: HashSet::new(),
            confirm_delete: None,
            busy: HashSet::new(),
            errors: HashMap::new(),
            batch: None,
            scopes: KeyScopes::unknown(),
            probe: GridProbe::default(),
            scroll_to: None,
        }
    }
}

impl GalleryState {
    /// Shows `view` from its first page; returns the commands that load it and remember it.
    pub fn open(&mut self, view: ViewSpec) -> Vec<Command> {
        self.search_draft.clone_from(&view.search);
        self.search_edited_at = None;
        self.view = view;
        self.reload(true)
    }

    /// Switches the view to `folder_id`, keeping the type filter and sort.
    pub fn open_folder(&mut self, folder_id: Option<String>) -> Vec<Command> {
        let view = ViewSpec {
            folder_id,
            search: String::new(),
            ..self.view.clone()
        };
        self.open(view)
    }

    /// Loads the current view again from its first page (F5); the selection is kept when
    /// `new_view` is false.
    pub fn reload(&mut self, new_view: bool) -> Vec<Command> {
        self.generation += 1;
        self.items.clear();
        self.ids.clear();
        self.arriving.clear();
        self.arriving_since = None;
        self.arrived = 0;
        self.missed_uploads = 0;
        if new_view {
            self.selection.clear();
            self.errors.clear();
        }
        self.paging = Paging::Loading;
        self.loading_cursor = None;
        vec![self.load(None), Command::SaveView(self.view.clone())]
    }

    fn load(&self, cursor: Option<String>) -> Command {
        Command::LoadAssets {
            view: self.view.clone(),
            cursor,
            limit: self.page_size,
            generation: self.generation,
        }
    }

    /// The next page, when there is one and nothing is loading.
    pub fn load_more(&mut self) -> Option<Command> {
        let Paging::Idle { next: Some(next) } = &self.paging else {
            return None;
        };
        let next = next.clone();
        self.paging = Paging::Loading;
        self.loading_cursor = Some(next.clone());
        Some(self.load(Some(next)))
    }

    /// Asks again for the page that failed.
    pub fn retry(&mut self) -> Option<Command> {
        if !matches!(self.paging, Paging::Failed(_)) {
            return None;
        }
        self.paging = Paging::Loading;
        Some(self.load(self.loading_cursor.clone()))
    }

    /// A page arrived (or failed).
    pub fn apply_page(&mut self, generation: u64, result: Result<AssetPage, String>) {
        if generation != self.generation {
            return;
        }
        match result {
            Ok(page) => {
                for asset in page.items {
                    // A page may repeat an asset that arrived as a fresh upload.
                    if let Some(id) = &asset.id
                        && self.ids.insert(id.clone())
                    {
                        self.items.push(asset);
                    }
                }
                self.paging = Paging::Idle { next: page.next };
            }
            Err(message) => self.paging = Paging::Failed(message),
        }
    }

    /// The search box changed at `now`.
    pub fn edit_search(&mut self, text: String, now: f64) {
        if text != self.search_draft {
            self.search_draft = text;
            self.search_edited_at = Some(now);
        }
    }

    /// Sends the search once typing paused, and takes in the uploads that arrived; `Some(seconds)`
    /// asks for another frame after that long (`0.0`: at once, the grid changed).
    pub fn tick(&mut self, now: f64) -> (Vec<Command>, Option<f64>) {
        let arrival = self.arriving_since.map(|since| {
            let waited = now - since;
            if waited >= ARRIVAL_BATCH_SECS {
                let arriving = std::mem::take(&mut self.arriving);
                self.arrived += arriving.len();
                self.items.splice(0..0, arriving.into_iter().rev());
                self.arriving_since = None;
                // Past the cap, the oldest uploads of this batch leave the view (they sit
                // right below the newest, above what was paged in).
                if self.arrived > ARRIVALS_KEPT {
                    let dropped: Vec<Asset> =
                        self.items.drain(ARRIVALS_KEPT..self.arrived).collect();
                    for asset in &dropped {
                        if let Some(id) = &asset.id {
                            self.ids.remove(id);
                        }
                    }
                    self.missed_uploads += dropped.len();
                    self.arrived = ARRIVALS_KEPT;
                }
                // The grid was drawn before this tick: draw it again with them.
                Some(0.0)
            } else {
                Some(ARRIVAL_BATCH_SECS - waited)
            }
        });
        let (commands, again) = self.tick_search(now);
        let again = match (again, arrival.flatten()) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        (commands, again)
    }

    fn tick_search(&mut self, now: f64) -> (Vec<Command>, Option<f64>) {
        let Some(edited) = self.search_edited_at else {
            return (Vec::new(), None);
        };
        let waited = now - edited;
        if waited < SEARCH_DEBOUNCE_SECS {
            return (Vec::new(), Some(SEARCH_DEBOUNCE_SECS - waited));
        }
        self.search_edited_at = None;
        if self.search_draft.trim() == self.view.search.trim() {
            return (Vec::new(), None);
        }
        self.view.search = self.search_draft.trim().to_owned();
        (self.reload(true), None)
    }

    /// Whether a search is waiting for the typing to pause.
    pub fn search_pending(&self) -> bool {
        self.search_edited_at.is_some()
    }

    /// The asset with `id`, if loaded.
    pub fn asset(&self, id: &str) -> Option<&Asset> {
        self.items.iter().find(|a| a.id.as_deref() == Some(id))
    }

    /// A finished upload at `now`: it joins the top of the view if it belongs there, with the
    /// others that finish within [`ARRIVAL_BATCH_SECS`] (see [`GalleryState::tick`]).
    pub fn insert_uploaded(&mut self, asset: Asset, now: f64) -> bool {
        let Some(id) = asset.id.clone() else {
            return false;
        };
        if self.paging == Paging::NotLoaded || !self.view.admits(&asset) || !self.ids.insert(id) {
            return false;
        }
        self.arriving.push(asset);
        self.arriving_since.get_or_insert(now);
        true
    }

    fn remove(&mut self, id: &str) {
        if self.ids.remove(id) {
            self.arriving.retain(|a| a.id.as_deref() != Some(id));
            if let Some(at) = self.items.iter().position(|a| a.id.as_deref() == Some(id)) {
                self.items.remove(at);
                if at < self.arrived {
                    self.arrived -= 1;
                }
            }
        }
        self.selection.remove(id);
        if self.details.as_deref() == Some(id) {
            self.details = None;
        }
    }

    /// Why the key may not delete assets, if it may not (the disabled buttons' tooltip).
    pub fn cannot_delete(&self) -> Option<String> {
        self.scopes.denial(Scope::AssetsDelete)
    }

    /// Why the key may not move assets, if it may not.
    pub fn cannot_move(&self) -> Option<String> {
        self.scopes.denial(Scope::AssetsEdit)
    }

    /// Why the key may not create, rename or delete folders, if it may not.
    pub fn cannot_edit_folders(&self) -> Option<String> {
        self.scopes.denial(Scope::AssetsEdit)
    }

    /// Why the key may not upload, if it may not.
    pub fn cannot_upload(&self) -> Option<String> {
        self.scopes.denial(Scope::AssetsCreate)
    }

    /// Asks to delete `ids` (after confirmation); nothing when the key may not delete.
    pub fn ask_delete(&mut self, ids: Vec<String>) {
        if self.cannot_delete().is_some() {
            return;
        }
        let ids: Vec<String> = ids
            .into_iter()
            .filter(|id| !self.busy.contains(id))
            .collect();
        if !ids.is_empty() {
            self.confirm_delete = Some(ids);
        }
    }

    /// The user confirmed the deletion.
    pub fn delete_confirmed(&mut self) -> Option<Command> {
        let ids = self.confirm_delete.take()?;
        self.start_batch("deleted".to_owned(), &ids);
        Some(Command::DeleteAssets { ids })
    }

    /// Moves `ids` into `folder_id`, named `folder_name` in the closing message.
    pub fn move_to(
        &mut self,
        ids: Vec<String>,
        folder_id: Option<String>,
        folder_name: &str,
    ) -> Option<Command> {
        // A drop on a folder can't be disabled like a button: the cards say why instead.
        if let Some(reason) = self.cannot_move() {
            for id in ids {
                self.errors.insert(id, reason.clone());
            }
            return None;
        }
        let ids: Vec<String> = ids
            .into_iter()
            .filter(|id| !self.busy.contains(id))
            .collect();
        if ids.is_empty() {
            return None;
        }
        self.start_batch(format!("moved to {folder_name}"), &ids);
        Some(Command::MoveAssets { ids, folder_id })
    }

    fn start_batch(&mut self, verb: String, ids: &[String]) {
        for id in ids {
            self.errors.remove(id);
        }
        self.busy.extend(ids.iter().cloned());
        self.batch = Some(Batch {
            verb,
            done: 0,
            failed: Vec::new(),
        });
    }

    /// An asset's delete finished; returns the closing message once the batch is over.
    pub fn apply_deleted(
        &mut self,
        id: &str,
        result: Result<(), String>,
    ) -> Option<(Level, String)> {
        let ok = result.is_ok();
        if ok {
            self.remove(id);
        }
        self.finish_one(id, result.err())
    }

    /// An asset's move finished; returns the closing message once the batch is over.
    pub fn apply_moved(
        &mut self,
        id: &str,
        result: Result<Asset, String>,
    ) -> Option<(Level, String)> {
        match result {
            Ok(asset) => {
                if self.view.admits(&asset) {
                    if let Some(slot) = self.items.iter_mut().find(|a| a.id.as_deref() == Some(id))
                    {
                        *slot = asset;
                    }
                } else {
                    self.remove(id);
                }
                self.finish_one(id, None)
            }
            Err(message) => self.finish_one(id, Some(message)),
        }
    }

    fn finish_one(&mut self, id: &str, error: Option<String>) -> Option<(Level, String)> {
        self.busy.remove(id);
        let name = self
            .asset(id)
            .and_then(|a| a.name.clone())
            .unwrap_or_else(|| id.to_owned());
        let batch = self.batch.as_mut()?;
        match error {
            Some(message) => {
                self.errors.insert(id.to_owned(), message.clone());
                batch.failed.push((name, message));
            }
            None => batch.done += 1,
        }
        if !self.busy.is_empty() {
            return None;
        }
        let batch = self.batch.take()?;
        Some(batch_message(&batch))
    }
}

fn batch_message(batch: &Batch) -> (Level, String) {
    let plural = |n: usize| if n == 1 { "asset" } else { "assets" };
    let verb = &batch.verb;
    if batch.failed.is_empty() {
        return (
            Level::Success,
            format!("{} {} {verb}.", batch.done, plural(batch.done)),
        );
    }
    let mut text = format!(
        "{} {} {verb}, {} failed (still selected):",
        batch.done,
        plural(batch.done),
        batch.failed.len()
    );
    for (name, message) in batch.failed.iter().take(3) {
        text.push_str(&format!("\n{name}: {message}"));
    }
    if batch.failed.len() > 3 {
        text.push_str(&format!("\n...and {} more.", batch.failed.len() - 3));
    }
    (Level::Error, text)
}

#[cfg(test)]
mod tests;
