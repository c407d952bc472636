//! When a NIC leaves the index. A targeted lookup (`listVirtualMachines id=…`) that finds its VM
//! expunged, or Destroyed, Expunging or in Error, is proof; so is its absence from two listings in
//! a row. One listing alone is not, complete or not: a VM expunged after its page was read and
//! another created before the next page keep `count` and shift a third VM between two pages,
//! unseen. Lookups are bounded per sync; past the budget a complete listing's word stands.
use super::listing::Listing;
use crate::cloudstack::{ApiError, Vm};
use crate::index::{IndexBuilder, IndexedNic, NicIndex};
use std::collections::{BTreeMap, HashMap};

/// At most this many targeted lookups per sync; further missing VMs wait for the next listing.
pub const MAX_LOOKUPS: usize = 100;

/// What settling the absent NICs of one sync did.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Settled {
    /// VMs the listing lacked that a lookup found alive (their NICs are in the index as CloudStack has them now).
    pub found_alive: usize,
    /// VMs a lookup confirmed gone.
    pub confirmed_gone: usize,
    /// VMs kept on the previous index's word (no lookup could tell).
    pub kept: usize,
    /// VMs dropped because two listings in a row lacked them.
    pub dropped_twice_absent: usize,
    /// VMs dropped on a complete listing's word (no lookup could tell).
    pub dropped_complete: usize,
}

/// VMs of the index that listings lacked, and how many listings in a row did.
#[derive(Debug, Default)]
pub struct Absences {
    missed: HashMap<String, u32>,
}

impl Absences {
    /// Put into `builder` what the previous index knew and `listing` could not disprove.
    /// `lookup` asks CloudStack for one VM (None: expunged).
    pub fn settle(
        &mut self,
        previous: &NicIndex,
        listing: &Listing,
        builder: &mut IndexBuilder<'_>,
        lookup: &mut dyn FnMut(&str) -> Result<Option<Vm>, ApiError>,
    ) -> Settled {
        let mut settled = Settled::default();
        let complete = listing.completeness().is_complete();
        let mut absent: BTreeMap<&str, Vec<&IndexedNic>> = BTreeMap::new();
        for nic in previous.nics().filter(|nic| !listing.saw(&nic.vm_id)) {
            absent.entry(nic.vm_id.as_str()).or_default().push(nic);
        }
        let mut missed = HashMap::new();
        for (i, (vm_id, nics)) in absent.into_iter().enumerate() {
            let answer = if i < MAX_LOOKUPS { lookup(vm_id) } else { Err(ApiError::Body("lookup budget spent".into())) };
            match answer {
                Ok(Some(vm)) if !vm.is_gone() => {
                    builder.add(std::slice::from_ref(&vm));
                    settled.found_alive += 1;
                }
                Ok(_) => settled.confirmed_gone += 1,
                Err(_) if complete => settled.dropped_complete += 1,
                Err(_) => {
                    let times = self.missed.get(vm_id).copied().unwrap_or(0) + 1;
                    if times >= 2 {
                        settled.dropped_twice_absent += 1;
                    } else {
                        nics.into_iter().for_each(|nic| builder.keep(nic));
                        missed.insert(vm_id.to_string(), times);
                        settled.kept += 1;
                    }
                }
            }
        }
        self.missed = missed;
        settled
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fixtures::{one_vlan_config as cfg, small_vm as vm};
    use crate::index::build_index;

    /// The index a sync builds: `listed` as read, then the absent ones settled.
    fn sync(
        absences: &mut Absences,
        previous: &NicIndex,
        listing: Listing,
        listed: &[Vm],
        lookup: &mut dyn FnMut(&str) -> Result<Option<Vm>, ApiError>,
    ) -> (NicIndex, Settled) {
        let cfg = cfg();
        let mut builder = IndexBuilder::new(&cfg, Some(previous));
        builder.add(listed);
        let settled = absences.settle(previous, &listing, &mut builder, lookup);
        (builder.finish(), settled)
    }

    fn ids(index: &NicIndex) -> Vec<String> {
        let mut ids: Vec<String> = index.nics().map(|n| n.vm_id.clone()).collect();
        ids.sort();
        ids
    }

    #[test]
    fn a_complete_listing_that_lacks_a_live_vm_does_not_cost_it_its_nic() {
        // vm-b expunged and vm-new created between two pages: count held, vm "c" shifted out unseen.
        let previous = build_index(&[vm("a", 1, "Running"), vm("b", 2, "Running"), vm("c", 3, "Running")], &cfg(), None);
        let listed = [vm("a", 1, "Running"), vm("new", 4, "Running")];
        let mut lookup = |id: &str| Ok(if id == "c" { Some(vm("c", 3, "Running")) } else { None });
        let (index, settled) = sync(&mut Absences::default(), &previous, Listing::of(&listed), &listed, &mut lookup);
        assert_eq!(ids(&index), ["a", "c", "new"]);
        assert_eq!((settled.found_alive, settled.confirmed_gone), (1, 1));
    }

    #[test]
    fn without_lookups_a_complete_listing_s_word_stands() {
        let previous = build_index(&[vm("a", 1, "Running"), vm("b", 2, "Running")], &cfg(), None);
        let listed = [vm("a", 1, "Running")];
        let mut down = |_: &str| Err(ApiError::Transport("down".into()));
        let (index, settled) = sync(&mut Absences::default(), &previous, Listing::of(&listed), &listed, &mut down);
        assert_eq!(ids(&index), ["a"]);
        assert_eq!(settled.dropped_complete, 1);
    }

    #[test]
    fn a_nic_an_incomplete_listing_lacks_stays_when_its_vm_is_alive_and_goes_when_it_is_confirmed_gone() {
        let previous = build_index(&[vm("a", 1, "Running"), vm("b", 2, "Running"), vm("c", 3, "Running"), vm("d", 4, "Running")], &cfg(), None);
        let listed = [vm("a", 1, "Running")];
        let mut lookup = |id: &str| match id {
            "b" => Ok(Some(vm("b", 2, "Running"))), // fell between two pages
            "c" => Ok(Some(vm("c", 3, "Destroyed"))),
            _ => Ok(None), // d: expunged
        };
        let listing = Listing::of(&listed).incomplete("count changed");
        let (index, settled) = sync(&mut Absences::default(), &previous, listing, &listed, &mut lookup);
        assert_eq!(ids(&index), ["a", "b"]);
        assert_eq!(settled, Settled { found_alive: 1, confirmed_gone: 2, ..Settled::default() });
    }

    #[test]
    fn without_a_lookup_a_nic_is_kept_once_and_dropped_when_the_next_listing_lacks_it_too() {
        let mut absences = Absences::default();
        let previous = build_index(&[vm("a", 1, "Running"), vm("b", 2, "Running")], &cfg(), None);
        let listed = [vm("a", 1, "Running")];
        let mut down = |_: &str| Err(ApiError::Transport("down".into()));
        let (first, settled) = sync(&mut absences, &previous, Listing::of(&listed).incomplete("short"), &listed, &mut down);
        assert_eq!(ids(&first), ["a", "b"], "kept on the previous index's word");
        assert_eq!(settled.kept, 1);
        let (second, settled) = sync(&mut absences, &first, Listing::of(&listed).incomplete("short"), &listed, &mut down);
        assert_eq!(ids(&second), ["a"], "two listings in a row lacked it");
        assert_eq!(settled.dropped_twice_absent, 1);
    }

    #[test]
    fn a_vm_seen_again_starts_its_count_afresh() {
        let mut absences = Absences::default();
        let both = [vm("a", 1, "Running"), vm("b", 2, "Running")];
        let previous = build_index(&both, &cfg(), None);
        let only_a = [vm("a", 1, "Running")];
        let mut down = |_: &str| Err(ApiError::Transport("down".into()));
        let (first, _) = sync(&mut absences, &previous, Listing::of(&only_a).incomplete("short"), &only_a, &mut down);
        let (second, _) = sync(&mut absences, &first, Listing::of(&both).incomplete("short"), &both, &mut down);
        let (third, _) = sync(&mut absences, &second, Listing::of(&only_a).incomplete("short"), &only_a, &mut down);
        assert_eq!(ids(&third), ["a", "b"], "lacked once, seen, lacked once again: kept");
    }
}
