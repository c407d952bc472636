//! `cloudstack-standin`: a CloudStack API stand-in for testing the hook's client.
//!
//! It answers `listVirtualMachines` and `listEvents` at `/client/api` and checks every request the way CloudStack's
//! API server does (signature, expiry, paging, project rules), so a client that passes here also passes against a
//! real cloud. Tests shape the cloud (which writes CloudStack's events), read the requests seen and inject faults
//! through unsigned `/control/` endpoints (see `control.rs`); with `--latency` it answers as slowly as a real
//! management server (`latency.rs`). The first stdout line is always `listening on <address>`, followed by
//! `blackhole on <address>` with `--blackhole-listen`; it runs until killed.
//!
//! With `--tls-cert` and `--tls-key` it serves HTTPS, API and control endpoints alike, on the one listener.
//! TLS is tiny_http's own (`ssl-rustls` feature): tiny_http wraps the very sockets it accepts, so the client's
//! address stays the request's `remote_addr()` and the `refuse`/`truncate` faults still find and cut the client's
//! TCP connection (`connection_cut.rs`). A TLS proxy in front of a plain tiny_http would hide both behind its own
//! connection. The feature brings its own older rustls (0.20); that is test-only, and the hook's client keeps to
//! the rustls that ureq uses. The blackhole address forwards bytes as they are, TLS included.

mod api;
mod api_error;
mod blackhole;
mod calendar;
mod clock;
mod cloud;
mod connection_cut;
mod control;
mod control_events;
mod control_vms;
mod event_actions;
mod events;
mod fault;
mod held;
mod http;
mod latency;
mod list_events;
mod list_vms;
mod listing_fault;
mod lookup;
mod options;
mod paging;
mod request_log;
mod routes;
mod sample_cloud;
mod server_zone;
mod signature;
mod state;
mod timestamp;

#[cfg(test)]
mod event_stories;
#[cfg(test)]
mod latency_stories;
#[cfg(test)]
mod server_tests;
#[cfg(test)]
mod test_signer;
#[cfg(test)]
#[path = "../test_pki.rs"]
mod test_pki;

use std::io::Write;
use std::net::SocketAddr;
use std::panic::{self, AssertUnwindSafe};
use std::process::ExitCode;
use std::sync::Arc;
use std::thread::{self, JoinHandle};
use std::time::Instant;

use blackhole::Blackhole;
use cloud::Cloud;
use latency::{Latency, Pacer};
use options::{CloudSource, Options, TlsFiles, USAGE};
use server_zone::ServerZone;
use signature::Credentials;
use state::Standin;

/// Threads taking requests off tiny_http's queue. `hang` faults sleep on threads of their own, `accept-and-hang`
/// parks its requests in a list and the latency model in a timer queue, so these only ever do short work; several
/// of them keep one slow answer (a big `/control/cloud`) from stalling the rest.
const WORKERS: usize = 8;

/// A started stand-in.
pub struct Running {
    /// The address actually bound (the real port when port 0 was asked for).
    pub address: SocketAddr,
    /// The blackhole address actually bound, when one was asked for.
    pub blackhole: Option<SocketAddr>,
    workers: Vec<JoinHandle<()>>,
}

impl Running {
    /// Blocks for as long as the server runs, which is until the process is killed.
    pub fn wait(self) {
        for worker in self.workers {
            let _ = worker.join();
        }
    }
}

/// How the API behaves, fixed for a stand-in's life.
pub struct Settings {
    /// The one key pair requests must be signed with.
    pub credentials: Credentials,
    /// The server's `default.page.size`.
    pub default_page_size: u32,
    /// The server's time zone.
    pub zone: ServerZone,
    /// How slowly the API answers.
    pub latency: Latency,
}

/// Binds `listen` (and `blackhole_listen`) and starts the worker threads serving `cloud`, over HTTPS when `tls`
/// is given.
pub fn start(
    listen: SocketAddr,
    blackhole_listen: Option<SocketAddr>,
    settings: Settings,
    cloud: Cloud,
    tls: Option<tiny_http::SslConfig>,
) -> Result<Running, String> {
    let listener = std::net::TcpListener::bind(listen).map_err(|e| format!("cannot listen on {listen}: {e}"))?;
    // CloudStack's Jetty accepts with TCP_NODELAY; without it the last chunk of every page waits
    // for the client's delayed ACK (about 40 ms a page), which no real CloudStack costs.
    connection_cut::no_delay(&listener).map_err(|e| format!("cannot set TCP_NODELAY on {listen}: {e}"))?;
    let server = tiny_http::Server::from_listener(listener, tls).map_err(|e| format!("cannot serve on {listen}: {e}"))?;
    let address = server.server_addr().to_ip().ok_or("the server did not report an IP address")?;
    let mut standin = Standin::new(settings.credentials, settings.default_page_size, cloud, address.port());
    standin.zone = settings.zone;
    standin.pacer = Pacer::new(settings.latency);
    standin.blackhole = blackhole_listen.map(|listen| Blackhole::start(listen, address)).transpose()?;
    let blackhole = standin.blackhole.as_ref().map(|blackhole| blackhole.address());
    let standin = Arc::new(standin);
    let server = Arc::new(server);
    let workers = (0..WORKERS)
        .map(|_| {
            let (server, standin) = (Arc::clone(&server), Arc::clone(&standin));
            thread::spawn(move || {
                while let Ok(request) = server.recv() {
                    // A bug in one handler must not take a worker down with it; tiny_http answers 500 for the
                    // dropped request and the panic message goes to stderr.
                    let _ = panic::catch_unwind(AssertUnwindSafe(|| routes::route(&standin, request)));
                }
            })
        })
        .collect();
    Ok(Running { address, blackhole, workers })
}

fn load_cloud(source: &CloudSource) -> Result<Cloud, String> {
    match source {
        CloudSource::Empty => Ok(Cloud::default()),
        CloudSource::File(path) => {
            let text = std::fs::read_to_string(path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
            Cloud::from_json(&text).map_err(|e| format!("{}: {e}", path.display()))
        }
        CloudSource::Sample(count) => {
            let began = Instant::now();
            let cloud = sample_cloud::generate(*count);
            eprintln!("cloudstack-standin: sample cloud of {count} VMs generated in {:.2?}", began.elapsed());
            Ok(cloud)
        }
    }
}

/// The certificate and key for tiny_http, checked first: tiny_http panics on a key file without a key.
fn load_tls(files: &TlsFiles) -> Result<tiny_http::SslConfig, String> {
    let read = |path: &std::path::Path| std::fs::read(path).map_err(|e| format!("cannot read {}: {e}", path.display()));
    let (certificate, private_key) = (read(&files.cert)?, read(&files.key)?);
    let holds = |pem: &[u8], marker: &str| pem.windows(marker.len()).any(|w| w == marker.as_bytes());
    if !holds(&certificate, "-----BEGIN CERTIFICATE-----") {
        return Err(format!("'--tls-cert' {} holds no PEM certificate", files.cert.display()));
    }
    if !holds(&private_key, "-----BEGIN PRIVATE KEY-----") {
        return Err(format!("'--tls-key' {} holds no PKCS#8 private key (BEGIN PRIVATE KEY)", files.key.display()));
    }
    Ok(tiny_http::SslConfig { certificate, private_key })
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.iter().any(|arg| arg == "--help" || arg == "-h") {
        println!("{USAGE}");
        return ExitCode::SUCCESS;
    }
    let options = match Options::parse(args) {
        Ok(options) => options,
        Err(error) => {
            eprintln!("cloudstack-standin: {error}\n{USAGE}");
            return ExitCode::from(2);
        }
    };
    let cloud = match load_cloud(&options.cloud) {
        Ok(cloud) => cloud,
        Err(error) => {
            eprintln!("cloudstack-standin: {error}");
            return ExitCode::FAILURE;
        }
    };
    let tls = match options.tls.as_ref().map(load_tls).transpose() {
        Ok(tls) => tls,
        Err(error) => {
            eprintln!("cloudstack-standin: {error}");
            return ExitCode::FAILURE;
        }
    };
    let settings = Settings {
        credentials: Credentials { api_key: options.api_key, secret_key: options.secret_key },
        default_page_size: options.default_page_size,
        zone: options.zone,
        latency: options.latency,
    };
    let (listen, blackhole_listen) = (options.listen, options.blackhole_listen);
    let running = match start(listen, blackhole_listen, settings, cloud, tls) {
        Ok(running) => running,
        Err(error) => {
            eprintln!("cloudstack-standin: {error}");
            return ExitCode::FAILURE;
        }
    };
    // Tests wait for this exact line to learn the port; flush so it does not sit in a buffer.
    println!("listening on {}", running.address);
    if let Some(blackhole) = running.blackhole {
        println!("blackhole on {blackhole}");
    }
    let _ = std::io::stdout().flush();
    running.wait();
    ExitCode::SUCCESS
}
