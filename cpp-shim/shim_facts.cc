// Facts of a client message: what the outermost relay (the provider router) said about it.
#include "kea_compat.h" // first: Kea's config.h, the release built against
#include "shim_facts.h"
#include "shim_log.h"

#include <dhcp/dhcp6.h>

#include <boost/asio/ip/address.hpp>

#include <algorithm>
#include <cstring>

using namespace isc::dhcp;
using isc::asiolink::IOAddress;

namespace isc {
namespace cloudstack {

namespace {

kc_bytes bytesOfVector(const std::vector<uint8_t>& data) {
    kc_bytes bytes;
    bytes.ptr = data.empty() ? nullptr : data.data();
    bytes.len = data.size();
    return bytes;
}

// The payload of the first option `code` of the relay, without its header, in place: every
// option Kea parsed keeps the bytes the router sent (OptionCustom too, beside its fields), and the
// relay's options live as long as the packet.
kc_bytes relayOption(const Pkt6::RelayInfo& relay, uint16_t code) {
    auto found = relay.options_.find(code);
    if (found == relay.options_.end() || !found->second) {
        return kc_bytes{nullptr, 0};
    }
    return bytesOfVector(found->second->getData());
}

} // namespace

OptionPtr peekOption(const Pkt6Ptr& query, uint16_t code) {
    auto found = query->options_.find(code);
    return found == query->options_.end() ? OptionPtr() : found->second;
}

kc_bytes bytesOf(const std::string& text) {
    kc_bytes bytes;
    bytes.ptr = reinterpret_cast<const uint8_t*>(text.data());
    bytes.len = text.size();
    return bytes;
}

kc_prefix prefixOf(const IOAddress& address, uint8_t len) {
    kc_prefix prefix;
    std::memset(&prefix, 0, sizeof(prefix));
    const std::vector<uint8_t> bytes = address.toBytes();
    if (bytes.size() == 16) {
        std::memcpy(prefix.addr, bytes.data(), 16);
    }
    prefix.len = len;
    return prefix;
}

IOAddress addressOf(const kc_prefix& prefix) {
    // IOAddress::fromBytes goes through inet_ntop and back; asio's address takes the bytes as they are.
    boost::asio::ip::address_v6::bytes_type bytes;
    std::memcpy(bytes.data(), prefix.addr, bytes.size());
    return IOAddress(boost::asio::ip::address(boost::asio::ip::address_v6(bytes)));
}

std::string labelOf(const Pkt6Ptr& query, Label need) {
    if (!query || (need == Label::WhenPacketsLogged && !cloudstack_logger.isDebugEnabled(DBG_PACKET))) {
        return std::string();
    }
    return query->getLabel();
}

QueryFacts::QueryFacts(const Pkt6Ptr& query, Label need) {
    std::memset(&facts_, 0, sizeof(facts_));
    facts_.msg_type = query->getType();
    facts_.relay_hops = static_cast<uint8_t>(query->relay_info_.size());
    const IOAddress& source = query->getRemoteAddr();
    if (source.isV6()) {
        const std::vector<uint8_t> bytes = source.toBytes();
        std::memcpy(facts_.remote_addr, bytes.data(), std::min(bytes.size(), sizeof(facts_.remote_addr)));
    }
    if (!query->relay_info_.empty()) {
        // relay_info_[0] is the outermost layer: the relay closest to Kea.
        const Pkt6::RelayInfo& router = query->relay_info_[0];
        facts_.interface_id = relayOption(router, D6O_INTERFACE_ID);
        facts_.remote_id = relayOption(router, D6O_REMOTE_ID);
        facts_.client_link_layer = relayOption(router, D6O_CLIENT_LINKLAYER_ADDR);
        const std::vector<uint8_t> link = router.linkaddr_.toBytes();
        std::memcpy(facts_.link_addr, link.data(), std::min(link.size(), sizeof(facts_.link_addr)));
    }
    facts_.has_ia_pd = peekOption(query, D6O_IA_PD) ? 1 : 0;
    label_ = labelOf(query, need);
    facts_.label = bytesOf(label_);
}

void QueryFacts::labelNow(const Pkt6Ptr& query) {
    label_ = labelOf(query, Label::Always);
    facts_.label = bytesOf(label_);
}

} // namespace cloudstack
} // namespace isc
