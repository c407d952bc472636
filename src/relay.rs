//! What the provider router said about a client: the VLAN (interface-id) and the MAC
//! (remote-id, RFC 4649, or client link-layer address, RFC 6939). The client cannot forge
//! these; its own DUID is never taken as identity.
use crate::mac::Mac;

/// Where the router may carry the client's MAC, tried in the configured order.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MacSource {
    /// Option 79: 2-byte hardware type (1 = Ethernet) + address.
    ClientLinkAddr,
    /// Option 37: 4-byte enterprise number + the MAC as 6 raw bytes or as text.
    RemoteId,
}

impl MacSource {
    /// The name used in the hook parameter `mac-sources`.
    pub fn parse(name: &str) -> Option<MacSource> {
        match name {
            "client-link-addr" => Some(MacSource::ClientLinkAddr),
            "remote-id" => Some(MacSource::RemoteId),
            _ => None,
        }
    }
}

/// The outermost relay's statements about one client message.
#[derive(Clone, Copy, Debug)]
pub struct RouterFacts<'a> {
    /// Relay-Forward layers around the client's message; 1 when only the router relayed it.
    pub relay_hops: u8,
    pub interface_id: &'a [u8],
    /// The outermost relay's link-address (the client's link, as the router names it).
    pub link_address: std::net::Ipv6Addr,
    pub remote_id: &'a [u8],
    pub client_link_layer: &'a [u8],
}

impl Default for RouterFacts<'_> {
    fn default() -> Self {
        RouterFacts {
            relay_hops: 0,
            interface_id: &[],
            link_address: std::net::Ipv6Addr::UNSPECIFIED,
            remote_id: &[],
            client_link_layer: &[],
        }
    }
}

const HARDWARE_TYPE_ETHERNET: u16 = 1;

/// The MAC in an option 79 payload, if it is an Ethernet address.
pub fn mac_from_client_link_layer(payload: &[u8]) -> Option<Mac> {
    let (kind, address) = payload.split_at_checked(2)?;
    if u16::from_be_bytes([kind[0], kind[1]]) != HARDWARE_TYPE_ETHERNET {
        return None;
    }
    Mac::from_bytes(address)
}

/// The MAC in an option 37 payload: after the enterprise number, either 6 raw bytes or the
/// MAC as text (`06:32:b2:00:03:57`, `0632.b200.0357`, ...). With `enterprise` set, a
/// remote-id of another enterprise is not accepted.
pub fn mac_from_remote_id(payload: &[u8], enterprise: Option<u32>) -> Option<Mac> {
    let (number, id) = payload.split_at_checked(4)?;
    let number = u32::from_be_bytes([number[0], number[1], number[2], number[3]]);
    if enterprise.is_some_and(|wanted| wanted != number) {
        return None;
    }
    if let Some(mac) = Mac::from_bytes(id) {
        return Some(mac);
    }
    std::str::from_utf8(id).ok().and_then(Mac::parse_text)
}

/// The client's MAC from the first configured source that carries a usable one.
pub fn router_mac(facts: &RouterFacts<'_>, sources: &[MacSource], enterprise: Option<u32>) -> Option<Mac> {
    sources.iter().find_map(|source| match source {
        MacSource::ClientLinkAddr => mac_from_client_link_layer(facts.client_link_layer),
        MacSource::RemoteId => mac_from_remote_id(facts.remote_id, enterprise),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const MAC: Mac = Mac([0x06, 0x32, 0xb2, 0x00, 0x03, 0x57]);

    fn remote_id(enterprise: u32, id: &[u8]) -> Vec<u8> {
        let mut payload = enterprise.to_be_bytes().to_vec();
        payload.extend_from_slice(id);
        payload
    }

    #[test]
    fn a_router_may_send_the_mac_raw_or_as_text_in_remote_id() {
        assert_eq!(mac_from_remote_id(&remote_id(2636, &MAC.0), None), Some(MAC));
        assert_eq!(mac_from_remote_id(&remote_id(2636, b"06:32:b2:00:03:57"), None), Some(MAC));
        assert_eq!(mac_from_remote_id(&remote_id(9, b"0632.b200.0357"), None), Some(MAC));
    }

    #[test]
    fn remote_id_of_another_enterprise_is_ignored_when_one_is_configured() {
        assert_eq!(mac_from_remote_id(&remote_id(2636, &MAC.0), Some(2636)), Some(MAC));
        assert_eq!(mac_from_remote_id(&remote_id(9, &MAC.0), Some(2636)), None);
    }

    #[test]
    fn remote_ids_that_are_not_macs_give_no_mac() {
        for id in [&b"ge-0/0/1.709"[..], b"", &[1, 2, 3, 4, 5], &[1, 2, 3, 4, 5, 6, 7]] {
            assert_eq!(mac_from_remote_id(&remote_id(2636, id), None), None, "{id:?}");
        }
        assert_eq!(mac_from_remote_id(&[0, 0, 10], None), None);
    }

    #[test]
    fn option_79_carries_an_ethernet_mac() {
        let mut payload = vec![0, 1];
        payload.extend_from_slice(&MAC.0);
        assert_eq!(mac_from_client_link_layer(&payload), Some(MAC));
        payload[1] = 6; // IEEE 802 type 6 is not Ethernet
        assert_eq!(mac_from_client_link_layer(&payload), None);
        assert_eq!(mac_from_client_link_layer(&[0, 1, 2]), None);
    }

    #[test]
    fn sources_are_tried_in_the_configured_order() {
        let other = Mac([2, 0, 0, 0, 0, 1]);
        let mut cll = vec![0, 1];
        cll.extend_from_slice(&other.0);
        let rid = remote_id(2636, &MAC.0);
        let facts = RouterFacts { relay_hops: 1, interface_id: b"VLAN709", remote_id: &rid, client_link_layer: &cll, ..RouterFacts::default() };
        let both = [MacSource::ClientLinkAddr, MacSource::RemoteId];
        assert_eq!(router_mac(&facts, &both, None), Some(other));
        assert_eq!(router_mac(&facts, &[MacSource::RemoteId, MacSource::ClientLinkAddr], None), Some(MAC));
        let no_cll = RouterFacts { client_link_layer: &[], ..facts };
        assert_eq!(router_mac(&no_cll, &both, None), Some(MAC));
        assert_eq!(router_mac(&no_cll, &[MacSource::ClientLinkAddr], None), None);
    }
}
