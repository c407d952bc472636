//! Stories of CloudStack's event log told over real HTTP: a test changes the cloud through `/control/`, a client
//! signing like the hook polls `listEvents`.

use serde_json::{json, Value};

use crate::cloud::Cloud;
use crate::latency::Latency;
use crate::server_tests::{self, start, start_configured, Client, KEY};
use crate::server_zone::ServerZone;

/// 2024-05-06 12:00:00 UTC.
const NOON: i64 = 1_714_996_800;
const WEB: &str = "0b7e4a43-6c1d-4f0e-9a51-1c2d3e4f5a6b";
const DB: &str = "7f3a9c21-0d4e-4b8f-a1c2-93d4e5f6a7b8";

fn vm(id: &str, name: &str) -> String {
    json!({"id": id, "name": name, "zoneid": "z1", "nics": [{"id": format!("{name}-nic"), "macaddress": "02:00:0a:c5:00:17"}]})
        .to_string()
}

impl Client {
    /// A signed `listEvents` with `extra` parameters.
    fn events(&self, extra: &[(&str, &str)]) -> (u16, Value) {
        let mut pairs = vec![("command", "listEvents"), ("apiKey", KEY), ("response", "json")];
        pairs.extend_from_slice(extra);
        let (status, body) = self.api(&pairs).unwrap();
        (status, serde_json::from_str(&body).unwrap_or(Value::String(body)))
    }

    fn ok(&self, method: &str, path: &str, body: &str) {
        let (status, answer) = self.control(method, path, body);
        assert_eq!(status, 200, "{method} {path}: {answer}");
    }

    fn freeze_clock_at(&self, unix: i64) {
        self.ok("PUT", "clock", &json!({"now": unix}).to_string());
    }

    fn advance_clock(&self, seconds: i64) {
        self.ok("PUT", "clock", &json!({"advance": seconds}).to_string());
    }
}

/// The events of an answer.
fn events(answer: &Value) -> Vec<Value> {
    answer["listeventsresponse"]["event"].as_array().cloned().unwrap_or_default()
}

/// `type state` of each event of an answer.
fn kinds(answer: &Value) -> Vec<String> {
    events(answer).iter().map(|e| format!("{} {}", e["type"].as_str().unwrap(), e["state"].as_str().unwrap())).collect()
}

#[test]
fn a_vm_deployed_destroyed_and_expunged_leaves_its_events_newest_first_each_command_pointing_at_its_first() {
    let client = start(Cloud::default());
    client.freeze_clock_at(NOON);
    client.ok("POST", "vms", &vm(WEB, "web"));
    client.advance_clock(1);
    client.ok("POST", &format!("vms/{WEB}/state"), r#"{"state": "Destroyed"}"#);
    client.advance_clock(1);
    client.ok("DELETE", &format!("vms/{WEB}"), "");

    let (status, answer) =
        client.events(&[("listall", "true"), ("resourcetype", "VirtualMachine"), ("resourceid", WEB)]);
    assert_eq!(status, 200, "{answer}");
    assert_eq!(
        kinds(&answer),
        [
            "VM.EXPUNGE Completed",
            "VM.EXPUNGE Started",
            "VM.EXPUNGE Scheduled",
            "VM.DESTROY Completed",
            "VM.DESTROY Started",
            "VM.DESTROY Scheduled",
            "VM.CREATE Completed",
            "VM.CREATE Started",
            "VM.CREATE Scheduled",
            "VM.CREATE Created"
        ],
        "an expunged VM's id is still a valid resourceid"
    );
    let all = events(&answer);
    assert_eq!(answer["listeventsresponse"]["count"], 10);
    assert_eq!(all[0]["created"], "2024-05-06T12:00:02+0000");
    assert_eq!(all[9]["created"], "2024-05-06T12:00:00+0000");
    assert_eq!((all[0]["parentid"].clone(), all[1]["parentid"].clone()), (all[2]["id"].clone(), all[2]["id"].clone()));
    assert!(all[2].get("parentid").is_none(), "a command's first event has no parent");
    assert!(all[6..9].iter().all(|e| e["parentid"] == all[9]["id"]), "a deploy's events point at Created");
    assert!(all.iter().all(|e| e["resourceid"] == WEB && e["resourcename"] == "web" && e["account"] == "admin"));
}

#[test]
fn polling_from_the_second_of_the_last_event_seen_sees_it_again_and_whatever_came_in_that_second() {
    let client = start(Cloud::default());
    client.freeze_clock_at(NOON);
    client.ok("POST", "vms", &vm(WEB, "web"));
    let since_noon = [("listall", "true"), ("startdate", "2024-05-06 12:00:00")];
    let first_poll = events(&client.events(&since_noon).1);
    assert_eq!(first_poll.len(), 4);

    // Still 12:00:00: a second VM, then a poll from the second of the last event seen.
    client.ok("POST", "vms", &vm(DB, "db"));
    let second_poll = events(&client.events(&since_noon).1);
    assert_eq!(second_poll.len(), 8, "the bound is inclusive and events carry whole seconds");
    let ids: Vec<&Value> = second_poll.iter().map(|e| &e["id"]).collect();
    assert!(first_poll.iter().all(|e| ids.contains(&&e["id"])), "deduplicate by id");

    client.advance_clock(5);
    client.ok("POST", &format!("vms/{WEB}/state"), r#"{"state": "Stopped"}"#);
    let until_noon = client.events(&[("listall", "true"), ("enddate", "2024-05-06 12:00:00")]).1;
    assert_eq!(until_noon["listeventsresponse"]["count"], 8, "enddate is inclusive too");
    let later = client.events(&[("listall", "true"), ("startdate", "2024-05-06 12:00:01"), ("type", "VM.STOP")]).1;
    assert_eq!(kinds(&later), ["VM.STOP Completed", "VM.STOP Started", "VM.STOP Scheduled"]);
}

#[test]
fn a_purge_leaves_a_gap_the_client_can_notice_its_last_event_unknown() {
    let client = start(Cloud::default());
    client.ok("POST", "vms", &vm(WEB, "web"));
    client.ok("POST", "vms", &vm(DB, "db"));
    let log = client.control("GET", "events", "").1;
    let (webs_last, dbs_first) =
        (log[3]["id"].as_str().unwrap().to_string(), log[4]["id"].as_str().unwrap().to_string());
    assert_eq!(client.control("DELETE", &format!("events?before={dbs_first}"), "").1, json!({"ok": true, "purged": 4}));

    let (status, gone) = client.events(&[("id", &webs_last)]);
    assert_eq!(status, 431, "{gone}");
    assert_eq!(gone["listeventsresponse"]["errorcode"], 431);
    assert_eq!(client.events(&[("startid", &dbs_first)]).1["listeventsresponse"]["count"], 4);
    assert_eq!(client.events(&[("listall", "true")]).1["listeventsresponse"]["count"], 4, "web's deploy is gone");
}

#[test]
fn list_events_failing_leaves_listings_alone_and_is_logged_as_the_fault() {
    let client = start(Cloud::default());
    client.ok("POST", "vms", &vm(WEB, "web"));
    client.fault(json!({"mode": "fail-command", "command": "listEvents", "code": 530, "times": 1}));
    assert_eq!(client.list(&[]).0, 200, "listVirtualMachines is not the command that fails");
    let (status, failed) = client.events(&[]);
    assert_eq!((status, failed["listeventsresponse"]["errorcode"].clone()), (530, json!(530)));
    assert_eq!(client.events(&[]).0, 200, "times: 1 disarms it");
    let (_, requests) = client.control("GET", "requests", "");
    let faults: Vec<&Value> = requests.as_array().unwrap().iter().map(|r| &r["fault"]).collect();
    assert_eq!(faults, [&Value::Null, &json!("fail-command"), &Value::Null]);
}

#[test]
fn event_polls_and_the_rows_they_get_are_counted_apart_from_listings_and_lookups() {
    let client = start(Cloud::default());
    client.ok("POST", "vms", &vm(WEB, "web"));
    client.ok("POST", "vms", &vm(DB, "db"));
    client.ok("DELETE", "requests", "");
    client.events(&[("listall", "true")]);
    client.events(&[("listall", "true"), ("startdate", "2030-01-01")]);
    client.list(&[("ids", &format!("{WEB},{DB}")), ("details", "nics")]);
    client.list(&[("page", "1"), ("pagesize", "500")]);
    let counts = client.control("GET", "requests/count", "").1;
    assert_eq!(
        counts,
        json!({"listing-pages": 1, "listings-begun": 1, "lookups": 1, "looked-up-ids": 2, "event-polls": 2,
               "listing-rows": 2, "lookup-rows": 2, "event-rows": 8, "other": 0})
    );
}

#[test]
fn a_nic_added_updated_and_removed_is_listed_and_recorded_against_its_vm() {
    let client = start(Cloud::default());
    client.ok("POST", "vms", &vm(WEB, "web"));
    client.ok(
        "POST",
        &format!("vms/{WEB}/nics"),
        r#"{"id": "nic-2", "macaddress": "02:00:0a:c6:00:01", "broadcasturi": "vlan://710"}"#,
    );
    let listed = client.list(&[("id", WEB)]).1;
    assert_eq!(listed["listvirtualmachinesresponse"]["virtualmachine"][0]["nic"][1]["id"], "nic-2");
    client.ok("PUT", &format!("vms/{WEB}/nics/nic-2"), r#"{"macaddress": "02:00:0a:c6:00:02"}"#);
    client.ok("DELETE", &format!("vms/{WEB}/nics/nic-2"), "");
    let nic_events = |kind| client.events(&[("type", kind), ("resourcetype", "VirtualMachine"), ("resourceid", WEB)]).1;
    for kind in ["NIC.CREATE", "NIC.UPDATE", "NIC.DELETE"] {
        assert_eq!(nic_events(kind)["listeventsresponse"]["count"], 3, "{kind}");
    }
    let after = client.list(&[("id", WEB)]).1;
    assert_eq!(server_tests::vm_names(&after), ["web"]);
    assert_eq!(after["listvirtualmachinesresponse"]["virtualmachine"][0]["nic"].as_array().unwrap().len(), 1);
}

#[test]
fn a_server_west_of_utc_reads_a_utc_spelled_startdate_as_its_own_time_and_the_client_misses_events() {
    let mut settings = server_tests::settings(Latency::default());
    settings.zone = ServerZone::parse("-05:00").unwrap();
    let (client, _) = start_configured(Cloud::default(), None, settings);
    client.freeze_clock_at(NOON);
    client.ok("POST", "vms", &vm(WEB, "web"));
    let local = client.events(&[("startdate", "2024-05-06 07:00:00")]).1;
    assert_eq!(events(&local)[0]["created"], "2024-05-06T07:00:00-0500");
    assert_eq!(local["listeventsresponse"]["count"], 4);
    let utc_spelled = client.events(&[("startdate", "2024-05-06 12:00:00")]).1;
    assert_eq!(utc_spelled, json!({"listeventsresponse": {}}), "12:00 there is 17:00 UTC: after the events");
}
