//! The API requests seen so far, for tests to assert on what the client actually sent, and running counts of them
//! by kind (full-listing pages, targeted lookups, event polls) and of the rows they got, for tests and benchmarks
//! that count what a client costs the API.

use std::collections::VecDeque;

use parking_lot::Mutex;
use serde::Serialize;

use crate::list_events;
use crate::list_vms;
use crate::signature::Params;

/// Oldest entries are dropped past this many, so a long load test cannot exhaust memory; the counts go on.
pub const LOG_CAPACITY: usize = 100_000;

/// What an API request asked for, told from its parameters alone (signed or not).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum RequestKind {
    /// `listVirtualMachines` without `id`/`ids`: one page of a full listing.
    ListingPage,
    /// `listVirtualMachines` with `id` or `ids`: a targeted lookup.
    Lookup,
    /// `listEvents`.
    EventPoll,
    /// Anything else.
    Other,
}

impl RequestKind {
    /// The kind of a request with these parameters.
    pub fn of(params: &Params) -> RequestKind {
        let command = params.get("command").map(String::as_str);
        if command == Some(list_events::COMMAND) {
            RequestKind::EventPoll
        } else if command != Some(list_vms::COMMAND) {
            RequestKind::Other
        } else if params.contains_key("id") || params.contains_key("ids") {
            RequestKind::Lookup
        } else {
            RequestKind::ListingPage
        }
    }
}

/// One API request and what the stand-in did with it.
#[derive(Debug, Clone, Serialize)]
pub struct SeenRequest {
    /// The `command` parameter, if any.
    pub command: Option<String>,
    /// What it asked for.
    pub kind: RequestKind,
    /// Every parameter as decoded (first value per name). The secret key is never sent, so never here.
    pub params: Params,
    /// HTTP status answered; `null` when the connection was closed without an answer.
    pub status: Option<u16>,
    /// Whether the signature checked out.
    pub verified: bool,
    /// Why verification failed, when it did.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub refusal: Option<&'static str>,
    /// The injected fault that shaped the answer, when one did.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fault: Option<&'static str>,
    /// Rows the answer held: VMs for `listVirtualMachines`, events for `listEvents`; 0 for errors.
    pub rows: usize,
}

/// Requests counted by kind since the log was last cleared (`GET /control/requests/count`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub struct RequestCounts {
    /// Full-listing pages, all passes.
    pub listing_pages: u64,
    /// Full listings begun: page 1 (or no page) of the pass without `projectid`; one per sync of the hook.
    pub listings_begun: u64,
    /// Targeted lookups (`id` or `ids`).
    pub lookups: u64,
    /// VM ids those lookups named, `ids` tokens counted one by one.
    pub looked_up_ids: u64,
    /// `listEvents` requests.
    pub event_polls: u64,
    /// VM rows returned by full-listing pages.
    pub listing_rows: u64,
    /// VM rows returned by lookups.
    pub lookup_rows: u64,
    /// Event rows returned by `listEvents`.
    pub event_rows: u64,
    /// Every other API request.
    pub other: u64,
}

impl RequestCounts {
    fn count(&mut self, params: &Params, rows: usize) {
        let rows = rows as u64;
        match RequestKind::of(params) {
            RequestKind::ListingPage => {
                self.listing_pages += 1;
                self.listing_rows += rows;
                let first_page = params.get("page").is_none_or(|page| page == "1");
                if first_page && !params.contains_key("projectid") {
                    self.listings_begun += 1;
                }
            }
            RequestKind::Lookup => {
                self.lookups += 1;
                self.lookup_rows += rows;
                let ids = params.get("ids").map_or(0, |ids| ids.split(',').filter(|id| !id.is_empty()).count());
                self.looked_up_ids += (ids + usize::from(params.contains_key("id"))) as u64;
            }
            RequestKind::EventPoll => {
                self.event_polls += 1;
                self.event_rows += rows;
            }
            RequestKind::Other => self.other += 1,
        }
    }
}

#[derive(Default)]
struct Log {
    entries: VecDeque<SeenRequest>,
    counts: RequestCounts,
}

/// The log itself; shared by all worker threads.
#[derive(Default)]
pub struct RequestLog {
    log: Mutex<Log>,
}

impl RequestLog {
    /// Appends an entry, dropping the oldest one at capacity, and counts it.
    pub fn record(&self, entry: SeenRequest) {
        let mut log = self.log.lock();
        log.counts.count(&entry.params, entry.rows);
        if log.entries.len() == LOG_CAPACITY {
            log.entries.pop_front();
        }
        log.entries.push_back(entry);
    }

    /// The JSON list of all entries kept, oldest first.
    pub fn to_json(&self) -> String {
        serde_json::to_string(&self.log.lock().entries).expect("the log always serializes")
    }

    /// The counts by kind.
    pub fn counts(&self) -> RequestCounts {
        self.log.lock().counts
    }

    /// Forgets every entry and zeroes the counts.
    pub fn clear(&self) {
        *self.log.lock() = Log::default();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn seen(pairs: &[(&str, &str)]) -> SeenRequest {
        seen_with_rows(pairs, 0)
    }

    fn seen_with_rows(pairs: &[(&str, &str)], rows: usize) -> SeenRequest {
        let params: Params = pairs.iter().map(|(n, v)| (n.to_string(), v.to_string())).collect();
        SeenRequest {
            command: params.get("command").cloned(),
            kind: RequestKind::of(&params),
            params,
            status: Some(200),
            verified: true,
            refusal: None,
            fault: None,
            rows,
        }
    }

    #[test]
    fn a_sync_of_two_passes_and_two_lookups_are_counted_apart() {
        let log = RequestLog::default();
        let list = ("command", "listVirtualMachines");
        for page in ["1", "2", "3"] {
            log.record(seen(&[list, ("page", page), ("pagesize", "500")]));
        }
        log.record(seen(&[list, ("page", "1"), ("pagesize", "500"), ("projectid", "-1")]));
        log.record(seen(&[list, ("id", "a")]));
        log.record(seen(&[list, ("ids", "a,b,,c")]));
        log.record(seen(&[("command", "listZones")]));
        assert_eq!(
            log.counts(),
            RequestCounts {
                listing_pages: 4,
                listings_begun: 1,
                lookups: 2,
                looked_up_ids: 4,
                other: 1,
                ..Default::default()
            }
        );
        log.clear();
        assert_eq!(log.counts(), RequestCounts::default());
        assert_eq!(log.to_json(), "[]");
    }

    #[test]
    fn rows_are_counted_by_what_returned_them_and_event_polls_apart() {
        let log = RequestLog::default();
        log.record(seen_with_rows(&[("command", "listVirtualMachines"), ("page", "1"), ("pagesize", "500")], 500));
        log.record(seen_with_rows(&[("command", "listVirtualMachines"), ("ids", "a,b")], 2));
        log.record(seen_with_rows(&[("command", "listEvents"), ("listall", "true")], 7));
        log.record(seen_with_rows(&[("command", "listEvents")], 0));
        let counts = log.counts();
        assert_eq!((counts.listing_rows, counts.lookup_rows, counts.event_rows), (500, 2, 7));
        assert_eq!((counts.event_polls, counts.other), (2, 0));
    }

    #[test]
    fn counts_go_on_past_the_entries_kept() {
        let log = RequestLog::default();
        for _ in 0..LOG_CAPACITY + 3 {
            log.record(seen(&[("command", "listVirtualMachines"), ("page", "2"), ("pagesize", "1")]));
        }
        assert_eq!(log.counts().listing_pages, LOG_CAPACITY as u64 + 3);
        assert_eq!(log.log.lock().entries.len(), LOG_CAPACITY);
    }
}
