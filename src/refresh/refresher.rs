//! The sync thread. It owns all waiting on CloudStack; Kea's threads only ever take a short
//! lock to ask for a sync or read the status.
use super::absence::Absences;
use super::events::{self as event_log, EventCursor, MAX_EVENTS};
use super::index_cell::IndexCell;
use super::source::NicSource;
use crate::cloudstack::ApiError;
use crate::config::HookConfig;
use crate::counters::{Counters, Stat};
use super::listing::Completeness;
use crate::index::{patch_index, snapshot, IndexBuilder, NicIndex};
use crate::log::{Level, DBG_SYNC};
use crate::log_at;
use parking_lot::{Condvar, Mutex};
use std::collections::{BTreeSet, HashSet};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, Ordering};
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
    /// The event log cannot be followed from where the sync is: only a listing catches up.
    EventGap,
}

impl SyncReason {
    fn text(self) -> &'static str {
        match self {
            SyncReason::WarmUp => "warm-up",
            SyncReason::Periodic => "periodic",
            SyncReason::UnknownMac => "unknown MAC",
            SyncReason::Operator => "operator request",
            SyncReason::EventGap => "event log gap",
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
    /// When the last complete listing was read.
    pub last_complete: Option<SystemTime>,
    /// Why the last listing was incomplete (None: it was complete, or none yet).
    pub last_incomplete: Option<String>,
    /// The event sync.
    pub events: EventStatus,
}

/// What the event sync did, for status reports.
#[derive(Clone, Debug, Default)]
pub struct EventStatus {
    /// `event-interval` is not 0.
    pub enabled: bool,
    /// A full listing anchored the sync in the event log (it can follow it).
    pub anchored: bool,
    pub polls: u64,
    pub last_poll: Option<SystemTime>,
    /// Why the last poll failed (None: it worked, or none yet).
    pub last_error: Option<String>,
    /// VMs the event sync applied (alive) and removed (confirmed gone), since load.
    pub vms_applied: u64,
    pub vms_removed: u64,
    /// Gaps that asked for a full listing, since load.
    pub gaps: u64,
    /// Indexed VMs that seem gone and wait for a lookup to confirm it.
    pub unconfirmed: usize,
}

/// What one job of the sync thread is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Job {
    /// A full listing.
    Listing(SyncReason),
    /// A poll of the event log and the VMs it names.
    Events,
}

/// Where the event sync stands between polls.
#[derive(Default)]
struct EventSync {
    /// Set by a full listing; None: not anchored (events off until a listing anchors them).
    cursor: Option<EventCursor>,
    /// listEvents (or the VMs it named) failed on the last poll.
    failing: bool,
    unconfirmed: BTreeSet<String>,
    last_snapshot: Option<Instant>,
    /// A poll changed the index since the snapshot was last written.
    snapshot_behind: bool,
}

/// The snapshot is written after event polls at most this often (listings write it every time).
const EVENT_SNAPSHOT_EVERY: Duration = Duration::from_secs(60);

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
    /// When the last job an unknown MAC asked for began.
    last_miss: Option<Instant>,
    /// When the last full listing began.
    last_listing: Option<Instant>,
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
    /// VMs of the index that listings lacked.
    absences: Mutex<Absences>,
    /// The index has been authoritative since the last time it was said that it is not.
    authority_noted: AtomicBool,
    events: Mutex<EventSync>,
}

/// How long stop() waits for the sync thread before leaving it to finish its request alone.
const STOP_WAIT: Duration = Duration::from_millis(500);

/// Sync threads that were stopped mid-request: the next sync thread joins them before it starts
/// (each ends within request-timeout), so two never sync at once and none is leaked.
static RETIRING: Mutex<Vec<JoinHandle<()>>> = Mutex::new(Vec::new());

/// A thread-local whose destructor the sync thread registers with the C library
/// (`__cxa_thread_atexit_impl`): glibc does not unmap a library while one of its threads has such
/// a destructor pending, so a thread left to finish a request never returns into unmapped code,
/// even when Kea unloads the library at shutdown.
struct LibraryPin;

impl Drop for LibraryPin {
    fn drop(&mut self) {}
}

thread_local! {
    static LIBRARY_PIN: LibraryPin = const { LibraryPin };
}

/// Owns the sync thread: started by load, stopped and joined by unload (or drop).
pub struct Refresher {
    shared: Arc<Shared>,
    thread: Mutex<Option<JoinHandle<()>>>,
}

impl Refresher {
    /// Start the thread; its first sync (warm-up) begins at once.
    pub fn start(cfg: HookConfig, source: Box<dyn NicSource>, index: Arc<IndexCell>, counters: Arc<Counters>) -> std::io::Result<Refresher> {
        let noted = index.is_authoritative();
        let shared = Arc::new(Shared {
            cfg,
            source,
            index,
            counters,
            control: Mutex::new(Control { stop: false, wanted: Some(SyncReason::WarmUp), generation: 0, last_miss: None, last_listing: None }),
            wake: Condvar::new(),
            status: Mutex::new(SyncStatus::default()),
            attempted: Condvar::new(),
            stopping: AtomicBool::new(false),
            shrink_held: Mutex::new(false),
            absences: Mutex::new(Absences::default()),
            authority_noted: AtomicBool::new(noted),
            events: Mutex::new(EventSync::default()),
        });
        let worker = shared.clone();
        let retiring = std::mem::take(&mut *RETIRING.lock());
        let thread = std::thread::Builder::new().name("cloudstack-sync".into()).spawn(move || {
            LIBRARY_PIN.with(|_| {});
            for earlier in retiring {
                let _ = earlier.join();
            }
            worker.run()
        })?;
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

    /// The sync generation (how many syncs have ended).
    pub fn generation(&self) -> u64 {
        self.shared.control.lock().generation
    }

    /// A copy of the sync status.
    pub fn status(&self) -> SyncStatus {
        let mut status = self.shared.status.lock().clone();
        let events = self.shared.events.lock();
        status.events.enabled = self.shared.cfg.event_interval.is_some();
        status.events.anchored = events.cursor.is_some();
        status.events.unconfirmed = events.unconfirmed.len();
        status
    }

    /// Stop the thread. Returns within STOP_WAIT whatever CloudStack does: a thread still inside
    /// a request is left to end it (within request-timeout), throws its result away, and is
    /// joined by the next sync thread.
    pub fn stop(&self) {
        self.shared.stopping.store(true, Ordering::Relaxed);
        self.shared.control.lock().stop = true;
        self.shared.wake.notify_all();
        let Some(thread) = self.thread.lock().take() else { return };
        if self.shared.status.lock().running {
            log_at!(Level::Debug(DBG_SYNC), CLOUDSTACK_SYNC_STOPPED);
        }
        let deadline = Instant::now() + STOP_WAIT;
        while !thread.is_finished() && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(5));
        }
        if thread.is_finished() {
            let _ = thread.join();
        } else {
            RETIRING.lock().push(thread);
        }
    }
}

impl Drop for Refresher {
    fn drop(&mut self) {
        self.stop();
    }
}

impl Shared {
    /// Say once, when it happens, that the index can no longer withdraw prefixes.
    fn note_authority(&self) {
        let authoritative = self.index.is_authoritative();
        if self.authority_noted.swap(authoritative, Ordering::Relaxed) && !authoritative {
            log_at!(Level::Warn, CLOUDSTACK_AUTHORITY_LAPSED, self.cfg.authority_max_age.as_secs());
        }
    }

    fn run(&self) {
        // With an empty index load() waits for the first sync: that one runs at Kea's own priority
        // (there is no packet to yield to yet). Every other sync yields to packets.
        let mut lowered = false;
        if !self.index.current().is_empty() {
            self.lower_priority(&mut lowered);
        }
        let mut next_periodic = Instant::now() + self.cfg.refresh_interval;
        let mut next_poll = self.cfg.event_interval.map(|every| Instant::now() + every);
        while let Some(job) = self.next_sync(next_periodic, next_poll) {
            // A panic in a sync is logged and the thread goes on syncing (parking_lot's locks
            // are not poisoned by it).
            let outcome = catch_unwind(AssertUnwindSafe(|| match job {
                Job::Listing(reason) => self.sync_once(reason),
                Job::Events => self.poll_events(),
            }));
            // A thread stopped mid-request says nothing more: Kea may be tearing its logger down.
            if self.stopping.load(Ordering::Relaxed) {
                break;
            }
            if let Err(payload) = outcome {
                let text = payload
                    .downcast_ref::<&str>()
                    .map(|s| s.to_string())
                    .or_else(|| payload.downcast_ref::<String>().cloned())
                    .unwrap_or_else(|| "panic".to_string());
                log_at!(Level::Error, CLOUDSTACK_SYNC_PANICKED, text);
                let mut status = self.status.lock();
                status.running = false;
                status.attempts += 1;
                drop(status);
                self.attempted.notify_all();
            }
            // A new generation once the job's result is in place: a MAC that asked while the job
            // ran (a retransmission) does not ask again for the same index, only if it is still
            // unknown afterwards.
            self.control.lock().generation += 1;
            self.note_authority();
            self.lower_priority(&mut lowered);
            if matches!(job, Job::Listing(_)) {
                next_periodic = Instant::now() + self.cfg.refresh_interval;
                self.status.lock().next_periodic = Some(next_periodic);
            }
            next_poll = self.cfg.event_interval.map(|every| Instant::now() + every);
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

    /// Can the event log be followed now (events on, anchored by a listing, last poll fine)?
    fn events_usable(&self) -> bool {
        let events = self.events.lock();
        self.cfg.event_interval.is_some() && events.cursor.is_some() && !events.failing
    }

    /// Block until a job is due (None: stop). An unknown MAC asks for an event poll, or for a
    /// listing while the event log cannot be followed, at most one per miss-holdoff.
    fn next_sync(&self, next_periodic: Instant, next_poll: Option<Instant>) -> Option<Job> {
        let mut control = self.control.lock();
        loop {
            if control.stop {
                return None;
            }
            let now = Instant::now();
            let anchored = self.events.lock().cursor.is_some();
            let next_poll = next_poll.filter(|_| anchored);
            let mut wake_at = next_poll.map_or(next_periodic, |poll| poll.min(next_periodic));
            match control.wanted {
                Some(SyncReason::UnknownMac) => {
                    // A poll waits out the holdoff since the last poll a miss asked for; a listing
                    // also since the last listing (the periodic polls do not count).
                    let usable = self.events_usable();
                    let last = if usable { control.last_miss } else { control.last_miss.max(control.last_listing) };
                    let allowed = last.map_or(now, |start| start + self.cfg.miss_holdoff);
                    if now >= allowed {
                        control.last_miss = Some(now);
                        let job = if usable { Job::Events } else { Job::Listing(SyncReason::UnknownMac) };
                        return self.begin(&mut control, job, now);
                    }
                    wake_at = wake_at.min(allowed);
                }
                Some(reason) => return self.begin(&mut control, Job::Listing(reason), now),
                None => {}
            }
            if now >= next_periodic {
                return self.begin(&mut control, Job::Listing(SyncReason::Periodic), now);
            }
            if next_poll.is_some_and(|poll| now >= poll) {
                return self.begin(&mut control, Job::Events, now);
            }
            self.wake.wait_until(&mut control, wake_at);
        }
    }

    fn begin(&self, control: &mut Control, job: Job, now: Instant) -> Option<Job> {
        // A listing serves whatever was asked for; a poll serves an unknown MAC while the event
        // log can be followed (else the MAC still waits for its listing).
        let served = match job {
            Job::Listing(_) => true,
            Job::Events => control.wanted == Some(SyncReason::UnknownMac) && self.events_usable(),
        };
        if served {
            control.wanted = None;
        }
        if matches!(job, Job::Listing(_)) {
            control.last_listing = Some(now);
        }
        Some(job)
    }

    fn sync_once(&self, reason: SyncReason) {
        log_at!(Level::Debug(DBG_SYNC), CLOUDSTACK_SYNC_STARTED, reason.text());
        self.status.lock().running = true;
        let started = Instant::now();
        let previous = self.index.current();
        // The newest event before the listing: the event sync follows the log from there, so
        // what changes while the listing pages is read again after it.
        let anchor = self.cfg.event_interval.map(|_| self.source.newest_event());
        // Pages go straight into the builder: a sync never holds the whole listing.
        let mut builder = IndexBuilder::new(&self.cfg, Some(&previous));
        let outcome = self.source.list_vms(&self.stopping, &mut |page| builder.add(&page));
        let result = outcome.map(|listing| {
            // What the listing could not speak for is settled by lookups, or kept.
            let settled = self.absences.lock().settle(&previous, &listing, &mut builder, &mut |id| {
                if self.stopping.load(Ordering::Relaxed) {
                    return Err(ApiError::Stopped);
                }
                self.source.lookup_vm(id)
            });
            if settled != Default::default() {
                let dropped = settled.dropped_twice_absent + settled.dropped_complete;
                log_at!(Level::Info, CLOUDSTACK_SYNC_ABSENT_SETTLED, settled.found_alive, settled.confirmed_gone, settled.kept, dropped);
            }
            (builder.finish(), listing.completeness())
        });
        let duration = started.elapsed();
        if self.stopping.load(Ordering::Relaxed) {
            // Cut short by unload (which logged it): nothing of it is used, and it is no failure.
            self.status.lock().running = false;
            return;
        }
        let mut status = self.status.lock();
        status.running = false;
        status.attempts += 1;
        status.last_finished = Some(SystemTime::now());
        status.last_duration = Some(duration);
        match result {
            Ok((index, completeness)) => {
                if status.failures_in_row > 0 {
                    log_at!(Level::Info, CLOUDSTACK_SYNC_RECOVERED, status.failures_in_row);
                }
                status.failures_in_row = 0;
                status.last_error = None;
                status.last_success = status.last_finished;
                let complete = completeness.is_complete();
                match completeness {
                    Completeness::Complete => {
                        status.last_complete = status.last_finished;
                        status.last_incomplete = None;
                    }
                    Completeness::Incomplete(why) => {
                        // Worth a warning once it keeps the index from withdrawing anything.
                        let level = if self.index.is_authoritative() { Level::Info } else { Level::Warn };
                        log_at!(level, CLOUDSTACK_SYNC_INCOMPLETE, why);
                        status.last_incomplete = Some(why);
                    }
                }
                drop(status);
                if let Some(anchor) = anchor {
                    self.anchor_events(anchor);
                }
                self.adopt(index, previous, duration, complete);
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

    /// Follow the event log from `anchor` (the newest event before the listing that just
    /// succeeded); when it could not be read, events stay off until the next listing.
    fn anchor_events(&self, anchor: Result<Option<crate::cloudstack::Event>, ApiError>) {
        let mut events = self.events.lock();
        events.unconfirmed.clear();
        events.snapshot_behind = false; // the listing's index is written as it is adopted
        match anchor {
            Ok(newest) => {
                events.cursor = Some(EventCursor::after(newest));
                events.failing = false;
                self.status.lock().events.last_error = None;
            }
            Err(error) => {
                events.cursor = None;
                let first = !events.failing;
                events.failing = true;
                drop(events);
                self.note_event_failure(first, &format!("listEvents: {error}"));
            }
        }
    }

    /// Say once per episode that the event sync fails and listings carry on alone.
    fn note_event_failure(&self, first: bool, why: &str) {
        self.status.lock().events.last_error = Some(why.to_string());
        let level = if first { Level::Warn } else { Level::Debug(DBG_SYNC) };
        let text = format!("event sync: {why}; full listings carry on every {} s and for unknown MACs", self.cfg.refresh_interval.as_secs());
        log_at!(level, CLOUDSTACK_SYNC_FAILED, self.index.current().len(), text);
    }

    /// One poll of the event log: the VMs its new events name are fetched and applied to the
    /// index as a new generation over the same table (no rebuild). A gap asks for a listing.
    fn poll_events(&self) {
        let Some(mut cursor) = self.events.lock().cursor.clone() else { return };
        let started = Instant::now();
        let outcome = self.source.events_since(cursor.since().as_deref(), MAX_EVENTS, &self.stopping);
        if self.stopping.load(Ordering::Relaxed) {
            return;
        }
        {
            let mut status = self.status.lock();
            status.events.polls += 1;
            status.events.last_poll = Some(SystemTime::now());
        }
        let read = match outcome {
            Ok(read) => read,
            Err(error) => return self.event_poll_failed(&format!("listEvents: {error}")),
        };
        let changes = match cursor.take(read) {
            Ok(changes) => changes,
            Err(gap) => {
                self.events.lock().cursor = None;
                self.status.lock().events.gaps += 1;
                let text = format!("event log gap: {gap}; a full listing follows");
                log_at!(Level::Info, CLOUDSTACK_SYNC_FAILED, self.index.current().len(), text);
                let mut control = self.control.lock();
                control.wanted = Some(SyncReason::EventGap);
                self.wake.notify_one();
                return;
            }
        };
        let mut asked = changes.vms;
        asked.extend(self.events.lock().unconfirmed.iter().cloned());
        if !asked.is_empty() {
            let ids: Vec<String> = asked.iter().cloned().collect();
            let fetched = match self.source.vms_by_ids(&ids, &self.stopping) {
                Ok(fetched) => fetched,
                Err(error) => return self.event_poll_failed(&format!("listVirtualMachines ids=…: {error}")),
            };
            let previous = self.index.current();
            let settled = event_log::settle(&asked, fetched, &previous, &mut |id| {
                if self.stopping.load(Ordering::Relaxed) {
                    return Err(ApiError::Stopped);
                }
                self.source.lookup_vm(id)
            });
            if self.stopping.load(Ordering::Relaxed) {
                return;
            }
            let index = patch_index(&previous, &self.cfg, &settled.fresh, &settled.gone);
            for refused in index.refused().iter().skip(previous.refused().len()) {
                log_at!(Level::Warn, CLOUDSTACK_NIC_REFUSED, refused.nic_id, refused.vm_id, refused.reason);
            }
            log_at!(
                Level::Info,
                CLOUDSTACK_SYNC_FINISHED,
                index.len(),
                self.cfg.vlans.len(),
                started.elapsed().as_millis(),
                asked.len(),
                index.refused_count()
            );
            {
                let mut status = self.status.lock();
                status.events.vms_applied += settled.fresh.len() as u64;
                status.events.vms_removed += settled.gone.len() as u64;
            }
            self.counters.set(Stat::Nics, index.len() as i64);
            drop(previous);
            let index = Arc::new(index);
            self.index.adopt(index.clone());
            let mut events = self.events.lock();
            events.unconfirmed = settled.unconfirmed;
            events.snapshot_behind = true;
        } else {
            log_at!(Level::Debug(DBG_SYNC), CLOUDSTACK_SYNC_STARTED, format!("events: {} new, none about a watched VM change", changes.fresh));
        }
        self.write_snapshot_when_due();
        let mut events = self.events.lock();
        if events.cursor.is_some() {
            events.cursor = Some(cursor);
        }
        if events.failing {
            events.failing = false;
            drop(events);
            self.status.lock().events.last_error = None;
            log_at!(Level::Info, CLOUDSTACK_SYNC_RECOVERED, 1u64);
        }
    }

    /// Write the snapshot when a poll changed the index and the last write is EVENT_SNAPSHOT_EVERY
    /// old, also on a quiet poll after the change (so a restart never loads a change-less index
    /// for longer than that).
    fn write_snapshot_when_due(&self) {
        let Some(path) = &self.cfg.snapshot_file else { return };
        {
            let mut events = self.events.lock();
            let due = events.last_snapshot.is_none_or(|last| last.elapsed() >= EVENT_SNAPSHOT_EVERY);
            if !events.snapshot_behind || !due {
                return;
            }
            events.snapshot_behind = false;
            events.last_snapshot = Some(Instant::now());
        }
        if let Err(error) = snapshot::write(path, &self.index.current(), &self.cfg) {
            log_at!(Level::Warn, CLOUDSTACK_SNAPSHOT_WRITE_FAILED, path.display(), error);
        }
    }

    fn event_poll_failed(&self, why: &str) {
        if self.stopping.load(Ordering::Relaxed) {
            return; // cut short by unload: no failure
        }
        let first = {
            let mut events = self.events.lock();
            let first = !events.failing;
            events.failing = true;
            first
        };
        self.note_event_failure(first, why);
    }

    /// Take `index` as current. `previous` is let go of before the swap, so that the old index
    /// is freed here, on the sync thread, and not by a packet (see index_cell's `retire`).
    fn adopt(&self, index: NicIndex, previous: Arc<NicIndex>, duration: Duration, complete: bool) {
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
            index.refused_count()
        );
        self.counters.set(Stat::Nics, index.len() as i64);
        self.counters.set(Stat::RefusedCollision, index.refused_count() as i64);
        let now = SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default().as_secs();
        self.counters.set(Stat::LastSyncTime, now as i64);
        // Serve the new index first; the snapshot (a write and an fsync) follows.
        let index = Arc::new(index);
        self.index.adopt(index.clone());
        if complete {
            self.index.grant_authority(self.cfg.authority_max_age);
        }
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
    use crate::cloudstack::Vm;
    use crate::refresh::listing::Listing;
    use serde_json::json;
    use std::sync::atomic::{AtomicUsize, Ordering};

    struct Scripted {
        answers: Mutex<Vec<Result<Vec<Vm>, ApiError>>>,
        calls: AtomicUsize,
    }

    impl NicSource for Arc<Scripted> {
        fn list_vms(&self, _stop: &AtomicBool, page: &mut dyn FnMut(Vec<Vm>)) -> Result<Listing, ApiError> {
            self.calls.fetch_add(1, Ordering::SeqCst);
            let mut answers = self.answers.lock();
            let answer = if answers.len() > 1 { answers.remove(0) } else { answers[0].clone() };
            let vms = answer?;
            let listing = Listing::of(&vms);
            page(vms);
            Ok(listing)
        }

        fn lookup_vm(&self, _id: &str) -> Result<Option<Vm>, ApiError> {
            Err(ApiError::Transport("scripted: no lookups".into()))
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

    /// A source whose listing panics once, then answers.
    struct PanicsOnce {
        panicked: AtomicBool,
    }

    impl NicSource for Arc<PanicsOnce> {
        fn list_vms(&self, _stop: &AtomicBool, page: &mut dyn FnMut(Vec<Vm>)) -> Result<Listing, ApiError> {
            if !self.panicked.swap(true, Ordering::SeqCst) {
                panic!("a bug in the listing");
            }
            let vms = one_vm();
            let listing = Listing::of(&vms);
            page(vms);
            Ok(listing)
        }

        fn lookup_vm(&self, _id: &str) -> Result<Option<Vm>, ApiError> {
            Ok(None)
        }
    }

    #[test]
    fn a_panic_in_a_sync_is_survived_and_syncing_goes_on() {
        let source = Arc::new(PanicsOnce { panicked: AtomicBool::new(false) });
        let cell = Arc::new(IndexCell::default());
        let refresher = Refresher::start(cfg(0), Box::new(source), cell.clone(), Arc::default()).unwrap();
        assert!(!refresher.wait_first_attempt(Duration::from_secs(5)), "the first sync panicked");
        sync_and_wait(&refresher);
        assert_eq!(cell.current().len(), 1, "the next sync ran and served");
        assert!(cell.is_authoritative());
    }

    /// A source whose listing blocks until told, as a CloudStack that accepts and never answers.
    struct Hangs {
        release: Mutex<bool>,
        released: Condvar,
    }

    impl NicSource for Arc<Hangs> {
        fn list_vms(&self, _stop: &AtomicBool, page: &mut dyn FnMut(Vec<Vm>)) -> Result<Listing, ApiError> {
            let mut release = self.release.lock();
            while !*release {
                self.released.wait(&mut release);
            }
            let vms = one_vm();
            let listing = Listing::of(&vms);
            page(vms);
            Ok(listing)
        }

        fn lookup_vm(&self, _id: &str) -> Result<Option<Vm>, ApiError> {
            Ok(None)
        }
    }

    #[test]
    fn stop_returns_at_once_while_a_request_hangs_and_the_hung_sync_is_thrown_away() {
        let hangs = Arc::new(Hangs { release: Mutex::new(false), released: Condvar::new() });
        let cell = Arc::new(IndexCell::default());
        let refresher = Refresher::start(cfg(0), Box::new(hangs.clone()), cell.clone(), Arc::default()).unwrap();
        assert!(!refresher.wait_first_attempt(Duration::from_millis(100)));
        let started = Instant::now();
        refresher.stop();
        assert!(started.elapsed() < Duration::from_secs(1), "stop waited {:?}", started.elapsed());
        // The next hook's thread joins the old one before it syncs (RETIRING is shared by every
        // test here, so this only shows that it then serves; the old one is released first).
        *hangs.release.lock() = true;
        hangs.released.notify_all();
        let (next, _source, next_cell) = start(vec![Ok(one_vm())], 0);
        assert!(next.wait_first_attempt(Duration::from_secs(5)));
        assert_eq!(next_cell.current().len(), 1);
        // The old thread holds the old cell until it ends.
        drop(refresher);
        let deadline = Instant::now() + Duration::from_secs(5);
        while Arc::strong_count(&cell) > 1 && Instant::now() < deadline {
            std::thread::yield_now();
        }
        assert_eq!(Arc::strong_count(&cell), 1, "the hung thread ended");
        assert_eq!(cell.current().len(), 0, "the stopped sync used nothing of what it got");
    }

    /// A cloud with an event log: `vms` listed, `events` kept, `ids` fetches counted.
    struct Logged {
        vms: Mutex<Vec<Vm>>,
        events: Mutex<Vec<crate::cloudstack::Event>>,
        listings: AtomicUsize,
        fetched: Mutex<Vec<String>>,
    }

    impl NicSource for Arc<Logged> {
        fn list_vms(&self, _stop: &AtomicBool, page: &mut dyn FnMut(Vec<Vm>)) -> Result<Listing, ApiError> {
            self.listings.fetch_add(1, Ordering::SeqCst);
            let vms = self.vms.lock().clone();
            let listing = Listing::of(&vms);
            page(vms);
            Ok(listing)
        }

        fn lookup_vm(&self, id: &str) -> Result<Option<Vm>, ApiError> {
            Ok(self.vms.lock().iter().find(|vm| vm.id == id).cloned())
        }

        fn newest_event(&self) -> Result<Option<crate::cloudstack::Event>, ApiError> {
            Ok(self.events.lock().last().cloned())
        }

        fn events_since(&self, _since: Option<&str>, _max: usize, _stop: &AtomicBool) -> Result<crate::cloudstack::EventsRead, ApiError> {
            Ok(crate::cloudstack::EventsRead::Events { events: self.events.lock().clone(), server_now: None })
        }

        fn vms_by_ids(&self, ids: &[String], _stop: &AtomicBool) -> Result<Vec<Vm>, ApiError> {
            self.fetched.lock().extend(ids.iter().cloned());
            Ok(self.vms.lock().iter().filter(|vm| ids.contains(&vm.id)).cloned().collect())
        }
    }

    fn event(id: &str, kind: &str, vm: &str, second: u32) -> crate::cloudstack::Event {
        crate::cloudstack::Event {
            id: id.into(),
            kind: kind.into(),
            resourceid: Some(vm.into()),
            resourcetype: Some("VirtualMachine".into()),
            created: format!("2024-05-06T12:00:{second:02}+0000"),
            ..Default::default()
        }
    }

    #[test]
    fn events_bring_a_new_vm_and_take_a_destroyed_one_without_a_listing_and_a_gap_brings_one() {
        let cfg = HookConfig::from_json(&json!({
            "api-url": "https://c/client/api", "api-key": "k", "api-secret": "s", "trusted-relays": ["fd00::/8"],
            "event-interval": 1, "miss-holdoff": 0,
            "vlans": [{"vlan": 709, "interface-id": "VLAN709", "prefix": "2a00:f10:500::/40"}]
        }))
        .unwrap();
        let source = Arc::new(Logged {
            vms: Mutex::new(vms(3)),
            events: Mutex::new(vec![event("e1", "VM.CREATE", "vm2", 0)]),
            listings: AtomicUsize::new(0),
            fetched: Mutex::new(Vec::new()),
        });
        let cell = Arc::new(IndexCell::default());
        let refresher = Refresher::start(cfg, Box::new(source.clone()), cell.clone(), Arc::default()).unwrap();
        assert!(refresher.wait_first_attempt(Duration::from_secs(5)));
        assert_eq!(cell.current().len(), 3);
        let wait = |what: &str, check: &dyn Fn() -> bool| {
            let deadline = Instant::now() + Duration::from_secs(10);
            while !check() && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(10));
            }
            assert!(check(), "{what}");
        };
        // A fourth VM is deployed; an unknown MAC asks for a poll.
        source.vms.lock().extend(vms(4).into_iter().skip(3));
        source.events.lock().push(event("e2", "VM.CREATE", "vm3", 5));
        refresher.request(SyncReason::UnknownMac);
        wait("vm3 is applied from events", &|| cell.current().len() == 4);
        assert_eq!(source.listings.load(Ordering::SeqCst), 1, "the warm-up only");
        assert_eq!(*source.fetched.lock(), ["vm3"]);
        assert!(cell.current().delta_len() > 0, "a delta over the warm-up's table");
        // vm0 is destroyed.
        source.vms.lock()[0].state = "Destroyed".into();
        source.events.lock().push(event("e3", "VM.DESTROY", "vm0", 9));
        wait("vm0 leaves", &|| cell.current().len() == 3);
        assert_eq!(source.listings.load(Ordering::SeqCst), 1);
        // The log is purged: the last event seen is gone, a listing follows.
        *source.events.lock() = vec![event("e9", "VM.START", "vm1", 30)];
        wait("a gap brings a listing", &|| source.listings.load(Ordering::SeqCst) == 2);
        assert_eq!(refresher.status().events.gaps, 1);
        assert!(cell.is_authoritative());
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
