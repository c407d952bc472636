//! The message ids Rust logs with; each is defined in cpp-shim/cloudstack_messages.mes.
#![allow(missing_docs)]
use std::ffi::CStr;

pub const CLOUDSTACK_LOAD_OK: &CStr = c"CLOUDSTACK_LOAD_OK";
pub const CLOUDSTACK_WARMUP_DONE: &CStr = c"CLOUDSTACK_WARMUP_DONE";
pub const CLOUDSTACK_WARMUP_LATE: &CStr = c"CLOUDSTACK_WARMUP_LATE";
pub const CLOUDSTACK_INDEX_KEPT: &CStr = c"CLOUDSTACK_INDEX_KEPT";
pub const CLOUDSTACK_SNAPSHOT_LOADED: &CStr = c"CLOUDSTACK_SNAPSHOT_LOADED";
pub const CLOUDSTACK_SNAPSHOT_REFUSED: &CStr = c"CLOUDSTACK_SNAPSHOT_REFUSED";
pub const CLOUDSTACK_SNAPSHOT_WRITE_FAILED: &CStr = c"CLOUDSTACK_SNAPSHOT_WRITE_FAILED";
pub const CLOUDSTACK_SYNC_STARTED: &CStr = c"CLOUDSTACK_SYNC_STARTED";
pub const CLOUDSTACK_SYNC_FINISHED: &CStr = c"CLOUDSTACK_SYNC_FINISHED";
pub const CLOUDSTACK_SYNC_FAILED: &CStr = c"CLOUDSTACK_SYNC_FAILED";
pub const CLOUDSTACK_SYNC_RECOVERED: &CStr = c"CLOUDSTACK_SYNC_RECOVERED";
pub const CLOUDSTACK_SYNC_SHRINK_HELD: &CStr = c"CLOUDSTACK_SYNC_SHRINK_HELD";
pub const CLOUDSTACK_NIC_REFUSED: &CStr = c"CLOUDSTACK_NIC_REFUSED";
pub const CLOUDSTACK_PREFIX_STEERED: &CStr = c"CLOUDSTACK_PREFIX_STEERED";
pub const CLOUDSTACK_PACKET_REFUSED: &CStr = c"CLOUDSTACK_PACKET_REFUSED";
pub const CLOUDSTACK_SELECT_SKIPPED: &CStr = c"CLOUDSTACK_SELECT_SKIPPED";
pub const CLOUDSTACK_RENEWAL_WITHDRAWN: &CStr = c"CLOUDSTACK_RENEWAL_WITHDRAWN";
pub const CLOUDSTACK_CALLOUT_ERROR: &CStr = c"CLOUDSTACK_CALLOUT_ERROR";

/// Every id above, for the test that keeps this file and the .mes file in step.
pub const ALL: &[&CStr] = &[
    CLOUDSTACK_LOAD_OK, CLOUDSTACK_WARMUP_DONE, CLOUDSTACK_WARMUP_LATE, CLOUDSTACK_INDEX_KEPT, CLOUDSTACK_SNAPSHOT_LOADED,
    CLOUDSTACK_SNAPSHOT_REFUSED, CLOUDSTACK_SNAPSHOT_WRITE_FAILED, CLOUDSTACK_SYNC_STARTED,
    CLOUDSTACK_SYNC_FINISHED, CLOUDSTACK_SYNC_FAILED, CLOUDSTACK_SYNC_RECOVERED, CLOUDSTACK_SYNC_SHRINK_HELD, CLOUDSTACK_NIC_REFUSED,
    CLOUDSTACK_PREFIX_STEERED, CLOUDSTACK_PACKET_REFUSED, CLOUDSTACK_SELECT_SKIPPED,
    CLOUDSTACK_RENEWAL_WITHDRAWN, CLOUDSTACK_CALLOUT_ERROR,
];

#[cfg(test)]
mod tests {
    #[test]
    fn every_id_rust_logs_with_is_documented_in_the_message_file_with_its_argument_count() {
        let mes = include_str!("../../cpp-shim/cloudstack_messages.mes");
        for id in super::ALL {
            let id = id.to_str().unwrap();
            let line = mes.lines().find(|l| l.starts_with(&format!("% {id} ")));
            assert!(line.is_some(), "{id} is missing from cloudstack_messages.mes");
        }
    }
}
