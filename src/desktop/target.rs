//! The client the window is connected with (or last tried), what the window shows about it, and
//! the quick `GET /v1/auth/me` check behind every key and connection test the user waits on.

use std::path::PathBuf;
use std::time::Duration;

use super::protocol::Connection;
use crate::api::models::CurrentUser;
use crate::api::{ApiError, ApiKey, ClientConfig, KeyScopes, RetryPolicy, RunflowClient};

/// Retries of a check the user waits on: one quick retry, so someone offline hears back in
/// seconds rather than after the minute the uploads' policy may spend.
const CHECK_RETRY: RetryPolicy = RetryPolicy {
    max_attempts: 2,
    min_delay: Duration::from_millis(500),
    max_delay: Duration::from_secs(2),
};
/// Time limit of one check request.
const CHECK_REQUEST_TIMEOUT: Duration = Duration::from_secs(15);
/// Time limit to open a connection for a check.
const CHECK_CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// A key at an API base, with a client for each kind of call.
#[derive(Clone)]
pub(super) struct Target {
    /// Uploads and listings, with the default (patient) retry policy.
    pub(super) client: RunflowClient,
    /// Key and connection checks, quick to give up.
    checker: RunflowClient,
    /// Kept to store it and to rebuild the clients when the base URL changes. Never shown or
    /// logged.
    key: ApiKey,
    /// Where the key came from, for [`Connection::key_source`].
    pub(super) key_source: String,
    /// Whether this is the offline demo.
    pub(super) demo: bool,
}

impl Target {
    /// Clients for `base_url`, trusting `ca_cert_file` (read here: a small file) on top of the
    /// system's roots and `RUNFLOW_CA_CERT`'s.
    pub(super) fn new(
        key: ApiKey,
        key_source: String,
        demo: bool,
        base_url: &str,
        ca_cert_file: Option<PathBuf>,
    ) -> Result<Self, String> {
        let client = |config: ClientConfig| {
            let mut ca_cert_files = config.ca_cert_files.clone();
            ca_cert_files.extend(ca_cert_file.clone());
            RunflowClient::new(
                key.clone(),
                ClientConfig {
                    base_url: base_url.to_owned(),
                    ca_cert_files,
                    ..config
                },
            )
            .map_err(|e| e.to_string())
        };
        Ok(Self {
            client: client(ClientConfig::default())?,
            checker: client(ClientConfig {
                retry: CHECK_RETRY,
                request_timeout: CHECK_REQUEST_TIMEOUT,
                connect_timeout: CHECK_CONNECT_TIMEOUT,
                ..ClientConfig::default()
            })?,
            key,
            key_source,
            demo,
        })
    }

    /// The same key, from the same source, at another API base or with another extra CA.
    pub(super) fn moved_to(
        &self,
        base_url: &str,
        ca_cert_file: Option<PathBuf>,
    ) -> Result<Self, String> {
        Self::new(
            self.key.clone(),
            self.key_source.clone(),
            self.demo,
            base_url,
            ca_cert_file,
        )
    }

    pub(super) fn key(&self) -> &ApiKey {
        &self.key
    }

    /// Asks `GET /v1/auth/me` whose key this is, giving up within seconds when Runflow cannot
    /// be reached.
    pub(super) async fn check(&self) -> Result<CurrentUser, ApiError> {
        self.checker.current_user().await
    }

    pub(super) fn connection(&self, user: &CurrentUser) -> Connection {
        let name = [&user.first_name, &user.last_name]
            .into_iter()
            .flatten()
            .map(|part| part.trim())
            .filter(|part| !part.is_empty())
            .collect::<Vec<_>>()
            .join(" ");
        Connection {
            email: user.email.clone().unwrap_or_default(),
            name: (!name.is_empty()).then_some(name),
            organization: user
                .memberships
                .iter()
                .find_map(|m| m.org.as_ref().and_then(|org| org.name.clone())),
            base_url: self
                .client
                .base_url()
                .as_str()
                .trim_end_matches('/')
                .to_owned(),
            key_source: self.key_source.clone(),
            demo: self.demo,
            scopes: KeyScopes::of_user(user),
        }
    }
}

/// What the window says when a check failed. The client's own words for a network failure or a
/// timeout promise that the app retries on its own, which a check the user waits on does not
/// do once its quick retry is spent, so those two are worded here.
pub(super) fn check_failed_message(err: &ApiError) -> String {
    match err {
        ApiError::Network(detail) => format!(
            "Could not reach Runflow ({detail}). Check your internet connection and try again."
        ),
        ApiError::Timeout => "Runflow did not answer in time. Check your internet connection \
                              and try again."
            .to_owned(),
        other => other.to_string(),
    }
}

/// [`Event::KeyRejected`](super::protocol::Event::KeyRejected)'s message. Only a 401 means the
/// key itself was refused; any other failure means it could not be checked, and the message
/// says so instead of blaming the key.
pub(super) fn key_not_saved_message(err: &ApiError) -> String {
    let message = check_failed_message(err);
    if matches!(err, ApiError::Unauthorized { .. }) {
        message
    } else {
        format!("{message} The key was not saved.")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn connection_names_the_account() {
        let target = Target::new(
            ApiKey::new("rf_test").unwrap(),
            "the offline demo".to_owned(),
            true,
            "http://127.0.0.1:1",
            None,
        )
        .unwrap();
        let user: CurrentUser = serde_json::from_value(serde_json::json!({
            "email": "ada@example.com",
            "first_name": "Ada",
            "last_name": " ",
            "memberships": [{"org": null}, {"org": {"name": "Analytical"}}],
        }))
        .unwrap();
        let connection = target.connection(&user);
        assert_eq!(connection.email, "ada@example.com");
        assert_eq!(connection.name.as_deref(), Some("Ada"));
        assert_eq!(connection.organization.as_deref(), Some("Analytical"));
        assert_eq!(connection.base_url, "http://127.0.0.1:1");
        assert!(connection.demo);
    }

    #[test]
    fn an_unreachable_server_is_not_blamed_on_the_key() {
        for err in [
            ApiError::Network("connection refused".to_owned()),
            ApiError::Timeout,
        ] {
            let message = key_not_saved_message(&err);
            assert!(!message.contains("rejected"), "{message}");
            assert!(!message.contains("retries on its own"), "{message}");
            assert!(message.contains("internet connection"), "{message}");
            assert!(message.ends_with("The key was not saved."), "{message}");
        }
        let message = key_not_saved_message(&ApiError::Network("refused".to_owned()));
        assert!(
            message.starts_with("Could not reach Runflow (refused)."),
            "{message}"
        );

        let refused = ApiError::Unauthorized {
            message: "invalid key".to_owned(),
        };
        assert_eq!(key_not_saved_message(&refused), refused.to_string());
        assert_eq!(check_failed_message(&refused), refused.to_string());
    }
}
