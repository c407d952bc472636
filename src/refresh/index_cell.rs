//! The current index generation, swapped whole by the sync thread and read by packets.
use crate::index::NicIndex;
use parking_lot::RwLock;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// How long the replacing thread waits for packets to let go of an old index.
const RETIRE_WAIT: Duration = Duration::from_millis(50);

/// Milliseconds on one clock for the whole process (it outlives a reload of the hook).
fn now_ms() -> u64 {
    static EPOCH: once_cell::sync::Lazy<Instant> = once_cell::sync::Lazy::new(Instant::now);
    u64::try_from(EPOCH.elapsed().as_millis()).unwrap_or(u64::MAX).saturating_add(1)
}

/// Holds the current index; readers take an `Arc` and never wait on a sync. It also holds the
/// index's authority: whether it may speak for absence (withdraw prefixes), which only a complete
/// live listing grants, and only for `authority-max-age`.
#[derive(Default)]
pub struct IndexCell {
    current: RwLock<Arc<NicIndex>>,
    /// `now_ms()` before which the index is authoritative; 0: never was.
    authority_until: AtomicU64,
}

impl IndexCell {
    /// The current index.
    pub fn current(&self) -> Arc<NicIndex> {
        self.current.read().clone()
    }

    /// Replace the index (its authority stays as it was).
    pub fn replace(&self, index: NicIndex) {
        self.adopt(Arc::new(index));
    }

    /// `replace` with an index already shared (one kept across a reload).
    pub fn adopt(&self, index: Arc<NicIndex>) {
        let old = std::mem::replace(&mut *self.current.write(), index);
        retire(old);
    }

    /// A complete live listing stands behind the index: authoritative for `max_age` from now.
    pub fn grant_authority(&self, max_age: Duration) {
        let max_age = u64::try_from(max_age.as_millis()).unwrap_or(u64::MAX);
        self.authority_until.store(now_ms().saturating_add(max_age), Ordering::Release);
    }

    /// May the index speak for absence now (a complete live listing younger than authority-max-age)?
    pub fn is_authoritative(&self) -> bool {
        now_ms() < self.authority_until.load(Ordering::Acquire)
    }

    /// How long the index stays authoritative (zero when it is not).
    pub fn authority_left(&self) -> Duration {
        Duration::from_millis(self.authority_until.load(Ordering::Acquire).saturating_sub(now_ms()))
    }

    /// The authority as a value to carry across a reload of the hook.
    pub fn authority(&self) -> u64 {
        self.authority_until.load(Ordering::Acquire)
    }

    /// Take over authority carried across a reload.
    pub fn restore_authority(&self, until: u64) {
        self.authority_until.store(until, Ordering::Release);
    }
}

/// Free an index that was just replaced on the calling thread (the sync thread), not on whichever
/// Kea thread happens to drop the last reference: freeing 100k NICs takes milliseconds, which a
/// packet must not wait for. Packets hold an index for microseconds; if someone keeps it longer
/// (a reload keeping it, a status command), it is theirs to free.
fn retire(mut old: Arc<NicIndex>) {
    let deadline = Instant::now() + RETIRE_WAIT;
    loop {
        match Arc::try_unwrap(old) {
            Ok(index) => return drop(index),
            Err(shared) if Instant::now() < deadline => {
                old = shared;
                std::thread::sleep(Duration::from_micros(200));
            }
            Err(_) => return,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_replaced_index_is_freed_by_the_replacing_thread_once_readers_let_go() {
        let cell = Arc::new(IndexCell::default());
        cell.replace(NicIndex::default());
        let reader = cell.current();
        let weak = Arc::downgrade(&reader);
        let releaser = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(5));
            drop(reader);
        });
        cell.replace(NicIndex::default());
        // replace() returned only after the reader let go, having freed the old index itself.
        assert!(weak.upgrade().is_none());
        releaser.join().unwrap();
    }

    #[test]
    fn authority_comes_from_a_grant_and_lapses_after_its_max_age() {
        let cell = IndexCell::default();
        assert!(!cell.is_authoritative(), "a fresh index speaks for nothing");
        cell.grant_authority(Duration::from_secs(3600));
        assert!(cell.is_authoritative());
        assert!(cell.authority_left() > Duration::from_secs(3500));
        cell.replace(NicIndex::default());
        assert!(cell.is_authoritative(), "replacing the index keeps its authority");
        cell.grant_authority(Duration::ZERO);
        assert!(!cell.is_authoritative(), "past its max age");
        let kept = cell.authority();
        let reloaded = IndexCell::default();
        reloaded.restore_authority(kept);
        assert!(!reloaded.is_authoritative());
    }
}
