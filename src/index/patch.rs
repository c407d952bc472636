//! Changing an index by a few VMs, as event syncs do: the VMs' NICs as CloudStack has them now
//! replace what the index held for them, under the same rules as a listing's build (a NIC that
//! holds its prefix keeps it; a MAC twice on a VLAN is refused), without touching the rest.
use super::builder::{place, refusal};
use super::nic_index::{IndexedNic, NicIndex, RefusedNic};
use crate::cloudstack::Vm;
use crate::config::HookConfig;
use crate::mac::Mac;
use std::collections::HashMap;

/// `index` with the VMs of `fresh` as they are now (a VM in a gone state loses its NICs) and the
/// VMs of `gone` (confirmed expunged or destroyed) removed.
pub fn patch_index(index: &NicIndex, cfg: &HookConfig, fresh: &[Vm], gone: &[String]) -> NicIndex {
    let replaced: Vec<&str> = fresh.iter().map(|vm| vm.id.as_str()).chain(gone.iter().map(String::as_str)).collect();
    let leaving = |nic: &IndexedNic| replaced.contains(&nic.vm_id.as_str());
    let mut added: Vec<IndexedNic> = Vec::new();
    let mut refused: Vec<RefusedNic> = Vec::new();
    // What the added NICs already took: (MAC, slot) and prefixes.
    let mut taken_macs: HashMap<(Mac, u16), String> = HashMap::new();
    let mut taken_prefixes: HashMap<ipnet::Ipv6Net, (String, String)> = HashMap::new();
    let mut candidates: Vec<IndexedNic> = Vec::new();
    for vm in fresh.iter().filter(|vm| !vm.is_gone()) {
        for nic in &vm.nics {
            let Some(vlan) = nic.vlan().and_then(|tag| cfg.vlan_of(&vm.zoneid, tag)) else { continue };
            match place(vm, nic, vlan, cfg.delegated_length) {
                Ok(candidate) => candidates.push(candidate),
                Err(reason) => {
                    let mac = Mac::parse_text(nic.macaddress.as_deref().unwrap_or(""));
                    refused.push(refusal(vm, nic, vlan.vlan, mac, reason));
                }
            }
        }
    }
    // As in a listing's build, a NIC that holds its prefix keeps it: the batch's NICs that hold
    // theirs in `index` go first, so that a newcomer in the same batch (both VMs named by one
    // poll) never takes a live NIC's prefix. The sort is stable: the rest keep CloudStack's order.
    let holds = |candidate: &IndexedNic| {
        index.by_prefix(candidate.prefix).is_some_and(|held| held.nic_id == candidate.nic_id)
            || index.get(candidate.mac, candidate.slot).is_some_and(|held| held.nic_id == candidate.nic_id)
    };
    candidates.sort_by_key(|candidate| !holds(candidate));
    for candidate in candidates {
        let mac_holder = index
            .get(candidate.mac, candidate.slot)
            .filter(|held| !leaving(held))
            .map(|held| held.nic_id.clone())
            .or_else(|| taken_macs.get(&(candidate.mac, candidate.slot)).cloned());
        if let Some(holder) = mac_holder {
            let reason = format!("MAC also on NIC {holder} of the same VLAN");
            refused.push(RefusedNic { mac: Some(candidate.mac), vlan: candidate.vlan, nic_id: candidate.nic_id, vm_id: candidate.vm_id, reason });
            continue;
        }
        let prefix_holder = index
            .by_prefix(candidate.prefix)
            .filter(|held| !leaving(held))
            .map(|held| (held.nic_id.clone(), held.vm_id.clone()))
            .or_else(|| taken_prefixes.get(&candidate.prefix).cloned());
        if let Some((nic_id, vm_id)) = prefix_holder {
            let reason = format!("same number as NIC {nic_id} (VM {vm_id}), which keeps {}", candidate.prefix);
            refused.push(RefusedNic { mac: Some(candidate.mac), vlan: candidate.vlan, nic_id: candidate.nic_id, vm_id: candidate.vm_id, reason });
            continue;
        }
        taken_macs.insert((candidate.mac, candidate.slot), candidate.nic_id.clone());
        taken_prefixes.insert(candidate.prefix, (candidate.nic_id.clone(), candidate.vm_id.clone()));
        added.push(candidate);
    }
    index.changed(&replaced, added, refused)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fixtures::one_vlan_config as cfg;
    use crate::index::build_index;
    use serde_json::json;

    fn vm(id: &str, mac: u16, host: u16, state: &str) -> Vm {
        serde_json::from_value(json!({"id": id, "name": id, "state": state, "nic": [{
            "id": format!("nic-{id}"), "macaddress": format!("02:00:00:00:{:02x}:{:02x}", mac >> 8, mac & 0xff),
            "ipaddress": format!("185.62.{}.{}", 100 + host / 256, host % 256), "netmask": "255.255.0.0", "vlanid": 709}]}))
        .unwrap()
    }

    fn mac(n: u16) -> Mac {
        format!("02:00:00:00:{:02x}:{:02x}", n >> 8, n & 0xff).parse().unwrap()
    }

    fn cloud(count: u16) -> Vec<Vm> {
        (1..=count).map(|n| vm(&format!("vm{n}"), n, n, "Running")).collect()
    }

    #[test]
    fn a_new_vm_a_changed_vm_and_a_gone_vm_change_only_their_own_nics() {
        let index = build_index(&cloud(100), &cfg(), None);
        let fresh = [vm("new", 500, 500, "Running"), vm("vm2", 2, 300, "Running"), vm("vm3", 3, 3, "Destroyed")];
        let next = patch_index(&index, &cfg(), &fresh, &["vm4".to_string()]);
        assert_eq!(next.len(), 100 + 1 - 2);
        assert_eq!(next.get(mac(500), 0).unwrap().vm_id, "new");
        let (old, new) = (index.get(mac(2), 0).unwrap().prefix, next.get(mac(2), 0).unwrap().prefix);
        assert_ne!(old, new, "renumbered: host 300");
        assert_eq!(next.by_prefix(new).unwrap().vm_id, "vm2");
        assert!(next.by_prefix(old).is_none(), "vm2's old prefix is free");
        assert!(next.get(mac(3), 0).is_none() && next.get(mac(4), 0).is_none());
        assert_eq!(next.nics().count(), 99);
        assert_eq!(next.nics_of_vm("vm2").len(), 1);
        assert!(next.nics_of_vm("vm4").is_empty());
        assert_eq!(index.len(), 100, "the generation it came from is untouched");
        assert_eq!(next.delta_len(), 4, "new, vm2 (same MAC, same key), vm3, vm4");
    }

    #[test]
    fn a_new_nic_on_a_held_prefix_or_mac_is_refused_and_the_holder_keeps_it() {
        let index = build_index(&cloud(10), &cfg(), None);
        // Host 5 is vm5's number; MAC 6 is vm6's.
        let fresh = [vm("thief", 700, 5, "Running"), vm("twin", 6, 600, "Running")];
        let next = patch_index(&index, &cfg(), &fresh, &[]);
        let fifth = index.get(mac(5), 0).unwrap().prefix;
        assert_eq!(next.len(), 10);
        assert_eq!(next.by_prefix(fifth).unwrap().vm_id, "vm5");
        assert_eq!(next.get(mac(6), 0).unwrap().vm_id, "vm6");
        assert_eq!(next.refused_count(), 2);
        assert!(next.is_refused(mac(700)));
        // vm5 leaves: the thief's NIC gets the prefix once an event names it again.
        let later = patch_index(&next, &cfg(), &[vm("thief", 700, 5, "Running")], &["vm5".to_string()]);
        assert_eq!(later.by_prefix(fifth).unwrap().vm_id, "thief");
        assert!(!later.is_refused(mac(700)));
    }

    #[test]
    fn a_holder_and_a_newcomer_named_by_one_poll_leave_the_prefix_with_its_holder() {
        // zz holds host 7's prefix; aa (same number, listed after it) was refused. A poll names
        // both (a host's maintenance migrates them) and hands them over sorted by VM id: aa first.
        let before = build_index(&[vm("zz", 1, 7, "Running")], &cfg(), None);
        let index = build_index(&[vm("zz", 1, 7, "Running"), vm("aa", 2, 7, "Running")], &cfg(), Some(&before));
        let held = index.get(mac(1), 0).unwrap().prefix;
        assert!(index.is_refused(mac(2)));
        let next = patch_index(&index, &cfg(), &[vm("aa", 2, 7, "Running"), vm("zz", 1, 7, "Running")], &[]);
        assert_eq!(next.by_prefix(held).unwrap().vm_id, "zz", "the live holder keeps its /60");
        assert!(next.is_refused(mac(2)));
        assert!(next.get(mac(2), 0).is_none());
    }

    #[test]
    fn a_delta_grown_past_its_share_is_folded_into_a_new_table_with_the_same_answers() {
        let mut index = build_index(&cloud(10), &cfg(), None);
        for n in 11..=5000u16 {
            index = patch_index(&index, &cfg(), &[vm(&format!("vm{n}"), n, n, "Running")], &[]);
            assert!(index.delta_len() <= 4097);
        }
        assert_eq!(index.len(), 5000);
        assert_eq!(index.nics().count(), 5000);
        assert!(index.delta_len() < 4096, "folded once");
        assert_eq!(index.get(mac(4321), 0).unwrap().vm_id, "vm4321");
        assert_eq!(index.by_prefix(index.get(mac(17), 0).unwrap().prefix).unwrap().vm_id, "vm17");
    }
}
