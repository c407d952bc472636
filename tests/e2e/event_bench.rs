//! `make bench`, issue 14: the event sync against today's design (a full listing when a MAC is
//! unknown, every 300 s a full listing), both against the stand-in answering as slowly as a real
//! management server (`--latency cloudstack`). Writes its own section of BENCHMARKS.md.
use std::fmt::Write as _;
use std::net::SocketAddrV6;
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use crate::lab::dhcp6::{Client, MacCarrier, Router};
use crate::lab::RequestCounts;
use crate::lab::{wait_until, Lab, LabSpec, VlanSpec};

/// New VMs per figure.
const NEW_VMS: u8 = 20;
/// New VMs today's design is measured with at 10k (each costs a full listing).
const TODAYS_NEW_VMS: u8 = 5;
/// The quiet window the steady-state load is counted over.
const LOAD_WINDOW: Duration = Duration::from_secs(60);
/// Today's design: a full listing every 300 s (the old `refresh-interval` default).
const TODAYS_REFRESH: f64 = 300.0;
/// The event sync's safety net: a full listing every 3600 s (the new default).
const NEW_REFRESH: f64 = 3600.0;

/// The heading of this file's section in BENCHMARKS.md; `benchmarks.rs` keeps it when it rewrites the rest.
pub const SECTION: &str = "## Event sync against a slow CloudStack (issue 14)";

fn vlans() -> Vec<VlanSpec> {
    vec![
        VlanSpec { index: Some("mac".into()), ..VlanSpec::new(709, "VLAN709", "2a00:f10:500::/40") },
        VlanSpec { index: Some("mac".into()), ..VlanSpec::new(710, "VLAN710", "2a00:f10:600::/40") },
    ]
}

/// A lab of `vms` sample VMs behind the slow stand-in; the hook lists once (at load, in the
/// background) and then follows events every `event_interval` s (0: today's design).
fn slow_lab(vms: usize, event_interval: u64) -> Lab {
    let lab = Lab::start(LabSpec {
        vlans: vlans(),
        standin_args: vec!["--sample-cloud".into(), vms.to_string(), "--latency".into(), "cloudstack".into()],
        hook_params: json!({"warmup-timeout": 0, "request-timeout": 60, "refresh-interval": 86_400, "event-interval": event_interval,
            "miss-holdoff": 5})
        .as_object()
        .unwrap()
        .clone(),
        hook_debug: false,
        packet_logs: false,
        ..LabSpec::default()
    });
    let status = |lab: &Lab| lab.control(json!({"command": "cloudstack-status"}))["arguments"].clone();
    let listed = wait_until(Duration::from_secs(1200), || status(&lab)["last-success"].is_string());
    assert!(listed, "bench: the first listing of {vms} VMs did not end within 20 min:\n{}", lab.kea_log());
    if event_interval > 0 {
        assert!(wait_until(Duration::from_secs(30), || status(&lab)["event-sync"]["state"] == "on"), "bench: {}", status(&lab));
    }
    lab
}

fn listing_seconds(lab: &Lab) -> f64 {
    let status = lab.control(json!({"command": "cloudstack-status"}));
    status["arguments"]["last-sync"]["duration-ms"].as_f64().expect("a listing's duration") / 1000.0
}

/// New VM number `i` of group `tag`: a UUID, and a MAC whose sequence (`tag` × 256 + i, `tag` ≥ 0xd0)
/// no sample NIC has below 100k VMs (the mac rule numbers NICs by those low bits).
fn new_vm(i: u8, tag: u8) -> (Value, [u8; 6]) {
    let mac = [0x02, 0x00, 0x0a, 0xc5, tag, i];
    let text = crate::lab::dhcp6::mac_text(mac);
    let id = format!("{tag:02x}{i:06x}-7e57-4e0e-8a51-1c2d3e4f5a6b");
    let vm = json!({"id": id, "name": format!("new-{tag}-{i}"), "state": "Running", "zoneid": "z1", "nics": [{
        "id": format!("{tag:02x}{i:06x}-7e57-4e0e-8a51-00000000cafe"), "macaddress": text, "ipaddress": format!("185.62.99.{i}"),
        "netmask": "255.255.252.0", "vlanid": 709, "broadcasturi": "vlan://709", "traffictype": "Guest", "isdefault": true}]});
    (vm, mac)
}

/// Seconds from deploying a new VM to the first Reply that delegates its /60; the client
/// retransmits every 100 ms (a real one waits 1 s, then 2 s, ...: this measures the hook).
fn new_vm_to_reply(lab: &Lab, i: u8, tag: u8) -> f64 {
    let router = Router::new(lab.router_socket_at(99), SocketAddrV6::new(lab.kea_addr(), 547, 0, 0), "2a00:f10:500::1".parse().unwrap(),
        b"VLAN709", MacCarrier::RemoteIdRaw { enterprise: 2636 })
        .with_timeout(Duration::from_millis(100));
    let (vm, mac) = new_vm(i, tag);
    let client = Client::steady(mac);
    let started = Instant::now();
    lab.standin().add_vm(vm);
    loop {
        assert!(started.elapsed() < Duration::from_secs(900), "bench: new VM {i} got no prefix within 15 min");
        if let Ok(Some(reply)) = router.acquire(&client) {
            if reply.prefixes.iter().any(|p| p.valid > 0) {
                return started.elapsed().as_secs_f64();
            }
        }
    }
}

fn median(values: &[f64]) -> f64 {
    let mut sorted = values.to_vec();
    sorted.sort_by(|a, b| a.partial_cmp(b).unwrap());
    sorted[sorted.len() / 2]
}

fn worst(values: &[f64]) -> f64 {
    values.iter().cloned().fold(0.0, f64::max)
}

struct Figures {
    vms: usize,
    listing: f64,
    listing_counts: RequestCounts,
    /// New VMs deployed one at a time (each after the last one's miss-holdoff passed).
    new_vm: Vec<f64>,
    /// New VMs deployed back to back (a burst: each waits out the previous one's miss-holdoff).
    burst: Vec<f64>,
    todays_measured: Vec<f64>,
    load: Option<RequestCounts>,
}

fn measure(vms: usize, measure_today: bool, measure_load: bool) -> Figures {
    let lab = slow_lab(vms, 5);
    let listing = listing_seconds(&lab);
    let listing_counts = lab.standin().request_counts();
    let new_vm: Vec<f64> = (0..NEW_VMS)
        .map(|i| {
            // Pacing the deployments (not a synchronisation): each new VM arrives once the last
            // one's miss-holdoff (5 s) has passed, as independent deployments do.
            std::thread::sleep(Duration::from_secs(6));
            new_vm_to_reply(&lab, i, 0xe0)
        })
        .collect();
    let burst: Vec<f64> = (0..NEW_VMS).map(|i| new_vm_to_reply(&lab, i, 0xe1)).collect();
    eprintln!("bench: {vms} VMs, listing {listing:.1} s, new VM to Reply {new_vm:.2?}, in a burst {burst:.2?}");
    let load = measure_load.then(|| {
        // Quiet for the overlap first, then count a window.
        std::thread::sleep(Duration::from_secs(65)); // not a synchronisation: the window must start quiet
        lab.standin().clear_requests();
        std::thread::sleep(LOAD_WINDOW); // the window counted
        lab.standin().request_counts()
    });
    drop(lab);
    let todays_measured = if measure_today {
        let lab = slow_lab(vms, 0);
        (0..TODAYS_NEW_VMS).map(|i| new_vm_to_reply(&lab, i, 0xd0)).collect()
    } else {
        Vec::new()
    };
    Figures { vms, listing, listing_counts, new_vm, burst, todays_measured, load }
}

#[test]
#[ignore]
fn bench_event_sync() {
    let sizes: Vec<usize> =
        std::env::var("KC_BENCH_EVENT_SIZES").unwrap_or_else(|_| "10000,100000".into()).split(',').filter_map(|s| s.parse().ok()).collect();
    let mut figures = Vec::new();
    for &vms in &sizes {
        figures.push(measure(vms, vms <= 10_000, vms >= 100_000 || sizes.len() == 1));
    }
    let section = report(&figures);
    eprintln!("{section}");
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/BENCHMARKS.md");
    let old = std::fs::read_to_string(path).unwrap_or_default();
    let kept = match old.find(SECTION) {
        Some(at) => {
            let rest = &old[at + SECTION.len()..];
            let end = rest.find("\n## ").map_or(old.len(), |n| at + SECTION.len() + n + 1);
            format!("{}{}", &old[..at], &old[end..])
        }
        None => old,
    };
    std::fs::write(path, format!("{}\n{section}", kept.trim_end())).expect("write BENCHMARKS.md");
}

fn report(figures: &[Figures]) -> String {
    let mut md = String::new();
    let _ = writeln!(md, "{SECTION}\n");
    md.push_str(
        "Made by `make bench` (`bench_event_sync`), Kea 2.6.3 in the project image, the stand-in with `--latency cloudstack`. \
         **Taken under load**: the machine (2 cores) was shared with four other sessions building and testing at the same time, \
         so absolute times are high and noisy; ratios compare runs of the same bench. The hook's sync thread runs under \
         SCHED_IDLE (it yields to packets): on a saturated machine it waits for a core to fall idle, which shows in the new-VM times. Hook parameters: `event-interval` 5, \
         `miss-holdoff` 5, `page-size` 500; `refresh-interval` 86400 so that no periodic listing falls into a measurement. \
         A new VM is deployed (its events written as CloudStack writes them) and its client solicits every 100 ms until a Reply \
         delegates its /60; the 20 new VMs come one at a time (6 s apart), then 20 more back to back.\n\n",
    );
    md.push_str("The stand-in's latency model (`tests/tools/cloudstack_standin/latency.rs`), chosen from public reports:\n\n");
    md.push_str("| cost | value | source |\n| --- | --- | --- |\n");
    md.push_str("| per request | 25 ms | apache/cloudstack PR 7911 (4.18.1): a UI page of instances takes 20–40 ms with `details=min` |\n");
    md.push_str("| per VM row | 500 µs | PR 7911: `details=all` pages take 300–400 ms, 10× slower than `details=min`; `details=nics` sits between |\n");
    md.push_str("| per row skipped by the OFFSET | 20 µs | PR 8012 (4.19): \"with as little as 50k records the API starts to become noticeably slow, and by 100k records it becomes almost impossible to page through\" |\n");
    md.push_str("| requests served at once | 4 | a listing query runs on one database core; a modest management database has about 4 |\n\n");
    md.push_str("With these the stand-in estimates one full listing at ≈ 8 s for 10k VMs and ≈ 4.3 min for 100k (issue 8975 reports 5–10 minutes for one `listall=true` listing); the rows below give what was measured.\n\n");
    md.push_str("| figure | today's design | event sync | ratio (today ÷ events) | target | note |\n| --- | --- | --- | --- | --- | --- |\n");
    let mut raw = String::new();
    for f in figures {
        let (med, worst_) = (median(&f.new_vm), worst(&f.new_vm));
        let (today_med, today_worst, how) = if f.todays_measured.is_empty() {
            (f.listing, f.listing, format!("today's computed: one full listing ({:.1} s, measured here), its best case (a listing already running when the VM appears makes it up to two)", f.listing))
        } else {
            (median(&f.todays_measured), worst(&f.todays_measured), format!("today's measured with `event-interval` 0 over {} new VMs", f.todays_measured.len()))
        };
        let target = if f.vms >= 100_000 { "≤ 7 s (event-interval + 2 s), ≥ 20×" } else { "—" };
        let _ = writeln!(md, "| new VM → first Reply with its /60, {} VMs, median of {} | {today_med:.2} s | {med:.2} s | {:.1}× | {target} | {how} |", f.vms, f.new_vm.len(), today_med / med);
        let _ = writeln!(md, "| new VM → first Reply with its /60, {} VMs, worst of {} | {today_worst:.2} s | {worst_:.2} s | {:.1}× | {target} | |", f.vms, f.new_vm.len(), today_worst / worst_);
        let (burst_med, burst_worst) = (median(&f.burst), worst(&f.burst));
        let _ = writeln!(md, "| same, {} new VMs deployed back to back, median / worst | {today_med:.2} s / {today_worst:.2} s | {burst_med:.2} s / {burst_worst:.2} s | {:.1}× / {:.1}× | {target} | each waits out the previous one's `miss-holdoff` (5 s) or the next periodic poll |", f.burst.len(), today_med / burst_med, today_worst / burst_worst);
        let _ = writeln!(md, "| full listing, {} VMs, slow stand-in | — | {:.1} s | — | — | {} listing pages, {} VM rows (both passes) |", f.vms, f.listing, f.listing_counts.listing_pages, f.listing_counts.listing_rows);
        let _ = writeln!(raw, "{} VMs: listing {:.1} s ({:?}); new VM to Reply (s): {:.2?}; back to back: {:.2?}; today's measured (s): {:.2?}", f.vms, f.listing, f.listing_counts, f.new_vm, f.burst, f.todays_measured);
        if let Some(load) = &f.load {
            let per_hour = 3600.0 / LOAD_WINDOW.as_secs_f64();
            let listing_requests = f.listing_counts.listing_pages as f64;
            let listing_rows = f.listing_counts.listing_rows as f64;
            let event_requests = (load.event_polls + load.lookups) as f64 * per_hour;
            let event_rows = (load.event_rows + load.lookup_rows) as f64 * per_hour;
            let today_requests = listing_requests * 3600.0 / TODAYS_REFRESH;
            let today_rows = listing_rows * 3600.0 / TODAYS_REFRESH;
            let new_requests = event_requests + listing_requests * 3600.0 / NEW_REFRESH;
            let new_rows = event_rows + listing_rows * 3600.0 / NEW_REFRESH;
            let _ = writeln!(md, "| CloudStack requests per hour per Kea, steady state, {} VMs | {today_requests:.0} | {new_requests:.0} | {:.1}× | — | events: {event_requests:.0} (polls of both scopes every 5 s), plus one safety-net listing per hour |", f.vms, today_requests / new_requests);
            // today ÷ new ≥ 50 needs event rows + listing rows × 3600 / T ≤ today's rows / 50.
            let budget = today_rows / 50.0 - event_rows;
            let needs = if budget > 0.0 {
                format!("≥ 50× needs `refresh-interval` ≥ {:.0} s", 3600.0 * listing_rows / budget)
            } else {
                format!("≥ 50× is out of reach: the events' overlap alone re-reads {event_rows:.0} rows/h, over today's ÷ 50 ({:.0})", today_rows / 50.0)
            };
            let _ = writeln!(md, "| rows returned per hour per Kea, steady state, {} VMs | {today_rows:.0} | {new_rows:.0} | {:.1}× | ≥ 50× | events alone: {event_rows:.0} rows/h in this quiet window (a changing cloud adds each VM event about 12 times: 60 s overlap ÷ 5 s, plus the VMs fetched); the hourly safety-net listing is the rest, so with it the ratio stays under 3600 ÷ 300 = 12×; {needs} |", f.vms, today_rows / new_rows);
            let _ = writeln!(raw, "{} VMs, quiet {} s window: {:?}", f.vms, LOAD_WINDOW.as_secs(), load);
        }
    }
    md.push_str("\nRaw lines:\n\n```\n");
    md.push_str(&raw);
    md.push_str("```\n");
    md
}
