//! What a router (or anything pretending to be one) may put in interface-id, remote-id and option 79.
#![no_main]
use dhcp_cloudstack::mac::Mac;
use dhcp_cloudstack::relay::{mac_from_client_link_layer, mac_from_remote_id, router_mac, MacSource, RouterFacts};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    // Split the input into the three options the shim hands over.
    let (a, rest) = data.split_at(data.len().min(data.first().copied().unwrap_or(0) as usize));
    let (b, c) = rest.split_at(rest.len() / 2);
    let _ = mac_from_client_link_layer(a);
    let _ = mac_from_remote_id(b, None);
    let _ = mac_from_remote_id(b, Some(2636));
    if let Ok(text) = std::str::from_utf8(c) {
        if let Some(mac) = Mac::parse_text(text) {
            assert_eq!(Mac::parse_text(&mac.to_string()), Some(mac));
        }
    }
    let facts = RouterFacts { relay_hops: 1, interface_id: c, remote_id: b, client_link_layer: a };
    let _ = router_mac(&facts, &[MacSource::ClientLinkAddr, MacSource::RemoteId], None);
});
