//! Issue 3: CloudStack misbehaving, hostile packets, injected faults, reloads and load never
//! hurt Kea or hand out a wrong prefix. Each story runs the real kea-dhcp6 (2.6.3 or 3.0.x) with
//! the hook.
use std::net::Ipv6Addr;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use serde_json::{json, Map, Value};

use crate::lab::dhcp6::{client_message, Client, MacCarrier, Router};
use crate::lab::{wait_until, Lab, LabSpec, VlanSpec};

const WEB_MAC: [u8; 6] = [0x02, 0x00, 0x0a, 0xc5, 0x00, 0x17];
const WEB_PREFIX: &str = "2a00:f10:500:1170::/60";
const OTHER_VLAN_MAC: [u8; 6] = [0x02, 0x00, 0x0a, 0xc6, 0x00, 0x05];

fn vm(id: &str, mac: [u8; 6], ip: &str, vlan: u16) -> Value {
    let mac = mac.iter().map(|b| format!("{b:02x}")).collect::<Vec<_>>().join(":");
    json!({"id": id, "name": id, "state": "Running", "zoneid": "z1", "nics": [{"id": format!("nic-{id}"), "macaddress": mac,
        "ipaddress": ip, "netmask": "255.255.252.0", "vlanid": vlan, "traffictype": "Guest", "isdefault": true}]})
}

fn cloud() -> Value {
    json!({"vms": [vm("web", WEB_MAC, "185.62.101.23", 709), vm("other", OTHER_VLAN_MAC, "185.62.104.5", 710)]})
}

fn spec(params: Value) -> LabSpec {
    LabSpec {
        vlans: vec![VlanSpec::new(709, "VLAN709", "2a00:f10:500::/40"), VlanSpec::new(710, "VLAN710", "2a00:f10:600::/40")],
        cloud: cloud(),
        hook_params: params.as_object().cloned().unwrap_or_else(Map::new),
        ..LabSpec::default()
    }
}

fn router(lab: &Lab, interface_id: &str) -> Router {
    let server = std::net::SocketAddrV6::new(lab.kea_addr(), 547, 0, 0);
    Router::new(lab.router_socket(), server, "2a00:f10:500::1".parse().unwrap(), interface_id.as_bytes(), MacCarrier::RemoteIdRaw { enterprise: 2636 })
}

fn prefix_of(router: &Router, mac: [u8; 6]) -> Option<String> {
    let reply = router.acquire(&Client::new(mac)).expect("the exchange runs")?;
    reply.prefixes.iter().find(|p| p.valid > 0).map(|p| format!("{}/{}", p.prefix, p.len))
}

static NEXT_STRANGER: AtomicU32 = AtomicU32::new(1);

/// A Solicit from a never-seen MAC: asks the hook for an early sync.
fn poke_sync(router: &Router) {
    let n = NEXT_STRANGER.fetch_add(1, Ordering::Relaxed);
    router.solicit_and_go(&Client::new([0x02, 0x99, 0, (n >> 16) as u8, (n >> 8) as u8, n as u8])).expect("send");
}

fn count(lab: &Lab, needle: &str) -> usize {
    lab.kea_log().lines().filter(|l| l.contains(needle)).count()
}

fn assert_no_error_lines_but(lab: &Lab, allowed: &[&str]) {
    let log = lab.kea_log();
    let errors: Vec<&str> = log
        .lines()
        .filter(|l| l.contains(" ERROR ") || l.contains(" FATAL "))
        .filter(|l| !allowed.iter().any(|a| l.contains(a)))
        .collect();
    assert!(errors.is_empty(), "unexpected error lines:\n{}", errors.join("\n"));
}

#[test]
fn kea_starts_while_cloudstack_is_down_and_serves_known_clients_once_a_sync_succeeds() {
    let started = Instant::now();
    let lab = Lab::start(LabSpec { standin_fault: Some(json!({"mode": "refuse"})), ..spec(json!({"warmup-timeout": 3})) });
    eprintln!("Kea served {:.1} s after the lab started (warmup-timeout 3 s)", started.elapsed().as_secs_f64());
    assert!(lab.kea_log().contains("CLOUDSTACK_WARMUP_LATE"), "{}", lab.kea_log());
    let r = router(&lab, "VLAN709");
    assert_eq!(prefix_of(&r, WEB_MAC), None, "nothing known yet");
    lab.standin().set_fault(json!({"mode": "none"}));
    let mut got = None;
    assert!(wait_until(Duration::from_secs(20), || {
        got = prefix_of(&r, WEB_MAC);
        got.is_some()
    }));
    assert_eq!(got.as_deref(), Some(WEB_PREFIX));
    assert!(lab.kea_log().contains("CLOUDSTACK_SYNC_RECOVERED"));
}

#[test]
fn with_a_snapshot_known_clients_are_served_at_once_while_cloudstack_is_down() {
    let mut lab = Lab::start(spec(json!({"snapshot-file": "/var/lib/kea/cloudstack-index.json", "warmup-timeout": 2})));
    assert!(lab.work_dir().join("lib/cloudstack-index.json").is_file(), "the first sync wrote the snapshot");
    lab.standin().set_fault(json!({"mode": "refuse"}));
    lab.restart_kea();
    assert!(lab.kea_log().contains("CLOUDSTACK_SNAPSHOT_LOADED"), "{}", lab.kea_log());
    assert_eq!(prefix_of(&router(&lab, "VLAN709"), WEB_MAC).as_deref(), Some(WEB_PREFIX), "served from the snapshot");
}

#[test]
fn with_a_snapshot_kea_serves_at_once_and_does_not_wait_for_a_slow_cloudstack() {
    let mut lab = Lab::start(spec(json!({"snapshot-file": "/var/lib/kea/cloudstack-index.json", "warmup-timeout": 60, "request-timeout": 30})));
    // CloudStack now answers after 20 s: a warm-up wait would hold Kea's start that long.
    lab.standin().set_fault(json!({"mode": "hang", "seconds": 20}));
    let restarted = std::time::Instant::now();
    lab.restart_kea();
    assert_eq!(prefix_of(&router(&lab, "VLAN709"), WEB_MAC).as_deref(), Some(WEB_PREFIX), "served from the snapshot");
    assert!(restarted.elapsed() < Duration::from_secs(15), "Kea served {:?} after the restart", restarted.elapsed());
    assert_eq!(lab.kea_log().matches("CLOUDSTACK_WARMUP_DONE").count(), 1, "only the first start waited: {}", lab.kea_log());
    assert_eq!(lab.kea_log().matches("CLOUDSTACK_SNAPSHOT_LOADED").count(), 1, "{}", lab.kea_log());
}

#[test]
fn a_corrupt_snapshot_is_refused_with_a_clear_line_and_never_half_loaded() {
    let mut lab = Lab::start(spec(json!({"snapshot-file": "/var/lib/kea/cloudstack-index.json", "warmup-timeout": 2})));
    let path = lab.work_dir().join("lib/cloudstack-index.json");
    let text = std::fs::read(&path).unwrap();
    std::fs::write(&path, &text[..text.len() * 2 / 3]).unwrap();
    lab.standin().set_fault(json!({"mode": "refuse"}));
    lab.restart_kea();
    let refused = lab.kea_log().lines().filter(|l| l.contains("CLOUDSTACK_SNAPSHOT_REFUSED")).map(String::from).collect::<Vec<_>>();
    assert_eq!(refused.len(), 1, "{}", lab.kea_log());
    assert!(refused[0].contains("not a readable snapshot"), "{}", refused[0]);
    assert_eq!(prefix_of(&router(&lab, "VLAN709"), WEB_MAC), None, "nothing of it was loaded");
}

/// Every CloudStack fault: the index stays whole, one error line per episode, the next sync recovers.
/// Unknown MACs ask for listings here (`event-interval` 0): these are a listing's faults
/// (`event_stories.rs` has the event log's).
fn survive(fault: Value, params: Value) {
    let mut params = params;
    params["event-interval"] = json!(0);
    let lab = Lab::start(spec(params));
    let r = router(&lab, "VLAN709");
    assert_eq!(prefix_of(&r, WEB_MAC).as_deref(), Some(WEB_PREFIX));
    lab.standin().set_fault(fault.clone());
    for _ in 0..3 {
        let failures = count(&lab, "CLOUDSTACK_SYNC_FAILED");
        poke_sync(&r);
        assert!(wait_until(Duration::from_secs(20), || count(&lab, "CLOUDSTACK_SYNC_FAILED") > failures), "{fault}: no sync failed\n{}", lab.kea_log());
        assert_eq!(prefix_of(&r, WEB_MAC).as_deref(), Some(WEB_PREFIX), "{fault}: the index stays whole");
    }
    let errors: Vec<String> = lab.kea_log().lines().filter(|l| l.contains("CLOUDSTACK_SYNC_FAILED") && l.contains(" ERROR ")).map(String::from).collect();
    assert_eq!(errors.len(), 1, "{fault}: one error line per episode:\n{}", errors.join("\n"));
    eprintln!("{fault}: {}", errors[0]);

    lab.standin().set_fault(json!({"mode": "none"}));
    lab.standin().add_vm(vm("late", [0x02, 0, 0x0a, 0xc5, 0, 0x30], "185.62.101.30", 709));
    let mut got = None;
    assert!(wait_until(Duration::from_secs(20), || {
        got = prefix_of(&r, [0x02, 0, 0x0a, 0xc5, 0, 0x30]);
        got.is_some()
    }), "{fault}: the next sync recovers");
    assert_eq!(got.as_deref(), Some("2a00:f10:500:11e0::/60"));
    assert!(lab.kea_log().contains("CLOUDSTACK_SYNC_RECOVERED"));
    assert_no_error_lines_but(&lab, &["CLOUDSTACK_SYNC_FAILED"]);
}

#[test]
fn cloudstack_refusing_connections_keeps_the_index() {
    survive(json!({"mode": "refuse"}), json!({}));
}

#[test]
fn cloudstack_answering_503_keeps_the_index() {
    survive(json!({"mode": "status", "code": 503}), json!({}));
}

#[test]
fn cloudstack_answering_401_keeps_the_index() {
    survive(json!({"mode": "status", "code": 401}), json!({}));
}

#[test]
fn cloudstack_answering_431_keeps_the_index() {
    survive(json!({"mode": "status", "code": 431}), json!({}));
}

#[test]
fn cloudstack_hanging_past_the_request_timeout_keeps_the_index() {
    survive(json!({"mode": "hang", "seconds": 6}), json!({"request-timeout": 1}));
}

#[test]
fn truncated_answers_keep_the_index() {
    survive(json!({"mode": "truncate"}), json!({}));
}

#[test]
fn answers_that_are_not_json_keep_the_index() {
    survive(json!({"mode": "garbage"}), json!({}));
}

#[test]
fn a_page_missing_in_the_middle_of_a_sync_keeps_the_index() {
    survive(json!({"mode": "fail-page", "page": 2, "code": 530}), json!({"page-size": 1}));
}

#[test]
fn spoofed_identities_get_no_prefix() {
    let lab = Lab::start(spec(json!({})));
    let r709 = router(&lab, "VLAN709");
    let stranger = [0x02, 0x66, 0, 0, 0, 0x01];

    // A DUID-LL carrying the known NIC's MAC, from another NIC: the DUID proves nothing.
    let mut duid = vec![0, 3, 0, 1];
    duid.extend_from_slice(&WEB_MAC);
    assert_eq!(prefix_of_client(&r709, &Client::with_duid(stranger, duid)), None);

    // The router names a MAC that lives on VLAN 710, through VLAN 709.
    assert_eq!(prefix_of(&r709, OTHER_VLAN_MAC), None);

    // A forged interface-id for a VLAN the hook does not serve.
    assert_eq!(prefix_of(&router(&lab, "VLAN4000"), WEB_MAC), None);

    // The client wraps its Solicit in its own Relay-Forward claiming the known MAC on VLAN 709;
    // only the outer relay is the router, and it sees the stranger.
    let claimed = Client::new(WEB_MAC);
    let inner_relay = r709.relay_forward(&claimed, &client_message(1, &claimed, None, &[]));
    let outer = r709.relay_forward(&Client::new(stranger), &inner_relay);
    assert!(no_prefix(r709.send_raw(&outer).unwrap()), "a nested relay gets nothing");

    // A Solicit sent straight to Kea, not relayed at all.
    let direct = lab.router_socket();
    let solicit = client_message(1, &Client::new(WEB_MAC), None, &[]);
    direct.send_to(&solicit, (lab.kea_addr(), 547)).unwrap();
    direct.set_read_timeout(Some(Duration::from_secs(2))).unwrap();
    let mut buf = [0u8; 2048];
    if let Ok((n, _)) = direct.recv_from(&mut buf) {
        assert!(no_prefix(Some(buf[..n].to_vec())), "a direct Solicit gets nothing");
    }
    let live: Vec<_> = lab.leases().into_iter().filter(|l| l.is_prefix()).collect();
    assert!(live.is_empty(), "no spoof left a lease: {live:?}");
    assert_no_error_lines_but(&lab, &[]);
}

fn prefix_of_client(router: &Router, client: &Client) -> Option<String> {
    let reply = router.acquire(client).expect("the exchange runs")?;
    reply.prefixes.iter().find(|p| p.valid > 0).map(|p| format!("{}/{}", p.prefix, p.len))
}

/// No IAPREFIX with a valid lifetime anywhere in the answer.
fn no_prefix(answer: Option<Vec<u8>>) -> bool {
    let Some(message) = answer else { return true };
    // IAPREFIX (26) with a non-zero valid lifetime would carry 2a00:f10: bytes.
    !message.windows(4).any(|w| w == [0x2a, 0x00, 0x0f, 0x10])
}

#[test]
fn a_panic_in_rust_and_an_exception_in_the_shim_never_reach_kea() {
    let mut cloud = cloud();
    cloud["vms"].as_array_mut().unwrap().extend([
        vm("panics", [0x02, 0xde, 0xad, 0, 0, 0x01], "185.62.101.40", 709),
        vm("throws", [0x02, 0xde, 0xad, 0, 0, 0x02], "185.62.101.41", 709),
        vm("panics-in-select", [0x02, 0xde, 0xad, 0, 0, 0x03], "185.62.101.42", 709),
    ]);
    let lab = Lab::start(LabSpec { cloud, kea_env: vec!["KEA_CLOUDSTACK_FAULT_INJECTION=1".into()], ..spec(json!({})) });
    let r = router(&lab, "VLAN709");
    for _ in 0..3 {
        let _ = r.acquire(&Client::new([0x02, 0xde, 0xad, 0, 0, 0x01]));
        let _ = r.acquire(&Client::new([0x02, 0xde, 0xad, 0, 0, 0x02]));
        // lease6_select fails closed: the NIC's planned prefix is not handed out, nor is any other.
        assert_eq!(prefix_of(&r, [0x02, 0xde, 0xad, 0, 0, 0x03]), None, "nothing delegated when judging panics");
        assert_eq!(prefix_of(&r, WEB_MAC).as_deref(), Some(WEB_PREFIX), "Kea keeps answering");
    }
    let log = lab.kea_log();
    assert!(log.contains("CLOUDSTACK_CALLOUT_ERROR pkt6_receive failed: injected panic"), "{log}");
    assert!(log.contains("is not a valid prefix length"), "the C++ exception was caught and logged:\n{log}");
    assert!(log.contains("CLOUDSTACK_CALLOUT_ERROR lease6_select failed: injected panic"), "{log}");
    let faulty: Vec<_> = lab.leases().into_iter().filter(|l| l.is_prefix() && l.valid_lifetime > 0 && l.hwaddr.starts_with("02:de:ad")).collect();
    assert!(faulty.is_empty(), "no lease for a client whose callouts failed: {faulty:?}");
}

fn kea_process_figures(lab: &Lab) -> (usize, usize, u64) {
    let name = format!("kc-{}", lab.id());
    let out = crate::lab::host_run("docker", &["exec", &name, "sh", "-c",
        "p=$(cat /run/kea/*.pid | head -n1); ls /proc/$p/task | wc -l; ls /proc/$p/fd | wc -l; grep VmRSS /proc/$p/status | tr -s ' ' | cut -d' ' -f2"]);
    let numbers: Vec<u64> = out.split_whitespace().filter_map(|w| w.parse().ok()).collect();
    assert_eq!(numbers.len(), 3, "threads, fds, RSS of Kea: {out:?}");
    (numbers[0] as usize, numbers[1] as usize, numbers[2])
}

#[test]
fn a_hundred_config_reloads_under_traffic_leak_nothing_and_change_no_prefix() {
    let lab = Lab::start(LabSpec { kea_threads: Some(4), ..spec(json!({})) });
    let r = router(&lab, "VLAN709");
    assert_eq!(prefix_of(&r, WEB_MAC).as_deref(), Some(WEB_PREFIX));
    let (threads, fds, rss) = kea_process_figures(&lab);
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let traffic = {
        let (r, stop) = (router(&lab, "VLAN709"), stop.clone());
        std::thread::spawn(move || {
            let (mut answered, mut wrong) = (0, 0);
            let deadline = Instant::now() + Duration::from_secs(300);
            while !stop.load(Ordering::Relaxed) && Instant::now() < deadline {
                match prefix_of(&r, WEB_MAC) {
                    Some(p) if p == WEB_PREFIX => answered += 1,
                    Some(_) => wrong += 1,
                    None => {} // mid-reload: Kea may not answer
                }
            }
            (answered, wrong)
        })
    };
    for i in 0..100 {
        let answer = lab.control(json!({"command": "config-reload"}));
        assert_eq!(answer["result"], 0, "reload {i}: {answer}");
        std::thread::sleep(Duration::from_millis(100)); // traffic between reloads
    }
    stop.store(true, Ordering::Relaxed);
    let (answered, wrong) = traffic.join().unwrap();
    assert_eq!(prefix_of(&r, WEB_MAC).as_deref(), Some(WEB_PREFIX), "same prefix after 100 reloads");
    let (threads_after, fds_after, rss_after) = kea_process_figures(&lab);
    eprintln!("100 reloads: threads {threads} -> {threads_after}, fds {fds} -> {fds_after}, RSS {rss} kB -> {rss_after} kB; {answered} exchanges answered meanwhile, {wrong} wrong");
    assert_eq!(wrong, 0);
    assert!(answered > 0, "traffic went through during the reloads");
    assert_eq!(threads_after, threads, "no leaked threads");
    assert!(fds_after <= fds + 2, "no leaked file descriptors: {fds} -> {fds_after}");
    assert_eq!(count(&lab, "CLOUDSTACK_LOAD_OK"), 101);
    assert_eq!(count(&lab, "CLOUDSTACK_INDEX_KEPT"), 100, "each reload serves from the index it had");
    assert_no_error_lines_but(&lab, &[]);
}

#[test]
fn a_multi_threaded_kea_under_bounded_load_while_syncs_run_answers_every_client_right() {
    let nics = 200u32;
    let vms: Vec<Value> = (0..nics).map(|i| vm(&format!("vm{i}"), [0x02, 0, 0x0a, 0xc5, (i >> 8) as u8, i as u8], &format!("185.62.100.{}", 10 + i), 709)).collect();
    // Unknown MACs ask for full listings (`event-interval` 0): index swaps under load are the point.
    let lab = Lab::start(LabSpec { cloud: json!({"vms": vms}), kea_threads: Some(4), ..spec(json!({"miss-holdoff": 0, "event-interval": 0})) });
    let workers: Vec<_> = (0..4u32)
        .map(|w| {
            // Each worker relays from an address of its own, as separate routers would.
            let server = std::net::SocketAddrV6::new(lab.kea_addr(), 547, 0, 0);
            let r = Router::new(lab.router_socket_at(10 + w as u16), server, "2a00:f10:500::1".parse().unwrap(), b"VLAN709", MacCarrier::RemoteIdRaw { enterprise: 2636 });
            std::thread::spawn(move || {
                let mut results = Vec::new();
                for i in (w..nics).step_by(4) {
                    let mac = [0x02, 0, 0x0a, 0xc5, (i >> 8) as u8, i as u8];
                    results.push((i, prefix_of(&r, mac)));
                    poke_sync(&r); // keeps syncs running under the load
                }
                results
            })
        })
        .collect();
    let mut answered = 0;
    for worker in workers {
        for (i, got) in worker.join().unwrap() {
            let n = 10 + i; // 185.62.100.(10+i) is host 10+i of 185.62.100.0/22
            let expected = format!("{}/60", Ipv6Addr::from(u128::from("2a00:f10:500::".parse::<Ipv6Addr>().unwrap()) | (u128::from(n) << 68)));
            if let Some(got) = got {
                assert_eq!(got, expected, "NIC {i}");
                answered += 1;
            }
        }
    }
    assert!(answered >= nics as usize * 95 / 100, "{answered} of {nics} answered");
    let mut prefixes: Vec<String> = lab.leases().into_iter().filter(|l| l.is_prefix() && l.valid_lifetime > 0).map(|l| l.prefix()).collect();
    let total = prefixes.len();
    prefixes.sort();
    prefixes.dedup();
    assert_eq!(prefixes.len(), total, "no duplicate prefix in the lease file");
    assert!(count(&lab, "CLOUDSTACK_SYNC_FINISHED") >= 2, "syncs ran during the load");
    assert_no_error_lines_but(&lab, &[]);
}

#[test]
fn the_secret_key_never_appears_in_any_log_at_any_debug_level() {
    let lab = Lab::start(LabSpec { kea_debug: true, ..spec(json!({})) });
    let r = router(&lab, "VLAN709");
    assert_eq!(prefix_of(&r, WEB_MAC).as_deref(), Some(WEB_PREFIX));
    lab.standin().set_fault(json!({"mode": "status", "code": 401}));
    poke_sync(&r);
    assert!(wait_until(Duration::from_secs(10), || count(&lab, "CLOUDSTACK_SYNC_FAILED") > 0));
    let secret = lab.standin().secret_key().to_string();
    assert!(secret.len() >= 16);
    let log = lab.kea_log();
    assert!(log.contains("CLOUDSTACK_SYNC_STARTED"), "the hook's debug lines are in the log");
    assert!(!log.contains(&secret), "the secret key leaked into Kea's log");
    let standin = lab.standin().output();
    assert!(!standin.contains(&secret), "the secret key leaked into the stand-in's log");
}
