//! The desktop window (eframe/egui). Only this module depends on egui; it talks to the rest of
//! the app through [`crate::desktop`]'s `Command` and `Event`.
//!
//! - [`app`]: the `eframe::App` (drains events in `logic`, draws in `ui`).
//! - [`state`]: what the window shows and how events change it (pure).
//! - [`queue`], [`drop`], [`welcome`], [`settings`], [`library`], [`toasts`]: the views.

mod app;
mod drop;
mod library;
mod queue;
mod settings;
mod state;
mod toasts;
mod welcome;

pub use app::{AppOptions, RunflowApp};
pub use drop::pasted_paths;
pub use queue::{QueueState, Row, batch_header_ui, human_duration, queue_ui, state_text};
pub use state::{AppState, ConnectionStatus, Loadable, Screen};
pub use toasts::{Toast, Toasts};
pub use welcome::{WelcomeState, welcome_ui};

/// The app id docks and taskbars group the window by (matches the desktop entry).
pub const APP_ID: &str = "io.runflow.Uploader";

/// Whether file drops work, and whether X11 must be forced: winit has no file drop on native
/// Wayland, so with an X server (or XWayland) available the window uses it.
pub fn display_backend() -> (bool, bool) {
    let has = |name: &str| std::env::var_os(name).is_some_and(|v| !v.is_empty());
    let x11 = has("DISPLAY");
    let wayland = has("WAYLAND_DISPLAY");
    let drag_and_drop = x11 || !wayland;
    (drag_and_drop, x11 && wayland)
}

/// Opens the window and runs until it is closed. `runtime` is the runtime owned by `main`.
pub fn run(runtime: tokio::runtime::Handle, options: AppOptions) -> anyhow::Result<()> {
    let (_, force_x11) = display_backend();
    let mut native = eframe::NativeOptions {
        viewport: egui::ViewportBuilder::default()
            .with_title("Runflow Uploader")
            .with_app_id(APP_ID)
            .with_inner_size([1100.0, 720.0])
            .with_min_inner_size([720.0, 480.0])
            .with_drag_and_drop(true),
        ..eframe::NativeOptions::default()
    };
    #[cfg(target_os = "linux")]
    if force_x11 {
        native.event_loop_builder = Some(Box::new(|builder| {
            use winit::platform::x11::EventLoopBuilderExtX11 as _;
            builder.with_x11();
        }));
    }
    #[cfg(not(target_os = "linux"))]
    let _ = force_x11;
    eframe::run_native(
        "Runflow Uploader",
        native,
        Box::new(move |cc| Ok(Box::new(RunflowApp::new(&cc.egui_ctx, runtime, options)))),
    )
    .map_err(|err| anyhow::anyhow!("the window could not be opened: {err}"))
}
