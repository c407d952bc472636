//! Talking to the CloudStack API: signed requests, paged listings, what the answers hold.
pub mod client;
pub mod model;
pub mod signature;

pub use client::{ApiClient, ApiError};
pub use model::{Nic, Vm};
