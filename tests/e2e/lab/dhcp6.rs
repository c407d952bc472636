//! A scripted DHCPv6 client behind a scripted provider router: the test builds the client's
//! message, wraps it in a Relay-Forward the way the router does (interface-id, non-zero
//! link-address, the MAC as remote-id and/or option 79), sends it to Kea from `[router]:547`
//! and unwraps Kea's Relay-Reply. Messages are encoded here, byte by byte, after RFC 8415.
use std::io;
use std::net::{Ipv6Addr, SocketAddrV6, UdpSocket};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

pub use dhcproto::v6::MessageType;

const SOLICIT: u8 = 1;
const ADVERTISE: u8 = 2;
const REQUEST: u8 = 3;
const RENEW: u8 = 5;
const REBIND: u8 = 6;
const REPLY: u8 = 7;
const RELEASE: u8 = 8;
const RELAY_FORW: u8 = 12;
const RELAY_REPL: u8 = 13;

const OPT_CLIENTID: u16 = 1;
const OPT_SERVERID: u16 = 2;
const OPT_ELAPSED_TIME: u16 = 8;
const OPT_RELAY_MSG: u16 = 9;
const OPT_STATUS_CODE: u16 = 13;
const OPT_INTERFACE_ID: u16 = 18;
const OPT_IA_PD: u16 = 25;
const OPT_IAPREFIX: u16 = 26;
const OPT_REMOTE_ID: u16 = 37;
const OPT_CLIENT_LINKLAYER_ADDR: u16 = 79;

/// How the router carries the client's MAC.
#[derive(Clone, Copy, Debug)]
pub enum MacCarrier {
    /// Remote-id: enterprise number + the 6 MAC bytes.
    RemoteIdRaw { enterprise: u32 },
    /// Remote-id: enterprise number + the MAC as text `06:32:b2:00:03:57`.
    RemoteIdText { enterprise: u32 },
    /// Option 79: hardware type 1 + the MAC.
    ClientLinkLayer,
    /// Option 79 and raw remote-id.
    Both { enterprise: u32 },
    /// No MAC at all.
    None,
}

/// A client: its NIC's MAC (what the router sees), its DUID and IAID (what it says itself).
#[derive(Clone, Debug)]
pub struct Client {
    pub mac: [u8; 6],
    pub duid: Vec<u8>,
    pub iaid: u32,
}

static NEXT_CLIENT: AtomicU32 = AtomicU32::new(1);

impl Client {
    /// A client with a fresh DUID-LLT that is NOT derived from `mac` (a DUID proves nothing).
    pub fn new(mac: [u8; 6]) -> Client {
        let n = NEXT_CLIENT.fetch_add(1, Ordering::Relaxed);
        let stamp = std::process::id().wrapping_mul(7919) ^ n;
        let mut duid = vec![0, 1, 0, 1];
        duid.extend_from_slice(&stamp.to_be_bytes());
        duid.extend_from_slice(&[0x0a, 0xbb, 0xcc, (n >> 16) as u8, (n >> 8) as u8, n as u8]);
        Client { mac, duid, iaid: 1 }
    }

    /// A client that says this DUID.
    pub fn with_duid(mac: [u8; 6], duid: Vec<u8>) -> Client {
        Client { mac, duid, iaid: 1 }
    }

    /// The link-local address a client with this MAC uses (EUI-64).
    pub fn link_local(&self) -> Ipv6Addr {
        let m = self.mac;
        Ipv6Addr::from([0xfe, 0x80, 0, 0, 0, 0, 0, 0, m[0] ^ 0x02, m[1], m[2], 0xff, 0xfe, m[3], m[4], m[5]])
    }
}

/// A prefix in an IA_PD, with its lifetimes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Delegated {
    pub prefix: Ipv6Addr,
    pub len: u8,
    pub preferred: u32,
    pub valid: u32,
}

/// Kea's answer, unwrapped from its Relay-Reply.
#[derive(Clone, Debug)]
pub struct Answer {
    pub msg_type: MessageType,
    pub server_id: Option<Vec<u8>>,
    pub prefixes: Vec<Delegated>,
    pub ia_pd_status: Option<(u16, String)>,
    pub raw: Vec<u8>,
}

/// The router's side: relays one client's messages to Kea and back.
pub struct Router {
    socket: UdpSocket,
    server: SocketAddrV6,
    link_address: Ipv6Addr,
    interface_id: Vec<u8>,
    carrier: MacCarrier,
    timeout: Duration,
}

impl Router {
    /// A router relaying from `socket` (bound to `[router]:547`) to Kea at `server`.
    pub fn new(socket: UdpSocket, server: SocketAddrV6, link_address: Ipv6Addr, interface_id: &[u8], carrier: MacCarrier) -> Router {
        Router { socket, server, link_address, interface_id: interface_id.to_vec(), carrier, timeout: Duration::from_secs(2) }
    }

    /// How long to wait for Kea's answer before calling it "no answer".
    pub fn with_timeout(mut self, timeout: Duration) -> Router {
        self.timeout = timeout;
        self
    }

    /// Solicit for one IA_PD, with an optional prefix hint.
    pub fn solicit(&self, c: &Client, hint: Option<(Ipv6Addr, u8)>) -> io::Result<Option<Answer>> {
        let hints: Vec<Delegated> = hint.map(|(prefix, len)| Delegated { prefix, len, preferred: 0, valid: 0 }).into_iter().collect();
        self.exchange(c, &client_message(SOLICIT, c, None, &hints))
    }

    /// Request what `advertise` offered.
    pub fn request(&self, c: &Client, advertise: &Answer) -> io::Result<Option<Answer>> {
        self.exchange(c, &client_message(REQUEST, c, advertise.server_id.as_deref(), &advertise.prefixes))
    }

    /// Renew the prefixes of `reply`.
    pub fn renew(&self, c: &Client, reply: &Answer) -> io::Result<Option<Answer>> {
        self.exchange(c, &client_message(RENEW, c, reply.server_id.as_deref(), &reply.prefixes))
    }

    /// Rebind these prefixes (no server id).
    pub fn rebind(&self, c: &Client, prefixes: &[Delegated]) -> io::Result<Option<Answer>> {
        self.exchange(c, &client_message(REBIND, c, None, prefixes))
    }

    /// Release the prefixes of `reply`.
    pub fn release(&self, c: &Client, reply: &Answer) -> io::Result<Option<Answer>> {
        self.exchange(c, &client_message(RELEASE, c, reply.server_id.as_deref(), &reply.prefixes))
    }

    /// Solicit then Request: Kea's Reply (None when Kea did not advertise a prefix).
    pub fn acquire(&self, c: &Client) -> io::Result<Option<Answer>> {
        match self.solicit(c, None)? {
            Some(advertise) if advertise.prefixes.iter().any(|p| p.valid > 0) => self.request(c, &advertise),
            _ => Ok(None),
        }
    }

    /// One relay layer around `inner`, as this router builds it for client `c`.
    pub fn relay_forward(&self, c: &Client, inner: &[u8]) -> Vec<u8> {
        let mut packet = vec![RELAY_FORW, 0];
        packet.extend_from_slice(&self.link_address.octets());
        packet.extend_from_slice(&c.link_local().octets());
        push_option(&mut packet, OPT_INTERFACE_ID, &self.interface_id);
        let mut remote_id = |id: &[u8], enterprise: u32| {
            let mut data = enterprise.to_be_bytes().to_vec();
            data.extend_from_slice(id);
            push_option(&mut packet, OPT_REMOTE_ID, &data);
        };
        let text = mac_text(c.mac);
        match self.carrier {
            MacCarrier::RemoteIdRaw { enterprise } => remote_id(&c.mac, enterprise),
            MacCarrier::RemoteIdText { enterprise } => remote_id(text.as_bytes(), enterprise),
            MacCarrier::Both { enterprise } => remote_id(&c.mac, enterprise),
            MacCarrier::ClientLinkLayer | MacCarrier::None => {}
        }
        if matches!(self.carrier, MacCarrier::ClientLinkLayer | MacCarrier::Both { .. }) {
            let mut data = vec![0, 1];
            data.extend_from_slice(&c.mac);
            push_option(&mut packet, OPT_CLIENT_LINKLAYER_ADDR, &data);
        }
        push_option(&mut packet, OPT_RELAY_MSG, inner);
        packet
    }

    /// Send a Relay-Forward as is; the message inside Kea's Relay-Reply, if any.
    pub fn send_raw(&self, relay_forw: &[u8]) -> io::Result<Option<Vec<u8>>> {
        self.socket.send_to(relay_forw, self.server)?;
        let transaction = transaction_of(relay_forw);
        let deadline = Instant::now() + self.timeout;
        let mut buf = vec![0u8; 65536];
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Ok(None);
            }
            self.socket.set_read_timeout(Some(left))?;
            let n = match self.socket.recv_from(&mut buf) {
                Ok((n, _)) => n,
                Err(e) if matches!(e.kind(), io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut) => return Ok(None),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            };
            let Some(inner) = unwrap_relay_reply(&buf[..n]) else { continue };
            // Skip stray answers (an earlier exchange's late retransmission).
            if transaction.is_none() || transaction == transaction_of_message(&inner) {
                return Ok(Some(inner));
            }
        }
    }

    fn exchange(&self, c: &Client, message: &[u8]) -> io::Result<Option<Answer>> {
        let packet = self.relay_forward(c, message);
        Ok(self.send_raw(&packet)?.and_then(|inner| parse_answer(&inner)))
    }
}

/// `06:32:b2:00:03:57`.
pub fn mac_text(mac: [u8; 6]) -> String {
    mac.iter().map(|b| format!("{b:02x}")).collect::<Vec<_>>().join(":")
}

static NEXT_TRANSACTION: AtomicU32 = AtomicU32::new(0x10_0000);

/// A client message: type, transaction id, Client-Id, Server-Id, Elapsed-Time, one IA_PD.
pub fn client_message(msg_type: u8, c: &Client, server_id: Option<&[u8]>, prefixes: &[Delegated]) -> Vec<u8> {
    let transaction = NEXT_TRANSACTION.fetch_add(1, Ordering::Relaxed) & 0xff_ffff;
    let mut message = vec![msg_type, (transaction >> 16) as u8, (transaction >> 8) as u8, transaction as u8];
    push_option(&mut message, OPT_CLIENTID, &c.duid);
    if let Some(server_id) = server_id {
        push_option(&mut message, OPT_SERVERID, server_id);
    }
    push_option(&mut message, OPT_ELAPSED_TIME, &[0, 0]);
    let mut ia_pd = c.iaid.to_be_bytes().to_vec();
    ia_pd.extend_from_slice(&[0; 8]); // T1, T2
    for p in prefixes {
        let mut iaprefix = p.preferred.to_be_bytes().to_vec();
        iaprefix.extend_from_slice(&p.valid.to_be_bytes());
        iaprefix.push(p.len);
        iaprefix.extend_from_slice(&p.prefix.octets());
        push_option(&mut ia_pd, OPT_IAPREFIX, &iaprefix);
    }
    push_option(&mut message, OPT_IA_PD, &ia_pd);
    message
}

fn push_option(packet: &mut Vec<u8>, code: u16, data: &[u8]) {
    packet.extend_from_slice(&code.to_be_bytes());
    packet.extend_from_slice(&(data.len() as u16).to_be_bytes());
    packet.extend_from_slice(data);
}

/// (code, data) of each option in `bytes`; stops at the first malformed one.
fn options(mut bytes: &[u8]) -> Vec<(u16, &[u8])> {
    let mut found = Vec::new();
    while bytes.len() >= 4 {
        let code = u16::from_be_bytes([bytes[0], bytes[1]]);
        let len = u16::from_be_bytes([bytes[2], bytes[3]]) as usize;
        let Some(data) = bytes.get(4..4 + len) else { break };
        found.push((code, data));
        bytes = &bytes[4 + len..];
    }
    found
}

/// The innermost client/server message of a Relay-Reply (any nesting).
fn unwrap_relay_reply(mut packet: &[u8]) -> Option<Vec<u8>> {
    while packet.first() == Some(&RELAY_REPL) {
        packet = options(packet.get(34..)?).into_iter().find(|(code, _)| *code == OPT_RELAY_MSG)?.1;
    }
    Some(packet.to_vec())
}

fn transaction_of_message(message: &[u8]) -> Option<[u8; 3]> {
    message.get(1..4).map(|t| [t[0], t[1], t[2]])
}

/// The transaction id of the client message inside a Relay-Forward (any nesting).
fn transaction_of(mut packet: &[u8]) -> Option<[u8; 3]> {
    while packet.first() == Some(&RELAY_FORW) {
        packet = options(packet.get(34..)?).into_iter().find(|(code, _)| *code == OPT_RELAY_MSG)?.1;
    }
    transaction_of_message(packet)
}

fn parse_answer(message: &[u8]) -> Option<Answer> {
    let msg_type = match *message.first()? {
        ADVERTISE => MessageType::Advertise,
        REPLY => MessageType::Reply,
        other => MessageType::Unknown(other),
    };
    let mut answer = Answer { msg_type, server_id: None, prefixes: Vec::new(), ia_pd_status: None, raw: message.to_vec() };
    for (code, data) in options(message.get(4..)?) {
        match code {
            OPT_SERVERID => answer.server_id = Some(data.to_vec()),
            OPT_STATUS_CODE if answer.ia_pd_status.is_none() => answer.ia_pd_status = status(data),
            OPT_IA_PD if data.len() >= 12 => {
                for (inner, value) in options(&data[12..]) {
                    match inner {
                        OPT_IAPREFIX if value.len() >= 25 => answer.prefixes.push(Delegated {
                            preferred: u32::from_be_bytes(value[0..4].try_into().unwrap()),
                            valid: u32::from_be_bytes(value[4..8].try_into().unwrap()),
                            len: value[8],
                            prefix: Ipv6Addr::from(<[u8; 16]>::try_from(&value[9..25]).unwrap()),
                        }),
                        OPT_STATUS_CODE => answer.ia_pd_status = status(value),
                        _ => {}
                    }
                }
            }
            _ => {}
        }
    }
    Some(answer)
}

fn status(data: &[u8]) -> Option<(u16, String)> {
    let code = u16::from_be_bytes([*data.first()?, *data.get(1)?]);
    Some((code, String::from_utf8_lossy(&data[2..]).into_owned()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn router(carrier: MacCarrier) -> Router {
        let socket = UdpSocket::bind("[::1]:0").unwrap();
        Router::new(socket, "[::1]:547".parse().unwrap(), "2a00:f10:500::1".parse().unwrap(), b"VLAN709", carrier)
    }

    #[test]
    fn the_router_says_the_mac_the_way_it_is_configured_to() {
        let c = Client::new([0x02, 0, 0, 0, 0x01, 0x17]);
        let packet = router(MacCarrier::Both { enterprise: 2636 }).relay_forward(&c, &[1, 0, 0, 1]);
        assert_eq!(packet[0], RELAY_FORW);
        assert_eq!(&packet[18..34], &"fe80::ff:fe00:117".parse::<Ipv6Addr>().unwrap().octets());
        let found = options(&packet[34..]);
        assert_eq!(found[0], (OPT_INTERFACE_ID, &b"VLAN709"[..]));
        assert_eq!(found[1], (OPT_REMOTE_ID, &[0, 0, 0x0a, 0x4c, 2, 0, 0, 0, 1, 0x17][..]));
        assert_eq!(found[2], (OPT_CLIENT_LINKLAYER_ADDR, &[0, 1, 2, 0, 0, 0, 1, 0x17][..]));
        assert_eq!(found[3], (OPT_RELAY_MSG, &[1, 0, 0, 1][..]));
        let text = router(MacCarrier::RemoteIdText { enterprise: 9 }).relay_forward(&c, &[1, 0, 0, 1]);
        assert_eq!(options(&text[34..])[1].1, b"\0\0\0\x0902:00:00:00:01:17");
    }

    #[test]
    fn a_relay_reply_gives_back_the_prefixes_and_their_lifetimes() {
        let c = Client::new([2, 0, 0, 0, 0, 1]);
        let offered = [Delegated { prefix: "2a00:f10:500:1170::".parse().unwrap(), len: 60, preferred: 300, valid: 600 }];
        let mut reply = client_message(REPLY, &c, Some(&[0, 1, 2]), &offered);
        reply[0] = REPLY;
        let mut relay_reply = vec![RELAY_REPL, 0];
        relay_reply.extend_from_slice(&[0; 32]);
        push_option(&mut relay_reply, OPT_RELAY_MSG, &reply);
        let answer = parse_answer(&unwrap_relay_reply(&relay_reply).unwrap()).unwrap();
        assert_eq!(answer.msg_type, MessageType::Reply);
        assert_eq!(answer.server_id.as_deref(), Some(&[0, 1, 2][..]));
        assert_eq!(answer.prefixes, offered);
    }
}
