//! `cloudstack-lookup` (and `cloudstack-kea lookup`): the NIC behind a MAC or a prefix, the
//! prefix it gets, or why it gets none.
use super::{answer, RESULT_EMPTY, RESULT_ERROR, RESULT_SUCCESS};
use crate::config::HookConfig;
use crate::index::{IndexedNic, NicIndex};
use crate::mac::Mac;
use ipnet::Ipv6Net;
use serde_json::{json, Value};

fn describe(nic: &IndexedNic, cfg: &HookConfig) -> Value {
    json!({
        "mac": nic.mac.to_string(),
        "vlan": nic.vlan,
        "interface-id": cfg.vlan_at(nic.slot).and_then(|v| v.interface_id.as_ref()).map(|id| id.text.clone()),
        "prefix": nic.prefix.to_string(),
        "nic-id": nic.nic_id,
        "vm-id": nic.vm_id,
        "vm-name": nic.vm_name,
    })
}

/// Answer a lookup of `{"mac": "..."}` or `{"prefix": "..."}`.
pub fn lookup(cfg: &HookConfig, index: &NicIndex, arguments: &Value) -> Value {
    if let Some(text) = arguments.get("mac").and_then(Value::as_str) {
        let Some(mac) = Mac::parse_text(text) else {
            return answer(RESULT_ERROR, format!("'mac' {text} is not a MAC address"), None);
        };
        let found: Vec<Value> = cfg.vlans.iter().filter_map(|v| index.get(mac, v.slot)).map(|nic| describe(nic, cfg)).collect();
        if let [one] = found.as_slice() {
            let text = format!("{mac} on VLAN {} gets {}", one["vlan"], one["prefix"].as_str().unwrap_or("?"));
            return answer(RESULT_SUCCESS, text, Some(one.clone()));
        }
        if !found.is_empty() {
            return answer(RESULT_SUCCESS, format!("{mac} has NICs on {} VLANs", found.len()), Some(json!({"nics": found})));
        }
        let refused: Vec<Value> = index
            .refused()
            .iter()
            .filter(|r| r.mac == Some(mac))
            .map(|r| json!({"vlan": r.vlan, "nic-id": r.nic_id, "vm-id": r.vm_id, "reason": r.reason}))
            .collect();
        let text = match refused.first() {
            Some(first) => format!("{mac} gets no prefix: {}", first["reason"].as_str().unwrap_or("refused")),
            None => format!("{mac} is not a NIC on a configured VLAN of a live VM in the index"),
        };
        return answer(RESULT_EMPTY, text, Some(json!({"mac": mac.to_string(), "refused": refused})));
    }
    if let Some(text) = arguments.get("prefix").and_then(Value::as_str) {
        let Ok(prefix) = text.parse::<Ipv6Net>() else {
            return answer(RESULT_ERROR, format!("'prefix' {text} is not an IPv6 prefix"), None);
        };
        return match index.by_prefix(prefix.trunc()) {
            Some(nic) => answer(RESULT_SUCCESS, format!("{prefix} is delegated to {} on VLAN {}", nic.mac, nic.vlan), Some(describe(nic, cfg))),
            None => answer(RESULT_EMPTY, format!("no NIC in the index gets {prefix}"), None),
        };
    }
    answer(RESULT_ERROR, "'mac' or 'prefix' parameter is mandatory", None)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::index::build_index;

    fn world() -> (HookConfig, NicIndex) {
        let cfg = HookConfig::from_json(&json!({
            "api-url": "https://c/client/api", "api-key": "k", "api-secret": "s", "trusted-relays": ["fd00::/8"],
            "vlans": [{"vlan": 709, "interface-id": "VLAN709", "prefix": "2a00:f10:500::/40"}]
        }))
        .unwrap();
        let vms: Vec<crate::cloudstack::Vm> = serde_json::from_value(json!([
            {"id": "vm-1", "name": "web", "state": "Running", "nic": [{"id": "nic-1", "macaddress": "02:00:0a:c5:00:17",
              "ipaddress": "185.62.101.23", "netmask": "255.255.252.0", "vlanid": 709}]},
            {"id": "vm-2", "name": "twin", "state": "Running", "nic": [{"id": "nic-2", "macaddress": "02:00:0a:c5:00:18",
              "ipaddress": "185.62.105.23", "netmask": "255.255.252.0", "vlanid": 709}]}
        ]))
        .unwrap();
        let index = build_index(&vms, &cfg, None);
        (cfg, index)
    }

    #[test]
    fn an_operator_finds_the_nic_and_its_prefix_by_mac_or_by_prefix() {
        let (cfg, index) = world();
        let by_mac = lookup(&cfg, &index, &json!({"mac": "02-00-0A-C5-00-17"}));
        assert_eq!(by_mac["result"], 0, "{by_mac}");
        assert_eq!(by_mac["arguments"]["prefix"], "2a00:f10:500:1170::/60");
        assert_eq!(by_mac["arguments"]["vm-name"], "web");
        let by_prefix = lookup(&cfg, &index, &json!({"prefix": "2a00:f10:500:1170::/60"}));
        assert_eq!(by_prefix["arguments"]["nic-id"], "nic-1", "{by_prefix}");
    }

    #[test]
    fn a_refused_nic_says_why_and_an_unknown_mac_says_so() {
        let (cfg, index) = world();
        let refused = lookup(&cfg, &index, &json!({"mac": "02:00:0a:c5:00:18"}));
        assert_eq!(refused["result"], 3, "{refused}");
        assert!(refused["text"].as_str().unwrap().contains("same number as NIC nic-1"), "{refused}");
        let unknown = lookup(&cfg, &index, &json!({"mac": "02:00:00:00:00:99"}));
        assert_eq!(unknown["result"], 3);
        assert_eq!(lookup(&cfg, &index, &json!({"mac": "nope"}))["result"], 1);
        assert_eq!(lookup(&cfg, &index, &json!({}))["text"], "'mac' or 'prefix' parameter is mandatory");
    }
}
