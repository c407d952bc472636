// load() and unload(): hand the hook parameters to Rust, refuse the wrong daemon.
#include "kea_compat.h" // first: Kea's config.h, the release built against
#include "kea_cloudstack.h"
#include "shim_cleared.h"
#include "shim_commands.h"
#include "shim_facts.h"
#include "shim_library_list.h"
#include "shim_log.h"
#include "shim_stats.h"

#include <cc/data.h>
#include <hooks/hooks.h>
#include <hooks/hooks_manager.h>
#include <process/daemon.h>

#include <exception>
#include <string>
#include <vector>

using namespace isc::hooks;
using namespace isc::cloudstack;

extern "C" int kcs_hooks_version(void) {
    return KEA_HOOKS_VERSION;
}

namespace {

// Is a hooks library listed after this one? Only such a library (Kea's HA hook) can read what
// leases6_committed adds to "deleted_leases6": Kea calls the libraries in their order and reads
// nothing back itself. When this library's entry cannot be found, assume a reader follows.
bool libraryFollowsThisOne() {
    const std::vector<std::string> libraries = loadedLibraries();
    const std::size_t entry = entryOfThisLibrary(libraries, thisLibraryPath());
    return entry == libraries.size() || entry + 1 < libraries.size();
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
