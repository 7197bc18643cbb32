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

use super::destination::{destination_name, destination_picker_ui};
use super::drop::{Intent, drop_overlay_ui, drop_zone_ui, pasted_paths};
use super::gallery::{
    self, GalleryIntent, Paging, ThumbCache, confirm_delete_ui, details_ui, folder_dialog_ui,
    folder_tree_ui, gallery_ui,
};
use super::history::{HistoryIntent, history_ui};
use super::loadable::ConnectionStatus;
use super::queue::{batch_header_ui, queue_ui};
use super::settings::{SettingsOutcome, settings_ui};
use super::settings_draft::SettingsDraft;
use super::state::{AppState, Effect, Screen, SidePanel};
use super::welcome::welcome_ui;
use crate::timeline::{GalleryStep, Timeline};

/// How long a landed thumbnail may wait to be painted, so the tiles landing meanwhile are
/// painted in the same frame ([`desktop::Wakers::soon`]). Input still repaints at once.
const TILE_REPAINT_DELAY: Duration = Duration::from_millis(100);

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
    thumbs: ThumbCache,
    outbox: Vec<Command>,
    intents: Vec<Intent>,
    applied_theme: Option<Theme>,
    open_files: Option<UnboundedReceiver<Vec<PathBuf>>>,
    /// Files from `open_files` waiting for a connection.
    pending_files: Vec<PathBuf>,
    /// Milestones and frame times for `bench/queue_scale.sh` (`RUNFLOW_UPLOADER_TIMELINE`).
    timeline: Option<Timeline>,
    /// When this frame's update began.
    frame_started: Option<Instant>,
}

impl RunflowApp {
    /// Starts the backend on `runtime` and asks it to connect.
    pub fn new(ctx: &egui::Context, runtime: Handle, options: AppOptions) -> Self {
        let (repaint, tiles) = (ctx.clone(), ctx.clone());
        let wakers = desktop::Wakers {
            now: Arc::new(move || repaint.request_repaint()),
            soon: Arc::new(move || tiles.request_repaint_after(TILE_REPAINT_DELAY)),
        };
        let mut backend_options = options.backend;
        backend_options.demo |= options.demo;
        let (backend, inbox) = desktop::spawn(&runtime, backend_options, wakers);
        backend.send(Command::Start);
        Self {
            runtime,
            backend,
            inbox,
            state: AppState::new(options.drag_and_drop),
            thumbs: ThumbCache::default(),
            outbox: Vec::new(),
            intents: Vec::new(),
            applied_theme: None,
            open_files: options.open_files,
            pending_files: Vec::new(),
            timeline: Timeline::from_env(),
            frame_started: None,
        }
    }

    /// The window's state (for tests).
    pub fn state(&self) -> &AppState {
        &self.state
    }

    /// The window's state, to change (for tests, e.g. a smaller page size).
    pub fn state_mut(&mut self) -> &mut AppState {
        &mut self.state
    }

    /// The thumbnail textures (for tests and benchmarks).
    pub fn thumbs(&self) -> &ThumbCache {
        &self.thumbs
    }

    /// Applies one backend event; thumbnails become textures here, as that needs `ctx`.
    fn apply(&mut self, ctx: &egui::Context, event: Event, now: f64) {
        match &event {
            Event::Thumbnail(thumbnail) => {
                self.thumbs.apply(ctx, &thumbnail.0);
                return;
            }
            Event::AssetDeleted { id, result: Ok(()) } => self.thumbs.forget(id),
            Event::Upload(upload) => {
                if let Some(timeline) = &mut self.timeline {
                    timeline.upload_event(upload);
                }
            }
            _ => {}
        }
        let follow_up = self.state.apply(event, now);
        self.outbox.extend(follow_up);
    }

    /// Clipboard and browser work asked for by events.
    fn run_effects(&mut self, ctx: &egui::Context, now: f64) {
        for effect in std::mem::take(&mut self.state.effects) {
            match effect {
                Effect::Copy { text, notice } => {
                    ctx.copy_text(text);
                    self.state.toasts.push(Level::Success, notice, now);
                }
                Effect::OpenUrl(url) => ctx.open_url(egui::OpenUrl::new_tab(url)),
                Effect::Raise => {
                    ctx.send_viewport_cmd(egui::ViewportCommand::Minimized(false));
                    ctx.send_viewport_cmd(egui::ViewportCommand::Focus);
                }
            }
        }
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
        if let Some(why) = self.state.gallery.cannot_upload() {
            self.state.toasts.push(Level::Error, why, now);
            return;
        }
        self.outbox.push(Command::Upload(upload::Command::Add {
            paths,
            folder_id: self.state.destination(),
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
        if ctx.text_edit_focused() || !self.can_upload() {
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
        if !images.is_empty()
            && let Some(why) = self.state.gallery.cannot_upload()
        {
            self.state.toasts.push(Level::Error, why, now);
        } else {
            for image in images {
                self.upload_pasted_image(image);
            }
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

    /// Hands a pasted image's pixels to the backend, which encodes and queues it; the copy
    /// out of egui's premultiplied colours runs off the UI thread too.
    fn upload_pasted_image(&self, image: Arc<egui::ColorImage>) {
        let backend = self.backend.clone();
        let folder_id = self.state.destination();
        self.runtime.spawn_blocking(move || {
            let [width, height] = image.size;
            let rgba = image
                .pixels
                .iter()
                .flat_map(|c| c.to_srgba_unmultiplied())
                .collect();
            backend.send(Command::UploadPixels {
                width,
                height,
                rgba,
                folder_id,
            });
        });
    }

    /// Runs the intents that need the backend: native dialogs, like encoding, never run on
    /// the UI thread.
    fn run_intents(&mut self) {
        for intent in std::mem::take(&mut self.intents) {
            let folder_id = self.state.destination();
            self.outbox.push(match intent {
                Intent::PasteImage => Command::PasteImage { folder_id },
                Intent::PickFiles | Intent::PickFolder => Command::PickAndUpload {
                    folders: intent == Intent::PickFolder,
                    folder_id,
                },
            });
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
        state.thumb_px = gallery::thumb_px(ui.ctx(), gallery::THUMB_SIZE);
        let mut upload_commands = Vec::new();
        egui::Panel::top("top-bar").show(ui, |ui| {
            ui.add_space(4.0);
            ui.horizontal(|ui| {
                ui.label(RichText::new("Runflow Uploader").strong().size(17.0));
                ui.separator();
                ui.label("Upload to");
                let shown = state.gallery.view.folder_id.clone();
                if let Some(pin) = destination_picker_ui(
                    ui,
                    &state.folders,
                    &state.pinned_destination,
                    shown.as_deref(),
                ) {
                    state.pinned_destination = pin;
                }
                ui.with_layout(Layout::right_to_left(Align::Center), |ui| {
                    if ui.button("Settings").clicked() {
                        state.settings_dialog = Some(SettingsDraft::new(&state.settings));
                    }
                    let cannot_upload = state.gallery.cannot_upload();
                    let why = cannot_upload.clone().unwrap_or_default();
                    for (label, intent) in [
                        ("Add folder...", Intent::PickFolder),
                        ("Add files...", Intent::PickFiles),
                    ] {
                        if ui
                            .add_enabled(cannot_upload.is_none(), egui::Button::new(label))
                            .on_disabled_hover_text(&why)
                            .clicked()
                        {
                            self.intents.push(intent);
                        }
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
            ui.horizontal(|ui| status_line_ui(ui, state, &mut self.outbox));
        });
        egui::Panel::left("folders")
            .resizable(true)
            .default_size(210.0)
            .size_range(150.0..=400.0)
            .show(ui, |ui| {
                folder_tree_ui(
                    ui,
                    &mut state.gallery,
                    &state.folders,
                    &mut state.folder_dialog,
                    &mut self.outbox,
                );
            });
        self.thumbs
            .begin_frame(ui.input(|i| i.time), state.gallery.generation);
        // Bounded, so long queue rows never squeeze the gallery to one column.
        egui::Panel::right("side")
            .resizable(true)
            .default_size(340.0)
            .size_range(280.0..=520.0)
            .show(ui, |ui| {
                ui.horizontal(|ui| {
                    let active = state.queue.batch.active_files + state.queue.batch.queued_files;
                    let uploads = if active > 0 {
                        format!("Uploads ({active})")
                    } else {
                        "Uploads".to_owned()
                    };
                    ui.selectable_value(&mut state.side_panel, SidePanel::Uploads, uploads);
                    ui.selectable_value(&mut state.side_panel, SidePanel::Details, "Details");
                    let history = ui
                        .selectable_value(&mut state.side_panel, SidePanel::History, "History")
                        .on_hover_text("What this computer uploaded, with the asset each became");
                    if history.clicked() {
                        self.outbox.extend(state.history.reload());
                    }
                });
                ui.separator();
                match state.side_panel {
                    SidePanel::Uploads => {
                        let destination =
                            destination_name(&state.folders, state.destination().as_deref());
                        let empty = state.queue.is_empty();
                        let cannot_upload = state.gallery.cannot_upload();
                        drop_zone_ui(
                            ui,
                            empty,
                            state.drag_and_drop,
                            &destination,
                            cannot_upload.as_deref(),
                            &mut self.intents,
                        );
                        if !empty {
                            ui.add_space(6.0);
                            batch_header_ui(ui, &state.queue, &mut upload_commands);
                            ui.separator();
                            queue_ui(ui, &mut state.queue, &mut upload_commands);
                        }
                    }
                    SidePanel::History => {
                        let server = match &state.connection {
                            ConnectionStatus::Connected(c) if c.demo => Some(desktop::DEMO_SERVER),
                            ConnectionStatus::Connected(c) => Some(c.base_url.as_str()),
                            _ => None,
                        };
                        let now = ui.input(|i| i.time);
                        match history_ui(ui, &mut state.history, server, &mut self.outbox) {
                            Some(HistoryIntent::ShowInGallery(view)) => {
                                self.outbox.extend(state.gallery.open(view));
                            }
                            Some(HistoryIntent::CopyId(id)) => state.effects.push(Effect::Copy {
                                text: id,
                                notice: "Copied the asset ID.".to_owned(),
                            }),
                            None => {}
                        }
                        let (commands, again) = state.history.tick(now);
                        self.outbox.extend(commands);
                        if let Some(seconds) = again {
                            ui.ctx()
                                .request_repaint_after(Duration::from_secs_f64(seconds.max(0.01)));
                        }
                    }
                    SidePanel::Details => {
                        let notice = details_ui(
                            ui,
                            &mut state.gallery,
                            &mut self.thumbs,
                            &state.folders,
                            &mut self.outbox,
                        );
                        if let Some(notice) = notice {
                            let now = ui.input(|i| i.time);
                            state.toasts.push(Level::Success, notice, now);
                        }
                    }
                }
            });
        egui::CentralPanel::default().show(ui, |ui| {
            let intent = gallery_ui(
                ui,
                &mut state.gallery,
                &mut self.thumbs,
                &state.folders,
                &mut self.outbox,
            );
            if intent == Some(GalleryIntent::ShowDetails) {
                state.side_panel = SidePanel::Details;
            }
        });
        if let Some(wanted) = self.thumbs.end_frame() {
            self.outbox.push(Command::WantThumbnails(wanted));
        }
        let now = ui.input(|i| i.time);
        if let Some(at) = self.thumbs.next_retry() {
            ui.ctx()
                .request_repaint_after(Duration::from_secs_f64((at - now).max(0.01)));
        }
        let (commands, again) = state.gallery.tick(now);
        self.outbox.extend(commands);
        if let Some(seconds) = again {
            ui.ctx()
                .request_repaint_after(Duration::from_secs_f64(seconds.max(0.01)));
        }
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
                    &state.watches,
                    &mut self.outbox,
                )
            });
            if response.inner == SettingsOutcome::Open && !response.should_close() {
                state.settings_dialog = Some(draft);
            }
        }
        self.outbox.extend(folder_dialog_ui(
            ctx,
            &mut state.folder_dialog,
            &state.folders,
        ));
        self.outbox
            .extend(confirm_delete_ui(ctx, &mut state.gallery));
    }
}

impl eframe::App for RunflowApp {
    fn logic(&mut self, ctx: &egui::Context, _frame: &mut eframe::Frame) {
        let now = ctx.input(|i| i.time);
        let started = Instant::now();
        self.frame_started = Some(started);
        self.state.in_background = ctx.input(|i| {
            let viewport = i.viewport();
            viewport.focused == Some(false) || viewport.minimized == Some(true)
        });
        while let Ok(event) = self.inbox.try_recv() {
            self.apply(ctx, event, now);
            if started.elapsed() > INBOX_BUDGET {
                // More next frame; the UI stays responsive under a flood of events.
                ctx.request_repaint();
                break;
            }
        }
        self.run_effects(ctx, now);
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
        if let (Some(timeline), Some(started)) = (&mut self.timeline, self.frame_started.take()) {
            let cpu = started.elapsed();
            timeline.frame(cpu);
            let gallery = &mut self.state.gallery;
            let all_pages = matches!(gallery.paging, Paging::Idle { next: None });
            match timeline.gallery_frame(&gallery.probe, all_pages, cpu) {
                GalleryStep::Off => {}
                // Each tile and page that lands wakes the window itself; this only makes sure
                // a screen that waits its patience out is seen. A faster poll would paint
                // frames the app does not paint on its own.
                GalleryStep::Wait => ctx.request_repaint_after(Duration::from_millis(500)),
                GalleryStep::ScrollTo(offset) => {
                    gallery.scroll_to = Some(offset);
                    ctx.request_repaint();
                }
                GalleryStep::Close => ctx.send_viewport_cmd(egui::ViewportCommand::Close),
            }
        }
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

fn status_line_ui(ui: &mut Ui, state: &AppState, out: &mut Vec<Command>) {
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
            if ui.small_button("Try again").clicked() {
                out.push(Command::TestConnection);
            }
            ui.add(
                egui::Label::new(
                    RichText::new(format!("Not connected: {message}"))
                        .color(ui.visuals().error_fg_color),
                )
                .truncate(),
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
