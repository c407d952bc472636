//! High availability (issue 12): two Kea servers, both with the hook and both syncing from CloudStack, agree on every
//! NIC's /60 without talking; Kea's HA hook carries the leases, including the ones the hook clears out of a NIC's
//! way and the NIC it records on each lease. Each story runs real kea-dhcp6 2.6.3 containers (see `lab::ha`).
use std::time::{Duration, Instant, SystemTime};

use serde_json::json;

use crate::core_stories::{hex, nic_vm, prefixes, raw_remote_id, two_vlans, web_and_db, DB_MAC, DB_PREFIX, WEB_MAC, WEB_PREFIX};
use crate::lab::dhcp6::{Answer, Client, MacCarrier, Router};
use crate::lab::ha::{HEARTBEAT_DELAY_MS, MAX_RESPONSE_DELAY_MS};
use crate::lab::{wait_until, Cluster, ClusterSpec, HaMode, LabSpec, LeaseRow};
use crate::trust_stories::lifetimes_of;

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

/// Stops the primary and rebinds `client`'s prefixes through `quick` (a router with a short timeout) until a
/// server answers: that answer and how long the failover took.
fn fail_over(pair: &mut Cluster, quick: &Router, client: &Client, held: &Answer) -> (Answer, Failover) {
    let (started, stopped_at) = (Instant::now(), SystemTime::now());
    pair.signal_stop(PRIMARY);
    let bound = Duration::from_millis(MAX_RESPONSE_DELAY_MS + 3 * HEARTBEAT_DELAY_MS + 10_000);
    let mut answer = None;
    let answered = wait_until(bound, || {
        answer = quick.rebind(client, &held.prefixes).unwrap();
        answer.is_some()
    });
    let to_first_reply = started.elapsed();
    pair.stop(PRIMARY);
    assert!(answered, "no server answered a Rebind within {bound:?} of the primary's stop\n{}", pair.logs());
    let to_partner_down = pair
        .logged_after(STANDBY, "to PARTNER-DOWN state", stopped_at)
        .and_then(|t| t.duration_since(stopped_at).ok());
    (answer.unwrap(), Failover { to_partner_down, to_first_reply })
}

/// Hot-standby: the primary delegates and its standby holds the same lease at once (HA's lease update); when the
/// primary stops, the standby takes over within seconds (printed: primary stop → first Reply from the standby),
/// extends the client's /60 on Rebind and Renew, and gives a reinstalled VM the same /60; when the primary returns
/// it syncs and both hold the same leases.
#[test]
fn a_hot_standby_pair_fails_over_and_every_nic_keeps_its_prefix() {
    let mut pair = pair(HaMode::HotStandby);
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
    assert_eq!(lifetimes_of(&rebound, WEB_PREFIX), (300, 600), "the standby extends web's /60 on Rebind");
    assert!(quick.renew(&web, &reply).unwrap().is_none(), "a Renew to the stopped primary's Server-Id goes unanswered");
    let renewed = r.renew(&web, &rebound).unwrap().expect("a Renew to the standby");
    assert_eq!(lifetimes_of(&renewed, WEB_PREFIX), (300, 600), "the standby extends web's /60 on Renew");

    let reinstalled = Client::new(WEB_MAC);
    let again = r.acquire(&reinstalled).unwrap().expect("the reinstalled VM's Reply");
    assert_eq!((prefixes(&again), pair.answered_by(&again)), (vec![WEB_PREFIX.to_string()], STANDBY));
    assert_eq!(holders(&pair.server(STANDBY).leases()), [(WEB_PREFIX.to_string(), hex(&reinstalled.duid))]);

    pair.restart(PRIMARY);
    assert_eq!(holders(&pair.server(PRIMARY).leases()), holders(&pair.server(STANDBY).leases()),
        "the returning primary synced the standby's leases");
    let back = r.rebind(&reinstalled, &again.prefixes).unwrap().expect("a Rebind after the primary's return");
    assert_eq!((lifetimes_of(&back, WEB_PREFIX), pair.answered_by(&back)), ((300, 600), PRIMARY));
}
