// Control commands of the hook.
#ifndef KEA_CLOUDSTACK_SHIM_COMMANDS_H
#define KEA_CLOUDSTACK_SHIM_COMMANDS_H

#include "kea_compat.h"
#include <hooks/library_handle.h>

namespace isc {
namespace cloudstack {

/// Register cloudstack-status, cloudstack-lookup and cloudstack-resync with Kea, and Kea's
/// statistic-get(-all) and statistic-reset(-all), answered by Kea's handlers once the hook's
/// counts are handed over.
void registerCommands(isc::hooks::LibraryHandle& handle);

} // namespace cloudstack
} // namespace isc

#endif
