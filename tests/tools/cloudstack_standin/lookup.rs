//! Targeted lookups, `listVirtualMachines id=<uuid>` and `ids=<uuid>,<uuid>`, resolved the way CloudStack resolves
//! them; the hook confirms a withdrawal with one and fetches batches with the other.
//!
//! What CloudStack does, read from its source (`ParamProcessWorker.translateUuidToInternalId`,
//! `QueryManagerImpl.searchForUserVMIdsAndCount`, `AccountManagerImpl.buildACLSearchParameters`):
//! - A VM id parameter is turned into the internal id with removed rows included, so an expunged VM's id is valid;
//!   the listing itself skips removed rows and finds nothing: `{"listvirtualmachinesresponse": {}}`.
//! - An id no row ever had is refused with 431 before anything is listed.
//! - `ids` (added in 4.4) turns a token that is not a lower-case UUID into nothing: it matches no VM, no error.
//!   `id` is older and looks any text up.
//! - `id` lifts the project rule: without `projectid` the VM is found even when a project owns it. `ids` does not:
//!   without `projectid`, project VMs stay hidden from it as from a listing.
//! - `id` and `ids` together: 431.
//! - Destroyed and Expunging VMs are listed to admin keys (the stand-in plays one), by id as in listings.
//!
//! Not modelled: `id` given as a number is taken by CloudStack as an internal id; the stand-in has no internal ids
//! and looks the text up like any other.

use crate::api_error::ApiError;
use crate::cloud::{Cloud, Known, Vm};
use crate::signature::Params;

/// Which VMs a request names, if any.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Lookup {
    /// Neither `id` nor `ids` (or `ids` without a single token): a listing.
    Listing,
    /// `id=<id>`.
    Id(String),
    /// `ids=…`: the tokens that are UUIDs. Empty when every token was something else: then nothing matches.
    Ids(Vec<String>),
}

/// Whether CloudStack's UUID pattern accepts `text`: 8-4-4-4-12 lower-case hex digits.
fn is_uuid(text: &str) -> bool {
    let groups: Vec<&str> = text.split('-').collect();
    groups.len() == 5
        && groups.iter().zip([8, 4, 4, 4, 12]).all(|(group, length)| {
            group.len() == length && group.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
        })
}

impl Lookup {
    /// Reads `id` and `ids`; `Err` is the 431 for both at once.
    pub fn from_params(params: &Params) -> Result<Lookup, ApiError> {
        // CloudStack splits `ids` on commas and never sees an empty token.
        let tokens: Option<Vec<&str>> =
            params.get("ids").map(|ids| ids.split(',').filter(|token| !token.is_empty()).collect());
        match (params.get("id"), tokens) {
            (Some(_), Some(tokens)) if !tokens.is_empty() => {
                Err(ApiError::bad_parameter("give either id or ids, not both"))
            }
            (Some(id), _) => Ok(Lookup::Id(id.clone())),
            (None, Some(tokens)) if !tokens.is_empty() => {
                Ok(Lookup::Ids(tokens.into_iter().filter(|token| is_uuid(token)).map(str::to_string).collect()))
            }
            (None, _) => Ok(Lookup::Listing),
        }
    }

    /// Whether the request names VMs rather than listing them.
    pub fn is_targeted(&self) -> bool {
        !matches!(self, Lookup::Listing)
    }

    /// Whether a VM outside the request's project scope may still be found (only `id` does that).
    pub fn lifts_project_rule(&self) -> bool {
        matches!(self, Lookup::Id(_))
    }

    /// The 431 CloudStack gives for an id no VM ever had (expunged ones included).
    pub fn check(&self, cloud: &Cloud) -> Result<(), ApiError> {
        let (parameter, ids): (&str, &[String]) = match self {
            Lookup::Listing => return Ok(()),
            Lookup::Id(id) => ("id", std::slice::from_ref(id)),
            Lookup::Ids(ids) => ("ids", ids),
        };
        match ids.iter().find(|id| cloud.knows(id) == Known::Never) {
            Some(unknown) => Err(ApiError::unknown_id(parameter, unknown)),
            None => Ok(()),
        }
    }

    /// Whether `vm` is one of the VMs named.
    pub fn matches(&self, vm: &Vm) -> bool {
        match self {
            Lookup::Listing => true,
            Lookup::Id(id) => *id == vm.id,
            Lookup::Ids(ids) => ids.iter().any(|id| *id == vm.id),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lookup(pairs: &[(&str, &str)]) -> Result<Lookup, ApiError> {
        Lookup::from_params(&pairs.iter().map(|(n, v)| (n.to_string(), v.to_string())).collect())
    }

    const A: &str = "0b7e4a43-6c1d-4f0e-9a51-1c2d3e4f5a6b";
    const B: &str = "7f3a9c21-0d4e-4b8f-a1c2-93d4e5f6a7b8";

    #[test]
    fn id_names_one_vm_and_ids_keeps_only_uuid_tokens() {
        assert_eq!(lookup(&[("id", "vm-7")]).unwrap(), Lookup::Id("vm-7".into()));
        let ids = format!("{A},,NOT-A-UUID,{},{B}", A.to_uppercase());
        assert_eq!(lookup(&[("ids", &ids)]).unwrap(), Lookup::Ids(vec![A.into(), B.into()]));
        assert_eq!(lookup(&[("ids", "web,db")]).unwrap(), Lookup::Ids(vec![]), "matches nothing, no error");
        assert_eq!(lookup(&[("ids", ",")]).unwrap(), Lookup::Listing, "no token at all is no filter");
        assert_eq!(lookup(&[]).unwrap(), Lookup::Listing);
    }

    #[test]
    fn id_and_ids_together_are_431() {
        assert_eq!(lookup(&[("id", A), ("ids", B)]).unwrap_err().code, 431);
    }

    #[test]
    fn only_ids_never_seen_are_refused() {
        let mut cloud = Cloud::from_json(&format!(
            r#"{{"vms": [{{"id": "{A}", "name": "a", "zoneid": "z"}}, {{"id": "{B}", "name": "b", "zoneid": "z"}}]}}"#
        ))
        .unwrap();
        cloud.expunge(B);
        assert!(Lookup::Id(A.into()).check(&cloud).is_ok());
        assert!(Lookup::Id(B.into()).check(&cloud).is_ok(), "an expunged id is known");
        let never = "00000000-0000-4000-8000-000000000000";
        let error = Lookup::Ids(vec![A.into(), never.into()]).check(&cloud).unwrap_err();
        assert_eq!(error.code, 431);
        assert!(error.text.contains(never) && error.text.contains("ids"), "{}", error.text);
    }
}
