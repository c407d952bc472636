// Leases the hook deleted to clear a NIC's prefix, kept until the client's exchange commits.
//
// Kea's HA hook tells the partner only what the leases6_committed callout carries ("leases6" and
// "deleted_leases6"): a lease another hook deletes through LeaseMgr never reaches it. A Solicit
// clears the way too (Kea could not offer the prefix in its Advertise otherwise) but commits
// nothing, so what it cleared waits here for the same client's Request (or Rapid Commit
// Solicit), whose leases6_committed hands it on as deleted.
#ifndef KEA_CLOUDSTACK_SHIM_CLEARED_H
#define KEA_CLOUDSTACK_SHIM_CLEARED_H

#include <dhcp/pkt6.h>
#include <dhcpsrv/lease.h>

#include <cstddef>

namespace isc {
namespace cloudstack {

/// Most clients whose cleared leases wait for a commit; past it the oldest entry is forgotten
/// (its deletions then never reach the partner, where the leases expire on their own).
const size_t CLEARED_MAX_CLIENTS = 4096;

/// Are cleared leases handed on at all? Only when a hooks library listed after this one can read
/// "deleted_leases6" (Kea's HA hook, say): then load() registers the leases6_committed callout and
/// calls this with true. Otherwise nothing is remembered and Kea's leases6_committed hook point,
/// which parks every committing packet while it has callouts, costs nothing.
void handClearedOn(bool enabled);
bool clearedHandedOn();

/// Does any client's cleared lease wait? One atomic read (leases6_committed's common case).
bool anyClearedWaiting();

/// Remember leases deleted for this query's client (its DUID and first IA_PD's IAID).
void rememberCleared(const isc::dhcp::Pkt6Ptr& query, const isc::dhcp::Lease6Collection& removed);

/// Move what was remembered for this query's client into `deleted` (leases6_committed's
/// "deleted_leases6"), except leases whose address `deleted` already names or that some lease
/// holds again now (the partner deletes by address: it would remove that lease). Nothing moves
/// while `committed` ("leases6") is empty: the partner answers an update of deletions alone
/// that it cannot apply as a failure, and HA then drops the client's Reply. Returns how many
/// leases were added.
size_t commitCleared(const isc::dhcp::Pkt6Ptr& query, const isc::dhcp::Lease6Collection& committed,
                     isc::dhcp::Lease6Collection& deleted);

/// Forget everything (unload).
void forgetCleared();

} // namespace cloudstack
} // namespace isc

#endif
