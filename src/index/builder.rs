//! Building an index from a CloudStack listing: which NICs are ours, their numbers, and
//! who loses when two live NICs of a VLAN would share a prefix.
use super::nic_index::{IndexedNic, NicIndex, RefusedNic};
use crate::cloudstack::{Nic, Vm};
use crate::config::{HookConfig, IndexRule, VlanConfig};
use crate::mac::Mac;
use crate::prefix::{delegated_prefix, ipv4_host_number, mac_number, number_bits};
use ipnet::Ipv6Net;
use std::collections::HashMap;
use std::collections::hash_map::Entry;
use std::net::Ipv4Addr;

/// Build the index of `vms` for the configured VLANs in one go (see `IndexBuilder`).
pub fn build_index(vms: &[Vm], cfg: &HookConfig, previous: Option<&NicIndex>) -> NicIndex {
    let mut builder = IndexBuilder::new(cfg, previous);
    builder.add(vms);
    builder.finish()
}

/// Builds an index page by page, so a sync never holds the whole listing. When two live NICs
/// of a VLAN get the same prefix, the one that held it in `previous` keeps it (prefixes stay
/// stable); failing that, the NIC with the smaller id. The other is refused.
pub struct IndexBuilder<'a> {
    cfg: &'a HookConfig,
    previous: Option<&'a NicIndex>,
    winners: HashMap<Ipv6Net, IndexedNic>,
    /// The prefix each (MAC, VLAN slot) was placed at, to refuse a MAC seen twice on a VLAN.
    seen_macs: HashMap<(Mac, u16), Ipv6Net>,
    refused: Vec<RefusedNic>,
    vms_read: usize,
}

impl<'a> IndexBuilder<'a> {
    /// An empty builder for this configuration.
    pub fn new(cfg: &'a HookConfig, previous: Option<&'a NicIndex>) -> IndexBuilder<'a> {
        IndexBuilder { cfg, previous, winners: HashMap::new(), seen_macs: HashMap::new(), refused: Vec::new(), vms_read: 0 }
    }

    /// Take in one page of VMs.
    pub fn add(&mut self, vms: &[Vm]) {
        self.vms_read += vms.len();
        for vm in vms.iter().filter(|vm| !vm.is_gone()) {
            for nic in &vm.nics {
                self.add_nic(vm, nic);
            }
        }
    }

    fn add_nic(&mut self, vm: &Vm, nic: &Nic) {
        let Some(vlan) = nic.vlan().and_then(|tag| self.cfg.vlan_of(&vm.zoneid, tag)) else {
            return; // untagged or not a VLAN we serve
        };
        match place(vm, nic, vlan, self.cfg.delegated_length) {
            Ok(candidate) => self.insert(candidate),
            Err(reason) => {
                let mac = Mac::parse_text(nic.macaddress.as_deref().unwrap_or(""));
                self.refused.push(refusal(vm, nic, vlan.vlan, mac, reason));
            }
        }
    }

    /// Keep a NIC of the previous index that this listing could not speak for (an incomplete
    /// listing lacks it and nothing confirmed its VM gone).
    pub fn keep(&mut self, nic: &IndexedNic) {
        self.insert(nic.clone());
    }

    fn insert(&mut self, candidate: IndexedNic) {
        if let Some(first) = self.seen_macs.insert((candidate.mac, candidate.slot), candidate.prefix) {
            let holder = self.winners.get(&first).map_or("another", |n| n.nic_id.as_str());
            let reason = format!("MAC also on NIC {holder} of the same VLAN");
            let (nic_id, vm_id) = (candidate.nic_id, candidate.vm_id);
            self.refused.push(RefusedNic { mac: Some(candidate.mac), vlan: candidate.vlan, nic_id, vm_id, reason });
            return;
        }
        match self.winners.entry(candidate.prefix) {
            Entry::Vacant(slot) => {
                slot.insert(candidate);
            }
            Entry::Occupied(mut slot) => {
                let (keep, lose) = if first_keeps(slot.get(), &candidate, self.previous) {
                    (slot.get().clone(), candidate)
                } else {
                    (candidate, slot.get().clone())
                };
                self.refused.push(RefusedNic {
                    mac: Some(lose.mac),
                    vlan: lose.vlan,
                    nic_id: lose.nic_id.clone(),
                    vm_id: lose.vm_id.clone(),
                    reason: format!("same number as NIC {} (VM {}), which keeps {}", keep.nic_id, keep.vm_id, keep.prefix),
                });
                slot.insert(keep);
            }
        }
    }

    /// The index of everything added.
    pub fn finish(self) -> NicIndex {
        NicIndex::new(self.winners.into_values(), self.refused, self.vms_read)
    }
}

fn first_keeps(first: &IndexedNic, second: &IndexedNic, previous: Option<&NicIndex>) -> bool {
    let held = |nic: &IndexedNic| previous.and_then(|p| p.get(nic.mac, nic.slot)).is_some_and(|old| old.prefix == nic.prefix);
    match (held(first), held(second)) {
        (true, false) => true,
        (false, true) => false,
        _ => first.nic_id <= second.nic_id,
    }
}

pub(super) fn place(vm: &Vm, nic: &Nic, vlan: &VlanConfig, delegated_length: u8) -> Result<IndexedNic, String> {
    let mac_text = nic.macaddress.as_deref().unwrap_or("");
    let mac = Mac::parse_text(mac_text).ok_or_else(|| format!("MAC '{mac_text}' is not usable"))?;
    let bits = number_bits(vlan.prefix, delegated_length);
    let n = match vlan.rule {
        IndexRule::Ipv4Host => {
            let address = parse_ipv4(nic.ipaddress.as_deref(), "ipaddress")?;
            let netmask = parse_ipv4(nic.netmask.as_deref(), "netmask")?;
            ipv4_host_number(address, netmask)
        }
        IndexRule::Mac => mac_number(mac, bits),
    };
    let prefix = delegated_prefix(vlan.prefix, n, delegated_length)
        .ok_or_else(|| format!("number {n} does not fit {} at /{delegated_length}", vlan.prefix))?;
    Ok(IndexedNic {
        mac,
        vlan: vlan.vlan,
        slot: vlan.slot,
        prefix,
        nic_id: nic.id.clone(),
        vm_id: vm.id.clone(),
        vm_name: vm.name.clone(),
    })
}

fn parse_ipv4(text: Option<&str>, field: &str) -> Result<Ipv4Addr, String> {
    let text = text.unwrap_or("");
    text.parse().map_err(|_| format!("{field} '{text}' is not an IPv4 address"))
}

pub(super) fn refusal(vm: &Vm, nic: &Nic, vlan: u16, mac: Option<Mac>, reason: String) -> RefusedNic {
    RefusedNic { mac, vlan, nic_id: nic.id.clone(), vm_id: vm.id.clone(), reason }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn config() -> HookConfig {
        HookConfig::from_json(&json!({
            "api-url": "https://cloud.example.net/client/api", "api-key": "k", "api-secret": "s", "trusted-relays": ["fd00::/8"],
            "vlans": [
                {"vlan": 709, "interface-id": "VLAN709", "prefix": "2a00:f10:500::/40"},
                {"vlan": 710, "interface-id": "VLAN710", "prefix": "2a00:f10:600::/40", "index": "mac"}
            ]
        }))
        .unwrap()
    }

    fn vm(id: &str, state: &str, nics: serde_json::Value) -> Vm {
        serde_json::from_value(json!({"id": id, "name": id, "state": state, "nic": nics})).unwrap()
    }

    fn nic709(id: &str, mac: &str, ip: &str) -> serde_json::Value {
        json!({"id": id, "macaddress": mac, "ipaddress": ip, "netmask": "255.255.252.0", "vlanid": 709})
    }

    fn prefix_of(index: &NicIndex, mac: &str, vlan: u16) -> Option<String> {
        let slot = config().vlans.iter().find(|v| v.vlan == vlan).unwrap().slot;
        index.get(mac.parse().unwrap(), slot).map(|n| n.prefix.to_string())
    }

    #[test]
    fn a_running_nic_gets_its_contract_prefix_on_each_rule() {
        let vms = vec![
            vm("a", "Running", json!([nic709("n1", "02:00:0a:c5:00:17", "185.62.101.23")])),
            vm("b", "Stopped", json!([{"id": "n2", "macaddress": "06:32:b2:00:03:57", "broadcasturi": "vlan://710"}])),
        ];
        let index = build_index(&vms, &config(), None);
        assert_eq!(prefix_of(&index, "02:00:0a:c5:00:17", 709).as_deref(), Some("2a00:f10:500:1170::/60"));
        assert_eq!(prefix_of(&index, "06:32:b2:00:03:57", 710).as_deref(), Some("2a00:f10:600:3570::/60"));
        assert_eq!(prefix_of(&index, "02:00:0a:c5:00:17", 710), None, "a NIC lives on one VLAN only");
        assert_eq!(index.len(), 2);
        assert!(index.refused().is_empty());
    }

    #[test]
    fn the_same_vlan_tag_in_two_zones_is_two_vlans_and_the_same_mac_may_live_in_both() {
        let cfg = HookConfig::from_json(&json!({
            "api-url": "https://cloud.example.net/client/api", "api-key": "k", "api-secret": "s", "trusted-relays": ["fd00::/8"],
            "vlans": [
                {"vlan": 709, "zone-id": "zone-a", "interface-id": "A709", "prefix": "2a00:f10:500::/40"},
                {"vlan": 709, "zone-id": "zone-b", "interface-id": "B709", "prefix": "2a00:f10:600::/40"}
            ]
        }))
        .unwrap();
        let in_zone = |zone: &str, id: &str| {
            serde_json::from_value::<Vm>(json!({"id": id, "name": id, "state": "Running", "zoneid": zone,
                "nic": [nic709(&format!("nic-{id}"), "02:00:0a:c5:00:17", "185.62.101.23")]})).unwrap()
        };
        let vms = vec![in_zone("zone-a", "a"), in_zone("zone-b", "b"), in_zone("zone-c", "c")];
        let index = build_index(&vms, &cfg, None);
        let mac = "02:00:0a:c5:00:17".parse().unwrap();
        assert_eq!(index.get(mac, 0).map(|n| n.prefix.to_string()).as_deref(), Some("2a00:f10:500:1170::/60"));
        assert_eq!(index.get(mac, 1).map(|n| n.prefix.to_string()).as_deref(), Some("2a00:f10:600:1170::/60"));
        assert_eq!(index.len(), 2, "a VM of a zone no entry names is not indexed");
        assert!(index.refused().is_empty(), "{:?}", index.refused());
    }

    #[test]
    fn destroyed_vms_and_unmanaged_vlans_are_not_indexed() {
        let vms = vec![
            vm("gone", "Destroyed", json!([nic709("n1", "02:00:00:00:00:01", "185.62.100.2")])),
            vm("err", "Error", json!([nic709("n2", "02:00:00:00:00:02", "185.62.100.3")])),
            vm("other", "Running", json!([{"id": "n3", "macaddress": "02:00:00:00:00:03", "ipaddress": "10.1.1.1",
                                            "netmask": "255.255.255.0", "broadcasturi": "vlan://999"}])),
            vm("untagged", "Running", json!([{"id": "n4", "macaddress": "02:00:00:00:00:04", "broadcasturi": "vlan://untagged"}])),
        ];
        let index = build_index(&vms, &config(), None);
        assert!(index.is_empty());
        assert!(index.refused().is_empty(), "NICs outside our VLANs are ignored, not refused");
        assert_eq!(index.vms_read(), 4);
    }

    #[test]
    fn two_nics_with_the_same_number_the_holder_keeps_its_prefix() {
        let first = vm("a", "Running", json!([nic709("nic-b", "02:00:00:00:00:0b", "185.62.100.9")]));
        let second = vm("b", "Running", json!([nic709("nic-a", "02:00:00:00:00:0a", "185.62.104.9")]));
        // 185.62.104.9 & ~255.255.252.0 = 9 as well: same number, same /60.
        let without_history = build_index(&[first.clone(), second.clone()], &config(), None);
        assert_eq!(without_history.len(), 1);
        assert!(prefix_of(&without_history, "02:00:00:00:00:0a", 709).is_some(), "smaller NIC id wins");
        let history = build_index(&[first.clone()], &config(), None);
        let with_history = build_index(&[first, second], &config(), Some(&history));
        assert!(prefix_of(&with_history, "02:00:00:00:00:0b", 709).is_some(), "the holder keeps it");
        assert_eq!(with_history.refused().len(), 1);
        assert!(with_history.refused()[0].reason.contains("same number as NIC nic-b"), "{:?}", with_history.refused());
    }

    #[test]
    fn a_nic_whose_number_or_fields_do_not_fit_is_refused_with_a_reason() {
        let vms = vec![
            vm("a", "Running", json!([{"id": "n1", "macaddress": "02:00:00:00:00:01", "ipaddress": "bogus",
                                        "netmask": "255.255.252.0", "vlanid": 709}])),
            vm("b", "Running", json!([{"id": "n2", "macaddress": "not-a-mac", "vlanid": 709}])),
            vm("c", "Running", json!([{"id": "n3", "macaddress": "02:00:00:00:00:03", "ipaddress": "1.0.0.1",
                                        "netmask": "0.0.0.0", "vlanid": 709}])),
        ];
        let index = build_index(&vms, &config(), None);
        let reasons: Vec<&str> = index.refused().iter().map(|r| r.reason.as_str()).collect();
        assert!(reasons[0].contains("ipaddress 'bogus'"), "{reasons:?}");
        assert!(reasons[1].contains("MAC 'not-a-mac'"), "{reasons:?}");
        assert!(reasons[2].contains("does not fit"), "{reasons:?}");
        assert!(index.is_empty());
    }
}
