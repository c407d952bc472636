//! One immutable generation of the NIC index.
use crate::mac::Mac;
use ipnet::Ipv6Net;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, HashMap, HashSet};
use std::hash::{BuildHasherDefault, Hasher};

/// A NIC that gets a prefix.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct IndexedNic {
    pub mac: Mac,
    pub vlan: u16,
    /// The slot of the VLAN entry the NIC belongs to (`VlanConfig::slot`).
    #[serde(default)]
    pub slot: u16,
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

/// (MAC, VLAN slot) packed into one word: the map's key.
fn key(mac: Mac, slot: u16) -> u64 {
    (mac.as_u64() << 16) | u64::from(slot)
}

/// Hashes the packed keys with one folded multiply: a few instructions on every packet and for
/// every NIC a sync or snapshot loads, where SipHash costs tens of nanoseconds. Keys come from
/// CloudStack's MAC assignment, not from clients, so a keyed hash buys nothing here.
#[derive(Default)]
struct KeyHasher(u64);

impl Hasher for KeyHasher {
    fn write(&mut self, bytes: &[u8]) {
        // Only u64 keys are hashed here; any bytes still go through the same mixing.
        for &b in bytes {
            self.write_u64(u64::from(b));
        }
    }

    fn write_u64(&mut self, n: u64) {
        let product = u128::from(n ^ self.0) * 0x9e37_79b9_7f4a_7c15;
        self.0 = (product as u64) ^ ((product >> 64) as u64);
    }

    fn write_u128(&mut self, n: u128) {
        self.write_u64(n as u64);
        self.write_u64((n >> 64) as u64);
    }

    fn finish(&self) -> u64 {
        self.0
    }
}

/// The by-prefix map's key: the prefix's address (every NIC of an index has the same length;
/// the NIC found is checked against the whole prefix).
fn prefix_key(prefix: Ipv6Net) -> u128 {
    u128::from(prefix.addr())
}

/// NICs by (MAC, VLAN) and by prefix, with the NICs that were refused.
#[derive(Debug, Default)]
pub struct NicIndex {
    nics: HashMap<u64, IndexedNic, BuildHasherDefault<KeyHasher>>,
    /// Prefix key -> (MAC, VLAN) key, for renewals that name no MAC.
    by_prefix: HashMap<u128, u64, BuildHasherDefault<KeyHasher>>,
    /// The first REFUSED_KEPT refusals (a cloud of broken NICs must not grow the hook's memory).
    refused: Vec<RefusedNic>,
    refused_count: usize,
    /// Every refused MAC: a client whose NIC CloudStack lists but the index refused is known,
    /// and its retransmissions never ask for an early sync.
    refused_macs: HashSet<u64, BuildHasherDefault<KeyHasher>>,
    vms_read: usize,
}

/// How many refused NICs an index keeps the details of (all are counted).
pub const REFUSED_KEPT: usize = 1000;

impl NicIndex {
    /// An index of these NICs (already free of collisions) and refusals.
    pub fn new(nics: impl IntoIterator<Item = IndexedNic>, refused: Vec<RefusedNic>, vms_read: usize) -> NicIndex {
        let nics: HashMap<u64, IndexedNic, BuildHasherDefault<KeyHasher>> =
            nics.into_iter().map(|nic| (key(nic.mac, nic.slot), nic)).collect();
        let by_prefix = nics.iter().map(|(k, nic)| (prefix_key(nic.prefix), *k)).collect();
        let mut refused = refused;
        let refused_macs = refused.iter().filter_map(|r| r.mac).map(Mac::as_u64).collect();
        let refused_count = refused.len();
        refused.truncate(REFUSED_KEPT);
        NicIndex { nics, by_prefix, refused, refused_count, refused_macs, vms_read }
    }

    /// Does CloudStack list a NIC with this MAC that the index refused?
    pub fn is_refused(&self, mac: Mac) -> bool {
        self.refused_macs.contains(&mac.as_u64())
    }

    /// How many NICs were refused (`refused()` has the first REFUSED_KEPT).
    pub fn refused_count(&self) -> usize {
        self.refused_count
    }

    /// The NIC with this MAC on the VLAN entry at `slot`.
    pub fn get(&self, mac: Mac, slot: u16) -> Option<&IndexedNic> {
        self.nics.get(&key(mac, slot))
    }

    /// The NIC holding this prefix, if any.
    pub fn by_prefix(&self, prefix: Ipv6Net) -> Option<&IndexedNic> {
        let nic = self.nics.get(self.by_prefix.get(&prefix_key(prefix))?)?;
        (nic.prefix == prefix).then_some(nic)
    }

    /// How many NICs get a prefix.
    pub fn len(&self) -> usize {
        self.nics.len()
    }

    /// Whether no NIC gets a prefix.
    pub fn is_empty(&self) -> bool {
        self.nics.is_empty()
    }

    /// NICs refused at build time (the first REFUSED_KEPT).
    pub fn refused(&self) -> &[RefusedNic] {
        &self.refused
    }

    /// VMs the listing held (all states).
    pub fn vms_read(&self) -> usize {
        self.vms_read
    }

    /// Indexed NICs per VLAN slot.
    pub fn per_vlan(&self) -> BTreeMap<u16, usize> {
        let mut counts = BTreeMap::new();
        for nic in self.nics.values() {
            *counts.entry(nic.slot).or_insert(0) += 1;
        }
        counts
    }

    /// Every indexed NIC, in no particular order.
    pub fn nics(&self) -> impl Iterator<Item = &IndexedNic> {
        self.nics.values()
    }
}
