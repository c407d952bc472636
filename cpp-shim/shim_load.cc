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
#include <hooks/hooks_manager.h>
#include <process/daemon.h>

#include <dlfcn.h>
#include <limits.h>
#include <stdlib.h>

#include <exception>
#include <string>
#include <vector>

using namespace isc::hooks;
using namespace isc::cloudstack;

extern "C" int kcs_hooks_version(void) {
    return KEA_HOOKS_VERSION;
}

namespace {

std::string realPath(const std::string& path) {
    char resolved[PATH_MAX];
    return realpath(path.c_str(), resolved) ? std::string(resolved) : path;
}

// Is a hooks library listed after this one? Only such a library (Kea's HA hook) can read what
// leases6_committed adds to "deleted_leases6": Kea calls the libraries in their order and reads
// nothing back itself. Kea opened this library under the name of its entry in the list (dladdr
// names it); when that entry cannot be found, assume a reader follows.
bool libraryFollowsThisOne() {
    Dl_info self;
    if (dladdr(reinterpret_cast<void*>(&kcs_load), &self) == 0 || !self.dli_fname) {
        return true;
    }
    const std::string me = realPath(self.dli_fname);
    const std::vector<std::string> names = HooksManager::getLibraryNames();
    for (size_t i = 0; i < names.size(); ++i) {
        if (names[i] == self.dli_fname || realPath(names[i]) == me) {
            return i + 1 < names.size();
        }
    }
    return true;
}

int leases6Committed(CalloutHandle& handle) {
    return kcs_leases6_committed(&handle);
}

} // namespace

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
        // While any callout is registered on leases6_committed, Kea parks every committing packet
        // around it (a parking-lot entry, its lock, a callback): only worth it for a reader.
        const bool hand_on = libraryFollowsThisOne();
        handClearedOn(hand_on);
        if (hand_on) {
            handle.registerCallout("leases6_committed", leases6Committed);
        }
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
