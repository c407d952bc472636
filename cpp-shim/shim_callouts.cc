// The callouts Kea calls (through Rust's exported symbols): read facts, ask Rust, carry out.
// Every callout runs inside guardCallout: an exception must never reach Rust's frames or Kea.
#include "kea_compat.h" // first: Kea's config.h, the release built against
#include "kea_cloudstack.h"
#include "shim_cleared.h"
#include "shim_facts.h"
#include "shim_lease_record.h"
#include "shim_log.h"
#include "shim_query.h"
#include "shim_stats.h"
#include "shim_way_memo.h"

#include <dhcp/dhcp6.h>
#include <dhcp/option6_ia.h>
#include <dhcp/option6_iaprefix.h>
#include <dhcpsrv/lease.h>
#include <hooks/hooks.h>

#include <cstring>
#include <exception>
#include <memory>

using namespace isc::dhcp;
using namespace isc::hooks;
using namespace isc::cloudstack;
using isc::asiolink::IOAddress;

namespace {

/// Prefixes of other NICs' leases a Renew may carry and must be answered withdrawn (a client
/// has one IA_PD; a few more are room enough).
const size_t MAX_FOREIGN = 4;

/// What pkt6_receive decided, kept in the packet's callout context for the later callouts. Every
/// Solicit, Request, Renew and Rebind that goes on to Kea with an IA_PD has one, so the later
/// callouts never pay for a missing context (Kea throws for it).
struct Plan {
    bool steer;                   // the NIC's prefix is planned (else: refused, reservations only)
    kc_prefix prefix;             // with steer
    uint32_t iaid;                // with steer: the first IA_PD's, the one that gets the prefix
    bool has_mac;                 // the router vouched for this MAC
    uint8_t mac[6];
    uint16_t vlan;                // with steer
    uint8_t nic_id[KC_NIC_ID_MAX];
    uint8_t nic_id_len;
    uint8_t foreign_count;        // lease6_renew found these to be other NICs' leases
    kc_prefix foreign[MAX_FOREIGN];
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

/// Run a callout's `body`. An exception is logged with the callout's name, then `failed` runs: how
/// that callout fails (closed, for lease6_select). Kea always gets 0: the handle's status says what
/// to do.
template <typename Body, typename Failed>
int guardCallout(const char* callout, Body body, Failed failed) noexcept {
    try {
        body();
        return 0;
    } catch (const std::exception& ex) {
        logCalloutError(callout, ex.what());
    } catch (...) {
        logCalloutError(callout, "unknown exception");
    }
    try {
        failed();
    } catch (...) {
    }
    return 0;
}

/// A callout whose failure leaves Kea's decision as it was.
template <typename Body>
int guardCallout(const char* callout, Body body) noexcept {
    return guardCallout(callout, body, [] {});
}

bool planOf(CalloutHandle& handle, Plan& plan) {
    try {
        handle.getContext(PLAN_CONTEXT, plan);
        return true;
    } catch (const NoSuchCalloutContext&) {
        return false;
    }
}

Plan planFrom(const kc_query_plan& decided) {
    Plan plan;
    std::memset(&plan, 0, sizeof(plan));
    plan.steer = decided.verdict == KC_QUERY_STEER;
    plan.prefix = decided.prefix;
    plan.has_mac = decided.has_mac != 0;
    std::memcpy(plan.mac, decided.mac, sizeof(plan.mac));
    plan.vlan = decided.vlan;
    plan.nic_id_len = decided.nic_id_len;
    std::memcpy(plan.nic_id, decided.nic_id, sizeof(plan.nic_id));
    return plan;
}

/// The callout's "query6" and "lease6", when both are there and the lease is a delegated prefix.
bool prefixLeaseOf(CalloutHandle& handle, Pkt6Ptr& query, Lease6Ptr& lease) {
    handle.getArgument("query6", query);
    handle.getArgument("lease6", lease);
    return query && lease && lease->type_ == Lease::TYPE_PD;
}

bool isSolicitOrRequest(uint8_t type) {
    return type == DHCPV6_SOLICIT || type == DHCPV6_REQUEST;
}

bool isRenewOrRebind(uint8_t type) {
    return type == DHCPV6_RENEW || type == DHCPV6_REBIND;
}

bool samePrefix(const kc_prefix& prefix, const IOAddress& address, uint8_t len) {
    return prefix.len == len && addressOf(prefix) == address;
}

// Kea's lease cache answers a lease whose data did not change with its remaining lifetimes and
// leaves the database alone, which would undo a withdrawal (with cache-max-age; cache-threshold
// alone already refuses a zero valid lifetime). AllocEngine::setLeaseReusable (2.6 and 3.0)
// refuses a lease whose age (cltt minus the stored cltt) reaches its stored valid lifetime: the
// withdrawn lease then keeps the expiry it had, with lifetimes 0, and is stored and sent. Its cltt
// moves forward, never back, so an HA partner (which keeps the newer cltt) takes the withdrawal.
void keepOutOfLeaseCache(Lease6& lease) {
    if (lease.current_valid_lft_ != Lease::INFINITY_LFT) {
        lease.cltt_ = lease.current_cltt_ + lease.current_valid_lft_;
    }
}

int judgeRenewal(CalloutHandle& handle, const char* callout) {
    return guardCallout(callout, [&] {
        if (previousCalloutDropped(handle)) {
            return;
        }
        Pkt6Ptr query;
        Lease6Ptr lease;
        if (!prefixLeaseOf(handle, query, lease)) {
            return;
        }
        // A running VM renewing its own prefix is kept without the packet's label or a host lookup;
        // a verdict that may withdraw asks for both (a withdrawal is logged at info level, with the label).
        QueryFacts facts(query, Label::WhenPacketsLogged);
        const std::string recorded = recordedMac(*lease);
        kc_renewal_facts renewal;
        std::memset(&renewal, 0, sizeof(renewal));
        renewal.query = facts.facts();
        renewal.lease = prefixOf(lease->addr_, lease->prefixlen_);
        renewal.recorded_mac = bytesOf(recorded);
        kc_renewal_verdict verdict = kc_judge_renewal(&renewal);
        std::unique_ptr<ReservationFacts> reservation;
        if (verdict == KC_RENEWAL_NEED_DETAILS) {
            facts.labelNow(query);
            reservation.reset(new ReservationFacts(query, lease->addr_, lease->prefixlen_));
            renewal.query = facts.facts();
            renewal.reservation = reservation->facts();
            renewal.has_details = 1;
            verdict = kc_judge_renewal(&renewal);
        }
        Plan plan;
        const bool has_plan = planOf(handle, plan);
        switch (verdict) {
        case KC_RENEWAL_WITHDRAW:
            lease->preferred_lft_ = 0;
            lease->valid_lft_ = 0;
            keepOutOfLeaseCache(*lease);
            return;
        case KC_RENEWAL_FOREIGN:
            // Kea keeps the lease as it was; pkt6_send answers this sender with lifetimes 0.
            handle.setStatus(CalloutHandle::NEXT_STEP_SKIP);
            if (has_plan && plan.foreign_count < MAX_FOREIGN) {
                plan.foreign[plan.foreign_count++] = renewal.lease;
                handle.setContext(PLAN_CONTEXT, plan);
            }
            return;
        case KC_RENEWAL_KEEP:
        case KC_RENEWAL_NEED_DETAILS: // never after the details: kept
            break;
        }
        // A lease delegated before the hook recorded NICs gets its record with the router's MAC
        // (stored with the renewal, when Kea writes it).
        if (recorded.empty() && has_plan && plan.steer && samePrefix(plan.prefix, lease->addr_, lease->prefixlen_)) {
            recordNic(lease, plan.mac, plan.vlan, plan.nic_id, plan.nic_id_len);
        }
    });
}

/// Answer every prefix of `plan.foreign` in `response` with lifetimes 0.
void withdrawForeign(const Pkt6Ptr& response, const Plan& plan) {
    auto range = response->options_.equal_range(D6O_IA_PD);
    for (auto it = range.first; it != range.second; ++it) {
        Option6IAPtr ia = boost::dynamic_pointer_cast<Option6IA>(it->second);
        if (!ia) {
            continue;
        }
        auto prefixes = ia->getOptions().equal_range(D6O_IAPREFIX);
        for (auto p = prefixes.first; p != prefixes.second; ++p) {
            Option6IAPrefixPtr given = boost::dynamic_pointer_cast<Option6IAPrefix>(p->second);
            for (uint8_t i = 0; given && i < plan.foreign_count; ++i) {
                if (samePrefix(plan.foreign[i], given->getAddress(), given->getLength())) {
                    given->setPreferred(0);
                    given->setValid(0);
                }
            }
        }
    }
}

/// Does `response` give the planned prefix, with a valid lifetime, to the planned IA_PD?
bool deliversPlan(const Pkt6Ptr& response, const Plan& plan) {
    auto range = response->options_.equal_range(D6O_IA_PD);
    for (auto it = range.first; it != range.second; ++it) {
        Option6IAPtr ia = boost::dynamic_pointer_cast<Option6IA>(it->second);
        if (!ia || ia->getIAID() != plan.iaid) {
            continue;
        }
        auto prefixes = ia->getOptions().equal_range(D6O_IAPREFIX);
        for (auto p = prefixes.first; p != prefixes.second; ++p) {
            Option6IAPrefixPtr given = boost::dynamic_pointer_cast<Option6IAPrefix>(p->second);
            if (given && given->getValid() > 0 && samePrefix(plan.prefix, given->getAddress(), given->getLength())) {
                return true;
            }
        }
    }
    return false;
}

} // namespace

extern "C" int kcs_pkt6_receive(void* callout_handle) {
    CalloutHandle& handle = *static_cast<CalloutHandle*>(callout_handle);
    return guardCallout("pkt6_receive", [&] {
        applyDeferredStats();
        if (previousCalloutDropped(handle)) {
            return;
        }
        Pkt6Ptr query;
        handle.getArgument("query6", query);
        if (!query) {
            return;
        }
        // Kea unpacked the message before pkt6_receive; a malformed one never reaches us.
        QueryFacts facts(query, Label::WhenPacketsLogged);
        kc_query_plan decided;
        std::memset(&decided, 0, sizeof(decided));
        if (kc_plan_query(&facts.facts(), &decided) != 0) {
            // No judgement (an error inside the hook): fail closed for prefixes.
            if (facts.facts().has_ia_pd) {
                handle.setStatus(CalloutHandle::NEXT_STEP_DROP);
            }
            return;
        }
        const uint8_t type = query->getType();
        switch (decided.verdict) {
        case KC_QUERY_LEAVE:
            if (facts.facts().has_ia_pd && (isSolicitOrRequest(type) || isRenewOrRebind(type))) {
                handle.setContext(PLAN_CONTEXT, planFrom(decided));
            }
            break;
        case KC_QUERY_DROP:
            handle.setStatus(CalloutHandle::NEXT_STEP_DROP);
            break;
        case KC_QUERY_STEER: {
            Plan plan = planFrom(decided);
            if (isSolicitOrRequest(type)) {
                // A Request right after its Solicit found the way clear needs no lookup of its own
                // (shim_way_memo.h says why that is safe).
                if (type != DHCPV6_REQUEST || !takeWayClear(query, decided.prefix)) {
                    const IOAddress prefix = addressOf(decided.prefix);
                    bool clear = false;
                    const Lease6Collection removed = clearWay(query, prefix, decided.prefix.len, decided.mac, clear);
                    // Only a Solicit that found nothing in the way: a lease it had to remove
                    // (another DUID of this NIC) may be taken again before the Request, which then
                    // clears the way once more.
                    if (clear && removed.empty() && type == DHCPV6_SOLICIT) {
                        rememberWayClear(query, decided.prefix);
                    }
                    rememberCleared(query, removed);
                }
                plan.iaid = steerHint(query, addressOf(decided.prefix), decided.prefix.len);
            } else {
                Option6IAPtr first = boost::dynamic_pointer_cast<Option6IA>(peekOption(query, D6O_IA_PD));
                plan.iaid = first ? first->getIAID() : 0;
            }
            handle.setContext(PLAN_CONTEXT, plan);
            break;
        }
        case KC_QUERY_REFUSE:
            // A client Kea has a reservation for keeps it (migration from static configs);
            // lease6_select lets only this client's reserved prefixes through for it.
            if (isSolicitOrRequest(type)) {
                if (hasHostReservation(query, decided)) {
                    handle.setContext(PLAN_CONTEXT, planFrom(decided));
                } else if (withholdPrefixes(query)) {
                    handle.setStatus(CalloutHandle::NEXT_STEP_DROP);
                }
            }
            break;
        }
    });
}

extern "C" int kcs_lease6_select(void* callout_handle) {
    CalloutHandle& handle = *static_cast<CalloutHandle*>(callout_handle);
    bool an_address = false;
    // Fails closed: once the lease is a prefix, any exception leaves SKIP (Kea's next free
    // candidate is another NIC's prefix).
    return guardCallout("lease6_select", [&] {
        if (handle.getStatus() != CalloutHandle::NEXT_STEP_CONTINUE) {
            return; // an earlier callout skipped or dropped: nothing to accept
        }
        Pkt6Ptr query;
        Lease6Ptr lease;
        handle.getArgument("query6", query);
        handle.getArgument("lease6", lease);
        if (!lease || lease->type_ != Lease::TYPE_PD) {
            an_address = true;
            return;
        }
        // Fail closed from here on.
        handle.setStatus(CalloutHandle::NEXT_STEP_SKIP);
        bool fake_allocation = false;
        handle.getArgument("fake_allocation", fake_allocation);
        Plan plan;
        const bool has_plan = planOf(handle, plan);

        kc_selection_facts selection;
        std::memset(&selection, 0, sizeof(selection));
        selection.lease = prefixOf(lease->addr_, lease->prefixlen_);
        selection.is_pd = 1;
        selection.has_plan = (has_plan && plan.steer) ? 1 : 0;
        selection.planned = plan.prefix;
        selection.planned_ia = (selection.has_plan && lease->iaid_ == plan.iaid) ? 1 : 0;
        selection.has_mac = (has_plan && plan.has_mac) ? 1 : 0;
        if (selection.has_mac) {
            std::memcpy(selection.mac, plan.mac, sizeof(selection.mac));
        }
        // The reservation lookup is only needed when the lease is not the planned prefix.
        const bool as_planned = selection.planned_ia && samePrefix(plan.prefix, lease->addr_, lease->prefixlen_);
        std::unique_ptr<ReservationFacts> reservation;
        if (!as_planned) {
            reservation.reset(new ReservationFacts(query, lease->addr_, lease->prefixlen_));
            selection.reservation = reservation->facts();
        }
        const std::string label = labelOf(query, Label::WhenPacketsLogged);
        selection.label = bytesOf(label);
        if (kc_judge_selection(&selection) != KC_SELECTION_ACCEPT) {
            return; // SKIP: Kea stops trying further candidates once a callout skips
        }
        if (!fake_allocation && selection.has_mac) {
            // Kea stores the lease as this callout leaves it: the record costs no extra write.
            recordNic(lease, plan.mac, as_planned ? plan.vlan : 0, plan.nic_id, as_planned ? plan.nic_id_len : 0);
        }
        handle.setStatus(CalloutHandle::NEXT_STEP_CONTINUE);
    }, [&] {
        if (!an_address) {
            handle.setStatus(CalloutHandle::NEXT_STEP_SKIP);
        }
    });
}

extern "C" int kcs_lease6_renew(void* callout_handle) {
    return judgeRenewal(*static_cast<CalloutHandle*>(callout_handle), "lease6_renew");
}

extern "C" int kcs_lease6_rebind(void* callout_handle) {
    return judgeRenewal(*static_cast<CalloutHandle*>(callout_handle), "lease6_rebind");
}

extern "C" int kcs_pkt6_send(void* callout_handle) {
    CalloutHandle& handle = *static_cast<CalloutHandle*>(callout_handle);
    return guardCallout("pkt6_send", [&] {
        if (previousCalloutDropped(handle)) {
            return;
        }
        Pkt6Ptr query;
        Pkt6Ptr response;
        handle.getArgument("query6", query);
        handle.getArgument("response6", response);
        if (!query || !response || response->getType() != DHCPV6_REPLY || !peekOption(response, D6O_IA_PD)) {
            return;
        }
        const uint8_t type = query->getType();
        if (!isSolicitOrRequest(type) && !isRenewOrRebind(type)) {
            return;
        }
        Plan plan;
        if (!planOf(handle, plan)) {
            return;
        }
        if (plan.foreign_count > 0) {
            withdrawForeign(response, plan);
        }
        // One delegation per Reply to a Solicit (Rapid Commit) or Request, not per Advertise.
        if (isSolicitOrRequest(type) && plan.steer && deliversPlan(response, plan)) {
            kc_count_delegation();
        }
    });
}

extern "C" int kcs_lease6_release(void* callout_handle) {
    CalloutHandle& handle = *static_cast<CalloutHandle*>(callout_handle);
    return guardCallout("lease6_release", [&] {
        if (handle.getStatus() != CalloutHandle::NEXT_STEP_CONTINUE) {
            return;
        }
        Pkt6Ptr query;
        Lease6Ptr lease;
        if (!prefixLeaseOf(handle, query, lease)) {
            return;
        }
        QueryFacts facts(query, Label::Always); // a refusal is logged at info level
        const std::string recorded = recordedMac(*lease);
        kc_release_facts release;
        std::memset(&release, 0, sizeof(release));
        release.query = facts.facts();
        release.recorded_mac = bytesOf(recorded);
        if (kc_judge_release(&release) == 0) {
            handle.setStatus(CalloutHandle::NEXT_STEP_SKIP); // Kea keeps the lease
        }
    });
}

// Kea's HA hook sends the partner what this callout's arguments hold; the hook is listed before
// libdhcp_ha.so, so the leases it cleared out of a NIC's way go with the client's commit. Registered
// by load() only when a library follows this one (shim_load.cc); nothing waits in the common case.
extern "C" int kcs_leases6_committed(void* callout_handle) {
    CalloutHandle& handle = *static_cast<CalloutHandle*>(callout_handle);
    return guardCallout("leases6_committed", [&] {
        if (!anyClearedWaiting()) {
            return;
        }
        Pkt6Ptr query;
        Lease6CollectionPtr leases;
        Lease6CollectionPtr deleted;
        handle.getArgument("query6", query);
        handle.getArgument("leases6", leases);
        handle.getArgument("deleted_leases6", deleted);
        if (!query || !leases || !deleted) {
            return;
        }
        const size_t added = commitCleared(query, *leases, *deleted);
        if (added > 0) {
            LOG_DEBUG(cloudstack_logger, DBG_PACKET, CLOUDSTACK_CLEARED_COMMITTED)
                .arg(query->getLabel())
                .arg(added);
        }
    });
}
