//! Which prefix a NIC gets: `vlan prefix + n × 2^(128 − delegated length)`.
use crate::mac::Mac;
use ipnet::Ipv6Net;
use std::net::{Ipv4Addr, Ipv6Addr};

/// The NIC's number within its VLAN under the `ipv4-host` rule: the host part of its IPv4
/// address (unique among a network's live NICs, stable for the NIC's life).
pub fn ipv4_host_number(address: Ipv4Addr, netmask: Ipv4Addr) -> u128 {
    u128::from(u32::from(address) & !u32::from(netmask))
}

/// The NIC's number under the `mac` rule: the low `bits` bits of the MAC.
pub fn mac_number(mac: Mac, bits: u32) -> u128 {
    let value = u128::from(mac.as_u64());
    if bits >= 48 {
        value
    } else {
        value & ((1u128 << bits) - 1)
    }
}

/// How many NIC numbers a VLAN prefix holds at this delegated length (as a bit count).
pub fn number_bits(vlan_prefix: Ipv6Net, delegated_len: u8) -> u32 {
    u32::from(delegated_len.saturating_sub(vlan_prefix.prefix_len()))
}

/// The delegated prefix of NIC number `n`, or None when `n` does not fit the VLAN prefix.
pub fn delegated_prefix(vlan_prefix: Ipv6Net, n: u128, delegated_len: u8) -> Option<Ipv6Net> {
    let bits = number_bits(vlan_prefix, delegated_len);
    if delegated_len > 128 || (bits < 128 && n >> bits != 0) {
        return None;
    }
    let base = u128::from(vlan_prefix.network());
    let offset = n.checked_shl(128 - u32::from(delegated_len))?;
    Ipv6Net::new(Ipv6Addr::from(base | offset), delegated_len).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vlan709() -> Ipv6Net {
        "2a00:f10:500::/40".parse().unwrap()
    }

    #[test]
    fn the_ipv4_host_example_of_the_contract() {
        let n = ipv4_host_number("185.62.101.23".parse().unwrap(), "255.255.252.0".parse().unwrap());
        assert_eq!(n, 279);
        let prefix = delegated_prefix(vlan709(), n, 60).unwrap();
        assert_eq!(prefix.to_string(), "2a00:f10:500:1170::/60");
    }

    #[test]
    fn the_mac_example_of_the_contract() {
        let mac: Mac = "06:32:b2:00:03:57".parse().unwrap();
        let n = mac_number(mac, number_bits(vlan709(), 60));
        assert_eq!(n, 0x357);
        assert_eq!(delegated_prefix(vlan709(), n, 60).unwrap().to_string(), "2a00:f10:500:3570::/60");
    }

    #[test]
    fn a_number_beyond_the_vlan_prefix_gets_nothing() {
        assert!(delegated_prefix(vlan709(), (1 << 20) - 1, 60).is_some());
        assert_eq!(delegated_prefix(vlan709(), 1 << 20, 60), None);
    }

    #[test]
    fn numbers_zero_and_last_stay_inside_the_vlan_prefix() {
        let first = delegated_prefix(vlan709(), 0, 60).unwrap();
        let last = delegated_prefix(vlan709(), (1 << 20) - 1, 60).unwrap();
        assert_eq!(first.to_string(), "2a00:f10:500::/60");
        assert!(vlan709().contains(&last));
        assert_eq!(last.to_string(), "2a00:f10:5ff:fff0::/60");
    }
}
