//! `listVirtualMachines` with the paging rules of CloudStack's list commands and its project rule.
//!
//! The rules the hook depends on, and therefore the ones checked strictly here:
//! - Paging as every list command pages (`paging.rs`).
//! - Without `projectid` project VMs are left out; `projectid=-1` lists only project VMs; so a complete inventory
//!   takes two passes.
//! - An empty page is `{"listvirtualmachinesresponse": {}}`: no `count`, no list.
//! - VMs come in ascending internal id order (the stand-in's order of addition); `count` is every matching VM.
//! - `id` / `ids` name VMs instead of listing them (see `lookup.rs`).

use serde::Serialize;

use crate::api_error::ApiError;
use crate::cloud::{ApiVm, Cloud, Vm};
use crate::latency::Work;
use crate::lookup::Lookup;
use crate::paging::Paging;
use crate::signature::Params;

/// The command name as clients send it.
pub const COMMAND: &str = "listVirtualMachines";

/// Which VMs a request may see with respect to projects.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ProjectScope {
    /// No `projectid`: only VMs outside projects.
    OutsideProjects,
    /// `projectid=-1`: only VMs inside some project.
    AnyProject,
    /// `projectid=<id>`: that project's VMs.
    Project(String),
}

impl ProjectScope {
    /// Reads `projectid`, as every list command of a project-owned resource does.
    pub fn from_params(params: &Params) -> ProjectScope {
        match params.get("projectid").map(String::as_str) {
            None => ProjectScope::OutsideProjects,
            Some("-1") => ProjectScope::AnyProject,
            Some(id) => ProjectScope::Project(id.to_string()),
        }
    }

    /// Whether a resource owned by project `owner` (`None`: by no project) is in scope; `lifted` (a lookup by
    /// `id`) lets resources outside projects and inside them through alike when no `projectid` was given.
    pub fn admits(&self, owner: Option<&str>, lifted: bool) -> bool {
        match (self, owner) {
            (ProjectScope::OutsideProjects, _) if lifted => true,
            (ProjectScope::OutsideProjects, owner) => owner.is_none(),
            (ProjectScope::AnyProject, owner) => owner.is_some(),
            (ProjectScope::Project(wanted), owner) => owner == Some(wanted.as_str()),
        }
    }
}

/// A validated `listVirtualMachines` request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListRequest {
    /// Index of the first VM of the page among all matching VMs.
    pub first: usize,
    /// Most VMs in the answer.
    pub page_size: usize,
    /// Project rule.
    pub projects: ProjectScope,
    /// `zoneid` filter.
    pub zone: Option<String>,
    /// `state` filter, compared case-insensitively.
    pub state: Option<String>,
    /// `id` / `ids`.
    pub lookup: Lookup,
    /// The `page` parameter as sent (listing faults wait for a page number).
    pub page: Option<i64>,
}

impl ListRequest {
    /// Checks the parameters; `Err` is the 431 CloudStack would answer.
    pub fn from_params(params: &Params, default_page_size: u32) -> Result<ListRequest, ApiError> {
        let paging = Paging::from_params(params, default_page_size)?;
        let projects = ProjectScope::from_params(params);
        Ok(ListRequest {
            first: paging.first,
            page_size: paging.page_size,
            projects,
            zone: params.get("zoneid").cloned(),
            state: params.get("state").cloned(),
            lookup: Lookup::from_params(params)?,
            page: paging.page,
        })
    }

    /// Whether this is one page of a full listing (no `id`/`ids`) of the pass `projectid` names (`None`: the pass
    /// without `projectid`), with page number `page`.
    pub fn is_listing_page(&self, page: i64, projectid: Option<&str>) -> bool {
        let pass = match &self.projects {
            ProjectScope::OutsideProjects => None,
            ProjectScope::AnyProject => Some("-1"),
            ProjectScope::Project(id) => Some(id.as_str()),
        };
        !self.lookup.is_targeted() && self.page == Some(page) && pass == projectid
    }

    fn matches(&self, vm: &Vm) -> bool {
        self.projects.admits(vm.projectid.as_deref(), self.lookup.lifts_project_rule())
            && self.zone.as_deref().is_none_or(|zone| zone == vm.zoneid)
            && self.lookup.matches(vm)
            && self.state.as_deref().is_none_or(|state| state.eq_ignore_ascii_case(&vm.state))
    }
}

#[derive(Serialize)]
struct Page<'a> {
    count: usize,
    virtualmachine: Vec<ApiVm<'a>>,
}

#[derive(Serialize)]
struct Envelope<T> {
    listvirtualmachinesresponse: T,
}

/// What one answer holds before it is written out: the total and the page's VMs.
#[derive(Debug)]
pub struct Selection<'c> {
    /// Every VM the request matches (CloudStack's `count`).
    pub count: usize,
    /// The VMs of the requested page, in order.
    pub vms: Vec<&'c Vm>,
    /// Matching VMs the OFFSET skipped to reach the page (what the latency model charges for).
    pub skipped: usize,
}

/// The VMs a validated request gets from `cloud`; `Err` is the 431 for an id no VM ever had.
pub fn select<'c>(cloud: &'c Cloud, request: &ListRequest) -> Result<Selection<'c>, ApiError> {
    request.lookup.check(cloud)?;
    let matching: Vec<&Vm> = cloud.vms.iter().filter(|vm| request.matches(vm)).collect();
    let count = matching.len();
    let paging = Paging { first: request.first, page_size: request.page_size, page: request.page };
    let (vms, skipped) = paging.cut(matching);
    Ok(Selection { count, vms, skipped })
}

impl Selection<'_> {
    /// The work this answer cost the database: the VM rows it returns and the rows skipped to reach them.
    pub fn work(&self) -> Work {
        Work { vm_rows: self.vms.len(), skipped: self.skipped, ..Work::default() }
    }

    /// The JSON answer.
    pub fn to_json(&self) -> String {
        if self.vms.is_empty() {
            // CloudStack drops both `count` and the list when the page is empty, even if earlier pages had VMs.
            return serde_json::to_string(&Envelope { listvirtualmachinesresponse: serde_json::Map::new() })
                .expect("serializes");
        }
        let page = self.vms.iter().map(|vm| vm.api_view()).collect();
        let envelope = Envelope { listvirtualmachinesresponse: Page { count: self.count, virtualmachine: page } };
        serde_json::to_string(&envelope).expect("an answer always serializes")
    }
}

/// The JSON answer for a validated request, and the work it cost.
pub fn answer(cloud: &Cloud, request: &ListRequest) -> Result<(String, Work), ApiError> {
    select(cloud, request).map(|selection| (selection.to_json(), selection.work()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sample_cloud;
    use serde_json::{json, Value};

    fn params(pairs: &[(&str, &str)]) -> Params {
        pairs.iter().map(|(n, v)| (n.to_string(), v.to_string())).collect()
    }

    fn list(cloud: &Cloud, pairs: &[(&str, &str)]) -> Result<Value, ApiError> {
        let request = ListRequest::from_params(&params(pairs), 500)?;
        Ok(serde_json::from_str(&answer(cloud, &request)?.0).unwrap())
    }

    fn names(answer: &Value) -> Vec<String> {
        answer["listvirtualmachinesresponse"]["virtualmachine"]
            .as_array()
            .map(|vms| vms.iter().map(|vm| vm["name"].as_str().unwrap().to_string()).collect())
            .unwrap_or_default()
    }

    #[test]
    fn a_client_that_does_not_page_sees_only_the_first_500() {
        let cloud = sample_cloud::generate(1200);
        let answer = list(&cloud, &[]).unwrap();
        // 1200 VMs, every 5th in a project: 960 outside projects, of which only 500 come back.
        assert_eq!(answer["listvirtualmachinesresponse"]["count"], 960);
        assert_eq!(names(&answer).len(), 500);
        assert_eq!(names(&answer)[0], "vm-1");
    }

    #[test]
    fn paging_walks_all_vms_in_insertion_order_and_ends_with_an_empty_object() {
        let cloud = sample_cloud::generate(1200);
        let first = list(&cloud, &[("page", "1"), ("pagesize", "500")]).unwrap();
        let second = list(&cloud, &[("page", "2"), ("pagesize", "500")]).unwrap();
        let third = list(&cloud, &[("page", "3"), ("pagesize", "500")]).unwrap();
        assert_eq!(names(&first).len(), 500);
        assert_eq!(names(&second).len(), 460);
        assert_eq!(second["listvirtualmachinesresponse"]["count"], 960);
        assert_eq!(third, json!({"listvirtualmachinesresponse": {}}));
        let all: Vec<String> = [names(&first), names(&second)].concat();
        let expected: Vec<String> =
            cloud.vms.iter().filter(|vm| vm.projectid.is_none()).map(|vm| vm.name.to_string()).collect();
        assert_eq!(all, expected);
    }

    #[test]
    fn nothing_matching_is_the_same_empty_object() {
        let cloud = sample_cloud::generate(10);
        assert_eq!(list(&cloud, &[("zoneid", "elsewhere")]).unwrap(), json!({"listvirtualmachinesresponse": {}}));
        assert_eq!(list(&Cloud::default(), &[]).unwrap(), json!({"listvirtualmachinesresponse": {}}));
    }

    #[test]
    fn paging_mistakes_are_431() {
        let cloud = sample_cloud::generate(3);
        for bad in [
            &[("page", "1")][..],
            &[("pagesize", "10")][..],
            &[("page", "1"), ("pagesize", "501")][..],
            &[("page", "1"), ("pagesize", "0")][..],
            &[("page", "1"), ("pagesize", "-1")][..],
            &[("pagesize", "-1")][..],
            &[("page", "0"), ("pagesize", "10")][..],
            &[("page", "-2"), ("pagesize", "10")][..],
            &[("page", "one"), ("pagesize", "10")][..],
            &[("page", "1"), ("pagesize", "99999999999")][..],
        ] {
            let error = list(&cloud, bad).unwrap_err();
            assert_eq!(error.code, 431, "{bad:?}");
        }
        assert!(list(&cloud, &[("page", "1"), ("pagesize", "500")]).is_ok());
    }

    #[test]
    fn a_smaller_server_page_size_lowers_both_limits() {
        let cloud = sample_cloud::generate(300);
        let request = ListRequest::from_params(&params(&[]), 100).unwrap();
        assert_eq!(request.page_size, 100);
        assert_eq!(
            ListRequest::from_params(&params(&[("page", "1"), ("pagesize", "101")]), 100).unwrap_err().code,
            431
        );
        let answer: Value = serde_json::from_str(&super::answer(&cloud, &request).unwrap().0).unwrap();
        assert_eq!(names(&answer).len(), 100);
    }

    #[test]
    fn project_vms_need_a_second_pass_with_projectid_minus_1() {
        let cloud = sample_cloud::generate(1200);
        let plain = list(&cloud, &[("page", "1"), ("pagesize", "500")]).unwrap();
        assert!(names(&plain).iter().all(|name| name.trim_start_matches("vm-").parse::<usize>().unwrap() % 5 != 0));
        let projects = list(&cloud, &[("projectid", "-1"), ("page", "1"), ("pagesize", "500")]).unwrap();
        assert_eq!(projects["listvirtualmachinesresponse"]["count"], 240);
        assert!(projects["listvirtualmachinesresponse"]["virtualmachine"]
            .as_array()
            .unwrap()
            .iter()
            .all(|vm| vm["projectid"].is_string()));
        let one = list(&cloud, &[("projectid", "proj-2"), ("listall", "true")]).unwrap();
        assert_eq!(one["listvirtualmachinesresponse"]["count"], 120);
        assert_eq!(list(&cloud, &[("projectid", "proj-9")]).unwrap(), json!({"listvirtualmachinesresponse": {}}));
    }

    #[test]
    fn zone_state_and_id_filters_narrow_the_list() {
        let cloud = Cloud::from_json(
            &json!({"vms": [
                {"id": "a", "name": "a", "zoneid": "z1", "state": "Running"},
                {"id": "b", "name": "b", "zoneid": "z2", "state": "Stopped"},
                {"id": "c", "name": "c", "zoneid": "z1", "state": "Stopped"}
            ]})
            .to_string(),
        )
        .unwrap();
        assert_eq!(names(&list(&cloud, &[("zoneid", "z1")]).unwrap()), ["a", "c"]);
        assert_eq!(names(&list(&cloud, &[("state", "stopped")]).unwrap()), ["b", "c"]);
        assert_eq!(names(&list(&cloud, &[("zoneid", "z1"), ("state", "STOPPED")]).unwrap()), ["c"]);
        assert_eq!(names(&list(&cloud, &[("id", "b"), ("details", "nics")]).unwrap()), ["b"]);
    }

    const RUNNING: &str = "1a1a1a1a-1111-4111-8111-11111111111b";
    const DESTROYED: &str = "22222222-2222-4222-8222-222222222222";
    const EXPUNGED: &str = "33333333-3333-4333-8333-333333333333";
    const IN_PROJECT: &str = "44444444-4444-4444-8444-444444444444";
    const NEVER: &str = "55555555-5555-4555-8555-555555555555";

    fn lookup_cloud() -> Cloud {
        let mut cloud = Cloud::from_json(
            &json!({"vms": [
                {"id": RUNNING, "name": "running", "zoneid": "z1"},
                {"id": DESTROYED, "name": "destroyed", "zoneid": "z1", "state": "Destroyed"},
                {"id": EXPUNGED, "name": "expunged", "zoneid": "z1"},
                {"id": IN_PROJECT, "name": "in-project", "zoneid": "z1", "projectid": "proj-1"}
            ]})
            .to_string(),
        )
        .unwrap();
        assert!(cloud.expunge(EXPUNGED));
        cloud
    }

    #[test]
    fn a_lookup_by_id_finds_running_and_destroyed_vms_nothing_for_expunged_and_431_for_unknown() {
        let cloud = lookup_cloud();
        let running = list(&cloud, &[("id", RUNNING)]).unwrap();
        assert_eq!(names(&running), ["running"]);
        assert_eq!(running["listvirtualmachinesresponse"]["count"], 1);
        let destroyed = list(&cloud, &[("id", DESTROYED)]).unwrap();
        assert_eq!(destroyed["listvirtualmachinesresponse"]["virtualmachine"][0]["state"], "Destroyed");
        assert_eq!(list(&cloud, &[("id", EXPUNGED)]).unwrap(), json!({"listvirtualmachinesresponse": {}}));
        let unknown = list(&cloud, &[("id", NEVER)]).unwrap_err();
        assert_eq!((unknown.code, unknown.cs_code), (431, 9999));
    }

    #[test]
    fn id_finds_a_project_vm_without_projectid_but_ids_does_not() {
        let cloud = lookup_cloud();
        assert_eq!(names(&list(&cloud, &[("id", IN_PROJECT)]).unwrap()), ["in-project"]);
        let batch = format!("{RUNNING},{IN_PROJECT},{EXPUNGED}");
        assert_eq!(names(&list(&cloud, &[("ids", &batch)]).unwrap()), ["running"]);
        let in_projects = list(&cloud, &[("ids", &batch), ("projectid", "-1")]).unwrap();
        assert_eq!(names(&in_projects), ["in-project"]);
        let with_unknown = format!("{RUNNING},{NEVER}");
        assert_eq!(list(&cloud, &[("ids", &with_unknown)]).unwrap_err().code, 431);
        assert_eq!(
            list(&cloud, &[("ids", &RUNNING.to_uppercase())]).unwrap(),
            json!({"listvirtualmachinesresponse": {}}),
            "an upper-case UUID in ids matches nothing"
        );
    }
}
