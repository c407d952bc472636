//! At most one line per period for events a sender controls (a flood of forged packets must not
//! flood Kea's log), with the number of events left unlogged in between.
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// Admits one event per period; counts the rest.
pub struct Throttle {
    epoch: Instant,
    every_ms: u64,
    /// Milliseconds since `epoch` before which no line is admitted.
    next_ms: AtomicU64,
    unlogged: AtomicU64,
}

impl Throttle {
    /// One line per `every`.
    pub fn new(every: Duration) -> Throttle {
        let every_ms = u64::try_from(every.as_millis()).unwrap_or(u64::MAX);
        Throttle { epoch: Instant::now(), every_ms, next_ms: AtomicU64::new(0), unlogged: AtomicU64::new(0) }
    }

    /// `Some(events left unlogged since the last admitted one)` when this event may be logged.
    pub fn admit(&self) -> Option<u64> {
        let now = u64::try_from(self.epoch.elapsed().as_millis()).unwrap_or(u64::MAX);
        let next = self.next_ms.load(Ordering::Relaxed);
        if now >= next
            && self.next_ms.compare_exchange(next, now.saturating_add(self.every_ms), Ordering::Relaxed, Ordering::Relaxed).is_ok()
        {
            return Some(self.unlogged.swap(0, Ordering::Relaxed));
        }
        self.unlogged.fetch_add(1, Ordering::Relaxed);
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_flood_gets_one_line_per_period_and_the_next_line_says_how_many_were_left_out() {
        let throttle = Throttle::new(Duration::from_secs(3600));
        assert_eq!(throttle.admit(), Some(0));
        for _ in 0..1000 {
            assert_eq!(throttle.admit(), None);
        }
        throttle.next_ms.store(0, Ordering::Relaxed); // the period has passed
        assert_eq!(throttle.admit(), Some(1000));
        assert_eq!(throttle.admit(), None);
    }
}
