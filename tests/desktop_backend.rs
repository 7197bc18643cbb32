//! The desktop backend against the emulator: the key flow, uploads, the demo, settings and
//! shutdown. Nothing here reads process-wide environment variables: every test passes what it
//! needs through `BackendOptions`, with an in-memory key store of its own.

#[path = "support/ports.rs"]
mod ports_support;

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use runflow_uploader::api::ApiKey;
use runflow_uploader::auth::{KeyStore, Settings};
use runflow_uploader::desktop::{
    self, AssetPage, BackendHandle, BackendOptions, Command, Event, Level,
};
use runflow_uploader::emulator::{EmulatorConfig, RunningEmulator};
use runflow_uploader::library::ViewSpec;
use runflow_uploader::upload::{self, FileState};
use tempfile::TempDir;
use tokio::sync::mpsc::UnboundedReceiver;

const GOOD_KEY: &str = "rf_test_key";
const WAIT: Duration = Duration::from_secs(10);

/// A backend with its own data dir, settings file and key store.
struct Backend {
    handle: BackendHandle,
    events: UnboundedReceiver<Event>,
    store: KeyStore,
    wakes: Arc<AtomicUsize>,
    dir: TempDir,
}

impl Backend {
    /// The first page of `view` (100 items), loaded through the backend.
    async fn page(&mut self, view: ViewSpec, generation: u64) -> AssetPage {
        self.send(Command::LoadAssets {
            view,
            cursor: None,
            limit: 100,
            generation,
        });
        let event = self
            .until("a page", |e| matches!(e, Event::AssetsPage { .. }))
            .await;
        match event {
            Event::AssetsPage {
                generation: echoed,
                result: Ok(page),
            } if echoed == generation => page,
            other => panic!("a page: {other:?}"),
        }
    }

    fn new(emulator: Option<&RunningEmulator>, adjust: impl FnOnce(&mut BackendOptions)) -> Self {
        Self::in_dir(tempfile::tempdir().unwrap(), emulator, adjust)
    }

    /// A backend on the data dir, settings and cache of `dir` (a later start of the app).
    fn in_dir(
        dir: TempDir,
        emulator: Option<&RunningEmulator>,
        adjust: impl FnOnce(&mut BackendOptions),
    ) -> Self {
        let store = KeyStore::memory(format!("desktop-test-{}", uuid::Uuid::new_v4()));
        let mut options = BackendOptions {
            demo: false,
            data_dir: dir.path().join("data"),
            settings_path: dir.path().join("config").join("settings.json"),
            cache_dir: dir.path().join("cache"),
            env_api_key: None,
            env_base_url: emulator.map(RunningEmulator::api_base),
            keystore: Some(store.clone()),
            concurrency_override: None,
        };
        adjust(&mut options);
        let wakes = Arc::new(AtomicUsize::new(0));
        let counter = wakes.clone();
        let wake: runflow_uploader::upload::Waker = Arc::new(move || {
            counter.fetch_add(1, Ordering::SeqCst);
        });
        let wakers = desktop::Wakers {
            now: wake.clone(),
            soon: wake,
        };
        let (handle, events) = desktop::spawn(&tokio::runtime::Handle::current(), options, wakers);
        Self {
            handle,
            events,
            store,
            wakes,
            dir,
        }
    }

    fn send(&self, command: Command) {
        assert!(self.handle.send(command), "the backend is running");
    }

    /// The next event, skipping upload chatter (progress, batch totals, idle).
    async fn next(&mut self) -> Event {
        loop {
            let event = tokio::time::timeout(WAIT, self.events.recv())
                .await
                .expect("an event in time")
                .expect("the backend is running");
            match &event {
                Event::Upload(
                    upload::Event::Progress { .. } | upload::Event::Batch(_) | upload::Event::Idle,
                ) => {}
                _ => return event,
            }
        }
    }

    /// Skips events until one matches, failing on an error notice on the way.
    async fn until(&mut self, what: &str, matches: impl Fn(&Event) -> bool) -> Event {
        loop {
            let event = self.next().await;
            if matches(&event) {
                return event;
            }
            assert!(
                !matches!(
                    event,
                    Event::Notice {
                        level: Level::Error,
                        ..
                    }
                ),
                "an error while waiting for {what}: {event:?}"
            );
        }
    }

    /// Sends `Shutdown` and checks that the event channel closes.
    async fn shut_down(self) {
        self.shut_down_keeping_dir().await;
    }

    /// Shuts down and hands back the dirs, for a later start.
    async fn shut_down_keeping_dir(mut self) -> TempDir {
        self.send(Command::Shutdown);
        tokio::time::timeout(WAIT, async { while self.events.recv().await.is_some() {} })
            .await
            .expect("the event channel closes after Shutdown");
        assert!(!self.handle.send(Command::LoadFolders), "the backend ended");
        self.dir
    }

    /// Pastes a 9x9 grey image and waits until it is finished.
    async fn paste_grey(&mut self) -> FileState {
        self.send(Command::UploadPixels {
            width: 9,
            height: 9,
            rgba: vec![120; 9 * 9 * 4],
            folder_id: None,
        });
        let event = self
            .until("the pasted upload", |e| {
                matches!(e, Event::Upload(upload::Event::State { state, .. }) if state.is_finished())
            })
            .await;
        let Event::Upload(upload::Event::State { state, .. }) = event else {
            unreachable!()
        };
        state
    }
}

/// An emulator on free loopback ports that accepts [`GOOD_KEY`].
async fn emulator() -> RunningEmulator {
    RunningEmulator::start(EmulatorConfig {
        api_keys: vec![GOOD_KEY.to_owned()],
        ..EmulatorConfig::default()
    })
    .await
    .expect("the emulator starts")
}

fn png(seed: u8) -> Vec<u8> {
    let image = image::RgbImage::from_fn(8, 8, |x, y| {
        image::Rgb([
            seed,
            u8::try_from(x * 30).unwrap(),
            u8::try_from(y * 30).unwrap(),
        ])
    });
    let mut out = std::io::Cursor::new(Vec::new());
    image.write_to(&mut out, image::ImageFormat::Png).unwrap();
    out.into_inner()
}

fn write_png(dir: &Path, name: &str, seed: u8) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, png(seed)).unwrap();
    path
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn start_without_a_key_asks_for_one() {
    let emulator = emulator().await;
    let mut backend = Backend::new(Some(&emulator), |_| {});
    backend.send(Command::Start);
    assert_eq!(backend.next().await, Event::Settings(Settings::default()));
    assert_eq!(backend.next().await, Event::NeedsKey { reason: None });
    // Every event woke the window (the wake follows the send, so it may land a moment later).
    let deadline = tokio::time::Instant::now() + Duration::from_secs(2);
    while backend.wakes.load(Ordering::SeqCst) < 2 && tokio::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    assert!(backend.wakes.load(Ordering::SeqCst) >= 2);

    // Commands that need a connection explain themselves instead of failing silently.
    backend.send(Command::LoadFolders);
    let Event::Folders(Err(message)) = backend.next().await else {
        panic!("folders without a connection");
    };
    assert!(message.contains("Not connected"), "{message}");
    backend.send(Command::Upload(upload::Command::Pause));
    let event = backend.next().await;
    assert!(
        matches!(&event, Event::Notice { level: Level::Info, message } if message.contains("API key")),
        "{event:?}"
    );
    backend.shut_down().await;
    emulator.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wrong_key_is_rejected_and_not_stored() {
    let emulator = emulator().await;
    let mut backend = Backend::new(Some(&emulator), |_| {});
    backend.send(Command::Start);
    backend
        .until("NeedsKey", |e| matches!(e, Event::NeedsKey { .. }))
        .await;

    backend.send(Command::SaveKey(ApiKey::new("rf_test_wrong").unwrap()));
    let event = backend.next().await;
    let Event::KeyRejected { message } = event else {
        panic!("expected KeyRejected, got {event:?}");
    };
    assert!(message.contains("rejected the API key"), "{message}");
    assert!(!message.contains("rf_test_wrong"), "the key never shows");
    assert_eq!(backend.store.load().await.unwrap(), None);
    backend.shut_down().await;
    emulator.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_key_checked_while_offline_is_answered_quickly_and_not_blamed() {
    // A loopback port where nothing listens: every connection is refused.
    let closed = ports_support::RefusedPort::new();
    let mut backend = Backend::new(None, |options| {
        options.env_base_url = Some(closed.base_url());
    });
    backend.send(Command::Start);
    backend
        .until("NeedsKey", |e| matches!(e, Event::NeedsKey { .. }))
        .await;

    // The default retry policy would keep the welcome screen waiting for well over `WAIT`;
    // the interactive check gives up after one quick retry.
    backend.send(Command::SaveKey(ApiKey::new(GOOD_KEY).unwrap()));
    let event = backend.next().await;
    let Event::KeyRejected { message } = event else {
        panic!("expected KeyRejected, got {event:?}");
    };
    assert!(message.contains("Could not reach Runflow"), "{message}");
    assert!(message.contains("internet connection"), "{message}");
    assert!(
        !message.contains("rejected"),
        "not the key's fault: {message}"
    );
    assert!(!message.contains(GOOD_KEY), "the key never shows");
    assert_eq!(backend.store.load().await.unwrap(), None);
    backend.shut_down().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_good_key_is_saved_connects_and_uploads() {
    let emulator = emulator().await;
    let mut backend = Backend::new(Some(&emulator), |_| {});
    backend.send(Command::Start);
    backend
        .until("NeedsKey", |e| matches!(e, Event::NeedsKey { .. }))
        .await;

    backend.send(Command::SaveKey(ApiKey::new(GOOD_KEY).unwrap()));
    let event = backend.next().await;
    assert!(
        matches!(&event, Event::KeySaved { persistent: false, backend } if backend.contains("in-memory")),
        "{event:?}"
    );
    assert_eq!(backend.next().await, Event::Connecting);
    assert_eq!(backend.next().await, Event::EngineRestarted);
    let Event::Connected(connection) = backend.next().await else {
        panic!("expected Connected");
    };
    assert!(!connection.demo);
    assert!(!connection.email.is_empty());
    assert_eq!(connection.base_url, emulator.api_base());
    assert!(connection.key_source.contains("keyring"), "{connection:?}");
    assert_eq!(
        backend.store.load().await.unwrap(),
        Some(ApiKey::new(GOOD_KEY).unwrap())
    );

    let files = tempfile::tempdir().unwrap();
    let paths = vec![
        write_png(files.path(), "one.png", 1),
        write_png(files.path(), "two.png", 2),
    ];
    backend.send(Command::Upload(upload::Command::Add {
        paths,
        folder_id: None,
        force: false,
    }));
    let mut names = HashMap::new();
    let mut done = HashSet::new();
    while done.len() < 2 {
        match backend.next().await {
            Event::Upload(upload::Event::Added { id, name, .. }) => {
                names.insert(id, name);
            }
            Event::Upload(upload::Event::State {
                id,
                state: FileState::Done(_),
            }) => {
                done.insert(names[&id].clone());
            }
            Event::Upload(upload::Event::State {
                state: state @ FileState::Failed(_),
                ..
            }) => panic!("an upload failed: {state:?}"),
            _ => {}
        }
    }
    assert_eq!(
        done,
        HashSet::from(["one.png".to_owned(), "two.png".to_owned()])
    );
    assert_eq!(emulator.asset_count(), 2);

    // The engine keeps its journal under the data dir given in the options.
    assert!(backend.dir.path().join("data").exists());
    backend.shut_down().await;
    emulator.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_demo_connects_and_lists_sample_data() {
    // No emulator of our own and no base URL: the demo brings its own server.
    let mut backend = Backend::new(None, |options| options.demo = true);
    backend.send(Command::Start);
    assert_eq!(backend.next().await, Event::Settings(Settings::default()));
    assert_eq!(backend.next().await, Event::Connecting);
    assert_eq!(backend.next().await, Event::EngineRestarted);
    let Event::Connected(connection) = backend.next().await else {
        panic!("expected Connected");
    };
    assert!(connection.demo);
    assert_eq!(connection.key_source, "the offline demo");
    assert!(connection.base_url.starts_with("http://127.0.0.1:"));

    backend.send(Command::LoadFolders);
    let Event::Folders(Ok(folders)) = backend
        .until("folders", |e| matches!(e, Event::Folders(_)))
        .await
    else {
        panic!("the demo folders");
    };
    let product = folders
        .iter()
        .find(|f| f.name.as_deref() == Some("Product shots"))
        .expect("the Product shots folder");
    assert!(folders.len() >= 4, "{folders:?}");

    let root = backend.page(ViewSpec::default(), 1).await;
    assert!(!root.items.is_empty());
    assert!(root.items.iter().all(|a| a.folder_id.is_none()), "{root:?}");

    let in_product = ViewSpec {
        folder_id: product.id.clone(),
        ..ViewSpec::default()
    };
    let inside = backend.page(in_product, 2).await;
    assert!(!inside.items.is_empty());
    assert!(inside.items.iter().all(|a| a.folder_id == product.id));

    // Demo uploads go to the demo's own journal.
    let done = backend.paste_grey().await;
    // The asset is named for the paste, not for the app's private copy of it.
    let FileState::Done(asset) = done else {
        panic!("the paste was not uploaded: {done:?}");
    };
    let name = asset.name.clone().unwrap_or_default();
    assert!(
        name.starts_with("pasted-") && name.ends_with(".png") && name.len() == 26,
        "{name}"
    );
    assert!(backend.dir.path().join("data").join("demo").exists());
    // The app's own copy of the paste, and its directory, go once the asset exists.
    let pasted = backend.dir.path().join("data").join("demo").join("pasted");
    let left = || {
        std::fs::read_dir(&pasted)
            .map(|dir| dir.count())
            .unwrap_or(0)
    };
    for _ in 0..100 {
        if left() == 0 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert!(pasted.is_dir(), "pastes are kept in {}", pasted.display());
    assert_eq!(left(), 0, "the pasted copy is left in {}", pasted.display());
    backend.shut_down().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn removing_the_key_disconnects() {
    let emulator = emulator().await;
    let mut backend = Backend::new(Some(&emulator), |_| {});
    backend
        .store
        .save(&ApiKey::new(GOOD_KEY).unwrap())
        .await
        .unwrap();
    backend.send(Command::Start);
    backend
        .until("Connected", |e| matches!(e, Event::Connected(_)))
        .await;

    // Connection commands queue behind each other; none is lost.
    backend.send(Command::TestConnection);
    backend.send(Command::RemoveKey);
    backend
        .until("the test result", |e| matches!(e, Event::Connected(_)))
        .await;
    assert_eq!(backend.next().await, Event::KeyRemoved);
    assert_eq!(backend.next().await, Event::NeedsKey { reason: None });
    assert_eq!(backend.store.load().await.unwrap(), None);

    backend.send(Command::Upload(upload::Command::Pause));
    assert!(matches!(
        backend.next().await,
        Event::Notice {
            level: Level::Info,
            ..
        }
    ));
    backend.shut_down().await;
    emulator.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rejected_environment_key_says_where_it_came_from() {
    let emulator = emulator().await;
    let mut backend = Backend::new(Some(&emulator), |options| {
        options.env_api_key = ApiKey::new("rf_test_revoked");
    });
    backend.send(Command::Start);
    let event = backend
        .until("ConnectionFailed", |e| {
            matches!(e, Event::ConnectionFailed { .. })
        })
        .await;
    let Event::ConnectionFailed {
        message,
        key_rejected,
    } = event
    else {
        unreachable!();
    };
    assert!(key_rejected);
    assert!(message.contains("RUNFLOW_API_KEY"), "{message}");
    backend.shut_down().await;
    emulator.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn invalid_settings_are_refused_and_the_file_kept() {
    let emulator = emulator().await;
    let mut backend = Backend::new(Some(&emulator), |_| {});
    let path = backend.dir.path().join("config").join("settings.json");
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    let original = "{\"concurrency\":2,\"theme\":\"dark\"}\n";
    std::fs::write(&path, original).unwrap();

    backend.send(Command::Start);
    let Event::Settings(loaded) = backend.next().await else {
        panic!("settings first");
    };
    assert_eq!(loaded.concurrency, Some(2));
    backend
        .until("NeedsKey", |e| matches!(e, Event::NeedsKey { .. }))
        .await;

    backend.send(Command::SaveSettings(Settings {
        base_url: Some("ftp://example.com".to_owned()),
        ..loaded.clone()
    }));
    let event = backend.next().await;
    let Event::Notice {
        level: Level::Error,
        message,
    } = event
    else {
        panic!("an error notice, got {event:?}");
    };
    assert!(message.contains("not saved"), "{message}");
    assert_eq!(std::fs::read_to_string(&path).unwrap(), original);

    // A valid change is saved and reported.
    let changed = Settings {
        concurrency: Some(3),
        ..loaded
    };
    backend.send(Command::SaveSettings(changed.clone()));
    assert_eq!(backend.next().await, Event::Settings(changed.clone()));
    assert_eq!(Settings::load_from(&path).unwrap(), changed);
    backend.shut_down().await;
    emulator.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_broken_settings_file_gives_defaults_and_a_notice() {
    let mut backend = Backend::new(None, |options| {
        options.env_base_url = Some("http://127.0.0.1:9".to_owned());
    });
    let path = backend.dir.path().join("config").join("settings.json");
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(&path, "{not json").unwrap();
    backend.send(Command::Start);
    let event = backend.next().await;
    assert!(
        matches!(&event, Event::Notice { level: Level::Error, message } if message.contains("delete it")),
        "{event:?}"
    );
    assert_eq!(backend.next().await, Event::Settings(Settings::default()));
    backend.shut_down().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dropping_every_handle_ends_the_backend() {
    let backend = Backend::new(None, |_| {});
    let Backend {
        handle, mut events, ..
    } = backend;
    drop(handle);
    let closed = tokio::time::timeout(WAIT, events.recv()).await;
    assert!(matches!(closed, Ok(None)), "{closed:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_gallery_view_is_remembered_across_restarts() {
    let mut backend = Backend::new(None, |options| {
        options.env_base_url = Some("http://127.0.0.1:9".to_owned());
    });
    let path = backend.dir.path().join("config").join("settings.json");
    backend.send(Command::Start);
    backend
        .until("the settings", |e| matches!(e, Event::Settings(_)))
        .await;
    let view = ViewSpec {
        folder_id: Some("f-1".to_owned()),
        search: "sun".to_owned(),
        kind: runflow_uploader::library::KindFilter::Image,
        sort: runflow_uploader::library::SortOrder::Size,
    };
    backend.send(Command::SaveView(view.clone()));
    // Written in the background: wait for the file.
    let deadline = std::time::Instant::now() + WAIT;
    while Settings::load_from(&path).ok().map(|s| s.library_view) != Some(view.clone()) {
        assert!(
            std::time::Instant::now() < deadline,
            "the view was not saved"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // Saving the settings dialog (whose copy knows no view) keeps it.
    backend.send(Command::SaveSettings(Settings {
        concurrency: Some(2),
        ..Settings::default()
    }));
    backend
        .until("the saved settings", |e| matches!(e, Event::Settings(_)))
        .await;
    let saved = Settings::load_from(&path).unwrap();
    assert_eq!((saved.concurrency, saved.library_view), (Some(2), view));
    backend.shut_down().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_demo_started_again_knows_what_it_uploaded_before() {
    let mut backend = Backend::new(None, |options| options.demo = true);
    backend.send(Command::Start);
    backend
        .until("Connected", |e| matches!(e, Event::Connected(_)))
        .await;
    let first = backend.paste_grey().await;
    assert!(matches!(first, FileState::Done(_)), "{first:?}");
    let dir = backend.shut_down_keeping_dir().await;

    // The demo's server starts on another port; the same paste is still recognised.
    let mut backend = Backend::in_dir(dir, None, |options| options.demo = true);
    backend.send(Command::Start);
    backend
        .until("Connected", |e| matches!(e, Event::Connected(_)))
        .await;
    let again = backend.paste_grey().await;
    assert!(
        matches!(again, FileState::AlreadyUploaded { .. }),
        "the second start uploaded it again: {again:?}"
    );
    backend.shut_down().await;
}
