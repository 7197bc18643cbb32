//! How every HTTP client of the app is built (API, storage, thumbnails): the user agent, extra
//! trusted roots, proxies, and the words for a certificate the client does not trust.
//!
//! - Roots: the system's, plus the PEM certificates of `RUNFLOW_CA_CERT` (one file, or several
//!   joined like `PATH`) and, in the window, Settings > Advanced > "Extra CA certificate":
//!   corporate TLS inspection, or the emulator's `--tls` CA.
//! - Proxies: `HTTPS_PROXY`, `HTTP_PROXY`, `ALL_PROXY` and `NO_PROXY` (also lowercase) on every
//!   platform, and the system proxy settings on macOS and Windows (reqwest's `system-proxy`).
//!   Loopback is not exempt unless `NO_PROXY` says so.

use std::path::{Path, PathBuf};
use std::time::Duration;

use super::error::ApiError;

/// Environment variable naming extra CA certificate files (PEM).
pub const CA_CERT_ENV: &str = "RUNFLOW_CA_CERT";

/// The files `RUNFLOW_CA_CERT` names (none when unset or empty).
pub fn ca_cert_files_from_env() -> Vec<PathBuf> {
    std::env::var_os(CA_CERT_ENV)
        .map(|value| {
            std::env::split_paths(&value)
                .filter(|p| !p.as_os_str().is_empty())
                .collect()
        })
        .unwrap_or_default()
}

/// Reads the certificates of PEM files (blocking; they are small). Every file must hold at
/// least one certificate.
pub(crate) fn load_roots(files: &[PathBuf]) -> Result<Vec<reqwest::Certificate>, ApiError> {
    let mut roots = Vec::new();
    for file in files {
        roots.extend(load_file(file)?);
    }
    Ok(roots)
}

/// Checks that `path` is a usable CA certificate file (blocking), as the settings dialog's
/// "Extra CA certificate" must be.
pub fn check_ca_cert_file(path: &Path) -> Result<(), ApiError> {
    load_file(path).map(drop)
}

fn load_file(path: &Path) -> Result<Vec<reqwest::Certificate>, ApiError> {
    let problem = |why: String| ApiError::CaCertificate {
        path: path.display().to_string(),
        problem: why,
    };
    let pem = std::fs::read(path).map_err(|e| problem(format!("it could not be read: {e}")))?;
    let certs = reqwest::Certificate::from_pem_bundle(&pem)
        .map_err(|e| problem(format!("it is not a PEM certificate file: {e}")))?;
    if certs.is_empty() {
        return Err(problem(
            "it holds no `-----BEGIN CERTIFICATE-----` block".to_owned(),
        ));
    }
    Ok(certs)
}

/// A client builder with the app's user agent, `roots` trusted on top of the system's, the
/// environment's (and on macOS/Windows the system's) proxies and a pool that keeps idle
/// connections for a minute. Callers add their own time limits.
pub(crate) fn client_builder(roots: &[reqwest::Certificate]) -> reqwest::ClientBuilder {
    reqwest::Client::builder()
        .user_agent(concat!("runflow-uploader/", env!("CARGO_PKG_VERSION")))
        .pool_idle_timeout(Duration::from_secs(60))
        .tls_certs_merge(roots.iter().cloned())
}

/// [`client_builder`] trusting the CAs of `RUNFLOW_CA_CERT`, for a client made without an API
/// client to borrow roots from.
pub(crate) fn standalone_builder() -> Result<reqwest::ClientBuilder, ApiError> {
    Ok(client_builder(&load_roots(&ca_cert_files_from_env())?))
}

/// What is wrong with the server's certificate, when that is why a connection failed.
pub(crate) fn certificate_problem(err: &(dyn std::error::Error + 'static)) -> Option<String> {
    let mut current = Some(err);
    while let Some(cause) = current {
        if let Some(tls) = cause.downcast_ref::<rustls::Error>() {
            return describe(tls);
        }
        // An I/O error hides what it wraps from `source()` (and TLS errors arrive wrapped in
        // one or two of them): look inside instead.
        current = match cause.downcast_ref::<std::io::Error>() {
            Some(io) => io
                .get_ref()
                .map(|inner| inner as &(dyn std::error::Error + 'static)),
            None => cause.source(),
        };
    }
    None
}

fn describe(err: &rustls::Error) -> Option<String> {
    use rustls::CertificateError as Cert;
    let rustls::Error::InvalidCertificate(cert) = err else {
        return None;
    };
    Some(match cert {
        Cert::UnknownIssuer => "it is issued by an authority this computer does not trust".into(),
        Cert::NotValidForName | Cert::NotValidForNameContext { .. } => {
            "it is not valid for this host name".into()
        }
        Cert::Expired | Cert::ExpiredContext { .. } => "it has expired".into(),
        Cert::NotValidYet | Cert::NotValidYetContext { .. } => "it is not valid yet".into(),
        Cert::Revoked => "it has been revoked".into(),
        other => format!("it was refused: {other:?}"),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ca_files_must_hold_certificates() {
        let dir = tempfile::tempdir().unwrap();
        let missing = dir.path().join("missing.pem");
        let err = load_roots(std::slice::from_ref(&missing)).unwrap_err();
        assert!(err.to_string().contains("missing.pem"), "{err}");
        assert!(err.to_string().contains(CA_CERT_ENV), "{err}");
        let empty = dir.path().join("empty.pem");
        std::fs::write(&empty, "not a certificate\n").unwrap();
        let err = load_roots(&[empty]).unwrap_err();
        assert!(
            err.to_string().contains("no `-----BEGIN CERTIFICATE-----`"),
            "{err}"
        );
        assert!(load_roots(&[]).unwrap().is_empty());
    }

    #[test]
    fn certificate_problems_are_found_behind_io_errors() {
        let tls = rustls::Error::InvalidCertificate(rustls::CertificateError::UnknownIssuer);
        let io = std::io::Error::new(std::io::ErrorKind::InvalidData, tls);
        let twice = std::io::Error::other(io);
        let problem = certificate_problem(&twice).unwrap();
        assert!(problem.contains("does not trust"), "{problem}");
        let other = std::io::Error::new(std::io::ErrorKind::ConnectionRefused, "refused");
        assert_eq!(certificate_problem(&other), None);
    }
}
