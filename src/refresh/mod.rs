//! Keeping the NIC index fresh in the background: warm-up at load, a full sync every
//! refresh-interval, early syncs for unknown MACs (rate-limited), stop and join at unload.
mod absence;
mod events;
mod index_cell;
pub mod listing;
mod miss_filter;
mod refresher;
mod source;

pub use index_cell::IndexCell;
pub use miss_filter::MissFilter;
pub use refresher::{Refresher, SyncReason, SyncStatus};
pub use source::{CloudStackSource, NicSource};
