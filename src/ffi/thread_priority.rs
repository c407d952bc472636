//! The sync thread yields the CPU to Kea's packet threads: it runs at a lower scheduling priority
//! (Linux keeps a nice value per thread).

/// Nice value of the sync thread: on a busy core it gets about a tenth of the time a packet
/// thread gets, so a large sync stretches out instead of delaying replies.
const SYNC_THREAD_NICE: libc::c_int = 10;

/// Lower the calling thread's priority to `SYNC_THREAD_NICE`; false if the kernel refused.
pub fn lower_this_thread() -> bool {
    // SAFETY: gettid has no preconditions; setpriority only reads its integer arguments and
    // acts on the calling thread (PRIO_PROCESS with a thread id means that thread on Linux).
    unsafe {
        let tid = libc::gettid();
        libc::setpriority(libc::PRIO_PROCESS, tid as libc::id_t, SYNC_THREAD_NICE) == 0
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_lowered_thread_runs_at_the_sync_nice_value_and_others_do_not() {
        let before = std::fs::read_to_string("/proc/thread-self/stat").unwrap();
        let lowered = std::thread::spawn(|| {
            assert!(super::lower_this_thread());
            std::fs::read_to_string("/proc/thread-self/stat").unwrap()
        })
        .join()
        .unwrap();
        let after = std::fs::read_to_string("/proc/thread-self/stat").unwrap();
        assert_eq!(nice_of(&lowered), super::SYNC_THREAD_NICE as i64);
        assert_eq!(nice_of(&after), nice_of(&before), "only the calling thread changes");
    }

    /// Field 19 of /proc/<tid>/stat is the nice value.
    fn nice_of(stat: &str) -> i64 {
        let rest = &stat[stat.rfind(')').unwrap() + 2..];
        rest.split(' ').nth(16).unwrap().parse().unwrap()
    }
}
