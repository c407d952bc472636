//! Reading the configuration and the CloudStack API once, as a sync of the hook would.
use dhcp_cloudstack::cloudstack::ApiClient;
use dhcp_cloudstack::config::HookConfig;
use dhcp_cloudstack::index::{IndexBuilder, NicIndex};
use dhcp_cloudstack::refresh::listing::{list_all, Completeness};
use std::io::{IsTerminal, Write};
use std::sync::atomic::AtomicBool;

/// The hook parameters in `path`, checked as Kea's load would check them.
pub fn load_config(path: &str) -> Result<HookConfig, String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("{path}: {e}"))?;
    let value: serde_json::Value = serde_json::from_str(&dhcp_cloudstack::render::strip_comments(&text))
        .map_err(|e| format!("{path}: not JSON: {e}"))?;
    // Accept the parameters map itself, or a whole hook entry with "parameters".
    let parameters = value.get("parameters").unwrap_or(&value);
    let cfg = HookConfig::from_json(parameters).map_err(|e| format!("{path}: {e}"))?;
    if cfg.plain_http() {
        // The hook logs CLOUDSTACK_PLAIN_HTTP at this point; the tool says the same on stderr.
        eprintln!("cloudstack-kea: warning: API {} is reached over plain HTTP ('allow-plain-http'): unencrypted, and the server is not authenticated", cfg.api_url);
    }
    Ok(cfg)
}

/// Every VM of the API, indexed; progress on stderr when it is a terminal.
pub fn read_index(cfg: &HookConfig) -> Result<NicIndex, String> {
    let secret = cfg.secret_key().map_err(|e| e.to_string())?;
    let mut client = ApiClient::new(cfg, &secret);
    let terminal = std::io::stderr().is_terminal();
    if terminal {
        client = client.with_progress(Box::new(|read| {
            eprint!("\rreading VMs from the API: {read}");
            let _ = std::io::stderr().flush();
        }));
    }
    // Pages go straight into the index, as in the hook's sync.
    let mut builder = IndexBuilder::new(cfg, None);
    let listing = list_all(&client, &AtomicBool::new(false), &mut |page| builder.add(&page)).map_err(|e| e.to_string())?;
    if terminal {
        eprintln!("\rreading VMs from the API: done");
    }
    if let Completeness::Incomplete(why) = listing.completeness() {
        // CloudStack changed while it was paged through: what is shown may lack a few NICs.
        eprintln!("cloudstack-kea: warning: the listing is incomplete ({why}); run again for a whole picture");
    }
    Ok(builder.finish())
}
