//! The emulator's single organisation and user (fixed ids, so tests and demos can name them).

use crate::api::models::{CurrentUser, Membership, Organization, UserSummary};

/// Id of the emulator's only organisation; `X-Organization-Id` must be this or absent.
pub const ORG_ID: &str = "5f0c6a3e-2d4b-4e8a-9c1f-7b2d3e4f5a60";
/// Id of the emulator's only user (the owner of every API key).
pub const USER_ID: &str = "9a1b2c3d-4e5f-4a6b-8c7d-0e1f2a3b4c5d";
/// Email address of the emulator's user.
pub const USER_EMAIL: &str = "demo@runflow.local";

const FIRST_NAME: &str = "Demo";
const LAST_NAME: &str = "User";

/// The user summary embedded with `embed=created_by_user`.
pub(crate) fn user_summary() -> UserSummary {
    UserSummary {
        id: Some(USER_ID.to_owned()),
        email: Some(USER_EMAIL.to_owned()),
        first_name: Some(FIRST_NAME.to_owned()),
        last_name: Some(LAST_NAME.to_owned()),
        avatar_url: None,
    }
}

/// `GET /v1/auth/me`: the user with one owner membership carrying the key's scopes.
pub(crate) fn current_user(scopes: &[String]) -> CurrentUser {
    CurrentUser {
        id: Some(USER_ID.to_owned()),
        email: Some(USER_EMAIL.to_owned()),
        first_name: Some(FIRST_NAME.to_owned()),
        last_name: Some(LAST_NAME.to_owned()),
        memberships: vec![Membership {
            org: Some(Organization {
                id: Some(ORG_ID.to_owned()),
                name: Some("Runflow Emulator".to_owned()),
                slug: Some("emulator".to_owned()),
                plan_code: Some("developer".to_owned()),
            }),
            role_code: Some("owner".to_owned()),
            scopes: scopes.to_vec(),
        }],
    }
}
