//! Smoothed transfer speed and time left, reported only once they are stable.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use super::protocol::{Event, FileId};

/// Exponentially smoothed bytes per second.
#[derive(Debug, Clone, Default)]
pub struct SpeedMeter {
    started: Option<Instant>,
    last: Option<(Instant, u64)>,
    rate: Option<f64>,
    samples: u32,
}

/// Samples closer together than this are merged, so bursts do not swing the rate.
const MIN_SAMPLE_GAP: Duration = Duration::from_millis(200);
/// Smoothing time constant: older samples fade out over about this long.
const SMOOTHING_SECS: f64 = 3.0;
/// Nothing is shown before this much time has passed.
const WARM_UP: Duration = Duration::from_secs(1);

impl SpeedMeter {
    /// Feeds the total bytes sent so far, as of `now`.
    pub fn update(&mut self, now: Instant, sent_bytes: u64) {
        let started = *self.started.get_or_insert(now);
        let Some((last_time, last_sent)) = self.last else {
            self.last = Some((now, sent_bytes));
            return;
        };
        let gap = now.saturating_duration_since(last_time);
        if gap < MIN_SAMPLE_GAP {
            return;
        }
        let instant_rate = sent_bytes.saturating_sub(last_sent) as f64 / gap.as_secs_f64();
        let weight = 1.0 - (-gap.as_secs_f64() / SMOOTHING_SECS).exp();
        self.rate = Some(match self.rate {
            // The first rate spans everything since the start, which is the best estimate yet.
            None => sent_bytes as f64 / now.saturating_duration_since(started).as_secs_f64(),
            Some(rate) => rate + weight * (instant_rate - rate),
        });
        self.samples += 1;
        self.last = Some((now, sent_bytes));
    }

    /// The smoothed speed, once at least a second of samples exists.
    pub fn bytes_per_sec(&self, now: Instant) -> Option<f64> {
        let started = self.started?;
        let warm = now.saturating_duration_since(started) >= WARM_UP && self.samples >= 2;
        self.rate.filter(|r| warm && *r > 0.0)
    }

    /// Time left for `remaining_bytes`, rounded up to whole seconds: never zero while bytes
    /// remain.
    pub fn eta(&self, now: Instant, remaining_bytes: u64) -> Option<Duration> {
        if remaining_bytes == 0 {
            return None;
        }
        let rate = self.bytes_per_sec(now)?;
        let secs = (remaining_bytes as f64 / rate).ceil().clamp(1.0, 359_999.0);
        Some(Duration::from_secs(secs as u64))
    }

    /// Starts over (after a retry restarts the bytes).
    pub fn reset(&mut self) {
        *self = Self::default();
    }
}

/// Bytes moving for one file, for progress reports.
#[derive(Default)]
pub(super) struct Transfer {
    pub sent: Arc<AtomicU64>,
    pub meter: SpeedMeter,
    pub reported: Option<u64>,
    pub size_bytes: u64,
}

impl Transfer {
    /// A progress event for file `id` when the count moved since the last one.
    pub(super) fn progress(&mut self, id: FileId, now: Instant) -> Option<Event> {
        let sent = self.sent.load(Ordering::Relaxed);
        let total = self.size_bytes;
        self.meter.update(now, sent);
        if self.reported == Some(sent) {
            return None;
        }
        self.reported = Some(sent);
        Some(Event::Progress {
            id,
            sent_bytes: sent,
            total_bytes: total,
            bytes_per_sec: self.meter.bytes_per_sec(now),
            eta: self.meter.eta(now, total.saturating_sub(sent)),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nothing_is_shown_until_stable_then_speed_and_eta_follow_the_rate() {
        let t0 = Instant::now();
        let mut meter = SpeedMeter::default();
        meter.update(t0, 0);
        meter.update(t0 + Duration::from_millis(300), 300_000);
        assert_eq!(meter.bytes_per_sec(t0 + Duration::from_millis(300)), None);
        for step in 2..=10 {
            meter.update(t0 + Duration::from_millis(300 * step), 300_000 * step);
        }
        let now = t0 + Duration::from_secs(3);
        let rate = meter.bytes_per_sec(now).unwrap();
        assert!((rate - 1_000_000.0).abs() < 50_000.0, "{rate}");
        assert_eq!(meter.eta(now, 5_000_000), Some(Duration::from_secs(5)));
    }

    #[test]
    fn eta_is_never_zero_while_bytes_remain() {
        let t0 = Instant::now();
        let mut meter = SpeedMeter::default();
        for step in 0..=10 {
            meter.update(t0 + Duration::from_millis(200 * step), 10_000_000 * step);
        }
        let now = t0 + Duration::from_secs(2);
        assert_eq!(meter.eta(now, 1), Some(Duration::from_secs(1)));
        assert_eq!(meter.eta(now, 0), None);
    }
}
