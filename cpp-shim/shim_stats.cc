// The hook's statistics in Kea's StatsMgr (visible with statistic-get-all).
//
// StatsMgr locks only when Kea runs multi-threaded; single-threaded, only Kea's main thread may
// touch it. The sync thread's updates (nics, sync-ok, last-sync-time, ...) are then kept here and
// applied by the next callout or hook command on Kea's thread. Nothing is posted to Kea's
// IOService: a posted handler could outlive this library across a config-reload.
#include "kea_compat.h" // first: Kea's config.h, the release built against
#include "kea_cloudstack.h"
#include "shim_stats.h"

#include <stats/stats_mgr.h>
#include <util/multi_threading_mgr.h>

#include <atomic>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

using isc::stats::StatsMgr;
using isc::util::MultiThreadingMgr;

namespace {

struct Update {
    bool set;
    std::string name;
    int64_t value;
};

std::mutex deferred_mutex;
std::vector<Update> deferred;          // guarded by deferred_mutex
std::atomic<bool> has_deferred(false);
std::atomic<std::thread::id> kea_thread;

void apply(const Update& update) {
    if (update.set) {
        StatsMgr::instance().setValue(update.name, update.value);
    } else {
        StatsMgr::instance().addValue(update.name, update.value);
    }
}

bool mayTouchStatsMgr() {
    return std::this_thread::get_id() == kea_thread.load() || MultiThreadingMgr::instance().getMode();
}

void update(bool set, kc_bytes name, int64_t value) {
    try {
        Update u{set, std::string(reinterpret_cast<const char*>(name.ptr), name.len), value};
        if (mayTouchStatsMgr()) {
            apply(u);
            return;
        }
        std::lock_guard<std::mutex> lock(deferred_mutex);
        deferred.push_back(std::move(u));
        has_deferred.store(true);
    } catch (...) {
        // A statistic is never worth an exception in Kea's packet path.
    }
}

} // namespace

namespace isc {
namespace cloudstack {

void statsOwnedByThisThread() {
    kea_thread.store(std::this_thread::get_id());
}

void applyDeferredStats() {
    if (!has_deferred.load(std::memory_order_relaxed)) {
        return;
    }
    std::vector<Update> batch;
    {
        std::lock_guard<std::mutex> lock(deferred_mutex);
        batch.swap(deferred);
        has_deferred.store(false);
    }
    try {
        for (const Update& u : batch) {
            apply(u);
        }
    } catch (...) {
    }
}

} // namespace cloudstack
} // namespace isc

extern "C" void kcs_stat_add(kc_bytes name, int64_t delta) {
    update(false, name, delta);
}

extern "C" void kcs_stat_set(kc_bytes name, int64_t value) {
    update(true, name, value);
}
