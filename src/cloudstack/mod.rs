//! Talking to the CloudStack API: signed requests, paged listings, the event log and VMs by id,
//! what the answers hold, TLS trust.
pub mod client;
pub mod events;
pub mod model;
pub mod server_time;
mod resolver;
pub mod signature;
pub mod tls;

pub use client::{ApiClient, ApiError, Page, Pass};
pub use events::{Event, EventsRead};
pub use model::{Nic, Vm};
pub use server_time::ServerTime;
