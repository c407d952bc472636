//! Stories told over real HTTP(S): a stand-in started in-process on `[::1]:0`, a client signing like the hook does.

use std::io::{ErrorKind, Read, Write};
use std::net::{IpAddr, Ipv6Addr, SocketAddr, TcpStream};
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use crate::cloud::Cloud;
use crate::latency::Latency;
use crate::sample_cloud;
use crate::server_zone::ServerZone;
use crate::signature::Credentials;
use crate::test_pki::TestCa;
use crate::test_signer;
use crate::Settings;

pub(crate) const KEY: &str = "test-api-key";
pub(crate) const SECRET: &str = "test-secret-key";

pub(crate) struct Client {
    pub(crate) base: String,
    pub(crate) agent: ureq::Agent,
}

pub(crate) fn start(cloud: Cloud) -> Client {
    start_with(cloud, None).0
}

/// A stand-in with a blackhole address too; the second value is that address.
fn start_with_blackhole(cloud: Cloud) -> (Client, SocketAddr) {
    let (client, blackhole) = start_with(cloud, Some("[::1]:0".parse().unwrap()));
    (client, blackhole.unwrap())
}

pub(crate) fn settings(latency: Latency) -> Settings {
    let credentials = Credentials { api_key: KEY.into(), secret_key: SECRET.into() };
    Settings { credentials, default_page_size: 500, zone: ServerZone::UTC, latency }
}

fn start_with(cloud: Cloud, blackhole: Option<SocketAddr>) -> (Client, Option<SocketAddr>) {
    start_slow(cloud, blackhole, Latency::default())
}

/// A stand-in answering as slowly as `latency` says.
pub(crate) fn start_slow(
    cloud: Cloud,
    blackhole: Option<SocketAddr>,
    latency: Latency,
) -> (Client, Option<SocketAddr>) {
    start_configured(cloud, blackhole, settings(latency))
}

/// A stand-in with these settings.
pub(crate) fn start_configured(
    cloud: Cloud,
    blackhole: Option<SocketAddr>,
    settings: Settings,
) -> (Client, Option<SocketAddr>) {
    let running = crate::start("[::1]:0".parse().unwrap(), blackhole, settings, cloud, None).unwrap();
    // The workers live as long as the test process; nothing to clean up.
    let (base, blackhole) = (format!("http://{}", running.address), running.blackhole);
    std::mem::forget(running);
    (Client { base, agent: fresh_agent() }, blackhole)
}

/// The stand-in serving HTTPS with a certificate for ::1 from a CA of the test's own, and a client trusting that CA.
fn start_https(cloud: Cloud) -> Client {
    let ca = TestCa::new("stand-in test CA");
    let cert = ca.server_cert(IpAddr::V6(Ipv6Addr::LOCALHOST));
    let tls = tiny_http::SslConfig { certificate: cert.cert_pem.into_bytes(), private_key: cert.key_pem.into_bytes() };
    let running =
        crate::start("[::1]:0".parse().unwrap(), None, settings(Latency::default()), cloud, Some(tls)).unwrap();
    let base = format!("https://{}", running.address);
    std::mem::forget(running);
    let mut roots = rustls::RootCertStore::empty();
    roots.add(rustls::pki_types::pem::PemObject::from_pem_slice(ca.pem.as_bytes()).unwrap()).unwrap();
    let config = rustls::ClientConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
    let agent = ureq::AgentBuilder::new().timeout(Duration::from_secs(10)).tls_config(Arc::new(config)).build();
    Client { base, agent }
}

pub(crate) fn fresh_agent() -> ureq::Agent {
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
    pub(crate) fn api(&self, pairs: &[(&str, &str)]) -> Result<(u16, String), String> {
        let query = test_signer::signed_query(pairs, SECRET);
        outcome(self.agent.get(&format!("{}/client/api?{query}", self.base)).call())
    }

    pub(crate) fn list(&self, extra: &[(&str, &str)]) -> (u16, Value) {
        let mut pairs = vec![("command", "listVirtualMachines"), ("apiKey", KEY), ("response", "json")];
        pairs.extend_from_slice(extra);
        let (status, body) = self.api(&pairs).unwrap();
        (status, serde_json::from_str(&body).unwrap_or(Value::String(body)))
    }

    pub(crate) fn control(&self, method: &str, path: &str, body: &str) -> (u16, Value) {
        let request = self.agent.request(method, &format!("{}/control/{path}", self.base));
        let (status, body) = outcome(request.send_string(body)).unwrap();
        (status, serde_json::from_str(&body).unwrap())
    }
}

pub(crate) fn vm_names(answer: &Value) -> Vec<&str> {
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

#[test]
fn over_https_the_api_and_the_control_endpoints_share_the_one_listener() {
    let client = start_https(sample_cloud::generate(3));
    let (status, answer) = client.list(&[("pagesize", "2"), ("page", "1")]);
    assert_eq!(status, 200, "{answer}");
    assert_eq!(vm_names(&answer), ["vm-1", "vm-2"]);
    assert_eq!(client.control("PUT", "fault", r#"{"mode":"status","code":503,"times":1}"#).0, 200);
    assert_eq!(client.list(&[]).0, 503);
    let (_, requests) = client.control("GET", "requests", "");
    assert_eq!(requests.as_array().unwrap().len(), 2, "{requests}");
    let plain = Client { base: client.base.replacen("https://", "http://", 1), agent: fresh_agent() };
    assert!(plain.api(&[("command", "listVirtualMachines"), ("apiKey", KEY)]).is_err(), "no plain HTTP on an HTTPS stand-in");
}

#[test]
fn over_https_refused_and_truncated_answers_still_end_the_connection() {
    let client = start_https(sample_cloud::generate(50));
    client.control("PUT", "fault", r#"{"mode":"refuse","times":1}"#);
    let started = Instant::now();
    assert!(client.api(&[("command", "listVirtualMachines"), ("apiKey", KEY)]).is_err());
    client.control("PUT", "fault", r#"{"mode":"truncate","times":1}"#);
    let result = client.api(&[("command", "listVirtualMachines"), ("apiKey", KEY)]);
    assert!(result.is_err(), "{result:?}");
    assert!(started.elapsed() < Duration::from_secs(5), "the cuts end the connections at once");
    assert_eq!(client.list(&[]).0, 200, "and the stand-in serves on");
}

// ---- The listing moving while a client pages through it -------------------------------------------------------

/// Ten VMs outside projects, `vm-1` … `vm-10` (ids equal names), and one project VM `p-1`.
fn ten_vms() -> Cloud {
    let mut vms: Vec<Value> =
        (1..=10).map(|n| json!({"id": format!("vm-{n}"), "name": format!("vm-{n}"), "zoneid": "z1"})).collect();
    vms.push(json!({"id": "p-1", "name": "p-1", "zoneid": "z1", "projectid": "proj-1"}));
    Cloud::from_json(&json!({ "vms": vms }).to_string()).unwrap()
}

/// One page as a client sees it: `count` (absent on an empty page) and the VM names.
#[derive(Debug, PartialEq)]
struct Seen {
    count: Option<u64>,
    names: Vec<String>,
}

fn seen(count: u64, names: &[&str]) -> Seen {
    Seen { count: Some(count), names: names.iter().map(|name| name.to_string()).collect() }
}

impl Client {
    /// Pages through one pass (`projectid` as given) with `pagesize` 3 until an empty page, as the hook does.
    fn pass(&self, projectid: Option<&str>) -> Vec<Seen> {
        let mut pages = Vec::new();
        for page in 1..=10 {
            let page = page.to_string();
            let mut extra = vec![("page", page.as_str()), ("pagesize", "3"), ("listall", "true"), ("details", "nics")];
            extra.extend(projectid.map(|id| ("projectid", id)));
            let (status, answer) = self.list(&extra);
            assert_eq!(status, 200, "{answer}");
            let names: Vec<String> = vm_names(&answer).into_iter().map(String::from).collect();
            let count = answer["listvirtualmachinesresponse"]["count"].as_u64();
            if names.is_empty() {
                break;
            }
            pages.push(Seen { count, names });
        }
        pages
    }

    pub(crate) fn fault(&self, fault: Value) {
        let (status, answer) = self.control("PUT", "fault", &fault.to_string());
        assert_eq!(status, 200, "{answer}");
    }
}

#[test]
fn a_vm_expunged_while_page_3_is_asked_for_makes_the_client_miss_the_vm_that_moved_up_to_page_2() {
    let client = start(ten_vms());
    client.fault(json!({"mode": "expunge-while-paging", "page": 3, "id": "vm-2"}));
    assert_eq!(
        client.pass(None),
        [
            seen(10, &["vm-1", "vm-2", "vm-3"]),
            seen(10, &["vm-4", "vm-5", "vm-6"]),
            // vm-2 is gone: vm-7 moved up to page 2, which the client already has; `count` is the new total.
            seen(9, &["vm-8", "vm-9", "vm-10"]),
        ]
    );
    assert_eq!(client.pass(None).iter().map(|page| page.names.len()).sum::<usize>(), 9, "the next listing is whole");
    assert_eq!(client.list(&[("id", "vm-2")]).1, json!({"listvirtualmachinesresponse": {}}), "expunged, not unknown");
    let (_, requests) = client.control("GET", "requests", "");
    let faulted: Vec<&Value> = requests.as_array().unwrap().iter().filter(|r| r["fault"].is_string()).collect();
    assert_eq!(faulted.len(), 2, "page 3 of both listings (the second found vm-2 gone already)");
    assert!(faulted.iter().all(|r| r["fault"] == "expunge-while-paging" && r["params"]["page"] == "3"));
}

#[test]
fn a_listing_fault_waits_for_its_own_pass() {
    let client = start(ten_vms());
    client.fault(json!({"mode": "expunge-while-paging", "page": 1, "id": "vm-1", "projectid": "-1"}));
    assert_eq!(client.pass(None)[0], seen(10, &["vm-1", "vm-2", "vm-3"]), "the pass without projectid is untouched");
    assert_eq!(client.pass(Some("-1")), [seen(1, &["p-1"])]);
    assert_eq!(client.pass(None)[0], seen(9, &["vm-2", "vm-3", "vm-4"]), "vm-1 went with the project pass's page 1");
    // A lookup is no listing page: it never fires a listing fault.
    client.fault(json!({"mode": "short-page", "page": 1}));
    assert_eq!(vm_names(&client.list(&[("id", "vm-5"), ("page", "1"), ("pagesize", "3")]).1), ["vm-5"]);
}

#[test]
fn a_short_page_leaves_one_vm_out_but_counts_it_and_the_next_listing_sees_it() {
    let client = start(ten_vms());
    client.fault(json!({"mode": "short-page", "page": 2, "times": 1}));
    assert_eq!(
        client.pass(None),
        [
            seen(10, &["vm-1", "vm-2", "vm-3"]),
            seen(10, &["vm-5", "vm-6"]),
            seen(10, &["vm-7", "vm-8", "vm-9"]),
            seen(10, &["vm-10"]),
        ]
    );
    assert_eq!(client.pass(None)[1], seen(10, &["vm-4", "vm-5", "vm-6"]), "the cloud kept vm-4");
    client.fault(json!({"mode": "short-page", "page": 2, "id": "vm-6"}));
    assert_eq!(client.pass(None)[1], seen(10, &["vm-4", "vm-5"]), "the VM named is the one left out");
}

#[test]
fn a_vm_created_while_page_3_is_asked_for_raises_count_from_there_and_ends_the_listing() {
    let client = start(ten_vms());
    client.fault(json!({"mode": "count-change", "page": 3, "vm": {"id": "new", "name": "new", "zoneid": "z1"}}));
    assert_eq!(
        client.pass(None),
        [
            seen(10, &["vm-1", "vm-2", "vm-3"]),
            seen(10, &["vm-4", "vm-5", "vm-6"]),
            seen(11, &["vm-7", "vm-8", "vm-9"]),
            seen(11, &["vm-10", "new"]),
        ]
    );
    assert_eq!(client.pass(None).last().unwrap(), &seen(11, &["vm-10", "new"]), "created once, not per listing");
}

#[test]
fn a_vm_coming_into_view_below_the_offset_makes_page_3_repeat_the_last_vm_of_page_2() {
    let client = start(ten_vms());
    let low = json!({"id": "low", "name": "low", "zoneid": "z1"});
    client.fault(json!({"mode": "duplicate-across-pages", "page": 3, "vm": low}));
    assert_eq!(
        client.pass(None),
        [
            seen(10, &["vm-1", "vm-2", "vm-3"]),
            seen(10, &["vm-4", "vm-5", "vm-6"]),
            seen(11, &["vm-6", "vm-7", "vm-8"]),
            seen(11, &["vm-9", "vm-10"]),
        ],
        "vm-6 twice, `low` not at all"
    );
    assert_eq!(client.pass(None)[0], seen(11, &["low", "vm-1", "vm-2"]), "the next listing starts with it");
}

// ---- Targeted lookups ------------------------------------------------------------------------------------------

#[test]
fn a_lookup_by_id_answers_as_cloudstack_for_running_destroyed_expunged_and_unknown_vms() {
    let client = start(ten_vms());
    client.control("POST", "vms/vm-2/state", r#"{"state":"Destroyed"}"#);
    client.control("DELETE", "vms/vm-3", "");
    client.control("DELETE", "requests", "");

    assert_eq!(vm_names(&client.list(&[("id", "vm-1")]).1), ["vm-1"]);
    let (_, destroyed) = client.list(&[("id", "vm-2")]);
    assert_eq!(destroyed["listvirtualmachinesresponse"]["virtualmachine"][0]["state"], "Destroyed");
    assert_eq!(client.list(&[("id", "vm-3")]), (200, json!({"listvirtualmachinesresponse": {}})));
    let (status, unknown) = client.list(&[("id", "vm-99")]);
    assert_eq!(status, 431);
    assert_eq!(unknown["listvirtualmachinesresponse"]["errorcode"], 431);
    assert_eq!(vm_names(&client.list(&[("id", "p-1")]).1), ["p-1"], "id finds a project VM without projectid");

    let (_, counts) = client.control("GET", "requests/count", "");
    assert_eq!(
        counts,
        json!({"listing-pages": 0, "listings-begun": 0, "lookups": 5, "looked-up-ids": 5, "event-polls": 0,
               "listing-rows": 0, "lookup-rows": 3, "event-rows": 0, "other": 0})
    );
}

#[test]
fn request_counts_tell_a_syncs_pages_from_its_lookups() {
    let client = start(ten_vms());
    client.pass(None);
    client.pass(Some("-1"));
    let (u, v) = ("6e0d2c1a-0709-4c5e-9a1b-000000000709", "6e0d2c1a-0710-4c5e-9a1b-000000000710");
    client.control("POST", "vms", &json!({"id": u, "name": "u", "zoneid": "z1"}).to_string());
    client.control("POST", "vms", &json!({"id": v, "name": "v", "zoneid": "z1"}).to_string());
    assert_eq!(vm_names(&client.list(&[("ids", &format!("{u},{v}"))]).1), ["u", "v"]);
    let (_, counts) = client.control("GET", "requests/count", "");
    // Four pages and an empty one without projectid, one and an empty one with it.
    assert_eq!(
        counts,
        json!({"listing-pages": 7, "listings-begun": 1, "lookups": 1, "looked-up-ids": 2, "event-polls": 0,
               "listing-rows": 11, "lookup-rows": 2, "event-rows": 0, "other": 0})
    );
    let (_, requests) = client.control("GET", "requests", "");
    assert_eq!(requests.as_array().unwrap().last().unwrap()["kind"], "lookup");
}

#[test]
fn a_batch_of_ids_fits_a_get_up_to_about_200_uuids_more_need_a_form_post_and_pages_like_a_listing() {
    let cloud = sample_cloud::generate(700);
    let outside: Vec<String> =
        cloud.vms.iter().filter(|vm| vm.projectid.is_none()).map(|vm| vm.id.to_string()).collect();
    let client = start(cloud);
    let batch = |n: usize| outside[..n].join(",");
    let (status, answer) = client.list(&[("ids", &batch(150)), ("details", "nics")]);
    assert_eq!((status, answer["listvirtualmachinesresponse"]["count"].clone()), (200, json!(150)));

    let (status, refused) =
        client.api(&[("command", "listVirtualMachines"), ("apiKey", KEY), ("ids", &batch(250))]).unwrap();
    assert_eq!(status, 414, "Jetty's 8 KiB head buffer: {refused}");
    assert!(refused.contains("URI Too Long"));

    let all = batch(outside.len());
    let post = |page: &str| {
        let pairs =
            [("command", "listVirtualMachines"), ("apiKey", KEY), ("ids", &all), ("page", page), ("pagesize", "500")];
        let signature = test_signer::signature(&pairs, SECRET);
        let mut form = pairs.to_vec();
        form.push(("signature", &signature));
        let (status, body) =
            outcome(client.agent.post(&format!("{}/client/api", client.base)).send_form(&form)).unwrap();
        let answer: Value = serde_json::from_str(&body).unwrap();
        (status, answer["listvirtualmachinesresponse"]["count"].clone(), vm_names(&answer).len())
    };
    assert_eq!(post("1"), (200, json!(560), 500), "ids page like a listing: no more than pagesize at once");
    assert_eq!(post("2"), (200, json!(560), 60));
    let (_, requests) = client.control("GET", "requests", "");
    let refused = &requests.as_array().unwrap()[1];
    assert_eq!((refused["status"].clone(), refused["verified"].clone()), (json!(414), json!(false)));
}

// ---- Connections that are never answered -----------------------------------------------------------------------

/// A signed listing sent over a raw connection, so a test can watch the bytes (or their absence) come back.
fn raw_listing(address: SocketAddr) -> TcpStream {
    let query = test_signer::signed_query(&[("command", "listVirtualMachines"), ("apiKey", KEY)], SECRET);
    let mut stream = TcpStream::connect(address).unwrap();
    write!(stream, "GET /client/api?{query} HTTP/1.1\r\nHost: standin\r\nConnection: close\r\n\r\n").unwrap();
    stream
}

/// Whether nothing at all arrives on `stream` within a second.
fn silent_for_a_second(stream: &mut TcpStream) -> bool {
    stream.set_read_timeout(Some(Duration::from_secs(1))).unwrap();
    let mut byte = [0u8; 1];
    matches!(stream.read(&mut byte), Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut))
}

fn whole_answer(stream: &mut TcpStream) -> String {
    stream.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let mut answer = String::new();
    stream.read_to_string(&mut answer).unwrap();
    answer
}

/// Polls `/control/held` until it shows `n` (the stand-in has taken the requests off the wire).
fn wait_until_held(client: &Client, n: u64) {
    let deadline = Instant::now() + Duration::from_secs(5);
    while client.control("GET", "held", "").1["held"] != n {
        assert!(Instant::now() < deadline, "the stand-in never held {n} requests");
        std::thread::yield_now();
    }
}

#[test]
fn accept_and_hang_holds_more_requests_than_there_are_workers_and_control_still_answers() {
    let client = start(sample_cloud::generate(3));
    let address: SocketAddr = client.base.trim_start_matches("http://").parse().unwrap();
    client.fault(json!({"mode": "accept-and-hang"}));
    let mut held: Vec<TcpStream> = (0..crate::WORKERS + 1).map(|_| raw_listing(address)).collect();
    wait_until_held(&client, held.len() as u64);

    assert!(silent_for_a_second(&mut held[0]), "not a byte while the fault is armed");
    let started = Instant::now();
    assert_eq!(client.control("GET", "fault", "").1, json!({"mode": "accept-and-hang"}));
    assert!(started.elapsed() < Duration::from_millis(500), "control answers at once");

    client.fault(json!({"mode": "none"}));
    for stream in &mut held {
        let answer = whole_answer(stream);
        assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
        assert!(answer.contains("\"count\":3"), "{answer}");
    }
    assert_eq!(client.control("GET", "held", "").1["held"], 0);
}

#[test]
fn accept_and_hang_with_times_holds_that_many_until_another_mode_is_armed() {
    let client = start(sample_cloud::generate(3));
    let address: SocketAddr = client.base.trim_start_matches("http://").parse().unwrap();
    client.fault(json!({"mode": "accept-and-hang", "times": 1}));
    let mut first = raw_listing(address);
    wait_until_held(&client, 1);
    assert_eq!(client.list(&[]).0, 200, "the second request is answered: times ran out");
    assert!(silent_for_a_second(&mut first), "the first stays held although the board shows none");
    client.fault(json!({"mode": "status", "code": 503}));
    assert!(whole_answer(&mut first).starts_with("HTTP/1.1 200"), "answered as it would have been when it came");
}

#[test]
fn a_blackholed_address_never_answers_a_connect_while_the_main_address_and_control_do() {
    let (client, blackhole) = start_with_blackhole(sample_cloud::generate(3));
    let through_blackhole = Client { base: format!("http://{blackhole}"), agent: fresh_agent() };
    assert_eq!(through_blackhole.list(&[]).0, 200, "open, it forwards to the API");

    client.fault(json!({"mode": "blackhole-connect"}));
    let error = TcpStream::connect_timeout(&blackhole, Duration::from_secs(1)).unwrap_err();
    assert_eq!(error.kind(), ErrorKind::TimedOut, "no SYN-ACK and no RST: {error}");
    assert_eq!(client.list(&[]).0, 200, "the main address answers the API");
    assert_eq!(client.control("PUT", "fault", r#"{"mode":"blackhole-connect","times":1}"#).0, 400);

    client.fault(json!({"mode": "none"}));
    assert_eq!(through_blackhole.list(&[]).0, 200, "repaired through /control/");
}
