//! The clock events are stamped with: real time unless a test sets it (`/control/clock`).
//!
//! CloudStack stamps an event with the second it is written; a story about "two events in one second" or "an event
//! older than the overlap" cannot wait for real seconds to pass, so a test may freeze the clock at a chosen second
//! and move it forward. Only event stamps follow this clock: signature expiry keeps to real time.

use std::time::{SystemTime, UNIX_EPOCH};

use parking_lot::Mutex;
use serde::Serialize;

fn real_now() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs() as i64).unwrap_or(0)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    /// Real time shifted by this many seconds.
    Running { offset: i64 },
    /// Stopped at this second.
    Frozen { at: i64 },
}

/// The event clock; shared by all worker threads.
pub struct EventClock {
    mode: Mutex<Mode>,
}

impl Default for EventClock {
    fn default() -> Self {
        EventClock { mode: Mutex::new(Mode::Running { offset: 0 }) }
    }
}

/// What `GET /control/clock` shows.
#[derive(Debug, Serialize, PartialEq, Eq)]
pub struct ClockView {
    /// The second events are stamped with now (Unix time).
    pub now: i64,
    /// Whether the clock stands still.
    pub frozen: bool,
}

impl EventClock {
    /// The second an event written now is stamped with.
    pub fn now(&self) -> i64 {
        match *self.mode.lock() {
            Mode::Running { offset } => real_now() + offset,
            Mode::Frozen { at } => at,
        }
    }

    /// Stops the clock at `at`.
    pub fn freeze(&self, at: i64) {
        *self.mode.lock() = Mode::Frozen { at };
    }

    /// Moves the clock `seconds` forward (backward when negative), frozen or running.
    pub fn advance(&self, seconds: i64) {
        let mut mode = self.mode.lock();
        *mode = match *mode {
            Mode::Running { offset } => Mode::Running { offset: offset + seconds },
            Mode::Frozen { at } => Mode::Frozen { at: at + seconds },
        };
    }

    /// Back to real time.
    pub fn resume(&self) {
        *self.mode.lock() = Mode::Running { offset: 0 };
    }

    /// The clock as `GET /control/clock` shows it.
    pub fn view(&self) -> ClockView {
        let frozen = matches!(*self.mode.lock(), Mode::Frozen { .. });
        ClockView { now: self.now(), frozen }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_frozen_clock_stands_still_until_moved_and_resumes_real_time() {
        let clock = EventClock::default();
        clock.freeze(1_000);
        assert_eq!(clock.view(), ClockView { now: 1_000, frozen: true });
        clock.advance(5);
        assert_eq!(clock.now(), 1_005);
        clock.resume();
        assert!(clock.now() >= real_now() - 1 && !clock.view().frozen);
        clock.advance(-3_600);
        assert!(clock.now() <= real_now() - 3_599, "a running clock shifted an hour back");
    }
}
