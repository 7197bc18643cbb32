//! Key scopes: `--api-key KEY` grants every asset scope, `--api-key KEY=assets:read,...` only
//! those listed. Each route needs the scope [`Scope::for_call`] names (the client's own table,
//! so the two cannot drift); a key without it gets 403 `PERMISSION_DENIED` naming the scope.
//! Health, readiness, the current user and the reference data (`/v1/assets/types`,
//! `/v1/assets/source-types/{name}`) need only a valid key.

use anyhow::Context as _;
use axum::http::{Method, StatusCode};

use super::errors::ApiError;
use crate::api::Scope;

/// An accepted key and the scopes it carries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct KeyGrant {
    /// The secret.
    pub key: String,
    /// Scope names as `/v1/auth/me` reports them.
    pub scopes: Vec<String>,
}

impl KeyGrant {
    /// A key with every asset scope.
    pub fn full(key: String) -> Self {
        Self {
            key,
            scopes: Scope::ALL.iter().map(|s| s.as_str().to_owned()).collect(),
        }
    }

    /// Parses `KEY` (every asset scope) or `KEY=scope,scope` (only those; `KEY=` has none).
    /// Scopes are `resource:action` names; other resources than `assets` are kept and
    /// reported, they just open no asset endpoint.
    pub fn parse(spec: &str) -> anyhow::Result<Self> {
        let (key, scopes) = match spec.split_once('=') {
            None => return Self::checked_key(spec).map(|key| Self::full(key.to_owned())),
            Some((key, scopes)) => (Self::checked_key(key)?, scopes),
        };
        let scopes = scopes
            .split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(|scope| {
                let (resource, action) = scope
                    .split_once(':')
                    .filter(|(r, a)| !r.is_empty() && !a.is_empty() && !a.contains(':'))
                    .with_context(|| {
                        format!("--api-key: scope `{scope}` is not `resource:action`")
                    })?;
                anyhow::ensure!(
                    !scope.chars().any(char::is_whitespace),
                    "--api-key: scope `{resource}:{action}` contains spaces"
                );
                Ok(scope.to_owned())
            })
            .collect::<anyhow::Result<Vec<_>>>()?;
        Ok(Self {
            key: key.to_owned(),
            scopes,
        })
    }

    fn checked_key(key: &str) -> anyhow::Result<&str> {
        let key = key.trim();
        anyhow::ensure!(!key.is_empty(), "--api-key: the key is empty");
        anyhow::ensure!(
            !key.chars().any(|c| c.is_whitespace() || c.is_control()),
            "--api-key: the key contains spaces"
        );
        Ok(key)
    }

    /// Whether the key carries `scope`.
    pub fn allows(&self, scope: Scope) -> bool {
        self.scopes.iter().any(|s| s == scope.as_str())
    }

    /// The 403 for a call this key may not make, if it may not.
    pub fn check(&self, method: &Method, path: &str) -> Result<(), ApiError> {
        match Scope::for_call(method, path) {
            Some(scope) if !self.allows(scope) => Err(ApiError::new(
                StatusCode::FORBIDDEN,
                "PERMISSION_DENIED",
                format!("The API key lacks the `{scope}` scope that {method} {path} needs"),
            )),
            _ => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_specs_parse() {
        let full = KeyGrant::parse("k").unwrap();
        assert_eq!(full.scopes.len(), 4);
        assert!(full.allows(Scope::AssetsDelete));
        let some = KeyGrant::parse("k=assets:read, assets:create").unwrap();
        assert_eq!(some.key, "k");
        assert_eq!(some.scopes, ["assets:read", "assets:create"]);
        assert!(!some.allows(Scope::AssetsEdit));
        assert!(KeyGrant::parse("k=").unwrap().scopes.is_empty());
        assert!(KeyGrant::parse("k=comfyui-workflows:read").is_ok());
        for bad in ["", "=assets:read", "k=assets", "k=:read", "k=a:b:c", "a b"] {
            assert!(KeyGrant::parse(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn a_missing_scope_is_a_403_naming_it() {
        let reader = KeyGrant::parse("k=assets:read").unwrap();
        assert!(reader.check(&Method::GET, "/v1/assets/x").is_ok());
        assert!(reader.check(&Method::GET, "/v1/auth/me").is_ok());
        let err = reader.check(&Method::DELETE, "/v1/assets/x").unwrap_err();
        assert_eq!(err.status, StatusCode::FORBIDDEN);
        assert_eq!(err.code, "PERMISSION_DENIED");
        assert!(err.message.contains("`assets:delete`"), "{}", err.message);
    }
}
