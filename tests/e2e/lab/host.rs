//! The host side of a lab: shell commands that must work, network namespaces, and threads that enter them.
use std::fs::File;
use std::os::fd::AsRawFd;
use std::path::Path;
use std::process::{Command, Output};
use std::time::{Duration, Instant};

/// Runs `program args…` and returns its stdout; panics with the command line and its stderr if it fails.
pub fn run(program: &str, args: &[&str]) -> String {
    let out = output(program, args);
    if !out.status.success() {
        panic!(
            "lab: `{program} {}` failed ({}): {}{}",
            args.join(" "),
            out.status,
            String::from_utf8_lossy(&out.stderr),
            String::from_utf8_lossy(&out.stdout)
        );
    }
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Runs `program args…` for its side effect only, ignoring failure (cleanup of what may not exist).
pub fn run_quietly(program: &str, args: &[&str]) {
    let _ = Command::new(program).args(args).output();
}

/// Runs `program args…` and hands back the whole outcome; panics only if the program cannot be started.
pub fn output(program: &str, args: &[&str]) -> Output {
    Command::new(program)
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("lab: cannot run `{program}`: {e} (is it installed and are we root?)"))
}

/// A named network namespace (`ip netns add`), deleted again on drop.
pub struct NetNs {
    name: String,
}

impl NetNs {
    /// Creates the namespace (removing a stale one of the same name), with loopback up and DAD off,
    /// so addresses are usable the moment they are added.
    pub fn create(name: &str) -> NetNs {
        run_quietly("ip", &["netns", "del", name]);
        run("ip", &["netns", "add", name]);
        let ns = NetNs { name: name.to_string() };
        ns.ip(&["link", "set", "lo", "up"]);
        for key in ["all", "default"] {
            ns.exec("sysctl", &["-qw", &format!("net.ipv6.conf.{key}.accept_dad=0")]);
            ns.exec("sysctl", &["-qw", &format!("net.ipv6.conf.{key}.disable_ipv6=0")]);
        }
        ns
    }

    /// The namespace's name as `ip netns` knows it.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// `ip -n <ns> args…`.
    pub fn ip(&self, args: &[&str]) -> String {
        let mut all = vec!["-n", &self.name];
        all.extend_from_slice(args);
        run("ip", &all)
    }

    /// `ip netns exec <ns> program args…`.
    pub fn exec(&self, program: &str, args: &[&str]) -> String {
        let mut all = vec!["netns", "exec", &self.name, program];
        all.extend_from_slice(args);
        run("ip", &all)
    }

    /// A command line that runs `program` inside the namespace (for long-lived children).
    pub fn command(&self, program: &str) -> Command {
        let mut cmd = Command::new("ip");
        cmd.args(["netns", "exec", &self.name, program]);
        cmd
    }

    /// Runs `f` on a fresh thread that has entered this namespace; sockets made there stay in it.
    pub fn enter<T: Send + 'static>(&self, f: impl FnOnce() -> T + Send + 'static) -> T {
        in_netns(&self.name, f)
    }
}

impl Drop for NetNs {
    fn drop(&mut self) {
        run_quietly("ip", &["netns", "del", &self.name]);
    }
}

/// Runs `f` on a new thread that first `setns()`es into the named network namespace.
///
/// The namespace is per thread, so the caller's thread is untouched; file descriptors opened inside (sockets)
/// keep the namespace after the thread ends.
pub fn in_netns<T: Send + 'static>(ns: &str, f: impl FnOnce() -> T + Send + 'static) -> T {
    let path = Path::new("/run/netns").join(ns);
    let handle = std::thread::spawn(move || {
        let file = File::open(&path).unwrap_or_else(|e| panic!("lab: cannot open {}: {e}", path.display()));
        // SAFETY: setns() on a valid namespace fd only changes this thread's network namespace.
        let rc = unsafe { libc::setns(file.as_raw_fd(), libc::CLONE_NEWNET) };
        if rc != 0 {
            panic!("lab: setns({}) failed: {}", path.display(), std::io::Error::last_os_error());
        }
        f()
    });
    match handle.join() {
        Ok(value) => value,
        Err(payload) => std::panic::resume_unwind(payload),
    }
}

/// Polls `check` every 50 ms until it returns true or `timeout` passes; returns the last answer.
pub fn wait_until(timeout: Duration, mut check: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + timeout;
    loop {
        if check() {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Random bytes from the kernel, hex-encoded (secrets that differ per lab).
pub fn random_hex(bytes: usize) -> String {
    use std::io::Read;
    let mut buf = vec![0u8; bytes];
    File::open("/dev/urandom").and_then(|mut f| f.read_exact(&mut buf)).expect("lab: read /dev/urandom");
    buf.iter().map(|b| format!("{b:02x}")).collect()
}
