//! The upload queue's views: the batch header and the rows, drawn from its state
//! ([`QueueState`], fed by engine events). Rows are virtualized: only the visible ones are laid
//! out, so 100,000 files scroll smoothly.

mod state;

pub use state::{Finished, QueueState, Row, ScanRow};

use std::time::Duration;

use egui::{Color32, RichText, Ui};

use crate::upload::{Command, FileState, files_found, grouped, human_bytes};

use super::widgets::type_badge_ui;

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
    let finished = batch.finished_files();
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
            if batch.fixable_files > 0 {
                text.push_str(&format!(", {} to fix", batch.fixable_files));
            }
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
        if batch.fixable_files > 0
            && ui
                .button(format!("Fix all ({})", grouped(batch.fixable_files)))
                .on_hover_text(
                    "Upload a converted or smaller copy of every file Runflow cannot take as it \
                     is; the original files are not changed",
                )
                .clicked()
        {
            commands.push(Command::FixAll);
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

/// One row: the badge, the name (cut short with "…" before it reaches the size) and the state
/// on the left; the progress bar and the buttons on the right, laid out first so the left
/// side gets only what they leave.
fn row_ui(ui: &mut Ui, row: &Row, busy: bool, commands: &mut Vec<Command>) {
    ui.push_id(row.id.0, |ui| {
        let height = ROW_HEIGHT - ui.spacing().item_spacing.y;
        egui::Sides::new().height(height).shrink_left().show(
            ui,
            |ui| {
                // In a row of its own, the badge keeps its size rather than the row's height.
                ui.horizontal(|ui| {
                    type_badge_ui(ui, row.mime_type.as_deref());
                    ui.vertical(|ui| {
                        name_line_ui(ui, row);
                        let (text, color) = state_text(row);
                        let label = ui.add(
                            egui::Label::new(RichText::new(text).small().color(color)).truncate(),
                        );
                        if let FileState::Failed(reason) = &row.state {
                            label.on_hover_text(reason.to_string());
                        }
                    });
                });
            },
            |ui| {
                row_buttons_ui(ui, row, commands);
                if let Some(fraction) = progress_fraction(row) {
                    ui.add(
                        egui::ProgressBar::new(fraction)
                            .desired_width(160.0)
                            .animate(busy && !row.state.is_finished()),
                    );
                }
            },
        );
    });
}

/// The file's name, truncated so its size after it always shows.
fn name_line_ui(ui: &mut Ui, row: &Row) {
    ui.horizontal(|ui| {
        let size = row.size_bytes.map(|size| {
            egui::WidgetText::from(RichText::new(human_bytes(size)).weak()).into_galley(
                ui,
                Some(egui::TextWrapMode::Extend),
                f32::INFINITY,
                egui::TextStyle::Body,
            )
        });
        let reserve = size
            .as_ref()
            .map_or(0.0, |galley| galley.size().x + ui.spacing().item_spacing.x);
        ui.scope(|ui| {
            ui.set_max_width((ui.available_width() - reserve).max(0.0));
            ui.add(egui::Label::new(RichText::new(&row.name).strong()).truncate())
                .on_hover_text(&row.name);
        });
        if let Some(galley) = size {
            ui.label(galley);
        }
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
        FileState::Failed(failure) if failure.fix().is_some() => {
            if ui.button("Remove").clicked() {
                commands.push(Command::Remove(row.id));
            }
            if let Some(offer) = failure.fix()
                && ui
                    .button(offer.action())
                    .on_hover_text("Upload a copy Runflow takes; the original file is not changed")
                    .clicked()
            {
                commands.push(Command::Fix(row.id));
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
        FileState::Converting => (
            "Making a copy Runflow takes (the original stays as it is)".into(),
            Color32::from_rgb(60, 130, 230),
        ),
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
        FileState::Done(_) => match &row.copy {
            Some((name, done)) => (
                format!("Uploaded as {name}: {done}"),
                Color32::from_rgb(40, 160, 80),
            ),
            None => ("Uploaded".into(), Color32::from_rgb(40, 160, 80)),
        },
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
        // Not a failure as much as a question: the row's button answers it.
        FileState::Failed(reason) if reason.fix().is_some() => {
            (reason.to_string(), Color32::from_rgb(220, 150, 30))
        }
        FileState::Failed(reason) => (format!("Failed: {reason}"), Color32::from_rgb(220, 60, 60)),
        FileState::Cancelled => ("Cancelled".into(), muted),
    }
}

#[cfg(test)]
mod tests;
