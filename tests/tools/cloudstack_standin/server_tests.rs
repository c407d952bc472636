//! Stories told over real HTTP: a stand-in started in-process on `[::1]:0`, a client signing like the hook does.

use std::time::{Duration, Instant};

use serde_json::{json, Value};

use crate::cloud::Cloud;
use crate::sample_cloud;
use crate::signature::Credentials;
use crate::test_signer;

const KEY: &str = "test-api-key";
const SECRET: &str = "test-secret-key";

struct Client {
    base: String,
    agent: ureq::Agent,
}

fn start(cloud: Cloud) -> Client {
    let credentials = Credentials { api_key: KEY.into(), secret_key: SECRET.into() };
    let running = crate::start("[::1]:0".parse().unwrap(), None, credentials, 500, cloud).unwrap();
    // The workers live as long as the test process; nothing to clean up.
    let base = format!("http://{}", running.address);
    std::mem::forget(running);
    Client { base, agent: fresh_agent() }
}

fn fresh_agent() -> ureq::Agent {
    ureq::AgentBuilder::new().timeout(Duration::from_secs(10)).build()
}

/// Status and body, whether the status is an error or not; `Err` only for transport failures.
fn outcome(result: Result<ureq::Response, ureq::Error>) -> Result<(u16, String), String> {
    match result {
        Ok(response) => {
            let status = response.status();
            response.into_string().map(|body| (status, body)).map_err(|e| format!("body: {e}"))
        }
        Err(ureq::Error::Status(status, response)) => Ok((status, response.into_string().unwrap_or_default())),
        Err(error) => Err(error.to_string()),
    }
}

impl Client {
    fn api(&self, pairs: &[(&str, &str)]) -> Result<(u16, String), String> {
        let query = test_signer::signed_query(pairs, SECRET);
        outcome(self.agent.get(&format!("{}/client/api?{query}", self.base)).call())
    }

    fn list(&self, extra: &[(&str, &str)]) -> (u16, Value) {
        let mut pairs = vec![("command", "listVirtualMachines"), ("apiKey", KEY), ("response", "json")];
        pairs.extend_from_slice(extra);
        let (status, body) = self.api(&pairs).unwrap();
        (status, serde_json::from_str(&body).unwrap_or(Value::String(body)))
    }

    fn control(&self, method: &str, path: &str, body: &str) -> (u16, Value) {
        let request = self.agent.request(method, &format!("{}/control/{path}", self.base));
        let (status, body) = outcome(request.send_string(body)).unwrap();
        (status, serde_json::from_str(&body).unwrap())
    }
}

fn vm_names(answer: &Value) -> Vec<&str> {
    answer["listvirtualmachinesresponse"]["virtualmachine"]
        .as_array()
        .map(|vms| vms.iter().map(|vm| vm["name"].as_str().unwrap()).collect())
        .unwrap_or_default()
}

#[test]
fn a_hook_pages_through_1200_vms_in_two_passes() {
    let client = start(sample_cloud::generate(1200));
    let mut seen = Vec::new();
    for projectid in [None, Some("-1")] {
        for page in 1.. {
            let page = page.to_string();
            let mut extra = vec![("page", page.as_str()), ("pagesize", "500"), ("listall", "true")];
            extra.extend(projectid.map(|id| ("projectid", id)));
            let (status, answer) = client.list(&extra);
            assert_eq!(status, 200, "{answer}");
            if answer == json!({"listvirtualmachinesresponse": {}}) {
                break;
            }
            seen.extend(vm_names(&answer).into_iter().map(String::from));
        }
    }
    assert_eq!(seen.len(), 1200);
    let (_, requests) = client.control("GET", "requests", "");
    assert_eq!(requests.as_array().unwrap().len(), 3 + 2, "two full pages and an empty one, then one and an empty one");
    assert!(requests.as_array().unwrap().iter().all(|r| r["verified"] == true && r["status"] == 200));
    assert!(!requests.to_string().contains(SECRET));
}

#[test]
fn answers_are_json_with_cloudstacks_content_type_whatever_the_parameter_order() {
    let client = start(sample_cloud::generate(3));
    let pairs =
        [("pagesize", "2"), ("response", "json"), ("page", "1"), ("apiKey", KEY), ("command", "listVirtualMachines")];
    let query = test_signer::signed_query(&pairs, SECRET);
    let response = client.agent.get(&format!("{}/client/api?{query}", client.base)).call().unwrap();
    assert_eq!(response.header("Content-Type"), Some("application/json;charset=utf-8"));
    let answer: Value = serde_json::from_str(&response.into_string().unwrap()).unwrap();
    assert_eq!(vm_names(&answer), ["vm-1", "vm-2"]);
    assert_eq!(answer["listvirtualmachinesresponse"]["virtualmachine"][0]["nic"][0]["vlanid"], 709);
}

#[test]
fn a_form_encoded_post_is_verified_like_a_get() {
    let client = start(sample_cloud::generate(3));
    let pairs = [("command", "listVirtualMachines"), ("apiKey", KEY), ("zoneid", "z1")];
    let signature = test_signer::signature(&pairs, SECRET);
    let mut form = pairs.to_vec();
    form.push(("signature", &signature));
    let (status, body) = outcome(client.agent.post(&format!("{}/client/api", client.base)).send_form(&form)).unwrap();
    assert_eq!(status, 200, "{body}");
}

#[test]
fn bad_requests_get_cloudstacks_statuses_and_bodies() {
    let client = start(sample_cloud::generate(3));
    let (status, body) = outcome(
        client.agent.get(&format!("{}/client/api?command=listVirtualMachines&apiKey={KEY}", client.base)).call(),
    )
    .unwrap();
    assert_eq!(status, 401);
    let body: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(body["listvirtualmachinesresponse"]["errorcode"], 401);
    assert_eq!(body["listvirtualmachinesresponse"]["uuidList"], json!([]));
    assert_eq!(client.api(&[("command", "listNetworks"), ("apiKey", KEY)]).unwrap().0, 432);
    assert_eq!(client.list(&[("pagesize", "500")]).0, 431);
    assert_eq!(client.list(&[("page", "1"), ("pagesize", "501")]).0, 431);
    let (_, requests) = client.control("GET", "requests", "");
    assert_eq!(requests[0]["verified"], false);
    assert_eq!(requests[0]["refusal"], "no signature parameter");
    assert_eq!(client.control("DELETE", "requests", "").0, 200);
    assert_eq!(client.control("GET", "requests", "").1, json!([]));
}

#[test]
fn a_vm_added_through_control_is_listed_and_gone_once_removed() {
    let client = start(Cloud::default());
    let vm = json!({"id": "c0ffee", "name": "added", "zoneid": "z1",
                    "nics": [{"id": "n", "macaddress": "02:00:0a:c5:00:17", "odd": [1]}]});
    assert_eq!(client.control("POST", "vms", &vm.to_string()).0, 200);
    let (_, answer) = client.list(&[]);
    assert_eq!(vm_names(&answer), ["added"]);
    assert_eq!(answer["listvirtualmachinesresponse"]["virtualmachine"][0]["nic"][0]["odd"], json!([1]));
    assert_eq!(client.control("POST", "vms/c0ffee/state", r#"{"state":"Stopped"}"#).0, 200);
    assert_eq!(vm_names(&client.list(&[("state", "stopped")]).1), ["added"]);
    assert_eq!(client.control("DELETE", "vms/c0ffee", "").0, 200);
    assert_eq!(client.list(&[]).1, json!({"listvirtualmachinesresponse": {}}));
    assert_eq!(client.control("DELETE", "vms/c0ffee", "").0, 404);
}

#[test]
fn refused_connections_and_error_statuses_reach_the_client() {
    let client = start(sample_cloud::generate(3));
    client.control("PUT", "fault", r#"{"mode":"refuse"}"#);
    let error = client.api(&[("command", "listVirtualMachines"), ("apiKey", KEY)]).unwrap_err();
    assert!(!error.is_empty());
    client.control("PUT", "fault", r#"{"mode":"status","code":503,"times":1}"#);
    assert_eq!(client.list(&[]).0, 503);
    assert_eq!(client.list(&[]).0, 200, "times:1 disarms the fault after one request");
    let (_, requests) = client.control("GET", "requests", "");
    let faults: Vec<&Value> = requests.as_array().unwrap().iter().map(|r| &r["fault"]).collect();
    assert_eq!(faults.first(), Some(&&json!("refuse")));
    assert!(faults.contains(&&json!("status")));
}

#[test]
fn garbage_and_truncated_bodies_do_not_parse() {
    let client = start(sample_cloud::generate(50));
    client.control("PUT", "fault", r#"{"mode":"garbage","times":1}"#);
    let (status, body) = client.api(&[("command", "listVirtualMachines"), ("apiKey", KEY)]).unwrap();
    assert_eq!(status, 200);
    assert!(serde_json::from_str::<Value>(&body).is_err());

    client.control("PUT", "fault", r#"{"mode":"truncate","times":1}"#);
    let started = Instant::now();
    let fresh = Client { base: client.base.clone(), agent: fresh_agent() };
    let result = fresh.api(&[("command", "listVirtualMachines"), ("apiKey", KEY)]);
    assert!(result.is_err(), "{result:?}");
    assert!(started.elapsed() < Duration::from_secs(5), "the cut must end the body at once");
}

#[test]
fn a_hanging_api_does_not_block_the_control_endpoints() {
    let client = start(sample_cloud::generate(3));
    client.control("PUT", "fault", r#"{"mode":"hang","seconds":1.5}"#);
    let base = client.base.clone();
    let hung = std::thread::spawn(move || {
        let started = Instant::now();
        let client = Client { base, agent: fresh_agent() };
        let status = client.list(&[]).0;
        (status, started.elapsed())
    });
    std::thread::sleep(Duration::from_millis(200));
    let started = Instant::now();
    assert_eq!(client.control("PUT", "fault", r#"{"mode":"none"}"#).0, 200);
    assert!(started.elapsed() < Duration::from_millis(500));
    let (status, took) = hung.join().unwrap();
    assert_eq!(status, 200);
    assert!(took >= Duration::from_millis(1400), "{took:?}");
}

#[test]
fn fail_page_breaks_exactly_one_page() {
    let client = start(sample_cloud::generate(30));
    client.control("PUT", "fault", r#"{"mode":"fail-page","page":2,"code":530}"#);
    assert_eq!(client.list(&[("page", "1"), ("pagesize", "10")]).0, 200);
    let (status, body) = client.list(&[("page", "2"), ("pagesize", "10")]);
    assert_eq!(status, 530);
    assert_eq!(body["listvirtualmachinesresponse"]["errorcode"], 530);
    assert_eq!(client.list(&[("page", "3"), ("pagesize", "10")]).0, 200);
}
