//! `cloudstack-status`: the index, the last syncs, the counters.
use super::{answer, RESULT_SUCCESS};
use crate::counters::Stat;
use crate::hook::Hook;
use crate::cloudstack::signature::iso8601_utc;
use serde_json::{json, Map, Value};
use std::time::{Instant, SystemTime};

/// How many refused NICs the answer lists (the count is always whole).
const REFUSED_LISTED: usize = 100;

/// The status answer.
pub fn status(hook: &Hook) -> Value {
    let index = hook.index.current();
    let sync = hook.refresher.status();
    let per_vlan = index.per_vlan();
    let vlans: Vec<Value> = hook
        .cfg
        .vlans
        .iter()
        .map(|v| {
            let mut entry = json!({"vlan": v.vlan, "prefix": v.prefix.to_string(), "nics": per_vlan.get(&v.slot).copied().unwrap_or(0)});
            if let Some(id) = &v.interface_id {
                entry["interface-id"] = json!(id.text);
            }
            if let Some(link) = &v.link_prefix {
                entry["link-prefix"] = json!(link.to_string());
            }
            if let Some(zone) = &v.zone_id {
                entry["zone-id"] = json!(zone);
            }
            entry
        })
        .collect();
    let age = |t: Option<SystemTime>| t.and_then(|t| SystemTime::now().duration_since(t).ok()).map(|d| d.as_secs());
    let last_result = match (&sync.last_error, sync.last_finished) {
        (_, None) => "none yet".to_string(),
        (None, Some(_)) => "ok".to_string(),
        (Some(error), Some(_)) => format!("failed: {error}"),
    };
    let refused: Vec<Value> = index
        .refused()
        .iter()
        .take(REFUSED_LISTED)
        .map(|r| json!({"nic-id": r.nic_id, "vm-id": r.vm_id, "vlan": r.vlan, "mac": r.mac.map(|m| m.to_string()), "reason": r.reason}))
        .collect();
    let counters: Map<String, Value> = Stat::ALL.iter().map(|s| (s.name().to_string(), json!(hook.counters.get(*s)))).collect();
    let arguments = json!({
        "nics": index.len(),
        "vms-read": index.vms_read(),
        "authoritative": hook.index.is_authoritative(),
        "authority": {
            "max-age-seconds": hook.cfg.authority_max_age.as_secs(),
            "seconds-left": hook.index.authority_left().as_secs(),
            "last-complete-listing": sync.last_complete.map(iso8601_utc),
            "withdrawals": if hook.index.is_authoritative() { "on" } else { "off: no complete listing younger than authority-max-age" },
        },
        "last-listing-incomplete": sync.last_incomplete,
        "vlans": vlans,
        "sync-running": sync.running,
        "last-sync": {
            "finished": sync.last_finished.map(iso8601_utc),
            "age-seconds": age(sync.last_finished),
            "duration-ms": sync.last_duration.map(|d| d.as_millis() as u64),
            "result": last_result,
        },
        "last-success": sync.last_success.map(iso8601_utc),
        "failures-in-row": sync.failures_in_row,
        "event-sync": {
            "state": match (&sync.events, hook.cfg.event_interval) {
                (_, None) => "off (event-interval 0)".to_string(),
                (events, Some(_)) if events.last_error.is_some() => format!("failing: {}", events.last_error.as_deref().unwrap_or("")),
                (events, Some(_)) if !events.anchored => "waiting for a full listing to start from".to_string(),
                _ => "on".to_string(),
            },
            "interval-seconds": hook.cfg.event_interval.map_or(0, |d| d.as_secs()),
            "polls": sync.events.polls,
            "last-poll": sync.events.last_poll.map(iso8601_utc),
            "vms-applied": sync.events.vms_applied,
            "vms-removed": sync.events.vms_removed,
            "gaps": sync.events.gaps,
            "unconfirmed": sync.events.unconfirmed,
        },
        "next-sync-seconds": sync.next_periodic.map(|t| t.saturating_duration_since(Instant::now()).as_secs()),
        "refused-count": index.refused_count(),
        "refused": refused,
        "counters": counters,
    });
    let text = format!("{} NICs on {} VLANs; last sync {last_result}", index.len(), per_vlan.len());
    answer(RESULT_SUCCESS, text, Some(arguments))
}
