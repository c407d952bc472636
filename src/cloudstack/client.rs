//! The CloudStack API client (transport): pages of `listVirtualMachines` with their NICs, in
//! two passes (VMs outside projects, then `projectid=-1` for project VMs), and single VMs by id,
//! each request signed. What a listing proves is decided elsewhere (`refresh::listing`). Runs
//! only on the background sync thread, never on Kea's packet path.
use super::model::{ListVmsAnswer, Vm};
use super::signature::signed_query;
use super::tls;
use crate::config::HookConfig;
use std::fmt;
use std::io::Read;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::SystemTime;

/// Never read more pages than this in one pass, whatever `count` says.
const MAX_PAGES: u32 = 100_000;
/// A page larger than this is refused, not read into memory whole (500 VMs with their NICs are a
/// few MiB).
const MAX_PAGE_BYTES: u64 = 64 * 1024 * 1024;

/// Why a listing failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ApiError {
    /// No HTTP answer: refused, unreachable, TLS failure, timed out.
    Transport(String),
    /// CloudStack answered with an error code.
    Status { code: u16, text: String },
    /// The answer was not a listing (truncated, not JSON, wrong shape, too large).
    Body(String),
    /// The hook is stopping: the listing was given up between requests.
    Stopped,
}

impl fmt::Display for ApiError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ApiError::Transport(text) => write!(f, "no answer from the API: {text}"),
            ApiError::Status { code, text } => write!(f, "API error {code}: {text}"),
            ApiError::Body(text) => write!(f, "unusable API answer: {text}"),
            ApiError::Stopped => f.write_str("given up: the hook is stopping"),
        }
    }
}

impl std::error::Error for ApiError {}

/// A signed-request client for one CloudStack endpoint.
pub struct ApiClient {
    agent: ureq::Agent,
    url: String,
    api_key: String,
    secret: String,
    page_size: u32,
    zone_id: Option<String>,
    /// What the TLS certificate was checked against, for error messages.
    trusted: String,
    progress: Option<Box<dyn Fn(usize) + Send + Sync>>,
    /// VMs read so far, over all passes (for `progress`).
    read: AtomicUsize,
}

/// A pass of the listing: CloudStack lists project VMs only when asked with `projectid=-1`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Pass {
    OutsideProjects,
    InProjects,
}

impl Pass {
    /// Both passes, in the order a listing reads them.
    pub const ALL: [Pass; 2] = [Pass::OutsideProjects, Pass::InProjects];

    /// The `projectid` this pass sends.
    pub fn project(self) -> Option<&'static str> {
        match self {
            Pass::OutsideProjects => None,
            Pass::InProjects => Some("-1"),
        }
    }
}

/// One page of a pass as CloudStack answered it; `count` is its total for the whole pass.
#[derive(Debug)]
pub struct Page {
    pub count: Option<u64>,
    pub vms: Vec<Vm>,
}

impl ApiClient {
    /// A client for the configured API, signing with `secret`. An https:// API's certificate is
    /// verified against the CAs of `ca-file` if given, else the system trust store, and must name
    /// the URL's host (or IP address).
    pub fn new(cfg: &HookConfig, secret: &str) -> ApiClient {
        // ureq's own connect timeout is 30 s and its name resolution has none: both are bounded
        // by request-timeout too, so that a stop never waits on them for longer.
        let mut agent = ureq::AgentBuilder::new()
            .timeout(cfg.request_timeout)
            .timeout_connect(cfg.request_timeout)
            .resolver(super::resolver::BoundedResolver::new(cfg.request_timeout))
            .redirects(0);
        if let Some(ca) = &cfg.ca_file {
            agent = agent.tls_config(ca.client_config());
        }
        ApiClient {
            agent: agent.build(),
            url: cfg.api_url.clone(),
            api_key: cfg.api_key.clone(),
            secret: secret.to_string(),
            page_size: cfg.page_size,
            zone_id: cfg.zone_id.clone(),
            trusted: tls::trusted(cfg.ca_file.as_ref()),
            progress: None,
            read: AtomicUsize::new(0),
        }
    }

    /// Call `progress` with the number of VMs read so far after each page.
    pub fn with_progress(mut self, progress: Box<dyn Fn(usize) + Send + Sync>) -> ApiClient {
        self.progress = Some(progress);
        self
    }

    /// Page through one pass of the listing, handing each non-empty page to `take`, which says
    /// whether to ask for the next one. An empty page ends the pass. Gives up between pages once
    /// `stop` is set; a failed page fails the pass.
    pub fn page_through(&self, pass: Pass, stop: &AtomicBool, take: &mut dyn FnMut(Page) -> bool) -> Result<(), ApiError> {
        for page in 1..=MAX_PAGES {
            if stop.load(Ordering::Relaxed) {
                return Err(ApiError::Stopped);
            }
            let body = self.list_vms_page(pass.project(), page)?;
            if body.virtualmachine.is_empty() {
                return Ok(());
            }
            let read = self.read.fetch_add(body.virtualmachine.len(), Ordering::Relaxed) + body.virtualmachine.len();
            if let Some(progress) = &self.progress {
                progress(read);
            }
            if !take(Page { count: body.count, vms: body.virtualmachine }) {
                return Ok(());
            }
        }
        Err(ApiError::Body(format!("more than {MAX_PAGES} pages")))
    }

    /// One VM by id, in whatever state (`listVirtualMachines id=…`), or None when CloudStack lists
    /// nothing for it: it was expunged.
    pub fn lookup_vm(&self, id: &str) -> Result<Option<Vm>, ApiError> {
        let mut params = vec![
            ("command", "listVirtualMachines".to_string()),
            ("listall", "true".to_string()),
            ("details", "nics".to_string()),
            ("id", id.to_string()),
            ("response", "json".to_string()),
        ];
        if let Some(zone) = &self.zone_id {
            params.push(("zoneid", zone.clone()));
        }
        let query = signed_query(&params, &self.api_key, &self.secret, SystemTime::now());
        let answer: ListVmsAnswer = serde_json::from_str(&self.get(&query)?)
            .map_err(|e| ApiError::Body(format!("listVirtualMachines id={id}: {e}")))?;
        Ok(answer.listvirtualmachinesresponse.virtualmachine.into_iter().find(|vm| vm.id == id))
    }

    fn list_vms_page(&self, project: Option<&str>, page: u32) -> Result<super::model::ListVmsBody, ApiError> {
        let mut params = vec![
            ("command", "listVirtualMachines".to_string()),
            ("listall", "true".to_string()),
            ("details", "nics".to_string()),
            ("page", page.to_string()),
            ("pagesize", self.page_size.to_string()),
            ("response", "json".to_string()),
        ];
        if let Some(project) = project {
            params.push(("projectid", project.to_string()));
        }
        if let Some(zone) = &self.zone_id {
            params.push(("zoneid", zone.clone()));
        }
        let query = signed_query(&params, &self.api_key, &self.secret, SystemTime::now());
        let answer: ListVmsAnswer = serde_json::from_str(&self.get(&query)?)
            .map_err(|e| ApiError::Body(format!("listVirtualMachines page {page}: {e}")))?;
        Ok(answer.listvirtualmachinesresponse)
    }

    /// `page-size`.
    pub(super) fn page_size(&self) -> u32 {
        self.page_size
    }

    /// `zone-id`.
    pub(super) fn zone(&self) -> Option<&str> {
        self.zone_id.as_deref()
    }

    /// Sign `params` and GET them.
    pub(super) fn signed_get(&self, params: Vec<(&str, String)>) -> Result<String, ApiError> {
        self.get(&signed_query(&params, &self.api_key, &self.secret, SystemTime::now()))
    }

    /// `signed_get`, with the Unix second of the answer's `Date` header (the server's clock), if any.
    pub(super) fn signed_get_dated(&self, params: Vec<(&str, String)>) -> Result<(String, Option<i64>), ApiError> {
        self.get_dated(&signed_query(&params, &self.api_key, &self.secret, SystemTime::now()))
    }

    fn get(&self, query: &str) -> Result<String, ApiError> {
        self.get_dated(query).map(|(body, _)| body)
    }

    fn get_dated(&self, query: &str) -> Result<(String, Option<i64>), ApiError> {
        let url = format!("{}?{query}", self.url);
        match self.agent.get(&url).call() {
            Ok(response) => {
                let date = response.header("Date").and_then(super::server_time::http_date);
                read_body(response).map(|body| (body, date))
            }
            Err(ureq::Error::Status(code, response)) => {
                let body = read_body(response).unwrap_or_default();
                Err(ApiError::Status { code, text: error_text(&body) })
            }
            // The transport error names the URL with its query: print only the cause.
            Err(ureq::Error::Transport(transport)) => Err(ApiError::Transport(transport_cause(&transport, &self.trusted))),
        }
    }
}

fn read_body(response: ureq::Response) -> Result<String, ApiError> {
    let mut body = String::new();
    response
        .into_reader()
        .take(MAX_PAGE_BYTES + 1)
        .read_to_string(&mut body)
        .map_err(|e| ApiError::Transport(format!("reading the answer: {e}")))?;
    if body.len() as u64 > MAX_PAGE_BYTES {
        return Err(ApiError::Body(format!("an answer larger than {} MiB", MAX_PAGE_BYTES >> 20)));
    }
    Ok(body)
}

/// CloudStack's `errortext`, or the start of the body.
fn error_text(body: &str) -> String {
    let parsed: Option<serde_json::Value> = serde_json::from_str(body).ok();
    let text = parsed
        .as_ref()
        .and_then(|v| v.as_object())
        .and_then(|o| o.values().next())
        .and_then(|inner| inner.get("errortext"))
        .and_then(|t| t.as_str());
    match text {
        Some(text) => text.to_string(),
        None => body.chars().take(200).collect(),
    }
}

/// Why no answer came: a refused certificate in plain words, else ureq's kind, message and cause.
fn transport_cause(transport: &ureq::Transport, trusted: &str) -> String {
    if let Some(why) = tls::refused_certificate(transport) {
        return format!("TLS certificate verification failed ({why}; trusted: {trusted})");
    }
    let mut text = transport.kind().to_string();
    if let Some(message) = transport.message() {
        text = format!("{text}: {message}");
    }
    if let Some(cause) = std::error::Error::source(transport) {
        text = format!("{text}: {cause}");
    }
    text
}

#[cfg(all(test, feature = "test-tools"))]
#[path = "client_tls_tests.rs"]
mod tls_tests;

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{BufRead, BufReader, Write};
    use std::net::TcpListener;

    /// A one-shot plain-HTTP server on loopback answering `body_len` bytes of a JSON-ish body.
    fn serve_once(body_len: usize) -> u16 {
        let listener = TcpListener::bind("[::1]:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        std::thread::spawn(move || {
            let (socket, _) = listener.accept().unwrap();
            let mut reader = BufReader::new(socket.try_clone().unwrap());
            let mut line = String::new();
            while reader.read_line(&mut line).unwrap() > 2 {
                line.clear();
            }
            let mut socket = socket;
            let head = format!("HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {body_len}\r\n\r\n");
            socket.write_all(head.as_bytes()).unwrap();
            let chunk = vec![b' '; 1 << 20];
            let mut left = body_len;
            while left > 0 {
                let n = left.min(chunk.len());
                if socket.write_all(&chunk[..n]).is_err() {
                    return; // the client stopped reading: what this test wants
                }
                left -= n;
            }
        });
        port
    }

    #[test]
    fn a_page_larger_than_64_mib_is_refused_not_read_whole() {
        let port = serve_once(64 * 1024 * 1024 + 1);
        let cfg = HookConfig::from_json(&serde_json::json!({
            "api-url": format!("http://[::1]:{port}/client/api"), "allow-plain-http": true, "api-key": "k", "api-secret": "s",
            "trusted-relays": ["fd00::/8"], "vlans": [{"vlan": 709, "interface-id": "VLAN709", "prefix": "2a00:f10:500::/40"}]
        }))
        .unwrap();
        let client = ApiClient::new(&cfg, "s");
        let outcome = client.page_through(Pass::OutsideProjects, &AtomicBool::new(false), &mut |_| true);
        assert_eq!(outcome, Err(ApiError::Body("an answer larger than 64 MiB".into())));
    }

    #[test]
    fn a_stopping_hook_asks_for_no_page() {
        let cfg = HookConfig::from_json(&serde_json::json!({
            "api-url": "http://[::1]:9/client/api", "allow-plain-http": true, "api-key": "k", "api-secret": "s",
            "trusted-relays": ["fd00::/8"], "vlans": [{"vlan": 709, "interface-id": "VLAN709", "prefix": "2a00:f10:500::/40"}]
        }))
        .unwrap();
        let outcome = ApiClient::new(&cfg, "s").page_through(Pass::InProjects, &AtomicBool::new(true), &mut |_| true);
        assert_eq!(outcome, Err(ApiError::Stopped));
    }
}
