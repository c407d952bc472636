//! Any answer body the API (or a proxy in front of it) could send, through parsing and indexing.
#![no_main]
use dhcp_cloudstack::cloudstack::model::ListVmsAnswer;
use dhcp_cloudstack::config::HookConfig;
use dhcp_cloudstack::index::build_index;
use libfuzzer_sys::fuzz_target;
use std::sync::OnceLock;

fn config() -> &'static HookConfig {
    static CONFIG: OnceLock<HookConfig> = OnceLock::new();
    CONFIG.get_or_init(|| {
        HookConfig::from_json(&serde_json::json!({
            "api-url": "https://c/client/api", "api-key": "k", "secret-key": "s",
            "vlans": [
                {"vlan": 709, "interface-id": "VLAN709", "prefix": "2a00:f10:500::/40"},
                {"vlan": 710, "interface-id": "VLAN710", "prefix": "2a00:f10:600::/40", "index": "mac"}
            ]
        }))
        .unwrap()
    })
}

fuzz_target!(|data: &[u8]| {
    if let Ok(answer) = serde_json::from_slice::<ListVmsAnswer>(data) {
        let index = build_index(&answer.listvirtualmachinesresponse.virtualmachine, config(), None);
        for nic in index.nics() {
            let vlan = config().vlan(nic.vlan).expect("indexed NICs are on configured VLANs");
            assert!(vlan.prefix.contains(&nic.prefix) && nic.prefix.prefix_len() == 60);
        }
    }
});
