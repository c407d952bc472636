//! The packet path: from what the router said about a client message to what Kea should do.
//! Reads the index only; never waits on CloudStack.
use crate::config::HookConfig;
use crate::counters::{Counters, Stat};
use crate::index::NicIndex;
use crate::log::{Level, DBG_PACKET};
use crate::log_at;
use crate::mac::Mac;
use crate::refresh::{IndexCell, MissFilter, Refresher, SyncReason};
use crate::relay::{router_mac, RouterFacts};
use ipnet::Ipv6Net;
use std::fmt;
use std::sync::Arc;

/// DHCPv6 message types the hook judges.
pub mod msg {
    pub const SOLICIT: u8 = 1;
    pub const REQUEST: u8 = 3;
    pub const RENEW: u8 = 5;
    pub const REBIND: u8 = 6;
}

/// A client message as the shim saw it.
#[derive(Clone, Copy, Debug)]
pub struct Query<'a> {
    pub msg_type: u8,
    pub router: RouterFacts<'a>,
    pub has_ia_pd: bool,
    pub label: &'a str,
}

/// What Kea should do with a client message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum QueryPlan {
    /// Not ours to judge.
    Leave,
    /// Delegate exactly this prefix (the NIC's).
    Steer { prefix: Ipv6Net, mac: Mac },
    /// No prefix, for this reason.
    Refuse { reason: Refusal, mac: Option<Mac> },
}

/// Why a client gets no prefix.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Refusal {
    NotRelayed,
    NestedRelay(u8),
    UnknownInterfaceId(String),
    NoMac,
    UnknownMac,
    VlanMismatch { nic_vlan: u16, router_vlan: u16 },
}

impl fmt::Display for Refusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Refusal::NotRelayed => f.write_str("not relayed by the router"),
            Refusal::NestedRelay(hops) => write!(f, "{hops} relay layers: only the router may relay"),
            Refusal::UnknownInterfaceId(id) => write!(f, "interface-id '{id}' is not a configured VLAN"),
            Refusal::NoMac => f.write_str("the router gave no usable MAC"),
            Refusal::UnknownMac => f.write_str("MAC not in the CloudStack index"),
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
    pub lease_hwaddr: &'a [u8],
    pub reserved: bool,
}

/// lease6_select's question: may Kea hand out this lease?
#[derive(Clone, Copy, Debug)]
pub struct Selection<'a> {
    pub lease: Ipv6Net,
    pub is_pd: bool,
    pub planned: Option<Ipv6Net>,
    pub reserved: bool,
    pub label: &'a str,
}

/// The packet-path judge, shared by all Kea threads.
pub struct Delegator {
    cfg: Arc<HookConfig>,
    index: Arc<IndexCell>,
    misses: MissFilter,
    refresher: Arc<Refresher>,
    counters: Arc<Counters>,
}

/// How many unknown MACs are remembered for miss-triggered syncs.
const MISS_MEMORY: usize = 4096;

impl Delegator {
    /// A judge over this index; unknown MACs ask `refresher` for a sync.
    pub fn new(cfg: Arc<HookConfig>, index: Arc<IndexCell>, refresher: Arc<Refresher>, counters: Arc<Counters>) -> Delegator {
        Delegator { cfg, index, misses: MissFilter::new(MISS_MEMORY), refresher, counters }
    }

    /// pkt6_receive: Leave, Steer or Refuse a client message.
    pub fn plan_query(&self, query: &Query<'_>) -> QueryPlan {
        let judged = matches!(query.msg_type, msg::SOLICIT | msg::REQUEST | msg::RENEW | msg::REBIND);
        if !judged || !query.has_ia_pd {
            return QueryPlan::Leave;
        }
        let renewing = matches!(query.msg_type, msg::RENEW | msg::REBIND);
        let index = self.index.current();
        match self.resolve(query, None, &index) {
            Ok((prefix, mac, vlan)) => {
                if !renewing {
                    self.counters.bump(Stat::Delegated);
                }
                log_at!(Level::Debug(DBG_PACKET), CLOUDSTACK_PREFIX_STEERED, query.label, mac, vlan, prefix);
                QueryPlan::Steer { prefix, mac }
            }
            // A renewal without a MAC is judged later, with the MAC recorded on the lease.
            Err((Refusal::NoMac, _)) if renewing => QueryPlan::Leave,
            Err((reason, mac)) => {
                if !renewing {
                    self.count_refusal(&reason);
                    log_at!(Level::Debug(DBG_PACKET), CLOUDSTACK_PACKET_REFUSED, query.label, reason);
                }
                QueryPlan::Refuse { reason, mac }
            }
        }
    }

    /// lease6_select: only the planned prefix, or a reserved one, may be handed out.
    pub fn judge_selection(&self, selection: &Selection<'_>) -> bool {
        if !selection.is_pd || selection.reserved || selection.planned == Some(selection.lease) {
            return true;
        }
        let planned = selection.planned.map_or_else(|| "none".to_string(), |p| p.to_string());
        log_at!(Level::Debug(DBG_PACKET), CLOUDSTACK_SELECT_SKIPPED, selection.label, selection.lease, planned);
        false
    }

    /// lease6_renew / lease6_rebind: true when the prefix must be withdrawn (lifetimes 0)
    /// because the NIC no longer owns it. Until a live sync succeeded, nothing is withdrawn.
    pub fn withdraws(&self, renewal: &Renewal<'_>) -> bool {
        if renewal.reserved || !self.index.is_authoritative() {
            return false;
        }
        let lease_mac = Mac::from_bytes(renewal.lease_hwaddr);
        let index = self.index.current();
        let why = match self.resolve(&renewal.query, lease_mac, &index) {
            Ok((prefix, ..)) if prefix == renewal.lease => return false,
            // Neither the router nor the lease names a MAC: no evidence against the client.
            Err((Refusal::NoMac, _)) => return false,
            Ok((prefix, ..)) => format!("the NIC's prefix is {prefix} now"),
            Err((reason, _)) => reason.to_string(),
        };
        self.counters.bump(Stat::Withdrawn);
        log_at!(Level::Info, CLOUDSTACK_RENEWAL_WITHDRAWN, renewal.query.label, renewal.lease, why);
        true
    }

    /// The NIC's prefix for a message, from the router's facts (`fallback_mac` when the
    /// router sent none).
    fn resolve(&self, query: &Query<'_>, fallback_mac: Option<Mac>, index: &NicIndex) -> Result<(Ipv6Net, Mac, u16), (Refusal, Option<Mac>)> {
        let router = &query.router;
        match router.relay_hops {
            0 => return Err((Refusal::NotRelayed, None)),
            1 => {}
            hops => return Err((Refusal::NestedRelay(hops), None)),
        }
        let Some(vlan) = self.cfg.vlan_by_interface_id(router.interface_id) else {
            let id = String::from_utf8_lossy(router.interface_id).into_owned();
            return Err((Refusal::UnknownInterfaceId(id), None));
        };
        let Some(mac) = router_mac(router, &self.cfg.mac_sources, self.cfg.remote_id_enterprise).or(fallback_mac) else {
            return Err((Refusal::NoMac, None));
        };
        if let Some(nic) = index.get(mac, vlan.vlan) {
            return Ok((nic.prefix, mac, vlan.vlan));
        }
        if let Some(other) = self.cfg.vlans.iter().find(|v| index.get(mac, v.vlan).is_some()) {
            return Err((Refusal::VlanMismatch { nic_vlan: other.vlan, router_vlan: vlan.vlan }, Some(mac)));
        }
        if self.misses.should_ask(mac, self.refresher.generation()) {
            self.refresher.request(SyncReason::UnknownMac);
        }
        Err((Refusal::UnknownMac, Some(mac)))
    }

    fn count_refusal(&self, reason: &Refusal) {
        let stat = match reason {
            Refusal::NotRelayed | Refusal::NestedRelay(_) => Stat::RefusedNotRelayed,
            Refusal::UnknownInterfaceId(_) => Stat::RefusedUnknownInterface,
            Refusal::NoMac => Stat::RefusedNoMac,
            Refusal::UnknownMac => Stat::LookupMiss,
            Refusal::VlanMismatch { .. } => Stat::RefusedVlanMismatch,
        };
        self.counters.bump(stat);
    }
}

#[cfg(test)]
#[path = "delegation_tests.rs"]
mod tests;
