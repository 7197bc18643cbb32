//! A window under test: an emulator on a runtime of its own, and the app built through
//! `egui_kittest` with a private data dir, settings file and in-memory key store.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use egui_kittest::Harness;
use runflow_uploader::api::ApiKey;
use runflow_uploader::auth::KeyStore;
use runflow_uploader::desktop::BackendOptions;
use runflow_uploader::emulator::{EmulatorConfig, RunningEmulator};
use runflow_uploader::ui::{AppOptions, RunflowApp};

/// A window with its own emulator.
pub struct Setup {
    pub runtime: tokio::runtime::Runtime,
    pub emulator: RunningEmulator,
    pub dir: tempfile::TempDir,
}

impl Setup {
    pub fn new() -> Self {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        let emulator = runtime
            .block_on(RunningEmulator::start(EmulatorConfig {
                api_keys: vec!["rf_test_ui".to_owned()],
                ..EmulatorConfig::default()
            }))
            .unwrap();
        Self {
            runtime,
            emulator,
            dir: tempfile::tempdir().unwrap(),
        }
    }

    pub fn options(&self, with_key: bool, demo: bool) -> AppOptions {
        let account = format!("ui-test-{}", uuid::Uuid::new_v4());
        AppOptions {
            demo,
            drag_and_drop: true,
            open_files: None,
            backend: BackendOptions {
                demo,
                data_dir: self.dir.path().join("data"),
                settings_path: self.dir.path().join("config/settings.json"),
                cache_dir: self.dir.path().join("cache"),
                env_api_key: with_key
                    .then(|| ApiKey::new(self.emulator.api_keys()[0].clone()).unwrap()),
                env_base_url: Some(self.emulator.api_base()),
                keystore: Some(KeyStore::memory(account)),
                concurrency_override: None,
            },
        }
    }

    pub fn app(&self, options: AppOptions) -> Harness<'_, RunflowApp> {
        let handle = self.runtime.handle().clone();
        Harness::builder()
            .with_size([1100.0, 720.0])
            .build_eframe(move |cc| RunflowApp::new(&cc.egui_ctx, handle, options))
    }
}

/// Steps the window until `done` holds (the backend works on other threads meanwhile).
pub fn step_until(
    harness: &mut Harness<'_, RunflowApp>,
    what: &str,
    done: impl Fn(&RunflowApp) -> bool,
) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while !done(harness.state()) {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        harness.step();
        std::thread::sleep(Duration::from_millis(10));
    }
    harness.step();
}

pub fn png(dir: &Path, name: &str, seed: u8) -> PathBuf {
    let image =
        image::RgbImage::from_fn(64, 48, |x, y| image::Rgb([x as u8 ^ seed, y as u8, seed]));
    let path = dir.join(name);
    image.save(&path).unwrap();
    path
}
