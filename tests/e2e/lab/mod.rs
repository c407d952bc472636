//! The lab: one isolated world per test — a provider router namespace with the CloudStack stand-in, and the
//! project's Kea image in Docker linked to it — torn down on drop.
//!
//! ```text
//!   router netns kc-<id>-r                   veth   container kc-<id> (network of keeper kc-<id>-net)
//!   ┌──────────────────────────────────┐            ┌───────────────────────────────────┐
//!   │ kcr<id>  fd00:4b43:P:N00::2      │────────────│ kk0  fd00:4b43:P:N00::1           │
//!   │ cloudstack-standin https :8080   │            │ kea-dhcp6 (+ hook) :547           │
//!   │ the test's relay socket :547     │            │ /etc/kea /var/lib/kea /run/kea    │ ← host dirs
//!   │ kcd<id><k> ─┐  dhcp6-router      │            └───────────────────────────────────┘
//!   └─────────────┼────────────────────┘
//!                 └── kcc<id><k> in netns kc-<id>-c<k>: dhclient -6 -P
//! ```
//!
//! The stand-in serves HTTPS with a certificate for its address from a CA made for the lab alone; Kea's `ca-file`
//! holds that CA (see `tls`). Everything is addressed from ULA fd00:4b43::/32 and lives in namespaces the lab created. Needs root and a
//! running dockerd; the image comes from `KC_IMAGE` (default `kea-cloudstack:latest`) unless the spec names another. `KC_KEEP=1` keeps the
//! lab's directory, `KC_KEA_DEBUG=1` turns Kea's own logging to DEBUG 99.
#![allow(dead_code, unused_imports)] // the stories use different parts of the lab

mod child;
mod client_link;
pub mod clients;
mod control;
pub mod dhcp6;
pub mod ha;
pub mod load;
mod host;
mod kea_box;
mod kea_config;
pub mod kea_version;
mod leases;
pub mod postgres;
pub mod relays;
mod standin;
mod standin_events;
mod sweep;
#[path = "../../tools/test_pki.rs"]
pub mod test_pki;
pub mod tls;

use std::net::{Ipv6Addr, SocketAddr, SocketAddrV6, UdpSocket};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU8, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use serde_json::{json, Map, Value};

pub use child::Daemon;
pub use client_link::{ClientLink, Dhclient};
pub use clients::{exchanges, ClientKind, DhcpcdDuid, Exchange, RealClient, ScriptEvent};
pub use control::send_command;
pub use ha::{Cluster, ClusterSpec, HaMode, KeaServer};
pub use host::{in_netns, run as host_run, wait_until, NetNs};
pub use kea_config::HOOK_LIBRARY;
pub use kea_version::KeaVersion;
pub use leases::LeaseRow;
pub use standin::{HttpAnswer, RequestCounts, Standin, API_KEY};
pub use sweep::OWNER_LABEL;
pub use tls::StandinTls;

use kea_box::{KeaBox, KeaDirs};

/// One VLAN the lab's Kea serves: a relayed subnet (matched by interface-id) and the hook's `vlans` entry.
#[derive(Debug, Clone)]
pub struct VlanSpec {
    /// VLAN number; also the Kea subnet id.
    pub vlan: u16,
    /// Interface-id the relay inserts for this VLAN.
    pub interface_id: String,
    /// The VLAN's delegation space, e.g. "2a00:f10:500::/40".
    pub prefix: String,
    /// The hook's index rule ("ipv4-host" or "mac"), left to the hook's default when `None`.
    pub index: Option<String>,
}

impl VlanSpec {
    /// A VLAN with the hook's default index rule.
    pub fn new(vlan: u16, interface_id: &str, prefix: &str) -> VlanSpec {
        VlanSpec { vlan, interface_id: interface_id.to_string(), prefix: prefix.to_string(), index: None }
    }
}

/// What a lab is made of.
#[derive(Debug, Clone)]
pub struct LabSpec {
    /// One Kea subnet and one hook VLAN each; the first carries `reservations`.
    pub vlans: Vec<VlanSpec>,
    /// The stand-in's initial cloud (`{"vms": [...]}`).
    pub cloud: Value,
    /// Load the hook; false runs plain Kea (baselines, harness self-tests).
    pub hook: bool,
    /// Hook parameters merged over the lab's defaults (`null` removes a default).
    pub hook_params: Map<String, Value>,
    /// `Some(n)`: Kea multi-threading with n threads; `None`: multi-threading off.
    pub kea_threads: Option<u32>,
    /// Host reservations for the first subnet, Kea JSON as is.
    pub reservations: Vec<Value>,
    /// Subnet valid lifetime, seconds.
    pub valid_lifetime: u32,
    /// Subnet preferred lifetime, seconds.
    pub preferred_lifetime: u32,
    /// Extra stand-in arguments, e.g. `["--sample-cloud", "1200"]` (then `cloud` is not loaded).
    pub standin_args: Vec<String>,
    /// A fault the stand-in has before Kea starts (e.g. `{"mode":"refuse"}`: CloudStack down at Kea start).
    pub standin_fault: Option<Value>,
    /// `NAME=value` pairs added to Kea's environment.
    pub kea_env: Vec<String>,
    /// Kea logs every packet and lease at INFO (its default); false keeps those two loggers at WARN,
    /// as operators under load do (benchmarks: the logging is the same on both sides but noisy).
    pub packet_logs: bool,
    /// CPUs Kea's container may run on (`docker run --cpuset-cpus`), e.g. "1"; None: any.
    pub kea_cpus: Option<String>,
    /// Kea's own loggers at DEBUG 99 too.
    pub kea_debug: bool,
    /// The hook's logger at DEBUG 99 (default) or INFO.
    pub hook_debug: bool,
    /// Keys merged into Kea's `Dhcp6` map as they are (e.g. `cache-threshold`).
    pub kea_globals: Map<String, Value>,
    /// Keys merged into every VLAN's subnet as they are (e.g. `rapid-commit`).
    pub subnet_params: Map<String, Value>,
    /// The hook gets the stand-in's secret inline (`api-secret`) instead of `secret-key-file`.
    pub inline_secret: bool,
    /// `trusted-relays` names the router's address alone (default: all of Kea's link, so the load
    /// generator's extra relay addresses are routers too).
    pub trust_only_the_router: bool,
    /// How the hook reaches the stand-in: HTTPS verified against the lab's CA (default), HTTPS with a certificate
    /// from another CA, or plain HTTP.
    pub standin_tls: StandinTls,
    /// The hook's `api-url` is the stand-in's blackhole port (forwarded to the API until the story calls
    /// `standin().blackhole_connect()`), not its main port.
    pub api_via_blackhole_port: bool,
    /// The hook entry's `library` path inside Kea's container (None: the image's, `HOOK_LIBRARY`).
    pub hook_library: Option<String>,
    /// Host files bind-mounted read-only into Kea's container: (host path, path inside).
    pub kea_files: Vec<(PathBuf, String)>,
    /// The image Kea runs from (None: the project image, `KC_IMAGE`); the lab writes the configuration of the
    /// Kea release it holds. The package stories name Debian's Kea with the package installed.
    pub kea_image: Option<String>,
    /// A command kea-dhcp6 runs under inside its container (the bench's callgrind figure); None: Kea alone.
    pub kea_wrapper: Option<String>,
}

impl Default for LabSpec {
    fn default() -> Self {
        LabSpec {
            vlans: vec![VlanSpec::new(709, "VLAN709", "2a00:f10:500::/40")],
            cloud: json!({ "vms": [] }),
            hook: true,
            hook_params: Map::new(),
            kea_threads: None,
            reservations: Vec::new(),
            valid_lifetime: 600,
            preferred_lifetime: 300,
            standin_args: Vec::new(),
            standin_fault: None,
            kea_env: Vec::new(),
            kea_cpus: None,
            packet_logs: true,
            kea_debug: false,
            hook_debug: true,
            kea_globals: Map::new(),
            subnet_params: Map::new(),
            inline_secret: false,
            trust_only_the_router: false,
            standin_tls: StandinTls::LabCa,
            api_via_blackhole_port: false,
            hook_library: None,
            kea_files: Vec::new(),
            kea_image: None,
            kea_wrapper: None,
        }
    }
}

/// A running lab. Dropping it stops every process and removes every namespace, container and directory.
pub struct Lab {
    // Field order is teardown order: Kea first, then the stand-in, then the namespace, then the files.
    kea: KeaBox,
    standin: Standin,
    router_ns: NetNs,
    work: WorkDir,
    id: String,
    pid16: u16,
    seq: u8,
    client_links: AtomicU8,
    started: Instant,
    /// Set once Kea served: a failing start already put Kea's log in its panic message.
    serving: bool,
    /// The test's relay port, bound on first use.
    relay_socket: std::sync::OnceLock<UdpSocket>,
    /// What the stand-in serves HTTPS with (None: plain HTTP).
    standin_cert: Option<tls::StandinCert>,
    /// The Kea release of the lab's image.
    kea_version: KeaVersion,
}

/// USER_HZ, fixed at 100 by the Linux ABI on x86_64 (what /proc/<pid>/stat counts in).
const CLOCK_TICKS_PER_SECOND: f64 = 100.0;

static LAB_SEQ: AtomicU8 = AtomicU8::new(0);

impl Lab {
    /// Builds the lab and waits until Kea serves; panics with a clear message (and Kea's log) if anything fails.
    pub fn start(spec: LabSpec) -> Lab {
        let mut lab = Lab::build(spec);
        lab.kea.start_kea();
        lab.wait_until_serving();
        lab.serving = true;
        if std::env::var_os("KC_LAB_TIMING").is_some() {
            eprintln!("lab {}: started in {:.2?}", lab.id, lab.started.elapsed());
        }
        lab
    }

    /// Builds the lab for a configuration Kea must refuse: starts Kea and waits until it exited, its log kept
    /// (`kea_log`). Panics if Kea starts serving instead, or is still running after a minute.
    pub fn start_refused(spec: LabSpec) -> Lab {
        let lab = Lab::build(spec);
        lab.kea.start_kea();
        let exited = wait_until(Duration::from_secs(60), || !lab.kea.kea_running());
        let log = lab.kea_log();
        if !exited || log.contains("DHCP6_STARTED") {
            panic!("lab: Kea was expected to refuse its configuration but it {}.\nKea's log:\n{log}",
                if exited { "served first" } else { "still runs" });
        }
        lab
    }

    /// Everything up to Kea's start: namespaces, link, stand-in, TLS material, Kea's files and keeper container.
    fn build(spec: LabSpec) -> Lab {
        let started = Instant::now();
        let image = spec.kea_image.clone().unwrap_or_else(image);
        preflight(&image);
        let kea_version = kea_version::of_image(&image);
        sweep::sweep_dead_labs();

        let pid16 = std::process::id() as u16;
        let seq = LAB_SEQ.fetch_add(1, Ordering::Relaxed);
        let id = format!("{pid16:04x}{seq:02x}");
        let work = WorkDir::create(&std::env::temp_dir().join(format!("kc-lab-{id}")));
        let dirs = kea_dirs(&work);
        let (kea_addr, router_addr) = (subnet_addr(pid16, seq, 0, 1), subnet_addr(pid16, seq, 0, 2));

        // The router side first: the stand-in must be reachable before Kea loads the hook (warm-up).
        let router_ns = NetNs::create(&format!("kc-{id}-r"));
        let kea_end = link_router_side(&router_ns, &id, router_addr);
        let secret = host::random_hex(20);
        let standin_cert = tls::make(spec.standin_tls, &dirs.etc, work.path(), router_addr);
        let standin = Standin::start(
            &router_ns,
            router_addr,
            &secret,
            &spec.cloud,
            &spec.standin_args,
            work.path(),
            standin_cert.as_ref(),
        );
        if let Some(fault) = &spec.standin_fault {
            standin.set_fault(fault.clone());
        }
        write_kea_files(&spec, kea_version, &dirs, kea_addr, router_addr, &standin);

        // Kea's side: the keeper container owns the namespace; Kea's end of the veth moves in as kk0.
        let mut kea = KeaBox::create(&image, &format!("kc-{id}"), dirs);
        kea.env = spec.kea_env.clone();
        kea.cpus = spec.kea_cpus.clone();
        kea.wrapper = spec.kea_wrapper.clone();
        kea.files = spec.kea_files.clone();
        link_kea_side(&kea, &kea_end, kea_addr);

        Lab {
            kea,
            standin,
            router_ns,
            work,
            id,
            pid16,
            seq,
            client_links: AtomicU8::new(0),
            started,
            serving: false,
            relay_socket: std::sync::OnceLock::new(),
            standin_cert,
            kea_version,
        }
    }

    /// The Kea release the lab runs (read from its image once per test process).
    pub fn kea_version(&self) -> KeaVersion {
        self.kea_version
    }

    /// True while kea-dhcp6 runs.
    pub fn kea_running(&self) -> bool {
        self.kea.kea_running()
    }

    /// Runs `args` in the running Kea container (`docker exec`): a program of Kea's image, on Kea's link and
    /// files. The whole outcome, whatever the exit status.
    pub fn kea_exec(&self, args: &[&str]) -> std::process::Output {
        let mut all = vec!["exec", self.kea.name()];
        all.extend_from_slice(args);
        host::output("docker", &all)
    }

    /// The exit code of the last Kea container (None while it runs or when Docker cannot tell).
    pub fn kea_exit_code(&self) -> Option<i64> {
        if self.kea.kea_running() {
            return None;
        }
        let out = host::output("docker", &["inspect", "-f", "{{.State.ExitCode}}", self.kea.name()]);
        String::from_utf8_lossy(&out.stdout).trim().parse().ok()
    }

    /// The UDP socket bound to `[router_addr]:547` inside the router namespace: the test plays the relay with it.
    /// There is one per lab; each call returns a handle to it, so several relay personas can share the port.
    pub fn router_socket(&self) -> UdpSocket {
        let socket = self.relay_socket.get_or_init(|| self.bind_relay_port(self.router_addr()));
        socket.try_clone().expect("lab: clone the relay socket")
    }

    /// UDP `[address]:547` inside the router namespace.
    fn bind_relay_port(&self, address: Ipv6Addr) -> UdpSocket {
        let addr = SocketAddr::V6(SocketAddrV6::new(address, 547, 0, 0));
        let socket = self
            .router_ns
            .enter(move || UdpSocket::bind(addr))
            .unwrap_or_else(|e| panic!("lab: bind {addr} in the router namespace: {e}"));
        socket.set_read_timeout(Some(Duration::from_secs(5))).expect("lab: set_read_timeout");
        socket
    }

    /// A relay socket of its own for concurrent relays: `[<lab net>::<host>]:547`, the address added to the
    /// router's Kea-facing link on first use (host 2 is `router_socket`'s address).
    pub fn router_socket_at(&self, host: u16) -> UdpSocket {
        let address = subnet_addr(self.pid16, self.seq, 0, host);
        let iface = format!("kcr{}", self.id);
        let _ = self.router_ns.command("ip").args(["addr", "add", &format!("{address}/64"), "dev", &iface, "nodad"]).output();
        self.bind_relay_port(address)
    }

    /// Kea's address (on kk0 in the container).
    pub fn kea_addr(&self) -> Ipv6Addr {
        subnet_addr(self.pid16, self.seq, 0, 1)
    }

    /// The router's address on the Kea link (the stand-in listens here, relays send from here).
    pub fn router_addr(&self) -> Ipv6Addr {
        subnet_addr(self.pid16, self.seq, 0, 2)
    }

    /// The CloudStack stand-in's control client.
    pub fn standin(&self) -> &Standin {
        &self.standin
    }

    /// Everything Kea printed so far (all its containers, across restarts).
    pub fn kea_log(&self) -> String {
        self.kea.log()
    }

    /// Waits until Kea's log contains `needle`.
    pub fn wait_for_log(&self, needle: &str, timeout: Duration) -> bool {
        self.kea.wait_for_log(needle, timeout)
    }

    /// kea-dhcp6's process id on the host (perf attaches to it in the bench).
    pub fn kea_pid(&self) -> u32 {
        self.kea.kea_pid()
    }

    /// CPU seconds (user + system) kea-dhcp6 used so far, all its threads together.
    pub fn kea_cpu_seconds(&self) -> f64 {
        cpu_seconds(&self.kea.kea_pid().to_string())
    }

    /// Stops Kea and starts a new container on the same link, config and lease directory; waits until it serves.
    pub fn restart_kea(&mut self) {
        self.serving = false;
        self.kea.stop_kea();
        self.kea.start_kea();
        self.wait_until_serving();
        self.serving = true;
    }

    /// Sends kea-dhcp6 SIGTERM (what `systemctl stop` does) and waits, up to 30 s, for it to exit:
    /// how long it took and its exit code. Kea stays stopped (`restart_kea` is not possible after it).
    pub fn stop_kea_timed(&mut self) -> (Duration, i64) {
        self.serving = false;
        let started = Instant::now();
        host::run_quietly("docker", &["kill", "-s", "TERM", self.kea.name()]);
        let exited = wait_until(Duration::from_secs(30), || !self.kea.kea_running());
        let took = started.elapsed();
        assert!(exited, "lab: Kea did not exit within 30 s of SIGTERM.\nKea's log:\n{}", self.kea_log());
        let code = host::output("docker", &["inspect", "-f", "{{.State.ExitCode}}", self.kea.name()]);
        let code = String::from_utf8_lossy(&code.stdout).trim().parse().unwrap_or(-1);
        (took, code)
    }

    /// Stops Kea, runs `while_stopped`, starts a new container and runs `watch` while it comes up
    /// (benchmarks time the first reply); then waits until Kea serves, as `restart_kea` does.
    pub fn restart_kea_while<T>(&mut self, while_stopped: impl FnOnce(&Lab), watch: impl FnOnce(&Lab) -> T) -> T {
        self.serving = false;
        self.kea.stop_kea();
        while_stopped(self);
        self.kea.start_kea();
        let seen = watch(self);
        self.wait_until_serving();
        self.serving = true;
        seen
    }

    /// What the running Kea container printed (not earlier runs).
    pub fn current_kea_log(&self) -> String {
        self.kea.current_log()
    }

    /// When the running kea-dhcp6 wrote its first log line (its start, to the millisecond).
    pub fn kea_started_at(&self) -> SystemTime {
        let log = self.kea.current_log();
        let first = log.lines().next().unwrap_or_default();
        log_line_time(first).unwrap_or_else(|| panic!("lab: no timestamp in Kea's first log line {first:?}"))
    }

    /// The leases Kea holds now, read from its memfile journal.
    pub fn leases(&self) -> Vec<LeaseRow> {
        leases::current_leases(self.lease_journal())
    }

    /// Every row of Kea's memfile journal, in file order.
    pub fn lease_journal(&self) -> Vec<LeaseRow> {
        leases::read_journal(&self.work.join("lib").join("kea-leases6.csv"))
    }

    /// The host path of a path inside Kea's container (under /etc/kea, /var/lib/kea or /run/kea).
    pub fn host_path(&self, container_path: &str) -> PathBuf {
        for (inside, host) in [("/etc/kea/", "etc"), ("/var/lib/kea/", "lib"), ("/run/kea/", "run")] {
            if let Some(rest) = container_path.strip_prefix(inside) {
                return self.work.join(host).join(rest);
            }
        }
        panic!("lab: {container_path} is not in a directory the lab shares with Kea");
    }

    /// The CA certificate (PEM) that signed the stand-in's certificate (None: plain HTTP). With
    /// `StandinTls::ForeignCa` it is not the CA in Kea's `ca-file`.
    pub fn standin_signer_ca(&self) -> Option<&str> {
        self.standin_cert.as_ref().map(|cert| cert.signer_pem.as_str())
    }

    /// Host path of the generated kea-dhcp6.conf.
    pub fn kea_config_path(&self) -> PathBuf {
        self.work.join("etc").join("kea-dhcp6.conf")
    }

    /// Sends a command over Kea's control socket and returns the answer; panics if Kea does not answer.
    pub fn control(&self, command: Value) -> Value {
        control::send_command(&self.control_socket(), &command)
            .unwrap_or_else(|e| panic!("lab: control command {command} failed: {e}\nKea's log:\n{}", self.kea_log()))
    }

    /// A new client namespace linked to the router namespace, for dhclient behind `dhcp6-router`.
    pub fn add_client_link(&self) -> ClientLink<'_> {
        let k = self.client_links.fetch_add(1, Ordering::Relaxed);
        ClientLink::create(self, k)
    }

    /// The lab's short unique id (in every name it creates).
    pub fn id(&self) -> &str {
        &self.id
    }

    /// The lab's host directory (Kea's etc/, lib/, run/, the stand-in's cloud.json, client dirs).
    pub fn work_dir(&self) -> &Path {
        self.work.path()
    }

    /// The router namespace.
    pub fn router_ns(&self) -> &NetNs {
        &self.router_ns
    }

    /// The router namespace's name.
    pub fn router_netns(&self) -> &str {
        self.router_ns.name()
    }

    /// Address `host` in the lab's `n`-th /64 (0 is the Kea link, k+1 the k-th client link).
    pub fn subnet_addr(&self, n: u16, host: u16) -> Ipv6Addr {
        subnet_addr(self.pid16, self.seq, n, host)
    }

    fn control_socket(&self) -> PathBuf {
        self.work.join("run").join("kea6.sock")
    }

    fn wait_until_serving(&self) {
        let deadline = Duration::from_secs(180); // large static configs (benchmarks) take a while
        let mut running = true;
        let started = wait_until(deadline, || {
            running = self.kea.kea_running();
            // Only the current container's log: after a restart the earlier run's DHCP6_STARTED is still there.
            !running || self.kea.current_log().contains("DHCP6_STARTED")
        });
        if !started || !running {
            let why =
                if running { format!("did not log DHCP6_STARTED within {deadline:?}") } else { "exited".to_string() };
            panic!(
                "lab: Kea {why} (config {}; KC_KEEP=1 keeps it).\nKea's log:\n{}",
                self.kea_config_path().display(),
                self.kea_log()
            );
        }
        let mut last_error = String::new();
        let answers = wait_until(Duration::from_secs(10), || {
            match control::send_command(&self.control_socket(), &json!({ "command": "version-get" })) {
                Ok(answer) if answer["result"] == 0 => true,
                Ok(answer) => {
                    last_error = answer.to_string();
                    false
                }
                Err(e) => {
                    last_error = e;
                    false
                }
            }
        });
        if !answers {
            panic!("lab: Kea's control socket does not answer ({last_error}).\nKea's log:\n{}", self.kea_log());
        }
        if !self.kea.kea_running() {
            panic!("lab: Kea stopped right after starting.\nKea's log:\n{}", self.kea_log());
        }
    }
}

impl Drop for Lab {
    fn drop(&mut self) {
        if std::thread::panicking() {
            if self.serving {
                eprintln!("==== lab {}: Kea's log ({}) ====\n{}", self.id, self.kea.name(), self.kea_log());
            }
            eprintln!("==== lab {}: stand-in output ====\n{}", self.id, self.standin.output());
        }
        if std::env::var_os("KC_LAB_TIMING").is_some() {
            eprintln!("lab {}: ran for {:.2?}, tearing down", self.id, self.started.elapsed());
        }
    }
}

/// Kea's etc/, lib/ and run/ under the lab's directory; run/ is 0750 because Kea 2.6.3 refuses a control socket
/// in a directory with any other mode (Kea 3.0 in one with a mode that allows more than 0750).
fn kea_dirs(work: &WorkDir) -> KeaDirs {
    let dirs = KeaDirs { etc: work.join("etc"), lib: work.join("lib"), run: work.join("run") };
    for dir in [&dirs.etc, &dirs.lib, &dirs.run] {
        std::fs::create_dir_all(dir).expect("lab: create Kea dirs");
    }
    std::fs::set_permissions(&dirs.run, std::fs::Permissions::from_mode(0o750)).expect("lab: chmod run dir");
    dirs
}

/// Creates the veth pair: `kcr<id>` in the router namespace with `router_addr`, `kck<id>` (returned) left in the
/// host namespace until Kea's container exists.
fn link_router_side(router_ns: &NetNs, id: &str, router_addr: Ipv6Addr) -> String {
    let (kea_end, router_end) = (format!("kck{id}"), format!("kcr{id}"));
    host::run_quietly("ip", &["link", "del", &kea_end]);
    host::run("ip", &["link", "add", &kea_end, "type", "veth", "peer", "name", &router_end, "netns", router_ns.name()]);
    router_ns.exec("sysctl", &["-qw", &format!("net.ipv6.conf.{router_end}.accept_dad=0")]);
    router_ns.ip(&["addr", "add", &format!("{router_addr}/64"), "dev", &router_end, "nodad"]);
    router_ns.ip(&["link", "set", &router_end, "up"]);
    kea_end
}

/// Moves `kea_end` into the container's namespace as kk0 with `kea_addr`, then lets Kea start.
fn link_kea_side(kea: &KeaBox, kea_end: &str, kea_addr: Ipv6Addr) {
    host::run("ip", &["link", "set", kea_end, "netns", &kea.netns_pid().to_string()]);
    kea.ip(&["link", "set", kea_end, "name", kea_config::KEA_IFACE]);
    kea.ip(&["addr", "add", &format!("{kea_addr}/64"), "dev", kea_config::KEA_IFACE, "nodad"]);
    kea.ip(&["link", "set", kea_config::KEA_IFACE, "up"]);
    kea.ip(&["link", "set", "lo", "up"]);
    kea.mark_link_ready();
}

/// Writes kea-dhcp6.conf (for the image's Kea release) and the hook's secret file (0600) into Kea's etc/ (the CA
/// file is already there).
fn write_kea_files(
    spec: &LabSpec,
    kea_version: KeaVersion,
    dirs: &KeaDirs,
    kea_addr: Ipv6Addr,
    router_addr: Ipv6Addr,
    standin: &Standin,
) {
    let ca_file = standin.is_https().then_some(tls::CA_FILE);
    let api_url = if spec.api_via_blackhole_port { standin.blackhole_api_url() } else { standin.api_url() };
    let mut config = kea_config::kea_config(spec, kea_version, kea_addr, &api_url, ca_file, API_KEY);
    if spec.trust_only_the_router && spec.hook {
        config["Dhcp6"]["hooks-libraries"][0]["parameters"]["trusted-relays"] = json!([format!("{router_addr}/128")]);
    }
    if spec.inline_secret {
        let params = &mut config["Dhcp6"]["hooks-libraries"][0]["parameters"];
        params.as_object_mut().expect("lab: hook parameters").remove("secret-key-file");
        params["api-secret"] = json!(standin.secret_key());
    }
    let config_path = dirs.etc.join("kea-dhcp6.conf");
    std::fs::write(&config_path, serde_json::to_string_pretty(&config).unwrap()).expect("lab: write Kea config");
    let secret_path = dirs.etc.join("cloudstack.secret");
    std::fs::write(&secret_path, standin.secret_key()).expect("lab: write secret");
    std::fs::set_permissions(&secret_path, std::fs::Permissions::from_mode(0o600)).expect("lab: chmod secret");
}

/// The lab's private directory, removed on drop unless `KC_KEEP=1`.
struct WorkDir {
    path: PathBuf,
}

impl WorkDir {
    fn create(path: &Path) -> WorkDir {
        let _ = std::fs::remove_dir_all(path);
        std::fs::create_dir_all(path).unwrap_or_else(|e| panic!("lab: create {}: {e}", path.display()));
        WorkDir { path: path.to_path_buf() }
    }

    fn path(&self) -> &Path {
        &self.path
    }

    fn join(&self, name: &str) -> PathBuf {
        self.path.join(name)
    }
}

impl Drop for WorkDir {
    fn drop(&mut self) {
        if std::env::var("KC_KEEP").is_ok_and(|v| v == "1") {
            eprintln!("lab: kept {}", self.path.display());
        } else {
            let _ = std::fs::remove_dir_all(&self.path);
        }
    }
}

/// `fd00:4b43:<pid16>:<seq><n>::<host>`: each lab owns a /56, its links are /64s in it.
fn subnet_addr(pid16: u16, seq: u8, n: u16, host: u16) -> Ipv6Addr {
    Ipv6Addr::new(0xfd00, 0x4b43, pid16, (u16::from(seq) << 8) | (n & 0xff), 0, 0, 0, host)
}

/// The project image the labs run: `KC_IMAGE`, default `kea-cloudstack:latest` (the Kea 2.6 build).
pub fn image() -> String {
    std::env::var("KC_IMAGE").unwrap_or_else(|_| "kea-cloudstack:latest".to_string())
}

/// Fails loudly when the lab cannot run: never let a missing docker or image pass as green.
pub fn preflight(image: &str) {
    // SAFETY: geteuid() has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        panic!("lab: the end-to-end tests need root (network namespaces, veth links, docker)");
    }
    let info = host::output("docker", &["info", "--format", "{{.ServerVersion}}"]);
    if !info.status.success() {
        panic!("lab: `docker info` failed — is dockerd running? {}", String::from_utf8_lossy(&info.stderr));
    }
    let inspect = host::output("docker", &["image", "inspect", "--format", "{{.Id}}", image]);
    if !inspect.status.success() {
        panic!(
            "lab: docker image {image:?} is missing (set KC_IMAGE or build the project image): {}",
            String::from_utf8_lossy(&inspect.stderr)
        );
    }
}

/// CPU seconds (user + system) process `pid` ("self" for this one) used so far, all threads together.
pub fn cpu_seconds(pid: &str) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_else(|e| panic!("lab: /proc/{pid}/stat: {e}"));
    // Fields after the parenthesised command name: state is field 3, utime 14, stime 15 (clock ticks).
    let rest = &stat[stat.rfind(')').expect("lab: /proc stat format") + 2..];
    let fields: Vec<&str> = rest.split(' ').collect();
    let ticks: f64 = fields[11].parse::<f64>().unwrap() + fields[12].parse::<f64>().unwrap();
    ticks / CLOCK_TICKS_PER_SECOND
}

/// The time of a Kea log line, "YYYY-MM-DD HH:MM:SS.mmm ..." in UTC (the containers' zone).
fn log_line_time(line: &str) -> Option<SystemTime> {
    let (date, rest) = line.split_once(' ')?;
    let clock = rest.split_whitespace().next()?;
    let d: Vec<i64> = date.split('-').map(|p| p.parse().ok()).collect::<Option<_>>()?;
    let (hms, millis) = clock.split_once('.')?;
    let t: Vec<i64> = hms.split(':').map(|p| p.parse().ok()).collect::<Option<_>>()?;
    if d.len() != 3 || t.len() != 3 {
        return None;
    }
    // Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's days_from_civil).
    let (y, m) = if d[1] <= 2 { (d[0] - 1, d[1] + 9) } else { (d[0], d[1] - 3) };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let doy = (153 * m + 2) / 5 + d[2] - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    let secs = days * 86_400 + t[0] * 3600 + t[1] * 60 + t[2];
    let millis: u64 = millis.parse().ok()?;
    Some(UNIX_EPOCH + Duration::from_secs(u64::try_from(secs).ok()?) + Duration::from_millis(millis))
}

#[cfg(test)]
mod tests {
    #[test]
    fn kea_log_times_read_as_utc() {
        let t = super::log_line_time("2026-11-23 02:40:13.123 INFO  [kea-dhcp6.dhcp6/1.1] DHCP6_STARTING x").unwrap();
        assert_eq!(t.duration_since(super::UNIX_EPOCH).unwrap().as_millis(), 1_795_401_613_123);
    }
}
