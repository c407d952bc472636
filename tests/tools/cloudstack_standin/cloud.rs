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

/// All VMs, in the order they were added; answers keep that order, as CloudStack's listing is stable by id.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Cloud {
    /// The VMs.
    pub vms: Vec<Vm>,
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
    /// Reads a cloud file; refuses malformed JSON and duplicate VM ids (CloudStack ids are unique).
    pub fn from_json(text: &str) -> Result<Cloud, String> {
        let cloud: Cloud = serde_json::from_str(text).map_err(|e| format!("not a cloud: {e}"))?;
        let mut seen = HashSet::with_capacity(cloud.vms.len());
        for vm in &cloud.vms {
            if !seen.insert(vm.id.as_ref()) {
                return Err(format!("VM id '{}' appears twice", vm.id));
            }
        }
        Ok(cloud)
    }

    /// The cloud-file JSON of the whole cloud.
    pub fn to_json(&self) -> String {
        serde_json::to_string(self).expect("a cloud always serializes")
    }

    /// Appends a VM; refuses an id already present so removal by id stays unambiguous.
    pub fn add(&mut self, vm: Vm) -> Result<(), String> {
        if self.vms.iter().any(|known| known.id == vm.id) {
            return Err(format!("VM id '{}' already exists", vm.id));
        }
        self.vms.push(vm);
        Ok(())
    }

    /// Removes the VM with this id; `false` if there is none.
    pub fn remove(&mut self, id: &str) -> bool {
        match self.vms.iter().position(|vm| vm.id == id) {
            Some(at) => {
                // `remove`, not `swap_remove`: answers must keep insertion order.
                self.vms.remove(at);
                true
            }
            None => false,
        }
    }

    /// Sets the state of the VM with this id; `false` if there is none.
    pub fn set_state(&mut self, id: &str, state: &str) -> bool {
        match self.vms.iter_mut().find(|vm| vm.id == id) {
            Some(vm) => {
                vm.state = Cow::Owned(state.to_string());
                true
            }
            None => false,
        }
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
    fn vms_are_added_removed_and_change_state_by_id() {
        let mut cloud = Cloud::from_json(&odd_cloud()).unwrap();
        let extra: Vm = serde_json::from_value(json!({"id": "vm-c", "name": "c", "zoneid": "z1"})).unwrap();
        cloud.add(extra.clone()).unwrap();
        assert!(cloud.add(extra).is_err());
        assert!(cloud.set_state("vm-c", "Destroyed"));
        assert_eq!(cloud.vms[2].state, "Destroyed");
        assert!(cloud.remove("vm-a"));
        assert!(!cloud.remove("vm-a"));
        assert!(!cloud.set_state("nope", "Running"));
        let ids: Vec<&str> = cloud.vms.iter().map(|vm| vm.id.as_ref()).collect();
        assert_eq!(ids, ["vm-b", "vm-c"]);
    }
}
