//! The typed Runflow client: one method per endpoint, retries built in.

use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use bytes::Bytes;
use futures_util::{StreamExt, TryStreamExt};
use reqwest::header::{CONTENT_LENGTH, CONTENT_TYPE, RETRY_AFTER};
use reqwest::{Method, RequestBuilder, Response, StatusCode};
use serde::Serialize;
use serde::de::DeserializeOwned;
use url::Url;

use super::acked::{self, ConnectionSlot, RecordConnection};
use super::attempts::{Attempts, Failure};
use super::error::ApiError;
use super::http;
use super::key::ApiKey;
use super::models::{
    Asset, AssetType, AssetTypeList, ConfirmUploadRequest, CreateFolderRequest,
    CreateUploadRequest, CurrentUser, Folder, Health, Page, PatchRequest, UploadSession,
};
use super::query::ListQuery;
use super::retry::RetryPolicy;
use super::throttle::Throttle;

mod put;

use put::Tracked;

/// The production API.
pub const DEFAULT_BASE_URL: &str = "https://api.runflow.io";

/// Largest JSON answer the client reads; anything bigger is treated as malformed.
pub const MAX_RESPONSE_BYTES: usize = 16 * 1024 * 1024;

/// Called during a PUT with the number of bytes the server acknowledged so far (or, where the
/// system cannot tell, handed to the socket).
pub type ProgressFn = Arc<dyn Fn(u64) + Send + Sync>;

/// PUTs at least this big, with a progress callback, run on a connection of their own whose
/// acknowledged bytes are read (see [`acked`]). Smaller bodies fit in the socket buffers whole,
/// so a count could only jump from nothing to everything.
const ACKED_PROGRESS_MIN_BYTES: u64 = 512 * 1024;

/// How often the acknowledged bytes of a PUT are read.
const ACKED_PROGRESS_INTERVAL: Duration = Duration::from_millis(100);

/// Where the bytes of a PUT come from. Files are streamed, never read whole.
#[derive(Debug, Clone)]
pub enum UploadSource {
    /// A file on disk, streamed in chunks.
    File(PathBuf),
    /// Bytes already in memory (e.g. a pasted image).
    Bytes(Bytes),
}

/// Settings of a [`RunflowClient`].
#[derive(Debug, Clone)]
pub struct ClientConfig {
    /// API base, e.g. `https://api.runflow.io`.
    pub base_url: String,
    /// Retry policy for every call.
    pub retry: RetryPolicy,
    /// Time limit of one API call (not of a PUT, which may take long on slow links).
    pub request_timeout: Duration,
    /// Time limit to open a connection.
    pub connect_timeout: Duration,
    /// PEM files of CAs to trust on top of the system's roots, for the API and storage alike.
    pub ca_cert_files: Vec<PathBuf>,
}

impl Default for ClientConfig {
    /// The production API, default timeouts and retries, and the CAs of `RUNFLOW_CA_CERT`.
    fn default() -> Self {
        Self {
            base_url: DEFAULT_BASE_URL.to_owned(),
            retry: RetryPolicy::default(),
            request_timeout: Duration::from_secs(60),
            connect_timeout: Duration::from_secs(10),
            ca_cert_files: http::ca_cert_files_from_env(),
        }
    }
}

/// A Runflow API client. Cheap to clone; clones share one connection pool.
#[derive(Debug, Clone)]
pub struct RunflowClient {
    http: reqwest::Client,
    /// The extra roots `http` trusts, for other clients that reach the same storage.
    roots: Arc<Vec<reqwest::Certificate>>,
    base: Url,
    key: ApiKey,
    config: ClientConfig,
    throttle: Throttle,
    /// Clients for PUTs whose acknowledged bytes are read, one connection each, kept for the
    /// next big PUT so its connection is reused.
    tracked: Arc<Mutex<Vec<Tracked>>>,
}

impl RunflowClient {
    /// Builds a client for `config.base_url` with `key`. Refuses plain `http://` except on
    /// loopback, so the key never crosses a network in the clear. Reads the (small) CA files
    /// of `config.ca_cert_files` on the calling thread.
    pub fn new(key: ApiKey, config: ClientConfig) -> Result<Self, ApiError> {
        let base = parse_base_url(&config.base_url)?;
        let roots = Arc::new(http::load_roots(&config.ca_cert_files)?);
        // No default headers: the key is added per API request, so it can never ride along on
        // a storage PUT.
        let http = http::client_builder(&roots)
            .connect_timeout(config.connect_timeout)
            .build()
            .map_err(|e| ApiError::Network(e.to_string()))?;
        Ok(Self {
            http,
            roots,
            base,
            key,
            config,
            throttle: Throttle::default(),
            tracked: Arc::default(),
        })
    }

    /// A builder for another HTTP client (thumbnails) that trusts the same roots and uses the
    /// same proxies as this one.
    pub fn http_builder(&self) -> reqwest::ClientBuilder {
        http::client_builder(&self.roots)
    }

    /// The rate-limit gate shared by this client and its clones.
    pub fn throttle(&self) -> &Throttle {
        &self.throttle
    }

    /// Logs a retry, and on a 429 holds back every request made through this client.
    fn note_retry(&self, what: &str, err: &ApiError, wait: Duration) {
        if matches!(err, ApiError::RateLimited { .. }) {
            self.throttle.hold_for(wait);
        }
        tracing::warn!(what, %err, ?wait, "call failed; retrying");
    }

    /// The API base this client talks to.
    pub fn base_url(&self) -> &Url {
        &self.base
    }

    /// `POST /v1/asset-uploads`: opens an upload session.
    pub async fn create_upload(
        &self,
        request: &CreateUploadRequest,
    ) -> Result<UploadSession, ApiError> {
        self.call(Method::POST, "/v1/asset-uploads", &[], Some(request))
            .await
    }

    /// `POST /v1/asset-uploads/{id}/confirmations`: turns the stored bytes into an asset.
    pub async fn confirm_upload(
        &self,
        asset_upload_id: &str,
        folder_id: Option<&str>,
    ) -> Result<Asset, ApiError> {
        let path = format!(
            "/v1/asset-uploads/{}/confirmations",
            path_segment(asset_upload_id)
        );
        let body = ConfirmUploadRequest {
            folder_id: folder_id.map(str::to_owned),
        };
        self.call(Method::POST, &path, &[], Some(&body)).await
    }

    /// `GET /v1/assets/{id}`: one asset, with freshly signed URLs.
    pub async fn asset(&self, id: &str) -> Result<Asset, ApiError> {
        let path = format!("/v1/assets/{}", path_segment(id));
        self.call(Method::GET, &path, &[], None::<&()>).await
    }

    /// `GET /v1/assets`: one page of assets.
    pub async fn list_assets(&self, query: &ListQuery) -> Result<Page<Asset>, ApiError> {
        self.call(Method::GET, "/v1/assets", &query.to_pairs(), None::<&()>)
            .await
    }

    /// `DELETE /v1/assets/{id}`. A 404 after an attempt whose answer was lost means that
    /// attempt deleted it, and is success; a 404 on the first attempt is an error.
    pub async fn delete_asset(&self, id: &str) -> Result<(), ApiError> {
        let path = format!("/v1/assets/{}", path_segment(id));
        self.delete(&path).await
    }

    /// `PATCH /v1/assets/{id}`: renames and/or moves an asset. A server without this endpoint
    /// answers with an error for which [`ApiError::is_unsupported`] is true.
    pub async fn update_asset(&self, id: &str, patch: &PatchRequest) -> Result<Asset, ApiError> {
        let path = format!("/v1/assets/{}", path_segment(id));
        self.call(Method::PATCH, &path, &[], Some(patch)).await
    }

    /// `GET /v1/assets/types`: the supported asset types and their MIME types, from a page
    /// (every page of it) or a bare array. Fails on any error; [`Self::supported_types`] is
    /// the form to use as a pre-upload check.
    pub async fn asset_types(&self) -> Result<Vec<AssetType>, ApiError> {
        /// Reference data is short; a server handing out more pages than this is looping.
        const MAX_PAGES: usize = 20;
        let mut types = Vec::new();
        let mut query = ListQuery::default();
        for _ in 0..MAX_PAGES {
            let list: AssetTypeList = self
                .call(
                    Method::GET,
                    "/v1/assets/types",
                    &query.to_pairs(),
                    None::<&()>,
                )
                .await?;
            let next = list.next_cursor().map(str::to_owned);
            types.extend(list.into_types());
            match next {
                Some(cursor) if query.pq.as_deref() != Some(cursor.as_str()) => {
                    query = query.at_cursor(&cursor);
                }
                _ => return Ok(types),
            }
        }
        Err(ApiError::MalformedResponse(format!(
            "the list of supported types did not end after {MAX_PAGES} pages"
        )))
    }

    /// The asset types Runflow lists as supported, as a hint for checking files before upload:
    /// a capability, never a gate. `None` when there is no usable list: the endpoint is
    /// missing (404/405/501), the answer is not a list, it names no MIME type, or the call
    /// failed after the retries. The reason is logged once; no error reaches the user, and
    /// the caller skips the local check and lets the upload itself decide.
    pub async fn supported_types(&self) -> Option<Vec<AssetType>> {
        match self.asset_types().await {
            Ok(types) => {
                let types: Vec<AssetType> = types
                    .into_iter()
                    .filter(|t| !t.mime_types.is_empty())
                    .collect();
                if types.is_empty() {
                    tracing::info!(
                        "Runflow's list of supported types names no MIME type; files are not \
                         checked against it before upload"
                    );
                    return None;
                }
                Some(types)
            }
            Err(
                err @ (ApiError::NotFound { .. }
                | ApiError::Http {
                    status: 405 | 501, ..
                }),
            ) => {
                tracing::info!(
                    %err,
                    "this server has no list of supported types; files are not checked against \
                     it before upload"
                );
                None
            }
            Err(err) => {
                tracing::warn!(
                    %err,
                    "could not read Runflow's list of supported types; files are not checked \
                     against it before upload"
                );
                None
            }
        }
    }

    /// `GET /v1/asset-folders`: one page of folders.
    pub async fn list_folders(&self, query: &ListQuery) -> Result<Page<Folder>, ApiError> {
        self.call(
            Method::GET,
            "/v1/asset-folders",
            &query.to_pairs(),
            None::<&()>,
        )
        .await
    }

    /// `GET /v1/asset-folders/{id}`.
    pub async fn folder(&self, id: &str) -> Result<Folder, ApiError> {
        let path = format!("/v1/asset-folders/{}", path_segment(id));
        self.call(Method::GET, &path, &[], None::<&()>).await
    }

    /// `POST /v1/asset-folders`. A sibling with the same name is refused with a conflict;
    /// but when an earlier attempt's answer was lost and the retry gets the conflict, the
    /// folder that attempt made is looked up and returned.
    pub async fn create_folder(
        &self,
        name: &str,
        parent_id: Option<&str>,
    ) -> Result<Folder, ApiError> {
        let path = "/v1/asset-folders";
        let body = CreateFolderRequest {
            name: name.to_owned(),
            parent_id: parent_id.map(str::to_owned),
        };
        let attempts = Attempts::default();
        match self
            .send_with_retries(Method::POST, path, &[], Some(&body), &attempts)
            .await
        {
            Ok(bytes) => decode(&Method::POST, path, &bytes),
            Err(conflict @ ApiError::Conflict { .. }) if attempts.any_ambiguous() => {
                self.created_despite(conflict, name, parent_id).await
            }
            Err(err) => Err(err),
        }
    }

    /// `PATCH /v1/asset-folders/{id}`: renames and/or moves a folder. A conflict after an
    /// attempt whose answer was lost is success if the folder now is as asked.
    pub async fn update_folder(&self, id: &str, patch: &PatchRequest) -> Result<Folder, ApiError> {
        let path = format!("/v1/asset-folders/{}", path_segment(id));
        let attempts = Attempts::default();
        match self
            .send_with_retries(Method::PATCH, &path, &[], Some(patch), &attempts)
            .await
        {
            Ok(bytes) => decode(&Method::PATCH, &path, &bytes),
            Err(conflict @ ApiError::Conflict { .. }) if attempts.any_ambiguous() => {
                self.patched_despite(conflict, id, patch).await
            }
            Err(err) => Err(err),
        }
    }

    /// `DELETE /v1/asset-folders/{id}`; a non-empty folder is refused with a conflict. A 404
    /// after an attempt whose answer was lost is success, as for assets.
    pub async fn delete_folder(&self, id: &str) -> Result<(), ApiError> {
        let path = format!("/v1/asset-folders/{}", path_segment(id));
        self.delete(&path).await
    }

    /// `GET /v1/auth/me`: validates the key and tells whose it is.
    pub async fn current_user(&self) -> Result<CurrentUser, ApiError> {
        self.call(Method::GET, "/v1/auth/me", &[], None::<&()>)
            .await
    }

    /// `GET /v1/health`.
    pub async fn health(&self) -> Result<Health, ApiError> {
        self.call(Method::GET, "/v1/health", &[], None::<&()>).await
    }

    /// Sends an API call with retries and decodes a JSON answer.
    async fn call<B, T>(
        &self,
        method: Method,
        path: &str,
        query: &[(&str, String)],
        body: Option<&B>,
    ) -> Result<T, ApiError>
    where
        B: Serialize + ?Sized,
        T: DeserializeOwned,
    {
        let bytes = self
            .send_with_retries(method.clone(), path, query, body, &Attempts::default())
            .await?;
        decode(&method, path, &bytes)
    }

    /// Sends an API call with retries, noting in `attempts` whether any failed attempt may
    /// have been applied by the server.
    pub(super) async fn send_with_retries<B>(
        &self,
        method: Method,
        path: &str,
        query: &[(&str, String)],
        body: Option<&B>,
        attempts: &Attempts,
    ) -> Result<Bytes, ApiError>
    where
        B: Serialize + ?Sized,
    {
        self.config
            .retry
            .run(
                || async {
                    self.send_once(method.clone(), path, query, body)
                        .await
                        .map_err(|failure| attempts.note(failure))
                },
                |err, wait| self.note_retry(path, err, wait),
            )
            .await
    }

    async fn send_once<B>(
        &self,
        method: Method,
        path: &str,
        query: &[(&str, String)],
        body: Option<&B>,
    ) -> Result<Bytes, Failure>
    where
        B: Serialize + ?Sized,
    {
        self.throttle.wait().await;
        let mut url = self.base.clone();
        url.set_path(path);
        if !query.is_empty() {
            url.query_pairs_mut().extend_pairs(query);
        }
        let request_method = method.clone();
        let mut request: RequestBuilder = self
            .http
            .request(method, url)
            // Marked sensitive: never in a `Debug` of the request or an HTTP/2 header table.
            .bearer_auth(self.key.expose())
            .timeout(self.config.request_timeout);
        if let Some(body) = body {
            request = request.json(body);
        }
        let response = request.send().await.map_err(Failure::sending)?;
        let status = response.status();
        let retry_after = response
            .headers()
            .get(RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        let bytes = read_capped(response, MAX_RESPONSE_BYTES)
            .await
            .map_err(|err| Failure::reading(status, err))?;
        if status.is_success() {
            if status == StatusCode::NO_CONTENT || !bytes.is_empty() {
                return Ok(bytes);
            }
            // An empty 2xx where JSON was expected still decodes to a clear error upstream.
            return Ok(Bytes::from_static(b"null"));
        }
        let method = request_method;
        Err(Failure::answered(
            status,
            ApiError::from_api_response(status, retry_after.as_deref(), &bytes)
                .for_call(&method, path),
        ))
    }
}

/// Decodes a JSON answer.
fn decode<T: DeserializeOwned>(method: &Method, path: &str, bytes: &[u8]) -> Result<T, ApiError> {
    serde_json::from_slice(bytes).map_err(|e| {
        ApiError::MalformedResponse(format!("{method} {path} returned unexpected JSON: {e}"))
    })
}

impl ApiError {
    /// Whether the server does not offer this endpoint (405/501, or 404 with no error code,
    /// which is what a router answers for an unknown route).
    pub fn is_unsupported(&self) -> bool {
        match self {
            Self::Http { status, .. } => matches!(status, 405 | 501),
            Self::NotFound { code, .. } => code == "UNKNOWN" || code == "NOT_FOUND",
            _ => false,
        }
    }
}

/// Reads a response body, refusing more than `limit` bytes.
async fn read_capped(response: Response, limit: usize) -> Result<Bytes, ApiError> {
    if let Some(length) = response.content_length()
        && length > limit as u64
    {
        return Err(ApiError::MalformedResponse(format!(
            "the answer is {length} bytes, more than the {limit} the app accepts"
        )));
    }
    let mut stream = response.bytes_stream();
    let mut buffer = Vec::new();
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.map_err(ApiError::from_body_error)?;
        if buffer.len() + chunk.len() > limit {
            return Err(ApiError::MalformedResponse(format!(
                "the answer is more than the {limit} bytes the app accepts"
            )));
        }
        buffer.extend_from_slice(&chunk);
    }
    Ok(Bytes::from(buffer))
}

/// Percent-encodes an id for use as one path segment.
fn path_segment(id: &str) -> String {
    url::form_urlencoded::byte_serialize(id.as_bytes())
        .collect::<String>()
        .replace('+', "%20")
}

/// Validates the API base: https anywhere, http only on loopback.
pub fn parse_base_url(raw: &str) -> Result<Url, ApiError> {
    let trimmed = raw.trim().trim_end_matches('/');
    let url = Url::parse(trimmed).map_err(|e| {
        ApiError::InvalidUrl(format!(
            "\"{trimmed}\" is not a valid base URL ({e}); use something like {DEFAULT_BASE_URL}"
        ))
    })?;
    check_scheme(&url, "API base URL")?;
    if url.query().is_some() || url.fragment().is_some() || !matches!(url.path(), "" | "/") {
        return Err(ApiError::InvalidUrl(format!(
            "the API base URL must be just scheme, host and port, like {DEFAULT_BASE_URL}; \
             got \"{trimmed}\""
        )));
    }
    Ok(url)
}

fn parse_storage_url(raw: &str) -> Result<Url, ApiError> {
    let url = Url::parse(raw).map_err(|e| {
        ApiError::MalformedResponse(format!("the upload URL from Runflow is not a URL: {e}"))
    })?;
    check_scheme(&url, "upload URL")?;
    Ok(url)
}

fn check_scheme(url: &Url, what: &str) -> Result<(), ApiError> {
    match url.scheme() {
        "https" => Ok(()),
        "http" if is_loopback(url) => Ok(()),
        "http" => Err(ApiError::InvalidUrl(format!(
            "the {what} uses plain http:// for {}; only https:// is allowed except for a local \
             emulator on this machine",
            url.host_str().unwrap_or("an unknown host")
        ))),
        other => Err(ApiError::InvalidUrl(format!(
            "the {what} uses the unsupported scheme \"{other}\"; use https://"
        ))),
    }
}

fn is_loopback(url: &Url) -> bool {
    match url.host() {
        Some(url::Host::Domain(domain)) => domain.eq_ignore_ascii_case("localhost"),
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        None => false,
    }
}

#[cfg(test)]
mod tests;
