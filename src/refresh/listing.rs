//! What a listing proves. CloudStack pages `listVirtualMachines` by LIMIT/OFFSET over VM ids
//! while VMs come and go, so a listing is no snapshot: it proves that the VMs it saw exist. It
//! proves that the others do not only when it is complete: every pass read exactly `count`
//! distinct VMs, `count` never changed, no VM came twice.
use crate::cloudstack::{ApiClient, ApiError, Page, Pass, Vm};
use std::collections::hash_map::DefaultHasher;
use std::collections::HashSet;
use std::hash::{Hash, Hasher};
use std::sync::atomic::AtomicBool;

/// A VM id folded into a word: 100,000 of them cost under 2 MiB (a listing's memory is
/// bounded). Two ids would have to collide in 64 bits to be taken for one.
fn id_key(id: &str) -> u64 {
    let mut hasher = DefaultHasher::new();
    id.hash(&mut hasher);
    hasher.finish()
}

/// Whether a listing may stand for the whole cloud.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Completeness {
    Complete,
    /// Why not: a NIC this listing lacks is not removed on its word.
    Incomplete(String),
}

impl Completeness {
    /// Proves absence?
    pub fn is_complete(&self) -> bool {
        *self == Completeness::Complete
    }
}

/// One pass as it was read: decides when to stop paging and whether the pass was whole.
#[derive(Debug, Default)]
pub struct PassTally {
    first_count: Option<u64>,
    count_changed: bool,
    missing_count: bool,
    seen: HashSet<u64>,
    twice: usize,
}

impl PassTally {
    /// Take in a page: the VMs not seen before in this pass (a VM shifted across a page
    /// boundary comes twice and is no collision with itself), and whether to read on. The pass
    /// ends once it has read `count` distinct VMs, not at the first short page.
    pub fn take(&mut self, page: Page) -> (Vec<Vm>, bool) {
        match (page.count, self.first_count) {
            (None, _) => self.missing_count = true,
            (Some(count), None) => self.first_count = Some(count),
            (Some(count), Some(first)) if count != first => self.count_changed = true,
            _ => {}
        }
        let before = page.vms.len();
        let fresh: Vec<Vm> = page.vms.into_iter().filter(|vm| self.seen.insert(id_key(&vm.id))).collect();
        self.twice += before - fresh.len();
        let total = page.count.or(self.first_count);
        let more = total.is_none_or(|total| (self.seen.len() as u64) < total);
        (fresh, more)
    }

    /// Was the pass whole?
    pub fn completeness(&self) -> Completeness {
        let read = self.seen.len() as u64;
        let why = if self.missing_count {
            "a page came without count".to_string()
        } else if self.count_changed {
            "count changed while it was read".to_string()
        } else if self.twice > 0 {
            format!("{} VMs came twice (the list moved)", self.twice)
        } else if read != self.first_count.unwrap_or(0) {
            format!("read {read} VMs of count {}", self.first_count.unwrap_or(0))
        } else {
            return Completeness::Complete;
        };
        Completeness::Incomplete(why)
    }
}

/// What a whole listing (both passes) saw.
#[derive(Debug, Default)]
pub struct Listing {
    seen: HashSet<u64>,
    incomplete: Vec<String>,
}

impl Listing {
    /// Did the listing see this VM (in any state)?
    pub fn saw(&self, vm_id: &str) -> bool {
        self.seen.contains(&id_key(vm_id))
    }

    /// Complete, or why not.
    pub fn completeness(&self) -> Completeness {
        if self.incomplete.is_empty() {
            Completeness::Complete
        } else {
            Completeness::Incomplete(self.incomplete.join("; "))
        }
    }

    /// Add a pass's tally.
    pub fn add_pass(&mut self, pass: Pass, tally: PassTally) {
        if let Completeness::Incomplete(why) = tally.completeness() {
            let name = match pass {
                Pass::OutsideProjects => "VMs outside projects",
                Pass::InProjects => "project VMs",
            };
            self.incomplete.push(format!("{name}: {why}"));
        }
        self.seen.extend(tally.seen);
    }

    /// A listing that saw these VMs and is complete (tests, and sources without paging).
    pub fn of(vms: &[Vm]) -> Listing {
        Listing { seen: vms.iter().map(|vm| id_key(&vm.id)).collect(), incomplete: Vec::new() }
    }

    /// The same listing, marked incomplete for `why`.
    pub fn incomplete(mut self, why: &str) -> Listing {
        self.incomplete.push(why.to_string());
        self
    }
}

/// Read both passes from `client`, handing fresh VMs to `sink` page by page.
pub fn list_all(client: &ApiClient, stop: &AtomicBool, sink: &mut dyn FnMut(Vec<Vm>)) -> Result<Listing, ApiError> {
    let mut listing = Listing::default();
    for pass in Pass::ALL {
        let mut tally = PassTally::default();
        client.page_through(pass, stop, &mut |page| {
            let (fresh, more) = tally.take(page);
            sink(fresh);
            more
        })?;
        listing.add_pass(pass, tally);
    }
    Ok(listing)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vms(ids: &[&str]) -> Vec<Vm> {
        ids.iter().map(|id| Vm { id: id.to_string(), ..Vm::default() }).collect()
    }

    fn page(count: u64, ids: &[&str]) -> Page {
        Page { count: Some(count), vms: vms(ids) }
    }

    fn read(pages: Vec<Page>) -> (Vec<String>, PassTally, usize) {
        let mut tally = PassTally::default();
        let (mut got, mut asked) = (Vec::new(), 0);
        for page in pages {
            asked += 1;
            let (fresh, more) = tally.take(page);
            got.extend(fresh.into_iter().map(|vm| vm.id));
            if !more {
                break;
            }
        }
        (got, tally, asked)
    }

    #[test]
    fn a_whole_pass_is_complete_and_ends_at_count() {
        let (got, tally, asked) = read(vec![page(5, &["1", "2", "3"]), page(5, &["4", "5"]), page(5, &["never asked"])]);
        assert_eq!(got, ["1", "2", "3", "4", "5"]);
        assert_eq!(asked, 2, "the pass ends once count VMs are read");
        assert_eq!(tally.completeness(), Completeness::Complete);
    }

    #[test]
    fn a_page_one_vm_short_does_not_end_the_pass_and_the_pass_is_incomplete() {
        // Page 2 lost vm 5 between CloudStack's ids and details queries.
        let (got, tally, asked) = read(vec![page(9, &["1", "2", "3"]), page(9, &["4", "6"]), page(9, &["7", "8", "9"])]);
        assert_eq!(asked, 3, "page 3 is read after a short page 2");
        assert_eq!(got, ["1", "2", "3", "4", "6", "7", "8", "9"]);
        assert_eq!(tally.completeness(), Completeness::Incomplete("read 8 VMs of count 9".into()));
    }

    #[test]
    fn a_count_that_moves_or_a_vm_seen_twice_makes_the_pass_incomplete() {
        let (_, tally, _) = read(vec![page(6, &["1", "2", "3"]), page(5, &["5", "6"])]);
        assert_eq!(tally.completeness(), Completeness::Incomplete("count changed while it was read".into()));
        // A VM added below the offset pushes vm 3 onto page 2 as well: not a collision, one VM.
        let (got, tally, _) = read(vec![page(6, &["1", "2", "3"]), page(6, &["3", "4", "5"]), page(6, &["6"])]);
        assert_eq!(got, ["1", "2", "3", "4", "5", "6"]);
        assert_eq!(tally.completeness(), Completeness::Incomplete("1 VMs came twice (the list moved)".into()));
        let (_, tally, _) = read(vec![Page { count: None, vms: vms(&["1"]) }]);
        assert!(!tally.completeness().is_complete());
    }

    #[test]
    fn a_listing_is_complete_only_when_every_pass_is_and_remembers_what_it_saw() {
        let mut listing = Listing::default();
        let (_, whole, _) = read(vec![page(2, &["a", "b"])]);
        listing.add_pass(Pass::OutsideProjects, whole);
        assert!(listing.completeness().is_complete());
        let (_, short, _) = read(vec![page(2, &["p"])]);
        listing.add_pass(Pass::InProjects, short);
        assert_eq!(listing.completeness(), Completeness::Incomplete("project VMs: read 1 VMs of count 2".into()));
        assert!(listing.saw("a") && listing.saw("p") && !listing.saw("q"));
    }
}
