//! The History tab's work: searching the upload history and exporting rows of it, off the
//! window's thread (the database is read in a blocking task, the save dialog is rfd's).

use std::path::PathBuf;

use super::pick::{NO_FILE_CHOOSER, file_chooser_available};
use super::protocol::{Event, Level};
use super::sink::Sink;
use crate::history::{self, Format, History, Query, Upload};

/// Answers [`Event::History`] with the uploads recorded in `data_dir` that `query` matches.
pub(super) async fn load(data_dir: PathBuf, query: Query, generation: u64, sink: Sink) {
    let found = tokio::task::spawn_blocking(move || {
        History::open(&data_dir)
            .and_then(|history| history.search(&query))
            .map_err(|err| {
                format!(
                    "The upload history in {} could not be read ({err}). Check the app's data \
                     folder.",
                    data_dir.display()
                )
            })
    })
    .await
    .unwrap_or_else(|err| Err(format!("Reading the upload history failed ({err}).")));
    sink.emit(Event::History {
        generation,
        result: found,
    });
}

/// Answers [`Event::Origin`] with the upload `asset_id` came from, as `data_dir`'s history
/// recorded it.
pub(super) async fn origin(data_dir: PathBuf, asset_id: String, sink: Sink) {
    let id = asset_id.clone();
    let upload = tokio::task::spawn_blocking(move || {
        History::open(&data_dir).and_then(|history| history.by_asset(&id))
    })
    .await
    .map_err(|err| err.to_string())
    .and_then(|found| found.map_err(|err| err.to_string()))
    .unwrap_or_else(|err| {
        // The panel then simply shows no origin; the History tab says what is wrong.
        tracing::warn!(%err, "could not look an asset up in the upload history");
        None
    });
    sink.emit(Event::Origin { asset_id, upload });
}

/// Asks where to save `uploads` as `format`, and writes them there.
pub(super) async fn export(uploads: Vec<Upload>, format: Format, sink: Sink) {
    if !file_chooser_available().await {
        sink.notice(Level::Error, NO_FILE_CHOOSER);
        return;
    }
    let today = time::OffsetDateTime::now_utc().date();
    let Some(file) = rfd::AsyncFileDialog::new()
        .set_title("Export the upload history")
        .set_file_name(format!("runflow-uploads-{today}.{}", format.extension()))
        .add_filter(format.extension().to_uppercase(), &[format.extension()])
        .save_file()
        .await
    else {
        return;
    };
    let path = file.path().to_path_buf();
    let count = uploads.len();
    let written = tokio::task::spawn_blocking({
        let path = path.clone();
        move || {
            let mut bytes = Vec::new();
            history::export(&uploads, format, &mut bytes)?;
            crate::atomic::write(&path, &bytes, true)
        }
    })
    .await
    .unwrap_or_else(|err| Err(std::io::Error::other(err)));
    match written {
        Ok(()) => sink.notice(
            Level::Success,
            format!(
                "Exported {} to {}.",
                crate::upload::files(count).replace("file", "upload"),
                path.display()
            ),
        ),
        Err(err) => sink.notice(
            Level::Error,
            format!(
                "The history was not exported to {} ({err}). Choose a folder you can write to.",
                path.display()
            ),
        ),
    }
}
