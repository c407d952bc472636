//! Figure 8 of `make bench`: instructions kea-dhcp6 runs per exchange, counted by callgrind, hook vs
//! plain pd-pool, and the hook's callouts among them. Unlike CPU time on a shared machine the count
//! does not depend on what else runs. Kea runs under valgrind in a profiling image (the project image
//! plus valgrind, `tests/setup/profile/Dockerfile`, named by `KC_VALGRIND_IMAGE`) with the unstripped
//! hook of the build stage mounted over the packaged one (`KC_HOOK_SYMBOLS`), so that callgrind names
//! the shim's functions. Counting starts after a warm-up in which every client got its lease
//! (`callgrind_control -z`) and ends with a dump (`-d`): only the measured exchanges are in it.
use std::collections::HashMap;
use std::fmt::Write as _;
use std::time::Duration;

use crate::benchmarks::{sample_lab_with, sample_spec, vlan709_macs};
use crate::lab::load::{run_load, LoadBounds};
use crate::lab::wait_until;

/// Exchanges counted per lab (each Solicit, Advertise, Request, Reply).
const COUNTED: usize = 400;
const HOOK_PATH: &str = "/usr/lib/x86_64-linux-gnu/kea/hooks/libdhcp_cloudstack.so";

/// What callgrind counted over the measured exchanges.
struct Count {
    exchanges: usize,
    failures: usize,
    total: f64,
    /// Inclusive instructions per function name.
    functions: HashMap<String, f64>,
}

impl Count {
    fn per_exchange(&self, functions: &[&str]) -> f64 {
        let bare = |name: &str| name.split_once('(').map_or(name, |(n, _)| n).to_string();
        let sum: f64 = self.functions.iter().filter(|(name, _)| functions.iter().any(|f| bare(name) == *f)).map(|(_, ir)| ir).sum();
        sum / self.exchanges.max(1) as f64
    }
}

/// Rows: label and the functions (callgrind's demangled names, without their argument lists) counted inclusively.
const ROWS: &[(&str, &[&str])] = &[
    ("pkt6_receive", &["kcs_pkt6_receive"]),
    ("  reading the router's facts", &["isc::cloudstack::QueryFacts::QueryFacts"]),
    ("  the Rust decision (kc_plan_query)", &["kc_plan_query"]),
    ("  clearing the way (lease-manager lookups)", &["isc::cloudstack::clearWay"]),
    ("  the IA_PD hint", &["isc::cloudstack::steerHint"]),
    ("pkt6_send", &["kcs_pkt6_send"]),
    ("leases6_committed", &["kcs_leases6_committed"]),
    ("lease6_select", &["kcs_lease6_select"]),
    ("lease6_renew / lease6_rebind", &["kcs_lease6_renew", "kcs_lease6_rebind"]),
];

/// Kea's own functions whose count the hook changes (hook − plain, per exchange).
const KEA_SIDE: &[(&str, &[&str])] = &[
    ("Kea writes the NIC record (user-context) with every lease update", &["isc::dhcp::CSVLeaseFile6::append"]),
    ("Kea's statistics (StatsMgr::addValue)", &["isc::stats::StatsMgr::addValue"]),
];

fn count(image: &str, symbols: &Option<String>, hook: bool, log: &mut String) -> Count {
    let mut spec = sample_spec(2000, hook, None, vec![]);
    spec.kea_image = Some(image.to_string());
    spec.kea_wrapper = Some("valgrind --tool=callgrind --callgrind-out-file=/var/lib/kea/callgrind.out --dump-instr=no".into());
    spec.hook_params.insert("warmup-timeout".into(), 300.into());
    if let Some(path) = symbols {
        spec.kea_files.push((path.into(), HOOK_PATH.to_string()));
    }
    let lab = sample_lab_with(spec);
    let macs = vlan709_macs(&lab);
    // Under valgrind Kea is some 50 times slower: two workers, generous timeouts are the router's 1 s.
    let warm = LoadBounds { workers: 2, max_exchanges: macs.len() + 50, max_time: Duration::from_secs(300), pace: None };
    let warmed = run_load(&lab, "VLAN709", &macs, warm);
    let zero = lab.kea_exec(&["callgrind_control", "-z"]);
    assert!(zero.status.success(), "bench: callgrind_control -z: {}", String::from_utf8_lossy(&zero.stderr));
    let measured = run_load(&lab, "VLAN709", &macs, LoadBounds { max_exchanges: COUNTED, ..warm });
    let dump = lab.kea_exec(&["callgrind_control", "-d"]);
    assert!(dump.status.success(), "bench: callgrind_control -d: {}", String::from_utf8_lossy(&dump.stderr));
    let file = lab.work_dir().join("lib").join("callgrind.out.1");
    assert!(wait_until(Duration::from_secs(60), || file.exists()), "bench: callgrind wrote no dump");
    std::thread::sleep(Duration::from_secs(1)); // the dump is written at once; let it be closed
    let annotated = crate::lab::host_run("callgrind_annotate", &["--inclusive=yes", "--threshold=100", file.to_str().unwrap()]);
    if std::env::var_os("KC_BENCH_CALLGRIND_SHOW").is_some() {
        let shown: Vec<&str> = annotated.lines().filter(|l| l.contains("kcs_") || l.contains("kc_") || l.contains("cloudstack") || l.contains("PROGRAM TOTALS")).take(80).collect();
        eprintln!("figure 8, callgrind_annotate of the {} lab:\n{}", if hook { "hook" } else { "plain" }, shown.join("\n"));
    }
    let mut functions = HashMap::new();
    let mut total = 0.0;
    for line in annotated.lines() {
        let line = line.trim();
        let Some((number, rest)) = line.split_once(' ') else { continue };
        let Ok(ir) = number.replace(',', "").parse::<f64>() else { continue };
        if rest.contains("PROGRAM TOTALS") {
            total = ir;
            continue;
        }
        // "1,234 (12.34%)  file:function [object]"
        let Some((_, name)) = rest.split_once(':') else { continue };
        let name = name.rsplit_once(" [").map_or(name, |(n, _)| n).trim();
        // "f (800x)" lists f once more with its call count, "f'2" a level of a recursion: both are inside f already.
        let repeated = name.rsplit_once(" (").is_some_and(|(_, calls)| calls.ends_with("x)")) || name.rsplit_once('\'').is_some_and(|(_, level)| level.chars().all(|c| c.is_ascii_digit()));
        if repeated {
            continue;
        }
        *functions.entry(name.to_string()).or_insert(0.0) += ir;
    }
    let side = if hook { "hook" } else { "plain" };
    let _ = writeln!(log, "figure 8, {side}: {} exchanges counted ({} failed), warm-up {} ({} failed), {total:.0} instructions",
        measured.exchanges, measured.failures, warmed.exchanges, warmed.failures);
    Count { exchanges: measured.exchanges + measured.failures, failures: measured.failures, total, functions }
}

/// The instruction table (markdown) and its raw lines; None without `KC_VALGRIND_IMAGE`.
pub fn instruction_table(log: &mut String) -> Option<String> {
    let image = std::env::var("KC_VALGRIND_IMAGE").ok().filter(|i| !i.is_empty())?;
    let symbols = std::env::var("KC_HOOK_SYMBOLS").ok().filter(|p| !p.is_empty());
    let plain = count(&image, &None, false, log);
    let hook = count(&image, &symbols, true, log);
    let per = |c: &Count| c.total / c.exchanges.max(1) as f64;
    let mut md = String::from("| instructions per exchange (callgrind, 1 Kea thread) | count | share of the hook lab's |\n| --- | --- | --- |\n");
    let mut row = |name: &str, value: f64| {
        let value = if value.abs() < 0.5 { 0.0 } else { value };
        let _ = writeln!(md, "| {name} | {value:.0} | {:.1} % |", value / per(&hook) * 100.0);
    };
    row("plain pd-pool (no hook)", per(&plain));
    row("with the hook", per(&hook));
    row("added by the hook", per(&hook) - per(&plain));
    let mut callouts = 0.0;
    for (name, functions) in ROWS {
        let value = hook.per_exchange(functions);
        if !name.starts_with("  ") {
            callouts += value;
        }
        row(&name.replace("  ", "&nbsp;&nbsp;— "), value);
    }
    for (name, functions) in KEA_SIDE {
        row(&format!("{name}, hook − plain"), hook.per_exchange(functions) - plain.per_exchange(functions));
    }
    row("Kea's side of the hook points in all (added − callouts)", per(&hook) - per(&plain) - callouts);
    let mut names: Vec<&String> = hook.functions.keys().chain(plain.functions.keys()).filter(|n| !n.starts_with("0x")).collect();
    names.sort();
    names.dedup();
    let at = |c: &Count, n: &str| c.functions.get(n).copied().unwrap_or(0.0) / c.exchanges.max(1) as f64;
    let mut diffs: Vec<(f64, &String)> = names.into_iter().map(|n| (at(&hook, n) - at(&plain, n), n)).collect();
    diffs.sort_by(|a, b| b.0.abs().partial_cmp(&a.0.abs()).unwrap());
    let _ = writeln!(log, "figure 8: largest differences hook − plain, inclusive instructions per exchange:");
    for (diff, name) in diffs.iter().take(30) {
        let short: String = name.chars().take(120).collect();
        let _ = writeln!(log, "  {diff:+8.0}  (plain {:8.0}, hook {:8.0})  {short}", at(&plain, name), at(&hook, name));
    }
    let _ = writeln!(log, "figure 8: plain {:.0}, hook {:.0} instructions per exchange ({} and {} failed exchanges among the counted)", per(&plain), per(&hook), plain.failures, hook.failures);
    Some(md)
}
