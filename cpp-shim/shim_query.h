// Carrying out a plan on Kea's side: the IA_PD hint, stale leases, reservations.
#ifndef KEA_CLOUDSTACK_SHIM_QUERY_H
#define KEA_CLOUDSTACK_SHIM_QUERY_H

#include "kea_compat.h"
#include "kea_cloudstack.h"

#include <asiolink/io_address.h>
#include <dhcp/pkt6.h>
#include <dhcpsrv/lease.h>

#include <vector>

namespace isc {
namespace cloudstack {

/// Does a Kea host reservation hold this prefix?
bool isReservedPrefix(const isc::asiolink::IOAddress& prefix, uint8_t len);

/// The host reservation holding a prefix, as facts for Rust to judge whose it is. Owns the
/// bytes the facts point into.
class ReservationFacts {
public:
    ReservationFacts();
    ReservationFacts(const isc::dhcp::Pkt6Ptr& query, const isc::asiolink::IOAddress& prefix, uint8_t len);
    ReservationFacts(const ReservationFacts&) = delete;
    ReservationFacts& operator=(const ReservationFacts&) = delete;
    const kc_reservation& facts() const { return facts_; }

private:
    kc_reservation facts_;
    std::vector<uint8_t> hwaddr_;
};

/// Does Kea hold a host reservation for this client (by the router's MAC or the DUID)?
bool hasHostReservation(const isc::dhcp::Pkt6Ptr& query, const kc_query_plan& plan);

/// Make `prefix` the only hint of the first IA_PD, so that Kea's allocator delegates exactly
/// that prefix through its normal path; every other IA_PD loses its hints (lease6_select then
/// refuses them a prefix and Kea answers them NoPrefixAvail). Returns the first IA_PD's IAID.
uint32_t steerHint(const isc::dhcp::Pkt6Ptr& query, const isc::asiolink::IOAddress& prefix, uint8_t len);

/// Remove leases that would stop Kea from delegating `prefix` to this client: another client's
/// lease on `prefix`, and the client's own leases (this IAID) on other, unreserved prefixes.
/// A client that already holds `prefix` costs one lookup. Returns the leases it deleted (the
/// partner of an HA pair must hear of them: see shim_cleared.h). The client's own leases are only
/// cleared when they record no NIC or this NIC (`mac`): a clone with the same DUID on another NIC
/// keeps its own. `clear` says whether the way is clear now (false when a lease could not be
/// deleted, because another thread or server changed it first, or the query names no client).
isc::dhcp::Lease6Collection clearWay(const isc::dhcp::Pkt6Ptr& query, const isc::asiolink::IOAddress& prefix,
                                     uint8_t len, const uint8_t mac[6], bool& clear);

/// Take every IA_PD out of the message. Returns true when nothing else is left for Kea to
/// answer (no IA_NA or IA_TA), in which case the caller drops the message.
bool withholdPrefixes(const isc::dhcp::Pkt6Ptr& query);

} // namespace cloudstack
} // namespace isc

#endif
