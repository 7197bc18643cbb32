//! Exit codes: the same table for every subcommand (README, "Exit codes").

use std::process::ExitCode;

use crate::api::ApiError;
use crate::auth::{KeyStoreError, ResolveError};

/// What a run of the command line ended with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exit {
    /// Everything asked for was done.
    Success,
    /// Some of it failed (files, assets, a folder); the rest was done.
    Failed,
    /// The command line itself is wrong: unknown subcommand or flag, a bad value, a `--folder`
    /// that does not exist.
    Usage,
    /// The API key is missing or was rejected, or it may not do this (401, 403).
    Auth,
    /// Runflow could not be reached or kept failing (network, timeouts, 5xx, 429), and nothing
    /// was done.
    Unreachable,
    /// Interrupted (Ctrl-C, SIGINT); unfinished uploads stay in the journal.
    Interrupted,
}

impl Exit {
    /// The process exit status.
    pub fn code(self) -> u8 {
        match self {
            Exit::Success => 0,
            Exit::Failed => 1,
            Exit::Usage => 2,
            Exit::Auth => 3,
            Exit::Unreachable => 4,
            Exit::Interrupted => 130,
        }
    }

    /// The exit code for a failed Runflow call that stopped a command before it did anything.
    pub fn of_api_error(err: &ApiError) -> Self {
        match err {
            ApiError::Unauthorized { .. } | ApiError::Forbidden { .. } => Exit::Auth,
            ApiError::Network(_)
            | ApiError::Timeout
            | ApiError::Server { .. }
            | ApiError::RateLimited { .. }
            | ApiError::UntrustedCertificate { .. } => Exit::Unreachable,
            // A `RUNFLOW_CA_CERT` that cannot be used is a setting to fix.
            ApiError::CaCertificate { .. } => Exit::Usage,
            _ => Exit::Failed,
        }
    }

    /// The exit code for an error that ended a command: the first cause that says more than
    /// "failed" decides.
    pub fn of_error(err: &anyhow::Error) -> Self {
        for cause in err.chain() {
            if cause.downcast_ref::<UsageError>().is_some() {
                return Exit::Usage;
            }
            if let Some(api) = cause.downcast_ref::<ApiError>() {
                return Self::of_api_error(api);
            }
            if let Some(resolve) = cause.downcast_ref::<ResolveError>() {
                match resolve {
                    ResolveError::NoApiKey { .. } => return Exit::Auth,
                    ResolveError::BadBaseUrl { .. } => return Exit::Usage,
                    ResolveError::KeyStore(store) => return Self::of_key_store(store),
                    ResolveError::Settings(_) => {}
                }
            }
            if let Some(store) = cause.downcast_ref::<KeyStoreError>() {
                return Self::of_key_store(store);
            }
            if cause.downcast_ref::<MissingKey>().is_some() {
                return Exit::Auth;
            }
        }
        Exit::Failed
    }

    /// The `reason` code of the `error` record for `err`, which ended the command with this
    /// exit code.
    pub(crate) fn reason(self, err: &anyhow::Error) -> &'static str {
        if let Some(api) = err.chain().find_map(|c| c.downcast_ref::<ApiError>()) {
            return super::json::api_reason(api);
        }
        match self {
            Exit::Usage => "usage",
            Exit::Auth => "auth",
            Exit::Unreachable => "network",
            Exit::Interrupted => "interrupted",
            Exit::Success | Exit::Failed => "failed",
        }
    }

    fn of_key_store(err: &KeyStoreError) -> Self {
        match err {
            KeyStoreError::InvalidChoice(_) => Exit::Usage,
            _ => Exit::Auth,
        }
    }
}

impl From<Exit> for ExitCode {
    fn from(exit: Exit) -> Self {
        ExitCode::from(exit.code())
    }
}

/// The command line names something that cannot work (exit 2).
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct UsageError(pub String);

/// No usable API key (exit 3), e.g. an empty `RUNFLOW_API_KEY`.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct MissingKey(pub String);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_table_of_codes() {
        let codes: Vec<u8> = [
            Exit::Success,
            Exit::Failed,
            Exit::Usage,
            Exit::Auth,
            Exit::Unreachable,
            Exit::Interrupted,
        ]
        .iter()
        .map(|e| e.code())
        .collect();
        assert_eq!(codes, [0, 1, 2, 3, 4, 130]);
    }

    #[test]
    fn errors_map_through_their_causes() {
        let auth = anyhow::Error::new(ApiError::Unauthorized {
            message: "no".into(),
        })
        .context("could not check the API key");
        assert_eq!(Exit::of_error(&auth), Exit::Auth);
        let down = anyhow::Error::new(ApiError::Network("refused".into())).context("x");
        assert_eq!(Exit::of_error(&down), Exit::Unreachable);
        let usage = anyhow::Error::new(UsageError("no such folder".into()));
        assert_eq!(Exit::of_error(&usage), Exit::Usage);
        let gone = anyhow::Error::new(ApiError::NotFound {
            code: "ASSET_NOT_FOUND".into(),
            message: "gone".into(),
        });
        assert_eq!(Exit::of_error(&gone), Exit::Failed);
        assert_eq!(Exit::of_error(&anyhow::anyhow!("plain")), Exit::Failed);
    }
}
