//! Issue 4: `cloudstack-kea`, the hook's index on the command line, against the stand-in.
use std::path::PathBuf;
use std::process::Output;

use serde_json::{json, Value};

use crate::lab::{Lab, LabSpec};

fn vm(id: &str, mac: &str, ip: &str) -> Value {
    json!({"id": id, "name": id, "state": "Running", "zoneid": "z1", "nics": [{"id": format!("nic-{id}"), "macaddress": mac,
        "ipaddress": ip, "netmask": "255.255.252.0", "vlanid": 709, "traffictype": "Guest", "isdefault": true}]})
}

fn lab() -> Lab {
    Lab::start(LabSpec {
        cloud: json!({"vms": [vm("web", "02:00:0a:c5:00:17", "185.62.101.23"), vm("db", "02:00:0a:c5:00:18", "185.62.101.24")]}),
        ..LabSpec::default()
    })
}

/// The hook parameters the lab gave Kea, as a config.json for the CLI (secret file at its host path).
fn cli_config(lab: &Lab) -> PathBuf {
    let kea: Value = serde_json::from_str(&std::fs::read_to_string(lab.kea_config_path()).unwrap()).unwrap();
    let mut parameters = kea["Dhcp6"]["hooks-libraries"][0]["parameters"].clone();
    parameters["secret-key-file"] = json!(lab.work_dir().join("etc/cloudstack.secret").to_str().unwrap());
    let path = lab.work_dir().join("cli-config.json");
    std::fs::write(&path, parameters.to_string()).unwrap();
    path
}

/// Run the CLI inside the router namespace, where the stand-in is reachable.
fn cloudstack_kea(lab: &Lab, args: &[&str]) -> Output {
    lab.router_ns().command(env!("CARGO_BIN_EXE_cloudstack-kea")).args(args).output().expect("run cloudstack-kea")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

#[test]
fn check_reports_the_nics_per_vlan_and_fails_on_a_refused_nic() {
    let lab = lab();
    let config = cli_config(&lab);
    let ok = cloudstack_kea(&lab, &["check", "--config", config.to_str().unwrap()]);
    let out = text(&ok.stdout);
    assert_eq!(ok.status.code(), Some(0), "{out}{}", text(&ok.stderr));
    assert!(out.contains("parameters: ok"), "{out}");
    assert!(out.contains("VLAN 709") && out.contains("2 NICs"), "{out}");

    // 185.62.105.23/22 has the same host number as web's 185.62.101.23: a collision.
    lab.standin().add_vm(vm("twin", "02:00:0a:c5:00:99", "185.62.105.23"));
    let refused = cloudstack_kea(&lab, &["check", "--config", config.to_str().unwrap()]);
    let out = text(&refused.stdout);
    assert_eq!(refused.status.code(), Some(1), "{out}");
    // Without an earlier index to say who held it, the smaller NIC id keeps the prefix.
    assert!(out.contains("refused: NIC nic-web") && out.contains("same number as NIC nic-twin"), "{out}");
    assert!(out.contains("1 NICs refused"), "{out}");
}

#[test]
fn check_names_a_bad_parameter_and_exits_2() {
    let lab = lab();
    let path = lab.work_dir().join("bad.json");
    std::fs::write(&path, r#"{"api-url": "https://x/client/api", "api-key": "k", "api-secret": "s", "trusted-relays": ["fd00::/8"], "vlans": [], "colour": 1}"#).unwrap();
    let bad = cloudstack_kea(&lab, &["check", "--config", path.to_str().unwrap()]);
    assert_eq!(bad.status.code(), Some(2));
    assert!(text(&bad.stderr).contains("unknown parameter 'colour'"), "{}", text(&bad.stderr));
}

#[test]
fn lookup_answers_like_the_control_command() {
    let lab = lab();
    let config = cli_config(&lab);
    let found = cloudstack_kea(&lab, &["lookup", "--config", config.to_str().unwrap(), "02:00:0a:c5:00:18"]);
    assert_eq!(found.status.code(), Some(0));
    let answer: Value = serde_json::from_slice(&found.stdout).unwrap();
    assert_eq!(answer["arguments"]["prefix"], "2a00:f10:500:1180::/60", "{answer}");
    let same = lab.control(json!({"command": "cloudstack-lookup", "arguments": {"mac": "02:00:0a:c5:00:18"}}));
    assert_eq!(answer, same, "the CLI and the hook give the same answer");
    let missing = cloudstack_kea(&lab, &["lookup", "--config", config.to_str().unwrap(), "--prefix", "2a00:f10:500:ff00::/60"]);
    assert_eq!(missing.status.code(), Some(1));
}

#[test]
fn render_writes_a_static_config_that_kea_accepts() {
    let lab = lab();
    let config = cli_config(&lab);
    let rendered = cloudstack_kea(&lab, &["render", "--config", config.to_str().unwrap(), "--keacfg", lab.kea_config_path().to_str().unwrap()]);
    assert_eq!(rendered.status.code(), Some(0), "{}", text(&rendered.stderr));
    let kea: Value = serde_json::from_slice(&rendered.stdout).unwrap();
    assert_eq!(kea["Dhcp6"]["hooks-libraries"], json!([]), "the static config does not load the hook");
    assert_eq!(kea["Dhcp6"]["subnet6"][0]["reservations"], json!([
        {"hw-address": "02:00:0a:c5:00:17", "prefixes": ["2a00:f10:500:1170::/60"]},
        {"hw-address": "02:00:0a:c5:00:18", "prefixes": ["2a00:f10:500:1180::/60"]}
    ]));
    std::fs::write(lab.work_dir().join("etc/rendered.conf"), &rendered.stdout).unwrap();
    let container = format!("kc-{}", lab.id());
    let check = std::process::Command::new("docker")
        .args(["exec", &container, "kea-dhcp6", "-t", "/etc/kea/rendered.conf"])
        .output()
        .unwrap();
    assert!(check.status.success(), "kea-dhcp6 -t refused the rendered config:\n{}{}", text(&check.stdout), text(&check.stderr));
}
