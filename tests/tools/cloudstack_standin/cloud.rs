//! The cloud the stand-in answers about: VMs with their NICs.
//!
//! Two shapes of the same data: the cloud file (`{"vms": [{…, "nics": […]}]}`, also what `/control/cloud` takes and
//! gives) and the API answer (`{…, "nic": […]}`, what `listVirtualMachines` returns). NICs given by a test are kept
//! as raw JSON objects and passed through untouched, so a test can send odd fields and watch the hook cope.
//! Sample NICs are stored compactly and spelled out only when answered, so a million VMs stay affordable.

use std::borrow::Cow;
use std::collections::HashSet;

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::{Map, Value};

use crate::sample_cloud::SampleNic;

/// Text that is usually a constant shared by many sample VMs (`"Running"`, `"z1"`) and owned only when it differs.
pub type Text = Cow<'static, str>;

/// All VMs, in the order they were added; answers keep that order, as CloudStack lists by ascending internal id.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Cloud {
    /// The VMs that still exist (any state, Destroyed included).
    pub vms: Vec<Vm>,
    /// Ids of expunged VMs. CloudStack keeps an expunged VM's row with `removed` set: listings skip it, but its id
    /// is still known, so `listVirtualMachines id=<it>` answers an empty list where an id never seen is a 431.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub expunged: Vec<String>,
}

/// What the cloud knows of a VM id.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Known {
    /// A VM with this id exists.
    Live,
    /// The VM was expunged; its row remains.
    Expunged,
    /// No VM ever had this id.
    Never,
}

/// One virtual machine.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Vm {
    /// CloudStack's UUID of the VM (any unique string here).
    pub id: Text,
    /// Name shown in CloudStack.
    pub name: Text,
    /// `Running`, `Stopped`, `Destroyed`, …; defaults to `Running` so tests can leave it out.
    #[serde(default = "running")]
    pub state: Text,
    /// Zone the VM lives in.
    pub zoneid: Text,
    /// Present only for VMs owned by a project: those are hidden unless the request names projects.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub projectid: Option<Text>,
    /// Owning account.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub account: Option<Text>,
    /// The NICs (`nic` is accepted too, so an API answer can be fed back as a cloud file).
    #[serde(default, alias = "nic")]
    pub nics: Vec<Nic>,
    /// Any other VM field a test supplied; answered as given.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

fn running() -> Text {
    Cow::Borrowed("Running")
}

/// One NIC of a VM.
#[derive(Debug, Clone, PartialEq)]
pub enum Nic {
    /// A NIC object from a cloud file or a control request, passed through as given.
    Given(Map<String, Value>),
    /// A NIC of the sample cloud, expanded to JSON when answered.
    Sample(SampleNic),
}

impl Nic {
    /// The NIC's `id`, when it has one (a NIC given by a test may lack it).
    pub fn id(&self) -> Option<String> {
        match self {
            Nic::Given(fields) => fields.get("id").and_then(Value::as_str).map(str::to_string),
            Nic::Sample(nic) => Some(nic.id()),
        }
    }
}

/// Why a NIC could not be added, replaced or removed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NicRefusal {
    /// No VM has the id given.
    NoVm,
    /// The VM has no NIC with the id given.
    NoNic,
    /// The VM already has a NIC with the new NIC's id.
    Exists,
    /// The NIC object has no string `id`.
    NoId,
}

impl std::fmt::Display for NicRefusal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            NicRefusal::NoVm => "no VM with that id",
            NicRefusal::NoNic => "the VM has no NIC with that id",
            NicRefusal::Exists => "the VM already has a NIC with that id",
            NicRefusal::NoId => "a NIC needs a string \"id\"",
        })
    }
}

impl Serialize for Nic {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self {
            Nic::Given(fields) => fields.serialize(serializer),
            Nic::Sample(nic) => nic.serialize(serializer),
        }
    }
}

impl<'de> Deserialize<'de> for Nic {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        // Anything but a JSON object is a test mistake worth a clear error, not a NIC.
        Map::deserialize(deserializer).map(Nic::Given)
    }
}

/// A VM as `listVirtualMachines` answers it: the NIC list is called `nic` there.
#[derive(Serialize)]
pub struct ApiVm<'a> {
    id: &'a str,
    name: &'a str,
    state: &'a str,
    zoneid: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    projectid: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    account: Option<&'a str>,
    #[serde(flatten)]
    extra: &'a Map<String, Value>,
    nic: &'a [Nic],
}

impl Vm {
    /// The API answer's view of this VM.
    pub fn api_view(&self) -> ApiVm<'_> {
        ApiVm {
            id: &self.id,
            name: &self.name,
            state: &self.state,
            zoneid: &self.zoneid,
            projectid: self.projectid.as_deref(),
            account: self.account.as_deref(),
            extra: &self.extra,
            nic: &self.nics,
        }
    }
}

impl Cloud {
    /// Reads a cloud file; refuses malformed JSON and duplicate VM ids, expunged ones included (CloudStack ids are
    /// unique).
    pub fn from_json(text: &str) -> Result<Cloud, String> {
        let cloud: Cloud = serde_json::from_str(text).map_err(|e| format!("not a cloud: {e}"))?;
        let mut seen = HashSet::with_capacity(cloud.vms.len() + cloud.expunged.len());
        for id in cloud.vms.iter().map(|vm| vm.id.as_ref()).chain(cloud.expunged.iter().map(String::as_str)) {
            if !seen.insert(id) {
                return Err(format!("VM id '{id}' appears twice"));
            }
        }
        Ok(cloud)
    }

    /// The cloud-file JSON of the whole cloud.
    pub fn to_json(&self) -> String {
        serde_json::to_string(self).expect("a cloud always serializes")
    }

    /// The VM with this id, if it exists.
    pub fn find(&self, id: &str) -> Option<&Vm> {
        self.vms.iter().find(|vm| vm.id == id)
    }

    /// The id (as stored) and what the cloud knows of the VM whose id equals `id` ignoring case, as MySQL finds a
    /// UUID; `None` if no VM ever had it.
    pub fn knows_ignoring_case(&self, id: &str) -> Option<(String, Known)> {
        let live = self.vms.iter().map(|vm| vm.id.as_ref()).find(|known| known.eq_ignore_ascii_case(id));
        match live {
            Some(known) => Some((known.to_string(), Known::Live)),
            None => self
                .expunged
                .iter()
                .find(|gone| gone.eq_ignore_ascii_case(id))
                .map(|gone| (gone.clone(), Known::Expunged)),
        }
    }

    /// What the cloud knows of `id`.
    pub fn knows(&self, id: &str) -> Known {
        if self.vms.iter().any(|vm| vm.id == id) {
            Known::Live
        } else if self.expunged.iter().any(|gone| gone == id) {
            Known::Expunged
        } else {
            Known::Never
        }
    }

    /// Appends a VM, as the newest (highest internal id); refuses an id that exists so removal by id stays
    /// unambiguous. An expunged id may come back (CloudStack never reuses one; tests may want to).
    pub fn add(&mut self, vm: Vm) -> Result<(), String> {
        self.make_room(&vm)?;
        self.vms.push(vm);
        Ok(())
    }

    /// Puts a VM before every other one: what a listing sees when a VM it did not show before turns up at a lower
    /// internal id than the VMs it already paged past.
    pub fn add_first(&mut self, vm: Vm) -> Result<(), String> {
        self.make_room(&vm)?;
        self.vms.insert(0, vm);
        Ok(())
    }

    fn make_room(&mut self, vm: &Vm) -> Result<(), String> {
        if self.vms.iter().any(|known| known.id == vm.id) {
            return Err(format!("VM id '{}' already exists", vm.id));
        }
        self.expunged.retain(|gone| *gone != vm.id);
        Ok(())
    }

    /// Expunges the VM with this id: gone from every listing, its id remembered; `false` if no VM has it.
    pub fn expunge(&mut self, id: &str) -> bool {
        self.expunge_vm(id).is_some()
    }

    /// Expunges the VM with this id and hands it back; `None` if no VM has it.
    pub fn expunge_vm(&mut self, id: &str) -> Option<Vm> {
        let at = self.vms.iter().position(|vm| vm.id == id)?;
        // `remove`, not `swap_remove`: answers must keep insertion order.
        let vm = self.vms.remove(at);
        self.expunged.push(vm.id.to_string());
        Some(vm)
    }

    /// Sets the state of the VM with this id; `false` if there is none.
    pub fn set_state(&mut self, id: &str, state: &str) -> bool {
        self.replace_state(id, state).is_some()
    }

    /// Sets the state of the VM with this id and hands back the state it had; `None` if there is no such VM.
    pub fn replace_state(&mut self, id: &str, state: &str) -> Option<Text> {
        let vm = self.vms.iter_mut().find(|vm| vm.id == id)?;
        Some(std::mem::replace(&mut vm.state, Cow::Owned(state.to_string())))
    }

    /// Gives VM `vm_id` one more NIC, last; its `id` must be new on that VM.
    pub fn add_nic(&mut self, vm_id: &str, nic: Map<String, Value>) -> Result<(), NicRefusal> {
        let nic = Nic::Given(nic);
        let nic_id = nic.id().ok_or(NicRefusal::NoId)?;
        let vm = self.vms.iter_mut().find(|vm| vm.id == vm_id).ok_or(NicRefusal::NoVm)?;
        if vm.nics.iter().any(|known| known.id().as_deref() == Some(nic_id.as_str())) {
            return Err(NicRefusal::Exists);
        }
        vm.nics.push(nic);
        Ok(())
    }

    /// Replaces NIC `nic_id` of VM `vm_id` by `nic` in the same place (its `id` is kept if `nic` has none).
    pub fn replace_nic(&mut self, vm_id: &str, nic_id: &str, mut nic: Map<String, Value>) -> Result<(), NicRefusal> {
        let vm = self.vms.iter_mut().find(|vm| vm.id == vm_id).ok_or(NicRefusal::NoVm)?;
        let at = vm.nics.iter().position(|known| known.id().as_deref() == Some(nic_id)).ok_or(NicRefusal::NoNic)?;
        nic.entry("id").or_insert_with(|| Value::String(nic_id.to_string()));
        vm.nics[at] = Nic::Given(nic);
        Ok(())
    }

    /// Removes NIC `nic_id` from VM `vm_id`.
    pub fn remove_nic(&mut self, vm_id: &str, nic_id: &str) -> Result<Nic, NicRefusal> {
        let vm = self.vms.iter_mut().find(|vm| vm.id == vm_id).ok_or(NicRefusal::NoVm)?;
        let at = vm.nics.iter().position(|known| known.id().as_deref() == Some(nic_id)).ok_or(NicRefusal::NoNic)?;
        Ok(vm.nics.remove(at))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn odd_cloud() -> String {
        json!({"vms": [
            {"id": "vm-a", "name": "a", "zoneid": "z1", "displayname": "Alpha",
             "nics": [{"id": "n1", "macaddress": "02:00:00:00:01:17", "broadcasturi": "vlan://709",
                       "vlanid": 709, "isdefault": true, "surprise": {"nested": [1, 2]}}]},
            {"id": "vm-b", "name": "b", "state": "Stopped", "zoneid": "z1", "projectid": "p1", "nics": []}
        ]})
        .to_string()
    }

    #[test]
    fn odd_nic_fields_and_extra_vm_fields_pass_through_to_the_answer() {
        let cloud = Cloud::from_json(&odd_cloud()).unwrap();
        let answer = serde_json::to_value(cloud.vms[0].api_view()).unwrap();
        assert_eq!(answer["state"], "Running", "state defaults to Running");
        assert_eq!(answer["displayname"], "Alpha");
        assert_eq!(answer["nic"][0]["surprise"], json!({"nested": [1, 2]}));
        assert_eq!(answer["nic"][0]["vlanid"], 709);
        assert!(answer.get("projectid").is_none());
        assert!(answer.get("nics").is_none(), "the API calls the list 'nic'");
        assert_eq!(serde_json::to_value(cloud.vms[1].api_view()).unwrap()["projectid"], "p1");
    }

    #[test]
    fn the_cloud_file_round_trips() {
        let cloud = Cloud::from_json(&odd_cloud()).unwrap();
        assert_eq!(Cloud::from_json(&cloud.to_json()).unwrap(), cloud);
    }

    #[test]
    fn duplicate_ids_and_non_object_nics_are_refused() {
        let twice = json!({"vms": [{"id": "x", "name": "a", "zoneid": "z"}, {"id": "x", "name": "b", "zoneid": "z"}]});
        assert!(Cloud::from_json(&twice.to_string()).unwrap_err().contains("twice"));
        let bad_nic = json!({"vms": [{"id": "x", "name": "a", "zoneid": "z", "nics": ["02:00:00:00:00:01"]}]});
        assert!(Cloud::from_json(&bad_nic.to_string()).is_err());
        let no_zone = json!({"vms": [{"id": "x", "name": "a"}]});
        assert!(Cloud::from_json(&no_zone.to_string()).unwrap_err().contains("zoneid"));
    }

    #[test]
    fn vms_are_added_expunged_and_change_state_by_id() {
        let mut cloud = Cloud::from_json(&odd_cloud()).unwrap();
        let extra: Vm = serde_json::from_value(json!({"id": "vm-c", "name": "c", "zoneid": "z1"})).unwrap();
        cloud.add(extra.clone()).unwrap();
        assert!(cloud.add(extra).is_err());
        assert!(cloud.set_state("vm-c", "Destroyed"));
        assert_eq!(cloud.vms[2].state, "Destroyed");
        assert!(cloud.expunge("vm-a"));
        assert!(!cloud.expunge("vm-a"));
        assert!(!cloud.set_state("nope", "Running"));
        let ids: Vec<&str> = cloud.vms.iter().map(|vm| vm.id.as_ref()).collect();
        assert_eq!(ids, ["vm-b", "vm-c"]);
    }

    #[test]
    fn an_expunged_vm_is_remembered_by_id_like_cloudstacks_removed_row() {
        let mut cloud = Cloud::from_json(&odd_cloud()).unwrap();
        assert!(cloud.expunge("vm-a"));
        assert_eq!(cloud.knows("vm-a"), Known::Expunged);
        assert_eq!(cloud.knows("vm-b"), Known::Live);
        assert_eq!(cloud.knows("vm-z"), Known::Never);
        let file: Value = serde_json::from_str(&cloud.to_json()).unwrap();
        assert_eq!(file["expunged"], json!(["vm-a"]));
        assert_eq!(Cloud::from_json(&cloud.to_json()).unwrap(), cloud, "the cloud file keeps expunged ids");
        let clash = json!({"vms": [{"id": "x", "name": "a", "zoneid": "z"}], "expunged": ["x"]});
        assert!(Cloud::from_json(&clash.to_string()).unwrap_err().contains("twice"));
    }

    #[test]
    fn nics_are_added_replaced_and_removed_by_id() {
        let mut cloud = Cloud::from_json(&odd_cloud()).unwrap();
        let nic = |fields: Value| fields.as_object().unwrap().clone();
        assert_eq!(cloud.add_nic("vm-a", nic(json!({"id": "n2", "macaddress": "02:00:00:00:02:17"}))), Ok(()));
        assert_eq!(cloud.add_nic("vm-a", nic(json!({"id": "n2"}))), Err(NicRefusal::Exists));
        assert_eq!(cloud.add_nic("vm-a", nic(json!({"macaddress": "x"}))), Err(NicRefusal::NoId));
        assert_eq!(cloud.add_nic("vm-z", nic(json!({"id": "n3"}))), Err(NicRefusal::NoVm));
        assert_eq!(cloud.replace_nic("vm-a", "n1", nic(json!({"ipaddress": "185.62.101.24"}))), Ok(()));
        let first = serde_json::to_value(&cloud.vms[0].nics[0]).unwrap();
        assert_eq!(first, json!({"id": "n1", "ipaddress": "185.62.101.24"}), "replaced in place, id kept");
        assert_eq!(cloud.remove_nic("vm-a", "n9"), Err(NicRefusal::NoNic));
        assert!(cloud.remove_nic("vm-a", "n1").is_ok());
        assert_eq!(cloud.vms[0].nics.iter().map(|n| n.id().unwrap()).collect::<Vec<_>>(), ["n2"]);
        assert_eq!(cloud.knows_ignoring_case("VM-A"), Some(("vm-a".to_string(), Known::Live)));
    }

    #[test]
    fn a_vm_added_first_comes_before_all_others_and_an_expunged_id_may_return() {
        let mut cloud = Cloud::from_json(&odd_cloud()).unwrap();
        cloud.expunge("vm-b");
        let back: Vm = serde_json::from_value(json!({"id": "vm-b", "name": "b2", "zoneid": "z1"})).unwrap();
        cloud.add_first(back).unwrap();
        let ids: Vec<&str> = cloud.vms.iter().map(|vm| vm.id.as_ref()).collect();
        assert_eq!(ids, ["vm-b", "vm-a"]);
        assert_eq!(cloud.knows("vm-b"), Known::Live);
        assert!(cloud.expunged.is_empty());
    }
}
