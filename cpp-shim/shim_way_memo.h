// Solicits that left the way to their NIC's prefix clear, so that the Request that follows needs
// no lease-manager lookup of its own.
//
// Why skipping that lookup is safe: clearing the way only ever deletes leases (another DUID's lease
// on the NIC's prefix, the client's own stale ones); it never makes Kea hand anything out. Every
// prefix Kea hands out still passes lease6_select, and Kea's allocator never hands out a prefix
// another client holds. So a Request that skips the lookup can at worst be answered NoPrefixAvail,
// and only if, within the few seconds since its own Solicit found the way clear, another DUID took
// the prefix (the same NIC's other DUID through this hook, whose Solicit cleared this client's
// lease, or an HA partner's update); the client's next Solicit then clears the way as before. Only
// a Solicit that found nothing in the way is remembered: one that removed another DUID's lease
// knows of a contender (an old OS still renewing), and its Request looks again. The
// memo is per client (DUID, first IA_PD's IAID) and prefix, used once, and forgotten after
// WAY_MEMO_SECONDS.
#ifndef KEA_CLOUDSTACK_SHIM_WAY_MEMO_H
#define KEA_CLOUDSTACK_SHIM_WAY_MEMO_H

#include "kea_compat.h"
#include "kea_cloudstack.h"

#include <dhcp/pkt6.h>

namespace isc {
namespace cloudstack {

/// How long a Solicit's clear way is taken for granted by the client's Request.
const unsigned WAY_MEMO_SECONDS = 10;

/// This Solicit's client found the way to `prefix` clear.
void rememberWayClear(const isc::dhcp::Pkt6Ptr& solicit, const kc_prefix& prefix);

/// Did this Request's client find the way to `prefix` clear with a Solicit in the last
/// WAY_MEMO_SECONDS? Forgets it (one Request per Solicit).
bool takeWayClear(const isc::dhcp::Pkt6Ptr& request, const kc_prefix& prefix);

} // namespace cloudstack
} // namespace isc

#endif
