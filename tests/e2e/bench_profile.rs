//! Figure 7 of `make bench`: where the Kea CPU the hook adds goes, callout by callout. perf samples
//! kea-dhcp6 (cpu-clock, DWARF call graphs: Debian builds Kea without frame pointers) from the host
//! while the load generator runs; a callout's share of the samples (its inclusive time) times Kea's
//! CPU per exchange is its µs per exchange. What the hook adds in total is the hook lab's Kea CPU per
//! exchange minus the plain lab's; what no callout of the hook accounts for is Kea's side of the hook
//! points (callout handles, arguments, option copies, parking). perf resolves the hook's own symbols
//! when the unstripped library of the image's build stage is in its build-id cache (`make profile`
//! puts it there); the runtime image stays as users get it.
use std::fmt::Write as _;
use std::process::{Command, Stdio};

use crate::benchmarks::{bounds, median, sample_lab, vlan709_macs};
use crate::lab::load::run_load;
use crate::lab::Lab;

/// Load runs per measurement (each bounded as every bench run is).
const RUNS: usize = 5;

/// What is accounted: a row label and the symbols (as perf prints them, demangled; a name matches
/// exactly, or with its argument list) whose inclusive share it is. Rows indented with "  " are
/// parts of the row above.
const ACCOUNTS: &[(&str, &[&str])] = &[
    ("pkt6_receive (all of it)", &["kcs_pkt6_receive"]),
    ("  reading the router's facts", &["isc::cloudstack::QueryFacts::QueryFacts"]),
    ("  the Rust decision (kc_plan_query)", &["kc_plan_query"]),
    ("  clearing the way (lease-manager lookups)", &["isc::cloudstack::clearWay", "isc::cloudstack::(anonymous namespace)::clearWay"]),
    ("  the IA_PD hint", &["isc::cloudstack::steerHint"]),
    // Computed: pkt6_receive less the parts above.
    ("  the rest: Kea's arguments, the Plan on the callout handle", &[]),
    ("lease6_select", &["kcs_lease6_select"]),
    ("lease6_renew / lease6_rebind", &["kcs_lease6_renew", "kcs_lease6_rebind"]),
    ("pkt6_send", &["kcs_pkt6_send"]),
    ("leases6_committed", &["kcs_leases6_committed"]),
    ("lease6_release", &["kcs_lease6_release"]),
    ("statistics handed to StatsMgr (any callout)", &["kcs_stat_add", "kcs_stat_set"]),
];

/// One profiled lab: Kea CPU per exchange, each account's share of perf's samples, and every named
/// symbol's inclusive share.
struct Profile {
    cpu_us: f64,
    samples: u64,
    shares: Vec<f64>,
    symbols: std::collections::HashMap<String, f64>,
}

fn kea_cpu_per_exchange(lab: &Lab, macs: &[[u8; 6]]) -> f64 {
    median(
        (0..RUNS)
            .map(|_| {
                let before = lab.kea_cpu_seconds();
                let run = run_load(lab, "VLAN709", macs, bounds());
                (lab.kea_cpu_seconds() - before) * 1e6 / run.exchanges.max(1) as f64
            })
            .collect(),
    )
}

/// perf record on Kea's process while `RUNS` load runs go; then perf report's inclusive shares.
fn profile(lab: &Lab, macs: &[[u8; 6]], out: &std::path::Path) -> Profile {
    let pid = lab.kea_pid().to_string();
    let perf_log = std::fs::File::create(out.with_extension("log")).unwrap();
    let mut perf = Command::new("perf")
        .args(["record", "-e", "cpu-clock", "-F", "1000", "--call-graph", "dwarf,16384", "-p", &pid, "-o"])
        .arg(out)
        .stdout(Stdio::null())
        .stderr(perf_log)
        .spawn()
        .expect("bench: perf (linux-perf) must be installed on the host for figure 7");
    std::thread::sleep(std::time::Duration::from_millis(300)); // perf attaches before the load starts
    let cpu_us = kea_cpu_per_exchange(lab, macs);
    // SAFETY: kill(2) on our own child's pid; SIGINT makes perf write its file and exit.
    unsafe { libc::kill(perf.id() as i32, libc::SIGINT) };
    perf.wait().expect("bench: perf record");
    let report = Command::new("perf")
        .args(["report", "--children", "--stdio", "--no-inline", "--sort", "symbol", "-g", "none", "--percent-limit", "0", "-i"])
        .arg(out)
        .output()
        .expect("bench: perf report");
    if std::env::var_os("KC_BENCH_PERF_KEEP").is_none() {
        let _ = std::fs::remove_file(out); // ~100 MB per run; KC_BENCH_PERF_KEEP=1 keeps it for perf report by hand
    }
    let text = String::from_utf8_lossy(&report.stdout);
    assert!(
        text.contains("# Samples: "),
        "bench: perf report found no samples: {}\nperf record said: {}",
        String::from_utf8_lossy(&report.stderr),
        std::fs::read_to_string(out.with_extension("log")).unwrap_or_default()
    );
    let samples = text.lines().find_map(|l| l.strip_prefix("# Samples: ")).map_or(0, sample_count);
    // Lines: "    12.34%     0.56%  [.] symbol"; a symbol may appear once per DSO: add them up.
    let mut symbols = std::collections::HashMap::<String, f64>::new();
    for line in text.lines() {
        let mut fields = line.split_whitespace();
        let Some(children) = fields.next().and_then(|f| f.strip_suffix('%')).and_then(|f| f.parse::<f64>().ok()) else { continue };
        let Some((_, rest)) = line.split_once("] ") else { continue };
        let name = rest.trim_end().trim_end_matches(['-', ' ']).trim_end().to_string();
        *symbols.entry(name).or_default() += children / 100.0;
    }
    let mut shares: Vec<f64> = ACCOUNTS
        .iter()
        .map(|(_, wanted)| symbols.iter().filter(|(name, _)| wanted.iter().any(|w| is_named(name, w))).map(|(_, share)| share).sum())
        .collect();
    if let Some(rest) = ACCOUNTS.iter().position(|(_, wanted)| wanted.is_empty()) {
        shares[rest] = shares[0] - shares[1..rest].iter().sum::<f64>();
    }
    Profile { cpu_us, samples, shares, symbols }
}

/// Is `name` (as perf prints it) the function `wanted`? Not a lambda or a local class inside it.
fn is_named(name: &str, wanted: &str) -> bool {
    name.strip_prefix(wanted).is_some_and(|rest| rest.is_empty() || rest.starts_with('(') || rest.starts_with('<') || rest.starts_with('['))
}

/// Kea's side of the hook points that perf can name: the same Kea functions in both labs, so the
/// hook's share is the difference of their inclusive µs (hook − plain).
const KEA_SIDE: &[(&str, &[&str])] = &[
    ("Kea writes the NIC record (user-context) with every lease update (CSVLeaseFile6::append)", &["isc::dhcp::CSVLeaseFile6::append"]),
    ("Kea's leases6_committed parking of committing packets", &["isc::hooks::ServerHooks::getParkingLotPtr", "isc::hooks::ParkingLots::getParkingLotPtr"]),
    ("Kea's callout handles (one per packet while any callout is registered)", &["isc::hooks::HooksManager::createCalloutHandle"]),
];

/// perf's "6K of event 'cpu-clock'" as a number.
fn sample_count(text: &str) -> u64 {
    let n = text.split_whitespace().next().unwrap_or("0");
    let (digits, scale) = match n.chars().last() {
        Some('K') => (&n[..n.len() - 1], 1e3),
        Some('M') => (&n[..n.len() - 1], 1e6),
        _ => (n, 1.0),
    };
    (digits.parse::<f64>().unwrap_or(0.0) * scale) as u64
}

/// The Kea functions whose inclusive µs per exchange differ most between the hook's lab and the
/// plain one (both under perf): where the hook's cost lands on Kea's side of the hook points.
fn differences(log: &mut String, label: &str, plain: &Profile, hook: &Profile) {
    let us = |p: &Profile, name: &str| p.symbols.get(name).copied().unwrap_or(0.0) * p.cpu_us;
    let mut names: Vec<&String> = hook.symbols.keys().chain(plain.symbols.keys()).filter(|n| !n.starts_with("0x")).collect();
    names.sort();
    names.dedup();
    let mut diffs: Vec<(f64, &String)> = names.into_iter().map(|n| (us(hook, n) - us(plain, n), n)).collect();
    diffs.sort_by(|a, b| b.0.abs().partial_cmp(&a.0.abs()).unwrap());
    let _ = writeln!(log, "figure 7, {label}: largest differences hook − plain, inclusive µs per exchange:");
    for (diff, name) in diffs.iter().take(25) {
        let short: String = name.chars().take(110).collect();
        let _ = writeln!(log, "  {diff:+7.1}  (plain {:6.1}, hook {:6.1})  {short}", us(plain, name), us(hook, name));
    }
}

/// The per-callout table for 1 and 4 Kea threads, as markdown, and its raw lines.
pub fn callout_table(log: &mut String) -> String {
    let dir = std::env::temp_dir().join(format!("kc-bench-perf-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let mut columns = Vec::new();
    for threads in [None, Some(4)] {
        let label = if threads.is_some() { "4 threads" } else { "1 thread" };
        let plain_lab = sample_lab(2000, false, threads, vec![]);
        let hook_lab = sample_lab(2000, true, threads, vec![]);
        let macs = vlan709_macs(&plain_lab);
        // Warm both (every client holds its lease from then on: the common path of a running cloud).
        run_load(&plain_lab, "VLAN709", &macs, bounds());
        run_load(&hook_lab, "VLAN709", &macs, bounds());
        let plain_cpu = kea_cpu_per_exchange(&plain_lab, &macs);
        let hook_cpu = kea_cpu_per_exchange(&hook_lab, &macs);
        let plain = profile(&plain_lab, &macs, &dir.join(format!("plain-{}.data", threads.unwrap_or(1))));
        let hook = profile(&hook_lab, &macs, &dir.join(format!("hook-{}.data", threads.unwrap_or(1))));
        let _ = writeln!(log, "figure 7, {label}: Kea CPU plain {plain_cpu:.1} µs/exchange, hook {hook_cpu:.1} µs/exchange without perf; \
            while perf sampled plain {:.1} ({} samples), hook {:.1} ({} samples); shares {:?}",
            plain.cpu_us, plain.samples, hook.cpu_us, hook.samples, ACCOUNTS.iter().zip(&hook.shares).map(|((name, _), s)| format!("{}={:.4}", name.trim(), s)).collect::<Vec<_>>());
        differences(log, label, &plain, &hook);
        for (name, lab) in [("plain", &plain_lab), ("hook", &hook_lab)] {
            let kea_log = lab.kea_log();
            let tail: Vec<&str> = kea_log.lines().rev().take(8).collect();
            eprintln!("figure 7, {label}: last lines of the {name} lab's Kea log ({} lines in all):\n{}", kea_log.lines().count(), tail.join("\n"));
        }
        columns.push((label, plain.cpu_us, plain, hook));
    }
    if std::env::var_os("KC_BENCH_PERF_KEEP").is_none() {
        let _ = std::fs::remove_dir_all(&dir);
    } else {
        eprintln!("figure 7: perf data kept in {}", dir.display());
    }
    let mut md = String::from("| Kea CPU per exchange (Solicit, Advertise, Request, Reply), both labs under perf | ");
    md.push_str(&columns.iter().map(|(label, ..)| format!("{label}: µs | share")).collect::<Vec<_>>().join(" | "));
    md.push_str(" |\n| --- |");
    md.push_str(&" --- | --- |".repeat(columns.len()));
    md.push('\n');
    let mut row = |name: &str, cells: Vec<(f64, f64)>| {
        let _ = write!(md, "| {name} |");
        for (us, share) in cells {
            let _ = write!(md, " {us:.1} | {:.1} % |", share * 100.0);
        }
        md.push('\n');
    };
    row("plain pd-pool (no hook)", columns.iter().map(|(_, plain, ..)| (*plain, f64::NAN)).collect());
    row("with the hook", columns.iter().map(|(_, _, _, hook)| (hook.cpu_us, 1.0)).collect());
    row("added by the hook", columns.iter().map(|(_, plain, _, hook)| (hook.cpu_us - plain, (hook.cpu_us - plain) / hook.cpu_us)).collect());
    for (i, (name, _)) in ACCOUNTS.iter().enumerate() {
        let shown = name.replace("  ", "&nbsp;&nbsp;— ");
        row(&shown, columns.iter().map(|(_, _, _, hook)| (hook.shares[i] * hook.cpu_us, hook.shares[i])).collect());
    }
    let kea_us = |plain: &Profile, hook: &Profile, wanted: &[&str]| {
        let us = |p: &Profile| p.symbols.iter().filter(|(n, _)| wanted.iter().any(|w| is_named(n, w))).map(|(_, s)| s).sum::<f64>() * p.cpu_us;
        us(hook) - us(plain)
    };
    for (name, wanted) in KEA_SIDE {
        row(&format!("{name}, hook − plain"), columns.iter().map(|(_, _, plain, hook)| {
            let us = kea_us(plain, hook, wanted);
            (us, us / hook.cpu_us)
        }).collect());
    }
    // Top-level accounts only (not the indented parts), StatsMgr being inside the callouts already.
    let top = |hook: &Profile| ACCOUNTS.iter().zip(&hook.shares).filter(|((n, _), _)| !n.starts_with("  ") && !n.starts_with("statistics")).map(|(_, s)| s).sum::<f64>();
    row("rest: Kea's side of the hook points, and noise (added − callouts)", columns.iter().map(|(_, plain, _, hook)| {
        let us = hook.cpu_us - plain - top(hook) * hook.cpu_us;
        (us, us / hook.cpu_us)
    }).collect());
    md.replace("NaN %", "—").replace("-0.0", "0.0")
}
