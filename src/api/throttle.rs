//! A gate shared by every clone of a client: when Runflow answers 429, the whole queue slows
//! down, not just the request that hit the limit.

use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use tokio::time::Instant;

/// Holds every request back until a rate-limit pause is over.
#[derive(Debug, Clone, Default)]
pub struct Throttle {
    until: Arc<Mutex<Option<Instant>>>,
}

impl Throttle {
    /// Waits until no pause is in force.
    pub async fn wait(&self) {
        loop {
            let until = *self.until.lock().unwrap_or_else(PoisonError::into_inner);
            match until {
                Some(until) if until > Instant::now() => tokio::time::sleep_until(until).await,
                _ => return,
            }
        }
    }

    /// Pauses every request for `duration` from now (a longer pause already in force wins).
    pub fn hold_for(&self, duration: Duration) {
        let until = Instant::now() + duration;
        let mut current = self.until.lock().unwrap_or_else(PoisonError::into_inner);
        if current.is_none_or(|existing| existing < until) {
            *current = Some(until);
        }
    }

    /// Whether a pause is in force right now.
    pub fn is_holding(&self) -> bool {
        self.until
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .is_some_and(|until| until > Instant::now())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn every_clone_waits_out_the_longest_pause() {
        let throttle = Throttle::default();
        let other = throttle.clone();
        throttle.hold_for(Duration::from_secs(3));
        throttle.hold_for(Duration::from_secs(1));
        assert!(other.is_holding());
        let start = Instant::now();
        other.wait().await;
        assert_eq!(start.elapsed().as_secs(), 3);
        assert!(!throttle.is_holding());
    }
}
