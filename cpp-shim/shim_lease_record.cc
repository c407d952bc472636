// The "cloudstack" entry of a lease's user-context. Kea keeps it across renewals, in the lease
// file and SQL backends, and sends it with HA lease updates.
#include "kea_compat.h" // first: Kea's config.h, the release built against
#include "shim_lease_record.h"

#include <cc/data.h>

#include <cstdio>

using namespace isc::data;
using isc::dhcp::Lease6;
using isc::dhcp::Lease6Ptr;

namespace isc {
namespace cloudstack {

namespace {

const char* const RECORD_KEY = "cloudstack";

std::string macText(const uint8_t mac[6]) {
    char text[18];
    std::snprintf(text, sizeof(text), "%02x:%02x:%02x:%02x:%02x:%02x", mac[0], mac[1], mac[2], mac[3], mac[4],
                  mac[5]);
    return std::string(text);
}

} // namespace

void recordNic(const Lease6Ptr& lease, const uint8_t mac[6], uint16_t vlan, const uint8_t* nic_id,
               size_t nic_id_len) {
    ConstElementPtr old = lease->getContext();
    ElementPtr context = (old && old->getType() == Element::map) ? isc::data::copy(old) : Element::createMap();
    ElementPtr record = Element::createMap();
    record->set("mac", Element::create(macText(mac)));
    if (vlan != 0) {
        record->set("vlan", Element::create(static_cast<long long>(vlan)));
    }
    if (nic_id_len > 0) {
        record->set("nic-id", Element::create(std::string(reinterpret_cast<const char*>(nic_id), nic_id_len)));
    }
    context->set(RECORD_KEY, record);
    lease->setContext(context);
}

bool sameMac(const std::string& recorded, const uint8_t mac[6]) {
    return recorded == macText(mac);
}

std::string recordedMac(const Lease6& lease) {
    ConstElementPtr context = lease.getContext();
    if (!context || context->getType() != Element::map) {
        return std::string();
    }
    ConstElementPtr record = context->get(RECORD_KEY);
    if (!record || record->getType() != Element::map) {
        return std::string();
    }
    ConstElementPtr mac = record->get("mac");
    return (mac && mac->getType() == Element::string) ? mac->stringValue() : std::string();
}

} // namespace cloudstack
} // namespace isc
