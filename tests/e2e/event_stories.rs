//! Incremental sync (issue 14): the hook follows CloudStack's event log every `event-interval` and
//! fetches only the VMs it names; full listings are the safety net. Counted with the stand-in's
//! request counts: a new VM is served without a listing, a destroyed VM is withdrawn once a lookup
//! confirms it, a gap in the log brings a listing, and with `listEvents` failing listings carry on.
use std::time::Duration;

use serde_json::{json, Value};

use crate::core_stories::{nic_vm, raw_remote_id, router, two_vlans};
use crate::lab::dhcp6::{Answer, Client, Router};
use crate::lab::{wait_until, Lab, LabSpec};
use crate::trust_stories::{assert_extended, lifetimes_of};

/// VM n's id, a lower-case UUID as CloudStack's are (the hook fetches these with `ids=`).
fn vm_id(n: u8) -> String {
    format!("{n:08x}-6c1d-4f0e-9a51-1c2d3e4f5a6b")
}

/// VM n has one NIC on VLAN 709: MAC 02:00:0a:c5:03:n, 185.62.101.(100+n).
fn mac(n: u8) -> [u8; 6] {
    [0x02, 0x00, 0x0a, 0xc5, 0x03, n]
}

fn prefix(n: u8) -> String {
    let number = 0x100 + 100 + u32::from(n); // 185.62.101.(100+n) in 185.62.100.0/22
    format!("2a00:f10:500:{:x}::/60", number << 4)
}

fn vm(n: u8) -> Value {
    let mut vm = nic_vm(&vm_id(n), mac(n), &format!("185.62.101.{}", 100 + n), 709);
    vm["name"] = json!(format!("vm-{n}"));
    vm
}

/// A lab of VMs 1..=3 whose hook lists the whole cloud only every 300 s, polls events every 5 s
/// (the default), with `extra` hook parameters.
fn lab_with(extra: Value) -> Lab {
    let mut params = json!({"refresh-interval": 300}).as_object().cloned().unwrap();
    params.extend(extra.as_object().cloned().unwrap_or_default());
    Lab::start(LabSpec { vlans: two_vlans(), cloud: json!({"vms": [vm(1), vm(2), vm(3)]}), hook_params: params, ..LabSpec::default() })
}

/// Solicit-Request for VM n until it gets its prefix (at most `within`); the Reply.
fn acquired_within(r: &Router, n: u8, within: Duration) -> Option<Answer> {
    acquired_by(r, &Client::new(mac(n)), n, within)
}

/// `acquired_within` for this client (to renew with the same DUID later).
fn acquired_by(r: &Router, client: &Client, n: u8, within: Duration) -> Option<Answer> {
    let mut got = None;
    wait_until(within, || {
        got = r.acquire(client).unwrap().filter(|reply| reply.prefixes.iter().any(|p| format!("{}/{}", p.prefix, p.len) == prefix(n)));
        got.is_some()
    });
    got
}

fn event_sync(lab: &Lab) -> Value {
    lab.control(json!({"command": "cloudstack-status"}))["arguments"]["event-sync"].clone()
}

/// A VM deployed after the warm-up: its first Solicit is refused (unknown MAC), which asks for an
/// event poll at once; the poll finds its VM.CREATE, fetches that one VM by id, and a
/// retransmission gets its /60. No full listing is made; the same for a project's VM.
#[test]
fn a_new_vm_gets_its_prefix_from_the_event_log_without_a_full_listing() {
    let lab = lab_with(json!({}));
    let r = router(&lab, "VLAN709", raw_remote_id());
    assert!(acquired_within(&r, 1, Duration::from_secs(5)).is_some(), "vm-1 is served from the warm-up listing");
    lab.standin().clear_requests();
    lab.standin().add_vm(vm(4));
    let reply = acquired_within(&r, 4, Duration::from_secs(20)).unwrap_or_else(|| panic!("vm-4 gets its prefix:\n{}", lab.kea_log()));
    assert_eq!(lifetimes_of(&reply, &prefix(4)), (300, 600));
    let counts = lab.standin().request_counts();
    assert_eq!(counts.listings_begun, 0, "no full listing: {counts:?}");
    assert!(counts.event_polls >= 1 && counts.lookups >= 1, "an event poll and a fetch by id: {counts:?}");
    assert!(counts.lookup_rows <= 2 * counts.lookups, "only the VMs events named were fetched: {counts:?}");
    assert!(event_sync(&lab)["vms-applied"].as_u64().unwrap() >= 1, "{}", event_sync(&lab));
    // A project's VM: its events and the VM itself are listed only with `projectid=-1`.
    let mut in_project = vm(5);
    in_project["projectid"] = json!("proj-1");
    in_project["account"] = json!("proj-account");
    lab.standin().add_vm(in_project);
    assert!(acquired_within(&r, 5, Duration::from_secs(20)).is_some(), "the project's vm-5 gets its prefix:\n{}", lab.kea_log());
    assert_eq!(lab.standin().request_counts().listings_begun, 0, "still no full listing");
}

/// VM 2 is destroyed: its VM.DESTROY names it, the fetch finds it Destroyed, a targeted lookup
/// (`id=`) confirms it, and its Renew is answered with lifetimes 0, all without a listing.
#[test]
fn a_destroyed_vm_s_prefix_is_withdrawn_once_a_lookup_confirms_it() {
    let lab = lab_with(json!({}));
    let r = router(&lab, "VLAN709", raw_remote_id());
    let two = Client::new(mac(2));
    let reply = acquired_by(&r, &two, 2, Duration::from_secs(5)).expect("vm-2 gets its prefix");
    lab.standin().clear_requests();
    lab.standin().set_state(&vm_id(2), "Destroyed");
    let gone = wait_until(Duration::from_secs(20), || {
        lab.control(json!({"command": "cloudstack-lookup", "arguments": {"mac": "02:00:0a:c5:03:02"}}))["result"] == 3
    });
    assert!(gone, "vm-2 leaves the index:\n{}", lab.kea_log());
    let counts = lab.standin().request_counts();
    assert_eq!(counts.listings_begun, 0, "no full listing: {counts:?}");
    assert!(counts.lookups >= 2, "the ids= fetch, then the id= lookup that confirms: {counts:?}");
    let renewed = r.renew(&two, &reply).unwrap().expect("vm-2's Renew is answered");
    assert_eq!(lifetimes_of(&renewed, &prefix(2)), (0, 0), "withdrawn");
    assert_eq!(event_sync(&lab)["vms-removed"], 1, "{}", event_sync(&lab));
    let one = acquired_within(&r, 1, Duration::from_secs(5)).expect("vm-1 is untouched");
    assert_eq!(lifetimes_of(&one, &prefix(1)), (300, 600));
}

/// The event log is purged past the last event the hook saw (CloudStack's `event.purge.delay`):
/// the next poll no longer lists it, which is a gap only a full listing crosses. The listing
/// follows at once and finds the VM deployed after the purge.
#[test]
fn an_event_gap_beyond_the_overlap_brings_a_full_listing() {
    let lab = lab_with(json!({}));
    let r = router(&lab, "VLAN709", raw_remote_id());
    lab.standin().add_vm(vm(4));
    assert!(acquired_within(&r, 4, Duration::from_secs(20)).is_some(), "vm-4 is served from events");
    lab.standin().drop_all_events();
    lab.standin().clear_requests();
    lab.standin().add_vm_quietly(vm(5)); // no event: only a listing can find it
    lab.standin().add_vm(vm(6));
    let listed = wait_until(Duration::from_secs(20), || lab.standin().request_counts().listings_begun >= 1);
    assert!(listed, "a gap brings a full listing:\n{}", lab.kea_log());
    assert!(lab.kea_log().contains("event log gap: the last event seen"), "{}", lab.kea_log());
    assert!(acquired_within(&r, 5, Duration::from_secs(20)).is_some(), "vm-5 found by the listing");
    assert!(acquired_within(&r, 6, Duration::from_secs(5)).is_some(), "vm-6 too");
    assert!(event_sync(&lab)["gaps"].as_u64().unwrap() >= 1);
    // The listing anchored the event sync again: the next VM comes from events.
    lab.standin().clear_requests();
    lab.standin().add_vm(vm(7));
    assert!(acquired_within(&r, 7, Duration::from_secs(20)).is_some(), "vm-7 from events again");
    assert_eq!(lab.standin().request_counts().listings_begun, 0, "{:?}", lab.standin().request_counts());
}

/// `listEvents` fails (530) after the warm-up: the hook says so once, shows it in
/// cloudstack-status, and an unknown MAC asks for a full listing as before events existed.
#[test]
fn with_list_events_failing_full_listings_carry_on() {
    let lab = lab_with(json!({}));
    let r = router(&lab, "VLAN709", raw_remote_id());
    lab.standin().fail_command("listEvents", 530);
    let failing = wait_until(Duration::from_secs(20), || event_sync(&lab)["state"].as_str().unwrap_or("").starts_with("failing"));
    assert!(failing, "{}", event_sync(&lab));
    lab.standin().clear_requests();
    lab.standin().add_vm(vm(4));
    let reply = acquired_within(&r, 4, Duration::from_secs(20)).unwrap_or_else(|| panic!("vm-4 gets its prefix:\n{}", lab.kea_log()));
    assert_eq!(lifetimes_of(&reply, &prefix(4)), (300, 600));
    assert!(lab.standin().request_counts().listings_begun >= 1, "a full listing found it");
    let warned = lab.kea_log().lines().filter(|l| l.contains("event sync: listEvents") && l.contains(" WARN ")).count();
    assert_eq!(warned, 1, "said once (later polls at debug level):\n{}", lab.kea_log());
    // listEvents answers again: the next listing anchors the event sync and destroys come from events.
    lab.standin().clear_fault();
    lab.control(json!({"command": "cloudstack-resync"}));
    assert!(wait_until(Duration::from_secs(20), || event_sync(&lab)["state"] == "on"), "{}", event_sync(&lab));
    let three = Client::new(mac(3));
    let held = acquired_by(&r, &three, 3, Duration::from_secs(5)).expect("vm-3");
    assert_extended(&lab, lifetimes_of(&r.renew(&three, &held).unwrap().expect("answered"), &prefix(3)), "vm-3 renews");
}
