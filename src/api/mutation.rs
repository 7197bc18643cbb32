//! Telling a refused mutation from one whose answer was lost.
//!
//! Runflow's mutations are not idempotent and take no idempotency key. When an attempt ends
//! without a clear answer (a timeout, a connection that broke after the request went out, a
//! 5xx) the server may have done the work anyway, and the retry is then refused: a create or a
//! rename with 409 (duplicate name), a delete with 404. Only after such an ambiguous attempt
//! does the client look whether the result it asked for is there; a 409 or 404 on the first
//! attempt, or one after attempts that provably applied nothing (no connection, 429), is the
//! server's real answer and stays an error.

use reqwest::Method;

use super::attempts::Attempts;

use super::client::RunflowClient;
use super::error::ApiError;
use super::models::{Folder, PatchRequest};
use super::query::{Filter, ListQuery};

impl RunflowClient {
    /// After `conflict` answered a create that was retried past a lost answer: the folder
    /// `name` under `parent_id` if it is there now (that attempt made it), else `conflict`.
    pub(super) async fn created_despite(
        &self,
        conflict: ApiError,
        name: &str,
        parent_id: Option<&str>,
    ) -> Result<Folder, ApiError> {
        match self.find_folder(name, parent_id).await {
            Ok(Some(folder)) => {
                tracing::info!(
                    folder_id = folder.id.as_deref().unwrap_or_default(),
                    "the answer to creating a folder was lost and the retry was refused as a \
                     duplicate; the folder is there, so it was created"
                );
                Ok(folder)
            }
            Ok(None) => Err(conflict),
            Err(err) => {
                tracing::warn!(%err, "could not check whether a folder was created");
                Err(conflict)
            }
        }
    }

    /// The live folder named exactly `name` under `parent_id`, searching every page.
    async fn find_folder(
        &self,
        name: &str,
        parent_id: Option<&str>,
    ) -> Result<Option<Folder>, ApiError> {
        /// A server handing out more pages than this (of up to 200) is looping.
        const MAX_PAGES: usize = 1000;
        let mut query = ListQuery {
            q: Filter::new().eq_or_null("parent_id", parent_id).build(),
            limit: Some(200),
            ..ListQuery::default()
        };
        for _ in 0..MAX_PAGES {
            let page = self.list_folders(&query).await?;
            // Matched here too, in case the server ignores the filter.
            if let Some(folder) = page
                .items
                .iter()
                .find(|f| is_created_folder(f, name, parent_id))
            {
                return Ok(Some(folder.clone()));
            }
            match page.next_cursor() {
                Some(cursor) if query.pq.as_deref() != Some(cursor) => {
                    query = query.at_cursor(cursor);
                }
                _ => return Ok(None),
            }
        }
        Ok(None)
    }

    /// After `conflict` answered a change of folder `id` that was retried past a lost answer:
    /// the folder if it now is as `patch` asks (that attempt changed it), else `conflict`.
    pub(super) async fn patched_despite(
        &self,
        conflict: ApiError,
        id: &str,
        patch: &PatchRequest,
    ) -> Result<Folder, ApiError> {
        match self.folder(id).await {
            Ok(folder) if is_patched_folder(&folder, patch) => {
                tracing::info!(
                    folder_id = id,
                    "the answer to changing a folder was lost and the retry was refused as a \
                     conflict; the folder is as asked, so the change was made"
                );
                Ok(folder)
            }
            Ok(_) => Err(conflict),
            Err(err) => {
                tracing::warn!(%err, "could not check whether a folder was changed");
                Err(conflict)
            }
        }
    }

    /// A DELETE with retries, where a 404 after an ambiguous attempt means it was done.
    pub(super) async fn delete(&self, path: &str) -> Result<(), ApiError> {
        let attempts = Attempts::default();
        match self
            .send_with_retries(Method::DELETE, path, &[], None::<&()>, &attempts)
            .await
        {
            Ok(_) => Ok(()),
            Err(ApiError::NotFound { .. }) if attempts.any_ambiguous() => {
                tracing::info!(
                    path,
                    "the answer to a delete was lost and the retry found nothing; it was deleted"
                );
                Ok(())
            }
            Err(err) => Err(err),
        }
    }
}

/// Whether `folder` is what creating `name` under `parent_id` would have made.
fn is_created_folder(folder: &Folder, name: &str, parent_id: Option<&str>) -> bool {
    folder.deleted_at.is_none()
        && folder.name.as_deref() == Some(name)
        && folder.parent_id.as_deref() == parent_id
}

/// Whether `folder` already has every field `patch` asks for.
fn is_patched_folder(folder: &Folder, patch: &PatchRequest) -> bool {
    let name_ok = patch
        .name
        .as_deref()
        .is_none_or(|name| folder.name.as_deref() == Some(name));
    let parent_ok = patch
        .parent_id
        .as_ref()
        .is_none_or(|parent| folder.parent_id == *parent);
    folder.deleted_at.is_none() && name_ok && parent_ok
}

#[cfg(test)]
mod tests {
    use super::*;

    fn folder(name: &str, parent_id: Option<&str>) -> Folder {
        Folder {
            id: Some("f1".into()),
            name: Some(name.into()),
            parent_id: parent_id.map(str::to_owned),
            ..Folder::default()
        }
    }

    #[test]
    fn a_created_folder_matches_name_and_parent_exactly() {
        assert!(is_created_folder(&folder("Shots", None), "Shots", None));
        assert!(is_created_folder(
            &folder("Shots", Some("p")),
            "Shots",
            Some("p")
        ));
        assert!(!is_created_folder(&folder("shots", None), "Shots", None));
        assert!(!is_created_folder(
            &folder("Shots", Some("p")),
            "Shots",
            None
        ));
        assert!(!is_created_folder(
            &folder("Shots", None),
            "Shots",
            Some("p")
        ));
        let deleted = Folder {
            deleted_at: Some("2026-01-01T00:00:00Z".into()),
            ..folder("Shots", None)
        };
        assert!(!is_created_folder(&deleted, "Shots", None));
    }

    #[test]
    fn a_patched_folder_has_every_asked_field() {
        let moved = folder("B", Some("p"));
        let rename = PatchRequest {
            name: Some("B".into()),
            ..PatchRequest::default()
        };
        assert!(is_patched_folder(&moved, &rename));
        let both = PatchRequest {
            name: Some("B".into()),
            parent_id: Some(Some("p".into())),
            ..PatchRequest::default()
        };
        assert!(is_patched_folder(&moved, &both));
        let to_root = PatchRequest {
            name: Some("B".into()),
            parent_id: Some(None),
            ..PatchRequest::default()
        };
        assert!(!is_patched_folder(&moved, &to_root));
        assert!(is_patched_folder(&folder("B", None), &to_root));
        let other_name = PatchRequest {
            name: Some("C".into()),
            ..PatchRequest::default()
        };
        assert!(!is_patched_folder(&moved, &other_name));
    }
}
