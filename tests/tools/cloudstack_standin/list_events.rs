//! `listEvents` with CloudStack's parameters, visibility rules, order and paging.
//!
//! Read from CloudStack's source (`ListEventsCmd`, `QueryManagerImpl.searchForEventIdsAndCount`,
//! `AccountManagerImpl.buildACLSearchParameters`, `ParamProcessWorker`):
//! - Paging as every list command (`paging.rs`); an empty page is `{"listeventsresponse": {}}`.
//! - Order: `created` descending, then id descending (events within one second keep their order, newest first).
//!   Since 4.19 the page's ids are chosen in that order and then read back by id without an ORDER BY, so a real
//!   server may hand a page's events in another order: clients must sort and deduplicate themselves.
//! - `startdate` / `enddate`: inclusive, read in the server's zone (`server_zone.rs`).
//! - `type` and `level` compare exactly but case-insensitively (MySQL's collation); `keyword` is a
//!   case-insensitive substring of type, description or level.
//! - `resourcetype` must be a resource type CloudStack knows (exact case), else 431; `resourceid` needs
//!   `resourcetype` and must be a UUID of an existing or expunged resource of that type, else 431.
//! - `id` (an event's UUID) and `startid` (an event's UUID: that event and those pointing at it) must name an event
//!   that was not purged, else 431; an internal number is taken as an internal id, unchecked.
//! - The caller is a root admin: without `listall=true` only its own account's events are listed; without
//!   `projectid` project events are left out, `projectid=-1` lists only those (like `listVirtualMachines`). `id`
//!   lifts both rules.
//! - `archived=true` lists archived events only (the stand-in archives none); `duration` with `entrytime` lists
//!   nothing (CloudStack's code for it is commented out).

use serde::Serialize;

use crate::api_error::ApiError;
use crate::cloud::{Cloud, Known};
use crate::event_actions::{CALLER_ACCOUNT, VM_RESOURCE};
use crate::events::{Event, EventLog};
use crate::latency::Work;
use crate::list_vms::ProjectScope;
use crate::paging::{integer, Paging};
use crate::server_zone::{RangeEnd, ServerZone};
use crate::signature::Params;

/// The command name as clients send it.
pub const COMMAND: &str = "listEvents";

/// CloudStack's `ApiCommandResourceType` names: what `resourcetype` accepts.
const RESOURCE_TYPES: &[&str] = &[
    "None",
    "VirtualMachine",
    "DomainRouter",
    "Volume",
    "ConsoleProxy",
    "Snapshot",
    "Backup",
    "Template",
    "Iso",
    "SystemVm",
    "Host",
    "StoragePool",
    "ImageStore",
    "IpAddress",
    "PortableIpAddress",
    "SecurityGroup",
    "PhysicalNetwork",
    "TrafficType",
    "PhysicalNetworkServiceProvider",
    "FirewallRule",
    "Account",
    "User",
    "PrivateGateway",
    "StaticRoute",
    "Counter",
    "Condition",
    "AutoScalePolicy",
    "AutoScaleVmProfile",
    "AutoScaleVmGroup",
    "GlobalLoadBalancerRule",
    "LoadBalancerRule",
    "AffinityGroup",
    "InternalLbVm",
    "DedicatedGuestVlanRange",
    "GuestOs",
    "GuestOsMapping",
    "Network",
    "NetworkAcl",
    "NetworkAclItem",
    "Project",
    "Domain",
    "DiskOffering",
    "ServiceOffering",
    "NetworkOffering",
    "VpcOffering",
    "BackupOffering",
    "Zone",
];

/// A validated `listEvents` request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EventsRequest {
    paging: Paging,
    projects: ProjectScope,
    listall: bool,
    id: Option<u64>,
    startid: Option<u64>,
    kind: Option<String>,
    level: Option<String>,
    keyword: Option<String>,
    start: Option<i64>,
    end: Option<i64>,
    resource_type: Option<&'static str>,
    resource_id: Option<String>,
    archived: bool,
    nothing: bool,
}

/// Whether Java's `UUID.fromString` accepts `text`: five groups of hex digits, at most 8-4-4-4-12 long.
fn java_accepts_uuid(text: &str) -> bool {
    let groups: Vec<&str> = text.split('-').collect();
    text.len() <= 36
        && groups.len() == 5
        && groups.iter().zip([8, 4, 4, 4, 12]).all(|(group, most)| {
            !group.is_empty() && group.len() <= most && group.bytes().all(|b| b.is_ascii_hexdigit())
        })
}

/// An event UUID parameter (`id`, `startid`) turned into an internal id, as CloudStack's pre-3.x UUID
/// parameters are: a number is an internal id, anything else must be an event's UUID.
fn event_ref(params: &Params, name: &str, log: &EventLog) -> Result<Option<u64>, ApiError> {
    let Some(text) = params.get(name) else { return Ok(None) };
    if let Ok(number) = text.parse::<i64>() {
        return match u64::try_from(number) {
            Ok(id) if id >= 1 => Ok(Some(id)),
            _ => Err(ApiError::bad_parameter(format!("Invalid value provided for API arg: {name}"))),
        };
    }
    match log.by_uuid(text) {
        Some(event) => Ok(Some(event.id)),
        None => Err(ApiError::unknown_id(name, text)),
    }
}

impl EventsRequest {
    /// Checks the parameters against the event log and the cloud; `Err` is the 431 CloudStack would answer.
    pub fn from_params(
        params: &Params,
        default_page_size: u32,
        zone: ServerZone,
        log: &EventLog,
        cloud: &Cloud,
    ) -> Result<EventsRequest, ApiError> {
        let paging = Paging::from_params(params, default_page_size)?;
        let date = |name: &str, end| params.get(name).map(|text| zone.parse_range_end(name, text, end)).transpose();
        let resource_type = match params.get("resourcetype") {
            None => None,
            Some(text) => Some(
                *RESOURCE_TYPES
                    .iter()
                    .find(|known| **known == text.as_str())
                    .ok_or_else(|| ApiError::bad_parameter("Invalid resourcetype"))?,
            ),
        };
        let resource_id = match (params.get("resourceid"), resource_type) {
            (None, _) => None,
            (Some(_), None) => {
                return Err(ApiError::bad_parameter("resourceid parameter must be used with resourcetype parameter"))
            }
            (Some(text), Some(kind)) => {
                // Found as MySQL finds a UUID, ignoring case; only VMs exist here.
                let found = java_accepts_uuid(text).then(|| cloud.knows_ignoring_case(text)).flatten();
                match found {
                    Some((id, known)) if kind == VM_RESOURCE && known != Known::Never => Some(id),
                    _ => return Err(ApiError::bad_parameter("Invalid resourceid")),
                }
            }
        };
        integer(params, "duration")?;
        integer(params, "entrytime")?;
        let flag = |name: &str| params.get(name).is_some_and(|value| value.eq_ignore_ascii_case("true"));
        Ok(EventsRequest {
            paging,
            projects: ProjectScope::from_params(params),
            listall: flag("listall"),
            id: event_ref(params, "id", log)?,
            startid: event_ref(params, "startid", log)?,
            kind: params.get("type").cloned(),
            level: params.get("level").cloned(),
            keyword: params.get("keyword").map(|keyword| keyword.to_lowercase()),
            start: date("startdate", RangeEnd::Start)?,
            end: date("enddate", RangeEnd::End)?,
            resource_type,
            resource_id,
            archived: flag("archived"),
            nothing: params.contains_key("duration") && params.contains_key("entrytime"),
        })
    }

    fn visible(&self, event: &Event) -> bool {
        let owner = &event.draft.owner;
        let lifted = self.id.is_some();
        let own_only = !lifted && !self.listall && self.projects == ProjectScope::OutsideProjects;
        self.projects.admits(owner.projectid.as_deref(), lifted) && (!own_only || owner.account == CALLER_ACCOUNT)
    }

    fn matches(&self, event: &Event) -> bool {
        let draft = &event.draft;
        let resource = draft.resource.as_ref();
        let same =
            |wanted: &Option<String>, value: &str| wanted.as_deref().is_none_or(|w| w.eq_ignore_ascii_case(value));
        let keyword_ok = self.keyword.as_deref().is_none_or(|keyword| {
            [draft.kind.as_str(), draft.description.as_str(), "INFO"]
                .iter()
                .any(|text| text.to_lowercase().contains(keyword))
        });
        !self.nothing
            && !self.archived
            && self.visible(event)
            && self.id.is_none_or(|id| event.id == id)
            && self.startid.is_none_or(|start| event.id == start || event.parent == Some(start))
            && same(&self.kind, &draft.kind)
            && same(&self.level, "INFO")
            && keyword_ok
            && self.start.is_none_or(|start| event.created >= start)
            && self.end.is_none_or(|end| event.created <= end)
            && self.resource_type.is_none_or(|kind| resource.is_some_and(|r| r.kind == kind))
            && self.resource_id.as_deref().is_none_or(|id| resource.is_some_and(|r| r.id.as_deref() == Some(id)))
    }
}

#[derive(Serialize)]
struct Page<T> {
    count: usize,
    event: Vec<T>,
}

#[derive(Serialize)]
struct Envelope<T> {
    listeventsresponse: T,
}

/// The JSON answer for a validated request, and the work it cost.
pub fn answer(log: &EventLog, request: &EventsRequest, zone: ServerZone) -> (String, Work) {
    let mut matching: Vec<&Event> = log.all().iter().filter(|event| request.matches(event)).collect();
    matching.sort_by_key(|event| std::cmp::Reverse((event.created, event.id)));
    let count = matching.len();
    let (page, skipped) = request.paging.cut(matching);
    let work = Work { event_rows: page.len(), skipped, ..Work::default() };
    if page.is_empty() {
        let empty = Envelope { listeventsresponse: serde_json::Map::new() };
        return (serde_json::to_string(&empty).expect("serializes"), work);
    }
    let event = page.into_iter().map(|event| log.api_view(event, zone)).collect();
    let body = serde_json::to_string(&Envelope { listeventsresponse: Page { count, event } }).expect("serializes");
    (body, work)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event_actions::{record, Action};
    use serde_json::{json, Value};

    const WEB: &str = "0b7e4a43-6c1d-4f0e-9a51-1c2d3e4f5a6b";
    const DB: &str = "7f3a9c21-0d4e-4b8f-a1c2-93d4e5f6a7b8";
    const ALICES: &str = "22222222-2222-4222-8222-222222222222";
    const IN_PROJECT: &str = "44444444-4444-4444-8444-444444444444";
    /// 2024-05-06 12:00:00 UTC.
    const NOON: i64 = 1_714_996_800;

    fn cloud() -> Cloud {
        Cloud::from_json(
            &json!({"vms": [
                {"id": WEB, "name": "web", "zoneid": "z1"},
                {"id": DB, "name": "db", "zoneid": "z1"},
                {"id": ALICES, "name": "alices", "zoneid": "z1", "account": "alice"},
                {"id": IN_PROJECT, "name": "in-project", "zoneid": "z1", "projectid": "proj-1", "account": "p"}
            ]})
            .to_string(),
        )
        .unwrap()
    }

    /// Web deployed at noon, db destroyed a second later, web stopped at 12:00:05, and the other two VMs deployed
    /// at 12:00:10; all events listed by `(type, state, vm name)`.
    fn history() -> (Cloud, EventLog) {
        let cloud = cloud();
        let mut log = EventLog::default();
        record(&mut log, &Action::Deploy, &cloud.vms[0], NOON);
        record(&mut log, &Action::Destroy, &cloud.vms[1], NOON + 1);
        record(&mut log, &Action::Stop, &cloud.vms[0], NOON + 5);
        record(&mut log, &Action::Deploy, &cloud.vms[2], NOON + 10);
        record(&mut log, &Action::Deploy, &cloud.vms[3], NOON + 10);
        (cloud, log)
    }

    fn list(setup: &(Cloud, EventLog), pairs: &[(&str, &str)]) -> Result<Value, ApiError> {
        let params: Params = pairs.iter().map(|(n, v)| (n.to_string(), v.to_string())).collect();
        let request = EventsRequest::from_params(&params, 500, ServerZone::UTC, &setup.1, &setup.0)?;
        Ok(serde_json::from_str(&answer(&setup.1, &request, ServerZone::UTC).0).unwrap())
    }

    fn seen(answer: &Value) -> Vec<String> {
        let events = answer["listeventsresponse"]["event"].as_array().cloned().unwrap_or_default();
        events.iter().map(|e| format!("{} {} {}", e["type"], e["state"], e["resourcename"]).replace('"', "")).collect()
    }

    #[test]
    fn events_come_newest_first_and_within_a_second_by_descending_id() {
        let setup = history();
        let answer = list(
            &setup,
            &[("listall", "true"), ("startdate", "2024-05-06 12:00:01"), ("enddate", "2024-05-06 12:00:05")],
        )
        .unwrap();
        assert_eq!(
            seen(&answer),
            [
                "VM.STOP Completed web",
                "VM.STOP Started web",
                "VM.STOP Scheduled web",
                "VM.DESTROY Completed db",
                "VM.DESTROY Started db",
                "VM.DESTROY Scheduled db"
            ],
            "both bounds are inclusive, to the second"
        );
        assert_eq!(answer["listeventsresponse"]["count"], 6);
        assert_eq!(answer["listeventsresponse"]["event"][0]["created"], "2024-05-06T12:00:05+0000");
    }

    #[test]
    fn a_bare_startdate_is_the_whole_day_and_a_later_one_lists_nothing() {
        let setup = history();
        let whole_day = list(&setup, &[("listall", "true"), ("startdate", "2024-05-06")]).unwrap();
        assert_eq!(whole_day["listeventsresponse"]["count"], 14, "4 + 3 + 3 + 4: the project VM's are left out");
        let later = list(&setup, &[("listall", "true"), ("startdate", "2024-05-06 12:00:11")]).unwrap();
        assert_eq!(later, json!({"listeventsresponse": {}}));
        assert_eq!(list(&setup, &[("startdate", "noon")]).unwrap_err().code, 431);
    }

    #[test]
    fn pages_split_the_same_order_and_an_empty_page_is_an_empty_object() {
        let setup = history();
        let all = seen(&list(&setup, &[("listall", "true")]).unwrap());
        let page = |n: &str| list(&setup, &[("listall", "true"), ("page", n), ("pagesize", "5")]).unwrap();
        let pages: Vec<String> = ["1", "2", "3"].iter().flat_map(|n| seen(&page(n))).collect();
        assert_eq!(pages, all);
        assert_eq!(page("2")["listeventsresponse"]["count"], 14);
        assert_eq!(page("4"), json!({"listeventsresponse": {}}));
        assert_eq!(list(&setup, &[("page", "1")]).unwrap_err().code, 431, "page needs pagesize, as for VMs");
    }

    #[test]
    fn without_listall_an_admin_sees_its_own_accounts_events_and_projects_need_projectid() {
        let setup = history();
        let own = list(&setup, &[("type", "VM.CREATE")]).unwrap();
        assert_eq!(own["listeventsresponse"]["count"], 4, "web's deploy only: alice's VM is hers");
        let everyone = list(&setup, &[("type", "vm.create"), ("listall", "true")]).unwrap();
        assert_eq!(everyone["listeventsresponse"]["count"], 8, "type compares ignoring case");
        let projects = list(&setup, &[("projectid", "-1")]).unwrap();
        assert_eq!(seen(&projects).len(), 4);
        assert!(seen(&projects).iter().all(|e| e.ends_with("in-project")));
        assert_eq!(projects["listeventsresponse"]["event"][0]["projectid"], "proj-1");
    }

    #[test]
    fn a_resource_filter_needs_a_known_type_and_a_real_vm() {
        let setup = history();
        let web = list(&setup, &[("resourcetype", "VirtualMachine"), ("resourceid", &WEB.to_uppercase())]).unwrap();
        assert_eq!(web["listeventsresponse"]["count"], 7, "deploy and stop; the UUID is found ignoring case");
        for bad in [
            &[("resourceid", WEB)][..],
            &[("resourcetype", "virtualmachine")][..],
            &[("resourcetype", "VirtualMachine"), ("resourceid", "web")][..],
            &[("resourcetype", "VirtualMachine"), ("resourceid", "00000000-0000-4000-8000-000000000000")][..],
            &[("resourcetype", "Volume"), ("resourceid", WEB)][..],
        ] {
            assert_eq!(list(&setup, bad).unwrap_err().code, 431, "{bad:?}");
        }
    }

    #[test]
    fn startid_lists_a_command_and_id_one_event_found_across_every_rule() {
        let setup = history();
        let first = &setup.1.all()[0].uuid;
        assert_eq!(seen(&list(&setup, &[("startid", first)]).unwrap()).len(), 4, "Created and what points at it");
        let project_event = &setup.1.all().last().unwrap().uuid;
        assert_eq!(seen(&list(&setup, &[("id", project_event)]).unwrap()), ["VM.CREATE Completed in-project"]);
        let unknown = list(&setup, &[("id", "00000000-0000-4000-8000-000000000000")]).unwrap_err();
        assert_eq!(unknown.code, 431);
    }

    #[test]
    fn keyword_archived_and_duration_narrow_as_cloudstack_does() {
        let setup = history();
        assert_eq!(seen(&list(&setup, &[("keyword", "DESTROY"), ("listall", "true")]).unwrap()).len(), 3);
        assert_eq!(list(&setup, &[("archived", "true")]).unwrap(), json!({"listeventsresponse": {}}));
        assert_eq!(list(&setup, &[("duration", "5"), ("entrytime", "10")]).unwrap(), json!({"listeventsresponse": {}}));
    }
}
