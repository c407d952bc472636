// The hook's statistics in Kea's StatsMgr (visible with statistic-get-all).
#include "kea_cloudstack.h"

#include <stats/stats_mgr.h>

#include <string>

using isc::stats::StatsMgr;

namespace {
std::string nameOf(kc_bytes name) {
    return std::string(reinterpret_cast<const char*>(name.ptr), name.len);
}
} // namespace

extern "C" void kcs_stat_add(kc_bytes name, int64_t delta) {
    try {
        StatsMgr::instance().addValue(nameOf(name), delta);
    } catch (...) {
        // A statistic is never worth an exception in Kea's packet path.
    }
}

extern "C" void kcs_stat_set(kc_bytes name, int64_t value) {
    try {
        StatsMgr::instance().setValue(nameOf(name), value);
    } catch (...) {
    }
}
