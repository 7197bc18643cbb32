//! The desktop notification at a batch's end, through `notify-rust`: the
//! `org.freedesktop.Notifications` service on Linux, Notification Center on macOS, toasts on
//! Windows. Each is shown from a thread of its own, which on Linux also waits for a click when
//! the service supports actions; a newer batch's notification replaces the last one.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};

/// The app's desktop entry and icon name (`dist/io.runflow.Uploader.desktop`).
const APP_ID: &str = "io.runflow.Uploader";
const APP_NAME: &str = "Runflow Uploader";

/// Shows the notifications.
#[derive(Debug, Default)]
pub(super) struct Notifier {
    /// The id of the last notification shown (Linux), replaced by the next one; 0 for none.
    last: Arc<AtomicU32>,
    /// Whether a failure to show one was logged already.
    warned: Arc<AtomicBool>,
}

impl Notifier {
    /// Shows `summary` and `body`; `on_click` runs if the user clicks the notification.
    pub(super) fn show(
        &self,
        summary: String,
        body: String,
        on_click: impl FnOnce() + Send + 'static,
    ) {
        let (last, warned) = (self.last.clone(), self.warned.clone());
        let spawned = std::thread::Builder::new()
            .name("notification".into())
            .spawn(move || {
                if let Err(err) = show(&last, &summary, &body, on_click)
                    && !warned.swap(true, Ordering::Relaxed)
                {
                    tracing::info!(%err, "no desktop notification could be shown");
                }
            });
        if let Err(err) = spawned {
            tracing::warn!(%err, "no thread for the desktop notification");
        }
    }
}

#[cfg(all(unix, not(target_os = "macos")))]
fn show(
    last: &AtomicU32,
    summary: &str,
    body: &str,
    on_click: impl FnOnce(),
) -> notify_rust::error::Result<()> {
    let clickable = notify_rust::get_capabilities()?
        .iter()
        .any(|capability| capability == "actions");
    let mut notification = notify_rust::Notification::new();
    notification
        .appname(APP_NAME)
        .summary(summary)
        .body(body)
        .icon(APP_ID)
        .hint(notify_rust::Hint::DesktopEntry(APP_ID.to_owned()));
    if clickable {
        // "default" is the click on the notification itself.
        notification.action("default", "Show");
    }
    match last.load(Ordering::Relaxed) {
        0 => {}
        previous => {
            notification.id(previous);
        }
    }
    let handle = notification.show()?;
    last.store(handle.id(), Ordering::Relaxed);
    if clickable {
        // Returns when the notification is clicked, dismissed or replaced.
        handle.wait_for_action(|action| {
            if action == "default" {
                on_click();
            }
        });
    }
    Ok(())
}

#[cfg(any(target_os = "macos", windows))]
fn show(
    _last: &AtomicU32,
    summary: &str,
    body: &str,
    _on_click: impl FnOnce(),
) -> notify_rust::error::Result<()> {
    notify_rust::Notification::new()
        .appname(APP_NAME)
        .summary(summary)
        .body(body)
        .show()
        .map(drop)
}

#[cfg(all(test, target_os = "linux"))]
mod tests {
    use std::sync::mpsc;
    use std::time::Duration;

    use zbus::zvariant::OwnedValue;

    use super::*;
    use crate::desktop::test_bus::{self, TestBus};

    /// The `Notify` calls python3-dbusmock's notification daemon received: each one's
    /// (replaces id, summary, body, actions, app name).
    async fn notify_calls(
        session: &zbus::Connection,
    ) -> Vec<(u32, String, String, Vec<String>, String)> {
        let calls: Vec<(u64, String, Vec<OwnedValue>)> = session
            .call_method(
                Some("org.freedesktop.Notifications"),
                "/org/freedesktop/Notifications",
                Some("org.freedesktop.DBus.Mock"),
                "GetCalls",
                &(),
            )
            .await
            .expect("the mock's GetCalls")
            .body()
            .deserialize()
            .expect("a(tsav)");
        calls
            .into_iter()
            .filter(|(_, method, _)| method == "Notify")
            .map(|(_, _, args)| {
                let text = |i: usize| {
                    String::try_from(args[i].try_clone().expect("a string argument"))
                        .expect("a string argument")
                };
                let actions = args[5].try_clone().expect("the actions");
                (
                    u32::try_from(&args[1]).expect("the replaced id"),
                    text(3),
                    text(4),
                    Vec::<String>::try_from(actions).expect("the actions"),
                    text(0),
                )
            })
            .collect()
    }

    async fn wait_for_calls(
        session: &zbus::Connection,
        n: usize,
    ) -> Vec<(u32, String, String, Vec<String>, String)> {
        for _ in 0..250 {
            let calls = notify_calls(session).await;
            if calls.len() >= n {
                return calls;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        panic!("the notification daemon got fewer than {n} notifications");
    }

    /// Clicks notification `id`, as the daemon does: its `ActionInvoked` signal.
    async fn click(session: &zbus::Connection, id: u32) {
        let args: Vec<zbus::zvariant::Value<'_>> = vec![id.into(), "default".into()];
        session
            .call_method(
                Some("org.freedesktop.Notifications"),
                "/org/freedesktop/Notifications",
                Some("org.freedesktop.DBus.Mock"),
                "EmitSignal",
                &("org.freedesktop.Notifications", "ActionInvoked", "us", args),
            )
            .await
            .expect("the mock's EmitSignal");
    }

    /// Against python3-dbusmock's notification daemon (with actions), in a child process whose
    /// session bus it is (`notify-rust` connects to the session bus named by the environment).
    #[test]
    fn a_batch_end_is_notified_replaces_the_last_one_and_a_click_raises_the_window() {
        if !test_bus::in_rerun() {
            let bus = TestBus::start();
            let _daemon = bus.mock(
                "notification_daemon",
                "org.freedesktop.Notifications",
                r#"{"capabilities": "body actions"}"#,
            );
            bus.rerun(test_bus::test_name(
                module_path!(),
                "a_batch_end_is_notified_replaces_the_last_one_and_a_click_raises_the_window",
            ));
            return;
        }
        tokio::runtime::Runtime::new().unwrap().block_on(async {
            let session = zbus::Connection::session().await.expect("the private bus");
            let notifier = Notifier::default();
            let (clicked, clicks) = mpsc::channel();
            let first = clicked.clone();
            notifier.show("Uploads finished".into(), "48 uploaded".into(), move || {
                first.send(1).unwrap()
            });
            let calls = wait_for_calls(&session, 1).await;
            assert_eq!(
                calls[0],
                (
                    0,
                    "Uploads finished".into(),
                    "48 uploaded".into(),
                    vec!["default".into(), "Show".into()],
                    APP_NAME.into()
                )
            );
            // The mock numbers notifications from 1. The click is sent until the notifier
            // listens for it.
            let mut heard = None;
            for _ in 0..250 {
                click(&session, 1).await;
                if let Ok(n) = clicks.recv_timeout(Duration::from_millis(20)) {
                    heard = Some(n);
                    break;
                }
            }
            assert_eq!(
                heard,
                Some(1),
                "the click on the notification ran its action"
            );

            // The next batch's notification takes the place of the last one.
            notifier.show(
                "Uploads finished with errors".into(),
                "2 uploaded, 1 failed".into(),
                move || clicked.send(2).unwrap(),
            );
            let calls = wait_for_calls(&session, 2).await;
            assert_eq!(calls[1].0, 1, "replaces the first notification");
            assert_eq!(calls[1].2, "2 uploaded, 1 failed");
        });
    }
}
