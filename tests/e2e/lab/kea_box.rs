//! Kea in Docker: a network keeper container that owns the lab link, and the kea-dhcp6 container that joins it.
//!
//! The keeper holds the network namespace, so restarting Kea keeps the very same link and addresses (what a
//! service restart on a real box does); Kea waits for a marker file before it starts, because it checks that the
//! address it listens on exists.
use std::path::{Path, PathBuf};
use std::time::Duration;

use super::host::{output, run, run_quietly, wait_until};
use super::sweep::OWNER_LABEL;

/// The marker, in the host-mounted /run/kea, that tells Kea's container the link is up.
const LINK_READY: &str = "lab-link-ready";

/// Host directories mounted into the container.
#[derive(Clone)]
pub struct KeaDirs {
    /// Mounted as /etc/kea (config, secret).
    pub etc: PathBuf,
    /// Mounted as /var/lib/kea (leases, server DUID).
    pub lib: PathBuf,
    /// Mounted as /run/kea (control socket, pid and lock files).
    pub run: PathBuf,
}

/// The two containers of one lab; both removed on drop.
pub struct KeaBox {
    image: String,
    name: String,
    keeper: String,
    keeper_pid: u32,
    dirs: KeaDirs,
    /// Logs of Kea containers already replaced by `restart`.
    earlier_logs: String,
    /// `NAME=value` pairs for Kea's environment.
    pub env: Vec<String>,
    /// `--cpuset-cpus` for Kea's container (benchmarks keep Kea and the load generator apart).
    pub cpus: Option<String>,
    /// Host files mounted read-only into Kea's container: (host path, path inside).
    pub files: Vec<(PathBuf, String)>,
    /// A command kea-dhcp6 runs under (the bench's callgrind figure), e.g. "valgrind --tool=callgrind".
    pub wrapper: Option<String>,
}

impl KeaBox {
    /// Starts the network keeper (IPv6 on, DAD off) and returns with its pid; Kea itself starts with `start_kea`.
    pub fn create(image: &str, name: &str, dirs: KeaDirs) -> KeaBox {
        let keeper = format!("{name}-net");
        run_quietly("docker", &["rm", "-f", name, &keeper]);
        // Docker turns IPv6 off in `--network none` namespaces; DAD off makes addresses usable at once.
        let sysctls = ["all.disable_ipv6=0", "default.disable_ipv6=0", "all.accept_dad=0", "default.accept_dad=0"]
            .map(|s| format!("net.ipv6.conf.{s}"));
        let mut args = docker_run_args(&keeper, &[("--network", "none")]);
        args.extend(sysctls.iter().flat_map(|s| ["--sysctl".to_string(), s.clone()]));
        args.extend(["--entrypoint", "/bin/sleep", image, "infinity"].map(String::from));
        run_args(&args);
        let mut kea_box = KeaBox {
            image: image.to_string(),
            name: name.to_string(),
            keeper: keeper.clone(),
            keeper_pid: 0,
            dirs,
            earlier_logs: String::new(),
            env: Vec::new(),
            cpus: None,
            files: Vec::new(),
            wrapper: None,
        };
        let pid = run("docker", &["inspect", "-f", "{{.State.Pid}}", &keeper]);
        kea_box.keeper_pid = pid.trim().parse().unwrap_or(0);
        if kea_box.keeper_pid == 0 {
            panic!("lab: container {keeper} has no pid ({pid:?}); `docker logs {keeper}`:\n{}", logs_of(&keeper));
        }
        kea_box
    }

    /// Pid of a process inside the lab network namespace (for `ip link set … netns` and `nsenter`).
    pub fn netns_pid(&self) -> u32 {
        self.keeper_pid
    }

    /// `nsenter -t <pid> -n ip args…`: configures the container's side of the link.
    pub fn ip(&self, args: &[&str]) -> String {
        let pid = self.keeper_pid.to_string();
        let mut all = vec!["-t", &pid, "-n", "ip"];
        all.extend_from_slice(args);
        run("nsenter", &all)
    }

    /// Tells the Kea container that the link is configured.
    pub fn mark_link_ready(&self) {
        std::fs::write(self.dirs.run.join(LINK_READY), b"").expect("lab: write link marker");
    }

    /// Starts kea-dhcp6 in a container that shares the keeper's network.
    pub fn start_kea(&self) {
        let volume = |host: &Path, inside: &str| format!("{}:{inside}", host.display());
        let wrapper = self.wrapper.as_deref().map_or(String::new(), |w| format!("{w} "));
        let script = format!(
            "while [ ! -e /run/kea/{LINK_READY} ]; do sleep 0.05; done; exec {wrapper}kea-dhcp6 -c /etc/kea/kea-dhcp6.conf"
        );
        let network = format!("container:{}", self.keeper);
        let (etc, lib, run) = (
            volume(&self.dirs.etc, "/etc/kea"),
            volume(&self.dirs.lib, "/var/lib/kea"),
            volume(&self.dirs.run, "/run/kea"),
        );
        let mut args = docker_run_args(
            &self.name,
            &[
                ("--user", "0:0"),
                ("--network", &network),
                ("-v", &etc),
                ("-v", &lib),
                ("-v", &run),
                ("-e", "KEA_PIDFILE_DIR=/run/kea"),
                ("-e", "KEA_LOCKFILE_DIR=/run/kea"),
                ("--entrypoint", "/bin/sh"),
            ],
        );
        if let Some(cpus) = &self.cpus {
            args.extend(["--cpuset-cpus".to_string(), cpus.clone()]);
        }
        for variable in &self.env {
            args.extend(["-e".to_string(), variable.clone()]);
        }
        for (host, inside) in &self.files {
            args.extend(["-v".to_string(), format!("{}:{inside}:ro", host.display())]);
        }
        args.extend([self.image.as_str(), "-c", &script].map(String::from));
        run_args(&args);
    }

    /// Stops Kea gracefully (SIGTERM, 5 s), keeps its log, removes its container and stale pid file.
    pub fn stop_kea(&mut self) {
        run_quietly("docker", &["stop", "-t", "5", &self.name]);
        self.earlier_logs.push_str(&logs_of(&self.name));
        run_quietly("docker", &["rm", "-f", &self.name]);
        // The pid file names a pid of the old container's namespace; a new Kea could take it for a live twin.
        if let Ok(entries) = std::fs::read_dir(&self.dirs.run) {
            for entry in entries.flatten() {
                if entry.file_name().to_string_lossy().ends_with(".pid") {
                    let _ = std::fs::remove_file(entry.path());
                }
            }
        }
    }

    /// True while the Kea container runs.
    pub fn kea_running(&self) -> bool {
        let out = output("docker", &["inspect", "-f", "{{.State.Running}}", &self.name]);
        String::from_utf8_lossy(&out.stdout).trim() == "true"
    }

    /// Everything every Kea container of this lab printed so far.
    pub fn log(&self) -> String {
        format!("{}{}", self.earlier_logs, logs_of(&self.name))
    }

    /// What the running Kea container printed (not earlier runs).
    pub fn current_log(&self) -> String {
        logs_of(&self.name)
    }

    /// Waits until Kea's log contains `needle`; false if it did not in time or Kea stopped.
    pub fn wait_for_log(&self, needle: &str, timeout: Duration) -> bool {
        wait_until(timeout, || self.log().contains(needle))
    }

    /// Host pid of the running kea-dhcp6 (the container's first process execs it).
    pub fn kea_pid(&self) -> u32 {
        let out = output("docker", &["inspect", "-f", "{{.State.Pid}}", &self.name]);
        String::from_utf8_lossy(&out.stdout).trim().parse().expect("lab: Kea's pid")
    }

    /// The container's name (`docker logs <name>` by hand when `KC_KEEP=1`).
    pub fn name(&self) -> &str {
        &self.name
    }
}

impl Drop for KeaBox {
    fn drop(&mut self) {
        run_quietly("docker", &["rm", "-f", &self.name, &self.keeper]);
    }
}

/// `docker run -d --name <name> --label <owner>` followed by the option pairs.
fn docker_run_args(name: &str, options: &[(&str, &str)]) -> Vec<String> {
    let mut args: Vec<String> = ["run", "-d", "--name", name, "--label"].map(String::from).to_vec();
    args.push(format!("{OWNER_LABEL}={}", std::process::id()));
    args.extend(options.iter().flat_map(|(option, value)| [option.to_string(), value.to_string()]));
    args
}

fn run_args(args: &[String]) -> String {
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    run("docker", &args)
}

fn logs_of(container: &str) -> String {
    let out = output("docker", &["logs", container]);
    if !out.status.success() {
        return String::new();
    }
    format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr))
}
