//! dhcp6-router: a DHCPv6 relay that behaves like a provider router, for the real dhclient.
//! It takes client messages off the client-facing interface (learning the MAC from the
//! frame), relays them to Kea with interface-id, link-address and the MAC as remote-id and/or
//! option 79, and hands Kea's answers back to the client. Bounded by --max-seconds.
//!
//! dhcp6-router --client-iface IF --server ADDR --source ADDR --link-address ADDR
//!              --interface-id STR --carrier remote-id-raw|remote-id-text|client-link-layer|both
//!              [--enterprise N] [--max-seconds N]
mod packet_socket;
mod relay_forward;

use packet_socket::PacketSocket;
use relay_forward::{client_message, mac_text, unwrap_reply, Carrier, RelayAgent};
use std::io::Write;
use std::net::{Ipv6Addr, SocketAddrV6, UdpSocket};
use std::process::ExitCode;
use std::time::{Duration, Instant};

struct Options {
    client_iface: String,
    server: Ipv6Addr,
    source: Ipv6Addr,
    agent: RelayAgent,
    max_seconds: u64,
}

fn parse_options() -> Result<Options, String> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let value = |name: &str| -> Option<String> { args.iter().position(|a| a == name).and_then(|i| args.get(i + 1)).cloned() };
    let required = |name: &str| value(name).ok_or_else(|| format!("{name} is required"));
    let address = |name: &str| -> Result<Ipv6Addr, String> {
        required(name)?.parse().map_err(|_| format!("{name} must be an IPv6 address"))
    };
    let carrier = required("--carrier")?;
    Ok(Options {
        client_iface: required("--client-iface")?,
        server: address("--server")?,
        source: address("--source")?,
        agent: RelayAgent {
            link_address: address("--link-address")?,
            interface_id: required("--interface-id")?.into_bytes(),
            carrier: Carrier::parse(&carrier).ok_or_else(|| format!("--carrier {carrier} is not known"))?,
            enterprise: value("--enterprise").map_or(Ok(2636), |e| e.parse().map_err(|_| "--enterprise must be a number".to_string()))?,
        },
        max_seconds: value("--max-seconds").map_or(Ok(600), |s| s.parse().map_err(|_| "--max-seconds must be a number".to_string()))?,
    })
}

fn main() -> ExitCode {
    let options = match parse_options() {
        Ok(options) => options,
        Err(error) => {
            eprintln!("dhcp6-router: {error}");
            return ExitCode::from(2);
        }
    };
    match run(&options) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("dhcp6-router: {error}");
            ExitCode::FAILURE
        }
    }
}

fn run(options: &Options) -> std::io::Result<()> {
    let (frames, client_index) = PacketSocket::open(&options.client_iface, 50)?;
    let upstream = UdpSocket::bind(SocketAddrV6::new(options.source, 547, 0, 0))?;
    upstream.set_read_timeout(Some(Duration::from_millis(50)))?;
    // Answers to clients leave from the router's own address on the client link.
    let downstream = UdpSocket::bind(SocketAddrV6::new(Ipv6Addr::UNSPECIFIED, 0, 0, 0))?;
    let server = SocketAddrV6::new(options.server, 547, 0, 0);
    let deadline = Instant::now() + Duration::from_secs(options.max_seconds);
    println!("relaying {} (index {client_index}) to {server}", options.client_iface);
    flush();
    let mut buf = vec![0u8; 65536];
    while Instant::now() < deadline {
        if let Some((n, mac)) = frames.receive(&mut buf)? {
            if let Some((peer, message)) = client_message(&buf[..n]) {
                upstream.send_to(&options.agent.wrap(peer, mac, message), server)?;
                println!("relay-forw type {} from {} {peer}", message[0], mac_text(mac));
                flush();
            }
        }
        loop {
            let n = match upstream.recv_from(&mut buf) {
                Ok((n, _)) => n,
                Err(e) if matches!(e.kind(), std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut) => break,
                Err(e) => return Err(e),
            };
            if let Some((peer, message)) = unwrap_reply(&buf[..n]) {
                downstream.send_to(message, SocketAddrV6::new(peer, 546, 0, client_index))?;
                println!("relay-repl type {} to {peer}", message.first().copied().unwrap_or(0));
                flush();
            }
            upstream.set_nonblocking(true)?;
        }
        upstream.set_nonblocking(false)?;
    }
    Ok(())
}

fn flush() {
    let _ = std::io::stdout().flush();
}
