//! The system's file dialogs (rfd), opened by the backend so the window's thread never waits on
//! one: what is picked goes to the upload engine.

use std::path::PathBuf;

use super::engine_host::deliver;
use super::sink::Sink;
use crate::upload::{self, EngineHandle};

/// Asks for files (or folders) to upload into `folder_id`, and queues them on `engine`.
pub(super) async fn pick_and_upload(
    engine: EngineHandle,
    sink: Sink,
    folders: bool,
    folder_id: Option<String>,
) {
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
