//! The kea-dhcp6 configuration a lab writes: one relayed subnet per VLAN, memfile leases, a control socket,
//! and (optionally) the CloudStack hook pointed at the stand-in. Written for the Kea release of the image:
//!
//! - 2.6.3 and 3.0.x load hooks only from the hooks directory (`KEA_HOOKS_PATH` overrides it; 3.0's `-X`
//!   turns the path checks off), keep lease files in the data directory /var/lib/kea (`KEA_DHCP_DATA_DIR`;
//!   3.0 refuses a `data-directory` other than that one and deprecates the key) and unix sockets in
//!   /run/kea (`KEA_CONTROL_SOCKET_DIR`), whose mode must be exactly 0750 on 2.6.3 and allow no more than
//!   0750 on 3.0 (lab/mod.rs makes it 0750). The lab names no data-directory and uses these paths on both.
//! - 3.0 configures control channels as a list, `control-sockets`; it still reads 2.6's `control-socket`
//!   (put into the list by its parser), but the lab writes each release's own form.
//! - 3.0 turns lease caching on by default (`cache-threshold` 0.25; 2.6: off); the lab keeps each release's
//!   default, so the stories run against what an operator of that release gets (`kea_globals` overrides).
use std::net::Ipv6Addr;

use serde_json::{json, Map, Value};

use super::{KeaVersion, LabSpec};

/// Where the project image installs the hook (Kea 2.6.3 and 3.0 load hooks only from their hooks directory).
pub const HOOK_LIBRARY: &str = "/usr/lib/x86_64-linux-gnu/kea/hooks/libdhcp_cloudstack.so";
/// The link name of Kea's end of the veth, inside the container.
pub const KEA_IFACE: &str = "kk0";
/// Lease file path inside the container (must be under Kea's data directory /var/lib/kea).
pub const LEASE_FILE: &str = "/var/lib/kea/kea-leases6.csv";
/// Control socket path inside the container (must be under Kea's socket directory /run/kea).
pub const CONTROL_SOCKET: &str = "/run/kea/kea6.sock";
/// Secret key file inside the container.
pub const SECRET_FILE: &str = "/etc/kea/cloudstack.secret";

/// The whole `{"Dhcp6": …}` document for `spec`, Kea listening on `kea_addr`, the hook calling `api_url` and
/// trusting the CAs of `ca_file` (a path inside the container).
pub fn kea_config(
    spec: &LabSpec,
    kea_version: KeaVersion,
    kea_addr: Ipv6Addr,
    api_url: &str,
    ca_file: Option<&str>,
    api_key: &str,
) -> Value {
    // The pools must delegate what the hook computes, or Kea re-allocates the prefix on every renewal.
    let delegated_len = spec.hook_params.get("delegated-length").and_then(Value::as_u64).unwrap_or(60);
    let subnets: Vec<Value> = spec
        .vlans
        .iter()
        .enumerate()
        .map(|(i, vlan)| {
            let (base, _) = split_prefix(&vlan.prefix);
            let mut subnet = json!({
                "id": vlan.vlan,
                "subnet": vlan.prefix,
                "interface-id": vlan.interface_id,
                "pd-pools": [{ "prefix": base, "prefix-len": prefix_len(&vlan.prefix), "delegated-len": delegated_len }],
                "preferred-lifetime": spec.preferred_lifetime,
                "valid-lifetime": spec.valid_lifetime,
            });
            for (key, value) in &spec.subnet_params {
                subnet[key] = value.clone();
            }
            if i == 0 && !spec.reservations.is_empty() {
                subnet["reservations"] = Value::Array(spec.reservations.clone());
            }
            subnet
        })
        .collect();

    let multi_threading = match spec.kea_threads {
        Some(n) => json!({ "enable-multi-threading": true, "thread-pool-size": n, "packet-queue-size": 64 }),
        None => json!({ "enable-multi-threading": false }),
    };

    let debug = spec.kea_debug || std::env::var("KC_KEA_DEBUG").is_ok_and(|v| v == "1");
    let main_logger = if debug {
        json!({ "name": "kea-dhcp6", "output-options": [{ "output": "stdout" }], "severity": "DEBUG", "debuglevel": 99 })
    } else {
        json!({ "name": "kea-dhcp6", "output-options": [{ "output": "stdout" }], "severity": "INFO" })
    };
    // The hook's own debug lines are visible unless the spec says otherwise: stories assert on them,
    // benchmarks turn them off to log as little as the baselines.
    let hook_logger = if spec.hook_debug {
        json!({ "name": "kea-dhcp6.cloudstack-hooks", "output-options": [{ "output": "stdout" }], "severity": "DEBUG", "debuglevel": 99 })
    } else {
        json!({ "name": "kea-dhcp6.cloudstack-hooks", "output-options": [{ "output": "stdout" }], "severity": "INFO" })
    };

    let mut loggers = vec![main_logger, hook_logger];
    if !spec.packet_logs && !debug {
        for name in ["kea-dhcp6.packets", "kea-dhcp6.leases"] {
            loggers.push(json!({ "name": name, "output-options": [{ "output": "stdout" }], "severity": "WARN" }));
        }
    }

    let mut dhcp6 = json!({
        "interfaces-config": { "interfaces": [format!("{KEA_IFACE}/{kea_addr}")] },
        "lease-database": { "type": "memfile", "persist": true, "name": LEASE_FILE, "lfc-interval": 0 },
        "multi-threading": multi_threading,
        "mac-sources": ["client-link-addr-option", "remote-id"],
        "preferred-lifetime": spec.preferred_lifetime,
        "valid-lifetime": spec.valid_lifetime,
        "subnet6": subnets,
        "loggers": loggers,
    });
    let control_socket = json!({ "socket-type": "unix", "socket-name": CONTROL_SOCKET });
    if kea_version.is_3_0_or_later() {
        dhcp6["control-sockets"] = json!([control_socket]);
    } else {
        dhcp6["control-socket"] = control_socket;
    }
    for (key, value) in &spec.kea_globals {
        dhcp6[key] = value.clone();
    }
    if spec.hook {
        let library = spec.hook_library.as_deref().unwrap_or(HOOK_LIBRARY);
        dhcp6["hooks-libraries"] =
            json!([{ "library": library, "parameters": hook_parameters(spec, api_url, ca_file, api_key, kea_addr) }]);
    }
    json!({ "Dhcp6": dhcp6 })
}

/// The hook's parameters: lab defaults (with `ca-file` when given), then `spec.hook_params` merged over them.
///
/// A `null` in `hook_params` removes that default; an inline `api-secret` replaces `secret-key-file`.
/// The routers trusted by default are the addresses of Kea's link (the router's and the load generator's).
pub fn hook_parameters(spec: &LabSpec, api_url: &str, ca_file: Option<&str>, api_key: &str, kea_addr: Ipv6Addr) -> Value {
    let kea_link = ipnet::Ipv6Net::new(kea_addr, 64).expect("a /64").trunc();
    let vlans: Vec<Value> = spec
        .vlans
        .iter()
        .map(|v| {
            let mut entry = json!({ "vlan": v.vlan, "interface-id": v.interface_id, "prefix": v.prefix });
            if let Some(index) = &v.index {
                entry["index"] = json!(index);
            }
            entry
        })
        .collect();
    let mut params: Map<String, Value> = json!({
        "api-url": api_url,
        "api-key": api_key,
        "secret-key-file": SECRET_FILE,
        "refresh-interval": 300,
        "miss-holdoff": 1,
        "warmup-timeout": 10,
        "trusted-relays": [kea_link.to_string()],
        "vlans": vlans,
    })
    .as_object()
    .cloned()
    .unwrap();
    if let Some(ca_file) = ca_file {
        params.insert("ca-file".to_string(), json!(ca_file));
    }
    if spec.hook_params.contains_key("api-secret") {
        params.remove("secret-key-file");
    }
    for (key, value) in &spec.hook_params {
        if value.is_null() {
            params.remove(key);
        } else {
            params.insert(key.clone(), value.clone());
        }
    }
    Value::Object(params)
}

fn split_prefix(prefix: &str) -> (Ipv6Addr, u8) {
    let (addr, len) = prefix.split_once('/').unwrap_or_else(|| panic!("lab: VLAN prefix {prefix:?} has no /length"));
    let addr = addr.parse().unwrap_or_else(|_| panic!("lab: VLAN prefix {prefix:?} is not IPv6"));
    let len = len.parse().unwrap_or_else(|_| panic!("lab: VLAN prefix {prefix:?} has a bad length"));
    (addr, len)
}

fn prefix_len(prefix: &str) -> u8 {
    split_prefix(prefix).1
}
