//! The CloudStack stand-in of a lab: started inside the router namespace, steered over its control endpoints
//! (HTTPS, trusting the CA that signed its certificate, unless the lab serves plain HTTP).
use std::io::{Read, Write};
use std::net::{Ipv6Addr, SocketAddr, SocketAddrV6, TcpStream};
use std::sync::Arc;
use std::time::Duration;

use serde::Deserialize;
use serde_json::{json, Value};

use super::child::Daemon;
use super::host::{in_netns, NetNs};
use super::tls::StandinCert;

/// Port the stand-in listens on inside the router namespace.
pub const STANDIN_PORT: u16 = 8080;
/// Its second API port, the one `blackhole_connect` turns into a black hole (forwarded to the first until then).
pub const BLACKHOLE_PORT: u16 = 8081;
/// API key the hook is configured with and the stand-in expects.
pub const API_KEY: &str = "test-key";

/// A running stand-in and a client for its control endpoints.
pub struct Standin {
    netns: String,
    addr: SocketAddr,
    blackhole: SocketAddr,
    secret: String,
    daemon: Daemon,
    /// HTTPS: the client configuration control requests use; None: plain HTTP.
    tls: Option<Arc<rustls::ClientConfig>>,
}

/// The stand-in's API requests counted by kind since the last `clear_requests` (`GET /control/requests/count`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub struct RequestCounts {
    /// `listVirtualMachines` pages of full listings, both passes.
    pub listing_pages: u64,
    /// Full listings begun (page 1 without `projectid`): one per sync of the hook.
    pub listings_begun: u64,
    /// Targeted lookups: `listVirtualMachines` with `id` or `ids`.
    pub lookups: u64,
    /// VM ids those lookups named.
    pub looked_up_ids: u64,
    /// `listEvents` requests.
    pub event_polls: u64,
    /// VM rows returned by full-listing pages.
    pub listing_rows: u64,
    /// VM rows returned by lookups.
    pub lookup_rows: u64,
    /// Event rows returned by `listEvents`.
    pub event_rows: u64,
    /// Any other API request.
    pub other: u64,
}

/// An HTTP answer: status code and body.
#[derive(Debug, Clone)]
pub struct HttpAnswer {
    /// HTTP status code.
    pub status: u16,
    /// Body as text (chunked transfer decoded).
    pub body: String,
}

impl Standin {
    /// Starts the stand-in in `netns` on `[addr]:8080` (and its blackhole port `[addr]:8081`) with `cloud` loaded;
    /// waits for "listening on".
    /// `extra` goes on the command line as is; with `--sample-cloud` in it, `cloud` is not passed.
    /// With `tls` it serves HTTPS with that certificate.
    pub fn start(
        netns: &NetNs,
        addr: Ipv6Addr,
        secret: &str,
        cloud: &Value,
        extra: &[String],
        work_dir: &std::path::Path,
        tls: Option<&StandinCert>,
    ) -> Standin {
        let socket = SocketAddr::V6(SocketAddrV6::new(addr, STANDIN_PORT, 0, 0));
        let blackhole = SocketAddr::V6(SocketAddrV6::new(addr, BLACKHOLE_PORT, 0, 0));
        let mut cmd = netns.command(env!("CARGO_BIN_EXE_cloudstack-standin"));
        cmd.arg("--listen").arg(socket.to_string()).args(["--api-key", API_KEY, "--secret-key", secret]);
        cmd.arg("--blackhole-listen").arg(blackhole.to_string());
        if !extra.iter().any(|arg| arg.starts_with("--sample-cloud")) {
            let cloud_file = work_dir.join("cloud.json");
            std::fs::write(&cloud_file, serde_json::to_vec_pretty(cloud).unwrap()).expect("lab: write cloud.json");
            cmd.arg("--cloud").arg(&cloud_file);
        }
        if let Some(tls) = tls {
            cmd.arg("--tls-cert").arg(&tls.cert).arg("--tls-key").arg(&tls.key);
        }
        cmd.args(extra);
        let mut daemon = Daemon::spawn("cloudstack-standin", cmd);
        daemon.expect_output("listening on", Duration::from_secs(10));
        let tls = tls.map(StandinCert::client_config);
        Standin { netns: netns.name().to_string(), addr: socket, blackhole, secret: secret.to_string(), daemon, tls }
    }

    /// The stand-in's process id.
    pub fn pid(&self) -> u32 {
        self.daemon.pid()
    }

    /// The URL the hook is given as `api-url`: https:// unless the stand-in serves plain HTTP.
    pub fn api_url(&self) -> String {
        let scheme = if self.tls.is_some() { "https" } else { "http" };
        format!("{scheme}://{}/client/api", self.addr)
    }

    /// Whether the stand-in serves HTTPS.
    pub fn is_https(&self) -> bool {
        self.tls.is_some()
    }

    /// The same API through the blackhole port: what the hook is given with `LabSpec::api_via_blackhole_port`,
    /// so that `blackhole_connect` cuts it off.
    pub fn blackhole_api_url(&self) -> String {
        // The blackhole port forwards bytes as they are: TLS goes through, to the same certificate.
        let scheme = if self.tls.is_some() { "https" } else { "http" };
        format!("{scheme}://{}/client/api", self.blackhole)
    }

    /// The secret key the stand-in verifies signatures with.
    pub fn secret_key(&self) -> &str {
        &self.secret
    }

    /// Replaces the whole cloud (`PUT /control/cloud`).
    pub fn set_cloud(&self, cloud: Value) {
        self.control("PUT", "/control/cloud", Some(&cloud));
    }

    /// Adds one VM (`POST /control/vms`), writing the events of a `deployVirtualMachine` (`VM.CREATE`).
    pub fn add_vm(&self, vm: Value) {
        self.control("POST", "/control/vms", Some(&vm));
    }

    /// Adds one VM without an event, as a change the event log lost.
    pub fn add_vm_quietly(&self, vm: Value) {
        self.control("POST", "/control/vms?events=none", Some(&vm));
    }

    /// Expunges one VM (`DELETE /control/vms/<id>`) with the events of `expungeVirtualMachine` (`VM.EXPUNGE`): gone
    /// from every listing, while `id=<it>` answers an empty list rather than 431, as CloudStack keeps an expunged
    /// VM's row.
    pub fn remove_vm(&self, id: &str) {
        self.control("DELETE", &format!("/control/vms/{id}"), None);
    }

    /// Expunges one VM as CloudStack's expunge thread does once a destroyed VM's `expunge.delay` passed:
    /// `VM.EXPUNGE` Started and Completed by `system`, with `resourcetype` but no `resourceid`.
    pub fn remove_vm_by_expunge_task(&self, id: &str) {
        self.control("DELETE", &format!("/control/vms/{id}?events=expunge-task"), None);
    }

    /// Expunges one VM without an event.
    pub fn remove_vm_quietly(&self, id: &str) {
        self.control("DELETE", &format!("/control/vms/{id}?events=none"), None);
    }

    /// Sets a VM's state, e.g. "Destroyed" (`POST /control/vms/<id>/state`), with the events of the command that
    /// makes that change (`VM.DESTROY`, `VM.START`, `VM.STOP`, `VM.RECOVER`; none for other states).
    pub fn set_state(&self, id: &str, state: &str) {
        self.control("POST", &format!("/control/vms/{id}/state"), Some(&serde_json::json!({ "state": state })));
    }

    /// Sets a VM's state without an event.
    pub fn set_state_quietly(&self, id: &str, state: &str) {
        let body = serde_json::json!({ "state": state });
        self.control("POST", &format!("/control/vms/{id}/state?events=none"), Some(&body));
    }

    /// The API requests the stand-in has seen (`GET /control/requests`).
    pub fn requests(&self) -> Value {
        let answer = self.control("GET", "/control/requests", None);
        serde_json::from_str(&answer.body)
            .unwrap_or_else(|e| panic!("lab: stand-in /control/requests is not JSON ({e}): {}", answer.body))
    }

    /// The API requests counted by kind (`GET /control/requests/count`).
    pub fn request_counts(&self) -> RequestCounts {
        let answer = self.control("GET", "/control/requests/count", None);
        serde_json::from_str(&answer.body)
            .unwrap_or_else(|e| panic!("lab: stand-in /control/requests/count is not counts ({e}): {}", answer.body))
    }

    /// Forgets the requests seen and zeroes their counts (`DELETE /control/requests`).
    pub fn clear_requests(&self) {
        self.control("DELETE", "/control/requests", None);
    }

    /// Makes the API misbehave, e.g. `{"mode":"status","code":503}`; `{"mode":"none"}` heals it. Every fault
    /// below stays armed until changed (add `"times": N` here to limit one to N requests).
    pub fn set_fault(&self, fault: Value) {
        self.control("PUT", "/control/fault", Some(&fault));
    }

    /// Heals every fault (`{"mode":"none"}`); answers held by `accept_and_hang` go out, the blackhole port opens.
    pub fn clear_fault(&self) {
        self.set_fault(json!({ "mode": "none" }));
    }

    /// Signed requests for `command` (e.g. "listEvents") fail with HTTP status and `errorcode` `code` until the
    /// fault is cleared; every other command is answered.
    pub fn fail_command(&self, command: &str, code: u16) {
        self.set_fault(json!({ "mode": "fail-command", "command": command, "code": code }));
    }

    /// When page `page` of the listing without `projectid` is asked for, VM `vm_id` is expunged first (writing
    /// `VM.EXPUNGE` events): the VMs
    /// after it move up one place, and the one that would have opened page `page` falls between the pages.
    pub fn expunge_while_paging(&self, vm_id: &str, page: u32) {
        self.set_fault(json!({ "mode": "expunge-while-paging", "page": page, "id": vm_id }));
    }

    /// Page `page` of the listing without `projectid` comes back without its first VM, which `count` still
    /// includes; the VM stays in the cloud, so once the fault is cleared the next sync sees it again.
    pub fn short_page(&self, page: u32) {
        self.set_fault(json!({ "mode": "short-page", "page": page }));
    }

    /// When page `page` of the listing without `projectid` is asked for, `vm` (a cloud-file VM object) is created
    /// with the highest id (writing `VM.CREATE` events): `count` is one more from that page on, and `vm` comes last.
    pub fn count_change(&self, page: u32, vm: Value) {
        self.set_fault(json!({ "mode": "count-change", "page": page, "vm": vm }));
    }

    /// When page `page` (2 or more) of the listing without `projectid` is asked for, `vm` comes into view before
    /// every other VM (writing a `VM.MOVE` event): the page repeats the last VM of the page before, `count` grows by
    /// one, and this listing never shows `vm` (the next one does).
    pub fn duplicate_across_pages(&self, page: u32, vm: Value) {
        self.set_fault(json!({ "mode": "duplicate-across-pages", "page": page, "vm": vm }));
    }

    /// The blackhole port stops answering: connects to it time out (SYN dropped, no RST) and connections already
    /// made through it go silent; the main port and the control endpoints keep answering. `clear_fault` repairs.
    pub fn blackhole_connect(&self) {
        self.set_fault(json!({ "mode": "blackhole-connect" }));
    }

    /// Every API request is taken and gets not a byte back until `clear_fault` (or another fault) is set; then
    /// each is answered as it would have been when it arrived.
    pub fn accept_and_hang(&self) {
        self.set_fault(json!({ "mode": "accept-and-hang" }));
    }

    /// How many requests `accept_and_hang` holds now (`GET /control/held`).
    pub fn held_requests(&self) -> u64 {
        let answer = self.control("GET", "/control/held", None);
        let held: Value = serde_json::from_str(&answer.body).unwrap_or_default();
        held["held"].as_u64().unwrap_or_else(|| panic!("lab: stand-in /control/held answered {}", answer.body))
    }

    /// Everything the stand-in printed so far.
    pub fn output(&self) -> String {
        self.daemon.output()
    }

    /// One control request; panics unless the answer is 2xx.
    pub fn control(&self, method: &str, path: &str, body: Option<&Value>) -> HttpAnswer {
        let answer = self.http(method, path, body);
        if !(200..300).contains(&answer.status) {
            panic!("lab: stand-in {method} {path} answered {}: {}", answer.status, answer.body);
        }
        answer
    }

    /// Any HTTP request to the stand-in, made from inside the router namespace.
    pub fn http(&self, method: &str, path: &str, body: Option<&Value>) -> HttpAnswer {
        let body = body.map(|b| serde_json::to_string(b).unwrap()).unwrap_or_default();
        http_request(&self.netns, self.addr, self.tls.as_ref(), method, path, &body)
            .unwrap_or_else(|e| panic!("lab: stand-in {method} {path} failed: {e}"))
    }
}

/// A minimal HTTP/1.1 request over a TCP connection opened inside `netns` (`Connection: close`), inside TLS
/// verified with `tls` (the certificate must name `addr`'s IP) when given.
pub fn http_request(
    netns: &str,
    addr: SocketAddr,
    tls: Option<&Arc<rustls::ClientConfig>>,
    method: &str,
    path: &str,
    body: &str,
) -> std::io::Result<HttpAnswer> {
    let socket = in_netns(netns, move || TcpStream::connect_timeout(&addr, Duration::from_secs(5)))?;
    socket.set_read_timeout(Some(Duration::from_secs(15)))?;
    let mut stream: Box<dyn ReadWrite> = match tls {
        None => Box::new(socket),
        Some(config) => {
            let name = rustls::pki_types::ServerName::IpAddress(addr.ip().into());
            let connection = rustls::ClientConnection::new(Arc::clone(config), name)
                .map_err(std::io::Error::other)?;
            Box::new(rustls::StreamOwned::new(connection, socket))
        }
    };
    let request = format!(
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/json\r\n\
         Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    stream.write_all(request.as_bytes())?;
    stream.flush()?;
    let mut raw = Vec::new();
    let mut buffer = [0u8; 16 * 1024];
    loop {
        match stream.read(&mut buffer) {
            Ok(0) => break,
            Ok(n) => raw.extend_from_slice(&buffer[..n]),
            // tiny_http closes a TLS connection without close_notify; the HTTP framing says what was complete.
            Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => break,
            Err(e) => return Err(e),
        }
    }
    parse_answer(&raw).ok_or_else(|| {
        std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            format!("bad HTTP answer: {}", String::from_utf8_lossy(&raw)),
        )
    })
}

/// A plain or TLS stream.
trait ReadWrite: Read + Write {}
impl<T: Read + Write> ReadWrite for T {}

fn parse_answer(raw: &[u8]) -> Option<HttpAnswer> {
    let split = raw.windows(4).position(|w| w == b"\r\n\r\n")?;
    let head = std::str::from_utf8(&raw[..split]).ok()?;
    let mut body = raw[split + 4..].to_vec();
    let mut lines = head.split("\r\n");
    let status = lines.next()?.split_whitespace().nth(1)?.parse().ok()?;
    let mut chunked = false;
    let mut length = None;
    for line in lines {
        let (name, value) = line.split_once(':')?;
        let value = value.trim();
        match name.trim().to_ascii_lowercase().as_str() {
            "transfer-encoding" => chunked = value.eq_ignore_ascii_case("chunked"),
            "content-length" => length = value.parse::<usize>().ok(),
            _ => {}
        }
    }
    if chunked {
        body = dechunk(&body)?;
    } else if let Some(n) = length {
        if body.len() < n {
            return None; // cut short
        }
        body.truncate(n);
    }
    Some(HttpAnswer { status, body: String::from_utf8_lossy(&body).into_owned() })
}

fn dechunk(mut data: &[u8]) -> Option<Vec<u8>> {
    let mut out = Vec::new();
    loop {
        let end = data.windows(2).position(|w| w == b"\r\n")?;
        let size_text = std::str::from_utf8(&data[..end]).ok()?;
        let size = usize::from_str_radix(size_text.split(';').next()?.trim(), 16).ok()?;
        data = &data[end + 2..];
        if size == 0 {
            return Some(out);
        }
        out.extend_from_slice(data.get(..size)?);
        data = data.get(size + 2..)?;
    }
}
