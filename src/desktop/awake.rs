//! Keeps the computer from sleeping while files upload, through `keepawake`: logind's `idle` and
//! `sleep` inhibitors on Linux (the system bus), a power assertion on macOS,
//! `SetThreadExecutionState` on Windows. Held while the queue has files to send and is not
//! paused, and the setting is on; released as soon as one of them stops being true.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc;

/// What the inhibitor says about itself (logind lists it, e.g. `systemd-inhibit --list`).
const WHO: &str = "Runflow Uploader";
const WHY: &str = "Uploading files";
const APP_ID: &str = "io.runflow.Uploader";

/// The inhibitor's owner. The lock lives on a thread of its own: Windows ties it to the thread
/// that took it, and taking it on Linux is a blocking D-Bus call.
#[derive(Debug)]
pub(super) struct Awake {
    enabled: AtomicBool,
    busy: AtomicBool,
    wanted: mpsc::Sender<bool>,
}

impl Awake {
    /// Starts the lock's thread; nothing is held until the queue is busy.
    pub(super) fn spawn() -> Self {
        let (wanted, wishes) = mpsc::channel();
        let spawned = std::thread::Builder::new()
            .name("keep-awake".into())
            .spawn(move || hold_while_wanted(&wishes));
        if let Err(err) = spawned {
            tracing::warn!(%err, "no keep-awake thread: the computer may sleep during uploads");
        }
        Self {
            enabled: AtomicBool::new(true),
            busy: AtomicBool::new(false),
            wanted,
        }
    }

    /// The setting: off releases the lock at once.
    pub(super) fn set_enabled(&self, enabled: bool) {
        self.enabled.store(enabled, Ordering::Relaxed);
        self.update();
    }

    /// Whether the queue has files to send and is not paused.
    pub(super) fn set_busy(&self, busy: bool) {
        if self.busy.swap(busy, Ordering::Relaxed) != busy {
            self.update();
        }
    }

    fn update(&self) {
        let wanted = self.enabled.load(Ordering::Relaxed) && self.busy.load(Ordering::Relaxed);
        // The thread is gone only if it could not start: there is nothing to tell.
        let _ = self.wanted.send(wanted);
    }
}

/// Takes the lock when wanted and drops it when not, until the [`Awake`] is dropped.
fn hold_while_wanted(wishes: &mpsc::Receiver<bool>) {
    let mut held = None;
    let mut warned = false;
    for wanted in wishes {
        if wanted == held.is_some() {
            continue;
        }
        if !wanted {
            held = None;
            tracing::debug!("keep-awake released");
            continue;
        }
        match keepawake::Builder::default()
            .idle(true)
            .sleep(true)
            .reason(WHY)
            .app_name(WHO)
            .app_reverse_domain(APP_ID)
            .create()
        {
            Ok(lock) => {
                tracing::debug!("keep-awake held");
                held = Some(lock);
            }
            // No logind (a container, a BSD) or no permission: uploads go on, once said.
            Err(err) if !warned => {
                warned = true;
                tracing::warn!(%err, "could not keep the computer awake during uploads");
            }
            Err(_) => {}
        }
    }
}

#[cfg(all(test, target_os = "linux"))]
mod tests {
    use std::time::{Duration, Instant};

    use super::*;
    use crate::desktop::test_bus::{self, TestBus};

    /// Each inhibitor logind's mock holds: (what, who, why, mode, uid, pid).
    type Inhibitors = Vec<(String, String, String, String, u32, u32)>;

    async fn inhibitors(connection: &zbus::Connection) -> Inhibitors {
        connection
            .call_method(
                Some("org.freedesktop.login1"),
                "/org/freedesktop/login1",
                Some("org.freedesktop.login1.Manager"),
                "ListInhibitors",
                &(),
            )
            .await
            .expect("ListInhibitors")
            .body()
            .deserialize()
            .expect("a(ssssuu)")
    }

    async fn wait_for(connection: &zbus::Connection, held: usize) -> Inhibitors {
        let deadline = Instant::now() + Duration::from_secs(5);
        loop {
            let now = inhibitors(connection).await;
            if now.len() == held || Instant::now() > deadline {
                return now;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Against python3-dbusmock's logind on a private bus, in a child process whose system bus
    /// it is (`keepawake` connects to the system bus named by the environment).
    #[test]
    fn logind_holds_idle_and_sleep_while_busy_and_lets_go_when_drained_or_turned_off() {
        if !test_bus::in_rerun() {
            let bus = TestBus::start();
            let _logind = bus.mock("logind", "org.freedesktop.login1", "{}");
            bus.rerun(test_bus::test_name(
                module_path!(),
                "logind_holds_idle_and_sleep_while_busy_and_lets_go_when_drained_or_turned_off",
            ));
            return;
        }
        tokio::runtime::Runtime::new().unwrap().block_on(async {
            let system = zbus::Connection::system().await.expect("the private bus");
            let awake = Awake::spawn();
            assert!(inhibitors(&system).await.is_empty());

            awake.set_busy(true);
            let mut held = wait_for(&system, 2).await;
            held.sort();
            let held: Vec<_> = held
                .iter()
                .map(|(what, who, why, mode, ..)| {
                    (what.as_str(), who.as_str(), why.as_str(), mode.as_str())
                })
                .collect();
            assert_eq!(
                held,
                [("idle", WHO, WHY, "block"), ("sleep", WHO, WHY, "block")]
            );

            // Drained (or paused): both go.
            awake.set_busy(false);
            assert!(wait_for(&system, 0).await.is_empty());

            // Busy again, then the setting turned off.
            awake.set_busy(true);
            assert_eq!(wait_for(&system, 2).await.len(), 2);
            awake.set_enabled(false);
            assert!(wait_for(&system, 0).await.is_empty());

            // Off: a busy queue takes nothing.
            awake.set_busy(false);
            awake.set_busy(true);
            tokio::time::sleep(Duration::from_millis(300)).await;
            assert!(inhibitors(&system).await.is_empty());
        });
    }
}
