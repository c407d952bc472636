//! What the router does to a client message: read it out of the IPv6/UDP frame and wrap it in
//! a Relay-Forward with interface-id, link-address and the client's MAC.
use std::net::Ipv6Addr;

const RELAY_FORW: u8 = 12;
const RELAY_REPL: u8 = 13;
const OPT_RELAY_MSG: u16 = 9;
const OPT_INTERFACE_ID: u16 = 18;
const OPT_REMOTE_ID: u16 = 37;
const OPT_CLIENT_LINKLAYER_ADDR: u16 = 79;
const UDP: u8 = 17;
const DHCP6_SERVER_PORT: u16 = 547;

/// How the router carries the client's MAC to the server.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Carrier {
    RemoteIdRaw,
    RemoteIdText,
    ClientLinkLayer,
    Both,
}

impl Carrier {
    /// The CLI name.
    pub fn parse(name: &str) -> Option<Carrier> {
        match name {
            "remote-id-raw" => Some(Carrier::RemoteIdRaw),
            "remote-id-text" => Some(Carrier::RemoteIdText),
            "client-link-layer" => Some(Carrier::ClientLinkLayer),
            "both" => Some(Carrier::Both),
            _ => None,
        }
    }
}

/// The router's relay settings.
pub struct RelayAgent {
    pub link_address: Ipv6Addr,
    pub interface_id: Vec<u8>,
    pub carrier: Carrier,
    pub enterprise: u32,
}

/// A client's DHCPv6 message found in an IPv6 packet: source address and UDP payload.
pub fn client_message(packet: &[u8]) -> Option<(Ipv6Addr, &[u8])> {
    if packet.len() < 48 || packet[0] >> 4 != 6 || packet[6] != UDP {
        return None;
    }
    let source = Ipv6Addr::from(<[u8; 16]>::try_from(&packet[8..24]).ok()?);
    let udp = &packet[40..];
    let destination_port = u16::from_be_bytes([udp[2], udp[3]]);
    let udp_length = u16::from_be_bytes([udp[4], udp[5]]) as usize;
    if destination_port != DHCP6_SERVER_PORT || udp_length < 8 || udp_length > udp.len() {
        return None;
    }
    let payload = &udp[8..udp_length];
    // Relay messages from further down are not client messages.
    match payload.first() {
        Some(&RELAY_FORW) | Some(&RELAY_REPL) | None => None,
        Some(_) => Some((source, payload)),
    }
}

fn push_option(packet: &mut Vec<u8>, code: u16, data: &[u8]) {
    packet.extend_from_slice(&code.to_be_bytes());
    packet.extend_from_slice(&(data.len() as u16).to_be_bytes());
    packet.extend_from_slice(data);
}

impl RelayAgent {
    /// The Relay-Forward for a client message from `peer` whose frame came from `mac`.
    pub fn wrap(&self, peer: Ipv6Addr, mac: [u8; 6], message: &[u8]) -> Vec<u8> {
        let mut packet = vec![RELAY_FORW, 0];
        packet.extend_from_slice(&self.link_address.octets());
        packet.extend_from_slice(&peer.octets());
        push_option(&mut packet, OPT_INTERFACE_ID, &self.interface_id);
        let mut remote_id = self.enterprise.to_be_bytes().to_vec();
        match self.carrier {
            Carrier::RemoteIdRaw | Carrier::Both => remote_id.extend_from_slice(&mac),
            Carrier::RemoteIdText => remote_id.extend_from_slice(mac_text(mac).as_bytes()),
            Carrier::ClientLinkLayer => remote_id.clear(),
        }
        if !remote_id.is_empty() {
            push_option(&mut packet, OPT_REMOTE_ID, &remote_id);
        }
        if matches!(self.carrier, Carrier::ClientLinkLayer | Carrier::Both) {
            let mut data = vec![0, 1];
            data.extend_from_slice(&mac);
            push_option(&mut packet, OPT_CLIENT_LINKLAYER_ADDR, &data);
        }
        push_option(&mut packet, OPT_RELAY_MSG, message);
        packet
    }
}

/// From a Relay-Reply: the peer address and the message for the client.
pub fn unwrap_reply(packet: &[u8]) -> Option<(Ipv6Addr, &[u8])> {
    if packet.len() < 34 || packet[0] != RELAY_REPL {
        return None;
    }
    let peer = Ipv6Addr::from(<[u8; 16]>::try_from(&packet[18..34]).ok()?);
    let mut options = &packet[34..];
    while options.len() >= 4 {
        let code = u16::from_be_bytes([options[0], options[1]]);
        let len = u16::from_be_bytes([options[2], options[3]]) as usize;
        let data = options.get(4..4 + len)?;
        if code == OPT_RELAY_MSG {
            return Some((peer, data));
        }
        options = &options[4 + len..];
    }
    None
}

/// `06:32:b2:00:03:57`.
pub fn mac_text(mac: [u8; 6]) -> String {
    mac.iter().map(|b| format!("{b:02x}")).collect::<Vec<_>>().join(":")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frame(dst_port: u16, payload: &[u8]) -> Vec<u8> {
        let mut packet = vec![0x60, 0, 0, 0];
        packet.extend_from_slice(&((8 + payload.len()) as u16).to_be_bytes());
        packet.extend_from_slice(&[UDP, 1]);
        packet.extend_from_slice(&"fe80::ff:fe00:117".parse::<Ipv6Addr>().unwrap().octets());
        packet.extend_from_slice(&"ff02::1:2".parse::<Ipv6Addr>().unwrap().octets());
        packet.extend_from_slice(&546u16.to_be_bytes());
        packet.extend_from_slice(&dst_port.to_be_bytes());
        packet.extend_from_slice(&((8 + payload.len()) as u16).to_be_bytes());
        packet.extend_from_slice(&[0, 0]);
        packet.extend_from_slice(payload);
        packet
    }

    #[test]
    fn a_solicit_to_port_547_is_a_client_message_and_nothing_else_is() {
        let solicit = [1, 0xaa, 0xbb, 0xcc, 0, 8, 0, 2, 0, 0];
        let packet = frame(547, &solicit);
        let (source, payload) = client_message(&packet).unwrap();
        assert_eq!(source, "fe80::ff:fe00:117".parse::<Ipv6Addr>().unwrap());
        assert_eq!(payload, solicit);
        assert!(client_message(&frame(546, &solicit)).is_none());
        assert!(client_message(&frame(547, &[RELAY_FORW, 0])).is_none());
        assert!(client_message(&frame(547, &solicit)[..45]).is_none());
    }

    #[test]
    fn the_relay_forward_carries_what_the_router_knows() {
        let agent = RelayAgent {
            link_address: "2a00:f10:500::1".parse().unwrap(),
            interface_id: b"VLAN709".to_vec(),
            carrier: Carrier::Both,
            enterprise: 2636,
        };
        let mac = [2, 0, 0, 0, 1, 0x17];
        let packet = agent.wrap("fe80::ff:fe00:117".parse().unwrap(), mac, &[1, 2, 3, 4]);
        let mut expected = vec![RELAY_FORW, 0];
        expected.extend_from_slice(&agent.link_address.octets());
        expected.extend_from_slice(&"fe80::ff:fe00:117".parse::<Ipv6Addr>().unwrap().octets());
        expected.extend_from_slice(&[0, 18, 0, 7]);
        expected.extend_from_slice(b"VLAN709");
        expected.extend_from_slice(&[0, 37, 0, 10, 0, 0, 0x0a, 0x4c, 2, 0, 0, 0, 1, 0x17]);
        expected.extend_from_slice(&[0, 79, 0, 8, 0, 1, 2, 0, 0, 0, 1, 0x17]);
        expected.extend_from_slice(&[0, 9, 0, 4, 1, 2, 3, 4]);
        assert_eq!(packet, expected);
        let text = RelayAgent { carrier: Carrier::RemoteIdText, ..agent };
        let packet = text.wrap(Ipv6Addr::UNSPECIFIED, mac, &[7]);
        assert!(packet.windows(17).any(|w| w == b"02:00:00:00:01:17"));
    }

    #[test]
    fn a_relay_reply_gives_the_peer_and_the_message() {
        let mut reply = vec![RELAY_REPL, 0];
        reply.extend_from_slice(&[0; 16]);
        reply.extend_from_slice(&"fe80::1".parse::<Ipv6Addr>().unwrap().octets());
        reply.extend_from_slice(&[0, 18, 0, 1, b'x', 0, 9, 0, 2, 7, 8]);
        let (peer, message) = unwrap_reply(&reply).unwrap();
        assert_eq!(peer, "fe80::1".parse::<Ipv6Addr>().unwrap());
        assert_eq!(message, [7, 8]);
    }
}
