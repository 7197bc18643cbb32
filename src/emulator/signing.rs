//! Presigned storage URLs in the shape of S3 SigV4 query signing, and opaque signed tokens.
//!
//! A URL carries `X-Amz-Algorithm`, `X-Amz-Credential`, `X-Amz-Date`, `X-Amz-Expires`,
//! `X-Amz-SignedHeaders` and `X-Amz-Signature`; the signature is an HMAC-SHA256, under a random
//! per-emulator key, over the method, the decoded object key, the date, the lifetime, the signed
//! header list and (for PUTs) the Content-Type. Not AWS's exact canonical request: only the
//! emulator verifies these, and the client must use the URL verbatim anyway.

use hmac::digest::Key;
use hmac::{Hmac, KeyInit as _, Mac as _};
use rand::RngExt as _;
use sha2::Sha256;
use time::OffsetDateTime;

type HmacSha256 = Hmac<Sha256>;

/// The `X-Amz-Algorithm` value.
pub(crate) const ALGORITHM: &str = "AWS4-HMAC-SHA256";
/// Longest lifetime a presigned URL may claim (S3's limit, 7 days).
const MAX_EXPIRES_SECS: u64 = 604_800;

const DATE_FORMAT: &[time::format_description::BorrowedFormatItem<'static>] =
    time::macros::format_description!("[year][month][day]T[hour][minute][second]Z");
const DAY_FORMAT: &[time::format_description::BorrowedFormatItem<'static>] =
    time::macros::format_description!("[year][month][day]");

/// Why a presigned request was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(crate) enum SignatureError {
    /// A required query parameter is absent.
    #[error("Query-string authentication requires the {0} parameter")]
    Missing(&'static str),
    /// A parameter or the path cannot be parsed.
    #[error("{0}")]
    Malformed(&'static str),
    /// Valid signature, but past its lifetime.
    #[error("Request has expired")]
    Expired,
    /// The signature does not cover this request (path, expiry, method or Content-Type changed).
    #[error(
        "The request signature we calculated does not match the signature you provided. \
         Check your key and signing method."
    )]
    Mismatch,
}

/// Signs and verifies with one secret key.
pub(crate) struct Signer {
    key: [u8; 64],
}

/// What a verified presigned request grants.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Grant {
    /// The decoded object key (path without the leading `/`).
    pub key: String,
}

impl Signer {
    /// A signer with a fresh random key.
    pub fn random() -> Self {
        Self {
            key: rand::rng().random(),
        }
    }

    fn mac(&self) -> HmacSha256 {
        HmacSha256::new(&Key::<HmacSha256>::from(self.key))
    }

    /// Presigns `method` on object `key` for `ttl_secs` from `now`; PUTs also sign the
    /// Content-Type. Returns the full URL under `base`.
    pub fn presign(
        &self,
        base: &str,
        key: &str,
        method: &str,
        content_type: Option<&str>,
        now: OffsetDateTime,
        ttl_secs: u64,
    ) -> String {
        let now = now.to_offset(time::UtcOffset::UTC);
        let amz_date = now.format(DATE_FORMAT).unwrap_or_default();
        let day = now.format(DAY_FORMAT).unwrap_or_default();
        let expires = ttl_secs.clamp(1, MAX_EXPIRES_SECS).to_string();
        let signed_headers = if content_type.is_some() {
            "content-type;host"
        } else {
            "host"
        };
        let signature = self.signature(&string_to_sign(
            method,
            key,
            &amz_date,
            &expires,
            signed_headers,
            content_type.unwrap_or_default(),
        ));
        let credential = format!("emulator/{day}/auto/s3/aws4_request");
        let query = url::form_urlencoded::Serializer::new(String::new())
            .append_pair("X-Amz-Algorithm", ALGORITHM)
            .append_pair("X-Amz-Credential", &credential)
            .append_pair("X-Amz-Date", &amz_date)
            .append_pair("X-Amz-Expires", &expires)
            .append_pair("X-Amz-SignedHeaders", signed_headers)
            .append_pair("X-Amz-Signature", &signature)
            .finish();
        format!("{base}/{}?{query}", encode_path(key))
    }

    fn signature(&self, string_to_sign: &str) -> String {
        let mut mac = self.mac();
        mac.update(string_to_sign.as_bytes());
        hex::encode(mac.finalize().into_bytes())
    }

    /// Checks a presigned request: `raw_path` as received (percent-encoded), `raw_query` its
    /// query string, `content_type` the request's header.
    pub fn verify(
        &self,
        method: &str,
        raw_path: &str,
        raw_query: &str,
        content_type: Option<&str>,
        now: OffsetDateTime,
    ) -> Result<Grant, SignatureError> {
        let params: Vec<(String, String)> = url::form_urlencoded::parse(raw_query.as_bytes())
            .map(|(k, v)| (k.into_owned(), v.into_owned()))
            .collect();
        let param = |name: &'static str| {
            params
                .iter()
                .find(|(k, _)| k == name)
                .map(|(_, v)| v.as_str())
                .ok_or(SignatureError::Missing(name))
        };
        if param("X-Amz-Algorithm")? != ALGORITHM {
            return Err(SignatureError::Malformed(
                "X-Amz-Algorithm only supports \"AWS4-HMAC-SHA256\"",
            ));
        }
        let amz_date = param("X-Amz-Date")?;
        let expires = param("X-Amz-Expires")?;
        let signed_headers = param("X-Amz-SignedHeaders")?;
        let signature = param("X-Amz-Signature")?;
        let signed_at = time::PrimitiveDateTime::parse(amz_date, DATE_FORMAT)
            .map_err(|_| SignatureError::Malformed("X-Amz-Date must be in ISO8601 basic format"))?
            .assume_utc();
        let expires_secs: u64 = expires
            .parse()
            .ok()
            .filter(|secs| (1..=MAX_EXPIRES_SECS).contains(secs))
            .ok_or(SignatureError::Malformed(
                "X-Amz-Expires must be between 1 and 604800 seconds",
            ))?;
        let key = raw_path
            .strip_prefix('/')
            .and_then(percent_decode)
            .filter(|key| !key.is_empty())
            .ok_or(SignatureError::Malformed("Invalid object key"))?;
        let signs_content_type = signed_headers.split(';').any(|h| h == "content-type");
        let content_type = if signs_content_type {
            content_type.unwrap_or_default().trim()
        } else {
            ""
        };
        let expected_hex = hex::decode(signature).map_err(|_| SignatureError::Mismatch)?;
        let mut mac = self.mac();
        mac.update(
            string_to_sign(
                method,
                &key,
                amz_date,
                expires,
                signed_headers,
                content_type,
            )
            .as_bytes(),
        );
        // Constant-time comparison.
        mac.verify_slice(&expected_hex)
            .map_err(|_| SignatureError::Mismatch)?;
        let expires_at = signed_at.unix_timestamp() + i64::try_from(expires_secs).unwrap_or(0);
        if now.unix_timestamp() > expires_at {
            return Err(SignatureError::Expired);
        }
        Ok(Grant { key })
    }

    /// A hex MAC over `payload` in a separate domain (cursors), so it can't double as a URL
    /// signature.
    pub fn sign_token(&self, domain: &str, payload: &[u8]) -> String {
        let mut mac = self.mac();
        mac.update(b"token\n");
        mac.update(domain.as_bytes());
        mac.update(b"\n");
        mac.update(payload);
        hex::encode(mac.finalize().into_bytes())
    }

    /// Constant-time check of [`Signer::sign_token`] output.
    pub fn verify_token(&self, domain: &str, payload: &[u8], signature_hex: &str) -> bool {
        let Ok(signature) = hex::decode(signature_hex) else {
            return false;
        };
        let mut mac = self.mac();
        mac.update(b"token\n");
        mac.update(domain.as_bytes());
        mac.update(b"\n");
        mac.update(payload);
        mac.verify_slice(&signature).is_ok()
    }
}

/// What a presigned URL's signature covers.
fn string_to_sign(
    method: &str,
    key: &str,
    amz_date: &str,
    expires: &str,
    signed_headers: &str,
    content_type: &str,
) -> String {
    [
        ALGORITHM,
        method,
        &format!("/{key}"),
        amz_date,
        expires,
        signed_headers,
        content_type,
    ]
    .join("\n")
}

/// What [`encode_path`] escapes: everything but unreserved characters and `/`.
const PATH_ESCAPED: &percent_encoding::AsciiSet = &percent_encoding::NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'_')
    .remove(b'.')
    .remove(b'~')
    .remove(b'/');

/// Percent-encodes an object key for a URL path: unreserved characters and `/` stay.
pub(crate) fn encode_path(key: &str) -> String {
    percent_encoding::utf8_percent_encode(key, PATH_ESCAPED).to_string()
}

/// Decodes `%XX` escapes of a URL path; `None` on a broken escape or non-UTF-8 result.
pub(crate) fn percent_decode(raw: &str) -> Option<String> {
    let broken = raw.match_indices('%').any(|(i, _)| {
        raw.as_bytes()
            .get(i + 1..i + 3)
            .is_none_or(|hex| !hex.iter().all(u8::is_ascii_hexdigit))
    });
    if broken {
        return None;
    }
    percent_encoding::percent_decode_str(raw)
        .decode_utf8()
        .ok()
        .map(|key| key.into_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    const BASE: &str = "http://127.0.0.1:9000";

    fn split(url: &str) -> (String, String) {
        let url = url::Url::parse(url).unwrap();
        (
            url.path().to_owned(),
            url.query().unwrap_or_default().to_owned(),
        )
    }

    fn now() -> OffsetDateTime {
        time::macros::datetime!(2026-05-06 10:00:00 UTC)
    }

    #[test]
    fn put_round_trip_and_tampering() {
        let signer = Signer::random();
        let key = "uploads/org/id/perfume bottle é.webp";
        let url = signer.presign(BASE, key, "PUT", Some("image/webp"), now(), 900);
        let (path, query) = split(&url);
        assert!(query.contains("X-Amz-SignedHeaders=content-type%3Bhost"));
        let grant = signer
            .verify("PUT", &path, &query, Some("image/webp"), now())
            .unwrap();
        assert_eq!(grant.key, key);

        let wrong_type = signer.verify("PUT", &path, &query, Some("image/png"), now());
        assert_eq!(wrong_type, Err(SignatureError::Mismatch));
        let no_type = signer.verify("PUT", &path, &query, None, now());
        assert_eq!(no_type, Err(SignatureError::Mismatch));
        let wrong_method = signer.verify("GET", &path, &query, Some("image/webp"), now());
        assert_eq!(wrong_method, Err(SignatureError::Mismatch));
        let other_path = path.replace("perfume", "perfumf");
        let tampered = signer.verify("PUT", &other_path, &query, Some("image/webp"), now());
        assert_eq!(tampered, Err(SignatureError::Mismatch));
        let longer = query.replace("X-Amz-Expires=900", "X-Amz-Expires=9000");
        let tampered = signer.verify("PUT", &path, &longer, Some("image/webp"), now());
        assert_eq!(tampered, Err(SignatureError::Mismatch));
        let other_signer = Signer::random();
        let foreign = other_signer.verify("PUT", &path, &query, Some("image/webp"), now());
        assert_eq!(foreign, Err(SignatureError::Mismatch));
    }

    #[test]
    fn expiry_is_enforced() {
        let signer = Signer::random();
        let url = signer.presign(BASE, "k/x.png", "GET", None, now(), 60);
        let (path, query) = split(&url);
        let at = |secs: i64| now() + time::Duration::seconds(secs);
        assert!(signer.verify("GET", &path, &query, None, at(60)).is_ok());
        assert_eq!(
            signer.verify("GET", &path, &query, None, at(61)),
            Err(SignatureError::Expired)
        );
    }

    #[test]
    fn missing_and_malformed_parameters() {
        let signer = Signer::random();
        let url = signer.presign(BASE, "k/x.png", "GET", None, now(), 60);
        let (path, query) = split(&url);
        let without_sig: String = query
            .split('&')
            .filter(|p| !p.starts_with("X-Amz-Signature"))
            .collect::<Vec<_>>()
            .join("&");
        assert_eq!(
            signer.verify("GET", &path, &without_sig, None, now()),
            Err(SignatureError::Missing("X-Amz-Signature"))
        );
        assert_eq!(
            signer.verify("GET", &path, "", None, now()),
            Err(SignatureError::Missing("X-Amz-Algorithm"))
        );
        let bad_date = query.replace("X-Amz-Date=2026", "X-Amz-Date=x026");
        assert!(matches!(
            signer.verify("GET", &path, &bad_date, None, now()),
            Err(SignatureError::Malformed(_))
        ));
        assert!(matches!(
            signer.verify("GET", "/k/%ZZ", &query, None, now()),
            Err(SignatureError::Malformed(_))
        ));
    }

    #[test]
    fn tokens_are_domain_separated() {
        let signer = Signer::random();
        let sig = signer.sign_token("cursor", b"abc");
        assert!(signer.verify_token("cursor", b"abc", &sig));
        assert!(!signer.verify_token("cursor", b"abd", &sig));
        assert!(!signer.verify_token("other", b"abc", &sig));
        assert!(!signer.verify_token("cursor", b"abc", "zz"));
    }

    #[test]
    fn path_encoding_round_trips() {
        let key = "uploads/o/i/a b+c%d?é#.png";
        let encoded = encode_path(key);
        assert!(!encoded.contains(' ') && !encoded.contains('?') && !encoded.contains('#'));
        assert_eq!(percent_decode(&encoded).unwrap(), key);
        assert_eq!(percent_decode("%"), None);
    }
}
