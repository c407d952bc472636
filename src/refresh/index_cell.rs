//! The current index generation, swapped whole by the sync thread and read by packets.
use crate::index::NicIndex;
use parking_lot::RwLock;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

/// How long the replacing thread waits for packets to let go of an old index.
const RETIRE_WAIT: Duration = Duration::from_millis(50);

/// Holds the current index; readers take an `Arc` and never wait on a sync.
#[derive(Default)]
pub struct IndexCell {
    current: RwLock<Arc<NicIndex>>,
    authoritative: AtomicBool,
}

impl IndexCell {
    /// The current index.
    pub fn current(&self) -> Arc<NicIndex> {
        self.current.read().clone()
    }

    /// Replace the index. `live` says it came from CloudStack now (not from a snapshot):
    /// only then may the hook withdraw prefixes of NICs it does not find.
    pub fn replace(&self, index: NicIndex, live: bool) {
        self.adopt(Arc::new(index), live);
    }

    /// `replace` with an index already shared (one kept across a reload).
    pub fn adopt(&self, index: Arc<NicIndex>, live: bool) {
        let old = std::mem::replace(&mut *self.current.write(), index);
        if live {
            self.authoritative.store(true, Ordering::Release);
        }
        retire(old);
    }

    /// Has a live sync succeeded since load (or before a reload that kept the index)?
    pub fn is_authoritative(&self) -> bool {
        self.authoritative.load(Ordering::Acquire)
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
        cell.replace(NicIndex::default(), true);
        let reader = cell.current();
        let weak = Arc::downgrade(&reader);
        let releaser = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(5));
            drop(reader);
        });
        cell.replace(NicIndex::default(), true);
        // replace() returned only after the reader let go, having freed the old index itself.
        assert!(weak.upgrade().is_none());
        releaser.join().unwrap();
    }
}
