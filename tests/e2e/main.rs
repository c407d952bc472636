//! End-to-end stories: the real kea-dhcp6 (project image) with the hook, a CloudStack stand-in and relays,
//! each story in its own lab (see `lab`). Needs root, dockerd and the image named by `KC_IMAGE`.
mod lab;

mod cli_stories;
mod client_stories;
mod benchmarks;
mod bench_instructions;
mod bench_profile;
mod core_stories;
mod demo;
mod event_bench;
mod event_stories;
mod ha_stories;
mod lab_selftest;
mod operations_stories;
mod package_stories;
mod relay_stories;
mod reliability_stories;
mod sync_stories;
mod trust_stories;
mod tls_stories;
mod version_stories;
