//! `--tls`: a local certificate authority kept in the data dir, and a server certificate it
//! issues at every start for `127.0.0.1`, `::1`, `localhost` (and the bind address).
//!
//! The CA is made once (`tls/ca-key.pem`, `tls/ca-cert.pem`) and reused by every later start
//! with the same data dir, so a client trusts it once (`--tls-ca-out`, `RUNFLOW_CA_CERT`,
//! `curl --cacert`). Reloading needs no certificate parser: the issuer is rebuilt from the
//! saved key and the fixed CA parameters, which give the same subject and key identifier as
//! the saved certificate. The server certificate and its key live only in memory.

use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::Context as _;
use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa,
    Issuer, KeyPair, KeyUsagePurpose, SanType,
};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use time::{Duration, OffsetDateTime};

/// Directory inside the data dir holding the CA.
const TLS_DIR: &str = "tls";
const CA_KEY_FILE: &str = "ca-key.pem";
const CA_CERT_FILE: &str = "ca-cert.pem";
/// Subject of the CA; fixed, because reloading rebuilds the issuer from it.
const CA_COMMON_NAME: &str = "Runflow Emulator Local CA";
const CA_ORGANIZATION: &str = "runflow-uploader emulator";
/// How long a new CA is valid.
const CA_VALIDITY: Duration = Duration::days(3650);
/// How long a server certificate is valid; well under the 398 days platforms accept.
const SERVER_VALIDITY: Duration = Duration::days(90);

/// The emulator's certificate authority.
pub(crate) struct LocalCa {
    issuer: Issuer<'static, KeyPair>,
    cert_pem: String,
    cert_der: CertificateDer<'static>,
    cert_path: PathBuf,
}

/// The fixed CA parameters, without validity dates.
fn ca_params() -> CertificateParams {
    let mut params = CertificateParams::default();
    let mut name = DistinguishedName::new();
    name.push(DnType::CommonName, CA_COMMON_NAME);
    name.push(DnType::OrganizationName, CA_ORGANIZATION);
    params.distinguished_name = name;
    params.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
    params.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::CrlSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    params
}

/// Writes a file readable by its owner only (it may hold a private key).
fn write_private(path: &Path, contents: &str) -> std::io::Result<()> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt as _;
        options.mode(0o600);
    }
    use std::io::Write as _;
    let mut file = options.open(path)?;
    file.write_all(contents.as_bytes())?;
    file.sync_all()
}

/// The DER of the first `CERTIFICATE` block of a PEM text.
fn first_certificate(pem_text: &str) -> anyhow::Result<CertificateDer<'static>> {
    use rustls::pki_types::pem::PemObject as _;
    CertificateDer::pem_slice_iter(pem_text.as_bytes())
        .next()
        .context("no certificate in it")?
        .context("not a PEM certificate")
}

impl LocalCa {
    /// Loads the CA from `data_dir/tls`, or makes and saves a new one there.
    pub fn load_or_create(data_dir: &Path) -> anyhow::Result<Self> {
        let dir = data_dir.join(TLS_DIR);
        let key_path = dir.join(CA_KEY_FILE);
        let cert_path = dir.join(CA_CERT_FILE);
        if key_path.exists() && cert_path.exists() {
            let key_pem = std::fs::read_to_string(&key_path)
                .with_context(|| format!("reading {}", key_path.display()))?;
            let cert_pem = std::fs::read_to_string(&cert_path)
                .with_context(|| format!("reading {}", cert_path.display()))?;
            let key = KeyPair::from_pem(&key_pem)
                .with_context(|| format!("{} is not a private key", key_path.display()))?;
            let cert_der = first_certificate(&cert_pem)
                .with_context(|| format!("reading the CA certificate {}", cert_path.display()))?;
            return Ok(Self {
                issuer: Issuer::new(ca_params(), key),
                cert_pem,
                cert_der,
                cert_path,
            });
        }
        std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
        let key = KeyPair::generate().context("generating the CA key")?;
        let mut params = ca_params();
        let now = OffsetDateTime::now_utc();
        params.not_before = now - Duration::days(1);
        params.not_after = now + CA_VALIDITY;
        let cert = params
            .self_signed(&key)
            .context("signing the CA certificate")?;
        let cert_pem = cert.pem();
        // Key first: a CA certificate without its key would be unusable on the next start.
        write_private(&key_path, &key.serialize_pem())
            .with_context(|| format!("writing {}", key_path.display()))?;
        std::fs::write(&cert_path, &cert_pem)
            .with_context(|| format!("writing {}", cert_path.display()))?;
        tracing::info!(path = %cert_path.display(), "made a new local CA for --tls");
        Ok(Self {
            issuer: Issuer::new(ca_params(), key),
            cert_der: cert.der().clone(),
            cert_pem,
            cert_path,
        })
    }

    /// The CA certificate, PEM.
    pub fn cert_pem(&self) -> &str {
        &self.cert_pem
    }

    /// Where the CA certificate is kept in the data dir.
    pub fn cert_path(&self) -> &Path {
        &self.cert_path
    }

    /// A fresh server certificate for the loopback names and `extra_ip`, as a rustls server
    /// configuration offering HTTP/2 and HTTP/1.1.
    pub fn server_config(&self, extra_ips: &[IpAddr]) -> anyhow::Result<Arc<rustls::ServerConfig>> {
        let mut names = vec![
            SanType::IpAddress(IpAddr::from([127, 0, 0, 1])),
            SanType::IpAddress(IpAddr::from(std::net::Ipv6Addr::LOCALHOST)),
            SanType::DnsName("localhost".try_into().context("the name localhost")?),
        ];
        for ip in extra_ips {
            let san = SanType::IpAddress(*ip);
            if !ip.is_unspecified() && !names.contains(&san) {
                names.push(san);
            }
        }
        let mut params = CertificateParams::default();
        let mut subject = DistinguishedName::new();
        subject.push(DnType::CommonName, "Runflow Emulator");
        params.distinguished_name = subject;
        params.subject_alt_names = names;
        params.is_ca = IsCa::ExplicitNoCa;
        params.key_usages = vec![
            KeyUsagePurpose::DigitalSignature,
            KeyUsagePurpose::KeyEncipherment,
        ];
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
        params.use_authority_key_identifier_extension = true;
        let now = OffsetDateTime::now_utc();
        params.not_before = now - Duration::hours(1);
        params.not_after = now + SERVER_VALIDITY;
        let key = KeyPair::generate().context("generating the server key")?;
        let cert = params
            .signed_by(&key, &self.issuer)
            .context("signing the server certificate")?;
        let chain = vec![cert.der().clone(), self.cert_der.clone()];
        let key_der = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key.serialize_der()));
        let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
        let mut config = rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .context("TLS protocol versions")?
            .with_no_client_auth()
            .with_single_cert(chain, key_der)
            .context("the server certificate")?;
        config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
        Ok(Arc::new(config))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_ca_is_made_once_and_reloaded() {
        let dir = tempfile::tempdir().unwrap();
        let first = LocalCa::load_or_create(dir.path()).unwrap();
        assert!(first.cert_pem().starts_with("-----BEGIN CERTIFICATE-----"));
        assert!(first.server_config(&[]).is_ok());
        let again = LocalCa::load_or_create(dir.path()).unwrap();
        assert_eq!(first.cert_pem(), again.cert_pem());
        assert!(again.server_config(&["10.1.2.3".parse().unwrap()]).is_ok());
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt as _;
            let key = dir.path().join(TLS_DIR).join(CA_KEY_FILE);
            let mode = std::fs::metadata(key).unwrap().permissions().mode();
            assert_eq!(mode & 0o077, 0, "the CA key is private");
        }
    }

    #[test]
    fn a_broken_ca_file_is_an_error_naming_it() {
        let dir = tempfile::tempdir().unwrap();
        LocalCa::load_or_create(dir.path()).unwrap();
        let cert = dir.path().join(TLS_DIR).join(CA_CERT_FILE);
        std::fs::write(&cert, "garbage").unwrap();
        let err = LocalCa::load_or_create(dir.path()).err().unwrap();
        assert!(format!("{err:#}").contains("ca-cert.pem"), "{err:#}");
    }
}
