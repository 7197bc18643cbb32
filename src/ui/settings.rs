//! The settings dialog: the key (replace, remove, test), base URL, extra CA certificate,
//! concurrency, the default destination folder, keeping the computer awake, notifications,
//! watch folders (which apply at once), theme and "Copy diagnostics". Esc or Cancel closes it
//! without saving the rest.

use std::collections::BTreeMap;
use std::path::PathBuf;

use egui::{RichText, Ui};

use crate::api::models::Folder;
use crate::api::{ApiKey, DEFAULT_BASE_URL};
use crate::auth::{Settings, Theme};
use crate::desktop::Command;
use crate::diagnostics;
use crate::upload::MAX_CONCURRENCY;
use crate::watch::WatchStatus;

use super::destination::folder_picker_ui;
use super::loadable::{ConnectionStatus, Loadable};
use super::settings_draft::SettingsDraft;
use super::watch_folders::watch_folders_ui;

/// What the dialog decided this frame.
#[derive(Debug, PartialEq)]
pub enum SettingsOutcome {
    /// Still open.
    Open,
    /// Closed (saved or cancelled).
    Close,
}

/// Draws the dialog body; pushes commands for saves, key changes and connection tests.
pub fn settings_ui(
    ui: &mut Ui,
    draft: &mut SettingsDraft,
    current: &Settings,
    connection: &ConnectionStatus,
    folders: &Loadable<Vec<Folder>>,
    watches: &BTreeMap<PathBuf, WatchStatus>,
    commands: &mut Vec<Command>,
) -> SettingsOutcome {
    let mut outcome = SettingsOutcome::Open;
    ui.set_width(520.0);
    ui.heading("Settings");
    ui.add_space(6.0);

    ui.label(RichText::new("Connection").strong());
    match connection {
        ConnectionStatus::Connected(c) => {
            ui.label(format!("Connected to {} as {}.", c.base_url, c.email));
            ui.label(format!("The key comes from {}.", c.key_source));
        }
        ConnectionStatus::Connecting => {
            ui.label("Connecting...");
        }
        ConnectionStatus::Failed { message } => {
            ui.colored_label(ui.visuals().error_fg_color, message);
        }
        ConnectionStatus::Unknown => {
            ui.label("Not connected.");
        }
    }
    ui.horizontal(|ui| {
        if ui.button("Test connection").clicked() {
            commands.push(Command::TestConnection);
        }
        let demo = matches!(connection, ConnectionStatus::Connected(c) if c.demo);
        if demo {
            // The demo's key is the app's own; there is nothing to remove.
        } else if draft.confirm_remove {
            ui.label("Remove the key from this computer?");
            if ui.button("Yes, remove it").clicked() {
                commands.push(Command::RemoveKey);
                outcome = SettingsOutcome::Close;
            }
            if ui.button("Keep it").clicked() {
                draft.confirm_remove = false;
            }
        } else if ui.button("Remove key").clicked() {
            draft.confirm_remove = true;
        }
    });
    ui.horizontal(|ui| {
        let label = ui.label("Replace key");
        ui.add(
            egui::TextEdit::singleline(draft.new_key.buffer())
                .password(!draft.show_key)
                .hint_text("paste a new API key")
                .desired_width(240.0),
        )
        .labelled_by(label.id);
        if ui
            .button(if draft.show_key { "Hide" } else { "Show" })
            .clicked()
        {
            draft.show_key = !draft.show_key;
        }
        let ready = !draft.new_key.as_str().trim().is_empty();
        if ui
            .add_enabled(ready, egui::Button::new("Save key"))
            .clicked()
        {
            match ApiKey::parse(draft.new_key.as_str()) {
                Ok(key) => {
                    draft.error = None;
                    commands.push(Command::SaveKey(key));
                }
                Err(problem) => draft.error = Some(problem.to_string()),
            }
        }
    });

    ui.add_space(10.0);
    ui.label(RichText::new("Uploads").strong());
    ui.horizontal(|ui| {
        let label = ui.label("Files at once");
        ui.add(egui::Slider::new(
            &mut draft.concurrency,
            1..=MAX_CONCURRENCY,
        ))
        .labelled_by(label.id);
    });
    ui.horizontal(|ui| {
        let label = ui.label("Default destination");
        folder_picker_ui(
            ui,
            "default-folder",
            label.id,
            folders,
            &mut draft.default_folder_id,
        );
    });
    ui.checkbox(
        &mut draft.keep_awake,
        "Keep the computer awake while files upload",
    )
    .on_hover_text("Idle sleep waits until the queue drains or is paused.");
    ui.checkbox(
        &mut draft.notify_when_done,
        "Notify me when uploads finish while the window is in the background",
    );
    ui.checkbox(
        &mut draft.convert_automatically,
        "Convert unsupported images automatically",
    )
    .on_hover_text(
        "HEIC, TIFF, BMP and other images Runflow does not take go as a JPEG, PNG or WebP copy \
         without asking; the original files are never changed.",
    );

    ui.add_space(10.0);
    watch_folders_ui(
        ui,
        draft,
        &current.watch_folders,
        watches,
        folders,
        commands,
    );

    ui.add_space(10.0);
    ui.label(RichText::new("Appearance").strong());
    ui.horizontal(|ui| {
        ui.selectable_value(&mut draft.theme, Theme::System, "Follow system");
        ui.selectable_value(&mut draft.theme, Theme::Light, "Light");
        ui.selectable_value(&mut draft.theme, Theme::Dark, "Dark");
    });

    ui.add_space(10.0);
    egui::CollapsingHeader::new("Advanced").show(ui, |ui| {
        ui.horizontal(|ui| {
            let label = ui.label("API base URL");
            ui.add(
                egui::TextEdit::singleline(&mut draft.base_url)
                    .hint_text(DEFAULT_BASE_URL)
                    .desired_width(300.0),
            )
            .labelled_by(label.id);
        });
        ui.weak("Leave empty for Runflow. RUNFLOW_BASE_URL overrides this when set.");
        ui.add_space(6.0);
        ui.horizontal(|ui| {
            let label = ui.label("Extra CA certificate");
            ui.add(
                egui::TextEdit::singleline(&mut draft.ca_cert_file)
                    .hint_text("/path/to/ca.pem")
                    .desired_width(300.0),
            )
            .labelled_by(label.id);
        });
        ui.weak(
            "A PEM file to trust on top of the system's certificates: your network's TLS \
             inspection, or an emulator started with --tls. RUNFLOW_CA_CERT adds more.",
        );
        ui.add_space(6.0);
        diagnostics_ui(ui, current, connection);
    });

    if let Some(error) = &draft.error {
        ui.colored_label(ui.visuals().error_fg_color, error);
    }
    ui.add_space(8.0);
    ui.separator();
    ui.horizontal(|ui| {
        if ui.button("Save").clicked() {
            match draft.to_settings(current) {
                Ok(settings) => {
                    commands.push(Command::SaveSettings(settings));
                    outcome = SettingsOutcome::Close;
                }
                Err(message) => draft.error = Some(message),
            }
        }
        if ui.button("Cancel").clicked() {
            outcome = SettingsOutcome::Close;
        }
    });
    outcome
}

/// What "Copy diagnostics" knows about the connection.
fn diagnostics_context(current: &Settings, connection: &ConnectionStatus) -> diagnostics::Context {
    let configured = current
        .base_url
        .clone()
        .unwrap_or_else(|| DEFAULT_BASE_URL.to_owned());
    match connection {
        ConnectionStatus::Connected(c) => diagnostics::Context {
            base_url: c.base_url.clone(),
            key_source: Some(c.key_source.clone()),
            demo: c.demo,
            connection: "connected".to_owned(),
        },
        ConnectionStatus::Connecting => diagnostics::Context {
            base_url: configured,
            connection: "connecting".to_owned(),
            ..diagnostics::Context::default()
        },
        ConnectionStatus::Failed { message } => diagnostics::Context {
            base_url: configured,
            connection: format!("not connected: {message}"),
            ..diagnostics::Context::default()
        },
        ConnectionStatus::Unknown => diagnostics::Context {
            base_url: configured,
            connection: "not connected".to_owned(),
            ..diagnostics::Context::default()
        },
    }
}

/// "Copy diagnostics": version, OS, backends, base URL and the last log lines (kept in memory,
/// already redacted) to the clipboard, for a support request.
fn diagnostics_ui(ui: &mut Ui, current: &Settings, connection: &ConnectionStatus) {
    let copied_id = ui.make_persistent_id("diagnostics-copied");
    ui.horizontal(|ui| {
        if ui
            .button("Copy diagnostics")
            .on_hover_text("Version, system, server and recent log lines; never the key")
            .clicked()
        {
            let context = diagnostics_context(current, connection);
            ui.ctx().copy_text(diagnostics::current_report(&context));
            ui.data_mut(|d| d.insert_temp(copied_id, true));
        }
        if ui.data(|d| d.get_temp::<bool>(copied_id)).unwrap_or(false) {
            ui.weak("Copied. Paste it into your support request.");
        }
    });
}
