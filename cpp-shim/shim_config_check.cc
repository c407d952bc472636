// dhcp6_srv_configured: once Kea has applied a configuration, check that it serves every VLAN
// of the hook and lists the hook before Kea's HA hook (Rust judges both); a mismatch fails the
// configuration with a message naming the VLAN or the two libraries.
#include "kea_compat.h" // first: Kea's config.h, the release built against
#include "kea_cloudstack.h"
#include "shim_facts.h"
#include "shim_library_list.h"
#include "shim_log.h"

#include <dhcpsrv/cfg_subnets6.h>
#include <dhcpsrv/pool.h>
#include <dhcpsrv/srv_config.h>
#include <dhcpsrv/subnet.h>
#include <hooks/hooks.h>

#include <cstring>
#include <exception>
#include <string>
#include <vector>

using namespace isc::dhcp;
using namespace isc::hooks;
using namespace isc::cloudstack;

namespace {

void addressBytes(const isc::asiolink::IOAddress& address, uint8_t out[16]) {
    const std::vector<uint8_t> bytes = address.toBytes();
    std::memset(out, 0, 16);
    if (bytes.size() == 16) {
        std::memcpy(out, bytes.data(), 16);
    }
}

// Kea has loaded the configuration's libraries by the time it calls dhcp6_srv_configured
// (configureDhcp6Server, then finishConfigHookLibraries, in 2.6.3 and 3.0.x); HooksManager lists
// them in the order their callouts run.
std::string libraryOrderError() {
    const std::vector<std::string> names = loadedLibraries();
    const std::string path = thisLibraryPath();
    const std::size_t entry = entryOfThisLibrary(names, path);
    const std::string own = entry < names.size() ? names[entry] : path;
    std::vector<kc_bytes> libraries;
    for (const std::string& name : names) {
        libraries.push_back(bytesOf(name));
    }
    char error[1024] = {0};
    if (kc_check_library_order(libraries.empty() ? nullptr : libraries.data(), libraries.size(), bytesOf(own),
                               error, sizeof(error)) != 0) {
        return error;
    }
    return std::string();
}

void refuse(CalloutHandle& handle, const std::string& why) {
    handle.setArgument("error", why);
    handle.setStatus(CalloutHandle::NEXT_STEP_DROP);
}

} // namespace

extern "C" int kcs_dhcp6_srv_configured(void* callout_handle) {
    CalloutHandle& handle = *static_cast<CalloutHandle*>(callout_handle);
    try {
        SrvConfigPtr config;
        handle.getArgument("server_config", config);
        if (!config) {
            return 0;
        }
        const Subnet6Collection* subnets = config->getCfgSubnets6()->getAll();
        // Owned copies first; the facts point into them once they no longer move.
        std::vector<std::vector<uint8_t>> interface_ids;
        std::vector<std::vector<kc_pd_pool>> pools;
        std::vector<uint32_t> ids;
        std::vector<kc_prefix> prefixes;
        for (auto const& subnet : *subnets) {
            OptionPtr interface_id = subnet->getInterfaceId();
            interface_ids.push_back(interface_id ? interface_id->getData() : std::vector<uint8_t>());
            std::vector<kc_pd_pool> subnet_pools;
            for (auto const& pool : subnet->getPools(Lease::TYPE_PD)) {
                Pool6Ptr pd = boost::dynamic_pointer_cast<Pool6>(pool);
                if (!pd) {
                    continue;
                }
                kc_pd_pool facts;
                addressBytes(pd->getFirstAddress(), facts.first);
                addressBytes(pd->getLastAddress(), facts.last);
                facts.delegated_len = pd->getLength();
                subnet_pools.push_back(facts);
            }
            pools.push_back(subnet_pools);
            ids.push_back(subnet->getID());
            const std::pair<isc::asiolink::IOAddress, uint8_t> range = subnet->get();
            kc_prefix prefix;
            addressBytes(range.first, prefix.addr);
            prefix.len = range.second;
            prefixes.push_back(prefix);
        }
        std::vector<kc_subnet_facts> facts(ids.size());
        for (size_t i = 0; i < ids.size(); ++i) {
            facts[i].subnet_id = ids[i];
            facts[i].prefix = prefixes[i];
            facts[i].interface_id.ptr = interface_ids[i].empty() ? nullptr : interface_ids[i].data();
            facts[i].interface_id.len = interface_ids[i].size();
            facts[i].pools = pools[i].empty() ? nullptr : pools[i].data();
            facts[i].pool_count = pools[i].size();
        }
        char error[1024] = {0};
        if (kc_check_subnets(facts.data(), facts.size(), error, sizeof(error)) != 0) {
            refuse(handle, std::string("cloudstack hook: ") + error);
            return 0;
        }
        const std::string order = libraryOrderError();
        if (!order.empty()) {
            refuse(handle, "cloudstack hook: " + order);
        }
    } catch (const std::exception& ex) {
        LOG_ERROR(cloudstack_logger, CLOUDSTACK_CALLOUT_ERROR).arg("dhcp6_srv_configured").arg(ex.what());
        refuse(handle, std::string("cloudstack hook could not check the subnets: ") + ex.what());
    } catch (...) {
        LOG_ERROR(cloudstack_logger, CLOUDSTACK_CALLOUT_ERROR).arg("dhcp6_srv_configured").arg("unknown exception");
        refuse(handle, "cloudstack hook could not check the subnets");
    }
    return 0;
}
