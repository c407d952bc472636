//! Issue 4: an operator runs the hook like an ISC hook — control commands over Kea's control
//! socket, statistics in statistic-get-all, log lines through Kea's logger.
use std::time::Duration;

use serde_json::{json, Value};

use crate::lab::dhcp6::{Client, MacCarrier, Router};
use crate::lab::{wait_until, Lab, LabSpec, VlanSpec};

const WEB_MAC: [u8; 6] = [0x02, 0x00, 0x0a, 0xc5, 0x00, 0x17];
const DB_MAC: [u8; 6] = [0x02, 0x00, 0x0a, 0xc5, 0x00, 0x18];

fn vm(id: &str, mac: [u8; 6], ip: &str) -> Value {
    let mac = mac.iter().map(|b| format!("{b:02x}")).collect::<Vec<_>>().join(":");
    json!({"id": id, "name": id, "state": "Running", "zoneid": "z1", "nics": [{"id": format!("nic-{id}"), "macaddress": mac,
        "ipaddress": ip, "netmask": "255.255.252.0", "vlanid": 709, "traffictype": "Guest", "isdefault": true}]})
}

fn lab() -> Lab {
    Lab::start(LabSpec {
        vlans: vec![VlanSpec::new(709, "VLAN709", "2a00:f10:500::/40"), VlanSpec::new(710, "VLAN710", "2a00:f10:600::/40")],
        cloud: json!({"vms": [vm("web", WEB_MAC, "185.62.101.23"), vm("db", DB_MAC, "185.62.101.24")]}),
        ..LabSpec::default()
    })
}

fn router(lab: &Lab, interface_id: &str, carrier: MacCarrier) -> Router {
    let server = std::net::SocketAddrV6::new(lab.kea_addr(), 547, 0, 0);
    Router::new(lab.router_socket(), server, "2a00:f10:500::1".parse().unwrap(), interface_id.as_bytes(), carrier)
}

#[test]
fn cloudstack_status_reports_the_index_the_syncs_and_the_counters() {
    let lab = lab();
    let r = router(&lab, "VLAN709", MacCarrier::RemoteIdRaw { enterprise: 2636 });
    r.acquire(&Client::new(WEB_MAC)).unwrap().expect("web gets its prefix");
    let status = lab.control(json!({"command": "cloudstack-status"}));
    assert_eq!(status["result"], 0, "{status}");
    let args = &status["arguments"];
    assert_eq!(args["nics"], 2, "{status}");
    assert_eq!(args["vlans"][0], json!({"vlan": 709, "interface-id": "VLAN709", "prefix": "2a00:f10:500::/40", "nics": 2}));
    assert_eq!(args["vlans"][1]["nics"], 0);
    assert_eq!(args["last-sync"]["result"], "ok", "{status}");
    assert_eq!(args["authoritative"], true);
    assert!(args["next-sync-seconds"].as_u64().unwrap() <= 300, "{status}");
    assert_eq!(args["counters"]["cloudstack.delegated"], 1, "one Solicit-Request exchange, one delegation: {status}");
    assert_eq!(args["refused-count"], 0);
}

#[test]
fn cloudstack_lookup_answers_by_mac_and_by_prefix_and_says_why_not() {
    let lab = lab();
    let by_mac = lab.control(json!({"command": "cloudstack-lookup", "arguments": {"mac": "02:00:0a:c5:00:17"}}));
    assert_eq!(by_mac["result"], 0, "{by_mac}");
    assert_eq!(by_mac["arguments"]["prefix"], "2a00:f10:500:1170::/60");
    assert_eq!(by_mac["arguments"]["vm-name"], "web");
    let by_prefix = lab.control(json!({"command": "cloudstack-lookup", "arguments": {"prefix": "2a00:f10:500:1180::/60"}}));
    assert_eq!(by_prefix["arguments"]["mac"], "02:00:0a:c5:00:18", "{by_prefix}");
    let unknown = lab.control(json!({"command": "cloudstack-lookup", "arguments": {"mac": "02:00:00:00:00:99"}}));
    assert_eq!(unknown["result"], 3, "{unknown}");
    let bad = lab.control(json!({"command": "cloudstack-lookup", "arguments": {"colour": "blue"}}));
    assert_eq!(bad["result"], 1, "{bad}");
}

#[test]
fn cloudstack_resync_returns_at_once_and_the_new_nic_shows_up() {
    let lab = lab();
    lab.standin().add_vm(vm("new", [0x02, 0, 0x0a, 0xc5, 0, 0x30], "185.62.101.30"));
    let answer = lab.control(json!({"command": "cloudstack-resync"}));
    assert_eq!(answer["result"], 0, "{answer}");
    assert!(wait_until(Duration::from_secs(10), || lab.control(json!({"command": "cloudstack-status"}))["arguments"]["nics"] == 3));
    let found = lab.control(json!({"command": "cloudstack-lookup", "arguments": {"mac": "02:00:0a:c5:00:30"}}));
    assert_eq!(found["arguments"]["prefix"], "2a00:f10:500:11e0::/60", "{found}");
}

/// What the hook did shows in Kea's statistics: one delegation per Reply that gives a NIC its
/// prefix (not the Advertise, not a Renew), each refusal by its reason; a config-reload that keeps
/// the index keeps the counts.
#[test]
fn kea_statistics_count_what_the_hook_did() {
    let lab = lab();
    let ok = router(&lab, "VLAN709", MacCarrier::RemoteIdRaw { enterprise: 2636 });
    let web = Client::new(WEB_MAC);
    let reply = ok.acquire(&web).unwrap().expect("a prefix");
    ok.renew(&web, &reply).unwrap().expect("a Renew");
    let _ = ok.solicit(&Client::new([0x02, 0x77, 0, 0, 0, 1]), None); // unknown MAC
    let _ = router(&lab, "VLAN710", MacCarrier::RemoteIdRaw { enterprise: 2636 }).solicit(&Client::new(DB_MAC), None);
    let _ = router(&lab, "VLAN709", MacCarrier::None).solicit(&Client::new(DB_MAC), None);
    let stats = lab.control(json!({"command": "statistic-get-all"}));
    let value = |name: &str| stats["arguments"][name][0][0].as_i64().unwrap_or_else(|| panic!("{name} missing in {stats}"));
    assert_eq!(value("cloudstack.nics"), 2);
    assert_eq!(value("cloudstack.delegated"), 1, "Solicit and Request are one delegation");
    assert_eq!(value("cloudstack.lookup-miss"), 1);
    assert_eq!(value("cloudstack.refused-vlan-mismatch"), 1);
    assert_eq!(value("cloudstack.refused-no-mac"), 1);
    assert_eq!(value("cloudstack.refused-untrusted-relay"), 0);
    assert!(value("cloudstack.sync-ok") >= 1);
    assert_eq!(value("cloudstack.sync-failed"), 0);
    assert_eq!(value("cloudstack.refused-collision"), 0);
    assert!(value("cloudstack.last-sync-time") > 1_700_000_000);

    let reload = lab.control(json!({"command": "config-reload"}));
    assert_eq!(reload["result"], 0, "{reload}");
    assert!(lab.kea_log().contains("CLOUDSTACK_INDEX_KEPT"));
    let stats = lab.control(json!({"command": "statistic-get-all"}));
    let value = |name: &str| stats["arguments"][name][0][0].as_i64().unwrap_or_else(|| panic!("{name} missing in {stats}"));
    for (name, kept) in [("cloudstack.delegated", 1), ("cloudstack.lookup-miss", 1), ("cloudstack.refused-no-mac", 1)] {
        assert_eq!(value(name), kept, "{name} kept across the reload");
    }
}

/// The hook hands its counts to Kea in batches, yet statistic-get shows every event at once: Kea's
/// statistic commands reach the hook first, which hands its counts over and lets Kea answer.
#[test]
fn statistic_get_shows_each_delegation_at_once_and_a_reset_counts_from_zero() {
    let lab = lab();
    let ok = router(&lab, "VLAN709", MacCarrier::RemoteIdRaw { enterprise: 2636 });
    let delegated = || {
        let answer = lab.control(json!({"command": "statistic-get", "arguments": {"name": "cloudstack.delegated"}}));
        answer["arguments"]["cloudstack.delegated"][0][0].as_i64().unwrap_or_else(|| panic!("no cloudstack.delegated in {answer}"))
    };
    for expected in 1..=3 {
        ok.acquire(&Client::new(WEB_MAC)).unwrap().expect("web gets its prefix");
        assert_eq!(delegated(), expected, "exchange {expected} shows at once");
    }
    let reset = lab.control(json!({"command": "statistic-reset", "arguments": {"name": "cloudstack.delegated"}}));
    assert_eq!(reset["result"], 0, "{reset}");
    assert_eq!(delegated(), 0, "reset, with nothing of before waiting to be handed over");
    ok.acquire(&Client::new(WEB_MAC)).unwrap().expect("web gets its prefix");
    assert_eq!(delegated(), 1, "counted from 0 after the reset");
    let status = lab.control(json!({"command": "cloudstack-status"}));
    assert_eq!(status["arguments"]["counters"]["cloudstack.delegated"], 4, "the hook's own count is not reset: {status}");
}

/// While any callout sits on leases6_committed, Kea parks every committing packet around it. The hook
/// registers its callout there only when a hooks library listed after it (Kea's HA hook) can read the
/// leases it adds; alone, it leaves Kea's commit path as it is (the HA stories show the other case).
#[test]
fn a_hook_with_no_library_after_it_leaves_keas_commit_path_alone() {
    let lab = Lab::start(LabSpec { kea_debug: true, ..LabSpec::default() });
    let log = lab.kea_log();
    assert!(log.contains("registered standard callout for hook pkt6_receive"), "Kea's log names the hook's callouts:\n{log}");
    assert!(!log.contains("leases6_committed"), "no callout on leases6_committed:\n{log}");
}

#[test]
fn in_a_single_threaded_kea_a_syncs_statistics_reach_kea_through_its_own_thread() {
    // Single-threaded Kea's StatsMgr takes no lock: the sync thread leaves its figures to the next
    // callout or hook command, which runs on Kea's thread.
    let lab = lab();
    lab.standin().add_vm(vm("new", [0x02, 0, 0x0a, 0xc5, 0, 0x30], "185.62.101.30"));
    lab.control(json!({"command": "cloudstack-resync"}));
    assert!(wait_until(Duration::from_secs(10), || lab.kea_log().matches("CLOUDSTACK_SYNC_FINISHED").count() >= 2));
    let status = lab.control(json!({"command": "cloudstack-status"}));
    assert_eq!(status["arguments"]["nics"], 3, "{status}");
    let stats = lab.control(json!({"command": "statistic-get", "arguments": {"name": "cloudstack.nics"}}));
    assert_eq!(stats["arguments"]["cloudstack.nics"][0][0], 3, "{stats}");
    let synced = lab.control(json!({"command": "statistic-get", "arguments": {"name": "cloudstack.sync-ok"}}));
    assert_eq!(synced["arguments"]["cloudstack.sync-ok"][0][0], 2, "{synced}");
}

#[test]
fn the_hooks_log_lines_come_through_kea_with_message_ids() {
    let lab = lab();
    let log = lab.kea_log();
    for id in ["CLOUDSTACK_LOAD_OK", "CLOUDSTACK_WARMUP_DONE", "CLOUDSTACK_SYNC_FINISHED"] {
        let line = log.lines().find(|l| l.contains(id)).unwrap_or_else(|| panic!("{id} not in\n{log}"));
        assert!(line.contains("[kea-dhcp6.cloudstack-hooks/"), "{line}");
    }
    let finished = log.lines().find(|l| l.contains("CLOUDSTACK_SYNC_FINISHED")).unwrap();
    assert!(finished.contains("2 NICs on 1 VLANs"), "{finished}");
}

#[test]
fn kea_s_configured_severity_decides_which_hook_lines_appear() {
    let quiet = Lab::start(LabSpec {
        cloud: json!({"vms": [vm("web", WEB_MAC, "185.62.101.23")]}),
        hook_debug: false, // kea-dhcp6.cloudstack-hooks at INFO
        ..LabSpec::default()
    });
    router(&quiet, "VLAN709", MacCarrier::RemoteIdRaw { enterprise: 2636 }).acquire(&Client::new(WEB_MAC)).unwrap().expect("a prefix");
    let log = quiet.kea_log();
    assert!(log.contains("CLOUDSTACK_SYNC_FINISHED"), "info lines still come:\n{log}");
    assert!(!log.contains("CLOUDSTACK_PREFIX_STEERED") && !log.contains("CLOUDSTACK_SYNC_STARTED"), "no debug line at INFO:\n{log}");

    let chatty = lab(); // the hook's logger at DEBUG 99
    router(&chatty, "VLAN709", MacCarrier::RemoteIdRaw { enterprise: 2636 }).acquire(&Client::new(WEB_MAC)).unwrap().expect("a prefix");
    let log = chatty.kea_log();
    assert!(log.contains("CLOUDSTACK_PREFIX_STEERED") && log.contains("gets 2a00:f10:500:1170::/60"), "{log}");
}
