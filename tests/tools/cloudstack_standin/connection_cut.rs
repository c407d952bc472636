//! Socket calls neither tiny_http nor std has an API for: closing one client connection mid-request, turning
//! Nagle's algorithm off for every connection (accepted sockets inherit it from the listener), and sizing and
//! reading a listener's accept queue (the blackhole fault fills it).
//!
//! The `refuse` and `truncate` faults must leave the client with a connection that ends without a (complete)
//! answer. tiny_http keeps each connection's socket to itself, so the socket is found the way `ss -p` would find
//! it: among this process's file descriptors, the TCP socket whose local port is ours and whose peer is the
//! request's peer. `shutdown(2)` on it sends FIN; tiny_http then sees end-of-stream and drops the connection.
//! All of this crate's `unsafe` lives here.

use std::mem;
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr, SocketAddrV4, SocketAddrV6};

/// Sets TCP_NODELAY on `listener`; Linux hands it on to every connection it accepts.
pub fn no_delay(listener: &std::net::TcpListener) -> std::io::Result<()> {
    use std::os::fd::AsRawFd;
    let on: libc::c_int = 1;
    // SAFETY: the descriptor is the listener's own and open; setsockopt reads `on` (an int of the
    // size given) and writes nothing to our memory.
    let rc = unsafe {
        libc::setsockopt(
            listener.as_raw_fd(),
            libc::IPPROTO_TCP,
            libc::TCP_NODELAY,
            (&on as *const libc::c_int).cast(),
            mem::size_of::<libc::c_int>() as libc::socklen_t,
        )
    };
    if rc == 0 { Ok(()) } else { Err(std::io::Error::last_os_error()) }
}

/// Sets how many connections `listener`'s accept queue holds beyond the first (listen(2) on a socket that already
/// listens only changes that).
pub fn set_backlog(listener: &std::net::TcpListener, backlog: libc::c_int) -> std::io::Result<()> {
    use std::os::fd::AsRawFd;
    // SAFETY: the descriptor is the listener's own and open; listen(2) touches no memory of ours.
    let rc = unsafe { libc::listen(listener.as_raw_fd(), backlog) };
    if rc == 0 { Ok(()) } else { Err(std::io::Error::last_os_error()) }
}

/// The connections waiting in `listener`'s accept queue and the most it holds before the kernel drops SYNs:
/// TCP_INFO on a listening socket reports them as `tcpi_unacked` and `tcpi_sacked`.
pub fn accept_queue(listener: &std::net::TcpListener) -> std::io::Result<(u32, u32)> {
    use std::os::fd::AsRawFd;
    // SAFETY: tcp_info is plain old data; all-zero bytes are a valid value.
    let mut info: libc::tcp_info = unsafe { mem::zeroed() };
    let mut length = mem::size_of::<libc::tcp_info>() as libc::socklen_t;
    // SAFETY: the descriptor is the listener's own and open; the kernel writes at most `length` bytes into `info`,
    // a live local of that size.
    let rc = unsafe {
        libc::getsockopt(
            listener.as_raw_fd(),
            libc::IPPROTO_TCP,
            libc::TCP_INFO,
            (&mut info as *mut libc::tcp_info).cast(),
            &mut length,
        )
    };
    if rc == 0 { Ok((info.tcpi_unacked, info.tcpi_sacked)) } else { Err(std::io::Error::last_os_error()) }
}

/// Shuts down the server-side socket connected to `peer` on `local_port`; `false` if none was found.
pub fn cut(peer: SocketAddr, local_port: u16) -> bool {
    let Ok(entries) = std::fs::read_dir("/proc/self/fd") else {
        return false;
    };
    for entry in entries.flatten() {
        let Some(fd) = entry.file_name().to_str().and_then(|name| name.parse::<libc::c_int>().ok()) else {
            continue;
        };
        // Both ends must match: in a test process the client's own socket has the same pair the other way round.
        // Flow labels and scope ids are left out of the comparison: accept(2) and getpeername(2) may differ there.
        let is_it = address_of(fd, libc::getpeername).is_some_and(|p| p.ip() == peer.ip() && p.port() == peer.port())
            && address_of(fd, libc::getsockname).is_some_and(|local| local.port() == local_port);
        if is_it {
            // SAFETY: `fd` is an open descriptor of this process (just listed and queried); shutdown(2) only
            // changes the state of the connection, never memory, and the descriptor stays owned by tiny_http.
            unsafe { libc::shutdown(fd, libc::SHUT_RDWR) };
            return true;
        }
    }
    false
}

/// The signature shared by getsockname(2) and getpeername(2).
type AddressQuery = unsafe extern "C" fn(libc::c_int, *mut libc::sockaddr, *mut libc::socklen_t) -> libc::c_int;

/// The IP address `query` reports for `fd`, or `None` for anything that is not an IPv4/IPv6 socket.
fn address_of(fd: libc::c_int, query: AddressQuery) -> Option<SocketAddr> {
    // SAFETY: sockaddr_storage is plain old data; all-zero bytes are a valid (unspecified-family) value.
    let mut storage: libc::sockaddr_storage = unsafe { mem::zeroed() };
    let mut length = mem::size_of::<libc::sockaddr_storage>() as libc::socklen_t;
    // SAFETY: the pointers refer to live locals of the sizes passed; the kernel writes at most `length` bytes.
    // A descriptor that is not a socket (or was closed meanwhile) makes the call fail, which is handled.
    let rc = unsafe { query(fd, (&mut storage as *mut libc::sockaddr_storage).cast(), &mut length) };
    if rc != 0 {
        return None;
    }
    match libc::c_int::from(storage.ss_family) {
        libc::AF_INET6 => {
            // SAFETY: the family says the storage holds a sockaddr_in6, which fits in sockaddr_storage.
            let v6: libc::sockaddr_in6 = unsafe { *(&storage as *const libc::sockaddr_storage).cast() };
            Some(SocketAddr::V6(SocketAddrV6::new(
                Ipv6Addr::from(v6.sin6_addr.s6_addr),
                u16::from_be(v6.sin6_port),
                u32::from_be(v6.sin6_flowinfo),
                v6.sin6_scope_id,
            )))
        }
        libc::AF_INET => {
            // SAFETY: the family says the storage holds a sockaddr_in, which fits in sockaddr_storage.
            let v4: libc::sockaddr_in = unsafe { *(&storage as *const libc::sockaddr_storage).cast() };
            Some(SocketAddr::V4(SocketAddrV4::new(
                Ipv4Addr::from(u32::from_be(v4.sin_addr.s_addr)),
                u16::from_be(v4.sin_port),
            )))
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read;
    use std::net::{TcpListener, TcpStream};

    #[test]
    fn the_client_sees_end_of_stream_after_a_cut() {
        let listener = TcpListener::bind("[::1]:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let mut client = TcpStream::connect(listener.local_addr().unwrap()).unwrap();
        let (_server_side, peer) = listener.accept().unwrap();
        assert!(cut(peer, port));
        let mut buffer = [0u8; 16];
        assert_eq!(client.read(&mut buffer).unwrap(), 0, "the client reads end-of-stream");
        assert!(!cut("[::1]:9".parse().unwrap(), port), "no such connection");
    }
}
