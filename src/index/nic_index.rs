//! One immutable generation of the NIC index.
use crate::mac::Mac;
use ipnet::Ipv6Net;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, HashMap};

/// A NIC that gets a prefix.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct IndexedNic {
    pub mac: Mac,
    pub vlan: u16,
    pub prefix: Ipv6Net,
    pub nic_id: String,
    pub vm_id: String,
    pub vm_name: String,
}

/// A NIC on a managed VLAN that gets no prefix, and why.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RefusedNic {
    pub mac: Option<Mac>,
    pub vlan: u16,
    pub nic_id: String,
    pub vm_id: String,
    pub reason: String,
}

/// NICs by (MAC, VLAN), with the NICs that were refused.
#[derive(Debug, Default)]
pub struct NicIndex {
    nics: HashMap<(Mac, u16), IndexedNic>,
    refused: Vec<RefusedNic>,
    vms_read: usize,
}

impl NicIndex {
    /// An index of these NICs (already free of collisions) and refusals.
    pub fn new(nics: Vec<IndexedNic>, refused: Vec<RefusedNic>, vms_read: usize) -> NicIndex {
        let nics = nics.into_iter().map(|nic| ((nic.mac, nic.vlan), nic)).collect();
        NicIndex { nics, refused, vms_read }
    }

    /// The NIC with this MAC on this VLAN.
    pub fn get(&self, mac: Mac, vlan: u16) -> Option<&IndexedNic> {
        self.nics.get(&(mac, vlan))
    }

    /// The NIC holding this prefix, if any.
    pub fn by_prefix(&self, prefix: Ipv6Net) -> Option<&IndexedNic> {
        self.nics.values().find(|nic| nic.prefix == prefix)
    }

    /// How many NICs get a prefix.
    pub fn len(&self) -> usize {
        self.nics.len()
    }

    /// Whether no NIC gets a prefix.
    pub fn is_empty(&self) -> bool {
        self.nics.is_empty()
    }

    /// NICs refused at build time.
    pub fn refused(&self) -> &[RefusedNic] {
        &self.refused
    }

    /// VMs the listing held (all states).
    pub fn vms_read(&self) -> usize {
        self.vms_read
    }

    /// Indexed NICs per VLAN.
    pub fn per_vlan(&self) -> BTreeMap<u16, usize> {
        let mut counts = BTreeMap::new();
        for nic in self.nics.values() {
            *counts.entry(nic.vlan).or_insert(0) += 1;
        }
        counts
    }

    /// Every indexed NIC, in no particular order.
    pub fn nics(&self) -> impl Iterator<Item = &IndexedNic> {
        self.nics.values()
    }
}
