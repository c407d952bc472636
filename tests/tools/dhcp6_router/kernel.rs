//! What the router asks of the kernel beyond std: a packet socket on the client link (frames with their
//! Ethernet header, filtered in the kernel to IPv6/UDP port 547), poll(2), interface indexes and SIGTERM.
//! The only `unsafe` of this tool lives here.
use std::ffi::CString;
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::sync::atomic::{AtomicI32, Ordering};
use std::time::Duration;

use crate::frame::{
    DHCP6_SERVER_PORT, ETHERTYPE_IPV6, NEXT_HEADER_UDP, OFFSET_ETHERTYPE, OFFSET_NEXT_HEADER,
    OFFSET_UDP_DESTINATION_PORT,
};

/// The Ethernet group of ff02::1:2 (RFC 2464 §7).
const ALL_DHCP_AGENTS_MAC: [u8; 6] = [0x33, 0x33, 0x00, 0x01, 0x00, 0x02];

// Classic BPF opcodes (linux/filter.h).
const BPF_LD_H_ABS: u16 = 0x28;
const BPF_LD_B_ABS: u16 = 0x30;
const BPF_JEQ_K: u16 = 0x15;
const BPF_RET_K: u16 = 0x06;

/// The kernel filter: IPv6, next header UDP, destination port 547; everything else never wakes the router.
fn server_port_filter() -> [libc::sock_filter; 8] {
    let op = |code, jt, jf, k| libc::sock_filter { code, jt, jf, k };
    [
        op(BPF_LD_H_ABS, 0, 0, OFFSET_ETHERTYPE),
        op(BPF_JEQ_K, 0, 5, u32::from(ETHERTYPE_IPV6)),
        op(BPF_LD_B_ABS, 0, 0, OFFSET_NEXT_HEADER),
        op(BPF_JEQ_K, 0, 3, u32::from(NEXT_HEADER_UDP)),
        op(BPF_LD_H_ABS, 0, 0, OFFSET_UDP_DESTINATION_PORT),
        op(BPF_JEQ_K, 0, 1, u32::from(DHCP6_SERVER_PORT)),
        op(BPF_RET_K, 0, 0, 0x0004_0000), // accept, whole frame
        op(BPF_RET_K, 0, 0, 0),           // drop
    ]
}

/// An AF_PACKET socket bound to one interface that sees every client frame to UDP port 547 (the kernel's UDP
/// layer is not involved: no socket on port 547 of the client link is needed).
pub struct PacketSocket {
    fd: OwnedFd,
}

/// One frame off the link.
pub struct Received {
    pub len: usize,
    /// The router's own frame going out (packet sockets see those too).
    pub outgoing: bool,
}

impl PacketSocket {
    /// Opens the socket on interface `index`, filter attached before it is bound (so no unfiltered frame gets
    /// queued), and joins 33:33:00:01:00:02 so a NIC that filters multicast passes the clients' frames.
    pub fn open(index: u32) -> io::Result<PacketSocket> {
        // SAFETY: socket(2) with constant arguments; the result is checked before use.
        let raw =
            unsafe { libc::socket(libc::AF_PACKET, libc::SOCK_RAW | libc::SOCK_NONBLOCK | libc::SOCK_CLOEXEC, 0) };
        if raw < 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: `raw` is a fresh descriptor nobody else owns.
        let socket = PacketSocket { fd: unsafe { OwnedFd::from_raw_fd(raw) } };

        let filter = server_port_filter();
        let program = libc::sock_fprog { len: filter.len() as u16, filter: filter.as_ptr().cast_mut() };
        socket.set_option(libc::SOL_SOCKET, libc::SO_ATTACH_FILTER, &program)?;

        let ifindex = i32::try_from(index).map_err(|_| io::Error::other("interface index out of range"))?;
        // SAFETY: sockaddr_ll is plain data; all-zero is a valid value.
        let mut address: libc::sockaddr_ll = unsafe { std::mem::zeroed() };
        address.sll_family = libc::AF_PACKET as u16;
        address.sll_protocol = ETHERTYPE_IPV6.to_be();
        address.sll_ifindex = ifindex;
        // SAFETY: `address` is a valid sockaddr_ll and its size is passed.
        let bound = unsafe {
            libc::bind(
                socket.fd.as_raw_fd(),
                (&address as *const libc::sockaddr_ll).cast(),
                std::mem::size_of::<libc::sockaddr_ll>() as libc::socklen_t,
            )
        };
        if bound < 0 {
            return Err(io::Error::last_os_error());
        }

        // SAFETY: packet_mreq is plain data; all-zero is a valid value.
        let mut membership: libc::packet_mreq = unsafe { std::mem::zeroed() };
        membership.mr_ifindex = ifindex;
        membership.mr_type = libc::PACKET_MR_MULTICAST as u16;
        membership.mr_alen = 6;
        membership.mr_address[..6].copy_from_slice(&ALL_DHCP_AGENTS_MAC);
        socket.set_option(libc::SOL_PACKET, libc::PACKET_ADD_MEMBERSHIP, &membership)?;
        Ok(socket)
    }

    /// The next frame, Ethernet header first; `None` when none is waiting.
    pub fn receive(&self, buf: &mut [u8]) -> io::Result<Option<Received>> {
        // SAFETY: sockaddr_ll is plain data; all-zero is a valid value.
        let mut from: libc::sockaddr_ll = unsafe { std::mem::zeroed() };
        let mut from_len = std::mem::size_of::<libc::sockaddr_ll>() as libc::socklen_t;
        // SAFETY: `buf` and `from` are valid for writes of the sizes passed.
        let n = unsafe {
            libc::recvfrom(
                self.fd.as_raw_fd(),
                buf.as_mut_ptr().cast(),
                buf.len(),
                libc::MSG_TRUNC,
                (&mut from as *mut libc::sockaddr_ll).cast(),
                &mut from_len,
            )
        };
        if n < 0 {
            let error = io::Error::last_os_error();
            return match error.kind() {
                io::ErrorKind::WouldBlock | io::ErrorKind::Interrupted => Ok(None),
                _ => Err(error),
            };
        }
        let len = n as usize;
        if len > buf.len() {
            return Err(io::Error::other(format!("a {len}-byte frame does not fit the {}-byte buffer", buf.len())));
        }
        Ok(Some(Received { len, outgoing: from.sll_pkttype == libc::PACKET_OUTGOING }))
    }

    fn set_option<T>(&self, level: libc::c_int, name: libc::c_int, value: &T) -> io::Result<()> {
        // SAFETY: `value` points to a live T and its size is passed; the kernel only reads it.
        let done = unsafe {
            libc::setsockopt(
                self.fd.as_raw_fd(),
                level,
                name,
                (value as *const T).cast(),
                std::mem::size_of::<T>() as libc::socklen_t,
            )
        };
        if done < 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(())
    }
}

impl AsRawFd for PacketSocket {
    fn as_raw_fd(&self) -> RawFd {
        self.fd.as_raw_fd()
    }
}

/// The index of interface `name` in this network namespace.
pub fn interface_index(name: &str) -> io::Result<u32> {
    let c_name = CString::new(name).map_err(|_| io::Error::other("an interface name has no NUL byte"))?;
    // SAFETY: `c_name` is a valid NUL-terminated string.
    let index = unsafe { libc::if_nametoindex(c_name.as_ptr()) };
    if index == 0 {
        return Err(io::Error::new(io::ErrorKind::NotFound, format!("no interface '{name}' in this namespace")));
    }
    Ok(index)
}

/// Waits until one of `fds` is readable or `timeout` passes; which ones are readable (none on a signal).
pub fn wait_readable<const N: usize>(fds: [RawFd; N], timeout: Duration) -> io::Result<[bool; N]> {
    let mut polled = fds.map(|fd| libc::pollfd { fd, events: libc::POLLIN, revents: 0 });
    let millis = libc::c_int::try_from(timeout.as_millis()).unwrap_or(libc::c_int::MAX);
    // SAFETY: `polled` is a valid array of N pollfd.
    let n = unsafe { libc::poll(polled.as_mut_ptr(), N as libc::nfds_t, millis) };
    if n < 0 {
        let error = io::Error::last_os_error();
        return if error.kind() == io::ErrorKind::Interrupted { Ok([false; N]) } else { Err(error) };
    }
    Ok(polled.map(|p| p.revents & (libc::POLLIN | libc::POLLERR | libc::POLLHUP) != 0))
}

static STOP_SIGNAL: AtomicI32 = AtomicI32::new(0);

extern "C" fn remember_signal(signal: libc::c_int) {
    STOP_SIGNAL.store(signal, Ordering::Relaxed);
}

/// From now on SIGTERM and SIGINT only ask the router to stop; `stop_signal` tells whether one came.
pub fn catch_stop_signals() -> io::Result<()> {
    for signal in [libc::SIGTERM, libc::SIGINT] {
        // SAFETY: sigaction is plain data; the handler only stores to an atomic (async-signal-safe).
        let done = unsafe {
            let mut action: libc::sigaction = std::mem::zeroed();
            action.sa_sigaction = remember_signal as extern "C" fn(libc::c_int) as libc::sighandler_t;
            libc::sigemptyset(&mut action.sa_mask);
            libc::sigaction(signal, &action, std::ptr::null_mut())
        };
        if done < 0 {
            return Err(io::Error::last_os_error());
        }
    }
    Ok(())
}

/// The stop signal received, if any.
pub fn stop_signal() -> Option<i32> {
    match STOP_SIGNAL.load(Ordering::Relaxed) {
        0 => None,
        signal => Some(signal),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_filter_jump_lands_on_the_drop_or_the_next_test() {
        let filter = server_port_filter();
        let drop_at = filter.len() - 1;
        assert_eq!((filter[drop_at].code, filter[drop_at].k), (BPF_RET_K, 0));
        for (i, op) in filter.iter().enumerate().filter(|(_, op)| op.code == BPF_JEQ_K) {
            assert_eq!(i + 1 + usize::from(op.jf), drop_at, "instruction {i} drops on mismatch");
            assert_eq!(op.jt, 0, "instruction {i} goes on on match");
        }
    }
}
