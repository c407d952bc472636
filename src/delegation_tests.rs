//! Stories of the packet-path judge, without Kea: what the router says, what the client gets.
use super::*;
use crate::counters::Stat;
use crate::cloudstack::{ApiError, Vm};
use crate::refresh::listing::Listing;
use crate::refresh::NicSource;
use parking_lot::Mutex;
use serde_json::json;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::net::Ipv6Addr;
use std::time::Duration;

const KNOWN: Mac = Mac([0x02, 0x00, 0x0a, 0xc5, 0x00, 0x17]);
const STRANGER: Mac = Mac([0x02, 0x00, 0x0a, 0xc5, 0x99, 0x99]);

struct Cloud {
    vms: Mutex<Result<Vec<Vm>, ApiError>>,
    calls: AtomicUsize,
}

impl NicSource for Arc<Cloud> {
    fn list_vms(&self, _stop: &AtomicBool, page: &mut dyn FnMut(Vec<Vm>)) -> Result<Listing, ApiError> {
        self.calls.fetch_add(1, Ordering::SeqCst);
        let vms = self.vms.lock().clone()?;
        let listing = Listing::of(&vms);
        page(vms);
        Ok(listing)
    }

    fn lookup_vm(&self, _id: &str) -> Result<Option<Vm>, ApiError> {
        Err(ApiError::Transport("this cloud answers listings only".into()))
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
        "api-url": "https://c/client/api", "api-key": "k", "api-secret": "s", "trusted-relays": ["fd00::/8"], "miss-holdoff": 0,
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

/// The client's link as the router names it (VLAN 709's).
const LINK: Ipv6Addr = Ipv6Addr::new(0x2a00, 0xf10, 0x500, 0, 0, 0, 0, 1);

/// The router's address, inside "trusted-relays".
const ROUTER: Ipv6Addr = Ipv6Addr::new(0xfd00, 0, 0, 0, 0, 0, 0, 0x53);

fn query<'a>(msg_type: u8, interface_id: &'a [u8], remote_id: &'a [u8]) -> Query<'a> {
    Query {
        msg_type,
        router: RouterFacts { relay_hops: 1, interface_id, link_address: LINK, remote_id, client_link_layer: &[] },
        source: ROUTER,
        has_ia_pd: true,
        label: "test",
    }
}

fn steered(prefix: &str) -> QueryPlan {
    QueryPlan::Steer(Steer { prefix: net(prefix), mac: KNOWN, vlan: 709, nic_id: NicId::new("nic-1") })
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
        assert_eq!(plan, steered("2a00:f10:500:1170::/60"), "type {msg_type}");
    }
    assert_eq!(w.counters.get(Stat::Delegated), 0, "a delegation is counted when Kea's Reply carries it");
}

#[test]
fn a_relay_forward_from_an_address_that_is_not_a_router_is_dropped_whatever_it_carries() {
    let w = world(Ok(cloud_with("185.62.101.23")));
    let rid = remote_id(KNOWN);
    for msg_type in [msg::SOLICIT, msg::REQUEST, msg::RENEW, msg::REBIND, 8 /* Release */, 9 /* Decline */] {
        let mut forged = query(msg_type, b"VLAN709", &rid);
        forged.source = "2a00:f10:500:1180::1".parse().unwrap(); // a tenant's own routed address
        assert_eq!(w.delegator.plan_query(&forged), QueryPlan::Drop, "type {msg_type}");
        forged.router.relay_hops = 2;
        assert_eq!(w.delegator.plan_query(&forged), QueryPlan::Drop, "nested, type {msg_type}");
    }
    assert_eq!(w.counters.get(Stat::RefusedUntrustedRelay), 12);
    let mut no_pd = query(msg::SOLICIT, b"VLAN709", &rid);
    no_pd.source = "2a00:f10:500:1180::1".parse().unwrap();
    no_pd.has_ia_pd = false;
    assert_eq!(w.delegator.plan_query(&no_pd), QueryPlan::Leave, "messages without IA_PD are Kea's business");
}

#[test]
fn a_long_nic_id_is_cut_at_a_character_boundary() {
    assert_eq!(NicId::new("nic-1").as_str(), "nic-1");
    let long = format!("{}é", "x".repeat(63));
    assert_eq!(NicId::new(&long).as_str(), "x".repeat(63));
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
    direct.source = "2a00:f10:500:1180::1".parse().unwrap();
    let mut nested = query(msg::SOLICIT, b"VLAN709", &rid);
    nested.router.relay_hops = 2;
    let cases = [
        (direct, Refusal::NotRelayed),
        (nested, Refusal::NestedRelay(2)),
        (query(msg::SOLICIT, b"VLAN999", &rid), Refusal::UnknownInterfaceId("VLAN999".into(), LINK)),
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
    assert_eq!(w.delegator.plan_query(&query(msg::RENEW, b"VLAN709", b"")), QueryPlan::Leave, "judged with the lease's record");
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
        if let QueryPlan::Steer(_) = w.delegator.plan_query(&query(msg::SOLICIT, b"VLAN709", &rid)) {
            steered = true;
            break;
        }
    }
    assert!(steered, "the retransmission after the sync is steered");
    assert!(w.cloud.calls.load(Ordering::SeqCst) >= 2);
    assert!(w.refresher.generation() >= 2);
}

#[test]
fn kea_may_hand_out_only_the_planned_prefix_to_the_first_ia_pd_or_this_clients_reservation() {
    let w = world(Ok(vec![]));
    let planned = Some(net("2a00:f10:500:1170::/60"));
    let select = |lease: &str, planned: Option<Ipv6Net>, planned_ia: bool, reservation: Option<Reservation<'_>>| {
        let selection = Selection { lease: net(lease), planned, planned_ia, mac: Some(KNOWN), reservation, label: "t" };
        w.delegator.judge_selection(&selection)
    };
    assert!(select("2a00:f10:500:1170::/60", planned, true, None));
    assert!(!select("2a00:f10:500:1170::/60", planned, false, None), "a second IA_PD does not get it too");
    assert!(!select("2a00:f10:500:10::/60", planned, true, None), "a pool prefix is skipped");
    assert!(!select("2a00:f10:500:10::/60", None, false, None), "refused clients get no pool prefix");
    let by_mac = Reservation { hwaddr: &KNOWN.0, duid_matches: false };
    let by_duid = Reservation { hwaddr: &[], duid_matches: true };
    let someone_elses = Reservation { hwaddr: &STRANGER.0, duid_matches: false };
    assert!(select("2a00:f10:500:10::/60", None, false, Some(by_mac)), "reserved for the router's MAC");
    assert!(select("2a00:f10:500:10::/60", None, false, Some(by_duid)), "reserved for the client's DUID");
    assert!(!select("2a00:f10:500:10::/60", None, false, Some(someone_elses)), "another client's reservation");
}

#[test]
fn a_renewal_of_a_prefix_the_nic_no_longer_owns_is_withdrawn() {
    let w = world(Ok(cloud_with("185.62.101.24"))); // the NIC's number changed: 279 -> 280
    let rid = remote_id(KNOWN);
    let renewal = |lease: &str, rid: &[u8], recorded: Option<Mac>, iface: &[u8]| {
        let r = Renewal { query: query(msg::RENEW, iface, rid), lease: net(lease), recorded_mac: recorded, reservation: None, has_details: true };
        w.delegator.judge_renewal(&r) == RenewalVerdict::Withdraw
    };
    let rid = rid.as_slice();
    assert!(renewal("2a00:f10:500:1170::/60", rid, None, b"VLAN709"), "old prefix");
    assert!(!renewal("2a00:f10:500:1180::/60", rid, None, b"VLAN709"), "current prefix");
    assert!(renewal("2a00:f10:500:1180::/60", &remote_id(STRANGER), None, b"VLAN709"), "a destroyed NIC's MAC");
    assert!(renewal("2a00:f10:500:1180::/60", rid, None, b"VLAN710"), "through another VLAN");
    assert_eq!(w.counters.get(Stat::Withdrawn), 3);
}

#[test]
fn a_renewal_is_kept_without_its_details_and_asks_for_them_before_anything_else_is_counted() {
    let w = world(Ok(cloud_with("185.62.101.24"))); // KNOWN owns 2a00:f10:500:1180::/60
    let rid = remote_id(KNOWN);
    let judge = |lease: &str, recorded: Option<Mac>, reservation: Option<Reservation<'static>>, has_details: bool| {
        let r = Renewal { query: query(msg::RENEW, b"VLAN709", &rid), lease: net(lease), recorded_mac: recorded, reservation, has_details };
        w.delegator.judge_renewal(&r)
    };
    assert_eq!(judge("2a00:f10:500:1180::/60", Some(KNOWN), None, false), RenewalVerdict::Keep, "the common path: final without details");
    assert_eq!(judge("2a00:f10:500:1170::/60", Some(KNOWN), None, false), RenewalVerdict::NeedsDetails, "a withdrawal waits for the details");
    assert_eq!(judge("2a00:f10:500:1180::/60", Some(STRANGER), None, false), RenewalVerdict::NeedsDetails, "so does a foreign renewal");
    assert_eq!((w.counters.get(Stat::Withdrawn), w.counters.get(Stat::RefusedForeign)), (0, 0), "nothing counted before the details");
    let reserved = Reservation { hwaddr: &KNOWN.0, duid_matches: false };
    assert_eq!(judge("2a00:f10:500:1170::/60", Some(KNOWN), Some(reserved), true), RenewalVerdict::Keep, "a reservation for the client keeps it");
    assert_eq!(judge("2a00:f10:500:1170::/60", Some(KNOWN), None, true), RenewalVerdict::Withdraw);
    assert_eq!(judge("2a00:f10:500:1180::/60", Some(STRANGER), None, true), RenewalVerdict::Foreign);
    assert_eq!((w.counters.get(Stat::Withdrawn), w.counters.get(Stat::RefusedForeign)), (1, 1));
}

#[test]
fn a_renewal_without_the_routers_mac_is_judged_by_what_the_lease_recorded_else_by_the_prefix() {
    let w = world(Ok(cloud_with("185.62.101.24"))); // KNOWN owns 2a00:f10:500:1180::/60
    let renewal = |lease: &str, recorded: Option<Mac>| {
        let r = Renewal { query: query(msg::RENEW, b"VLAN709", b""), lease: net(lease), recorded_mac: recorded, reservation: None, has_details: true };
        w.delegator.judge_renewal(&r) == RenewalVerdict::Withdraw
    };
    assert!(!renewal("2a00:f10:500:1180::/60", Some(KNOWN)), "the recorded NIC still owns it");
    assert!(renewal("2a00:f10:500:1170::/60", Some(KNOWN)), "the recorded NIC was renumbered");
    assert!(renewal("2a00:f10:500:1180::/60", Some(STRANGER)), "the recorded NIC is gone, another one owns the prefix");
    assert!(!renewal("2a00:f10:500:1180::/60", None), "nothing recorded: a live NIC owns the prefix");
    assert!(renewal("2a00:f10:500:1170::/60", None), "nothing recorded: no live NIC owns the prefix");
    assert_eq!(w.counters.get(Stat::Withdrawn), 3);
}

#[test]
fn a_renewal_the_router_did_not_vouch_for_is_no_evidence_and_is_kept() {
    let w = world(Ok(cloud_with("185.62.101.99"))); // KNOWN owns another prefix: 2a00:f10:500:1170::/60 would be withdrawn
    let rid = remote_id(KNOWN);
    let mut direct = query(msg::RENEW, b"VLAN709", &rid);
    direct.router.relay_hops = 0;
    let mut nested = query(msg::REBIND, b"VLAN709", &rid);
    nested.router.relay_hops = 2;
    let backup_router = query(msg::REBIND, b"irb.709", &rid); // other interface names
    for q in [direct, nested, backup_router] {
        let r = Renewal { query: q, lease: net("2a00:f10:500:1170::/60"), recorded_mac: Some(KNOWN), reservation: None, has_details: true };
        assert!(!(w.delegator.judge_renewal(&r) == RenewalVerdict::Withdraw), "{q:?}");
    }
    assert_eq!(w.counters.get(Stat::Withdrawn), 0);
}

#[test]
fn nothing_is_withdrawn_before_cloudstack_has_answered_once() {
    let w = world(Err(ApiError::Transport("connection refused".into())));
    let rid = remote_id(KNOWN);
    let r = Renewal { query: query(msg::RENEW, b"VLAN709", &rid), lease: net("2a00:f10:500:1170::/60"), recorded_mac: None, reservation: None, has_details: true };
    assert!(!(w.delegator.judge_renewal(&r) == RenewalVerdict::Withdraw));
}

#[test]
fn a_nic_the_index_refused_is_known_and_its_retransmissions_ask_for_no_sync() {
    // Two NICs with the same number: the one with the larger id is refused.
    let vms: Vec<Vm> = serde_json::from_value(json!([
        {"id": "vm-1", "name": "a", "state": "Running", "nic": [{"id": "nic-1", "macaddress": "02:00:00:00:00:01",
            "ipaddress": "185.62.100.9", "netmask": "255.255.252.0", "vlanid": 709}]},
        {"id": "vm-2", "name": "b", "state": "Running", "nic": [{"id": "nic-2", "macaddress": KNOWN.to_string(),
            "ipaddress": "185.62.104.9", "netmask": "255.255.252.0", "vlanid": 709}]}
    ]))
    .unwrap();
    let w = world(Ok(vms));
    let rid = remote_id(KNOWN);
    let calls = w.cloud.calls.load(Ordering::SeqCst);
    for _ in 0..50 {
        let plan = w.delegator.plan_query(&query(msg::SOLICIT, b"VLAN709", &rid));
        assert_eq!(plan, QueryPlan::Refuse { reason: Refusal::NicRefused, mac: Some(KNOWN) });
    }
    std::thread::sleep(Duration::from_millis(50));
    assert_eq!(w.cloud.calls.load(Ordering::SeqCst), calls, "no early sync for a NIC the index knows it refused");
    assert_eq!(w.counters.get(Stat::RefusedNic), 50);
}

#[test]
fn a_neighbour_replaying_the_owners_duid_neither_extends_nor_withdraws_the_owners_lease() {
    let w = world(Ok(cloud_with("185.62.101.23")));
    let neighbour = remote_id(STRANGER); // the router stamps the sender's own MAC
    let renew = Renewal { query: query(msg::RENEW, b"VLAN709", &neighbour), lease: net("2a00:f10:500:1170::/60"), recorded_mac: Some(KNOWN), reservation: None, has_details: true };
    assert_eq!(w.delegator.judge_renewal(&renew), RenewalVerdict::Foreign);
    assert!(!w.delegator.allows_release(&renew.query, Some(KNOWN)), "nor release it");
    let owner = remote_id(KNOWN);
    assert!(w.delegator.allows_release(&query(msg::RELEASE, b"VLAN709", &owner), Some(KNOWN)));
    assert!(w.delegator.allows_release(&query(msg::RELEASE, b"VLAN709", b""), Some(KNOWN)), "no MAC from the router: no evidence");
    assert_eq!(w.counters.get(Stat::RefusedForeign), 2);
    assert_eq!(w.counters.get(Stat::Withdrawn), 0);
}

#[test]
fn a_release_or_decline_sent_straight_to_kea_is_dropped() {
    let w = world(Ok(cloud_with("185.62.101.23")));
    for msg_type in [msg::RELEASE, msg::DECLINE] {
        let mut direct = query(msg_type, b"", b"");
        direct.router.relay_hops = 0;
        assert_eq!(w.delegator.plan_query(&direct), QueryPlan::Drop, "type {msg_type}");
    }
    let mut renew = query(msg::RENEW, b"", b"");
    renew.router.relay_hops = 0;
    assert_eq!(w.delegator.plan_query(&renew), QueryPlan::Leave, "a direct Renew is no evidence either way");
}

#[test]
fn an_empty_index_withdraws_nothing_even_when_complete() {
    let w = world(Ok(vec![])); // the API key lost its scope: CloudStack lists nothing
    let rid = remote_id(KNOWN);
    let r = Renewal { query: query(msg::RENEW, b"VLAN709", &rid), lease: net("2a00:f10:500:1170::/60"), recorded_mac: Some(KNOWN), reservation: None, has_details: true };
    assert_eq!(w.delegator.judge_renewal(&r), RenewalVerdict::Keep);
}
