//! A damaged or foreign snapshot file is refused whole, never half-loaded, never a crash.
#![no_main]
use dhcp_cloudstack::config::HookConfig;
use dhcp_cloudstack::index::snapshot;
use libfuzzer_sys::fuzz_target;
use std::sync::OnceLock;

fn config() -> &'static HookConfig {
    static CONFIG: OnceLock<HookConfig> = OnceLock::new();
    CONFIG.get_or_init(|| {
        HookConfig::from_json(&serde_json::json!({
            "api-url": "https://c/client/api", "api-key": "k", "secret-key": "s",
            "vlans": [{"vlan": 709, "interface-id": "VLAN709", "prefix": "2a00:f10:500::/40"}]
        }))
        .unwrap()
    })
}

fuzz_target!(|data: &[u8]| {
    if let Ok(index) = snapshot::parse(data, config()) {
        for nic in index.nics() {
            assert!(config().vlans[0].prefix.contains(&nic.prefix));
        }
    }
});
