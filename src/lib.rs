//! kea-cloudstack: a Kea DHCPv6 hook that delegates to every Apache CloudStack NIC its own
//! stable prefix, computed from CloudStack's view of the NIC and checked against what the
//! provider router says about the client. See README.md for the picture.
#![deny(unsafe_code)]

pub mod cloudstack;
pub mod config;
pub mod control;
pub mod counters;
pub mod delegation;
pub mod hook;
pub mod index;
pub mod library_order;
pub mod log;
pub mod mac;
pub mod prefix;
pub mod refresh;
pub mod relay;
pub mod render;
pub mod served_vlans;

#[allow(unsafe_code)]
mod ffi;
#[cfg(test)]
mod fixtures;
