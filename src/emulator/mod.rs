//! A local Runflow: the API (`/v1/...`) and an S3-style storage origin on two loopback ports.
//!
//! Not a mock: it keeps state, stores real bytes on disk, signs and checks presigned URLs, makes
//! thumbnails and enforces the rules written down in `runflow-api.md` (the `[rec]` items). Start it
//! in-process with [`RunningEmulator::start`] or from the command line with
//! [`run_until_shutdown`].
//!
//! Choices where the reference has gaps (all `[rec]` unless noted):
//! - Errors are the flat `{code, message, errors}` envelope everywhere on the API, including
//!   unknown routes (404), wrong methods (405), malformed JSON or a non-JSON Content-Type (400)
//!   and field problems (422 `VALIDATION_ERROR`, `errors[].loc` like `["body","size_bytes"]`).
//!   Storage answers S3-style XML errors.
//! - Lists return `items`, `first`, `next`, `previous` and the aliases `next_pq`/`prev_pq`.
//!   Cursors are opaque, signed and carry the `q`/`sort_by`/`limit` they were issued for, so
//!   `pq` alone continues a listing; `previous` cursors walk backwards by themselves, and
//!   `from_prev=true` does too. A cursor from another list, sort or run is a 400
//!   `INVALID_CURSOR`.
//! - A storage PUT announcing more than 50 MiB is refused with 400 `EntityTooLarge` without
//!   reading the body, so a client still sending may see a broken connection instead.
//! - Deletes are soft; a deleted asset or folder is a 404 everywhere but its signed URLs keep
//!   working until they expire, like any presigned object URL.
//! - The `q` filter takes the documented `field:value`, `field>value`, `AND`/`OR`/`NOT` forms and
//!   the `field.op:value` form Runflow's own clients send (`eq`, `ne`, `gt`, `gte`, `lt`, `lte`
//!   in any case, single- or double-quoted values); see module `query`. A malformed filter is a
//!   422 naming the problem.
//! - Keys carry scopes (module `scopes`): `--api-key KEY` has `assets:create`, `assets:read`,
//!   `assets:edit` and `assets:delete`, `--api-key KEY=assets:read,...` only those listed. A call
//!   without its scope is 403 `PERMISSION_DENIED` naming it; `/v1/auth/me` lists the key's
//!   scopes in its membership.
//! - Storage answers CORS like R2 with a permissive rule (module `cors`): `OPTIONS` preflights
//!   for GET/HEAD/PUT get 204 with the `Access-Control-Allow-*` headers, every storage answer
//!   carries `Access-Control-Allow-Origin: *`. The API sends no CORS headers.
//! - MIME aliases (`audio/x-wav`, `image/jpg`, `audio/mp3`, ...) are accepted where their
//!   canonical type is supported, and the asset records the canonical type. The PUT must still
//!   send the type the session was created with (the signature covers it).
//! - `--tls` (module `tls`): both listeners speak HTTPS (HTTP/2 and 1.1) with a certificate for
//!   `127.0.0.1`, `::1` and `localhost` from a local CA made on first start and kept in
//!   `DATA_DIR/tls/`; `--tls-ca-out FILE` writes the CA's PEM. Every URL handed out is https.
//!
//! Answer variants (module `variants`), each a flag whose default is the behaviour above, so
//! the client can be tried against the other readings of a gap:
//! - `--types-endpoint items|array|missing`: `GET /v1/assets/types` is a list page
//!   `{items:[{name, mime_types}], first, next, previous}` (default), a bare array of the same
//!   records, or the unknown-route 404 `NOT_FOUND` (with or without a key, like any unknown
//!   route). Creates enforce the MIME list (422) in every mode.
//! - `--repeat-confirm conflict|not-found|same`: a second confirm of a confirmed upload answers
//!   409 `ASSET_ALREADY_CONFIRMED` (default), 404 `ASSET_UPLOAD_NOT_FOUND` (the session is
//!   forgotten once confirmed), or the success status with the same asset again (409 once that
//!   asset is deleted). None of them creates a second asset.
//! - `--error-envelope flat|nested`: API error bodies are `{code, message, errors}` (default) or
//!   `{"error": {code, message, errors}}`, every status and route included (401, 404, 405, 422,
//!   429, 503). Storage keeps its XML errors.
//! - `--pagination both|next|next-pq`: list answers (assets, folders, types) carry `first`,
//!   `next`, `previous` and `next_pq`, `prev_pq` (default), only the first three, or only the
//!   two `_pq` ones. The cursor is passed back as `pq` in every mode.
//! - `--retry-after on|off`: whether 429 answers carry `Retry-After` (default on).
//! - `--created-status 201|200`: the success status of `POST /v1/asset-uploads`, the confirm
//!   (also a `same` repeat) and `POST /v1/asset-folders` (default 201).
//! - `--drop-confirm-response-rate P` (default 0): that fraction of successful confirms is
//!   applied, then the connection is reset before any response byte (the request log says
//!   499), so the client gets a network error and does not know the outcome. Its random stream
//!   is separate from the other faults', so adding it shifts none of them.
//! - `--thumbnails images|none|delayed:SECS` (gap 12): decodable images get a `thumbnail_url`
//!   (default); `none` is null for every asset (as Runflow's SDK tests saw for a PNG);
//!   `delayed:SECS` is null until SECS after the confirm, like processing that finishes later.
//!
//! Layout: [`config`](EmulatorConfig) and lifecycle here; the model in `state`, the API handlers
//! in `api_routes`, `upload_routes`, `asset_routes` and `folder_routes`, key scopes in `scopes`,
//! the storage origin in `storage` (CORS in `cors`), list mechanics in `query` and `paging`,
//! fault injection in `faults`, and HTTPS in `tls` and `conn`.

mod api_routes;
mod asset_routes;
mod config;
mod conn;
mod cors;
mod demo;
mod errors;
mod faults;
mod folder_routes;
mod identity;
mod paging;
mod persist;
mod query;
mod request;
mod request_log;
mod scopes;
mod signing;
mod state;
mod storage;
mod thumbs;
mod tls;
mod upload_routes;
mod variants;

use std::io::Write as _;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use rand::RngExt as _;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinHandle;

pub(crate) use config::canonical_mime;
pub use config::{EmulatorConfig, default_asset_types};
use config::{asset_types_from, check_rate};
pub use identity::{ORG_ID, USER_EMAIL, USER_ID};
pub use variants::{
    CreatedStatus, ErrorEnvelope, Pagination, RepeatConfirm, RetryAfter, ThumbnailPolicy,
    TypesEndpoint,
};

use crate::api::models::AssetType;
use conn::AbortableListener;
use faults::Faults;
use request_log::RequestLog;
use scopes::KeyGrant;
use signing::Signer;
use state::Store;
use variants::Variants;

/// How long [`RunningEmulator::shutdown`] lets in-flight requests finish.
pub const SHUTDOWN_GRACE: Duration = Duration::from_secs(5);

/// Settings and services shared by every handler of both listeners.
pub(crate) struct Shared {
    pub store: Store,
    pub signer: Signer,
    pub faults: Faults,
    /// The accepted keys with what each may do.
    pub keys: Vec<KeyGrant>,
    pub asset_types: Vec<AssetType>,
    pub storage_base: String,
    pub presign_ttl: Duration,
    pub url_ttl: Duration,
    pub session_ttl: Duration,
    pub request_log: Option<RequestLog>,
    pub variants: Variants,
    pub thumbnails: ThumbnailPolicy,
}

impl Shared {
    /// Whether `mime`, or the canonical type it is an alias of, is in the supported list.
    pub fn supports_mime(&self, mime: &str) -> bool {
        let canonical = canonical_mime(mime);
        self.asset_types.iter().any(|group| {
            group
                .mime_types
                .iter()
                .any(|m| m == mime || *m == canonical)
        })
    }
}

/// A directory removed when dropped (the default, throw-away data dir).
struct TempDir(PathBuf);

impl Drop for TempDir {
    fn drop(&mut self) {
        // A request still finishing (emulator dropped without `shutdown`) may add a file while
        // the tree is being removed; try again briefly.
        for attempt in 0..5 {
            match std::fs::remove_dir_all(&self.0) {
                Ok(()) => return,
                Err(err) if err.kind() == std::io::ErrorKind::NotFound => return,
                Err(err) if attempt == 4 => {
                    let dir = self.0.display();
                    tracing::warn!(%dir, %err, "could not remove the emulator data dir");
                }
                Err(_) => std::thread::sleep(Duration::from_millis(20)),
            }
        }
    }
}

/// An emulator serving on its two listeners until [`RunningEmulator::shutdown`].
pub struct RunningEmulator {
    api_base: String,
    storage_base: String,
    api_keys: Vec<String>,
    generated_key: bool,
    ca_cert_pem: Option<String>,
    ca_cert_path: Option<PathBuf>,
    shared: Arc<Shared>,
    stop: watch::Sender<bool>,
    tasks: Vec<JoinHandle<()>>,
    persist_task: Option<JoinHandle<()>>,
    _temp_dir: Option<TempDir>,
}

/// The storage listener; with a PUT speed limit, with a receive buffer of about 1/8 s of that
/// link (4 to 64 KiB), set before `listen` so the window scale agrees with it. The kernel
/// would otherwise take and acknowledge megabytes that the throttled reader has not had yet,
/// which no real slow link does.
fn bind_storage(addr: SocketAddr, put_bytes_per_sec: Option<u64>) -> std::io::Result<TcpListener> {
    let socket = match addr {
        SocketAddr::V4(_) => tokio::net::TcpSocket::new_v4()?,
        SocketAddr::V6(_) => tokio::net::TcpSocket::new_v6()?,
    };
    socket.set_reuseaddr(true)?;
    if let Some(rate) = put_bytes_per_sec.filter(|rate| *rate > 0) {
        socket.set_recv_buffer_size((rate / 8).clamp(4096, 64 * 1024) as u32)?;
    }
    socket.bind(addr)?;
    socket.listen(1024)
}

/// A URL base usable by clients: unspecified bind addresses are advertised as loopback.
fn base_url(addr: SocketAddr, tls: bool) -> String {
    let host = match addr.ip() {
        ip if ip.is_unspecified() && ip.is_ipv4() => "127.0.0.1".to_owned(),
        ip if ip.is_unspecified() => "[::1]".to_owned(),
        std::net::IpAddr::V4(ip) => ip.to_string(),
        std::net::IpAddr::V6(ip) => format!("[{ip}]"),
    };
    let scheme = if tls { "https" } else { "http" };
    format!("{scheme}://{host}:{}", addr.port())
}

impl RunningEmulator {
    /// Binds both listeners, loads or creates the state and starts serving.
    pub async fn start(config: EmulatorConfig) -> anyhow::Result<RunningEmulator> {
        check_rate("--fail-rate", config.fail_rate)?;
        check_rate("--drop-put-rate", config.drop_put_rate)?;
        check_rate("--stall-put-rate", config.stall_put_rate)?;
        check_rate(
            "--drop-confirm-response-rate",
            config.drop_confirm_response_rate,
        )?;
        let asset_types = asset_types_from(&config.mime_types)?;

        let (data_dir, temp_dir) = match &config.data_dir {
            Some(dir) => (dir.clone(), None),
            None => {
                let suffix: u64 = rand::rng().random();
                let dir = std::env::temp_dir().join(format!("runflow-emulator-{suffix:016x}"));
                (dir.clone(), Some(TempDir(dir)))
            }
        };
        let store = Store::open(&data_dir)
            .with_context(|| format!("opening emulator data dir {}", data_dir.display()))?;

        let (keys, generated_key) = if config.api_keys.is_empty() {
            let secret: [u8; 16] = rand::rng().random();
            let key = format!("rf_test_{}", hex::encode(secret));
            (vec![KeyGrant::full(key)], true)
        } else {
            let keys = config
                .api_keys
                .iter()
                .map(|spec| KeyGrant::parse(spec))
                .collect::<anyhow::Result<Vec<_>>>()?;
            (keys, false)
        };
        let api_keys: Vec<String> = keys.iter().map(|grant| grant.key.clone()).collect();
        anyhow::ensure!(
            config.tls || config.tls_ca_out.is_none(),
            "--tls-ca-out needs --tls"
        );
        let tls = if config.tls {
            let ca = tls::LocalCa::load_or_create(&data_dir)?;
            if let Some(out) = &config.tls_ca_out {
                std::fs::write(out, ca.cert_pem())
                    .with_context(|| format!("writing the CA certificate to {}", out.display()))?;
            }
            let ips = [config.addr.ip()]
                .into_iter()
                .chain(config.storage_addr.map(|a| a.ip()))
                .collect::<Vec<_>>();
            Some((
                ca.server_config(&ips)?,
                (ca.cert_pem().to_owned(), ca.cert_path().to_owned()),
            ))
        } else {
            None
        };

        let api_listener = TcpListener::bind(config.addr)
            .await
            .with_context(|| format!("binding the API listener on {}", config.addr))?;
        let storage_addr = config
            .storage_addr
            .unwrap_or_else(|| SocketAddr::new(config.addr.ip(), 0));
        let storage_listener = bind_storage(storage_addr, config.put_bytes_per_sec)
            .with_context(|| format!("binding the storage listener on {storage_addr}"))?;
        let api_base = base_url(api_listener.local_addr()?, tls.is_some());
        let storage_base = base_url(storage_listener.local_addr()?, tls.is_some());
        let (server_config, ca) = tls.unzip();
        let (ca_cert_pem, ca_cert_path) = ca.unzip();
        let api_listener = AbortableListener::new(api_listener, server_config.clone());
        let storage_listener = AbortableListener::new(storage_listener, server_config);

        let request_log = match &config.request_log {
            Some(path) => Some(
                RequestLog::open(path)
                    .with_context(|| format!("opening request log {}", path.display()))?,
            ),
            None => None,
        };
        let seed = config.seed.unwrap_or_else(|| rand::rng().random());
        let shared = Arc::new(Shared {
            store,
            signer: Signer::random(),
            faults: Faults::new(&config, seed),
            keys,
            asset_types,
            storage_base: storage_base.clone(),
            presign_ttl: Duration::from_secs(u64::from(config.presign_ttl_secs)),
            url_ttl: Duration::from_secs(u64::from(config.url_ttl_secs)),
            session_ttl: Duration::from_secs(u64::from(config.upload_session_ttl_secs)),
            request_log,
            variants: Variants::from_config(&config),
            thumbnails: config.thumbnails,
        });

        if config.demo_data {
            demo::seed_if_empty(&shared)
                .await
                .context("seeding demo data")?;
        }

        let (stop, stop_rx) = watch::channel(false);
        // A throw-away data dir needs no snapshots (and a late one would race its removal).
        let persist_task = config
            .data_dir
            .is_some()
            .then(|| persist::spawn_writer(shared.clone(), stop_rx.clone()));
        let api_task = tokio::spawn(conn::serve(
            api_listener,
            api_routes::router(shared.clone()),
            stop_rx.clone(),
            "api",
        ));
        let storage_task = tokio::spawn(conn::serve(
            storage_listener,
            storage::router(shared.clone()),
            stop_rx,
            "storage",
        ));
        tracing::info!(%api_base, %storage_base, seed, "runflow emulator started");

        Ok(RunningEmulator {
            api_base,
            storage_base,
            api_keys,
            generated_key,
            ca_cert_pem,
            ca_cert_path,
            shared,
            stop,
            tasks: vec![api_task, storage_task],
            persist_task,
            _temp_dir: temp_dir,
        })
    }

    /// Base URL of the API, e.g. `http://127.0.0.1:8787` (no trailing slash).
    pub fn api_base(&self) -> String {
        self.api_base.clone()
    }

    /// Base URL of the storage origin (presigned URLs point here).
    pub fn storage_base(&self) -> String {
        self.storage_base.clone()
    }

    /// The accepted API keys (without their scopes).
    pub fn api_keys(&self) -> &[String] {
        &self.api_keys
    }

    /// With `--tls`, the local CA's certificate (PEM) that clients must trust.
    pub fn ca_cert_pem(&self) -> Option<&str> {
        self.ca_cert_pem.as_deref()
    }

    /// Directory holding the state snapshot and blobs.
    pub fn data_dir(&self) -> &Path {
        self.shared.store.root()
    }

    /// Number of live (confirmed, not deleted) assets; a test hook.
    pub fn asset_count(&self) -> usize {
        self.shared.store.read(|db| {
            db.assets
                .values()
                .filter(|a| a.deleted_at.is_none())
                .count()
        })
    }

    /// Number of live folders; a test hook.
    pub fn folder_count(&self) -> usize {
        self.shared.store.read(|db| {
            db.folders
                .values()
                .filter(|f| f.deleted_at.is_none())
                .count()
        })
    }

    /// Number of upload sessions ever created (confirmed or not); a test hook.
    pub fn upload_session_count(&self) -> usize {
        self.shared
            .store
            .read(|db| usize::try_from(db.sessions_created).unwrap_or(usize::MAX))
    }

    /// Stops both listeners (in-flight requests get [`SHUTDOWN_GRACE`] to finish), writes the
    /// state and removes a temporary data dir.
    pub async fn shutdown(mut self) {
        let _ = self.stop.send(true);
        for mut task in self.tasks.drain(..) {
            match tokio::time::timeout(SHUTDOWN_GRACE, &mut task).await {
                Ok(Ok(())) => {}
                Ok(Err(err)) => tracing::warn!(%err, "emulator listener task failed"),
                Err(_) => {
                    tracing::warn!("requests still running after the grace period; cutting them");
                    task.abort();
                }
            }
        }
        if let Some(task) = self.persist_task.take()
            && let Err(err) = task.await
        {
            tracing::warn!(%err, "emulator state writer failed");
        }
        tracing::info!("runflow emulator stopped");
    }
}

impl Drop for RunningEmulator {
    fn drop(&mut self) {
        // Dropped without `shutdown`: still stop the listeners rather than leak them.
        let _ = self.stop.send(true);
    }
}

/// Resolves on Ctrl-C or (on Unix) SIGTERM.
async fn shutdown_signal() {
    let ctrl_c = async {
        if let Err(err) = tokio::signal::ctrl_c().await {
            tracing::warn!(%err, "cannot listen for Ctrl-C");
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(err) => {
                tracing::warn!(%err, "cannot listen for SIGTERM");
                std::future::pending::<()>().await;
            }
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {}
        () = terminate => {}
    }
}

/// Runs until Ctrl-C / SIGTERM, printing exactly one ready line on stdout containing the base URL:
/// `runflow emulator listening on http://127.0.0.1:8787 (storage http://127.0.0.1:NNNN)`, preceded
/// by `api key: rf_test_...` when the key was generated and, with `--tls`, by
/// `ca certificate: PATH` (the CA's PEM in the data dir; `https://` in the ready line).
pub async fn run_until_shutdown(config: EmulatorConfig) -> anyhow::Result<()> {
    let emulator = RunningEmulator::start(config).await?;
    {
        let mut out = std::io::stdout().lock();
        if emulator.generated_key {
            for key in emulator.api_keys() {
                writeln!(out, "api key: {key}")?;
            }
        }
        if let Some(path) = &emulator.ca_cert_path {
            writeln!(out, "ca certificate: {}", path.display())?;
        }
        writeln!(
            out,
            "runflow emulator listening on {} (storage {})",
            emulator.api_base(),
            emulator.storage_base()
        )?;
        out.flush()?;
    }
    shutdown_signal().await;
    tracing::info!("shutdown requested");
    emulator.shutdown().await;
    Ok(())
}

#[cfg(test)]
mod tests;
