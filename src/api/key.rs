//! The API key as a type that cannot leak through formatting.

use std::fmt;

/// A Runflow API key. `Debug` and `Display` are redacted; [`ApiKey::expose`] is the only way to
/// read it, used when building the `Authorization` header. Every key made is also masked in
/// the logs by value ([`crate::logging::add_secret`]), whatever its shape.
#[derive(Clone, PartialEq, Eq)]
pub struct ApiKey(String);

/// Why typed or pasted text is not an API key.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum KeyProblem {
    /// Nothing but whitespace.
    #[error("Paste an API key first.")]
    Empty,
    /// Spaces, line breaks or other control characters inside it: a header could not carry
    /// it, so it cannot be a key.
    #[error(
        "This is not a valid API key: it contains spaces or control characters. Paste only the \
         key itself, as shown in the Runflow dashboard."
    )]
    Malformed,
}

impl ApiKey {
    /// Wraps a key, trimming surrounding whitespace (keys pasted from a dashboard often carry a
    /// trailing newline). Returns `None` for an empty key.
    pub fn new(key: impl Into<String>) -> Option<Self> {
        let key = key.into();
        let trimmed = key.trim();
        if trimmed.is_empty() {
            return None;
        }
        crate::logging::add_secret(trimmed);
        Some(Self(trimmed.to_owned()))
    }

    /// A key typed or pasted by the user: trimmed, and refused when empty or when spaces or
    /// control characters remain inside it.
    pub fn parse(text: &str) -> Result<Self, KeyProblem> {
        let trimmed = text.trim();
        if trimmed.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return Err(KeyProblem::Malformed);
        }
        Self::new(trimmed).ok_or(KeyProblem::Empty)
    }

    /// The secret itself. Call only to send it to the API base.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for ApiKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ApiKey(<redacted>)")
    }
}

impl fmt::Display for ApiKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<redacted>")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formatting_never_shows_the_secret() {
        let key = ApiKey::new("rf_live_supersecret\n").unwrap();
        assert_eq!(key.expose(), "rf_live_supersecret");
        assert!(!format!("{key:?}").contains("supersecret"));
        assert!(!format!("{key}").contains("supersecret"));
        assert!(!format!("{:?}", Some(&key)).contains("supersecret"));
    }

    #[test]
    fn empty_keys_are_refused() {
        assert!(ApiKey::new("  \n").is_none());
        assert_eq!(ApiKey::parse("  \n"), Err(KeyProblem::Empty));
    }

    #[test]
    fn typed_keys_with_spaces_or_control_characters_inside_are_refused() {
        for bad in [
            "rf_live\r\nX-Evil: 1",
            "rf_live abc",
            "rf\u{1b}[2Jlive",
            "rf\tlive",
        ] {
            assert_eq!(ApiKey::parse(bad), Err(KeyProblem::Malformed), "{bad:?}");
        }
        assert!(
            KeyProblem::Malformed
                .to_string()
                .contains("not a valid API key")
        );
        assert_eq!(
            ApiKey::parse(" rf_live_ok\n").map(|k| k.expose().to_owned()),
            Ok("rf_live_ok".to_owned())
        );
    }

    #[test]
    fn every_key_made_is_masked_in_the_logs() {
        let key = ApiKey::new("plain-key-with-no-known-shape-7").unwrap();
        let line = crate::logging::redact(&format!("sent {} to the server", key.expose()));
        assert!(!line.contains(key.expose()), "{line}");
    }
}
