//! The current index generation, swapped whole by the sync thread and read by packets.
use crate::index::NicIndex;
use parking_lot::RwLock;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

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
        *self.current.write() = index;
        if live {
            self.authoritative.store(true, Ordering::Release);
        }
    }

    /// Has a live sync succeeded since load (or before a reload that kept the index)?
    pub fn is_authoritative(&self) -> bool {
        self.authoritative.load(Ordering::Acquire)
    }
}
