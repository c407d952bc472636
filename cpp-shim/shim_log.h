// The hook's Kea logger, shared by the shim's files.
#ifndef KEA_CLOUDSTACK_SHIM_LOG_H
#define KEA_CLOUDSTACK_SHIM_LOG_H

#include "kea_compat.h"
#include <log/logger.h>
#include <log/macros.h>
#include "cloudstack_messages.h"

namespace isc {
namespace cloudstack {

/// Logger "cloudstack-hooks" (Kea shows it as kea-dhcp6.cloudstack-hooks).
extern isc::log::Logger cloudstack_logger;

/// Debug level of per-packet decisions, as documented in cloudstack_messages.mes.
const int DBG_PACKET = 40;

} // namespace cloudstack
} // namespace isc

#endif
