//! The packet path: from what the router said about a client message to what Kea should do.
//! Reads the index only; never waits on CloudStack.
use crate::config::{HookConfig, VlanConfig};
use crate::counters::{Counters, Stat};
use crate::index::{IndexedNic, NicIndex};
use crate::log::{Level, Throttle, DBG_PACKET};
use crate::log_at;
use crate::mac::Mac;
use crate::refresh::{IndexCell, MissFilter, Refresher, SyncReason};
use crate::relay::{router_mac, RouterFacts};
use ipnet::Ipv6Net;
use std::fmt;
use std::net::Ipv6Addr;
use std::sync::Arc;
use std::time::Duration;

/// DHCPv6 message types the hook judges.
pub mod msg {
    pub const SOLICIT: u8 = 1;
    pub const REQUEST: u8 = 3;
    pub const RENEW: u8 = 5;
    pub const REBIND: u8 = 6;
    pub const RELEASE: u8 = 8;
    pub const DECLINE: u8 = 9;
}

/// What lease6_renew / lease6_rebind should do with one delegated prefix.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RenewalVerdict {
    /// Extend it.
    Keep,
    /// No live NIC owns it, or another NIC does: lifetimes 0.
    Withdraw,
    /// The router vouches for another NIC than the one the prefix was delegated to (a neighbour
    /// replaying the owner's DUID): leave the lease as it is and answer this sender withdrawn.
    Foreign,
    /// Only for a renewal without its details: not Keep, unless a reservation keeps it. Nothing
    /// was counted or logged; ask again with the details.
    NeedsDetails,
}

/// A client message as the shim saw it.
#[derive(Clone, Copy, Debug)]
pub struct Query<'a> {
    pub msg_type: u8,
    pub router: RouterFacts<'a>,
    /// Where the packet came from: the outermost relay's address when relayed.
    pub source: Ipv6Addr,
    pub has_ia_pd: bool,
    pub label: &'a str,
}

/// What Kea should do with a client message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum QueryPlan {
    /// Not ours to judge.
    Leave,
    /// Delegate exactly the NIC's prefix.
    Steer(Steer),
    /// No prefix, for this reason.
    Refuse { reason: Refusal, mac: Option<Mac> },
    /// Drop the message before anything touches a lease: a relay that is not one of the routers.
    Drop,
}

/// The NIC a message is steered to, as the lease will record it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Steer {
    pub prefix: Ipv6Net,
    pub mac: Mac,
    pub vlan: u16,
    pub nic_id: NicId,
}

/// A NIC id copied out of the index without allocating (CloudStack's are 36-character UUIDs;
/// longer ones are cut at a character boundary).
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct NicId {
    bytes: [u8; NicId::MAX],
    len: u8,
}

impl NicId {
    /// Longest id kept.
    pub const MAX: usize = 64;

    /// The first `MAX` bytes of `id` (fewer if that would cut a character).
    pub fn new(id: &str) -> NicId {
        let mut len = id.len().min(NicId::MAX);
        while !id.is_char_boundary(len) {
            len -= 1;
        }
        let mut bytes = [0; NicId::MAX];
        bytes[..len].copy_from_slice(&id.as_bytes()[..len]);
        NicId { bytes, len: len as u8 }
    }

    /// The id as text.
    pub fn as_str(&self) -> &str {
        std::str::from_utf8(&self.bytes[..usize::from(self.len)]).unwrap_or_default()
    }
}

impl fmt::Debug for NicId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?}", self.as_str())
    }
}

/// Why a client gets no prefix.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Refusal {
    NotRelayed,
    NestedRelay(u8),
    /// No VLAN entry names this interface-id and link-address.
    UnknownInterfaceId(String, Ipv6Addr),
    NoMac,
    UnknownMac,
    /// CloudStack lists the NIC, but the index refused it (collision, number out of range).
    NicRefused,
    VlanMismatch { nic_vlan: u16, router_vlan: u16 },
}

impl fmt::Display for Refusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Refusal::NotRelayed => f.write_str("not relayed by the router"),
            Refusal::NestedRelay(hops) => write!(f, "{hops} relay layers: only the router may relay"),
            Refusal::UnknownInterfaceId(id, link) => {
                write!(f, "interface-id '{id}' with link-address {link} is not a configured VLAN")
            }
            Refusal::NoMac => f.write_str("the router gave no usable MAC"),
            Refusal::UnknownMac => f.write_str("MAC not in the CloudStack index"),
            Refusal::NicRefused => f.write_str("the index refused this NIC (see cloudstack-lookup)"),
            Refusal::VlanMismatch { nic_vlan, router_vlan } => {
                write!(f, "the NIC lives on VLAN {nic_vlan}, the message came through VLAN {router_vlan}")
            }
        }
    }
}

/// A Renew or Rebind of one delegated prefix.
#[derive(Clone, Copy, Debug)]
pub struct Renewal<'a> {
    pub query: Query<'a>,
    pub lease: Ipv6Net,
    /// The MAC the hook recorded on the lease when it delegated it (its user-context), never
    /// Kea's hardware address (which Kea may take from the client's DUID).
    pub recorded_mac: Option<Mac>,
    pub reservation: Option<Reservation<'a>>,
    /// `reservation` and the query's label are filled in. Without them (the shim saves a host
    /// lookup and a formatted label on the common path) only a Keep is final.
    pub has_details: bool,
}

/// The Kea host reservation holding a prefix.
#[derive(Clone, Copy, Debug, Default)]
pub struct Reservation<'a> {
    /// Its hw-address identifier (empty if it is by another identifier).
    pub hwaddr: &'a [u8],
    /// It names the client's own DUID.
    pub duid_matches: bool,
}

impl Reservation<'_> {
    /// Is it this client's: its DUID, or the MAC the router vouched for?
    pub fn is_for(&self, mac: Option<Mac>) -> bool {
        self.duid_matches || mac.is_some_and(|mac| self.hwaddr == mac.0)
    }
}

/// lease6_select's question: may Kea hand out this prefix?
#[derive(Clone, Copy, Debug)]
pub struct Selection<'a> {
    pub lease: Ipv6Net,
    pub planned: Option<Ipv6Net>,
    /// The lease is for the IA_PD the plan was made for (the message's first).
    pub planned_ia: bool,
    /// The MAC the router vouched for.
    pub mac: Option<Mac>,
    pub reservation: Option<Reservation<'a>>,
    pub label: &'a str,
}

/// The packet-path judge, shared by all Kea threads.
pub struct Delegator {
    cfg: Arc<HookConfig>,
    index: Arc<IndexCell>,
    misses: MissFilter,
    refresher: Arc<Refresher>,
    counters: Arc<Counters>,
    untrusted_lines: Throttle,
}

/// How many unknown MACs are remembered for miss-triggered syncs.
const MISS_MEMORY: usize = 4096;
/// At most one line per this about Relay-Forwards from relays that are not routers.
const UNTRUSTED_LOG_EVERY: Duration = Duration::from_secs(10);

impl Delegator {
    /// A judge over this index; unknown MACs ask `refresher` for a sync.
    pub fn new(cfg: Arc<HookConfig>, index: Arc<IndexCell>, refresher: Arc<Refresher>, counters: Arc<Counters>) -> Delegator {
        let untrusted_lines = Throttle::new(UNTRUSTED_LOG_EVERY);
        Delegator { cfg, index, misses: MissFilter::new(MISS_MEMORY), refresher, counters, untrusted_lines }
    }

    /// pkt6_receive: Leave, Steer, Refuse or Drop a client message.
    pub fn plan_query(&self, query: &Query<'_>) -> QueryPlan {
        if !query.has_ia_pd {
            return QueryPlan::Leave;
        }
        // Kea answers any Relay-Forward; only the routers may speak for a client, whatever the
        // message (a forged Release or Renew is as unwelcome as a forged Solicit).
        if query.router.relay_hops > 0 && !self.cfg.is_trusted_relay(query.source) {
            self.counters.bump(Stat::RefusedUntrustedRelay);
            if crate::log::enabled(Level::Debug(DBG_PACKET)) {
                if let Some(unlogged) = self.untrusted_lines.admit() {
                    log_at!(Level::Debug(DBG_PACKET), CLOUDSTACK_UNTRUSTED_RELAY, query.label, query.source, unlogged);
                }
            }
            return QueryPlan::Drop;
        }
        // The hook's clients always come through a router: a Release or Decline sent straight to
        // Kea names a DUID and nothing else, and a DUID proves nothing.
        if query.router.relay_hops == 0 && matches!(query.msg_type, msg::RELEASE | msg::DECLINE) {
            self.counters.bump(Stat::RefusedNotRelayed);
            return QueryPlan::Drop;
        }
        let renewing = matches!(query.msg_type, msg::RENEW | msg::REBIND);
        if !renewing && !matches!(query.msg_type, msg::SOLICIT | msg::REQUEST) {
            return QueryPlan::Leave;
        }
        let index = self.index.current();
        match self.resolve(query, &index) {
            Ok(nic) => {
                log_at!(Level::Debug(DBG_PACKET), CLOUDSTACK_PREFIX_STEERED, query.label, nic.mac, nic.vlan, nic.prefix);
                QueryPlan::Steer(Steer { prefix: nic.prefix, mac: nic.mac, vlan: nic.vlan, nic_id: NicId::new(&nic.nic_id) })
            }
            // Renewals are judged in lease6_renew / lease6_rebind, with what the lease recorded.
            Err(_) if renewing => QueryPlan::Leave,
            Err((reason, mac)) => {
                if let (Refusal::UnknownMac, Some(mac)) = (&reason, mac) {
                    if self.misses.should_ask(mac, self.refresher.generation()) {
                        self.refresher.request(SyncReason::UnknownMac);
                    }
                }
                self.count_refusal(&reason);
                log_at!(Level::Debug(DBG_PACKET), CLOUDSTACK_PACKET_REFUSED, query.label, reason);
                QueryPlan::Refuse { reason, mac }
            }
        }
    }

    /// lease6_select on a delegated prefix: only the planned prefix, for the IA_PD it was planned
    /// for, or a prefix reserved for this client may be handed out.
    pub fn judge_selection(&self, selection: &Selection<'_>) -> bool {
        let reserved = selection.reservation.is_some_and(|r| r.is_for(selection.mac));
        if reserved || (selection.planned_ia && selection.planned == Some(selection.lease)) {
            return true;
        }
        let planned = match selection.planned {
            Some(p) if selection.planned_ia => p.to_string(),
            Some(p) => format!("{p} for the first IA_PD only"),
            None => "none".to_string(),
        };
        log_at!(Level::Debug(DBG_PACKET), CLOUDSTACK_SELECT_SKIPPED, selection.label, selection.lease, planned);
        false
    }

    /// lease6_renew / lease6_rebind: Keep, Withdraw (lifetimes 0: no live NIC owns the prefix,
    /// or another NIC does) or Foreign. Withdrawals need an authoritative, non-empty index (a
    /// complete live listing younger than authority-max-age).
    pub fn judge_renewal(&self, renewal: &Renewal<'_>) -> RenewalVerdict {
        let router = &renewal.query.router;
        let router_mac = router_mac(router, &self.cfg.mac_sources, self.cfg.remote_id_enterprise);
        let mac = router_mac.or(renewal.recorded_mac);
        if renewal.reservation.is_some_and(|r| r.is_for(mac)) {
            return RenewalVerdict::Keep;
        }
        if let (Some(sender), Some(owner)) = (router_mac, renewal.recorded_mac) {
            if sender != owner {
                if !renewal.has_details {
                    return RenewalVerdict::NeedsDetails;
                }
                self.counters.bump(Stat::RefusedForeign);
                log_at!(Level::Info, CLOUDSTACK_RENEWAL_FOREIGN, renewal.query.label, renewal.lease, sender, owner);
                return RenewalVerdict::Foreign;
            }
        }
        let index = self.index.current();
        if !self.index.is_authoritative() || index.is_empty() {
            return RenewalVerdict::Keep;
        }
        let Err(why) = self.renewal_evidence(renewal, &index) else { return RenewalVerdict::Keep };
        if !renewal.has_details {
            return RenewalVerdict::NeedsDetails;
        }
        self.counters.bump(Stat::Withdrawn);
        log_at!(Level::Info, CLOUDSTACK_RENEWAL_WITHDRAWN, renewal.query.label, renewal.lease, why);
        RenewalVerdict::Withdraw
    }

    /// lease6_release: may this (relayed) Release free the prefix? Not when the router vouches
    /// for another NIC than the one the prefix was delegated to.
    pub fn allows_release(&self, query: &Query<'_>, recorded_mac: Option<Mac>) -> bool {
        let sender = router_mac(&query.router, &self.cfg.mac_sources, self.cfg.remote_id_enterprise);
        match (sender, recorded_mac) {
            (Some(sender), Some(owner)) if sender != owner => {
                self.counters.bump(Stat::RefusedForeign);
                log_at!(Level::Info, CLOUDSTACK_RELEASE_REFUSED, query.label, sender, owner);
                false
            }
            _ => true,
        }
    }

    /// Ok when the renewal may go on; Err with the reason to withdraw. The NIC is named by the
    /// router's MAC, else by the MAC recorded on the lease, else by the prefix itself. A
    /// renewal the router did not vouch for (not relayed, nested, unknown interface-id: a
    /// backup router with other interface names, say) proves nothing and is kept.
    fn renewal_evidence(&self, renewal: &Renewal<'_>, index: &NicIndex) -> Result<(), String> {
        let router = &renewal.query.router;
        let Ok(vlan) = self.router_vlan(router) else { return Ok(()) };
        let mac = router_mac(router, &self.cfg.mac_sources, self.cfg.remote_id_enterprise).or(renewal.recorded_mac);
        let Some(mac) = mac else {
            return match index.by_prefix(renewal.lease) {
                Some(owner) if owner.slot == vlan.slot => Ok(()),
                _ => Err(format!("no live NIC on VLAN {} owns it", vlan.vlan)),
            };
        };
        match self.nic_of(mac, vlan, index) {
            Ok(nic) if nic.prefix == renewal.lease => Ok(()),
            Ok(nic) => Err(format!("the NIC's prefix is {} now", nic.prefix)),
            Err(reason) => Err(reason.to_string()),
        }
    }

    /// The NIC the router names for a Solicit or Request.
    fn resolve<'i>(&self, query: &Query<'_>, index: &'i NicIndex) -> Result<&'i IndexedNic, (Refusal, Option<Mac>)> {
        let router = &query.router;
        let vlan = self.router_vlan(router).map_err(|reason| (reason, None))?;
        let Some(mac) = router_mac(router, &self.cfg.mac_sources, self.cfg.remote_id_enterprise) else {
            return Err((Refusal::NoMac, None));
        };
        self.nic_of(mac, vlan, index).map_err(|reason| (reason, Some(mac)))
    }

    /// The VLAN of the router's interface-id, if the router alone relayed the message.
    fn router_vlan(&self, router: &RouterFacts<'_>) -> Result<&VlanConfig, Refusal> {
        match router.relay_hops {
            0 => return Err(Refusal::NotRelayed),
            1 => {}
            hops => return Err(Refusal::NestedRelay(hops)),
        }
        self.cfg.vlan_of_link(router.interface_id, router.link_address).ok_or_else(|| {
            Refusal::UnknownInterfaceId(String::from_utf8_lossy(router.interface_id).into_owned(), router.link_address)
        })
    }

    /// The NIC with this MAC on this VLAN.
    fn nic_of<'i>(&self, mac: Mac, vlan: &VlanConfig, index: &'i NicIndex) -> Result<&'i IndexedNic, Refusal> {
        if let Some(nic) = index.get(mac, vlan.slot) {
            return Ok(nic);
        }
        match self.cfg.vlans.iter().find(|v| index.get(mac, v.slot).is_some()) {
            Some(other) => Err(Refusal::VlanMismatch { nic_vlan: other.vlan, router_vlan: vlan.vlan }),
            None if index.is_refused(mac) => Err(Refusal::NicRefused),
            None => Err(Refusal::UnknownMac),
        }
    }

    /// Kea sent a Reply delegating the planned prefix.
    pub fn count_delegation(&self) {
        self.counters.bump(Stat::Delegated);
    }

    fn count_refusal(&self, reason: &Refusal) {
        let stat = match reason {
            Refusal::NotRelayed | Refusal::NestedRelay(_) => Stat::RefusedNotRelayed,
            Refusal::UnknownInterfaceId(..) => Stat::RefusedUnknownInterface,
            Refusal::NoMac => Stat::RefusedNoMac,
            Refusal::UnknownMac => Stat::LookupMiss,
            Refusal::NicRefused => Stat::RefusedNic,
            Refusal::VlanMismatch { .. } => Stat::RefusedVlanMismatch,
        };
        self.counters.bump(stat);
    }
}

#[cfg(test)]
#[path = "delegation_tests.rs"]
mod tests;
