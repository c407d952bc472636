//! A lab of several Kea servers on one router link: an HA pair (hot-standby or load-balancing, Kea's
//! `libdhcp_ha.so` with `libdhcp_lease_cmds.so`), or servers sharing one PostgreSQL lease database (`postgres`).
//! Written for the Kea release of the image (`kea_version`), as the single-server lab is:
//!
//! - 3.0 keeps its SQL lease backends in hook libraries: a server with PostgreSQL leases loads
//!   `libdhcp_pgsql.so` (Kea-3.0.3 `src/hooks/dhcp/pgsql/pgsql_callouts.cc`: its `load()` registers the
//!   "postgresql" lease manager factory). 2.6.3 has the backend built in and ships no such library.
//! - The HA entry is the same on both: the keys the lab uses kept their meaning in 3.0 (Kea-3.0.3
//!   `ha_config_parser.cc`; its one changed default, `restrict-commands` now true, limits the dedicated listener
//!   to the commands HA peers send each other, which is all the lab sends there).
//!
//! ```text
//!   router netns kc-<id>-r                              containers (each in the network of its keeper)
//!   ┌───────────────────────────────────────────┐       ┌────────────────────────────────────────────┐
//!   │ bridge kcb<id>  fd00:4b43:P:N00::2        │─veth──│ kc-<id>    kk0 ::1  kea-dhcp6 "server1"    │
//!   │ cloudstack-standin https :8080            │─veth──│ kc-<id>-2  kk0 ::3  kea-dhcp6 "server2"    │
//!   │ the test's relay socket :547 (to both)    │─veth──│ kc-<id>-pg eth0 ::5 postgres (optional)    │
//!   └───────────────────────────────────────────┘       └────────────────────────────────────────────┘
//! ```
//!
//! Every server has its own config, lease directory and control socket (`work/server<k>/{etc,lib,run}`), loads the
//! hook, and syncs from the one stand-in. The HA peers talk HTTP to each other across the bridge on their ULA
//! addresses (HA's multi-threaded dedicated listener, port 8001). The scripted router relays every client message
//! to all servers and keeps the first answer, as a relay in front of an HA pair does.
use std::net::{Ipv6Addr, SocketAddr, SocketAddrV6, UdpSocket};
use std::os::unix::fs::PermissionsExt;
use std::path::PathBuf;
use std::sync::atomic::Ordering;
use std::sync::OnceLock;
use std::time::{Duration, Instant, SystemTime};

use serde_json::{json, Value};

use super::dhcp6::{Answer, MacCarrier, Router};
use super::host::{self, wait_until, NetNs};
use super::kea_box::{KeaBox, KeaDirs};
use super::leases::{self, LeaseRow};
use super::postgres::Postgres;
use super::standin::{Standin, API_KEY};
use super::{control, kea_config, tls, KeaVersion, LabSpec, WorkDir, LAB_SEQ};

/// Kea's HA and lease-commands hooks, as Debian's kea-common installs them.
pub const HA_LIBRARY: &str = "/usr/lib/x86_64-linux-gnu/kea/hooks/libdhcp_ha.so";
pub const LEASE_CMDS_LIBRARY: &str = "/usr/lib/x86_64-linux-gnu/kea/hooks/libdhcp_lease_cmds.so";
/// Kea 3.0's PostgreSQL lease (and host) backend, a hook library since Kea 2.7.4 (not in 2.6.3).
pub const PGSQL_LIBRARY: &str = "/usr/lib/x86_64-linux-gnu/kea/hooks/libdhcp_pgsql.so";
/// Port of HA's dedicated HTTP listener on each server's address.
pub const HA_PORT: u16 = 8001;
/// HA timers of the lab, milliseconds: a heartbeat a second, the partner is down after 3 s without an answer,
/// and with `max-unacked-clients` 0 the survivor takes over at once then (no client counting).
pub const HEARTBEAT_DELAY_MS: u64 = 1000;
pub const MAX_RESPONSE_DELAY_MS: u64 = 3000;
pub const MAX_ACK_DELAY_MS: u64 = 1000;

/// How a cluster's servers share the work.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HaMode {
    /// server1 is primary and serves everyone; server2 is its standby.
    HotStandby,
    /// server1 primary, server2 secondary; each serves the clients whose DUID hashes to it.
    LoadBalancing,
}

impl HaMode {
    /// Kea's name of the mode, which is also the state both servers are in when all is well.
    pub fn kea_name(self) -> &'static str {
        match self {
            HaMode::HotStandby => "hot-standby",
            HaMode::LoadBalancing => "load-balancing",
        }
    }

    fn role(self, k: usize) -> &'static str {
        match (self, k) {
            (_, 0) => "primary",
            (HaMode::HotStandby, _) => "standby",
            (HaMode::LoadBalancing, _) => "secondary",
        }
    }
}

/// What a cluster is made of.
#[derive(Debug, Clone)]
pub struct ClusterSpec {
    /// Everything a single-server lab has (VLANs, cloud, hook parameters, lifetimes, ...), for every server.
    pub lab: LabSpec,
    /// How many Kea servers (1 or 2).
    pub servers: usize,
    /// An HA relationship between the two servers, or none.
    pub ha: Option<HaMode>,
    /// The servers keep their leases in one PostgreSQL database instead of each its memfile.
    pub postgres: bool,
}

impl ClusterSpec {
    /// Two servers in an HA relationship, each with its memfile.
    pub fn ha_pair(mode: HaMode, lab: LabSpec) -> ClusterSpec {
        ClusterSpec { lab, servers: 2, ha: Some(mode), postgres: false }
    }

    /// `servers` servers without HA, sharing one PostgreSQL lease database.
    pub fn sharing_postgres(servers: usize, lab: LabSpec) -> ClusterSpec {
        ClusterSpec { lab, servers, ha: None, postgres: true }
    }
}

/// One Kea server of a cluster: its container, directories and address.
pub struct KeaServer {
    kea: KeaBox,
    name: String,
    addr: Ipv6Addr,
    dir: PathBuf,
    running: bool,
}

impl KeaServer {
    /// Its HA name ("server1", "server2").
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Its address on the router link (where the router relays to and HA peers connect).
    pub fn addr(&self) -> Ipv6Addr {
        self.addr
    }

    /// Sends a command over its control socket; panics if it does not answer.
    pub fn control(&self, command: Value) -> Value {
        self.try_control(&command)
            .unwrap_or_else(|e| panic!("{}: control command {command} failed: {e}\nits log:\n{}", self.name, self.log()))
    }

    fn try_control(&self, command: &Value) -> Result<Value, String> {
        control::send_command(&self.dir.join("run").join("kea6.sock"), command)
    }

    /// Everything its Kea containers printed so far (across restarts).
    pub fn log(&self) -> String {
        self.kea.log()
    }

    /// Whether its kea-dhcp6 runs.
    pub fn is_running(&self) -> bool {
        self.running && self.kea.kea_running()
    }

    /// Its HA state (`ha-heartbeat`: "hot-standby", "partner-down", "waiting", ...).
    pub fn ha_state(&self) -> String {
        match self.try_control(&json!({"command": "ha-heartbeat"})) {
            Ok(answer) => answer["arguments"]["state"].as_str().unwrap_or_default().to_string(),
            Err(_) => String::new(),
        }
    }

    /// The lease Kea holds for `prefix` ("2a00:f10:500:1170::/60"), asked with `lease6-get` (lease_cmds).
    pub fn lease6_get(&self, prefix: &str) -> Option<Value> {
        let address = prefix.split('/').next().unwrap_or(prefix);
        let answer = self.control(json!({"command": "lease6-get", "arguments": {"ip-address": address, "type": "IA_PD"}}));
        match answer["result"].as_i64() {
            Some(0) => Some(answer["arguments"].clone()),
            Some(3) => None,
            _ => panic!("{}: lease6-get {prefix}: {answer}", self.name),
        }
    }

    /// The leases in its memfile now (read from its lease file, so also while it is stopped).
    pub fn leases(&self) -> Vec<LeaseRow> {
        leases::current_leases(self.lease_journal())
    }

    /// Every row of its memfile journal, in file order.
    pub fn lease_journal(&self) -> Vec<LeaseRow> {
        leases::read_journal(&self.dir.join("lib").join("kea-leases6.csv"))
    }

    /// The Server-Id (DUID) it answers with, as the bytes of an `Answer::server_id`.
    pub fn server_id(&self) -> Vec<u8> {
        let path = self.dir.join("lib").join("kea-dhcp6-serverid");
        let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {}: {e}", self.name, path.display()));
        text.trim().split(':').map(|b| u8::from_str_radix(b, 16).expect("a hex DUID")).collect()
    }

    /// Host path of its kea-dhcp6.conf.
    pub fn config_path(&self) -> PathBuf {
        self.dir.join("etc").join("kea-dhcp6.conf")
    }

    /// Its container's name.
    pub fn container(&self) -> &str {
        self.kea.name()
    }

    fn start(&mut self) {
        self.kea.start_kea();
        self.running = true;
        self.wait_until_serving();
    }

    fn wait_until_serving(&self) {
        let deadline = Duration::from_secs(90);
        let mut alive = true;
        let started = wait_until(deadline, || {
            alive = self.kea.kea_running();
            !alive || self.kea.current_log().contains("DHCP6_STARTED")
        });
        if !started || !alive {
            panic!("{}: Kea {} (config {}).\nits log:\n{}", self.name,
                if alive { "did not log DHCP6_STARTED in time" } else { "exited" },
                self.config_path().display(), self.log());
        }
        let mut last = String::new();
        let answers = wait_until(Duration::from_secs(10), || match self.try_control(&json!({"command": "version-get"})) {
            Ok(answer) => answer["result"] == 0,
            Err(e) => {
                last = e;
                false
            }
        });
        assert!(answers, "{}: the control socket does not answer ({last}).\nits log:\n{}", self.name, self.log());
    }
}

/// A running cluster. Dropping it removes every container, namespace and directory.
pub struct Cluster {
    // Field order is teardown order: the Kea servers, PostgreSQL, the stand-in, the namespace, the files.
    servers: Vec<KeaServer>,
    postgres: Option<Postgres>,
    standin: Standin,
    router_ns: NetNs,
    work: WorkDir,
    id: String,
    pid16: u16,
    seq: u8,
    mode: Option<HaMode>,
    kea_version: KeaVersion,
    relay_socket: OnceLock<UdpSocket>,
}

impl Cluster {
    /// Builds the cluster, starts every server and waits until each serves (and, in an HA pair, until both are
    /// in the mode's normal state); panics with the servers' logs if anything fails.
    pub fn start(spec: ClusterSpec) -> Cluster {
        assert!((1..=2).contains(&spec.servers), "a cluster has one or two servers");
        assert!(spec.ha.is_none() || spec.servers == 2, "an HA relationship needs two servers");
        let image = std::env::var("KC_IMAGE").unwrap_or_else(|_| "kea-cloudstack:latest".to_string());
        super::preflight(&image);
        super::sweep::sweep_dead_labs();

        let pid16 = std::process::id() as u16;
        let seq = LAB_SEQ.fetch_add(1, Ordering::Relaxed);
        let id = format!("{pid16:04x}{seq:02x}");
        let work = WorkDir::create(&std::env::temp_dir().join(format!("kc-lab-{id}")));
        let router_addr = super::subnet_addr(pid16, seq, 0, 2);
        let router_ns = NetNs::create(&format!("kc-{id}-r"));
        let bridge = format!("kcb{id}");
        make_bridge(&router_ns, &bridge, router_addr);

        let dirs: Vec<KeaDirs> = (0..spec.servers).map(|k| server_dirs(&work, k)).collect();
        let secret = host::random_hex(20);
        let cert = tls::make(spec.lab.standin_tls, &dirs[0].etc, work.path(), router_addr);
        for d in &dirs[1..] {
            let ca = tls::file_name(tls::CA_FILE);
            if dirs[0].etc.join(ca).exists() {
                std::fs::copy(dirs[0].etc.join(ca), d.etc.join(ca)).expect("lab: copy the CA file");
            }
        }
        let standin = Standin::start(&router_ns, router_addr, &secret, &spec.lab.cloud, &spec.lab.standin_args,
            work.path(), cert.as_ref());
        if let Some(fault) = &spec.lab.standin_fault {
            standin.set_fault(fault.clone());
        }

        let postgres = spec.postgres.then(|| {
            let addr = super::subnet_addr(pid16, seq, 0, 5);
            let pg = Postgres::start(&format!("kc-{id}-pg"), &router_ns, &bridge, &format!("kcp{id}"), addr);
            pg.create_kea_schema(&image);
            pg
        });

        let mut servers = Vec::new();
        for (k, d) in dirs.into_iter().enumerate() {
            let addr = server_addr(pid16, seq, k);
            let name = format!("server{}", k + 1);
            let peers: Vec<(String, Ipv6Addr)> =
                (0..spec.servers).map(|p| (format!("server{}", p + 1), server_addr(pid16, seq, p))).collect();
            let config = server_config(&spec, k, addr, &standin, &peers, postgres.as_ref());
            write_server_files(&d, &config, &standin);
            let kea_end = format!("kck{id}{k}");
            link_to_bridge(&router_ns, &bridge, &kea_end, &format!("kcr{id}{k}"));
            let container = if k == 0 { format!("kc-{id}") } else { format!("kc-{id}-{}", k + 1) };
            let mut kea = KeaBox::create(&image, &container, d.clone());
            kea.env = spec.lab.kea_env.clone();
            super::link_kea_side(&kea, &kea_end, addr);
            servers.push(KeaServer { kea, name, addr, dir: d.etc.parent().unwrap().to_path_buf(), running: false });
        }
        let kea_version = super::kea_version::of_image(&image);
        let mut cluster = Cluster {
            servers, postgres, standin, router_ns, work, id, pid16, seq, mode: spec.ha, kea_version,
            relay_socket: OnceLock::new(),
        };
        for server in &cluster.servers {
            server.kea.start_kea();
        }
        for server in &mut cluster.servers {
            server.running = true;
            server.wait_until_serving();
        }
        if spec.ha.is_some() {
            cluster.wait_for_normal_state();
        }
        cluster
    }

    /// Server `k` (0: server1, the primary).
    pub fn server(&self, k: usize) -> &KeaServer {
        &self.servers[k]
    }

    /// The servers, in order.
    pub fn servers(&self) -> &[KeaServer] {
        &self.servers
    }

    /// The shared PostgreSQL lease database, if the cluster has one.
    pub fn postgres(&self) -> &Postgres {
        self.postgres.as_ref().expect("this cluster keeps its leases in memfiles")
    }

    /// The Kea release every server of the cluster runs (the image's).
    pub fn kea_version(&self) -> KeaVersion {
        self.kea_version
    }

    /// The CloudStack stand-in's control client.
    pub fn standin(&self) -> &Standin {
        &self.standin
    }

    /// The cluster's short unique id.
    pub fn id(&self) -> &str {
        &self.id
    }

    /// The router's address on the link.
    pub fn router_addr(&self) -> Ipv6Addr {
        super::subnet_addr(self.pid16, self.seq, 0, 2)
    }

    /// The UDP socket `[router]:547` inside the router namespace (one per cluster; each call hands out a clone).
    pub fn router_socket(&self) -> UdpSocket {
        let socket = self.relay_socket.get_or_init(|| {
            let addr = SocketAddr::V6(SocketAddrV6::new(self.router_addr(), 547, 0, 0));
            let socket = self
                .router_ns
                .enter(move || UdpSocket::bind(addr))
                .unwrap_or_else(|e| panic!("lab: bind {addr} in the router namespace: {e}"));
            socket.set_read_timeout(Some(Duration::from_secs(5))).expect("lab: set_read_timeout");
            socket
        });
        socket.try_clone().expect("lab: clone the relay socket")
    }

    /// The provider router for VLAN `interface_id`, relaying every message to every server (stopped ones too: they
    /// just do not answer).
    pub fn router(&self, interface_id: &str, carrier: MacCarrier) -> Router {
        let link: Ipv6Addr = "2a00:f10:500::1".parse().unwrap();
        let to = |s: &KeaServer| SocketAddrV6::new(s.addr, 547, 0, 0);
        let mut router = Router::new(self.router_socket(), to(&self.servers[0]), link, interface_id.as_bytes(), carrier);
        for server in &self.servers[1..] {
            router = router.also_to(to(server));
        }
        router
    }

    /// A router of its own for concurrent clients: relays from `[<link>::<host>]:547` (the address added to the
    /// router's bridge on first use; host 2 is `router_socket`'s) to the servers `to` only.
    pub fn router_from(&self, host: u16, to: &[usize], interface_id: &str, carrier: MacCarrier) -> Router {
        let address = super::subnet_addr(self.pid16, self.seq, 0, host);
        let bridge = format!("kcb{}", self.id);
        let _ = self.router_ns.command("ip").args(["addr", "add", &format!("{address}/64"), "dev", &bridge, "nodad"]).output();
        let addr = SocketAddr::V6(SocketAddrV6::new(address, 547, 0, 0));
        let socket = self
            .router_ns
            .enter(move || UdpSocket::bind(addr))
            .unwrap_or_else(|e| panic!("lab: bind {addr} in the router namespace: {e}"));
        let link: Ipv6Addr = "2a00:f10:500::1".parse().unwrap();
        let server = |k: usize| SocketAddrV6::new(self.servers[k].addr, 547, 0, 0);
        let mut router = Router::new(socket, server(to[0]), link, interface_id.as_bytes(), carrier);
        for k in &to[1..] {
            router = router.also_to(server(*k));
        }
        router
    }

    /// Asks server `k` for a CloudStack sync and waits (bounded) until it finished one.
    pub fn resync(&self, k: usize) {
        let server = &self.servers[k];
        let sync_ok = || server.control(json!({"command": "cloudstack-status"}))["arguments"]["counters"]["cloudstack.sync-ok"].as_i64();
        let before = sync_ok();
        server.control(json!({"command": "cloudstack-resync"}));
        let synced = wait_until(Duration::from_secs(15), || sync_ok() > before);
        assert!(synced, "{} ran no sync within 15 s of cloudstack-resync:\n{}", server.name, server.log());
    }

    /// Which server sent `answer` (by its Server-Id); panics if none did.
    pub fn answered_by(&self, answer: &Answer) -> usize {
        let id = answer.server_id.as_deref().unwrap_or_else(|| panic!("the answer has no Server-Id: {answer:?}"));
        self.servers
            .iter()
            .position(|s| s.server_id() == id)
            .unwrap_or_else(|| panic!("no server of the cluster has Server-Id {id:02x?}"))
    }

    /// Sends server `k`'s kea-dhcp6 SIGTERM (what `systemctl stop` does) and returns at once; `stop` then waits for
    /// it and removes its container.
    pub fn signal_stop(&mut self, k: usize) {
        let server = &mut self.servers[k];
        server.running = false;
        host::run_quietly("docker", &["kill", "-s", "TERM", server.kea.name()]);
    }

    /// When server `k` first logged a line containing `needle` at or after `since` (its log's clock, UTC to the
    /// millisecond).
    pub fn logged_after(&self, k: usize, needle: &str, since: SystemTime) -> Option<SystemTime> {
        let log = self.servers[k].log();
        log.lines()
            .filter(|l| l.contains(needle))
            .filter_map(super::log_line_time)
            .find(|t| *t >= since.checked_sub(Duration::from_millis(1)).unwrap_or(since))
    }

    /// Stops server `k` gracefully (SIGTERM, what `systemctl stop` does) and waits until it exited.
    pub fn stop(&mut self, k: usize) {
        let server = &mut self.servers[k];
        server.running = false;
        server.kea.stop_kea();
    }

    /// Starts server `k` again on its config, lease directory and address; waits until it serves and, in an HA pair,
    /// until both servers are back in the normal state (the returning server synced its leases from the partner).
    pub fn restart(&mut self, k: usize) {
        self.servers[k].start();
        if self.mode.is_some() {
            self.wait_for_normal_state();
        }
    }

    /// Waits (bounded) until server `k` is in HA state `state`; panics with both logs if it is not.
    pub fn wait_for_state(&self, k: usize, state: &str, timeout: Duration) {
        let mut seen = String::new();
        let reached = wait_until(timeout, || {
            seen = self.servers[k].ha_state();
            seen == state
        });
        if !reached {
            panic!("{} did not reach HA state {state:?} within {timeout:?} (it is {seen:?}).\n{}",
                self.servers[k].name, self.logs());
        }
    }

    /// Every server's log, headed by its name.
    pub fn logs(&self) -> String {
        self.servers.iter().map(|s| format!("==== {} ====\n{}", s.name, s.log())).collect::<Vec<_>>().join("\n")
    }

    fn wait_for_normal_state(&self) {
        let state = self.mode.expect("an HA pair").kea_name();
        let started = Instant::now();
        for k in 0..self.servers.len() {
            let left = Duration::from_secs(60).saturating_sub(started.elapsed());
            self.wait_for_state(k, state, left);
        }
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        if std::thread::panicking() {
            eprintln!("==== cluster {} ====\n{}", self.id, self.logs());
            eprintln!("==== cluster {}: stand-in output ====\n{}", self.id, self.standin.output());
        }
    }
}

/// Server k's address on the link: host 1 or 3 (the router is host 2, PostgreSQL host 5).
fn server_addr(pid16: u16, seq: u8, k: usize) -> Ipv6Addr {
    super::subnet_addr(pid16, seq, 0, 1 + 2 * k as u16)
}

fn server_dirs(work: &WorkDir, k: usize) -> KeaDirs {
    let root = work.join(&format!("server{}", k + 1));
    let dirs = KeaDirs { etc: root.join("etc"), lib: root.join("lib"), run: root.join("run") };
    for dir in [&dirs.etc, &dirs.lib, &dirs.run] {
        std::fs::create_dir_all(dir).expect("lab: create a server's dirs");
    }
    // Kea 2.6.3 refuses a control socket in a directory with any other mode.
    std::fs::set_permissions(&dirs.run, std::fs::Permissions::from_mode(0o750)).expect("lab: chmod run dir");
    dirs
}

/// The bridge that is the router's Kea-facing link, with the router's address on it.
fn make_bridge(router_ns: &NetNs, bridge: &str, router_addr: Ipv6Addr) {
    router_ns.ip(&["link", "add", bridge, "type", "bridge", "forward_delay", "0", "stp_state", "0"]);
    router_ns.exec("sysctl", &["-qw", &format!("net.ipv6.conf.{bridge}.accept_dad=0")]);
    router_ns.ip(&["addr", "add", &format!("{router_addr}/64"), "dev", bridge, "nodad"]);
    router_ns.ip(&["link", "set", bridge, "up"]);
}

/// A veth pair: `router_end` in the router namespace on the bridge, `outer_end` left in the host namespace for a
/// container to take.
pub(super) fn link_to_bridge(router_ns: &NetNs, bridge: &str, outer_end: &str, router_end: &str) {
    host::run_quietly("ip", &["link", "del", outer_end]);
    host::run("ip", &["link", "add", outer_end, "type", "veth", "peer", "name", router_end, "netns", router_ns.name()]);
    router_ns.ip(&["link", "set", router_end, "master", bridge]);
    router_ns.ip(&["link", "set", router_end, "up"]);
}

/// Server k's kea-dhcp6.conf: the single-server lab's, with multi-threading on (HA's listener needs it), the HA
/// and lease-commands hooks after the CloudStack hook, and the shared PostgreSQL lease database (on 3.0 with
/// `libdhcp_pgsql.so` first in the hooks, where Kea's documentation lists it: it has no packet callouts, and Kea
/// opens the lease database only once every library is loaded, `ControlledDhcpv6Srv::processConfig` in Kea-3.0.3
/// `ctrl_dhcp6_srv.cc`, so its place before or after the CloudStack hook changes nothing).
fn server_config(
    spec: &ClusterSpec,
    k: usize,
    addr: Ipv6Addr,
    standin: &Standin,
    peers: &[(String, Ipv6Addr)],
    postgres: Option<&Postgres>,
) -> Value {
    let ca_file = standin.is_https().then_some(tls::CA_FILE);
    let mut lab = spec.lab.clone();
    if spec.ha.is_some() && lab.kea_threads.is_none() {
        lab.kea_threads = Some(2);
    }
    let image = std::env::var("KC_IMAGE").unwrap_or_else(|_| "kea-cloudstack:latest".to_string());
    let version = super::kea_version::of_image(&image);
    let mut config = kea_config::kea_config(&lab, version, addr, &standin.api_url(), ca_file, API_KEY);
    let dhcp6 = &mut config["Dhcp6"];
    if let Some(pg) = postgres {
        dhcp6["lease-database"] = pg.lease_database();
        if version.is_3_0_or_later() {
            if dhcp6.get("hooks-libraries").is_none() {
                dhcp6["hooks-libraries"] = json!([]);
            }
            let hooks = dhcp6["hooks-libraries"].as_array_mut().expect("hooks-libraries is a list");
            hooks.insert(0, json!({ "library": PGSQL_LIBRARY }));
        }
    }
    if let Some(mode) = spec.ha {
        let hooks = dhcp6["hooks-libraries"].as_array_mut().expect("the lab loads the CloudStack hook");
        hooks.push(json!({ "library": LEASE_CMDS_LIBRARY }));
        hooks.push(ha_hook(mode, k, peers));
    }
    config
}

/// `libdhcp_ha.so` with this server's name, the peers and the lab's short timers.
fn ha_hook(mode: HaMode, k: usize, peers: &[(String, Ipv6Addr)]) -> Value {
    let peers: Vec<Value> = peers
        .iter()
        .enumerate()
        .map(|(p, (name, addr))| {
            json!({ "name": name, "url": format!("http://[{addr}]:{HA_PORT}/"), "role": mode.role(p), "auto-failover": true })
        })
        .collect();
    json!({
        "library": HA_LIBRARY,
        "parameters": { "high-availability": [{
            "this-server-name": format!("server{}", k + 1),
            "mode": mode.kea_name(),
            "heartbeat-delay": HEARTBEAT_DELAY_MS,
            "max-response-delay": MAX_RESPONSE_DELAY_MS,
            "max-ack-delay": MAX_ACK_DELAY_MS,
            "max-unacked-clients": 0,
            "sync-timeout": 20000,
            "multi-threading": {
                "enable-multi-threading": true,
                "http-dedicated-listener": true,
                "http-listener-threads": 2,
                "http-client-threads": 2
            },
            "peers": peers
        }]}
    })
}

fn write_server_files(dirs: &KeaDirs, config: &Value, standin: &Standin) {
    std::fs::write(dirs.etc.join("kea-dhcp6.conf"), serde_json::to_string_pretty(config).unwrap())
        .expect("lab: write Kea config");
    let secret_path = dirs.etc.join("cloudstack.secret");
    std::fs::write(&secret_path, standin.secret_key()).expect("lab: write secret");
    std::fs::set_permissions(&secret_path, std::fs::Permissions::from_mode(0o600)).expect("lab: chmod secret");
}

/// What Kea made of one documented configuration file.
pub struct ConfigCheck {
    /// The file checked.
    pub file: PathBuf,
    /// `kea-dhcp6 -t` accepted it (the core configuration; hook parameters are not looked at by `-t`).
    pub accepted: bool,
    /// What `-t` printed.
    pub check_output: String,
    /// For files started for real (`start`): kea-dhcp6's log of that start, in which each hook parsed its parameters.
    pub start_log: Option<String>,
}

/// How long one documented role may take to start (a generous bound: a loaded machine starts it in seconds).
const START_BOUND_S: u32 = 90;

/// Runs `kea-dhcp6 -t` on each configuration file in a container of the Kea image whose network namespace has the
/// interface the documented configurations listen on: `eth0` with `addresses`, one end of a veth pair whose other
/// end is in the same namespace (nothing leaves it). Files for which `start` says so are then started for real
/// (`-t` never loads hooks), the CloudStack hook pointed at a closed loopback port with a 1 s warm-up, until Kea
/// logs DHCP6_STARTED or exits (at most `START_BOUND_S` seconds).
pub fn kea_check_configs(files: &[PathBuf], addresses: &[&str], start: impl Fn(&str) -> bool) -> Vec<ConfigCheck> {
    let image = std::env::var("KC_IMAGE").unwrap_or_else(|_| "kea-cloudstack:latest".to_string());
    super::preflight(&image);
    let seq = LAB_SEQ.fetch_add(1, Ordering::Relaxed);
    let id = format!("{:04x}{seq:02x}", std::process::id() as u16);
    let dir = std::env::temp_dir().join(format!("kc-lab-{id}"));
    let work = WorkDir::create(&dir);
    let dirs = server_dirs(&work, 0);
    let keeper = KeaBox::create(&image, &format!("kc-{id}"), dirs);
    keeper.ip(&["link", "add", "eth0", "type", "veth", "peer", "name", "eth0peer"]);
    keeper.ip(&["link", "set", "eth0peer", "up"]);
    for address in addresses {
        keeper.ip(&["addr", "add", &format!("{address}/64"), "dev", "eth0", "nodad"]);
    }
    keeper.ip(&["link", "set", "eth0", "up"]);
    let container = format!("kc-{id}-net");
    let exec = |script: &str| {
        let out = host::output("docker", &["exec", &container, "sh", "-c", script]);
        (out.status.success(), format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr)))
    };
    // Kea 2.6.3 wants its socket directory 0750; the hook wants its secret file.
    exec("chmod 750 /run/kea && printf secret > /etc/kea/cloudstack.secret && chmod 600 /etc/kea/cloudstack.secret");
    files
        .iter()
        .map(|file| {
            let name = file.file_name().unwrap().to_string_lossy().into_owned();
            let inside = format!("/etc/kea/{name}");
            host::run("docker", &["cp", &file.display().to_string(), &format!("{container}:{inside}")]);
            let (accepted, check_output) = exec(&format!("kea-dhcp6 -t {inside}"));
            let start_log = start(&name).then(|| {
                let text = std::fs::read_to_string(file).unwrap();
                let api = "\"api-url\": \"https://cloud.example.net/client/api\",";
                assert!(text.contains(api), "lab: {name} has no {api}");
                let local = text.replace(api, "\"api-url\": \"https://[::1]:9/client/api\", \"warmup-timeout\": 1,");
                let started = work.join(&format!("started-{name}"));
                std::fs::write(&started, local).unwrap();
                let copy = format!("/etc/kea/started-{name}");
                host::run("docker", &["cp", &started.display().to_string(), &format!("{container}:{copy}")]);
                // A log of its own per start: the loop must never find the previous start's DHCP6_STARTED while
                // this Kea has not opened (truncated) its log yet, as a shared log let it under load. The bound is
                // wall-clock time, not a count of polls.
                let log = format!("/tmp/kea-{name}.log");
                let script = format!(
                    "rm -f {log}; kea-dhcp6 -c {copy} > {log} 2>&1 & pid=$!; end=$(( $(date +%s) + {START_BOUND_S} )); \
                     while kill -0 $pid 2>/dev/null && ! grep -qs DHCP6_STARTED {log} && [ $(date +%s) -lt $end ]; do \
                     sleep 0.1; done; kill $pid 2>/dev/null; wait $pid; rm -f /run/kea/*.pid; cat {log}"
                );
                exec(&script).1
            });
            ConfigCheck { file: file.clone(), accepted, check_output, start_log }
        })
        .collect()
}
