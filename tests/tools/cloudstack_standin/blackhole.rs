//! The `--blackhole-listen` address: a second way to the API that the `blackhole-connect` fault turns into a black
//! hole, while the main address, and `/control/` with it, keeps answering.
//!
//! While open, every connection to it is forwarded byte for byte to the main address. Closing it:
//! - stops accepting, shrinks the accept queue to its smallest and fills it with connections of its own. Linux drops
//!   a SYN that finds a listener's accept queue full (no SYN-ACK, no RST; `nstat` counts a ListenOverflow), so a
//!   client's connect is never answered and its kernel retries the SYN until the client's own timeout.
//!   `net.ipv4.tcp_abort_on_overflow` does not change that: it only decides whether a handshake whose last ACK finds
//!   the queue full gets a RST (1) or is dropped (0, the default);
//! - stops forwarding on connections already made: they go silent both ways, as behind a dead link.
//!
//! Opening it accepts again (its own connections are recognised and dropped) and lets the held bytes through; a
//! client still retrying its SYN gets in at its next retry.

use std::collections::HashSet;
use std::io::{self, Read, Write};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::Arc;
use std::thread;
use std::time::Duration;

use parking_lot::{Condvar, Mutex};

use crate::connection_cut;

/// The accept queue while open (what std gives every listener).
const OPEN_BACKLOG: libc::c_int = 128;
/// The accept queue while closed: Linux counts it full once it holds more than this, here two connections.
const CLOSED_BACKLOG: libc::c_int = 1;
/// Connections of its own `close` makes at most to fill the queue (two are needed; a spare for a lost race).
const MOST_FILLERS: usize = 4;

/// The second listener and its gate; shared by the accept thread, the forwarding threads and `/control/`.
pub struct Blackhole {
    listener: TcpListener,
    /// Where connections to the listener are made from inside (a loopback address when it listens on all).
    address: SocketAddr,
    /// The main address, where connections are forwarded.
    upstream: SocketAddr,
    gate: Mutex<Gate>,
    changed: Condvar,
}

#[derive(Default)]
struct Gate {
    closed: bool,
    /// The accept thread is waiting for the gate to open, not inside accept(2).
    accept_parked: bool,
    /// The client ends of our own connections into the queue, kept open while closed.
    own: Vec<TcpStream>,
    /// Their addresses (IP and port: accept(2) may report another flow label), so the accept thread drops them.
    own_addresses: HashSet<(IpAddr, u16)>,
}

/// `address`, with an unspecified IP replaced by the loopback address of its family (where to connect to reach it).
fn reachable(address: SocketAddr) -> SocketAddr {
    match address.ip() {
        IpAddr::V4(ip) if ip.is_unspecified() => SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), address.port()),
        IpAddr::V6(ip) if ip.is_unspecified() => SocketAddr::new(IpAddr::V6(Ipv6Addr::LOCALHOST), address.port()),
        _ => address,
    }
}

impl Blackhole {
    /// Listens on `listen`, open, forwarding to `upstream`.
    pub fn start(listen: SocketAddr, upstream: SocketAddr) -> Result<Arc<Blackhole>, String> {
        let listener = TcpListener::bind(listen).map_err(|e| format!("cannot listen on {listen}: {e}"))?;
        let address = listener.local_addr().map_err(|e| format!("no address for {listen}: {e}"))?;
        let blackhole = Arc::new(Blackhole {
            listener,
            address: reachable(address),
            upstream: reachable(upstream),
            gate: Mutex::new(Gate::default()),
            changed: Condvar::new(),
        });
        let accepting = Arc::clone(&blackhole);
        thread::spawn(move || accepting.accept_loop());
        Ok(blackhole)
    }

    /// The address it listens on (the real port when port 0 was asked for).
    pub fn address(&self) -> SocketAddr {
        self.address
    }

    /// Turns it into a black hole; returns once a connect to it can no longer succeed.
    pub fn close(&self) -> io::Result<()> {
        let mut gate = self.gate.lock();
        if gate.closed {
            return Ok(());
        }
        gate.closed = true;
        if !gate.accept_parked {
            // The accept thread may sit in accept(2): a connection of our own brings it out to see the gate closed.
            // Made under the lock, so the thread cannot mistake it for a client.
            Self::own_connection(&mut gate, self.address)?;
            while !gate.accept_parked {
                if self.changed.wait_for(&mut gate, Duration::from_secs(5)).timed_out() {
                    return Err(io::Error::other("the accept thread did not stop accepting"));
                }
            }
        }
        connection_cut::set_backlog(&self.listener, CLOSED_BACKLOG)?;
        for _ in 0..MOST_FILLERS {
            let (waiting, most) = connection_cut::accept_queue(&self.listener)?;
            if waiting > most {
                return Ok(());
            }
            // A connect that fails here found the queue filled meanwhile; the next check sees it.
            let _ = Self::own_connection(&mut gate, self.address);
        }
        match connection_cut::accept_queue(&self.listener)? {
            (waiting, most) if waiting > most => Ok(()),
            (waiting, most) => {
                Err(io::Error::other(format!("accept queue not full: {waiting} waiting, {most} at most")))
            }
        }
    }

    /// Makes it answer again.
    pub fn open(&self) -> io::Result<()> {
        let mut gate = self.gate.lock();
        if !gate.closed {
            return Ok(());
        }
        connection_cut::set_backlog(&self.listener, OPEN_BACKLOG)?;
        gate.closed = false;
        // Their server ends stay queued until the accept thread takes them off and drops them.
        gate.own.clear();
        self.changed.notify_all();
        Ok(())
    }

    fn own_connection(gate: &mut Gate, address: SocketAddr) -> io::Result<()> {
        let stream = TcpStream::connect_timeout(&address, Duration::from_secs(1))?;
        let local = stream.local_addr()?;
        gate.own_addresses.insert((local.ip(), local.port()));
        gate.own.push(stream);
        Ok(())
    }

    fn accept_loop(self: Arc<Self>) {
        loop {
            {
                let mut gate = self.gate.lock();
                while gate.closed {
                    gate.accept_parked = true;
                    self.changed.notify_all();
                    self.changed.wait(&mut gate);
                }
                gate.accept_parked = false;
            }
            let (client, peer) = match self.listener.accept() {
                Ok(accepted) => accepted,
                Err(error) => {
                    // Out of descriptors or the like: not this thread's to fix; try again a little later.
                    eprintln!("cloudstack-standin: blackhole accept failed: {error}");
                    thread::sleep(Duration::from_millis(100));
                    continue;
                }
            };
            if self.gate.lock().own_addresses.remove(&(peer.ip(), peer.port())) {
                continue;
            }
            // A client accepted just as the gate closed is forwarded too: its bytes wait at the gate.
            let forwarding = Arc::clone(&self);
            thread::spawn(move || forwarding.forward(client));
        }
    }

    /// Carries one connection to the main address and back, through the gate.
    fn forward(self: Arc<Self>, client: TcpStream) {
        let Ok(upstream) = TcpStream::connect(self.upstream) else {
            return;
        };
        // Like the main listener: no Nagle delay on either leg.
        let _ = client.set_nodelay(true);
        let _ = upstream.set_nodelay(true);
        let (Ok(from_client), Ok(to_upstream)) = (client.try_clone(), upstream.try_clone()) else {
            return;
        };
        let requests = Arc::clone(&self);
        thread::spawn(move || {
            // The client's end of sending is passed on; the answer may still be on its way.
            let _ = requests.pass(from_client, &to_upstream);
            let _ = to_upstream.shutdown(Shutdown::Write);
        });
        // Once the API side ends, normally or cut by a fault, the client's connection ends with it.
        let _ = self.pass(upstream, &client);
        let _ = client.shutdown(Shutdown::Both);
    }

    /// Copies `from` to `to` until `from` ends, holding every chunk at the gate while it is closed.
    fn pass(&self, mut from: TcpStream, mut to: &TcpStream) -> io::Result<()> {
        let mut buffer = vec![0u8; 64 * 1024];
        loop {
            let read = from.read(&mut buffer)?;
            if read == 0 {
                return Ok(());
            }
            self.wait_until_open();
            to.write_all(&buffer[..read])?;
        }
    }

    fn wait_until_open(&self) {
        let mut gate = self.gate.lock();
        while gate.closed {
            self.changed.wait(&mut gate);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A listener standing in for the main address: answers every connection with one line, then closes.
    fn echo_upstream() -> SocketAddr {
        let listener = TcpListener::bind("[::1]:0").unwrap();
        let address = listener.local_addr().unwrap();
        thread::spawn(move || {
            for mut stream in listener.incoming().flatten() {
                let mut line = [0u8; 5];
                if stream.read_exact(&mut line).is_ok() {
                    let _ = stream.write_all(b"pong\n");
                }
            }
        });
        address
    }

    fn ping(address: SocketAddr) -> io::Result<String> {
        let mut stream = TcpStream::connect_timeout(&address, Duration::from_secs(1))?;
        stream.set_read_timeout(Some(Duration::from_secs(5)))?;
        stream.write_all(b"ping\n")?;
        let mut answer = String::new();
        stream.read_to_string(&mut answer)?;
        Ok(answer)
    }

    #[test]
    fn open_it_forwards_closed_a_connect_times_out_reopened_it_forwards_again() {
        let blackhole = Blackhole::start("[::1]:0".parse().unwrap(), echo_upstream()).unwrap();
        assert_eq!(ping(blackhole.address()).unwrap(), "pong\n");

        blackhole.close().unwrap();
        let error = TcpStream::connect_timeout(&blackhole.address(), Duration::from_secs(1)).unwrap_err();
        assert_eq!(error.kind(), io::ErrorKind::TimedOut, "no RST, no SYN-ACK: {error}");

        blackhole.open().unwrap();
        assert_eq!(ping(blackhole.address()).unwrap(), "pong\n");
        blackhole.close().unwrap();
        assert!(TcpStream::connect_timeout(&blackhole.address(), Duration::from_secs(1)).is_err(), "closes again");
    }

    #[test]
    fn a_connection_made_before_it_closed_goes_silent_until_it_opens() {
        let blackhole = Blackhole::start("[::1]:0".parse().unwrap(), echo_upstream()).unwrap();
        let mut stream = TcpStream::connect(blackhole.address()).unwrap();
        blackhole.close().unwrap();
        stream.write_all(b"ping\n").unwrap();
        stream.set_read_timeout(Some(Duration::from_secs(1))).unwrap();
        let mut byte = [0u8; 1];
        let silent = stream.read(&mut byte).unwrap_err();
        assert!(matches!(silent.kind(), io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut), "{silent}");

        blackhole.open().unwrap();
        stream.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        let mut answer = String::new();
        stream.read_to_string(&mut answer).unwrap();
        assert_eq!(answer, "pong\n", "the held request went through once open");
    }
}
