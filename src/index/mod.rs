//! The in-memory index of CloudStack NICs that Kea's packet path reads: MAC and VLAN to the
//! NIC and its delegated prefix. Built from a listing, replaced whole, never edited in place.
mod builder;
mod nic_index;
pub mod snapshot;

pub use builder::{build_index, IndexBuilder};
pub use nic_index::{IndexedNic, NicIndex, RefusedNic};
