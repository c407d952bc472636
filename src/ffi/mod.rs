//! The FFI edge: every `unsafe` of the crate lives in this module. Kea calls the exported
//! symbols below; they forward to the C++ shim, which reads Kea's objects and calls back the
//! `kc_*` functions with plain facts. Nothing here holds a Kea object beyond one call, and
//! no panic crosses into C++.
mod bindings;
pub mod thread_priority;
#[cfg(feature = "kea")]
mod kea_entry;

use crate::delegation::{Query, QueryPlan, Renewal, RenewalVerdict, Reservation, Selection};
use crate::hook::Hook;
use crate::mac::Mac;
use crate::relay::RouterFacts;
use crate::served_vlans::{KeaSubnet, PdPool};
use bindings::*;
use ipnet::Ipv6Net;
use std::ffi::c_char;
use std::net::Ipv6Addr;
use std::panic::{catch_unwind, AssertUnwindSafe};

/// Borrow the bytes of a kc_bytes.
///
/// # Safety
/// `bytes.ptr` must be null or point to `bytes.len` readable bytes that stay valid for `'a`.
unsafe fn slice<'a>(bytes: kc_bytes) -> &'a [u8] {
    if bytes.ptr.is_null() || bytes.len == 0 {
        &[]
    } else {
        // SAFETY: the caller guarantees ptr/len describe live memory for 'a.
        unsafe { std::slice::from_raw_parts(bytes.ptr, bytes.len) }
    }
}

fn prefix_of(prefix: &kc_prefix) -> Option<Ipv6Net> {
    Ipv6Net::new(Ipv6Addr::from(prefix.addr), prefix.len).ok()
}

fn kc_prefix_of(prefix: Ipv6Net) -> kc_prefix {
    kc_prefix { addr: prefix.addr().octets(), len: prefix.prefix_len() }
}

/// A Query over the shim's facts.
///
/// # Safety
/// Every kc_bytes in `facts` must satisfy `slice`'s contract for `'a`.
unsafe fn query_of<'a>(facts: &'a kc_query_facts) -> Query<'a> {
    // SAFETY: forwarded from the caller.
    unsafe {
        Query {
            msg_type: facts.msg_type,
            router: RouterFacts {
                relay_hops: facts.relay_hops,
                interface_id: slice(facts.interface_id),
                link_address: Ipv6Addr::from(facts.link_addr),
                remote_id: slice(facts.remote_id),
                client_link_layer: slice(facts.client_link_layer),
            },
            source: Ipv6Addr::from(facts.remote_addr),
            has_ia_pd: facts.has_ia_pd != 0,
            label: std::str::from_utf8(slice(facts.label)).unwrap_or("?"),
        }
    }
}

/// The reservation in the shim's facts, if one exists.
///
/// # Safety
/// `reservation.hwaddr` must satisfy `slice`'s contract for `'a`.
unsafe fn reservation_of<'a>(reservation: &kc_reservation) -> Option<Reservation<'a>> {
    (reservation.exists != 0).then(|| Reservation {
        // SAFETY: forwarded from the caller.
        hwaddr: unsafe { slice(reservation.hwaddr) },
        duid_matches: reservation.duid_matches != 0,
    })
}

/// Run `body`, turning a panic into `fallback` (and a log line) instead of unwinding into C++.
fn guarded<T>(what: &str, fallback: T, body: impl FnOnce() -> T) -> T {
    match catch_unwind(AssertUnwindSafe(body)) {
        Ok(value) => value,
        Err(payload) => {
            let text = payload
                .downcast_ref::<&str>()
                .map(|s| s.to_string())
                .or_else(|| payload.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "panic".to_string());
            let _ = catch_unwind(|| crate::log_at!(crate::log::Level::Error, CLOUDSTACK_CALLOUT_ERROR, what, text));
            fallback
        }
    }
}

/// Copy `text` into the C buffer `error` of `len` bytes, NUL-terminated, cut if needed.
///
/// # Safety
/// `error` must be null or point to `len` writable bytes.
unsafe fn write_error(text: &str, error: *mut c_char, len: usize) {
    if error.is_null() || len == 0 {
        return;
    }
    let bytes = text.as_bytes();
    let n = bytes.len().min(len - 1);
    // SAFETY: n + 1 <= len bytes are writable per the caller's contract.
    unsafe {
        std::ptr::copy_nonoverlapping(bytes.as_ptr(), error.cast::<u8>(), n);
        *error.add(n) = 0;
    }
}

/// Called by the shim's load(): parse the parameters and start the hook.
///
/// # Safety
/// `parameters` must describe valid bytes and `error` must point to `error_len` writable bytes.
#[no_mangle]
pub unsafe extern "C" fn kc_load(parameters: kc_bytes, error: *mut c_char, error_len: usize) -> i32 {
    #[cfg(feature = "kea")]
    kea_entry::route_logs_to_kea();
    // SAFETY: per this function's contract.
    let json = unsafe { slice(parameters) };
    let outcome = guarded("load", Err("panic while loading".to_string()), || {
        let value: serde_json::Value = serde_json::from_slice(json).map_err(|e| format!("parameters are not JSON: {e}"))?;
        Hook::install(Hook::start(&value)?);
        Ok(())
    });
    match outcome {
        Ok(()) => 0,
        Err(text) => {
            // SAFETY: per this function's contract.
            unsafe { write_error(&text, error, error_len) };
            1
        }
    }
}

/// A control command's answer as a C string the shim frees with kc_string_free (null if the
/// hook is not loaded).
///
/// # Safety
/// `name` and `arguments` must describe valid bytes for the call.
#[no_mangle]
pub unsafe extern "C" fn kc_command(name: kc_bytes, arguments: kc_bytes) -> *mut c_char {
    let Some(hook) = Hook::current() else {
        return std::ptr::null_mut();
    };
    // SAFETY: per this function's contract.
    let (name, arguments) = unsafe { (slice(name), slice(arguments)) };
    let failed = crate::control::answer(crate::control::RESULT_ERROR, "the command failed inside the hook", None);
    let answer = guarded("command", failed, || {
        let name = std::str::from_utf8(name).unwrap_or("?");
        let arguments: Option<serde_json::Value> = serde_json::from_slice(arguments).ok();
        crate::control::run(&hook, name, arguments.as_ref())
    });
    // JSON text has no NUL byte: serde_json escapes U+0000.
    std::ffi::CString::new(answer.to_string()).map_or(std::ptr::null_mut(), std::ffi::CString::into_raw)
}

/// Release a string made by kc_command.
///
/// # Safety
/// `text` must come from kc_command and be released once.
#[no_mangle]
pub unsafe extern "C" fn kc_string_free(text: *mut c_char) {
    if !text.is_null() {
        // SAFETY: made by CString::into_raw in kc_command, released once per the contract.
        drop(unsafe { std::ffi::CString::from_raw(text) });
    }
}

/// Called by the shim's unload(): stop syncing and drop the hook.
#[no_mangle]
pub extern "C" fn kc_unload() {
    guarded("unload", (), Hook::uninstall);
}

/// pkt6_receive's decision.
///
/// # Safety
/// `facts` must point to valid facts whose bytes live for the call; `plan` must be writable.
#[no_mangle]
pub unsafe extern "C" fn kc_plan_query(facts: *const kc_query_facts, plan: *mut kc_query_plan) -> i32 {
    if facts.is_null() || plan.is_null() {
        return -1;
    }
    guarded("pkt6_receive", -1, || {
        let Some(hook) = Hook::current() else { return -1 };
        // Kea's thread: the once-a-second hand-over of the counts to Kea's StatsMgr.
        hook.counters.flush_if_due();
        // SAFETY: checked non-null above; valid per this function's contract.
        let (facts, plan) = unsafe { (&*facts, &mut *plan) };
        // SAFETY: the facts' bytes live for this call.
        let query = unsafe { query_of(facts) };
        *plan = kc_query_plan::default();
        match hook.delegator.plan_query(&query) {
            QueryPlan::Leave => plan.verdict = kc_query_verdict::KC_QUERY_LEAVE,
            QueryPlan::Drop => plan.verdict = kc_query_verdict::KC_QUERY_DROP,
            QueryPlan::Steer(steer) => {
                plan.verdict = kc_query_verdict::KC_QUERY_STEER;
                plan.prefix = kc_prefix_of(steer.prefix);
                plan.mac = steer.mac.0;
                plan.has_mac = 1;
                plan.vlan = steer.vlan;
                let id = steer.nic_id.as_str().as_bytes();
                let n = id.len().min(plan.nic_id.len());
                plan.nic_id[..n].copy_from_slice(&id[..n]);
                plan.nic_id_len = n as u8;
            }
            QueryPlan::Refuse { mac, .. } => {
                plan.verdict = kc_query_verdict::KC_QUERY_REFUSE;
                if let Some(mac) = mac {
                    plan.mac = mac.0;
                    plan.has_mac = 1;
                }
            }
        }
        if plan.has_mac != 0 {
            fault_injection::apply(plan);
        }
        0
    })
}

/// Test-only faults, off unless Kea runs with `KEA_CLOUDSTACK_FAULT_INJECTION=1`: MAC
/// 02:de:ad:00:00:01 makes Rust panic inside a callout, 02:de:ad:00:00:02 makes the shim meet
/// a C++ exception from Kea's own code (a prefix length Kea refuses), 02:de:ad:00:00:03 makes
/// Rust panic while judging lease6_select. The end-to-end tests use them to show that none
/// reaches Kea, and that lease6_select then hands out nothing.
mod fault_injection {
    use super::bindings::{kc_query_plan, kc_query_verdict};
    use once_cell::sync::Lazy;

    const PANIC_MAC: [u8; 6] = [0x02, 0xde, 0xad, 0, 0, 0x01];
    const EXCEPTION_MAC: [u8; 6] = [0x02, 0xde, 0xad, 0, 0, 0x02];
    const SELECTION_PANIC_MAC: [u8; 6] = [0x02, 0xde, 0xad, 0, 0, 0x03];
    static ENABLED: Lazy<bool> = Lazy::new(|| std::env::var("KEA_CLOUDSTACK_FAULT_INJECTION").as_deref() == Ok("1"));

    pub(super) fn apply(plan: &mut kc_query_plan) {
        if !*ENABLED {
            return;
        }
        if plan.mac == PANIC_MAC {
            panic!("injected panic for MAC 02:de:ad:00:00:01");
        }
        if plan.mac == EXCEPTION_MAC {
            plan.verdict = kc_query_verdict::KC_QUERY_STEER;
            plan.prefix.len = 200;
        }
    }

    pub(super) fn in_selection(mac: Option<crate::mac::Mac>) {
        if *ENABLED && mac.is_some_and(|mac| mac.0 == SELECTION_PANIC_MAC) {
            panic!("injected panic in lease6_select for MAC 02:de:ad:00:00:03");
        }
    }
}

/// lease6_select's decision on a delegated prefix. Fails closed: whatever goes wrong here
/// (no hook, a panic, an unreadable prefix), Kea must not hand out its first free candidate,
/// which is another NIC's prefix.
///
/// # Safety
/// `facts` must point to valid facts whose bytes live for the call.
#[no_mangle]
pub unsafe extern "C" fn kc_judge_selection(facts: *const kc_selection_facts) -> kc_selection_verdict {
    const SKIP: kc_selection_verdict = kc_selection_verdict::KC_SELECTION_SKIP;
    if facts.is_null() {
        return SKIP;
    }
    guarded("lease6_select", SKIP, || {
        let Some(hook) = Hook::current() else { return SKIP };
        // SAFETY: checked non-null; valid per this function's contract.
        let facts = unsafe { &*facts };
        if facts.is_pd == 0 {
            return kc_selection_verdict::KC_SELECTION_ACCEPT; // addresses are not ours to judge
        }
        let Some(lease) = prefix_of(&facts.lease) else { return SKIP };
        let selection = Selection {
            lease,
            planned: if facts.has_plan != 0 { prefix_of(&facts.planned) } else { None },
            planned_ia: facts.planned_ia != 0,
            mac: (facts.has_mac != 0).then_some(Mac(facts.mac)),
            // SAFETY: the facts' bytes live for this call.
            reservation: unsafe { reservation_of(&facts.reservation) },
            // SAFETY: the label lives for this call.
            label: std::str::from_utf8(unsafe { slice(facts.label) }).unwrap_or("?"),
        };
        fault_injection::in_selection(selection.mac);
        if hook.delegator.judge_selection(&selection) {
            kc_selection_verdict::KC_SELECTION_ACCEPT
        } else {
            kc_selection_verdict::KC_SELECTION_SKIP
        }
    })
}

/// lease6_renew / lease6_rebind's decision.
///
/// # Safety
/// `facts` must point to valid facts whose bytes live for the call.
#[no_mangle]
pub unsafe extern "C" fn kc_judge_renewal(facts: *const kc_renewal_facts) -> kc_renewal_verdict {
    if facts.is_null() {
        return kc_renewal_verdict::KC_RENEWAL_KEEP;
    }
    guarded("lease6_renew", kc_renewal_verdict::KC_RENEWAL_KEEP, || {
        let Some(hook) = Hook::current() else { return kc_renewal_verdict::KC_RENEWAL_KEEP };
        // SAFETY: checked non-null; valid per this function's contract.
        let facts = unsafe { &*facts };
        let Some(lease) = prefix_of(&facts.lease) else { return kc_renewal_verdict::KC_RENEWAL_KEEP };
        // SAFETY: the facts' bytes live for this call.
        let recorded = unsafe { slice(facts.recorded_mac) };
        let renewal = Renewal {
            // SAFETY: as above.
            query: unsafe { query_of(&facts.query) },
            lease,
            recorded_mac: std::str::from_utf8(recorded).ok().and_then(Mac::parse_text),
            // SAFETY: as above.
            reservation: unsafe { reservation_of(&facts.reservation) },
            has_details: facts.has_details != 0,
        };
        match hook.delegator.judge_renewal(&renewal) {
            RenewalVerdict::Keep => kc_renewal_verdict::KC_RENEWAL_KEEP,
            RenewalVerdict::Withdraw => kc_renewal_verdict::KC_RENEWAL_WITHDRAW,
            RenewalVerdict::Foreign => kc_renewal_verdict::KC_RENEWAL_FOREIGN,
            RenewalVerdict::NeedsDetails => kc_renewal_verdict::KC_RENEWAL_NEED_DETAILS,
        }
    })
}

/// lease6_release's decision: 1 lets the Release free the prefix, 0 keeps the lease.
///
/// # Safety
/// `facts` must point to valid facts whose bytes live for the call.
#[no_mangle]
pub unsafe extern "C" fn kc_judge_release(facts: *const kc_release_facts) -> i32 {
    if facts.is_null() {
        return 1;
    }
    guarded("lease6_release", 1, || {
        let Some(hook) = Hook::current() else { return 1 };
        // SAFETY: checked non-null; valid per this function's contract, bytes live for the call.
        let (query, recorded) = unsafe { (query_of(&(*facts).query), slice((*facts).recorded_mac)) };
        let recorded = std::str::from_utf8(recorded).ok().and_then(Mac::parse_text);
        i32::from(hook.delegator.allows_release(&query, recorded))
    })
}

/// A statistic command is about to read Kea's StatsMgr: hand it the current counts first. Kea's
/// thread only.
#[no_mangle]
pub extern "C" fn kc_stats_flush() {
    guarded("statistics", (), || {
        if let Some(hook) = Hook::current() {
            hook.counters.flush();
        }
    });
}

/// pkt6_send saw a Reply delegating the planned prefix.
#[no_mangle]
pub extern "C" fn kc_count_delegation() {
    guarded("pkt6_send", (), || {
        if let Some(hook) = Hook::current() {
            hook.delegator.count_delegation();
        }
    });
}

/// dhcp6_srv_configured's check: does Kea's configuration serve every VLAN of the hook?
///
/// # Safety
/// `subnets` must point to `count` valid subnet facts (each with `pool_count` pools) whose bytes
/// live for the call; `error` must point to `error_len` writable bytes.
#[no_mangle]
pub unsafe extern "C" fn kc_check_subnets(subnets: *const kc_subnet_facts, count: usize, error: *mut c_char, error_len: usize) -> i32 {
    let facts: &[kc_subnet_facts] = if subnets.is_null() || count == 0 {
        &[]
    } else {
        // SAFETY: per this function's contract.
        unsafe { std::slice::from_raw_parts(subnets, count) }
    };
    let outcome = guarded("dhcp6_srv_configured", Err("panic while checking Kea's subnets".to_string()), || {
        let Some(hook) = Hook::current() else { return Ok(()) };
        let subnets: Vec<KeaSubnet<'_>> = facts
            .iter()
            .map(|subnet| {
                let pools: &[kc_pd_pool] = if subnet.pools.is_null() || subnet.pool_count == 0 {
                    &[]
                } else {
                    // SAFETY: per this function's contract.
                    unsafe { std::slice::from_raw_parts(subnet.pools, subnet.pool_count) }
                };
                KeaSubnet {
                    id: subnet.subnet_id,
                    prefix: prefix_of(&subnet.prefix),
                    // SAFETY: per this function's contract.
                    interface_id: unsafe { slice(subnet.interface_id) },
                    pd_pools: pools
                        .iter()
                        .map(|p| PdPool { first: Ipv6Addr::from(p.first), last: Ipv6Addr::from(p.last), delegated_len: p.delegated_len })
                        .collect(),
                }
            })
            .collect();
        crate::served_vlans::check(&hook.cfg, &subnets)
    });
    match outcome {
        Ok(()) => 0,
        Err(text) => {
            crate::log_at!(crate::log::Level::Error, CLOUDSTACK_CONFIG_MISMATCH, text);
            // SAFETY: per this function's contract.
            unsafe { write_error(&text, error, error_len) };
            1
        }
    }
}

/// dhcp6_srv_configured's check: is the hook listed before Kea's HA hook?
///
/// # Safety
/// `libraries` must point to `count` kc_bytes and each, like `own`, must satisfy `slice`'s
/// contract for the call; `error` must point to `error_len` writable bytes.
#[no_mangle]
pub unsafe extern "C" fn kc_check_library_order(
    libraries: *const kc_bytes,
    count: usize,
    own: kc_bytes,
    error: *mut c_char,
    error_len: usize,
) -> i32 {
    let entries: &[kc_bytes] = if libraries.is_null() || count == 0 {
        &[]
    } else {
        // SAFETY: per this function's contract.
        unsafe { std::slice::from_raw_parts(libraries, count) }
    };
    // SAFETY: per this function's contract.
    let names: Vec<&str> = entries.iter().map(|e| std::str::from_utf8(unsafe { slice(*e) }).unwrap_or("")).collect();
    // SAFETY: per this function's contract.
    let own = std::str::from_utf8(unsafe { slice(own) }).unwrap_or("");
    let outcome = guarded("dhcp6_srv_configured", Err("panic while checking the hooks-libraries order".to_string()), || {
        crate::library_order::check(&names, own)
    });
    match outcome {
        Ok(()) => 0,
        Err(text) => {
            crate::log_at!(crate::log::Level::Error, CLOUDSTACK_LIBRARY_ORDER, text);
            // SAFETY: per this function's contract.
            unsafe { write_error(&text, error, error_len) };
            1
        }
    }
}
