//! The symbols Kea looks up in the library (version, load, unload, the callouts), and the log
//! sink that writes through Kea's logger. A Rust cdylib exports only Rust symbols, so these
//! are defined here and forward to the shim.
use super::bindings::*;
use crate::log::{Level, Sink};
use std::ffi::{c_int, c_void, CStr};
use std::sync::Arc;

#[no_mangle]
pub extern "C" fn version() -> c_int {
    // SAFETY: the shim's function takes no arguments and cannot fail.
    unsafe { kcs_hooks_version() }
}

#[no_mangle]
pub extern "C" fn multi_threading_compatible() -> c_int {
    // All packet-path state is behind locks or atomics; the sync thread owns its own.
    1
}

/// # Safety
/// Kea passes its LibraryHandle.
#[no_mangle]
pub unsafe extern "C" fn load(handle: *mut c_void) -> c_int {
    // SAFETY: the handle is Kea's, valid for the call; the shim catches all exceptions.
    unsafe { kcs_load(handle) }
}

#[no_mangle]
pub extern "C" fn unload() -> c_int {
    // SAFETY: no arguments; the shim catches all exceptions.
    unsafe { kcs_unload() }
}

/// # Safety
/// Kea passes its CalloutHandle.
#[no_mangle]
pub unsafe extern "C" fn pkt6_receive(handle: *mut c_void) -> c_int {
    // SAFETY: the handle is Kea's, valid for the call; the shim catches all exceptions.
    unsafe { kcs_pkt6_receive(handle) }
}

/// # Safety
/// Kea passes its CalloutHandle.
#[no_mangle]
pub unsafe extern "C" fn lease6_select(handle: *mut c_void) -> c_int {
    // SAFETY: as pkt6_receive.
    unsafe { kcs_lease6_select(handle) }
}

/// # Safety
/// Kea passes its CalloutHandle.
#[no_mangle]
pub unsafe extern "C" fn lease6_renew(handle: *mut c_void) -> c_int {
    // SAFETY: as pkt6_receive.
    unsafe { kcs_lease6_renew(handle) }
}

/// # Safety
/// Kea passes its CalloutHandle.
#[no_mangle]
pub unsafe extern "C" fn lease6_rebind(handle: *mut c_void) -> c_int {
    // SAFETY: as pkt6_receive.
    unsafe { kcs_lease6_rebind(handle) }
}

/// # Safety
/// Kea passes its CalloutHandle.
#[no_mangle]
pub unsafe extern "C" fn pkt6_send(handle: *mut c_void) -> c_int {
    // SAFETY: as pkt6_receive.
    unsafe { kcs_pkt6_send(handle) }
}

/// # Safety
/// Kea passes its CalloutHandle.
#[no_mangle]
pub unsafe extern "C" fn dhcp6_srv_configured(handle: *mut c_void) -> c_int {
    // SAFETY: as pkt6_receive.
    unsafe { kcs_dhcp6_srv_configured(handle) }
}

/// # Safety
/// Kea passes its CalloutHandle.
#[no_mangle]
pub unsafe extern "C" fn lease6_release(handle: *mut c_void) -> c_int {
    // SAFETY: as pkt6_receive.
    unsafe { kcs_lease6_release(handle) }
}

// leases6_committed is not exported: the shim's load() registers it only when a hooks library
// listed after this one can read what it adds (see cpp-shim/shim_load.cc).

/// Writes through Kea's "cloudstack-hooks" logger.
struct KeaSink;

fn severity(level: Level) -> (kc_severity, c_int) {
    match level {
        Level::Debug(debug) => (kc_severity::KC_SEV_DEBUG, debug),
        Level::Info => (kc_severity::KC_SEV_INFO, 0),
        Level::Warn => (kc_severity::KC_SEV_WARN, 0),
        Level::Error => (kc_severity::KC_SEV_ERROR, 0),
    }
}

impl Sink for KeaSink {
    fn enabled(&self, level: Level) -> bool {
        let (severity, debug) = severity(level);
        // SAFETY: plain values; the shim catches all exceptions.
        unsafe { kcs_log_enabled(severity, debug) != 0 }
    }

    fn write(&self, level: Level, id: &'static CStr, args: &[String]) {
        let (severity, debug) = severity(level);
        let args: Vec<kc_bytes> = args.iter().map(|a| kc_bytes { ptr: a.as_ptr(), len: a.len() }).collect();
        // The shim reads `id` as a NUL-terminated static string.
        let id = kc_bytes { ptr: id.as_ptr().cast(), len: id.to_bytes().len() };
        // SAFETY: id and args point into live memory for the duration of the call.
        unsafe { kcs_log(severity, debug, id, args.as_ptr(), args.len()) };
    }
}

/// Writes statistics to Kea's StatsMgr.
struct KeaStats;

impl crate::counters::StatSink for KeaStats {
    fn add(&self, name: &str, delta: i64) {
        // SAFETY: name points into live memory for the call.
        unsafe { kcs_stat_add(kc_bytes { ptr: name.as_ptr(), len: name.len() }, delta) };
    }

    fn set(&self, name: &str, value: i64) {
        // SAFETY: as above.
        unsafe { kcs_stat_set(kc_bytes { ptr: name.as_ptr(), len: name.len() }, value) };
    }
}

/// From now on, Rust's log lines go to Kea's logger and its statistics to Kea's StatsMgr.
pub fn route_logs_to_kea() {
    crate::log::set_sink(Some(Arc::new(KeaSink)));
    crate::counters::set_sink(Some(Arc::new(KeaStats)));
}
