//! The retry policy shared by every call: 5xx, 429 and network errors are retried with
//! exponential backoff plus jitter; every other error is final.

use std::future::Future;
use std::time::Duration;

use backon::{ExponentialBuilder, Retryable};

use super::error::ApiError;

/// How often and how patiently to retry a failed call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Attempts in all, the first included.
    pub max_attempts: usize,
    /// Delay before the first retry; doubles each time.
    pub min_delay: Duration,
    /// Longest delay between attempts, also the cap on a server's `Retry-After`.
    pub max_delay: Duration,
}

impl Default for RetryPolicy {
    /// The documented policy: 5 attempts, 1 s doubling to at most 32 s, plus jitter.
    fn default() -> Self {
        Self {
            max_attempts: 5,
            min_delay: Duration::from_secs(1),
            max_delay: Duration::from_secs(32),
        }
    }
}

impl RetryPolicy {
    /// A policy that never retries.
    pub const NEVER: Self = Self {
        max_attempts: 1,
        min_delay: Duration::ZERO,
        max_delay: Duration::ZERO,
    };

    /// Runs `operation` until it succeeds, fails with a final error, or runs out of attempts.
    /// `on_retry` hears about each retry before the wait (for logs and UI).
    pub async fn run<T, F, Fut>(
        &self,
        operation: F,
        mut on_retry: impl FnMut(&ApiError, Duration),
    ) -> Result<T, ApiError>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<T, ApiError>>,
    {
        let backoff = ExponentialBuilder::default()
            .with_min_delay(self.min_delay)
            .with_max_delay(self.max_delay)
            .with_max_times(self.max_attempts.saturating_sub(1))
            .with_jitter();
        let cap = self.max_delay;
        operation
            .retry(backoff)
            .when(ApiError::is_retryable)
            .adjust(move |err, delay| {
                // A server-sent Retry-After replaces our own guess, within the same cap.
                delay.map(|delay| err.retry_after().map_or(delay, |wait| wait.min(cap)))
            })
            .notify(|err, delay| on_retry(err, delay))
            .await
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};

    use super::*;

    fn fast(max_attempts: usize) -> RetryPolicy {
        RetryPolicy {
            max_attempts,
            min_delay: Duration::from_millis(1),
            max_delay: Duration::from_millis(5),
        }
    }

    #[tokio::test]
    async fn retries_transient_errors_until_success() {
        let calls = AtomicUsize::new(0);
        let result = fast(5)
            .run(
                || async {
                    match calls.fetch_add(1, Ordering::SeqCst) {
                        0 => Err(ApiError::Network("reset".into())),
                        1 => Err(ApiError::Server {
                            status: 503,
                            message: "busy".into(),
                        }),
                        _ => Ok("done"),
                    }
                },
                |_, _| {},
            )
            .await;
        assert_eq!(result.unwrap(), "done");
        assert_eq!(calls.load(Ordering::SeqCst), 3);
    }

    #[tokio::test]
    async fn client_errors_are_never_retried() {
        let calls = AtomicUsize::new(0);
        let result: Result<(), _> = fast(5)
            .run(
                || async {
                    calls.fetch_add(1, Ordering::SeqCst);
                    Err(ApiError::Conflict {
                        code: "X".into(),
                        message: "dup".into(),
                    })
                },
                |_, _| {},
            )
            .await;
        assert!(matches!(result, Err(ApiError::Conflict { .. })));
        assert_eq!(calls.load(Ordering::SeqCst), 1);
    }

    #[tokio::test]
    async fn gives_up_after_max_attempts() {
        let calls = AtomicUsize::new(0);
        let result: Result<(), _> = fast(5)
            .run(
                || async {
                    calls.fetch_add(1, Ordering::SeqCst);
                    Err(ApiError::Timeout)
                },
                |_, _| {},
            )
            .await;
        assert!(matches!(result, Err(ApiError::Timeout)));
        assert_eq!(calls.load(Ordering::SeqCst), 5);
    }

    #[tokio::test]
    async fn retry_after_overrides_the_backoff_within_the_cap() {
        let policy = RetryPolicy {
            max_attempts: 3,
            min_delay: Duration::from_millis(1),
            max_delay: Duration::from_millis(40),
        };
        let mut waits = Vec::new();
        let calls = AtomicUsize::new(0);
        let _ = policy
            .run(
                || async {
                    calls.fetch_add(1, Ordering::SeqCst);
                    Err::<(), _>(ApiError::RateLimited {
                        retry_after: Some(Duration::from_secs(30)),
                        message: "slow down".into(),
                    })
                },
                |_, wait| waits.push(wait),
            )
            .await;
        assert_eq!(waits, vec![Duration::from_millis(40); 2]);
    }
}
