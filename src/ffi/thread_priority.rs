//! The sync thread yields the CPU to Kea's packet threads. It runs under SCHED_IDLE: any Kea
//! thread that wakes up for a packet takes the core from it at once, and it uses what the packet
//! threads leave. Should the kernel refuse that, it settles for nice 10.

/// Nice value of the sync thread when SCHED_IDLE is refused.
const FALLBACK_NICE: libc::c_int = 10;

/// How the calling thread ended up being scheduled.
#[derive(Debug, PartialEq, Eq)]
pub enum Lowered {
    Idle,
    Nice,
    Unchanged,
}

/// Lower the calling thread's priority below Kea's packet threads.
pub fn lower_this_thread() -> Lowered {
    // SAFETY: a zeroed sched_param (priority 0) is what SCHED_IDLE requires; sched_setscheduler
    // with pid 0 and setpriority with the thread's own id act on the calling thread only and read
    // nothing but their arguments.
    unsafe {
        let param: libc::sched_param = std::mem::zeroed();
        if libc::sched_setscheduler(0, libc::SCHED_IDLE, &param) == 0 {
            return Lowered::Idle;
        }
        let tid = libc::gettid();
        if libc::setpriority(libc::PRIO_PROCESS, tid as libc::id_t, FALLBACK_NICE) == 0 {
            return Lowered::Nice;
        }
    }
    Lowered::Unchanged
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_lowered_thread_runs_under_sched_idle_and_others_do_not() {
        let before = policy_of(&std::fs::read_to_string("/proc/thread-self/stat").unwrap());
        let lowered = std::thread::spawn(|| {
            assert_eq!(super::lower_this_thread(), super::Lowered::Idle);
            std::fs::read_to_string("/proc/thread-self/stat").unwrap()
        })
        .join()
        .unwrap();
        assert_eq!(policy_of(&lowered), libc::SCHED_IDLE as i64);
        let after = policy_of(&std::fs::read_to_string("/proc/thread-self/stat").unwrap());
        assert_eq!(after, before, "only the calling thread changes");
    }

    /// Field 41 of /proc/<tid>/stat is the scheduling policy.
    fn policy_of(stat: &str) -> i64 {
        let rest = &stat[stat.rfind(')').unwrap() + 2..];
        rest.split(' ').nth(38).unwrap().parse().unwrap()
    }
}
