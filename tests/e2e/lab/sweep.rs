//! Leftovers of labs whose test process died without dropping them (SIGKILL, abort, a CI timeout).
//!
//! Both containers of a lab carry the owning process id as a label; once per process, labs whose owner is gone
//! lose their containers, namespaces and directory.
use std::sync::Once;

use super::host::{output, run_quietly};

/// Docker label naming the process that owns a lab's containers.
pub const OWNER_LABEL: &str = "kc-lab-owner";

static SWEPT: Once = Once::new();

/// Removes labs whose owning process has exited (at most once per test process).
pub fn sweep_dead_labs() {
    SWEPT.call_once(|| {
        let format = format!("{{{{.Names}}}}\t{{{{.Label \"{OWNER_LABEL}\"}}}}");
        let listed = output("docker", &["ps", "-a", "--filter", &format!("label={OWNER_LABEL}"), "--format", &format]);
        let namespaces = String::from_utf8_lossy(&output("ip", &["netns", "list"]).stdout).into_owned();
        for line in String::from_utf8_lossy(&listed.stdout).lines() {
            let Some((name, owner)) = line.split_once('\t') else { continue };
            let Ok(owner) = owner.trim().parse::<i32>() else { continue };
            if owner_alive(owner) {
                continue;
            }
            run_quietly("docker", &["rm", "-f", name]);
            let Some(id) = name.strip_prefix("kc-").and_then(|rest| rest.strip_suffix("-net")) else { continue };
            for ns in namespaces.lines().filter_map(|l| l.split_whitespace().next()) {
                if ns.starts_with(&format!("kc-{id}-")) {
                    run_quietly("ip", &["netns", "del", ns]);
                }
            }
            let _ = std::fs::remove_dir_all(std::env::temp_dir().join(format!("kc-lab-{id}")));
        }
    });
}

fn owner_alive(pid: i32) -> bool {
    if pid == std::process::id() as i32 {
        return true;
    }
    // SAFETY: kill() with signal 0 only checks that the process exists.
    let rc = unsafe { libc::kill(pid, 0) };
    rc == 0 || std::io::Error::last_os_error().raw_os_error() == Some(libc::EPERM)
}
