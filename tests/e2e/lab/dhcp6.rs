//! A scripted DHCPv6 client behind a scripted provider router. The test builds the client's message (dhcproto),
//! the router wraps it in a Relay-Forward the way a provider router does (non-zero link-address, interface-id,
//! the MAC as Remote-Id and/or option 79; see `relay`), sends it to Kea from `[router]:547` and unwraps Kea's
//! Relay-Reply into an `Answer`.
//!
//! A `Client`'s DUID is random and never derived from its MAC: the hook must find the NIC by what the router
//! saw, and a DUID proves nothing.
use std::collections::hash_map::RandomState;
use std::hash::BuildHasher;
use std::io;
use std::net::{Ipv6Addr, SocketAddrV6, UdpSocket};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use dhcproto::v6::{DhcpOption, DhcpOptions, IAPrefix, Message, OptionCode, IAPD, ORO};
use dhcproto::{Decodable, Decoder, Encodable};

pub use dhcproto::v6::MessageType;

#[path = "dhcp6/relay.rs"]
pub mod relay;

pub use relay::{eui64_link_local, mac_text, MacCarrier};
use relay::{RelayAgent, RelayError};

const OPT_STATUS_CODE: u16 = 13;
const OPT_VENDOR_CLASS: u16 = 16;
const OPT_VENDOR_OPTS: u16 = 17;
const OPT_IA_PD: u16 = 25;
const OPT_IAPREFIX: u16 = 26;
/// Seconds from 1970-01-01 to 2000-01-01, the epoch of DUID-LLT time.
const DUID_EPOCH: u64 = 946_684_800;

/// A client: its NIC's MAC (what the router sees), its DUID and IAID (what it says about itself).
#[derive(Clone, Debug)]
pub struct Client {
    pub mac: [u8; 6],
    pub duid: Vec<u8>,
    pub iaid: u32,
}

impl Client {
    /// A client with a fresh random DUID-LLT (a link-layer address that is not `mac`) and a random IAID: a
    /// reinstalled VM on the same NIC is `Client::new` with the same MAC.
    pub fn new(mac: [u8; 6]) -> Client {
        let random = random_u64().to_be_bytes();
        // Locally administered, unicast, and never this NIC's MAC.
        let mut other = [random[0] & 0xfc | 0x02, random[1], random[2], random[3], random[4], random[5]];
        if other == mac {
            other[5] ^= 0xff;
        }
        let since_2000 =
            SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs().saturating_sub(DUID_EPOCH));
        Client { mac, duid: duid_llt(since_2000 as u32, other), iaid: random_u64() as u32 }
    }

    /// The same VM every time it is asked for: its DUID and IAID are fixed per MAC (a running VM keeps them
    /// across restarts of its DHCP client) but still not derived in a way the hook could read back.
    pub fn steady(mac: [u8; 6]) -> Client {
        let seed = mac.iter().fold(0xcbf2_9ce4_8422_2325_u64, |h, b| (h ^ u64::from(*b)).wrapping_mul(0x0100_0000_01b3));
        let bytes = seed.to_be_bytes();
        let other = [bytes[0] & 0xfc | 0x02, bytes[1], bytes[2], bytes[3], bytes[4], bytes[5]];
        Client { mac, duid: duid_llt(700_000_000, other), iaid: (seed >> 32) as u32 }
    }

    /// A client that says this DUID (e.g. a DUID-LL carrying another NIC's MAC, to spoof).
    pub fn with_duid(mac: [u8; 6], duid: Vec<u8>) -> Client {
        Client { mac, duid, iaid: random_u64() as u32 }
    }

    /// The link-local address this client's NIC forms (EUI-64): the peer-address the router reports.
    pub fn link_local(&self) -> Ipv6Addr {
        eui64_link_local(self.mac)
    }
}

/// DUID-LLT (RFC 8415 §11.2): type 1, hardware type 1, seconds since 2000, a link-layer address.
pub fn duid_llt(time: u32, link_layer: [u8; 6]) -> Vec<u8> {
    let mut duid = vec![0, 1, 0, 1];
    duid.extend_from_slice(&time.to_be_bytes());
    duid.extend_from_slice(&link_layer);
    duid
}

/// DUID-EN (RFC 8415 §11.3): type 2, enterprise number, identifier.
pub fn duid_en(enterprise: u32, identifier: &[u8]) -> Vec<u8> {
    let mut duid = vec![0, 2];
    duid.extend_from_slice(&enterprise.to_be_bytes());
    duid.extend_from_slice(identifier);
    duid
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
    /// Every IAPREFIX of every IA_PD, in order, withdrawn ones (lifetimes 0) included.
    pub prefixes: Vec<Delegated>,
    /// The Status Code inside an IA_PD or its IAPREFIX, else the message's own.
    pub ia_pd_status: Option<(u16, String)>,
    /// The Status Code at the message's top level.
    pub status: Option<(u16, String)>,
    /// Each IA_PD of the answer on its own, in order.
    pub ia_pds: Vec<IaPdAnswer>,
    /// The server's message as received (inside the Relay-Reply).
    pub raw: Vec<u8>,
}

/// One IA_PD of an answer: its IAID, its prefixes (withdrawn ones included) and its own Status Code.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IaPdAnswer {
    pub iaid: u32,
    pub prefixes: Vec<Delegated>,
    pub status: Option<u16>,
}

/// The router's side: relays the scripted client's messages to Kea and back.
pub struct Router {
    socket: UdpSocket,
    server: SocketAddrV6,
    /// Further servers each message goes to as well (an HA pair's partner): the first answer wins.
    also: Vec<SocketAddrV6>,
    agent: RelayAgent,
    timeout: Duration,
}

impl Router {
    /// A router relaying from `socket` (bound to `[router]:547`) to Kea at `server`, for the link `link_address`
    /// (non-zero: Kea ignores interface-id without it) tagged `interface_id`.
    pub fn new(
        socket: UdpSocket,
        server: SocketAddrV6,
        link_address: Ipv6Addr,
        interface_id: &[u8],
        carrier: MacCarrier,
    ) -> Router {
        let agent = RelayAgent { link_address, interface_id: interface_id.to_vec(), carrier, mac_on_renewals: true };
        Router { socket, server, also: Vec::new(), agent, timeout: Duration::from_secs(2) }
    }

    /// This router relays every message to `server` too, as a relay in front of an HA pair does (both servers
    /// hear every client; the one whose scope the client is in answers). The first answer is the client's.
    pub fn also_to(mut self, server: SocketAddrV6) -> Router {
        self.also.push(server);
        self
    }

    /// This router carries the MAC on Solicit and Request only (Juniper documents option 79 so).
    pub fn mac_on_solicit_and_request_only(mut self) -> Router {
        self.agent.mac_on_renewals = false;
        self
    }

    /// How long to wait for Kea's answer before calling it "no answer" (default 2 s).
    pub fn with_timeout(mut self, timeout: Duration) -> Router {
        self.timeout = timeout;
        self
    }

    /// Solicit for one IA_PD, with an optional prefix hint.
    pub fn solicit(&self, c: &Client, hint: Option<(Ipv6Addr, u8)>) -> io::Result<Option<Answer>> {
        let hints: Vec<Delegated> =
            hint.map(|(prefix, len)| Delegated { prefix, len, preferred: 0, valid: 0 }).into_iter().collect();
        self.exchange(c, &client_message(1, c, None, &hints))
    }

    /// Request the prefixes `advertise` offered (those with a valid lifetime), from the server that offered them.
    pub fn request(&self, c: &Client, advertise: &Answer) -> io::Result<Option<Answer>> {
        self.exchange(c, &client_message(3, c, advertise.server_id.as_deref(), &held(advertise)))
    }

    /// Renew the prefixes `reply` gave (a prefix with valid lifetime 0 is gone, RFC 8415 §18.2.10.1).
    pub fn renew(&self, c: &Client, reply: &Answer) -> io::Result<Option<Answer>> {
        self.exchange(c, &client_message(5, c, reply.server_id.as_deref(), &held(reply)))
    }

    /// Rebind these prefixes (no Server-Id: any server may answer).
    pub fn rebind(&self, c: &Client, prefixes: &[Delegated]) -> io::Result<Option<Answer>> {
        self.exchange(c, &client_message(6, c, None, prefixes))
    }

    /// Release the prefixes `reply` gave.
    pub fn release(&self, c: &Client, reply: &Answer) -> io::Result<Option<Answer>> {
        self.exchange(c, &client_message(8, c, reply.server_id.as_deref(), &held(reply)))
    }

    /// Solicit then Request for the client's IA_PD and one more, empty IA_PD per IAID in `more`:
    /// the Advertise and the Reply (`None` where Kea did not answer).
    pub fn acquire_with_more_ia_pds(&self, c: &Client, more: &[u32]) -> io::Result<(Option<Answer>, Option<Answer>)> {
        let with_more = |mut message: Vec<u8>| {
            for iaid in more {
                let mut ia_pd = iaid.to_be_bytes().to_vec();
                ia_pd.extend_from_slice(&[0; 8]); // T1, T2
                relay::push_option(&mut message, OPT_IA_PD, &ia_pd);
            }
            message
        };
        let Some(advertise) = self.exchange(c, &with_more(client_message(1, c, None, &[])))? else {
            return Ok((None, None));
        };
        let request = with_more(client_message(3, c, advertise.server_id.as_deref(), &held(&advertise)));
        let reply = self.exchange(c, &request)?;
        Ok((Some(advertise), reply))
    }

    /// Solicit then Request: Kea's Reply; `None` when Kea did not answer or advertised no prefix.
    pub fn acquire(&self, c: &Client) -> io::Result<Option<Answer>> {
        match self.solicit(c, None)? {
            Some(advertise) if advertise.prefixes.iter().any(|p| p.valid > 0) => self.request(c, &advertise),
            _ => Ok(None),
        }
    }

    /// Relay a Solicit for `c` and do not wait for an answer (to make the hook look a MAC up, say).
    pub fn solicit_and_go(&self, c: &Client) -> io::Result<()> {
        let packet = self.relay_forward(c, &client_message(1, c, None, &[]));
        self.send_to_servers(&packet)
    }

    fn send_to_servers(&self, packet: &[u8]) -> io::Result<()> {
        for server in std::iter::once(&self.server).chain(&self.also) {
            self.socket.send_to(packet, server)?;
        }
        Ok(())
    }

    /// One relay layer around `inner` (a client message or another Relay-Forward), as this router builds it for
    /// client `c`: peer-address is `c`'s link-local address, the MAC carried is `c`'s.
    pub fn relay_forward(&self, c: &Client, inner: &[u8]) -> Vec<u8> {
        self.agent.relay_forward(c.link_local(), c.mac, inner)
    }

    /// Sends `relay_forw` as is and returns the message inside Kea's Relay-Reply (all layers taken off) whose
    /// transaction id matches the innermost message sent; `None` if none came within the timeout. Datagrams of
    /// other transactions are skipped; if only malformed ones came, that is an error, not "no answer".
    pub fn send_raw(&self, relay_forw: &[u8]) -> io::Result<Option<Vec<u8>>> {
        let wanted = relay::innermost(relay_forw).ok().and_then(relay::transaction_id);
        self.send_to_servers(relay_forw)?;
        let deadline = Instant::now() + self.timeout;
        let mut malformed: Option<RelayError> = None;
        let mut buf = vec![0u8; 65536];
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return match malformed {
                    Some(e) => {
                        Err(io::Error::new(io::ErrorKind::InvalidData, format!("only a malformed answer came: {e}")))
                    }
                    None => Ok(None),
                };
            }
            self.socket.set_read_timeout(Some(left))?;
            let n = match self.socket.recv_from(&mut buf) {
                Ok((n, _)) => n,
                Err(e) if matches!(e.kind(), io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut) => continue,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            };
            match relay::parse_relay_reply(&buf[..n]).and_then(|layer| relay::innermost(layer.message)) {
                Ok(inner) if wanted.is_none() || relay::transaction_id(inner) == wanted => {
                    return Ok(Some(inner.to_vec()))
                }
                Ok(_) => {} // an earlier exchange's late answer
                Err(e) => malformed = Some(e),
            }
        }
    }

    fn exchange(&self, c: &Client, message: &[u8]) -> io::Result<Option<Answer>> {
        let Some(inner) = self.send_raw(&self.relay_forward(c, message))? else { return Ok(None) };
        parse_answer(&inner).map(Some).map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))
    }
}

/// The prefixes a client still holds after `answer`.
fn held(answer: &Answer) -> Vec<Delegated> {
    answer.prefixes.iter().filter(|p| p.valid > 0).cloned().collect()
}

/// A client message (type 1 Solicit, 3 Request, 5 Renew, 6 Rebind, 8 Release, …) with a random transaction id:
/// Client-Id, Server-Id if given, Elapsed-Time 0, an ORO (DNS servers, SOL_MAX_RT) except in a Release, and one
/// IA_PD (the client's IAID, T1 = T2 = 0) holding `prefixes` as IAPREFIX options.
pub fn client_message(msg_type: u8, c: &Client, server_id: Option<&[u8]>, prefixes: &[Delegated]) -> Vec<u8> {
    let msg_type = MessageType::from(msg_type);
    let mut message = Message::new(msg_type);
    let opts = message.opts_mut();
    opts.insert(DhcpOption::ClientId(c.duid.clone()));
    if let Some(server_id) = server_id {
        opts.insert(DhcpOption::ServerId(server_id.to_vec()));
    }
    opts.insert(DhcpOption::ElapsedTime(0));
    if msg_type != MessageType::Release {
        opts.insert(DhcpOption::ORO(ORO { opts: vec![OptionCode::DomainNameServers, OptionCode::SolMaxRt] }));
    }
    let mut ia_pd = IAPD { id: c.iaid, t1: 0, t2: 0, opts: DhcpOptions::new() };
    for p in prefixes {
        ia_pd.opts.insert(DhcpOption::IAPrefix(IAPrefix {
            preferred_lifetime: p.preferred,
            valid_lifetime: p.valid,
            prefix_len: p.len,
            prefix_ip: p.prefix,
            opts: DhcpOptions::new(),
        }));
    }
    opts.insert(DhcpOption::IAPD(ia_pd));
    message.to_vec().expect("a client message encodes")
}

/// Reads a server message (Advertise, Reply, …). The option framing is checked first, at every level, so a
/// malformed answer is an error rather than an answer with options silently missing.
pub fn parse_answer(message: &[u8]) -> Result<Answer, String> {
    if message.len() < 4 {
        return Err(format!("a {}-byte message", message.len()));
    }
    let framing =
        check_framing(&message[4..]).map_err(|e| format!("{} message: {e}", relay::message_name(message[0])))?;
    let mut decoder = Decoder::new(message);
    let decoded = Message::decode(&mut decoder).map_err(|e| format!("dhcproto: {e}"))?;
    if !decoder.buffer().is_empty() {
        return Err(format!("dhcproto left {} bytes undecoded", decoder.buffer().len()));
    }
    let mut answer = Answer {
        msg_type: decoded.msg_type(),
        server_id: None,
        prefixes: Vec::new(),
        ia_pd_status: None,
        status: None,
        ia_pds: ia_pds(&message[4..])?,
        raw: message.to_vec(),
    };
    for option in decoded.opts().iter() {
        match option {
            DhcpOption::ServerId(id) => answer.server_id = Some(id.clone()),
            DhcpOption::StatusCode(s) => answer.status = Some((s.status.into(), s.msg.clone())),
            DhcpOption::IAPD(ia_pd) => {
                for inner in ia_pd.opts.iter() {
                    match inner {
                        DhcpOption::IAPrefix(p) => {
                            answer.prefixes.push(Delegated {
                                prefix: p.prefix_ip,
                                len: p.prefix_len,
                                preferred: p.preferred_lifetime,
                                valid: p.valid_lifetime,
                            });
                            if let Some(DhcpOption::StatusCode(s)) = p.opts.get(OptionCode::StatusCode) {
                                answer.ia_pd_status.get_or_insert((s.status.into(), s.msg.clone()));
                            }
                        }
                        DhcpOption::StatusCode(s) => answer.ia_pd_status = Some((s.status.into(), s.msg.clone())),
                        _ => {}
                    }
                }
            }
            _ => {}
        }
    }
    if answer.prefixes.len() != framing.iaprefixes {
        return Err(format!("dhcproto decoded {} of {} IAPREFIX options", answer.prefixes.len(), framing.iaprefixes));
    }
    if answer.ia_pd_status.is_none() {
        answer.ia_pd_status = answer.status.clone();
    }
    Ok(answer)
}

struct Framing {
    iaprefixes: usize,
}

/// Every IA_PD of a message's option area, read byte by byte (dhcproto keeps one option per code).
fn ia_pds(area: &[u8]) -> Result<Vec<IaPdAnswer>, String> {
    let status_of = |data: &[u8]| u16::from_be_bytes([data[0], data[1]]);
    let mut found = Vec::new();
    for (code, data) in relay::options(area).map_err(|e| format!("options: {e}"))? {
        if code != OPT_IA_PD || data.len() < 12 {
            continue;
        }
        let mut ia = IaPdAnswer { iaid: u32::from_be_bytes([data[0], data[1], data[2], data[3]]), prefixes: Vec::new(), status: None };
        for (inner, value) in relay::options(&data[12..]).map_err(|e| format!("IA_PD: {e}"))? {
            match inner {
                OPT_STATUS_CODE if value.len() >= 2 => ia.status = Some(status_of(value)),
                OPT_IAPREFIX if value.len() >= 25 => {
                    let mut address = [0u8; 16];
                    address.copy_from_slice(&value[9..25]);
                    ia.prefixes.push(Delegated {
                        prefix: Ipv6Addr::from(address),
                        len: value[8],
                        preferred: u32::from_be_bytes([value[0], value[1], value[2], value[3]]),
                        valid: u32::from_be_bytes([value[4], value[5], value[6], value[7]]),
                    });
                }
                _ => {}
            }
        }
        found.push(ia);
    }
    Ok(found)
}

/// Checks that options fill their areas exactly (top level, IA_PD, IAPREFIX) and are long enough where dhcproto
/// 0.12 would otherwise underflow (Status Code, Vendor Class, Vendor Options); counts the IAPREFIX options.
fn check_framing(area: &[u8]) -> Result<Framing, String> {
    fn walk(area: &[u8], depth: &str, framing: &mut Framing) -> Result<(), String> {
        let options = relay::options(area).map_err(|e| format!("{depth}: {e}"))?;
        for (code, data) in options {
            let minimum = match code {
                OPT_STATUS_CODE => 2,
                OPT_VENDOR_CLASS | OPT_VENDOR_OPTS => 4,
                OPT_IA_PD => 12,
                OPT_IAPREFIX => 25,
                _ => 0,
            };
            if data.len() < minimum {
                return Err(format!("{depth}: option {code} has {} bytes, needs {minimum}", data.len()));
            }
            match code {
                OPT_IA_PD => walk(&data[12..], "IA_PD", framing)?,
                OPT_IAPREFIX => {
                    framing.iaprefixes += 1;
                    walk(&data[25..], "IAPREFIX", framing)?;
                }
                _ => {}
            }
        }
        Ok(())
    }
    let mut framing = Framing { iaprefixes: 0 };
    walk(area, "options", &mut framing)?;
    Ok(framing)
}

/// 64 random-ish bits (std's per-process random hash keys over a counter): for DUIDs and IAIDs, not for secrets.
fn random_u64() -> u64 {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    RandomState::new().hash_one(COUNTER.fetch_add(1, Ordering::Relaxed))
}

#[cfg(test)]
mod tests {
    use super::relay::{push_option, RELAY_HEADER_LEN, RELAY_REPL};
    use super::*;

    const MAC: [u8; 6] = [0x02, 0x00, 0x00, 0x00, 0x01, 0x17];

    fn router(carrier: MacCarrier) -> Router {
        let socket = UdpSocket::bind("[::1]:0").unwrap();
        Router::new(socket, "[::1]:547".parse().unwrap(), "fd00:4b43:1::1".parse().unwrap(), b"VLAN709", carrier)
    }

    fn relay_reply(message: &[u8]) -> Vec<u8> {
        let mut packet = vec![RELAY_REPL, 0];
        packet.extend_from_slice(&"fd00:4b43:1::1".parse::<Ipv6Addr>().unwrap().octets());
        packet.extend_from_slice(&eui64_link_local(MAC).octets());
        push_option(&mut packet, 18, b"VLAN709");
        push_option(&mut packet, 9, message);
        packet
    }

    /// An Advertise as Kea writes it, by hand: Client-Id, Server-Id, IA_PD with one live and one withdrawn
    /// IAPREFIX and a Status Code, then DNS servers.
    fn kea_advertise(xid: [u8; 3]) -> Vec<u8> {
        let mut m = vec![2, xid[0], xid[1], xid[2]];
        push_option(&mut m, 1, &[0, 1, 0, 1, 1, 2, 3, 4, 2, 9, 9, 9, 9, 9]);
        push_option(&mut m, 2, &[0, 1, 0, 1, 0x2e, 0xbe, 0x8d, 0x10, 0x02, 0x42, 0xac, 0x11, 0, 2]);
        let mut ia_pd = vec![0, 0, 0, 7, 0, 0, 0, 150, 0, 0, 0, 240];
        let mut live = vec![0, 0, 1, 44, 0, 0, 2, 88, 60];
        live.extend_from_slice(&"2a00:f10:500:1170::".parse::<Ipv6Addr>().unwrap().octets());
        push_option(&mut ia_pd, 26, &live);
        let mut gone = vec![0, 0, 0, 0, 0, 0, 0, 0, 60];
        gone.extend_from_slice(&"2a00:f10:500:10::".parse::<Ipv6Addr>().unwrap().octets());
        push_option(&mut ia_pd, 26, &gone);
        push_option(&mut ia_pd, 13, b"\0\0prefixes assigned");
        push_option(&mut m, 25, &ia_pd);
        push_option(&mut m, 23, &"fd00::53".parse::<Ipv6Addr>().unwrap().octets());
        m
    }

    #[test]
    fn the_scripted_router_wraps_a_solicit_with_interface_id_remote_id_and_option_79() {
        let c = Client::new(MAC);
        let solicit = client_message(1, &c, None, &[]);
        let packet = router(MacCarrier::Both { enterprise: 2636 }).relay_forward(&c, &solicit);
        assert_eq!(&packet[..2], [12, 0], "RELAY-FORW, hop count 0");
        assert_eq!(&packet[2..18], &"fd00:4b43:1::1".parse::<Ipv6Addr>().unwrap().octets(), "link-address");
        assert_eq!(&packet[18..34], &"fe80::ff:fe00:117".parse::<Ipv6Addr>().unwrap().octets(), "EUI-64 peer");
        let mut expected = vec![0, 18, 0, 7];
        expected.extend_from_slice(b"VLAN709");
        expected.extend_from_slice(&[0, 37, 0, 10, 0, 0, 0x0a, 0x4c, 0x02, 0, 0, 0, 0x01, 0x17]);
        expected.extend_from_slice(&[0, 79, 0, 8, 0, 1, 0x02, 0, 0, 0, 0x01, 0x17]);
        expected.extend_from_slice(&[0, 9]);
        expected.extend_from_slice(&(solicit.len() as u16).to_be_bytes());
        expected.extend_from_slice(&solicit);
        assert_eq!(&packet[RELAY_HEADER_LEN..], expected);
    }

    #[test]
    fn a_client_message_carries_the_duid_the_server_id_and_one_ia_pd() {
        let c = Client::with_duid(MAC, duid_en(2636, b"vm-17"));
        let hint = Delegated { prefix: "2a00:f10:500:1170::".parse().unwrap(), len: 60, preferred: 0, valid: 0 };
        let bytes = client_message(5, &c, Some(&[0, 1, 2, 3]), std::slice::from_ref(&hint));
        assert_eq!(bytes[0], 5);
        let m = Message::decode(&mut Decoder::new(&bytes)).unwrap();
        assert_eq!(
            m.opts().get(OptionCode::ClientId),
            Some(&DhcpOption::ClientId(vec![0, 2, 0, 0, 0x0a, 0x4c, b'v', b'm', b'-', b'1', b'7']))
        );
        assert_eq!(m.opts().get(OptionCode::ServerId), Some(&DhcpOption::ServerId(vec![0, 1, 2, 3])));
        assert_eq!(m.opts().get(OptionCode::ElapsedTime), Some(&DhcpOption::ElapsedTime(0)));
        assert!(m.opts().get(OptionCode::ORO).is_some());
        let Some(DhcpOption::IAPD(ia_pd)) = m.opts().get(OptionCode::IAPD) else { panic!("no IA_PD") };
        assert_eq!((ia_pd.id, ia_pd.t1, ia_pd.t2), (c.iaid, 0, 0));
        let Some(DhcpOption::IAPrefix(p)) = ia_pd.opts.get(OptionCode::IAPrefix) else { panic!("no IAPREFIX") };
        assert_eq!((p.prefix_ip, p.prefix_len), (hint.prefix, 60));
        // The exact IA_PD bytes: code 25, length 12 + 29, IAID, T1, T2, IAPREFIX(26, 25, 0/0, 60, prefix).
        let mut ia_pd_bytes = vec![0, 25, 0, 41];
        ia_pd_bytes.extend_from_slice(&c.iaid.to_be_bytes());
        ia_pd_bytes.extend_from_slice(&[0, 0, 0, 0, 0, 0, 0, 0, 0, 26, 0, 25, 0, 0, 0, 0, 0, 0, 0, 0, 60]);
        ia_pd_bytes.extend_from_slice(&hint.prefix.octets());
        assert!(bytes.ends_with(&ia_pd_bytes), "IA_PD last: {bytes:02x?}");
        assert_eq!(
            client_message(8, &c, Some(&[0, 1]), &[]).windows(2).filter(|w| *w == [0, 6]).count(),
            0,
            "no ORO in a Release"
        );
    }

    #[test]
    fn clients_get_fresh_duid_llts_that_are_not_their_mac() {
        let (a, b) = (Client::new(MAC), Client::new(MAC));
        assert_ne!(a.duid, b.duid, "a reinstalled VM says a new DUID");
        for c in [&a, &b] {
            assert_eq!(&c.duid[..4], [0, 1, 0, 1], "DUID-LLT, Ethernet");
            assert_eq!(c.duid.len(), 14);
            assert_ne!(&c.duid[8..], MAC);
            assert_eq!(c.duid[8] & 0x03, 0x02, "locally administered unicast");
        }
        assert_eq!(a.link_local(), "fe80::ff:fe00:117".parse::<Ipv6Addr>().unwrap());
        let xids: std::collections::HashSet<[u8; 3]> =
            (0..32).map(|_| relay::transaction_id(&client_message(1, &a, None, &[])).unwrap()).collect();
        assert!(xids.len() > 28, "transaction ids are random: {xids:?}");
    }

    #[test]
    fn a_relay_reply_gives_back_every_prefix_with_its_lifetimes_and_the_ia_pd_status() {
        let inner = relay::innermost(&relay_reply(&kea_advertise([1, 2, 3]))).unwrap().to_vec();
        let answer = parse_answer(&inner).unwrap();
        assert_eq!(answer.msg_type, MessageType::Advertise);
        assert_eq!(
            answer.server_id.as_deref(),
            Some(&[0, 1, 0, 1, 0x2e, 0xbe, 0x8d, 0x10, 0x02, 0x42, 0xac, 0x11, 0, 2][..])
        );
        let live = Delegated { prefix: "2a00:f10:500:1170::".parse().unwrap(), len: 60, preferred: 300, valid: 600 };
        let gone = Delegated { prefix: "2a00:f10:500:10::".parse().unwrap(), len: 60, preferred: 0, valid: 0 };
        assert_eq!(answer.prefixes, [live.clone(), gone]);
        assert_eq!(answer.ia_pd_status, Some((0, "prefixes assigned".to_string())));
        assert_eq!(answer.status, None);
        assert_eq!(held(&answer), [live], "a withdrawn prefix is not requested or renewed");
    }

    #[test]
    fn a_top_level_status_stands_for_the_ia_pd_when_it_has_none() {
        let mut reply = vec![7, 9, 9, 9];
        push_option(&mut reply, 2, &[0, 1]);
        push_option(&mut reply, 13, b"\0\x06no prefix for you");
        push_option(&mut reply, 25, &[0, 0, 0, 7, 0, 0, 0, 0, 0, 0, 0, 0]);
        let answer = parse_answer(&reply).unwrap();
        assert_eq!(answer.msg_type, MessageType::Reply);
        assert!(answer.prefixes.is_empty());
        assert_eq!(answer.status, Some((6, "no prefix for you".to_string())));
        assert_eq!(answer.ia_pd_status, answer.status);
    }

    #[test]
    fn a_malformed_answer_is_an_error_not_an_answer_without_prefixes() {
        let mut good = kea_advertise([1, 2, 3]);
        let len = good.len();
        good.truncate(len - 3);
        assert!(parse_answer(&good).is_err(), "truncated last option");
        let mut short_status = vec![7, 1, 1, 1];
        push_option(&mut short_status, 13, &[0]);
        assert!(parse_answer(&short_status).is_err(), "one-byte Status Code");
        let mut short_iaprefix = vec![7, 1, 1, 1];
        push_option(&mut short_iaprefix, 25, &[0, 0, 0, 7, 0, 0, 0, 0, 0, 0, 0, 0, 0, 26, 0, 3, 0, 0, 0]);
        assert!(parse_answer(&short_iaprefix).is_err(), "IAPREFIX of 3 bytes");
    }

    #[test]
    fn the_router_answers_by_transaction_and_skips_strays() {
        let kea = UdpSocket::bind("[::1]:0").unwrap();
        let std::net::SocketAddr::V6(kea_addr) = kea.local_addr().unwrap() else { unreachable!() };
        let socket = UdpSocket::bind("[::1]:0").unwrap();
        let r =
            Router::new(socket, kea_addr, "fd00:4b43:1::1".parse().unwrap(), b"VLAN709", MacCarrier::ClientLinkLayer)
                .with_timeout(Duration::from_secs(2));
        let fake_kea = std::thread::spawn(move || {
            let mut buf = [0u8; 2048];
            let (n, from) = kea.recv_from(&mut buf).unwrap();
            let solicit = relay::innermost(&buf[..n]).unwrap().to_vec();
            let xid = relay::transaction_id(&solicit).unwrap();
            let peer = &buf[18..34];
            assert_eq!(peer, eui64_link_local(MAC).octets());
            // A stray of another transaction, garbage, then the answer.
            kea.send_to(&relay_reply(&kea_advertise([xid[0] ^ 1, xid[1], xid[2]])), from).unwrap();
            kea.send_to(&[13, 0, 1], from).unwrap();
            kea.send_to(&relay_reply(&kea_advertise(xid)), from).unwrap();
        });
        let answer = r.solicit(&Client::new(MAC), None).unwrap().expect("an Advertise");
        fake_kea.join().unwrap();
        assert_eq!(answer.msg_type, MessageType::Advertise);
        assert_eq!(answer.prefixes.len(), 2);

        let silent = router(MacCarrier::None).with_timeout(Duration::from_millis(200));
        let started = Instant::now();
        assert!(silent.solicit(&Client::new(MAC), None).unwrap().is_none(), "no answer is None");
        assert!(started.elapsed() < Duration::from_secs(2));
    }
}
