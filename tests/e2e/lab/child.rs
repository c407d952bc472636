//! Long-lived helper processes of a lab (stand-in, relay, dhclient): output kept, killed on drop.
use std::io::Read;
use std::os::unix::process::CommandExt;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use super::host::wait_until;

/// A child process whose stdout and stderr are collected in the background and which is killed on drop.
pub struct Daemon {
    what: String,
    child: Child,
    output: Arc<Mutex<String>>,
}

impl Daemon {
    /// Starts `cmd`; `what` names it in panic messages.
    ///
    /// The child also dies with the thread that started it (PR_SET_PDEATHSIG), so a test process killed before
    /// its labs drop leaves no helper behind.
    pub fn spawn(what: &str, mut cmd: Command) -> Daemon {
        // SAFETY: the hook runs between fork and exec and only calls prctl(), which is async-signal-safe.
        unsafe {
            cmd.pre_exec(|| {
                if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL) != 0 {
                    return Err(std::io::Error::last_os_error());
                }
                Ok(())
            });
        }
        let mut child = cmd
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("lab: cannot start {what} ({cmd:?}): {e}"));
        let output = Arc::new(Mutex::new(String::new()));
        let stdout = child.stdout.take().expect("piped stdout");
        let stderr = child.stderr.take().expect("piped stderr");
        drain(stdout, Arc::clone(&output));
        drain(stderr, Arc::clone(&output));
        Daemon { what: what.to_string(), child, output }
    }

    /// Everything the process printed so far (stdout and stderr interleaved by arrival).
    pub fn output(&self) -> String {
        self.output.lock().unwrap().clone()
    }

    /// The process id (of the program itself: `ip netns exec` replaces itself with it).
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// True while the process has not exited.
    pub fn is_running(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }

    /// How the process ended (None while it runs).
    pub fn exit_status(&mut self) -> Option<std::process::ExitStatus> {
        self.child.try_wait().ok().flatten()
    }

    /// Waits until the output contains `needle`; panics with the output if the process dies or time runs out.
    pub fn expect_output(&mut self, needle: &str, timeout: Duration) {
        let mut died = false;
        let found = wait_until(timeout, || {
            if self.output().contains(needle) {
                return true;
            }
            died = !self.is_running();
            died
        });
        // A process may print the needle and exit in the same instant.
        if self.output().contains(needle) {
            return;
        }
        let why = if died && found { "exited" } else { "timed out" };
        panic!("lab: {} {why} before printing {needle:?}; its output:\n{}", self.what, self.output());
    }

    /// Sends SIGTERM, then SIGKILL if it has not gone after a second; reaps it.
    pub fn stop(&mut self) {
        if self.is_running() {
            // SAFETY: kill() with our own child's pid and a valid signal number.
            unsafe { libc::kill(self.child.id() as libc::pid_t, libc::SIGTERM) };
            if !wait_until(Duration::from_secs(1), || !self.is_running()) {
                let _ = self.child.kill();
            }
        }
        let _ = self.child.wait();
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        self.stop();
    }
}

fn drain(mut source: impl Read + Send + 'static, sink: Arc<Mutex<String>>) {
    std::thread::spawn(move || {
        let mut buf = [0u8; 4096];
        while let Ok(n) = source.read(&mut buf) {
            if n == 0 {
                break;
            }
            sink.lock().unwrap().push_str(&String::from_utf8_lossy(&buf[..n]));
        }
    });
}
