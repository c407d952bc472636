//! Talking to the CloudStack API: signed requests, paged listings, what the answers hold, TLS trust.
pub mod client;
pub mod model;
mod resolver;
pub mod signature;
pub mod tls;

pub use client::{ApiClient, ApiError, Page, Pass};
pub use model::{Nic, Vm};
