//! The static alternative: a Kea configuration with one IA_PD host reservation (`hw-address`
//! and `prefixes`) per indexed NIC, in the subnet whose interface-id is the NIC's VLAN. For
//! audits, migration, or Kea servers that cannot load hooks.
use crate::config::HookConfig;
use crate::index::NicIndex;
use serde_json::{json, Value};

/// What rendering did, for the operator.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct RenderReport {
    /// Reservations written, per VLAN.
    pub reservations: Vec<(u16, usize)>,
    /// VLANs of the hook configuration with no Kea subnet of that interface-id.
    pub vlans_without_subnet: Vec<u16>,
    /// Hook-library entries of this hook taken out (a static config does not load it).
    pub hook_entries_removed: usize,
}

/// Kea's configuration text without its comments (`//`, `#` and `/* */` outside strings).
pub fn strip_comments(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars().peekable();
    let mut in_string = false;
    while let Some(c) = chars.next() {
        if in_string {
            out.push(c);
            match c {
                '\\' => out.extend(chars.next()),
                '"' => in_string = false,
                _ => {}
            }
            continue;
        }
        match (c, chars.peek()) {
            ('"', _) => {
                in_string = true;
                out.push(c);
            }
            ('#', _) | ('/', Some('/')) => {
                for skipped in chars.by_ref() {
                    if skipped == '\n' {
                        out.push('\n');
                        break;
                    }
                }
            }
            ('/', Some('*')) => {
                chars.next();
                let mut previous = ' ';
                for skipped in chars.by_ref() {
                    if skipped == '\n' {
                        out.push('\n');
                    }
                    if previous == '*' && skipped == '/' {
                        break;
                    }
                    previous = skipped;
                }
            }
            _ => out.push(c),
        }
    }
    out
}

fn subnets_mut(dhcp6: &mut Value) -> Vec<&mut Value> {
    let mut found = Vec::new();
    let Some(map) = dhcp6.as_object_mut() else { return found };
    for (key, value) in map.iter_mut() {
        match key.as_str() {
            "subnet6" => found.extend(value.as_array_mut().into_iter().flatten()),
            "shared-networks" => {
                for network in value.as_array_mut().into_iter().flatten() {
                    if let Some(subnets) = network.get_mut("subnet6").and_then(Value::as_array_mut) {
                        found.extend(subnets.iter_mut());
                    }
                }
            }
            _ => {}
        }
    }
    found
}

/// Inject the index's reservations into `kea` (a whole `{"Dhcp6": …}` configuration).
pub fn render(kea: &mut Value, index: &NicIndex, cfg: &HookConfig) -> Result<RenderReport, String> {
    let dhcp6 = kea.get_mut("Dhcp6").ok_or("the Kea configuration has no \"Dhcp6\" map")?;
    let mut report = RenderReport::default();
    if let Some(hooks) = dhcp6.get_mut("hooks-libraries").and_then(Value::as_array_mut) {
        let before = hooks.len();
        hooks.retain(|h| !h["library"].as_str().is_some_and(|l| l.ends_with("libdhcp_cloudstack.so")));
        report.hook_entries_removed = before - hooks.len();
    }
    let mut served = Vec::new();
    for subnet in subnets_mut(dhcp6) {
        // The VLAN this subnet serves: by interface-id, or by the link-prefix its prefix holds.
        let by_id = subnet.get("interface-id").and_then(Value::as_str).and_then(|id| cfg.vlan_by_interface_id(id.as_bytes()));
        let subnet_prefix = subnet.get("subnet").and_then(Value::as_str).and_then(|p| p.parse::<ipnet::Ipv6Net>().ok());
        let by_link = || {
            let prefix = subnet_prefix?;
            cfg.vlans.iter().find(|v| v.interface_id.is_none() && v.link_prefix.is_some_and(|l| prefix.contains(&l)))
        };
        let Some(vlan) = by_id.or_else(by_link) else {
            continue;
        };
        let mut nics: Vec<_> = index.nics().filter(|n| n.slot == vlan.slot).collect();
        nics.sort_by_key(|n| n.prefix);
        let macs: Vec<String> = nics.iter().map(|n| n.mac.to_string()).collect();
        let reservations = subnet
            .as_object_mut()
            .ok_or("a subnet6 entry is not a map")?
            .entry("reservations")
            .or_insert_with(|| json!([]))
            .as_array_mut()
            .ok_or("a subnet's \"reservations\" is not a list")?;
        // A NIC's reservation replaces an older one of the same hardware address.
        reservations.retain(|r| !r["hw-address"].as_str().is_some_and(|hw| macs.iter().any(|m| m.eq_ignore_ascii_case(hw))));
        reservations.extend(nics.iter().map(|n| json!({"hw-address": n.mac.to_string(), "prefixes": [n.prefix.to_string()]})));
        report.reservations.push((vlan.vlan, nics.len()));
        served.push(vlan.vlan);
    }
    report.vlans_without_subnet = cfg.vlans.iter().map(|v| v.vlan).filter(|v| !served.contains(v)).collect();
    Ok(report)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::index::build_index;

    #[test]
    fn comments_go_but_strings_that_look_like_comments_stay() {
        let text = "{ // a comment\n \"a\": \"http://x/#y\", # another\n /* block\n */ \"b\": 1 }";
        let value: Value = serde_json::from_str(&strip_comments(text)).unwrap();
        assert_eq!(value, json!({"a": "http://x/#y", "b": 1}));
    }

    #[test]
    fn every_nic_gets_a_reservation_in_its_vlans_subnet_and_the_hook_entry_goes() {
        let cfg = HookConfig::from_json(&json!({
            "api-url": "https://c/client/api", "api-key": "k", "api-secret": "s", "trusted-relays": ["fd00::/8"],
            "vlans": [{"vlan": 709, "interface-id": "VLAN709", "prefix": "2a00:f10:500::/40"},
                      {"vlan": 710, "interface-id": "VLAN710", "prefix": "2a00:f10:600::/40"}]
        }))
        .unwrap();
        let vms: Vec<crate::cloudstack::Vm> = serde_json::from_value(json!([{"id": "v", "state": "Running", "nic": [
            {"id": "n", "macaddress": "02:00:0a:c5:00:17", "ipaddress": "185.62.101.23", "netmask": "255.255.252.0", "vlanid": 709}]}]))
        .unwrap();
        let index = build_index(&vms, &cfg, None);
        let mut kea = json!({"Dhcp6": {
            "hooks-libraries": [{"library": "/usr/lib/x86_64-linux-gnu/kea/hooks/libdhcp_cloudstack.so"}, {"library": "/other.so"}],
            "subnet6": [{"id": 709, "subnet": "2a00:f10:500::/40", "interface-id": "VLAN709",
                         "reservations": [{"hw-address": "02:00:0A:C5:00:17", "prefixes": ["2a00:f10:500:ff00::/60"]},
                                          {"duid": "00:01", "prefixes": ["2a00:f10:500:fe00::/60"]}]}]
        }});
        let report = render(&mut kea, &index, &cfg).unwrap();
        assert_eq!(report, RenderReport { reservations: vec![(709, 1)], vlans_without_subnet: vec![710], hook_entries_removed: 1 });
        assert_eq!(kea["Dhcp6"]["hooks-libraries"], json!([{"library": "/other.so"}]));
        assert_eq!(kea["Dhcp6"]["subnet6"][0]["reservations"], json!([
            {"duid": "00:01", "prefixes": ["2a00:f10:500:fe00::/60"]},
            {"hw-address": "02:00:0a:c5:00:17", "prefixes": ["2a00:f10:500:1170::/60"]}
        ]));
    }
}
