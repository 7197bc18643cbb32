//! The batch on the dock or taskbar icon: the files left as a count and the bytes sent as a
//! bar, through `com.canonical.Unity.LauncherEntry`, the signal KDE Plasma, Dash to Dock, Plank
//! and Unity read. A broadcast on the session bus: nothing answers it, and without a bus (or
//! on a desktop that does not listen) it does nothing.

use std::collections::HashMap;

use tokio::sync::watch;
use zbus::zvariant::Value;

use crate::upload::BatchProgress;

/// The desktop file the icon belongs to (`dist/io.runflow.Uploader.desktop`).
pub(crate) const APP_URI: &str = "application://io.runflow.Uploader.desktop";
const PATH: &str = "/io/runflow/Uploader/launcher";
const INTERFACE: &str = "com.canonical.Unity.LauncherEntry";

/// What the icon shows: nothing while no file is left.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) struct Badge {
    /// Files queued or uploading.
    pub left: usize,
    /// Bytes sent of the batch's bytes, in whole percent, once it has any.
    pub percent: Option<u8>,
}

impl Badge {
    /// The badge of `batch`.
    pub(crate) fn of(batch: &BatchProgress) -> Self {
        let left = batch.active_files + batch.queued_files;
        if left == 0 {
            return Self::default();
        }
        let percent = (batch.total_bytes > 0).then(|| {
            let sent = batch.sent_bytes.min(batch.total_bytes);
            u8::try_from(sent * 100 / batch.total_bytes).unwrap_or(100)
        });
        Self { left, percent }
    }

    /// The signal's properties.
    fn properties(self) -> HashMap<&'static str, Value<'static>> {
        let count = i64::try_from(self.left).unwrap_or(i64::MAX);
        let progress = f64::from(self.percent.unwrap_or(0)) / 100.0;
        HashMap::from([
            ("count", Value::from(count)),
            ("count-visible", Value::from(self.left > 0)),
            ("progress", Value::from(progress)),
            ("progress-visible", Value::from(self.percent.is_some())),
        ])
    }
}

/// Sends the icon each new badge, from a task of its own, so the backend never waits on the
/// bus.
#[derive(Debug)]
pub(super) struct Launcher {
    badge: watch::Sender<Badge>,
}

impl Launcher {
    /// Starts the sender on `runtime`, on the session bus, or the bus at `address`.
    pub(super) fn spawn(runtime: &tokio::runtime::Handle, address: Option<String>) -> Self {
        let (badge, badges) = watch::channel(Badge::default());
        runtime.spawn(send_badges(address, badges));
        Self { badge }
    }

    /// Shows `badge` (sent only when it differs from the last one).
    pub(super) fn show(&self, badge: Badge) {
        self.badge.send_if_modified(|shown| {
            let changed = *shown != badge;
            *shown = badge;
            changed
        });
    }
}

async fn send_badges(address: Option<String>, mut badges: watch::Receiver<Badge>) {
    let builder = match &address {
        Some(address) => zbus::connection::Builder::address(address.as_str()),
        None => zbus::connection::Builder::session(),
    };
    let connection = match builder {
        Ok(builder) => builder.build().await,
        Err(err) => Err(err),
    };
    let connection = match connection {
        Ok(connection) => connection,
        Err(err) => {
            tracing::info!(%err, "no session bus: the dock icon shows no upload progress");
            return;
        }
    };
    while badges.changed().await.is_ok() {
        let badge = *badges.borrow_and_update();
        let sent = connection
            .emit_signal(
                None::<zbus::names::BusName<'_>>,
                PATH,
                INTERFACE,
                "Update",
                &(APP_URI, badge.properties()),
            )
            .await;
        if let Err(err) = sent {
            tracing::debug!(%err, "the dock icon's progress was not sent");
        }
    }
}

#[cfg(all(test, target_os = "linux"))]
mod tests {
    use futures_util::StreamExt as _;

    use super::*;
    use crate::desktop::test_bus::TestBus;

    fn batch(active: usize, queued: usize, sent: u64, total: u64) -> BatchProgress {
        BatchProgress {
            active_files: active,
            queued_files: queued,
            sent_bytes: sent,
            total_bytes: total,
            ..BatchProgress::default()
        }
    }

    #[test]
    fn the_badge_counts_files_left_and_bytes_sent() {
        assert_eq!(Badge::of(&batch(0, 0, 10, 10)), Badge::default());
        assert_eq!(
            Badge::of(&batch(2, 46, 1_000, 4_000)),
            Badge {
                left: 48,
                percent: Some(25)
            }
        );
        assert_eq!(Badge::of(&batch(1, 0, 0, 0)).percent, None);
        assert_eq!(Badge::of(&batch(1, 0, 9, 8)).percent, Some(100));
    }

    #[tokio::test]
    async fn the_dock_hears_each_new_badge_once_and_the_end() {
        let bus = TestBus::start();
        let listener = zbus::connection::Builder::address(bus.address.as_str())
            .unwrap()
            .build()
            .await
            .unwrap();
        let rule = zbus::MatchRule::builder()
            .msg_type(zbus::message::Type::Signal)
            .interface(INTERFACE)
            .unwrap()
            .member("Update")
            .unwrap()
            .build();
        let mut heard = zbus::MessageStream::for_match_rule(rule, &listener, None)
            .await
            .unwrap();
        let launcher = Launcher::spawn(
            &tokio::runtime::Handle::current(),
            Some(bus.address.clone()),
        );
        let busy = Badge {
            left: 3,
            percent: Some(40),
        };
        launcher.show(busy);
        let next = async |heard: &mut zbus::MessageStream| {
            let message = tokio::time::timeout(std::time::Duration::from_secs(5), heard.next())
                .await
                .expect("a LauncherEntry signal")
                .unwrap()
                .unwrap();
            let (uri, props): (String, HashMap<String, zbus::zvariant::OwnedValue>) =
                message.body().deserialize().unwrap();
            assert_eq!(uri, APP_URI);
            (
                i64::try_from(&props["count"]).unwrap(),
                bool::try_from(&props["count-visible"]).unwrap(),
                f64::try_from(&props["progress"]).unwrap(),
                bool::try_from(&props["progress-visible"]).unwrap(),
            )
        };
        assert_eq!(next(&mut heard).await, (3, true, 0.4, true));
        // The same badge again sends nothing; the drained queue hides both.
        launcher.show(busy);
        launcher.show(Badge::default());
        assert_eq!(next(&mut heard).await, (0, false, 0.0, false));
    }
}
