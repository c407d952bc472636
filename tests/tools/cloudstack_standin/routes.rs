//! Sends each HTTP request to the API or the control endpoints, and lets armed faults bend API answers.

use std::sync::Arc;
use std::thread;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use tiny_http::{Method, Request};

use crate::api::{self, ApiOutcome};
use crate::api_error::ApiError;
use crate::control;
use crate::fault::Fault;
use crate::http;
use crate::latency::Work;
use crate::list_vms;
use crate::request_log::{RequestKind, SeenRequest};
use crate::signature::{self, Params};
use crate::state::Standin;

/// Where CloudStack serves its API.
pub const API_PATH: &str = "/client/api";

/// What `garbage` answers: the kind of page a broken proxy in front of CloudStack returns.
const GARBAGE: &str = "<html><body><h1>502 Bad Gateway</h1>the upstream sent nothing useful</body></html>\n";

/// Handles one request to completion (or hands it to a thread that will, for `hang`).
pub fn route(standin: &Arc<Standin>, mut request: Request) {
    let target = request.url().to_string();
    let (path, query) = http::split_target(&target);
    if path.starts_with(control::PREFIX) {
        let (status, body) = match http::read_body(&mut request) {
            Ok(body) => control::answer(standin, request.method().as_str(), path, query, &body),
            Err(error) => (400, serde_json::json!({"ok": false, "error": error}).to_string()),
        };
        http::respond_json(request, status, body);
    } else if path == API_PATH || path == "/client/api/" {
        serve_api(standin, request, query);
    } else {
        let body = serde_json::json!({"ok": false, "error": format!("nothing at {path}")}).to_string();
        http::respond_json(request, 404, body);
    }
}

fn now_unix() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs() as i64).unwrap_or(0)
}

fn serve_api(standin: &Arc<Standin>, mut request: Request, query: &str) {
    let form_body = match *request.method() {
        Method::Get => None,
        // Like a servlet container, only a form-encoded POST body contributes parameters.
        Method::Post if http::has_form_body(&request) => http::read_body(&mut request).ok(),
        Method::Post => None,
        _ => {
            let error = ApiError { code: 405, cs_code: 9999, text: "use GET or POST".into() };
            http::respond_json(request, 405, error.body(None));
            return;
        }
    };
    let params = api::collect_params(query, form_body.as_deref());
    let command = params.get("command").cloned();
    let record = |status: Option<u16>, verified, refusal: Option<&'static str>, fault: Option<&'static str>, rows| {
        standin.requests.record(SeenRequest {
            command: command.clone(),
            kind: RequestKind::of(&params),
            params: params.clone(),
            status,
            verified,
            refusal,
            fault,
            rows,
        })
    };

    // Jetty refuses a head larger than its buffer before CloudStack, or any fault behind it, sees the request.
    if let Some((status, reason)) = http::oversized_head(&request) {
        record(Some(status), false, Some("request line and headers exceed Jetty's 8192-byte buffer"), None, 0);
        http::respond_jetty_error(request, status, reason);
        return;
    }

    // Faults that hit every API request are decided before the request is looked at, like a failure in front of
    // the server; `fail-page`, `fail-command` and the listing faults need a verified request and are decided below;
    // `blackhole-connect` acts on the other address's connections, not on requests.
    let releases_seen = standin.held.releases();
    let fault = standin.faults.fire(|fault| {
        !matches!(fault, Fault::FailPage { .. } | Fault::FailCommand { .. } | Fault::BlackholeConnect)
            && fault.listing().is_none()
    });
    // Logged even when a fault answers instead, so a test can tell "signed well, then failed" from "signed badly".
    let signed = || signature::verify(&params, &standin.credentials, now_unix()).is_ok();
    match fault {
        Some(Fault::Refuse) => {
            record(None, signed(), None, Some("refuse"), 0);
            http::refuse(request, standin.local_port);
            return;
        }
        Some(Fault::Status { code }) => {
            record(Some(code), signed(), None, Some("status"), 0);
            http::respond_json(request, code, ApiError::injected(code).body(command.as_deref()));
            return;
        }
        Some(Fault::Garbage) => {
            record(Some(200), signed(), None, Some("garbage"), 0);
            http::respond_with(request, 200, GARBAGE.to_string(), http::JSON_CONTENT_TYPE);
            return;
        }
        _ => {}
    }

    let mut outcome = api::handle(standin, &params, now_unix());
    let mut fault_name = fault.as_ref().map(Fault::name).or(outcome.fault);
    if let Some((code, name)) = failing_page(standin, &params, &outcome).or_else(|| failing_command(standin, &outcome))
    {
        outcome.status = code;
        outcome.body = ApiError::injected(code).body(command.as_deref());
        outcome.work = Work { vm_rows: 0, event_rows: 0, ..outcome.work };
        fault_name = Some(name);
    }
    let rows = outcome.work.rows();
    record(Some(outcome.status), outcome.verified, outcome.refusal.map(|r| r.reason()), fault_name, rows);

    match fault {
        Some(Fault::Hang { seconds }) => {
            // The worker must not sleep: a few hung requests would otherwise starve `/control/`.
            thread::spawn(move || {
                thread::sleep(Duration::from_secs_f64(seconds));
                http::respond_json(request, outcome.status, outcome.body);
            });
        }
        Some(Fault::Truncate) => http::respond_truncated(request, outcome.status, &outcome.body, standin.local_port),
        Some(Fault::AcceptAndHang) => standin.held.hold(releases_seen, request, outcome.status, outcome.body),
        // Answered by the server: as slowly as the latency model says.
        _ => standin.pacer.respond(request, outcome.status, outcome.body, outcome.work),
    }
}

/// The status to fail with if a `fail-page` fault is armed for this (verified listing) request's page.
fn failing_page(standin: &Standin, params: &Params, outcome: &ApiOutcome) -> Option<(u16, &'static str)> {
    if !outcome.verified || outcome.command.as_deref() != Some(list_vms::COMMAND) {
        return None;
    }
    let page: i64 = params.get("page")?.parse().ok()?;
    match standin.faults.fire(|fault| matches!(fault, Fault::FailPage { page: failing, .. } if *failing == page)) {
        Some(Fault::FailPage { code, .. }) => Some((code, "fail-page")),
        _ => None,
    }
}

/// The status to fail with if a `fail-command` fault is armed for this verified request's command.
fn failing_command(standin: &Standin, outcome: &ApiOutcome) -> Option<(u16, &'static str)> {
    let command = outcome.command.as_deref().filter(|_| outcome.verified)?;
    let armed = |fault: &Fault| matches!(fault, Fault::FailCommand { command: failing, .. } if failing == command);
    match standin.faults.fire(armed) {
        Some(Fault::FailCommand { code, .. }) => Some((code, "fail-command")),
        _ => None,
    }
}
