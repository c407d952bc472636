//! The control endpoints for the event log and its clock.
//!
//! | method | path                         | body                               | answer                                |
//! |--------|------------------------------|------------------------------------|---------------------------------------|
//! | GET    | /control/events              |                                    | every event kept, oldest first, as `listEvents` writes them |
//! | POST   | /control/events              | `{"type":"VM.MIGRATE","vm":"<id>"}`| `{"ok":true}`: that command's events on a VM (404 unknown VM) |
//! | DELETE | /control/events?before=<uuid>|                                    | `{"ok":true,"purged":N}`: events older than that one purged, as `event.purge.delay` does (404 unknown) |
//! | DELETE | /control/events              |                                    | `{"ok":true,"purged":N}`: every event purged |
//! | GET    | /control/clock               |                                    | `{"now":<unix>,"frozen":bool}`        |
//! | PUT    | /control/clock               | `{"now":<unix>}` or `{"advance":<s>}` | `{"ok":true}`: freeze at / move by |
//! | DELETE | /control/clock               |                                    | `{"ok":true}`: back to real time      |
//!
//! `VM.MIGRATE` and `VM.MOVE` are written as `migrateVirtualMachine` and `assignVirtualMachine` write them; any other
//! type as a generic async command on the VM (Scheduled, Started, Completed). A purge leaves a gap a client can only
//! cross with a full listing.

use serde::Deserialize;
use serde_json::json;

use crate::control::{failure, ok, ControlAnswer};
use crate::event_actions::Action;
use crate::state::Standin;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Command {
    #[serde(rename = "type")]
    kind: String,
    vm: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ClockSetting {
    now: Option<i64>,
    advance: Option<i64>,
}

/// Answers a request for `/control/events` or `/control/clock` (`what`).
pub fn answer(standin: &Standin, method: &str, what: &str, query: &str, body: &str) -> ControlAnswer {
    match (method, what) {
        ("GET", "events") => {
            let log = standin.events.lock();
            let events: Vec<_> = log.all().iter().map(|event| log.api_view(event, standin.zone)).collect();
            (200, serde_json::to_string(&events).expect("events serialize"))
        }
        ("POST", "events") => {
            let command = match serde_json::from_str::<Command>(body) {
                Ok(command) => command,
                Err(error) => return failure(400, format!("expected {{\"type\": \"…\", \"vm\": \"<id>\"}}: {error}")),
            };
            let action = match command.kind.as_str() {
                "VM.MIGRATE" => Action::Migrate,
                "VM.MOVE" => Action::Move,
                _ => Action::Other(command.kind),
            };
            let cloud = standin.cloud.read();
            match cloud.find(&command.vm) {
                Some(vm) => {
                    standin.record(&action, vm);
                    ok()
                }
                None => failure(404, format!("no VM with id '{}'", command.vm)),
            }
        }
        ("DELETE", "events") => {
            let before = form_urlencoded::parse(query.as_bytes()).find(|(name, _)| name == "before").map(|(_, v)| v);
            let mut log = standin.events.lock();
            let purged = match before {
                Some(uuid) => match log.purge_before(&uuid) {
                    Some(purged) => purged,
                    None => return failure(404, format!("no event with id '{uuid}' (purged already?)")),
                },
                None => log.purge_all(),
            };
            (200, json!({"ok": true, "purged": purged}).to_string())
        }
        ("GET", "clock") => (200, serde_json::to_string(&standin.clock.view()).expect("the clock serializes")),
        ("PUT", "clock") => match serde_json::from_str::<ClockSetting>(body) {
            Ok(ClockSetting { now: Some(now), advance: None }) => {
                standin.clock.freeze(now);
                ok()
            }
            Ok(ClockSetting { now: None, advance: Some(seconds) }) => {
                standin.clock.advance(seconds);
                ok()
            }
            Ok(_) => failure(400, "give either \"now\" or \"advance\""),
            Err(error) => failure(400, format!("expected {{\"now\": <unix>}} or {{\"advance\": <seconds>}}: {error}")),
        },
        ("DELETE", "clock") => {
            standin.clock.resume();
            ok()
        }
        _ => failure(405, format!("{method} is not allowed on /control/{what}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cloud::Cloud;
    use crate::signature::Credentials;
    use serde_json::Value;

    fn standin() -> Standin {
        let cloud = Cloud::from_json(r#"{"vms": [{"id": "vm-1", "name": "web", "zoneid": "z1"}]}"#).unwrap();
        Standin::new(Credentials { api_key: "K".into(), secret_key: "S".into() }, 500, cloud, 0)
    }

    fn call(standin: &Standin, method: &str, what: &str, query: &str, body: &str) -> (u16, Value) {
        let (status, body) = answer(standin, method, what, query, body);
        (status, serde_json::from_str(&body).unwrap())
    }

    #[test]
    fn a_test_writes_a_migration_reads_the_log_and_purges_the_old_part() {
        let standin = standin();
        call(&standin, "PUT", "clock", "", r#"{"now": 1714996800}"#);
        assert_eq!(call(&standin, "POST", "events", "", r#"{"type": "VM.MIGRATE", "vm": "vm-1"}"#).0, 200);
        call(&standin, "PUT", "clock", "", r#"{"advance": 60}"#);
        assert_eq!(call(&standin, "POST", "events", "", r#"{"type": "VM.REBOOT", "vm": "vm-1"}"#).0, 200);
        let (_, events) = call(&standin, "GET", "events", "", "");
        let events = events.as_array().unwrap().clone();
        assert_eq!(events.len(), 6);
        assert_eq!(events[0]["type"], "VM.MIGRATE");
        assert_eq!(events[0]["created"], "2024-05-06T12:00:00+0000");
        assert_eq!(events[5]["created"], "2024-05-06T12:01:00+0000");
        assert_eq!(events[5]["parentid"], events[3]["id"]);

        let reboot = events[3]["id"].as_str().unwrap();
        assert_eq!(
            call(&standin, "DELETE", "events", &format!("before={reboot}"), ""),
            (200, json!({"ok": true, "purged": 3}))
        );
        assert_eq!(call(&standin, "DELETE", "events", &format!("before={}", events[0]["id"]), "").0, 404);
        assert_eq!(call(&standin, "DELETE", "events", "", ""), (200, json!({"ok": true, "purged": 3})));
        assert_eq!(call(&standin, "GET", "events", "", "").1, json!([]));
    }

    #[test]
    fn mistakes_are_named_and_the_clock_returns_to_real_time() {
        let standin = standin();
        assert_eq!(call(&standin, "POST", "events", "", r#"{"type": "VM.MIGRATE", "vm": "vm-9"}"#).0, 404);
        assert_eq!(call(&standin, "POST", "events", "", r#"{"type": "VM.MIGRATE"}"#).0, 400);
        assert_eq!(call(&standin, "PUT", "clock", "", r#"{"now": 5, "advance": 1}"#).0, 400);
        assert_eq!(call(&standin, "PUT", "clock", "", r#"{}"#).0, 400);
        call(&standin, "PUT", "clock", "", r#"{"now": 5}"#);
        assert_eq!(call(&standin, "GET", "clock", "", "").1, json!({"now": 5, "frozen": true}));
        assert_eq!(call(&standin, "DELETE", "clock", "", "").0, 200);
        assert_eq!(call(&standin, "GET", "clock", "", "").1["frozen"], false);
        assert_eq!(call(&standin, "PATCH", "events", "", "").0, 405);
    }
}
