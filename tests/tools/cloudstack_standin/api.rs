//! The API endpoint `/client/api`: parameters, verification, dispatch, in the order CloudStack checks them.
//!
//! Order matters because a request with several mistakes gets the status of the first check it fails:
//! no command → 401; unknown command → 432 (checked before the signature, as CloudStack does); bad or missing
//! signature, expired request, unknown key → 401; `response` other than `json` → 431; then the command's own rules.

use crate::api_error::ApiError;
use crate::latency::Work;
use crate::list_events::{self, EventsRequest};
use crate::list_vms::{self, ListRequest};
use crate::listing_fault;
use crate::signature::{self, Params, Refusal};
use crate::state::Standin;

/// Commands the stand-in knows; CloudStack matches command names exactly, case included.
pub const KNOWN_COMMANDS: &[&str] = &[list_vms::COMMAND, list_events::COMMAND];

/// What the API made of one request, before any fault reshapes the answer.
#[derive(Debug, Clone)]
pub struct ApiOutcome {
    /// The `command` parameter, if any.
    pub command: Option<String>,
    /// Whether the signature checked out.
    pub verified: bool,
    /// Why it did not, when it did not.
    pub refusal: Option<Refusal>,
    /// HTTP status of the answer.
    pub status: u16,
    /// JSON body of the answer.
    pub body: String,
    /// The listing fault that moved the answer, when one did.
    pub fault: Option<&'static str>,
    /// What answering cost the database (nothing for an error).
    pub work: Work,
}

/// Request parameters from the query string and a form body, decoded; the first value of a repeated name wins,
/// as CloudStack reads only the first.
pub fn collect_params(query: &str, form_body: Option<&str>) -> Params {
    let mut params = Params::new();
    let body_pairs = form_body.map(|body| form_urlencoded::parse(body.as_bytes()));
    for (name, value) in form_urlencoded::parse(query.as_bytes()).chain(body_pairs.into_iter().flatten()) {
        if !name.is_empty() {
            params.entry(name.into_owned()).or_insert_with(|| value.into_owned());
        }
    }
    params
}

impl ApiOutcome {
    fn error(command: Option<&str>, verified: bool, refusal: Option<Refusal>, error: ApiError) -> ApiOutcome {
        ApiOutcome {
            command: command.map(str::to_string),
            verified,
            refusal,
            status: error.code,
            body: error.body(command),
            fault: None,
            work: Work::default(),
        }
    }
}

/// Answers one API request against the current cloud; `now_unix` decides whether a version 3 request expired.
pub fn handle(standin: &Standin, params: &Params, now_unix: i64) -> ApiOutcome {
    let Some(command) = params.get("command").map(String::as_str) else {
        return ApiOutcome::error(None, false, None, ApiError::bad_credentials());
    };
    if !KNOWN_COMMANDS.contains(&command) {
        return ApiOutcome::error(Some(command), false, None, ApiError::unknown_command(command));
    }
    if let Err(refusal) = signature::verify(params, &standin.credentials, now_unix) {
        return ApiOutcome::error(Some(command), false, Some(refusal), ApiError::bad_credentials());
    }
    if let Some(format) = params.get("response") {
        if !format.eq_ignore_ascii_case("json") {
            let error = ApiError::bad_parameter(format!("response format '{format}' is not served here; use json"));
            return ApiOutcome::error(Some(command), true, None, error);
        }
    }
    let (answer, fault) = if command == list_events::COMMAND {
        (list_events_answer(standin, params), None)
    } else {
        match ListRequest::from_params(params, standin.default_page_size) {
            Ok(request) => listing_fault::answer(standin, &request),
            Err(error) => (Err(error), None),
        }
    };
    match answer {
        Ok((body, work)) => ApiOutcome {
            command: Some(command.to_string()),
            verified: true,
            refusal: None,
            status: 200,
            body,
            fault,
            work,
        },
        Err(error) => ApiOutcome { fault, ..ApiOutcome::error(Some(command), true, None, error) },
    }
}

/// A verified `listEvents` request answered from the event log.
fn list_events_answer(standin: &Standin, params: &Params) -> Result<(String, Work), ApiError> {
    // Cloud first, then events: the order every writer takes them in.
    let cloud = standin.cloud.read();
    let log = standin.events.lock();
    let request = EventsRequest::from_params(params, standin.default_page_size, standin.zone, &log, &cloud)?;
    Ok(list_events::answer(&log, &request, standin.zone))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sample_cloud;
    use crate::signature::Credentials;
    use crate::test_signer;

    fn standin() -> Standin {
        let credentials = Credentials { api_key: "K".into(), secret_key: "S".into() };
        Standin::new(credentials, 500, sample_cloud::generate(20), 0)
    }

    fn send(standin: &Standin, pairs: &[(&str, &str)], secret: &str) -> ApiOutcome {
        handle(standin, &collect_params(&test_signer::signed_query(pairs, secret), None), 0)
    }

    #[test]
    fn a_signed_listing_is_answered() {
        let outcome =
            send(&standin(), &[("command", "listVirtualMachines"), ("apiKey", "K"), ("response", "json")], "S");
        assert_eq!(outcome.status, 200, "{}", outcome.body);
        assert!(outcome.verified);
        assert!(outcome.body.starts_with("{\"listvirtualmachinesresponse\":{\"count\":16,"));
    }

    #[test]
    fn the_first_failed_check_decides_the_status() {
        let standin = standin();
        let unsigned = handle(&standin, &collect_params("command=listVirtualMachines&apiKey=K", None), 0);
        assert_eq!((unsigned.status, unsigned.refusal), (401, Some(Refusal::MissingSignature)));
        // An unknown command is reported even without a signature, and the command name is case-sensitive.
        assert_eq!(handle(&standin, &collect_params("command=deployVirtualMachine", None), 0).status, 432);
        assert_eq!(send(&standin, &[("command", "listevents"), ("apiKey", "K")], "S").status, 432);
        assert_eq!(send(&standin, &[("command", "listvirtualmachines"), ("apiKey", "K")], "S").status, 432);
        assert_eq!(handle(&standin, &collect_params("apiKey=K", None), 0).status, 401);
        assert_eq!(send(&standin, &[("command", "listVirtualMachines"), ("apiKey", "K")], "wrong").status, 401);
        let xml = send(&standin, &[("command", "listVirtualMachines"), ("apiKey", "K"), ("response", "xml")], "S");
        assert_eq!((xml.status, xml.verified), (431, true));
        // Signature first, then parameters: a badly paged request with a bad signature is a 401.
        assert_eq!(
            send(&standin, &[("command", "listVirtualMachines"), ("apiKey", "K"), ("page", "1")], "x").status,
            401
        );
        assert_eq!(
            send(&standin, &[("command", "listVirtualMachines"), ("apiKey", "K"), ("page", "1")], "S").status,
            431
        );
    }

    #[test]
    fn a_signed_event_poll_is_answered_and_an_unsigned_one_refused() {
        let standin = standin();
        let vm = standin.cloud.read().vms[0].clone();
        standin.record(&crate::event_actions::Action::Destroy, &vm);
        let signed = send(&standin, &[("command", "listEvents"), ("apiKey", "K"), ("listall", "true")], "S");
        assert_eq!(signed.status, 200, "{}", signed.body);
        assert!(signed.body.starts_with("{\"listeventsresponse\":{\"count\":3,\"event\":[{"), "{}", signed.body);
        assert_eq!(signed.work.event_rows, 3);
        let unsigned = handle(&standin, &collect_params("command=listEvents&apiKey=K", None), 0);
        assert_eq!(unsigned.status, 401);
        let bad_date = send(&standin, &[("command", "listEvents"), ("apiKey", "K"), ("startdate", "noon")], "S");
        assert_eq!(bad_date.status, 431);
        let body: serde_json::Value = serde_json::from_str(&bad_date.body).unwrap();
        assert_eq!(body["listeventsresponse"]["errorcode"], 431);
    }

    #[test]
    fn the_error_body_names_the_command() {
        let outcome = send(&standin(), &[("command", "listVirtualMachines"), ("apiKey", "K")], "wrong");
        let body: serde_json::Value = serde_json::from_str(&outcome.body).unwrap();
        assert_eq!(body["listvirtualmachinesresponse"]["errorcode"], 401);
    }

    #[test]
    fn a_plus_left_unencoded_in_the_signature_arrives_as_a_space() {
        // Servlet decoding turns '+' into ' ', so a client must send %2B; one that does not is refused.
        let pairs = [("command", "listVirtualMachines"), ("apiKey", "K"), ("zoneid", "z1"), ("n", "4")];
        let signed = (0..200)
            .map(|i| i.to_string())
            .find(|n| test_signer::signature(&[pairs[0], pairs[1], pairs[2], ("n", n)], "S").contains('+'))
            .unwrap();
        let pairs = [pairs[0], pairs[1], pairs[2], ("n", signed.as_str())];
        let raw = format!(
            "command=listVirtualMachines&apiKey=K&zoneid=z1&n={signed}&signature={}",
            test_signer::signature(&pairs, "S")
        );
        let outcome = handle(&standin(), &collect_params(&raw, None), 0);
        assert_eq!(outcome.refusal, Some(Refusal::SignatureMismatch));
        assert_eq!(send(&standin(), &pairs, "S").status, 200);
    }

    #[test]
    fn form_bodies_count_and_the_first_value_wins() {
        let params = collect_params("page=1&command=listVirtualMachines", Some("page=2&pagesize=10&=x"));
        assert_eq!(params["page"], "1");
        assert_eq!(params["pagesize"], "10");
        assert!(!params.contains_key(""));
    }
}
