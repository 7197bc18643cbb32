//! The upload queue: its state (fed by engine events) and its views (batch header and rows).
//! Rows are virtualized: only the visible ones are laid out, so 5,000 files scroll smoothly.

use std::collections::{HashMap, VecDeque};
use std::path::PathBuf;
use std::time::Duration;

use egui::{Align, Color32, Layout, RichText, Ui};

use crate::upload::{
    BatchProgress, Command, Event, FileId, FileState, ForeignUploads, files_found, grouped,
    human_bytes,
};

use super::widgets::type_badge_ui;

/// One file in the queue.
#[derive(Debug, Clone, PartialEq)]
pub struct Row {
    /// Engine id.
    pub id: FileId,
    /// File name (asset name).
    pub name: String,
    /// Where it is on disk.
    pub path: Option<PathBuf>,
    /// Size, when known.
    pub size_bytes: Option<u64>,
    /// Detected MIME type.
    pub mime_type: Option<String>,
    /// Where it is in its life.
    pub state: FileState,
    /// Bytes sent.
    pub sent_bytes: u64,
    /// Smoothed speed.
    pub bytes_per_sec: Option<f64>,
    /// Time left.
    pub eta: Option<Duration>,
    /// Resumed from an earlier run.
    pub resumed: bool,
}

/// Everything the queue view shows.
#[derive(Debug, Default)]
pub struct QueueState {
    rows: Vec<Row>,
    index: HashMap<FileId, usize>,
    /// Totals from the engine.
    pub batch: BatchProgress,
    /// Unfinished uploads of other accounts, waiting in the journal.
    pub foreign: Vec<ForeignUploads>,
    /// Dropped folders being walked.
    pub scans: Vec<ScanRow>,
    /// Successes still shown as rows, oldest first; beyond [`DONE_ROWS_SHOWN`] the oldest fold
    /// into `folded`.
    done_order: VecDeque<FileId>,
    /// Successes folded into one summary line ("48,211 uploaded").
    pub folded: usize,
    /// Whether rows were removed since the index was rebuilt.
    dirty: bool,
}

/// A walk of dropped folders under way: "Scanning ~/Pictures: 12,345 files found".
#[derive(Debug, Clone, PartialEq)]
pub struct ScanRow {
    /// The engine's scan id.
    pub scan: u64,
    /// What is walked.
    pub label: String,
    /// Files found so far.
    pub found: usize,
}

/// Successes kept as rows; older ones fold into a count, so a 100,000-file drop keeps the list
/// (and its memory) light.
pub const DONE_ROWS_SHOWN: usize = 1000;
/// Successes folded at once, so the list is rebuilt once per this many, not once per file.
const FOLD_BATCH: usize = 1024;

/// What a finished upload means for the rest of the window.
#[derive(Debug, Clone, PartialEq)]
pub enum Finished {
    /// A new asset exists (for the library view), uploaded from this file (`None` for pasted
    /// bytes).
    Uploaded(Box<crate::api::models::Asset>, Option<PathBuf>),
    /// The engine went idle: a batch ended.
    BatchEnded {
        /// Files uploaded or already there.
        succeeded: usize,
        /// Files that failed.
        failed: usize,
        /// Files whose content is already in another folder.
        elsewhere: usize,
    },
}

impl QueueState {
    /// Applies one engine event; returns what finished, if anything.
    pub fn apply(&mut self, event: Event) -> Option<Finished> {
        match event {
            Event::Added {
                id,
                path,
                name,
                size_bytes,
                mime_type,
                state,
                resumed,
            } => {
                self.compact();
                self.index.insert(id, self.rows.len());
                self.rows.push(Row {
                    id,
                    name,
                    path,
                    size_bytes,
                    mime_type,
                    state,
                    sent_bytes: 0,
                    bytes_per_sec: None,
                    eta: None,
                    resumed,
                });
            }
            Event::State { id, state } => {
                let row = self.row_mut(id)?;
                if matches!(state, FileState::Queued) {
                    row.sent_bytes = 0;
                    row.bytes_per_sec = None;
                    row.eta = None;
                }
                if state.is_finished() {
                    row.bytes_per_sec = None;
                    row.eta = None;
                }
                row.state = state.clone();
                let path = row.path.clone();
                if state.is_success() {
                    self.done_order.push_back(id);
                    self.fold();
                }
                if let FileState::Done(asset) = state {
                    return Some(Finished::Uploaded(asset, path));
                }
            }
            Event::Progress {
                id,
                sent_bytes,
                bytes_per_sec,
                eta,
                ..
            } => {
                let row = self.row_mut(id)?;
                row.sent_bytes = sent_bytes;
                row.bytes_per_sec = bytes_per_sec;
                row.eta = eta;
            }
            Event::Batch(batch) => self.batch = batch,
            Event::Removed(id) => {
                if let Some(index) = self.index.remove(&id) {
                    // Tombstone now, compact once later: clearing thousands of rows stays linear.
                    self.rows[index].id = FileId(u64::MAX);
                    self.dirty = true;
                }
            }
            Event::Idle => {
                return Some(Finished::BatchEnded {
                    succeeded: self.batch.succeeded_files,
                    failed: self.batch.failed_files,
                    elsewhere: self.batch.elsewhere_files,
                });
            }
            Event::ForeignUploads(foreign) => self.foreign = foreign,
            Event::Scanning {
                scan,
                label,
                found,
                done,
            } => {
                let at = self.scans.iter().position(|row| row.scan == scan);
                match (at, done) {
                    (Some(at), true) => {
                        self.scans.remove(at);
                    }
                    (Some(at), false) => self.scans[at].found = found,
                    (None, false) => self.scans.push(ScanRow { scan, label, found }),
                    (None, true) => {}
                }
            }
            Event::Skipped { .. } => {}
        }
        None
    }

    /// Folds the oldest successes into [`QueueState::folded`] once enough have gathered.
    fn fold(&mut self) {
        if self.done_order.len() < DONE_ROWS_SHOWN + FOLD_BATCH {
            return;
        }
        while self.done_order.len() > DONE_ROWS_SHOWN {
            let Some(id) = self.done_order.pop_front() else {
                break;
            };
            // A row removed meanwhile is simply gone.
            if let Some(index) = self.index.remove(&id) {
                self.rows[index].id = FileId(u64::MAX);
                self.dirty = true;
                self.folded += 1;
            }
        }
    }

    /// Forgets every row (the engine was restarted for a new connection).
    pub fn clear(&mut self) {
        *self = Self::default();
    }

    fn row_mut(&mut self, id: FileId) -> Option<&mut Row> {
        let index = *self.index.get(&id)?;
        self.rows.get_mut(index)
    }

    /// Drops removed rows and rebuilds the index, once, when needed.
    fn compact(&mut self) {
        if !self.dirty {
            return;
        }
        self.rows.retain(|row| row.id != FileId(u64::MAX));
        self.index = self
            .rows
            .iter()
            .enumerate()
            .map(|(i, row)| (row.id, i))
            .collect();
        self.dirty = false;
    }

    /// The rows in the order they were added.
    pub fn rows(&mut self) -> &[Row] {
        self.compact();
        &self.rows
    }

    /// One row.
    pub fn row(&self, id: FileId) -> Option<&Row> {
        self.index.get(&id).and_then(|i| self.rows.get(*i))
    }

    /// Whether the queue has no rows.
    pub fn is_empty(&self) -> bool {
        self.index.is_empty()
    }

    /// Whether anything is moving (so progress bars may animate).
    pub fn is_busy(&self) -> bool {
        self.batch.active_files > 0 && !self.batch.paused
    }
}

/// `3 s`, `2 min 5 s`, `1 h 4 min`.
pub fn human_duration(duration: Duration) -> String {
    let secs = duration.as_secs().max(1);
    match secs {
        0..60 => format!("{secs} s"),
        60..3600 => format!("{} min {} s", secs / 60, secs % 60),
        _ => format!("{} h {} min", secs / 3600, (secs % 3600) / 60),
    }
}

/// The batch header: counts, overall progress, speed, ETA and the batch buttons.
pub fn batch_header_ui(ui: &mut Ui, queue: &QueueState, commands: &mut Vec<Command>) {
    let batch = &queue.batch;
    let finished =
        batch.succeeded_files + batch.failed_files + batch.elsewhere_files + batch.cancelled_files;
    let headline = if batch.active_files + batch.queued_files == 0 {
        let held = batch.held_files + batch.held_walks;
        if batch.total_files == batch.held_files && held > 0 {
            "Waiting to resume".to_owned()
        } else if batch.total_files == 0 {
            "Nothing queued".to_owned()
        } else {
            let mut text = format!(
                "{} uploaded, {} failed, {} cancelled",
                batch.succeeded_files, batch.failed_files, batch.cancelled_files
            );
            if batch.elsewhere_files > 0 {
                text.push_str(&format!(", {} in another folder", batch.elsewhere_files));
            }
            text
        }
    } else if batch.paused {
        format!(
            "Paused: {} of {} done ({} queued)",
            finished, batch.total_files, batch.queued_files
        )
    } else {
        format!(
            "Uploading {} of {} ({} queued)",
            batch.active_files, batch.total_files, batch.queued_files
        )
    };
    ui.heading(headline);
    for scan in &queue.scans {
        ui.horizontal_wrapped(|ui| {
            ui.spinner();
            ui.label(scan_text(scan));
            if ui
                .button("Stop")
                .on_hover_text("Stop looking for more files; those found so far stay queued")
                .clicked()
            {
                commands.push(Command::StopScan(scan.scan));
            }
        });
    }
    if batch.held_files > 0 || batch.held_walks > 0 {
        ui.horizontal_wrapped(|ui| {
            ui.label(
                RichText::new(earlier_run_text(
                    batch.held_files,
                    batch.held_bytes,
                    batch.held_walks,
                ))
                .color(Color32::from_rgb(220, 150, 30)),
            );
            if ui
                .button("Resume")
                .on_hover_text("Finish these uploads; each file still becomes exactly one asset")
                .clicked()
            {
                commands.push(Command::ResumeEarlier);
            }
            if ui
                .button("Discard")
                .on_hover_text(
                    "Forget these unfinished uploads; the files stay on disk, and an upload \
                     that may already have finished is checked first",
                )
                .clicked()
            {
                commands.push(Command::DiscardEarlier);
            }
        });
    }
    for account in &queue.foreign {
        ui.horizontal_wrapped(|ui| {
            ui.label(
                RichText::new(account.to_string())
                    .small()
                    .color(Color32::from_rgb(220, 150, 30)),
            );
            if ui
                .button("Discard")
                .on_hover_text("Forget these unfinished uploads; the files stay on disk")
                .clicked()
            {
                commands.push(Command::DiscardForeign(account.account_key.clone()));
            }
        });
    }
    // The batch's actions under the headline, wrapping in a narrow panel.
    ui.horizontal_wrapped(|ui| {
        let unfinished = batch.active_files + batch.queued_files;
        if batch.paused {
            if ui.button("Resume").clicked() {
                commands.push(Command::Resume);
            }
        } else if unfinished > 0 && ui.button("Pause").clicked() {
            commands.push(Command::Pause);
        }
        if batch.failed_files > 0 && ui.button("Retry all failed").clicked() {
            commands.push(Command::RetryFailed);
        }
        if unfinished > 0 && ui.button("Cancel all").clicked() {
            commands.push(Command::CancelAll);
        }
        if batch.succeeded_files > 0 && ui.button("Clear finished").clicked() {
            commands.push(Command::ClearFinished);
        }
    });
    if batch.total_bytes > 0 {
        let fraction = batch.sent_bytes as f32 / batch.total_bytes as f32;
        let mut detail = format!(
            "{} of {}",
            human_bytes(batch.sent_bytes),
            human_bytes(batch.total_bytes)
        );
        if let Some(speed) = batch.bytes_per_sec {
            detail.push_str(&format!(", {}/s", human_bytes(speed as u64)));
        }
        if let Some(eta) = batch.eta {
            detail.push_str(&format!(", {} left", human_duration(eta)));
        }
        // No spinner here: it would sit on top of the text, and the numbers already move.
        ui.add(egui::ProgressBar::new(fraction.clamp(0.0, 1.0)).text(detail));
    }
}

/// "Scanning ~/Pictures: 12,345 files found".
pub fn scan_text(scan: &ScanRow) -> String {
    format!("Scanning {}: {}", scan.label, files_found(scan.found))
}

/// "2 unfinished uploads from an earlier run (12.3 MiB)", and the folders it had not finished
/// looking through: "…, and 1 folder to finish looking through".
pub fn earlier_run_text(files: usize, bytes: u64, walks: usize) -> String {
    let folders = match walks {
        1 => "1 folder".to_owned(),
        n => format!("{n} folders"),
    };
    match (files, walks) {
        (0, _) => format!("{folders} from an earlier run to finish looking through"),
        (files, walks) => {
            let uploads = if files == 1 { "upload" } else { "uploads" };
            let rest = if walks == 0 {
                String::new()
            } else {
                format!(", and {folders} to finish looking through")
            };
            format!(
                "{files} unfinished {uploads} from an earlier run ({}){rest}",
                human_bytes(bytes)
            )
        }
    }
}

/// Height of one queue row.
const ROW_HEIGHT: f32 = 44.0;

/// The rows, virtualized. Per-row buttons push their commands; "Copy ID" copies at once.
pub fn queue_ui(ui: &mut Ui, queue: &mut QueueState, commands: &mut Vec<Command>) {
    if queue.folded > 0 {
        ui.label(
            RichText::new(format!(
                "{} uploaded (the oldest finished rows are folded into this count)",
                grouped(queue.folded)
            ))
            .color(Color32::GRAY),
        );
    }
    let busy = queue.is_busy();
    let rows = queue.rows();
    egui::ScrollArea::vertical()
        .id_salt("upload-queue")
        .auto_shrink([false, false])
        .show_rows(ui, ROW_HEIGHT, rows.len(), |ui, range| {
            for row in &rows[range] {
                row_ui(ui, row, busy, commands);
            }
        });
}

fn row_ui(ui: &mut Ui, row: &Row, busy: bool, commands: &mut Vec<Command>) {
    ui.push_id(row.id.0, |ui| {
        ui.set_height(ROW_HEIGHT - ui.spacing().item_spacing.y);
        ui.horizontal(|ui| {
            type_badge_ui(ui, row.mime_type.as_deref());
            ui.vertical(|ui| {
                ui.horizontal(|ui| {
                    ui.add(egui::Label::new(RichText::new(&row.name).strong()).truncate());
                    if let Some(size) = row.size_bytes {
                        ui.weak(human_bytes(size));
                    }
                });
                let (text, color) = state_text(row);
                let label =
                    ui.add(egui::Label::new(RichText::new(text).small().color(color)).truncate());
                if let FileState::Failed(reason) = &row.state {
                    label.on_hover_text(reason.to_string());
                }
            });
            ui.with_layout(Layout::right_to_left(Align::Center), |ui| {
                row_buttons_ui(ui, row, commands);
                if let Some(fraction) = progress_fraction(row) {
                    ui.add(
                        egui::ProgressBar::new(fraction)
                            .desired_width(160.0)
                            .animate(busy && !row.state.is_finished()),
                    );
                }
            });
        });
    });
}

fn row_buttons_ui(ui: &mut Ui, row: &Row, commands: &mut Vec<Command>) {
    match &row.state {
        FileState::Done(asset) => {
            if let Some(id) = asset.id.as_deref()
                && ui
                    .button("Copy ID")
                    .on_hover_text(format!("Copy the asset id {id}"))
                    .clicked()
            {
                ui.ctx().copy_text(id.to_owned());
            }
            if ui.button("Remove").clicked() {
                commands.push(Command::Remove(row.id));
            }
        }
        FileState::AlreadyUploaded { asset_id, .. } => {
            if ui.button("Copy ID").clicked() {
                ui.ctx().copy_text(asset_id.clone());
            }
            if ui.button("Remove").clicked() {
                commands.push(Command::Remove(row.id));
            }
        }
        FileState::InOtherFolder { .. } => {
            if ui
                .button("Upload a copy")
                .on_hover_text("Upload this file again into the folder you chose")
                .clicked()
            {
                commands.push(Command::UploadCopy(row.id));
            }
            if ui
                .button("Move here")
                .on_hover_text("Move the existing asset into the folder you chose")
                .clicked()
            {
                commands.push(Command::MoveHere(row.id));
            }
        }
        FileState::Failed(_) | FileState::Cancelled => {
            if ui.button("Remove").clicked() {
                commands.push(Command::Remove(row.id));
            }
            if ui.button("Retry").clicked() {
                commands.push(Command::Retry(row.id));
            }
        }
        _ => {
            if ui.button("Cancel").clicked() {
                commands.push(Command::Cancel(row.id));
            }
        }
    }
}

fn progress_fraction(row: &Row) -> Option<f32> {
    let size = row.size_bytes.filter(|s| *s > 0)?;
    match row.state {
        FileState::Uploading | FileState::Retrying { .. } => {
            Some((row.sent_bytes as f32 / size as f32).clamp(0.0, 1.0))
        }
        FileState::Confirming | FileState::Done(_) | FileState::AlreadyUploaded { .. } => Some(1.0),
        _ => None,
    }
}

/// The row's state in words, and its colour.
pub fn state_text(row: &Row) -> (String, Color32) {
    let muted = Color32::GRAY;
    match &row.state {
        FileState::Queued if row.resumed => ("Queued (from an earlier run)".into(), muted),
        FileState::Queued => ("Queued".into(), muted),
        FileState::Hashing => ("Checking for duplicates".into(), muted),
        FileState::CreatingSession => ("Starting".into(), muted),
        FileState::Uploading if row.size_bytes.is_some_and(|s| row.sent_bytes >= s) => (
            "All bytes sent; waiting for storage to take them".into(),
            Color32::from_rgb(60, 130, 230),
        ),
        FileState::Uploading => {
            let size = row.size_bytes.unwrap_or(0).max(1);
            let percent = (row.sent_bytes.saturating_mul(100) / size).min(100);
            let mut text = format!("Uploading {percent}%");
            if let Some(speed) = row.bytes_per_sec {
                text.push_str(&format!(", {}/s", human_bytes(speed as u64)));
            }
            if let Some(eta) = row.eta {
                text.push_str(&format!(", {} left", human_duration(eta)));
            }
            (text, Color32::from_rgb(60, 130, 230))
        }
        FileState::Confirming => ("Confirming".into(), Color32::from_rgb(60, 130, 230)),
        FileState::Retrying { reason, wait } => (
            format!("Retrying in {}: {reason}", human_duration(*wait)),
            Color32::from_rgb(220, 150, 30),
        ),
        FileState::Done(_) => ("Uploaded".into(), Color32::from_rgb(40, 160, 80)),
        FileState::AlreadyUploaded {
            same_as: Some(name),
            ..
        } => (
            format!("Same content as {name}, uploaded just now"),
            Color32::from_rgb(40, 160, 80),
        ),
        FileState::AlreadyUploaded { .. } => (
            "Already uploaded from this computer".into(),
            Color32::from_rgb(40, 160, 80),
        ),
        FileState::InOtherFolder {
            folder_id,
            folder_name,
            ..
        } => {
            let place = match (folder_name, folder_id) {
                (Some(name), _) => name.clone(),
                (None, Some(_)) => "another folder".to_owned(),
                (None, None) => "the root folder".to_owned(),
            };
            (
                format!("Already on Runflow in {place}"),
                Color32::from_rgb(220, 150, 30),
            )
        }
        FileState::Failed(reason) => (format!("Failed: {reason}"), Color32::from_rgb(220, 60, 60)),
        FileState::Cancelled => ("Cancelled".into(), muted),
    }
}

#[cfg(test)]
mod tests;
