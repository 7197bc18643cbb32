//! The key store against the real OS keyring (Secret Service, Keychain, Credential Manager),
//! called from a multi-thread tokio runtime the way the app calls it.
//!
//! Without a reachable OS keyring the tests run against the in-memory store and say so, unless
//! `RUNFLOW_REQUIRE_REAL_KEYRING=1` is set: then they fail, which is how CI proves the real
//! backend was exercised (`.ci/run` starts a private D-Bus session with an unlocked
//! gnome-keyring). Every test uses its own random account, so a user's real key is never touched.

use runflow_uploader::api::ApiKey;
use runflow_uploader::auth::{BackendChoice, BackendKind, KeyStore, KeyStoreError, SERVICE};

const REQUIRE_ENV: &str = "RUNFLOW_REQUIRE_REAL_KEYRING";

fn real_keyring_required() -> bool {
    std::env::var(REQUIRE_ENV).is_ok_and(|v| v.trim() == "1")
}

fn unique_account(test: &str) -> String {
    format!("test-{test}-{}", uuid::Uuid::new_v4().simple())
}

/// Opens the `auto` store and checks it is the OS keyring when one is required.
#[expect(
    clippy::print_stderr,
    reason = "the test log says which backend was exercised"
)]
async fn open_store(account: &str) -> KeyStore {
    let store = KeyStore::open_with(BackendChoice::Auto, account)
        .await
        .expect("auto never fails to open");
    if store.kind() == BackendKind::Os {
        eprintln!("using the OS keyring: {}", store.backend_name());
    } else {
        let reason = store.fallback_reason().unwrap_or("unknown");
        assert!(
            !real_keyring_required(),
            "{REQUIRE_ENV}=1 but the OS keyring is not reachable ({reason}); start a Secret \
             Service (see .ci/run)"
        );
        eprintln!("no OS keyring ({reason}); testing the in-memory store instead");
    }
    store
}

/// Deletes the test entry even when an assertion fails halfway.
struct Cleanup(KeyStore);

impl Drop for Cleanup {
    fn drop(&mut self) {
        let store = self.0.clone();
        tokio::task::block_in_place(|| {
            let _ = tokio::runtime::Handle::current().block_on(store.delete());
        });
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn save_load_delete_round_trip() {
    let account = unique_account("round-trip");
    let store = open_store(&account).await;
    let _cleanup = Cleanup(store.clone());
    assert_eq!(store.account(), account);

    assert_eq!(
        store.load().await.unwrap(),
        None,
        "a fresh account is empty"
    );
    let key = ApiKey::new("rf_test_keyring_round_trip_1").unwrap();
    store.save(&key).await.unwrap();
    assert_eq!(store.load().await.unwrap(), Some(key));

    // Saving again replaces the key rather than adding a second (ambiguous) item.
    let rotated = ApiKey::new("rf_test_keyring_round_trip_2").unwrap();
    store.save(&rotated).await.unwrap();
    assert_eq!(store.load().await.unwrap(), Some(rotated.clone()));

    // A store opened afresh (as the next run of the app would) finds the key.
    let reopened = KeyStore::open_with(BackendChoice::Auto, account.clone())
        .await
        .unwrap();
    assert_eq!(reopened.kind(), store.kind());
    assert_eq!(reopened.load().await.unwrap(), Some(rotated));

    assert!(store.delete().await.unwrap(), "the key was there");
    assert_eq!(store.load().await.unwrap(), None);
    assert!(
        !store.delete().await.unwrap(),
        "deleting a missing key is fine"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn parallel_calls_from_many_tasks_work() {
    let account = unique_account("parallel");
    let store = open_store(&account).await;
    let _cleanup = Cleanup(store.clone());
    let key = ApiKey::new("rf_test_keyring_parallel").unwrap();
    store.save(&key).await.unwrap();

    let loads: Vec<_> = (0..8)
        .map(|_| {
            let store = store.clone();
            tokio::spawn(async move { store.load().await })
        })
        .collect();
    for load in loads {
        assert_eq!(load.await.unwrap().unwrap(), Some(key.clone()));
    }
    store.delete().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn requiring_the_os_keyring_fails_clearly_or_gives_it() {
    let account = unique_account("os");
    match KeyStore::open_with(BackendChoice::Os, account).await {
        Ok(store) => {
            assert_eq!(store.kind(), BackendKind::Os);
            assert!(store.is_persistent());
            assert!(!store.backend_name().contains("in-memory"));
        }
        Err(err) => {
            assert!(
                !real_keyring_required(),
                "{REQUIRE_ENV}=1 but the OS keyring is not reachable: {err}"
            );
            assert!(matches!(err, KeyStoreError::Unavailable { .. }), "{err:?}");
            let text = err.to_string();
            assert!(text.contains("RUNFLOW_API_KEY"), "{text}");
            eprintln!("no OS keyring: {text}");
        }
    }
}

/// A key saved by an earlier release (keyring 3 wrote `target=default` and
/// `application=rust-keyring` besides the service and user) is found, and what this release
/// saves is the entry other Secret Service tools see under the app's name.
#[cfg(target_os = "linux")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_key_saved_by_an_earlier_release_is_found_and_ours_is_visible_to_secret_tool() {
    use std::io::Write as _;
    use std::process::{Command, Stdio};

    let account = unique_account("earlier-release");
    let store = open_store(&account).await;
    if store.kind() != BackendKind::Os {
        return; // open_store has failed already when the real keyring is required.
    }
    let _cleanup = Cleanup(store.clone());
    let attributes = [
        "service",
        SERVICE,
        "username",
        &account,
        "target",
        "default",
        "application",
        "rust-keyring",
    ];
    let mut stored = Command::new("secret-tool")
        .args(["store", "--label=Runflow Uploader (earlier release)"])
        .args(attributes)
        .stdin(Stdio::piped())
        .spawn()
        .expect("secret-tool (libsecret-tools, installed by .ci/run)");
    stored
        .stdin
        .take()
        .unwrap()
        .write_all(b"rf_test_keyring_earlier_release")
        .unwrap();
    assert!(stored.wait().unwrap().success());
    assert_eq!(
        store.load().await.unwrap(),
        Some(ApiKey::new("rf_test_keyring_earlier_release").unwrap())
    );

    let rotated = ApiKey::new("rf_test_keyring_this_release").unwrap();
    store.save(&rotated).await.unwrap();
    let looked_up = Command::new("secret-tool")
        .args(["lookup", "service", SERVICE, "username", &account])
        .output()
        .unwrap();
    assert!(looked_up.status.success(), "{looked_up:?}");
    assert_eq!(looked_up.stdout, b"rf_test_keyring_this_release");
    // The earlier item was replaced, not joined by a second one (which would be ambiguous).
    assert_eq!(store.load().await.unwrap(), Some(rotated));
}
