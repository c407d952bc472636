//! A relayed-load generator: plays the provider router for many MACs at once. Each worker
//! relays from an address of its own (as separate routers would) and runs full
//! Solicit→Advertise→Request→Reply exchanges; every run is bounded in count and in time.
use std::net::SocketAddrV6;
use std::time::{Duration, Instant};

use super::dhcp6::{Client, MacCarrier, Router};
use super::Lab;

/// What one load run measured, on the generator's own clock.
#[derive(Debug, Clone, Default)]
pub struct LoadResult {
    /// Exchanges that ended with a Reply carrying a prefix.
    pub exchanges: usize,
    /// Exchanges that got no answer or no prefix.
    pub failures: usize,
    pub seconds: f64,
    /// Microseconds per successful exchange (Solicit sent to Reply received).
    pub latencies_us: Vec<u64>,
}

impl LoadResult {
    /// Successful exchanges per second.
    pub fn rate(&self) -> f64 {
        self.exchanges as f64 / self.seconds.max(1e-9)
    }

    /// The p-th percentile latency in milliseconds (p in 0..=100).
    pub fn percentile_ms(&self, p: f64) -> f64 {
        if self.latencies_us.is_empty() {
            return f64::NAN;
        }
        let mut sorted = self.latencies_us.clone();
        sorted.sort_unstable();
        let rank = ((p / 100.0) * (sorted.len() - 1) as f64).round() as usize;
        sorted[rank] as f64 / 1000.0
    }
}

/// The bounds of one run.
#[derive(Debug, Clone, Copy)]
pub struct LoadBounds {
    pub workers: usize,
    pub max_exchanges: usize,
    pub max_time: Duration,
    /// Each worker starts an exchange at most once per `pace` (an offered load of
    /// workers / pace); None: as fast as answers come (a closed loop, Kea saturated).
    pub pace: Option<Duration>,
}

/// Run exchanges for `macs` (round-robin over the workers) through `interface_id`.
pub fn run_load(lab: &Lab, interface_id: &str, macs: &[[u8; 6]], bounds: LoadBounds) -> LoadResult {
    assert!(!macs.is_empty() && bounds.workers > 0);
    let server = SocketAddrV6::new(lab.kea_addr(), 547, 0, 0);
    let per_worker = bounds.max_exchanges.div_ceil(bounds.workers);
    let started = Instant::now();
    let deadline = started + bounds.max_time;
    let workers: Vec<_> = (0..bounds.workers)
        .map(|w| {
            let socket = lab.router_socket_at(100 + w as u16);
            let router = Router::new(socket, server, "2a00:f10:500::1".parse().unwrap(), interface_id.as_bytes(), MacCarrier::RemoteIdRaw { enterprise: 2636 })
                .with_timeout(Duration::from_millis(1000));
            let mine: Vec<[u8; 6]> = macs.iter().skip(w).step_by(bounds.workers).copied().collect();
            std::thread::spawn(move || {
                let mut result = LoadResult::default();
                // One client per MAC, the same in every run: a running VM keeps its DUID and IAID.
                let clients: Vec<Client> = mine.iter().map(|mac| Client::steady(*mac)).collect();
                let mut clients = clients.iter().cycle();
                // Workers start spread over one pace interval, not all at once.
                let mut next_start = Instant::now() + bounds.pace.map_or(Duration::ZERO, |p| p * w as u32 / bounds.workers as u32);
                for _ in 0..per_worker {
                    if let Some(pace) = bounds.pace {
                        std::thread::sleep(next_start.saturating_duration_since(Instant::now()));
                        next_start += pace;
                    }
                    if Instant::now() >= deadline {
                        break;
                    }
                    let client = clients.next().unwrap();
                    let begun = Instant::now();
                    match router.acquire(client) {
                        Ok(Some(reply)) if reply.prefixes.iter().any(|p| p.valid > 0) => {
                            result.exchanges += 1;
                            result.latencies_us.push(begun.elapsed().as_micros() as u64);
                        }
                        _ => result.failures += 1,
                    }
                }
                result
            })
        })
        .collect();
    let mut total = LoadResult::default();
    for worker in workers {
        let part = worker.join().expect("load worker");
        total.exchanges += part.exchanges;
        total.failures += part.failures;
        total.latencies_us.extend(part.latencies_us);
    }
    total.seconds = started.elapsed().as_secs_f64();
    total
}
