// load() and unload(): hand the hook parameters to Rust, refuse the wrong daemon.
#include "kea_compat.h" // first: Kea's config.h, the release built against
#include "kea_cloudstack.h"
#include "shim_cleared.h"
#include "shim_commands.h"
#include "shim_facts.h"
#include "shim_log.h"
#include "shim_stats.h"

#include <cc/data.h>
#include <hooks/hooks.h>
#include <process/daemon.h>

#include <exception>
#include <string>

using namespace isc::hooks;
using namespace isc::cloudstack;

extern "C" int kcs_hooks_version(void) {
    return KEA_HOOKS_VERSION;
}

extern "C" int kcs_load(void* library_handle) {
    try {
        LibraryHandle& handle = *static_cast<LibraryHandle*>(library_handle);
        const std::string& process = isc::process::Daemon::getProcName();
        if (process != "kea-dhcp6") {
            LOG_ERROR(cloudstack_logger, CLOUDSTACK_LOAD_ERROR)
                .arg("bad process name: " + process + ", expected kea-dhcp6");
            return 1;
        }
        statsOwnedByThisThread();
        isc::data::ConstElementPtr parameters = handle.getParameters();
        const std::string json = parameters ? parameters->str() : std::string("{}");
        char error[1024] = {0};
        if (kc_load(bytesOf(json), error, sizeof(error)) != 0) {
            LOG_ERROR(cloudstack_logger, CLOUDSTACK_LOAD_ERROR).arg(std::string(error));
            return 1;
        }
        registerCommands(handle);
        applyDeferredStats();
        return 0;
    } catch (const std::exception& ex) {
        LOG_ERROR(cloudstack_logger, CLOUDSTACK_LOAD_ERROR).arg(ex.what());
    } catch (...) {
        LOG_ERROR(cloudstack_logger, CLOUDSTACK_LOAD_ERROR).arg("unknown exception");
    }
    return 1;
}

extern "C" int kcs_unload(void) {
    try {
        kc_unload();
        forgetCleared();
        LOG_INFO(cloudstack_logger, CLOUDSTACK_UNLOAD);
    } catch (...) {
    }
    return 0;
}
