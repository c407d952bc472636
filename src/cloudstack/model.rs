//! The parts of CloudStack's `listVirtualMachines` answer the index needs. Parsing is
//! lenient per field: one odd NIC is skipped by the index, it never fails a whole page.
use serde::Deserialize;
use serde_json::Value;

/// One page of `listVirtualMachines`. An empty page is `{"listvirtualmachinesresponse": {}}`.
#[derive(Debug, Deserialize)]
pub struct ListVmsAnswer {
    pub listvirtualmachinesresponse: ListVmsBody,
}

/// The body of a page: `count` is the total over all pages.
#[derive(Debug, Default, Deserialize)]
pub struct ListVmsBody {
    #[serde(default)]
    pub count: Option<u64>,
    #[serde(default)]
    pub virtualmachine: Vec<Vm>,
}

/// A virtual machine and its NICs.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct Vm {
    #[serde(default)]
    pub id: String,
    #[serde(default)]
    pub name: String,
    #[serde(default)]
    pub state: String,
    #[serde(default)]
    pub zoneid: String,
    #[serde(default, rename = "nic")]
    pub nics: Vec<Nic>,
}

/// A NIC as CloudStack describes it.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct Nic {
    #[serde(default)]
    pub id: String,
    #[serde(default)]
    pub macaddress: Option<String>,
    #[serde(default)]
    pub ipaddress: Option<String>,
    #[serde(default)]
    pub netmask: Option<String>,
    /// A number in current CloudStack, a string in some versions.
    #[serde(default)]
    pub vlanid: Option<Value>,
    #[serde(default)]
    pub broadcasturi: Option<String>,
    #[serde(default)]
    pub isolationuri: Option<String>,
}

impl Vm {
    /// States whose NICs are gone or going: never indexed.
    pub fn is_gone(&self) -> bool {
        matches!(self.state.as_str(), "Destroyed" | "Expunging" | "Error")
    }
}

impl Nic {
    /// The NIC's VLAN tag: `vlanid`, else `vlan://N` in `broadcasturi` or `isolationuri`.
    /// Untagged or unparsable: None.
    pub fn vlan(&self) -> Option<u16> {
        let from_field = match &self.vlanid {
            Some(Value::Number(n)) => n.as_u64().and_then(|n| u16::try_from(n).ok()),
            Some(Value::String(s)) => s.trim().parse().ok(),
            _ => None,
        };
        let from_uri = |uri: &Option<String>| {
            uri.as_deref().and_then(|u| u.strip_prefix("vlan://")).and_then(|tag| tag.parse::<u16>().ok())
        };
        from_field
            .or_else(|| from_uri(&self.broadcasturi))
            .or_else(|| from_uri(&self.isolationuri))
            .filter(|tag| (1..=4094).contains(tag))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn nic(json: &str) -> Nic {
        serde_json::from_str(json).unwrap()
    }

    #[test]
    fn the_vlan_comes_from_vlanid_then_the_uris() {
        assert_eq!(nic(r#"{"vlanid": 709, "broadcasturi": "vlan://1"}"#).vlan(), Some(709));
        assert_eq!(nic(r#"{"vlanid": "710"}"#).vlan(), Some(710));
        assert_eq!(nic(r#"{"broadcasturi": "vlan://711"}"#).vlan(), Some(711));
        assert_eq!(nic(r#"{"isolationuri": "vlan://712"}"#).vlan(), Some(712));
        assert_eq!(nic(r#"{"broadcasturi": "vlan://untagged"}"#).vlan(), None);
        assert_eq!(nic(r#"{"broadcasturi": "vxlan://5000"}"#).vlan(), None);
        assert_eq!(nic(r#"{}"#).vlan(), None);
    }

    #[test]
    fn an_empty_page_is_an_empty_body() {
        let answer: ListVmsAnswer = serde_json::from_str(r#"{"listvirtualmachinesresponse": {}}"#).unwrap();
        assert!(answer.listvirtualmachinesresponse.virtualmachine.is_empty());
        assert_eq!(answer.listvirtualmachinesresponse.count, None);
    }
}
