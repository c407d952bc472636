// A fixed table of atomics, no lock and no allocation: each slot holds a fingerprint of (DUID,
// IAID, prefix) in its high bits and the second it was written in its low bits. Two clients that
// share a slot overwrite each other (the second one's Request then looks up, as without the memo);
// a fingerprint that matches by chance (2^-40) only skips a lookup, which is safe (see the header).
#include "shim_way_memo.h"
#include "shim_facts.h"

#include <dhcp/dhcp6.h>
#include <dhcp/option6_ia.h>

#include <atomic>
#include <chrono>
#include <cstdint>

using namespace isc::dhcp;

namespace isc {
namespace cloudstack {

namespace {

const size_t SLOTS = 4096;
const unsigned TIME_BITS = 24; // seconds, wrapping every 194 days
const uint64_t TIME_MASK = (uint64_t(1) << TIME_BITS) - 1;

std::atomic<uint64_t> slots[SLOTS];

uint64_t fnv(uint64_t hash, const uint8_t* data, size_t len) {
    for (size_t i = 0; i < len; ++i) {
        hash = (hash ^ data[i]) * 0x100000001b3ULL;
    }
    return hash;
}

// The client and prefix as one 64-bit hash; false without a DUID or an IA_PD.
bool keyOf(const Pkt6Ptr& query, const kc_prefix& prefix, uint64_t& key) {
    OptionPtr client_id = peekOption(query, D6O_CLIENTID);
    Option6IAPtr ia = boost::dynamic_pointer_cast<Option6IA>(peekOption(query, D6O_IA_PD));
    if (!client_id || client_id->getData().empty() || !ia) {
        return false;
    }
    const OptionBuffer& duid = client_id->getData();
    const uint32_t iaid = ia->getIAID();
    uint64_t hash = fnv(0xcbf29ce484222325ULL, duid.data(), duid.size());
    hash = fnv(hash, reinterpret_cast<const uint8_t*>(&iaid), sizeof(iaid));
    hash = fnv(hash, prefix.addr, sizeof(prefix.addr));
    key = fnv(hash, &prefix.len, 1);
    return true;
}

uint64_t nowSeconds() {
    using namespace std::chrono;
    return static_cast<uint64_t>(duration_cast<seconds>(steady_clock::now().time_since_epoch()).count());
}

} // namespace

void rememberWayClear(const Pkt6Ptr& solicit, const kc_prefix& prefix) {
    uint64_t key;
    if (!keyOf(solicit, prefix, key)) {
        return;
    }
    slots[key % SLOTS].store((key & ~TIME_MASK) | (nowSeconds() & TIME_MASK), std::memory_order_relaxed);
}

bool takeWayClear(const Pkt6Ptr& request, const kc_prefix& prefix) {
    uint64_t key;
    if (!keyOf(request, prefix, key)) {
        return false;
    }
    std::atomic<uint64_t>& slot = slots[key % SLOTS];
    uint64_t held = slot.load(std::memory_order_relaxed);
    if ((held & ~TIME_MASK) != (key & ~TIME_MASK)) {
        return false;
    }
    const uint64_t age = (nowSeconds() - held) & TIME_MASK;
    // Used once: a retransmitted Request, or a later one, looks up again.
    if (!slot.compare_exchange_strong(held, 0, std::memory_order_relaxed)) {
        return false;
    }
    return age <= WAY_MEMO_SECONDS;
}

} // namespace cloudstack
} // namespace isc
