//! The relay layer of DHCPv6 (RFC 8415 §9, §19–20, RFC 4649, RFC 6939): what a provider router wraps around a
//! client's message and takes off the server's answer. Byte by byte and std only, because dhcproto 0.12 can neither
//! build a Relay-Forward (no constructor) nor decode one whose Relay Message is a client message (it decodes every
//! Relay Message as another relay message). Shared by the lab's scripted router and the `dhcp6-router` tool.
#![allow(dead_code)] // each of the two users needs a different half

use std::fmt;
use std::net::Ipv6Addr;

pub const RELAY_FORW: u8 = 12;
pub const RELAY_REPL: u8 = 13;
pub const OPT_RELAY_MSG: u16 = 9;
pub const OPT_INTERFACE_ID: u16 = 18;
pub const OPT_REMOTE_ID: u16 = 37;
pub const OPT_CLIENT_LINKLAYER_ADDR: u16 = 79;
/// RFC 8415 §7.6: a relay drops a Relay-Forward that already went through this many relays.
pub const HOP_COUNT_LIMIT: u8 = 8;
/// msg-type, hop-count, link-address, peer-address.
pub const RELAY_HEADER_LEN: usize = 34;
/// IANA hardware type of Ethernet, as option 79 and DUID-LLT write it.
pub const HTYPE_ETHERNET: u16 = 1;
/// Juniper's IANA enterprise number, the `--enterprise` default.
pub const DEFAULT_ENTERPRISE: u32 = 2636;

/// How the router tells the server the MAC it saw the client's frame come from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MacCarrier {
    /// Remote-Id (37): enterprise number, then the 6 MAC bytes.
    RemoteIdRaw { enterprise: u32 },
    /// Remote-Id (37): enterprise number, then the MAC as text `06:32:b2:00:03:57`.
    RemoteIdText { enterprise: u32 },
    /// Client Link-Layer Address (79): hardware type 1, then the 6 MAC bytes.
    ClientLinkLayer,
    /// Raw Remote-Id and option 79.
    Both { enterprise: u32 },
    /// No MAC at all (a plain relay such as ISC dhcrelay).
    None,
}

impl MacCarrier {
    /// The carrier a command line names: `remote-id-raw`, `remote-id-text`, `client-link-layer`, `both`, `none`.
    pub fn from_name(name: &str, enterprise: u32) -> Option<MacCarrier> {
        match name {
            "remote-id-raw" => Some(MacCarrier::RemoteIdRaw { enterprise }),
            "remote-id-text" => Some(MacCarrier::RemoteIdText { enterprise }),
            "client-link-layer" => Some(MacCarrier::ClientLinkLayer),
            "both" => Some(MacCarrier::Both { enterprise }),
            "none" => Some(MacCarrier::None),
            _ => None,
        }
    }

    /// The options that carry `mac`, in the order the router writes them (Remote-Id before option 79).
    pub fn options(&self, mac: [u8; 6]) -> Vec<(u16, Vec<u8>)> {
        let remote_id = |enterprise: u32, id: &[u8]| {
            let mut data = enterprise.to_be_bytes().to_vec();
            data.extend_from_slice(id);
            (OPT_REMOTE_ID, data)
        };
        let link_layer = || {
            let mut data = HTYPE_ETHERNET.to_be_bytes().to_vec();
            data.extend_from_slice(&mac);
            (OPT_CLIENT_LINKLAYER_ADDR, data)
        };
        match *self {
            MacCarrier::RemoteIdRaw { enterprise } => vec![remote_id(enterprise, &mac)],
            MacCarrier::RemoteIdText { enterprise } => vec![remote_id(enterprise, mac_text(mac).as_bytes())],
            MacCarrier::ClientLinkLayer => vec![link_layer()],
            MacCarrier::Both { enterprise } => vec![remote_id(enterprise, &mac), link_layer()],
            MacCarrier::None => Vec::new(),
        }
    }
}

/// What one relay agent writes into every Relay-Forward it sends.
#[derive(Clone, Debug)]
pub struct RelayAgent {
    /// A global or ULA address of the client's link: Kea ignores interface-id when this is `::`.
    pub link_address: Ipv6Addr,
    /// Interface-Id (18), echoed by the server; Kea selects the subnet with it.
    pub interface_id: Vec<u8>,
    /// How the client's MAC travels.
    pub carrier: MacCarrier,
    /// The MAC goes on every message (false: on Solicit and Request only, as Juniper documents option 79).
    pub mac_on_renewals: bool,
}

/// DHCPv6 message types the relay looks at.
const SOLICIT: u8 = 1;
const REQUEST: u8 = 3;

impl RelayAgent {
    /// The Relay-Forward around `inner` (a client message, or another relay's Relay-Forward) that came from
    /// `peer` in a frame sent by `mac`. The hop count follows RFC 8415 §19.1.2: 0 for a client's message, one
    /// more than the inner relay's otherwise.
    pub fn relay_forward(&self, peer: Ipv6Addr, mac: [u8; 6], inner: &[u8]) -> Vec<u8> {
        let hop_count = match inner {
            [RELAY_FORW, hops, ..] => hops.saturating_add(1),
            _ => 0,
        };
        let mut packet = Vec::with_capacity(RELAY_HEADER_LEN + 64 + inner.len());
        packet.extend_from_slice(&[RELAY_FORW, hop_count]);
        packet.extend_from_slice(&self.link_address.octets());
        packet.extend_from_slice(&peer.octets());
        push_option(&mut packet, OPT_INTERFACE_ID, &self.interface_id);
        let carries_mac = self.mac_on_renewals || matches!(inner.first(), Some(&SOLICIT | &REQUEST | &RELAY_FORW));
        if carries_mac {
            for (code, data) in self.carrier.options(mac) {
                push_option(&mut packet, code, &data);
            }
        }
        push_option(&mut packet, OPT_RELAY_MSG, inner);
        packet
    }
}

/// One Relay-Reply layer, read.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RelayReply<'a> {
    pub hop_count: u8,
    pub link_address: Ipv6Addr,
    /// Where the relay sends `message`: the client (port 546) or the next relay down (port 547).
    pub peer_address: Ipv6Addr,
    /// The Interface-Id the server echoed, if any.
    pub interface_id: Option<&'a [u8]>,
    /// The Relay Message: the server's answer, or the next Relay-Reply layer.
    pub message: &'a [u8],
}

/// Why bytes are not what they should be.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RelayError {
    /// Fewer bytes than the header needs.
    Short(usize),
    /// Not a Relay-Reply (the message type found).
    NotRelayReply(u8),
    /// An option runs past the end, or bytes are left over that are no option.
    BadOptions { at: usize },
    /// The relay layer has no Relay Message.
    NoRelayMessage,
}

impl fmt::Display for RelayError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RelayError::Short(n) => write!(f, "{n} bytes, shorter than a relay header"),
            RelayError::NotRelayReply(t) => write!(f, "message type {t} ({}), not RELAY-REPL", message_name(*t)),
            RelayError::BadOptions { at } => write!(f, "malformed option at byte {at} of the option area"),
            RelayError::NoRelayMessage => write!(f, "relay message without a Relay Message option"),
        }
    }
}

impl std::error::Error for RelayError {}

/// Reads the outer layer of a Relay-Reply.
pub fn parse_relay_reply(packet: &[u8]) -> Result<RelayReply<'_>, RelayError> {
    if packet.len() < RELAY_HEADER_LEN {
        return Err(RelayError::Short(packet.len()));
    }
    if packet[0] != RELAY_REPL {
        return Err(RelayError::NotRelayReply(packet[0]));
    }
    let mut interface_id = None;
    let mut message = None;
    for (code, data) in options(&packet[RELAY_HEADER_LEN..])? {
        match code {
            OPT_INTERFACE_ID => interface_id = Some(data),
            OPT_RELAY_MSG => message = Some(data),
            _ => {}
        }
    }
    Ok(RelayReply {
        hop_count: packet[1],
        link_address: address_at(packet, 2),
        peer_address: address_at(packet, 18),
        interface_id,
        message: message.ok_or(RelayError::NoRelayMessage)?,
    })
}

/// The message inside every relay layer of `packet` (Relay-Forward or Relay-Reply, any depth); `packet` itself
/// when it is no relay message.
pub fn innermost(mut packet: &[u8]) -> Result<&[u8], RelayError> {
    while let Some(&kind) = packet.first() {
        if kind != RELAY_FORW && kind != RELAY_REPL {
            break;
        }
        if packet.len() < RELAY_HEADER_LEN {
            return Err(RelayError::Short(packet.len()));
        }
        let relayed = options(&packet[RELAY_HEADER_LEN..])?.into_iter().find(|(code, _)| *code == OPT_RELAY_MSG);
        packet = relayed.ok_or(RelayError::NoRelayMessage)?.1;
    }
    Ok(packet)
}

/// The 3-byte transaction id of a client or server message.
pub fn transaction_id(message: &[u8]) -> Option<[u8; 3]> {
    match message {
        [kind, a, b, c, ..] if *kind != RELAY_FORW && *kind != RELAY_REPL => Some([*a, *b, *c]),
        _ => None,
    }
}

/// Every (code, data) of an option area; an error unless the options fill it exactly.
pub fn options(bytes: &[u8]) -> Result<Vec<(u16, &[u8])>, RelayError> {
    let mut found = Vec::new();
    let mut at = 0;
    while at < bytes.len() {
        let header = bytes.get(at..at + 4).ok_or(RelayError::BadOptions { at })?;
        let code = u16::from_be_bytes([header[0], header[1]]);
        let len = usize::from(u16::from_be_bytes([header[2], header[3]]));
        let data = bytes.get(at + 4..at + 4 + len).ok_or(RelayError::BadOptions { at })?;
        found.push((code, data));
        at += 4 + len;
    }
    Ok(found)
}

/// Appends one option (code, length, data).
pub fn push_option(packet: &mut Vec<u8>, code: u16, data: &[u8]) {
    let len = u16::try_from(data.len()).expect("a DHCPv6 option holds at most 65535 bytes");
    packet.extend_from_slice(&code.to_be_bytes());
    packet.extend_from_slice(&len.to_be_bytes());
    packet.extend_from_slice(data);
}

/// `06:32:b2:00:03:57`.
pub fn mac_text(mac: [u8; 6]) -> String {
    mac.iter().map(|b| format!("{b:02x}")).collect::<Vec<_>>().join(":")
}

/// The link-local address a host with this MAC forms by SLAAC with a modified EUI-64 (RFC 4291 appendix A):
/// `fe80::` + the MAC split by `ff:fe`, universal/local bit flipped.
pub fn eui64_link_local(mac: [u8; 6]) -> Ipv6Addr {
    let m = mac;
    Ipv6Addr::from([0xfe, 0x80, 0, 0, 0, 0, 0, 0, m[0] ^ 0x02, m[1], m[2], 0xff, 0xfe, m[3], m[4], m[5]])
}

/// The RFC 8415 §7.3 name of a message type, as logs show it.
pub fn message_name(kind: u8) -> &'static str {
    match kind {
        1 => "SOLICIT",
        2 => "ADVERTISE",
        3 => "REQUEST",
        4 => "CONFIRM",
        5 => "RENEW",
        6 => "REBIND",
        7 => "REPLY",
        8 => "RELEASE",
        9 => "DECLINE",
        10 => "RECONFIGURE",
        11 => "INFORMATION-REQUEST",
        12 => "RELAY-FORW",
        13 => "RELAY-REPL",
        _ => "UNKNOWN",
    }
}

fn address_at(packet: &[u8], at: usize) -> Ipv6Addr {
    let mut octets = [0u8; 16];
    octets.copy_from_slice(&packet[at..at + 16]);
    Ipv6Addr::from(octets)
}

#[cfg(test)]
mod tests {
    use super::*;

    const MAC: [u8; 6] = [0x02, 0x00, 0x00, 0x00, 0x01, 0x17];

    fn agent(carrier: MacCarrier) -> RelayAgent {
        RelayAgent {
            link_address: "fd00:4b43:1::1".parse().unwrap(),
            interface_id: b"VLAN709".to_vec(),
            carrier,
            mac_on_renewals: true,
        }
    }

    fn peer() -> Ipv6Addr {
        "fe80::ff:fe00:117".parse().unwrap()
    }

    #[test]
    fn a_mac_gives_its_eui64_link_local_with_the_universal_local_bit_flipped() {
        assert_eq!(eui64_link_local(MAC), peer());
        assert_eq!(
            eui64_link_local([0x06, 0x32, 0xb2, 0, 3, 0x57]),
            "fe80::432:b2ff:fe00:357".parse::<Ipv6Addr>().unwrap()
        );
        assert_eq!(mac_text([0x06, 0x32, 0xb2, 0, 3, 0x57]), "06:32:b2:00:03:57");
    }

    #[test]
    fn a_relay_forward_is_laid_out_byte_for_byte_as_the_router_writes_it() {
        let solicit = [1, 0xaa, 0xbb, 0xcc];
        let packet = agent(MacCarrier::Both { enterprise: 2636 }).relay_forward(peer(), MAC, &solicit);
        let mut expected = vec![12, 0];
        expected.extend_from_slice(&[0xfd, 0, 0x4b, 0x43, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1]);
        expected.extend_from_slice(&[0xfe, 0x80, 0, 0, 0, 0, 0, 0, 0x00, 0x00, 0x00, 0xff, 0xfe, 0x00, 0x01, 0x17]);
        expected.extend_from_slice(&[0, 18, 0, 7, b'V', b'L', b'A', b'N', b'7', b'0', b'9']);
        expected.extend_from_slice(&[0, 37, 0, 10, 0, 0, 0x0a, 0x4c, 0x02, 0, 0, 0, 0x01, 0x17]);
        expected.extend_from_slice(&[0, 79, 0, 8, 0, 1, 0x02, 0, 0, 0, 0x01, 0x17]);
        expected.extend_from_slice(&[0, 9, 0, 4, 1, 0xaa, 0xbb, 0xcc]);
        assert_eq!(packet, expected);
    }

    #[test]
    fn each_carrier_writes_only_its_own_options() {
        let text = agent(MacCarrier::RemoteIdText { enterprise: 9 }).relay_forward(peer(), MAC, &[1, 0, 0, 1]);
        let found = options(&text[RELAY_HEADER_LEN..]).unwrap();
        assert_eq!(found[1], (OPT_REMOTE_ID, &b"\0\0\0\x0902:00:00:00:01:17"[..]));
        assert_eq!(found.len(), 3);

        let raw = agent(MacCarrier::RemoteIdRaw { enterprise: 2636 }).relay_forward(peer(), MAC, &[1, 0, 0, 1]);
        let codes: Vec<u16> = options(&raw[RELAY_HEADER_LEN..]).unwrap().iter().map(|o| o.0).collect();
        assert_eq!(codes, [OPT_INTERFACE_ID, OPT_REMOTE_ID, OPT_RELAY_MSG]);

        let lla = agent(MacCarrier::ClientLinkLayer).relay_forward(peer(), MAC, &[1, 0, 0, 1]);
        let found = options(&lla[RELAY_HEADER_LEN..]).unwrap();
        assert_eq!(found[1], (OPT_CLIENT_LINKLAYER_ADDR, &[0, 1, 0x02, 0, 0, 0, 0x01, 0x17][..]));
        assert_eq!(found.len(), 3);

        let none = agent(MacCarrier::None).relay_forward(peer(), MAC, &[1, 0, 0, 1]);
        let codes: Vec<u16> = options(&none[RELAY_HEADER_LEN..]).unwrap().iter().map(|o| o.0).collect();
        assert_eq!(codes, [OPT_INTERFACE_ID, OPT_RELAY_MSG]);
    }

    #[test]
    fn a_relay_forward_around_another_relays_counts_one_hop_more() {
        let a = agent(MacCarrier::None);
        let inner = a.relay_forward(peer(), MAC, &[1, 0, 0, 1]);
        let outer = a.relay_forward(peer(), MAC, &inner);
        let outermost = a.relay_forward(peer(), MAC, &outer);
        assert_eq!((inner[1], outer[1], outermost[1]), (0, 1, 2));
        assert_eq!(innermost(&outermost).unwrap(), [1, 0, 0, 1]);
        assert_eq!(transaction_id(innermost(&outermost).unwrap()), Some([0, 0, 1]));
    }

    #[test]
    fn a_relay_reply_gives_the_peer_the_interface_id_and_the_message() {
        let mut reply = vec![RELAY_REPL, 0];
        reply.extend_from_slice(&"fd00:4b43:1::1".parse::<Ipv6Addr>().unwrap().octets());
        reply.extend_from_slice(&peer().octets());
        push_option(&mut reply, OPT_INTERFACE_ID, b"VLAN709");
        push_option(&mut reply, OPT_RELAY_MSG, &[7, 0xaa, 0xbb, 0xcc]);
        let layer = parse_relay_reply(&reply).unwrap();
        assert_eq!(layer.peer_address, peer());
        assert_eq!(layer.link_address, "fd00:4b43:1::1".parse::<Ipv6Addr>().unwrap());
        assert_eq!(layer.interface_id, Some(&b"VLAN709"[..]));
        assert_eq!(layer.message, [7, 0xaa, 0xbb, 0xcc]);
    }

    #[test]
    fn broken_relay_replies_are_refused_not_guessed_at() {
        let mut header = vec![RELAY_REPL, 0];
        header.extend_from_slice(&[0; 32]);
        assert_eq!(parse_relay_reply(&header[..20]), Err(RelayError::Short(20)));
        assert_eq!(parse_relay_reply(&header), Err(RelayError::NoRelayMessage));
        let mut truncated = header.clone();
        truncated.extend_from_slice(&[0, 9, 0, 10, 7, 0, 0]);
        assert_eq!(parse_relay_reply(&truncated), Err(RelayError::BadOptions { at: 0 }));
        let mut trailing = header.clone();
        push_option(&mut trailing, OPT_RELAY_MSG, &[7, 0, 0, 1]);
        trailing.push(0);
        assert_eq!(parse_relay_reply(&trailing), Err(RelayError::BadOptions { at: 8 }));
        let mut forward = header;
        forward[0] = RELAY_FORW;
        assert_eq!(parse_relay_reply(&forward), Err(RelayError::NotRelayReply(RELAY_FORW)));
    }

    #[test]
    fn carriers_are_named_as_on_the_command_line() {
        assert_eq!(MacCarrier::from_name("remote-id-text", 4874), Some(MacCarrier::RemoteIdText { enterprise: 4874 }));
        assert_eq!(MacCarrier::from_name("client-link-layer", 1), Some(MacCarrier::ClientLinkLayer));
        assert_eq!(MacCarrier::from_name("both", 2636), Some(MacCarrier::Both { enterprise: 2636 }));
        assert_eq!(MacCarrier::from_name("remote-id", 1), None);
    }
}
