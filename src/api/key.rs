//! The API key as a type that cannot leak through formatting.

use std::fmt;

/// A Runflow API key. `Debug` and `Display` are redacted; [`ApiKey::expose`] is the only way to
/// read it, used when building the `Authorization` header.
#[derive(Clone, PartialEq, Eq)]
pub struct ApiKey(String);

impl ApiKey {
    /// Wraps a key, trimming surrounding whitespace (keys pasted from a dashboard often carry a
    /// trailing newline). Returns `None` for an empty key.
    pub fn new(key: impl Into<String>) -> Option<Self> {
        let key = key.into();
        let trimmed = key.trim();
        (!trimmed.is_empty()).then(|| Self(trimmed.to_owned()))
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
    }
}
