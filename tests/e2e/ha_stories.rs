//! High availability (issue 12): two Kea servers, both with the hook and both syncing from CloudStack, agree on every
//! NIC's /60 without talking; Kea's HA hook carries the leases, including the ones the hook clears out of a NIC's
//! way and the NIC it records on each lease. Each story runs real kea-dhcp6 containers of the image's release, 2.6.3
//! or 3.0.x (see `lab::ha`). Where the releases differ the stories say how: Kea 3.0 answers a renewal early in a
//! lease's life from its lease cache (the remaining lifetimes, nothing stored, no HA lease update), also on a
//! standby that got the lease from its partner and on a primary that synced it back (`assert_extended_by`).
use std::time::{Duration, Instant, SystemTime};

use serde_json::json;

use crate::core_stories::{hex, nic_vm, prefixes, raw_remote_id, two_vlans, web_and_db, DB_MAC, DB_PREFIX, WEB_MAC, WEB_PREFIX};
use crate::lab::dhcp6::{Answer, Client, MacCarrier, Router};
use crate::lab::ha::{HA_LIBRARY, HEARTBEAT_DELAY_MS, MAX_RESPONSE_DELAY_MS};
use crate::lab::{wait_until, Cluster, ClusterSpec, HaMode, LabSpec, LeaseRow, HOOK_LIBRARY};
use crate::trust_stories::{assert_extended_by, lifetimes_of};

const PRIMARY: usize = 0;
const STANDBY: usize = 1;

fn pair(mode: HaMode) -> Cluster {
    Cluster::start(ClusterSpec::ha_pair(mode, LabSpec { vlans: two_vlans(), cloud: web_and_db(), ..LabSpec::default() }))
}

/// The live prefix leases of a server's lease file: prefix → DUID.
fn holders(leases: &[LeaseRow]) -> Vec<(String, String)> {
    let mut held: Vec<(String, String)> =
        leases.iter().filter(|l| l.is_prefix() && l.valid_lifetime > 0).map(|l| (l.prefix(), l.duid.clone())).collect();
    held.sort();
    held
}

/// How long a failover took, from the primary's SIGTERM: to the standby's move to partner-down (its log) and to
/// the first Reply the client got from the standby.
struct Failover {
    to_partner_down: Option<Duration>,
    to_first_reply: Duration,
}

/// Stops the primary and rebinds `client`'s prefixes through `quick` (a router with a short timeout) until the
/// standby answers: that answer and how long the failover took.
fn fail_over(pair: &mut Cluster, quick: &Router, client: &Client, held: &Answer) -> (Answer, Failover) {
    let (started, stopped_at) = (Instant::now(), SystemTime::now());
    pair.signal_stop(PRIMARY);
    let bound = Duration::from_millis(MAX_RESPONSE_DELAY_MS + 3 * HEARTBEAT_DELAY_MS + 10_000);
    let mut answer = None;
    // A primary still shutting down may answer the first Rebinds (seen on Kea 3.0.3, within 50 ms of the SIGTERM):
    // the failover is over when the standby answers.
    let answered = wait_until(bound, || {
        answer = quick.rebind(client, &held.prefixes).unwrap();
        answer.as_ref().is_some_and(|a| pair.answered_by(a) == STANDBY)
    });
    let to_first_reply = started.elapsed();
    pair.stop(PRIMARY);
    assert!(answered, "the standby answered no Rebind within {bound:?} of the primary's stop\n{}", pair.logs());
    let to_partner_down = pair
        .logged_after(STANDBY, "to PARTNER-DOWN state", stopped_at)
        .and_then(|t| t.duration_since(stopped_at).ok());
    (answer.unwrap(), Failover { to_partner_down, to_first_reply })
}

/// Hot-standby: both servers list CloudStack themselves; the primary delegates and its standby holds the same
/// lease at once (HA's lease update). When the primary stops, the standby takes over within seconds (printed:
/// primary stop → first Reply from the standby), extends the client's /60 on Rebind and then on Renew (the Renew
/// addressed to the stopped primary goes unanswered), and gives a reinstalled VM the same /60; when the primary
/// returns it syncs and both hold the same leases.
#[test]
fn a_hot_standby_pair_fails_over_and_every_nic_keeps_its_prefix() {
    let mut pair = pair(HaMode::HotStandby);
    let counts = pair.standin().request_counts();
    assert_eq!((counts.listings_begun, counts.listing_pages), (2, 4),
        "each server listed CloudStack itself at start: both passes (VMs outside projects, project VMs), a page each");
    let r = pair.router("VLAN709", raw_remote_id());
    let web = Client::new(WEB_MAC);
    let reply = r.acquire(&web).unwrap().expect("web's Reply");
    assert_eq!(prefixes(&reply), [WEB_PREFIX]);
    assert_eq!(pair.answered_by(&reply), PRIMARY, "the primary serves while all is well");

    let on_standby = pair.server(STANDBY).lease6_get(WEB_PREFIX).expect("the standby holds web's lease");
    assert_eq!(on_standby["duid"], hex(&web.duid), "{on_standby}");
    assert_eq!(holders(&pair.server(STANDBY).leases()), holders(&pair.server(PRIMARY).leases()), "the lease files agree");

    let quick = pair.router("VLAN709", raw_remote_id()).with_timeout(Duration::from_millis(250));
    let (rebound, failover) = fail_over(&mut pair, &quick, &web, &reply);
    println!("failover: primary's SIGTERM -> standby in partner-down {:?} ms -> first Reply from the standby {} ms \
              (heartbeat-delay {HEARTBEAT_DELAY_MS} ms, max-response-delay {MAX_RESPONSE_DELAY_MS} ms, max-unacked-clients 0)",
        failover.to_partner_down.map(|d| d.as_millis()), failover.to_first_reply.as_millis());
    assert_eq!(pair.answered_by(&rebound), STANDBY);
    assert_eq!(pair.server(STANDBY).ha_state(), "partner-down");
    let kea = pair.kea_version();
    assert_extended_by(kea, lifetimes_of(&rebound, WEB_PREFIX), "the standby extends web's /60 on Rebind");
    assert!(quick.renew(&web, &reply).unwrap().is_none(), "a Renew to the stopped primary's Server-Id goes unanswered");
    let renewed = r.renew(&web, &rebound).unwrap().expect("a Renew to the standby");
    assert_extended_by(kea, lifetimes_of(&renewed, WEB_PREFIX), "the standby extends web's /60 on Renew");

    let reinstalled = Client::new(WEB_MAC);
    let again = r.acquire(&reinstalled).unwrap().expect("the reinstalled VM's Reply");
    assert_eq!((prefixes(&again), pair.answered_by(&again)), (vec![WEB_PREFIX.to_string()], STANDBY));
    assert_eq!(holders(&pair.server(STANDBY).leases()), [(WEB_PREFIX.to_string(), hex(&reinstalled.duid))]);

    pair.restart(PRIMARY);
    assert_eq!(holders(&pair.server(PRIMARY).leases()), holders(&pair.server(STANDBY).leases()),
        "the returning primary synced the standby's leases");
    let back = r.rebind(&reinstalled, &again.prefixes).unwrap().expect("a Rebind after the primary's return");
    assert_eq!(pair.answered_by(&back), PRIMARY, "the returning primary serves again");
    assert_extended_by(kea, lifetimes_of(&back, WEB_PREFIX), "the returning primary extends the reinstalled VM's /60");
}

/// The renumbered db NIC (185.62.101.24 → .99): its prefix moves from n = 280 to n = 355.
const DB_RENUMBERED_PREFIX: &str = "2a00:f10:500:1630::/60";

/// What the hook clears out of a NIC's way on the primary is gone on the standby too: the renumbered NIC's stale
/// prefix (the client's own lease on the old /60) reaches it as a deletion, and the reinstalled VM's old DUID is
/// replaced by the new DUID's lease on the same /60. After a failover the standby holds neither, and neither is
/// extended for the DUID that left it.
#[test]
fn leases_the_hook_clears_on_the_primary_are_deleted_on_the_standby_too() {
    let mut pair = pair(HaMode::HotStandby);
    let r = pair.router("VLAN709", raw_remote_id());
    let (web, db) = (Client::new(WEB_MAC), Client::new(DB_MAC));
    let web_reply = r.acquire(&web).unwrap().expect("web's Reply");
    let db_reply = r.acquire(&db).unwrap().expect("db's Reply");
    assert_eq!((prefixes(&web_reply), prefixes(&db_reply)), (vec![WEB_PREFIX.to_string()], vec![DB_PREFIX.to_string()]));
    assert!(pair.server(STANDBY).lease6_get(DB_PREFIX).is_some(), "the standby holds db's lease");

    // CloudStack renumbers db; its VM's DHCP client starts over with the same DUID.
    pair.standin().remove_vm("db");
    pair.standin().add_vm(nic_vm("db", DB_MAC, "185.62.101.99", 709));
    pair.resync(PRIMARY);
    pair.resync(STANDBY);
    let moved = r.acquire(&db).unwrap().expect("db's Reply after the renumbering");
    assert_eq!(prefixes(&moved), [DB_RENUMBERED_PREFIX]);
    assert_eq!(pair.server(STANDBY).lease6_get(DB_PREFIX), None, "the standby deleted db's stale lease");
    assert!(pair.server(PRIMARY).log().contains("CLOUDSTACK_CLEARED_COMMITTED"), "the primary handed the stale lease on");
    let deleted_row = pair.server(STANDBY).lease_journal().into_iter().rev().find(|l| l.prefix() == DB_PREFIX).unwrap();
    assert_eq!((deleted_row.duid.as_str(), deleted_row.valid_lifetime), (hex(&db.duid).as_str(), 0),
        "the standby's lease file records the deletion");

    let reinstalled = Client::new(WEB_MAC);
    let again = r.acquire(&reinstalled).unwrap().expect("the reinstalled VM's Reply");
    assert_eq!(prefixes(&again), [WEB_PREFIX]);
    let standby_holders = holders(&pair.server(STANDBY).leases());
    assert_eq!(standby_holders, [(WEB_PREFIX.to_string(), hex(&reinstalled.duid)), (DB_RENUMBERED_PREFIX.to_string(), hex(&db.duid))]);
    assert_eq!(holders(&pair.server(PRIMARY).leases()), standby_holders, "primary and standby hold the same leases");

    let quick = pair.router("VLAN709", raw_remote_id()).with_timeout(Duration::from_millis(250));
    let (rebound, _) = fail_over(&mut pair, &quick, &reinstalled, &again);
    assert_eq!(pair.answered_by(&rebound), STANDBY);
    assert_extended_by(pair.kea_version(), lifetimes_of(&rebound, WEB_PREFIX), "the standby extends the new DUID's /60");
    assert_eq!(holders(&pair.server(STANDBY).leases()), standby_holders, "nothing came back on the standby");
    for (client, reply, prefix) in [(&web, &web_reply, WEB_PREFIX), (&db, &db_reply, DB_PREFIX)] {
        let answer = r.rebind(client, &reply.prefixes).unwrap();
        let live = answer.as_ref().map(prefixes).unwrap_or_default();
        assert!(!live.contains(&prefix.to_string()), "the standby does not extend {prefix} for the DUID it left: {answer:?}");
    }
    assert_eq!(holders(&pair.server(STANDBY).leases()), standby_holders);
}

/// web and db swap IPv4 addresses: web's /60 (n = 279) is db's now, and web's is n = 355.
const WEB_SWAPPED_PREFIX: &str = "2a00:f10:500:1630::/60";

/// The NIC the hook records on a lease travels with HA's lease updates: the standby's copy names the MAC, VLAN and
/// NIC id, and once it serves it judges a renewal without the router's MAC by that record, as the primary would.
/// After web and db swap addresses, web's Rebind of its old /60 (now db's) is withdrawn on the standby because the
/// recorded NIC's prefix is another one now; judged by the prefix alone it would have been extended (db owns it).
#[test]
fn the_nic_recorded_on_a_lease_travels_to_the_standby_and_judges_renewals_there() {
    let mut pair = pair(HaMode::HotStandby);
    let juniper = pair.router("VLAN709", MacCarrier::ClientLinkLayer).mac_on_solicit_and_request_only();
    let web = Client::new(WEB_MAC);
    let reply = juniper.acquire(&web).unwrap().expect("web's Reply");
    assert_eq!(prefixes(&reply), [WEB_PREFIX]);
    let copy = pair.server(STANDBY).lease6_get(WEB_PREFIX).expect("the standby's copy of web's lease");
    assert_eq!(copy["user-context"], json!({"cloudstack": {"mac": "02:00:0a:c5:00:17", "vlan": 709, "nic-id": "nic-web"}}),
        "{copy}");
    let row = pair.server(STANDBY).leases().into_iter().find(|l| l.prefix() == WEB_PREFIX).unwrap();
    assert!(row.user_context.contains("\"nic-id\": \"nic-web\""), "the standby's lease file keeps the record: {row:?}");

    let quick = pair.router("VLAN709", MacCarrier::ClientLinkLayer).mac_on_solicit_and_request_only()
        .with_timeout(Duration::from_millis(250));
    let (rebound, _) = fail_over(&mut pair, &quick, &web, &reply);
    assert_eq!(pair.answered_by(&rebound), STANDBY);
    assert_extended_by(pair.kea_version(), lifetimes_of(&rebound, WEB_PREFIX),
        "the standby extends a Rebind without the MAC by the recorded NIC");

    pair.standin().remove_vm("web");
    pair.standin().remove_vm("db");
    pair.standin().add_vm(nic_vm("web", WEB_MAC, "185.62.101.99", 709));
    pair.standin().add_vm(nic_vm("db", DB_MAC, "185.62.101.23", 709));
    pair.resync(STANDBY);
    let renewed = juniper.renew(&web, &rebound).unwrap().expect("the standby answers web's Renew");
    assert_eq!(lifetimes_of(&renewed, WEB_PREFIX), (0, 0), "web's old /60 is withdrawn: it is db's now");
    let why = pair.server(STANDBY).log().lines().rev().find(|l| l.contains("CLOUDSTACK_RENEWAL_WITHDRAWN")).unwrap().to_string();
    assert!(why.contains(&format!("the NIC's prefix is {WEB_SWAPPED_PREFIX} now")), "judged by the recorded NIC: {why}");
    let fresh = juniper.acquire(&Client::new(DB_MAC)).unwrap().expect("db's Reply");
    assert_eq!(prefixes(&fresh), [WEB_PREFIX], "db gets its new /60 from the standby");
}

/// Kea calls a hook point's callouts in the order of `hooks-libraries`, and HA sends its partner the leases of
/// `leases6_committed` when its own callout runs: listed after `libdhcp_ha.so`, the hook would add the leases it
/// clears to `deleted_leases6` too late for HA. A configuration in that order is refused when Kea applies it, with
/// a message naming both entries (`CLOUDSTACK_LIBRARY_ORDER`); Kea goes on, takes the documented order at the next
/// reload, and the pair delegates and carries the lease to the standby as before.
#[test]
fn kea_refuses_a_configuration_that_lists_the_ha_hook_before_the_cloudstack_hook() {
    let pair = pair(HaMode::HotStandby);
    let primary = pair.server(PRIMARY);
    let documented = std::fs::read_to_string(primary.config_path()).unwrap();
    let mut config: serde_json::Value = serde_json::from_str(&documented).unwrap();
    let hooks = config["Dhcp6"]["hooks-libraries"].as_array_mut().unwrap();
    let ours = hooks.iter().position(|h| h["library"] == HOOK_LIBRARY).expect("the lab loads the CloudStack hook");
    let entry = hooks.remove(ours);
    hooks.push(entry);
    let order: Vec<String> = hooks.iter().map(|h| h["library"].as_str().unwrap().to_string()).collect();
    assert_eq!(order.last().map(String::as_str), Some(HOOK_LIBRARY), "{order:?}");
    let ha_entry = order.iter().position(|l| *l == HA_LIBRARY).unwrap() + 1;
    std::fs::write(primary.config_path(), serde_json::to_string_pretty(&config).unwrap()).unwrap();

    // The answer carries the reload's last error: HA, listed first, had its dhcp6_srv_configured callout run before
    // the hook's and scheduled its listener's start, which fails once the configuration is refused ("Error
    // initializing hooks: CmdHttpListener cannot be started when multi-threading is disabled", 2.6.3 and 3.0.3
    // alike). The hook's refusal is in the log.
    let refused = primary.control(json!({"command": "config-reload"}));
    assert_eq!(refused["result"], 1, "{refused}");
    println!("the reload in HA's order is answered: {}", refused["text"]);
    let log = primary.log();
    let why = log.lines().find(|l| l.contains("CLOUDSTACK_LIBRARY_ORDER")).unwrap_or_else(|| panic!("{log}"));
    assert!(why.contains(&format!("lists {HA_LIBRARY} (entry {ha_entry}) before {HOOK_LIBRARY} (entry {})", order.len()))
        && why.contains("list the CloudStack hook before libdhcp_ha.so"), "{why}");
    assert!(why.contains(" ERROR "), "{why}");

    std::fs::write(primary.config_path(), &documented).unwrap();
    let taken = primary.control(json!({"command": "config-reload"}));
    assert_eq!(taken["result"], 0, "the documented order is taken: {taken}");
    pair.wait_for_state(PRIMARY, "hot-standby", Duration::from_secs(60));
    pair.wait_for_state(STANDBY, "hot-standby", Duration::from_secs(60));
    let web = Client::new(WEB_MAC);
    let reply = pair.router("VLAN709", raw_remote_id()).acquire(&web).unwrap().expect("web's Reply");
    assert_eq!((prefixes(&reply), pair.answered_by(&reply)), (vec![WEB_PREFIX.to_string()], PRIMARY));
    assert!(pair.server(STANDBY).lease6_get(WEB_PREFIX).is_some(), "the standby holds web's lease");
}

/// A NIC of the load-balancing cloud: its VM id, MAC and IPv4 address (its /60 follows from the address).
struct Nic {
    id: &'static str,
    mac: [u8; 6],
    ip: &'static str,
    prefix: &'static str,
}

const LB_NICS: [Nic; 6] = [
    Nic { id: "web", mac: WEB_MAC, ip: "185.62.101.23", prefix: WEB_PREFIX },
    Nic { id: "db", mac: DB_MAC, ip: "185.62.101.24", prefix: DB_PREFIX },
    Nic { id: "vm3", mac: [0x02, 0, 0x0a, 0xc5, 0, 0x31], ip: "185.62.101.31", prefix: "2a00:f10:500:11f0::/60" },
    Nic { id: "vm4", mac: [0x02, 0, 0x0a, 0xc5, 0, 0x32], ip: "185.62.101.32", prefix: "2a00:f10:500:1200::/60" },
    Nic { id: "vm5", mac: [0x02, 0, 0x0a, 0xc5, 0, 0x33], ip: "185.62.101.33", prefix: "2a00:f10:500:1210::/60" },
    Nic { id: "vm6", mac: [0x02, 0, 0x0a, 0xc5, 0, 0x34], ip: "185.62.101.34", prefix: "2a00:f10:500:1220::/60" },
];
/// A NIC no story client uses: Solicits for it show which server a DUID hashes to, and clear nothing.
const PROBE_MAC: [u8; 6] = [0x02, 0, 0x0a, 0xc5, 0, 0x99];

/// A client on `mac` whose DUID load-balancing hands to server `k`: found by Soliciting for the probe NIC with fresh
/// DUIDs (HA hashes the DUID alone) until `k` answers.
fn client_served_by(pair: &Cluster, r: &Router, mac: [u8; 6], k: usize) -> Client {
    for _ in 0..64 {
        let probe = Client::new(PROBE_MAC);
        let advertise = r.solicit(&probe, None).unwrap().expect("an Advertise for the probe NIC");
        if pair.answered_by(&advertise) == k {
            return Client { mac, ..probe };
        }
    }
    panic!("64 fresh DUIDs and none hashed to server {k}");
}

/// Both lease files hold exactly `expected` (prefix → DUID) as live prefixes: no prefix is live for two DUIDs in
/// either database, and the two agree.
fn assert_both_hold(pair: &Cluster, expected: &[(String, String)], when: &str) {
    let mut expected = expected.to_vec();
    expected.sort();
    for server in pair.servers() {
        assert_eq!(holders(&server.leases()), expected, "{} {when}", server.name());
    }
}

/// Load-balancing: both servers hold the same pd-pool over the whole /40 (no split: the prefix is the NIC's, not the
/// server's). Clients whose DUIDs hash to either server each get their NIC's /60 from it; a VM reinstalled with a
/// DUID that hashes to the other server gets the same /60 there, the old DUID's lease goes on both, and at no step
/// does either lease database hold a prefix for two DUIDs or disagree with the other.
#[test]
fn a_load_balancing_pair_gives_every_nic_its_prefix_from_either_server() {
    let mut vms: Vec<_> = LB_NICS.iter().map(|n| nic_vm(n.id, n.mac, n.ip, 709)).collect();
    vms.push(nic_vm("probe", PROBE_MAC, "185.62.101.50", 709));
    let pair = Cluster::start(ClusterSpec::ha_pair(
        HaMode::LoadBalancing,
        LabSpec { vlans: two_vlans(), cloud: json!({ "vms": vms }), ..LabSpec::default() },
    ));
    let r = pair.router("VLAN709", raw_remote_id());
    let mut expected = Vec::new();
    let mut clients = Vec::new();
    for (i, nic) in LB_NICS.iter().enumerate() {
        let client = client_served_by(&pair, &r, nic.mac, i % 2);
        let reply = r.acquire(&client).unwrap().unwrap_or_else(|| panic!("{}'s Reply", nic.id));
        assert_eq!((prefixes(&reply), pair.answered_by(&reply)), (vec![nic.prefix.to_string()], i % 2), "{}", nic.id);
        expected.push((nic.prefix.to_string(), hex(&client.duid)));
        assert_both_hold(&pair, &expected, &format!("after {}'s Reply", nic.id));
        clients.push((client, reply));
    }

    let (web, web_reply) = &clients[0];
    let other = 1 - pair.answered_by(web_reply);
    let reinstalled = client_served_by(&pair, &r, WEB_MAC, other);
    let again = r.acquire(&reinstalled).unwrap().expect("the reinstalled VM's Reply");
    assert_eq!((prefixes(&again), pair.answered_by(&again)), (vec![WEB_PREFIX.to_string()], other));
    expected[0].1 = hex(&reinstalled.duid);
    assert_both_hold(&pair, &expected, "after the reinstall on the other server");

    let old = r.renew(web, web_reply).unwrap();
    assert!(!old.as_ref().map(prefixes).unwrap_or_default().contains(&WEB_PREFIX.to_string()),
        "the old DUID's Renew is not extended: {old:?}");
    let renewed = r.renew(&reinstalled, &again).unwrap().expect("the reinstalled VM's Renew");
    assert_eq!(pair.answered_by(&renewed), other, "the reinstalled VM renews with the server it hashes to");
    assert_extended_by(pair.kea_version(), lifetimes_of(&renewed, WEB_PREFIX), "the reinstalled VM's Renew");
    assert_both_hold(&pair, &expected, "after both renewals");
}

/// The live prefix leases in PostgreSQL: prefix → DUID.
fn pg_holders(cluster: &Cluster) -> Vec<(String, String)> {
    holders(&cluster.postgres().leases())
}

/// Kea with its leases in PostgreSQL (schema by `kea-admin db-init pgsql`): the core client stories hold as with the
/// memfile. A known NIC gets its /60, renews, rebinds and keeps it across a restart of Kea; a reinstalled VM gets
/// the same /60 at once and the database holds it for the new DUID only; a destroyed VM's /60 is withdrawn on renewal
/// and stored so; the NIC the hook records is in the row's user_context.
#[test]
fn with_postgresql_leases_a_nic_acquires_renews_is_reinstalled_and_is_withdrawn() {
    let mut lab = Cluster::start(ClusterSpec::sharing_postgres(
        1,
        LabSpec { vlans: two_vlans(), cloud: web_and_db(), ..LabSpec::default() },
    ));
    let r = lab.router("VLAN709", raw_remote_id());
    let web = Client::new(WEB_MAC);
    let reply = r.acquire(&web).unwrap().expect("web's Reply");
    assert_eq!(prefixes(&reply), [WEB_PREFIX]);
    let row = lab.postgres().leases().into_iter().find(|l| l.prefix() == WEB_PREFIX).expect("web's row in lease6");
    assert_eq!(row.duid, hex(&web.duid));
    assert!(row.user_context.contains("\"nic-id\": \"nic-web\""), "the row records the NIC: {row:?}");
    let kea = lab.kea_version();
    let renewed = r.renew(&web, &reply).unwrap().expect("a Reply to Renew");
    assert_extended_by(kea, lifetimes_of(&renewed, WEB_PREFIX), "web's Renew");
    let rebound = r.rebind(&web, &renewed.prefixes).unwrap().expect("a Reply to Rebind");
    assert_extended_by(kea, lifetimes_of(&rebound, WEB_PREFIX), "web's Rebind");

    lab.stop(0);
    lab.restart(0);
    let after_restart = r.renew(&web, &rebound).unwrap().expect("a Reply to Renew after the restart");
    assert_extended_by(kea, lifetimes_of(&after_restart, WEB_PREFIX), "the lease lives in the database");

    let reinstalled = Client::new(WEB_MAC);
    let again = r.acquire(&reinstalled).unwrap().expect("the reinstalled VM's Reply");
    assert_eq!(prefixes(&again), [WEB_PREFIX]);
    assert_eq!(pg_holders(&lab), [(WEB_PREFIX.to_string(), hex(&reinstalled.duid))], "one row on the prefix, the new DUID's");

    let db = Client::new(DB_MAC);
    let db_reply = r.acquire(&db).unwrap().expect("db's Reply");
    lab.standin().set_state("db", "Destroyed");
    lab.resync(0);
    let withdrawn = r.renew(&db, &db_reply).unwrap().expect("db's Renew after the destroy");
    assert_eq!(lifetimes_of(&withdrawn, DB_PREFIX), (0, 0), "a destroyed VM's prefix is withdrawn");
    assert_eq!(pg_holders(&lab), [(WEB_PREFIX.to_string(), hex(&reinstalled.duid))], "the database stored the withdrawal");
}

/// One exchange a racing client saw: which DUID asked, when it sent, and the prefixes the answer gave live.
struct Seen {
    duid: String,
    sent: Instant,
    received: Instant,
    live: Vec<String>,
}

/// How often a racing client renews or rebinds (a T1 shortened for the test), ±20 % as RFC 8415's RAND: paced by
/// time, not by counting rounds, so the race looks the same whether the release writes each renewal (2.6.3) or
/// answers it from its lease cache in a millisecond (3.0).
const RACE_RENEW_EVERY: Duration = Duration::from_millis(200);
/// How long the old web OS goes on renewing after the reinstalled VM got web's /60 (and at least 3 exchanges).
const RACE_AFTER_REINSTALL: Duration = Duration::from_secs(2);
/// The bound on each phase of the race (first leases, the reinstall, the renewals after it).
const RACE_BOUND: Duration = Duration::from_secs(60);

/// Sleeps until the client's next renewal time, `every` ±20 % after the last one: the client's own timer (T1),
/// not a wait for anything to happen. The jitter keeps two clients' timers from locking in step.
fn next_renewal(last: &mut Instant, every: Duration) {
    let jitter = SystemTime::now().duration_since(SystemTime::UNIX_EPOCH).unwrap().subsec_nanos() % 400;
    *last += every * (800 + jitter) / 1000;
    if let Some(left) = last.checked_duration_since(Instant::now()) {
        std::thread::sleep(left);
    }
}

/// Two Kea servers without HA share one PostgreSQL lease database, and the router relays every message to both (or,
/// per client, to one of them). Six clients acquire, then renew and rebind through both every
/// `RACE_RENEW_EVERY`, while web's VM is reinstalled (a new DUID on the same NIC) through the other server. Every
/// answer gives a client its own NIC's /60 only; the reinstalled VM gets web's /60; once it has it, the old DUID's
/// renewals never get it live again; the database ends with one row per NIC, web's for the new DUID.
///
/// Until the reinstalled VM's Request commits, the old DUID may win web's /60 back, and that is DHCPv6 as Kea
/// does it, not a prefix live for two DUIDs. The new DUID's Solicit or Request clears the old DUID's lease out of
/// the NIC's way; a Renew or Rebind of the old DUID that reaches either server before the Request commits finds
/// no lease of its own, and Kea then allocates one (`AllocEngine::renewLeases6` → `allocateUnreservedLeases6`,
/// Kea 2.6.3 and 3.0.x) with the prefix the client named as hint: web's /60, free for a moment, which the hook
/// lets through because the router vouches for the same NIC (the DUID is no identity). The new DUID's Solicit or
/// Request, allocating after that, finds the /60 taken (PostgreSQL's primary key is the address: one row, one
/// DUID) and gets no prefix, and the reinstalled VM retries as a DHCPv6 client does: its next Solicit clears the
/// way again. Seen on 3.0.3
/// (`CLOUDSTACK_LEASE_CLEARED` on one server, then the old DUID's Rebind `DHCP6_PD_LEASE_RENEW … has been allocated`
/// on the other, then `ALLOC_ENGINE_V6_ALLOC_FAIL` for the new DUID), when the old client renewed every few ms; the
/// next story takes the same steps one at a time.
#[test]
fn two_servers_sharing_postgresql_never_delegate_a_prefix_to_two_duids() {
    let cluster = Cluster::start(ClusterSpec::sharing_postgres(
        2,
        LabSpec {
            vlans: two_vlans(),
            cloud: json!({ "vms": LB_NICS.iter().map(|n| nic_vm(n.id, n.mac, n.ip, 709)).collect::<Vec<_>>() }),
            kea_threads: Some(2),
            ..LabSpec::default()
        },
    ));
    let seen = std::sync::Mutex::new(Vec::<Seen>::new());
    let reinstalled = Client::new(WEB_MAC);
    let old_web = std::sync::OnceLock::<String>::new();
    let exchange = |duid: &[u8], ask: &dyn Fn() -> Option<Answer>| -> Option<Answer> {
        let sent = Instant::now();
        let answer = ask();
        let live = answer.as_ref().map(prefixes).unwrap_or_default();
        seen.lock().unwrap().push(Seen { duid: hex(duid), sent, received: Instant::now(), live });
        answer
    };
    // How often the old web DUID has renewed, and when the reinstalled VM got web's /60 (and in how many tries).
    let old_web_renewals = std::sync::atomic::AtomicUsize::new(0);
    let reinstall = std::sync::Mutex::new(None::<Option<(Instant, usize)>>);
    let stop = std::sync::atomic::AtomicBool::new(false);
    use std::sync::atomic::Ordering::SeqCst;
    std::thread::scope(|scope| {
        for (i, nic) in LB_NICS.iter().enumerate() {
            let (cluster, exchange, old_web, old_web_renewals, stop) = (&cluster, &exchange, &old_web, &old_web_renewals, &stop);
            scope.spawn(move || {
                // Solicit and Request through one server, Renew to the one that answered last, Rebind through both.
                let to: Vec<Router> = (0..2)
                    .map(|k| cluster.router_from(0x10 + 0x10 * k as u16 + i as u16, &[k], "VLAN709", raw_remote_id()))
                    .collect();
                let both = cluster.router_from(0x30 + i as u16, &[0, 1], "VLAN709", raw_remote_id());
                let client = Client::new(nic.mac);
                if i == 0 {
                    old_web.set(hex(&client.duid)).unwrap();
                }
                // A fresh schema's first leases can lose Kea's own statistics-trigger race (PostgreSQL reports
                // lease6_stat_pkey taken, Kea reads a duplicate lease): NoPrefixAvail once, then the client retries.
                let began = Instant::now();
                let mut reply = loop {
                    let answer = exchange(&client.duid, &|| to[i % 2].acquire(&client).unwrap()).filter(|a| !prefixes(a).is_empty());
                    match answer {
                        Some(answer) => break answer,
                        None if began.elapsed() < RACE_BOUND => continue,
                        None => panic!("{} got no prefix within {RACE_BOUND:?}", nic.id),
                    }
                };
                let mut last = Instant::now();
                for round in 0.. {
                    if stop.load(SeqCst) {
                        break;
                    }
                    next_renewal(&mut last, RACE_RENEW_EVERY);
                    let next = if round % 2 == 0 {
                        let to_last = cluster.answered_by(&reply);
                        exchange(&client.duid, &|| to[to_last].renew(&client, &reply).unwrap())
                    } else {
                        exchange(&client.duid, &|| both.rebind(&client, &reply.prefixes).unwrap())
                    };
                    if i == 0 {
                        old_web_renewals.fetch_add(1, SeqCst);
                    }
                    if let Some(next) = next.filter(|a| !prefixes(a).is_empty()) {
                        reply = next;
                    }
                }
            });
        }
        let (exchange, reinstalled, reinstall, old_web_renewals) = (&exchange, &reinstalled, &reinstall, &old_web_renewals);
        let cluster = &cluster;
        scope.spawn(move || {
            // The reinstalled VM boots while the old DUID renews, and asks the other server than web's first one.
            let renewing = wait_until(RACE_BOUND, || old_web_renewals.load(SeqCst) >= 2);
            let other = cluster.router_from(0x40, &[1], "VLAN709", raw_remote_id());
            let began = Instant::now();
            let mut outcome = None;
            let mut last = Instant::now();
            for tries in 1.. {
                if !renewing || began.elapsed() > RACE_BOUND {
                    break;
                }
                let reply = exchange(&reinstalled.duid, &|| other.acquire(reinstalled).unwrap());
                if reply.as_ref().is_some_and(|a| prefixes(a) == [WEB_PREFIX]) {
                    outcome = Some((Instant::now(), tries));
                    break;
                }
                next_renewal(&mut last, RACE_RENEW_EVERY); // its Solicit timer before it starts over
            }
            *reinstall.lock().unwrap() = Some(outcome);
        });
        // The old OS goes on renewing for a while after the reinstall: then every client stops.
        let late_enough = wait_until(2 * RACE_BOUND, || match *reinstall.lock().unwrap() {
            None => false,
            Some(None) => true,
            Some(Some((taken, _))) => {
                let late = seen.lock().unwrap().iter().filter(|s| Some(&s.duid) == old_web.get() && s.sent > taken).count();
                late >= 3 && taken.elapsed() >= RACE_AFTER_REINSTALL
            }
        });
        stop.store(true, SeqCst);
        assert!(late_enough, "the race did not end within {:?}", 2 * RACE_BOUND);
    });

    let seen = seen.into_inner().unwrap();
    let (reinstalled_at, tries) = reinstall.into_inner().unwrap().flatten()
        .unwrap_or_else(|| panic!("the reinstalled VM got no Reply with web's /60 within {RACE_BOUND:?}"));
    let prefix_of = |duid: &str| -> &str {
        if duid == hex(&reinstalled.duid) {
            return WEB_PREFIX;
        }
        let first_live = seen.iter().find(|s| s.duid == duid && !s.live.is_empty()).expect("a live answer");
        LB_NICS.iter().find(|n| first_live.live == [n.prefix]).map(|n| n.prefix).expect("a NIC's prefix")
    };
    for s in &seen {
        assert!(s.live.iter().all(|p| p == prefix_of(&s.duid)), "an answer gave {:?} to {}", s.live, s.duid);
    }
    let old_web = old_web.get().unwrap();
    assert_eq!(prefix_of(old_web), WEB_PREFIX);
    let taken = seen.iter().filter(|s| s.duid == hex(&reinstalled.duid) && !s.live.is_empty()).map(|s| s.received).min()
        .expect("the reinstalled VM's live Reply");
    assert!(taken <= reinstalled_at);
    let late: Vec<_> = seen.iter().filter(|s| s.duid == *old_web && s.sent > taken).collect();
    assert!(late.len() >= 3, "the old DUID went on renewing after the reinstall: {} exchanges", late.len());
    assert!(late.iter().all(|s| s.live.is_empty()), "the old DUID's renewals after the reinstall got web's /60 live again");

    let rows = pg_holders(&cluster);
    assert_eq!(rows.len(), LB_NICS.len(), "one row per NIC: {rows:?}");
    assert!(rows.contains(&(WEB_PREFIX.to_string(), hex(&reinstalled.duid))), "web's /60 is the new DUID's: {rows:?}");
    println!("shared PostgreSQL race: {} exchanges, {} answered live; the reinstalled VM got web's /60 at try {tries} \
              ({} earlier tries without it); the old DUID renewed {} times after that, never live",
        seen.len(), seen.iter().filter(|s| !s.live.is_empty()).count(), tries - 1, late.len());
}

/// The race above, one step at a time: the reinstalled VM's Solicit (through server2) clears the old DUID's
/// lease out of the NIC's way and commits nothing, so the database holds no row for web's /60; the old OS's Rebind
/// (through server1) then finds no lease of its own and Kea allocates it one with the prefix it named (DHCPv6 as Kea
/// does it: a renewal may create a binding), web's /60, which the hook lets through for the same NIC. The
/// reinstalled VM's Request clears it again and takes the /60; from then on the old DUID's Renew and Rebind are
/// refused. At every step the database holds web's /60 for one DUID at most.
#[test]
fn an_old_duid_that_renews_between_the_reinstalled_vm_s_solicit_and_request_loses_the_prefix_at_the_request() {
    let cluster = Cluster::start(ClusterSpec::sharing_postgres(
        2,
        LabSpec { vlans: two_vlans(), cloud: web_and_db(), ..LabSpec::default() },
    ));
    let to: Vec<Router> = (0..2).map(|k| cluster.router_from(0x10 + k as u16, &[k], "VLAN709", raw_remote_id())).collect();
    let web_rows = || -> Vec<String> {
        pg_holders(&cluster).into_iter().filter(|(p, _)| p == WEB_PREFIX).map(|(_, duid)| duid).collect()
    };
    let (old, new) = (Client::new(WEB_MAC), Client::new(WEB_MAC));
    let (old_duid, new_duid) = (hex(&old.duid), hex(&new.duid));
    let first = to[0].acquire(&old).unwrap().expect("the old OS's Reply");
    assert_eq!(prefixes(&first), [WEB_PREFIX]);
    assert_eq!(web_rows(), [old_duid.clone()]);

    let advertise = to[1].solicit(&new, None).unwrap().expect("the reinstalled VM's Advertise");
    assert_eq!(prefixes(&advertise), [WEB_PREFIX]);
    assert!(cluster.server(1).log().contains(&format!("(DUID {old_duid}) removed: the prefix belongs to this NIC")),
        "server2 cleared the old DUID's lease:\n{}", cluster.server(1).log());
    assert_eq!(web_rows(), Vec::<String>::new(), "a Solicit clears the way and commits nothing");

    let retaken = to[0].rebind(&old, &first.prefixes).unwrap().expect("the old OS's Rebind is answered");
    assert_eq!(prefixes(&retaken), [WEB_PREFIX], "Kea allocates the free /60 to the renewing old DUID");
    assert_eq!(web_rows(), [old_duid.clone()]);

    let reply = to[1].request(&new, &advertise).unwrap().expect("the reinstalled VM's Reply");
    assert_eq!(prefixes(&reply), [WEB_PREFIX], "the Request clears the way again and takes the /60");
    assert_eq!(web_rows(), [new_duid.clone()]);

    let renewed = to[0].renew(&old, &retaken).unwrap();
    assert!(!renewed.as_ref().map(prefixes).unwrap_or_default().contains(&WEB_PREFIX.to_string()), "{renewed:?}");
    let rebound = to[0].rebind(&old, &retaken.prefixes).unwrap();
    assert!(!rebound.as_ref().map(prefixes).unwrap_or_default().contains(&WEB_PREFIX.to_string()), "{rebound:?}");
    assert_eq!(web_rows(), [new_duid], "the reinstalled VM keeps web's /60");
}

/// The configurations kea-config/ documents (one file per HA role, the shared PostgreSQL database, the single
/// server) pass `kea-dhcp6 -t` of the Kea in the project image, where their interface exists. `-t` loads no hook,
/// so each HA role is also started for real: Kea takes the HA hook's parameters as documented and starts the HA
/// service in its mode and role (the CloudStack hook then runs without a CloudStack to ask).
#[test]
fn every_documented_configuration_passes_kea_s_own_check() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("kea-config");
    let mut files: Vec<_> = std::fs::read_dir(&dir).unwrap().map(|e| e.unwrap().path()).collect();
    files.sort();
    let names: Vec<String> = files.iter().map(|f| f.file_name().unwrap().to_string_lossy().into_owned()).collect();
    let roles = [
        ("ha-hot-standby-primary.conf", "hot-standby mode as primary"),
        ("ha-hot-standby-standby.conf", "hot-standby mode as standby"),
        ("ha-load-balancing-primary.conf", "load-balancing mode as primary"),
        ("ha-load-balancing-secondary.conf", "load-balancing mode as secondary"),
    ];
    for documented in roles.iter().map(|(f, _)| *f).chain(["shared-postgresql.conf", "kea-dhcp6.conf"]) {
        assert!(names.iter().any(|n| n == documented), "kea-config/ documents {documented}: {names:?}");
    }
    let addresses = ["2001:db8:ffff::53", "2001:db8:ffff::54", "2001:db8:ffff::5"];
    let checked = crate::lab::ha::kea_check_configs(&files, &addresses, |name| name.starts_with("ha-"));
    assert_eq!(checked.len(), files.len());
    for check in &checked {
        assert!(check.accepted, "kea-dhcp6 -t refused {}:\n{}", check.file.display(), check.check_output);
        let name = check.file.file_name().unwrap().to_string_lossy();
        if let Some((_, service)) = roles.iter().find(|(f, _)| *f == name) {
            let log = check.start_log.as_deref().expect("the HA roles are started");
            assert!(log.contains("HA_CONFIGURATION_SUCCESSFUL") && log.contains(service) && log.contains("DHCP6_STARTED"),
                "{name}: Kea did not start its HA service ({service}):\n{log}");
            assert!(log.contains("CLOUDSTACK_LOAD_OK"), "{name}: the CloudStack hook loaded:\n{log}");
        }
    }
}
