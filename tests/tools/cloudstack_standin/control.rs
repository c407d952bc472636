//! The control endpoints under `/control/`: how tests shape the cloud, read the request log and arm faults.
//!
//! Unsigned on purpose (they are the test's side door, never CloudStack's API) and never subject to faults or to
//! the latency model.
//!
//! | method | path                        | body                         | answer                      |
//! |--------|-----------------------------|------------------------------|-----------------------------|
//! | GET    | /control/cloud              |                              | the cloud file JSON         |
//! | PUT    | /control/cloud              | cloud file JSON              | `{"ok":true}`; the event log starts afresh |
//! | …      | /control/vms…               | see `control_vms.rs`         | VMs and NICs, writing CloudStack's events |
//! | …      | /control/events, /control/clock | see `control_events.rs`  | the event log and its clock |
//! | GET    | /control/requests           |                              | list of requests seen       |
//! | GET    | /control/requests/count     |                              | counts by kind (`request_log.rs`) |
//! | DELETE | /control/requests           |                              | `{"ok":true}` (counts too)  |
//! | GET    | /control/fault              |                              | the armed fault             |
//! | PUT    | /control/fault              | `{"mode":…}` (+ `"times":N`) | `{"ok":true}` (409: no blackhole) |
//! | GET    | /control/held               |                              | `{"held":N}` (`accept-and-hang`) |
//!
//! `DELETE /control/vms/{id}` expunges: the VM leaves every listing, its id stays known (see `cloud.rs`).

use serde_json::json;

use crate::cloud::Cloud;
use crate::control_events;
use crate::control_vms;
use crate::fault::{Fault, FaultSetting};
use crate::state::Standin;

/// The path prefix of every control endpoint.
pub const PREFIX: &str = "/control/";

/// A control answer: HTTP status and JSON body.
pub type ControlAnswer = (u16, String);

/// `{"ok":true}`.
pub fn ok() -> ControlAnswer {
    (200, json!({"ok": true}).to_string())
}

/// `{"ok":false,"error":…}` with this status.
pub fn failure(status: u16, error: impl std::fmt::Display) -> ControlAnswer {
    (status, json!({"ok": false, "error": error.to_string()}).to_string())
}

/// Decodes `%XX` escapes in a path segment (VM ids may contain characters a client had to escape).
pub fn percent_decode(segment: &str) -> Option<String> {
    let bytes = segment.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut at = 0;
    while at < bytes.len() {
        if bytes[at] == b'%' {
            let hex = segment.get(at + 1..at + 3)?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            at += 3;
        } else {
            out.push(bytes[at]);
            at += 1;
        }
    }
    String::from_utf8(out).ok()
}

/// Answers one control request; `path` is the full path, `query` what followed its `?`, `body` the request body.
pub fn answer(standin: &Standin, method: &str, path: &str, query: &str, body: &str) -> ControlAnswer {
    let Some(rest) = path.strip_prefix(PREFIX) else {
        return failure(404, format!("no control endpoint {path}"));
    };
    let segments: Vec<&str> = rest.trim_end_matches('/').split('/').collect();
    match (method, segments.as_slice()) {
        (_, ["vms", vms @ ..]) => control_vms::answer(standin, method, vms, query, body),
        (_, [what @ ("events" | "clock")]) => control_events::answer(standin, method, what, query, body),
        ("GET", ["cloud"]) => (200, standin.cloud.read().to_json()),
        ("PUT", ["cloud"]) => match Cloud::from_json(body) {
            Ok(cloud) => {
                // Cloud first, then events: a new cloud has no history.
                let mut current = standin.cloud.write();
                *current = cloud;
                standin.events.lock().purge_all();
                ok()
            }
            Err(error) => failure(400, error),
        },
        ("GET", ["requests"]) => (200, standin.requests.to_json()),
        ("GET", ["requests", "count"]) => {
            (200, serde_json::to_string(&standin.requests.counts()).expect("counts serialize"))
        }
        ("DELETE", ["requests"]) => {
            standin.requests.clear();
            ok()
        }
        ("GET", ["fault"]) => (200, standin.faults.to_json()),
        ("PUT", ["fault"]) => match FaultSetting::from_json(body) {
            Ok(setting) => arm(standin, setting),
            Err(error) => failure(400, error),
        },
        ("GET", ["held"]) => (200, json!({"held": standin.held.count()}).to_string()),
        (_, ["cloud" | "requests" | "fault" | "held"]) | (_, ["requests", "count"]) => {
            failure(405, format!("{method} is not allowed on {path}"))
        }
        _ => failure(404, format!("no control endpoint {path}")),
    }
}

/// Arms a fault and does what arming it means beyond the board: opens or closes the blackhole address, and sends
/// the answers `accept-and-hang` held once another mode is armed.
fn arm(standin: &Standin, setting: FaultSetting) -> ControlAnswer {
    let black = setting.fault == Fault::BlackholeConnect;
    if black && standin.blackhole.is_none() {
        return failure(409, "blackhole-connect needs a stand-in started with --blackhole-listen");
    }
    let holds = setting.fault == Fault::AcceptAndHang;
    standin.faults.set(setting);
    if !holds {
        standin.held.release();
    }
    if let Some(blackhole) = &standin.blackhole {
        let gate = if black { blackhole.close() } else { blackhole.open() };
        if let Err(error) = gate {
            return failure(500, format!("the blackhole address did not follow: {error}"));
        }
    }
    ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::signature::Credentials;
    use serde_json::Value;

    fn standin() -> Standin {
        Standin::new(Credentials { api_key: "K".into(), secret_key: "S".into() }, 500, Cloud::default(), 0)
    }

    fn call(standin: &Standin, method: &str, target: &str, body: &str) -> (u16, Value) {
        let (path, query) = target.split_once('?').unwrap_or((target, ""));
        let (status, body) = answer(standin, method, path, query, body);
        (status, serde_json::from_str(&body).unwrap())
    }

    const VM: &str = r#"{"id": "vm/1", "name": "web", "zoneid": "z1",
        "nics": [{"id": "n1", "macaddress": "02:00:00:00:01:17", "ipaddress": "185.62.101.23", "broadcasturi": "vlan://709"}]}"#;

    #[test]
    fn a_test_adds_a_vm_changes_its_state_and_removes_it() {
        let standin = standin();
        assert_eq!(call(&standin, "POST", "/control/vms", VM), (200, json!({"ok": true})));
        assert_eq!(call(&standin, "POST", "/control/vms", VM).0, 409);
        let (_, cloud) = call(&standin, "GET", "/control/cloud", "");
        assert_eq!(cloud["vms"][0]["nics"][0]["ipaddress"], "185.62.101.23");

        assert_eq!(call(&standin, "POST", "/control/vms/vm%2F1/state", r#"{"state": "Destroyed"}"#).0, 200);
        assert_eq!(standin.cloud.read().vms[0].state, "Destroyed");
        assert_eq!(call(&standin, "POST", "/control/vms/vm%2F1/state", r#"{"status": "x"}"#).0, 400);
        assert_eq!(call(&standin, "POST", "/control/vms/other/state", r#"{"state": "Running"}"#).0, 404);

        assert_eq!(call(&standin, "DELETE", "/control/vms/vm%2F1", "").0, 200);
        assert_eq!(call(&standin, "DELETE", "/control/vms/vm%2F1", "").0, 404);
        assert!(standin.cloud.read().vms.is_empty());
        let (_, cloud) = call(&standin, "GET", "/control/cloud", "");
        assert_eq!(cloud["expunged"], json!(["vm/1"]), "the expunged VM's id is kept, as CloudStack keeps its row");
    }

    #[test]
    fn a_new_cloud_has_no_history() {
        let standin = standin();
        call(&standin, "POST", "/control/vms", VM);
        assert_eq!(call(&standin, "GET", "/control/events", "").1.as_array().unwrap().len(), 4);
        assert_eq!(call(&standin, "PUT", "/control/cloud", r#"{"vms": []}"#).0, 200);
        assert_eq!(call(&standin, "GET", "/control/events", "").1, json!([]));
        assert_eq!(call(&standin, "DELETE", "/control/vms/vm%2F1?events=none", "").0, 404);
    }

    #[test]
    fn the_whole_cloud_is_replaced_at_once() {
        let standin = standin();
        let cloud = format!(r#"{{"vms": [{VM}]}}"#);
        assert_eq!(call(&standin, "PUT", "/control/cloud", &cloud).0, 200);
        assert_eq!(standin.cloud.read().vms.len(), 1);
        assert_eq!(call(&standin, "PUT", "/control/cloud", "{\"vms\": 3}").0, 400);
        assert_eq!(standin.cloud.read().vms.len(), 1, "a refused cloud leaves the old one");
        assert_eq!(call(&standin, "PUT", "/control/cloud", "{\"vms\": []}").0, 200);
        assert!(standin.cloud.read().vms.is_empty());
    }

    #[test]
    fn faults_are_armed_and_shown() {
        let standin = standin();
        assert_eq!(call(&standin, "PUT", "/control/fault", r#"{"mode":"status","code":503}"#).0, 200);
        assert_eq!(call(&standin, "GET", "/control/fault", "").1, json!({"mode": "status", "code": 503}));
        assert_eq!(call(&standin, "PUT", "/control/fault", r#"{"mode":"melt"}"#).0, 400);
    }

    #[test]
    fn a_blackhole_needs_the_address_it_acts_on() {
        let standin = standin();
        let (status, answer) = call(&standin, "PUT", "/control/fault", r#"{"mode":"blackhole-connect"}"#);
        assert_eq!(status, 409, "{answer}");
        assert!(answer["error"].as_str().unwrap().contains("--blackhole-listen"));
        assert_eq!(call(&standin, "GET", "/control/fault", "").1, json!({"mode": "none"}), "nothing was armed");
    }

    #[test]
    fn request_counts_and_held_answers_are_shown() {
        let standin = standin();
        let (status, counts) = call(&standin, "GET", "/control/requests/count", "");
        assert_eq!(status, 200);
        assert_eq!(
            counts,
            json!({"listing-pages": 0, "listings-begun": 0, "lookups": 0, "looked-up-ids": 0, "event-polls": 0,
                   "listing-rows": 0, "lookup-rows": 0, "event-rows": 0, "other": 0})
        );
        assert_eq!(call(&standin, "GET", "/control/held", ""), (200, json!({"held": 0})));
        assert_eq!(call(&standin, "DELETE", "/control/requests/count", "").0, 405);
    }

    #[test]
    fn wrong_methods_and_paths_are_told_apart() {
        let standin = standin();
        assert_eq!(call(&standin, "POST", "/control/cloud", "").0, 405);
        assert_eq!(call(&standin, "GET", "/control/vms/x", "").0, 405);
        assert_eq!(call(&standin, "GET", "/control/nothing", "").0, 404);
        assert_eq!(call(&standin, "GET", "/control/requests", ""), (200, json!([])));
        assert_eq!(call(&standin, "DELETE", "/control/requests/", "").0, 200);
    }
}
