//! Unknown MACs ask for an early sync, but each MAC at most once per sync generation, and the
//! memory of them is bounded: a flood of made-up MACs costs one sync per miss-holdoff.
use crate::mac::Mac;
use lru::LruCache;
use parking_lot::Mutex;
use std::num::NonZeroUsize;

/// Remembers recently unknown MACs.
pub struct MissFilter {
    recent: Mutex<LruCache<Mac, u64>>,
}

impl MissFilter {
    /// A filter remembering up to `capacity` MACs.
    pub fn new(capacity: usize) -> MissFilter {
        let capacity = NonZeroUsize::new(capacity.max(1)).expect("capacity is at least 1");
        MissFilter { recent: Mutex::new(LruCache::new(capacity)) }
    }

    /// Note an unknown MAC seen during sync generation `generation`; true when it should
    /// ask for a sync (it was not already noted in this generation).
    pub fn should_ask(&self, mac: Mac, generation: u64) -> bool {
        let mut recent = self.recent.lock();
        match recent.get(&mac) {
            Some(&noted) if noted == generation => false,
            _ => {
                recent.put(mac, generation);
                true
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_unknown_mac_asks_once_per_generation() {
        let filter = MissFilter::new(2);
        let mac = Mac([2, 0, 0, 0, 0, 1]);
        assert!(filter.should_ask(mac, 1));
        assert!(!filter.should_ask(mac, 1));
        assert!(filter.should_ask(mac, 2), "a later sync may have missed it: ask again");
    }

    #[test]
    fn memory_is_bounded_by_the_capacity() {
        let filter = MissFilter::new(2);
        for last in 0..100u8 {
            filter.should_ask(Mac([2, 0, 0, 0, 0, last]), 1);
        }
        assert_eq!(filter.recent.lock().len(), 2);
    }
}
