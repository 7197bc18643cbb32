//! API key scopes: which asset scope each call needs, what a key holds (from `GET /v1/auth/me`),
//! and the words for an action a key may not do.
//!
//! Runflow keys carry `resource:action` scopes, listed per membership by `/v1/auth/me`; a call
//! without its scope is refused with 403 `PERMISSION_DENIED`. The asset endpoints need:
//! uploads and confirmations `assets:create`, reads and lists `assets:read`, renames, moves and
//! every folder change `assets:edit`, deletes `assets:delete`.

use reqwest::Method;

use super::models::CurrentUser;

/// An asset scope.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Scope {
    /// `assets:create`: upload sessions and their confirmations.
    AssetsCreate,
    /// `assets:read`: get and list assets and folders.
    AssetsRead,
    /// `assets:edit`: rename and move assets; create, rename, move and delete folders.
    AssetsEdit,
    /// `assets:delete`: delete assets.
    AssetsDelete,
}

impl Scope {
    /// Every asset scope, as a full-access key holds them.
    pub const ALL: [Scope; 4] = [
        Scope::AssetsCreate,
        Scope::AssetsRead,
        Scope::AssetsEdit,
        Scope::AssetsDelete,
    ];

    /// The wire name, e.g. `assets:delete`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::AssetsCreate => "assets:create",
            Self::AssetsRead => "assets:read",
            Self::AssetsEdit => "assets:edit",
            Self::AssetsDelete => "assets:delete",
        }
    }

    /// The scope of a wire name.
    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|scope| scope.as_str() == name)
    }

    /// What the scope lets a key do, as the end of "This key can't ...".
    fn action(self) -> &'static str {
        match self {
            Self::AssetsCreate => "upload assets",
            Self::AssetsRead => "see assets",
            Self::AssetsEdit => "rename or move assets and folders",
            Self::AssetsDelete => "delete assets",
        }
    }

    /// "This key can't delete assets (needs assets:delete)": the tooltip of a disabled action
    /// and the start of a 403's message.
    pub fn denied_message(self) -> String {
        format!("This key can't {} (needs {})", self.action(), self.as_str())
    }

    /// The scope an API call needs, from its method and path; `None` for calls any valid key
    /// may make (health, the current user, reference data).
    pub fn for_call(method: &Method, path: &str) -> Option<Self> {
        let segments: Vec<&str> = path.trim_matches('/').split('/').collect();
        match (method.as_str(), segments.as_slice()) {
            ("POST", ["v1", "asset-uploads"] | ["v1", "asset-uploads", _, "confirmations"]) => {
                Some(Self::AssetsCreate)
            }
            (_, ["v1", "assets", "types" | "source-types", ..]) => None,
            ("GET" | "HEAD", ["v1", "assets" | "asset-folders", ..]) => Some(Self::AssetsRead),
            ("DELETE", ["v1", "assets", _]) => Some(Self::AssetsDelete),
            ("PATCH", ["v1", "assets", _]) => Some(Self::AssetsEdit),
            ("POST" | "PATCH" | "DELETE", ["v1", "asset-folders", ..]) => Some(Self::AssetsEdit),
            _ => None,
        }
    }
}

impl std::fmt::Display for Scope {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What a key may do, as `/v1/auth/me` reports it.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct KeyScopes {
    /// The scope names; `None` when the server listed none (then nothing is assumed missing).
    names: Option<Vec<String>>,
}

impl KeyScopes {
    /// Scopes from the names a server listed. An empty list says nothing: a server that does
    /// not report scopes must not make the app disable everything.
    pub fn from_names<I, S>(names: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        let names: Vec<String> = names.into_iter().map(Into::into).collect();
        Self {
            names: (!names.is_empty()).then_some(names),
        }
    }

    /// The scopes of every membership `/v1/auth/me` listed (a key belongs to one organisation,
    /// so in practice one membership's).
    pub fn of_user(user: &CurrentUser) -> Self {
        Self::from_names(
            user.memberships
                .iter()
                .flat_map(|m| m.scopes.iter().cloned()),
        )
    }

    /// Unknown scopes: everything is allowed until the server says otherwise.
    pub fn unknown() -> Self {
        Self::default()
    }

    /// Whether the key may do what `scope` guards. `*`, `assets:*` and `*:delete`-style
    /// wildcards count.
    pub fn allows(&self, scope: Scope) -> bool {
        let Some(names) = &self.names else {
            return true;
        };
        let (resource, action) = scope.as_str().split_once(':').unwrap_or_default();
        names.iter().any(|name| {
            let name = name.trim();
            name == "*"
                || name == scope.as_str()
                || name == format!("{resource}:*")
                || name == format!("*:{action}")
        })
    }

    /// Why the key may not do what `scope` guards, or `None` if it may.
    pub fn denial(&self, scope: Scope) -> Option<String> {
        (!self.allows(scope)).then(|| scope.denied_message())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn calls_map_to_scopes() {
        let cases = [
            (Method::POST, "/v1/asset-uploads", Some(Scope::AssetsCreate)),
            (
                Method::POST,
                "/v1/asset-uploads/x/confirmations",
                Some(Scope::AssetsCreate),
            ),
            (Method::GET, "/v1/assets", Some(Scope::AssetsRead)),
            (Method::GET, "/v1/assets/x", Some(Scope::AssetsRead)),
            (Method::GET, "/v1/asset-folders/x", Some(Scope::AssetsRead)),
            (Method::PATCH, "/v1/assets/x", Some(Scope::AssetsEdit)),
            (Method::POST, "/v1/asset-folders", Some(Scope::AssetsEdit)),
            (
                Method::PATCH,
                "/v1/asset-folders/x",
                Some(Scope::AssetsEdit),
            ),
            (
                Method::DELETE,
                "/v1/asset-folders/x",
                Some(Scope::AssetsEdit),
            ),
            (Method::DELETE, "/v1/assets/x", Some(Scope::AssetsDelete)),
            (Method::GET, "/v1/assets/types", None),
            (Method::GET, "/v1/assets/source-types/upload", None),
            (Method::GET, "/v1/auth/me", None),
            (Method::GET, "/v1/health", None),
        ];
        for (method, path, scope) in cases {
            assert_eq!(Scope::for_call(&method, path), scope, "{method} {path}");
        }
    }

    #[test]
    fn key_scopes_allow_what_they_list() {
        let scopes = KeyScopes::from_names(["assets:read", "assets:create"]);
        assert!(scopes.allows(Scope::AssetsRead));
        assert!(!scopes.allows(Scope::AssetsDelete));
        assert_eq!(
            scopes.denial(Scope::AssetsDelete).as_deref(),
            Some("This key can't delete assets (needs assets:delete)")
        );
        assert!(KeyScopes::from_names(["assets:*"]).allows(Scope::AssetsEdit));
        assert!(KeyScopes::from_names(["*:delete"]).allows(Scope::AssetsDelete));
        assert!(KeyScopes::from_names(Vec::<String>::new()).allows(Scope::AssetsDelete));
        assert!(KeyScopes::unknown().allows(Scope::AssetsCreate));
        assert_eq!(Scope::from_name("assets:edit"), Some(Scope::AssetsEdit));
        assert_eq!(Scope::from_name("assets:write"), None);
    }
}
