//! Putting assets on the emulator straight through the API (create, PUT, confirm), for tests
//! that need some to exist before the code under test runs.

use bytes::Bytes;
use runflow_uploader::api::models::{Asset, CreateUploadRequest};
use runflow_uploader::api::{RunflowClient, UploadSource};

/// Uploads `bytes` as `name` (`mime_type`) into `folder_id` (`None` = root).
pub async fn upload_bytes(
    client: &RunflowClient,
    name: &str,
    mime_type: &str,
    bytes: Vec<u8>,
    folder_id: Option<&str>,
) -> Asset {
    let size_bytes = bytes.len() as u64;
    let session = client
        .create_upload(&CreateUploadRequest {
            filename: name.to_owned(),
            mime_type: mime_type.to_owned(),
            size_bytes,
        })
        .await
        .expect("the upload session");
    client
        .put_upload(
            &session.upload_url,
            mime_type,
            size_bytes,
            &UploadSource::Bytes(Bytes::from(bytes)),
            None,
        )
        .await
        .expect("the PUT");
    client
        .confirm_upload(&session.asset_id, folder_id)
        .await
        .expect("the confirmation")
}
