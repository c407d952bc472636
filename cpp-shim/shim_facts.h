// Reading facts out of Kea's packets and leases into the plain C structs of kea_cloudstack.h.
#ifndef KEA_CLOUDSTACK_SHIM_FACTS_H
#define KEA_CLOUDSTACK_SHIM_FACTS_H

#include "kea_compat.h"
#include "kea_cloudstack.h"

#include <asiolink/io_address.h>
#include <dhcp/pkt6.h>

#include <string>
#include <vector>

namespace isc {
namespace cloudstack {

/// Does a kc_* call need the packet's label? Kea builds it by formatting the DUID and more, a
/// cost worth paying only when a line that shows it can appear.
enum class Label { Always, WhenPacketsLogged };

/// The packet's label, or "" unless the hook's per-packet debug lines are enabled (`WhenPacketsLogged`).
std::string labelOf(const isc::dhcp::Pkt6Ptr& query, Label need);

/// The facts of a query: they point into the query's own relay options (keep the query alive while
/// they are used) and into the label this object owns.
class QueryFacts {
public:
    QueryFacts(const isc::dhcp::Pkt6Ptr& query, Label need);
    QueryFacts(const QueryFacts&) = delete;
    QueryFacts& operator=(const QueryFacts&) = delete;
    const kc_query_facts& facts() const { return facts_; }
    /// Fill in the packet's label after all (a decision that will be logged needs it).
    void labelNow(const isc::dhcp::Pkt6Ptr& query);

private:
    kc_query_facts facts_;
    std::string label_;
};

/// The first option `code` of the packet, looked at in place. Inside a callout Kea's getOption
/// clones the option (and keeps the clone); what is only read needs no copy.
isc::dhcp::OptionPtr peekOption(const isc::dhcp::Pkt6Ptr& query, uint16_t code);

/// kc_bytes over a string (valid while the string is).
kc_bytes bytesOf(const std::string& text);

/// A prefix of Kea's as a kc_prefix.
kc_prefix prefixOf(const isc::asiolink::IOAddress& address, uint8_t len);

/// A kc_prefix as Kea's address.
isc::asiolink::IOAddress addressOf(const kc_prefix& prefix);

} // namespace cloudstack
} // namespace isc

#endif
