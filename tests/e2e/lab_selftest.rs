//! The lab proves itself on plain Kea: it starts, answers relayed DHCPv6, keeps leases over a restart and is
//! steerable over its control socket and the stand-in's control endpoints.
use std::net::Ipv6Addr;
use std::time::Duration;

use dhcproto::v6::{DhcpOption, Message, MessageType, OptionCode, IAPD};
use dhcproto::{Decodable, Encodable};
use serde_json::json;

use crate::lab::{Lab, LabSpec, VlanSpec};

const RELAY_FORW: u8 = 12;
const RELAY_REPL: u8 = 13;
const OPTION_RELAY_MSG: u16 = 9;
const OPTION_INTERFACE_ID: u16 = 18;

fn plain_kea() -> LabSpec {
    LabSpec { hook: false, ..LabSpec::default() }
}

#[test]
fn kea_loads_config_and_answers_control_socket() {
    let lab = Lab::start(plain_kea());
    let answer = lab.control(json!({ "command": "config-get" }));
    assert_eq!(answer["result"], 0, "{answer}");
    let subnet = &answer["arguments"]["Dhcp6"]["subnet6"][0];
    assert_eq!(subnet["interface-id"], "VLAN709", "{answer}");
    assert_eq!(subnet["pd-pools"][0]["delegated-len"], 60, "{answer}");
    assert!(lab.kea_config_path().is_file());
}

#[test]
fn kea_without_the_hook_answers_a_relayed_solicit_from_its_pd_pool() {
    let lab = Lab::start(plain_kea());
    let relay = Relay::new(&lab, "VLAN709");
    let advertise = relay.exchange(&solicit(0x117));
    assert_eq!(advertise.msg_type(), MessageType::Advertise, "{advertise:?}");
    let (prefix, len) = delegated_prefix(&advertise).unwrap_or_else(|| panic!("no IAPREFIX in {advertise:?}"));
    assert_eq!(len, 60, "{advertise:?}");
    assert!(in_prefix(prefix, "2a00:f10:500::".parse().unwrap(), 40), "{prefix}/{len} is outside 2a00:f10:500::/40");
}

#[test]
fn kea_restarted_by_the_lab_keeps_its_leases() {
    let mut lab = Lab::start(plain_kea());
    let relay = Relay::new(&lab, "VLAN709");
    let advertise = relay.exchange(&solicit(0x118));
    let reply = relay.exchange(&request_for(&advertise, 0x118));
    assert_eq!(reply.msg_type(), MessageType::Reply, "{reply:?}");
    let (prefix, len) = delegated_prefix(&reply).expect("a delegated prefix in the Reply");

    let leases = lab.leases();
    let lease = leases.iter().find(|l| l.is_prefix()).unwrap_or_else(|| panic!("no PD lease in {leases:?}"));
    assert_eq!((lease.address, lease.prefix_len), (prefix, len));
    assert_eq!((lease.subnet_id, lease.iaid, lease.valid_lifetime), (709, 1, 600));

    lab.restart_kea();
    assert!(lab.leases().iter().any(|l| l.is_prefix() && l.address == prefix), "{:?}", lab.leases());
    let again = relay.exchange(&solicit(0x118));
    assert_eq!(delegated_prefix(&again), Some((prefix, len)), "the same client keeps its prefix after a restart");
    assert_eq!(lab.kea_log().matches("DHCP6_STARTED").count(), 2, "both Kea runs are in the log");
}

#[test]
fn the_lab_spec_reaches_kea_threads_vlans_lifetimes_and_reservations() {
    let reserved = "2a00:f10:5ff:fff0::";
    let lab = Lab::start(LabSpec {
        vlans: vec![
            VlanSpec::new(709, "VLAN709", "2a00:f10:500::/40"),
            VlanSpec { index: Some("mac".into()), ..VlanSpec::new(710, "VLAN710", "2a00:f10:600::/40") },
        ],
        kea_threads: Some(4),
        reservations: vec![json!({ "duid": "00:03:00:01:02:00:00:00:01:19", "prefixes": [format!("{reserved}/60")] })],
        valid_lifetime: 900,
        preferred_lifetime: 450,
        ..plain_kea()
    });
    let config = lab.control(json!({ "command": "config-get" }));
    let dhcp6 = &config["arguments"]["Dhcp6"];
    assert_eq!(dhcp6["multi-threading"]["enable-multi-threading"], true, "{dhcp6}");
    assert_eq!(dhcp6["multi-threading"]["thread-pool-size"], 4, "{dhcp6}");
    assert_eq!(dhcp6["subnet6"][1]["interface-id"], "VLAN710", "{dhcp6}");

    let on_709 = Relay::new(&lab, "VLAN709");
    let advertise = on_709.exchange(&solicit(0x119));
    assert_eq!(delegated_prefix(&advertise), Some((reserved.parse().unwrap(), 60)), "{advertise:?}");
    drop(on_709);
    let on_710 = Relay::new(&lab, "VLAN710");
    let advertise = on_710.exchange(&solicit(0x120));
    let (prefix, _) = delegated_prefix(&advertise).expect("a prefix on VLAN 710");
    assert!(in_prefix(prefix, "2a00:f10:600::".parse().unwrap(), 40), "{prefix} is outside VLAN 710's /40");
    let Some(DhcpOption::IAPD(ia_pd)) = advertise.opts().get(OptionCode::IAPD) else { unreachable!() };
    let Some(DhcpOption::IAPrefix(offered)) = ia_pd.opts.get(OptionCode::IAPrefix) else { unreachable!() };
    assert_eq!((offered.preferred_lifetime, offered.valid_lifetime), (450, 900));
}

#[test]
fn dhclient_behind_the_router_binds_a_prefix_from_plain_kea() {
    let lab = Lab::start(plain_kea());
    let link = lab.add_client_link();
    let _router = link.run_router("VLAN709", "both");
    let client = link.dhclient();
    let prefix = client.wait_for_prefix(Duration::from_secs(30));
    assert!(prefix.starts_with("2a00:f10:5") && prefix.ends_with("/60"), "{prefix}");
    let leases = lab.leases();
    assert!(leases.iter().any(|l| l.is_prefix() && l.prefix() == prefix), "{prefix} not in {leases:?}");
}

#[test]
fn the_standin_is_steerable_from_the_test_through_the_router_namespace() {
    let lab = Lab::start(plain_kea());
    let standin = lab.standin();
    standin.set_cloud(json!({ "vms": [] }));
    let unsigned = "/client/api?command=listVirtualMachines&response=json";
    standin.set_fault(json!({ "mode": "status", "code": 503 }));
    assert_eq!(standin.http("GET", unsigned, None).status, 503);
    standin.set_fault(json!({ "mode": "none" }));
    assert_eq!(standin.http("GET", unsigned, None).status, 401, "an unsigned request is refused");
    assert!(standin.requests().as_array().is_some_and(|seen| !seen.is_empty()), "{}", standin.requests());
}

/// The test playing the provider router: Relay-Forward out, Relay-Reply back, on `[router]:547`.
struct Relay {
    socket: std::net::UdpSocket,
    kea: Ipv6Addr,
    link_address: Ipv6Addr,
    interface_id: String,
}

impl Relay {
    fn new(lab: &Lab, interface_id: &str) -> Relay {
        Relay {
            socket: lab.router_socket(),
            kea: lab.kea_addr(),
            link_address: lab.subnet_addr(0x10, 1),
            interface_id: interface_id.to_string(),
        }
    }

    /// Relays `inner` to Kea and returns the message inside its Relay-Reply.
    fn exchange(&self, inner: &Message) -> Message {
        let peer: Ipv6Addr = "fe80::ff:fe00:1".parse().unwrap();
        let mut packet = vec![RELAY_FORW, 0];
        packet.extend_from_slice(&self.link_address.octets());
        packet.extend_from_slice(&peer.octets());
        push_option(&mut packet, OPTION_INTERFACE_ID, self.interface_id.as_bytes());
        push_option(&mut packet, OPTION_RELAY_MSG, &inner.to_vec().expect("encode"));
        self.socket.send_to(&packet, (self.kea, 547)).expect("send Relay-Forward");
        let mut buf = [0u8; 4096];
        let (n, _) = self.socket.recv_from(&mut buf).expect("a Relay-Reply from Kea within 5 s");
        let reply = &buf[..n];
        assert_eq!(reply[0], RELAY_REPL, "not a Relay-Reply: {reply:02x?}");
        let relayed = relay_option(&reply[34..], OPTION_RELAY_MSG).expect("Relay-Reply without relay-msg");
        Message::from_bytes(relayed).expect("decode the relayed message")
    }
}

fn push_option(packet: &mut Vec<u8>, code: u16, data: &[u8]) {
    packet.extend_from_slice(&code.to_be_bytes());
    packet.extend_from_slice(&(data.len() as u16).to_be_bytes());
    packet.extend_from_slice(data);
}

fn relay_option(mut options: &[u8], wanted: u16) -> Option<&[u8]> {
    while options.len() >= 4 {
        let code = u16::from_be_bytes([options[0], options[1]]);
        let len = u16::from_be_bytes([options[2], options[3]]) as usize;
        let data = options.get(4..4 + len)?;
        if code == wanted {
            return Some(data);
        }
        options = &options[4 + len..];
    }
    None
}

/// A Solicit for one IA_PD (IAID 1) from a client whose DUID-LL ends in `mac_low`.
fn solicit(mac_low: u16) -> Message {
    let mut msg = Message::new(MessageType::Solicit);
    let opts = msg.opts_mut();
    opts.insert(DhcpOption::ClientId(duid_ll(mac_low)));
    opts.insert(DhcpOption::ElapsedTime(0));
    opts.insert(DhcpOption::IAPD(IAPD { id: 1, t1: 0, t2: 0, opts: Default::default() }));
    msg
}

/// The Request that takes what `advertise` offered.
fn request_for(advertise: &Message, mac_low: u16) -> Message {
    let mut msg = Message::new(MessageType::Request);
    let server_id = advertise.opts().get(OptionCode::ServerId).cloned().expect("Advertise without server-id");
    let ia_pd = advertise.opts().get(OptionCode::IAPD).cloned().expect("Advertise without IA_PD");
    let opts = msg.opts_mut();
    opts.insert(DhcpOption::ClientId(duid_ll(mac_low)));
    opts.insert(server_id);
    opts.insert(DhcpOption::ElapsedTime(0));
    opts.insert(ia_pd);
    msg
}

fn duid_ll(mac_low: u16) -> Vec<u8> {
    let [hi, lo] = mac_low.to_be_bytes();
    vec![0, 3, 0, 1, 0x02, 0, 0, 0, hi, lo]
}

fn delegated_prefix(msg: &Message) -> Option<(Ipv6Addr, u8)> {
    let Some(DhcpOption::IAPD(ia_pd)) = msg.opts().get(OptionCode::IAPD) else {
        return None;
    };
    match ia_pd.opts.get(OptionCode::IAPrefix) {
        Some(DhcpOption::IAPrefix(p)) => Some((p.prefix_ip, p.prefix_len)),
        _ => None,
    }
}

fn in_prefix(addr: Ipv6Addr, base: Ipv6Addr, len: u8) -> bool {
    let mask = if len == 0 { 0 } else { u128::MAX << (128 - len) };
    u128::from(addr) & mask == u128::from(base) & mask
}
