//! Any JSON an operator could put in the hook's parameters: an error or a checked config.
#![no_main]
use dhcp_cloudstack::config::HookConfig;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(value) = serde_json::from_slice::<serde_json::Value>(data) {
        if let Ok(cfg) = HookConfig::from_json(&value) {
            assert!(!cfg.vlans.is_empty());
            assert!((1..=500).contains(&cfg.page_size));
            for v in &cfg.vlans {
                assert!(v.prefix.prefix_len() <= cfg.delegated_length);
            }
        }
    }
});
