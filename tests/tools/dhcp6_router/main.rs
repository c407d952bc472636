//! dhcp6-router: a DHCPv6 relay that behaves like a provider router, for the real `dhclient -6 -P`.
//!
//! It takes the client's multicast messages off the client link with a packet socket (learning the MAC from the
//! Ethernet header, as a router does), wraps each in a Relay-Forward (link-address, peer-address = the client's
//! source address, interface-id, the MAC as Remote-Id and/or option 79) sent from `[source]:547` to
//! `[server]:547`, and hands the message inside each Relay-Reply to the client (port 546) from its own
//! link-local address, port 547. One line per relayed message on stdout. Stops on SIGTERM/SIGINT or after
//! `--max-seconds`. See `cli::USAGE` for the command line.
mod cli;
mod frame;
mod kernel;
mod link_local;
#[path = "../../e2e/lab/dhcp6/relay.rs"]
mod relay;

use std::fmt;
use std::io::{self, Write};
use std::net::{Ipv6Addr, SocketAddr, SocketAddrV6, UdpSocket};
use std::os::fd::AsRawFd;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use frame::{parse_frame, ALL_DHCP_RELAY_AGENTS_AND_SERVERS, DHCP6_CLIENT_PORT, DHCP6_SERVER_PORT};
use kernel::PacketSocket;
use relay::{mac_text, message_name, HOP_COUNT_LIMIT, RELAY_FORW, RELAY_REPL};

/// Client messages a relay passes on (RFC 8415 §7.3): Solicit, Request, Confirm, Renew, Rebind, Release,
/// Decline, Information-Request.
const CLIENT_MESSAGES: [u8; 8] = [1, 3, 4, 5, 6, 8, 9, 11];
/// Frames or datagrams handled per wake-up before the other side gets its turn.
const BATCH: usize = 64;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let options = match cli::parse(&args) {
        Ok(options) => options,
        Err(message) => {
            eprintln!("dhcp6-router: {message}");
            return ExitCode::from(2);
        }
    };
    match Relay::start(options).and_then(|mut relay| relay.run()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("dhcp6-router: {message}");
            ExitCode::FAILURE
        }
    }
}

/// The running router: its three sockets and what it writes into every Relay-Forward.
struct Relay {
    options: cli::Options,
    frames: PacketSocket,
    client_index: u32,
    upstream: UdpSocket,
    downstream: UdpSocket,
    server: SocketAddrV6,
    buf: Vec<u8>,
}

impl Relay {
    fn start(options: cli::Options) -> Result<Relay, String> {
        kernel::catch_stop_signals().map_err(|e| format!("install signal handlers: {e}"))?;
        let iface = &options.client_iface;
        let client_index = kernel::interface_index(iface).map_err(|e| format!("--client-iface: {e}"))?;
        let frames = PacketSocket::open(client_index).map_err(|e| format!("packet socket on {iface}: {e}"))?;
        let own_link_local = link_local::wait_for(iface, Duration::from_secs(10))?;

        let source = SocketAddrV6::new(options.source, DHCP6_SERVER_PORT, 0, 0);
        let upstream = UdpSocket::bind(source)
            .map_err(|e| format!("bind {source} (is another relay, e.g. a test's relay socket, bound there?): {e}"))?;
        let own = SocketAddrV6::new(own_link_local, DHCP6_SERVER_PORT, 0, client_index);
        let downstream = UdpSocket::bind(own).map_err(|e| format!("bind [{own_link_local}%{iface}]:547: {e}"))?;
        for socket in [&upstream, &downstream] {
            socket.set_nonblocking(true).map_err(|e| format!("set_nonblocking: {e}"))?;
        }

        let server = SocketAddrV6::new(options.server, DHCP6_SERVER_PORT, 0, 0);
        let agent = &options.agent;
        if agent.link_address.is_unspecified() {
            eprintln!("dhcp6-router: warning: link-address :: makes Kea ignore interface-id");
        }
        say(format_args!(
            "dhcp6-router: relaying {iface} (index {client_index}, {own_link_local}) to {server} from {source}; \
             link-address {}, interface-id {:?}, {:?}",
            agent.link_address,
            String::from_utf8_lossy(&agent.interface_id),
            agent.carrier
        ));
        Ok(Relay { options, frames, client_index, upstream, downstream, server, buf: vec![0; 65536] })
    }

    fn run(&mut self) -> Result<(), String> {
        let deadline = Instant::now() + self.options.max_run;
        loop {
            if let Some(signal) = kernel::stop_signal() {
                say(format_args!("dhcp6-router: stopping on signal {signal}"));
                return Ok(());
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                say(format_args!("dhcp6-router: stopping after --max-seconds {}", self.options.max_run.as_secs()));
                return Ok(());
            }
            let fds = [self.frames.as_raw_fd(), self.upstream.as_raw_fd()];
            let [frames_ready, upstream_ready] =
                kernel::wait_readable(fds, left.min(Duration::from_millis(500))).map_err(|e| format!("poll: {e}"))?;
            if frames_ready {
                self.take_client_frames()?;
            }
            if upstream_ready {
                self.take_server_answers();
            }
        }
    }

    fn take_client_frames(&mut self) -> Result<(), String> {
        for _ in 0..BATCH {
            let Some(received) = self.frames.receive(&mut self.buf).map_err(|e| format!("packet socket: {e}"))? else {
                break;
            };
            if !received.outgoing {
                let frame = self.buf[..received.len].to_vec();
                self.forward(&frame);
            }
        }
        Ok(())
    }

    /// One client frame: a Relay-Forward to the server, or a line saying why not.
    fn forward(&self, frame: &[u8]) {
        let datagram = match parse_frame(frame) {
            Ok(datagram) => datagram,
            Err(why) => return say(format_args!("ignored frame: {why}")),
        };
        let (mac, peer, message) = (mac_text(datagram.source_mac), datagram.source, datagram.payload);
        if datagram.destination != ALL_DHCP_RELAY_AGENTS_AND_SERVERS {
            return say(format_args!("ignored datagram from {mac} {peer} to {}: not ff02::1:2", datagram.destination));
        }
        let kind = message.first().copied().unwrap_or(0);
        let nested = kind == RELAY_FORW;
        if !(CLIENT_MESSAGES.contains(&kind) || nested) {
            return say(format_args!("ignored {} from {mac} {peer}: no client message", message_name(kind)));
        }
        if nested && message.get(1).is_none_or(|&hops| hops >= HOP_COUNT_LIMIT) {
            return say(format_args!("ignored RELAY-FORW from {mac} {peer}: hop count limit or truncated"));
        }
        let packet = self.options.agent.relay_forward(peer, datagram.source_mac, message);
        match self.upstream.send_to(&packet, self.server) {
            Ok(_) => say(format_args!(
                "relay-forw {} {}from {mac} {peer} ({} bytes to {})",
                message_name(kind),
                Xid(message),
                packet.len(),
                self.server
            )),
            Err(e) => say(format_args!("relay-forw {} from {mac} {peer} failed: {e}", message_name(kind))),
        }
    }

    fn take_server_answers(&mut self) {
        for _ in 0..BATCH {
            match self.upstream.recv_from(&mut self.buf) {
                Ok((n, from)) => {
                    let packet = self.buf[..n].to_vec();
                    self.deliver(&packet, from);
                }
                Err(e) if matches!(e.kind(), io::ErrorKind::WouldBlock | io::ErrorKind::Interrupted) => break,
                // ICMP errors for earlier datagrams (e.g. Kea not up yet) must not stop the router.
                Err(e) => say(format_args!("upstream receive: {e}")),
            }
        }
    }

    /// One datagram from the server side: the message inside a Relay-Reply goes to its peer, or a line says why not.
    fn deliver(&self, packet: &[u8], from: SocketAddr) {
        if from.ip() != std::net::IpAddr::V6(self.options.server) {
            return say(format_args!("ignored {} bytes from {from}: not the server", packet.len()));
        }
        let layer = match relay::parse_relay_reply(packet) {
            Ok(layer) => layer,
            Err(why) => return say(format_args!("ignored answer from {from}: {why}")),
        };
        let ours = &self.options.agent.interface_id;
        // The hop count is the one of the Relay-Forward answered (RFC 8415 §19.3): not checked.
        if layer.interface_id.is_some_and(|id| id != ours.as_slice()) {
            return say(format_args!(
                "ignored RELAY-REPL for interface-id {:?}: not this router's",
                layer.interface_id.map(String::from_utf8_lossy)
            ));
        }
        let message = layer.message;
        let kind = message.first().copied().unwrap_or(0);
        // A Relay-Reply inside goes to the relay below us (port 547), anything else to the client.
        let port = if kind == RELAY_REPL { DHCP6_SERVER_PORT } else { DHCP6_CLIENT_PORT };
        let peer = layer.peer_address;
        let scope = if is_link_local(peer) { self.client_index } else { 0 };
        match self.downstream.send_to(message, SocketAddrV6::new(peer, port, 0, scope)) {
            Ok(_) => say(format_args!(
                "relay-repl {} {}to {peer} port {port}{}",
                message_name(kind),
                Xid(message),
                prefix_summary(message)
            )),
            Err(e) => say(format_args!("relay-repl {} to {peer} failed: {e}", message_name(kind))),
        }
    }
}

/// `xid 1a2b3c ` of a client or server message, or of the one inside a relay message.
struct Xid<'a>(&'a [u8]);

impl fmt::Display for Xid<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match relay::innermost(self.0).ok().and_then(relay::transaction_id) {
            Some([a, b, c]) => write!(f, "xid {a:02x}{b:02x}{c:02x} "),
            None => Ok(()),
        }
    }
}

/// `: 2a00:f10:500:1170::/60 300/600, status 6 "…"`: what the server's message (inside any relay layers)
/// delegates, for the log.
fn prefix_summary(message: &[u8]) -> String {
    let Ok(message) = relay::innermost(message) else { return ": (malformed relay message)".to_string() };
    const OPT_STATUS_CODE: u16 = 13;
    const OPT_IA_PD: u16 = 25;
    const OPT_IAPREFIX: u16 = 26;
    let status = |data: &[u8]| match data {
        [a, b, text @ ..] => format!("status {} {:?}", u16::from_be_bytes([*a, *b]), String::from_utf8_lossy(text)),
        _ => "status (malformed)".to_string(),
    };
    let mut parts = Vec::new();
    let Ok(top) = relay::options(message.get(4..).unwrap_or_default()) else {
        return ": (malformed options)".to_string();
    };
    for (code, data) in top {
        match code {
            OPT_STATUS_CODE => parts.push(status(data)),
            OPT_IA_PD if data.len() >= 12 => {
                for (inner, value) in relay::options(&data[12..]).unwrap_or_default() {
                    match inner {
                        OPT_IAPREFIX if value.len() >= 25 => {
                            let mut prefix = [0u8; 16];
                            prefix.copy_from_slice(&value[9..25]);
                            let number = |at: usize| {
                                u32::from_be_bytes([value[at], value[at + 1], value[at + 2], value[at + 3]])
                            };
                            parts.push(format!("{}/{} {}/{}", Ipv6Addr::from(prefix), value[8], number(0), number(4)));
                        }
                        OPT_STATUS_CODE => parts.push(format!("IA_PD {}", status(value))),
                        _ => {}
                    }
                }
            }
            _ => {}
        }
    }
    if parts.is_empty() {
        String::new()
    } else {
        format!(": {}", parts.join(", "))
    }
}

fn is_link_local(address: Ipv6Addr) -> bool {
    address.segments()[0] & 0xffc0 == 0xfe80
}

/// One line on stdout, flushed at once: the test reading it may be waiting for exactly this line.
fn say(line: fmt::Arguments<'_>) {
    let mut out = io::stdout().lock();
    let _ = writeln!(out, "{line}");
    let _ = out.flush();
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_log_shows_what_a_reply_delegates() {
        let mut reply = vec![7, 0x1a, 0x2b, 0x3c];
        let mut ia_pd = vec![0, 0, 0, 1, 0, 0, 0, 150, 0, 0, 0, 240];
        let mut iaprefix = vec![0, 0, 1, 44, 0, 0, 2, 88, 60];
        iaprefix.extend_from_slice(&"2a00:f10:500:1170::".parse::<Ipv6Addr>().unwrap().octets());
        relay::push_option(&mut ia_pd, 26, &iaprefix);
        relay::push_option(&mut reply, 25, &ia_pd);
        assert_eq!(prefix_summary(&reply), ": 2a00:f10:500:1170::/60 300/600");
        assert_eq!(Xid(&reply).to_string(), "xid 1a2b3c ");
        relay::push_option(&mut reply, 13, b"\0\x06none left");
        assert_eq!(prefix_summary(&reply), ": 2a00:f10:500:1170::/60 300/600, status 6 \"none left\"");
        assert_eq!(prefix_summary(&[7, 0, 0, 1, 0, 25]), ": (malformed options)");
        assert_eq!(Xid(&[RELAY_REPL, 0, 0, 0]).to_string(), "");
        let mut nested = vec![RELAY_REPL, 0];
        nested.extend_from_slice(&[0; 32]);
        relay::push_option(&mut nested, 9, &reply);
        assert_eq!(Xid(&nested).to_string(), "xid 1a2b3c ");
        assert_eq!(prefix_summary(&nested), prefix_summary(&reply));
    }

    #[test]
    fn link_local_peers_need_the_client_links_scope() {
        assert!(is_link_local("fe80::ff:fe00:117".parse().unwrap()));
        assert!(!is_link_local("fd00:4b43::1".parse().unwrap()));
        assert!(!is_link_local("fec0::1".parse().unwrap()));
    }
}
