//! The last good index on disk, so a restarted Kea serves known NICs before CloudStack
//! answers. Written atomically (temporary file + rename); a snapshot made for another VLAN
//! layout, or damaged, is refused whole.
//!
//! Version 2 writes each NIC as a row `[mac, vlan, prefix, nic id, vm id, vm name]`: half the
//! bytes of named fields, and a start from 100k NICs is bound by this parse. Version 1 files
//! (NICs as objects) are still read.
use super::nic_index::{IndexedNic, NicIndex, RefusedNic};
use crate::config::HookConfig;
use crate::mac::Mac;
use ipnet::Ipv6Net;
use serde::{Deserialize, Serialize};
use std::io::Write;
use std::path::Path;

const FORMAT: &str = "kea-cloudstack-index";
const VERSION: u32 = 2;

#[derive(Serialize)]
struct SnapshotOut<'a> {
    format: &'a str,
    version: u32,
    /// The VLAN layout and delegated length the prefixes were computed with.
    layout: String,
    vms_read: usize,
    nics: Vec<NicRowOut<'a>>,
    refused: &'a [RefusedNic],
}

#[derive(Serialize)]
struct NicRowOut<'a>(&'a Mac, u16, &'a Ipv6Net, &'a str, &'a str, &'a str);

#[derive(Deserialize)]
struct Snapshot {
    format: String,
    version: u32,
    layout: String,
    vms_read: usize,
    nics: Vec<SavedNic>,
    refused: Vec<RefusedNic>,
}

/// A NIC as either version wrote it: a row (2) or an object with named fields (1).
struct SavedNic(IndexedNic);

impl<'de> Deserialize<'de> for SavedNic {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<SavedNic, D::Error> {
        struct Either;
        impl<'de> serde::de::Visitor<'de> for Either {
            type Value = SavedNic;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a NIC row [mac, vlan, prefix, nic id, vm id, vm name] or object")
            }
            fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut row: A) -> Result<SavedNic, A::Error> {
                let missing = |what: &str| serde::de::Error::custom(format!("NIC row without {what}"));
                let mac: Mac = row.next_element()?.ok_or_else(|| missing("mac"))?;
                let vlan: u16 = row.next_element()?.ok_or_else(|| missing("vlan"))?;
                let prefix: Ipv6Net = row.next_element()?.ok_or_else(|| missing("prefix"))?;
                let nic_id: String = row.next_element()?.ok_or_else(|| missing("nic id"))?;
                let vm_id: String = row.next_element()?.ok_or_else(|| missing("vm id"))?;
                let vm_name: String = row.next_element()?.ok_or_else(|| missing("vm name"))?;
                if row.next_element::<serde::de::IgnoredAny>()?.is_some() {
                    return Err(serde::de::Error::custom("NIC row longer than 6 fields"));
                }
                // The slot is not stored: the prefix names the VLAN entry (entries never overlap).
                Ok(SavedNic(IndexedNic { mac, vlan, slot: 0, prefix, nic_id, vm_id, vm_name }))
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(self, fields: A) -> Result<SavedNic, A::Error> {
                IndexedNic::deserialize(serde::de::value::MapAccessDeserializer::new(fields)).map(SavedNic)
            }
        }
        deserializer.deserialize_any(Either)
    }
}

/// The configuration facts an index's prefixes depend on (VLANs, prefixes, rules, length).
pub fn layout(cfg: &HookConfig) -> String {
    let vlans: Vec<String> = cfg
        .vlans
        .iter()
        .map(|v| {
            let mut link = v.interface_id.as_ref().map(|id| id.text.clone()).unwrap_or_default();
            if let Some(net) = v.link_prefix {
                link = format!("{link}~{net}");
            }
            match &v.zone_id {
                Some(zone) => format!("{}/{zone}={link}@{}:{:?}", v.vlan, v.prefix, v.rule),
                None => format!("{}={link}@{}:{:?}", v.vlan, v.prefix, v.rule),
            }
        })
        .collect();
    format!("/{} {}", cfg.delegated_length, vlans.join(","))
}

/// Write the index to `path` atomically.
pub fn write(path: &Path, index: &NicIndex, cfg: &HookConfig) -> std::io::Result<()> {
    let snapshot = SnapshotOut {
        format: FORMAT,
        version: VERSION,
        layout: layout(cfg),
        vms_read: index.vms_read(),
        nics: index.nics().map(|n| NicRowOut(&n.mac, n.vlan, &n.prefix, &n.nic_id, &n.vm_id, &n.vm_name)).collect(),
        refused: index.refused(),
    };
    let temporary = path.with_extension("tmp");
    {
        let mut file = std::fs::File::create(&temporary)?;
        serde_json::to_writer(std::io::BufWriter::new(&mut file), &snapshot)?;
        file.flush()?;
        file.sync_all()?;
    }
    std::fs::rename(&temporary, path)
}

/// Read a snapshot written for this configuration. Err says why it is not used.
pub fn read(path: &Path, cfg: &HookConfig) -> Result<NicIndex, String> {
    let text = std::fs::read(path).map_err(|e| e.to_string())?;
    parse(&text, cfg)
}

/// A snapshot's bytes as an index for this configuration. Err says why it is not used.
pub fn parse(text: &[u8], cfg: &HookConfig) -> Result<NicIndex, String> {
    let snapshot: Snapshot = serde_json::from_slice(text).map_err(|e| format!("not a readable snapshot: {e}"))?;
    if snapshot.format != FORMAT || !(1..=VERSION).contains(&snapshot.version) {
        return Err(format!("format {} version {} is not {FORMAT} version {VERSION}", snapshot.format, snapshot.version));
    }
    if snapshot.layout != layout(cfg) {
        return Err("made for another VLAN layout or delegated-length".to_string());
    }
    let mut nics = Vec::with_capacity(snapshot.nics.len());
    for SavedNic(mut nic) in snapshot.nics {
        let vlan = cfg.vlans.iter().find(|v| v.vlan == nic.vlan && v.prefix.contains(&nic.prefix));
        let Some(vlan) = vlan.filter(|_| nic.prefix.prefix_len() == cfg.delegated_length) else {
            return Err(format!("NIC {} has prefix {} outside VLAN {}", nic.nic_id, nic.prefix, nic.vlan));
        };
        nic.slot = vlan.slot;
        nics.push(nic);
    }
    Ok(NicIndex::new(nics, snapshot.refused, snapshot.vms_read))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::index::build_index;
    use serde_json::json;

    fn config(prefix: &str) -> HookConfig {
        HookConfig::from_json(&json!({
            "api-url": "https://c/client/api", "api-key": "k", "api-secret": "s", "trusted-relays": ["fd00::/8"],
            "vlans": [{"vlan": 709, "interface-id": "VLAN709", "prefix": prefix}]
        }))
        .unwrap()
    }

    fn index(cfg: &HookConfig) -> NicIndex {
        let vms: Vec<crate::cloudstack::Vm> = serde_json::from_value(json!([{"id": "vm", "state": "Running", "nic": [
            {"id": "n", "macaddress": "02:00:00:00:00:01", "ipaddress": "185.62.101.23", "netmask": "255.255.252.0", "vlanid": 709}
        ]}]))
        .unwrap();
        build_index(&vms, cfg, None)
    }

    #[test]
    fn a_snapshot_gives_back_the_same_index() {
        let cfg = config("2a00:f10:500::/40");
        let path = std::env::temp_dir().join(format!("kc-snap-{}.json", std::process::id()));
        write(&path, &index(&cfg), &cfg).unwrap();
        let back = read(&path, &cfg).unwrap();
        assert_eq!(back.get("02:00:00:00:00:01".parse().unwrap(), 0).unwrap().prefix.to_string(), "2a00:f10:500:1170::/60");
        assert!(!path.with_extension("tmp").exists());
        std::fs::remove_file(&path).unwrap();
    }

    #[test]
    fn a_version_1_snapshot_with_named_fields_is_still_read() {
        let cfg = config("2a00:f10:500::/40");
        let text = serde_json::to_vec(&json!({"format": FORMAT, "version": 1, "layout": layout(&cfg), "vms_read": 1,
            "nics": [{"mac": "02:00:00:00:00:01", "vlan": 709, "prefix": "2a00:f10:500:1170::/60", "nic_id": "n", "vm_id": "vm", "vm_name": "web"}],
            "refused": []})).unwrap();
        let back = parse(&text, &cfg).unwrap();
        assert_eq!(back.get("02:00:00:00:00:01".parse().unwrap(), 0).unwrap().vm_name, "web");
        let row = serde_json::to_vec(&json!({"format": FORMAT, "version": 2, "layout": layout(&cfg), "vms_read": 1,
            "nics": [["02:00:00:00:00:01", 709, "2a00:f10:500:1170::/60", "n", "vm"]], "refused": []})).unwrap();
        assert!(parse(&row, &cfg).unwrap_err().contains("NIC row without vm name"));
    }

    #[test]
    fn a_snapshot_of_another_layout_or_a_damaged_one_is_refused_whole() {
        let cfg = config("2a00:f10:500::/40");
        let path = std::env::temp_dir().join(format!("kc-snap2-{}.json", std::process::id()));
        write(&path, &index(&cfg), &cfg).unwrap();
        assert!(read(&path, &config("2a00:f10:700::/40")).unwrap_err().contains("another VLAN layout"));
        let text = std::fs::read(&path).unwrap();
        std::fs::write(&path, &text[..text.len() / 2]).unwrap();
        assert!(read(&path, &cfg).unwrap_err().contains("not a readable snapshot"));
        std::fs::write(&path, br#"{"format":"x","version":1,"layout":"","vms_read":0,"nics":[],"refused":[]}"#).unwrap();
        assert!(read(&path, &cfg).unwrap_err().contains("format x"));
        std::fs::remove_file(&path).unwrap();
    }
}
