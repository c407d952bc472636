//! What CloudStack's event log proves (policy). Events say which VMs changed, never how: the
//! sync fetches exactly those VMs and applies them as CloudStack has them now. A VM that an
//! event names and CloudStack no longer lists alive leaves the index only after a targeted
//! lookup (`id=`) confirms it, as for a listing's absences (`absence.rs`).
//!
//! The log is read from the last event seen, minus an overlap: events are stamped to the second
//! and a transaction may commit an event after a later-stamped one, so the last OVERLAP_SECONDS
//! are read again and events are deduplicated by id. (Not from the clock of the answers' `Date`
//! header: a proxy may stamp its own, and a clock ahead would start windows after their events.)
//! Pages need not come in order: events are sorted here. The last event seen must be listed
//! again; when it is not (purged, or the log was cut), when the last good poll is older than
//! SILENCE_SECONDS on the server's clock, or when more changed than a poll may read, only a full
//! listing catches up: a gap.
use super::absence::MAX_LOOKUPS;
use crate::cloudstack::{ApiError, Event, EventsRead, ServerTime, Vm};
use crate::index::NicIndex;
use std::collections::{BTreeSet, HashMap};
use std::fmt;

/// Seconds of the log read again at each poll.
pub const OVERLAP_SECONDS: i64 = 60;
/// A poll reading more events than this gives up for a full listing.
pub const MAX_EVENTS: usize = 20_000;
/// Polls this far apart on the server's clock may have missed a purge: a gap.
pub const SILENCE_SECONDS: i64 = 3600;

/// The event types after which a VM's NICs may differ (CloudStack's `EventTypes`): created,
/// started (Stopped VMs keep their NICs, but a VM deployed without starting gets its addresses
/// then), destroyed, expunged, recovered, migrated, moved to another account (its NICs are made
/// anew in the new account's network), restored, imported or unmanaged; a NIC added, removed,
/// or updated (default NIC, IP address).
pub const WATCHED: &[&str] = &[
    "VM.CREATE", "VM.START", "VM.DESTROY", "VM.EXPUNGE", "VM.RECOVER", "VM.MIGRATE", "VM.MOVE", "VM.RESTORE",
    "VM.IMPORT", "VM.UNMANAGE", "NIC.CREATE", "NIC.DELETE", "NIC.UPDATE",
];

/// Why the log cannot be followed from where the sync is.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Gap {
    /// The last event seen is not listed any more: the log was purged past it.
    LastSeenGone { id: String, created: String },
    /// More events than a poll reads.
    TooMany(u64),
    /// The last good poll is this many seconds old on the server's clock.
    Silence(i64),
}

impl fmt::Display for Gap {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Gap::LastSeenGone { id, created } => write!(f, "the last event seen ({id} of {created}) is no longer listed"),
            Gap::TooMany(count) => write!(f, "{count} events to read, more than {MAX_EVENTS}"),
            Gap::Silence(seconds) => write!(f, "the last good poll is {seconds} s old, more than {SILENCE_SECONDS}"),
        }
    }
}

/// Which VMs the new events are about.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Changes {
    /// VMs named by a watched event.
    pub vms: BTreeSet<String>,
    /// Watched events that name no VM (the expunge thread's VM.EXPUNGE).
    pub unnamed: usize,
    /// Events read that had not been seen.
    pub fresh: usize,
}

/// Where the sync is in the event log.
#[derive(Clone, Debug, Default)]
pub struct EventCursor {
    /// The newest event seen: its id and when it was written.
    last: Option<(String, ServerTime, String)>,
    /// Events seen within the window of the next poll, by id, with their second.
    recent: HashMap<String, i64>,
    /// The server's clock (Unix seconds) when the last good poll was answered.
    read_until: Option<i64>,
}

impl EventCursor {
    /// Start after `newest` (the newest event before a full listing began); None: the log was
    /// empty, the first poll reads it all.
    pub fn after(newest: Option<Event>) -> EventCursor {
        let mut cursor = EventCursor::default();
        if let Some((event, time)) = newest.and_then(|e| e.time().map(|t| (e, t))) {
            cursor.recent.insert(event.id.clone(), time.unix);
            cursor.last = Some((event.id, time, event.created));
        }
        cursor
    }

    /// Where the next poll starts: the last event seen, less the overlap, in the zone of the events.
    /// Never the clock of the answer's `Date` header: a proxy in front of CloudStack may stamp its
    /// own, and a clock ahead of the management server's by more than the overlap would start
    /// every window after the events it should read (a quiet log costs only its last events).
    fn start(&self) -> Option<ServerTime> {
        let (_, last, _) = self.last.as_ref()?;
        Some(last.earlier(OVERLAP_SECONDS))
    }

    /// The `startdate` of the next poll, in the server's zone (taken from the events' offset).
    pub fn since(&self) -> Option<String> {
        self.start().map(ServerTime::local_text)
    }

    /// Take in what a poll read. On a gap the cursor is left as it was.
    pub fn take(&mut self, read: EventsRead) -> Result<Changes, Gap> {
        let (events, server_now) = match read {
            EventsRead::TooMany(count) => return Err(Gap::TooMany(count)),
            EventsRead::Events { events, server_now } => (events, server_now),
        };
        if let (Some(now), Some(until)) = (server_now, self.read_until) {
            if now - until > SILENCE_SECONDS {
                return Err(Gap::Silence(now - until));
            }
        }
        let mut timed: Vec<(ServerTime, Event)> = events.into_iter().filter_map(|e| e.time().map(|t| (t, e))).collect();
        if let Some((id, _, created)) = &self.last {
            if !timed.iter().any(|(_, e)| &e.id == id) {
                return Err(Gap::LastSeenGone { id: id.clone(), created: created.clone() });
            }
        }
        timed.sort_by(|(a, x), (b, y)| (a.unix, &x.id).cmp(&(b.unix, &y.id)));
        timed.dedup_by(|(_, x), (_, y)| x.id == y.id);
        let mut changes = Changes::default();
        for (time, event) in &timed {
            if self.recent.contains_key(&event.id) {
                continue;
            }
            changes.fresh += 1;
            self.recent.insert(event.id.clone(), time.unix);
            let watched = WATCHED.iter().any(|kind| kind.eq_ignore_ascii_case(&event.kind));
            let about_a_vm = event.resourcetype.as_deref().is_none_or(|kind| kind == "VirtualMachine");
            if !watched || !about_a_vm {
                continue;
            }
            match event.resourceid.as_deref().filter(|id| !id.is_empty()) {
                Some(id) => {
                    changes.vms.insert(id.to_string());
                }
                None => changes.unnamed += 1,
            }
        }
        if let Some((time, event)) = timed.last() {
            if self.last.as_ref().is_none_or(|(_, last, _)| time.unix >= last.unix) {
                self.last = Some((event.id.clone(), *time, event.created.clone()));
            }
        }
        if let Some(now) = server_now {
            self.read_until = Some(self.read_until.map_or(now, |until| until.max(now)));
        }
        if let Some(start) = self.start() {
            self.recent.retain(|_, second| *second >= start.unix);
        }
        Ok(changes)
    }
}

/// What the fetched VMs and the confirming lookups settled.
#[derive(Debug, Default)]
pub struct EventSettled {
    /// VMs as CloudStack has them now, to apply.
    pub fresh: Vec<Vm>,
    /// Indexed VMs a lookup confirmed expunged, Destroyed, Expunging or in Error.
    pub gone: Vec<String>,
    /// Indexed VMs that seem gone but that no lookup could confirm: checked again at the next poll.
    pub unconfirmed: BTreeSet<String>,
}

/// Sort out the VMs `asked` for: those `fetched` alive are applied; an indexed VM the fetch found
/// gone or did not list is looked up by id (at most MAX_LOOKUPS per poll, the rest wait) and
/// leaves the index only when the lookup confirms it. A VM the index does not hold and that is
/// not alive changes nothing.
pub fn settle(
    asked: &BTreeSet<String>,
    fetched: Vec<Vm>,
    index: &NicIndex,
    lookup: &mut dyn FnMut(&str) -> Result<Option<Vm>, ApiError>,
) -> EventSettled {
    let mut fetched: HashMap<String, Vm> = fetched.into_iter().map(|vm| (vm.id.clone(), vm)).collect();
    let mut settled = EventSettled::default();
    let mut lookups = 0;
    for id in asked {
        match fetched.remove(id) {
            Some(vm) if !vm.is_gone() => settled.fresh.push(vm),
            _ if index.nics_of_vm(id).is_empty() => {}
            _ if lookups >= MAX_LOOKUPS => {
                settled.unconfirmed.insert(id.clone());
            }
            _ => {
                lookups += 1;
                match lookup(id) {
                    Ok(Some(vm)) if !vm.is_gone() => settled.fresh.push(vm),
                    Ok(_) => settled.gone.push(id.clone()),
                    Err(_) => {
                        settled.unconfirmed.insert(id.clone());
                    }
                }
            }
        }
    }
    settled
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fixtures::{one_vlan_config as cfg, small_vm as vm};
    use crate::index::build_index;

    fn event(id: &str, kind: &str, vm: Option<&str>, created: &str) -> Event {
        Event {
            id: id.into(),
            kind: kind.into(),
            state: "Completed".into(),
            resourceid: vm.map(str::to_string),
            resourcetype: Some("VirtualMachine".into()),
            resourcename: None,
            created: created.into(),
        }
    }

    fn read(events: Vec<Event>) -> EventsRead {
        EventsRead::Events { events, server_now: None }
    }

    #[test]
    fn polls_start_an_overlap_before_the_last_event_in_the_servers_zone_and_skip_what_they_saw() {
        let anchor = event("e1", "VM.STOP", Some("a"), "2024-05-06T14:00:30+0200");
        let mut cursor = EventCursor::after(Some(anchor.clone()));
        assert_eq!(cursor.since().as_deref(), Some("2024-05-06 13:59:30"));
        // Unordered, one event twice (it moved across a page boundary), the anchor again.
        let changes = cursor
            .take(read(vec![
                event("e3", "VM.CREATE", Some("new"), "2024-05-06T14:00:41+0200"),
                anchor.clone(),
                event("e2", "VM.CREATE", Some("new"), "2024-05-06T14:00:40+0200"),
                event("e3", "VM.CREATE", Some("new"), "2024-05-06T14:00:41+0200"),
                event("e4", "USER.LOGIN", Some("x"), "2024-05-06T14:00:41+0200"),
                event("e5", "VM.EXPUNGE", None, "2024-05-06T14:00:41+0200"),
            ]))
            .unwrap();
        assert_eq!(changes.vms.into_iter().collect::<Vec<_>>(), ["new"]);
        assert_eq!((changes.fresh, changes.unnamed), (4, 1));
        assert_eq!(cursor.since().as_deref(), Some("2024-05-06 13:59:41"), "from the newest, e5 (ties by id)");
        let again = cursor
            .take(read(vec![event("e5", "VM.EXPUNGE", None, "2024-05-06T14:00:41+0200"), event("e6", "NIC.CREATE", Some("b"), "2024-05-06T14:00:41+0200")]))
            .unwrap();
        assert_eq!(again.vms.into_iter().collect::<Vec<_>>(), ["b"], "e2..e5 were seen");
        assert_eq!(again.fresh, 1);
    }

    #[test]
    fn the_last_event_missing_or_too_many_events_is_a_gap_and_leaves_the_cursor_where_it_was() {
        let mut cursor = EventCursor::after(Some(event("e1", "VM.STOP", Some("a"), "2024-05-06T12:00:00+0000")));
        let gap = cursor.take(read(vec![event("e9", "VM.CREATE", Some("b"), "2024-05-06T12:10:00+0000")])).unwrap_err();
        assert_eq!(gap, Gap::LastSeenGone { id: "e1".into(), created: "2024-05-06T12:00:00+0000".into() });
        assert_eq!(cursor.since().as_deref(), Some("2024-05-06 11:59:00"));
        assert_eq!(cursor.take(EventsRead::TooMany(50_000)).unwrap_err(), Gap::TooMany(50_000));
        let mut empty_log = EventCursor::after(None);
        assert_eq!(empty_log.since(), None, "an empty log is read whole");
        let first = empty_log.take(read(vec![event("e1", "VM.CREATE", Some("a"), "2024-05-06T12:00:00+0000")])).unwrap();
        assert_eq!(first.vms.len(), 1);
    }

    #[test]
    fn a_quiet_log_is_read_from_its_last_event_whatever_clock_the_answers_carry() {
        let noon = 1_714_996_800; // 2024-05-06 12:00:00 UTC
        let mut cursor = EventCursor::after(Some(event("e1", "VM.STOP", Some("a"), "2024-05-06T14:00:00+0200")));
        let at = |now: i64, events: Vec<Event>| EventsRead::Events { events, server_now: Some(now) };
        // A Date header 10 minutes ahead (a proxy's clock) moves nothing: the window stays at e1.
        cursor.take(at(noon + 600, vec![event("e1", "VM.STOP", Some("a"), "2024-05-06T14:00:00+0200")])).unwrap();
        assert_eq!(cursor.since().as_deref(), Some("2024-05-06 13:59:00"), "the last event, less 60 s, in its zone");
        let changes = cursor
            .take(at(noon + 605, vec![event("e1", "VM.STOP", Some("a"), "2024-05-06T14:00:00+0200"), event("e2", "VM.CREATE", Some("b"), "2024-05-06T14:04:59+0200")]))
            .unwrap();
        assert_eq!(changes.vms.len(), 1, "e2, stamped before the proxy's clock, is read");
        assert_eq!(cursor.since().as_deref(), Some("2024-05-06 14:03:59"));
        assert_eq!(
            cursor.take(at(noon + 610, vec![event("e3", "VM.START", Some("c"), "2024-05-06T14:05:00+0200")])).unwrap_err(),
            Gap::LastSeenGone { id: "e2".into(), created: "2024-05-06T14:04:59+0200".into() },
            "the last event seen is always in the window: its absence is a gap"
        );
        assert_eq!(cursor.take(at(noon + 605 + 3601, vec![])).unwrap_err(), Gap::Silence(3601), "blind for over an hour");
    }

    #[test]
    fn an_indexed_vm_leaves_only_when_a_lookup_confirms_it_gone() {
        let index = build_index(&[vm("a", 1, "Running"), vm("b", 2, "Running"), vm("c", 3, "Running"), vm("d", 4, "Running")], &cfg(), None);
        let asked: BTreeSet<String> = ["a", "b", "c", "d", "new", "never"].iter().map(|s| s.to_string()).collect();
        // a: Destroyed in the batch; b: not listed; c: Destroyed, but the lookup says Running; d: lookup fails.
        let fetched = vec![vm("a", 1, "Destroyed"), vm("c", 3, "Destroyed"), vm("new", 5, "Running")];
        let mut looked_up = Vec::new();
        let mut lookup = |id: &str| {
            looked_up.push(id.to_string());
            match id {
                "a" => Ok(Some(vm("a", 1, "Destroyed"))),
                "b" => Ok(None),
                "c" => Ok(Some(vm("c", 3, "Running"))),
                _ => Err(ApiError::Transport("down".into())),
            }
        };
        let settled = settle(&asked, fetched, &index, &mut lookup);
        assert_eq!(looked_up, ["a", "b", "c", "d"], "only indexed VMs are looked up");
        let fresh: Vec<&str> = settled.fresh.iter().map(|vm| vm.id.as_str()).collect();
        assert_eq!(fresh, ["c", "new"]);
        assert_eq!(settled.gone, ["a", "b"]);
        assert_eq!(settled.unconfirmed.into_iter().collect::<Vec<_>>(), ["d"]);
    }
}
