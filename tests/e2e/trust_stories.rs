//! Trust (issue 9): only the routers speak for clients, every decision rests on evidence Kea keeps,
//! the hook fails closed, and the configuration Kea runs must serve the hook's VLANs.
use std::time::Duration;

use serde_json::{json, Map, Value};

use crate::core_stories::{
    assert_no_error_lines, nic_vm, only_prefix, prefixes, raw_remote_id, router, two_vlans, web_and_db, DB_MAC,
    DB_PREFIX, WEB_MAC, WEB_PREFIX,
};
use crate::lab::dhcp6::{Answer, Client, MacCarrier, Router};
use crate::lab::{wait_until, KeaVersion, Lab, LabSpec};

pub(crate) fn stat(lab: &Lab, name: &str) -> i64 {
    let answer = lab.control(json!({"command": "statistic-get", "arguments": {"name": name}}));
    answer["arguments"][name][0][0].as_i64().unwrap_or_else(|| panic!("{name} missing: {answer}"))
}

/// Asks for a sync and waits until it has been served.
pub(crate) fn resync(lab: &Lab) {
    let before = lab.control(json!({"command": "cloudstack-status"}))["arguments"]["counters"]["cloudstack.sync-ok"].as_i64();
    lab.control(json!({"command": "cloudstack-resync"}));
    let synced = wait_until(Duration::from_secs(15), || {
        lab.control(json!({"command": "cloudstack-status"}))["arguments"]["counters"]["cloudstack.sync-ok"].as_i64() > before
    });
    assert!(synced, "a sync ran after cloudstack-resync:\n{}", lab.kea_log());
}

/// Asserts that a Renew or Rebind kept the prefix: Kea answered the subnet's lifetimes (300, 600). Kea 3.0
/// caches leases by default (`cache-threshold` 0.25, read in Kea-3.0.3 simple_parser6.cc; 2.6: no cache):
/// a renewal within a quarter of the valid lifetime (150 s) reuses the lease and is answered with what is
/// left of both lifetimes (AllocEngine::setLeaseReusable), e.g. (295, 595) five seconds later.
pub(crate) fn assert_extended(lab: &Lab, lifetimes: (u32, u32), what: &str) {
    assert_extended_by(lab.kea_version(), lifetimes, what);
}

/// `assert_extended` for an answer of Kea `version` (a cluster's servers all run the image's release).
pub(crate) fn assert_extended_by(version: KeaVersion, (preferred, valid): (u32, u32), what: &str) {
    if version.is_3_0_or_later() {
        let age = 600u32.saturating_sub(valid);
        assert!(age <= 150 && preferred + age == 300,
                "{what}: extended, or answered from Kea {version}'s lease cache, got ({preferred}, {valid})");
    } else {
        assert_eq!((preferred, valid), (300, 600), "{what}: extended");
    }
}

/// The delegation of `prefix` in `answer`, withdrawn or not.
pub(crate) fn lifetimes_of(answer: &Answer, prefix: &str) -> (u32, u32) {
    let found = answer.prefixes.iter().find(|p| format!("{}/{}", p.prefix, p.len) == prefix);
    let found = found.unwrap_or_else(|| panic!("{prefix} is in the answer: {:?}", answer.prefixes));
    (found.preferred, found.valid)
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect::<Vec<_>>().join(":")
}

/// A tenant whose VM reaches Kea's address sends its own Relay-Forward, posing as the router with
/// the victim's MAC: it gets nothing, Kea keeps no lease of its DUID, the victim keeps its /60 and
/// a flood of such packets is counted, not logged line by line.
#[test]
fn a_tenant_posing_as_the_router_gets_nothing_and_the_victim_keeps_its_prefix() {
    let lab = Lab::start(LabSpec { vlans: two_vlans(), cloud: web_and_db(), trust_only_the_router: true, ..LabSpec::default() });
    let victim = Client::new(WEB_MAC);
    let r = router(&lab, "VLAN709", MacCarrier::ClientLinkLayer);
    let reply = r.acquire(&victim).unwrap().expect("the victim's Reply");
    assert_eq!(prefixes(&reply), [WEB_PREFIX]);

    // The forger sends from another address of the same link, with the victim's MAC in option 79.
    let server = std::net::SocketAddrV6::new(lab.kea_addr(), 547, 0, 0);
    let link = "2a00:f10:500::1".parse().unwrap();
    let forger = Router::new(lab.router_socket_at(0x66), server, link, b"VLAN709", MacCarrier::ClientLinkLayer);
    let tenant = Client::new(WEB_MAC); // the tenant's own DUID, claiming the victim's NIC
    assert!(forger.solicit(&tenant, None).unwrap().is_none(), "Kea does not even answer the forger");
    assert!(forger.acquire(&tenant).unwrap().is_none());
    // A flood, in bursts the kernel does not drop: each burst is counted before the next is sent.
    let mut sent = stat(&lab, "cloudstack.refused-untrusted-relay");
    assert_eq!(sent, 2, "the forger's Solicit and its retry were counted");
    for _ in 0..30 {
        for _ in 0..10 {
            forger.solicit_and_go(&tenant).unwrap();
        }
        sent += 10;
        let counted = wait_until(Duration::from_secs(5), || stat(&lab, "cloudstack.refused-untrusted-relay") >= sent);
        assert!(counted, "every forged packet is counted: {} of {sent}", stat(&lab, "cloudstack.refused-untrusted-relay"));
    }
    let leases = lab.leases();
    assert!(!leases.iter().any(|l| l.duid == hex(&tenant.duid)), "no lease of the forger's DUID: {leases:?}");
    let renewed = r.renew(&victim, &reply).unwrap().expect("the victim's Renew is answered");
    assert_extended(&lab, lifetimes_of(&renewed, WEB_PREFIX), "the victim's Renew");
    let lines = lab.kea_log().lines().filter(|l| l.contains("CLOUDSTACK_UNTRUSTED_RELAY")).count();
    assert!((1..=2).contains(&lines), "a flood of 302 forged packets makes at most a line per 10 s, got {lines}");
    assert_no_error_lines(&lab);
}

/// Writes a changed Kea config and asks Kea to reload it; returns Kea's answer.
pub(crate) fn reload_with(lab: &Lab, change: impl FnOnce(&mut Value)) -> Value {
    let path = lab.kea_config_path();
    let mut config: Value = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    change(&mut config);
    std::fs::write(&path, serde_json::to_string_pretty(&config).unwrap()).unwrap();
    lab.control(json!({"command": "config-reload"}))
}

/// A router that sends the MAC on Solicit and Request only (as Juniper documents option 79): a live
/// NIC's Renew and Rebind are extended with what the lease recorded, across a restart of Kea; once
/// CloudStack has destroyed the VM or renumbered the NIC, the old prefix is withdrawn.
#[test]
fn renewals_without_the_routers_mac_are_judged_by_what_the_lease_recorded() {
    let mut lab = Lab::start(LabSpec { vlans: two_vlans(), cloud: web_and_db(), ..LabSpec::default() });
    let juniper = |lab: &Lab| router(lab, "VLAN709", MacCarrier::ClientLinkLayer).mac_on_solicit_and_request_only();
    let (web, db) = (Client::new(WEB_MAC), Client::new(DB_MAC));
    let web_reply = juniper(&lab).acquire(&web).unwrap().expect("web's Reply");
    let db_reply = juniper(&lab).acquire(&db).unwrap().expect("db's Reply");
    assert_eq!((prefixes(&web_reply), prefixes(&db_reply)), (vec![WEB_PREFIX.to_string()], vec![DB_PREFIX.to_string()]));
    let recorded = lab.leases().into_iter().find(|l| l.prefix() == WEB_PREFIX).expect("web's lease");
    assert!(recorded.user_context.contains("02:00:0a:c5:00:17") && recorded.user_context.contains("nic-web"),
            "the lease records the NIC: {recorded:?}");

    lab.restart_kea(); // the record lives in the lease file
    let renewed = juniper(&lab).renew(&web, &web_reply).unwrap().expect("web's Renew");
    assert_extended(&lab, lifetimes_of(&renewed, WEB_PREFIX), "web's Renew");
    let rebound = juniper(&lab).rebind(&db, &db_reply.prefixes).unwrap().expect("db's Rebind");
    assert_extended(&lab, lifetimes_of(&rebound, DB_PREFIX), "db's Rebind");

    lab.standin().set_state("web", "Destroyed");
    lab.standin().remove_vm("db");
    lab.standin().add_vm(nic_vm("db", DB_MAC, "185.62.101.99", 709)); // n: 280 -> 355
    resync(&lab);
    let withdrawn = juniper(&lab).renew(&web, &renewed).unwrap().expect("web's Renew after the destroy");
    assert_eq!(lifetimes_of(&withdrawn, WEB_PREFIX), (0, 0), "a destroyed VM's prefix is withdrawn");
    let withdrawn = juniper(&lab).rebind(&db, &rebound.prefixes).unwrap().expect("db's Rebind after the renumbering");
    assert_eq!(lifetimes_of(&withdrawn, DB_PREFIX), (0, 0), "a renumbered NIC's old prefix is withdrawn");
    assert_eq!(stat(&lab, "cloudstack.withdrawn"), 2);
}

/// A client asking for two prefixes in one message: its first IA_PD gets the NIC's /60, the other
/// is answered NoPrefixAvail (RFC 8415 §18.3), in the Advertise and in the Reply.
#[test]
fn a_second_ia_pd_in_one_message_is_answered_no_prefix_avail() {
    let lab = Lab::start(LabSpec { vlans: two_vlans(), cloud: web_and_db(), ..LabSpec::default() });
    let web = Client::new(WEB_MAC);
    let second = web.iaid.wrapping_add(1);
    let (advertise, reply) = router(&lab, "VLAN709", raw_remote_id()).acquire_with_more_ia_pds(&web, &[second]).unwrap();
    for answer in [advertise.expect("an Advertise"), reply.expect("a Reply")] {
        assert_eq!(answer.ia_pds.len(), 2, "both IA_PDs are answered: {:?}", answer.ia_pds);
        let (first, other) = (&answer.ia_pds[0], &answer.ia_pds[1]);
        assert_eq!(first.iaid, web.iaid);
        let given: Vec<String> = first.prefixes.iter().filter(|p| p.valid > 0).map(|p| format!("{}/{}", p.prefix, p.len)).collect();
        assert_eq!(given, [WEB_PREFIX]);
        assert_eq!(other.iaid, second);
        assert!(other.prefixes.iter().all(|p| p.valid == 0), "{other:?}");
        assert_eq!(other.status, Some(6), "NoPrefixAvail for the second IA_PD: {other:?}");
    }
    let live: Vec<_> = lab.leases().into_iter().filter(|l| l.is_prefix() && l.valid_lifetime > 0).collect();
    assert_eq!(live.len(), 1, "one prefix for the NIC: {live:?}");
}

/// Kea's lease cache answers an unchanged renewal from the cache; it must never answer a
/// withdrawn one with the old lifetimes. Shown with `cache-threshold` (on by default in Kea 3.0)
/// and with `cache-max-age`.
fn a_withdrawal_is_never_answered_from_the_lease_cache(cache: Value) {
    let mut globals = Map::new();
    for (key, value) in cache.as_object().unwrap() {
        globals.insert(key.clone(), value.clone());
    }
    let lab = Lab::start(LabSpec { vlans: two_vlans(), cloud: web_and_db(), kea_globals: globals, ..LabSpec::default() });
    let r = router(&lab, "VLAN709", raw_remote_id());
    let web = Client::new(WEB_MAC);
    let reply = r.acquire(&web).unwrap().expect("web's Reply");
    let cached = r.renew(&web, &reply).unwrap().expect("an early Renew");
    let (_, valid) = lifetimes_of(&cached, WEB_PREFIX);
    assert!(valid > 0 && valid <= 600, "served (the cache may answer it): {valid}");
    lab.standin().set_state("web", "Destroyed");
    resync(&lab);
    let withdrawn = r.renew(&web, &reply).unwrap().expect("the Renew after the destroy");
    assert_eq!(lifetimes_of(&withdrawn, WEB_PREFIX), (0, 0), "withdrawn despite the cache ({cache})");
    let stored = lab.leases().into_iter().filter(|l| l.prefix() == WEB_PREFIX && l.valid_lifetime > 0).count();
    assert_eq!(stored, 0, "Kea stored the withdrawal too: {:?}", lab.leases());
}

#[test]
fn a_withdrawal_is_never_answered_from_kea_s_lease_cache_with_cache_threshold() {
    a_withdrawal_is_never_answered_from_the_lease_cache(json!({"cache-threshold": 0.25}));
}

#[test]
fn a_withdrawal_is_never_answered_from_kea_s_lease_cache_with_cache_max_age() {
    a_withdrawal_is_never_answered_from_the_lease_cache(json!({"cache-max-age": 600}));
}

/// A configuration in which a VLAN of the hook has no subnet, or whose pd-pool delegates another
/// length, is refused with a message naming the VLAN; Kea goes on with a good one.
#[test]
fn kea_refuses_a_configuration_that_does_not_serve_every_vlan() {
    let lab = Lab::start(LabSpec { vlans: two_vlans(), cloud: web_and_db(), ..LabSpec::default() });
    let original = std::fs::read_to_string(lab.kea_config_path()).unwrap();
    let running = lab.control(json!({"command": "config-get"}));
    assert!(!running.to_string().contains(lab.standin().secret_key()), "with secret-key-file config-get shows a path only");
    let no_subnet = reload_with(&lab, |c| {
        c["Dhcp6"]["subnet6"].as_array_mut().unwrap().retain(|s| s["interface-id"] != "VLAN710");
    });
    assert_eq!(no_subnet["result"], 1, "{no_subnet}");
    assert!(no_subnet["text"].as_str().unwrap().contains("VLAN 710 (interface-id 'VLAN710'): no Kea subnet"), "{no_subnet}");

    std::fs::write(lab.kea_config_path(), &original).unwrap();
    let other_length = reload_with(&lab, |c| c["Dhcp6"]["subnet6"][0]["pd-pools"][0]["delegated-len"] = json!(64));
    assert_eq!(other_length["result"], 1, "{other_length}");
    let text = other_length["text"].as_str().unwrap();
    assert!(text.contains("VLAN 709") && text.contains("delegated-len 60") && text.contains("delegated-len 64"), "{text}");
    assert!(lab.kea_log().contains("CLOUDSTACK_CONFIG_MISMATCH"));

    std::fs::write(lab.kea_config_path(), &original).unwrap();
    let good = lab.control(json!({"command": "config-reload"}));
    assert_eq!(good["result"], 0, "{good}\n{}", lab.kea_log());
    let reply = router(&lab, "VLAN709", raw_remote_id()).acquire(&Client::new(WEB_MAC)).unwrap();
    assert_eq!(only_prefix(&reply), [WEB_PREFIX]);
}

/// An inline API secret (`api-secret`) is redacted by Kea in its debug log of the configuration it
/// received (Kea's `config-get` redacts nothing, so the README keeps secrets in `secret-key-file`).
/// Trusting `::/0` works but is warned about at load.
#[test]
fn an_inline_api_secret_never_shows_in_kea_s_log_and_any_relay_trust_is_warned_about() {
    let mut params = Map::new();
    params.insert("trusted-relays".into(), json!(["::/0"]));
    let lab = Lab::start(LabSpec {
        vlans: two_vlans(),
        cloud: web_and_db(),
        inline_secret: true,
        kea_debug: true,
        hook_params: params,
        ..LabSpec::default()
    });
    let secret = lab.standin().secret_key().to_string();
    let reply = router(&lab, "VLAN709", raw_remote_id()).acquire(&Client::new(WEB_MAC)).unwrap();
    assert_eq!(only_prefix(&reply), [WEB_PREFIX], "the inline secret signs the API calls");
    let log = lab.kea_log();
    assert!(log.contains("DHCP6_CONFIG_RECEIVED"), "Kea logged the configuration it received");
    assert!(!log.contains(&secret), "Kea's log shows the secret");
    let warn = log.lines().find(|l| l.contains("CLOUDSTACK_TRUSTS_ANY_RELAY")).expect("a warning about ::/0");
    assert!(warn.contains(" WARN "), "{warn}");
}

/// A neighbour on the same VLAN that saw the owner's DUID and IAID (multicast Solicits) replays
/// them through the router, which stamps the neighbour's own MAC: its Renew is answered with
/// lifetimes 0 and leaves the owner's lease as it was; its Release, relayed or sent straight to
/// Kea, frees nothing. The owner renews as before.
#[test]
fn a_neighbour_replaying_the_owners_duid_can_neither_renew_nor_release_its_prefix() {
    let lab = Lab::start(LabSpec { vlans: two_vlans(), cloud: web_and_db(), ..LabSpec::default() });
    let r = router(&lab, "VLAN709", raw_remote_id());
    let owner = Client::new(WEB_MAC);
    let reply = r.acquire(&owner).unwrap().expect("the owner's Reply");
    let neighbour = Client { mac: DB_MAC, duid: owner.duid.clone(), iaid: owner.iaid };

    let replayed = r.renew(&neighbour, &reply).unwrap().expect("the neighbour's Renew is answered");
    assert_eq!(lifetimes_of(&replayed, WEB_PREFIX), (0, 0), "the neighbour is told the prefix is not its own");
    let released = r.release(&neighbour, &reply).unwrap();
    assert!(released.is_some(), "Kea answers the Release");
    let direct = crate::lab::dhcp6::client_message(8, &owner, reply.server_id.as_deref(), &reply.prefixes);
    assert!(r.send_raw(&direct).unwrap().is_none(), "a Release sent straight to Kea is dropped");

    let renewed = r.renew(&owner, &reply).unwrap().expect("the owner's Renew");
    assert_extended(&lab, lifetimes_of(&renewed, WEB_PREFIX), "the owner's lease is whole");
    let live = lab.leases().into_iter().filter(|l| l.prefix() == WEB_PREFIX && l.valid_lifetime > 0).count();
    assert_eq!(live, 1, "{:?}", lab.leases());
    assert_eq!(stat(&lab, "cloudstack.refused-foreign"), 2, "the replayed Renew and Release");
}
