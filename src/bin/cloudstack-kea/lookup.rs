//! `lookup`: the answer `cloudstack-lookup` would give, from a fresh API read.
use super::cloud::{load_config, read_index};
use super::Args;
use serde_json::json;

pub const HELP: &str = "\
cloudstack-kea lookup --config FILE MAC
cloudstack-kea lookup --config FILE --prefix PREFIX

Reads the API once and answers like the hook's cloudstack-lookup command: the NIC, VM, VLAN and
the prefix it gets, or why it gets none. Exit status: 0 found, 1 not found, 2 error.";

pub fn run(args: &Args) -> Result<u8, String> {
    let query = match (args.free.first(), args.get("--prefix")) {
        (Some(mac), None) => json!({"mac": mac}),
        (None, Some(prefix)) => json!({"prefix": prefix}),
        _ => return Err("give a MAC or --prefix PREFIX (one of them)".to_string()),
    };
    let cfg = load_config(args.required("--config")?)?;
    let index = read_index(&cfg)?;
    let answer = dhcp_cloudstack::control::lookup(&cfg, &index, &query);
    out!("{}", serde_json::to_string_pretty(&answer).expect("JSON"));
    Ok(if answer["result"] == 0 { 0 } else { 1 })
}
