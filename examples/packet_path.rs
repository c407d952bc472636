//! The hook's per-packet work at 1M NICs, for callgrind (`make bench`, figure 5): build an index
//! of 1,000,000 NICs, then make N pkt6_receive decisions for known MACs.
//!
//!   valgrind --tool=callgrind --collect-atstart=no --toggle-collect='*plan_query*' \
//!       target/release/examples/packet_path 10000
use dhcp_cloudstack::cloudstack::{ApiError, Vm};
use dhcp_cloudstack::config::HookConfig;
use dhcp_cloudstack::counters::Counters;
use dhcp_cloudstack::delegation::{Delegator, Query, QueryPlan};
use dhcp_cloudstack::index::{IndexedNic, NicIndex};
use dhcp_cloudstack::mac::Mac;
use dhcp_cloudstack::refresh::listing::Listing;
use dhcp_cloudstack::refresh::{IndexCell, NicSource, Refresher};
use dhcp_cloudstack::relay::RouterFacts;
use std::sync::atomic::AtomicBool;
use std::sync::Arc;

const NICS: u32 = 1_000_000;

/// A source that never answers: the index stays the one built here.
struct Silent;

impl NicSource for Silent {
    fn list_vms(&self, _stop: &AtomicBool, _page: &mut dyn FnMut(Vec<Vm>)) -> Result<Listing, ApiError> {
        Err(ApiError::Transport("benchmark".into()))
    }

    fn lookup_vm(&self, _id: &str) -> Result<Option<Vm>, ApiError> {
        Err(ApiError::Transport("benchmark".into()))
    }
}

fn mac(i: u32) -> Mac {
    Mac([0x02, 0x00, (i >> 24) as u8, (i >> 16) as u8, (i >> 8) as u8, i as u8])
}

fn main() {
    let decisions: u32 = std::env::args().nth(1).and_then(|n| n.parse().ok()).unwrap_or(10_000);
    let cfg = HookConfig::from_json(&serde_json::json!({
        "api-url": "https://bench/client/api", "api-key": "k", "api-secret": "s", "trusted-relays": ["fd00::/8"], "refresh-interval": 86400,
        "vlans": [{"vlan": 709, "interface-id": "VLAN709", "prefix": "2a00:f10::/36", "index": "mac"}]
    }))
    .expect("config");
    let vlan = cfg.vlans[0].prefix;
    let nics: Vec<IndexedNic> = (0..NICS)
        .map(|i| IndexedNic {
            mac: mac(i),
            vlan: 709,
            slot: 0,
            prefix: dhcp_cloudstack::prefix::delegated_prefix(vlan, u128::from(i), 60).expect("fits a /36"),
            nic_id: format!("nic-{i}"),
            vm_id: format!("vm-{i}"),
            vm_name: format!("vm-{i}"),
        })
        .collect();
    let index = Arc::new(IndexCell::default());
    index.replace(NicIndex::new(nics, Vec::new(), NICS as usize));
    index.grant_authority(std::time::Duration::from_secs(86_400));
    let counters = Arc::new(Counters::default());
    let refresher = Arc::new(Refresher::start(cfg.clone(), Box::new(Silent), index.clone(), counters.clone()).expect("thread"));
    let delegator = Delegator::new(Arc::new(cfg), index, refresher.clone(), counters);

    let mut steered = 0u32;
    let mut state = 0x2545_f491u32;
    for _ in 0..decisions {
        state ^= state << 13;
        state ^= state >> 17;
        state ^= state << 5;
        let m = mac(state % NICS);
        let mut remote_id = 2636u32.to_be_bytes().to_vec();
        remote_id.extend_from_slice(&m.0);
        let query = Query {
            msg_type: 3,
            router: RouterFacts { relay_hops: 1, interface_id: b"VLAN709", remote_id: &remote_id, ..RouterFacts::default() },
            source: "fd00::53".parse().expect("an address"),
            has_ia_pd: true,
            label: "bench",
        };
        if let QueryPlan::Steer(_) = delegator.plan_query(&query) {
            steered += 1;
        }
    }
    refresher.stop();
    assert_eq!(steered, decisions, "every known MAC is steered");
    println!("{decisions} decisions at {NICS} NICs, all steered");
}
