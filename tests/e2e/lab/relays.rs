//! Real DHCPv6 relays written by others, run as plain processes in the router namespace in place of
//! `dhcp6-router`: dnsmasq, ISC dhcrelay, dibbler-relay and wide-dhcpv6-relay (Debian's packages, installed by
//! `tests/setup/host.sh`). Each relays one client link to Kea from the router's address on Kea's link (inside
//! `trusted-relays`), runs in the foreground and dies with the test (PR_SET_PDEATHSIG, as every `Daemon`).
//!
//! A VLAN entry names the relay's link the way that relay can: `name_vlan_link` rewrites the lab's first
//! subnet and the hook's first `vlans` entry and reloads Kea (what an operator does when a router is added).
use std::net::Ipv6Addr;

use serde_json::{json, Value};

use super::child::Daemon;
use super::client_link::ClientLink;
use super::Lab;

/// How a VLAN entry (and its Kea subnet) names the relay's link.
#[derive(Clone, Debug)]
pub enum LinkName {
    /// The relay sends this interface-id (raw bytes: an interface index, say).
    InterfaceId(Vec<u8>),
    /// The relay sends no interface-id; its link-address lies in this /64 (and in the Kea subnet's prefix).
    LinkPrefix(String),
}

impl LinkName {
    /// The hook's spelling: `"0x…"` for bytes.
    fn hook_entry(&self) -> (&'static str, String) {
        match self {
            LinkName::InterfaceId(bytes) => {
                ("interface-id", format!("0x{}", bytes.iter().map(|b| format!("{b:02x}")).collect::<String>()))
            }
            LinkName::LinkPrefix(net) => ("link-prefix", net.clone()),
        }
    }
}

/// Placeholder for the subnet's interface-id, replaced after serialising: Kea reads `\u00XX` as the byte XX,
/// while serde_json would write a byte of 0x80 or more as two bytes of UTF-8.
const INTERFACE_ID_PLACEHOLDER: &str = "kc-relay-interface-id-bytes";

/// Makes the hook's first VLAN entry (and the Kea subnet that serves it) name the link by `name`, then
/// `config-reload`s Kea; panics unless Kea and the hook accept it.
pub fn name_vlan_link(lab: &Lab, name: &LinkName) {
    let path = lab.kea_config_path();
    let mut config: Value = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    let (key, value) = name.hook_entry();
    // A lab without the hook (plain Kea) has only the subnet to change.
    if let Some(vlan) = config.pointer_mut("/Dhcp6/hooks-libraries/0/parameters/vlans/0").and_then(Value::as_object_mut) {
        vlan.remove("interface-id");
        vlan.insert(key.to_string(), json!(value));
    }
    let subnet = config["Dhcp6"]["subnet6"][0].as_object_mut().expect("lab: a subnet");
    subnet.remove("interface-id");
    match name {
        // Kea selects a subnet by the relay's interface-id first.
        LinkName::InterfaceId(_) => {
            subnet.insert("interface-id".into(), json!(INTERFACE_ID_PLACEHOLDER));
        }
        // Without one, by the subnet whose prefix holds the relay's link-address; its pd-pool still
        // covers the VLAN's /40 (Kea does not require a pd-pool inside the subnet's prefix).
        LinkName::LinkPrefix(net) => {
            subnet.insert("subnet".into(), json!(net));
        }
    }
    let mut text = serde_json::to_string_pretty(&config).unwrap();
    if let LinkName::InterfaceId(bytes) = name {
        let escaped: String = bytes.iter().map(|b| format!("\\u{b:04x}")).collect();
        text = text.replace(INTERFACE_ID_PLACEHOLDER, &escaped);
    }
    std::fs::write(&path, text).unwrap();
    let answer = lab.control(json!({"command": "config-reload"}));
    assert_eq!(answer["result"], 0, "Kea takes the VLAN entry {key} {value}: {answer}\nKea's log:\n{}", lab.kea_log());
}

/// The interface index of `iface` in the router namespace (what dhcrelay and dhcp6relay put in interface-id).
pub fn router_ifindex(lab: &Lab, iface: &str) -> u32 {
    let text = lab.router_ns().exec("cat", &[&format!("/sys/class/net/{iface}/ifindex")]);
    text.trim().parse().unwrap_or_else(|_| panic!("lab: ifindex of {iface}: {text:?}"))
}

/// The router's interface on Kea's link (in the router namespace).
pub fn kea_facing_iface(lab: &Lab) -> String {
    format!("kcr{}", lab.id())
}

/// dnsmasq as a DHCPv6 relay only (`--dhcp-relay=LOCAL,SERVER`, no DNS, no DHCP service): LOCAL is the
/// router's address on the client link, which dnsmasq also sends as link-address.
pub fn dnsmasq(lab: &Lab, link: &ClientLink<'_>) -> Daemon {
    let dir = relay_dir(lab, "dnsmasq");
    let mut cmd = lab.router_ns().command("dnsmasq");
    cmd.args(["--keep-in-foreground", "--conf-file=/dev/null", "--no-resolv", "--no-hosts", "--port=0"])
        // As root: dnsmasq's switch to another user would clear the parent-death signal.
        .args(["--user=root", "--log-facility=-", "--log-dhcp"])
        .arg(format!("--pid-file={}", dir.join("dnsmasq.pid").display()))
        .arg(format!("--dhcp-relay={},{}", link.link_address(), lab.kea_addr()));
    Daemon::spawn("dnsmasq", cmd)
}

/// ISC dhcrelay: `-I` (interface-id always), the client link as lower (`#index`, when given, is the number
/// it sends as interface-id), Kea's link as upper interface.
pub fn dhcrelay(lab: &Lab, link: &ClientLink<'_>, index: Option<u32>) -> Daemon {
    let dir = relay_dir(lab, "dhcrelay");
    let mut cmd = lab.router_ns().command("dhcrelay");
    cmd.args(["-6", "-d", "-I", "-pf"])
        .arg(dir.join("dhcrelay.pid"))
        .args(["-l", &format!("{}%{}{}", link.link_address(), link.router_iface(), index.map(|i| format!("#{i}")).unwrap_or_default())])
        .args(["-u", &format!("{}%{}", lab.kea_addr(), kea_facing_iface(lab))]);
    Daemon::spawn("dhcrelay", cmd)
}

/// wide-dhcpv6-relay: `dhcp6relay -f -d -r <Kea's link> -s <Kea> -b <router address> <client link>`.
pub fn wide_dhcp6relay(lab: &Lab, link: &ClientLink<'_>) -> Daemon {
    let dir = relay_dir(lab, "dhcp6relay");
    let mut cmd = lab.router_ns().command("dhcp6relay");
    cmd.args(["-f", "-D", "-p"])
        .arg(dir.join("dhcp6relay.pid"))
        .args(["-r", &kea_facing_iface(lab)])
        .args(["-s", &lab.kea_addr().to_string()])
        .args(["-b", &lab.router_addr().to_string()])
        .arg(link.router_iface());
    Daemon::spawn("dhcp6relay", cmd)
}

/// What dibbler-relay is told to add to each Relay-Forward.
pub struct DibblerOptions {
    /// `interface-id N` of the client link.
    pub interface_id: u32,
    /// `option remote-id E-0xHEX` (the same for every client), if any.
    pub remote_id: Option<(u32, Vec<u8>)>,
    /// `option link-layer` (option 79, which dibbler builds from the client's DUID or source address).
    pub link_layer: bool,
}

/// dibbler-relay 1.0.1 (`dibbler-relay run`): it reads /etc/dibbler/relay.conf and keeps its pid and state in
/// /var/lib/dibbler, its log in /var/log/dibbler; the lab binds its own directories over those in the mount
/// namespace `ip netns exec` makes, so the host's stay untouched.
pub fn dibbler_relay(lab: &Lab, link: &ClientLink<'_>, options: &DibblerOptions) -> Daemon {
    let dir = relay_dir(lab, "dibbler");
    let (etc, lib, log) = (dir.join("etc"), dir.join("lib"), dir.join("log"));
    for d in [&etc, &lib, &log] {
        std::fs::create_dir_all(d).expect("lab: dibbler dirs");
    }
    let mut conf = String::from("log-level 8\nlog-mode short\n");
    if let Some((enterprise, data)) = &options.remote_id {
        let hex: String = data.iter().map(|b| format!("{b:02x}")).collect();
        conf.push_str(&format!("option remote-id {enterprise}-0x{hex}\n"));
    }
    if options.link_layer {
        conf.push_str("option link-layer\n");
    }
    conf.push_str(&format!(
        "iface \"{}\" {{\n  client multicast yes\n  interface-id {}\n}}\niface \"{}\" {{\n  server unicast {}\n}}\n",
        link.router_iface(),
        options.interface_id,
        kea_facing_iface(lab),
        lab.kea_addr()
    ));
    std::fs::write(etc.join("relay.conf"), conf).expect("lab: write relay.conf");
    let script = format!(
        "mount --bind '{}' /etc/dibbler && mount --bind '{}' /var/lib/dibbler && mount --bind '{}' /var/log/dibbler \
         && exec dibbler-relay run",
        etc.display(),
        lib.display(),
        log.display()
    );
    let mut cmd = lab.router_ns().command("sh");
    cmd.args(["-c", &script]);
    Daemon::spawn("dibbler-relay", cmd)
}

/// The relay's own directory under the lab's (pid files, dibbler's state).
fn relay_dir(lab: &Lab, name: &str) -> std::path::PathBuf {
    let dir = lab.work_dir().join(format!("relay-{name}"));
    std::fs::create_dir_all(&dir).expect("lab: relay dir");
    dir
}

/// The /64 holding `address` (`fd00:…::/64`), as a VLAN's link-prefix.
pub fn link_prefix_of(address: Ipv6Addr) -> String {
    let s = address.segments();
    format!("{}/64", Ipv6Addr::new(s[0], s[1], s[2], s[3], 0, 0, 0, 0))
}

/// A Relay-Forward as Kea received it, read from Kea's debug log (`DHCP6_QUERY_DATA`, debug level 55).
#[derive(Clone, Debug)]
pub struct SeenRelayForward {
    /// The relay's source, as Kea logs it: `[fd00:…::2]:547`.
    pub source: String,
    /// The client message inside, e.g. "SOLICIT".
    pub message: String,
    /// The outermost relay's link-address.
    pub link_address: String,
    /// The outermost relay's options: code and Kea's rendering of the data (`00:00:02:c5`).
    pub options: Vec<(u16, String)>,
}

impl SeenRelayForward {
    /// The data of option `code`, if the relay sent it.
    pub fn option(&self, code: u16) -> Option<&str> {
        self.options.iter().find(|(c, _)| *c == code).map(|(_, data)| data.as_str())
    }
}

/// Every relayed client message in Kea's log (Kea must log at DEBUG 99: `LabSpec::kea_debug`).
pub fn seen_relay_forwards(lab: &Lab) -> Vec<SeenRelayForward> {
    parse_query_data(&lab.kea_log())
}

fn parse_query_data(log: &str) -> Vec<SeenRelayForward> {
    let mut seen = Vec::new();
    let mut lines = log.lines().peekable();
    while let Some(line) = lines.next() {
        let Some(details) = line.split_once("DHCP6_QUERY_DATA").map(|(_, rest)| rest) else { continue };
        let source = between(details, "remote_address=", ",").unwrap_or_default().to_string();
        let (mut message, mut link_address, mut options, mut in_relay) = (String::new(), None, Vec::new(), false);
        // The block ends at the next log line (it starts with the year) or a blank line.
        while let Some(next) = lines.next_if(|l| !l.is_empty() && !l.starts_with("20")) {
            if let Some(kind) = between(next, "msg_type=", " ") {
                message = kind.to_string();
            } else if next.starts_with("relay[0]:") {
                in_relay = true;
            } else if next.starts_with("relay[") {
                in_relay = false; // an inner relay's layer: not the router's
            } else if let Some(addr) = in_relay.then(|| between(next, "link-address=", ",")).flatten() {
                link_address = Some(addr.to_string());
            } else if let (true, Some(rest)) = (in_relay, next.strip_prefix("type=")) {
                let code = rest.get(..5).and_then(|c| c.parse().ok());
                let data = rest.split_once(": ").map(|(_, d)| d.trim().to_string()).unwrap_or_default();
                options.extend(code.map(|c| (c, data)));
            }
        }
        if let Some(link_address) = link_address {
            seen.push(SeenRelayForward { source, message, link_address, options });
        }
    }
    seen
}

fn between<'a>(text: &'a str, start: &str, end: &str) -> Option<&'a str> {
    let rest = &text[text.find(start)? + start.len()..];
    Some(rest.split(end).next().unwrap_or(rest))
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_relay_forward_is_read_from_kea_s_query_data_block() {
        let log = "2026-12-02 00:43:25.807 DEBUG [kea-dhcp6.packets/1.1] DHCP6_QUERY_DATA duid=[00:01], [no hwaddr info], \
tid=0xd20139, packet details: local_address=[fd00:4b43:3291:100::1]:0, remote_address=[fd00:4b43:3291:100::2]:547,
msg_type=SOLICIT (1), trans_id=0xd20139,
options:
  type=00001, len=00014: 00:01:00:01:32:a2:26:2d:8a:97:5e:80:78:58
1 relay(s):
relay[0]: msg-type=12(RELAY_FORWARD), hop-count=0,
link-address=fd00:4b43:3291:101::1, peer-address=fe80::8897:5eff:fe80:7858, 2 option(s)
type=00018, len=00004: 00:00:02:c5
type=00079, len=00008: 00:01:8a:97:5e:80:78:58

2026-12-02 00:43:25.807 DEBUG [kea-dhcp6.callouts/1.1] HOOKS_CALLOUTS_BEGIN begin all callouts for hook pkt6_receive
";
        let seen = super::parse_query_data(log);
        assert_eq!(seen.len(), 1);
        let forward = &seen[0];
        assert_eq!(forward.source, "[fd00:4b43:3291:100::2]:547");
        assert_eq!(forward.message, "SOLICIT");
        assert_eq!(forward.link_address, "fd00:4b43:3291:101::1");
        assert_eq!(forward.option(18), Some("00:00:02:c5"));
        assert_eq!(forward.option(79), Some("00:01:8a:97:5e:80:78:58"));
        assert_eq!(forward.option(1), None, "the client's own options are not the relay's");
    }
}
