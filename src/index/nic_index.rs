//! One immutable generation of the NIC index.
use crate::mac::Mac;
use ipnet::Ipv6Net;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, HashMap, HashSet};
use std::hash::{BuildHasherDefault, Hasher};
use std::sync::Arc;

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

/// A VM id folded into a word, for the by-VM map (ids are CloudStack UUIDs; two would have to
/// collide in 64 bits to be taken for one, and then both VMs' NICs are merely re-read).
fn vm_key(vm_id: &str) -> u64 {
    use std::hash::Hash;
    let mut hasher = std::collections::hash_map::DefaultHasher::new();
    vm_id.hash(&mut hasher);
    hasher.finish()
}

type KeyMap<V> = HashMap<u64, V, BuildHasherDefault<KeyHasher>>;

/// The bulk of an index, shared between the generations event syncs make from it.
#[derive(Debug, Default)]
struct Table {
    nics: KeyMap<IndexedNic>,
    /// Prefix key -> (MAC, VLAN) key, for renewals that name no MAC.
    by_prefix: HashMap<u128, u64, BuildHasherDefault<KeyHasher>>,
    /// VM key -> the (MAC, VLAN) keys of its NICs, for event syncs that re-read a VM.
    by_vm: KeyMap<Vec<u64>>,
    /// Every refused MAC: a client whose NIC CloudStack lists but the index refused is known,
    /// and its retransmissions never ask for an early sync.
    refused_macs: HashSet<u64, BuildHasherDefault<KeyHasher>>,
}

impl Table {
    fn of(nics: impl IntoIterator<Item = IndexedNic>, refused_macs: HashSet<u64, BuildHasherDefault<KeyHasher>>) -> Table {
        let nics: KeyMap<IndexedNic> = nics.into_iter().map(|nic| (key(nic.mac, nic.slot), nic)).collect();
        let by_prefix = nics.iter().map(|(k, nic)| (prefix_key(nic.prefix), *k)).collect();
        let mut by_vm: KeyMap<Vec<u64>> = KeyMap::default();
        for (k, nic) in &nics {
            by_vm.entry(vm_key(&nic.vm_id)).or_default().push(*k);
        }
        Table { nics, by_prefix, by_vm, refused_macs }
    }
}

/// What event syncs changed since the table was built: a few entries over a shared table, so a
/// change costs the size of the change, not of the cloud. Each entry overrides the table's.
#[derive(Clone, Debug, Default)]
struct Delta {
    /// Some: the NIC now at that key; None: removed.
    nics: KeyMap<Option<IndexedNic>>,
    by_prefix: HashMap<u128, Option<u64>, BuildHasherDefault<KeyHasher>>,
    by_vm: KeyMap<Vec<u64>>,
    refused_macs: KeyMap<bool>,
}

impl Delta {
    fn is_empty(&self) -> bool {
        self.nics.is_empty() && self.by_prefix.is_empty() && self.by_vm.is_empty() && self.refused_macs.is_empty()
    }
}

/// A delta larger than this share of the table (or than DELTA_MIN entries) is folded into a new table.
const DELTA_SHARE: usize = 8;
const DELTA_MIN: usize = 4096;

/// NICs by (MAC, VLAN) and by prefix, with the NICs that were refused.
#[derive(Debug, Default)]
pub struct NicIndex {
    table: Arc<Table>,
    delta: Delta,
    /// How many NICs (table and delta together).
    len: usize,
    /// The first REFUSED_KEPT refusals (a cloud of broken NICs must not grow the hook's memory).
    refused: Vec<RefusedNic>,
    refused_count: usize,
    vms_read: usize,
}

/// How many refused NICs an index keeps the details of (all are counted).
pub const REFUSED_KEPT: usize = 1000;

impl NicIndex {
    /// An index of these NICs (already free of collisions) and refusals.
    pub fn new(nics: impl IntoIterator<Item = IndexedNic>, refused: Vec<RefusedNic>, vms_read: usize) -> NicIndex {
        let mut refused = refused;
        let refused_macs = refused.iter().filter_map(|r| r.mac).map(Mac::as_u64).collect();
        let refused_count = refused.len();
        refused.truncate(REFUSED_KEPT);
        let table = Table::of(nics, refused_macs);
        NicIndex { len: table.nics.len(), table: Arc::new(table), delta: Delta::default(), refused, refused_count, vms_read }
    }

    /// Does CloudStack list a NIC with this MAC that the index refused?
    pub fn is_refused(&self, mac: Mac) -> bool {
        let k = mac.as_u64();
        match self.delta.refused_macs.get(&k) {
            Some(&refused) => refused,
            None => self.table.refused_macs.contains(&k),
        }
    }

    /// How many NICs were refused (`refused()` has the first REFUSED_KEPT).
    pub fn refused_count(&self) -> usize {
        self.refused_count
    }

    fn by_key(&self, k: u64) -> Option<&IndexedNic> {
        match self.delta.nics.get(&k) {
            Some(entry) => entry.as_ref(),
            None => self.table.nics.get(&k),
        }
    }

    /// The NIC with this MAC on the VLAN entry at `slot`.
    pub fn get(&self, mac: Mac, slot: u16) -> Option<&IndexedNic> {
        let k = key(mac, slot);
        if self.delta.nics.is_empty() {
            return self.table.nics.get(&k);
        }
        self.by_key(k)
    }

    /// The NIC holding this prefix, if any.
    pub fn by_prefix(&self, prefix: Ipv6Net) -> Option<&IndexedNic> {
        let pk = prefix_key(prefix);
        let k = match self.delta.by_prefix.get(&pk) {
            Some(entry) => (*entry)?,
            None => *self.table.by_prefix.get(&pk)?,
        };
        let nic = self.by_key(k)?;
        (nic.prefix == prefix).then_some(nic)
    }

    /// The NICs of this VM.
    pub fn nics_of_vm(&self, vm_id: &str) -> Vec<&IndexedNic> {
        let vk = vm_key(vm_id);
        let keys = self.delta.by_vm.get(&vk).or_else(|| self.table.by_vm.get(&vk));
        keys.into_iter().flatten().filter_map(|k| self.by_key(*k)).filter(|nic| nic.vm_id == vm_id).collect()
    }

    /// How many NICs get a prefix.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether no NIC gets a prefix.
    pub fn is_empty(&self) -> bool {
        self.len == 0
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
        for nic in self.nics() {
            *counts.entry(nic.slot).or_insert(0) += 1;
        }
        counts
    }

    /// Every indexed NIC, in no particular order.
    pub fn nics(&self) -> impl Iterator<Item = &IndexedNic> {
        let delta = &self.delta.nics;
        self.table
            .nics
            .iter()
            .filter(move |(k, _)| !delta.contains_key(k))
            .map(|(_, nic)| nic)
            .chain(delta.values().flatten())
    }

    /// A new generation of this index sharing its table: the NICs of the VMs in `replaced` are
    /// taken out, then `added` go in (already checked against what stays: see `index::patch`),
    /// with `refused` added to the refusals. Costs the size of the change; a delta grown past
    /// its share of the table is folded into a new table (once in a long while).
    pub fn changed(&self, replaced: &[&str], added: Vec<IndexedNic>, refused: Vec<RefusedNic>) -> NicIndex {
        let mut next = NicIndex {
            table: self.table.clone(),
            delta: self.delta.clone(),
            len: self.len,
            refused: self.refused.clone(),
            refused_count: self.refused_count,
            vms_read: self.vms_read,
        };
        for vm_id in replaced {
            for k in self.nics_of_vm(vm_id).into_iter().map(|nic| key(nic.mac, nic.slot)).collect::<Vec<_>>() {
                next.remove(k);
            }
            next.delta.by_vm.insert(vm_key(vm_id), Vec::new());
        }
        for nic in added {
            next.insert(nic);
        }
        for refusal in refused {
            if let Some(mac) = refusal.mac {
                next.delta.refused_macs.insert(mac.as_u64(), true);
            }
            next.refused_count += 1;
            if next.refused.len() < REFUSED_KEPT {
                next.refused.push(refusal);
            }
        }
        if next.delta.nics.len() > DELTA_MIN.max(next.table.nics.len() / DELTA_SHARE) {
            next.fold();
        }
        next
    }

    fn remove(&mut self, k: u64) {
        let Some(nic) = self.by_key(k).cloned() else { return };
        let pk = prefix_key(nic.prefix);
        let holder = match self.delta.by_prefix.get(&pk) {
            Some(entry) => *entry,
            None => self.table.by_prefix.get(&pk).copied(),
        };
        if holder == Some(k) {
            self.delta.by_prefix.insert(pk, None);
        }
        self.delta.nics.insert(k, None);
        self.len -= 1;
    }

    fn insert(&mut self, nic: IndexedNic) {
        let k = key(nic.mac, nic.slot);
        if self.by_key(k).is_some() {
            self.remove(k);
        }
        let vk = vm_key(&nic.vm_id);
        let mut keys = match self.delta.by_vm.get(&vk) {
            Some(keys) => keys.clone(),
            None => self.table.by_vm.get(&vk).cloned().unwrap_or_default(),
        };
        if !keys.contains(&k) {
            keys.push(k);
        }
        self.delta.by_vm.insert(vk, keys);
        self.delta.by_prefix.insert(prefix_key(nic.prefix), Some(k));
        self.delta.refused_macs.insert(nic.mac.as_u64(), false);
        self.delta.nics.insert(k, Some(nic));
        self.len += 1;
    }

    /// Fold the delta into a new table.
    fn fold(&mut self) {
        if self.delta.is_empty() {
            return;
        }
        let mut refused_macs = self.table.refused_macs.clone();
        for (mac, refused) in &self.delta.refused_macs {
            if *refused {
                refused_macs.insert(*mac);
            } else {
                refused_macs.remove(mac);
            }
        }
        let table = Table::of(self.nics().cloned(), refused_macs);
        self.len = table.nics.len();
        self.table = Arc::new(table);
        self.delta = Delta::default();
    }

    /// How many entries event syncs added over the shared table (tests, status).
    pub fn delta_len(&self) -> usize {
        self.delta.nics.len()
    }
}
