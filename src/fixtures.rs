//! Test fixtures shared by the unit tests of the sync and the index: a one-VLAN configuration and
//! small VMs on it.
use crate::cloudstack::Vm;
use crate::config::HookConfig;
use serde_json::json;

/// Hook parameters with one VLAN, 709, named by interface-id `VLAN709`, over 2a00:f10:500::/40.
pub fn one_vlan_config() -> HookConfig {
    HookConfig::from_json(&json!({
        "api-url": "https://c/client/api", "api-key": "k", "api-secret": "s", "trusted-relays": ["fd00::/8"],
        "vlans": [{"vlan": 709, "interface-id": "VLAN709", "prefix": "2a00:f10:500::/40"}]
    }))
    .unwrap()
}

/// VM `id` in `state` with one NIC on VLAN 709: MAC 02:00:00:00:00:n, IPv4 185.62.100.n.
pub fn small_vm(id: &str, n: u8, state: &str) -> Vm {
    serde_json::from_value(json!({"id": id, "name": id, "state": state, "nic": [{
        "id": format!("nic-{id}"), "macaddress": format!("02:00:00:00:00:{n:02x}"),
        "ipaddress": format!("185.62.100.{n}"), "netmask": "255.255.252.0", "vlanid": 709}]}))
    .unwrap()
}
