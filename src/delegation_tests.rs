//! Stories of the packet-path judge, without Kea: what the router says, what the client gets.
use super::*;
use crate::counters::Stat;
use crate::cloudstack::{ApiError, Vm};
use crate::refresh::NicSource;
use parking_lot::Mutex;
use serde_json::json;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

const KNOWN: Mac = Mac([0x02, 0x00, 0x0a, 0xc5, 0x00, 0x17]);
const STRANGER: Mac = Mac([0x02, 0x00, 0x0a, 0xc5, 0x99, 0x99]);

struct Cloud {
    vms: Mutex<Result<Vec<Vm>, ApiError>>,
    calls: AtomicUsize,
}

impl NicSource for Arc<Cloud> {
    fn list_vms(&self, _stop: &AtomicBool, page: &mut dyn FnMut(Vec<Vm>)) -> Result<(), ApiError> {
        self.calls.fetch_add(1, Ordering::SeqCst);
        self.vms.lock().clone().map(page)
    }
}

fn cloud_with(ip: &str) -> Vec<Vm> {
    serde_json::from_value(json!([{"id": "vm-1", "name": "web", "state": "Running", "nic": [
        {"id": "nic-1", "macaddress": KNOWN.to_string(), "ipaddress": ip, "netmask": "255.255.252.0", "vlanid": 709}
    ]}]))
    .unwrap()
}

struct World {
    delegator: Delegator,
    cloud: Arc<Cloud>,
    refresher: Arc<Refresher>,
    counters: Arc<Counters>,
}

fn world(answer: Result<Vec<Vm>, ApiError>) -> World {
    let cfg = HookConfig::from_json(&json!({
        "api-url": "https://c/client/api", "api-key": "k", "secret-key": "s", "miss-holdoff": 0,
        "vlans": [
            {"vlan": 709, "interface-id": "VLAN709", "prefix": "2a00:f10:500::/40"},
            {"vlan": 710, "interface-id": "VLAN710", "prefix": "2a00:f10:600::/40"}
        ]
    }))
    .unwrap();
    let cloud = Arc::new(Cloud { vms: Mutex::new(answer), calls: AtomicUsize::new(0) });
    let index = Arc::new(IndexCell::default());
    let counters = Arc::new(Counters::default());
    let refresher = Arc::new(Refresher::start(cfg.clone(), Box::new(cloud.clone()), index.clone(), counters.clone()).unwrap());
    refresher.wait_first_attempt(Duration::from_secs(5));
    let delegator = Delegator::new(Arc::new(cfg), index, refresher.clone(), counters.clone());
    World { delegator, cloud, refresher, counters }
}

fn remote_id(mac: Mac) -> Vec<u8> {
    let mut payload = 2636u32.to_be_bytes().to_vec();
    payload.extend_from_slice(&mac.0);
    payload
}

fn query<'a>(msg_type: u8, interface_id: &'a [u8], remote_id: &'a [u8]) -> Query<'a> {
    Query {
        msg_type,
        router: RouterFacts { relay_hops: 1, interface_id, remote_id, client_link_layer: &[] },
        has_ia_pd: true,
        label: "test",
    }
}

fn net(text: &str) -> Ipv6Net {
    text.parse().unwrap()
}

#[test]
fn a_known_nic_asking_through_its_own_vlan_is_steered_to_its_prefix() {
    let w = world(Ok(cloud_with("185.62.101.23")));
    let rid = remote_id(KNOWN);
    for msg_type in [msg::SOLICIT, msg::REQUEST, msg::RENEW, msg::REBIND] {
        let plan = w.delegator.plan_query(&query(msg_type, b"VLAN709", &rid));
        assert_eq!(plan, QueryPlan::Steer { prefix: net("2a00:f10:500:1170::/60"), mac: KNOWN }, "type {msg_type}");
    }
    assert_eq!(w.counters.get(Stat::Delegated), 2, "Solicit and Request count as delegations");
}

#[test]
fn the_same_nic_through_another_vlans_interface_id_gets_nothing() {
    let w = world(Ok(cloud_with("185.62.101.23")));
    let rid = remote_id(KNOWN);
    let plan = w.delegator.plan_query(&query(msg::SOLICIT, b"VLAN710", &rid));
    assert_eq!(plan, QueryPlan::Refuse { reason: Refusal::VlanMismatch { nic_vlan: 709, router_vlan: 710 }, mac: Some(KNOWN) });
    assert_eq!(w.counters.get(Stat::RefusedVlanMismatch), 1);
}

#[test]
fn messages_the_router_did_not_vouch_for_get_nothing() {
    let w = world(Ok(cloud_with("185.62.101.23")));
    let rid = remote_id(KNOWN);
    let mut direct = query(msg::SOLICIT, b"VLAN709", &rid);
    direct.router.relay_hops = 0;
    let mut nested = direct;
    nested.router.relay_hops = 2;
    let cases = [
        (direct, Refusal::NotRelayed),
        (nested, Refusal::NestedRelay(2)),
        (query(msg::SOLICIT, b"VLAN999", &rid), Refusal::UnknownInterfaceId("VLAN999".into())),
        (query(msg::REQUEST, b"VLAN709", b""), Refusal::NoMac),
    ];
    for (q, reason) in cases {
        match w.delegator.plan_query(&q) {
            QueryPlan::Refuse { reason: got, .. } => assert_eq!(got, reason),
            other => panic!("{reason:?}: got {other:?}"),
        }
    }
}

#[test]
fn messages_without_ia_pd_or_of_other_types_are_left_to_kea() {
    let w = world(Ok(cloud_with("185.62.101.23")));
    let rid = remote_id(KNOWN);
    let mut no_pd = query(msg::SOLICIT, b"VLAN709", &rid);
    no_pd.has_ia_pd = false;
    assert_eq!(w.delegator.plan_query(&no_pd), QueryPlan::Leave);
    assert_eq!(w.delegator.plan_query(&query(8 /* Release */, b"VLAN709", &rid)), QueryPlan::Leave);
    assert_eq!(w.delegator.plan_query(&query(msg::RENEW, b"VLAN709", b"")), QueryPlan::Leave, "judged with the lease's MAC");
}

#[test]
fn an_unknown_mac_asks_for_an_early_sync_and_is_steered_once_cloudstack_lists_it() {
    let w = world(Ok(vec![]));
    let rid = remote_id(KNOWN);
    assert!(matches!(w.delegator.plan_query(&query(msg::SOLICIT, b"VLAN709", &rid)), QueryPlan::Refuse { reason: Refusal::UnknownMac, .. }));
    *w.cloud.vms.lock() = Ok(cloud_with("185.62.101.23"));
    let mut steered = false;
    for _ in 0..200 {
        std::thread::sleep(Duration::from_millis(10));
        if let QueryPlan::Steer { .. } = w.delegator.plan_query(&query(msg::SOLICIT, b"VLAN709", &rid)) {
            steered = true;
            break;
        }
    }
    assert!(steered, "the retransmission after the sync is steered");
    assert!(w.cloud.calls.load(Ordering::SeqCst) >= 2);
    assert!(w.refresher.generation() >= 2);
}

#[test]
fn kea_may_hand_out_only_the_planned_or_a_reserved_prefix() {
    let w = world(Ok(vec![]));
    let planned = Some(net("2a00:f10:500:1170::/60"));
    let select = |lease: &str, planned: Option<Ipv6Net>, reserved: bool, is_pd: bool| {
        w.delegator.judge_selection(&Selection { lease: net(lease), is_pd, planned, reserved, label: "t" })
    };
    assert!(select("2a00:f10:500:1170::/60", planned, false, true));
    assert!(!select("2a00:f10:500:10::/60", planned, false, true), "a pool prefix is skipped");
    assert!(!select("2a00:f10:500:10::/60", None, false, true), "refused clients get no pool prefix");
    assert!(select("2a00:f10:500:10::/60", None, true, true), "reservations are kept");
    assert!(select("2a00:f10:500::5/128", None, false, false), "addresses are not ours to judge");
}

#[test]
fn a_renewal_of_a_prefix_the_nic_no_longer_owns_is_withdrawn() {
    let w = world(Ok(cloud_with("185.62.101.24"))); // the NIC's number changed: 279 -> 280
    let rid = remote_id(KNOWN);
    let renewal = |lease: &str, rid: &[u8], hwaddr: &[u8], iface: &[u8]| {
        let r = Renewal { query: query(msg::RENEW, iface, rid), lease: net(lease), lease_hwaddr: hwaddr, reserved: false };
        w.delegator.withdraws(&r)
    };
    let rid = rid.as_slice();
    assert!(renewal("2a00:f10:500:1170::/60", rid, b"", b"VLAN709"), "old prefix");
    assert!(!renewal("2a00:f10:500:1180::/60", rid, b"", b"VLAN709"), "current prefix");
    assert!(!renewal("2a00:f10:500:1180::/60", b"", &KNOWN.0, b"VLAN709"), "MAC from the lease when the router sends none");
    assert!(renewal("2a00:f10:500:1180::/60", &remote_id(STRANGER), b"", b"VLAN709"), "a destroyed NIC's MAC");
    assert!(renewal("2a00:f10:500:1180::/60", rid, b"", b"VLAN710"), "through another VLAN");
    assert!(!renewal("2a00:f10:500:1180::/60", b"", b"", b"VLAN709"), "no MAC anywhere: kept, not withdrawn");
    assert_eq!(w.counters.get(Stat::Withdrawn), 3);
}

#[test]
fn nothing_is_withdrawn_before_cloudstack_has_answered_once() {
    let w = world(Err(ApiError::Transport("connection refused".into())));
    let rid = remote_id(KNOWN);
    let r = Renewal { query: query(msg::RENEW, b"VLAN709", &rid), lease: net("2a00:f10:500:1170::/60"), lease_hwaddr: b"", reserved: false };
    assert!(!w.delegator.withdraws(&r));
}
