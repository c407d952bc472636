//! Real relays (issue 13): Debian 12's dnsmasq, ISC dhcrelay, dibbler-relay and wide-dhcpv6-relay relay ISC
//! dhclient to the real kea-dhcp6 with the hook, each configured as an operator would, from the router's
//! address (the only one in `trusted-relays`). Each story reads in Kea's log what the relay really sent.
//!
//! What they send (seen here, Debian 12 packages): dnsmasq — link-address = its LOCAL address, option 79 (its
//! neighbour table), nothing else; dhcrelay `-I` — interface-id = its `#index` as 4 bytes in host order, no
//! MAC; dibbler-relay — interface-id N (4 bytes big-endian), the configured remote-id (the same for every
//! client) and option 79 built from the client's DUID; dhcp6relay — interface-id = the kernel's ifindex (4
//! bytes big-endian), no MAC, from UDP port 546.
use std::time::Duration;

use serde_json::json;

use crate::core_stories::{assert_no_error_lines, hex, nic_vm, parse_mac, DB_PREFIX, WEB_MAC, WEB_PREFIX};
use crate::lab::dhcp6::duid_llt;
use crate::lab::relays::{self, DibblerOptions, LinkName, SeenRelayForward};
use crate::lab::{wait_until, ClientLink, Daemon, Dhclient, Lab, LabSpec};
use crate::trust_stories::stat;

const OPTION_INTERFACE_ID: u16 = 18;
const OPTION_REMOTE_ID: u16 = 37;
const OPTION_CLIENT_LINK_LAYER: u16 = 79;

/// How long dhclient gets for its first prefix (its Solicit backs off 1, 2, 4 s ...).
const BIND_WITHIN: Duration = Duration::from_secs(60);

/// Kea with the hook, one VLAN (709), the router's address alone trusted; Kea logs every packet (debug 99), so
/// the story can read what the relay sent. T1 and T2 of 2 and 4 s make dhclient renew through the relay soon.
fn lab() -> Lab {
    Lab::start(relay_lab_spec())
}

fn relay_lab_spec() -> LabSpec {
    let timers = json!({"renew-timer": 2, "rebind-timer": 4}).as_object().cloned().unwrap();
    LabSpec { cloud: json!({"vms": []}), kea_debug: true, trust_only_the_router: true, kea_globals: timers, ..LabSpec::default() }
}

/// The client link's MAC (its veth's, as the relay sees it in frames).
fn client_mac(link: &ClientLink<'_>) -> [u8; 6] {
    let text = link.netns().exec("cat", &[&format!("/sys/class/net/{}/address", link.client_iface())]);
    parse_mac(text.trim())
}

/// CloudStack lists the client link's NIC on VLAN 709 as 185.62.101.23: its /60 is WEB_PREFIX.
fn list_the_nic(lab: &Lab, link: &ClientLink<'_>) -> [u8; 6] {
    let mac = client_mac(link);
    lab.standin().add_vm(nic_vm("vm-behind-relay", mac, "185.62.101.23", 709));
    mac
}

/// The Relay-Forwards Kea received with the first Solicit; panics with the relay's output if there are none.
fn first_solicit(lab: &Lab, relay: &Daemon) -> SeenRelayForward {
    let mut seen = None;
    wait_until(Duration::from_secs(30), || {
        seen = relays::seen_relay_forwards(lab).into_iter().find(|f| f.message == "SOLICIT");
        seen.is_some()
    });
    seen.unwrap_or_else(|| panic!("Kea received no relayed Solicit; the relay's output:\n{}", relay.output()))
}

/// Option 79 as Kea prints it: hardware type 1 (Ethernet), then the MAC.
fn option_79_of(mac: [u8; 6]) -> String {
    format!("00:01:{}", hex(&mac))
}

/// Waits until dhclient renewed its prefix through the relay (at T1): the prefix and preferred lifetime of its
/// RENEW6 event (Kea 3.0 may answer from its lease cache with what is left of 300 s), and the relayed Renew.
fn renewed(lab: &Lab, client: &Dhclient, relay: &Daemon) -> (String, u32, SeenRelayForward) {
    let renew_event = || client.events().split("----").find(|e| e.contains("reason=RENEW6")).map(str::to_string);
    let extended = wait_until(Duration::from_secs(30), || renew_event().is_some());
    assert!(extended, "dhclient renewed within 30 s\ndhclient:\n{}\nthe relay:\n{}", client.output(), relay.output());
    let event = renew_event().unwrap();
    let value = |name: &str| event.lines().find_map(|l| l.strip_prefix(name)).map(|v| v.trim_matches('\'').to_string());
    let prefix = value("new_ip6_prefix=").unwrap_or_else(|| panic!("a prefix in the RENEW6 event:\n{event}"));
    let preferred = value("new_preferred_life=").and_then(|v| v.parse().ok()).unwrap_or(0);
    let renew = relays::seen_relay_forwards(lab).into_iter().find(|f| f.message == "RENEW").expect("a relayed Renew");
    (prefix, preferred, renew)
}

fn bound(client: &Dhclient, relay: &Daemon) -> String {
    if wait_until(BIND_WITHIN, || client.prefix().is_some()) {
        return client.prefix().unwrap();
    }
    panic!("dhclient bound no prefix within {BIND_WITHIN:?}\ndhclient:\n{}\nthe relay:\n{}", client.output(), relay.output());
}

/// A relay that carries no MAC: every Solicit is refused, counted and logged; the client holds no prefix,
/// Kea no lease.
fn assert_refused_for_no_mac(lab: &Lab, client: &Dhclient, relay: &Daemon) {
    let refused = wait_until(Duration::from_secs(30), || stat(lab, "cloudstack.refused-no-mac") >= 2);
    assert!(refused, "two Solicits counted in cloudstack.refused-no-mac; the relay:\n{}\nKea:\n{}", relay.output(), lab.kea_log());
    assert!(lab.kea_log().contains("no prefix: the router gave no usable MAC"), "the refusal is logged");
    assert_eq!(client.prefix(), None, "the client bound nothing:\n{}", client.output());
    assert!(lab.leases().iter().all(|l| !l.is_prefix()), "Kea holds no prefix lease: {:?}", lab.leases());
    assert_eq!(stat(lab, "cloudstack.delegated"), 0);
}

/// dnsmasq sends no interface-id: the VLAN entry names its link by `link-prefix` (the /64 of the LOCAL address
/// it relays from and sends as link-address), and the Kea subnet is the one whose prefix holds that address.
/// Its option 79 comes from its neighbour table (the frame), so the client gets its NIC's /60 and renews it.
#[test]
fn behind_dnsmasq_the_client_gets_its_nics_prefix_by_the_links_prefix() {
    let lab = lab();
    let link = lab.add_client_link();
    let mac = list_the_nic(&lab, &link);
    relays::name_vlan_link(&lab, &LinkName::LinkPrefix(relays::link_prefix_of(link.link_address())));
    let relay = relays::dnsmasq(&lab, &link);
    let client = link.dhclient();

    assert_eq!(bound(&client, &relay), WEB_PREFIX);
    let solicit = first_solicit(&lab, &relay);
    assert_eq!(solicit.source, format!("[{}]:547", lab.router_addr()), "from the router's address: {solicit:?}");
    assert_eq!(solicit.link_address, link.link_address().to_string(), "link-address = dnsmasq's LOCAL: {solicit:?}");
    assert_eq!(solicit.option(OPTION_INTERFACE_ID), None, "no interface-id: {solicit:?}");
    assert_eq!(solicit.option(OPTION_REMOTE_ID), None, "no remote-id: {solicit:?}");
    // dnsmasq may miss option 79 on the first Solicit while it resolves the neighbour; the Request has it.
    let request = relays::seen_relay_forwards(&lab).into_iter().find(|f| f.message == "REQUEST").expect("a relayed Request");
    assert_eq!(request.option(OPTION_CLIENT_LINK_LAYER), Some(option_79_of(mac).as_str()), "{request:?}");
    assert_eq!(stat(&lab, "cloudstack.delegated"), 1);
    let (prefix, preferred, renew) = renewed(&lab, &client, &relay);
    assert_eq!(prefix, WEB_PREFIX, "dnsmasq relays the Renew");
    assert!(preferred > 0, "Kea extended the /60 (preferred lifetime {preferred})");
    assert_eq!(renew.option(OPTION_CLIENT_LINK_LAYER), Some(option_79_of(mac).as_str()), "option 79 on the Renew: {renew:?}");
    assert_no_error_lines(&lab);
}

/// ISC dhcrelay carries no MAC at all. Its interface-id is the number `-l …#N` gives (else one it picks itself),
/// as 4 bytes in host byte order: the VLAN entry names it as bytes, `"0xc5020000"` for 709 on x86. Every
/// Solicit is refused as "the router gave no usable MAC", counted in `cloudstack.refused-no-mac`.
#[test]
fn behind_isc_dhcrelay_which_carries_no_mac_every_solicit_is_refused_and_counted() {
    let lab = lab();
    let link = lab.add_client_link();
    list_the_nic(&lab, &link);
    relays::name_vlan_link(&lab, &LinkName::InterfaceId(709u32.to_ne_bytes().to_vec()));
    let relay = relays::dhcrelay(&lab, &link, Some(709));
    let client = link.dhclient();

    let solicit = first_solicit(&lab, &relay);
    assert_eq!(solicit.source, format!("[{}]:547", lab.router_addr()), "{solicit:?}");
    assert_eq!(solicit.link_address, link.link_address().to_string(), "{solicit:?}");
    assert_eq!(solicit.option(OPTION_INTERFACE_ID), Some("c5:02:00:00"), "709 in host byte order: {solicit:?}");
    assert_eq!(solicit.options.len(), 1, "nothing but the interface-id: {solicit:?}");
    assert_refused_for_no_mac(&lab, &client, &relay);
    assert!(!lab.kea_log().contains("is not a configured VLAN"), "the VLAN entry names dhcrelay's link");
    assert_no_error_lines(&lab);
}

/// wide-dhcpv6-relay sends the kernel's interface index as interface-id (4 bytes, big-endian), from UDP port
/// 546, and no MAC: refused and counted like dhcrelay. Without the hook, Kea delegates through it.
#[test]
fn behind_wide_dhcpv6_relay_which_carries_no_mac_every_solicit_is_refused_and_counted() {
    let lab = lab();
    let link = lab.add_client_link();
    list_the_nic(&lab, &link);
    let ifindex = relays::router_ifindex(&lab, link.router_iface());
    relays::name_vlan_link(&lab, &LinkName::InterfaceId(ifindex.to_be_bytes().to_vec()));
    let relay = relays::wide_dhcp6relay(&lab, &link);
    let client = link.dhclient();

    let solicit = first_solicit(&lab, &relay);
    assert_eq!(solicit.source, format!("[{}]:546", lab.router_addr()), "from port 546: {solicit:?}");
    assert_eq!(solicit.option(OPTION_INTERFACE_ID), Some(hex(&ifindex.to_be_bytes()).as_str()), "{solicit:?}");
    assert_eq!(solicit.options.len(), 1, "nothing but the interface-id: {solicit:?}");
    assert_refused_for_no_mac(&lab, &client, &relay);
    assert!(!lab.kea_log().contains("is not a configured VLAN"), "the VLAN entry names dhcp6relay's link");
    assert_no_error_lines(&lab);
    drop(client);
    drop(relay);
    drop(link);
    drop(lab);

    // The refusal is the hook's: Kea answers a relay on port 547 whatever port it sent from, dhcp6relay takes
    // that answer, and Kea without the hook delegates from its pool through it.
    let plain = Lab::start(LabSpec { hook: false, ..relay_lab_spec() });
    let link = plain.add_client_link();
    let ifindex = relays::router_ifindex(&plain, link.router_iface());
    relays::name_vlan_link(&plain, &LinkName::InterfaceId(ifindex.to_be_bytes().to_vec()));
    let relay = relays::wide_dhcp6relay(&plain, &link);
    let client = link.dhclient();
    let pooled = bound(&client, &relay);
    assert!(pooled.starts_with("2a00:f10:5") && pooled.ends_with("/60"), "a /60 of VLAN 709's pool: {pooled}");
}

fn dibbler_options() -> DibblerOptions {
    DibblerOptions { interface_id: 709, remote_id: Some((4874, vec![1, 2, 3, 4])), link_layer: true }
}

/// dibbler-relay with `interface-id 709` (4 bytes big-endian: `"0x000002c5"`) and `option link-layer`: the
/// client gets its NIC's /60 from option 79, and renews it. Its remote-id is one value for every client (`option remote-id
/// 4874-0x01020304`), no MAC, and the hook does not take it for one.
#[test]
fn behind_dibbler_relay_the_client_gets_its_nics_prefix_from_option_79() {
    let lab = lab();
    let link = lab.add_client_link();
    let mac = list_the_nic(&lab, &link);
    relays::name_vlan_link(&lab, &LinkName::InterfaceId(709u32.to_be_bytes().to_vec()));
    let relay = relays::dibbler_relay(&lab, &link, &dibbler_options());
    let client = link.dhclient();

    assert_eq!(bound(&client, &relay), WEB_PREFIX);
    let solicit = first_solicit(&lab, &relay);
    assert_eq!(solicit.source, format!("[{}]:547", lab.router_addr()), "{solicit:?}");
    assert_eq!(solicit.option(OPTION_INTERFACE_ID), Some("00:00:02:c5"), "{solicit:?}");
    assert_eq!(solicit.option(OPTION_REMOTE_ID), Some("4874 (uint32) 01020304 (binary)"), "{solicit:?}");
    assert_eq!(solicit.option(OPTION_CLIENT_LINK_LAYER), Some(option_79_of(mac).as_str()), "{solicit:?}");
    assert_eq!(stat(&lab, "cloudstack.delegated"), 1);
    let (prefix, preferred, renew) = renewed(&lab, &client, &relay);
    assert_eq!(prefix, WEB_PREFIX, "dibbler-relay relays the Renew");
    assert!(preferred > 0, "Kea extended the /60 (preferred lifetime {preferred})");
    assert_eq!(renew.option(OPTION_CLIENT_LINK_LAYER), Some(option_79_of(mac).as_str()), "option 79 on the Renew: {renew:?}");
    assert_no_error_lines(&lab);
}

/// dhclient with a DUID of its own choosing (DUID-LLT naming `mac`) in its lease file, as an attacker writes it.
fn dhclient_claiming(link: &ClientLink<'_>, mac: [u8; 6]) -> Dhclient {
    let octal: String = duid_llt(0x32a2_2600, mac).iter().map(|b| format!("\\{b:03o}")).collect();
    std::fs::write(link.dir().join("dhclient6.leases"), format!("default-duid \"{octal}\";\n")).expect("write lease file");
    link.dhclient()
}

/// Why dibbler-relay is not safe: it builds option 79 from the client's DUID, so a tenant whose DUID names
/// another VM's MAC gets that VM's /60. Behind dnsmasq, which reads the MAC off the frame, the same client
/// gets its own NIC's /60.
#[test]
fn a_client_that_forges_its_duid_gets_another_vms_prefix_behind_dibbler_but_its_own_behind_dnsmasq() {
    for relay_name in ["dibbler-relay", "dnsmasq"] {
        let lab = lab();
        let link = lab.add_client_link();
        let own_mac = client_mac(&link);
        assert_ne!(own_mac, WEB_MAC);
        // The victim (web) is elsewhere on VLAN 709; the attacker's own NIC (db) gets DB_PREFIX.
        lab.standin().add_vm(nic_vm("web", WEB_MAC, "185.62.101.23", 709));
        lab.standin().add_vm(nic_vm("db", own_mac, "185.62.101.24", 709));
        let relay = if relay_name == "dnsmasq" {
            relays::name_vlan_link(&lab, &LinkName::LinkPrefix(relays::link_prefix_of(link.link_address())));
            relays::dnsmasq(&lab, &link)
        } else {
            relays::name_vlan_link(&lab, &LinkName::InterfaceId(709u32.to_be_bytes().to_vec()));
            relays::dibbler_relay(&lab, &link, &dibbler_options())
        };
        let attacker = dhclient_claiming(&link, WEB_MAC);
        let got = bound(&attacker, &relay);
        let request = relays::seen_relay_forwards(&lab).into_iter().find(|f| f.message == "REQUEST").expect("a Request");
        if relay_name == "dnsmasq" {
            assert_eq!(got, DB_PREFIX, "dnsmasq: the attacker gets its own /60");
            assert_eq!(request.option(OPTION_CLIENT_LINK_LAYER), Some(option_79_of(own_mac).as_str()), "{request:?}");
        } else {
            assert_eq!(got, WEB_PREFIX, "dibbler-relay: the attacker gets the victim's /60");
            assert_eq!(request.option(OPTION_CLIENT_LINK_LAYER), Some(option_79_of(WEB_MAC).as_str()), "{request:?}");
        }
        assert_no_error_lines(&lab);
    }
}

/// The trust rule holds for real relays too: dnsmasq relaying from an address outside `trusted-relays` is
/// dropped and counted, and its client gets nothing.
#[test]
fn a_real_relay_outside_trusted_relays_is_dropped_and_counted() {
    let mut spec = relay_lab_spec();
    spec.trust_only_the_router = false;
    spec.hook_params.insert("trusted-relays".into(), json!(["fd00:4b43:ffff::/64"]));
    let lab = Lab::start(spec);
    let link = lab.add_client_link();
    list_the_nic(&lab, &link);
    relays::name_vlan_link(&lab, &LinkName::LinkPrefix(relays::link_prefix_of(link.link_address())));
    let relay = relays::dnsmasq(&lab, &link);
    let client = link.dhclient();

    let dropped = wait_until(Duration::from_secs(30), || stat(&lab, "cloudstack.refused-untrusted-relay") >= 2);
    assert!(dropped, "dnsmasq's Solicits are counted as untrusted; the relay:\n{}", relay.output());
    assert_eq!(client.prefix(), None, "the client bound nothing:\n{}", client.output());
    assert!(lab.leases().iter().all(|l| !l.is_prefix()), "Kea holds no prefix lease: {:?}", lab.leases());
    assert_eq!(stat(&lab, "cloudstack.delegated"), 0);
    assert_no_error_lines(&lab);
}
