//! The first-run screen: where to get a key, a masked field to paste it, "Save and connect",
//! and the offline demo.

use egui::{Align, Layout, RichText, Ui};

use crate::api::ApiKey;
use crate::desktop::Command;

use super::typed_key::TypedKey;

/// The welcome form.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct WelcomeState {
    /// What was typed or pasted.
    pub key_input: TypedKey,
    /// Show the key in clear.
    pub show_key: bool,
    /// A check is under way.
    pub busy: bool,
    /// Why the last attempt failed.
    pub error: Option<String>,
}

/// Draws the welcome screen; pushes `SaveKey` or `StartDemo`.
pub fn welcome_ui(ui: &mut Ui, state: &mut WelcomeState, commands: &mut Vec<Command>) {
    ui.add_space((ui.available_height() * 0.1).min(70.0));
    let margin = ((ui.available_width() - 600.0) / 2.0).max(0.0);
    ui.horizontal(|ui| {
        ui.add_space(margin);
        egui::Frame::group(ui.style())
            .inner_margin(24.0)
            .corner_radius(10.0)
            .show(ui, |ui| {
                ui.set_width(560.0);
                card_ui(ui, state, commands);
            });
    });
}

fn card_ui(ui: &mut Ui, state: &mut WelcomeState, commands: &mut Vec<Command>) {
    ui.with_layout(Layout::top_down(Align::Min), |ui| {
        ui.heading(RichText::new("Welcome to Runflow Uploader").size(26.0));
        ui.add_space(8.0);
        ui.label(
            "Drop photos, videos and audio on this window and they land in your Runflow assets.",
        );
        ui.add_space(16.0);
        ui.label(RichText::new("Connect your Runflow account").strong());
        ui.label(
            "Create an API key in the Runflow dashboard under Settings > API Keys, then paste \
             it here. It is stored in your system keyring, never in a file.",
        );
        ui.add_space(8.0);

        let mut submit = false;
        ui.horizontal(|ui| {
            let label = ui.label("API key");
            let field = ui.add_enabled(
                !state.busy,
                egui::TextEdit::singleline(state.key_input.buffer())
                    .password(!state.show_key)
                    .hint_text("rf_live_...")
                    .desired_width(300.0),
            );
            let field = field.labelled_by(label.id);
            submit |= field.lost_focus() && ui.input(|i| i.key_pressed(egui::Key::Enter));
            let toggle = if state.show_key { "Hide" } else { "Show" };
            if ui.button(toggle).clicked() {
                state.show_key = !state.show_key;
            }
        });
        ui.add_space(8.0);
        ui.horizontal(|ui| {
            let ready = !state.busy && !state.key_input.as_str().trim().is_empty();
            submit |= ui
                .add_enabled(ready, egui::Button::new("Save and connect"))
                .clicked();
            if state.busy {
                ui.spinner();
                ui.label("Checking the key with Runflow...");
            }
        });
        if submit && !state.busy {
            match ApiKey::parse(state.key_input.as_str()) {
                Ok(key) => {
                    state.busy = true;
                    state.error = None;
                    commands.push(Command::SaveKey(key));
                }
                Err(problem) => state.error = Some(problem.to_string()),
            }
        }
        if let Some(error) = &state.error {
            ui.add_space(6.0);
            ui.colored_label(ui.visuals().error_fg_color, error);
        }

        ui.add_space(28.0);
        ui.separator();
        ui.add_space(8.0);
        ui.label(RichText::new("No account yet, or just looking?").strong());
        ui.label(
            "The offline demo runs a local Runflow inside the app, with sample folders and \
             images. Nothing leaves this computer.",
        );
        ui.add_space(4.0);
        if ui
            .add_enabled(!state.busy, egui::Button::new("Try the offline demo"))
            .clicked()
        {
            state.error = None;
            commands.push(Command::StartDemo);
        }
    });
}
