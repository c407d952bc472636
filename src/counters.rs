//! What the hook counted since load: read by Kea's statistics and the status command.
use std::sync::atomic::{AtomicU64, Ordering};

/// Per-event counters, updated lock-free on Kea's packet path.
#[derive(Debug, Default)]
pub struct Counters {
    pub delegated: AtomicU64,
    pub lookup_miss: AtomicU64,
    pub refused_vlan_mismatch: AtomicU64,
    pub refused_no_mac: AtomicU64,
    pub refused_not_relayed: AtomicU64,
    pub refused_unknown_interface: AtomicU64,
    pub withdrawn: AtomicU64,
    pub sync_ok: AtomicU64,
    pub sync_failed: AtomicU64,
}

impl Counters {
    /// Add one.
    pub fn bump(counter: &AtomicU64) {
        counter.fetch_add(1, Ordering::Relaxed);
    }

    /// Read one.
    pub fn get(counter: &AtomicU64) -> u64 {
        counter.load(Ordering::Relaxed)
    }
}
