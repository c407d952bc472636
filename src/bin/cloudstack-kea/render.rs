//! `render`: the static configuration the old reservation script produced.
use super::cloud::{load_config, read_index};
use super::Args;

pub const HELP: &str = "\
cloudstack-kea render --config FILE --keacfg KEA-CONFIG

Reads the API once and prints KEA-CONFIG with one IA_PD reservation (hw-address + prefixes) per
NIC in the subnet whose interface-id is the NIC's VLAN, and without this hook's entry in
hooks-libraries: a static configuration for audits, migration, or servers that cannot load
hooks. Kea's comments are not kept. The output passes kea-dhcp6 -t.
Exit status: 0 written, 1 some configured VLAN has no subnet in KEA-CONFIG, 2 error.";

pub fn run(args: &Args) -> Result<u8, String> {
    let cfg = load_config(args.required("--config")?)?;
    let path = args.required("--keacfg")?;
    let text = std::fs::read_to_string(path).map_err(|e| format!("{path}: {e}"))?;
    let mut kea: serde_json::Value = serde_json::from_str(&dhcp_cloudstack::render::strip_comments(&text))
        .map_err(|e| format!("{path}: not a Kea configuration: {e}"))?;
    let index = read_index(&cfg)?;
    let report = dhcp_cloudstack::render::render(&mut kea, &index, &cfg)?;
    out!("{}", serde_json::to_string_pretty(&kea).expect("JSON"));
    for (vlan, count) in &report.reservations {
        eprintln!("VLAN {vlan}: {count} reservations");
    }
    if report.hook_entries_removed > 0 {
        eprintln!("removed the cloudstack hook from hooks-libraries");
    }
    for vlan in &report.vlans_without_subnet {
        eprintln!("VLAN {vlan}: no subnet with its interface-id in {path}");
    }
    Ok(if report.vlans_without_subnet.is_empty() { 0 } else { 1 })
}
