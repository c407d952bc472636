// Kea's logger for the hook, and the log entry points Rust calls.
#include "kea_compat.h" // first: Kea's config.h, the release built against
#include "shim_log.h"
#include "kea_cloudstack.h"

#include <string>

namespace isc {
namespace cloudstack {
isc::log::Logger cloudstack_logger("cloudstack-hooks");
} // namespace cloudstack
} // namespace isc

using isc::cloudstack::cloudstack_logger;

extern "C" int kcs_log_enabled(kc_severity severity, int debug_level) {
    try {
        switch (severity) {
        case KC_SEV_DEBUG: return cloudstack_logger.isDebugEnabled(debug_level) ? 1 : 0;
        case KC_SEV_INFO: return cloudstack_logger.isInfoEnabled() ? 1 : 0;
        case KC_SEV_WARN: return cloudstack_logger.isWarnEnabled() ? 1 : 0;
        case KC_SEV_ERROR: return cloudstack_logger.isErrorEnabled() ? 1 : 0;
        }
    } catch (...) {
    }
    return 0;
}

// The id is a static NUL-terminated string owned by Rust (see src/log/messages.rs).
extern "C" void kcs_log(kc_severity severity, int debug_level, kc_bytes id,
                        const kc_bytes* args, size_t nargs) {
    try {
        const isc::log::MessageID message_id = reinterpret_cast<const char*>(id.ptr);
        auto fill = [&](isc::log::Logger::Formatter& formatter) {
            for (size_t i = 0; i < nargs; ++i) {
                formatter.arg(std::string(reinterpret_cast<const char*>(args[i].ptr), args[i].len));
            }
        };
        // Each formatter writes its line when it goes out of scope.
        switch (severity) {
        case KC_SEV_DEBUG:
            if (cloudstack_logger.isDebugEnabled(debug_level)) {
                auto formatter = cloudstack_logger.debug(debug_level, message_id);
                fill(formatter);
            }
            break;
        case KC_SEV_INFO:
            if (cloudstack_logger.isInfoEnabled()) {
                auto formatter = cloudstack_logger.info(message_id);
                fill(formatter);
            }
            break;
        case KC_SEV_WARN:
            if (cloudstack_logger.isWarnEnabled()) {
                auto formatter = cloudstack_logger.warn(message_id);
                fill(formatter);
            }
            break;
        case KC_SEV_ERROR:
            if (cloudstack_logger.isErrorEnabled()) {
                auto formatter = cloudstack_logger.error(message_id);
                fill(formatter);
            }
            break;
        }
    } catch (...) {
        // A log line is never worth an exception in Kea's packet path.
    }
}
