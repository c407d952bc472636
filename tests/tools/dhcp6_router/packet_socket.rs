//! The client-facing side of the router: a packet socket that hands over each IPv6 frame with
//! the Ethernet source address, as a router's forwarding plane knows it. The only `unsafe` of
//! this tool lives here.
use std::ffi::CString;
use std::io;

const ETH_P_IPV6: u16 = 0x86dd;

/// A bound AF_PACKET socket on one interface.
pub struct PacketSocket {
    fd: libc::c_int,
}

impl PacketSocket {
    /// Listen to IPv6 frames on `iface`; reads time out after `timeout_ms`.
    pub fn open(iface: &str, timeout_ms: i64) -> io::Result<(PacketSocket, u32)> {
        let name = CString::new(iface).map_err(|_| io::Error::other("interface name has a NUL"))?;
        // SAFETY: plain libc calls on values we own; the fd is closed in Drop.
        unsafe {
            let index = libc::if_nametoindex(name.as_ptr());
            if index == 0 {
                return Err(io::Error::last_os_error());
            }
            let fd = libc::socket(libc::AF_PACKET, libc::SOCK_DGRAM, i32::from(ETH_P_IPV6.to_be()));
            if fd < 0 {
                return Err(io::Error::last_os_error());
            }
            let socket = PacketSocket { fd };
            let mut address: libc::sockaddr_ll = std::mem::zeroed();
            address.sll_family = libc::AF_PACKET as u16;
            address.sll_protocol = ETH_P_IPV6.to_be();
            address.sll_ifindex = index as i32;
            let bound = libc::bind(
                fd,
                (&address as *const libc::sockaddr_ll).cast(),
                std::mem::size_of::<libc::sockaddr_ll>() as u32,
            );
            if bound < 0 {
                return Err(io::Error::last_os_error());
            }
            let timeout = libc::timeval { tv_sec: timeout_ms / 1000, tv_usec: (timeout_ms % 1000) * 1000 };
            libc::setsockopt(
                fd,
                libc::SOL_SOCKET,
                libc::SO_RCVTIMEO,
                (&timeout as *const libc::timeval).cast(),
                std::mem::size_of::<libc::timeval>() as u32,
            );
            Ok((socket, index))
        }
    }

    /// The next IPv6 packet received on the interface with its source MAC; None on timeout.
    pub fn receive(&self, buf: &mut [u8]) -> io::Result<Option<(usize, [u8; 6])>> {
        // SAFETY: buf and address are valid for writes of the given sizes.
        unsafe {
            let mut address: libc::sockaddr_ll = std::mem::zeroed();
            let mut length = std::mem::size_of::<libc::sockaddr_ll>() as u32;
            let n = libc::recvfrom(
                self.fd,
                buf.as_mut_ptr().cast(),
                buf.len(),
                0,
                (&mut address as *mut libc::sockaddr_ll).cast(),
                &mut length,
            );
            if n < 0 {
                let error = io::Error::last_os_error();
                return match error.kind() {
                    io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut | io::ErrorKind::Interrupted => Ok(None),
                    _ => Err(error),
                };
            }
            // Frames the router itself sends out show up too: only incoming ones count.
            if address.sll_pkttype == libc::PACKET_OUTGOING as u8 || address.sll_halen != 6 {
                return Ok(Some((0, [0; 6])));
            }
            let mut mac = [0u8; 6];
            mac.copy_from_slice(&address.sll_addr[..6]);
            Ok(Some((n as usize, mac)))
        }
    }
}

impl Drop for PacketSocket {
    fn drop(&mut self) {
        // SAFETY: fd is ours and closed once.
        unsafe { libc::close(self.fd) };
    }
}
