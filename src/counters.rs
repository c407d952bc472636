//! What the hook counts: kept in atomics (read by `cloudstack-status`) and handed to Kea's
//! statistics (`statistic-get-all`) in batches through the sink the FFI layer sets at load. Counting
//! is one atomic add on whatever thread counts; the hand-over (`flush`) runs on Kea's threads only:
//! at most once a second from the packet path, and before every statistic command answers, so that
//! `statistic-get` shows current numbers while no packet waits on Kea's StatsMgr lock per event.
use parking_lot::{Mutex, RwLock};
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// One statistic of the hook.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Stat {
    /// NICs in the index (gauge).
    Nics,
    /// NICs refused at the last sync: collisions, numbers that do not fit (gauge).
    RefusedCollision,
    /// Unix time of the last successful sync (gauge).
    LastSyncTime,
    SyncOk,
    SyncFailed,
    Delegated,
    LookupMiss,
    RefusedVlanMismatch,
    RefusedNoMac,
    RefusedNotRelayed,
    RefusedUnknownInterface,
    Withdrawn,
    RefusedUntrustedRelay,
    RefusedNic,
    RefusedForeign,
}

impl Stat {
    /// Every statistic, in status-report order.
    pub const ALL: [Stat; 15] = [
        Stat::Nics, Stat::RefusedCollision, Stat::LastSyncTime, Stat::SyncOk, Stat::SyncFailed, Stat::Delegated,
        Stat::LookupMiss, Stat::RefusedVlanMismatch, Stat::RefusedNoMac, Stat::RefusedNotRelayed,
        Stat::RefusedUnknownInterface, Stat::Withdrawn, Stat::RefusedUntrustedRelay, Stat::RefusedNic,
        Stat::RefusedForeign,
    ];

    /// The name in Kea's statistics.
    pub fn name(self) -> &'static str {
        match self {
            Stat::Nics => "cloudstack.nics",
            Stat::RefusedCollision => "cloudstack.refused-collision",
            Stat::LastSyncTime => "cloudstack.last-sync-time",
            Stat::SyncOk => "cloudstack.sync-ok",
            Stat::SyncFailed => "cloudstack.sync-failed",
            Stat::Delegated => "cloudstack.delegated",
            Stat::LookupMiss => "cloudstack.lookup-miss",
            Stat::RefusedVlanMismatch => "cloudstack.refused-vlan-mismatch",
            Stat::RefusedNoMac => "cloudstack.refused-no-mac",
            Stat::RefusedNotRelayed => "cloudstack.refused-not-relayed",
            Stat::RefusedUnknownInterface => "cloudstack.refused-unknown-interface-id",
            Stat::Withdrawn => "cloudstack.withdrawn",
            Stat::RefusedUntrustedRelay => "cloudstack.refused-untrusted-relay",
            Stat::RefusedNic => "cloudstack.refused-nic",
            Stat::RefusedForeign => "cloudstack.refused-foreign",
        }
    }
}

/// Where statistics go besides the atomics (Kea's StatsMgr inside Kea).
pub trait StatSink: Send + Sync {
    fn add(&self, name: &str, delta: i64);
    fn set(&self, name: &str, value: i64);
}

static SINK: RwLock<Option<Arc<dyn StatSink>>> = RwLock::new(None);

/// Mirror statistics to `sink` from now on.
pub fn set_sink(sink: Option<Arc<dyn StatSink>>) {
    *SINK.write() = sink;
}

/// How often the packet path hands the counts to Kea at most.
pub const FLUSH_EVERY: Duration = Duration::from_secs(1);

/// The hook's statistics since load.
#[derive(Debug)]
pub struct Counters {
    values: [AtomicI64; Stat::ALL.len()],
    /// What Kea's StatsMgr was last handed, per statistic (guarded by `flushing` for writers).
    published: [AtomicI64; Stat::ALL.len()],
    flushing: Mutex<()>,
    /// Milliseconds since `epoch` at which the packet path flushes next.
    next_flush_ms: AtomicU64,
    epoch: Instant,
}

impl Default for Counters {
    fn default() -> Counters {
        Counters {
            values: Default::default(),
            published: Default::default(),
            flushing: Mutex::new(()),
            next_flush_ms: AtomicU64::new(0),
            epoch: Instant::now(),
        }
    }
}

impl Stat {
    /// Gauges are handed to Kea as values, counters as the increase since the last hand-over (an
    /// operator's `statistic-reset` then counts from 0, as Kea's own counters do).
    fn is_gauge(self) -> bool {
        matches!(self, Stat::Nics | Stat::RefusedCollision | Stat::LastSyncTime)
    }
}

impl Counters {
    fn slot(&self, stat: Stat) -> &AtomicI64 {
        &self.values[stat as usize]
    }

    /// Count one event.
    pub fn bump(&self, stat: Stat) {
        self.slot(stat).fetch_add(1, Ordering::Relaxed);
    }

    /// Set a gauge.
    pub fn set(&self, stat: Stat, value: i64) {
        self.slot(stat).store(value, Ordering::Relaxed);
    }

    /// Read one.
    pub fn get(&self, stat: Stat) -> i64 {
        self.slot(stat).load(Ordering::Relaxed)
    }

    /// Hand every statistic to Kea as its current value (at load: all exist from then on). Kea's thread only.
    pub fn publish_all(&self) {
        self.publish_all_to(SINK.read().as_deref());
    }

    fn publish_all_to(&self, sink: Option<&dyn StatSink>) {
        let _flushing = self.flushing.lock();
        for stat in Stat::ALL {
            let value = self.get(stat);
            if let Some(sink) = sink {
                sink.set(stat.name(), value);
            }
            self.published[stat as usize].store(value, Ordering::Relaxed);
        }
    }

    /// Hand Kea what changed since the last hand-over. Kea's threads only (Kea's StatsMgr takes no
    /// lock when Kea runs single-threaded). A flush already under way on another thread is enough.
    pub fn flush(&self) {
        self.flush_to(SINK.read().as_deref());
    }

    fn flush_to(&self, sink: Option<&dyn StatSink>) {
        let Some(_flushing) = self.flushing.try_lock() else { return };
        for stat in Stat::ALL {
            let (value, published) = (self.get(stat), self.published[stat as usize].load(Ordering::Relaxed));
            if value == published {
                continue;
            }
            if let Some(sink) = sink {
                if stat.is_gauge() {
                    sink.set(stat.name(), value);
                } else {
                    sink.add(stat.name(), value - published);
                }
            }
            self.published[stat as usize].store(value, Ordering::Relaxed);
        }
    }

    /// `flush` if `FLUSH_EVERY` has passed since the last one (the packet path: a clock read and
    /// an atomic load otherwise).
    pub fn flush_if_due(&self) {
        if self.is_due() {
            self.flush();
        }
    }

    /// Has `FLUSH_EVERY` passed? True for one caller per period.
    fn is_due(&self) -> bool {
        let now = self.epoch.elapsed().as_millis() as u64;
        let due = self.next_flush_ms.load(Ordering::Relaxed);
        if now < due {
            return false;
        }
        let next = now + FLUSH_EVERY.as_millis() as u64;
        self.next_flush_ms.compare_exchange(due, next, Ordering::Relaxed, Ordering::Relaxed).is_ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Default)]
    struct Recorder(Mutex<Vec<(String, bool, i64)>>);

    impl StatSink for Recorder {
        fn add(&self, name: &str, delta: i64) {
            self.0.lock().push((name.to_string(), false, delta));
        }
        fn set(&self, name: &str, value: i64) {
            self.0.lock().push((name.to_string(), true, value));
        }
    }

    #[test]
    fn every_stat_has_its_own_slot_in_all_order() {
        for (i, stat) in Stat::ALL.iter().enumerate() {
            assert_eq!(*stat as usize, i, "{stat:?}");
        }
    }

    #[test]
    fn counts_reach_kea_in_one_batch_as_increases_and_gauges_as_values() {
        let recorder = Recorder::default();
        let sink: Option<&dyn StatSink> = Some(&recorder);
        let counters = Counters::default();
        counters.publish_all_to(sink);
        assert_eq!(recorder.0.lock().len(), Stat::ALL.len(), "every statistic exists from load on");
        recorder.0.lock().clear();
        for _ in 0..1000 {
            counters.bump(Stat::Delegated);
        }
        counters.set(Stat::Nics, 7);
        assert!(recorder.0.lock().is_empty(), "counting alone hands Kea nothing");
        counters.flush_to(sink);
        let handed = recorder.0.lock().clone();
        assert!(handed.contains(&("cloudstack.delegated".into(), false, 1000)), "{handed:?}");
        assert!(handed.contains(&("cloudstack.nics".into(), true, 7)), "{handed:?}");
        assert_eq!(handed.len(), 2, "only what changed: {handed:?}");
        recorder.0.lock().clear();
        counters.flush_to(sink);
        assert!(recorder.0.lock().is_empty(), "nothing changed since");
        assert!(counters.is_due(), "the first flush of the packet path is due at once");
        assert!(!counters.is_due(), "the next one waits for FLUSH_EVERY");
    }
}
