//! Fault injection: latency, random 503s, a request-rate limit (429, `Retry-After` unless
//! `--retry-after off`) on the API, confirm answers lost after the confirm was applied, and
//! cut-off storage PUTs. Every random choice comes from streams seeded by `--seed`, so a
//! sequence of requests fails the same way on every run.

use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use axum::extract::{Request, State};
use axum::http::StatusCode;
use axum::middleware::Next;
use axum::response::{IntoResponse as _, Response};
use rand::rngs::StdRng;
use rand::{RngExt as _, SeedableRng as _};

use super::errors::ApiError;
use super::variants::RetryAfter;
use super::{EmulatorConfig, Shared};

/// A fixed one-second window counter.
struct RateWindow {
    started: Instant,
    count: u32,
}

/// The configured faults and their random streams.
pub(crate) struct Faults {
    latency: Duration,
    fail_rate: f64,
    drop_put_rate: f64,
    stall_put_rate: f64,
    drop_confirm_response_rate: f64,
    put_bytes_per_sec: Option<u64>,
    rate_limit: Option<u32>,
    window: Mutex<RateWindow>,
    api_rng: Mutex<StdRng>,
    put_rng: Mutex<StdRng>,
    confirm_rng: Mutex<StdRng>,
}

/// Paths that stay healthy whatever the fault settings (clients probe them while backing off).
fn is_exempt(path: &str) -> bool {
    path == "/v1/health"
}

fn draw(rng: &Mutex<StdRng>, probability: f64) -> bool {
    if probability <= 0.0 {
        return false;
    }
    rng.lock()
        .unwrap_or_else(PoisonError::into_inner)
        .random::<f64>()
        < probability
}

impl Faults {
    /// Faults from the CLI settings, seeded.
    pub fn new(config: &EmulatorConfig, seed: u64) -> Self {
        Self {
            latency: Duration::from_millis(config.latency_ms),
            fail_rate: config.fail_rate,
            drop_put_rate: config.drop_put_rate,
            stall_put_rate: config.stall_put_rate,
            drop_confirm_response_rate: config.drop_confirm_response_rate,
            put_bytes_per_sec: config.put_bytes_per_sec.filter(|rate| *rate > 0),
            rate_limit: config.rate_limit,
            window: Mutex::new(RateWindow {
                started: Instant::now(),
                count: 0,
            }),
            api_rng: Mutex::new(StdRng::seed_from_u64(seed)),
            // A separate stream, so storage traffic doesn't shift which API calls fail.
            put_rng: Mutex::new(StdRng::seed_from_u64(seed ^ 0x9e37_79b9_7f4a_7c15)),
            // Its own stream too: turning it on changes no other fault's choices.
            confirm_rng: Mutex::new(StdRng::seed_from_u64(seed ^ 0xc2b2_ae3d_27d4_eb4f)),
        }
    }

    /// Counts a request against the rate limit; `Err(retry_after_secs)` when over it.
    fn admit(&self) -> Result<(), u64> {
        let Some(limit) = self.rate_limit else {
            return Ok(());
        };
        let mut window = self.window.lock().unwrap_or_else(PoisonError::into_inner);
        let now = Instant::now();
        let elapsed = now.duration_since(window.started);
        if elapsed >= Duration::from_secs(1) {
            window.started = now;
            window.count = 0;
        }
        if window.count >= limit {
            let left = Duration::from_secs(1).saturating_sub(now.duration_since(window.started));
            return Err(left.as_secs_f64().ceil().max(1.0) as u64);
        }
        window.count += 1;
        Ok(())
    }

    /// Whether this storage PUT should be cut off midway.
    pub fn drop_this_put(&self) -> bool {
        draw(&self.put_rng, self.drop_put_rate)
    }

    /// Whether the answer to this (applied) confirm should be lost: the connection is cut.
    pub fn drop_this_confirm_response(&self) -> bool {
        draw(&self.confirm_rng, self.drop_confirm_response_rate)
    }

    /// Whether this storage PUT should stall midway.
    pub fn stall_this_put(&self) -> bool {
        draw(&self.put_rng, self.stall_put_rate)
    }

    /// How long to wait so that `received` bytes since `started` keep to the PUT speed limit.
    pub fn put_pause(&self, started: Instant, received: u64) -> Option<Duration> {
        let rate = self.put_bytes_per_sec?;
        let due = Duration::from_secs_f64(received as f64 / rate as f64);
        due.checked_sub(started.elapsed()).filter(|d| !d.is_zero())
    }
}

/// API middleware: latency, then the rate limit, then random failure, all before any handler
/// runs (so a failed request never changes state).
pub(crate) async fn api_faults(
    State(shared): State<Arc<Shared>>,
    request: Request,
    next: Next,
) -> Response {
    let faults = &shared.faults;
    if !faults.latency.is_zero() {
        tokio::time::sleep(faults.latency).await;
    }
    if !is_exempt(request.uri().path()) {
        if let Err(retry_after_secs) = faults.admit() {
            let mut error = ApiError::new(
                StatusCode::TOO_MANY_REQUESTS,
                "RATE_LIMITED",
                format!(
                    "Rate limit exceeded: at most {} requests per second",
                    faults.rate_limit.unwrap_or_default()
                ),
            );
            if shared.variants.retry_after == RetryAfter::On {
                error.retry_after_secs = Some(retry_after_secs);
            }
            return error.into_response();
        }
        if draw(&faults.api_rng, faults.fail_rate) {
            return ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "SERVICE_UNAVAILABLE",
                "The service is temporarily unavailable (injected fault); retry with backoff",
            )
            .into_response();
        }
    }
    next.run(request).await
}

#[cfg(test)]
mod tests {
    use super::*;

    fn faults(config: EmulatorConfig, seed: u64) -> Faults {
        Faults::new(&config, seed)
    }

    #[test]
    fn same_seed_same_failures() {
        let config = EmulatorConfig {
            drop_put_rate: 0.5,
            ..EmulatorConfig::default()
        };
        let a: Vec<bool> = {
            let f = faults(config.clone(), 7);
            (0..64).map(|_| f.drop_this_put()).collect()
        };
        let b: Vec<bool> = {
            let f = faults(config.clone(), 7);
            (0..64).map(|_| f.drop_this_put()).collect()
        };
        let c: Vec<bool> = {
            let f = faults(config, 8);
            (0..64).map(|_| f.drop_this_put()).collect()
        };
        assert_eq!(a, b);
        assert_ne!(a, c);
        assert!(a.iter().any(|x| *x) && a.iter().any(|x| !*x));
    }

    #[test]
    fn dropped_confirm_answers_do_not_shift_the_put_faults() {
        let config = EmulatorConfig {
            drop_put_rate: 0.5,
            drop_confirm_response_rate: 0.5,
            ..EmulatorConfig::default()
        };
        let alone: Vec<bool> = {
            let f = faults(config.clone(), 3);
            (0..64).map(|_| f.drop_this_put()).collect()
        };
        let f = faults(config, 3);
        let mut confirms = Vec::new();
        let interleaved: Vec<bool> = (0..64)
            .map(|_| {
                confirms.push(f.drop_this_confirm_response());
                f.drop_this_put()
            })
            .collect();
        assert_eq!(alone, interleaved);
        assert!(confirms.iter().any(|x| *x) && confirms.iter().any(|x| !*x));
        assert!(!faults(EmulatorConfig::default(), 3).drop_this_confirm_response());
    }

    #[test]
    fn rate_limit_counts_a_window() {
        let f = faults(
            EmulatorConfig {
                rate_limit: Some(3),
                ..EmulatorConfig::default()
            },
            1,
        );
        assert!((0..3).all(|_| f.admit().is_ok()));
        assert_eq!(f.admit(), Err(1));
        let unlimited = faults(EmulatorConfig::default(), 1);
        assert!((0..1000).all(|_| unlimited.admit().is_ok()));
        assert!(!unlimited.drop_this_put());
    }
}
