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
//! the cloud-changing ones then find their change made and do nothing more. A change to the cloud writes the events
//! CloudStack writes for it (`VM.EXPUNGE`, `VM.CREATE`, `VM.MOVE`; see `event_actions.rs`).

use serde::{Deserialize, Serialize};

use crate::api_error::ApiError;
use crate::cloud::{Cloud, Vm};
use crate::event_actions::Action;
use crate::latency::Work;
use crate::list_vms::{self, ListRequest, Selection};
use crate::state::Standin;

/// What every listing fault does; each one is a `Fault` variant of its own, set with `PUT /control/fault`.
pub trait ListingMove {
    /// The page number and the pass (a `projectid` value; `None`: the pass without one) it fires on.
    fn trigger(&self) -> (i64, Option<&str>);

    /// The smallest page it can fire on.
    fn first_page(&self) -> i64 {
        1
    }

    /// Changes the cloud before the page is selected; returns what was done to which VM, for the event log.
    fn move_cloud(&self, _cloud: &mut Cloud) -> Option<(Action, Vm)> {
        None
    }

    /// Changes the selected page before it is written out.
    fn reshape(&self, _selection: &mut Selection<'_>) {}
}

/// VM `id` is expunged just before page `page` is answered. If it sat on an earlier page, every VM after it moves up
/// one place: the VM that would have opened page `page` is now the last of page `page - 1`, which the client
/// already has, so the client never sees it. `count` in that answer is the new total.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ExpungeWhilePaging {
    /// The page asked for.
    pub page: i64,
    /// The VM expunged.
    pub id: String,
    /// The pass: a `projectid` value, or absent for the pass without one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub projectid: Option<String>,
}

/// Page `page` comes back one VM short: VM `id` when it is on that page, else the page's first VM. What a VM gone
/// between the ids query and the details query looks like: `count` still includes it, and the cloud keeps it, so
/// the next listing sees it again. (A page of one VM then comes back empty, `{}`, as the stand-in's empty pages do.)
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ShortPage {
    /// The page asked for.
    pub page: i64,
    /// The VM left out; absent: the page's first.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// The pass: a `projectid` value, or absent for the pass without one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub projectid: Option<String>,
}

/// `vm` is created just before page `page` is answered. It gets the highest internal id, so it comes last in the
/// listing; `count` is one more from page `page` on than on the pages before.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CountChange {
    /// The page asked for.
    pub page: i64,
    /// The VM created (a cloud-file VM object).
    pub vm: Box<Vm>,
    /// The pass: a `projectid` value, or absent for the pass without one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub projectid: Option<String>,
}

/// `vm` comes into view before every other VM just before page `page` (2 or more) is answered, as when a VM with a
/// low internal id moves into the listed account or project: the OFFSET now falls one VM earlier, so page `page`
/// starts with the last VM of page `page - 1` and the client sees that VM twice. `count` is one more from page
/// `page` on; this pass never shows `vm` itself, the next listing does.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DuplicateAcrossPages {
    /// The page asked for.
    pub page: i64,
    /// The VM that comes into view (a cloud-file VM object).
    pub vm: Box<Vm>,
    /// The pass: a `projectid` value, or absent for the pass without one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub projectid: Option<String>,
}

impl ListingMove for ExpungeWhilePaging {
    fn trigger(&self) -> (i64, Option<&str>) {
        (self.page, self.projectid.as_deref())
    }

    fn move_cloud(&self, cloud: &mut Cloud) -> Option<(Action, Vm)> {
        // `None` once an earlier firing expunged it: nothing more to do.
        cloud.expunge_vm(&self.id).map(|vm| (Action::Expunge, vm))
    }
}

impl ListingMove for ShortPage {
    fn trigger(&self) -> (i64, Option<&str>) {
        (self.page, self.projectid.as_deref())
    }

    fn reshape(&self, selection: &mut Selection<'_>) {
        let named = self.id.as_deref().and_then(|id| selection.vms.iter().position(|vm| vm.id == id));
        let left_out = named.unwrap_or(0);
        if left_out < selection.vms.len() {
            selection.vms.remove(left_out);
        }
    }
}

impl ListingMove for CountChange {
    fn trigger(&self) -> (i64, Option<&str>) {
        (self.page, self.projectid.as_deref())
    }

    fn move_cloud(&self, cloud: &mut Cloud) -> Option<(Action, Vm)> {
        // An `Err` means an earlier firing created it already: nothing more to do.
        cloud.add(Vm::clone(&self.vm)).ok().map(|()| (Action::Deploy, Vm::clone(&self.vm)))
    }
}

impl ListingMove for DuplicateAcrossPages {
    fn trigger(&self) -> (i64, Option<&str>) {
        (self.page, self.projectid.as_deref())
    }

    fn first_page(&self) -> i64 {
        2
    }

    fn move_cloud(&self, cloud: &mut Cloud) -> Option<(Action, Vm)> {
        // An `Err` means an earlier firing brought it into view already: nothing more to do.
        cloud.add_first(Vm::clone(&self.vm)).ok().map(|()| (Action::Move, Vm::clone(&self.vm)))
    }
}

/// Sanity checks of a listing fault setting; `Err` says what is wrong.
pub fn check(fault: &dyn ListingMove) -> Result<(), String> {
    let ((page, _), first) = (fault.trigger(), fault.first_page());
    if page < first {
        let why = if first > 1 { " (the page before it is the one repeated)" } else { "" };
        return Err(format!("page must be {first} or more{why}, not {page}"));
    }
    Ok(())
}

/// Whether `fault` fires on `request`.
fn fires_on(fault: &dyn ListingMove, request: &ListRequest) -> bool {
    let (page, projectid) = fault.trigger();
    request.is_listing_page(page, projectid)
}

/// Makes the move, records it, and answers `request` from the cloud as it is then.
fn moved_answer(fault: &dyn ListingMove, standin: &Standin, request: &ListRequest) -> Result<(String, Work), ApiError> {
    // One write lock for the move and the answer, so no other request sees the cloud in between.
    let mut cloud = standin.cloud.write();
    if let Some((action, vm)) = fault.move_cloud(&mut cloud) {
        standin.record(&action, &vm);
    }
    let mut selection = list_vms::select(&cloud, request)?;
    fault.reshape(&mut selection);
    Ok((selection.to_json(), selection.work()))
}

/// The answer to a verified listing request, moved by the armed listing fault when it fires on this request, with
/// the work it cost; the second value names that fault for the request log.
pub fn answer(standin: &Standin, request: &ListRequest) -> (Result<(String, Work), ApiError>, Option<&'static str>) {
    let fired = standin.faults.fire(|fault| fault.listing().is_some_and(|listing| fires_on(listing, request)));
    match fired.as_ref().and_then(|fault| Some((fault, fault.listing()?))) {
        Some((fault, listing)) => (moved_answer(listing, standin, request), Some(fault.name())),
        None => (list_vms::answer(&standin.cloud.read(), request), None),
    }
}

#[cfg(test)]
mod tests {
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
            assert!(setting.fault.listing().is_some(), "{text}");
            let shown: serde_json::Value = serde_json::to_value(&setting).unwrap();
            assert_eq!(shown["mode"], text["mode"]);
            assert_eq!(shown["page"], text["page"]);
        }
    }

    #[test]
    fn a_mistaken_setting_is_refused_with_the_field_named() {
        let missing = FaultSetting::from_json(r#"{"mode":"expunge-while-paging","page":3}"#).unwrap_err();
        assert!(missing.contains("missing field `id`"), "{missing}");
        let early = FaultSetting::from_json(
            r#"{"mode":"duplicate-across-pages","page":1,"vm":{"id":"v","name":"v","zoneid":"z"}}"#,
        )
        .unwrap_err();
        assert!(early.contains("page must be 2 or more"), "{early}");
        let unknown = FaultSetting::from_json(r#"{"mode":"expunge-while-listing","page":3,"id":"v"}"#).unwrap_err();
        assert!(unknown.contains("unknown variant `expunge-while-listing`"), "{unknown}");
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
