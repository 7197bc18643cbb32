//! The settings dialog: the key (replace, remove, test), base URL, extra CA certificate,
//! concurrency, theme, the default destination folder and "Copy diagnostics". Esc or Cancel closes it without saving.

use egui::{RichText, Ui};

use crate::api::models::Folder;
use crate::api::{ApiKey, DEFAULT_BASE_URL, parse_base_url};
use crate::auth::{Settings, Theme};
use crate::desktop::Command;
use crate::diagnostics;
use crate::upload::{self, MAX_CONCURRENCY};

use super::destination::folder_picker_ui;
use super::state::{ConnectionStatus, Loadable};

/// The dialog's working copy of the settings.
#[derive(Debug, Clone, PartialEq)]
pub struct SettingsDraft {
    /// API base URL (empty = default).
    pub base_url: String,
    /// Files at once.
    pub concurrency: usize,
    /// Colour theme.
    pub theme: Theme,
    /// Default destination folder.
    pub default_folder_id: Option<String>,
    /// Extra CA certificate file (empty = none).
    pub ca_cert_file: String,
    /// A replacement key being typed.
    pub new_key: String,
    /// Show the replacement key in clear.
    pub show_key: bool,
    /// Why the last save or key change failed.
    pub error: Option<String>,
    /// "Remove key" was clicked once and awaits confirmation.
    pub confirm_remove: bool,
}

impl SettingsDraft {
    /// A draft of `settings`.
    pub fn new(settings: &Settings) -> Self {
        Self {
            base_url: settings.base_url.clone().unwrap_or_default(),
            concurrency: settings
                .concurrency
                .unwrap_or(upload::DEFAULT_CONCURRENCY)
                .clamp(1, MAX_CONCURRENCY),
            theme: settings.theme,
            default_folder_id: settings.default_folder_id.clone(),
            ca_cert_file: settings
                .ca_cert_file
                .as_ref()
                .map(|p| p.display().to_string())
                .unwrap_or_default(),
            new_key: String::new(),
            show_key: false,
            error: None,
            confirm_remove: false,
        }
    }

    /// The settings to save, or why the draft is invalid.
    pub fn to_settings(&self, current: &Settings) -> Result<Settings, String> {
        let base_url = match self.base_url.trim() {
            "" => None,
            raw => Some(
                parse_base_url(raw)
                    .map_err(|e| e.to_string())?
                    .as_str()
                    .trim_end_matches('/')
                    .to_owned(),
            ),
        };
        // Whether the file is a usable certificate is checked when the settings are saved,
        // off the UI thread.
        let ca_cert_file = match self.ca_cert_file.trim() {
            "" => None,
            raw => Some(std::path::PathBuf::from(raw)),
        };
        Ok(Settings {
            base_url,
            ca_cert_file,
            concurrency: Some(self.concurrency),
            theme: self.theme,
            default_folder_id: self.default_folder_id.clone(),
            ..current.clone()
        })
    }
}

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
            egui::TextEdit::singleline(&mut draft.new_key)
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
        let ready = !draft.new_key.trim().is_empty();
        if ui
            .add_enabled(ready, egui::Button::new("Save key"))
            .clicked()
            && let Some(key) = ApiKey::new(draft.new_key.clone())
        {
            commands.push(Command::SaveKey(key));
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
        ui.label("Default destination");
        folder_picker_ui(ui, "default-folder", folders, &mut draft.default_folder_id);
    });

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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn drafts_validate_the_base_url() {
        let current = Settings::default();
        let mut draft = SettingsDraft::new(&current);
        assert_eq!(draft.to_settings(&current).unwrap().base_url, None);
        draft.base_url = "http://api.example.com".into();
        assert!(draft.to_settings(&current).unwrap_err().contains("https"));
        draft.base_url = "http://127.0.0.1:8787/".into();
        assert_eq!(
            draft.to_settings(&current).unwrap().base_url.as_deref(),
            Some("http://127.0.0.1:8787")
        );
    }

    #[test]
    fn drafts_keep_the_ca_file() {
        let current = Settings {
            ca_cert_file: Some("/etc/ca.pem".into()),
            ..Settings::default()
        };
        let mut draft = SettingsDraft::new(&current);
        assert_eq!(draft.ca_cert_file, "/etc/ca.pem");
        draft.ca_cert_file = "  ".into();
        assert_eq!(draft.to_settings(&current).unwrap().ca_cert_file, None);
        draft.ca_cert_file = " /tmp/other.pem ".into();
        assert_eq!(
            draft.to_settings(&current).unwrap().ca_cert_file,
            Some("/tmp/other.pem".into())
        );
    }
}
