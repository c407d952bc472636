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

/// The hook parameters the lab gave Kea (HTTPS, the lab's CA in `ca-file`), as a config.json for the CLI, the
/// files Kea reads at their host paths.
fn cli_config(lab: &Lab) -> PathBuf {
    write_cli_config(lab, "cli-config.json", &hook_parameters(lab))
}

fn hook_parameters(lab: &Lab) -> Value {
    let kea: Value = serde_json::from_str(&std::fs::read_to_string(lab.kea_config_path()).unwrap()).unwrap();
    let mut parameters = kea["Dhcp6"]["hooks-libraries"][0]["parameters"].clone();
    for key in ["secret-key-file", "ca-file"] {
        let inside = parameters[key].as_str().unwrap_or_else(|| panic!("the lab sets {key}: {parameters}")).to_string();
        parameters[key] = json!(lab.host_path(&inside).to_str().unwrap());
    }
    parameters
}

fn write_cli_config(lab: &Lab, name: &str, parameters: &Value) -> PathBuf {
    let path = lab.work_dir().join(name);
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

/// The tool trusts what the hook trusts. Without `ca-file` the system trust store decides, and it does not know
/// the lab's private CA: check exits 2 saying the certificate failed verification. An http:// URL without
/// `allow-plain-http` is refused before any request, naming the parameter to set.
#[test]
fn check_verifies_the_certificate_against_ca_file_and_refuses_plain_http_unless_allowed() {
    let lab = lab();
    let verified = cloudstack_kea(&lab, &["check", "--config", cli_config(&lab).to_str().unwrap()]);
    assert_eq!(verified.status.code(), Some(0), "{}", text(&verified.stderr));
    let requests = || lab.standin().requests().as_array().unwrap().len();
    let after_verified = requests();

    let mut system_store = hook_parameters(&lab);
    system_store.as_object_mut().unwrap().remove("ca-file");
    let config = write_cli_config(&lab, "no-ca-file.json", &system_store);
    let unverified = cloudstack_kea(&lab, &["check", "--config", config.to_str().unwrap()]);
    assert_eq!(unverified.status.code(), Some(2));
    let stderr = text(&unverified.stderr);
    assert!(stderr.contains("TLS certificate verification failed (UnknownIssuer; trusted: the system trust store)"), "{stderr}");

    let mut plain = hook_parameters(&lab);
    plain["api-url"] = json!(plain["api-url"].as_str().unwrap().replacen("https://", "http://", 1));
    plain.as_object_mut().unwrap().remove("ca-file");
    let config = write_cli_config(&lab, "plain.json", &plain);
    let refused = cloudstack_kea(&lab, &["check", "--config", config.to_str().unwrap()]);
    assert_eq!(refused.status.code(), Some(2));
    let stderr = text(&refused.stderr);
    assert!(stderr.contains("is plain HTTP") && stderr.contains("set 'allow-plain-http' to true"), "{stderr}");
    assert_eq!(requests(), after_verified, "neither the unverified nor the plain check sent a request");
}
