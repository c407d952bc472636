// The callouts Kea calls (through Rust's exported symbols): read facts, ask Rust, carry out.
// Every function catches everything: an exception must never reach Rust's frames or Kea.
#include "kea_cloudstack.h"
#include "shim_facts.h"
#include "shim_log.h"
#include "shim_query.h"
#include "shim_stats.h"

#include <dhcp/dhcp6.h>
#include <dhcpsrv/lease.h>
#include <hooks/hooks.h>

#include <cstring>
#include <exception>

using namespace isc::dhcp;
using namespace isc::hooks;
using namespace isc::cloudstack;
using isc::asiolink::IOAddress;

namespace {

/// What pkt6_receive planned, kept in the packet's callout context for later callouts.
struct SteeredPrefix {
    kc_prefix prefix;
};

const char* const PLAN_CONTEXT = "cloudstack-plan";

bool previousCalloutDropped(const CalloutHandle& handle) {
    return handle.getStatus() == CalloutHandle::NEXT_STEP_DROP;
}

void logCalloutError(const char* callout, const char* what) {
    try {
        LOG_ERROR(cloudstack_logger, CLOUDSTACK_CALLOUT_ERROR).arg(callout).arg(what);
    } catch (...) {
    }
}

bool plannedPrefix(CalloutHandle& handle, kc_prefix& planned) {
    try {
        SteeredPrefix steered;
        handle.getContext(PLAN_CONTEXT, steered);
        planned = steered.prefix;
        return true;
    } catch (const NoSuchCalloutContext&) {
        return false;
    }
}

bool isSolicitOrRequest(uint8_t type) {
    return type == DHCPV6_SOLICIT || type == DHCPV6_REQUEST;
}

int judgeRenewal(CalloutHandle& handle, const char* callout) {
    try {
        if (previousCalloutDropped(handle)) {
            return 0;
        }
        Pkt6Ptr query;
        Lease6Ptr lease;
        handle.getArgument("query6", query);
        handle.getArgument("lease6", lease);
        if (!query || !lease || lease->type_ != Lease::TYPE_PD) {
            return 0;
        }
        QueryFacts facts(query, Label::Always); // a withdrawal is logged at info level
        kc_renewal_facts renewal;
        renewal.query = facts.facts();
        renewal.lease = prefixOf(lease->addr_, lease->prefixlen_);
        std::vector<uint8_t> hwaddr;
        if (lease->hwaddr_) {
            hwaddr = lease->hwaddr_->hwaddr_;
        }
        renewal.lease_hwaddr.ptr = hwaddr.empty() ? nullptr : hwaddr.data();
        renewal.lease_hwaddr.len = hwaddr.size();
        renewal.reserved = isReservedPrefix(lease->addr_, lease->prefixlen_) ? 1 : 0;
        if (kc_judge_renewal(&renewal) == KC_RENEWAL_WITHDRAW) {
            lease->preferred_lft_ = 0;
            lease->valid_lft_ = 0;
        }
    } catch (const std::exception& ex) {
        logCalloutError(callout, ex.what());
    } catch (...) {
        logCalloutError(callout, "unknown exception");
    }
    return 0;
}

} // namespace

extern "C" int kcs_pkt6_receive(void* callout_handle) {
    try {
        applyDeferredStats();
        CalloutHandle& handle = *static_cast<CalloutHandle*>(callout_handle);
        if (previousCalloutDropped(handle)) {
            return 0;
        }
        Pkt6Ptr query;
        handle.getArgument("query6", query);
        if (!query) {
            return 0;
        }
        // Kea unpacked the message before pkt6_receive; a malformed one never reaches us.
        QueryFacts facts(query, Label::WhenPacketsLogged);
        kc_query_plan plan;
        std::memset(&plan, 0, sizeof(plan));
        if (kc_plan_query(&facts.facts(), &plan) != 0) {
            return 0;
        }
        switch (plan.verdict) {
        case KC_QUERY_LEAVE:
            break;
        case KC_QUERY_STEER: {
            SteeredPrefix steered;
            steered.prefix = plan.prefix;
            handle.setContext(PLAN_CONTEXT, steered);
            if (isSolicitOrRequest(query->getType())) {
                const IOAddress prefix = addressOf(plan.prefix);
                clearWay(query, prefix, plan.prefix.len);
                steerHint(query, prefix, plan.prefix.len);
            }
            break;
        }
        case KC_QUERY_REFUSE:
            // A client Kea has a reservation for keeps it (migration from static configs);
            // lease6_select lets only reserved prefixes through for it.
            if (isSolicitOrRequest(query->getType()) && !hasHostReservation(query, plan)) {
                if (withholdPrefixes(query)) {
                    handle.setStatus(CalloutHandle::NEXT_STEP_DROP);
                }
            }
            break;
        }
    } catch (const std::exception& ex) {
        logCalloutError("pkt6_receive", ex.what());
    } catch (...) {
        logCalloutError("pkt6_receive", "unknown exception");
    }
    return 0;
}

extern "C" int kcs_lease6_select(void* callout_handle) {
    try {
        CalloutHandle& handle = *static_cast<CalloutHandle*>(callout_handle);
        if (previousCalloutDropped(handle)) {
            return 0;
        }
        Pkt6Ptr query;
        Lease6Ptr lease;
        handle.getArgument("query6", query);
        handle.getArgument("lease6", lease);
        if (!lease) {
            return 0;
        }
        kc_selection_facts selection;
        std::memset(&selection, 0, sizeof(selection));
        selection.lease = prefixOf(lease->addr_, lease->prefixlen_);
        selection.is_pd = lease->type_ == Lease::TYPE_PD ? 1 : 0;
        selection.has_plan = plannedPrefix(handle, selection.planned) ? 1 : 0;
        // The reservation lookup is only needed when the lease is not the planned prefix.
        const bool as_planned = selection.has_plan && selection.planned.len == lease->prefixlen_ &&
            addressOf(selection.planned) == lease->addr_;
        if (selection.is_pd && !as_planned) {
            selection.reserved = isReservedPrefix(lease->addr_, lease->prefixlen_) ? 1 : 0;
        }
        const std::string label = labelOf(query, Label::WhenPacketsLogged);
        selection.label = bytesOf(label);
        if (kc_judge_selection(&selection) == KC_SELECTION_SKIP) {
            // Kea stops trying further candidates once a callout skips (not CONTINUE).
            handle.setStatus(CalloutHandle::NEXT_STEP_SKIP);
        }
    } catch (const std::exception& ex) {
        logCalloutError("lease6_select", ex.what());
    } catch (...) {
        logCalloutError("lease6_select", "unknown exception");
    }
    return 0;
}

extern "C" int kcs_lease6_renew(void* callout_handle) {
    return judgeRenewal(*static_cast<CalloutHandle*>(callout_handle), "lease6_renew");
}

extern "C" int kcs_lease6_rebind(void* callout_handle) {
    return judgeRenewal(*static_cast<CalloutHandle*>(callout_handle), "lease6_rebind");
}
