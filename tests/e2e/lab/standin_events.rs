//! The stand-in's NIC, event-log and event-clock controls: changes that write CloudStack's events, the log itself,
//! purges that leave gaps, and the clock events are stamped with (see the stand-in's `control_vms.rs` and
//! `control_events.rs`).
use serde_json::{json, Value};

use super::standin::{HttpAnswer, Standin};

impl Standin {
    /// Gives a VM one more NIC (a NIC object with an `id`), writing `NIC.CREATE` events.
    pub fn add_nic(&self, vm_id: &str, nic: Value) {
        self.control("POST", &format!("/control/vms/{vm_id}/nics"), Some(&nic));
    }

    /// Replaces a VM's NIC by `nic` (its id kept), writing `NIC.UPDATE` events.
    pub fn update_nic(&self, vm_id: &str, nic_id: &str, nic: Value) {
        self.control("PUT", &format!("/control/vms/{vm_id}/nics/{nic_id}"), Some(&nic));
    }

    /// Removes a VM's NIC, writing `NIC.DELETE` events.
    pub fn remove_nic(&self, vm_id: &str, nic_id: &str) {
        self.control("DELETE", &format!("/control/vms/{vm_id}/nics/{nic_id}"), None);
    }

    /// Writes the events of another command on a VM: `VM.MIGRATE` and `VM.MOVE` as CloudStack writes them, any
    /// other type as a generic async command (`POST /control/events`).
    pub fn write_events(&self, kind: &str, vm_id: &str) {
        self.control("POST", "/control/events", Some(&json!({ "type": kind, "vm": vm_id })));
    }

    /// Every event kept, oldest first, as `listEvents` writes them (`GET /control/events`).
    pub fn events(&self) -> Vec<Value> {
        let answer = self.control("GET", "/control/events", None);
        serde_json::from_str(&answer.body)
            .unwrap_or_else(|e| panic!("lab: stand-in /control/events is not a list ({e}): {}", answer.body))
    }

    /// Purges every event older than event `id` (a UUID; it stays), as `event.purge.delay` would: a gap only a
    /// full listing crosses. Returns how many were purged.
    pub fn drop_events_before(&self, id: &str) -> u64 {
        let answer = self.control("DELETE", &format!("/control/events?before={id}"), None);
        purged(&answer)
    }

    /// Purges every event. Returns how many there were.
    pub fn drop_all_events(&self) -> u64 {
        purged(&self.control("DELETE", "/control/events", None))
    }

    /// Stops the clock events are stamped with at `unix` seconds (signatures keep to real time).
    pub fn freeze_clock(&self, unix: i64) {
        self.control("PUT", "/control/clock", Some(&json!({ "now": unix })));
    }

    /// Moves the event clock `seconds` forward, frozen or running.
    pub fn advance_clock(&self, seconds: i64) {
        self.control("PUT", "/control/clock", Some(&json!({ "advance": seconds })));
    }

    /// Back to real time for event stamps.
    pub fn resume_clock(&self) {
        self.control("DELETE", "/control/clock", None);
    }
}

/// The `purged` count of a `DELETE /control/events` answer.
fn purged(answer: &HttpAnswer) -> u64 {
    let body: Value = serde_json::from_str(&answer.body).unwrap_or_default();
    body["purged"].as_u64().unwrap_or_else(|| panic!("lab: stand-in DELETE /control/events answered {}", answer.body))
}
