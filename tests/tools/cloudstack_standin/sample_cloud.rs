//! A deterministic sample cloud of any size, shaped like a CloudStack zone with two shared guest VLANs.
//!
//! - VLAN 709 NICs carry `vlanid: 709`, `broadcasturi` and `isolationuri` `vlan://709`; VLAN 710 NICs carry only
//!   `broadcasturi: vlan://710` (older CloudStack versions answer without `vlanid`, and the hook must cope).
//! - VMs alternate between the VLANs. Each VLAN's first IPv4 range is the /22 of the plan (185.62.100.0/22 and
//!   185.62.104.0/22, gateway `.1`, hosts from 2); once a range is full the VLAN continues in further /22 ranges
//!   from 100.64.0.0/10, the way an operator adds IP ranges to a shared network. IPv4 addresses stay unique.
//! - MAC: `02`, a spill byte, the 16-bit network id, a 16-bit per-network sequence. CloudStack lets the sequence
//!   overflow into the network id; here it spills into its own byte instead, so every MAC is unique.
//! - Every 5th VM belongs to project `proj-1` or `proj-2`; about 1 in 50 VMs is `Stopped`, 1 in 100 `Destroyed`.
//! - Ids come from a 64-bit linear congruential generator with a fixed seed: same N, same cloud, every run.

use std::borrow::Cow;
use std::net::Ipv4Addr;

use serde::{Serialize, Serializer};
use serde_json::Map;

use crate::cloud::{Cloud, Nic, Vm};

/// Zone of every sample VM.
pub const SAMPLE_ZONE: &str = "z1";

/// Usable hosts per /22 range: host numbers 2..=1022 (0 is the network, 1 the gateway, 1023 the broadcast).
const HOSTS_PER_RANGE: u32 = 1021;

/// One shared guest network of the sample zone.
struct GuestVlan {
    vlan: u16,
    /// Whether NICs on it carry the `vlanid` field (and `isolationuri`), or only `broadcasturi`.
    reports_vlanid: bool,
    /// First address of the VLAN's first /22.
    first_range: Ipv4Addr,
    /// Network id bits in the MAC.
    mac_network_id: u16,
    networkid: &'static str,
    broadcasturi: &'static str,
}

const VLANS: [GuestVlan; 2] = [
    GuestVlan {
        vlan: 709,
        reports_vlanid: true,
        first_range: Ipv4Addr::new(185, 62, 100, 0),
        mac_network_id: 0x0ac5,
        networkid: "6e0d2c1a-0709-4c5e-9a1b-000000000709",
        broadcasturi: "vlan://709",
    },
    GuestVlan {
        vlan: 710,
        reports_vlanid: false,
        first_range: Ipv4Addr::new(185, 62, 104, 0),
        mac_network_id: 0x0ac6,
        networkid: "6e0d2c1a-0710-4c5e-9a1b-000000000710",
        broadcasturi: "vlan://710",
    },
];

/// Start of the space the VLANs grow into once their first /22 is full.
const OVERFLOW_SPACE: Ipv4Addr = Ipv4Addr::new(100, 64, 0, 0);

/// A sample NIC in 16 bytes; everything else about it follows from these.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SampleNic {
    /// Random bits of the NIC id (a generator state, hence unique).
    id_bits: u64,
    /// Position of the NIC on its VLAN: decides address and MAC sequence.
    ordinal: u32,
    /// Index into `VLANS`.
    vlan: u8,
}

/// The fields a sample NIC is answered with.
#[derive(Serialize)]
struct SampleNicFields {
    id: String,
    macaddress: String,
    ipaddress: String,
    netmask: &'static str,
    gateway: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    vlanid: Option<u16>,
    broadcasturi: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    isolationuri: Option<&'static str>,
    networkid: &'static str,
    traffictype: &'static str,
    #[serde(rename = "type")]
    kind: &'static str,
    isdefault: bool,
}

impl SampleNic {
    /// The VLAN this NIC is on.
    pub fn vlan(&self) -> u16 {
        VLANS[usize::from(self.vlan)].vlan
    }

    /// The NIC's IPv4 address and its range's gateway.
    fn address_and_gateway(&self) -> (Ipv4Addr, Ipv4Addr) {
        let range = self.ordinal / HOSTS_PER_RANGE;
        let host = 2 + self.ordinal % HOSTS_PER_RANGE;
        let base = if range == 0 {
            u32::from(VLANS[usize::from(self.vlan)].first_range)
        } else {
            // Overflow ranges interleave: VLAN 0 takes the even /22s, VLAN 1 the odd ones.
            let slot = (range - 1) * VLANS.len() as u32 + u32::from(self.vlan);
            u32::from(OVERFLOW_SPACE) + slot * 1024
        };
        (Ipv4Addr::from(base + host), Ipv4Addr::from(base + 1))
    }

    /// `02:<spill>:<network id>:<sequence>`; sequences start at 1 as CloudStack's do.
    fn mac(&self) -> String {
        let sequence = self.ordinal + 1;
        let network = VLANS[usize::from(self.vlan)].mac_network_id;
        let bytes =
            [0x02, (sequence >> 16) as u8, (network >> 8) as u8, network as u8, (sequence >> 8) as u8, sequence as u8];
        bytes.iter().map(|b| format!("{b:02x}")).collect::<Vec<_>>().join(":")
    }

    /// The NIC's id, as answered.
    pub fn id(&self) -> String {
        uuid_like(self.id_bits, scramble(self.id_bits))
    }

    fn fields(&self) -> SampleNicFields {
        let vlan = &VLANS[usize::from(self.vlan)];
        let (address, gateway) = self.address_and_gateway();
        SampleNicFields {
            id: self.id(),
            macaddress: self.mac(),
            ipaddress: address.to_string(),
            netmask: "255.255.252.0",
            gateway: gateway.to_string(),
            vlanid: vlan.reports_vlanid.then_some(vlan.vlan),
            broadcasturi: vlan.broadcasturi,
            isolationuri: vlan.reports_vlanid.then_some(vlan.broadcasturi),
            networkid: vlan.networkid,
            traffictype: "Guest",
            kind: "Shared",
            isdefault: true,
        }
    }
}

impl Serialize for SampleNic {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        self.fields().serialize(serializer)
    }
}

/// Knuth's MMIX linear congruential generator: full 2^64 period, so no state repeats within one cloud.
struct Lcg(u64);

impl Lcg {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1_442_695_040_888_963_407);
        self.0
    }
}

/// A bijective mix, for the second half of an id (LCG low bits alone are too regular to look random).
pub fn scramble(x: u64) -> u64 {
    (x ^ (x >> 31)).wrapping_mul(0x9e37_79b9_7f4a_7c15)
}

/// UUID-shaped text; `unique` fills the first three groups whole, so distinct `unique` values give distinct ids.
pub fn uuid_like(unique: u64, more: u64) -> String {
    format!(
        "{:08x}-{:04x}-{:04x}-{:04x}-{:012x}",
        unique >> 32,
        (unique >> 16) & 0xffff,
        unique & 0xffff,
        more >> 48,
        more & 0xffff_ffff_ffff
    )
}

/// Builds the sample cloud of `count` VMs.
pub fn generate(count: usize) -> Cloud {
    let mut random = Lcg(0x4b45_415f_4353_0001);
    let mut vms = Vec::with_capacity(count);
    for index in 0..count {
        let vm_bits = random.next();
        let nic_bits = random.next();
        let fate = (random.next() >> 33) % 100;
        let state = match fate {
            0 => "Destroyed",
            1 | 2 => "Stopped",
            _ => "Running",
        };
        let projectid = (index % 5 == 4).then_some(if (index / 5) % 2 == 0 { "proj-1" } else { "proj-2" });
        let nic =
            SampleNic { id_bits: nic_bits, ordinal: (index / VLANS.len()) as u32, vlan: (index % VLANS.len()) as u8 };
        vms.push(Vm {
            id: Cow::Owned(uuid_like(vm_bits, scramble(vm_bits))),
            name: Cow::Owned(format!("vm-{}", index + 1)),
            state: Cow::Borrowed(state),
            zoneid: Cow::Borrowed(SAMPLE_ZONE),
            projectid: projectid.map(Cow::Borrowed),
            account: Some(Cow::Borrowed(if projectid.is_some() { "project-account" } else { "admin" })),
            nics: vec![Nic::Sample(nic)],
            extra: Map::new(),
        });
    }
    Cloud { vms, expunged: Vec::new() }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    fn nic_json(vm: &Vm) -> serde_json::Value {
        serde_json::to_value(&vm.nics[0]).unwrap()
    }

    #[test]
    fn the_same_size_gives_the_same_cloud() {
        assert_eq!(generate(300).to_json(), generate(300).to_json());
    }

    #[test]
    fn the_two_vlans_report_themselves_differently() {
        let cloud = generate(2);
        let on_709 = nic_json(&cloud.vms[0]);
        assert_eq!(on_709["vlanid"], 709);
        assert_eq!(on_709["broadcasturi"], "vlan://709");
        assert_eq!(on_709["isolationuri"], "vlan://709");
        assert_eq!(on_709["ipaddress"], "185.62.100.2");
        assert_eq!(on_709["gateway"], "185.62.100.1");
        assert_eq!(on_709["netmask"], "255.255.252.0");
        assert_eq!(on_709["macaddress"], "02:00:0a:c5:00:01");
        assert_eq!(on_709["traffictype"], "Guest");
        assert_eq!(on_709["type"], "Shared");
        assert_eq!(on_709["isdefault"], true);
        let on_710 = nic_json(&cloud.vms[1]);
        assert!(on_710.get("vlanid").is_none());
        assert!(on_710.get("isolationuri").is_none());
        assert_eq!(on_710["broadcasturi"], "vlan://710");
        assert_eq!(on_710["ipaddress"], "185.62.104.2");
    }

    #[test]
    fn ids_macs_and_addresses_stay_unique_past_the_first_ranges_and_the_16_bit_sequence() {
        // 140,000 VMs: 70,000 per VLAN, beyond the 65,535 a 16-bit sequence holds and far beyond one /22.
        let cloud = generate(140_000);
        let mut vm_ids = HashSet::new();
        let mut nic_ids = HashSet::new();
        let mut macs = HashSet::new();
        let mut addresses = HashSet::new();
        for vm in &cloud.vms {
            assert!(vm_ids.insert(vm.id.to_string()));
            let nic = nic_json(vm);
            assert!(nic_ids.insert(nic["id"].as_str().unwrap().to_string()));
            assert!(macs.insert(nic["macaddress"].as_str().unwrap().to_string()));
            assert!(addresses.insert(nic["ipaddress"].as_str().unwrap().to_string()));
        }
        let last = nic_json(cloud.vms.last().unwrap());
        assert!(last["ipaddress"].as_str().unwrap().starts_with("100."), "{last}");
    }

    #[test]
    fn every_fifth_vm_is_a_project_vm_and_some_are_not_running() {
        let cloud = generate(10_000);
        let in_project = cloud.vms.iter().filter(|vm| vm.projectid.is_some()).count();
        assert_eq!(in_project, 2_000);
        assert_eq!(cloud.vms[4].projectid.as_deref(), Some("proj-1"));
        assert_eq!(cloud.vms[9].projectid.as_deref(), Some("proj-2"));
        let count = |state: &str| cloud.vms.iter().filter(|vm| vm.state == state).count();
        assert!((120..=290).contains(&count("Stopped")), "{}", count("Stopped"));
        assert!((50..=160).contains(&count("Destroyed")), "{}", count("Destroyed"));
    }

    #[test]
    fn a_sample_vm_fits_in_a_few_hundred_bytes() {
        // Inline size only; the heap adds the id (36 bytes) and the name. Guards against a careless fat field.
        assert!(std::mem::size_of::<Vm>() <= 256, "{}", std::mem::size_of::<Vm>());
        assert!(std::mem::size_of::<Nic>() <= 40, "{}", std::mem::size_of::<Nic>());
    }
}
