//! The system's file dialogs (rfd), opened by the backend so the window's thread never waits on
//! one: what is picked goes to the upload engine.

use std::path::PathBuf;

use super::engine_host::deliver;
use super::sink::Sink;
use crate::desktop::{Event, Level};
use crate::upload::{self, EngineHandle};

/// What the window says when the system has no file chooser (rfd then returns as if cancelled).
pub const NO_FILE_CHOOSER: &str = "No file chooser is available on this system: drag files onto \
    the window or paste their paths (Ctrl+V), or install xdg-desktop-portal-gtk (or zenity).";

/// Asks for files (or folders) to upload into `folder_id`, and queues them on `engine`.
pub(super) async fn pick_and_upload(
    engine: EngineHandle,
    sink: Sink,
    folders: bool,
    folder_id: Option<String>,
) {
    if !file_chooser_available().await {
        sink.notice(Level::Error, NO_FILE_CHOOSER);
        return;
    }
    let dialog = rfd::AsyncFileDialog::new().set_title(if folders {
        "Add a folder to upload"
    } else {
        "Add files to upload"
    });
    let picked = if folders {
        dialog.pick_folders().await
    } else {
        dialog.pick_files().await
    };
    let paths: Vec<PathBuf> = picked
        .unwrap_or_default()
        .iter()
        .map(|handle| handle.path().to_path_buf())
        .collect();
    if !paths.is_empty() {
        deliver(
            &engine,
            &sink,
            upload::Command::Add {
                paths,
                folder_id,
                force: false,
            },
        );
    }
}

/// Asks for a folder to watch; the window then adds it ([`Event::WatchFolderPicked`]).
pub(super) async fn pick_watch_folder(sink: Sink, folder_id: Option<String>) {
    if !file_chooser_available().await {
        sink.notice(Level::Error, NO_FILE_CHOOSER);
        return;
    }
    let picked = rfd::AsyncFileDialog::new()
        .set_title("Watch a folder")
        .pick_folder()
        .await;
    if let Some(handle) = picked {
        sink.emit(Event::WatchFolderPicked {
            dir: handle.path().to_path_buf(),
            folder_id,
        });
    }
}

/// Whether a file chooser can answer: on Linux, rfd asks xdg-desktop-portal over the session bus
/// and falls back to zenity; without either it returns as if the user had cancelled.
#[cfg(target_os = "linux")]
pub(super) async fn file_chooser_available() -> bool {
    let path = std::env::var_os("PATH");
    let bus = std::env::var("DBUS_SESSION_BUS_ADDRESS").ok();
    zenity_on_path(path.as_deref()) || portal_on_bus(bus.as_deref()).await
}

#[cfg(not(target_os = "linux"))]
pub(super) async fn file_chooser_available() -> bool {
    true
}

#[cfg(target_os = "linux")]
fn zenity_on_path(path: Option<&std::ffi::OsStr>) -> bool {
    path.is_some_and(|path| std::env::split_paths(path).any(|dir| dir.join("zenity").is_file()))
}

/// Whether `org.freedesktop.portal.Desktop` runs, or can be started, on the session bus at
/// `address` (none: no session bus).
#[cfg(target_os = "linux")]
async fn portal_on_bus(address: Option<&str>) -> bool {
    const PORTAL: &str = "org.freedesktop.portal.Desktop";
    let Some(address) = address else {
        return false;
    };
    let ask = async {
        let connection = zbus::connection::Builder::address(address)?.build().await?;
        let bus = zbus::fdo::DBusProxy::new(&connection).await?;
        let name = zbus::names::BusName::try_from(PORTAL)?;
        if bus.name_has_owner(name).await? {
            return Ok::<_, zbus::Error>(true);
        }
        let activatable = bus.list_activatable_names().await?;
        Ok(activatable.iter().any(|n| n.as_str() == PORTAL))
    };
    match tokio::time::timeout(std::time::Duration::from_secs(2), ask).await {
        Ok(Ok(found)) => found,
        Ok(Err(err)) => {
            tracing::info!(%err, "the session bus could not say whether a file chooser runs");
            false
        }
        Err(_) => false,
    }
}

#[cfg(all(test, target_os = "linux"))]
mod tests {
    use super::*;

    #[test]
    fn zenity_is_found_on_the_path_only_where_it_is() {
        let dir = tempfile::tempdir().unwrap();
        let joined = std::env::join_paths([dir.path()]).unwrap();
        assert!(!zenity_on_path(Some(&joined)));
        std::fs::write(dir.path().join("zenity"), "").unwrap();
        assert!(zenity_on_path(Some(&joined)));
        assert!(!zenity_on_path(None));
    }

    #[tokio::test]
    async fn a_file_chooser_is_there_only_where_the_portal_is_on_the_bus() {
        assert!(!portal_on_bus(None).await);
        assert!(!portal_on_bus(Some("unix:path=/nonexistent/bus")).await);
        // A real bus of its own, on which nothing provides the portal.
        let bus = crate::desktop::test_bus::TestBus::start();
        let address = bus.address.clone();
        let before = portal_on_bus(Some(&address)).await;
        // Something takes the portal's name: now there is a file chooser to ask.
        let portal = zbus::connection::Builder::address(address.as_str())
            .unwrap()
            .name("org.freedesktop.portal.Desktop")
            .unwrap()
            .build()
            .await;
        let after = portal_on_bus(Some(&address)).await;
        drop(portal);
        drop(bus);
        assert!(!before, "no portal on a fresh bus");
        assert!(after, "the portal's name is owned");
    }
}
