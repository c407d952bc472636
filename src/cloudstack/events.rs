//! CloudStack's event log and VMs by id (transport): `listEvents` paged through both scopes
//! (outside projects, then `projectid=-1`), the newest event, and `listVirtualMachines ids=…` in
//! batches that fit one GET. What the events prove is decided in `refresh::events`.
use super::client::{ApiClient, ApiError, Pass};
use super::model::{ListVmsAnswer, Vm};
use super::server_time::ServerTime;
use serde::Deserialize;
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};

/// VM UUIDs per `ids=` request: each costs 39 bytes of the query (36 and an encoded comma), and
/// CloudStack's Jetty refuses a request head over 8 KiB; 180 leave room for the other parameters,
/// the signature and the headers (the unit test below measures it).
pub const IDS_PER_REQUEST: usize = 180;
/// Never read more pages than this of one scope's events in one poll.
const MAX_EVENT_PAGES: u32 = 1_000;

/// One event as `listEvents` answers it (the fields the sync reads).
#[derive(Clone, Debug, Default, Deserialize, PartialEq, Eq)]
pub struct Event {
    #[serde(default)]
    pub id: String,
    #[serde(default, rename = "type")]
    pub kind: String,
    #[serde(default)]
    pub state: String,
    #[serde(default)]
    pub resourceid: Option<String>,
    #[serde(default)]
    pub resourcetype: Option<String>,
    #[serde(default)]
    pub resourcename: Option<String>,
    #[serde(default)]
    pub created: String,
}

impl Event {
    /// When the server wrote it (None: `created` unreadable).
    pub fn time(&self) -> Option<ServerTime> {
        ServerTime::parse(&self.created)
    }
}

#[derive(Debug, Deserialize)]
struct ListEventsAnswer {
    listeventsresponse: ListEventsBody,
}

#[derive(Debug, Default, Deserialize)]
struct ListEventsBody {
    #[serde(default)]
    count: Option<u64>,
    #[serde(default)]
    event: Vec<Event>,
}

/// What a poll of the event log read.
#[derive(Debug, PartialEq, Eq)]
pub enum EventsRead {
    /// Every VM event since the start asked for, both scopes (a page may repeat some), and the
    /// server's clock (Unix seconds, its `Date` header) when it answered the first page.
    Events { events: Vec<Event>, server_now: Option<i64> },
    /// More than the poll may read: only a listing catches up.
    TooMany(u64),
}

impl ApiClient {
    /// VM events written at or after `since` (the server's local time, `yyyy-MM-dd HH:mm:ss`;
    /// None: all kept), of every account and project, at most `max` of them.
    pub fn vm_events_since(&self, since: Option<&str>, max: usize, stop: &AtomicBool) -> Result<EventsRead, ApiError> {
        let mut events = Vec::new();
        let mut server_now = None;
        for pass in Pass::ALL {
            for page in 1..=MAX_EVENT_PAGES {
                if stop.load(Ordering::Relaxed) {
                    return Err(ApiError::Stopped);
                }
                let (body, date) = self.events_page(pass, since, page, self.page_size())?;
                server_now = server_now.or(date);
                let count = body.count.unwrap_or(0);
                if count as usize > max {
                    return Ok(EventsRead::TooMany(count));
                }
                let read = body.event.len();
                events.extend(body.event);
                // New events push older ones onto later pages (read twice, deduplicated later):
                // read until the pages cover `count`.
                if read == 0 || u64::from(page) * u64::from(self.page_size()) >= count {
                    break;
                }
            }
        }
        Ok(EventsRead::Events { events, server_now })
    }

    /// The newest VM event of either scope, if CloudStack keeps any.
    pub fn newest_vm_event(&self) -> Result<Option<Event>, ApiError> {
        let mut newest: Option<Event> = None;
        for pass in Pass::ALL {
            let (body, _) = self.events_page(pass, None, 1, 1)?;
            for event in body.event {
                let later = match (&newest, event.time()) {
                    (_, None) => false,
                    (None, Some(_)) => true,
                    (Some(best), Some(time)) => best.time().is_none_or(|b| time.unix > b.unix),
                };
                if later {
                    newest = Some(event);
                }
            }
        }
        Ok(newest)
    }

    fn events_page(&self, pass: Pass, since: Option<&str>, page: u32, size: u32) -> Result<(ListEventsBody, Option<i64>), ApiError> {
        let mut params = vec![
            ("command", "listEvents".to_string()),
            ("listall", "true".to_string()),
            ("resourcetype", "VirtualMachine".to_string()),
            ("page", page.to_string()),
            ("pagesize", size.to_string()),
            ("response", "json".to_string()),
        ];
        if let Some(since) = since {
            params.push(("startdate", since.to_string()));
        }
        if let Some(project) = pass.project() {
            params.push(("projectid", project.to_string()));
        }
        let (body, date) = self.signed_get_dated(params)?;
        let answer: ListEventsAnswer =
            serde_json::from_str(&body).map_err(|e| ApiError::Body(format!("listEvents page {page}: {e}")))?;
        Ok((answer.listeventsresponse, date))
    }

    /// The VMs with these ids that CloudStack lists, in whatever state, from both scopes (`ids`
    /// does not lift the project rule as `id` does), in batches of IDS_PER_REQUEST. An id it
    /// lists nothing for is simply not in the answer. `ids` silently matches nothing for a token
    /// that is not a lower-case UUID, so such ids (none in a real cloud) are asked one by one
    /// with `id`.
    pub fn vms_by_ids(&self, ids: &[String], stop: &AtomicBool) -> Result<Vec<Vm>, ApiError> {
        let mut found: HashMap<String, Vm> = HashMap::new();
        let (uuids, others): (Vec<String>, Vec<String>) = ids.iter().cloned().partition(|id| is_lower_case_uuid(id));
        for id in others {
            if stop.load(Ordering::Relaxed) {
                return Err(ApiError::Stopped);
            }
            if let Some(vm) = self.lookup_vm(&id)? {
                found.insert(id, vm);
            }
        }
        // CloudStack answers a list command with at most its `default.page.size` rows unless asked
        // for more, and refuses more than that: a batch is no larger than the listings' page size,
        // and asks for it.
        let per_request = IDS_PER_REQUEST.min(self.page_size().max(1) as usize);
        for batch in uuids.chunks(per_request) {
            for pass in Pass::ALL {
                if stop.load(Ordering::Relaxed) {
                    return Err(ApiError::Stopped);
                }
                let body = self.signed_get(ids_params(batch, pass.project(), self.zone()))?;
                let answer: ListVmsAnswer = serde_json::from_str(&body)
                    .map_err(|e| ApiError::Body(format!("listVirtualMachines ids=…: {e}")))?;
                for vm in answer.listvirtualmachinesresponse.virtualmachine {
                    if batch.contains(&vm.id) {
                        found.insert(vm.id.clone(), vm);
                    }
                }
            }
        }
        Ok(found.into_values().collect())
    }
}

/// 8-4-4-4-12 lower-case hex digits: what `ids` matches.
fn is_lower_case_uuid(text: &str) -> bool {
    let groups: Vec<&str> = text.split('-').collect();
    groups.len() == 5
        && groups.iter().zip([8, 4, 4, 4, 12]).all(|(group, length)| {
            group.len() == length && group.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
        })
}

fn ids_params(batch: &[String], project: Option<&str>, zone: Option<&str>) -> Vec<(&'static str, String)> {
    let mut params = vec![
        ("command", "listVirtualMachines".to_string()),
        ("listall", "true".to_string()),
        ("details", "nics".to_string()),
        ("ids", batch.join(",")),
        ("page", "1".to_string()),
        ("pagesize", batch.len().to_string()),
        ("response", "json".to_string()),
    ];
    if let Some(project) = project {
        params.push(("projectid", project.to_string()));
    }
    if let Some(zone) = zone {
        params.push(("zoneid", zone.to_string()));
    }
    params
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cloudstack::signature::signed_query;
    use std::time::SystemTime;

    #[test]
    fn a_full_batch_of_ids_fits_jettys_8_kib_request_head() {
        let ids: Vec<String> = (0..IDS_PER_REQUEST).map(|n| format!("{n:08x}-6c1d-4f0e-9a51-1c2d3e4f5a6b")).collect();
        let zone = "0b7e4a43-6c1d-4f0e-9a51-1c2d3e4f5a6b";
        let query = signed_query(&ids_params(&ids, Some("-1"), Some(zone)), &"k".repeat(86), "secret", SystemTime::now());
        // Request line, Host, User-Agent, Accept, Accept-Encoding as ureq sends them.
        let head = format!("GET /client/api?{query} HTTP/1.1\r\nHost: [fd00:4b43:ffff:ffff::1]:8080\r\nUser-Agent: ureq/2.12.1\r\nAccept: */*\r\naccept-encoding: gzip\r\n\r\n");
        assert!(head.len() < 8192 - 256, "{} bytes", head.len());
    }

    #[test]
    fn only_lower_case_uuids_go_into_an_ids_batch() {
        assert!(is_lower_case_uuid("0b7e4a43-6c1d-4f0e-9a51-1c2d3e4f5a6b"));
        assert!(!is_lower_case_uuid("0B7E4A43-6C1D-4F0E-9A51-1C2D3E4F5A6B"));
        assert!(!is_lower_case_uuid("web"));
    }

    #[test]
    fn events_parse_with_or_without_a_resource() {
        let answer: ListEventsAnswer = serde_json::from_str(r#"{"listeventsresponse": {"count": 2, "event": [
            {"id": "e1", "type": "VM.CREATE", "state": "Completed", "resourceid": "vm", "resourcetype": "VirtualMachine", "created": "2024-05-06T12:34:56+0000"},
            {"id": "e2", "type": "VM.EXPUNGE", "state": "Completed", "resourcetype": "VirtualMachine", "created": "2024-05-06T12:34:57+0000"}
        ]}}"#)
        .unwrap();
        let body = answer.listeventsresponse;
        assert_eq!(body.count, Some(2));
        assert_eq!(body.event[1].resourceid, None);
        assert_eq!(body.event[0].time().unwrap().unix, 1_714_998_896);
        let empty: ListEventsAnswer = serde_json::from_str(r#"{"listeventsresponse": {}}"#).unwrap();
        assert!(empty.listeventsresponse.event.is_empty());
    }
}
