//! A latency model, so the stand-in can answer as slowly as a real management server with a big database does.
//!
//! An API answer costs `request` + `vm rows returned × row` + `rows skipped by the OFFSET × skipped row`, and at
//! most `workers` API requests are served at once: the rest queue, first come first served. Control endpoints cost
//! nothing and never queue; neither do faults that answer in their own way (`refuse`, `status`, `garbage`, `hang`,
//! `truncate`, `accept-and-hang`), nor Jetty's refusal of an oversized head. Everything is off (0) unless a flag
//! says otherwise, so stories keep their speed.
//!
//! The answer is computed when the request arrives (it reflects the cloud then, as `hang` does) and sent once its
//! time has come; in between it waits in a timer queue, holding no worker thread, so `/control/` and fault repairs
//! are never starved however many slow answers are pending.
//!
//! # Realistic values (`--latency cloudstack`)
//!
//! | cost | value | where it comes from |
//! |------|-------|---------------------|
//! | per request | 25 ms | PR 7911 (4.18.1): a UI page of instances takes 20–40 ms with `details=min` |
//! | per VM row | 500 µs | PR 7911: `details=all` pages take 300–400 ms, 10× slower than `details=min`; `details=nics` (the hook's) sits between: ~2× min's per-row share, an order below all's |
//! | per skipped row | 20 µs | PR 8012 (4.19): to page, the whole potential result set is built and the page cut from it; "with as little as 50k records the API starts to become noticeably slow, and by 100k records it becomes almost impossible to page through" |
//! | workers | 4 | a listing query runs on one database core; a modest management database has 4 or so to give |
//!
//! With these, one full listing (pagesize 500, one pass, and the empty page that ends it) costs: 10k VMs ≈ 8 s
//! (21 requests), 50k ≈ 78 s (the last pages ≈ 1.3 s each), 100k ≈ 4.3 min (201 requests: 5 s fixed + 50 s for the
//! rows + 201 s skipping 10 M rows; the last pages ≈ 2.3 s each): "minutes", the same order as issue 8975's 5–10
//! minutes for one `listall=true` listing with every detail. A lookup of 100 ids costs 75 ms, an event poll 25 ms.

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::sync::{Arc, Once};
use std::thread;
use std::time::{Duration, Instant};

use parking_lot::{Condvar, Mutex};
use tiny_http::Request;

use crate::http;

/// What answering one request cost the database.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Work {
    /// VM rows in the answer.
    pub vm_rows: usize,
    /// Event rows in the answer (counted, not charged: event rows are cheap next to VM rows).
    pub event_rows: usize,
    /// Matching rows the OFFSET skipped to reach the page.
    pub skipped: usize,
}

impl Work {
    /// The rows the answer held, VMs and events alike (what the request log counts).
    pub fn rows(&self) -> usize {
        self.vm_rows + self.event_rows
    }
}

/// The costs; all zero is "off".
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Latency {
    /// Fixed cost of every API request.
    pub request: Duration,
    /// Cost of every VM row returned.
    pub row: Duration,
    /// Cost of every row the OFFSET skips.
    pub skipped_row: Duration,
    /// API requests served at once; 0: no limit.
    pub workers: usize,
}

impl Latency {
    /// The realistic values of this module's documentation.
    pub const CLOUDSTACK: Latency = Latency {
        request: Duration::from_millis(25),
        row: Duration::from_micros(500),
        skipped_row: Duration::from_micros(20),
        workers: 4,
    };

    /// Whether answers go out as soon as they are computed.
    pub fn is_off(&self) -> bool {
        self.request.is_zero() && self.row.is_zero() && self.skipped_row.is_zero()
    }

    /// What an answer that did `work` costs.
    pub fn cost(&self, work: Work) -> Duration {
        let rows = u32::try_from(work.vm_rows).unwrap_or(u32::MAX);
        let skipped = u32::try_from(work.skipped).unwrap_or(u32::MAX);
        self.request + self.row * rows + self.skipped_row * skipped
    }
}

/// When each worker is free again: the schedule of a first-come-first-served queue in front of `workers` servers.
/// Costs are known on arrival, so each request's finishing time is decided then.
#[derive(Debug)]
pub struct Schedule {
    workers: usize,
    free_at: Vec<Instant>,
}

impl Schedule {
    /// `workers` servers (0: as many as there are requests), all free.
    pub fn new(workers: usize) -> Schedule {
        Schedule { workers, free_at: Vec::with_capacity(workers) }
    }

    /// When a request arriving at `now` and costing `cost` is done.
    pub fn finish(&mut self, now: Instant, cost: Duration) -> Instant {
        if self.workers == 0 {
            return now + cost;
        }
        if self.free_at.len() < self.workers {
            self.free_at.push(now);
        }
        let (slot, _) = self.free_at.iter().enumerate().min_by_key(|(_, free)| **free).expect("one worker at least");
        let done = self.free_at[slot].max(now) + cost;
        self.free_at[slot] = done;
        done
    }
}

/// An answer waiting for its time.
struct Due {
    at: Instant,
    order: u64,
    request: Request,
    status: u16,
    body: String,
}

impl PartialEq for Due {
    fn eq(&self, other: &Self) -> bool {
        (self.at, self.order) == (other.at, other.order)
    }
}
impl Eq for Due {}
impl PartialOrd for Due {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Due {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        (self.at, self.order).cmp(&(other.at, other.order))
    }
}

#[derive(Default)]
struct Pending {
    answers: BinaryHeap<Reverse<Due>>,
    sent: u64,
}

/// Sends API answers when the latency model says they are ready; shared by all worker threads.
pub struct Pacer {
    latency: Latency,
    schedule: Mutex<Schedule>,
    pending: Arc<(Mutex<Pending>, Condvar)>,
    timer: Once,
}

impl Pacer {
    /// A pacer for `latency`; its timer thread starts with the first slow answer.
    pub fn new(latency: Latency) -> Pacer {
        Pacer {
            latency,
            schedule: Mutex::new(Schedule::new(latency.workers)),
            pending: Arc::default(),
            timer: Once::new(),
        }
    }

    /// Answers `request` once `work`, and the requests queued before it, are done.
    pub fn respond(&self, request: Request, status: u16, body: String, work: Work) {
        if self.latency.is_off() {
            http::respond_json(request, status, body);
            return;
        }
        let at = self.schedule.lock().finish(Instant::now(), self.latency.cost(work));
        self.timer.call_once(|| {
            let pending = Arc::clone(&self.pending);
            thread::spawn(move || send_when_due(&pending));
        });
        let (lock, wake) = &*self.pending;
        let mut pending = lock.lock();
        let order = pending.sent;
        pending.sent += 1;
        pending.answers.push(Reverse(Due { at, order, request, status, body }));
        wake.notify_one();
    }
}

/// The timer thread: sleeps until the earliest answer is due, then hands it to a thread of its own to send, so a
/// client that does not read cannot hold back the others.
fn send_when_due(pending: &(Mutex<Pending>, Condvar)) {
    let (lock, wake) = pending;
    let mut queue = lock.lock();
    loop {
        let now = Instant::now();
        match queue.answers.peek().map(|Reverse(due)| due.at) {
            None => wake.wait(&mut queue),
            Some(at) if at > now => {
                wake.wait_for(&mut queue, at - now);
            }
            Some(_) => {
                let Reverse(due) = queue.answers.pop().expect("peeked");
                thread::spawn(move || http::respond_json(due.request, due.status, due.body));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_answer_costs_its_request_its_rows_and_the_rows_it_skipped() {
        let latency = Latency {
            request: Duration::from_millis(5),
            row: Duration::from_micros(100),
            skipped_row: Duration::from_micros(1),
            workers: 0,
        };
        let page_21 = Work { vm_rows: 500, event_rows: 0, skipped: 10_000 };
        assert_eq!(latency.cost(page_21), Duration::from_millis(5 + 50 + 10));
        assert_eq!(latency.cost(Work { event_rows: 40, ..Work::default() }), Duration::from_millis(5));
        assert!(Latency::default().is_off() && !Latency::CLOUDSTACK.is_off());
    }

    #[test]
    fn the_documented_realistic_values_make_a_100k_listing_take_minutes() {
        let latency = Latency::CLOUDSTACK;
        let pages = (0..200).map(|page| Work { vm_rows: 500, event_rows: 0, skipped: page * 500 });
        let empty_page = Work { vm_rows: 0, event_rows: 0, skipped: 100_000 };
        let total: Duration = pages.chain([empty_page]).map(|work| latency.cost(work)).sum();
        assert!((Duration::from_secs(250)..Duration::from_secs(260)).contains(&total), "{total:?}");
    }

    #[test]
    fn past_the_workers_requests_queue_first_come_first_served() {
        let mut schedule = Schedule::new(2);
        let t0 = Instant::now();
        let cost = Duration::from_millis(100);
        let finishes: Vec<Duration> = (0..5).map(|_| schedule.finish(t0, cost) - t0).collect();
        let ms = |n| Duration::from_millis(n);
        assert_eq!(finishes, [ms(100), ms(100), ms(200), ms(200), ms(300)]);
        // A request arriving after the queue drained starts at once.
        assert_eq!(schedule.finish(t0 + ms(1000), cost) - t0, ms(1100));
        let mut unlimited = Schedule::new(0);
        assert!((0..5).all(|_| unlimited.finish(t0, cost) - t0 == cost));
    }
}
