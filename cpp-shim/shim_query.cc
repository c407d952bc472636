// Kea-side steps of a plan. Decisions are Rust's; this file only carries them out.
#include "kea_compat.h" // first: Kea's config.h, the release built against
#include "shim_query.h"
#include "shim_facts.h"
#include "shim_lease_record.h"
#include "shim_log.h"

#include <dhcp/dhcp6.h>
#include <dhcp/option6_ia.h>
#include <dhcp/option6_iaprefix.h>
#include <dhcpsrv/host_mgr.h>
#include <dhcpsrv/lease_mgr_factory.h>
#include <stats/stats_mgr.h>

#include <cstring>

using namespace isc::dhcp;
using isc::asiolink::IOAddress;
using isc::stats::StatsMgr;

namespace isc {
namespace cloudstack {

namespace {

// The client's DUID, read in place (getClientId goes through the cloning getOption).
DuidPtr clientDuid(const Pkt6Ptr& query) {
    OptionPtr option = peekOption(query, D6O_CLIENTID);
    if (!option || option->getData().empty()) {
        return DuidPtr();
    }
    return DuidPtr(new DUID(option->getData()));
}

uint32_t iaidOfFirstPd(const Pkt6Ptr& query, bool& found) {
    Option6IAPtr ia = boost::dynamic_pointer_cast<Option6IA>(peekOption(query, D6O_IA_PD));
    found = static_cast<bool>(ia);
    return ia ? ia->getIAID() : 0;
}

} // namespace

bool isReservedPrefix(const IOAddress& prefix, uint8_t len) {
    return static_cast<bool>(HostMgr::instance().get6(prefix, len));
}

ReservationFacts::ReservationFacts() {
    std::memset(&facts_, 0, sizeof(facts_));
}

ReservationFacts::ReservationFacts(const Pkt6Ptr& query, const IOAddress& prefix, uint8_t len) : ReservationFacts() {
    ConstHostPtr host = HostMgr::instance().get6(prefix, len);
    if (!host) {
        return;
    }
    facts_.exists = 1;
    if (host->getHWAddress()) {
        hwaddr_ = host->getHWAddress()->hwaddr_;
        facts_.hwaddr.ptr = hwaddr_.empty() ? nullptr : hwaddr_.data();
        facts_.hwaddr.len = hwaddr_.size();
    }
    DuidPtr duid = clientDuid(query);
    facts_.duid_matches = (duid && host->getDuid() && *host->getDuid() == *duid) ? 1 : 0;
}

bool hasHostReservation(const Pkt6Ptr& query, const kc_query_plan& plan) {
    HostMgr& hosts = HostMgr::instance();
    if (plan.has_mac &&
        !hosts.getAll(Host::IDENT_HWADDR, plan.mac, sizeof(plan.mac)).empty()) {
        return true;
    }
    DuidPtr duid = clientDuid(query);
    if (duid) {
        const std::vector<uint8_t>& id = duid->getDuid();
        if (!id.empty() && !hosts.getAll(Host::IDENT_DUID, id.data(), id.size()).empty()) {
            return true;
        }
    }
    return false;
}

uint32_t steerHint(const Pkt6Ptr& query, const IOAddress& prefix, uint8_t len) {
    // Every IA_PD of the packet is replaced by a new one, in its place (Kea serves the IA_PDs in
    // the packet's order): the same IAID, T1, T2 and other sub-options, without the client's hints;
    // the first gets `prefix` as its only hint. The client's own options are never changed in place
    // (Kea's getOptions would hand out copies for that, at the price of cloning the IA and its hints
    // only to delete them).
    uint32_t first_iaid = 0;
    bool first = true;
    auto range = query->options_.equal_range(D6O_IA_PD);
    for (auto it = range.first; it != range.second; ++it) {
        Option6IAPtr ia = boost::dynamic_pointer_cast<Option6IA>(it->second);
        if (!ia) {
            continue;
        }
        Option6IAPtr steered(new Option6IA(D6O_IA_PD, ia->getIAID()));
        steered->setT1(ia->getT1());
        steered->setT2(ia->getT2());
        for (auto const& sub : ia->getOptions()) {
            if (sub.first != D6O_IAPREFIX) {
                steered->addOption(sub.second);
            }
        }
        if (first) {
            steered->addOption(OptionPtr(new Option6IAPrefix(D6O_IAPREFIX, prefix, len, 0, 0)));
            first_iaid = ia->getIAID();
            first = false;
        }
        it->second = steered;
    }
    return first_iaid;
}

namespace {

bool sameClient(const Lease6Ptr& lease, const DuidPtr& duid, uint32_t iaid) {
    return lease->duid_ && duid && (*lease->duid_ == *duid) && lease->iaid_ == iaid;
}

// Delete a lease the way Kea's own commands do: the row, then the "assigned" statistics.
// Returns whether the row was deleted (false: another thread or server changed it first).
bool removeLease(const Pkt6Ptr& query, const Lease6Ptr& lease, const char* why) {
    if (!LeaseMgrFactory::instance().deleteLease(lease)) {
        return false;
    }
    if (lease->state_ != Lease::STATE_EXPIRED_RECLAIMED) {
        StatsMgr& stats = StatsMgr::instance();
        stats.addValue(StatsMgr::generateName("subnet", lease->subnet_id_, "assigned-pds"),
                       static_cast<int64_t>(-1));
        if (lease->pool_id_) {
            stats.addValue(StatsMgr::generateName("subnet", lease->subnet_id_,
                               StatsMgr::generateName("pd-pool", lease->pool_id_, "assigned-pds")),
                           static_cast<int64_t>(-1));
        }
    }
    LOG_INFO(cloudstack_logger, CLOUDSTACK_LEASE_CLEARED)
        .arg(query->getLabel())
        .arg(lease->addr_.toText() + "/" + std::to_string(lease->prefixlen_))
        .arg(lease->duid_ ? lease->duid_->toText() : std::string("none"))
        .arg(why);
    return true;
}

} // namespace

Lease6Collection clearWay(const Pkt6Ptr& query, const IOAddress& prefix, uint8_t len, const uint8_t mac[6],
                          bool& clear) {
    Lease6Collection removed;
    clear = false;
    bool has_pd = false;
    const uint32_t iaid = iaidOfFirstPd(query, has_pd);
    DuidPtr duid = clientDuid(query);
    if (!has_pd || !duid) {
        return removed;
    }
    LeaseMgr& leases = LeaseMgrFactory::instance();
    Lease6Ptr holder = leases.getLease6(Lease::TYPE_PD, prefix);
    if (holder && sameClient(holder, duid, iaid)) {
        // The usual case (a renewal, a rebooted VM): the client holds its prefix. Any other
        // prefix it holds was let through lease6_select as reserved, so it has nothing to clear.
        clear = true;
        return removed;
    }
    clear = true;
    if (holder) {
        if (removeLease(query, holder, "the prefix belongs to this NIC (new DUID or IAID)")) {
            removed.push_back(holder);
        } else {
            clear = false;
        }
    }
    for (const Lease6Ptr& own : leases.getLeases6(Lease::TYPE_PD, *duid, iaid)) {
        if ((own->addr_ == prefix && own->prefixlen_ == len) || isReservedPrefix(own->addr_, own->prefixlen_)) {
            continue;
        }
        const std::string recorded = recordedMac(*own);
        if (!recorded.empty() && !sameMac(recorded, mac)) {
            continue; // another NIC's lease under the same DUID and IAID (a cloned VM)
        }
        if (removeLease(query, own, "the NIC's prefix is another one now")) {
            removed.push_back(own);
        } else {
            clear = false;
        }
    }
    return removed;
}

bool withholdPrefixes(const Pkt6Ptr& query) {
    while (query->delOption(D6O_IA_PD)) {
    }
    return !peekOption(query, D6O_IA_NA) && !peekOption(query, D6O_IA_TA);
}

} // namespace cloudstack
} // namespace isc
