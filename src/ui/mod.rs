//! The desktop window (eframe/egui). Only this module depends on egui; it talks to the rest of
//! the app through [`crate::desktop`]'s `Command` and `Event`.
//!
//! - [`app`]: the `eframe::App` (drains events in `logic`, draws in `ui`).
//! - [`state`]: what the window shows and how events change it (pure), with `loadable` (things
//!   on their way from the backend) and `settings_draft` (the settings dialog's working copy)
//!   as leaves the views share.
//! - [`gallery`]: the asset library (grid, folders, details, selection).
//! - [`queue`], [`drop`], [`welcome`], [`settings`], [`destination`], [`toasts`]: the other
//!   views.

mod app;
mod destination;
mod drop;
pub mod gallery;
mod history;
mod loadable;
mod queue;
mod settings;
mod settings_draft;
mod state;
mod toasts;
mod typed_key;
mod watch_folders;
mod welcome;
mod widgets;

pub use app::{AppOptions, RunflowApp};
pub use drop::pasted_paths;
pub use loadable::{ConnectionStatus, Loadable};
pub use queue::{QueueState, Row, batch_header_ui, human_duration, queue_ui, state_text};
pub use state::{AppState, Effect, Screen, SidePanel};
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

/// The window icon (the 256 px rendering of `assets/icons/io.runflow.Uploader.svg`).
const ICON_PNG: &[u8] = include_bytes!("../../assets/icons/256x256/io.runflow.Uploader.png");

/// The window's viewport: title, app id (docks group windows by it), icon, sizes.
pub fn viewport() -> egui::ViewportBuilder {
    let viewport = egui::ViewportBuilder::default()
        .with_title("Runflow Uploader")
        .with_app_id(APP_ID)
        .with_inner_size([1280.0, 800.0])
        .with_min_inner_size([720.0, 480.0])
        .with_drag_and_drop(true);
    match eframe::icon_data::from_png_bytes(ICON_PNG) {
        Ok(icon) => viewport.with_icon(icon),
        Err(err) => {
            tracing::warn!(%err, "the window icon could not be decoded");
            viewport
        }
    }
}

/// Passes files from `outer` on to the window and wakes it for each batch: the window only
/// looks at its inbox when it draws, and an idle window does not draw on its own.
fn relay_open_files(
    runtime: &tokio::runtime::Handle,
    ctx: &egui::Context,
    options: &mut AppOptions,
) {
    let Some(mut outer) = options.open_files.take() else {
        return;
    };
    let (inner, inbox) = tokio::sync::mpsc::unbounded_channel();
    options.open_files = Some(inbox);
    let ctx = ctx.clone();
    runtime.spawn(async move {
        while let Some(paths) = outer.recv().await {
            if inner.send(paths).is_err() {
                break;
            }
            ctx.request_repaint();
        }
    });
}

/// Opens the window and runs until it is closed. `runtime` is the runtime owned by `main`.
pub fn run(runtime: tokio::runtime::Handle, mut options: AppOptions) -> anyhow::Result<()> {
    let (_, force_x11) = display_backend();
    let mut native = eframe::NativeOptions {
        viewport: viewport(),
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
        Box::new(move |cc| {
            relay_open_files(&runtime, &cc.egui_ctx, &mut options);
            Ok(Box::new(RunflowApp::new(&cc.egui_ctx, runtime, options)))
        }),
    )
    .map_err(|err| anyhow::anyhow!("the window could not be opened: {err}"))
}
