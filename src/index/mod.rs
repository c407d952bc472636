//! The in-memory index of CloudStack NICs that Kea's packet path reads: MAC and VLAN to the
//! NIC and its delegated prefix. Built from a listing and replaced whole, or changed by a few
//! VMs (event syncs) as a new generation over the same shared table; never edited in place.
mod builder;
mod nic_index;
mod patch;
pub mod snapshot;

pub use builder::{build_index, IndexBuilder};
pub use nic_index::{IndexedNic, NicIndex, RefusedNic};
pub use patch::patch_index;
