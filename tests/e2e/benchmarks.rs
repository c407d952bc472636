//! `make bench`: the hook against its alternatives, measured side by side in one run on one
//! machine, written to BENCHMARKS.md as ratios against each baseline (medians of repetitions).
//! Ignored in `make test`; every load is bounded in count and time.
use std::fmt::Write as _;
use std::os::unix::process::ExitStatusExt;
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use std::net::SocketAddrV6;
use std::time::SystemTime;

use crate::lab::dhcp6::{Client, MacCarrier, Router};
use crate::lab::load::{run_load, LoadBounds, LoadResult};
use crate::lab::{Lab, LabSpec, VlanSpec};

const REPETITIONS: usize = 7;
/// Full syncs figure 6 waits for (bounded by 4 × REPETITIONS load runs).
const SYNCS_DURING_LOAD: u64 = 3;
/// Restarts per start-up figure (each side).
const START_REPETITIONS: usize = 3;

fn vlans() -> Vec<VlanSpec> {
    // The sample cloud numbers NICs by MAC sequence: the "mac" rule keeps every NIC distinct.
    vec![
        VlanSpec { index: Some("mac".into()), ..VlanSpec::new(709, "VLAN709", "2a00:f10:500::/40") },
        VlanSpec { index: Some("mac".into()), ..VlanSpec::new(710, "VLAN710", "2a00:f10:600::/40") },
    ]
}

/// Where the hook of the start-up figures keeps its snapshot (inside the container).
const SNAPSHOT: &str = "/var/lib/kea/cloudstack-index.json";

/// The CPUs Kea's containers run on, set once by `keep_kea_apart`.
static KEA_CPUS: std::sync::OnceLock<Option<String>> = std::sync::OnceLock::new();

/// Keep Kea and the rest apart: this process (the load generator, and the stand-ins it starts)
/// runs on CPU 0, Kea's containers on the others. Then Kea's figures do not depend on where the
/// scheduler happened to put the generator. `KC_BENCH_KEA_CPUS` overrides Kea's share ("" = no pinning).
fn keep_kea_apart() -> Option<String> {
    KEA_CPUS
        .get_or_init(|| {
            let cpus = std::thread::available_parallelism().map_or(1, |n| n.get());
            let kea = std::env::var("KC_BENCH_KEA_CPUS").unwrap_or_else(|_| match cpus {
                1 => String::new(),
                2 => "1".into(),
                n => format!("1-{}", n - 1),
            });
            if kea.is_empty() {
                return None;
            }
            // SAFETY: a zeroed cpu_set_t is a valid empty set; CPU_SET writes inside it; the call
            // only reads the set and changes this thread's affinity (threads spawned later inherit it).
            let pinned = unsafe {
                let mut set: libc::cpu_set_t = std::mem::zeroed();
                libc::CPU_SET(0, &mut set);
                libc::sched_setaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &set) == 0
            };
            assert!(pinned, "bench: cannot pin the load generator to CPU 0");
            Some(kea)
        })
        .clone()
}

fn sample_lab(vms: usize, hook: bool, threads: Option<u32>, reservations: Vec<Value>) -> Lab {
    let lab = Lab::start(LabSpec {
        vlans: vlans(),
        hook,
        kea_threads: threads,
        kea_cpus: keep_kea_apart(),
        reservations,
        standin_args: vec!["--sample-cloud".into(), vms.to_string()],
        hook_params: json!({"warmup-timeout": 120, "request-timeout": 60, "snapshot-file": SNAPSHOT}).as_object().unwrap().clone(),
        hook_debug: false,
        packet_logs: false,
        ..LabSpec::default()
    });
    // CloudStack is another machine in production; here it shares CPU 0 with the load generator.
    // Under SCHED_IDLE it serves a sync with what the generator leaves, so that its work does not
    // show up as reply latency on the generator's clock.
    let pid = lab.standin().pid().to_string();
    crate::lab::host_run("chrt", &["--idle", "--all-tasks", "--pid", "0", &pid]);
    lab
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
    let workers = std::env::var("KC_BENCH_WORKERS").ok().and_then(|w| w.parse().ok()).unwrap_or(8);
    LoadBounds { workers, max_exchanges: 4000, max_time: Duration::from_secs(20), pace: None }
}

/// What several bounded runs against one lab measured: medians, and Kea's CPU per exchange.
struct Measured {
    rate: f64,
    p50: f64,
    p99: f64,
    failures: usize,
    /// Kea's CPU time (all threads, user + system) per successful exchange, in microseconds.
    cpu_us: f64,
    /// This process's CPU time (the load generator) per successful exchange, in microseconds.
    generator_cpu_us: f64,
}

/// CPU seconds this process (the load generator) used so far.
fn own_cpu_seconds() -> f64 {
    crate::lab::cpu_seconds("self")
}

fn summarize(runs: &[LoadResult], cpu_us: Vec<f64>, generator_cpu_us: Vec<f64>) -> Measured {
    Measured {
        rate: median(runs.iter().map(LoadResult::rate).collect()),
        p50: median(runs.iter().map(|r| r.percentile_ms(50.0)).collect()),
        p99: median(runs.iter().map(|r| r.percentile_ms(99.0)).collect()),
        failures: runs.iter().map(|r| r.failures).sum(),
        cpu_us: median(cpu_us),
        generator_cpu_us: median(generator_cpu_us),
    }
}

/// Runs the load against each lab in turn, `REPETITIONS` rounds, so that drift of the machine
/// (other tenants, caches, the growing lease file) falls on every side alike.
fn measure_interleaved<const N: usize>(labs: [&Lab; N], macs: &[[u8; 6]]) -> [Measured; N] {
    let mut runs: [Vec<LoadResult>; N] = std::array::from_fn(|_| Vec::new());
    let mut cpu: [Vec<f64>; N] = std::array::from_fn(|_| Vec::new());
    let mut generator: [Vec<f64>; N] = std::array::from_fn(|_| Vec::new());
    for _ in 0..REPETITIONS {
        for (i, lab) in labs.iter().enumerate() {
            let before = lab.kea_cpu_seconds();
            let generator_before = own_cpu_seconds();
            let run = run_load(lab, "VLAN709", macs, bounds());
            cpu[i].push((lab.kea_cpu_seconds() - before) * 1e6 / run.exchanges.max(1) as f64);
            generator[i].push((own_cpu_seconds() - generator_before) * 1e6 / run.exchanges.max(1) as f64);
            runs[i].push(run);
        }
    }
    std::array::from_fn(|i| summarize(&runs[i], std::mem::take(&mut cpu[i]), std::mem::take(&mut generator[i])))
}

fn throughput_rows(rows: &mut Vec<Row>, log: &mut String) {
    for threads in [None, Some(4)] {
        let label = if threads.is_some() { "4 threads" } else { "1 thread" };
        // Two identical plain labs: how far apart they land is the resolution of this figure.
        let plain_lab = sample_lab(2000, false, threads, vec![]);
        let twin_lab = sample_lab(2000, false, threads, vec![]);
        let hook_lab = sample_lab(2000, true, threads, vec![]);
        let macs = vlan709_macs(&plain_lab);
        let [plain, hook, twin] = measure_interleaved([&plain_lab, &hook_lab, &twin_lab], &macs);
        drop((plain_lab, twin_lab, hook_lab));
        let _ = writeln!(log, "figure 1, {label}: plain pd-pool {:.0}/s p50 {:.2} ms p99 {:.2} ms, Kea CPU {:.0} µs/exchange ({} failed); \
            hook {:.0}/s p50 {:.2} ms p99 {:.2} ms, Kea CPU {:.0} µs/exchange ({} failed); same plain config again {:.0}/s, Kea CPU {:.0} µs/exchange; generator CPU {:.0} µs/exchange",
            plain.rate, plain.p50, plain.p99, plain.cpu_us, plain.failures, hook.rate, hook.p50, hook.p99, hook.cpu_us, hook.failures, twin.rate, twin.cpu_us, plain.generator_cpu_us);
        rows.push(Row { figure: format!("1. exchanges/s, hook vs plain pd-pool, Kea {label}"), baseline: plain.rate, hook: hook.rate, unit: "/s", target: "≥ 0.97",
            note: format!("plain vs itself: {:.3} (the resolution); p99 {:.2} → {:.2} ms", twin.rate / plain.rate, plain.p99, hook.p99) });
        rows.push(Row { figure: format!("1. Kea CPU per exchange, hook vs plain pd-pool, Kea {label}"), baseline: plain.cpu_us, hook: hook.cpu_us, unit: " µs", target: "—",
            note: format!("plain vs itself: {:.3}", twin.cpu_us / plain.cpu_us) });
    }
}

/// Restart Kea (running `while_stopped` in between) and time from its first log line to the
/// first Reply that carries `mac`'s prefix.
fn start_to_first_reply(lab: &mut Lab, mac: [u8; 6], while_stopped: impl FnOnce(&Lab)) -> f64 {
    lab.restart_kea_while(while_stopped, |lab| {
        let router = Router::new(lab.router_socket_at(99), SocketAddrV6::new(lab.kea_addr(), 547, 0, 0), "2a00:f10:500::1".parse().unwrap(),
            b"VLAN709", MacCarrier::RemoteIdRaw { enterprise: 2636 })
            .with_timeout(Duration::from_millis(2)); // the figure's resolution: a Solicit unanswered after 2 ms is sent again
        let client = Client::steady(mac);
        let deadline = Instant::now() + Duration::from_secs(180);
        let replied = loop {
            assert!(Instant::now() < deadline, "bench: no reply within 180 s of a restart");
            if let Ok(Some(reply)) = router.acquire(&client) {
                if reply.prefixes.iter().any(|p| p.valid > 0) {
                    break SystemTime::now();
                }
            }
        };
        replied.duration_since(lab.kea_started_at()).map_or(0.0, |d| d.as_secs_f64())
    })
}

fn static_rows(rows: &mut Vec<Row>, log: &mut String, n: usize) {
    // The hook's lab first: its stand-in tells which MACs exist; the static lab reserves them.
    let mut hook = sample_lab(n, true, Some(4), vec![]);
    let macs = vlan709_macs(&hook);
    let reservations: Vec<Value> = macs.iter().map(|m| reservation(*m)).collect();
    let snapshot = hook.work_dir().join("lib").join(SNAPSHOT.rsplit('/').next().unwrap());
    let mut from_standin = Vec::new();
    let mut from_snapshot = Vec::new();
    for _ in 0..START_REPETITIONS {
        // Removed while Kea is stopped: no sync of the last run can write it again meanwhile.
        from_standin.push(start_to_first_reply(&mut hook, macs[0], |_| std::fs::remove_file(&snapshot).expect("bench: the hook wrote its snapshot")));
        let log = hook.current_kea_log();
        assert!(log.contains("CLOUDSTACK_WARMUP_DONE") && !log.contains("CLOUDSTACK_SNAPSHOT_LOADED"), "bench: not a warm-up start:\n{log}");
        assert!(crate::lab::wait_until(Duration::from_secs(60), || snapshot.exists()), "bench: no snapshot after a sync");
        from_snapshot.push(start_to_first_reply(&mut hook, macs[0], |_| ()));
        let log = hook.current_kea_log();
        assert!(log.contains("CLOUDSTACK_SNAPSHOT_LOADED") && !log.contains("CLOUDSTACK_WARMUP_DONE"), "bench: not a snapshot start:\n{log}");
        // Let the background sync of the snapshot start end before the next restart.
        assert!(crate::lab::wait_until(Duration::from_secs(120), || syncs_ok(&hook) > 0), "bench: no sync after a snapshot start");
    }
    let (hook_standin_start, hook_snapshot_start) = (median(from_standin), median(from_snapshot));
    let reload_hook = time_reload(&hook);

    let mut static_lab = sample_lab(n, false, Some(4), reservations);
    let static_start = median((0..START_REPETITIONS).map(|_| start_to_first_reply(&mut static_lab, macs[0], |_| ())).collect());
    let reload_static = time_reload(&static_lab);

    // Throughput side by side, then latency while full syncs run (figure 6) on the hook's lab.
    let [static_load, hook_load] = measure_interleaved([&static_lab, &hook], &macs);
    drop(static_lab);
    let (paced_p99, sync_p99, syncs) = p99_while_syncing(&hook, &macs, hook_load.rate);
    drop(hook);

    let _ = writeln!(log, "figure 2/3/6, {n} NICs ({} on VLAN 709): static {:.0}/s p99 {:.2} ms, start {static_start:.3} s, reload {:.2} s; \
        hook {:.0}/s p99 {:.2} ms, start {hook_standin_start:.3} s (warm-up from the stand-in) / {hook_snapshot_start:.3} s (snapshot), reload {:.2} s; at half that rate p99 {paced_p99:.2} ms idle, {sync_p99:.2} ms during {syncs} syncs",
        macs.len(), static_load.rate, static_load.p99, reload_static.as_secs_f64(), hook_load.rate, hook_load.p99, reload_hook.as_secs_f64());
    rows.push(Row { figure: format!("2. exchanges/s, hook vs {n} static reservations"), baseline: static_load.rate, hook: hook_load.rate, unit: "/s", target: "≥ 1.0",
        note: format!("p99 {:.2} → {:.2} ms; Kea CPU {:.0} → {:.0} µs per exchange", static_load.p99, hook_load.p99, static_load.cpu_us, hook_load.cpu_us) });
    let start_target = if n >= 100_000 { "≤ 0.1" } else { "—" };
    rows.push(Row { figure: format!("3. Kea start to first reply, hook warming up from the stand-in vs {n} static reservations"), baseline: static_start, hook: hook_standin_start,
        unit: " s", target: "—", note: "from Kea's first log line to the first Reply with the NIC's prefix".into() });
    rows.push(Row { figure: format!("3. Kea start to first reply, hook starting from its snapshot vs {n} static reservations"), baseline: static_start, hook: hook_snapshot_start,
        unit: " s", target: start_target, note: "the live sync follows in the background".into() });
    rows.push(Row { figure: format!("3. config-reload, hook vs {n} static reservations"), baseline: reload_static.as_secs_f64(), hook: reload_hook.as_secs_f64(), unit: " s", target: "—", note: "the hook keeps its index across a reload with the same VLAN layout".into() });
    rows.push(Row { figure: format!("6. reply p99 while full syncs run vs idle ({n} NICs)"), baseline: paced_p99, hook: sync_p99, unit: " ms", target: "≤ 1.2",
        note: format!("load paced at half the rate Kea reached above; {syncs} syncs ended during it") });
}

/// Syncs that ended well since Kea (re)started.
fn syncs_ok(lab: &Lab) -> u64 {
    lab.control(json!({"command": "cloudstack-status"}))["arguments"]["counters"]["cloudstack.sync-ok"].as_u64().unwrap_or(0)
}

fn time_reload(lab: &Lab) -> Duration {
    let started = Instant::now();
    let answer = lab.control(json!({"command": "config-reload"}));
    assert_eq!(answer["result"], 0, "{answer}");
    started.elapsed()
}

/// Reply p99 at half of Kea's measured capacity (`rate`), idle and while full syncs run back to
/// back (an operator resync every 200 ms is taken as soon as the previous sync ends). A paced load
/// leaves Kea headroom, as a production server has; at saturation any background work shows.
fn p99_while_syncing(lab: &Lab, macs: &[[u8; 6]], rate: f64) -> (f64, f64, u64) {
    let paced = LoadBounds { max_exchanges: 3000, pace: Some(Duration::from_secs_f64(bounds().workers as f64 / (rate / 2.0))), ..bounds() };
    let synced = || syncs_ok(lab);
    let idle: Vec<LoadResult> = (0..REPETITIONS).map(|_| run_load(lab, "VLAN709", macs, paced)).collect();
    let before = synced();
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
    let mut runs = Vec::new();
    while runs.len() < REPETITIONS || (synced() - before < SYNCS_DURING_LOAD && runs.len() < 4 * REPETITIONS) {
        runs.push(run_load(lab, "VLAN709", macs, paced));
    }
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    syncer.join().unwrap();
    let p99 = |runs: &[LoadResult]| median(runs.iter().map(|r| r.percentile_ms(99.0)).collect());
    (p99(&idle), p99(&runs), synced() - before)
}

/// Figure 4: one full sync (the CLI's check runs the hook's client and index builder) against a
/// stand-in on loopback: wall time and the process's peak RSS.
fn index_rows(rows: &mut Vec<Row>, log: &mut String) {
    let mut baseline_rss = 0.0;
    // Over verified HTTPS, as every lab syncs: a CA of the run's own, a certificate for ::1.
    let tls_dir = std::env::temp_dir().join(format!("kc-bench-tls-{}", std::process::id()));
    std::fs::create_dir_all(&tls_dir).unwrap();
    let ca = crate::lab::test_pki::TestCa::new("benchmark CA");
    let cert = ca.server_cert(std::net::Ipv6Addr::LOCALHOST.into());
    let (ca_file, cert_file, key_file) = (tls_dir.join("ca.pem"), tls_dir.join("cert.pem"), tls_dir.join("key.pem"));
    std::fs::write(&ca_file, &ca.pem).unwrap();
    std::fs::write(&cert_file, &cert.cert_pem).unwrap();
    std::fs::write(&key_file, &cert.key_pem).unwrap();
    for n in [100usize, 10_000, 100_000, 1_000_000] {
        let mut standin = std::process::Command::new(env!("CARGO_BIN_EXE_cloudstack-standin"))
            .args(["--listen", "[::1]:0", "--api-key", "bench", "--secret-key", "bench-secret", "--sample-cloud", &n.to_string()])
            .arg("--tls-cert")
            .arg(&cert_file)
            .arg("--tls-key")
            .arg(&key_file)
            .stdout(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        let mut first = String::new();
        std::io::BufRead::read_line(&mut std::io::BufReader::new(standin.stdout.take().unwrap()), &mut first).unwrap();
        let addr = first.trim().trim_start_matches("listening on ").to_string();
        let config = std::env::temp_dir().join(format!("kc-bench-{}.json", std::process::id()));
        std::fs::write(&config, json!({"api-url": format!("https://{addr}/client/api"), "ca-file": ca_file, "api-key": "bench", "api-secret": "bench-secret", "trusted-relays": ["::1/128"],
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
    let _ = std::fs::remove_dir_all(&tls_dir);
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
    let only = std::env::var("KC_BENCH_ONLY").unwrap_or_default();
    let wanted = |figure: &str| only.is_empty() || only.split(',').any(|f| f == figure);
    if wanted("4") {
        index_rows(&mut rows, &mut log);
    }
    if wanted("5") {
        callgrind_row(&mut rows, &mut log);
    }
    if wanted("1") {
        throughput_rows(&mut rows, &mut log);
    }
    let sizes: Vec<usize> = std::env::var("KC_BENCH_SIZES").unwrap_or_else(|_| "10000,100000".into()).split(',').filter_map(|s| s.parse().ok()).collect();
    if wanted("2") {
        for n in sizes {
            static_rows(&mut rows, &mut log, n);
        }
    }
    eprintln!("{log}");
    if only.is_empty() {
        write_report(&rows, &log);
    }
}

fn write_report(rows: &[Row], log: &str) {
    let mut md = String::from("# Benchmarks\n\nMade by `make bench` (");
    let kea = crate::lab::kea_version::of_image(&crate::lab::image());
    let _ = write!(md, "{REPETITIONS} load runs per side, taken in turns, medians; Kea {kea} in the project image; the load generator in `tests/e2e/lab/load.rs` with {} workers, \
        each relaying from its own address; every run bounded to 4000 exchanges or 20 s). ", bounds().workers);
    match KEA_CPUS.get().cloned().flatten() {
        Some(cpus) => { let _ = write!(md, "Kea's containers run on CPU {cpus}; the generator and the CloudStack stand-ins on CPU 0. "); }
        None => md.push_str("Kea, the generator and the stand-ins share the CPUs. "),
    }
    md.push_str("Ratio = hook ÷ baseline, measured in the same run on the same machine. Where a row says \"plain vs itself\", \
        a second lab with the baseline's exact configuration ran in the same turns: that ratio is the figure's resolution.\n\n");
    md.push_str("| figure | baseline | hook | ratio | target | note |\n| --- | --- | --- | --- | --- | --- |\n");
    for r in rows {
        let fmt = |v: f64| if v.is_nan() { "—".to_string() } else { format!("{v:.2}{}", r.unit) };
        let ratio = if r.baseline.is_nan() { "—".to_string() } else { format!("{:.3}", r.hook / r.baseline) };
        let _ = writeln!(md, "| {} | {} | {} | {} | {} | {} |", r.figure, fmt(r.baseline), fmt(r.hook), ratio, r.target, r.note);
    }
    md.push_str("\n## Raw lines\n\n```\n");
    md.push_str(log);
    md.push_str("```\n");
    // The event sync's section is written by its own bench (`event_bench.rs`): kept as it was.
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/BENCHMARKS.md");
    let old = std::fs::read_to_string(path).unwrap_or_default();
    if let Some(at) = old.find(crate::event_bench::SECTION) {
        md.push('\n');
        md.push_str(&old[at..]);
    }
    std::fs::write(path, md).expect("write BENCHMARKS.md");
}
