//! What a client sees (issue 2, points 1–8): each story runs the real kea-dhcp6 of the image (2.6.3 or
//! 3.0.x) with the hook, the CloudStack stand-in and a relay that plays the provider router.
use std::net::Ipv6Addr;
use std::time::Duration;

use serde_json::{json, Value};

use crate::lab::dhcp6::{Answer, Client, MacCarrier, Router};
use crate::lab::{wait_until, Lab, LabSpec, VlanSpec};

pub(crate) const WEB_MAC: [u8; 6] = [0x02, 0x00, 0x0a, 0xc5, 0x00, 0x17];
pub(crate) const WEB_PREFIX: &str = "2a00:f10:500:1170::/60"; // 185.62.101.23/22 -> n = 279
pub(crate) const DB_MAC: [u8; 6] = [0x02, 0x00, 0x0a, 0xc5, 0x00, 0x18];
pub(crate) const DB_PREFIX: &str = "2a00:f10:500:1180::/60"; // 185.62.101.24/22 -> n = 280

pub(crate) fn nic_vm(id: &str, mac: [u8; 6], ip: &str, vlan: u16) -> Value {
    let mac = mac.iter().map(|b| format!("{b:02x}")).collect::<Vec<_>>().join(":");
    json!({"id": id, "name": id, "state": "Running", "zoneid": "z1", "nics": [{
        "id": format!("nic-{id}"), "macaddress": mac, "ipaddress": ip, "netmask": "255.255.252.0",
        "gateway": "185.62.100.1", "vlanid": vlan, "broadcasturi": format!("vlan://{vlan}"),
        "networkid": format!("net-{vlan}"), "traffictype": "Guest", "type": "Shared", "isdefault": true}]})
}

pub(crate) fn web_and_db() -> Value {
    json!({"vms": [nic_vm("web", WEB_MAC, "185.62.101.23", 709), nic_vm("db", DB_MAC, "185.62.101.24", 709)]})
}

pub(crate) fn two_vlans() -> Vec<VlanSpec> {
    vec![VlanSpec::new(709, "VLAN709", "2a00:f10:500::/40"), VlanSpec::new(710, "VLAN710", "2a00:f10:600::/40")]
}

fn lab_with(cloud: Value) -> Lab {
    Lab::start(LabSpec { vlans: two_vlans(), cloud, ..LabSpec::default() })
}

pub(crate) fn router(lab: &Lab, interface_id: &str, carrier: MacCarrier) -> Router {
    let socket = lab.router_socket();
    let server = std::net::SocketAddrV6::new(lab.kea_addr(), 547, 0, 0);
    let link: Ipv6Addr = "2a00:f10:500::1".parse().unwrap();
    Router::new(socket, server, link, interface_id.as_bytes(), carrier)
}

pub(crate) fn raw_remote_id() -> MacCarrier {
    MacCarrier::RemoteIdRaw { enterprise: 2636 }
}

pub(crate) fn prefixes(answer: &Answer) -> Vec<String> {
    answer.prefixes.iter().filter(|p| p.valid > 0).map(|p| format!("{}/{}", p.prefix, p.len)).collect()
}

pub(crate) fn only_prefix(answer: &Option<Answer>) -> Vec<String> {
    answer.as_ref().map(prefixes).unwrap_or_default()
}

pub(crate) fn assert_no_error_lines(lab: &Lab) {
    let log = lab.kea_log();
    let errors: Vec<&str> = log.lines().filter(|l| l.contains(" ERROR ") || l.contains(" FATAL ")).collect();
    assert!(errors.is_empty(), "Kea logged errors:\n{}", errors.join("\n"));
}

/// Story 1: a known NIC gets exactly its /60, renews, rebinds, releases, and keeps it across a restart.
#[test]
fn a_known_nic_gets_its_prefix_renews_rebinds_releases_and_keeps_it_across_a_restart() {
    let mut lab = lab_with(web_and_db());
    let web = Client::new(WEB_MAC);
    let r = router(&lab, "VLAN709", raw_remote_id());

    let advertise = r.solicit(&web, None).unwrap().expect("an Advertise");
    assert_eq!(prefixes(&advertise), [WEB_PREFIX]);
    let reply = r.request(&web, &advertise).unwrap().expect("a Reply");
    assert_eq!(prefixes(&reply), [WEB_PREFIX]);

    let renewed = r.renew(&web, &reply).unwrap().expect("a Reply to Renew");
    assert_eq!(prefixes(&renewed), [WEB_PREFIX]);
    let rebound = r.rebind(&web, &renewed.prefixes).unwrap().expect("a Reply to Rebind");
    assert_eq!(prefixes(&rebound), [WEB_PREFIX]);

    lab.restart_kea();
    let r = router(&lab, "VLAN709", raw_remote_id());
    let after_restart = r.renew(&web, &rebound).unwrap().expect("a Reply to Renew after the restart");
    assert_eq!(prefixes(&after_restart), [WEB_PREFIX]);

    let released = r.release(&web, &after_restart).unwrap().expect("a Reply to Release");
    assert_eq!(released.msg_type, dhcproto::v6::MessageType::Reply);
    let live = |l: &crate::lab::LeaseRow| l.is_prefix() && l.prefix() == WEB_PREFIX && l.valid_lifetime > 0 && l.state == 0;
    assert!(wait_until(Duration::from_secs(5), || !lab.leases().iter().any(live)),
            "Release frees the lease: {:?}", lab.leases());
    assert_no_error_lines(&lab);
}

/// Story 1, with the MAC as ASCII text in remote-id and as option 79: the same prefix.
#[test]
fn the_router_may_carry_the_mac_as_text_or_as_option_79() {
    let lab = lab_with(web_and_db());
    for carrier in [MacCarrier::RemoteIdText { enterprise: 2636 }, MacCarrier::ClientLinkLayer] {
        let r = router(&lab, "VLAN709", carrier);
        let reply = r.acquire(&Client::new(DB_MAC)).unwrap();
        assert_eq!(only_prefix(&reply), [DB_PREFIX]);
    }
}

/// Story 2: an unknown MAC gets nothing; once CloudStack lists the NIC, a retransmission gets it.
#[test]
fn an_unknown_nic_gets_its_prefix_once_cloudstack_lists_it() {
    let lab = lab_with(json!({"vms": []}));
    let web = Client::new(WEB_MAC);
    let r = router(&lab, "VLAN709", raw_remote_id());
    assert_eq!(only_prefix(&r.solicit(&web, None).unwrap()), Vec::<String>::new(), "unknown: no prefix");

    lab.standin().add_vm(nic_vm("web", WEB_MAC, "185.62.101.23", 709));
    let mut got = Vec::new();
    let found = wait_until(Duration::from_secs(15), || {
        got = only_prefix(&r.solicit(&web, None).unwrap());
        !got.is_empty()
    });
    assert!(found, "a retransmission after the early sync gets the prefix");
    assert_eq!(got, [WEB_PREFIX]);
    assert_no_error_lines(&lab);
}

/// Story 3: the wrong VLAN, an unmapped interface-id, a non-relayed message, no MAC: nothing, at debug level.
#[test]
fn clients_the_router_does_not_vouch_for_get_nothing_and_kea_logs_no_error() {
    let lab = lab_with(web_and_db());
    let web = Client::new(WEB_MAC);
    let wrong_vlan = router(&lab, "VLAN710", raw_remote_id());
    assert!(only_prefix(&wrong_vlan.solicit(&web, None).unwrap()).is_empty(), "the NIC lives on VLAN 709");
    let unmapped = router(&lab, "VLAN999", raw_remote_id());
    assert!(only_prefix(&unmapped.solicit(&web, None).unwrap()).is_empty(), "interface-id not in vlans");
    let no_mac = router(&lab, "VLAN709", MacCarrier::None);
    assert!(only_prefix(&no_mac.solicit(&web, None).unwrap()).is_empty(), "no MAC from the router");

    let log = lab.kea_log();
    for reason in ["the NIC lives on VLAN 709", "interface-id 'VLAN999'", "no usable MAC"] {
        assert!(log.contains(reason), "refusal '{reason}' is logged:\n{log}");
    }
    assert!(log.lines().filter(|l| l.contains("CLOUDSTACK_PACKET_REFUSED")).all(|l| l.contains(" DEBUG ")));
    assert_no_error_lines(&lab);
}

/// Story 4: the same NIC with a new DUID (OS reinstalled) while the old lease is valid: same prefix at once.
#[test]
fn a_reinstalled_vm_keeps_its_prefix_at_once() {
    let lab = lab_with(web_and_db());
    let r = router(&lab, "VLAN709", raw_remote_id());
    let before = r.acquire(&Client::new(WEB_MAC)).unwrap();
    assert_eq!(only_prefix(&before), [WEB_PREFIX]);
    let reinstalled = Client::new(WEB_MAC); // a fresh DUID, the same NIC
    let after = r.acquire(&reinstalled).unwrap();
    assert_eq!(only_prefix(&after), [WEB_PREFIX]);
    let holders: Vec<_> = lab.leases().into_iter().filter(|l| l.is_prefix() && l.prefix() == WEB_PREFIX && l.valid_lifetime > 0).collect();
    assert_eq!(holders.len(), 1, "one live lease on the prefix: {holders:?}");
    assert_eq!(holders[0].duid, hex(&reinstalled.duid));
}

/// Story 5: a destroyed NIC, or one whose number changed, gets its old prefix back with lifetimes 0.
#[test]
fn a_destroyed_or_renumbered_nic_gets_its_old_prefix_withdrawn_on_renewal() {
    let lab = lab_with(web_and_db());
    let r = router(&lab, "VLAN709", raw_remote_id());
    let (web, db) = (Client::new(WEB_MAC), Client::new(DB_MAC));
    let web_reply = r.acquire(&web).unwrap().expect("web's Reply");
    let db_reply = r.acquire(&db).unwrap().expect("db's Reply");

    lab.standin().set_state("web", "Destroyed");
    lab.standin().remove_vm("db");
    lab.standin().add_vm(nic_vm("db", DB_MAC, "185.62.101.99", 709)); // n: 280 -> 355
    // An unknown MAC triggers the early sync that sees both changes.
    let _ = r.solicit(&Client::new([0x02, 0, 0, 0, 0x77, 0x77]), None);
    std::thread::sleep(Duration::from_secs(3));

    for (reply, client, old) in [(&web_reply, &web, WEB_PREFIX), (&db_reply, &db, DB_PREFIX)] {
        let renewed = r.renew(client, reply).unwrap().expect("a Reply to Renew");
        let old_one = renewed.prefixes.iter().find(|p| format!("{}/{}", p.prefix, p.len) == old)
            .unwrap_or_else(|| panic!("the old prefix {old} is in the Reply: {:?}", renewed.prefixes));
        assert_eq!((old_one.preferred, old_one.valid), (0, 0), "{old} withdrawn");
    }
    let fresh = r.acquire(&Client::new(DB_MAC)).unwrap();
    assert_eq!(only_prefix(&fresh), ["2a00:f10:500:1630::/60"], "the renumbered NIC gets its new prefix");
}

/// Story 6: a prefix is never delegated to two live clients, and Kea never walks the pool for us.
#[test]
fn a_prefix_is_never_delegated_twice_and_kea_never_walks_the_pool() {
    let lab = lab_with(web_and_db());
    let r = router(&lab, "VLAN709", raw_remote_id());
    for mac in [WEB_MAC, DB_MAC, WEB_MAC, DB_MAC] {
        r.acquire(&Client::new(mac)).unwrap();
    }
    for _ in 0..3 {
        // Unknown and refused clients: no prefix, no pool walk.
        assert!(only_prefix(&r.acquire(&Client::new([0x02, 0, 0, 0, 0x55, 0x55])).unwrap()).is_empty());
    }
    let live: Vec<_> = lab.leases().into_iter().filter(|l| l.is_prefix() && l.valid_lifetime > 0).collect();
    let mut prefixes: Vec<String> = live.iter().map(|l| l.prefix()).collect();
    prefixes.sort();
    assert_eq!(prefixes, [WEB_PREFIX, DB_PREFIX], "one live lease per NIC: {live:?}");
    let skipped = lab.kea_log().lines().filter(|l| l.contains("CLOUDSTACK_SELECT_SKIPPED")).count();
    assert!(skipped <= 6, "Kea tried {skipped} candidates after a skip: it must stop at the first");
}

/// Story 7: a client with a static Kea reservation keeps getting the reserved prefix.
#[test]
fn a_client_with_a_static_reservation_keeps_its_reserved_prefix() {
    let reserved_mac = [0x02, 0x00, 0x00, 0x00, 0x0e, 0x01];
    let lab = Lab::start(LabSpec {
        vlans: two_vlans(),
        cloud: web_and_db(),
        reservations: vec![json!({"hw-address": "02:00:00:00:0e:01", "prefixes": ["2a00:f10:500:ff00::/60"]})],
        ..LabSpec::default()
    });
    let r = router(&lab, "VLAN709", MacCarrier::Both { enterprise: 2636 });
    assert_eq!(only_prefix(&r.acquire(&Client::new(reserved_mac)).unwrap()), ["2a00:f10:500:ff00::/60"]);
    assert_eq!(only_prefix(&r.acquire(&Client::new(WEB_MAC)).unwrap()), [WEB_PREFIX]);
}

/// Story 8: with Kea multi-threaded (4 threads) the hook behaves the same.
#[test]
fn a_multi_threaded_kea_delegates_the_same_prefixes() {
    let lab = Lab::start(LabSpec { vlans: two_vlans(), cloud: web_and_db(), kea_threads: Some(4), ..LabSpec::default() });
    assert!(lab.kea_log().contains("CLOUDSTACK_LOAD_OK"));
    let r = router(&lab, "VLAN709", raw_remote_id());
    assert_eq!(only_prefix(&r.acquire(&Client::new(WEB_MAC)).unwrap()), [WEB_PREFIX]);
    assert_eq!(only_prefix(&r.acquire(&Client::new(DB_MAC)).unwrap()), [DB_PREFIX]);
    assert_no_error_lines(&lab);
}

/// The real dhclient behind a relay that behaves like the provider router gets the NIC's prefix.
#[test]
fn the_real_dhclient_behind_the_router_gets_the_nics_prefix() {
    let lab = lab_with(json!({"vms": []}));
    let link = lab.add_client_link();
    let mac_text = link.netns().exec("cat", &[&format!("/sys/class/net/{}/address", link.client_iface())]);
    let mac = parse_mac(mac_text.trim());
    lab.standin().add_vm(nic_vm("vm-dhclient", mac, "185.62.101.23", 709));
    let _relay = link.run_router("VLAN709", "client-link-layer");
    let dhclient = link.dhclient();
    assert_eq!(dhclient.wait_for_prefix(Duration::from_secs(60)), WEB_PREFIX);
}

pub(crate) fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect::<Vec<_>>().join(":")
}

pub(crate) fn parse_mac(text: &str) -> [u8; 6] {
    let bytes: Vec<u8> = text.split(':').map(|b| u8::from_str_radix(b, 16).expect("hex")).collect();
    bytes.try_into().unwrap_or_else(|_| panic!("'{text}' is not a MAC"))
}
