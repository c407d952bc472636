//! `check`: the parameters and one API read, reported; non-zero on any problem.
use super::cloud::{load_config, read_index};
use super::Args;

pub const HELP: &str = "\
cloudstack-kea check --config FILE

Checks the hook parameters in FILE as Kea's load would, reads every VM from the CloudStack API
once, and prints the NICs per VLAN and every NIC that gets no prefix (with why).
Exit status: 0 all good, 1 some NIC is refused, 2 bad parameters or the API failed.";

pub fn run(args: &Args) -> Result<u8, String> {
    let cfg = load_config(args.required("--config")?)?;
    out!("parameters: ok ({} VLANs, API {})", cfg.vlans.len(), cfg.api_url);
    let index = read_index(&cfg)?;
    out!("API: ok, {} VMs read", index.vms_read());
    let per_vlan = index.per_vlan();
    for vlan in &cfg.vlans {
        out!(
            "VLAN {:<5} {:<16} {:<22} {} NICs",
            vlan.vlan,
            vlan.interface_id.as_ref().map_or_else(|| vlan.link_name(), |id| id.text.clone()),
            vlan.prefix,
            per_vlan.get(&vlan.slot).copied().unwrap_or(0)
        );
    }
    for refused in index.refused() {
        let mac = refused.mac.map_or_else(|| "?".to_string(), |m| m.to_string());
        out!("refused: NIC {} (VM {}, MAC {mac}, VLAN {}): {}", refused.nic_id, refused.vm_id, refused.vlan, refused.reason);
    }
    if index.refused().is_empty() {
        out!("no NIC refused");
        Ok(0)
    } else {
        out!("{} NICs refused", index.refused_count());
        Ok(1)
    }
}
