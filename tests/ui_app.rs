//! The whole window through `build_eframe`, with its real backend, against the emulator: the
//! welcome flow, the demo, dropping files that upload end to end, and idleness.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use egui_kittest::kittest::Queryable as _;
use runflow_uploader::ui::gallery::ThumbState;
use runflow_uploader::ui::{ConnectionStatus, Screen};
use runflow_uploader::upload::{FileState, UploadFailure};

#[path = "support/app.rs"]
mod app_support;

use app_support::{Setup, png, step_until};

/// A file dropped on the window, as winit delivers it.
#[derive(Debug)]
struct DroppedPath(PathBuf);

impl egui::DroppedFile for DroppedPath {
    fn path(&self) -> &Path {
        &self.0
    }

    fn bytes(&self) -> Result<Vec<u8>, String> {
        std::fs::read(&self.0).map_err(|e| e.to_string())
    }
}

#[test]
fn dropped_files_upload_end_to_end_and_rejects_show_their_reason() {
    let setup = Setup::new();
    let mut harness = setup.app(setup.options(true, false));
    step_until(&mut harness, "the connection", |app| {
        app.state().screen == Screen::Main
            && matches!(app.state().connection, ConnectionStatus::Connected(_))
    });
    harness.get_by_label("Drop files or folders here");

    let files = setup.dir.path().join("drop");
    std::fs::create_dir_all(&files).unwrap();
    let good = [png(&files, "red.png", 1), png(&files, "blue.png", 2)];
    let empty = files.join("empty.png");
    std::fs::write(&empty, b"").unwrap();
    for path in good.iter().chain([&empty]) {
        harness
            .input_mut()
            .dropped_files
            .push(Arc::new(DroppedPath(path.clone())));
    }
    step_until(&mut harness, "three finished rows", |app| {
        let queue = &app.state().queue;
        queue.batch.total_files == 3 && queue.batch.succeeded_files + queue.batch.failed_files == 3
    });
    harness.get_by_label_contains("Failed: The file is empty");
    assert_eq!(harness.get_all_by_label("Uploaded").count(), 2);
    assert_eq!(setup.emulator.asset_count(), 2);
    // The new assets show up in the gallery without a refresh.
    step_until(&mut harness, "the new cards", |app| {
        app.state().gallery.items.len() == 2
    });
    // Once in the queue, once as a card.
    assert_eq!(harness.get_all_by_label("red.png").count(), 2);
    let failed = harness
        .state()
        .state()
        .queue
        .row(runflow_uploader::upload::FileId(3))
        .map(|row| row.state.clone());
    assert!(
        matches!(failed, Some(FileState::Failed(UploadFailure::Empty)) | None),
        "{failed:?}"
    );
}

#[test]
fn the_welcome_screen_checks_the_key_before_reaching_the_main_view() {
    let setup = Setup::new();
    let mut harness = setup.app(setup.options(false, false));
    step_until(&mut harness, "the welcome screen", |app| {
        app.state().screen == Screen::Welcome
    });

    harness.get_by_label("API key").focus();
    harness.step();
    harness
        .get_by_label("API key")
        .type_text("rf_live_not_valid");
    harness.step();
    harness.get_by_label("Save and connect").click();
    step_until(&mut harness, "the refusal", |app| {
        app.state().welcome.error.is_some() && !app.state().welcome.busy
    });
    harness.get_by_label_contains("rejected");
    assert_eq!(harness.state().state().screen, Screen::Welcome);

    harness.get_by_label("API key").focus();
    harness.step();
    for _ in 0.."rf_live_not_valid".len() {
        harness.key_press(egui::Key::Backspace);
    }
    harness.step();
    harness
        .get_by_label("API key")
        .type_text(&setup.emulator.api_keys()[0]);
    harness.step();
    harness.get_by_label("Save and connect").click();
    step_until(&mut harness, "the main view", |app| {
        app.state().screen == Screen::Main
    });
    harness.get_by_label_contains("Connected to");
}

#[test]
fn the_demo_starts_with_sample_assets_and_the_idle_window_does_not_repaint() {
    let setup = Setup::new();
    let mut harness = setup.app(setup.options(false, true));
    step_until(&mut harness, "the demo's assets", |app| {
        app.state().is_demo()
            && !app.state().gallery.items.is_empty()
            && matches!(
                &app.state().folders,
                runflow_uploader::ui::Loadable::Ready(_)
            )
    });
    // The banner and the status line both say it is a local demo.
    assert!(harness.get_all_by_label_contains("Offline demo").count() >= 2);
    harness.get_by_label("sunrise-gradient.png");
    // Every card's thumbnail arrives from the demo server.
    step_until(&mut harness, "the thumbnails", |app| {
        let state = app.state();
        state.gallery.items.iter().all(|asset| {
            matches!(
                app.thumbs()
                    .state_of(asset.id.as_deref().unwrap_or_default(), state.thumb_px),
                Some(ThumbState::Ready { .. })
            )
        })
    });
    // Nothing is moving, so the window settles instead of repainting every frame.
    assert!(harness.try_run().is_ok(), "an idle window keeps repainting");
}

#[test]
fn the_history_tab_lists_finished_uploads_finds_them_and_uploads_one_again() {
    let setup = Setup::new();
    let mut harness = setup.app(setup.options(true, false));
    step_until(&mut harness, "the connection", |app| {
        matches!(app.state().connection, ConnectionStatus::Connected(_))
    });
    let files = setup.dir.path().join("drop");
    std::fs::create_dir_all(&files).unwrap();
    for path in [png(&files, "beach.png", 1), png(&files, "city.png", 2)] {
        harness
            .input_mut()
            .dropped_files
            .push(Arc::new(DroppedPath(path)));
    }
    step_until(&mut harness, "two uploads", |app| {
        app.state().queue.batch.succeeded_files == 2
            && app.state().queue.batch.active_files + app.state().queue.batch.queued_files == 0
    });

    harness.get_by_label("History").click();
    step_until(&mut harness, "the history rows", |app| {
        app.state().history.shown().len() == 2
    });
    harness.run();
    assert_eq!(harness.get_all_by_label_contains("dropped").count(), 2);
    harness.get_by_label("2 uploads");

    // The search runs once typing pauses. (city.png is also a card and a queue row.)
    let cities = harness.get_all_by_label("city.png").count();
    harness.get_by_label("Name").click();
    harness.run();
    harness.get_by_label("Name").type_text("BEA");
    step_until(&mut harness, "the search", |app| {
        app.state().history.shown().len() == 1
    });
    harness.run();
    assert_eq!(harness.get_all_by_label("city.png").count(), cities - 1);

    // Upload again: a new asset from the same file.
    harness.get_by_label("Upload again").click();
    step_until(&mut harness, "the second upload of beach.png", |_app| {
        setup.emulator.asset_count() == 3
    });
}

#[test]
fn a_watch_folder_uploads_what_lands_in_it_and_its_row_pauses_and_removes_it() {
    let setup = Setup::new();
    let watched = setup.dir.path().join("renders");
    std::fs::create_dir_all(&watched).unwrap();
    let settings = setup.dir.path().join("config/settings.json");
    std::fs::create_dir_all(settings.parent().unwrap()).unwrap();
    std::fs::write(
        &settings,
        serde_json::json!({ "watch_folders": [{ "dir": watched }] }).to_string(),
    )
    .unwrap();
    let mut harness = setup.app(setup.options(true, false));
    step_until(&mut harness, "the watch", |app| {
        app.state()
            .watches
            .get(&watched)
            .is_some_and(|s| s.state == runflow_uploader::watch::WatchState::Watching)
    });

    // A render lands in the folder: it uploads on its own.
    png(&watched, "frame-0001.png", 7);
    step_until(&mut harness, "the watched upload", |app| {
        app.state().queue.batch.succeeded_files == 1
            && app
                .state()
                .watches
                .get(&watched)
                .is_some_and(|s| s.today == 1)
    });
    assert_eq!(setup.emulator.asset_count(), 1);
    // (The queue's row has a Remove button of its own.) The watch reports as it goes, so the
    // window may not settle: a fixed number of frames instead of `run`.
    harness.get_by_label("Clear finished").click();
    harness.run_steps(6);

    harness.get_by_label("Settings").click();
    harness.run_steps(6);
    harness.get_by_label(&watched.display().to_string());
    harness.get_by_label("Watching");
    harness.get_by_label("1 uploaded today: frame-0001.png");

    // Pause: kept in the settings file, and nothing more uploads.
    harness.get_by_label("Pause").click();
    step_until(&mut harness, "the pause", |app| {
        app.state()
            .watches
            .get(&watched)
            .is_some_and(|s| s.state == runflow_uploader::watch::WatchState::Paused)
    });
    let saved = || -> serde_json::Value {
        serde_json::from_str(&std::fs::read_to_string(&settings).unwrap()).unwrap()
    };
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while saved()["watch_folders"][0]["paused"] != true {
        assert!(std::time::Instant::now() < deadline, "{}", saved());
        harness.step();
    }
    png(&watched, "frame-0002.png", 8);
    for _ in 0..40 {
        harness.step();
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    assert_eq!(setup.emulator.asset_count(), 1);

    harness.get_by_label("Remove").click();
    harness.run_steps(6);
    while saved().get("watch_folders").is_some() {
        assert!(std::time::Instant::now() < deadline + std::time::Duration::from_secs(10));
        harness.step();
    }
    assert!(harness.query_by_label("Resume").is_none());
}
