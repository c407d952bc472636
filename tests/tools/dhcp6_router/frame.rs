//! A client's DHCPv6 datagram read out of the Ethernet frame the router received: the source MAC comes from the
//! Ethernet header, as a router's forwarding plane knows it (never from the DUID), then the IPv6 and UDP headers.
//!
//! The UDP checksum is not verified: between veth peers the kernel hands frames over with the checksum still
//! partial (offloaded), so a correct client's datagram would look broken.
use std::fmt;
use std::net::Ipv6Addr;

const ETHERNET_HEADER_LEN: usize = 14;
const IPV6_HEADER_LEN: usize = 40;
const UDP_HEADER_LEN: usize = 8;
pub const ETHERTYPE_IPV6: u16 = 0x86dd;
pub const NEXT_HEADER_UDP: u8 = 17;
pub const DHCP6_SERVER_PORT: u16 = 547;
pub const DHCP6_CLIENT_PORT: u16 = 546;
/// ff02::1:2, where clients send every message.
pub const ALL_DHCP_RELAY_AGENTS_AND_SERVERS: Ipv6Addr = Ipv6Addr::new(0xff02, 0, 0, 0, 0, 0, 1, 2);

/// Byte offsets the kernel filter tests, counted from the start of the Ethernet header.
pub const OFFSET_ETHERTYPE: u32 = 12;
pub const OFFSET_NEXT_HEADER: u32 = (ETHERNET_HEADER_LEN + 6) as u32;
pub const OFFSET_UDP_DESTINATION_PORT: u32 = (ETHERNET_HEADER_LEN + IPV6_HEADER_LEN + 2) as u32;

/// A UDP datagram to port 547 as it arrived on the client link.
#[derive(Debug, PartialEq, Eq)]
pub struct ClientDatagram<'a> {
    pub source_mac: [u8; 6],
    pub source: Ipv6Addr,
    pub destination: Ipv6Addr,
    pub source_port: u16,
    /// The DHCPv6 message.
    pub payload: &'a [u8],
}

/// Why a frame is no client datagram for the relay.
#[derive(Debug, PartialEq, Eq)]
pub enum FrameError {
    /// Shorter than Ethernet + IPv6 + UDP headers.
    Short(usize),
    NotIpv6 {
        ethertype: u16,
    },
    NotVersion6 {
        version: u8,
    },
    /// Next header other than UDP (extension headers included: DHCPv6 clients send none).
    NotUdp {
        next_header: u8,
    },
    /// The IPv6 payload length runs past the frame.
    Truncated {
        payload_length: usize,
        available: usize,
    },
    /// The UDP length disagrees with the IPv6 payload length.
    BadUdpLength {
        udp_length: usize,
        payload_length: usize,
    },
    NotToServerPort {
        port: u16,
    },
}

impl fmt::Display for FrameError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FrameError::Short(n) => write!(f, "{n}-byte frame"),
            FrameError::NotIpv6 { ethertype } => write!(f, "ethertype {ethertype:#06x}"),
            FrameError::NotVersion6 { version } => write!(f, "IP version {version}"),
            FrameError::NotUdp { next_header } => write!(f, "next header {next_header}"),
            FrameError::Truncated { payload_length, available } => {
                write!(f, "IPv6 payload length {payload_length} but {available} bytes")
            }
            FrameError::BadUdpLength { udp_length, payload_length } => {
                write!(f, "UDP length {udp_length} in an IPv6 payload of {payload_length}")
            }
            FrameError::NotToServerPort { port } => write!(f, "UDP to port {port}"),
        }
    }
}

/// Reads an Ethernet frame carrying IPv6/UDP to port 547.
pub fn parse_frame(frame: &[u8]) -> Result<ClientDatagram<'_>, FrameError> {
    if frame.len() < ETHERNET_HEADER_LEN + IPV6_HEADER_LEN + UDP_HEADER_LEN {
        return Err(FrameError::Short(frame.len()));
    }
    let ethertype = u16::from_be_bytes([frame[12], frame[13]]);
    if ethertype != ETHERTYPE_IPV6 {
        return Err(FrameError::NotIpv6 { ethertype });
    }
    let mut source_mac = [0u8; 6];
    source_mac.copy_from_slice(&frame[6..12]);

    let ip = &frame[ETHERNET_HEADER_LEN..];
    let version = ip[0] >> 4;
    if version != 6 {
        return Err(FrameError::NotVersion6 { version });
    }
    let next_header = ip[6];
    if next_header != NEXT_HEADER_UDP {
        return Err(FrameError::NotUdp { next_header });
    }
    let payload_length = usize::from(u16::from_be_bytes([ip[4], ip[5]]));
    let available = ip.len() - IPV6_HEADER_LEN;
    // Short frames are padded to 60 bytes: the IPv6 length, not the frame's, says where the packet ends.
    if payload_length > available {
        return Err(FrameError::Truncated { payload_length, available });
    }
    let udp = &ip[IPV6_HEADER_LEN..IPV6_HEADER_LEN + payload_length];
    if udp.len() < UDP_HEADER_LEN {
        return Err(FrameError::BadUdpLength { udp_length: 0, payload_length });
    }
    let udp_length = usize::from(u16::from_be_bytes([udp[4], udp[5]]));
    if udp_length != payload_length {
        return Err(FrameError::BadUdpLength { udp_length, payload_length });
    }
    let port = u16::from_be_bytes([udp[2], udp[3]]);
    if port != DHCP6_SERVER_PORT {
        return Err(FrameError::NotToServerPort { port });
    }
    Ok(ClientDatagram {
        source_mac,
        source: address(&ip[8..24]),
        destination: address(&ip[24..40]),
        source_port: u16::from_be_bytes([udp[0], udp[1]]),
        payload: &udp[UDP_HEADER_LEN..],
    })
}

fn address(bytes: &[u8]) -> Ipv6Addr {
    let mut octets = [0u8; 16];
    octets.copy_from_slice(bytes);
    Ipv6Addr::from(octets)
}

#[cfg(test)]
pub mod tests {
    use super::*;

    pub const CLIENT_MAC: [u8; 6] = [0x02, 0x00, 0x00, 0x00, 0x01, 0x17];

    /// The frame dhclient's Solicit arrives in: 33:33:00:01:00:02 ← the client's MAC, fe80::… → ff02::1:2.
    pub fn frame(destination_port: u16, payload: &[u8]) -> Vec<u8> {
        let udp_length = (UDP_HEADER_LEN + payload.len()) as u16;
        let mut f = vec![0x33, 0x33, 0, 1, 0, 2];
        f.extend_from_slice(&CLIENT_MAC);
        f.extend_from_slice(&ETHERTYPE_IPV6.to_be_bytes());
        f.extend_from_slice(&[0x60, 0, 0, 0]);
        f.extend_from_slice(&udp_length.to_be_bytes());
        f.extend_from_slice(&[NEXT_HEADER_UDP, 1]);
        f.extend_from_slice(&"fe80::ff:fe00:117".parse::<Ipv6Addr>().unwrap().octets());
        f.extend_from_slice(&ALL_DHCP_RELAY_AGENTS_AND_SERVERS.octets());
        f.extend_from_slice(&DHCP6_CLIENT_PORT.to_be_bytes());
        f.extend_from_slice(&destination_port.to_be_bytes());
        f.extend_from_slice(&udp_length.to_be_bytes());
        f.extend_from_slice(&[0x12, 0x34]);
        f.extend_from_slice(payload);
        f
    }

    const SOLICIT: [u8; 10] = [1, 0xaa, 0xbb, 0xcc, 0, 8, 0, 2, 0, 0];

    #[test]
    fn a_solicit_frame_gives_the_mac_the_addresses_and_the_message() {
        let f = frame(547, &SOLICIT);
        let d = parse_frame(&f).unwrap();
        assert_eq!(d.source_mac, CLIENT_MAC);
        assert_eq!(d.source, "fe80::ff:fe00:117".parse::<Ipv6Addr>().unwrap());
        assert_eq!(d.destination, ALL_DHCP_RELAY_AGENTS_AND_SERVERS);
        assert_eq!(d.source_port, 546);
        assert_eq!(d.payload, SOLICIT);
    }

    #[test]
    fn ethernet_padding_is_not_part_of_the_message() {
        let mut f = frame(547, &[1, 2, 3, 4]);
        f.resize(70, 0);
        assert_eq!(parse_frame(&f).unwrap().payload, [1, 2, 3, 4]);
    }

    #[test]
    fn the_kernel_filter_offsets_point_at_the_right_fields() {
        let f = frame(547, &SOLICIT);
        let at = |offset: u32| offset as usize;
        assert_eq!(u16::from_be_bytes([f[at(OFFSET_ETHERTYPE)], f[at(OFFSET_ETHERTYPE) + 1]]), ETHERTYPE_IPV6);
        assert_eq!(f[at(OFFSET_NEXT_HEADER)], NEXT_HEADER_UDP);
        let port = at(OFFSET_UDP_DESTINATION_PORT);
        assert_eq!(u16::from_be_bytes([f[port], f[port + 1]]), 547);
    }

    #[test]
    fn anything_but_udp_to_547_in_a_whole_frame_is_refused() {
        assert_eq!(parse_frame(&frame(547, &SOLICIT)[..60]), Err(FrameError::Short(60)));
        assert_eq!(parse_frame(&frame(546, &SOLICIT)), Err(FrameError::NotToServerPort { port: 546 }));
        let mut arp = frame(547, &SOLICIT);
        arp[12..14].copy_from_slice(&[0x08, 0x06]);
        assert_eq!(parse_frame(&arp), Err(FrameError::NotIpv6 { ethertype: 0x0806 }));
        let mut v4 = frame(547, &SOLICIT);
        v4[14] = 0x45;
        assert_eq!(parse_frame(&v4), Err(FrameError::NotVersion6 { version: 4 }));
        let mut hop_by_hop = frame(547, &SOLICIT);
        hop_by_hop[20] = 0;
        assert_eq!(parse_frame(&hop_by_hop), Err(FrameError::NotUdp { next_header: 0 }));
        let mut cut = frame(547, &SOLICIT);
        cut.truncate(cut.len() - 2);
        assert_eq!(parse_frame(&cut), Err(FrameError::Truncated { payload_length: 18, available: 16 }));
        let mut lying_udp = frame(547, &SOLICIT);
        lying_udp[58..60].copy_from_slice(&30u16.to_be_bytes());
        assert_eq!(parse_frame(&lying_udp), Err(FrameError::BadUdpLength { udp_length: 30, payload_length: 18 }));
    }
}
