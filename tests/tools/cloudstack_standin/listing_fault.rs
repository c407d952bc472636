//! Faults that move the VM listing while a client pages through it, the way churn on a real cloud does.
//!
//! CloudStack answers one page with three queries (`QueryManagerImpl.searchForUserVMIdsAndCount`, then
//! `searchForUserVMsInternal`): the page's VM ids by LIMIT/OFFSET over ascending internal ids, the `count` of all
//! matching VMs, then the details of those ids. Between two pages of a client, or between those queries, VMs are
//! created, expunged or come into view; each fault below is one of those moves, made when a chosen page is asked for.
//!
//! A listing fault fires on a signed full-listing request (no `id`/`ids`) for page `page` of the pass `projectid`
//! names (absent: the pass without `projectid`, the hook's first). It changes the cloud, or only the answer, before
//! that page is answered; `times` counts the requests it fired on. One that stays armed fires on every such page:
//! the cloud-changing ones then find their change made and do nothing more.

use parking_lot::RwLock;
use serde::{Deserialize, Serialize};

use crate::api_error::ApiError;
use crate::cloud::{Cloud, Vm};
use crate::fault::Fault;
use crate::list_vms::{self, ListRequest};
use crate::state::Standin;

/// One way the listing moves, set with `PUT /control/fault` like every fault.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "mode", rename_all = "kebab-case")]
pub enum ListingFault {
    /// VM `id` is expunged just before page `page` is answered. If it sat on an earlier page, every VM after it
    /// moves up one place: the VM that would have opened page `page` is now the last of page `page - 1`, which the
    /// client already has, so the client never sees it. `count` in that answer is the new total.
    ExpungeWhilePaging {
        /// The page asked for.
        page: i64,
        /// The VM expunged.
        id: String,
        /// The pass: a `projectid` value, or absent for the pass without one.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        projectid: Option<String>,
    },
    /// Page `page` comes back one VM short: VM `id` when it is on that page, else the page's first VM. What a VM
    /// gone between the ids query and the details query looks like: `count` still includes it, and the cloud keeps
    /// it, so the next listing sees it again.
    ShortPage {
        /// The page asked for.
        page: i64,
        /// The VM left out; absent: the page's first.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        id: Option<String>,
        /// The pass: a `projectid` value, or absent for the pass without one.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        projectid: Option<String>,
    },
    /// `vm` is created just before page `page` is answered. It gets the highest internal id, so it comes last in
    /// the listing; `count` is one more from page `page` on than on the pages before.
    CountChange {
        /// The page asked for.
        page: i64,
        /// The VM created (a cloud-file VM object).
        vm: Box<Vm>,
        /// The pass: a `projectid` value, or absent for the pass without one.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        projectid: Option<String>,
    },
    /// `vm` comes into view before every other VM just before page `page` (2 or more) is answered, as when a VM
    /// with a low internal id moves into the listed account or project: the OFFSET now falls one VM earlier, so
    /// page `page` starts with the last VM of page `page - 1` and the client sees that VM twice. `count` is one
    /// more from page `page` on; this pass never shows `vm` itself, the next listing does.
    DuplicateAcrossPages {
        /// The page asked for.
        page: i64,
        /// The VM that comes into view (a cloud-file VM object).
        vm: Box<Vm>,
        /// The pass: a `projectid` value, or absent for the pass without one.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        projectid: Option<String>,
    },
}

impl ListingFault {
    /// Name used in the request log (the `mode` value).
    pub fn name(&self) -> &'static str {
        match self {
            ListingFault::ExpungeWhilePaging { .. } => "expunge-while-paging",
            ListingFault::ShortPage { .. } => "short-page",
            ListingFault::CountChange { .. } => "count-change",
            ListingFault::DuplicateAcrossPages { .. } => "duplicate-across-pages",
        }
    }

    fn trigger(&self) -> (i64, Option<&str>) {
        match self {
            ListingFault::ExpungeWhilePaging { page, projectid, .. }
            | ListingFault::ShortPage { page, projectid, .. }
            | ListingFault::CountChange { page, projectid, .. }
            | ListingFault::DuplicateAcrossPages { page, projectid, .. } => (*page, projectid.as_deref()),
        }
    }

    /// Sanity checks of a setting; `Err` says what is wrong.
    pub fn check(&self) -> Result<(), String> {
        let (page, _) = self.trigger();
        match self {
            ListingFault::DuplicateAcrossPages { .. } if page < 2 => {
                Err(format!("duplicate-across-pages needs a page before it: page must be 2 or more, not {page}"))
            }
            _ if page < 1 => Err(format!("page must be 1 or more, not {page}")),
            _ => Ok(()),
        }
    }

    /// Whether this fault fires on `request`.
    pub fn fires_on(&self, request: &ListRequest) -> bool {
        let (page, projectid) = self.trigger();
        request.is_listing_page(page, projectid)
    }

    /// Makes the move and answers `request` from the cloud as it is then.
    fn answer(&self, cloud: &RwLock<Cloud>, request: &ListRequest) -> Result<String, ApiError> {
        // One write lock for the move and the answer, so no other request sees the cloud in between.
        let mut cloud = cloud.write();
        match self {
            ListingFault::ExpungeWhilePaging { id, .. } => {
                cloud.expunge(id);
            }
            // An `Err` means the VM is there already (an earlier firing made it): nothing more to do.
            ListingFault::CountChange { vm, .. } => {
                let _ = cloud.add(Vm::clone(vm));
            }
            ListingFault::DuplicateAcrossPages { vm, .. } => {
                let _ = cloud.add_first(Vm::clone(vm));
            }
            ListingFault::ShortPage { .. } => {}
        }
        let mut selection = list_vms::select(&cloud, request)?;
        if let ListingFault::ShortPage { id, .. } = self {
            let left_out = id.as_deref().and_then(|id| selection.vms.iter().position(|vm| vm.id == id)).unwrap_or(0);
            if left_out < selection.vms.len() {
                selection.vms.remove(left_out);
            }
        }
        Ok(selection.to_json())
    }
}

/// The answer to a verified listing request, moved by the armed listing fault when it fires on this request; the
/// second value names that fault for the request log.
pub fn answer(standin: &Standin, request: &ListRequest) -> (Result<String, ApiError>, Option<&'static str>) {
    match standin.faults.fire(|fault| matches!(fault, Fault::Listing(listing) if listing.fires_on(request))) {
        Some(Fault::Listing(fault)) => (fault.answer(&standin.cloud, request), Some(fault.name())),
        _ => (list_vms::answer(&standin.cloud.read(), request), None),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fault::FaultSetting;
    use serde_json::json;

    #[test]
    fn every_listing_mode_is_understood_and_shown_as_given() {
        for text in [
            json!({"mode": "expunge-while-paging", "page": 3, "id": "vm-a"}),
            json!({"mode": "expunge-while-paging", "page": 1, "id": "vm-a", "projectid": "-1"}),
            json!({"mode": "short-page", "page": 2}),
            json!({"mode": "short-page", "page": 2, "id": "vm-b", "times": 1}),
            json!({"mode": "count-change", "page": 2, "vm": {"id": "new", "name": "new", "zoneid": "z1"}}),
            json!({"mode": "duplicate-across-pages", "page": 2, "vm": {"id": "low", "name": "low", "zoneid": "z1"}}),
        ] {
            let setting = FaultSetting::from_json(&text.to_string()).unwrap_or_else(|e| panic!("{text}: {e}"));
            assert!(matches!(setting.fault, Fault::Listing(_)), "{text}");
            let shown: serde_json::Value = serde_json::to_value(&setting).unwrap();
            assert_eq!(shown["mode"], text["mode"]);
            assert_eq!(shown["page"], text["page"]);
        }
    }

    #[test]
    fn listing_settings_that_cannot_fire_are_refused() {
        for text in [
            json!({"mode": "expunge-while-paging", "page": 3}),
            json!({"mode": "expunge-while-paging", "page": 0, "id": "vm-a"}),
            json!({"mode": "short-page"}),
            json!({"mode": "count-change", "page": 2}),
            json!({"mode": "count-change", "page": 2, "vm": {"id": "no-zone", "name": "x"}}),
            json!({"mode": "duplicate-across-pages", "page": 1, "vm": {"id": "low", "name": "low", "zoneid": "z1"}}),
        ] {
            assert!(FaultSetting::from_json(&text.to_string()).is_err(), "{text}");
        }
    }
}
