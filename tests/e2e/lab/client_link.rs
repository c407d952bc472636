//! A customer's side of the provider router: a third namespace where ISC dhclient asks for a prefix, linked to the
//! router namespace where `dhcp6-router` relays for it.
use std::net::Ipv6Addr;
use std::os::unix::fs::PermissionsExt;
use std::path::PathBuf;
use std::time::Duration;

use super::child::Daemon;
use super::host::{wait_until, NetNs};
use super::Lab;

/// The client namespace and its link to the router namespace; removed on drop.
pub struct ClientLink<'lab> {
    lab: &'lab Lab,
    ns: NetNs,
    client_iface: String,
    router_iface: String,
    router_link_addr: Ipv6Addr,
    dir: PathBuf,
}

impl<'lab> ClientLink<'lab> {
    /// Creates namespace `kc-<id>-c<k>` with a veth to the router namespace: the client side has only its
    /// link-local address, the router side `<lab /56>:<k+1>::1/64` (the relay's link-address).
    pub(super) fn create(lab: &'lab Lab, k: u8) -> ClientLink<'lab> {
        let id = lab.id();
        let ns = NetNs::create(&format!("kc-{id}-c{k}"));
        let client_iface = format!("kcc{id}{k}");
        let router_iface = format!("kcd{id}{k}");
        let router_link_addr = lab.subnet_addr(k as u16 + 1, 1);
        ns.ip(&[
            "link",
            "add",
            &client_iface,
            "type",
            "veth",
            "peer",
            "name",
            &router_iface,
            "netns",
            lab.router_netns(),
        ]);
        ns.exec("sysctl", &["-qw", &format!("net.ipv6.conf.{client_iface}.accept_dad=0")]);
        ns.ip(&["link", "set", &client_iface, "up"]);
        lab.router_ns().exec("sysctl", &["-qw", &format!("net.ipv6.conf.{router_iface}.accept_dad=0")]);
        lab.router_ns().ip(&["addr", "add", &format!("{router_link_addr}/64"), "dev", &router_iface, "nodad"]);
        lab.router_ns().ip(&["link", "set", &router_iface, "up"]);
        let dir = lab.work_dir().join(format!("client{k}"));
        std::fs::create_dir_all(&dir).expect("lab: create client dir");
        ClientLink { lab, ns, client_iface, router_iface, router_link_addr, dir }
    }

    /// Starts `dhcp6-router` in the router namespace, relaying this link's client to Kea with `interface_id`.
    ///
    /// `carrier` is one of `remote-id-raw`, `remote-id-text`, `client-link-layer`, `both`. The relay stops when
    /// the returned handle drops.
    pub fn run_router(&self, interface_id: &str, carrier: &str) -> Daemon {
        self.run_router_with(interface_id, carrier, &[])
    }

    /// `run_router` with more arguments passed on as is, e.g. `["--enterprise", "4874"]`.
    pub fn run_router_with(&self, interface_id: &str, carrier: &str, extra: &[&str]) -> Daemon {
        let mut cmd = self.lab.router_ns().command(env!("CARGO_BIN_EXE_dhcp6-router"));
        cmd.args(["--client-iface", &self.router_iface])
            .args(["--server", &self.lab.kea_addr().to_string()])
            .args(["--source", &self.lab.router_addr().to_string()])
            .args(["--link-address", &self.router_link_addr.to_string()])
            .args(["--interface-id", interface_id, "--carrier", carrier])
            .args(extra);
        Daemon::spawn("dhcp6-router", cmd)
    }

    /// Starts `dhclient -6 -P -d` on the client side; it stops when the returned handle drops.
    pub fn dhclient(&self) -> Dhclient {
        let script = self.dir.join("dhclient-script");
        let events = self.dir.join("events.log");
        // Our own script: the host's dhclient-script would touch the host's resolv.conf.
        std::fs::write(
            &script,
            format!(
                "#!/bin/sh\n{{ env | grep -E '^(reason|interface|new_|old_|cur_)' | sort; echo ----; }} >> '{}'\n",
                events.display()
            ),
        )
        .expect("lab: write dhclient script");
        std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).expect("lab: chmod script");
        let config = self.dir.join("dhclient.conf");
        std::fs::write(&config, "").expect("lab: write dhclient.conf");
        let lease_file = self.dir.join("dhclient6.leases");
        let mut cmd = self.ns.command("dhclient");
        cmd.args(["-6", "-P", "-d", "-v", "-sf"])
            .arg(&script)
            .arg("-cf")
            .arg(&config)
            .arg("-lf")
            .arg(&lease_file)
            .arg("-pf")
            .arg(self.dir.join("dhclient6.pid"))
            .arg(&self.client_iface);
        Dhclient { daemon: Daemon::spawn("dhclient", cmd), lease_file, events }
    }

    /// The client-side interface (in the client namespace).
    pub fn client_iface(&self) -> &str {
        &self.client_iface
    }

    /// The router-side interface (in the router namespace), where the relay listens.
    pub fn router_iface(&self) -> &str {
        &self.router_iface
    }

    /// The router's address on this link: the relay's link-address.
    pub fn link_address(&self) -> Ipv6Addr {
        self.router_link_addr
    }

    /// The client namespace.
    pub fn netns(&self) -> &NetNs {
        &self.ns
    }

    /// The client's directory (dhclient's config, lease file and script record).
    pub fn dir(&self) -> &std::path::Path {
        &self.dir
    }
}

/// A running dhclient: its output, lease file and the events its script saw.
pub struct Dhclient {
    daemon: Daemon,
    lease_file: PathBuf,
    events: PathBuf,
}

impl Dhclient {
    /// Everything dhclient printed (it runs with -d -v).
    pub fn output(&self) -> String {
        self.daemon.output()
    }

    /// dhclient's lease file as text (empty until it has bound).
    pub fn lease_file(&self) -> String {
        std::fs::read_to_string(&self.lease_file).unwrap_or_default()
    }

    /// The script's record: one block of `name=value` lines per event (reason, new_ip6_prefix, …).
    pub fn events(&self) -> String {
        std::fs::read_to_string(&self.events).unwrap_or_default()
    }

    /// The last `new_ip6_prefix` the client bound to, e.g. "2a00:f10:500:10::/60".
    pub fn prefix(&self) -> Option<String> {
        self.events()
            .lines()
            .rev()
            .find_map(|line| line.strip_prefix("new_ip6_prefix="))
            .map(|p| p.trim_matches('\'').to_string())
    }

    /// Waits until the client has bound a prefix; panics with dhclient's output if it has not.
    pub fn wait_for_prefix(&self, timeout: Duration) -> String {
        if wait_until(timeout, || self.prefix().is_some()) {
            return self.prefix().unwrap();
        }
        panic!(
            "lab: dhclient bound no prefix within {timeout:?}; its output:\n{}\nevents:\n{}",
            self.output(),
            self.events()
        );
    }

    /// Stops dhclient (SIGTERM; it does not release).
    pub fn stop(&mut self) {
        self.daemon.stop();
    }
}
