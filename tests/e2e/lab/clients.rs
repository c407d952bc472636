//! Real DHCPv6 clients of Debian on a lab's client link: dhclient, dhcpcd, WIDE dhcp6c and trixie's busybox
//! udhcpc6, each asking for a prefix behind `dhcp6-router` (`client_link` has the plain dhclient of the older
//! stories).
//!
//! Each runs as a plain process in the client namespace, in a mount namespace of its own where the lab's client
//! directory is bound over the paths the program insists on (dhcpcd's `/var/lib/dhcpcd` and `/run/dhcpcd`,
//! dhcp6c's fixed DUID file in `/var/lib/dhcpv6`): nothing of the host's network configuration, pid or lease
//! files is read or written. Their event scripts are the lab's own (the packages' scripts would rewrite the
//! host's resolv.conf). Each is bounded in time (`timeout`), dies with the test thread that started it
//! (`setpriv --pdeathsig`) and is stopped when its handle drops.
//!
//! What a client did is read from three places: its script's events (dhcpcd, udhcpc6, dhclient), its own log
//! (dhcp6c tells prefixes only there) and the addresses it put on the downstream interface of the client
//! namespace (`kcp<id><k>`, one end of a veth pair: the LAN behind a VM that routes its /60).
use std::collections::BTreeMap;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use ipnet::Ipv6Net;

use super::child::Daemon;
use super::client_link::ClientLink;
use super::host::wait_until;

/// How long any real client may run, whatever the story does (the lab also stops it when it drops).
const MAX_RUN: Duration = Duration::from_secs(300);

/// Where `make setup` puts trixie's busybox (Debian 12's busybox has no udhcpc6); `KC_TRIXIE_BUSYBOX` overrides it.
pub const TRIXIE_BUSYBOX: &str = "/usr/local/lib/kea-cloudstack-tests/busybox";

/// Which program a `RealClient` is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClientKind {
    /// ISC dhclient (isc-dhcp-client) `-6 -P`.
    Dhclient,
    /// dhcpcd (Debian's dhcpcd-base) with Debian's `/etc/dhcpcd.conf` and `ia_pd 1`.
    Dhcpcd,
    /// WIDE-DHCPv6's dhcp6c (wide-dhcpv6-client) with `send ia-pd 0;`.
    Dhcp6c,
    /// busybox `udhcpc6 -d -r no` (trixie's busybox-static).
    Udhcpc6,
}

/// The DUID dhcpcd makes when it has none yet (`duid ll` / `duid lt` in its configuration).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DhcpcdDuid {
    /// DUID-LL: type 3, the link-layer address.
    LinkLayer,
    /// DUID-LLT: type 1, the link-layer address and a time (dhcpcd's default with persistent storage).
    LinkLayerTime,
}

/// One time the client ran its script: the first argument (udhcpc6's event) and the environment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScriptEvent {
    /// udhcpc6's `$1` (bound, renew, deconfig, …); empty for the others.
    pub argument: String,
    /// The script's lower-case environment (`reason`, dhcpcd's `new_dhcp6_ia_pd1_prefix1`, dhclient's
    /// `new_ip6_prefix`, udhcpc6's `ipv6prefix`, …).
    pub vars: BTreeMap<String, String>,
}

impl ScriptEvent {
    /// What happened: dhcpcd's and dhclient's `reason`, udhcpc6's argument.
    pub fn what(&self) -> &str {
        self.vars.get("reason").map_or(self.argument.as_str(), String::as_str)
    }

    /// The delegated prefix this event reports as held, as `Ipv6Net` text ("2a00:f10:500:1170::/60").
    pub fn prefix(&self) -> Option<String> {
        let text = match (self.vars.get("new_dhcp6_ia_pd1_prefix1"), self.vars.get("new_dhcp6_ia_pd1_prefix1_length")) {
            (Some(prefix), Some(len)) => format!("{prefix}/{len}"),
            _ => self.vars.get("new_ip6_prefix").or_else(|| self.vars.get("ipv6prefix"))?.clone(),
        };
        // udhcpc6 writes every group in full ("2a00:0f10:0500:1170:0000:…/60").
        text.trim_matches('\'').parse::<Ipv6Net>().ok().map(|net| net.to_string())
    }

    /// The event ends the client's hold on its prefixes (expired, released, stopped, deconfigured).
    fn drops(&self) -> bool {
        matches!(self.what(), "EXPIRE6" | "RELEASE6" | "STOP6" | "STOPPED" | "deconfig" | "leasefail" | "nak")
    }
}

/// A real client running on a client link; stopped (SIGTERM, then SIGKILL) when it drops.
pub struct RealClient {
    kind: ClientKind,
    daemon: Daemon,
    dir: PathBuf,
    events: PathBuf,
    downstream: String,
    netns: String,
    /// dhclient and dhcpcd: the command line that releases (`dhclient -6 -r`, `dhcpcd -k`).
    release_command: Option<Command>,
}

impl ClientLink<'_> {
    /// Starts `dhclient -6 -P -d -v` with the lab's script, lease and pid files (DUID-LLT, kept in its lease
    /// file); `RealClient::release` runs `dhclient -6 -r` with the same files.
    pub fn real_dhclient(&self) -> RealClient {
        let dir = self.real_client_dir("dhclient");
        let script = self.event_script(&dir);
        let config = dir.join("dhclient.conf");
        std::fs::write(&config, "").expect("lab: write dhclient.conf");
        let files = format!(
            "-sf {script} -cf {config} -lf {lease} -pf {pid} {iface}",
            script = script.display(),
            config = config.display(),
            lease = dir.join("dhclient6.leases").display(),
            pid = dir.join("dhclient6.pid").display(),
            iface = self.client_iface()
        );
        let mut release = self.netns().command("timeout");
        release.args(["30", "dhclient", "-6", "-P", "-r", "-v"]).args(files.split(' '));
        let downstream = self.downstream_link();
        let mut client =
            self.start_real_client(ClientKind::Dhclient, dir, downstream, "true", &format!("dhclient -6 -P -d -v {files}"));
        client.release_command = Some(release);
        client
    }

    /// Starts dhcpcd: Debian's `/etc/dhcpcd.conf` as installed (Rapid Commit on), then `ipv6only` and an
    /// interface block asking `ia_pd 1` for the downstream link; `duid` picks the DUID it makes on its first run.
    pub fn dhcpcd(&self, duid: DhcpcdDuid) -> RealClient {
        let dir = self.real_client_dir("dhcpcd");
        let debian = std::fs::read_to_string(DEBIAN_DHCPCD_CONF)
            .unwrap_or_else(|e| panic!("lab: {DEBIAN_DHCPCD_CONF} (Debian's dhcpcd-base; run make setup): {e}"));
        let downstream = self.downstream_link();
        let duid_line = match duid {
            DhcpcdDuid::LinkLayer => "duid ll",
            DhcpcdDuid::LinkLayerTime => "duid lt",
        };
        let config = format!(
            "# Debian's {DEBIAN_DHCPCD_CONF}:\n{debian}\n# the lab's lines:\n{duid_line}\nipv6only\nnoipv6rs\n\
             interface {up}\n  ia_pd 1 {downstream}/0/64\n",
            up = self.client_iface()
        );
        let config_path = dir.join("dhcpcd.conf");
        std::fs::write(&config_path, config).expect("lab: write dhcpcd.conf");
        let (db, run) = (dir.join("db"), dir.join("run"));
        for d in [&db, &run] {
            std::fs::create_dir_all(d).expect("lab: dhcpcd dirs");
        }
        let script = self.event_script(&dir);
        // A tmpfs over /run hides the host's; dhcpcd's run directory is then the lab's.
        let setup = format!(
            "mount -t tmpfs kc-run /run && mkdir /run/dhcpcd && mount --bind {run} /run/dhcpcd && \
             mount --bind {db} /var/lib/dhcpcd",
            run = run.display(),
            db = db.display()
        );
        let program = format!(
            "dhcpcd -B -d -f {config} -c {script} {iface}",
            config = config_path.display(),
            script = script.display(),
            iface = self.client_iface()
        );
        // `dhcpcd -k` reaches the running one through its control socket, in the lab's /run/dhcpcd.
        let release = self.in_own_mounts(&setup, &format!("timeout 30 dhcpcd -k {}", self.client_iface()));
        let mut client = self.start_real_client(ClientKind::Dhcpcd, dir, downstream, &setup, &program);
        client.release_command = Some(release);
        client
    }

    /// Starts WIDE dhcp6c in the foreground with full debugging: `send ia-pd 0;`, the prefix given to the
    /// downstream link (`sla-len 4`: a /64 out of the /60), its DUID file in the lab's directory.
    pub fn dhcp6c(&self) -> RealClient {
        let dir = self.real_client_dir("dhcp6c");
        let downstream = self.downstream_link();
        let script = self.event_script(&dir);
        let config = format!(
            "interface {up} {{\n  send ia-pd 0;\n  script \"{script}\";\n}};\n\
             id-assoc pd 0 {{\n  prefix-interface {downstream} {{\n    sla-id 0;\n    sla-len 4;\n  }};\n}};\n",
            up = self.client_iface(),
            script = script.display()
        );
        let config_path = dir.join("dhcp6c.conf");
        std::fs::write(&config_path, config).expect("lab: write dhcp6c.conf");
        let state = dir.join("state");
        std::fs::create_dir_all(&state).expect("lab: dhcp6c dir");
        let setup = format!("mount --bind {} /var/lib/dhcpv6", state.display());
        let program = format!(
            "dhcp6c -f -D -c {config} -p {pid} {iface}",
            config = config_path.display(),
            pid = dir.join("dhcp6c.pid").display(),
            iface = self.client_iface()
        );
        self.start_real_client(ClientKind::Dhcp6c, dir, downstream, &setup, &program)
    }

    /// Starts trixie's busybox `udhcpc6 -d -r no` in the foreground: a prefix and no address (Kea's VLAN
    /// subnets have no address pool: a pd-pool over the whole /40 leaves no room for one).
    pub fn udhcpc6(&self) -> RealClient {
        self.start_udhcpc6("-d -r no")
    }

    /// Starts trixie's busybox `udhcpc6 -d` as its usage has it: a prefix and an address.
    pub fn udhcpc6_with_address(&self) -> RealClient {
        self.start_udhcpc6("-d")
    }

    fn start_udhcpc6(&self, asks: &str) -> RealClient {
        let dir = self.real_client_dir("udhcpc6");
        let busybox = trixie_busybox();
        let script = self.event_script(&dir);
        let program = format!(
            "{busybox} udhcpc6 -f {asks} -i {iface} -s {script} -p {pid}",
            busybox = busybox.display(),
            iface = self.client_iface(),
            script = script.display(),
            pid = dir.join("udhcpc6.pid").display()
        );
        let downstream = self.downstream_link();
        self.start_real_client(ClientKind::Udhcpc6, dir, downstream, "true", &program)
    }

    fn real_client_dir(&self, name: &str) -> PathBuf {
        let dir = self.dir().join(name);
        std::fs::create_dir_all(&dir).expect("lab: real client dir");
        dir
    }

    /// The link `kcp<id><k>` in the client namespace (made once): the LAN a routing VM serves.
    fn downstream_link(&self) -> String {
        let name = self.client_iface().replacen("kcc", "kcp", 1);
        let exists = self.netns().command("ip").args(["link", "show", &name]).output().is_ok_and(|o| o.status.success());
        if !exists {
            // A veth pair inside the namespace (the kernel here has no dummy links): the LAN end and its peer.
            let peer = self.client_iface().replacen("kcc", "kcq", 1);
            self.netns().ip(&["link", "add", &name, "type", "veth", "peer", "name", &peer]);
            for end in [&name, &peer] {
                self.netns().exec("sysctl", &["-qw", &format!("net.ipv6.conf.{end}.accept_dad=0")]);
                self.netns().ip(&["link", "set", end, "up"]);
            }
        }
        name
    }

    /// A script that appends its argument and lower-case environment to `events.log` as one block.
    fn event_script(&self, dir: &Path) -> PathBuf {
        let script = dir.join("event-script");
        let events = dir.join("events.log");
        std::fs::write(
            &script,
            format!(
                "#!/bin/sh\n{{ echo \"argument=$1\"; env | grep -E '^([a-z]|REASON=)' | sort; echo ----; }} >> '{}'\n",
                events.display()
            ),
        )
        .expect("lab: write event script");
        std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).expect("lab: chmod script");
        script
    }

    /// `setup; exec command` in the client namespace: in a mount namespace of its own, private, so its bind
    /// mounts never reach the host, and with an empty environment (`env -i`): the client and its script see
    /// nothing of the test's.
    fn in_own_mounts(&self, setup: &str, command: &str) -> Command {
        let mut cmd = self.netns().command("unshare");
        cmd.args(["--mount", "--propagation", "private", "env", "-i", "PATH=/usr/sbin:/usr/bin:/sbin:/bin"])
            .args(["sh", "-c", &format!("set -e; {setup}; exec {command}")]);
        cmd
    }

    fn start_real_client(&self, kind: ClientKind, dir: PathBuf, downstream: String, setup: &str, program: &str) -> RealClient {
        // No core files from a crashing client (udhcpc6 crashes, see the client stories).
        let shell = format!("timeout -k 5 {secs} setpriv --pdeathsig KILL {program}", secs = MAX_RUN.as_secs());
        let cmd = self.in_own_mounts(&format!("ulimit -c 0; {setup}"), &shell);
        let events = dir.join("events.log");
        // A restarted client appends to the same record: mark where this run begins.
        let mut record = std::fs::OpenOptions::new().create(true).append(true).open(&events).expect("lab: events.log");
        std::io::Write::write_all(&mut record, b"argument=lab-start\n----\n").expect("lab: mark events.log");
        RealClient {
            kind,
            daemon: Daemon::spawn(&format!("{kind:?}"), cmd),
            dir,
            events,
            downstream,
            netns: self.netns().name().to_string(),
            release_command: None,
        }
    }
}

/// Debian's own dhcpcd configuration (dhcpcd-base), read as installed.
pub const DEBIAN_DHCPCD_CONF: &str = "/etc/dhcpcd.conf";

/// Trixie's busybox binary (`KC_TRIXIE_BUSYBOX`, else where the set-up script put it).
pub fn trixie_busybox() -> PathBuf {
    let path = std::env::var_os("KC_TRIXIE_BUSYBOX").map_or_else(|| PathBuf::from(TRIXIE_BUSYBOX), PathBuf::from);
    if !path.exists() {
        panic!("lab: trixie's busybox is missing at {} (make setup fetches it)", path.display());
    }
    path
}

impl RealClient {
    /// Which client this is.
    pub fn kind(&self) -> ClientKind {
        self.kind
    }

    /// Everything the client printed.
    pub fn output(&self) -> String {
        self.daemon.output()
    }

    /// True while the client (or the `timeout` around it) runs.
    pub fn is_running(&mut self) -> bool {
        self.daemon.is_running()
    }

    /// How the client ended: `timeout` passes on the program's exit code, and raises the signal that killed
    /// it on itself. None while it runs.
    pub fn exit_status(&mut self) -> Option<std::process::ExitStatus> {
        self.daemon.exit_status()
    }

    /// Every event its script saw since this run started, oldest first (dhcp6c's tell nothing of prefixes).
    pub fn events(&self) -> Vec<ScriptEvent> {
        let text = std::fs::read_to_string(&self.events).unwrap_or_default();
        let all: Vec<ScriptEvent> = text
            .split("----\n")
            .filter(|block| !block.trim().is_empty())
            .map(|block| {
                let mut argument = String::new();
                let mut vars = BTreeMap::new();
                for line in block.lines() {
                    if let Some(arg) = line.strip_prefix("argument=") {
                        argument = arg.to_string();
                    } else if let Some((name, value)) = line.split_once('=') {
                        vars.insert(name.to_string(), value.to_string());
                    }
                }
                ScriptEvent { argument, vars }
            })
            .collect();
        let this_run = all.iter().rposition(|e| e.argument == "lab-start").map_or(0, |at| at + 1);
        all[this_run..].to_vec()
    }

    /// Does the client hold `prefix` now? dhcpcd and dhcp6c: an address out of it on the downstream link
    /// (what they do with a delegated prefix); dhclient and udhcpc6, which configure nothing with it: their
    /// script's last word on it.
    pub fn holds(&self, prefix: &str) -> bool {
        let prefix: Ipv6Net = prefix.parse().expect("a prefix");
        match self.kind {
            ClientKind::Dhcpcd | ClientKind::Dhcp6c => self
                .downstream_addresses()
                .iter()
                .filter_map(|a| a.parse::<Ipv6Net>().ok())
                .any(|address| prefix.contains(&address.addr())),
            ClientKind::Dhclient | ClientKind::Udhcpc6 => {
                let mut held = None;
                for event in self.events() {
                    if let Some(p) = event.prefix() {
                        held = Some(p);
                    } else if event.drops() {
                        held = None;
                    }
                }
                held == Some(prefix.to_string())
            }
        }
    }

    /// The global addresses on the downstream link, e.g. ["2a00:f10:500:1170::1/64"]: where the client put its
    /// prefix to use.
    pub fn downstream_addresses(&self) -> Vec<String> {
        let out = super::host::run(
            "ip",
            &["netns", "exec", &self.netns, "ip", "-6", "-o", "addr", "show", "dev", &self.downstream, "scope", "global"],
        );
        out.lines()
            .filter_map(|line| line.split_whitespace().skip_while(|w| *w != "inet6").nth(1).map(str::to_string))
            .collect()
    }

    /// The process id of the client program itself (the child of `timeout`), once it runs.
    pub fn program_pid(&self) -> u32 {
        let timeout = self.daemon.pid();
        let child = || {
            let children = std::fs::read_to_string(format!("/proc/{timeout}/task/{timeout}/children")).ok()?;
            children.split_whitespace().next()?.parse().ok()
        };
        let mut pid = None;
        // The shell before `timeout` mounts and execs first: the program appears within moments.
        wait_until(Duration::from_secs(10), || {
            pid = child();
            pid.is_some()
        });
        pid.unwrap_or_else(|| panic!("lab: {:?} has no program running under timeout {timeout}:\n{}", self.kind, self.output()))
    }

    /// Sends `signal` to the client program (not to `timeout`, which would pass on only its own choice).
    pub fn signal(&self, signal: libc::c_int) {
        let pid = self.program_pid();
        // SAFETY: kill() with the pid of a process this lab started and a valid signal number.
        let rc = unsafe { libc::kill(pid as libc::pid_t, signal) };
        assert_eq!(rc, 0, "lab: kill({pid}, {signal}): {}", std::io::Error::last_os_error());
    }

    /// Asks the client to release its lease the way its manual says: `dhclient -r`, `dhcpcd -k`, dhcp6c
    /// SIGTERM, udhcpc6 SIGUSR2. (dhcpcd's SIGALRM also releases, but dhcpcd 9.4.1 drops any signal that
    /// arrives while it waits for its privileged proxy, e.g. running its script after a renewal: the inner
    /// event loop of `ps_root_readerror` handles SIGCHLD only. Seen here: a SIGALRM that never released.)
    pub fn release(&mut self) {
        match self.kind {
            ClientKind::Dhclient | ClientKind::Dhcpcd => {
                let command = self.release_command.as_mut().expect("the client's release command");
                let out = command.output().expect("lab: run the release command");
                assert!(out.status.success(), "lab: {:?} release failed: {}{}", self.kind,
                        String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
            }
            ClientKind::Dhcp6c => self.signal(libc::SIGTERM),
            ClientKind::Udhcpc6 => self.signal(libc::SIGUSR2),
        }
    }

    /// Waits until `check` holds for the client; panics with its output and events when it does not.
    pub fn wait_for(&self, what: &str, timeout: Duration, mut check: impl FnMut(&RealClient) -> bool) {
        if !wait_until(timeout, || check(self)) {
            panic!(
                "lab: {:?}: {what} did not happen within {timeout:?}.\nits output:\n{}\nits events:\n{:#?}\ndownstream: {:?}",
                self.kind,
                self.output(),
                self.events(),
                self.downstream_addresses()
            );
        }
    }

    /// Waits until the program has exited (the `timeout` around it too); its exit status.
    pub fn wait_for_exit(&mut self, timeout: Duration) -> std::process::ExitStatus {
        if !wait_until(timeout, || !self.daemon.is_running()) {
            panic!("lab: {:?} still runs after {timeout:?}:\n{}", self.kind, self.output());
        }
        self.daemon.exit_status().expect("an exited client has a status")
    }

    /// The client's directory in the lab (its configuration, state and events).
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Stops the client: SIGTERM (to `timeout`, which passes it on), then SIGKILL.
    pub fn stop(&mut self) {
        self.daemon.stop();
    }
}

/// One exchange the router relayed: the client's message and what the server answered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Exchange {
    /// SOLICIT, REQUEST, RENEW, REBIND, RELEASE, …
    pub message: String,
    /// The transaction id, six hex digits.
    pub xid: String,
    /// The answer's type (ADVERTISE, REPLY) and its prefix summary (`2a00:…::/60 30/40`), if one came back.
    pub answer: Option<(String, String)>,
}

impl Exchange {
    /// The answer delegated `prefix` with these lifetimes: `(preferred, valid)`.
    pub fn lifetimes(&self, prefix: &str) -> Option<(u32, u32)> {
        let (_, summary) = self.answer.as_ref()?;
        summary.split(", ").find_map(|part| {
            let (p, lifetimes) = part.split_once(' ')?;
            if p != prefix {
                return None;
            }
            let (preferred, valid) = lifetimes.split_once('/')?;
            Some((preferred.parse().ok()?, valid.parse().ok()?))
        })
    }
}

/// The exchanges in `dhcp6-router`'s output, in the order the client sent them.
pub fn exchanges(router_output: &str) -> Vec<Exchange> {
    let mut seen: Vec<Exchange> = Vec::new();
    for line in router_output.lines() {
        let words: Vec<&str> = line.split_whitespace().collect();
        match words.as_slice() {
            ["relay-forw", message, "xid", xid, ..] => {
                seen.push(Exchange { message: message.to_string(), xid: xid.to_string(), answer: None })
            }
            ["relay-repl", answer, "xid", xid, ..] => {
                let summary = line.split_once(": ").map_or("", |(_, s)| s).to_string();
                if let Some(exchange) = seen.iter_mut().rev().find(|e| e.xid == *xid && e.answer.is_none()) {
                    exchange.answer = Some((answer.to_string(), summary));
                }
            }
            _ => {}
        }
    }
    seen
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_routers_lines_pair_into_exchanges() {
        let log = "dhcp6-router: relaying kcd1 …\n\
                   relay-forw RENEW xid 0a0b0c from 02:00:00:00:00:01 fe80::1 (100 bytes to [fd00::1]:547)\n\
                   relay-repl REPLY xid 0a0b0c to fe80::1 port 546: 2a00:f10:500:1170::/60 0/0, status 0 \"ok\"\n\
                   relay-forw SOLICIT xid 0d0e0f from 02:00:00:00:00:01 fe80::1 (90 bytes to [fd00::1]:547)\n";
        let seen = exchanges(log);
        assert_eq!(seen.len(), 2);
        assert_eq!(seen[0].message, "RENEW");
        assert_eq!(seen[0].lifetimes("2a00:f10:500:1170::/60"), Some((0, 0)));
        assert_eq!(seen[0].lifetimes("2a00:f10:500:1180::/60"), None);
        assert_eq!((seen[1].message.as_str(), seen[1].answer.as_ref()), ("SOLICIT", None));
    }
}
