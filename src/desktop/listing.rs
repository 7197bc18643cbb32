//! Folders and recent assets for the library panel. Each request runs in its own task with the
//! connection's client and answers with one event.

use std::collections::HashSet;

use super::protocol::Event;
use crate::api::models::Folder;
use crate::api::{ApiError, Filter, ListQuery, RunflowClient};

/// Folders per page when listing them all (the API's maximum).
const FOLDER_PAGE_LIMIT: u32 = 500;
/// A guard against a server whose cursors never end.
const MAX_FOLDER_PAGES: usize = 200;
/// Assets shown as "recent" for a folder.
const RECENT_ASSETS_LIMIT: u32 = 100;

/// [`Event::Folders`] with every folder.
pub(super) async fn folders(client: RunflowClient) -> Event {
    Event::Folders(all_folders(&client).await.map_err(|e| e.to_string()))
}

/// [`Event::FolderCreated`] for a new folder `name` in `parent_id`.
pub(super) async fn create_folder(
    client: RunflowClient,
    name: String,
    parent_id: Option<String>,
) -> Event {
    let name = name.trim();
    if name.is_empty() {
        return Event::FolderCreated(Err("Give the folder a name.".to_owned()));
    }
    let result = client
        .create_folder(name, parent_id.as_deref())
        .await
        .map_err(|err| match err {
            ApiError::Conflict { .. } => "A folder with that name already exists here.".to_owned(),
            other => other.to_string(),
        });
    Event::FolderCreated(result)
}

/// [`Event::RecentAssets`] of `folder_id`, newest first.
pub(super) async fn recent_assets(client: RunflowClient, folder_id: Option<String>) -> Event {
    let query = ListQuery {
        q: Filter::new()
            .eq_or_null("folder_id", folder_id.as_deref())
            .build(),
        limit: Some(RECENT_ASSETS_LIMIT),
        sort_by: Some("created_at:desc".to_owned()),
        ..ListQuery::default()
    };
    let result = client
        .list_assets(&query)
        .await
        .map(|page| page.items)
        .map_err(|e| e.to_string());
    Event::RecentAssets { folder_id, result }
}

/// Every folder, following cursors.
async fn all_folders(client: &RunflowClient) -> Result<Vec<Folder>, ApiError> {
    let query = ListQuery {
        limit: Some(FOLDER_PAGE_LIMIT),
        ..ListQuery::default()
    };
    let mut folders = Vec::new();
    let mut seen = HashSet::new();
    let mut page = client.list_folders(&query).await?;
    for _ in 0..MAX_FOLDER_PAGES {
        let next = page.next_cursor().map(str::to_owned);
        folders.extend(page.items);
        match next {
            Some(cursor) if seen.insert(cursor.clone()) => {
                page = client.list_folders(&query.at_cursor(&cursor)).await?;
            }
            _ => break,
        }
    }
    Ok(folders)
}
