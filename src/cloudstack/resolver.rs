//! Name resolution with a deadline. The system resolver (getaddrinfo) has none of its own that
//! the hook controls, and ureq 2 calls it on the sync thread: a DNS server that never answers
//! would hold a stopping hook for as long as libc retries.
use std::io;
use std::net::{SocketAddr, ToSocketAddrs};
use std::sync::mpsc;
use std::time::Duration;

/// Resolves on a helper thread and gives up after `timeout`. A helper that is still waiting then
/// ends on its own when getaddrinfo returns; it holds nothing but the name.
pub struct BoundedResolver {
    timeout: Duration,
}

impl BoundedResolver {
    /// A resolver that waits at most `timeout` per name.
    pub fn new(timeout: Duration) -> BoundedResolver {
        BoundedResolver { timeout }
    }
}

impl ureq::Resolver for BoundedResolver {
    fn resolve(&self, netloc: &str) -> io::Result<Vec<SocketAddr>> {
        // Literal addresses need no lookup (and no thread).
        if let Ok(address) = netloc.parse::<SocketAddr>() {
            return Ok(vec![address]);
        }
        let (sender, answer) = mpsc::channel();
        let name = netloc.to_string();
        std::thread::Builder::new()
            .name("cloudstack-dns".into())
            .spawn(move || {
                let _ = sender.send(name.to_socket_addrs().map(Iterator::collect));
            })?;
        answer.recv_timeout(self.timeout).unwrap_or_else(|_| {
            Err(io::Error::new(io::ErrorKind::TimedOut, format!("resolving {netloc} took longer than {:?}", self.timeout)))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ureq::Resolver;

    #[test]
    fn a_literal_address_is_its_own_answer() {
        let resolver = BoundedResolver::new(Duration::from_millis(1));
        assert_eq!(resolver.resolve("[fd00::2]:8080").unwrap(), vec!["[fd00::2]:8080".parse().unwrap()]);
    }

    #[test]
    fn a_name_resolves_on_the_helper_thread() {
        let resolver = BoundedResolver::new(Duration::from_secs(5));
        assert!(resolver.resolve("localhost:80").unwrap().iter().any(|a| a.ip().is_loopback()));
    }
}
