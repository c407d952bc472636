//! Sync (issue 10): a listing that CloudStack changes while the hook pages through it never costs a
//! live NIC its prefix; authority to withdraw ages; early syncs cannot storm; the hook stops at once.
use std::time::{Duration, Instant};

use serde_json::{json, Map, Value};

use crate::core_stories::{nic_vm, raw_remote_id, router, two_vlans, WEB_MAC, WEB_PREFIX};
use crate::lab::dhcp6::{Answer, Client, Router};
use crate::lab::{wait_until, Lab, LabSpec};
use crate::trust_stories::{assert_extended, lifetimes_of, reload_with, resync, stat};

/// VM `vm-n` (n = 1..=9) has one NIC on VLAN 709: MAC 02:00:0a:c5:01:0n, 185.62.101.(10+n).
fn mac(n: u8) -> [u8; 6] {
    [0x02, 0x00, 0x0a, 0xc5, 0x01, n]
}

/// The prefix of vm-n's NIC: host number 266 + n on the /22, times 16 in the /40.
fn prefix(n: u8) -> String {
    let number = 0x100 + 10 + u32::from(n); // 185.62.101.(10+n) in 185.62.100.0/22
    format!("2a00:f10:500:{:x}::/60", number << 4)
}

fn nine_vms() -> Value {
    json!({"vms": (1..=9).map(|n| nic_vm(&format!("vm-{n}"), mac(n), &format!("185.62.101.{}", 10 + n), 709)).collect::<Vec<_>>()})
}

/// A lab whose hook pages three VMs at a time, with `extra` hook parameters. These stories are
/// about what listings prove: the event sync is off (`event_stories.rs` has its own).
fn paged_lab(extra: Value) -> Lab {
    let mut params: Map<String, Value> = json!({"page-size": 3, "event-interval": 0}).as_object().cloned().unwrap();
    params.extend(extra.as_object().cloned().unwrap_or_default());
    Lab::start(LabSpec { vlans: two_vlans(), cloud: nine_vms(), hook_params: params, ..LabSpec::default() })
}

fn acquired(r: &Router, n: u8) -> (Client, Answer) {
    let client = Client::new(mac(n));
    let reply = r.acquire(&client).unwrap().unwrap_or_else(|| panic!("vm-{n} gets a Reply"));
    assert_eq!(lifetimes_of(&reply, &prefix(n)), (300, 600), "vm-{n} gets its prefix");
    (client, reply)
}

fn renewal(r: &Router, client: &Client, reply: &Answer, n: u8) -> (u32, u32) {
    let renewed = r.renew(client, reply).unwrap().unwrap_or_else(|| panic!("vm-{n}'s Renew is answered"));
    lifetimes_of(&renewed, &prefix(n))
}

/// vm-8 has just been expunged, and vm-2 is expunged while the hook asks for page 3: everything
/// after vm-2 moves up by one and vm-7 falls between pages 2 and 3. The listing is incomplete:
/// vm-7 keeps its prefix (a lookup finds it running), vm-8 loses its own (the lookup confirms it
/// gone). vm-2 was seen on page 1: this listing cannot tell, the next one will.
#[test]
fn a_vm_expunged_while_the_hook_pages_costs_the_nic_that_falls_between_pages_nothing() {
    let lab = paged_lab(json!({}));
    let r = router(&lab, "VLAN709", raw_remote_id());
    let (seven, seven_reply) = acquired(&r, 7);
    let (eight, eight_reply) = acquired(&r, 8);
    lab.standin().remove_vm("vm-8");
    lab.standin().expunge_while_paging("vm-2", 3);
    lab.standin().clear_requests();
    resync(&lab);
    assert!(lab.kea_log().contains("CLOUDSTACK_SYNC_INCOMPLETE"), "{}", lab.kea_log());
    assert_eq!(lab.standin().request_counts().looked_up_ids, 2, "vm-7 and vm-8 were looked up");
    assert_extended(&lab, renewal(&r, &seven, &seven_reply, 7), "vm-7's Renew");
    assert_eq!(renewal(&r, &eight, &eight_reply, 8), (0, 0), "vm-8 is gone: withdrawn once the lookup confirmed it");
}

/// Page 2 comes back one VM short (a VM vanished between CloudStack's two queries): the hook reads
/// on to `count`, and the NICs of page 3 keep their prefixes; so does the one left out.
#[test]
fn a_page_one_vm_short_costs_no_nic_its_prefix() {
    let lab = paged_lab(json!({}));
    let r = router(&lab, "VLAN709", raw_remote_id());
    let held: Vec<(u8, Client, Answer)> = [4, 7, 9].into_iter().map(|n| {
        let (client, reply) = acquired(&r, n);
        (n, client, reply)
    }).collect();
    lab.standin().short_page(2); // page 2 leaves out its first VM, vm-4, every time
    resync(&lab);
    resync(&lab); // twice: absent from two listings in a row, vm-4 stays because its lookup finds it
    for (n, client, reply) in &held {
        assert_extended(&lab, renewal(&r, client, reply, *n), &format!("vm-{n} keeps its prefix"));
    }
    let status = lab.control(json!({"command": "cloudstack-status"}));
    assert!(status["arguments"]["last-listing-incomplete"].as_str().unwrap_or("").contains("read 8 VMs of count 9"), "{status}");
}

/// Withdrawals need a complete live listing younger than authority-max-age. With CloudStack down
/// for longer, the hook serves what it knows and withdraws nothing, says so in cloudstack-status
/// and once in the log; once CloudStack answers again, a destroyed VM's prefix is withdrawn.
#[test]
fn withdrawals_wait_for_a_complete_listing_younger_than_authority_max_age() {
    let lab = paged_lab(json!({"refresh-interval": 5, "authority-max-age": 5}));
    let r = router(&lab, "VLAN709", raw_remote_id());
    let (one, one_reply) = acquired(&r, 1);
    lab.standin().set_state("vm-1", "Destroyed");
    lab.standin().set_fault(json!({"mode": "status", "code": 503}));
    let lapsed = wait_until(Duration::from_secs(20), || {
        lab.control(json!({"command": "cloudstack-status"}))["arguments"]["authoritative"] == false
    });
    assert!(lapsed, "authority lapses 5 s after the last complete listing");
    let status = lab.control(json!({"command": "cloudstack-status"}));
    assert!(status["arguments"]["authority"]["withdrawals"].as_str().unwrap().starts_with("off"), "{status}");
    assert_extended(&lab, renewal(&r, &one, &one_reply, 1), "no withdrawal without authority");
    assert!(wait_until(Duration::from_secs(15), || lab.kea_log().contains("CLOUDSTACK_AUTHORITY_LAPSED")));

    lab.standin().clear_fault();
    resync(&lab);
    assert_eq!(lab.control(json!({"command": "cloudstack-status"}))["arguments"]["authoritative"], true);
    assert_eq!(renewal(&r, &one, &one_reply, 1), (0, 0), "withdrawn once a complete listing speaks for it");
    assert_eq!(lab.kea_log().matches("CLOUDSTACK_AUTHORITY_LAPSED").count(), 1, "said once");
}

/// An index kept across a config-reload keeps its authority only when the hook reads the same
/// CloudStack (api-url, zone-id, api-key); with another source it serves but withdraws nothing
/// until a complete listing from the new one.
#[test]
fn an_index_kept_across_a_reload_from_another_source_serves_but_withdraws_nothing() {
    let lab = paged_lab(json!({}));
    let r = router(&lab, "VLAN709", raw_remote_id());
    let (one, one_reply) = acquired(&r, 1);
    lab.standin().set_fault(json!({"mode": "status", "code": 503})); // no live listing after the reload
    let same = reload_with(&lab, |_| {});
    assert_eq!(same["result"], 0, "{same}");
    assert_eq!(lab.control(json!({"command": "cloudstack-status"}))["arguments"]["authoritative"], true, "same source");
    let other = reload_with(&lab, |c| c["Dhcp6"]["hooks-libraries"][0]["parameters"]["zone-id"] = json!("z1"));
    assert_eq!(other["result"], 0, "{other}");
    let status = lab.control(json!({"command": "cloudstack-status"}));
    assert_eq!(status["arguments"]["authoritative"], false, "another source: {status}");
    assert_eq!(status["arguments"]["nics"], 9, "the kept index serves");
    lab.standin().set_state("vm-1", "Destroyed");
    assert_extended(&lab, renewal(&r, &one, &one_reply, 1), "kept: nothing withdrawn on a borrowed index");
    assert_eq!(lifetimes_of(&r.acquire(&Client::new(mac(5))).unwrap().expect("vm-5"), &prefix(5)), (300, 600));
}

/// A NIC the index refused (its number collides) retransmitting for 10 s costs no early sync; 1,000
/// unknown MACs over 10 s cost at most one event poll per miss-holdoff (beside the periodic polls
/// every event-interval, 5 s) and no listing; with the event sync off, at most one listing per
/// miss-holdoff.
#[test]
fn retransmissions_of_refused_and_unknown_nics_cannot_storm_cloudstack() {
    let mut cloud = nine_vms();
    // vm-twin's NIC has vm-3's number (185.62.105.13 & ~/22 = 0x10d): the smaller NIC id keeps it.
    cloud["vms"].as_array_mut().unwrap().push(nic_vm("vm-twin", [0x02, 0, 0x0a, 0xc5, 0x02, 0x01], "185.62.105.13", 709));
    let lab = Lab::start(LabSpec { vlans: two_vlans(), cloud, ..LabSpec::default() }); // miss-holdoff 1 s
    let r = router(&lab, "VLAN709", raw_remote_id());
    let lookup = lab.control(json!({"command": "cloudstack-lookup", "arguments": {"mac": "02:00:0a:c5:02:01"}}));
    assert_eq!(lookup["result"], 3, "the twin is refused: {lookup}");

    lab.standin().clear_requests();
    let twin = Client::new([0x02, 0, 0x0a, 0xc5, 0x02, 0x01]);
    let until = Instant::now() + Duration::from_secs(10);
    while Instant::now() < until {
        r.solicit_and_go(&twin).unwrap();
        std::thread::sleep(Duration::from_millis(100)); // a client's retransmission pace, not a wait
    }
    assert!(wait_until(Duration::from_secs(5), || stat(&lab, "cloudstack.refused-nic") >= 90));
    let counts = lab.standin().request_counts();
    assert_eq!(counts.listings_begun, 0, "a refused NIC is known: no early sync");
    // Each event poll reads both scopes: two listEvents requests. Periodic polls: one per 5 s.
    assert!(counts.event_polls as f64 <= 2.0 * (10.0 / 5.0 + 2.0), "only periodic polls: {counts:?}");

    let strangers = |r: &Router| {
        let started = Instant::now();
        for i in 0..1000u32 {
            let stranger = Client::new([0x02, 0x77, 0, 0, (i >> 8) as u8, i as u8]);
            r.solicit_and_go(&stranger).unwrap();
            std::thread::sleep(Duration::from_millis(10));
        }
        started.elapsed().as_secs_f64()
    };
    lab.standin().clear_requests();
    let seconds = strangers(&r);
    let counts = lab.standin().request_counts();
    assert_eq!(counts.listings_begun, 0, "unknown MACs ask the event log, not for a listing: {counts:?}");
    let polls = counts.event_polls as f64 / 2.0;
    assert!(polls >= 1.0, "unknown MACs do ask for a poll");
    assert!(polls <= seconds / 1.0 + seconds / 5.0 + 2.0, "{polls} polls in {seconds:.1} s with miss-holdoff 1 s");

    let lab = Lab::start(LabSpec { vlans: two_vlans(), cloud: nine_vms(), hook_params: json!({"event-interval": 0}).as_object().cloned().unwrap(), ..LabSpec::default() });
    let r = router(&lab, "VLAN709", raw_remote_id());
    lab.standin().clear_requests();
    let seconds = strangers(&r);
    let listings = lab.standin().request_counts().listings_begun;
    assert!(listings >= 1, "without events, unknown MACs ask for a listing");
    assert!(listings as f64 <= seconds / 1.0 + 1.0, "{listings} listings in {seconds:.1} s with miss-holdoff 1 s");
}

/// CloudStack accepts the hook's connection and never answers, then drops every SYN: a
/// config-reload answers within 3 s and Kea serves right after; kea-dhcp6 stops within 3 s.
#[test]
fn a_reload_and_a_stop_while_cloudstack_hangs_mid_sync_return_within_3_s() {
    let mut lab = Lab::start(LabSpec {
        vlans: two_vlans(),
        cloud: json!({"vms": [nic_vm("web", WEB_MAC, "185.62.101.23", 709)]}),
        api_via_blackhole_port: true,
        hook_params: json!({"request-timeout": 60}).as_object().cloned().unwrap(),
        ..LabSpec::default()
    });
    lab.standin().accept_and_hang();
    lab.control(json!({"command": "cloudstack-resync"}));
    assert!(wait_until(Duration::from_secs(10), || lab.standin().held_requests() >= 1), "the sync hangs mid-request");

    let started = Instant::now();
    let reload = lab.control(json!({"command": "config-reload"}));
    let took = started.elapsed();
    assert_eq!(reload["result"], 0, "{reload}");
    assert!(took < Duration::from_secs(3), "config-reload took {took:?}");
    let reply = router(&lab, "VLAN709", raw_remote_id()).acquire(&Client::new(WEB_MAC)).unwrap().expect("served");
    assert_eq!(lifetimes_of(&reply, WEB_PREFIX), (300, 600));

    lab.standin().blackhole_connect(); // the next sync's connect is never answered
    lab.control(json!({"command": "cloudstack-resync"}));
    let (took, code) = lab.stop_kea_timed();
    assert!(took < Duration::from_secs(3), "kea-dhcp6 took {took:?} to stop");
    assert_eq!(code, 0, "a clean exit:\n{}", lab.kea_log());
    assert!(!lab.kea_log().contains("CLOUDSTACK_SYNC_FAILED"), "a sync cut short by a stop is no failure");
}
