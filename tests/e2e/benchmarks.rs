//! `make bench`: the hook against its alternatives, measured side by side in one run on one
//! machine, written to BENCHMARKS.md as ratios against each baseline (medians of repetitions).
//! Ignored in `make test`; every load is bounded in count and time.
use std::fmt::Write as _;
use std::os::unix::process::ExitStatusExt;
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use crate::lab::load::{run_load, LoadBounds, LoadResult};
use crate::lab::{Lab, LabSpec, VlanSpec};

const REPETITIONS: usize = 3;

fn vlans() -> Vec<VlanSpec> {
    // The sample cloud numbers NICs by MAC sequence: the "mac" rule keeps every NIC distinct.
    vec![
        VlanSpec { index: Some("mac".into()), ..VlanSpec::new(709, "VLAN709", "2a00:f10:500::/40") },
        VlanSpec { index: Some("mac".into()), ..VlanSpec::new(710, "VLAN710", "2a00:f10:600::/40") },
    ]
}

fn sample_lab(vms: usize, hook: bool, threads: Option<u32>, reservations: Vec<Value>) -> (Lab, Duration) {
    let started = Instant::now();
    let lab = Lab::start(LabSpec {
        vlans: vlans(),
        hook,
        kea_threads: threads,
        reservations,
        standin_args: vec!["--sample-cloud".into(), vms.to_string()],
        hook_params: json!({"warmup-timeout": 120, "request-timeout": 60}).as_object().unwrap().clone(),
        hook_debug: false,
        ..LabSpec::default()
    });
    (lab, started.elapsed())
}

/// The VLAN 709 NICs of live VMs in the stand-in's sample cloud: (MAC, the prefix the hook gives).
fn vlan709_macs(lab: &Lab) -> Vec<[u8; 6]> {
    let cloud: Value = serde_json::from_str(&lab.standin().control("GET", "/control/cloud", None).body).expect("cloud");
    cloud["vms"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|vm| vm["state"] == "Running" || vm["state"] == "Stopped")
        .map(|vm| &vm["nics"][0])
        .filter(|nic| nic["vlanid"] == 709 || nic["broadcasturi"] == "vlan://709")
        .map(|nic| parse_mac(nic["macaddress"].as_str().unwrap()))
        .collect()
}

fn parse_mac(text: &str) -> [u8; 6] {
    let bytes: Vec<u8> = text.split(':').map(|b| u8::from_str_radix(b, 16).unwrap()).collect();
    bytes.try_into().unwrap()
}

/// The reservation the old tool wrote for a NIC (the hook's rule: low 20 bits of the MAC).
fn reservation(mac: [u8; 6]) -> Value {
    let n = ((u32::from(mac[3]) & 0xf) << 16) | (u32::from(mac[4]) << 8) | u32::from(mac[5]);
    let prefix = std::net::Ipv6Addr::from(u128::from("2a00:f10:500::".parse::<std::net::Ipv6Addr>().unwrap()) | (u128::from(n) << 68));
    json!({"hw-address": crate::lab::dhcp6::mac_text(mac), "prefixes": [format!("{prefix}/60")]})
}

fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(|a, b| a.partial_cmp(b).unwrap());
    values[values.len() / 2]
}

struct Row {
    figure: String,
    baseline: f64,
    hook: f64,
    unit: &'static str,
    target: &'static str,
    note: String,
}

fn bounds() -> LoadBounds {
    LoadBounds { workers: 4, max_exchanges: 4000, max_time: Duration::from_secs(20) }
}

/// Median rate, p50 and p99 of several bounded runs.
fn measure(lab: &Lab, macs: &[[u8; 6]]) -> (f64, f64, f64, usize) {
    let runs: Vec<LoadResult> = (0..REPETITIONS).map(|_| run_load(lab, "VLAN709", macs, bounds())).collect();
    let failures = runs.iter().map(|r| r.failures).sum();
    (
        median(runs.iter().map(LoadResult::rate).collect()),
        median(runs.iter().map(|r| r.percentile_ms(50.0)).collect()),
        median(runs.iter().map(|r| r.percentile_ms(99.0)).collect()),
        failures,
    )
}

fn throughput_rows(rows: &mut Vec<Row>, log: &mut String) {
    for threads in [None, Some(4)] {
        let label = if threads.is_some() { "4 threads" } else { "1 thread" };
        let (plain, _) = sample_lab(2000, false, threads, vec![]);
        let macs = vlan709_macs(&plain);
        let (plain_rate, plain_p50, plain_p99, plain_fail) = measure(&plain, &macs);
        drop(plain);
        let (hook, _) = sample_lab(2000, true, threads, vec![]);
        let (hook_rate, hook_p50, hook_p99, hook_fail) = measure(&hook, &macs);
        drop(hook);
        let _ = writeln!(log, "figure 1, {label}: plain pd-pool {plain_rate:.0}/s p50 {plain_p50:.2} ms p99 {plain_p99:.2} ms ({plain_fail} failed); hook {hook_rate:.0}/s p50 {hook_p50:.2} ms p99 {hook_p99:.2} ms ({hook_fail} failed)");
        rows.push(Row { figure: format!("1. exchanges/s, hook vs plain pd-pool, Kea {label}"), baseline: plain_rate, hook: hook_rate, unit: "/s", target: "≥ 0.97", note: format!("p99 {plain_p99:.2} → {hook_p99:.2} ms") });
    }
}

fn static_rows(rows: &mut Vec<Row>, log: &mut String, n: usize) {
    // The hook's lab first: its stand-in tells which MACs exist; the static lab reserves them.
    let (hook, hook_start) = sample_lab(n, true, Some(4), vec![]);
    let macs = vlan709_macs(&hook);
    let reservations: Vec<Value> = macs.iter().map(|m| reservation(*m)).collect();
    let first_reply = |lab: &Lab, started: Instant| {
        let r = run_load(lab, "VLAN709", &macs[..1], LoadBounds { workers: 1, max_exchanges: 1, max_time: Duration::from_secs(30) });
        assert_eq!(r.exchanges, 1, "a first reply");
        started.elapsed()
    };
    let hook_first = hook_start + first_reply(&hook, Instant::now());
    let reload_hook = time_reload(&hook);
    let (hook_rate, _, hook_p99, _) = measure(&hook, &macs);
    // Latency while a full sync runs (figure 6): keep syncs running during the load.
    let (sync_p99, syncs) = p99_while_syncing(&hook, &macs);
    drop(hook);

    let (static_lab, static_start) = sample_lab(n, false, Some(4), reservations);
    let static_first = static_start + first_reply(&static_lab, Instant::now());
    let reload_static = time_reload(&static_lab);
    let (static_rate, _, static_p99, _) = measure(&static_lab, &macs);
    drop(static_lab);

    let _ = writeln!(log, "figure 2/3/6, {n} NICs ({} on VLAN 709): static {static_rate:.0}/s p99 {static_p99:.2} ms, start {:.2} s, reload {:.2} s; hook {hook_rate:.0}/s p99 {hook_p99:.2} ms, start {:.2} s, reload {:.2} s; p99 during {syncs} syncs {sync_p99:.2} ms",
        macs.len(), static_first.as_secs_f64(), reload_static.as_secs_f64(), hook_first.as_secs_f64(), reload_hook.as_secs_f64());
    rows.push(Row { figure: format!("2. exchanges/s, hook vs {n} static reservations"), baseline: static_rate, hook: hook_rate, unit: "/s", target: "≥ 1.0", note: format!("p99 {static_p99:.2} → {hook_p99:.2} ms") });
    rows.push(Row { figure: format!("3. lab start to first reply, hook (warm-up from the stand-in) vs {n} static reservations"), baseline: static_first.as_secs_f64(), hook: hook_first.as_secs_f64(), unit: " s", target: if n >= 100_000 { "≤ 0.1" } else { "—" }, note: "includes the lab's fixed container start".into() });
    rows.push(Row { figure: format!("3. config-reload, hook vs {n} static reservations"), baseline: reload_static.as_secs_f64(), hook: reload_hook.as_secs_f64(), unit: " s", target: "—", note: "the hook keeps its index across a reload with the same VLAN layout".into() });
    rows.push(Row { figure: format!("6. reply p99 while full syncs run vs idle ({n} NICs)"), baseline: hook_p99, hook: sync_p99, unit: " ms", target: "≤ 1.2", note: format!("{syncs} syncs during the load") });
}

fn time_reload(lab: &Lab) -> Duration {
    let started = Instant::now();
    let answer = lab.control(json!({"command": "config-reload"}));
    assert_eq!(answer["result"], 0, "{answer}");
    started.elapsed()
}

fn p99_while_syncing(lab: &Lab, macs: &[[u8; 6]]) -> (f64, u64) {
    let before = lab.control(json!({"command": "cloudstack-status"}))["arguments"]["counters"]["cloudstack.sync-ok"].as_u64().unwrap_or(0);
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let socket = lab.work_dir().join("run/kea6.sock");
    let syncer = {
        let stop = stop.clone();
        std::thread::spawn(move || {
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                let _ = crate::lab::send_command(&socket, &json!({"command": "cloudstack-resync"}));
                std::thread::sleep(Duration::from_millis(200));
            }
        })
    };
    let runs: Vec<LoadResult> = (0..REPETITIONS).map(|_| run_load(lab, "VLAN709", macs, bounds())).collect();
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    syncer.join().unwrap();
    let after = lab.control(json!({"command": "cloudstack-status"}))["arguments"]["counters"]["cloudstack.sync-ok"].as_u64().unwrap_or(0);
    (median(runs.iter().map(|r| r.percentile_ms(99.0)).collect()), after - before)
}

/// Figure 4: one full sync (the CLI's check runs the hook's client and index builder) against a
/// stand-in on loopback: wall time and the process's peak RSS.
fn index_rows(rows: &mut Vec<Row>, log: &mut String) {
    let mut baseline_rss = 0.0;
    for n in [100usize, 10_000, 100_000, 1_000_000] {
        let mut standin = std::process::Command::new(env!("CARGO_BIN_EXE_cloudstack-standin"))
            .args(["--listen", "[::1]:0", "--api-key", "bench", "--secret-key", "bench-secret", "--sample-cloud", &n.to_string()])
            .stdout(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        let mut first = String::new();
        std::io::BufRead::read_line(&mut std::io::BufReader::new(standin.stdout.take().unwrap()), &mut first).unwrap();
        let addr = first.trim().trim_start_matches("listening on ").to_string();
        let config = std::env::temp_dir().join(format!("kc-bench-{}.json", std::process::id()));
        std::fs::write(&config, json!({"api-url": format!("http://{addr}/client/api"), "api-key": "bench", "secret-key": "bench-secret",
            "request-timeout": 120, "vlans": [{"vlan": 709, "interface-id": "VLAN709", "prefix": "2a00:f10:500::/40", "index": "mac"},
                                             {"vlan": 710, "interface-id": "VLAN710", "prefix": "2a00:f10:600::/40", "index": "mac"}]}).to_string()).unwrap();
        let started = Instant::now();
        let child = std::process::Command::new(env!("CARGO_BIN_EXE_cloudstack-kea"))
            .args(["check", "--config", config.to_str().unwrap()])
            .stdout(std::process::Stdio::null())
            .spawn()
            .unwrap();
        let (status, peak_kib) = wait_with_peak_rss(child);
        let seconds = started.elapsed().as_secs_f64();
        let _ = standin.kill();
        let _ = standin.wait();
        assert!(status == 0 || status == 1, "check exited {status}");
        let peak_mib = peak_kib as f64 / 1024.0;
        if n == 100 {
            baseline_rss = peak_mib;
            continue;
        }
        let per_nic = (peak_mib - baseline_rss) * 1024.0 * 1024.0 / n as f64;
        let _ = writeln!(log, "figure 4, {n} VMs: sync {seconds:.2} s, peak RSS {peak_mib:.1} MiB ({per_nic:.0} bytes per NIC over a 100-VM sync)");
        rows.push(Row { figure: format!("4. full sync of {n} VMs: time"), baseline: f64::NAN, hook: seconds, unit: " s", target: if n == 100_000 { "≤ 3 s" } else { "—" }, note: String::new() });
        rows.push(Row { figure: format!("4. full sync of {n} VMs: peak RSS growth"), baseline: f64::NAN, hook: peak_mib - baseline_rss, unit: " MiB", target: if n == 100_000 { "≤ 64 MiB" } else { "—" }, note: format!("{per_nic:.0} bytes per NIC at the peak of a sync") });
    }
}

fn wait_with_peak_rss(child: std::process::Child) -> (i32, i64) {
    let pid = child.id() as i32;
    let mut status = 0;
    // SAFETY: wait4 on our own child, with valid out-pointers; rusage is plain data.
    let usage = unsafe {
        let mut usage: libc::rusage = std::mem::zeroed();
        libc::wait4(pid, &mut status, 0, &mut usage);
        usage
    };
    std::mem::forget(child); // already reaped
    (std::process::ExitStatus::from_raw(status).code().unwrap_or(-1), usage.ru_maxrss)
}

/// Figure 5: instructions per packet-path decision at 1M NICs, counted by callgrind over the
/// `packet_path` bench program.
fn callgrind_row(rows: &mut Vec<Row>, log: &mut String) {
    let program = std::env::var("KC_PACKET_PATH_BENCH").unwrap_or_default();
    if program.is_empty() || !std::path::Path::new(&program).exists() {
        let _ = writeln!(log, "figure 5: skipped (KC_PACKET_PATH_BENCH not set: make bench sets it)");
        return;
    }
    let count = |decisions: &str| -> u64 {
        let out = std::process::Command::new("valgrind")
            .args(["--tool=callgrind", "--callgrind-out-file=/dev/null", "--collect-atstart=no", "--toggle-collect=*plan_query*", &program, decisions])
            .output()
            .expect("valgrind");
        let text = String::from_utf8_lossy(&out.stderr);
        text.lines()
            .find_map(|l| l.split("Collected :").nth(1))
            .and_then(|n| n.trim().parse().ok())
            .unwrap_or_else(|| panic!("no callgrind total in:\n{text}"))
    };
    let (few, many) = (count("1000"), count("11000"));
    let per = (many - few) as f64 / 10_000.0;
    let _ = writeln!(log, "figure 5: {per:.0} instructions per pkt6_receive decision at 1M NICs (callgrind, {few} / {many} for 1k / 11k decisions)");
    rows.push(Row { figure: "5. instructions per packet-path decision at 1M NICs".into(), baseline: f64::NAN, hook: per, unit: "", target: "≤ 2,000", note: "callgrind, Rust side (lookup + checks + prefix)".into() });
}

#[test]
#[ignore]
fn bench_all_figures() {
    let mut rows = Vec::new();
    let mut log = String::new();
    index_rows(&mut rows, &mut log);
    callgrind_row(&mut rows, &mut log);
    throughput_rows(&mut rows, &mut log);
    let sizes: Vec<usize> = std::env::var("KC_BENCH_SIZES").unwrap_or_else(|_| "10000,100000".into()).split(',').filter_map(|s| s.parse().ok()).collect();
    for n in sizes {
        static_rows(&mut rows, &mut log, n);
    }
    eprintln!("{log}");
    write_report(&rows, &log);
}

fn write_report(rows: &[Row], log: &str) {
    let mut md = String::from("# Benchmarks\n\nMade by `make bench` (");
    let _ = write!(md, "{} repetitions per figure, medians; Kea 2.6.3 in the project image; the load generator in `tests/e2e/lab/load.rs` with 4 workers, each relaying from its own address; every run bounded to 4000 exchanges or 20 s). ", REPETITIONS);
    md.push_str("Ratio = hook ÷ baseline, measured in the same run on the same machine (2 cores: the generator, Kea and the stand-in share them).\n\n");
    md.push_str("| figure | baseline | hook | ratio | target | note |\n| --- | --- | --- | --- | --- | --- |\n");
    for r in rows {
        let fmt = |v: f64| if v.is_nan() { "—".to_string() } else { format!("{v:.2}{}", r.unit) };
        let ratio = if r.baseline.is_nan() { "—".to_string() } else { format!("{:.3}", r.hook / r.baseline) };
        let _ = writeln!(md, "| {} | {} | {} | {} | {} | {} |", r.figure, fmt(r.baseline), fmt(r.hook), ratio, r.target, r.note);
    }
    md.push_str("\n## Raw lines\n\n```\n");
    md.push_str(log);
    md.push_str("```\n");
    std::fs::write(concat!(env!("CARGO_MANIFEST_DIR"), "/BENCHMARKS.md"), md).expect("write BENCHMARKS.md");
}
