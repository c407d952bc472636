//! The CloudStack API client: every VM with its NICs, paged, in two passes (VMs outside
//! projects, then `projectid=-1` for project VMs), each request signed. Runs only on the
//! background sync thread, never on Kea's packet path.
use super::model::{ListVmsAnswer, Vm};
use super::signature::signed_query;
use super::tls;
use crate::config::HookConfig;
use std::fmt;
use std::io::Read;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::SystemTime;

/// Never read more pages than this in one pass, whatever `count` says.
const MAX_PAGES: u32 = 100_000;
/// A page larger than this is not a CloudStack answer.
const MAX_PAGE_BYTES: u64 = 256 * 1024 * 1024;

/// Why a listing failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ApiError {
    /// No HTTP answer: refused, unreachable, TLS failure, timed out.
    Transport(String),
    /// CloudStack answered with an error code.
    Status { code: u16, text: String },
    /// The answer was not a listing (truncated, not JSON, wrong shape).
    Body(String),
}

impl fmt::Display for ApiError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ApiError::Transport(text) => write!(f, "no answer from the API: {text}"),
            ApiError::Status { code, text } => write!(f, "API error {code}: {text}"),
            ApiError::Body(text) => write!(f, "unusable API answer: {text}"),
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
}

impl ApiClient {
    /// A client for the configured API, signing with `secret`. An https:// API's certificate is
    /// verified against the CAs of `ca-file` if given, else the system trust store, and must name
    /// the URL's host (or IP address).
    pub fn new(cfg: &HookConfig, secret: &str) -> ApiClient {
        let mut agent = ureq::AgentBuilder::new().timeout(cfg.request_timeout).redirects(0);
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
        }
    }

    /// Call `progress` with the number of VMs read so far after each page.
    pub fn with_progress(mut self, progress: Box<dyn Fn(usize) + Send + Sync>) -> ApiClient {
        self.progress = Some(progress);
        self
    }

    /// Every VM the account can see, handed over page by page (outside projects, then in them).
    /// Gives up between pages once `stop` is set; a failed page fails the whole listing.
    pub fn for_each_page(&self, stop: &AtomicBool, page: &mut dyn FnMut(Vec<Vm>)) -> Result<usize, ApiError> {
        let mut read = self.list_vms_pass(None, stop, 0, page)?;
        read = self.list_vms_pass(Some("-1"), stop, read, page)?;
        Ok(read)
    }

    fn list_vms_pass(&self, project: Option<&str>, stop: &AtomicBool, mut read: usize, sink: &mut dyn FnMut(Vec<Vm>)) -> Result<usize, ApiError> {
        let mut in_pass = 0;
        for page in 1..=MAX_PAGES {
            if stop.load(Ordering::Relaxed) {
                return Err(ApiError::Transport("stopped".to_string()));
            }
            let body = self.list_vms_page(project, page)?;
            let got = body.virtualmachine.len();
            let total = body.count.unwrap_or(0) as usize;
            read += got;
            in_pass += got;
            sink(body.virtualmachine);
            if let Some(progress) = &self.progress {
                progress(read);
            }
            if got == 0 || got < self.page_size as usize || in_pass >= total {
                return Ok(read);
            }
        }
        Err(ApiError::Body(format!("more than {MAX_PAGES} pages")))
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

    fn get(&self, query: &str) -> Result<String, ApiError> {
        let url = format!("{}?{query}", self.url);
        match self.agent.get(&url).call() {
            Ok(response) => read_body(response),
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
        .take(MAX_PAGE_BYTES)
        .read_to_string(&mut body)
        .map_err(|e| ApiError::Transport(format!("reading the answer: {e}")))?;
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
