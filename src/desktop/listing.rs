//! Folders for the library: listing, creating, renaming and deleting them. Each request runs
//! in its own task with the connection's client and answers with one event.

use std::collections::HashSet;

use super::protocol::Event;
use crate::api::models::{Folder, PatchRequest};
use crate::api::{ApiError, ListQuery, RunflowClient};

/// Folders per page when listing them all (the API's maximum).
const FOLDER_PAGE_LIMIT: u32 = 500;
/// A guard against a server whose cursors never end.
const MAX_FOLDER_PAGES: usize = 200;

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

/// [`Event::FolderRenamed`] for folder `id`.
pub(super) async fn rename_folder(client: RunflowClient, id: String, name: String) -> Event {
    let name = name.trim().to_owned();
    if name.is_empty() {
        return Event::FolderRenamed(Err("Give the folder a name.".to_owned()));
    }
    let patch = PatchRequest {
        name: Some(name),
        ..PatchRequest::default()
    };
    let result = client
        .update_folder(&id, &patch)
        .await
        .map_err(|err| match err {
            ApiError::Conflict { .. } => {
                "A folder with that name already exists beside it; pick another name.".to_owned()
            }
            ApiError::NotFound { .. } => {
                "The folder no longer exists (deleted elsewhere).".to_owned()
            }
            other if other.is_unsupported() => {
                "This Runflow server does not support renaming folders.".to_owned()
            }
            other => other.to_string(),
        });
    Event::FolderRenamed(result)
}

/// [`Event::FolderDeleted`] for folder `id`. Runflow refuses to delete a folder that still
/// holds assets or folders; the message says what to do about it.
pub(super) async fn delete_folder(client: RunflowClient, id: String) -> Event {
    let result = match client.delete_folder(&id).await {
        Ok(()) | Err(ApiError::NotFound { .. }) => Ok(()),
        Err(ApiError::Conflict { .. }) => Err(
            "Runflow only deletes empty folders, and this one still holds assets or folders. \
             Move or delete what is inside it first, then delete the folder."
                .to_owned(),
        ),
        Err(other) => Err(other.to_string()),
    };
    Event::FolderDeleted { id, result }
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
