//! What the hook counts: kept in atomics (read by `cloudstack-status`) and mirrored into Kea's
//! statistics (`statistic-get-all`) through the sink the FFI layer sets at load.
use parking_lot::RwLock;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;

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

/// The hook's statistics since load.
#[derive(Debug, Default)]
pub struct Counters {
    values: [AtomicI64; Stat::ALL.len()],
}

impl Counters {
    fn slot(&self, stat: Stat) -> &AtomicI64 {
        &self.values[Stat::ALL.iter().position(|s| *s == stat).expect("every Stat is in ALL")]
    }

    /// Count one event.
    pub fn bump(&self, stat: Stat) {
        self.slot(stat).fetch_add(1, Ordering::Relaxed);
        if let Some(sink) = SINK.read().as_ref() {
            sink.add(stat.name(), 1);
        }
    }

    /// Set a gauge.
    pub fn set(&self, stat: Stat, value: i64) {
        self.slot(stat).store(value, Ordering::Relaxed);
        if let Some(sink) = SINK.read().as_ref() {
            sink.set(stat.name(), value);
        }
    }

    /// Read one.
    pub fn get(&self, stat: Stat) -> i64 {
        self.slot(stat).load(Ordering::Relaxed)
    }
}
