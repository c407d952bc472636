//! The sync thread. It owns all waiting on CloudStack; Kea's threads only ever take a short
//! lock to ask for a sync or read the status.
use super::index_cell::IndexCell;
use super::source::NicSource;
use crate::config::HookConfig;
use crate::counters::{Counters, Stat};
use crate::index::{snapshot, IndexBuilder, NicIndex};
use crate::log::{Level, DBG_SYNC};
use crate::log_at;
use parking_lot::{Condvar, Mutex};
use std::collections::HashSet;
use std::sync::atomic::AtomicBool;
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant, SystemTime};

/// Why a sync runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SyncReason {
    WarmUp,
    Periodic,
    UnknownMac,
    Operator,
}

impl SyncReason {
    fn text(self) -> &'static str {
        match self {
            SyncReason::WarmUp => "warm-up",
            SyncReason::Periodic => "periodic",
            SyncReason::UnknownMac => "unknown MAC",
            SyncReason::Operator => "operator request",
        }
    }
}

/// What the last syncs did, for status reports.
#[derive(Clone, Debug, Default)]
pub struct SyncStatus {
    pub running: bool,
    pub attempts: u64,
    pub last_finished: Option<SystemTime>,
    pub last_success: Option<SystemTime>,
    pub last_duration: Option<Duration>,
    pub last_error: Option<String>,
    pub failures_in_row: u64,
    pub next_periodic: Option<Instant>,
}

/// A listing smaller than this share of the current index is held for confirmation.
const SHRINK_SHARE: f64 = 0.5;
/// Indexes smaller than this may shrink freely (small clouds change by large shares).
const SHRINK_MIN_INDEX: usize = 10;

/// Is `fresh` suspiciously small next to `current`?
fn shrunk(fresh: usize, current: usize) -> bool {
    current >= SHRINK_MIN_INDEX && (fresh as f64) < (current as f64) * SHRINK_SHARE
}

struct Control {
    stop: bool,
    wanted: Option<SyncReason>,
    generation: u64,
    last_start: Option<Instant>,
}

struct Shared {
    cfg: HookConfig,
    source: Box<dyn NicSource>,
    index: Arc<IndexCell>,
    counters: Arc<Counters>,
    control: Mutex<Control>,
    wake: Condvar,
    status: Mutex<SyncStatus>,
    attempted: Condvar,
    stopping: AtomicBool,
    /// The previous sync was held back as a shrink: the next shrunk one confirms it.
    shrink_held: Mutex<bool>,
}

/// Owns the sync thread: started by load, stopped and joined by unload (or drop).
pub struct Refresher {
    shared: Arc<Shared>,
    thread: Mutex<Option<JoinHandle<()>>>,
}

impl Refresher {
    /// Start the thread; its first sync (warm-up) begins at once.
    pub fn start(cfg: HookConfig, source: Box<dyn NicSource>, index: Arc<IndexCell>, counters: Arc<Counters>) -> std::io::Result<Refresher> {
        let shared = Arc::new(Shared {
            cfg,
            source,
            index,
            counters,
            control: Mutex::new(Control { stop: false, wanted: Some(SyncReason::WarmUp), generation: 0, last_start: None }),
            wake: Condvar::new(),
            status: Mutex::new(SyncStatus::default()),
            attempted: Condvar::new(),
            stopping: AtomicBool::new(false),
            shrink_held: Mutex::new(false),
        });
        let worker = shared.clone();
        let thread = std::thread::Builder::new().name("cloudstack-sync".into()).spawn(move || worker.run())?;
        Ok(Refresher { shared, thread: Mutex::new(Some(thread)) })
    }

    /// Wait at most `timeout` for the first sync attempt to end; true if one succeeded.
    pub fn wait_first_attempt(&self, timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        let mut status = self.shared.status.lock();
        while status.attempts == 0 {
            if self.shared.attempted.wait_until(&mut status, deadline).timed_out() {
                break;
            }
        }
        status.last_success.is_some()
    }

    /// Ask for a sync soon; never waits for it. Unknown-MAC requests respect miss-holdoff.
    pub fn request(&self, reason: SyncReason) {
        let mut control = self.shared.control.lock();
        if control.wanted.is_none() || reason == SyncReason::Operator {
            control.wanted = Some(reason);
        }
        self.shared.wake.notify_one();
    }

    /// The sync generation (how many syncs have started).
    pub fn generation(&self) -> u64 {
        self.shared.control.lock().generation
    }

    /// A copy of the sync status.
    pub fn status(&self) -> SyncStatus {
        self.shared.status.lock().clone()
    }

    /// Stop the thread and wait for it (a request under way ends at its timeout at most).
    pub fn stop(&self) {
        self.shared.stopping.store(true, std::sync::atomic::Ordering::Relaxed);
        self.shared.control.lock().stop = true;
        self.shared.wake.notify_all();
        let thread = self.thread.lock().take();
        if let Some(thread) = thread {
            let _ = thread.join();
        }
    }
}

impl Drop for Refresher {
    fn drop(&mut self) {
        self.stop();
    }
}

impl Shared {
    fn run(&self) {
        // With an empty index load() waits for the first sync: that one runs at Kea's own priority
        // (there is no packet to yield to yet). Every other sync yields to packets.
        let mut lowered = false;
        if !self.index.current().is_empty() {
            self.lower_priority(&mut lowered);
        }
        let mut next_periodic = Instant::now() + self.cfg.refresh_interval;
        while let Some(reason) = self.next_sync(next_periodic) {
            self.sync_once(reason);
            self.lower_priority(&mut lowered);
            next_periodic = Instant::now() + self.cfg.refresh_interval;
            self.status.lock().next_periodic = Some(next_periodic);
        }
    }

    fn lower_priority(&self, lowered: &mut bool) {
        if !*lowered {
            *lowered = true;
            if crate::ffi::thread_priority::lower_this_thread() != crate::ffi::thread_priority::Lowered::Idle {
                log_at!(Level::Debug(DBG_SYNC), CLOUDSTACK_SYNC_PRIORITY_KEPT);
            }
        }
    }

    /// Block until a sync is due (None: stop). Unknown-MAC syncs wait out miss-holdoff.
    fn next_sync(&self, next_periodic: Instant) -> Option<SyncReason> {
        let mut control = self.control.lock();
        loop {
            if control.stop {
                return None;
            }
            let now = Instant::now();
            let mut wake_at = next_periodic;
            match control.wanted {
                Some(SyncReason::UnknownMac) => {
                    let allowed = control.last_start.map_or(now, |start| start + self.cfg.miss_holdoff);
                    if now >= allowed {
                        return self.begin(&mut control, SyncReason::UnknownMac, now);
                    }
                    wake_at = wake_at.min(allowed);
                }
                Some(reason) => return self.begin(&mut control, reason, now),
                None => {}
            }
            if now >= next_periodic {
                return self.begin(&mut control, SyncReason::Periodic, now);
            }
            self.wake.wait_until(&mut control, wake_at);
        }
    }

    fn begin(&self, control: &mut Control, reason: SyncReason, now: Instant) -> Option<SyncReason> {
        control.wanted = None;
        control.generation += 1;
        control.last_start = Some(now);
        Some(reason)
    }

    fn sync_once(&self, reason: SyncReason) {
        log_at!(Level::Debug(DBG_SYNC), CLOUDSTACK_SYNC_STARTED, reason.text());
        self.status.lock().running = true;
        let started = Instant::now();
        let previous = self.index.current();
        // Pages go straight into the builder: a sync never holds the whole listing.
        let mut builder = IndexBuilder::new(&self.cfg, Some(&previous));
        let outcome = self.source.list_vms(&self.stopping, &mut |page| builder.add(&page));
        let duration = started.elapsed();
        let result = outcome.map(|()| builder.finish());
        let mut status = self.status.lock();
        status.running = false;
        status.attempts += 1;
        status.last_finished = Some(SystemTime::now());
        status.last_duration = Some(duration);
        match result {
            Ok(index) => {
                if status.failures_in_row > 0 {
                    log_at!(Level::Info, CLOUDSTACK_SYNC_RECOVERED, status.failures_in_row);
                }
                status.failures_in_row = 0;
                status.last_error = None;
                status.last_success = status.last_finished;
                drop(status);
                self.adopt(index, previous, duration);
                // Counted once the result is in place (served, and on disk when configured).
                self.counters.bump(Stat::SyncOk);
            }
            Err(error) => {
                self.counters.bump(Stat::SyncFailed);
                status.failures_in_row += 1;
                status.last_error = Some(error.to_string());
                let level = if status.failures_in_row == 1 { Level::Error } else { Level::Debug(DBG_SYNC) };
                drop(status);
                log_at!(level, CLOUDSTACK_SYNC_FAILED, previous.len(), error);
            }
        }
        self.attempted.notify_all();
    }

    /// Take `index` as current. `previous` is let go of before the swap, so that the old index
    /// is freed here, on the sync thread, and not by a packet (see index_cell's `retire`).
    fn adopt(&self, index: NicIndex, previous: Arc<NicIndex>, duration: Duration) {
        {
            let mut held = self.shrink_held.lock();
            if shrunk(index.len(), previous.len()) && !*held {
                *held = true;
                log_at!(Level::Warn, CLOUDSTACK_SYNC_SHRINK_HELD, index.len(), previous.len());
                return;
            }
            *held = false;
        }
        {
            let known: HashSet<(&str, &str)> = previous.refused().iter().map(|r| (r.nic_id.as_str(), r.reason.as_str())).collect();
            for refused in index.refused().iter().filter(|r| !known.contains(&(r.nic_id.as_str(), r.reason.as_str()))) {
                log_at!(Level::Warn, CLOUDSTACK_NIC_REFUSED, refused.nic_id, refused.vm_id, refused.reason);
            }
        }
        drop(previous);
        log_at!(
            Level::Info,
            CLOUDSTACK_SYNC_FINISHED,
            index.len(),
            index.per_vlan().len(),
            duration.as_millis(),
            index.vms_read(),
            index.refused().len()
        );
        self.counters.set(Stat::Nics, index.len() as i64);
        self.counters.set(Stat::RefusedCollision, index.refused().len() as i64);
        let now = SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default().as_secs();
        self.counters.set(Stat::LastSyncTime, now as i64);
        // Serve the new index first; the snapshot (a write and an fsync) follows.
        let index = Arc::new(index);
        self.index.adopt(index.clone(), true);
        if let Some(path) = &self.cfg.snapshot_file {
            if let Err(error) = snapshot::write(path, &index, &self.cfg) {
                log_at!(Level::Warn, CLOUDSTACK_SNAPSHOT_WRITE_FAILED, path.display(), error);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cloudstack::{ApiError, Vm};
    use serde_json::json;
    use std::sync::atomic::{AtomicUsize, Ordering};

    struct Scripted {
        answers: Mutex<Vec<Result<Vec<Vm>, ApiError>>>,
        calls: AtomicUsize,
    }

    impl NicSource for Arc<Scripted> {
        fn list_vms(&self, _stop: &AtomicBool, page: &mut dyn FnMut(Vec<Vm>)) -> Result<(), ApiError> {
            self.calls.fetch_add(1, Ordering::SeqCst);
            let mut answers = self.answers.lock();
            let answer = if answers.len() > 1 { answers.remove(0) } else { answers[0].clone() };
            answer.map(page)
        }
    }

    fn cfg(holdoff: u64) -> HookConfig {
        HookConfig::from_json(&json!({
            "api-url": "https://c/client/api", "api-key": "k", "api-secret": "s", "trusted-relays": ["fd00::/8"], "miss-holdoff": holdoff,
            "vlans": [{"vlan": 709, "interface-id": "VLAN709", "prefix": "2a00:f10:500::/40"}]
        }))
        .unwrap()
    }

    fn one_vm() -> Vec<Vm> {
        serde_json::from_value(json!([{"id": "vm", "state": "Running", "nic": [
            {"id": "n", "macaddress": "02:00:00:00:00:01", "ipaddress": "185.62.101.23", "netmask": "255.255.252.0", "vlanid": 709}
        ]}]))
        .unwrap()
    }

    fn start(answers: Vec<Result<Vec<Vm>, ApiError>>, holdoff: u64) -> (Refresher, Arc<Scripted>, Arc<IndexCell>) {
        let source = Arc::new(Scripted { answers: Mutex::new(answers), calls: AtomicUsize::new(0) });
        let cell = Arc::new(IndexCell::default());
        let refresher = Refresher::start(cfg(holdoff), Box::new(source.clone()), cell.clone(), Arc::default()).unwrap();
        (refresher, source, cell)
    }

    #[test]
    fn warm_up_fills_the_index_and_a_failed_sync_keeps_it_whole() {
        let (refresher, _source, cell) = start(vec![Ok(one_vm()), Err(ApiError::Status { code: 530, text: "boom".into() })], 0);
        assert!(refresher.wait_first_attempt(Duration::from_secs(5)));
        assert_eq!(cell.current().len(), 1);
        assert!(cell.is_authoritative());
        refresher.request(SyncReason::Operator);
        let deadline = Instant::now() + Duration::from_secs(5);
        while refresher.status().failures_in_row == 0 && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(10));
        }
        assert_eq!(refresher.status().failures_in_row, 1);
        assert!(refresher.status().last_error.unwrap().contains("530"));
        assert_eq!(cell.current().len(), 1, "the previous index stays whole");
    }

    #[test]
    fn a_flood_of_unknown_mac_requests_costs_one_sync_per_holdoff() {
        let (refresher, source, _cell) = start(vec![Ok(one_vm())], 2);
        assert!(refresher.wait_first_attempt(Duration::from_secs(5)));
        for _ in 0..1000 {
            refresher.request(SyncReason::UnknownMac);
        }
        std::thread::sleep(Duration::from_millis(500));
        assert_eq!(source.calls.load(Ordering::SeqCst), 1, "still inside miss-holdoff after warm-up");
        std::thread::sleep(Duration::from_millis(2000));
        assert_eq!(source.calls.load(Ordering::SeqCst), 2, "one sync once the holdoff passed");
    }

    fn vms(count: usize) -> Vec<Vm> {
        (0..count)
            .map(|i| {
                serde_json::from_value(json!({"id": format!("vm{i}"), "state": "Running", "nic": [{"id": format!("n{i}"),
                    "macaddress": format!("02:00:00:00:{:02x}:{:02x}", i / 256, i % 256), "ipaddress": format!("185.62.100.{}", i + 2),
                    "netmask": "255.255.252.0", "vlanid": 709}]}))
                .unwrap()
            })
            .collect()
    }

    fn sync_and_wait(refresher: &Refresher) {
        let before = refresher.status().attempts;
        refresher.request(SyncReason::Operator);
        let deadline = Instant::now() + Duration::from_secs(5);
        while refresher.status().attempts == before && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(5));
        }
    }

    #[test]
    fn a_sync_that_suddenly_sees_far_fewer_nics_waits_for_the_next_one_to_confirm() {
        let (refresher, _source, cell) = start(vec![Ok(vms(40)), Ok(vms(12)), Ok(vms(40)), Ok(vms(12)), Ok(vms(12))], 0);
        assert!(refresher.wait_first_attempt(Duration::from_secs(5)));
        assert_eq!(cell.current().len(), 40);
        sync_and_wait(&refresher);
        assert_eq!(cell.current().len(), 40, "12 of 40 is held back");
        sync_and_wait(&refresher);
        assert_eq!(cell.current().len(), 40, "back to 40: the shrink was a blip");
        sync_and_wait(&refresher);
        assert_eq!(cell.current().len(), 40, "held again");
        sync_and_wait(&refresher);
        assert_eq!(cell.current().len(), 12, "confirmed by the next sync");
    }

    #[test]
    fn small_clouds_and_moderate_shrinks_are_adopted_at_once() {
        assert!(!shrunk(0, 9));
        assert!(!shrunk(20, 40));
        assert!(shrunk(19, 40));
    }

    #[test]
    fn stop_joins_the_thread_promptly() {
        let (refresher, _source, _cell) = start(vec![Ok(one_vm())], 0);
        refresher.wait_first_attempt(Duration::from_secs(5));
        let started = Instant::now();
        refresher.stop();
        assert!(started.elapsed() < Duration::from_secs(2));
    }
}
