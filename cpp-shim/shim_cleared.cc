// Leases cleared out of a NIC's way, waiting for the client's commit (see shim_cleared.h).
#include "shim_cleared.h"
#include "shim_facts.h"

#include <dhcp/dhcp6.h>
#include <dhcp/option6_ia.h>
#include <dhcpsrv/lease_mgr_factory.h>

#include <atomic>
#include <cstdint>
#include <map>
#include <mutex>
#include <utility>
#include <vector>

using namespace isc::dhcp;

namespace isc {
namespace cloudstack {

namespace {

/// A client as the query names it: DUID and the first IA_PD's IAID (the IA the hook steers).
typedef std::pair<std::vector<uint8_t>, uint32_t> ClientKey;

struct Waiting {
    uint64_t since;          // insertion order, for forgetting the oldest when full
    Lease6Collection leases;
};

std::mutex waiting_mutex;
std::map<ClientKey, Waiting> waiting;   // guarded by waiting_mutex
uint64_t next_order = 0;                // guarded by waiting_mutex
std::atomic<size_t> waiting_count(0);   // waiting.size(), read without the lock
std::atomic<bool> handed_on(false);

bool clientOf(const Pkt6Ptr& query, ClientKey& key) {
    OptionPtr client_id = peekOption(query, D6O_CLIENTID);
    Option6IAPtr ia = boost::dynamic_pointer_cast<Option6IA>(peekOption(query, D6O_IA_PD));
    if (!client_id || client_id->getData().empty() || !ia) {
        return false;
    }
    key.first = client_id->getData();
    key.second = ia->getIAID();
    return true;
}

bool names(const Lease6Collection& leases, const Lease6Ptr& lease) {
    for (const Lease6Ptr& listed : leases) {
        if (listed && listed->type_ == lease->type_ && listed->addr_ == lease->addr_) {
            return true;
        }
    }
    return false;
}

void forgetOldest() {
    auto oldest = waiting.begin();
    for (auto it = waiting.begin(); it != waiting.end(); ++it) {
        if (it->second.since < oldest->second.since) {
            oldest = it;
        }
    }
    if (oldest != waiting.end()) {
        waiting.erase(oldest);
        waiting_count.store(waiting.size());
    }
}

} // namespace

void handClearedOn(bool enabled) {
    handed_on.store(enabled);
}

bool clearedHandedOn() {
    return handed_on.load();
}

bool anyClearedWaiting() {
    return waiting_count.load() > 0;
}

void rememberCleared(const Pkt6Ptr& query, const Lease6Collection& removed) {
    ClientKey key;
    if (removed.empty() || !clearedHandedOn() || !clientOf(query, key)) {
        return;
    }
    std::lock_guard<std::mutex> lock(waiting_mutex);
    auto found = waiting.find(key);
    if (found == waiting.end()) {
        if (waiting.size() >= CLEARED_MAX_CLIENTS) {
            forgetOldest();
        }
        found = waiting.emplace(key, Waiting{next_order++, Lease6Collection()}).first;
        waiting_count.store(waiting.size());
    }
    for (const Lease6Ptr& lease : removed) {
        if (lease && !names(found->second.leases, lease)) {
            found->second.leases.push_back(lease);
        }
    }
}

size_t commitCleared(const Pkt6Ptr& query, const Lease6Collection& committed, Lease6Collection& deleted) {
    ClientKey key;
    if (committed.empty() || !clientOf(query, key)) {
        return 0;
    }
    Lease6Collection cleared;
    {
        std::lock_guard<std::mutex> lock(waiting_mutex);
        auto found = waiting.find(key);
        if (found == waiting.end()) {
            return 0;
        }
        cleared.swap(found->second.leases);
        waiting.erase(found);
        waiting_count.store(waiting.size());
    }
    size_t added = 0;
    LeaseMgr& leases = LeaseMgrFactory::instance();
    for (const Lease6Ptr& lease : cleared) {
        if (names(deleted, lease) || leases.getLease6(lease->type_, lease->addr_)) {
            continue;
        }
        deleted.push_back(lease);
        ++added;
    }
    return added;
}

void forgetCleared() {
    std::lock_guard<std::mutex> lock(waiting_mutex);
    waiting.clear();
    waiting_count.store(0);
}

} // namespace cloudstack
} // namespace isc
