//! Real DHCPv6 clients of Debian, each behind the provider router (`dhcp6-router`, the MAC as option 79), against
//! the real kea-dhcp6 with the hook: each gets its NIC's /60, renews it, releases it (Kea frees the lease) and meets
//! a withdrawal (lifetimes 0 once CloudStack destroyed its VM); each story asserts what that client does, and the
//! README's "tested relays and clients" table says the same. dhcpcd also meets a Kea whose VLAN subnets have
//! `"rapid-commit": true`: its Rapid-Commit Solicit is delegated exactly like Solicit + Request.
//!
//! Lifetimes are short (preferred 30 s, valid 40 s: T1 15 s) so that a renewal comes within a story, and late enough
//! in a lease's life (over 25 % of 40 s) that Kea 3.0's lease cache does not answer it: both releases extend the
//! lease and store it.
use std::os::unix::process::ExitStatusExt;
use std::time::Duration;

use serde_json::{json, Map, Value};

use crate::core_stories::{assert_no_error_lines, nic_vm, parse_mac, two_vlans, DB_MAC, WEB_PREFIX};
use crate::lab::{exchanges, wait_until, ClientKind, ClientLink, Daemon, DhcpcdDuid, Exchange, Lab, LabSpec, LeaseRow, RealClient};
use crate::trust_stories::resync;

const PREFERRED: u32 = 30;
const VALID: u32 = 40;
/// The VM behind the client link: its NIC (the link's MAC, 185.62.101.23/22) gets WEB_PREFIX.
const VM: &str = "vm-client";
/// Ample for a renewal at T1 (15 s; dhcp6c stretches it to 18 s) on a busy machine.
const RENEWAL: Duration = Duration::from_secs(60);
const QUICKLY: Duration = Duration::from_secs(30);

/// A lab of two VLANs whose cloud has the client's VM (added once the link exists) and a neighbour `db`, so that
/// the index stays non-empty when the client's VM goes (an empty index withdraws nothing).
fn client_lab(subnet_params: Map<String, Value>) -> Lab {
    Lab::start(LabSpec {
        vlans: two_vlans(),
        cloud: json!({"vms": [nic_vm("db", DB_MAC, "185.62.101.24", 709)]}),
        preferred_lifetime: PREFERRED,
        valid_lifetime: VALID,
        subnet_params,
        ..LabSpec::default()
    })
}

/// Lists the client link's NIC in CloudStack (VLAN 709, 185.62.101.23) and waits until the hook has synced it.
fn list_the_clients_vm(lab: &Lab, link: &ClientLink) -> String {
    let mac = link.netns().exec("cat", &[&format!("/sys/class/net/{}/address", link.client_iface())]);
    let mac = mac.trim().to_string();
    lab.standin().add_vm(nic_vm(VM, parse_mac(&mac), "185.62.101.23", 709));
    resync(lab);
    mac
}

fn start(link: &ClientLink, kind: ClientKind) -> RealClient {
    match kind {
        ClientKind::Dhclient => link.real_dhclient(),
        ClientKind::Dhcpcd => link.dhcpcd(DhcpcdDuid::LinkLayerTime),
        ClientKind::Dhcp6c => link.dhcp6c(),
        ClientKind::Udhcpc6 => link.udhcpc6(),
    }
}

/// Kea's live lease on `prefix` (valid, not released or expired), if any.
fn live_lease(lab: &Lab, prefix: &str) -> Option<LeaseRow> {
    lab.leases().into_iter().find(|l| l.is_prefix() && l.prefix() == prefix && l.valid_lifetime > 0 && l.state == 0)
}

/// Waits until the router has relayed an exchange of `client` after the first `after` that `check` accepts.
fn wait_for_exchange(
    relay: &Daemon,
    client: &RealClient,
    after: usize,
    what: &str,
    timeout: Duration,
    check: impl Fn(&Exchange) -> bool,
) -> Exchange {
    let mut found = None;
    wait_until(timeout, || {
        found = exchanges(&relay.output()).into_iter().skip(after).find(|e| check(e));
        found.is_some()
    });
    found.unwrap_or_else(|| {
        panic!("the router relayed no {what} within {timeout:?}:\n{}\n{:?}'s output:\n{}", relay.output(), client.kind(), client.output())
    })
}

fn is_renewal(e: &Exchange) -> bool {
    matches!(e.message.as_str(), "RENEW" | "REBIND")
}

/// The story every client but udhcpc6 lives: its NIC's /60, extended at its renewal, freed in Kea by its Release;
/// then, started again and holding the /60, its VM destroyed: the next renewal is answered with lifetimes 0 and
/// the client drops the /60 at once and solicits again, which the hook refuses (the MAC is gone from CloudStack).
fn gets_renews_releases_and_drops_a_withdrawn_prefix(kind: ClientKind) {
    let lab = client_lab(Map::new());
    let link = lab.add_client_link();
    let mac = list_the_clients_vm(&lab, &link);
    let relay = link.run_router("VLAN709", "client-link-layer");

    let mut client = start(&link, kind);
    client.wait_for("holding its NIC's /60", QUICKLY, |c| c.holds(WEB_PREFIX));
    let seen = exchanges(&relay.output());
    assert_eq!(
        seen.iter().map(|e| e.message.as_str()).filter(|m| *m != "SOLICIT").collect::<Vec<_>>(),
        ["REQUEST"],
        "Solicit (retransmitted or not), Advertise, Request, Reply: {seen:?}"
    );
    let leased = live_lease(&lab, WEB_PREFIX).unwrap_or_else(|| panic!("Kea leases {WEB_PREFIX}: {:?}", lab.leases()));
    assert!(leased.user_context.contains(&format!("\"mac\": \"{mac}\"")) && leased.user_context.contains("nic-vm-client"),
            "the hook recorded the NIC on the lease: {leased:?}");

    let renewal = wait_for_exchange(&relay, &client, seen.len(), "renewal answered", RENEWAL, |e| is_renewal(e) && e.answer.is_some());
    assert_eq!(renewal.lifetimes(WEB_PREFIX), Some((PREFERRED, VALID)), "the renewal extends the /60: {renewal:?}");
    assert!(wait_until(QUICKLY, || live_lease(&lab, WEB_PREFIX).is_some_and(|l| l.expire > leased.expire)),
            "Kea stored the extended lease: before {leased:?}, now {:?}", lab.leases());
    assert!(client.holds(WEB_PREFIX), "{kind:?} keeps its /60 after the renewal:\n{}", client.output());

    let before_release = exchanges(&relay.output()).len();
    client.release();
    let release = wait_for_exchange(&relay, &client, before_release, "Release", QUICKLY, |e| e.message == "RELEASE" && e.answer.is_some());
    assert!(release.answer.as_ref().is_some_and(|(kind, summary)| kind == "REPLY" && summary.contains("released")),
            "Kea confirms the release: {release:?}");
    assert!(wait_until(QUICKLY, || live_lease(&lab, WEB_PREFIX).is_none()), "Kea freed the lease: {:?}", lab.leases());
    client.wait_for("letting go of the /60", QUICKLY, |c| !c.holds(WEB_PREFIX));
    let _ = client.wait_for_exit(QUICKLY);

    let client = start(&link, kind);
    client.wait_for("holding its /60 again", QUICKLY, |c| c.holds(WEB_PREFIX));
    lab.standin().set_state(VM, "Destroyed");
    resync(&lab);
    let destroyed = exchanges(&relay.output()).len();
    let refused = || lab.kea_log().matches("no prefix: MAC not in the CloudStack index").count();
    let refused_before = refused();
    let withdrawal = wait_for_exchange(&relay, &client, destroyed, "renewal after the destroy", RENEWAL, |e| is_renewal(e) && e.answer.is_some());
    assert_eq!(withdrawal.lifetimes(WEB_PREFIX), Some((0, 0)), "the destroyed VM's /60 is withdrawn: {withdrawal:?}");
    client.wait_for("dropping the withdrawn /60", QUICKLY, |c| !c.holds(WEB_PREFIX));
    let after = exchanges(&relay.output()).iter().position(|e| e.xid == withdrawal.xid).unwrap() + 1;
    let solicit = wait_for_exchange(&relay, &client, after, "Solicit after the withdrawal", QUICKLY, |e| e.message == "SOLICIT");
    assert!(wait_until(QUICKLY, || refused() > refused_before), "the hook refused the Solicit:\n{}", lab.kea_log());
    let answered = exchanges(&relay.output()).into_iter().filter(|e| e.xid == solicit.xid).find_map(|e| e.answer);
    assert_eq!(answered, None, "nothing is offered to a destroyed VM:\n{}", relay.output());
    assert_no_error_lines(&lab);
}

/// ISC dhclient 4.4.3-P1 (`-6 -P`): renews, releases with `dhclient -r`, and on lifetime 0 ends the lease at once
/// (EXPIRE6), then solicits again.
#[test]
fn dhclient_gets_renews_releases_and_drops_a_withdrawn_prefix() {
    gets_renews_releases_and_drops_a_withdrawn_prefix(ClientKind::Dhclient);
}

/// dhcpcd 9.4.1 with Debian's dhcpcd.conf and `ia_pd 1 <LAN>/0/64` (DUID-LLT): puts `<prefix>::1/64` on its LAN,
/// renews, releases with `dhcpcd -k` (and exits), and on lifetime 0 logs "no valid lifetime", removes the LAN address at
/// once (EXPIRE6) and solicits again.
#[test]
fn dhcpcd_gets_renews_releases_and_drops_a_withdrawn_prefix() {
    gets_renews_releases_and_drops_a_withdrawn_prefix(ClientKind::Dhcpcd);
}

/// WIDE dhcp6c 20080615 (`send ia-pd 0;`, a prefix-interface with sla-len 4): renews (at 18 s: it stretches T1/T2
/// it finds too small), releases on SIGTERM (and exits), and on lifetime 0 removes the site prefix and its LAN
/// address at once ("IA PD-0 is invalidated") and solicits again.
#[test]
fn dhcp6c_gets_renews_releases_and_drops_a_withdrawn_prefix() {
    gets_renews_releases_and_drops_a_withdrawn_prefix(ClientKind::Dhcp6c);
}

/// Trixie's busybox udhcpc6 (`-d -r no`: a prefix alone) gets its NIC's /60, but dies of SIGSEGV at its first
/// renewal (half its lease) and at a release (SIGUSR2), before sending either: it sends them from "its" address,
/// which it has none of. Kea's lease is neither extended nor freed, and no lifetime 0 ever reaches it. Without
/// `-r no` it asks for an address too and ignores every answer without one: Kea's VLAN subnets have no
/// address pool (the pd-pool covers the whole /40), so it never binds.
#[test]
fn busybox_udhcpc6_gets_its_prefix_and_crashes_when_it_renews_or_releases() {
    let lab = client_lab(Map::new());
    let link = lab.add_client_link();
    list_the_clients_vm(&lab, &link);
    let relay = link.run_router("VLAN709", "client-link-layer");

    let mut client = link.udhcpc6();
    client.wait_for("holding its NIC's /60", QUICKLY, |c| c.holds(WEB_PREFIX));
    let bound = client.events().into_iter().find(|e| e.what() == "bound").expect("a bound event");
    assert_eq!(bound.vars.get("ipv6prefix_lease").map(String::as_str), Some("40"), "its lease is the valid lifetime");
    let leased = live_lease(&lab, WEB_PREFIX).expect("Kea leases the /60");
    assert!(leased.user_context.contains("nic-vm-client"), "the hook recorded the NIC: {leased:?}");
    let seen = exchanges(&relay.output()).len();

    let crashed = client.wait_for_exit(RENEWAL);
    assert_eq!(crashed.signal(), Some(libc::SIGSEGV), "udhcpc6 dies at its renewal:\n{}", client.output());
    assert!(client.output().contains("sending renew"), "{}", client.output());
    assert_eq!(exchanges(&relay.output()).len(), seen, "nothing reached the router:\n{}", relay.output());
    assert_eq!(live_lease(&lab, WEB_PREFIX).map(|l| l.expire), Some(leased.expire), "Kea's lease was not extended");

    let mut client = link.udhcpc6();
    client.wait_for("holding its /60 again", QUICKLY, |c| c.holds(WEB_PREFIX));
    let seen = exchanges(&relay.output()).len();
    client.release();
    let crashed = client.wait_for_exit(QUICKLY);
    assert_eq!(crashed.signal(), Some(libc::SIGSEGV), "udhcpc6 dies at its release:\n{}", client.output());
    assert!(client.output().contains("sending release"), "{}", client.output());
    assert!(exchanges(&relay.output()).iter().skip(seen).all(|e| e.message != "RELEASE"), "{}", relay.output());
    assert!(live_lease(&lab, WEB_PREFIX).is_some(), "Kea still holds the lease: {:?}", lab.leases());
    assert_no_error_lines(&lab);
}

/// Trixie's busybox `udhcpc6 -d` without `-r no` asks for an address too: Kea's Reply delegates the NIC's /60 but
/// holds no address (the VLAN subnets have no address pool), and udhcpc6 ignores every such answer ("no IAADDR
/// option"): it never binds, whatever the hook delegates.
#[test]
fn busybox_udhcpc6_asking_for_an_address_too_ignores_the_delegated_prefix() {
    let lab = client_lab(Map::new());
    let link = lab.add_client_link();
    list_the_clients_vm(&lab, &link);
    let relay = link.run_router("VLAN709", "client-link-layer");

    let client = link.udhcpc6_with_address();
    wait_for_exchange(&relay, &client, 0, "Reply with the /60", QUICKLY, |e| {
        e.message == "REQUEST" && e.lifetimes(WEB_PREFIX) == Some((PREFERRED, VALID))
    });
    client.wait_for("ignoring the answer", QUICKLY, |c| c.output().contains("no IAADDR option, ignoring packet"));
    assert!(client.events().iter().all(|e| e.what() != "bound"), "udhcpc6 never binds: {:?}", client.events());
    assert!(!client.holds(WEB_PREFIX));
    assert_no_error_lines(&lab);
}

/// Kea with `"rapid-commit": true` on the VLAN subnets and dhcpcd with Debian's dhcpcd.conf (`option
/// rapid_commit`) and DUID-LL: its Solicit is answered with a Reply at once, delegating the NIC's /60, and the
/// lease is recorded as after Solicit + Request: the DUID dhcpcd sent, the hook's user-context, one
/// `cloudstack.delegated`.
#[test]
fn a_rapid_commit_solicit_from_dhcpcd_is_delegated_like_solicit_and_request() {
    let debian = std::fs::read_to_string(crate::lab::clients::DEBIAN_DHCPCD_CONF).expect("Debian's dhcpcd.conf");
    assert!(debian.lines().any(|l| l.trim() == "option rapid_commit"), "Debian's dhcpcd.conf asks for Rapid Commit");
    let mut rapid = Map::new();
    rapid.insert("rapid-commit".to_string(), json!(true));
    let lab = client_lab(rapid);
    assert!(lab.kea_log().contains("rapid-commit is true"), "Kea's VLAN subnets have rapid-commit on");
    let link = lab.add_client_link();
    let mac = list_the_clients_vm(&lab, &link);
    let relay = link.run_router("VLAN709", "client-link-layer");

    let client = link.dhcpcd(DhcpcdDuid::LinkLayer);
    client.wait_for("holding its NIC's /60", QUICKLY, |c| c.holds(WEB_PREFIX));
    let seen = exchanges(&relay.output());
    let answered: Vec<&Exchange> = seen.iter().filter(|e| e.answer.is_some()).collect();
    assert_eq!(answered.len(), 1, "one exchange: {seen:?}");
    assert_eq!(answered[0].message, "SOLICIT");
    assert_eq!(answered[0].answer.as_ref().map(|(kind, _)| kind.as_str()), Some("REPLY"), "Rapid Commit: {seen:?}");
    assert_eq!(answered[0].lifetimes(WEB_PREFIX), Some((PREFERRED, VALID)));
    assert!(seen.iter().all(|e| e.message == "SOLICIT"), "no Request: {seen:?}");

    let lease = live_lease(&lab, WEB_PREFIX).unwrap_or_else(|| panic!("Kea leases {WEB_PREFIX}: {:?}", lab.leases()));
    assert_eq!(lease.duid, format!("00:03:00:01:{mac}"), "dhcpcd's DUID-LL");
    assert!(lease.user_context.contains(&format!("\"mac\": \"{mac}\"")) && lease.user_context.contains("\"vlan\": 709")
            && lease.user_context.contains("nic-vm-client"), "the hook's record: {lease:?}");
    assert!(lab.kea_log().contains(&format!("MAC {mac} on VLAN 709 gets {WEB_PREFIX}")), "steered:\n{}", lab.kea_log());
    let status = lab.control(json!({"command": "cloudstack-status"}));
    assert_eq!(status["arguments"]["counters"]["cloudstack.delegated"], 1, "{status}");
    assert_no_error_lines(&lab);
}
