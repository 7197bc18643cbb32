//! The window: drains backend events in `logic`, draws in `ui`, and turns clicks, drops,
//! shortcuts and pastes into commands. Nothing here blocks: dialogs, clipboard encoding and all
//! I/O run on the tokio runtime owned by `main`.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use egui::{Align, Color32, Key, KeyboardShortcut, Layout, Modifiers, RichText, Ui};
use tokio::runtime::Handle;
use tokio::sync::mpsc::UnboundedReceiver;

use crate::auth::Theme;
use crate::desktop::{self, BackendHandle, BackendOptions, Command, Event, Level};
use crate::upload;

use super::drop::{Intent, drop_overlay_ui, drop_zone_ui, pasted_name, pasted_paths};
use super::library::{RecentIntent, destination_name, folder_picker_ui, recent_ui};
use super::queue::{batch_header_ui, queue_ui};
use super::settings::{SettingsDraft, SettingsOutcome, settings_ui};
use super::state::{AppState, ConnectionStatus, Screen};
use super::welcome::welcome_ui;

/// How the window was started.
#[derive(Debug)]
pub struct AppOptions {
    /// Start straight in the offline demo.
    pub demo: bool,
    /// What the backend needs (data dir, overrides for tests).
    pub backend: BackendOptions,
    /// Whether files can be dropped on the window (false on native Wayland).
    pub drag_and_drop: bool,
    /// Files to upload that arrive from outside the window: the command line's `FILE...` and
    /// later launches handing theirs over. They wait until the window is connected.
    pub open_files: Option<UnboundedReceiver<Vec<PathBuf>>>,
}

/// Longest time `logic` spends applying events in one frame; the rest waits for the next.
const INBOX_BUDGET: Duration = Duration::from_millis(6);

/// The Runflow Uploader window.
pub struct RunflowApp {
    runtime: Handle,
    backend: BackendHandle,
    inbox: UnboundedReceiver<Event>,
    state: AppState,
    outbox: Vec<Command>,
    intents: Vec<Intent>,
    applied_theme: Option<Theme>,
    open_files: Option<UnboundedReceiver<Vec<PathBuf>>>,
    /// Files from `open_files` waiting for a connection.
    pending_files: Vec<PathBuf>,
}

impl RunflowApp {
    /// Starts the backend on `runtime` and asks it to connect.
    pub fn new(ctx: &egui::Context, runtime: Handle, options: AppOptions) -> Self {
        let repaint = ctx.clone();
        let waker: upload::Waker = Arc::new(move || repaint.request_repaint());
        let mut backend_options = options.backend;
        backend_options.demo |= options.demo;
        let (backend, inbox) = desktop::spawn(&runtime, backend_options, waker);
        backend.send(Command::Start);
        Self {
            runtime,
            backend,
            inbox,
            state: AppState::new(options.drag_and_drop),
            outbox: Vec::new(),
            intents: Vec::new(),
            applied_theme: None,
            open_files: options.open_files,
            pending_files: Vec::new(),
        }
    }

    /// The window's state (for tests).
    pub fn state(&self) -> &AppState {
        &self.state
    }

    fn send_outbox(&mut self) {
        for command in self.outbox.drain(..) {
            if !self.backend.send(command) {
                tracing::error!("the backend stopped; a command was dropped");
            }
        }
    }

    fn can_upload(&self) -> bool {
        self.state.screen == Screen::Main
            && matches!(self.state.connection, ConnectionStatus::Connected(_))
    }

    fn upload_paths(&mut self, paths: Vec<PathBuf>, now: f64) {
        if paths.is_empty() {
            return;
        }
        if !self.can_upload() {
            self.state.toasts.push(
                Level::Error,
                "Connect first (paste an API key or start the demo), then add files.",
                now,
            );
            return;
        }
        self.outbox.push(Command::Upload(upload::Command::Add {
            paths,
            folder_id: self.state.destination.clone(),
            force: false,
        }));
    }

    /// Queues files handed over from outside (command line, another launch) once connected.
    fn take_open_files(&mut self, ctx: &egui::Context) {
        if let Some(inbox) = &mut self.open_files {
            while let Ok(paths) = inbox.try_recv() {
                self.pending_files.extend(paths);
                ctx.send_viewport_cmd(egui::ViewportCommand::Focus);
            }
        }
        if !self.pending_files.is_empty() && self.can_upload() {
            let paths = std::mem::take(&mut self.pending_files);
            self.upload_paths(paths, ctx.input(|i| i.time));
        }
    }

    /// Reads drops, shortcuts and pastes from this frame's input.
    fn handle_input(&mut self, ctx: &egui::Context) {
        let now = ctx.input(|i| i.time);
        let dropped: Vec<PathBuf> = ctx.input(|i| {
            i.raw
                .dropped_files
                .iter()
                .map(|f| f.path().to_path_buf())
                .filter(|p| !p.as_os_str().is_empty())
                .collect()
        });
        self.upload_paths(dropped, now);

        let quit = KeyboardShortcut::new(Modifiers::COMMAND, Key::Q);
        if ctx.input_mut(|i| i.consume_shortcut(&quit)) {
            ctx.send_viewport_cmd(egui::ViewportCommand::Close);
        }
        let open = KeyboardShortcut::new(Modifiers::COMMAND, Key::O);
        if ctx.input_mut(|i| i.consume_shortcut(&open)) && self.can_upload() {
            self.intents.push(Intent::PickFiles);
        }
        // A focused text field gets pastes itself.
        if ctx.memory(|m| m.focused().is_some()) || !self.can_upload() {
            return;
        }
        let (images, texts) = ctx.input(|i| {
            let mut images = Vec::new();
            let mut texts = Vec::new();
            for event in &i.events {
                match event {
                    egui::Event::PasteImage(image) => images.push(Arc::clone(image)),
                    egui::Event::Paste(text) => texts.push(text.clone()),
                    _ => {}
                }
            }
            (images, texts)
        });
        for image in images {
            self.upload_pasted_image(image);
        }
        for text in texts {
            // File managers copy files as paths or file:// URIs.
            let paths = pasted_paths(&text);
            if paths.is_empty() {
                self.state.toasts.push(
                    Level::Info,
                    "The clipboard holds text, not an image or files to upload.",
                    now,
                );
            }
            self.upload_paths(paths, now);
        }
    }

    /// Encodes a pasted image as PNG off the UI thread and queues it.
    fn upload_pasted_image(&self, image: Arc<egui::ColorImage>) {
        let backend = self.backend.clone();
        let folder_id = self.state.destination.clone();
        self.runtime.spawn_blocking(move || {
            let [width, height] = image.size;
            let rgba: Vec<u8> = image
                .pixels
                .iter()
                .flat_map(|c| c.to_srgba_unmultiplied())
                .collect();
            let encoded = ::image::RgbaImage::from_raw(width as u32, height as u32, rgba)
                .ok_or_else(|| "the pasted image has an unexpected size".to_owned())
                .and_then(|img| {
                    let mut png = std::io::Cursor::new(Vec::new());
                    img.write_to(&mut png, ::image::ImageFormat::Png)
                        .map(|()| png.into_inner())
                        .map_err(|e| e.to_string())
                });
            match encoded {
                Ok(png) => backend.send(Command::UploadPng {
                    name: pasted_name(),
                    png: png.into(),
                    folder_id,
                }),
                Err(err) => {
                    tracing::warn!(%err, "could not encode a pasted image");
                    backend.send(Command::PasteImage { folder_id })
                }
            };
        });
    }

    /// Runs the intents that need the runtime: native dialogs never block the UI thread.
    fn run_intents(&mut self) {
        for intent in std::mem::take(&mut self.intents) {
            let folder_id = self.state.destination.clone();
            match intent {
                Intent::PasteImage => self.outbox.push(Command::PasteImage { folder_id }),
                Intent::PickFiles | Intent::PickFolder => {
                    let backend = self.backend.clone();
                    self.runtime.spawn(async move {
                        let dialog =
                            rfd::AsyncFileDialog::new().set_title(if intent == Intent::PickFiles {
                                "Add files to upload"
                            } else {
                                "Add a folder to upload"
                            });
                        let picked = if intent == Intent::PickFiles {
                            dialog.pick_files().await
                        } else {
                            dialog.pick_folders().await
                        };
                        let paths: Vec<PathBuf> = picked
                            .unwrap_or_default()
                            .iter()
                            .map(|h| h.path().to_path_buf())
                            .collect();
                        if !paths.is_empty() {
                            backend.send(Command::Upload(upload::Command::Add {
                                paths,
                                folder_id,
                                force: false,
                            }));
                        }
                    });
                }
            }
        }
    }

    fn apply_theme(&mut self, ctx: &egui::Context) {
        let theme = self.state.settings.theme;
        if self.applied_theme == Some(theme) {
            return;
        }
        ctx.set_theme(match theme {
            Theme::System => egui::ThemePreference::System,
            Theme::Light => egui::ThemePreference::Light,
            Theme::Dark => egui::ThemePreference::Dark,
        });
        self.applied_theme = Some(theme);
    }

    fn main_ui(&mut self, ui: &mut Ui) {
        let state = &mut self.state;
        let mut upload_commands = Vec::new();
        egui::Panel::top("top-bar").show(ui, |ui| {
            ui.add_space(4.0);
            ui.horizontal(|ui| {
                ui.label(RichText::new("Runflow Uploader").strong().size(17.0));
                ui.separator();
                ui.label("Upload to");
                let mut destination = state.destination.clone();
                if folder_picker_ui(ui, "destination", &state.folders, &mut destination) {
                    self.outbox.push(state.set_destination(destination));
                }
                if ui.button("New folder...").clicked() {
                    state.new_folder = Some(String::new());
                }
                ui.with_layout(Layout::right_to_left(Align::Center), |ui| {
                    if ui.button("Settings").clicked() {
                        state.settings_dialog = Some(SettingsDraft::new(&state.settings));
                    }
                    if ui.button("Add folder...").clicked() {
                        self.intents.push(Intent::PickFolder);
                    }
                    if ui.button("Add files...").clicked() {
                        self.intents.push(Intent::PickFiles);
                    }
                });
            });
            ui.add_space(2.0);
        });
        if state.is_demo() {
            egui::Panel::top("demo-banner").show(ui, |ui| {
                ui.horizontal(|ui| {
                    ui.colored_label(
                        Color32::from_rgb(220, 150, 30),
                        "Offline demo: a local Runflow runs inside the app. Nothing leaves \
                         this computer.",
                    );
                    if ui.button("Use my API key").clicked() {
                        state.screen = Screen::Welcome;
                    }
                });
            });
        }
        egui::Panel::bottom("status-line").show(ui, |ui| {
            ui.horizontal(|ui| status_line_ui(ui, state));
        });
        egui::Panel::right("library")
            .resizable(true)
            .default_size(300.0)
            .show(ui, |ui| {
                let title = format!(
                    "In {}",
                    destination_name(&state.folders, state.destination.as_deref())
                );
                if recent_ui(ui, &title, &state.recent) == Some(RecentIntent::Refresh) {
                    let command = state.set_destination(state.destination.clone());
                    self.outbox.push(command);
                }
            });
        egui::CentralPanel::default().show(ui, |ui| {
            let destination = destination_name(&state.folders, state.destination.as_deref());
            if state.queue.is_empty() {
                drop_zone_ui(
                    ui,
                    true,
                    state.drag_and_drop,
                    &destination,
                    &mut self.intents,
                );
            } else {
                drop_zone_ui(
                    ui,
                    false,
                    state.drag_and_drop,
                    &destination,
                    &mut self.intents,
                );
                ui.add_space(6.0);
                batch_header_ui(ui, &state.queue, &mut upload_commands);
                ui.separator();
                queue_ui(ui, &mut state.queue, &mut upload_commands);
            }
        });
        self.outbox
            .extend(upload_commands.into_iter().map(Command::Upload));
    }

    fn dialogs_ui(&mut self, ctx: &egui::Context) {
        let state = &mut self.state;
        if let Some(mut draft) = state.settings_dialog.take() {
            let response = egui::Modal::new(egui::Id::unique("settings-dialog")).show(ctx, |ui| {
                settings_ui(
                    ui,
                    &mut draft,
                    &state.settings,
                    &state.connection,
                    &state.folders,
                    &mut self.outbox,
                )
            });
            if response.inner == SettingsOutcome::Open && !response.should_close() {
                state.settings_dialog = Some(draft);
            }
        }
        if let Some(mut name) = state.new_folder.take() {
            let parent = destination_name(&state.folders, state.destination.as_deref());
            let mut keep = true;
            let response = egui::Modal::new(egui::Id::unique("new-folder")).show(ctx, |ui| {
                ui.heading("New folder");
                ui.label(format!("Inside {parent}"));
                let label = ui.label("Name");
                let field = ui.text_edit_singleline(&mut name).labelled_by(label.id);
                field.request_focus();
                let entered = field.lost_focus() && ui.input(|i| i.key_pressed(Key::Enter));
                ui.horizontal(|ui| {
                    let valid = !name.trim().is_empty();
                    if (ui.add_enabled(valid, egui::Button::new("Create")).clicked() || entered)
                        && valid
                    {
                        self.outbox.push(Command::CreateFolder {
                            name: name.trim().to_owned(),
                            parent_id: state.destination.clone(),
                        });
                        keep = false;
                    }
                    if ui.button("Cancel").clicked() {
                        keep = false;
                    }
                });
            });
            if keep && !response.should_close() {
                state.new_folder = Some(name);
            }
        }
    }
}

impl eframe::App for RunflowApp {
    fn logic(&mut self, ctx: &egui::Context, _frame: &mut eframe::Frame) {
        let now = ctx.input(|i| i.time);
        let started = Instant::now();
        while let Ok(event) = self.inbox.try_recv() {
            let follow_up = self.state.apply(event, now);
            self.outbox.extend(follow_up);
            if started.elapsed() > INBOX_BUDGET {
                // More next frame; the UI stays responsive under a flood of events.
                ctx.request_repaint();
                break;
            }
        }
        self.apply_theme(ctx);
        self.take_open_files(ctx);
        self.handle_input(ctx);
        self.run_intents();
        self.send_outbox();
    }

    fn ui(&mut self, ui: &mut Ui, _frame: &mut eframe::Frame) {
        let ctx = ui.ctx().clone();
        match self.state.screen {
            Screen::Starting => {
                egui::CentralPanel::default().show(ui, |ui| {
                    ui.centered_and_justified(|ui| {
                        ui.horizontal(|ui| {
                            ui.spinner();
                            ui.label("Connecting to Runflow...");
                        });
                    });
                });
            }
            Screen::Welcome => {
                let back_to_demo = self.state.is_demo();
                egui::CentralPanel::default().show(ui, |ui| {
                    if back_to_demo && ui.button("Back to the demo").clicked() {
                        self.state.screen = Screen::Main;
                    }
                    welcome_ui(ui, &mut self.state.welcome, &mut self.outbox);
                });
            }
            Screen::Main => {
                self.main_ui(ui);
                self.dialogs_ui(&ctx);
                if self.state.drag_and_drop {
                    drop_overlay_ui(&ctx, &self.state);
                }
            }
        }
        self.state.toasts.ui(&ctx);
        self.run_intents();
        self.send_outbox();
    }

    fn on_exit(&mut self, _gl: Option<&eframe::glow::Context>) {
        self.backend.send(Command::Shutdown);
        // Give the engine a moment to put unfinished uploads in its journal.
        let inbox = &mut self.inbox;
        // The timer must be made inside the runtime, so the whole wait runs in `block_on`.
        self.runtime.block_on(async move {
            let drained = async { while inbox.recv().await.is_some() {} };
            let _ = tokio::time::timeout(Duration::from_secs(3), drained).await;
        });
    }
}

fn status_line_ui(ui: &mut Ui, state: &AppState) {
    match &state.connection {
        ConnectionStatus::Connected(c) if c.demo => {
            ui.label("Offline demo: local Runflow emulator");
        }
        ConnectionStatus::Connected(c) => {
            ui.label(format!("Connected to {} as {}", c.base_url, c.email));
        }
        ConnectionStatus::Connecting => {
            ui.label("Connecting...");
        }
        ConnectionStatus::Failed { message } => {
            ui.colored_label(
                ui.visuals().error_fg_color,
                format!("Not connected: {message}"),
            );
        }
        ConnectionStatus::Unknown => {
            ui.label("Not connected");
        }
    }
    if !state.drag_and_drop {
        ui.separator();
        ui.weak("Drag and drop is not available on native Wayland; use Add files.");
    }
}
