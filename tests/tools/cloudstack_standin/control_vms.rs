//! The control endpoints under `/control/vms`: a test changes VMs and their NICs, and CloudStack's events for each
//! change are written as the command that makes it would write them (`event_actions.rs`).
//!
//! | method | path                              | body                    | events written        |
//! |--------|-----------------------------------|-------------------------|-----------------------|
//! | POST   | /control/vms                      | one VM object           | `VM.CREATE` (deploy)  |
//! | DELETE | /control/vms/{id}                 |                         | `VM.EXPUNGE`          |
//! | POST   | /control/vms/{id}/state           | `{"state":"Destroyed"}` | by the change: `VM.DESTROY`, `VM.START`, `VM.STOP`, `VM.RECOVER` (Destroyed → Stopped); none for other states |
//! | POST   | /control/vms/{id}/nics            | one NIC object with `id`| `NIC.CREATE`          |
//! | PUT    | /control/vms/{id}/nics/{nicid}    | the NIC's new fields    | `NIC.UPDATE`          |
//! | DELETE | /control/vms/{id}/nics/{nicid}    |                         | `NIC.DELETE`          |
//!
//! `?events=none` changes the cloud without an event (as a change the event log lost would); on `DELETE
//! /control/vms/{id}`, `?events=expunge-task` writes what CloudStack's expunge thread writes instead of what
//! `expungeVirtualMachine` writes. Answers: `{"ok":true}`; 404 for an unknown VM or NIC, 409 for an id that exists,
//! 400 for a malformed body or option.

use serde::Deserialize;
use serde_json::{Map, Value};

use crate::cloud::{NicRefusal, Vm};
use crate::control::{failure, ok, percent_decode, ControlAnswer};
use crate::event_actions::Action;
use crate::state::Standin;

/// Which events a change writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Written {
    /// What the API command making the change writes.
    Api,
    /// What CloudStack's expunge thread writes (`DELETE /control/vms/{id}` only).
    ExpungeTask,
    /// Nothing.
    Nothing,
}

fn written(query: &str) -> Result<Written, ControlAnswer> {
    let option = form_urlencoded::parse(query.as_bytes()).find(|(name, _)| name == "events").map(|(_, v)| v);
    match option.as_deref() {
        None | Some("api") => Ok(Written::Api),
        Some("none") => Ok(Written::Nothing),
        Some("expunge-task") => Ok(Written::ExpungeTask),
        Some(other) => Err(failure(400, format!("events={other}: expected api, none or expunge-task"))),
    }
}

#[derive(Deserialize)]
struct StateChange {
    state: String,
}

fn nic_failure(refusal: NicRefusal, vm: &str, nic: &str) -> ControlAnswer {
    let status = match refusal {
        NicRefusal::NoVm | NicRefusal::NoNic => 404,
        NicRefusal::Exists => 409,
        NicRefusal::NoId => 400,
    };
    failure(status, format!("VM '{vm}', NIC '{nic}': {refusal}"))
}

/// Records `action` on the VM with this id as it is now (after the change), unless told to write nothing.
fn record(standin: &Standin, written: Written, action: Action, vm: Option<Vm>) {
    if let (Written::Api, Some(vm)) = (written, vm) {
        standin.record(&action, &vm);
    }
}

/// Answers a request under `/control/vms`; `rest` is the path after `vms`.
pub fn answer(standin: &Standin, method: &str, rest: &[&str], query: &str, body: &str) -> ControlAnswer {
    let written = match written(query) {
        Ok(written) => written,
        Err(answer) => return answer,
    };
    if written == Written::ExpungeTask && !(method == "DELETE" && rest.len() == 1) {
        return failure(400, "events=expunge-task is for DELETE /control/vms/{id} only");
    }
    let decoded: Option<Vec<String>> = rest.iter().map(|segment| percent_decode(segment)).collect();
    let Some(decoded) = decoded else { return failure(400, "malformed id in path") };
    let ids: Vec<&str> = decoded.iter().map(String::as_str).collect();
    match (method, ids.as_slice()) {
        ("POST", []) => add_vm(standin, written, body),
        ("DELETE", [id]) => {
            // Cloud first, then events: the order every writer takes them in.
            let mut cloud = standin.cloud.write();
            let Some(vm) = cloud.expunge_vm(id) else { return failure(404, format!("no VM with id '{id}'")) };
            match written {
                Written::Api => standin.record(&Action::Expunge, &vm),
                Written::ExpungeTask => standin.record(&Action::ExpungeTask, &vm),
                Written::Nothing => {}
            }
            ok()
        }
        ("POST", [id, "state"]) => {
            let change = match serde_json::from_str::<StateChange>(body) {
                Ok(change) => change,
                Err(error) => return failure(400, format!("expected {{\"state\": \"…\"}}: {error}")),
            };
            let mut cloud = standin.cloud.write();
            let Some(old) = cloud.replace_state(id, &change.state) else {
                return failure(404, format!("no VM with id '{id}'"));
            };
            if let Some(action) = Action::for_state_change(&old, &change.state) {
                record(standin, written, action, cloud.find(id).cloned());
            }
            ok()
        }
        ("POST", [id, "nics"]) => {
            let nic = match serde_json::from_str::<Map<String, Value>>(body) {
                Ok(nic) => nic,
                Err(error) => return failure(400, format!("not a NIC object: {error}")),
            };
            let nic_id = nic.get("id").and_then(Value::as_str).unwrap_or_default().to_string();
            let mut cloud = standin.cloud.write();
            match cloud.add_nic(id, nic) {
                Ok(()) => record(standin, written, Action::AddNic(nic_id), cloud.find(id).cloned()),
                Err(refusal) => return nic_failure(refusal, id, &nic_id),
            }
            ok()
        }
        ("PUT", [id, "nics", nic_id]) => {
            let nic = match serde_json::from_str::<Map<String, Value>>(body) {
                Ok(nic) => nic,
                Err(error) => return failure(400, format!("not a NIC object: {error}")),
            };
            let mut cloud = standin.cloud.write();
            match cloud.replace_nic(id, nic_id, nic) {
                Ok(()) => record(standin, written, Action::UpdateNic(nic_id.to_string()), cloud.find(id).cloned()),
                Err(refusal) => return nic_failure(refusal, id, nic_id),
            }
            ok()
        }
        ("DELETE", [id, "nics", nic_id]) => {
            let mut cloud = standin.cloud.write();
            match cloud.remove_nic(id, nic_id) {
                Ok(_) => record(standin, written, Action::RemoveNic(nic_id.to_string()), cloud.find(id).cloned()),
                Err(refusal) => return nic_failure(refusal, id, nic_id),
            }
            ok()
        }
        (_, [] | [_] | [_, "state" | "nics"] | [_, "nics", _]) => {
            failure(405, format!("{method} is not allowed on /control/vms/{}", rest.join("/")))
        }
        _ => failure(404, format!("no control endpoint /control/vms/{}", rest.join("/"))),
    }
}

fn add_vm(standin: &Standin, written: Written, body: &str) -> ControlAnswer {
    let vm = match serde_json::from_str::<Vm>(body) {
        Ok(vm) => vm,
        Err(error) => return failure(400, format!("not a VM: {error}")),
    };
    let mut cloud = standin.cloud.write();
    match cloud.add(vm.clone()) {
        Ok(()) => {
            record(standin, written, Action::Deploy, Some(vm));
            ok()
        }
        Err(error) => failure(409, error),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cloud::Cloud;
    use crate::events::EventState;
    use crate::signature::Credentials;
    use serde_json::json;

    fn standin() -> Standin {
        Standin::new(Credentials { api_key: "K".into(), secret_key: "S".into() }, 500, Cloud::default(), 0)
    }

    fn call(standin: &Standin, method: &str, rest: &[&str], query: &str, body: &str) -> u16 {
        answer(standin, method, rest, query, body).0
    }

    /// `(type, state)` of every event written so far, oldest first.
    fn written_so_far(standin: &Standin) -> Vec<(String, EventState)> {
        standin.events.lock().all().iter().map(|e| (e.draft.kind.clone(), e.draft.state)).collect()
    }

    const VM: &str = r#"{"id": "vm-1", "name": "web", "zoneid": "z1", "nics": [{"id": "n1"}]}"#;

    #[test]
    fn each_change_writes_its_commands_events_and_a_quiet_one_writes_none() {
        let standin = standin();
        assert_eq!(call(&standin, "POST", &[], "", VM), 200);
        assert_eq!(call(&standin, "POST", &["vm-1", "nics"], "", r#"{"id": "n2"}"#), 200);
        assert_eq!(call(&standin, "PUT", &["vm-1", "nics", "n2"], "", r#"{"ipaddress": "185.62.101.9"}"#), 200);
        assert_eq!(call(&standin, "DELETE", &["vm-1", "nics", "n2"], "", ""), 200);
        assert_eq!(call(&standin, "POST", &["vm-1", "state"], "", r#"{"state": "Destroyed"}"#), 200);
        assert_eq!(call(&standin, "POST", &["vm-1", "state"], "events=none", r#"{"state": "Stopped"}"#), 200);
        assert_eq!(call(&standin, "DELETE", &["vm-1"], "", ""), 200);
        let kinds: Vec<String> = written_so_far(&standin).into_iter().map(|(kind, _)| kind).collect();
        let expected: Vec<&str> = [
            ("VM.CREATE", 4),
            ("NIC.CREATE", 3),
            ("NIC.UPDATE", 3),
            ("NIC.DELETE", 3),
            ("VM.DESTROY", 3),
            ("VM.EXPUNGE", 3),
        ]
        .iter()
        .flat_map(|(kind, n)| std::iter::repeat_n(*kind, *n))
        .collect();
        assert_eq!(kinds, expected, "the quiet recovery wrote nothing");
        assert_eq!(standin.cloud.read().expunged, ["vm-1"]);
    }

    #[test]
    fn the_expunge_thread_writes_started_and_completed_only() {
        let standin = standin();
        call(&standin, "POST", &[], "events=none", VM);
        assert_eq!(call(&standin, "DELETE", &["vm-1"], "events=expunge-task", ""), 200);
        assert_eq!(
            written_so_far(&standin),
            [("VM.EXPUNGE".into(), EventState::Started), ("VM.EXPUNGE".into(), EventState::Completed)]
        );
        assert_eq!(call(&standin, "POST", &[], "events=expunge-task", VM), 400);
        assert_eq!(call(&standin, "POST", &[], "events=sometimes", VM), 400);
    }

    #[test]
    fn unknown_vms_and_nics_are_404_and_duplicates_409() {
        let standin = standin();
        call(&standin, "POST", &[], "", VM);
        assert_eq!(call(&standin, "POST", &[], "", VM), 409);
        assert_eq!(call(&standin, "POST", &["vm-1", "nics"], "", r#"{"id": "n1"}"#), 409);
        assert_eq!(call(&standin, "POST", &["vm-1", "nics"], "", r#"{"mac": "x"}"#), 400);
        assert_eq!(call(&standin, "POST", &["vm-9", "nics"], "", r#"{"id": "n5"}"#), 404);
        assert_eq!(call(&standin, "DELETE", &["vm-1", "nics", "n9"], "", ""), 404);
        assert_eq!(call(&standin, "PUT", &["vm-1", "nics", "n9"], "", "{}"), 404);
        assert_eq!(call(&standin, "GET", &["vm-1", "nics"], "", ""), 405);
        assert_eq!(call(&standin, "GET", &["vm-1", "nics", "n1", "x"], "", ""), 404);
        assert_eq!(written_so_far(&standin).len(), 4, "only the deploy wrote events");
        let nics = serde_json::to_value(&standin.cloud.read().vms[0].nics).unwrap();
        assert_eq!(nics, json!([{"id": "n1"}]));
    }
}
