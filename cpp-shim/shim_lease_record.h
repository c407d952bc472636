// What the hook records on a lease it delegates (its user-context "cloudstack" entry) and reads
// back on renewals: the router may not send the MAC again, and Kea's own hwaddr on the lease
// is overwritten by every renewal (and may come from the client's DUID).
#ifndef KEA_CLOUDSTACK_SHIM_LEASE_RECORD_H
#define KEA_CLOUDSTACK_SHIM_LEASE_RECORD_H

#include "kea_compat.h"
#include "kea_cloudstack.h"

#include <dhcpsrv/lease.h>

#include <string>

namespace isc {
namespace cloudstack {

/// Record on `lease` the NIC it is delegated to: {"cloudstack": {"mac", "vlan", "nic-id"}}
/// (vlan and nic-id only when known). Other keys of the user-context are kept.
void recordNic(const isc::dhcp::Lease6Ptr& lease, const uint8_t mac[6], uint16_t vlan, const uint8_t* nic_id,
               size_t nic_id_len);

/// The MAC text recorded on `lease`, or "" when it holds no record.
std::string recordedMac(const isc::dhcp::Lease6& lease);

/// Is `recorded` (as recordNic writes it) this MAC?
bool sameMac(const std::string& recorded, const uint8_t mac[6]);

} // namespace cloudstack
} // namespace isc

#endif
