//! The event log CloudStack keeps (its `event` table) and the rows `listEvents` answers with.
//!
//! Facts carried over from CloudStack's source (`ActionEventUtils`, `EventJoinDaoImpl.newEventResponse`,
//! `EventResponse`):
//! - An event has an internal id (ascending), a UUID, a type (`VM.CREATE`), a level (`INFO`), a description, a
//!   state (`Created`, `Scheduled`, `Started`, `Completed`), the second it was written, the owning account (and
//!   project), the user who acted, and since 4.17 the resource it is about (`resourcetype`, `resourceid`).
//! - The events of one command point at its first one (`start_id`), answered as `parentid`, the first one's UUID;
//!   the first has none. A parent that was purged is no longer joined: `parentid` disappears.
//! - `resourceid` is answered only for resource types CloudStack can look up (`VirtualMachine` here); the name of the
//!   resource goes in `resourcename`. Fields without a value are left out of the answer, as Gson leaves out nulls.
//! - Purging (`event.purge.delay`) deletes rows: a purged event's UUID is unknown afterwards.
//!
//! The log keeps events in id order; what writes them, and which, is `event_actions.rs`.

use serde::Serialize;

use crate::sample_cloud::{scramble, uuid_like};
use crate::server_zone::ServerZone;

/// Oldest events are dropped past this many, as a purge would, so a long load test cannot exhaust memory.
pub const EVENT_CAPACITY: usize = 1_000_000;

/// The domain every account of the stand-in lives in.
pub const DOMAIN: &str = "ROOT";
/// That domain's UUID.
pub const DOMAIN_ID: &str = "9b6c0d4e-1f2a-4b3c-8d4e-5f6a7b8c9d0e";

/// An event's state, as CloudStack names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum EventState {
    /// The entity of a create command was made (the command's first event).
    Created,
    /// An async command was queued as a job.
    Scheduled,
    /// The job began.
    Started,
    /// The job, or a synchronous command, ended.
    Completed,
}

/// Whose event it is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Owner {
    /// The owning account's name.
    pub account: String,
    /// The user who acted.
    pub username: String,
    /// The project, when the owning account is a project's.
    pub projectid: Option<String>,
}

/// What the event is about.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Resource {
    /// `VirtualMachine`, …
    pub kind: &'static str,
    /// The resource's UUID, when the event names one.
    pub id: Option<String>,
    /// The resource's name (display name first), when known.
    pub name: Option<String>,
}

/// One event as written, before it has an id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Draft {
    /// `VM.CREATE`, …
    pub kind: String,
    /// Its state.
    pub state: EventState,
    /// Free text; clients must not parse it.
    pub description: String,
    /// What it is about.
    pub resource: Option<Resource>,
    /// Whose it is.
    pub owner: Owner,
}

/// One stored event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Event {
    /// Internal id: ascending in the order events were written.
    pub id: u64,
    /// The UUID clients see.
    pub uuid: String,
    /// The second it was written (Unix time).
    pub created: i64,
    /// The internal id of its command's first event.
    pub parent: Option<u64>,
    /// Everything else.
    pub draft: Draft,
}

/// The event log; shared behind the stand-in's lock.
#[derive(Debug, Default)]
pub struct EventLog {
    /// Events in id order.
    events: Vec<Event>,
    /// Ids written so far: ids are never reused, even after a purge.
    written: u64,
}

/// The UUID of event `id`: distinct ids give distinct UUIDs, lower-case like CloudStack's.
fn event_uuid(id: u64) -> String {
    let bits = scramble(id ^ 0x4556_454e_5453_0000);
    uuid_like(bits, scramble(bits.rotate_left(17)))
}

impl EventLog {
    /// Writes the events of one command at second `created`; with `chained`, every event after the first points at
    /// the first (`parentid`). Returns the new events' ids.
    pub fn write(&mut self, drafts: Vec<Draft>, chained: bool, created: i64) -> Vec<u64> {
        let mut ids = Vec::with_capacity(drafts.len());
        for draft in drafts {
            self.written += 1;
            let id = self.written;
            let parent = if chained { ids.first().copied() } else { None };
            ids.push(id);
            self.events.push(Event { id, uuid: event_uuid(id), created, parent, draft });
        }
        if self.events.len() > EVENT_CAPACITY {
            let excess = self.events.len() - EVENT_CAPACITY;
            self.events.drain(..excess);
        }
        ids
    }

    /// Every event kept, oldest first.
    pub fn all(&self) -> &[Event] {
        &self.events
    }

    /// The event with this UUID (compared as MySQL compares, ignoring case), if it was not purged.
    pub fn by_uuid(&self, uuid: &str) -> Option<&Event> {
        self.events.iter().find(|event| event.uuid.eq_ignore_ascii_case(uuid))
    }

    /// The event with this internal id, if it was not purged.
    pub fn by_id(&self, id: u64) -> Option<&Event> {
        self.events.binary_search_by_key(&id, |event| event.id).ok().map(|at| &self.events[at])
    }

    /// Purges every event older than the one with UUID `uuid` (it stays); `None` if no event has that UUID.
    pub fn purge_before(&mut self, uuid: &str) -> Option<usize> {
        let id = self.by_uuid(uuid)?.id;
        let before = self.events.partition_point(|event| event.id < id);
        self.events.drain(..before);
        Some(before)
    }

    /// Purges every event; returns how many there were.
    pub fn purge_all(&mut self) -> usize {
        std::mem::take(&mut self.events).len()
    }

    /// The answer's view of `event`.
    pub fn api_view<'e>(&'e self, event: &'e Event, zone: ServerZone) -> ApiEvent<'e> {
        let draft = &event.draft;
        let resource = draft.resource.as_ref();
        ApiEvent {
            id: &event.uuid,
            username: &draft.owner.username,
            kind: &draft.kind,
            level: "INFO",
            description: &draft.description,
            account: &draft.owner.account,
            projectid: draft.owner.projectid.as_deref(),
            project: draft.owner.projectid.as_deref(),
            domainid: DOMAIN_ID,
            domain: DOMAIN,
            resourceid: resource.and_then(|r| r.id.as_deref()),
            resourcetype: resource.map(|r| r.kind),
            resourcename: resource.and_then(|r| r.name.as_deref()),
            created: zone.format(event.created),
            state: draft.state,
            parentid: event.parent.and_then(|parent| self.by_id(parent)).map(|parent| parent.uuid.as_str()),
        }
    }
}

/// An event as `listEvents` answers it, fields in the order CloudStack writes them.
#[derive(Debug, Serialize)]
pub struct ApiEvent<'e> {
    id: &'e str,
    username: &'e str,
    #[serde(rename = "type")]
    kind: &'e str,
    level: &'static str,
    description: &'e str,
    account: &'e str,
    #[serde(skip_serializing_if = "Option::is_none")]
    projectid: Option<&'e str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    project: Option<&'e str>,
    domainid: &'static str,
    domain: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    resourceid: Option<&'e str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    resourcetype: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    resourcename: Option<&'e str>,
    created: String,
    state: EventState,
    #[serde(skip_serializing_if = "Option::is_none")]
    parentid: Option<&'e str>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn draft(state: EventState) -> Draft {
        Draft {
            kind: "VM.DESTROY".into(),
            state,
            description: "destroying".into(),
            resource: Some(Resource { kind: "VirtualMachine", id: Some("vm-uuid".into()), name: Some("web".into()) }),
            owner: Owner { account: "alice".into(), username: "alice".into(), projectid: None },
        }
    }

    #[test]
    fn a_commands_events_point_at_its_first_and_are_answered_in_cloudstacks_shape() {
        let mut log = EventLog::default();
        let ids = log.write(vec![draft(EventState::Scheduled), draft(EventState::Completed)], true, 1_714_998_896);
        assert_eq!(ids, [1, 2]);
        let first = log.by_id(1).unwrap();
        let view = serde_json::to_value(log.api_view(log.by_id(2).unwrap(), ServerZone::UTC)).unwrap();
        assert_eq!(
            view,
            json!({"id": log.by_id(2).unwrap().uuid, "username": "alice", "type": "VM.DESTROY", "level": "INFO",
                   "description": "destroying", "account": "alice", "domainid": DOMAIN_ID, "domain": "ROOT",
                   "resourceid": "vm-uuid", "resourcetype": "VirtualMachine", "resourcename": "web",
                   "created": "2024-05-06T12:34:56+0000", "state": "Completed", "parentid": first.uuid})
        );
        assert!(serde_json::to_value(log.api_view(first, ServerZone::UTC)).unwrap().get("parentid").is_none());
    }

    #[test]
    fn uuids_are_distinct_lower_case_uuids_and_found_in_any_case() {
        let mut log = EventLog::default();
        log.write((0..1000).map(|_| draft(EventState::Completed)).collect(), false, 0);
        let uuids: std::collections::HashSet<&str> = log.all().iter().map(|e| e.uuid.as_str()).collect();
        assert_eq!(uuids.len(), 1000);
        assert!(uuids.iter().all(|u| u.len() == 36 && !u.bytes().any(|b| b.is_ascii_uppercase())));
        let some = log.by_id(500).unwrap().uuid.to_uppercase();
        assert_eq!(log.by_uuid(&some).unwrap().id, 500);
    }

    #[test]
    fn a_purge_keeps_the_event_named_drops_older_ones_and_orphans_their_children() {
        let mut log = EventLog::default();
        log.write(vec![draft(EventState::Scheduled), draft(EventState::Started)], true, 10);
        log.write(vec![draft(EventState::Completed)], false, 11);
        let started = log.by_id(2).unwrap().uuid.clone();
        assert_eq!(log.purge_before(&started), Some(1));
        assert_eq!(log.all().iter().map(|e| e.id).collect::<Vec<_>>(), [2, 3]);
        let view = serde_json::to_value(log.api_view(log.by_id(2).unwrap(), ServerZone::UTC)).unwrap();
        assert!(view.get("parentid").is_none(), "the parent was purged: no longer joined");
        assert_eq!(log.purge_before("00000000-0000-4000-8000-000000000000"), None);
        assert_eq!(log.purge_all(), 2);
        assert_eq!(log.write(vec![draft(EventState::Completed)], false, 12), [4], "ids are never reused");
    }
}
