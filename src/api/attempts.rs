//! The attempts of one API call: whether each failed one may have been applied by the server
//! anyway, remembered across the retries so a refused retry can be looked into
//! (see `mutation.rs`).

use std::sync::atomic::{AtomicBool, Ordering};

use reqwest::StatusCode;

use super::error::ApiError;

/// One failed attempt of an API call.
#[derive(Debug)]
pub(super) struct Failure {
    /// What went wrong.
    pub(super) error: ApiError,
    /// Whether the server may have acted on the request anyway.
    pub(super) maybe_applied: bool,
}

impl Failure {
    /// Sending failed. Only a failure to connect proves the server never saw the request.
    pub(super) fn sending(err: reqwest::Error) -> Self {
        let maybe_applied = !(err.is_connect() || err.is_builder());
        Self {
            error: ApiError::from(err),
            maybe_applied,
        }
    }

    /// The answer's body broke off after `status` arrived.
    pub(super) fn reading(status: StatusCode, error: ApiError) -> Self {
        Self {
            error,
            maybe_applied: status.is_success() || status.is_server_error(),
        }
    }

    /// The server answered `status`. A 5xx may come after the work was done (a proxy giving
    /// up, a crash while answering); a 429 or another 4xx means it was not.
    pub(super) fn answered(status: StatusCode, error: ApiError) -> Self {
        Self {
            error,
            maybe_applied: status.is_server_error(),
        }
    }
}

/// Remembers, across the attempts of one call, whether any may have been applied.
#[derive(Debug, Default)]
pub(super) struct Attempts {
    ambiguous: AtomicBool,
}

impl Attempts {
    /// Notes a failed attempt and hands back its error for the retry policy.
    pub(super) fn note(&self, failure: Failure) -> ApiError {
        if failure.maybe_applied {
            self.ambiguous.store(true, Ordering::Relaxed);
        }
        failure.error
    }

    /// Whether an attempt ended without telling whether it was applied.
    pub(super) fn any_ambiguous(&self) -> bool {
        self.ambiguous.load(Ordering::Relaxed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_server_errors_and_lost_answers_are_ambiguous() {
        let conflict = || ApiError::Conflict {
            code: "X".into(),
            message: "dup".into(),
        };
        assert!(Failure::answered(StatusCode::SERVICE_UNAVAILABLE, conflict()).maybe_applied);
        assert!(!Failure::answered(StatusCode::TOO_MANY_REQUESTS, conflict()).maybe_applied);
        assert!(!Failure::answered(StatusCode::CONFLICT, conflict()).maybe_applied);
        assert!(Failure::reading(StatusCode::CREATED, ApiError::Timeout).maybe_applied);
        assert!(!Failure::reading(StatusCode::CONFLICT, ApiError::Timeout).maybe_applied);

        let attempts = Attempts::default();
        let _ = attempts.note(Failure::answered(StatusCode::TOO_MANY_REQUESTS, conflict()));
        assert!(!attempts.any_ambiguous());
        let _ = attempts.note(Failure::answered(StatusCode::BAD_GATEWAY, conflict()));
        assert!(attempts.any_ambiguous());
    }
}
