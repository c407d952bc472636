//! Does the configuration Kea applied serve the hook's VLANs? Each VLAN needs a Kea subnet with
//! its interface-id and a pd-pool covering its whole prefix at `delegated-length`; otherwise Kea
//! silently delegates nothing there (or re-allocates the hook's prefix on every renewal).
use crate::config::{HookConfig, VlanConfig};
use ipnet::Ipv6Net;
use std::net::Ipv6Addr;

/// A pd-pool of a Kea subnet: the first and last delegated prefix, and their length.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PdPool {
    pub first: Ipv6Addr,
    pub last: Ipv6Addr,
    pub delegated_len: u8,
}

/// Do these pools, with this delegated length, cover all of `prefix` between them?
fn covered(pools: &[PdPool], prefix: Ipv6Net, delegated_len: u8) -> bool {
    let mut spans: Vec<(u128, u128)> = pools
        .iter()
        .filter(|p| p.delegated_len == delegated_len)
        .map(|p| (u128::from(p.first), u128::from(p.last)))
        .collect();
    spans.sort_unstable();
    let (mut next, last) = (u128::from(prefix.network()), u128::from(prefix.broadcast()));
    for (first, end) in spans {
        if first > next {
            break;
        }
        if end >= last {
            return true;
        }
        next = next.max(end + 1);
    }
    false
}

/// A subnet of Kea's configuration, as the hook sees it.
#[derive(Clone, Debug)]
pub struct KeaSubnet<'a> {
    pub id: u32,
    /// The subnet's prefix (Kea selects it for a relay whose link-address lies in it).
    pub prefix: Option<Ipv6Net>,
    pub interface_id: &'a [u8],
    pub pd_pools: Vec<PdPool>,
}

/// Ok when every VLAN is served; otherwise the first VLAN that is not, and why.
pub fn check(cfg: &HookConfig, subnets: &[KeaSubnet<'_>]) -> Result<(), String> {
    cfg.vlans.iter().try_for_each(|vlan| check_vlan(vlan, cfg.delegated_length, subnets))
}

fn check_vlan(vlan: &VlanConfig, delegated_len: u8, subnets: &[KeaSubnet<'_>]) -> Result<(), String> {
    let name = format!("VLAN {} ({})", vlan.vlan, vlan.link_name());
    // Kea selects the first subnet (in subnet id order, as the shim lists them) with the
    // interface-id, or, for a relay without one, whose prefix holds the relay's link-address.
    let subnet = match (&vlan.interface_id, vlan.link_prefix) {
        (Some(id), _) => subnets.iter().find(|s| s.interface_id == id.bytes.as_slice()),
        (None, Some(link)) => subnets.iter().find(|s| s.prefix.is_some_and(|p| p.contains(&link))),
        (None, None) => None,
    };
    let Some(subnet) = subnet else {
        let which = if vlan.interface_id.is_some() { "has this interface-id" } else { "holds this link-prefix" };
        return Err(format!("{name}: no Kea subnet {which}"));
    };
    if covered(&subnet.pd_pools, vlan.prefix, delegated_len) {
        return Ok(());
    }
    let pools: Vec<String> =
        subnet.pd_pools.iter().map(|p| format!("{} - {} delegated-len {}", p.first, p.last, p.delegated_len)).collect();
    let found = if pools.is_empty() { "no pd-pool".to_string() } else { pools.join("; ") };
    Err(format!(
        "{name}: the pd-pools of subnet {} (the first Kea selects for it) do not cover {} with delegated-len {delegated_len} ({found})",
        subnet.id, vlan.prefix
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn cfg() -> HookConfig {
        HookConfig::from_json(&json!({
            "api-url": "https://c/client/api", "api-key": "k", "api-secret": "s", "trusted-relays": ["fd00::/8"],
            "vlans": [
                {"vlan": 709, "interface-id": "VLAN709", "prefix": "2a00:f10:500::/40"},
                {"vlan": 710, "interface-id": "VLAN710", "prefix": "2a00:f10:600::/40"}
            ]
        }))
        .unwrap()
    }

    fn pool(first: &str, last: &str, len: u8) -> PdPool {
        PdPool { first: first.parse().unwrap(), last: last.parse().unwrap(), delegated_len: len }
    }

    fn whole(base: &str, len: u8) -> PdPool {
        let net: Ipv6Net = format!("{base}/40").parse().unwrap();
        PdPool { first: net.network(), last: net.broadcast(), delegated_len: len }
    }

    #[test]
    fn a_subnet_per_vlan_with_a_pool_over_its_whole_prefix_serves_the_hook() {
        let subnets = [
            KeaSubnet { id: 1, prefix: None, interface_id: b"VLAN709", pd_pools: vec![whole("2a00:f10:500::", 60)] },
            KeaSubnet { id: 2, prefix: None, interface_id: b"VLAN710", pd_pools: vec![whole("2a00:f10:600::", 60)] },
        ];
        assert_eq!(check(&cfg(), &subnets), Ok(()));
    }

    #[test]
    fn a_missing_subnet_a_short_pool_or_another_delegated_length_is_named_by_vlan() {
        let only_709 = [KeaSubnet { id: 1, prefix: None, interface_id: b"VLAN709", pd_pools: vec![whole("2a00:f10:500::", 60)] }];
        let err = check(&cfg(), &only_709).unwrap_err();
        assert!(err.contains("VLAN 710 (interface-id 'VLAN710'): no Kea subnet"), "{err}");

        let wrong_length = [
            KeaSubnet { id: 1, prefix: None, interface_id: b"VLAN709", pd_pools: vec![whole("2a00:f10:500::", 64)] },
            KeaSubnet { id: 2, prefix: None, interface_id: b"VLAN710", pd_pools: vec![whole("2a00:f10:600::", 60)] },
        ];
        let err = check(&cfg(), &wrong_length).unwrap_err();
        assert!(err.contains("VLAN 709") && err.contains("delegated-len 60") && err.contains("delegated-len 64"), "{err}");

        let half = [
            KeaSubnet { id: 1, prefix: None, interface_id: b"VLAN709", pd_pools: vec![pool("2a00:f10:500::", "2a00:f10:57f:ffff:ffff:ffff:ffff:ffff", 60)] },
            KeaSubnet { id: 2, prefix: None, interface_id: b"VLAN710", pd_pools: vec![] },
        ];
        let err = check(&cfg(), &half).unwrap_err();
        assert!(err.contains("VLAN 709") && err.contains("do not cover 2a00:f10:500::/40"), "{err}");
    }

    #[test]
    fn two_pools_that_cover_the_prefix_together_serve_it_and_only_the_first_subnet_counts() {
        let halves = [
            KeaSubnet {
                id: 1,
                prefix: None,
                interface_id: b"VLAN709",
                pd_pools: vec![
                    pool("2a00:f10:580::", "2a00:f10:5ff:ffff:ffff:ffff:ffff:ffff", 60),
                    pool("2a00:f10:500::", "2a00:f10:57f:ffff:ffff:ffff:ffff:ffff", 60),
                ],
            },
            KeaSubnet { id: 2, prefix: None, interface_id: b"VLAN710", pd_pools: vec![whole("2a00:f10:600::", 60)] },
        ];
        assert_eq!(check(&cfg(), &halves), Ok(()));
        let shadowed = [
            KeaSubnet { id: 1, prefix: None, interface_id: b"VLAN709", pd_pools: vec![] },
            KeaSubnet { id: 3, prefix: None, interface_id: b"VLAN709", pd_pools: vec![whole("2a00:f10:500::", 60)] },
            KeaSubnet { id: 2, prefix: None, interface_id: b"VLAN710", pd_pools: vec![whole("2a00:f10:600::", 60)] },
        ];
        let err = check(&cfg(), &shadowed).unwrap_err();
        assert!(err.contains("subnet 1 (the first Kea selects for it)"), "{err}");
    }
}
