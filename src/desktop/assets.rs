//! The gallery's requests: pages of a view, deleting and moving assets (a few at a time, one
//! event per asset as each finishes), and reading an asset again for fresh signed URLs.

use futures_util::StreamExt as _;

use super::protocol::{AssetPage, AssetPurpose, Event};
use super::sink::Sink;
use crate::api::models::PatchRequest;
use crate::api::{ApiError, RunflowClient};
use crate::library::ViewSpec;
use crate::library::thumbs::ThumbLoader;

/// Deletes or moves running at once: enough to be quick, few enough to stay clear of rate
/// limits (a 429 still pauses all of them through the client's shared throttle).
const BULK_CONCURRENCY: usize = 4;

/// [`Event::AssetsPage`] for a page of `view`.
pub(super) async fn page(
    client: RunflowClient,
    view: ViewSpec,
    cursor: Option<String>,
    limit: u32,
    generation: u64,
) -> Event {
    let first = view.query(limit);
    let query = match &cursor {
        Some(cursor) => first.at_cursor(cursor),
        None => first,
    };
    let result = client
        .list_assets(&query)
        .await
        .map(|page| AssetPage {
            next: page.next_cursor().map(str::to_owned),
            items: page.items,
        })
        .map_err(|err| match err {
            // A cursor the server no longer accepts: starting over is the fix.
            ApiError::Validation { .. } if cursor.is_some() => {
                format!("{err} Refresh (F5) to load the list again from the start.")
            }
            other => other.to_string(),
        });
    Event::AssetsPage { generation, result }
}

/// Deletes `ids`, emitting [`Event::AssetDeleted`] as each finishes; the cached thumbnails of
/// those deleted go too.
pub(super) async fn delete_many(
    client: RunflowClient,
    sink: Sink,
    thumbs: Option<ThumbLoader>,
    ids: Vec<String>,
) {
    let mut results = futures_util::stream::iter(ids)
        .map(|id| {
            let client = client.clone();
            async move {
                let result = match client.delete_asset(&id).await {
                    // Already gone (deleted elsewhere): what the user wanted.
                    Ok(()) | Err(ApiError::NotFound { .. }) => Ok(()),
                    Err(err) => Err(err.to_string()),
                };
                Event::AssetDeleted { id, result }
            }
        })
        .buffer_unordered(BULK_CONCURRENCY);
    while let Some(event) = results.next().await {
        if let (Event::AssetDeleted { id, result: Ok(()) }, Some(thumbs)) = (&event, &thumbs) {
            thumbs.forget(id);
        }
        sink.emit(event);
    }
}

/// Moves `ids` into `folder_id`, emitting [`Event::AssetMoved`] as each finishes.
pub(super) async fn move_many(
    client: RunflowClient,
    sink: Sink,
    ids: Vec<String>,
    folder_id: Option<String>,
) {
    let patch = PatchRequest {
        folder_id: Some(folder_id),
        ..PatchRequest::default()
    };
    let mut results = futures_util::stream::iter(ids)
        .map(|id| {
            let client = client.clone();
            let patch = patch.clone();
            async move {
                let result = client
                    .update_asset(&id, &patch)
                    .await
                    .map_err(|err| move_failed_message(&err));
                Event::AssetMoved { id, result }
            }
        })
        .buffer_unordered(BULK_CONCURRENCY);
    while let Some(event) = results.next().await {
        sink.emit(event);
    }
}

/// [`Event::AssetFetched`]: the asset read again, with freshly signed URLs.
pub(super) async fn fetch(client: RunflowClient, id: String, purpose: AssetPurpose) -> Event {
    let result = client.asset(&id).await.map_err(|err| match err {
        ApiError::NotFound { .. } => {
            "This asset no longer exists on Runflow (it was deleted). Refresh (F5) the list."
                .to_owned()
        }
        other => other.to_string(),
    });
    Event::AssetFetched { purpose, result }
}

fn move_failed_message(err: &ApiError) -> String {
    if err.is_unsupported() {
        return "This Runflow server does not support moving assets between folders.".to_owned();
    }
    match err {
        ApiError::NotFound { .. } => {
            "The asset no longer exists (deleted elsewhere); refresh (F5) the list.".to_owned()
        }
        ApiError::Validation { .. } => format!(
            "Runflow refused the move ({err}); the destination folder may have been deleted. \
             Refresh (F5) and try again."
        ),
        other => other.to_string(),
    }
}
